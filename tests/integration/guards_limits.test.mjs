// Rate limits, budgets, per-tool timeouts and the call-rate alert, end to end
// with the real server-everything through mcpwall wrap and mcpwall serve: a
// burst over the limit is refused with -32013 and a retry hint and recovers;
// a client that opens a new session keeps its budget (limits are keyed by
// identity, never by session); two gateways sharing a real Redis share one
// budget; a tool's own timeout cancels it; a flood of calls raises the alert
// (audit record and metric).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { apiKey, authYaml, bearer, connect, connectHttp as connectAnon, freePort, mcpwall, npmServer, readAudit, startServe, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";

const dir = fs.realpathSync(tmpdir());
const server = npmServer("mcp-server-everything");
const limits = `
rate_limits:
  alert: {calls_per_minute: 8}
  rules:
    - {name: echo-burst, tool: echo, rate: 60/min, burst: 3}
    - {name: slow-ops, tool: trigger-long-running-operation, rate: 100/s, timeout: 300ms}
  budgets:
    - {name: sums, tool: get-sum, window: 1d, calls: 2}
`;
const wrapCfg = writeFile(dir, "wrap.yaml", `version: 1\npolicy: {default: allow}\n${limits}`);
// Callers of serve authenticate with an API key: the limits key by its identity.
const key = apiKey("it");
const connectHttp = (url) => connectAnon(url, { headers: bearer(key) });
const serveYaml = (name, extra = "") => writeFile(dir, `${name}.yaml`, `version: 1
${authYaml(key)}
listen: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:0"}
audit: {file: "${dir}/${name}-audit.jsonl"}
policy: {default: allow}
servers:
  everything: {command: "${server[0]}", args: ${JSON.stringify(server.slice(1))}}
${limits}${extra}`);
const echo = (c, i) => c.callTool({ name: "echo", arguments: { message: `m${i}` } });
const isLimited = (reason, rule) => (e) =>
  e instanceof McpError && e.code === -32013 && e.data.reason === reason && e.data.rule === rule &&
  Number.isInteger(e.data.retryAfter) && e.data.retryAfter >= 1;
const closers = [];
after(async () => {
  for (const f of closers.reverse()) await f();
});

test("config: check describes the limits; mistakes are positioned", () => {
  const r = mcpwall("check", "-c", wrapCfg);
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /rate limits: 2 rules, 1 budget \(in memory\); alert above 8 calls per minute/);
  const bad = writeFile(dir, "bad.yaml", "version: 1\nrate_limits:\n  rules:\n    - {name: x, rate: 10/min, key: [session]}\n");
  const b = mcpwall("check", "-c", bad);
  assert.notEqual(b.status, 0);
  assert.match(b.stdout + b.stderr, /bad\.yaml:4:\d+: .*session/);
});

test("wrap: a burst over the limit is refused with a retry hint, then recovers", async () => {
  const audit = `${dir}/wrap-audit.jsonl`;
  const { client } = await connect({ server, config: wrapCfg, audit });
  closers.push(() => client.close());
  for (let i = 0; i < 3; i++) assert.match((await echo(client, i)).content[0].text, new RegExp(`m${i}`));
  let retry;
  await assert.rejects(echo(client, 3), (e) => { retry = e.data?.retryAfter; return isLimited("rate_limited", "echo-burst")(e); });
  assert.match(String(retry), /^[12]$/, "one token comes back each second");
  // other tools are not limited by this rule
  assert.ok((await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } })).content[0].text.includes("3"));
  await new Promise((r) => setTimeout(r, retry * 1000 + 100));
  assert.match((await echo(client, 4)).content[0].text, /m4/, "the bucket refilled");
  await waitFor(() => readAudit(audit).some((r) => r.decision === "deny" && r.reason === "rate_limited" && r.rule === "echo-burst"), 5000, "the refusal in the audit log");
});

test("wrap: a budget counts calls per window and names what ran out", async () => {
  const { client } = await connect({ server, config: wrapCfg });
  closers.push(() => client.close());
  for (let i = 0; i < 2; i++) await client.callTool({ name: "get-sum", arguments: { a: i, b: 1 } });
  await assert.rejects(client.callTool({ name: "get-sum", arguments: { a: 9, b: 9 } }),
    (e) => isLimited("budget_exceeded", "sums")(e) && e.data.dimension === "calls");
});

