// mcpwall serve with authentication, identities and upstream credentials, all
// real: the official TypeScript SDK client in front, real upstreams behind.
//   (a) API keys from `mcpwall keygen` and an RS256 JWT (signed here, keys in a
//       JWKS file) give each caller its roles: @modelcontextprotocol/
//       server-everything lists a different set of tools per role, and a tool
//       outside the role is refused (-32010) also when called by name; the
//       model header and clientInfo.name narrow access as hints; requests
//       without a valid credential get 401 with the challenge.
//   (b) recorder upstreams (tests/integration/servers/recorder.mjs, stdio and
//       HTTP) record the environment and headers they receive: a static
//       secret, each user's own token, and client-credentials tokens from a
//       token endpoint written here (reused, refreshed before expiry, a failed
//       grant answered with -32011 credential_unavailable) — never the client's
//       own token, and no variable a ${env:..} reference read.
//   (c) no log line, audit record, metric or `check` output of the suite holds
//       any secret of the test.
// And wrap: the local user gets auth.local_roles.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  MCPWALL, SRCDIR, assertNoSanitizerReport, connect, freePort, listAll, npmServer, readAudit,
  startServe, tmpdir, waitFor, writeFile,
} from "./lib/mcp.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const RECORDER = path.join(here, "servers/recorder.mjs");
const dir = tmpdir("mcpwall-serve-auth-");
const audit = path.join(dir, "audit.jsonl");
const stdioRec = path.join(dir, "stdio.jsonl");
const httpRec = path.join(dir, "http.jsonl");

const rnd = (n = 18) => crypto.randomBytes(n).toString("base64url");
// Upstream secrets: in serve's environment or in 0600 files, named by reference.
const ENV = {
  IT_STATIC_SECRET: `static-${rnd()}`,
  IT_DEFAULT_TOKEN: `default-${rnd()}`,
  IT_HEADER_SECRET: `header-${rnd()}`,
};
const ALICE_UPSTREAM = `alice-up-${rnd()}`;
const CC_SECRET = `cc-secret-${rnd()}`;
const secrets = [...Object.values(ENV), ALICE_UPSTREAM, CC_SECRET];

// ---- the token endpoint (client-credentials grant) ----
const tokens = { server: null, url: null, grants: { ok: [], short: [], flaky: [] } };
function startTokenEndpoint() {
  tokens.server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const send = (status, obj) => {
        res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(obj));
      };
      const kind = req.url.slice(1);
      const form = new URLSearchParams(body);
      const basic = Buffer.from((req.headers.authorization || "").replace(/^Basic /, ""), "base64").toString();
      const [id, secret] = basic.split(":").map(decodeURIComponent);
      if (!(kind in tokens.grants)) return send(404, { error: "not_found" });
      if (id !== "mcpwall-it" || secret !== CC_SECRET || form.get("grant_type") !== "client_credentials")
        return send(401, { error: "invalid_client", error_description: `bad secret ${secret}` });
      const list = tokens.grants[kind];
      // flaky: the second grant fails (the others work).
      if (kind === "flaky" && list.length === 1) {
        list.push({ at: Date.now(), token: null });
        return send(500, { error: "server_error", error_description: `echo ${secret}` });
      }
      const token = `tok-${kind}-${list.length + 1}-${rnd()}`;
      secrets.push(token);
      list.push({ at: Date.now(), token, scope: form.get("scope") });
      const expires_in = kind === "ok" ? 3600 : kind === "short" ? 16 : list.length === 1 ? 7 : 3600;
      send(200, { access_token: token, token_type: "Bearer", expires_in });
    });
  });
  return new Promise((r) =>
    tokens.server.listen(0, "127.0.0.1", () => {
      tokens.url = `http://127.0.0.1:${tokens.server.address().port}`;
      r();
    }),
  );
}

