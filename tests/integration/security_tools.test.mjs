// mcp-security-tools through the official TypeScript SDK client over stdio:
// allowed and refused log paths (traversal, symlinks, prefix twins), bounded
// regexes, IP address checks and reputation lookups on a test list, rate
// limits, read-only resources, redaction, and one audit record per call.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import net from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { BUILDDIR, connect, mcpwall, readAudit, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";

const BIN = path.join(BUILDDIR, "examples/servers/security-tools/mcp-security-tools");
const dir = fs.realpathSync(tmpdir("mcpwall-st-"));
fs.mkdirSync(`${dir}/logs`);
fs.mkdirSync(`${dir}/private`);
const appLog = writeFile(`${dir}/logs`, "app.log", [
  "2026-11-20T08:00:01Z INFO  started",
  "2026-11-20T08:04:55Z ERROR payment timeout order=81723",
  "2026-11-20T08:06:40Z DEBUG call url=https://svc:hunter2@payments.internal/x",
  "2026-11-20T08:07:03Z ERROR upstream 502 client=45.155.205.233",
  "2026-11-20T08:09:28Z INFO  reloaded api_key=sk-abcdefghijklmnopqrstuvwx",
  "a".repeat(40) + "b",
  "2026-11-20T08:16:02Z INFO  \u001b[31mred\u001b[0m shutdown",
].join("\n") + "\n");
const authLog = writeFile(`${dir}/logs`, "auth.log", "Failed password for root from 45.155.205.17\n");
writeFile(`${dir}/logs`, "app.log.bak", "BAK-SECRET-CONTENT\n");
writeFile(`${dir}/private`, "shadow", "PRIVATE-CONTENT\n");
fs.symlinkSync(appLog, `${dir}/link.log`);
fs.symlinkSync(`${dir}/private/shadow`, `${dir}/logs/evil.log`);
fs.symlinkSync(`${dir}/logs`, `${dir}/logdir-link`);
const list = writeFile(dir, "threats.txt", [
  "# test list",
  "45.155.205.0/24 scanner",
  "45.155.205.233 brute-force",
  "91.92.240.0/22 botnet-c2",
  "2a0e:b107:1170::/48 scanner",
].join("\n") + "\n");
const tor = writeFile(dir, "tor.txt", "45.155.205.224/27\n185.220.101.0/24\n");
const audit = `${dir}/audit.jsonl`;

function config(name, rates) {
  return writeFile(dir, name, `
log_files: [logs/app.log, logs/auth.log]
reputation_lists:
  - {name: threats, file: threats.txt}
  - {name: tor, file: tor.txt, category: tor-exit}
limits:
  search_timeout: 30s
rate_limits:
${Object.entries(rates).map(([k, v]) => `  ${k}: ${v}`).join("\n")}
`);
}

let st;
before(async () => {
  const cfg = config("st.yaml", { query_logs: "10000/min", check_ip_reputation: "10000/min" });
  st = await connect({ server: [BIN, "-c", cfg, "--audit", audit], wrap: false });
});
after(async () => {
  await st?.client.close();
});

const call = (name, args) => st.client.callTool({ name, arguments: args });
const text = (r) => r.content.map((c) => c.text).join("\n");

test("lists both tools with schemas and read-only annotations", async () => {
  const { tools } = await st.client.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(byName).sort(), ["check_ip_reputation", "query_logs"]);
  assert.deepEqual(byName.query_logs.inputSchema.required, ["log_path", "pattern"]);
  assert.equal(byName.query_logs.inputSchema.properties.max_lines.maximum, 1000);
  assert.equal(byName.query_logs.annotations.readOnlyHint, true);
  assert.ok(byName.check_ip_reputation.outputSchema);
});

test("query_logs searches a configured file and redacts secrets in the lines", async () => {
  const r = await call("query_logs", { log_path: appLog, pattern: "ERROR|url=|api_key|red" });
  assert.equal(r.isError, undefined, text(r));
  const m = r.structuredContent.matches;
  assert.deepEqual(m.map((x) => x.line), [2, 3, 4, 5, 7]);
  assert.match(m[0].text, /payment timeout/);
  assert.equal(m[1].text, "2026-11-20T08:06:40Z DEBUG call url=https://svc:[REDACTED]@payments.internal/x");
  assert.equal(m[3].text, "2026-11-20T08:09:28Z INFO  reloaded api_key=[REDACTED]");
  assert.ok(!m[4].text.includes("\u001b"), "terminal escapes are neutralised");
  assert.equal(r.structuredContent.stopped_by, "end_of_file");
  assert.equal(r.structuredContent.lines_scanned, 7);
  assert.ok(!JSON.stringify(r).includes("hunter2"));
});

test("max_lines bounds the answer and is itself bounded by the schema", async () => {
  const r = await call("query_logs", { log_path: appLog, pattern: "2026", max_lines: 2 });
  assert.equal(r.structuredContent.matches.length, 2);
  assert.equal(r.structuredContent.stopped_by, "max_lines");
  assert.equal(r.structuredContent.truncated, true);
  const big = await call("query_logs", { log_path: appLog, pattern: "x", max_lines: 1001 });
  assert.equal(big.isError, true);
  assert.match(text(big), /argument .max_lines.: must be at most 1000/);
  const extra = await call("query_logs", { log_path: appLog, pattern: "x", shell: "rm -rf /" });
  assert.equal(extra.isError, true);
  assert.match(text(extra), /argument .shell.: is not allowed/);
});

