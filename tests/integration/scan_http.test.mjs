// Streamable HTTP targets: the session over HTTP and the active probes, against
// an SDK server whose weaknesses are switched on by flags (servers/http.mjs),
// and against server-everything's own Streamable HTTP transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { MCP, NODE, SERVERS, scanJson, server, findings, startListening, stop } from './lib/scan.mjs';

const HTTP = path.join(SERVERS, 'http.mjs');
const ids = (r) => findings(r, { id: /^http\./ }).map((f) => `${f.id} ${f.severity}`).sort();

async function withServer(flags, fn) {
    const { port, proc } = await startListening(NODE, [HTTP, ...flags]);
    try {
        return await fn(`http://127.0.0.1:${port}/mcp`, port);
    } finally {
        await stop(proc);
    }
}

test('an open local server: no auth, no Origin check, guessable sessions', async () => {
    await withServer(['--weak-sessions'], (url) => {
        const r = scanJson(['--name', 'weak', url]);
        const s = server(r, 'weak');
        assert.equal(s.error, null);
        assert.equal(s.transport, 'http');
        assert.equal(s.tools.length, 2);
        assert.equal(s.protocol_version, '2025-11-25');
        assert.deepEqual(ids(r), [
            'http.no-origin-check high',      // loopback: reachable by DNS rebinding
            'http.unauthenticated high',      // and it offers a deletion
            'http.weak-session-id medium',
        ]);
        const weak = findings(r, { id: 'http.weak-session-id' })[0];
        assert.match(weak.evidence, /^sess-\d+, sess-\d+/);
    });
});

test('a well-behaved server: token, Origin check, random sessions, RFC 9728', async () => {
    await withServer(['--token', 's3cret', '--check-origin', '--prm'], (url) => {
        const r = scanJson(['--name', 'good', '-H', 'Authorization: Bearer s3cret', url]);
        assert.equal(server(r, 'good').error, null);
        assert.equal(server(r, 'good').tools.length, 2);
        assert.deepEqual(ids(r), []);
        // without the token the server cannot be listed, and says why
        const r2 = scanJson(['--name', 'good', url]);
        assert.match(server(r2, 'good').error, /HTTP 401/);
        assert.deepEqual(ids(r2), []);
    });
});

test('credentials required but no Protected Resource Metadata', async () => {
    await withServer(['--token', 't', '--check-origin'], (url) => {
        const r = scanJson(['--name', 'noprm', '-H', 'Authorization: Bearer t', url]);
        assert.deepEqual(ids(r), ['http.no-resource-metadata low']);
    });
});

test('the given header was not needed: unauthenticated', async () => {
    await withServer(['--check-origin'], (url) => {
        const r = scanJson(['--name', 'x', '-H', 'Authorization: Bearer whatever', url]);
        const f = findings(r, { id: 'http.unauthenticated' });
        assert.equal(f.length, 1);
        assert.match(f[0].message, /headers given were not needed/);
    });
});

test('--no-probe only lists', async () => {
    await withServer(['--weak-sessions'], (url) => {
        const r = scanJson(['--no-probe', '--name', 'x', url]);
        assert.equal(server(r, 'x').tools.length, 2);
        assert.deepEqual(ids(r), []);
    });
});

async function freePort() {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    await new Promise((r) => srv.close(r));
    return port;
}

test('server-everything over Streamable HTTP', async () => {
    const port = await freePort();
    const proc = spawn(NODE, [path.join(MCP, 'server-everything/dist/index.js'), 'streamableHttp'],
        { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
        await new Promise((resolve, reject) => {
            let err = '';
            const t = setTimeout(() => reject(new Error(`server-everything did not start: ${err}`)), 20000);
            proc.stderr.on('data', (d) => {
                err += d;
                if (/listening on port/.test(err)) { clearTimeout(t); resolve(); }
            });
        });
        const r = scanJson(['--name', 'everything-http', `http://127.0.0.1:${port}/mcp`]);
        const s = server(r, 'everything-http');
        assert.equal(s.error, null);
        assert.equal(s.tools.length, 13);
        assert.equal(s.prompts.length, 4);
        // the reference server has no authentication and no Origin check
        assert.deepEqual(ids(r), ['http.no-origin-check high', 'http.unauthenticated high']);
    } finally {
        await stop(proc);
    }
});