// ---- the HTTP recorder ----
let recProc, recUrl;
function startRecorder() {
  return new Promise((resolve, reject) => {
    recProc = spawn(process.execPath, [RECORDER, "--record", httpRec, "--http"], { stdio: ["ignore", "pipe", "inherit"] });
    readline.createInterface({ input: recProc.stdout }).on("line", (l) => {
      const m = /^listening (\d+)$/.exec(l);
      if (m) resolve((recUrl = `http://127.0.0.1:${m[1]}`));
    });
    recProc.on("error", reject);
  });
}
const records = (file) => (fs.existsSync(file) ? readAudit(file) : []);
const httpRecords = (p) => records(httpRec).filter((r) => r.kind === "http" && r.headers["x-path"] === p);

// ---- keys and tokens ----
function keygen(name, role) {
  const r = spawnSync(MCPWALL, ["keygen", "--json", "--name", name, "--role", role], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}
const b64u = (x) => Buffer.from(x).toString("base64url");
const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const ISSUER = "https://idp.mcpwall.test/realms/it";
function signJwt(claims, kid = "k1") {
  const head = b64u(JSON.stringify({ alg: "RS256", kid, typ: "JWT" }));
  const body = b64u(JSON.stringify(claims));
  const sig = crypto.sign("sha256", Buffer.from(`${head}.${body}`), rsa.privateKey);
  return `${head}.${body}.${b64u(sig)}`;
}

let gw, gw2, port, resource, alice, bob, jwtCarol, cfgPath, cfg2Path;
const audit2 = path.join(dir, "audit2.jsonl");

before(async () => {
  await startTokenEndpoint();
  await startRecorder();
  alice = keygen("alice", "dev");
  bob = keygen("bob", "ops");
  port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  const now = Math.floor(Date.now() / 1000);
  jwtCarol = signJwt({ iss: ISSUER, aud: resource, sub: "carol", iat: now, exp: now + 3600, roles: ["ops"] });
  secrets.push(alice.key, bob.key, jwtCarol);
  writeFile(dir, "jwks.json", JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: "jwk" }), kid: "k1", use: "sig", alg: "RS256" }] }));
  fs.writeFileSync(path.join(dir, "alice.token"), ALICE_UPSTREAM + "\n", { mode: 0o600 });
  fs.writeFileSync(path.join(dir, "cc.secret"), CC_SECRET, { mode: 0o600 });
  const cc = (kind, extra = "") =>
    `    client_credentials: {token_url: "${tokens.url}/${kind}", client_id: mcpwall-it, client_secret: "\${file:cc.secret}", scope: "rec:read"${extra}}`;
  const rec = () => `${recUrl}/mcp`;
  cfgPath = writeFile(dir, "serve.yaml", [
    "version: 1",
    `listen: {address: "127.0.0.1:${port}"}`,
    'admin: {address: "127.0.0.1:0"}',
    `audit: {file: "${audit}"}`,
    "auth:",
    `  resource: ${resource}`,
    "  model_header: x-model-id",
    "  api_keys:",
    `    - {name: alice, hash: "${alice.hash}", roles: [dev]}`,
    `    - {name: bob, hash: "${bob.hash}", roles: [ops]}`,
    "  jwt:",
    `    issuer: ${ISSUER}`,
    "    jwks_file: jwks.json",
    "credentials:",
    "  static-up: {value: \"${env:IT_STATIC_SECRET}\", header: X-Api-Key, scheme: \"\"}",
    "  per-user:",
    '    per_identity: {"apikey:alice": "${file:alice.token}"}',
    '    default: "${env:IT_DEFAULT_TOKEN}"',
    "    env: UPSTREAM_TOKEN",
    "  alice-only:",
    '    per_identity: {"apikey:alice": "${file:alice.token}"}',
    "    env: UPSTREAM_TOKEN",
    "  cc:",
    cc("ok"),
    "policy:",
    "  default: deny",
    "  rules:",
    "    - {name: no-blocked-model, action: deny, models: [\"blocked-*\"], tools: [echo]}",
    "    - {name: no-evil-client, action: deny, clients: [\"evil-*\"], tools: [echo]}",
    "    - {name: dev-all, action: allow, roles: [dev], tools: [\"*\"]}",
    "    - {name: ops-echo, action: allow, roles: [ops], tools: [echo]}",
    "    - {name: recorders, action: allow, tools: [record]}",
    "servers:",
    `  everything: {command: "${npmServer("mcp-server-everything")[0]}"}`,
    `  recstdio: {command: "${process.execPath}", args: ["${RECORDER}", "--record", "${stdioRec}"], credential: per-user}`,
    `  alicestdio: {command: "${process.execPath}", args: ["${RECORDER}", "--record", "${path.join(dir, "alice-only.jsonl")}"], credential: alice-only}`,
    `  rechttp: {url: "${rec()}", credential: cc, headers: {X-Path: cc, X-Static: "\${env:IT_HEADER_SECRET}", X-Plain: plain}}`,
    `  recstatic: {url: "${rec()}", credential: static-up, headers: {X-Path: static}}`,
    "",
  ].join("\n"));
  // A second gateway for the token lifetimes: its first session is the test's.
  cfg2Path = writeFile(dir, "serve2.yaml", [
    "version: 1",
    'listen: {address: "127.0.0.1:0"}',
    `audit: {file: "${audit2}"}`,
    "auth:",
    "  api_keys:",
    `    - {name: alice, hash: "${alice.hash}", roles: [dev]}`,
    "credentials:",
    "  cc-short:",
    cc("short"),
    "  cc-flaky:",
    cc("flaky", ", retry_after: 1s"),
    "policy: {default: allow}",
    "servers:",
    `  recshort: {url: "${rec()}", credential: cc-short, headers: {X-Path: short}}`,
    `  recflaky: {url: "${rec()}", credential: cc-flaky, headers: {X-Path: flaky}}`,
    "",
  ].join("\n"));
  const chk = spawnSync(MCPWALL, ["check", "-c", cfgPath], { encoding: "utf8", env: { ...process.env, ...ENV } });
  assert.equal(chk.status, 0, chk.stdout + chk.stderr);
  checkOutput.push(chk.stdout + chk.stderr);
  gw = await startServe(["-c", cfgPath], { env: ENV });
});

