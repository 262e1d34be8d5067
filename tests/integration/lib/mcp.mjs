// Helpers for integration tests: run mcpwall and real MCP servers, connect the
// official TypeScript SDK client, and read audit logs.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const SRCDIR = process.env.MCPWALL_SRCDIR ?? path.resolve(here, "../../..");
export const BUILDDIR = process.env.MCPWALL_BUILDDIR ?? path.join(SRCDIR, "build");
export const MCPWALL = process.env.MCPWALL_BIN ?? path.join(BUILDDIR, "mcpwall");
export const NODE_BIN = path.join(SRCDIR, "tests/node_modules/.bin");

/** Command line of an npm MCP server pinned in tests/package.json. */
export function npmServer(name, ...args) {
  return [path.join(NODE_BIN, name), ...args];
}

/** A fresh temporary directory, removed when the process exits. */
export function tmpdir(prefix = "mcpwall-it-") {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export function writeFile(dir, name, text) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

/**
 * Connects the SDK client to a server command, directly or through
 * `mcpwall wrap`. Returns { client, transport, stderr() }.
 */
export async function connect({ server, wrap = true, config, audit, capabilities = {}, env, extraArgs = [] }) {
  let command, args;
  if (wrap) {
    command = MCPWALL;
    args = ["wrap"];
    if (config) args.push("-c", config);
    if (audit) args.push("--audit", audit);
    args.push(...extraArgs, "--", ...server);
  } else {
    [command, ...args] = server;
  }
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...process.env, ...(env ?? {}) },
    stderr: "pipe",
  });
  let err = "";
  const client = new Client({ name: "mcpwall-it", version: "1.0.0" }, { capabilities });
  const p = client.connect(transport);
  transport.stderr?.on("data", (d) => (err += d.toString()));
  await p;
  return { client, transport, stderr: () => err };
}

/** Runs mcpwall with arguments; returns { status, stdout, stderr }. */
export function mcpwall(...args) {
  const r = spawnSync(MCPWALL, args, { encoding: "utf8", timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A new API key from `mcpwall keygen`: { name, key, hash, roles }. The
 * configuration takes { name, hash, roles }; clients send the key. */
export function apiKey(name = "it", ...roles) {
  const r = spawnSync(MCPWALL, ["keygen", "--json", "--name", name, ...roles.flatMap((x) => ["--role", x])], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mcpwall keygen: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The YAML `auth:` section admitting these keys (flow style, one line). */
export function authYaml(...keys) {
  const entries = keys.map((k) => `{name: ${k.name}, hash: "${k.hash}", roles: [${k.roles.join(", ")}]}`);
  return `auth: {api_keys: [${entries.join(", ")}]}`;
}

/** Request headers that authenticate with an API key. */
export function bearer(k) {
  return { Authorization: `Bearer ${k.key}` };
}

/** Parses an audit log into records. */
export function readAudit(file) {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

/** Waits until pred() is true (polling), or throws after ms. */
export async function waitFor(pred, ms = 10000, what = "condition") {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Strips fields that legitimately differ between two runs of a server. */
export function normalize(v) {
  return JSON.parse(JSON.stringify(v), (k, x) => (k === "_meta" ? undefined : x));
}

/** The misbehaving C test server built with this build. */
export const MISBEHAVE = path.join(BUILDDIR, "tests/servers/misbehave");

/** Fails when a sanitizer reported anything in mcpwall's stderr. */
export function assertNoSanitizerReport(stderr, assert) {
  assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/, stderr.slice(0, 4000));
}

/** Resident set size of a process in KiB (Linux). */
export function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}

import { spawn } from "node:child_process";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

/** Starts `mcpwall serve ARGS...`; resolves once it listens, with its URLs. */
export async function startServe(args, { env } = {}) {
  const proc = spawn(MCPWALL, ["serve", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...(env ?? {}) } });
  let err = "";
  const log = process.env.MCPWALL_SERVE_LOG ? fs.createWriteStream(process.env.MCPWALL_SERVE_LOG, { flags: "a" }) : null;
  proc.stderr.on("data", (d) => {
    err += d;
    log?.write(d);
  });
  proc.stdout.on("data", () => {});
  const exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
  await waitFor(() => /serving MCP at (\S+)/.test(err) || proc.exitCode !== null, 20000, "serve to listen");
  const m = err.match(/serving MCP at (\S+)/);
  if (!m) throw new Error(`serve did not start:\n${err}`);
  const a = err.match(/admin endpoints at (http:\/\/[^/\s]+)/);
  return {
    proc,
    url: m[1],
    base: m[1].replace(/\/mcp$/, ""),
    admin: a ? a[1] : m[1].replace(/\/mcp$/, ""),
    stderr: () => err,
    exited,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

/** The SDK client over Streamable HTTP. */
export async function connectHttp(url, { capabilities = {}, headers } = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(url), headers ? { requestInit: { headers } } : undefined);
  const client = new Client({ name: "mcpwall-it", version: "1.0.0" }, { capabilities });
  await client.connect(transport);
  return { client, transport };
}

/** Every page of a list method. */
export async function listAll(client, method, key) {
  const out = [];
  let cursor;
  do {
    const r = await client[method](cursor ? { cursor } : {});
    out.push(...r[key]);
    cursor = r.nextCursor;
  } while (cursor);
  return out;
}

/** A free TCP port on loopback. */
export async function freePort() {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}
