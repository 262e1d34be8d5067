// A hostile MCP server (tests/servers/hostile.c) under `mcpwall sandbox-exec`:
// every attack fails, the failure is what the server sees (an errno, not a
// kill) and mcpwall reports what it can observe, and the server keeps
// answering. The same attacks run once without the sandbox first, to show
// that each of them works when nothing stops it (a test that cannot fail
// proves nothing). Runs as the current user and, when that is root, again as
// nobody (the unprivileged path: no cgroups, RLIMIT_NPROC, DAC).
import { test, before, after } from "node:test";
const test_top = test;
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect, MCPWALL, waitFor, writeFile } from "./lib/mcp.mjs";
import {
  HOSTILE, IS_ROOT, NOBODY, asNobody, attack, closeAndWait, greeter, kernelFeatures, lanAddress,
  plantVictim,
} from "./lib/sandbox.mjs";

const SECRET = "s3cr3t-" + Math.random().toString(36).slice(2);
const k = kernelFeatures();
const nobody = asNobody();
const lan = lanAddress();
let allowed, forbidden, lanSrv;

// One before/after pair, run in order: node 20 does not order several
// top-level hooks reliably.
const setups = [];
const teardowns = [];
before(async () => {
  allowed = await greeter("allowed-service");
  forbidden = await greeter("forbidden-service");
  lanSrv = await greeter("lan-service", "0.0.0.0");
  for (const f of setups) await f();
});
after(async () => {
  for (const f of teardowns) await f();
  allowed?.close();
  forbidden?.close();
  lanSrv?.close();
});

function config(v) {
  return writeFile(v.root, "mcpwall.yaml", `
version: 1
servers:
  hostile:
    command: ${HOSTILE}
    env:
      INJECTED_OK: "declared"
    sandbox:
      profile: strict
      write: [${v.work}]
      read: [${v.ro}]
      network:
        allow: ["127.0.0.1:${allowed.port}"]
      limits:
        processes: 48
`);
}

async function start(v, prefix = []) {
  const server = [...prefix, MCPWALL, "sandbox-exec", "-c", config(v), "--server", "hostile"];
  return connect({ server, wrap: false, env: { HOME: v.home, MCPWALL_TEST_SECRET: SECRET } });
}

// Suites are flat lists of tests (meson's TAP parser does not read nested
// subtests): each test name starts with its suite, state lives in an object.
const control = {};
setups.push(async () => {
  control.v = plantVictim();
  control.s = await connect({ server: [HOSTILE], wrap: false, env: { HOME: control.v.home, MCPWALL_TEST_SECRET: SECRET } });
});
teardowns.push(async () => control.s?.client.close());
{
  const test_ = (name, fn) => test(`control, no sandbox: ${name}`, (t) => fn(t, control.v, control.s));

  test_("secrets in the home directory are readable", async (t, v, s) => {
    assert.equal((await attack(s.client, "read_ssh_key")).succeeded, true);
    assert.equal((await attack(s.client, "read_mcp_config")).succeeded, true);
    assert.equal((await attack(s.client, "symlink_escape", { dir: v.work })).succeeded, true);
  });
  test_("files outside the working directory are writable", async (t, v, s) => {
    const p = path.join(v.ro, "pwned");
    assert.equal((await attack(s.client, "write_outside", { path: p })).succeeded, true);
    assert.ok(fs.existsSync(p));
    fs.rmSync(p);
  });
  test_("the network is open", async (t, v, s) => {
    assert.equal((await attack(s.client, "connect_loopback", { port: forbidden.port })).succeeded, true);
    if (lan) assert.equal((await attack(s.client, "connect_remote", { host: lan, port: lanSrv.port })).succeeded, true);
  });
  test_("the caller's environment is readable", async (t, v, s) => {
    assert.equal((await attack(s.client, "env_secret", { name: "MCPWALL_TEST_SECRET" })).succeeded, true);
  });
  test_("a setuid program changes the effective uid", async (t, v, s) => {
    if (!v.setuid) return t.skip("planting a setuid program needs root");
    const r = await attack(s.client, "setuid_escalate", { path: v.setuid });
    if (!r.succeeded) return t.skip(`the host refuses setuid here (nosuid mount?): ${r.detail}`);
    assert.equal(r.succeeded, true);
  });
}

