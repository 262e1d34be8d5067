// Pins enforced by the gateway (THREATS A3, the WhatsApp sleeper rug pull):
// `mcpwall scan --pin` writes the lockfile on the benign first start; on the
// next start the tool's description carries the attack, and mcpwall wrap and
// serve hide the tool and refuse calls to it, audit the mismatch, and let an
// unchanged server through. `pins approve` after review lets it back in;
// `on_change: warn` only reports; `on_new: block` refuses what was never pinned.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { connect, connectHttp, mcpwall, readAudit, startServe, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";

// Audit records are written in batches (audit.flush_interval): wait for one.
async function auditRecord(file, pred) {
  let hit;
  await waitFor(() => fs.existsSync(file) && (hit = readAudit(file).find(pred)) !== undefined, 5000, `an audit record in ${file}`);
  return hit;
}

const POISON = path.join(path.dirname(new URL(import.meta.url).pathname), "servers/poison.mjs");
const NODE = process.execPath;
const dir = fs.realpathSync(tmpdir());
const lock = path.join(dir, "mcpwall.lock");
const state = path.join(dir, "mcp-triggered");
const sleeper = [NODE, POISON, "sleeper", state];
const chat = [NODE, POISON, "whatsapp"];

// First start of each server: pinned as it is (the sleeper is still benign).
for (const [name, cmd] of [["facts", sleeper], ["chat", chat]]) {
  const r = mcpwall("scan", "--pin", "--lock", lock, "--name", name, "--", ...cmd);
  assert.equal(r.status, 0, r.stderr);
}
assert.ok(fs.existsSync(state), "the sleeper armed itself");

const cfg = (name, extra = "") =>
  writeFile(dir, `${name}.yaml`, `version: 1\npolicy: {default: allow}\npins:\n  file: mcpwall.lock\n${extra}`);
const clients = [];
after(async () => {
  for (const c of clients) await c.close();
});
async function wrapped(cmd, config, audit) {
  const c = await connect({ server: cmd, config, audit });
  clients.push(c.client);
  return c.client;
}
const names = async (c) => (await c.listTools()).tools.map((t) => t.name).sort();

test("mcpwall check loads the lockfile and reports a missing one with its position", () => {
  assert.equal(mcpwall("check", "-c", cfg("ok", "  server: facts\n"), "-q").status, 0);
  const bad = writeFile(dir, "missing.yaml", "version: 1\npolicy: {default: allow}\npins:\n  file: nowhere.lock\n");
  const r = mcpwall("check", "-c", bad);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /missing\.yaml:4:9: cannot use the lockfile: .*nowhere\.lock/);
});

test("wrap: a server that did not change passes", async () => {
  const c = await wrapped(chat, cfg("chat", "  server: chat\n"), `${dir}/chat-audit.jsonl`);
  assert.deepEqual(await names(c), ["list_chats", "send_message"]);
  const r = await c.callTool({ name: "send_message", arguments: { recipient: "+100", message: "hi" } });
  assert.equal(r.content[0].text, "42");
});

test("wrap: the rug-pulled tool is hidden and refused, and the mismatch is audited", async () => {
  const audit = `${dir}/facts-audit.jsonl`;
  const c = await wrapped(sleeper, cfg("facts", "  server: facts\n"), audit);
  assert.deepEqual(await names(c), []);
  await assert.rejects(c.callTool({ name: "get_fact_of_the_day", arguments: {} }),
    (e) => e instanceof McpError && e.code === -32010 && e.data.reason === "tool_definition_changed" &&
      /^[0-9a-f]{64}$/.test(e.data.sha256));
  const pin = await auditRecord(audit, (r) => r.event === "pin");
  assert.equal(pin.tool, "get_fact_of_the_day");
  assert.equal(pin.status, "changed");
  assert.equal(pin.action, "block");
  assert.match(pin.pinned_sha256, /^[0-9a-f]{64}$/);
  assert.notEqual(pin.pinned_sha256, pin.sha256);
  await auditRecord(audit, (r) => r.decision === "deny" && r.reason === "tool_definition_changed");
  assert.equal(mcpwall("audit", "verify", audit).status, 0);
});

test("wrap: on_change: warn reports the mismatch but lets the tool through", async () => {
  const audit = `${dir}/warn-audit.jsonl`;
  const c = await wrapped(sleeper, cfg("warn", "  server: facts\n  on_change: warn\n"), audit);
  assert.deepEqual(await names(c), ["get_fact_of_the_day"]);
  assert.equal((await c.callTool({ name: "get_fact_of_the_day", arguments: {} })).content[0].text, "42");
  await auditRecord(audit, (r) => r.event === "pin" && r.action === "warn");
});

test("wrap: on_new: block refuses tools the lockfile never saw", async () => {
  const c = await wrapped(chat, cfg("new", "  server: not-pinned\n  on_new: block\n"), `${dir}/new-audit.jsonl`);
  assert.deepEqual(await names(c), []);
  await assert.rejects(c.callTool({ name: "list_chats", arguments: {} }),
    (e) => e.code === -32010 && e.data.reason === "tool_not_pinned");
});

test("serve: per server, the changed tool is hidden and refused while the other server works", async () => {
  const conf = writeFile(dir, "serve.yaml", `version: 1
auth: {anonymous: true}
listen: {address: "127.0.0.1:0"}
audit: {file: "${dir}/serve-audit.jsonl"}
policy: {default: allow}
pins: {file: mcpwall.lock}
namespacing: always
servers:
  facts: {command: "${NODE}", args: ["${POISON}", "sleeper", "${state}"]}
  chat: {command: "${NODE}", args: ["${POISON}", "whatsapp"]}
`);
  const gw = await startServe(["-c", conf]);
  try {
    const { client } = await connectHttp(gw.url);
    clients.push(client);
    assert.deepEqual(await names(client), ["chat__list_chats", "chat__send_message"]);
    await assert.rejects(client.callTool({ name: "facts__get_fact_of_the_day", arguments: {} }),
      (e) => e.code === -32010 && e.data.reason === "tool_definition_changed");
    assert.equal((await client.callTool({ name: "chat__list_chats", arguments: {} })).content[0].text, "42");
  } finally {
    await gw.stop();
  }
  const pin = await auditRecord(`${dir}/serve-audit.jsonl`, (r) => r.event === "pin");
  assert.equal(pin.server, "facts");
  assert.equal(pin.tool, "get_fact_of_the_day");
});

test("after review, pins approve lets the new definition in", async () => {
  const r = mcpwall("pins", "approve", "--lock", lock, "--name", "facts", "--", ...sleeper);
  assert.equal(r.status, 0, r.stderr);
  const c = await wrapped(sleeper, cfg("approved", "  server: facts\n"), `${dir}/approved-audit.jsonl`);
  assert.deepEqual(await names(c), ["get_fact_of_the_day"]);
  assert.equal((await c.callTool({ name: "get_fact_of_the_day", arguments: {} })).content[0].text, "42");
});
