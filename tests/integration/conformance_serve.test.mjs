// The official MCP conformance runner against `mcpwall serve` fronting the
// project's conformance server (examples/servers/conformance over stdio):
// every 2025-11-25 server scenario must pass through the gateway (anonymous
// access configured: the runner sends no credentials), including
// sampling, elicitation, progress, logging, subscriptions and DNS-rebinding
// protection (which the gateway's own listener provides here).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { BUILDDIR, assertNoSanitizerReport, mcpwall, startServe, tmpdir, writeFile } from "./lib/mcp.mjs";
import { expectedScenarios, runServerScenarios } from "./lib/conformance.mjs";

const SERVER = path.join(BUILDDIR, "examples/servers/conformance/mcp-conformance-server");
const SPEC = "2025-11-25";
const dir = tmpdir();
const audit = `${dir}/audit.jsonl`;
// The conformance runner sends no credentials: anonymous access, said explicitly.
const cfg = writeFile(dir, "serve.yaml", "version: 1\nauth: {anonymous: true}\npolicy: {default: allow}\n");
let gw;

before(async () => {
  gw = await startServe(["-c", cfg, "--listen", "127.0.0.1:0", "--audit", audit, "--", SERVER]);
});
after(async () => {
  await gw?.stop();
});

test(`every ${SPEC} server scenario passes through mcpwall serve`, async () => {
  const expected = expectedScenarios(SPEC);
  const run = runServerScenarios(gw.url, SPEC);
  assert.ok(expected.length >= 30, run.log);
  assert.deepEqual(Object.keys(run.results).sort(), [...expected].sort(), "every scenario ran");
  assert.deepEqual(run.failed, [], `failed checks:\n${run.failed.join("\n")}\n\nmcpwall stderr:\n${gw.stderr()}`);
  assert.equal(run.passed, expected.length);
  assert.deepEqual(run.results["dns-rebinding-protection"].map((c) => c.status), ["SUCCESS", "SUCCESS"]);
  console.log(`conformance through serve: ${expected.length} scenarios: ${run.passed} passed; ${run.checks} checks`);
  await gw.stop();
  assert.equal(gw.proc.exitCode, 0);
  assertNoSanitizerReport(gw.stderr(), assert);
  assert.equal(mcpwall("audit", "verify", audit).status, 0);
  gw = null;
});
