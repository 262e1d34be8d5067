// mcpwall wrap between the official TypeScript SDK client and
// @modelcontextprotocol/server-everything: lists filtered per policy, allowed
// calls identical to a direct connection, denied calls refused clearly,
// sampling and elicitation round trips, progress, and a verifiable audit log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { CreateMessageRequestSchema, ElicitRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { connect, mcpwall, npmServer, normalize, readAudit, tmpdir, writeFile } from "./lib/mcp.mjs";

const dir = tmpdir();
const audit = `${dir}/audit.jsonl`;
const config = writeFile(dir, "policy.yaml", `
version: 1
policy:
  default: allow
  rules:
    - name: no-env-disclosure
      action: deny
      tools: ["get-env"]
      message: environment variables may hold secrets
    - name: hide-instructions
      action: deny
      resources: ["*instructions.md"]
      prompts: ["resource-prompt"]
`);
const server = npmServer("mcp-server-everything");
const caps = { sampling: {}, elicitation: {} };
let gw, direct;

before(async () => {
  gw = await connect({ server, config, audit, capabilities: caps });
  direct = await connect({ server, wrap: false, capabilities: caps });
  for (const c of [gw.client, direct.client]) {
    c.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
      model: "test-model",
      role: "assistant",
      content: { type: "text", text: `canned answer to: ${req.params.messages[0].content.text}` },
    }));
    c.setRequestHandler(ElicitRequestSchema, async () => ({
      action: "accept",
      content: { name: "Ada", check: true, email: "ada@example.com" },
    }));
  }
});

after(async () => {
  await gw?.client.close();
  await direct?.client.close();
});

test("tools/list through the gateway is the direct list minus denied tools", async () => {
  const viaGw = (await gw.client.listTools()).tools.map((t) => t.name).sort();
  const viaDirect = (await direct.client.listTools()).tools.map((t) => t.name).sort();
  assert.ok(viaDirect.includes("get-env"), "server offers get-env");
  assert.ok(viaDirect.includes("trigger-sampling-request"), "conditional tools registered");
  assert.ok(!viaGw.includes("get-env"), "denied tool is not listed");
  assert.deepEqual(viaGw, viaDirect.filter((n) => n !== "get-env"));
});

test("prompts and resources are filtered by the same rules", async () => {
  const prompts = (await gw.client.listPrompts()).prompts.map((p) => p.name);
  const dprompts = (await direct.client.listPrompts()).prompts.map((p) => p.name);
  assert.ok(dprompts.includes("resource-prompt"));
  assert.ok(!prompts.includes("resource-prompt"));
  const res = (await gw.client.listResources()).resources.map((r) => r.uri);
  const dres = (await direct.client.listResources()).resources.map((r) => r.uri);
  assert.ok(dres.some((u) => u.endsWith("instructions.md")));
  assert.ok(!res.some((u) => u.endsWith("instructions.md")));
  assert.equal(res.length, dres.length - 1);
});

test("allowed calls give results identical to a direct connection", async () => {
  const calls = [
    ["echo", { message: "hello through the wall" }],
    ["get-sum", { a: 19, b: 23 }],
    ["get-tiny-image", {}],
    ["get-structured-content", { location: "New York" }],
    ["get-annotated-message", { messageType: "error", includeImage: false }],
  ];
  for (const [name, args] of calls) {
    const a = await gw.client.callTool({ name, arguments: args });
    const b = await direct.client.callTool({ name, arguments: args });
    assert.deepEqual(normalize(a), normalize(b), `result of ${name}`);
  }
  const r = await gw.client.callTool({ name: "get-sum", arguments: { a: 19, b: 23 } });
  assert.match(JSON.stringify(r.content), /42/);
});

test("a denied call gets a JSON-RPC error naming the rule", async () => {
  await assert.rejects(
    gw.client.callTool({ name: "get-env", arguments: {} }),
    (e) => {
      assert.ok(e instanceof McpError);
      assert.equal(e.code, -32010);
      assert.match(e.message, /get-env/);
      assert.match(e.message, /no-env-disclosure/);
      assert.match(e.message, /environment variables may hold secrets/);
      assert.equal(e.data.reason, "policy_denied");
      assert.equal(e.data.rule, "no-env-disclosure");
      return true;
    },
  );
  await assert.rejects(gw.client.getPrompt({ name: "resource-prompt", arguments: { resourceType: "Text", resourceId: "1" } }),
    (e) => e.code === -32010 && e.data.reason === "policy_denied" && /hide-instructions/.test(e.message));
  const res = (await direct.client.listResources()).resources.find((r) => r.uri.endsWith("instructions.md"));
  await assert.rejects(gw.client.readResource({ uri: res.uri }),
    (e) => e.code === -32010 && e.data.rule === "hide-instructions");
  // The direct connection still serves it: the gateway, not the server, refused.
  const ok = await direct.client.readResource({ uri: res.uri });
  assert.ok(ok.contents.length > 0);
});

test("a sampling round trip completes through the gateway", async () => {
  const r = await gw.client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "what is 2+2", maxTokens: 10 } });
  assert.match(JSON.stringify(r.content), /canned answer to: .*what is 2\+2/);
});

test("an elicitation round trip completes through the gateway", async () => {
  const r = await gw.client.callTool({ name: "trigger-elicitation-request", arguments: {} });
  const text = JSON.stringify(r.content);
  assert.match(text, /User provided the requested information/);
  assert.match(text, /Name: Ada/);
});

test("every progress notification arrives", async () => {
  // Count on the wire: the SDK client itself can drop a progress notification
  // that arrives in the same read as the result (its handler is removed first).
  const wire = [];
  const orig = gw.transport.onmessage;
  gw.transport.onmessage = (msg, extra) => {
    if (msg.method === "notifications/progress") wire.push(msg.params.progress);
    orig(msg, extra);
  };
  try {
    const r = await gw.client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 7 } },
      undefined,
      { onprogress: () => {} },
    );
    assert.match(JSON.stringify(r.content), /completed/i);
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(wire, [1, 2, 3, 4, 5, 6, 7]);
  } finally {
    gw.transport.onmessage = orig;
  }
});

test("the audit log records every decision and verifies", async () => {
  await gw.client.close();
  gw = null;
  await new Promise((r) => setTimeout(r, 300));
  const v = mcpwall("audit", "verify", audit);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /chain intact/);
  const recs = readAudit(audit);
  const denied = recs.filter((r) => r.decision === "deny" && r.reason === "policy_denied");
  assert.ok(denied.some((r) => r.tool === "get-env" && r.rule === "no-env-disclosure"));
  assert.ok(denied.some((r) => r.prompt === "resource-prompt"));
  const calls = recs.filter((r) => r.method === "tools/call" && r.decision === "allow");
  assert.ok(calls.length >= 8);
  for (const c of calls) {
    assert.equal(typeof c.latency_us, "number");
    assert.match(c.args_sha256, /^[0-9a-f]{64}$/);
    assert.equal(c.outcome, "ok");
  }
  // The server's requests to the client were audited too.
  assert.ok(recs.some((r) => r.dir === "s2c" && r.method === "sampling/createMessage" && r.outcome === "ok"));
  assert.ok(recs.some((r) => r.dir === "s2c" && r.method === "elicitation/create" && r.outcome === "ok"));
  assert.equal(recs[0].event, "start");
  assert.equal(recs.at(-1).event, "stop");
});
