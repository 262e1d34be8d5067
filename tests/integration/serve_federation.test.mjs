// mcpwall serve federating four real upstreams behind one endpoint:
// server-everything over stdio and in its own Streamable HTTP mode,
// server-filesystem (with its own read-only policy) and server-memory.
// Clients: the official SDK's Streamable HTTP client, the MCP Inspector CLI,
// and mcp-remote (the stdio->HTTP bridge hosts use).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { CreateMessageRequestSchema, ElicitRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { NODE_BIN, apiKey, assertNoSanitizerReport, authYaml, bearer, connect, connectHttp, freePort, listAll, mcpwall, npmServer, readAudit, startServe, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";

const dir = tmpdir();
const share = fs.realpathSync(fs.mkdtempSync(path.join(dir, "share-")));
fs.writeFileSync(path.join(share, "hello.txt"), "hello from the share\n");
const audit = `${dir}/audit.jsonl`;
// Clients authenticate with an API key made by `mcpwall keygen`.
const key = apiKey("it");
let evhttp, gw, cli;

before(async () => {
  const port = await freePort();
  evhttp = spawn(npmServer("mcp-server-everything")[0], ["streamableHttp"], { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"] });
  let everr = "";
  evhttp.stderr.on("data", (d) => (everr += d));
  await waitFor(() => /listening on port/.test(everr), 20000, "server-everything HTTP mode");
  const cfg = writeFile(dir, "serve.yaml", `
version: 1
${authYaml(key)}
listen: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:0"}
audit: {file: "${audit}"}
policy:
  default: allow
  rules:
    - {name: no-env, action: deny, tools: [get-env], message: environment variables may hold secrets}
servers:
  everything: {command: "${npmServer("mcp-server-everything")[0]}"}
  evhttp: {url: "http://127.0.0.1:${port}/mcp"}
  fs:
    command: "${npmServer("mcp-server-filesystem")[0]}"
    args: ["${share}"]
    policy:
      default: allow
      rules:
        - {name: read-only, action: deny, tools: [write_file, edit_file, move_file, create_directory]}
  memory:
    command: "${npmServer("mcp-server-memory")[0]}"
    env: {MEMORY_FILE_PATH: "${dir}/memory.json"}
`);
  assert.equal(mcpwall("check", "-c", cfg, "-q").status, 0);
  gw = await startServe(["-c", cfg]);
  cli = await connectHttp(gw.url, { capabilities: { sampling: {}, elicitation: {} }, headers: bearer(key) });
  cli.client.setRequestHandler(CreateMessageRequestSchema, async (r) => ({
    model: "test", role: "assistant", content: { type: "text", text: `canned: ${r.params.messages[0].content.text}` },
  }));
  cli.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }));
});

after(async () => {
  await cli?.client.close();
  await gw?.stop();
  evhttp?.kill();
});

test("one endpoint lists the tools of all four servers, namespaced and filtered per server", async () => {
  const names = (await listAll(cli.client, "listTools", "tools")).map((t) => t.name);
  for (const n of ["everything__echo", "evhttp__echo", "fs__read_text_file", "fs__list_directory", "memory__create_entities", "memory__read_graph"])
    assert.ok(names.includes(n), `${n} listed`);
  for (const n of ["everything__get-env", "evhttp__get-env", "fs__write_file", "fs__move_file"])
    assert.ok(!names.includes(n), `${n} hidden`);
  assert.equal(new Set(names).size, names.length, "no collisions");
  assert.equal(cli.client.getServerVersion().name, "mcpwall");
});

test("calls are routed to the right server", async () => {
  const a = await cli.client.callTool({ name: "everything__get-sum", arguments: { a: 40, b: 2 } });
  assert.match(JSON.stringify(a.content), /42/);
  const b = await cli.client.callTool({ name: "evhttp__get-sum", arguments: { a: 1, b: 2 } });
  assert.match(JSON.stringify(b.content), /3/);
  const c = await cli.client.callTool({ name: "fs__read_text_file", arguments: { path: path.join(share, "hello.txt") } });
  assert.match(c.content[0].text, /hello from the share/);
  await cli.client.callTool({ name: "memory__create_entities", arguments: { entities: [{ name: "Ada", entityType: "person", observations: ["wrote the first program"] }] } });
  const g = await cli.client.callTool({ name: "memory__read_graph", arguments: {} });
  assert.match(JSON.stringify(g), /first program/);
});

test("each server's policy judges its calls, with the rule named", async () => {
  await assert.rejects(cli.client.callTool({ name: "fs__write_file", arguments: { path: path.join(share, "x"), content: "x" } }),
    (e) => e instanceof McpError && e.code === -32010 && /read-only/.test(e.message) && e.data.rule === "read-only");
  await assert.rejects(cli.client.callTool({ name: "evhttp__get-env", arguments: {} }),
    (e) => e.code === -32010 && e.data.rule === "no-env" && /environment variables may hold secrets/.test(e.message));
  await assert.rejects(cli.client.callTool({ name: "nosuch__tool", arguments: {} }),
    (e) => e.code === -32602 && e.data.reason === "unknown_target");
  assert.ok(!fs.existsSync(path.join(share, "x")));
});

