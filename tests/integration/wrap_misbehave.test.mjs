// mcpwall wrap against a server that misbehaves on purpose: floods, a 10 MB
// line, invalid JSON, dying mid-call, never answering. Each case must end with
// a clear error to the host, no crash, no leak (ASan build), no hang.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { MCPWALL, MISBEHAVE, assertNoSanitizerReport, connect, mcpwall, readAudit, rssKiB, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";

const dir = tmpdir();
const config = writeFile(dir, "gw.yaml", `
version: 1
limits:
  shutdown_grace: 1s
policy:
  default: allow
`);
// Only for the call that is never answered: a short request timeout.
const shortTimeout = writeFile(dir, "short.yaml", `
version: 1
limits:
  request_timeout: 1s
policy:
  default: allow
`);

async function session(auditName, cfg = config, env = undefined) {
  const audit = `${dir}/${auditName}.jsonl`;
  const s = await connect({ server: [MISBEHAVE], config: cfg, audit, env });
  s.audit = audit;
  return s;
}

async function expectError(p, code, re) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof McpError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

async function closeAndCheck(s) {
  await s.client.close();
  await new Promise((r) => setTimeout(r, 200));
  assertNoSanitizerReport(s.stderr(), assert);
  const v = mcpwall("audit", "verify", s.audit);
  assert.equal(v.status, 0, v.stdout);
}

test("a flood of notifications arrives complete and in order", async () => {
  const s = await session("flood");
  const seen = [];
  const orig = s.transport.onmessage;
  s.transport.onmessage = (m, x) => {
    if (m.method === "notifications/message") seen.push(Number(String(m.params.data).split(" ")[1]));
    orig(m, x);
  };
  const r = await s.client.callTool({ name: "flood_stdout", arguments: { count: 20000 } });
  assert.match(JSON.stringify(r.content), /flood done/);
  assert.equal(seen.length, 20000);
  for (let i = 0; i < seen.length; i++) if (seen[i] !== i) assert.fail(`notification ${i} out of order: ${seen[i]}`);
  await closeAndCheck(s);
});

test("a stderr flood is logged with a rate limit and the call completes", async () => {
  const s = await session("stderr");
  const r = await s.client.callTool({ name: "flood_stderr", arguments: { count: 20000 } });
  assert.match(JSON.stringify(r.content), /stderr flood done/);
  await waitFor(() => /stderr lines suppressed/.test(s.stderr()), 5000, "suppression notice");
  const logged = (s.stderr().match(/server: stderr flood line/g) ?? []).length;
  assert.ok(logged > 0 && logged < 20000, `logged ${logged} lines`);
  await closeAndCheck(s);
});

test("a 10 MB response line is refused with a clear error and the session goes on", async () => {
  const s = await session("huge");
  await expectError(s.client.callTool({ name: "huge_line", arguments: {} }), -32011, /exceeds the 4194304-byte message limit/);
  const r = await s.client.callTool({ name: "echo", arguments: { text: "still alive" } });
  assert.match(JSON.stringify(r.content), /still alive/);
  // Audit records are written in short batches: wait for this one.
  await waitFor(() => readAudit(s.audit).some((x) => x.reason === "upstream_message_too_large"), 5000, "audit record");
  await closeAndCheck(s);
});

test("an invalid JSON response fails that call only", async () => {
  const s = await session("invalid");
  await expectError(s.client.callTool({ name: "invalid_json", arguments: {} }), -32011, /invalid response.*(unterminated|unexpected_end|not closed)/i);
  const r = await s.client.callTool({ name: "echo", arguments: { text: "ok after garbage" } });
  assert.match(JSON.stringify(r.content), /ok after garbage/);
  await closeAndCheck(s);
});

test("a call that is never answered times out and is cancelled upstream", async () => {
  const s = await session("never", shortTimeout);
  await expectError(s.client.callTool({ name: "never_answer", arguments: {} }, undefined, { timeout: 20000 }), -32012, /no answer to "tools\/call" from the MCP server within 1000 ms/);
  await waitFor(() => /got notifications\/cancelled/.test(s.stderr()), 5000, "cancellation upstream");
  await waitFor(() => readAudit(s.audit).some((x) => x.tool === "never_answer" && x.outcome === "timeout"), 5000, "audit record");
  await closeAndCheck(s);
});

test("a server that exits mid-call: the pending call gets an error naming the exit", async () => {
  const s = await session("exit");
  const closed = new Promise((r) => (s.transport.onclose = r));
  await expectError(s.client.callTool({ name: "exit_mid_call", arguments: { status: 3 } }), -32011, /MCP server exited with status 3 before answering/);
  await closed; // mcpwall ends the session after answering
  assertNoSanitizerReport(s.stderr(), assert);
  const recs = readAudit(s.audit);
  assert.ok(recs.some((x) => x.tool === "exit_mid_call" && x.outcome === "upstream_exit"));
  assert.equal(mcpwall("audit", "verify", s.audit).status, 0);
});

test("a server that crashes: the error names the signal", async () => {
  // Under ASan the server's own SEGV handler would turn the crash into SIGABRT.
  const s = await session("crash", config, { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:handle_segv=0` });
  await expectError(s.client.callTool({ name: "crash", arguments: {} }), -32011, /killed by signal 11 \(SEGV\)/);
  assertNoSanitizerReport(s.stderr(), assert);
});

test("a stalled host stops the relay instead of buffering without bound", async () => {
  const audit = `${dir}/stall.jsonl`;
  const cfg = writeFile(dir, "stall.yaml", "version: 1\nlimits:\n  queue_bytes: 64KiB\npolicy:\n  default: allow\n");
  const p = spawn(MCPWALL, ["wrap", "-c", cfg, "--audit", audit, "--", MISBEHAVE], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=1` },
  });
  let err = "";
  p.stderr.on("data", (d) => (err += d));
  const send = (o) => p.stdin.write(JSON.stringify(o) + "\n");
  let out = "";
  let lines = [];
  p.stdout.on("data", (d) => {
    out += d;
    const parts = out.split("\n");
    out = parts.pop();
    lines.push(...parts);
  });
  send({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
  await waitFor(() => lines.length >= 1, 10000, "initialize answer");
  send({ jsonrpc: "2.0", method: "notifications/initialized" });
  const before = rssKiB(p.pid);
  p.stdout.pause(); // the host stops reading
  const N = 200000; // ~30 MB of notifications
  send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "flood_stdout", arguments: { count: N } } });
  await new Promise((r) => setTimeout(r, 1500));
  const during = rssKiB(p.pid);
  assert.ok(during - before < 12 * 1024, `RSS grew by ${during - before} KiB while the host was stalled`);
  p.stdout.resume();
  await waitFor(() => lines.some((l) => l.includes('"id":1') && l.includes("flood done")), 60000, "flood result");
  const notes = lines.filter((l) => l.includes("notifications/message"));
  assert.equal(notes.length, N);
  notes.forEach((l, i) => { if (!l.includes(`"flood ${i} `)) assert.fail(`message ${i} out of order`); });
  p.stdin.end();
  const code = await new Promise((r) => p.on("exit", r));
  assert.equal(code, 0);
  assertNoSanitizerReport(err, assert);
});
