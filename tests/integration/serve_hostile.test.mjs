// mcpwall serve under hostile and broken input: malformed HTTP requests,
// forged and ended sessions, a client that leaves mid-call, an upstream that
// crashes mid-call, never answers, or sends a 10 MB line. Each ends with a
// clear answer, the work is cancelled upstream, nothing crashes or leaks
// (ASan build), and a reload keeps running on an invalid file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { MISBEHAVE, apiKey, assertNoSanitizerReport, authYaml, bearer, connectHttp as connectAnon, mcpwall, readAudit, startServe, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";

const dir = tmpdir();
const audit = `${dir}/audit.jsonl`;
// The client authenticates with an API key; a second key is revoked by the reload test.
const key = apiKey("it");
const revoked = apiKey("revoked");
const cfgText = (rule, keys = [key, revoked]) => `
version: 1
${authYaml(...keys)}
listen: {address: "127.0.0.1:0"}
audit: {file: "${audit}", flush_interval: 0}
namespacing: always
servers:
  bad:
    command: "${MISBEHAVE}"
    timeout: 1s
    policy:
      default: allow
      rules:
        - {name: switch, action: ${rule}, tools: [echo]}
`;
const cfg = writeFile(dir, "serve.yaml", cfgText("allow"));
let gw;

before(async () => {
  gw = await startServe(["-c", cfg]);
});
after(async () => {
  await gw?.stop();
});

const JSON_HDRS = { "content-type": "application/json", accept: "application/json, text/event-stream", ...bearer(key) };
const connectHttp = (url, opts = {}) => connectAnon(url, { ...opts, headers: { ...bearer(key), ...(opts.headers ?? {}) } });
const init = { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };

async function rawSession() {
  const r = await fetch(gw.url, { method: "POST", headers: JSON_HDRS, body: JSON.stringify(init) });
  assert.equal(r.status, 200);
  await r.text();
  const sid = r.headers.get("mcp-session-id");
  assert.match(sid, /^[A-Za-z0-9_-]{32}$/);
  const n = await fetch(gw.url, { method: "POST", headers: { ...JSON_HDRS, "mcp-session-id": sid }, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  assert.equal(n.status, 202);
  return sid;
}

test("malformed and out-of-place HTTP gets the right status and a JSON-RPC body", async () => {
  const post = (body, headers = JSON_HDRS) => fetch(gw.url, { method: "POST", headers, body });
  let r = await post("{not json");
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, -32700);
  r = await post('[{"jsonrpc":"2.0","id":1,"method":"ping"}]');
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.data.reason, "batch_not_supported");
  r = await post(JSON.stringify(init), { "content-type": "application/json", accept: "application/json", ...bearer(key) });
  assert.equal(r.status, 406);
  r = await post(JSON.stringify(init), { "content-type": "text/plain", accept: "application/json, text/event-stream", ...bearer(key) });
  assert.equal(r.status, 415);
  r = await post(JSON.stringify(init), { ...JSON_HDRS, origin: "https://evil.example" });
  assert.equal(r.status, 403);
  r = await post("x".repeat(5 * 1024 * 1024));
  assert.equal(r.status, 413);
  r = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
  assert.equal(r.status, 400, "no session");
  r = await post(JSON.stringify(init), { "content-type": "application/json", accept: "application/json, text/event-stream" });
  assert.equal(r.status, 401, "no credentials");
  assert.match(r.headers.get("www-authenticate"), /^Bearer /);
  r = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), { ...JSON_HDRS, "mcp-session-id": "A".repeat(32) });
  assert.equal(r.status, 404, "forged session");
  const sid = await rawSession();
  assert.equal((await fetch(gw.url, { method: "DELETE", headers: { "mcp-session-id": sid, ...bearer(key) } })).status, 200);
  r = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), { ...JSON_HDRS, "mcp-session-id": sid });
  assert.equal(r.status, 404, "ended session");
  r = await fetch(gw.url, { method: "PUT", headers: JSON_HDRS, body: "{}" });
  assert.equal(r.status, 405);
});

test("a slow client sending headers byte by byte is cut off", async () => {
  const u = new URL(gw.url);
  const sock = net.connect(Number(u.port), u.hostname);
  let got = "";
  sock.on("data", (d) => (got += d));
  const closed = new Promise((r) => sock.on("close", r));
  const head = `POST /mcp HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n`;
  let i = 0;
  const t = setInterval(() => { if (i < head.length) sock.write(head[i++]); }, 500);
  await closed;
  clearInterval(t);
  assert.match(got, /^HTTP\/1\.1 408/);
});

