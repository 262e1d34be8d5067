// The official MCP conformance runner (@modelcontextprotocol/conformance,
// pinned in tests/package.json, on Node 22) against the kit's conformance
// server over Streamable HTTP: every server scenario of spec version
// 2025-11-25 (the "all" suite: active and pending scenarios) must pass. A
// second test runs the SSE polling exchange (SEP-1699) step by step.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { BUILDDIR, SRCDIR, tmpdir, waitFor } from "./lib/mcp.mjs";
import { expectedScenarios, runServerScenarios } from "./lib/conformance.mjs";

const SERVER = path.join(BUILDDIR, "examples/servers/conformance/mcp-conformance-server");
const SPEC = "2025-11-25";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.on("connect", () => { c.destroy(); resolve(true); });
    c.on("error", () => resolve(false));
  });
}

let server, port, stderr = "";
before(async () => {
  port = await freePort();
  server = spawn(SERVER, ["--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", (d) => (stderr += d.toString()));
  await waitFor(() => canConnect(port), 20000, "the conformance server to listen");
});

after(async () => {
  // SIGTERM stops the server cleanly (under ASan this also checks for leaks).
  const exited = new Promise((resolve) => server.on("exit", (code, sig) => resolve({ code, sig })));
  server.kill("SIGTERM");
  const { code, sig } = await exited;
  assert.equal(code, 0, `the server exited with ${code ?? sig}:\n${stderr}`);
});

test(`every ${SPEC} server scenario of the official runner passes`, async () => {
  const expected = expectedScenarios(SPEC);
  const run = runServerScenarios(`http://127.0.0.1:${port}/mcp`, SPEC);
  assert.ok(expected.length >= 30, `the runner lists ${expected.length} scenarios:\n${run.log}`);
  assert.deepEqual(Object.keys(run.results).sort(), [...expected].sort(), "every scenario ran");
  assert.deepEqual(run.failed, [], `failed checks:\n${run.failed.join("\n")}\n\nserver stderr:\n${stderr}`);
  assert.equal(run.passed, expected.length);
  // DNS rebinding: a foreign Host/Origin is refused, localhost accepted.
  assert.deepEqual(run.results["dns-rebinding-protection"].map((c) => c.status), ["SUCCESS", "SUCCESS"]);
  console.log(`conformance: ${expected.length} scenarios: ${run.passed} passed; ${run.checks} checks`);
});

/** Reads SSE events from a fetch response until pred(events) or the stream ends. */
async function readEvents(res, pred = () => false, ms = 5000) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const events = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const { value, done } = await Promise.race([
      reader.read(),
      new Promise((r) => setTimeout(() => r({ done: true, timeout: true }), deadline - Date.now())),
    ]);
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = {};
      for (const line of block.split("\n")) {
        const m = line.match(/^(\w+): ?(.*)$/);
        if (m) ev[m[1]] = ev[m[1]] === undefined ? m[2] : `${ev[m[1]]}\n${m[2]}`;
      }
      events.push(ev);
    }
    if (pred(events)) break;
  }
  await reader.cancel().catch(() => {});
  return events;
}

test("SSE polling: the stream closed mid-call is resumed with Last-Event-ID and carries the answer", async () => {
  const url = `http://127.0.0.1:${port}/mcp`;
  const H = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
  let r = await fetch(url, { method: "POST", headers: H, body: JSON.stringify({
    jsonrpc: "2.0", id: 0, method: "initialize",
    params: { protocolVersion: SPEC, capabilities: {}, clientInfo: { name: "it", version: "1" } } }) });
  assert.equal(r.status, 200);
  const sid = r.headers.get("mcp-session-id");
  assert.ok(sid);
  await r.text();
  const S = { ...H, "mcp-session-id": sid, "mcp-protocol-version": SPEC };
  r = await fetch(url, { method: "POST", headers: S, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  assert.equal(r.status, 202);
  r = await fetch(url, { method: "POST", headers: S, body: JSON.stringify({
    jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "test_reconnection", arguments: {} } }) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/event-stream/);
  const first = await readEvents(r);
  // a priming event (id, empty data, retry) first; the stream then ends without the answer
  assert.ok(first[0].id && first[0].data === "" && Number(first[0].retry) > 0, JSON.stringify(first));
  assert.ok(!first.some((e) => e.data?.includes('"id":1')), "no answer before the reconnection");
  const last = first.filter((e) => e.id).at(-1).id;
  r = await fetch(url, { method: "GET", headers: {
    Accept: "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": SPEC, "last-event-id": last } });
  assert.equal(r.status, 200);
  const resumed = await readEvents(r, (evs) => evs.some((e) => e.data?.includes('"id":1')));
  const answer = resumed.map((e) => e.data && JSON.parse(e.data)).find((m) => m?.id === 1);
  assert.deepEqual(answer?.result, { content: [{ type: "text", text: "Reconnection test completed successfully" }] });
  r = await fetch(url, { method: "DELETE", headers: { "mcp-session-id": sid, "mcp-protocol-version": SPEC } });
  assert.equal(r.status, 200);
});
