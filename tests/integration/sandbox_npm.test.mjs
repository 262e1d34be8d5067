// The real npm servers (server-filesystem, server-everything, server-memory,
// pinned in tests/package.json) run under the `node` sandbox profile through
// `mcpwall wrap` and give the same answers as without the sandbox. Each
// server gets the same calls twice (direct, and wrapped + sandboxed, each on
// its own copy of the data) and the results are compared after replacing the
// data directory by a placeholder.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, npmServer, normalize, readAudit, SRCDIR, tmpdir, writeFile } from "./lib/mcp.mjs";
import { kernelFeatures } from "./lib/sandbox.mjs";

const k = kernelFeatures();
const skip = k.userns ? false : `the sandbox cannot start on this machine: ${k.usernsError}`;
const modules = path.join(SRCDIR, "tests/node_modules");

function sandboxConfig(dir, data, extra = "") {
  return writeFile(dir, "mcpwall.yaml", `
version: 1
policy:
  default: allow
sandbox:
  profile: node
  read: [${modules}]
  write: [${data}]
${extra}`);
}

/** Connects twice: directly, and through wrap in the node sandbox. */
async function pair(name, makeArgs, { sandboxExtra = () => "", env = () => ({}) } = {}) {
  const base = tmpdir(`mcpwall-npm-${name}-`);
  const dDirect = path.join(base, "direct");
  const dBoxed = path.join(base, "boxed");
  for (const d of [dDirect, dBoxed]) fs.mkdirSync(d);
  const audit = path.join(base, "audit.jsonl");
  const config = sandboxConfig(base, dBoxed, sandboxExtra(dBoxed));
  const direct = await connect({ server: npmServer(name, ...makeArgs(dDirect)), wrap: false, env: env(dDirect) });
  const boxed = await connect({ server: npmServer(name, ...makeArgs(dBoxed)), config, audit, env: env(dBoxed) });
  return { dDirect, dBoxed, direct, boxed, audit };
}

/** A result with the data directory replaced, comparable across the two runs. */
function same(r, dir) {
  return JSON.parse(JSON.stringify(normalize(r)).split(dir).join("<DATA>"));
}

// Flat tests (meson's TAP parser does not read nested subtests), one setup
// and one teardown for all three servers, run in order.
const P = {};
const T = (suite, name, fn) => test(`${suite}: ${name}`, { skip }, () => fn(P[suite]));
before(async () => {
  if (skip) return;
  P.filesystem = await pair("mcp-server-filesystem", (d) => [d]);
  for (const d of [P.filesystem.dDirect, P.filesystem.dBoxed]) {
    fs.writeFileSync(path.join(d, "a.txt"), "alpha\nbeta\n");
    fs.mkdirSync(path.join(d, "sub"));
    fs.writeFileSync(path.join(d, "sub/b.md"), "# title\n");
  }
  P.everything = await pair("mcp-server-everything", () => []);
  P.memory = await pair("mcp-server-memory", () => [], {
    env: (d) => ({ MEMORY_FILE_PATH: path.join(d, "memory.jsonl") }),
    sandboxExtra: () => "  env:\n    pass: [MEMORY_FILE_PATH]\n",
  });
});
after(async () => {
  for (const p of Object.values(P)) {
    await p.direct.client.close();
    await p.boxed.client.close();
  }
});

async function both(p, fn) {
  const a = await fn(p.direct.client, p.dDirect);
  const b = await fn(p.boxed.client, p.dBoxed);
  assert.deepEqual(same(b, p.dBoxed), same(a, p.dDirect));
  return b;
}


T("filesystem", "same tools", async (p) => {
  await both(p, async (c) => (await c.listTools()).tools.map((t) => t.name).sort());
});
T("filesystem", "reads, listings and searches match", async (p) => {
  await both(p, (c, d) => c.callTool({ name: "read_text_file", arguments: { path: `${d}/a.txt` } }));
  await both(p, (c, d) => c.callTool({ name: "list_directory", arguments: { path: d } }));
  await both(p, (c, d) => c.callTool({ name: "directory_tree", arguments: { path: d } }));
  await both(p, (c, d) => c.callTool({ name: "search_files", arguments: { path: d, pattern: "*.md" } }));
});
T("filesystem", "writes and edits land in the declared directory", async (p) => {
  await both(p, (c, d) => c.callTool({ name: "write_file", arguments: { path: `${d}/new.txt`, content: "written" } }));
  await both(p, (c, d) =>
    c.callTool({ name: "edit_file", arguments: { path: `${d}/a.txt`, edits: [{ oldText: "beta", newText: "gamma" }] } }));
  assert.equal(fs.readFileSync(path.join(p.dBoxed, "new.txt"), "utf8"), "written");
  assert.equal(fs.readFileSync(path.join(p.dBoxed, "a.txt"), "utf8"), "alpha\ngamma\n");
});
T("filesystem", "outside the declared directory, the server's own refusal is unchanged", async (p) => {
  await both(p, (c) => c.callTool({ name: "read_text_file", arguments: { path: "/etc/hostname" } }));
});
T("filesystem", "the audit log records a sandboxed start", async (p) => {
  const start = readAudit(p.audit).find((r) => r.event === "start");
  assert.equal(start.sandbox, true);
});


T("everything", "same tools, prompts and resources", async (p) => {
  await both(p, async (c) => (await c.listTools()).tools.map((t) => t.name).sort());
  await both(p, async (c) => (await c.listPrompts()).prompts.map((x) => x.name).sort());
  await both(p, async (c) => (await c.listResources()).resources.map((x) => x.uri).sort());
});
T("everything", "calls give identical results", async (p) => {
  const calls = [
    ["echo", { message: "hello from the sandbox" }],
    ["get-sum", { a: 19, b: 23 }],
    ["get-tiny-image", {}],
    ["get-structured-content", { location: "New York" }],
    ["get-annotated-message", { messageType: "error", includeImage: true }],
  ];
  for (const [name, args] of calls) await both(p, (c) => c.callTool({ name, arguments: args }));
});
T("everything", "resources and prompts read identically", async (p) => {
  const uri = (await p.direct.client.listResources()).resources[0].uri;
  await both(p, (c) => c.readResource({ uri }));
  await both(p, (c) => c.getPrompt({ name: "simple-prompt" }));
});


T("memory", "the knowledge graph works the same and persists in the declared directory", async (p) => {
  await both(p, async (c) => (await c.listTools()).tools.map((t) => t.name).sort());
  const entities = [
    { name: "mcpwall", entityType: "project", observations: ["written in C"] },
    { name: "sandbox", entityType: "module", observations: ["uses Landlock"] },
  ];
  await both(p, (c) => c.callTool({ name: "create_entities", arguments: { entities } }));
  await both(p, (c) =>
    c.callTool({ name: "create_relations", arguments: { relations: [{ from: "mcpwall", to: "sandbox", relationType: "contains" }] } }));
  await both(p, (c) => c.callTool({ name: "search_nodes", arguments: { query: "Landlock" } }));
  await both(p, (c) => c.callTool({ name: "read_graph", arguments: {} }));
  const saved = fs.readFileSync(path.join(p.dBoxed, "memory.jsonl"), "utf8");
  assert.match(saved, /"name":"sandbox"/);
});