test("an upstream that crashes mid-call: a clear error, then it is restarted", async () => {
  const c = await connectHttp(gw.url);
  await assert.rejects(c.client.callTool({ name: "bad__exit_mid_call", arguments: { status: 7 } }),
    (e) => e instanceof McpError && e.code === -32011 && /'bad' exited with status 7 before answering/.test(e.message));
  let last;
  await waitFor(async () => {
    try {
      last = await c.client.callTool({ name: "bad__echo", arguments: { text: "back again" } });
      return true;
    } catch (e) {
      if (process.env.DEBUG_IT) console.error("retry:", e.message);
      return false;
    }
  }, 15000, "the restarted upstream");
  assert.match(JSON.stringify(last.content), /back again/);
  await c.client.close();
});

test("an upstream that never answers: timeout error and cancellation upstream", async () => {
  const c = await connectHttp(gw.url);
  await assert.rejects(c.client.callTool({ name: "bad__never_answer", arguments: {} }, undefined, { timeout: 20000 }),
    (e) => e.code === -32012 && /within 1000 ms/.test(e.message));
  await waitFor(() => /got notifications\/cancelled/.test(gw.stderr()), 5000, "cancellation upstream");
  await c.client.close();
});

test("a 10 MB response line is refused and the session goes on", async () => {
  const c = await connectHttp(gw.url);
  await assert.rejects(c.client.callTool({ name: "bad__huge_line", arguments: {} }),
    (e) => e.code === -32011 && /exceeds the 4194304-byte message limit/.test(e.message));
  const r = await c.client.callTool({ name: "bad__echo", arguments: { text: "still here" } });
  assert.match(JSON.stringify(r.content), /still here/);
  await c.client.close();
});

test("a client that leaves mid-call has its request cancelled upstream", async () => {
  const sid = await rawSession();
  const before = (gw.stderr().match(/got notifications\/cancelled/g) ?? []).length;
  const ac = new AbortController();
  const p = fetch(gw.url, {
    method: "POST", signal: ac.signal, headers: { ...JSON_HDRS, "mcp-session-id": sid },
    body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "bad__never_answer", arguments: {} } }),
  }).catch(() => null);
  await new Promise((r) => setTimeout(r, 300));
  ac.abort();
  await p;
  await waitFor(() => (gw.stderr().match(/got notifications\/cancelled/g) ?? []).length > before, 10000, "cancellation after the client left");
});

test("SIGHUP reloads the policy; an invalid file keeps the old one", async () => {
  const c = await connectHttp(gw.url);
  await c.client.callTool({ name: "bad__echo", arguments: { text: "allowed" } });
  const before = await connectAnon(gw.url, { headers: bearer(revoked) });
  await before.client.close();
  fs.writeFileSync(cfg, cfgText("deny", [key]));
  gw.proc.kill("SIGHUP");
  await waitFor(() => /configuration reloaded/.test(gw.stderr()), 5000, "reload");
  await assert.rejects(c.client.callTool({ name: "bad__echo", arguments: { text: "now denied" } }),
    (e) => e.code === -32010 && e.data.rule === "switch");
  // The reloaded auth: section no longer has the revoked key; the kept one still works.
  const r = await fetch(gw.url, { method: "POST", headers: { ...JSON_HDRS, ...bearer(revoked) }, body: JSON.stringify(init) });
  assert.equal(r.status, 401);
  assert.match(r.headers.get("www-authenticate"), /invalid_token/);
  fs.writeFileSync(cfg, "version: 1\npolicy: {default: perhaps}\n");
  gw.proc.kill("SIGHUP");
  await waitFor(() => /new configuration is invalid; keeping the current one/.test(gw.stderr()), 5000, "refused reload");
  assert.match(gw.stderr(), /serve\.yaml:2:\d+: default must be 'allow' or 'deny'/);
  await assert.rejects(c.client.callTool({ name: "bad__echo", arguments: { text: "still denied" } }), (e) => e.code === -32010);
  await c.client.close();
});

test("nothing leaked or crashed, and the audit log verifies", async () => {
  const m = await (await fetch(`${gw.base}/metrics`)).text();
  assert.match(m, /mcpwall_upstream_restarts_total\{server="bad"\} [1-9]/);
  await gw.stop();
  assert.equal(gw.proc.exitCode, 0);
  assertNoSanitizerReport(gw.stderr(), assert);
  assert.equal(mcpwall("audit", "verify", audit).status, 0);
  const recs = readAudit(audit);
  assert.ok(recs.some((r) => r.tool === "never_answer" && r.outcome === "timeout"));
  assert.ok(recs.some((r) => r.tool === "exit_mid_call" && r.outcome === "upstream_exit"));
  assert.ok(recs.some((r) => r.event === "reload"));
  gw = null;
});
