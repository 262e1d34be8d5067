// scan-lib.mjs - helpers shared by the scan-*.test.mjs integration tests.
import { spawnSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.MCPWALL_BIN;
export const SRC = process.env.MCPWALL_SRCDIR;
export const BUILD = process.env.MCPWALL_BUILDDIR;
export const NM = path.join(SRC, 'tests/node_modules');
export const MCP = path.join(NM, '@modelcontextprotocol');
export const SERVERS = path.join(SRC, 'tests/integration/servers');
export const NODE = process.execPath;

/** Runs `mcpwall ARGS...`; returns {status, stdout, stderr, json} (json when stdout parses). */
export function mcpwall(args, opts = {}) {
    const r = spawnSync(BIN, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300000, ...opts });
    let json = null;
    try { json = JSON.parse(r.stdout); } catch { /* not JSON */ }
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, json, signal: r.signal };
}

/** `mcpwall scan -f json ARGS...` that must succeed (exit 0 or 1); returns the report. */
export function scanJson(args, opts = {}) {
    const r = mcpwall(['scan', '-f', 'json', ...args], opts);
    if (r.json === null || (r.status !== 0 && r.status !== 1))
        throw new Error(`mcpwall scan ${args.join(' ')} -> ${r.status} ${r.signal ?? ''}\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
    return r.json;
}

export function tmpdir(prefix = 'mcpwall-scan-') {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function server(report, name) {
    const s = report.servers.find((x) => x.name === name);
    if (!s) throw new Error(`no server ${name} in ${report.servers.map((x) => x.name)}`);
    return s;
}

export function tool(srv, name) {
    const t = srv.tools.find((x) => x.name === name);
    if (!t) throw new Error(`no tool ${name} in ${srv.tools.map((x) => x.name)}`);
    return t;
}

/** Findings of the report, optionally filtered: {id, server, item, pointer}. id may be a RegExp. */
export function findings(report, f = {}) {
    return report.findings.filter((x) =>
        (f.id === undefined || (f.id instanceof RegExp ? f.id.test(x.id) : x.id === f.id)) &&
        (f.server === undefined || x.location.server === f.server) &&
        (f.item === undefined || x.location.item === f.item) &&
        (f.pointer === undefined || x.location.pointer === f.pointer));
}

/** The text a finding's byte span covers in the string at its pointer of a definition. */
export function spanText(def, finding) {
    const ptr = finding.location.pointer;
    let v = def;
    for (const tok of ptr.split('/').slice(1))
        v = v?.[tok.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (typeof v !== 'string' || !finding.location.span) return null;
    return Buffer.from(v, 'utf8').subarray(finding.location.span.start, finding.location.span.end).toString('utf8');
}

/** Starts a long-running server that prints "listening PORT"; resolves {port, proc}. */
export function startListening(cmd, args) {
    return new Promise((resolve, reject) => {
        const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: no "listening" line`)), 20000);
        proc.stdout.on('data', (d) => {
            out += d;
            const m = /listening (\d+)/.exec(out);
            if (m) { clearTimeout(timer); resolve({ port: Number(m[1]), proc }); }
        });
        proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code} before listening`)); });
    });
}

export function stop(proc) {
    return new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.removeAllListeners('exit');
        proc.on('exit', () => resolve());
        proc.kill('SIGTERM');
    });
}

/** Writes a host config home: {relPath: object}. Returns the home directory. */
export function makeHome(files) {
    const home = tmpdir('mcpwall-home-');
    for (const [rel, obj] of Object.entries(files)) {
        const p = path.join(home, rel);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj, null, 2));
    }
    return home;
}