test("refuses traversal, symlinks, prefix twins and anything not configured", async () => {
  const cases = [
    [`${dir}/logs/../logs/app.log`, /'\.\.'/],
    [`${dir}/private/../logs/app.log`, /'\.\.'/],
    [`${dir}/logs/./app.log`, /canonical/],
    [`${dir}//logs/app.log`, /canonical/],
    [`${dir}/link.log`, /symbolic link/],
    [`${dir}/logdir-link/app.log`, /symbolic link/],
    [`${dir}/logs/evil.log`, /not one of the configured/],
    [`${dir}/logs/app.log.bak`, /not one of the configured/],
    [`${dir}/logs/app.lo`, /not one of the configured/],
    [`${dir}/private/shadow`, /not one of the configured/],
    ["logs/app.log", /absolute/],
    ["/etc/passwd", /not one of the configured/],
    [`${appLog}\u0000.png`, /NUL/],
  ];
  for (const [p, why] of cases) {
    const r = await call("query_logs", { log_path: p, pattern: "." });
    assert.equal(r.isError, true, `${p} should be refused`);
    assert.match(text(r), why, p);
    const s = JSON.stringify(r);
    assert.ok(!s.includes("BAK-SECRET") && !s.includes("PRIVATE-CONTENT"), `${p} leaked content`);
    assert.ok(!/ENOENT|errno|No such file/.test(s), `${p} leaked an internal error`);
  }
});

test("catastrophic and invalid regexes are stopped with a clear error", async () => {
  for (const pattern of ["^(a+)+$", "^(a|a)+$", "^(a|aa)+$", "^(\\w+\\s?)*\\d$"]) {
    const r = await call("query_logs", { log_path: appLog, pattern });
    assert.equal(r.isError, true, `${pattern} should hit a limit`);
    assert.match(text(r), /stopped by the (match|depth|memory|stack) limit on line 6/);
  }
  const bad = await call("query_logs", { log_path: appLog, pattern: "(unclosed" });
  assert.equal(bad.isError, true);
  assert.match(text(bad), /not a valid regular expression: missing closing parenthesis/);
  const long = await call("query_logs", { log_path: appLog, pattern: "a".repeat(600) });
  assert.equal(long.isError, true);
  assert.match(text(long), /pattern.*at most 512/);
  // the server is still responsive afterwards
  const ok = await call("query_logs", { log_path: authLog, pattern: "root" });
  assert.equal(ok.structuredContent.matches.length, 1);
});

test("check_ip_reputation refuses malformed, private and reserved addresses", async () => {
  const cases = [
    ["10.1.2.3", /10\.0\.0\.0\/8, a private network/],
    ["192.168.1.1", /private network/],
    ["127.0.0.1", /loopback/],
    ["169.254.169.254", /link-local/],
    ["100.64.1.1", /carrier-grade NAT/],
    ["0.0.0.0", /this network/],
    ["224.0.0.1", /multicast/],
    ["255.255.255.255", /broadcast/],
    ["203.0.113.5", /documentation/],
    ["::1", /loopback/],
    ["fe80::1", /link-local/],
    ["fd00::1", /unique local/],
    ["2001:db8::1", /documentation/],
    ["::ffff:127.0.0.1", /carries the IPv4 address 127\.0\.0\.1.*loopback/],
    ["::ffff:a9fe:a9fe", /carries the IPv4 address 169\.254\.169\.254/],
    ["64:ff9b::10.0.0.1", /carries the IPv4 address 10\.0\.0\.1/],
    ["0177.0.0.1", /not a valid IP address/],
    ["127.1", /not a valid IP address/],
    ["2130706433", /not a valid IP address/],
    ["8.8.8.8/32", /not a network/],
    ["fe80::1%eth0", /zone/],
    ["[::1]", /brackets/],
    ["evil.example.com", /not a valid IP address/],
    ["", /./],
  ];
  for (const [ip, why] of cases) {
    const r = await call("check_ip_reputation", { ip });
    assert.equal(r.isError, true, `${ip} should be refused`);
    assert.match(text(r), why, ip);
  }
});

