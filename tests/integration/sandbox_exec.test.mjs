// `mcpwall sandbox-exec` as a command: exit statuses, clear errors, the
// environment it passes, --explain, `mcpwall check` on a sandbox section,
// and sandbox denials in wrap's audit log. The sanitizer builds also check
// that mcpwall itself exits cleanly (no leak or error report on stderr).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { connect, MCPWALL, mcpwall, readAudit, tmpdir, waitFor, writeFile } from "./lib/mcp.mjs";
import { HOSTILE, kernelFeatures } from "./lib/sandbox.mjs";

const k = kernelFeatures();
const skip = k.userns ? false : `the sandbox cannot start on this machine: ${k.usernsError}`;

function run(args, opts = {}) {
const r = spawnSync(MCPWALL, ["sandbox-exec", ...args], { encoding: "utf8", timeout: 60000, ...opts });
assert.doesNotMatch(r.stderr ?? "", /Sanitizer|runtime error/, "mcpwall itself stays clean");
return r;
}

test("sandbox-exec: the exit status is the command's; a signal gives 128+N", { skip }, () => {
  assert.equal(run(["--", "/bin/sh", "-c", "exit 7"]).status, 7);
  assert.equal(run(["--", "/bin/true"]).status, 0);
  assert.equal(run(["--", "/bin/sh", "-c", "kill -9 $$"]).status, 128 + 9);
});

test("sandbox-exec: stdin, stdout and stderr are the command's", { skip }, () => {
  const r = run(["--", "/bin/sh", "-c", "read x; echo out:$x; echo err:$x >&2"], { input: "ping\n" });
  assert.equal(r.stdout, "out:ping\n");
  assert.match(r.stderr, /err:ping/);
});

test("sandbox-exec: a command that cannot be run is a clear error with status 125", { skip }, () => {
  const r = run(["--", "/nonexistent/server"]);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /cannot execute \/nonexistent\/server: No such file or directory/);
});

test("sandbox-exec: a declared path that does not exist is an error naming it", { skip }, () => {
  const r = run(["--read", "/nonexistent/data", "--", "/bin/true"]);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /read path \/nonexistent\/data: No such file or directory/);
});

test("sandbox-exec: usage errors give status 2", { skip }, () => {
  assert.equal(run(["--profile", "nosuch", "--", "/bin/true"]).status, 2);
  assert.equal(run(["--allow", "example.com", "--", "/bin/true"]).status, 2);
  assert.equal(run([]).status, 2);
});

test("sandbox-exec: only declared variables reach the command", { skip }, () => {
  const env = { ...process.env, MCPWALL_SECRET_X: "x", LANG: "C.UTF-8", EXTRA_PASS: "y" };
  const r = run(["--env", "EXTRA_*", "--", "/usr/bin/env"], { env });
  const names = r.stdout.trim().split("\n").map((l) => l.split("=")[0]).sort();
  assert.ok(!names.includes("MCPWALL_SECRET_X"));
  assert.ok(names.includes("EXTRA_PASS") && names.includes("LANG") && names.includes("HOME"));
  for (const n of names) assert.ok(["EXTRA_PASS", "HOME", "LANG", "PATH", "PWD", "USER", "SHLVL", "_"].includes(n), n);
});

test("sandbox-exec: --explain says what the profile can read, write and reach", { skip }, () => {
  const r = run(["--profile", "network-client", "--allow", "api.example.com:443", "--explain"]);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /It can read/);
  assert.match(r.stdout, /It can write:\n {4}\/tmp and \/dev\/shm: private/);
  assert.match(r.stdout, /TCP to these destinations only[^\n]*\n {4}api\.example\.com:443/);
  assert.match(r.stdout, /This machine: /);
});

test("config: mcpwall check reports every error at its position", () => {
  const dir = tmpdir();
  const cfg = writeFile(dir, "bad.yaml", `version: 1
sandbox:
  profile: nodejs
  read: [relative/ok, "~root/x"]
  network: {allow: ["example.com", "a.b:99999", "*.github.com:443"]}
  limits: {processes: 0, memry: 1GiB}
  syscalls: {allow: [read], deny: [not_a_syscall]}
`);
  const r = mcpwall("check", "-c", cfg);
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split("\n");
  for (const want of [
    /bad\.yaml:3:12: unknown sandbox profile 'nodejs'/,
    /bad\.yaml:4:\d+: path '~root\/x' uses ~user/,
    /bad\.yaml:5:\d+: 'example\.com' is not host:port/,
    /bad\.yaml:5:\d+: 'a\.b:99999' needs a port from 1 to 65535/,
    /bad\.yaml:5:\d+: '\*\.github\.com:443': wildcards are not supported/,
    /bad\.yaml:6:\d+: 'processes' must be at least 1/,
    /bad\.yaml:6:\d+: unknown key 'memry' \(did you mean 'memory'\?\)/,
    /bad\.yaml:7:\d+: 'read' is not refused by default/,
    /bad\.yaml:7:\d+: 'not_a_syscall' is not a system call/,
  ]) assert.ok(lines.some((l) => want.test(l)), `missing ${want} in:\n${r.stdout}`);
});

test("config: mcpwall check explains a valid sandbox", () => {
  const dir = tmpdir();
  const cfg = writeFile(dir, "ok.yaml", `version: 1
sandbox: {profile: node, write: [${dir}], network: ["registry.npmjs.org:443"]}
`);
  const r = mcpwall("check", "-c", cfg);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /sandbox: the server runs in mcpwall's sandbox/);
  assert.match(r.stdout, new RegExp(`and these host paths \\(changes are real\\):\\n {4}${dir}`));
  assert.match(r.stdout, /registry\.npmjs\.org:443/);
});

test("config: wrap audits each sandbox denial in the hash chain", { skip }, async () => {
  const dir = tmpdir();
  const audit = path.join(dir, "audit.jsonl");
  const config = writeFile(dir, "w.yaml", "version: 1\npolicy: {default: allow}\nsandbox: strict\n");
  const s = await connect({ server: [HOSTILE], config, audit });
  const ptrace = (await s.client.callTool({ name: "ptrace_parent", arguments: {} })).structuredContent;
  assert.equal(ptrace.errno, "EPERM");
  const echo = (await s.client.callTool({ name: "echo", arguments: { text: "ok" } })).structuredContent;
  assert.equal(echo.text, "ok");
  await s.client.close();
  await waitFor(() => readAudit(audit).some((x) => x.event === "stop"), 20000, "the stop record");
  assert.doesNotMatch(s.stderr(), /Sanitizer|runtime error/);
  const recs = readAudit(audit);
  assert.equal(recs.find((x) => x.event === "start").sandbox, true);
  assert.equal(mcpwall("audit", "verify", audit).status, 0);
  if (!k.notify) return;
  const d = recs.find((x) => x.event === "sandbox");
  assert.ok(d, "a sandbox record");
  assert.equal(d.decision, "deny");
  assert.equal(d.rule, "sandbox.seccomp");
  assert.equal(d.denied, "ptrace");
  assert.match(d.reason, /answered EPERM/);
});