const checkOutput = [];
let clients = [];
// Sessions end with each test (DELETE), as a well-behaved client ends them.
async function closeClients() {
  for (const { c, t } of clients) {
    await t.terminateSession().catch(() => {});
    await c.close().catch(() => {});
  }
  clients = [];
}
afterEach(closeClients);
after(async () => {
  await closeClients();
  await gw?.stop();
  await gw2?.stop();
  recProc?.kill("SIGTERM");
  await new Promise((r) => tokens.server.close(r));
});

async function client(token, { name = "mcpwall-it", headers = {}, url = gw.url } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const c = new Client({ name, version: "1.0.0" });
  const t = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: h } });
  await c.connect(t);
  clients.push({ c, t });
  return c;
}
const toolNames = async (c) => (await listAll(c, "listTools", "tools")).map((t) => t.name).sort();
async function callError(c, name) {
  try {
    await c.callTool({ name, arguments: name.endsWith("echo") ? { message: "hi" } : {} });
  } catch (e) {
    return e;
  }
  assert.fail(`${name} was not refused`);
}

test("the MCP endpoint refuses requests without a valid credential, with the challenge", async () => {
  const init = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
  const post = (headers) => fetch(gw.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, body: init });
  let r = await post({});
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("www-authenticate"), `Bearer resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`);
  r = await post({ authorization: `Bearer ${alice.key.slice(0, -1)}${alice.key.endsWith("A") ? "B" : "A"}` });
  assert.equal(r.status, 401);
  assert.match(r.headers.get("www-authenticate"), /error="invalid_token"/);
  const now = Math.floor(Date.now() / 1000);
  const foreign = signJwt({ iss: ISSUER, aud: "http://127.0.0.1:1/mcp", sub: "carol", iat: now, exp: now + 60, roles: ["dev"] });
  secrets.push(foreign);
  r = await post({ authorization: `Bearer ${foreign}` });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.data.reason, "wrong_audience");
  r = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).resource, resource);
});