test("wrap: a rule's timeout cancels a call that runs longer", async () => {
  const { client } = await connect({ server, config: wrapCfg });
  closers.push(() => client.close());
  await assert.rejects(client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 3, steps: 3 } }),
    (e) => e instanceof McpError && e.code === -32012);
});

test("serve: a new session of the same caller keeps the spent budget; the alert fires", async () => {
  const gw = await startServe(["-c", serveYaml("serve")]);
  closers.push(() => gw.stop());
  const a = (await connectHttp(gw.url)).client;
  closers.push(() => a.close());
  for (let i = 0; i < 3; i++) await echo(a, i);
  await assert.rejects(echo(a, 3), isLimited("rate_limited", "echo-burst"));
  const b = (await connectHttp(gw.url)).client; // re-initialize: same identity, same bucket
  closers.push(() => b.close());
  await assert.rejects(echo(b, 0), isLimited("rate_limited", "echo-burst"));
  // the alert: more than 8 tool calls within a minute in session b
  for (let i = 0; i < 9; i++) await b.callTool({ name: "get-env", arguments: {} }).catch(() => {});
  const m = await (await fetch(`${gw.admin}/metrics`)).text();
  assert.match(m, /mcpwall_rate_alerts_total\{server="everything"\} 1/);
  assert.match(m, /mcpwall_denials_total\{server="everything",reason="rate_limited"\} [2-9]/);
  // the limiter's own counters: refusals counted, the memory store always answers
  assert.match(m, /mcpwall_ratelimit_checks_total\{result="refused"\} [2-9]/);
  assert.match(m, /mcpwall_ratelimit_checks_total\{result="unavailable"\} 0\n/);
  assert.match(m, /mcpwall_ratelimit_store_connected 1\n/);
  await waitFor(() => readAudit(`${dir}/serve-audit.jsonl`).some((r) => r.event === "rate_alert" && r.threshold === 8 && r.calls_last_minute === 9),
    5000, "the alert record");
});

// Two gateways behind a load balancer share their counters in Redis.
const redisBin = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim();
test("serve: two gateways sharing a real Redis see one budget", { skip: redisBin ? false : "redis-server is not installed" }, async () => {
  const port = await freePort();
  const redis = spawn(redisBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  closers.push(async () => { redis.kill(); });
  await waitFor(() => new Promise((res) => {
    const s = net.connect(port, "127.0.0.1", () => { s.end(); res(true); });
    s.on("error", () => res(false));
  }), 10000, "redis to listen");
  const store = `  store: {redis: "redis://127.0.0.1:${port}/0", timeout: 500ms}\n`;
  const g1 = await startServe(["-c", serveYaml("r1", store)]);
  const g2 = await startServe(["-c", serveYaml("r2", store)]);
  closers.push(() => g1.stop(), () => g2.stop());
  const c1 = (await connectHttp(g1.url)).client;
  const c2 = (await connectHttp(g2.url)).client;
  closers.push(() => c1.close(), () => c2.close());
  await echo(c1, 0);
  await echo(c2, 1);
  await echo(c1, 2);
  await assert.rejects(echo(c2, 3), isLimited("rate_limited", "echo-burst"), "the other gateway's calls count");
  // Redis gone: the default on_error is deny, with its own reason
  redis.kill();
  await new Promise((r) => redis.on("exit", r));
  await assert.rejects(c1.callTool({ name: "get-sum", arguments: { a: 1, b: 1 } }),
    (e) => e instanceof McpError && e.code === -32013 && e.data.reason === "limiter_unavailable");
  // and the metrics say so: a check the store could not answer, the store down
  const m = await (await fetch(`${g1.admin}/metrics`)).text();
  assert.match(m, /mcpwall_ratelimit_checks_total\{result="unavailable"\} [1-9]/);
  assert.match(m, /mcpwall_ratelimit_store_connected 0\n/);
});
