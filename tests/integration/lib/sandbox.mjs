// Helpers for the sandbox integration tests: what the kernel offers, a planted
// victim tree (home with secrets, writable and read-only directories), TCP
// listeners, and running commands as nobody.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { BUILDDIR, MCPWALL, tmpdir } from "./mcp.mjs";

export const HOSTILE = path.join(BUILDDIR, "tests/servers/hostile");
export const SHOWID = path.join(BUILDDIR, "tests/servers/showid");
export const IS_ROOT = process.getuid() === 0;
export const NOBODY = 65534;

/** What this machine offers, read from `mcpwall sandbox-exec --explain`. */
export function kernelFeatures() {
  const r = spawnSync(MCPWALL, ["sandbox-exec", "--explain"], { encoding: "utf8" });
  const out = r.stdout ?? "";
  const abi = /Landlock ABI (\d+)/.exec(out);
  const userns = spawnSync(MCPWALL, ["sandbox-exec", "--", "/bin/true"], { encoding: "utf8" });
  return {
    userns: userns.status === 0,
    usernsError: (userns.stderr ?? "").trim(),
    landlock: abi ? Number(abi[1]) : 0,
    notify: out.includes("with denial logging"),
    explain: out,
  };
}

/** Prefix that runs a command as nobody, or null with the reason why it cannot. */
export function asNobody() {
  if (!IS_ROOT) return { prefix: null, why: "the tests do not run as root, so they cannot switch to nobody" };
  const setpriv = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
  if (!fs.existsSync(setpriv[0])) return { prefix: null, why: "setpriv (util-linux) is not installed" };
  const r = spawnSync(setpriv[0], [...setpriv.slice(1), MCPWALL, "version"], { encoding: "utf8" });
  if (r.status !== 0)
    return { prefix: null, why: `nobody cannot run ${MCPWALL} (is the build directory private?): ${r.stderr}` };
  const u = spawnSync(setpriv[0], [...setpriv.slice(1), MCPWALL, "sandbox-exec", "--", "/bin/true"], {
    encoding: "utf8",
  });
  if (u.status !== 0) return { prefix: null, why: `nobody cannot create a sandbox: ${u.stderr.trim()}` };
  return { prefix: setpriv, why: null };
}

/**
 * A victim tree: home/.ssh/id_rsa, home/.config/Code/User/mcp.json, work/
 * (the server's writable directory, holding a planted symlink to the key),
 * ro/ (read-only, holding a setuid copy of showid when running as root).
 * owner: uid that should own it (for the nobody runs).
 */
export function plantVictim(owner = process.getuid()) {
  const root = tmpdir("mcpwall-sbx-");
  fs.chmodSync(root, 0o755);
  const home = path.join(root, "home");
  const key = path.join(home, ".ssh/id_rsa");
  const mcpjson = path.join(home, ".config/Code/User/mcp.json");
  const work = path.join(root, "work");
  const ro = path.join(root, "ro");
  for (const d of [path.dirname(key), path.dirname(mcpjson), work, ro]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nplanted-test-key\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
  fs.writeFileSync(mcpjson, JSON.stringify({ servers: { gh: { env: { GITHUB_TOKEN: "ghp_plantedtesttoken" } } } }));
  fs.symlinkSync(key, path.join(work, "escape"));
  fs.writeFileSync(path.join(ro, "readme.txt"), "read-only data\n");
  if (owner !== process.getuid()) {
    for (const p of [root, home, path.join(home, ".ssh"), key, path.join(home, ".config"),
                     path.join(home, ".config/Code"), path.join(home, ".config/Code/User"), mcpjson,
                     work, ro, path.join(ro, "readme.txt")])
      fs.chownSync(p, owner, owner);
    fs.lchownSync(path.join(work, "escape"), owner, owner);
  }
  let setuid = null;
  if (IS_ROOT) {
    // A setuid program that would change the euid if the sandbox let it:
    // owned by daemon (uid 1) for a root caller, by root for a nobody caller.
    setuid = path.join(ro, "showid");
    fs.copyFileSync(SHOWID, setuid);
    const to = owner === 0 ? 1 : 0;
    fs.chownSync(setuid, to, to);
    fs.chmodSync(setuid, 0o4755);
  }
  return { root, home, key, mcpjson, work, ro, setuid };
}

/** A TCP listener that greets every connection with `greeting`. */
export async function greeter(greeting, host = "127.0.0.1") {
  const srv = net.createServer((c) => c.end(greeting + "\n"));
  await new Promise((res) => srv.listen(0, host, res));
  return { port: srv.address().port, close: () => srv.close() };
}

/** The first non-loopback IPv4 address of this machine, or null. */
export function lanAddress() {
  for (const i of Object.values(os.networkInterfaces()).flat()) {
    if (i && i.family === "IPv4" && !i.internal) return i.address;
  }
  return null;
}

/** structuredContent of a hostile tool call. */
export async function attack(client, name, args = {}) {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 120000 });
  return r.structuredContent;
}

/** Closes a connection and waits for the mcpwall process to exit; returns its stderr. */
export async function closeAndWait(s) {
  const pid = s.transport.pid;
  await s.client.close();
  const t0 = Date.now();
  while (pid && Date.now() - t0 < 20000) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return s.stderr();
}