test("reputation lookups: longest prefix per list, categories and lists named", async () => {
  const look = async (ip) => (await call("check_ip_reputation", { ip })).structuredContent;
  let r = await look("45.155.205.233");
  assert.equal(r.listed, true);
  assert.deepEqual(r.matches, [
    { list: "threats", category: "brute-force", network: "45.155.205.233/32" },
    { list: "tor", category: "tor-exit", network: "45.155.205.224/27" },
  ]);
  r = await look("45.155.205.17");
  assert.deepEqual(r.matches, [{ list: "threats", category: "scanner", network: "45.155.205.0/24" }]);
  r = await look("91.92.243.255");
  assert.deepEqual(r.matches, [{ list: "threats", category: "botnet-c2", network: "91.92.240.0/22" }]);
  r = await look("91.92.244.0");
  assert.equal(r.listed, false);
  assert.equal(r.lists_checked, 2);
  r = await look("2a0e:b107:1170:0:0:0:0:42");
  assert.equal(r.ip, "2a0e:b107:1170::42");
  assert.deepEqual(r.matches, [{ list: "threats", category: "scanner", network: "2a0e:b107:1170::/48" }]);
  r = await look("::ffff:185.220.101.9");
  assert.equal(r.ipv4, "185.220.101.9");
  assert.deepEqual(r.matches, [{ list: "tor", category: "tor-exit", network: "185.220.101.0/24" }]);
  r = await look("8.8.8.8");
  assert.deepEqual(r.matches, []);
});

test("the configured log files are read-only resources, and only they", async () => {
  const { resources } = await st.client.listResources();
  assert.deepEqual(resources.map((r) => r.uri).sort(), [`file://${appLog}`, `file://${authLog}`].sort());
  const r = await st.client.readResource({ uri: `file://${appLog}` });
  assert.match(r.contents[0].text, /payment timeout/);
  assert.ok(!r.contents[0].text.includes("hunter2"), "resource text is redacted too");
  for (const uri of [`file://${dir}/logs/app.log.bak`, `file://${dir}/private/shadow`, "file:///etc/passwd"]) {
    await assert.rejects(st.client.readResource({ uri }), (e) => e instanceof McpError && e.code === -32002);
  }
});

test("rate limits are enforced per tool with a clear error", async () => {
  const cfg = config("rl.yaml", { query_logs: "10000/min", check_ip_reputation: "3/min" });
  const s = await connect({ server: [BIN, "-c", cfg, "--no-audit"], wrap: false });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await s.client.callTool({ name: "check_ip_reputation", arguments: { ip: "8.8.8.8" } });
      assert.equal(r.isError, undefined);
    }
    await assert.rejects(
      s.client.callTool({ name: "check_ip_reputation", arguments: { ip: "8.8.8.8" } }),
      (e) => e instanceof McpError && e.code === -32005 &&
        /Rate limit exceeded for tool check_ip_reputation: at most 3 calls per minute/.test(e.message) &&
        e.data?.reason === "rate_limited" && e.data.retryAfterMs > 0,
    );
    // the other tool has its own budget
    const q = await s.client.callTool({ name: "query_logs", arguments: { log_path: appLog, pattern: "x" } });
    assert.equal(q.isError, undefined);
  } finally {
    await s.client.close();
  }
});

test("one audit record per call, secrets redacted, chain verifiable", async () => {
  await call("query_logs", { log_path: appLog, pattern: "password=hunter2|token sk-zzzzzzzzzzzzzzzzzzzzzzzz" });
  await call("query_logs", { log_path: `${dir}/logs/../logs/app.log`, pattern: "x" });
  await st.client.close();
  st = undefined;
  const recs = readAudit(audit);
  const calls = recs.filter((r) => r.event === "decision");
  // every tools/call and resources/read of the main session is there
  assert.ok(calls.length >= 40, `only ${calls.length} records`);
  assert.equal(recs[0].event, "start");
  assert.equal(recs.at(-1).event, "stop");
  const secret = calls.find((r) => r.args?.pattern?.includes("password="));
  assert.ok(secret, "the call with a secret in its pattern is audited");
  assert.equal(secret.args.pattern, "password=[REDACTED] [REDACTED]");
  assert.ok(!JSON.stringify(secret).includes("sk-zzzz"));
  const refused = calls.find((r) => r.args?.log_path?.includes("/../"));
  assert.equal(refused.decision, "deny");
  assert.equal(refused.reason, "path_refused");
  assert.equal(refused.tool, "query_logs");
  assert.ok(!fs.readFileSync(audit, "utf8").includes("hunter2"));
  const v = mcpwall("audit", "verify", audit);
  assert.equal(v.status, 0, v.stdout + v.stderr);
});

test("serves the same over Streamable HTTP with --listen", async () => {
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const cfg = config("http.yaml", { query_logs: "10000/min", check_ip_reputation: "10000/min" });
  const child = spawn(BIN, ["-c", cfg, "--no-audit", "--listen", `127.0.0.1:${port}`], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    await waitFor(() => new Promise((res) => {
      const c = net.connect(port, "127.0.0.1").on("connect", () => { c.destroy(); res(true); }).on("error", () => res(false));
    }), 20000, "the server to listen");
    const client = new Client({ name: "it-http", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
    const ip = await client.callTool({ name: "check_ip_reputation", arguments: { ip: "45.155.205.17" } });
    assert.deepEqual(ip.structuredContent.matches, [{ list: "threats", category: "scanner", network: "45.155.205.0/24" }]);
    const bad = await client.callTool({ name: "query_logs", arguments: { log_path: `${dir}/link.log`, pattern: "." } });
    assert.equal(bad.isError, true);
    const q = await client.callTool({ name: "query_logs", arguments: { log_path: authLog, pattern: "root" } });
    assert.equal(q.structuredContent.matches.length, 1);
    await client.close();
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0);
});
