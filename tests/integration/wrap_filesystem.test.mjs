// mcpwall wrap in front of @modelcontextprotocol/server-filesystem with a
// read-only policy: writes are neither listed nor callable; reads give exactly
// what a direct connection gives; the audit log verifies.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, mcpwall, npmServer, normalize, readAudit, tmpdir, writeFile } from "./lib/mcp.mjs";

const dir = tmpdir();
const share = fs.realpathSync(fs.mkdtempSync(path.join(dir, "share-")));
fs.writeFileSync(path.join(share, "notes.txt"), "line one\nline two\n");
fs.mkdirSync(path.join(share, "sub"));
fs.writeFileSync(path.join(share, "sub", "deep.md"), "# deep\n");
const audit = `${dir}/audit.jsonl`;
const config = writeFile(dir, "ro.yaml", `
version: 1
policy:
  default: allow
  rules:
    - name: read-only-share
      action: deny
      tools: [write_file, edit_file, create_directory, move_file]
      message: this share is read-only
`);
const server = npmServer("mcp-server-filesystem", share);
let gw, direct;

before(async () => {
  gw = await connect({ server, config, audit });
  direct = await connect({ server, wrap: false });
});
after(async () => {
  await gw?.client.close();
  await direct?.client.close();
});

test("write tools are filtered out of the list", async () => {
  const names = (await gw.client.listTools()).tools.map((t) => t.name);
  const dnames = (await direct.client.listTools()).tools.map((t) => t.name);
  for (const t of ["write_file", "edit_file", "create_directory", "move_file"]) {
    assert.ok(dnames.includes(t), `server offers ${t}`);
    assert.ok(!names.includes(t), `${t} hidden`);
  }
  assert.deepEqual(names.sort(), dnames.filter((n) => !["write_file", "edit_file", "create_directory", "move_file"].includes(n)).sort());
});

test("reads are identical to a direct connection", async () => {
  const calls = [
    ["read_text_file", { path: path.join(share, "notes.txt") }],
    ["read_text_file", { path: path.join(share, "notes.txt"), head: 1 }],
    ["list_directory", { path: share }],
    ["directory_tree", { path: share }],
    ["search_files", { path: share, pattern: "*.md" }],
    ["list_allowed_directories", {}],
  ];
  for (const [name, args] of calls) {
    const a = await gw.client.callTool({ name, arguments: args });
    const b = await direct.client.callTool({ name, arguments: args });
    assert.deepEqual(normalize(a), normalize(b), name);
  }
  const r = await gw.client.callTool({ name: "read_text_file", arguments: { path: path.join(share, "notes.txt") } });
  assert.match(r.content[0].text, /line one/);
});

test("a write is refused by the gateway and the file is untouched", async () => {
  const target = path.join(share, "notes.txt");
  await assert.rejects(
    gw.client.callTool({ name: "write_file", arguments: { path: target, content: "pwned" } }),
    (e) => e.code === -32010 && /read-only-share/.test(e.message) && /this share is read-only/.test(e.message) && e.data.reason === "policy_denied",
  );
  await assert.rejects(
    gw.client.callTool({ name: "move_file", arguments: { source: target, destination: target + ".bak" } }),
    (e) => e.code === -32010 && e.data.tool === "move_file",
  );
  assert.equal(fs.readFileSync(target, "utf8"), "line one\nline two\n");
  assert.ok(!fs.existsSync(target + ".bak"));
});

test("the audit log verifies and records the refusals", async () => {
  await gw.client.close();
  gw = null;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(mcpwall("audit", "verify", audit).status, 0);
  const recs = readAudit(audit);
  const denied = recs.filter((r) => r.decision === "deny");
  assert.deepEqual(denied.map((r) => r.tool).sort(), ["move_file", "write_file"]);
  assert.ok(denied.every((r) => r.rule === "read-only-share" && r.outcome === "refused"));
  // Argument previews keep paths but the content of the refused write is hashed, not lost.
  const w = denied.find((r) => r.tool === "write_file");
  assert.match(w.args_sha256, /^[0-9a-f]{64}$/);
});