test("without an admin listener, /metrics on a non-loopback listener needs a credential", async () => {
  // Bound to every address: other machines could reach it, so the metrics
  // (tool, server and identity names) need what /mcp needs. Health stays open.
  const p = await freePort();
  const cfg = writeFile(dir, "serve-wide.yaml", [
    "version: 1",
    `listen: {address: "0.0.0.0:${p}", allowed_hosts: ["127.0.0.1:${p}"]}`,
    "auth:",
    "  api_keys:",
    `    - {name: alice, hash: "${alice.hash}", roles: [dev]}`,
    "policy: {default: allow}",
    "servers:",
    `  everything: {command: "${npmServer("mcp-server-everything")[0]}"}`,
    "",
  ].join("\n"));
  const wide = await startServe(["-c", cfg]);
  try {
    const base = `http://127.0.0.1:${p}`;
    const anon = await fetch(`${base}/metrics`);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.ok(!(await anon.text()).includes("mcpwall_requests_total"));
    const bad = await fetch(`${base}/metrics`, { headers: { Authorization: "Bearer mcpw_not-a-key" } });
    assert.equal(bad.status, 401);
    const ok = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${alice.key}` } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /mcpwall_auth_requests_total/);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    // The loopback gateway of this suite serves its metrics on its admin
    // listener without credentials (a local scraper).
    assert.equal((await fetch(`${gw.admin}/metrics`)).status, 200);
  } finally {
    await wide.stop();
  }
  assert.equal(wide.proc.exitCode, 0);
  assertNoSanitizerReport(wide.stderr(), assert);
});

test("each role sees its own tools and is refused the others, also by name", async () => {
  const a = await client(alice.key);
  const b = await client(bob.key);
  const c = await client(jwtCarol);
  const aliceTools = await toolNames(a);
  for (const t of ["everything__echo", "everything__get-sum", "everything__get-env", "recstdio__record", "rechttp__record", "alicestdio__record"])
    assert.ok(aliceTools.includes(t), `alice (dev) sees ${t}: ${aliceTools}`);
  const opsTools = ["everything__echo", "rechttp__record", "recstatic__record", "recstdio__record"];
  assert.deepEqual(await toolNames(b), opsTools, "bob (ops): echo and the recorders");
  assert.deepEqual(await toolNames(c), opsTools, "carol (JWT, ops): the same");
  assert.equal((await b.callTool({ name: "everything__echo", arguments: { message: "hi" } })).content[0].text, "Echo: hi");
  for (const who of [b, c]) {
    const e = await callError(who, "everything__get-sum");
    assert.equal(e.code, -32010, String(e));
    assert.match(e.message, /denied/);
  }
  const sum = await a.callTool({ name: "everything__get-sum", arguments: { a: 2, b: 3 } });
  assert.match(sum.content[0].text, /5/);
  // bob has no credential for alicestdio: that upstream never started for him.
  const e = await callError(b, "alicestdio__record");
  assert.equal(e.code, -32011);
  assert.equal(e.data?.reason, "credential_unavailable", JSON.stringify(e.data));
  assert.match(e.message, /no credential 'alice-only' for apikey:bob/);
});

test("model header and clientInfo.name narrow access (hints only)", async () => {
  const blocked = await client(bob.key, { headers: { "x-model-id": "blocked-model-1" } });
  assert.ok(!(await toolNames(blocked)).includes("everything__echo"));
  assert.equal((await callError(blocked, "everything__echo")).code, -32010);
  const evil = await client(bob.key, { name: "evil-client" });
  assert.ok(!(await toolNames(evil)).includes("everything__echo"));
  assert.equal((await callError(evil, "everything__echo")).code, -32010);
});

test("stdio upstreams get the caller's credential in their environment, nothing else of ours", async () => {
  // Each client session spawns its own recorder: alice's own token, bob the default.
  const before = records(stdioRec).length;
  const a = await client(alice.key);
  await a.callTool({ name: "recstdio__record", arguments: {} });
  await waitFor(() => records(stdioRec).length === before + 1, 10000, "alice's recorder");
  const b = await client(bob.key);
  await b.callTool({ name: "recstdio__record", arguments: {} });
  await waitFor(() => records(stdioRec).length === before + 2, 10000, "bob's recorder");
  const [ra, rb] = records(stdioRec).slice(before);
  assert.equal(ra.env.UPSTREAM_TOKEN, ALICE_UPSTREAM);
  assert.equal(rb.env.UPSTREAM_TOKEN, ENV.IT_DEFAULT_TOKEN);
  for (const r of [ra, rb]) {
    for (const k of Object.keys(ENV)) assert.equal(r.env[k], undefined, `${k} (read by a reference) is not inherited`);
    const all = JSON.stringify(r.env);
    for (const t of [alice.key, bob.key, jwtCarol]) assert.ok(!all.includes(t), "no client token in the environment");
  }
});

test("HTTP upstreams get the injected credential, never the client's token", async () => {
  const a = await client(alice.key, { headers: { "x-model-id": "claude-it", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } });
  for (let i = 0; i < 3; i++) await a.callTool({ name: "rechttp__record", arguments: {} });
  await a.callTool({ name: "recstatic__record", arguments: {} });
  const c = await client(jwtCarol);
  await c.callTool({ name: "rechttp__record", arguments: {} });
  const cc = httpRecords("cc");
  assert.ok(cc.length >= 10, `initialize, initialized, GET, tools/list and calls of two sessions: ${cc.length}`);
  // One grant for everyone, its token reused on every request.
  assert.equal(tokens.grants.ok.length, 1);
  assert.equal(tokens.grants.ok[0].scope, "rec:read");
  for (const r of cc) {
    assert.equal(r.headers.authorization, `Bearer ${tokens.grants.ok[0].token}`, JSON.stringify(r));
    assert.equal(r.headers["x-static"], ENV.IT_HEADER_SECRET);
    assert.equal(r.headers["x-plain"], "plain");
  }
  const calls = cc.filter((r) => r.rpc === "tools/call");
  assert.ok(calls.some((r) => r.headers["x-model-id"] === "claude-it" && r.headers.traceparent?.startsWith("00-4bf9")),
    "the model header and trace context go upstream");
  const st = httpRecords("static");
  assert.ok(st.length > 0);
  for (const r of st) {
    assert.equal(r.headers["x-api-key"], ENV.IT_STATIC_SECRET);
    assert.equal(r.headers.authorization, undefined, "no Authorization at all: the client's is never forwarded");
  }
  const all = JSON.stringify(records(httpRec));
  for (const t of [alice.key, bob.key, jwtCarol]) assert.ok(!all.includes(t), "the client's token never reaches an upstream");
  assert.ok(!all.includes(CC_SECRET), "the client secret goes to the token endpoint only");
});

test("client-credentials tokens are reused until they near expiry; a failed grant is -32011", async () => {
  gw2 = await startServe(["-c", cfg2Path]);
  const a = await client(alice.key, { url: gw2.url });
  // cc-short: 16 s tokens, refreshed in the background from half their life
  // (8 s); a token is used while more than 5 s remain.
  await a.callTool({ name: "recshort__record", arguments: {} });
  assert.equal(tokens.grants.short.length, 1, "one grant, at the session's start");
  const g1 = tokens.grants.short[0];
  const t1 = `Bearer ${g1.token}`;
  const wait = g1.at + 8500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await a.callTool({ name: "recshort__record", arguments: {} });
  await waitFor(() => tokens.grants.short.length >= 2, 10000, "the background refresh");
  await a.callTool({ name: "recshort__record", arguments: {} });
  const calls = httpRecords("short").filter((r) => r.rpc === "tools/call").map((r) => r.headers.authorization);
  assert.deepEqual(calls, [t1, t1, `Bearer ${tokens.grants.short[1].token}`],
    "the first token until the refresh, then the new one");
  assert.ok(httpRecords("short").filter((r) => r.headers.authorization === t1).length >= 5, "reused meanwhile");

  // cc-flaky: its first token (7 s) became unusable 2 s after the start; the
  // next grant fails, the one after retry_after (1 s) works.
  assert.equal(tokens.grants.flaky.length, 1);
  assert.ok(Date.now() > tokens.grants.flaky[0].at + 2500);
  const e = await callError(a, "recflaky__record");
  assert.equal(e.code, -32011);
  assert.equal(e.data?.reason, "credential_unavailable");
  assert.match(e.message, /credential 'cc-flaky': token endpoint answered 500 \(server_error\)/);
  assert.ok(!e.message.includes(CC_SECRET), "the endpoint's echo of the secret is not repeated");
  // Within retry_after the failure is answered at once, without a grant.
  const again = await callError(a, "recflaky__record");
  assert.equal(again.code, -32011);
  assert.equal(again.data?.reason, "credential_unavailable");
  assert.equal(tokens.grants.flaky.length, 2);
  await new Promise((r) => setTimeout(r, 1200));
  await a.callTool({ name: "recflaky__record", arguments: {} });
  assert.equal(tokens.grants.flaky.length, 3);
  const lastCall = httpRecords("flaky").filter((r) => r.rpc === "tools/call").pop();
  assert.equal(lastCall.headers.authorization, `Bearer ${tokens.grants.flaky[2].token}`);

  const metrics = await (await fetch(`${gw2.admin}/metrics`)).text();
  checkOutput.push(metrics);
  assert.match(metrics, /mcpwall_credential_grants_total\{credential="cc-short"\} 2\n/);
  assert.match(metrics, /mcpwall_credential_grant_failures_total\{credential="cc-flaky"\} 1\n/);
  assert.match(metrics, /mcpwall_credential_waits_total\{credential="cc-flaky"\} 3\n/);
  assert.match(metrics, /mcpwall_denials_total\{server="recflaky",reason="credential_unavailable"\} 2\n/);
  await closeClients();
  await gw2.stop();
  assert.equal(gw2.proc.exitCode, 0);
  assertNoSanitizerReport(gw2.stderr(), assert);
  checkOutput.push(gw2.stderr(), fs.readFileSync(audit2, "utf8"));
  const recs = readAudit(audit2);
  assert.ok(recs.some((r) => r.event === "credential" && r.server === "recflaky" && r.identity === "apikey:alice" &&
    r.reason === "credential_unavailable" && /500/.test(r.error)));
  assert.ok(recs.some((r) => r.tool === "record" && r.server === "recflaky" && r.error_code === -32011 && r.identity === "apikey:alice"),
    "the refused call is completed in the audit with -32011");
});

test("audit and metrics: principals on decisions, auth refusals and credential failures", async () => {
  const res = await fetch(`${gw.admin}/metrics`);
  const metrics = await res.text();
  checkOutput.push(metrics);
  assert.match(metrics, /mcpwall_auth_requests_total\{result="no_credentials"\} [1-9]/);
  assert.match(metrics, /mcpwall_auth_requests_total\{result="invalid_token"\} [2-9]/);
  assert.match(metrics, /mcpwall_auth_requests_total\{result="allowed"\} [1-9]\d+/);
  assert.match(metrics, /mcpwall_credential_grants_total\{credential="cc"\} 1\n/);
  assert.match(metrics, /mcpwall_credential_cache_hits_total\{credential="cc"\} [1-9]/);
  await waitFor(() => readAudit(audit).some((r) => r.event === "credential" && r.server === "alicestdio"), 5000, "audit flush");
  const recs = readAudit(audit);
  const denied = recs.find((r) => r.decision === "deny" && r.tool === "get-sum" && r.identity === "apikey:bob");
  assert.ok(denied, "bob's refusal is audited with his principal");
  assert.ok(recs.some((r) => r.decision === "deny" && r.tool === "get-sum" && r.identity === `jwt:${ISSUER}#carol`));
  assert.ok(recs.some((r) => r.tool === "get-sum" && r.decision === "allow" && r.identity === "apikey:alice"));
  const auth = recs.filter((r) => r.event === "auth");
  assert.ok(auth.some((r) => r.reason === "no_credentials" && r.http_status === 401));
  assert.ok(auth.some((r) => r.reason === "invalid_api_key"));
  assert.ok(auth.some((r) => r.reason === "wrong_audience"));
  const cred = recs.filter((r) => r.event === "credential");
  assert.ok(cred.some((r) => r.identity === "apikey:bob" && r.server === "alicestdio" && r.reason === "credential_unavailable"));
});

test("wrap: the local user has auth.local_roles", async () => {
  const cfg = (roles) => writeFile(dir, `wrap-${roles.length}.yaml`, [
    "version: 1",
    `audit: {file: "${path.join(dir, `wrap-${roles.length}.jsonl`)}"}`,
    `auth: {local_roles: [${roles.join(", ")}]}`,
    "policy:",
    "  default: deny",
    "  rules: [{name: dev-echo, action: allow, roles: [dev], tools: [echo]}]",
    "",
  ].join("\n"));
  const server = npmServer("mcp-server-everything");
  const withRole = await connect({ server, config: cfg(["dev"]) });
  const without = await connect({ server, config: cfg([]) });
  try {
    assert.deepEqual((await listAll(withRole.client, "listTools", "tools")).map((t) => t.name), ["echo"]);
    assert.deepEqual(await listAll(without.client, "listTools", "tools"), []);
  } finally {
    await withRole.client.close();
    await without.client.close();
  }
  const rec = readAudit(path.join(dir, "wrap-1.jsonl")).find((r) => r.event === "start");
  assert.match(rec.identity, /^local:/);
});

test("configuration errors are positioned; the example configuration checks", () => {
  const bad = writeFile(dir, "bad.yaml", [
    "version: 1",
    "auth: {anonymous: true}",
    "servers:",
    "  a: {url: \"http://127.0.0.1:9/mcp\", credential: nope}",
    "",
  ].join("\n"));
  const r = spawnSync(MCPWALL, ["check", "-c", bad], { encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /bad\.yaml:4:\d+: no credential named 'nope'/);
  const ex = path.join(SRCDIR, "examples/policies/serve-auth.yaml");
  const exEnv = { SEARCH_API_TOKEN: `ex-${rnd()}`, ALICE_GITHUB_TOKEN: `ex-${rnd()}`, GITHUB_READONLY_TOKEN: `ex-${rnd()}`, SEARCH_CLIENT_SECRET: `ex-${rnd()}` };
  const e = spawnSync(MCPWALL, ["check", "-c", ex], { encoding: "utf8", env: { ...process.env, ...exEnv } });
  assert.equal(e.status, 0, e.stdout + e.stderr);
  assert.match(e.stdout, /credential search: client credentials grant/);
  for (const v of Object.values(exEnv)) assert.ok(!e.stdout.includes(v) && !e.stderr.includes(v));
});

test("no secret of the suite in any log line, audit record, metric or check output", async () => {
  await gw.stop();
  assert.equal(gw.proc.exitCode, 0);
  assertNoSanitizerReport(gw.stderr(), assert);
  assert.equal(spawnSync(MCPWALL, ["audit", "verify", audit]).status, 0);
  const haystacks = { "serve stderr": gw.stderr(), "audit log": fs.readFileSync(audit, "utf8"), "check and metrics": checkOutput.join("\n") };
  for (const f of fs.readdirSync(dir).filter((n) => /^wrap-.*\.jsonl$/.test(n)))
    haystacks[f] = fs.readFileSync(path.join(dir, f), "utf8");
  assert.ok(secrets.length >= 12, `secrets collected: ${secrets.length}`);
  for (const [where, text] of Object.entries(haystacks)) {
    assert.ok(text.length > 0, where);
    for (const s of secrets) assert.ok(!text.includes(s), `a secret (${s.slice(0, 8)}…) in the ${where}`);
  }
});