function hostileSuite(label, { prefix, owner, skip }) {
  const st = {};
  setups.push(async () => {
    if (skip) return;
    st.v = plantVictim(owner);
    st.s = await start(st.v, prefix);
  });
  teardowns.push(async () => {
    if (!st.s) return;
    const err = await closeAndWait(st.s);
    assert.doesNotMatch(err, /Sanitizer|runtime error/, "mcpwall itself exits cleanly");
  });
  const test = (name, fn) =>
    test_top(`sandboxed ${label}: ${name}`, { skip }, (t) => fn(t, st.v, st.s));
  {

    const log = () => st.s.stderr();
    const logged = (re) => waitFor(() => re.test(log()), 10000, `a log line matching ${re}`);
    async function stillAnswering() {
      const r = await st.s.client.callTool({ name: "echo", arguments: { text: "still here" } });
      assert.equal(r.structuredContent.text, "still here");
    }

    test("the sandbox is in force", async (t, v, s) => {
      const w = (await s.client.callTool({ name: "whoami", arguments: {} })).structuredContent;
      assert.equal(w.CapEff, "0000000000000000");
      assert.equal(w.CapBnd, "0000000000000000");
      assert.equal(w.NoNewPrivs, "1");
      assert.equal(w.Seccomp, "2");
      assert.equal(w.pid, 2, "the server is pid 2 of its own pid namespace");
      assert.equal(w.hostname, "mcpwall-sandbox");
      assert.equal(w.euid, owner);
    });

    test("~/.ssh/id_rsa is hidden", async (t, v, s) => {
      const r = await attack(s.client, "read_ssh_key");
      assert.equal(r.succeeded, false, r.detail);
      assert.ok(["ENOENT", "EACCES"].includes(r.errno), r.detail);
    });

    test("~/.config/Code/User/mcp.json is hidden", async (t, v, s) => {
      const r = await attack(s.client, "read_mcp_config");
      assert.equal(r.succeeded, false, r.detail);
      assert.ok(["ENOENT", "EACCES"].includes(r.errno), r.detail);
    });

    test("writing outside the writable directory fails or stays private", async (t, v, s) => {
      const ro = await attack(s.client, "write_outside", { path: path.join(v.ro, "pwned") });
      assert.equal(ro.succeeded, false, ro.detail);
      assert.ok(["EROFS", "EACCES"].includes(ro.errno), ro.detail);
      assert.ok(!fs.existsSync(path.join(v.ro, "pwned")));
      // elsewhere: the server may write its private /tmp, never the host's files
      for (const p of [path.join(v.root, "outside.txt"), path.join(v.home, ".bashrc")]) {
        await attack(s.client, "write_outside", { path: p });
        assert.ok(!fs.existsSync(p), `${p} appeared on the host`);
      }
      const system = await attack(s.client, "write_outside", { path: "/usr/lib/mcpwall-pwned" });
      assert.equal(system.succeeded, false);
      // the declared writable directory works (so the failures above are the sandbox's doing)
      const ok = await attack(s.client, "write_outside", { path: path.join(v.work, "ok.txt") });
      assert.equal(ok.succeeded, true, ok.detail);
      assert.equal(fs.readFileSync(path.join(v.work, "ok.txt"), "utf8"), "pwned\n");
    });

    test("symbolic links do not lead out", async (t, v, s) => {
      const r = await attack(s.client, "symlink_escape", { dir: v.work, target: v.key });
      assert.equal(r.succeeded, false, r.detail);
      assert.ok(["ENOENT", "EACCES"].includes(r.errno), r.detail);
    });

    test("loopback ports not on the allow-list are unreachable; the listed one works", async (t, v, s) => {
      const r = await attack(s.client, "connect_loopback", { port: forbidden.port });
      assert.equal(r.succeeded, false, r.detail);
      // Landlock ABI >= 4 refuses the port (EACCES); without it nothing listens there
      assert.ok(["EACCES", "ECONNREFUSED"].includes(r.errno), r.detail);
      const ok = await attack(s.client, "connect_loopback", { port: allowed.port });
      assert.equal(ok.succeeded, true, ok.detail);
      assert.match(ok.detail, /allowed-service/, "reached the real service through the relay");
    });

    test("a non-loopback address is unreachable", async (t, v, s) => {
      if (!lan) return t.skip("this machine has no non-loopback IPv4 address to try");
      const r = await attack(s.client, "connect_remote", { host: lan, port: lanSrv.port });
      assert.equal(r.succeeded, false, r.detail);
      assert.ok(["EACCES", "ENETUNREACH", "EHOSTUNREACH"].includes(r.errno), r.detail);
    });

    test("raw and packet sockets are refused with EPERM and logged", async (t, v, s) => {
      const r = await attack(s.client, "raw_socket");
      assert.equal(r.succeeded, false, r.detail);
      assert.equal(r.errno, "EPERM");
      if (!k.notify) return t.skip("no seccomp user notification on this kernel: denials are not logged");
      // the supervisor logs on mcpwall's stderr, which may trail the tool's answer
      await logged(/denied socket \(rule: seccomp\): hostile asked for a raw socket \(AF_INET/);
      await logged(/denied socket \(rule: seccomp\): hostile asked for a packet socket/);
    });

    test("ptrace of the parent is refused with EPERM and logged", async (t, v, s) => {
      const r = await attack(s.client, "ptrace_parent");
      assert.equal(r.succeeded, false, r.detail);
      assert.equal(r.errno, "EPERM");
      if (!k.notify) return t.skip("no seccomp user notification on this kernel: denials are not logged");
      await logged(/denied ptrace \(rule: seccomp\)/);
    });

    test("a fork bomb is stopped at the process limit", async (t, v, s) => {
      const r = await attack(s.client, "fork_bomb", { max: 3000 });
      assert.equal(r.succeeded, false, r.detail);
      assert.equal(r.errno, "EAGAIN", r.detail);
      const n = Number(/created (\d+)/.exec(r.detail)[1]);
      assert.ok(n < 48, `only ${n} processes, under the limit of 48`);
      await stillAnswering();
    });

    test("unbounded allocation fails with ENOMEM, the server survives", async (t, v, s) => {
      const r = await attack(s.client, "alloc_unbounded", { max_mb: 4096 });
      assert.equal(r.succeeded, false, r.detail);
      assert.equal(r.errno, "ENOMEM", r.detail);
      await stillAnswering();
    });

    test("the caller's environment secrets are out of reach; declared variables arrive", async (t, v, s) => {
      const r = await attack(s.client, "env_secret", { name: "MCPWALL_TEST_SECRET" });
      assert.equal(r.succeeded, false, r.detail);
      const ok = await attack(s.client, "env_secret", { name: "INJECTED_OK" });
      assert.equal(ok.succeeded, true, ok.detail);
      assert.match(ok.detail, /own environment/);
    });

    test("a setuid program gains nothing", async (t, v, s) => {
      if (!v.setuid) return t.skip("planting a setuid program needs root");
      const r = await attack(s.client, "setuid_escalate", { path: v.setuid });
      assert.equal(r.succeeded, false, r.detail);
      assert.match(r.detail, new RegExp(`euid=${owner} `), r.detail);
    });

    test("after all that, the server still answers and the secret never reached the log", async (t, v, s) => {
      await stillAnswering();
      const tools = (await s.client.listTools()).tools.map((t) => t.name);
      assert.ok(tools.includes("fork_bomb"));
      assert.ok(!log().includes(SECRET));
    });
  }
}

const noSandbox = k.userns ? false : `the sandbox cannot start on this machine: ${k.usernsError}`;
hostileSuite(IS_ROOT ? "as root" : "as the current user", {
  prefix: [], owner: process.getuid(), skip: noSandbox,
});
hostileSuite("as nobody", {
  prefix: nobody.prefix ?? [], owner: NOBODY, skip: noSandbox || nobody.why || false,
});