test("sampling and elicitation from stdio and HTTP upstreams reach the client and return", async () => {
  for (const s of ["everything", "evhttp"]) {
    const r = await cli.client.callTool({ name: `${s}__trigger-sampling-request`, arguments: { prompt: `from ${s}`, maxTokens: 5 } });
    assert.match(JSON.stringify(r.content), new RegExp(`canned: .*from ${s}`));
    const e = await cli.client.callTool({ name: `${s}__trigger-elicitation-request`, arguments: {} });
    assert.match(JSON.stringify(e.content), /Name: Ada/);
  }
});

test("progress notifications reach the request's stream", async () => {
  for (const s of ["everything", "evhttp"]) {
    const seen = [];
    await cli.client.callTool({ name: `${s}__trigger-long-running-operation`, arguments: { duration: 1, steps: 5 } }, undefined,
      { onprogress: (p) => seen.push(p.progress) });
    assert.ok(seen.length >= 4, `${s}: ${seen}`);
  }
});

test("resources are paged across servers and read through their mapped URIs", async () => {
  const res = await listAll(cli.client, "listResources", "resources");
  const uris = res.map((r) => r.uri);
  assert.ok(uris.some((u) => u.startsWith("everything+demo://")));
  assert.ok(uris.some((u) => u.startsWith("evhttp+demo://")));
  const one = uris.find((u) => u.startsWith("evhttp+"));
  const r = await cli.client.readResource({ uri: one });
  assert.equal(r.contents[0].uri, one, "the result names the mapped URI");
  assert.ok(r.contents[0].text.length > 0);
  const tpl = await listAll(cli.client, "listResourceTemplates", "resourceTemplates");
  assert.ok(tpl.some((t) => t.uriTemplate.startsWith("everything+")));
});

test("the MCP Inspector CLI lists and calls tools through the gateway", async () => {
  const insp = npmServer("mcp-inspector")[0];
  const list = spawnSync(insp, ["--cli", gw.url, "--transport", "http", "--header", `Authorization: Bearer ${key.key}`, "--method", "tools/list"], { encoding: "utf8", timeout: 60000 });
  assert.equal(list.status, 0, list.stderr);
  const tools = JSON.parse(list.stdout).tools.map((t) => t.name);
  assert.ok(tools.includes("everything__echo"));
  const call = spawnSync(insp, ["--cli", gw.url, "--transport", "http", "--header", `Authorization: Bearer ${key.key}`, "--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=from the inspector"],
    { encoding: "utf8", timeout: 60000 });
  assert.equal(call.status, 0, call.stderr);
  assert.match(call.stdout, /from the inspector/);
});

test("mcp-remote bridges a stdio host to the gateway", async () => {
  const bridge = await connect({ server: [path.join(NODE_BIN, "mcp-remote"), gw.url, "--transport", "http-only", "--header", `Authorization:Bearer ${key.key}`], wrap: false });
  try {
    const names = (await bridge.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("fs__read_text_file"));
    const r = await bridge.client.callTool({ name: "everything__echo", arguments: { message: "via mcp-remote" } });
    assert.match(JSON.stringify(r.content), /via mcp-remote/);
  } finally {
    await bridge.client.close();
  }
});

test("metrics, health and the audit log", async () => {
  const m = await (await fetch(`${gw.admin}/metrics`)).text();
  assert.match(m, /mcpwall_requests_total\{server="everything",method="tools\/call",tool="get-sum",outcome="ok"\} \d+/);
  assert.match(m, /mcpwall_denials_total\{server="fs",reason="policy_denied"\} 1/);
  assert.match(m, /mcpwall_request_duration_seconds_bucket\{server="fs",method="tools\/call",tool="read_text_file",le="\+Inf"\} 1/);
  assert.match(m, /mcpwall_sessions_active [1-9]/);
  assert.equal((await fetch(`${gw.admin}/healthz`)).status, 200);
  assert.equal((await fetch(`${gw.admin}/readyz`)).status, 200);
  await cli.client.close();
  cli = null;
  await gw.stop();
  assertNoSanitizerReport(gw.stderr(), assert);
  assert.equal(mcpwall("audit", "verify", audit).status, 0);
  const recs = readAudit(audit);
  assert.ok(recs.some((r) => r.server === "fs" && r.tool === "write_file" && r.decision === "deny" && r.rule === "read-only"));
  assert.ok(recs.some((r) => r.server === "evhttp" && r.method === "sampling/createMessage" && r.dir === "s2c"));
  assert.ok(recs.some((r) => r.server === "memory" && r.tool === "create_entities" && r.outcome === "ok"));
});
