// Argument guards end to end with the real filesystem server. The server is
// given a *wider* directory than the policy allows, so only the gateway can
// stop a prefix twin (/share vs /share_secret) and a symlink out of /share.
// Both through mcpwall wrap (stdio) and mcpwall serve (Streamable HTTP).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { connect, connectHttp, mcpwall, npmServer, readAudit, startServe, tmpdir, writeFile } from "./lib/mcp.mjs";

const dir = fs.realpathSync(tmpdir());
const share = path.join(dir, "share");
const twin = path.join(dir, "share_secret");
const secret = path.join(dir, "secret");
fs.mkdirSync(share);
fs.mkdirSync(twin);
fs.mkdirSync(secret);
fs.writeFileSync(path.join(share, "ok.txt"), "public notes\n");
fs.writeFileSync(path.join(twin, "keys.txt"), "TWIN-SECRET\n");
fs.writeFileSync(path.join(secret, "id_rsa"), "SYMLINK-SECRET\n");
fs.symlinkSync(secret, path.join(share, "link"));

const policy = `
  default: allow
  arguments:
    - profile: filesystem
      roots: ["${share}"]
`;
const wrapCfg = writeFile(dir, "wrap.yaml", `version: 1\npolicy:${policy}`);
const serveCfg = writeFile(dir, "serve.yaml", `version: 1
auth: {anonymous: true}
listen: {address: "127.0.0.1:0"}
audit: {file: "${dir}/serve-audit.jsonl"}
servers:
  fs:
    command: "${npmServer("mcp-server-filesystem")[0]}"
    args: ["${dir}"]
    policy:${policy.replace(/\n  /g, "\n      ")}
namespacing: always
`);
// The server itself may read all of `dir`: the gateway is the only guard.
const server = npmServer("mcp-server-filesystem", dir);
let viaWrap, viaServe, gw;

before(async () => {
  assert.equal(mcpwall("check", "-c", wrapCfg, "-q").status, 0);
  assert.equal(mcpwall("check", "-c", serveCfg, "-q").status, 0, mcpwall("check", "-c", serveCfg).stdout);
  viaWrap = await connect({ server, config: wrapCfg, audit: `${dir}/wrap-audit.jsonl` });
  gw = await startServe(["-c", serveCfg]);
  viaServe = await connectHttp(gw.url);
});
after(async () => {
  await viaWrap?.client.close();
  await viaServe?.client.close();
  await gw?.stop();
});

const clients = () => [["wrap", viaWrap.client, ""], ["serve", viaServe.client, "fs__"]];

test("a read inside the allowed directory passes", async () => {
  for (const [, c, p] of clients()) {
    const r = await c.callTool({ name: `${p}read_text_file`, arguments: { path: path.join(share, "ok.txt") } });
    assert.match(r.content[0].text, /public notes/);
  }
});

test("a prefix twin is refused by the gateway though the server would serve it", async () => {
  for (const [via, c, p] of clients()) {
    await assert.rejects(c.callTool({ name: `${p}read_text_file`, arguments: { path: path.join(twin, "keys.txt") } }),
      (e) => e instanceof McpError && e.code === -32010 && e.data.reason === "path_outside_roots" && e.data.pointer === "/path" &&
        !e.message.includes(twin), via);
  }
});

test("a symlink out of the directory is refused", async () => {
  for (const [via, c, p] of clients()) {
    await assert.rejects(c.callTool({ name: `${p}read_text_file`, arguments: { path: path.join(share, "link", "id_rsa") } }),
      (e) => e.code === -32010 && e.data.reason === "path_outside_roots", via);
    await assert.rejects(c.callTool({ name: `${p}read_text_file`, arguments: { path: `${share}/../secret/id_rsa` } }),
      (e) => e.code === -32010 && e.data.reason === "path_outside_roots", via);
  }
});

test("arguments that break the tool's inputSchema get -32602 naming the argument and the rule", async () => {
  for (const [via, c, p] of clients()) {
    await assert.rejects(c.callTool({ name: `${p}read_text_file`, arguments: { path: 42 } }),
      (e) => e.code === -32602 && e.data.reason === "invalid_arguments" && /argument 'path': must be a string \(type\)/.test(e.message), via);
    await assert.rejects(c.callTool({ name: `${p}read_text_file`, arguments: {} }),
      (e) => e.code === -32602 && /required/.test(e.message), via);
  }
});

test("a tool the server does not list cannot be called", async () => {
  for (const [via, c, p] of clients()) {
    await assert.rejects(c.callTool({ name: `${p}delete_everything`, arguments: {} }),
      (e) => e.code === -32602 && e.data.reason === "unknown_tool", via);
  }
});

test("refusals are audited with the constraint", async () => {
  await viaWrap.client.close();
  viaWrap = null;
  await new Promise((r) => setTimeout(r, 300));
  const recs = readAudit(`${dir}/wrap-audit.jsonl`);
  const denied = recs.filter((r) => r.reason === "path_outside_roots");
  assert.equal(denied.length, 3);
  assert.ok(denied.every((r) => r.decision === "deny" && r.tool === "read_text_file" && /filesystem/.test(r.rule)));
  assert.equal(mcpwall("audit", "verify", `${dir}/wrap-audit.jsonl`).status, 0);
});
