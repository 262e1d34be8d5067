// `make run`'s demo (scripts/demo.sh) runs from the build under test and shows
// the tools on offer, an allowed call, the gateway's refusals and a verified
// audit log.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { MCPWALL, SRCDIR } from "./lib/mcp.mjs";

test("the demo shows an allowed call, two denied calls and a verified audit log", () => {
  const r = spawnSync(path.join(SRCDIR, "scripts/demo.sh"), [MCPWALL], { encoding: "utf8", timeout: 60000, env: { ...process.env, NO_COLOR: "1" } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = r.stdout;
  assert.match(out, /1 tool offered to the model: query_logs/);
  assert.match(out, /tools\/call query_logs .*app\.log[\s\S]*✓ ALLOWED[\s\S]*ERROR payment provider timeout/);
  assert.match(out, /\/etc\/shadow[\s\S]*✗ DENIED\s+-32010 .*outside the allowed directories[\s\S]*data\.reason = path_outside_roots/);
  assert.match(out, /check_ip_reputation[\s\S]*✗ DENIED\s+-32010 .*no-reputation-lookups/);
  assert.match(out, /audit\.jsonl: ok: \d+ records, chain intact, head file matches/);
  assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/);
});
