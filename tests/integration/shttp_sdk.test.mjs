// The official TypeScript SDK's Streamable HTTP client against a C server
// built on our transport (tests/servers/shttp-testapp): initialize, a plain
// JSON answer, a request answered as an SSE stream with progress and a log
// message, a server->client request (elicitation) answered by the client,
// the standalone GET stream, a stream the server interrupts and the client
// resumes with Last-Event-ID, DELETE, and DNS-rebinding protection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const builddir = process.env.MCPWALL_BUILDDIR;
const bin = path.join(builddir, 'tests', 'servers', 'shttp-testapp');

let app; // { proc, port, events[], waitEvent(re) }

function startApp(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const events = [];
    const waiters = [];
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      const m = /^LISTENING (\d+)$/.exec(line);
      if (m) {
        resolve({
          proc,
          port: Number(m[1]),
          events,
          waitEvent(re) {
            const hit = events.find((e) => re.test(e));
            if (hit) return Promise.resolve(hit);
            return new Promise((res) => waiters.push({ re, res }));
          },
        });
        return;
      }
      events.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].re.test(line)) {
          waiters[i].res(line);
          waiters.splice(i, 1);
        }
      }
    });
    proc.on('error', reject);
    proc.on('exit', (code) => reject(new Error(`shttp-testapp exited with ${code}`)));
  });
}

before(async () => {
  app = await startApp(['--retry', '100', '--keepalive', '200']);
});

after(async () => {
  app.proc.kill('SIGTERM');
  await new Promise((r) => app.proc.once('exit', r));
});

async function connect(extra = {}) {
  const client = new Client({ name: 'mcpwall-it', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async (req) => ({
    action: 'accept',
    content: { answer: `answer to ${req.params.message}` },
  }));
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params.data));
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${app.port}/mcp`), extra);
  const errors = [];
  await client.connect(transport);
  transport.onerror = (e) => errors.push(e);
  return { client, transport, logs, errors };
}

function rawRequest({ method, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: app.port, path: '/mcp', method, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

test('initialize, list and call over JSON answers', async () => {
  const { client, transport } = await connect();
  assert.match(transport.sessionId, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(transport.protocolVersion, '2025-11-25');
  assert.deepEqual(client.getServerVersion(), { name: 'shttp-testapp', version: '0.1.0' });
  const { tools } = await client.listTools();
  assert.deepEqual(
    tools.map((t) => t.name).sort(),
    ['ask', 'big', 'echo', 'notify', 'poll', 'progress', 'slow'],
  );
  const r = await client.callTool({ name: 'echo', arguments: { text: 'héllo' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'héllo' }]);
  await client.close();
});

test('a request answered as an SSE stream with progress and a log message', async () => {
  const { client, logs } = await connect();
  const progress = [];
  const r = await client.callTool({ name: 'progress', arguments: { steps: 4 } }, undefined, {
    onprogress: (p) => progress.push([p.progress, p.total]),
  });
  assert.deepEqual(progress, [[1, 4], [2, 4], [3, 4], [4, 4]]);
  assert.deepEqual(r.content, [{ type: 'text', text: 'done 4' }]);
  assert.ok(logs.includes('progress finished'));
  await client.close();
});

test('a server->client request (elicitation) answered by the client', async () => {
  const { client } = await connect();
  const r = await client.callTool({ name: 'ask', arguments: { message: 'your name?' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'accept: answer to your name?' }]);
  await client.close();
});

test('unsolicited messages arrive on the standalone GET stream', async () => {
  const { client, logs } = await connect();
  const r = await client.callTool({ name: 'notify', arguments: { text: 'via the GET stream' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'queued' }]);
  for (let i = 0; i < 200 && !logs.includes('via the GET stream'); i++) await new Promise((res) => setTimeout(res, 10));
  assert.ok(logs.includes('via the GET stream'));
  await client.close();
});

test('a stream the server interrupts is resumed with Last-Event-ID', async () => {
  const { client } = await connect();
  const progress = [];
  const r = await client.callTool({ name: 'poll', arguments: {} }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  assert.deepEqual(r.content, [{ type: 'text', text: 'polled' }]);
  assert.deepEqual(progress, [1]);
  assert.ok(!app.events.some((e) => e.startsWith('EVENT abandoned')));
  await client.close();
});

test('DELETE ends the session; its id then gets 404', async () => {
  const { client, transport } = await connect();
  const sid = transport.sessionId;
  await transport.terminateSession();
  assert.equal(transport.sessionId, undefined);
  await app.waitEvent(/^EVENT session_close deleted$/);
  const res = await rawRequest({
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' }),
  });
  assert.equal(res.status, 404);
  assert.equal(JSON.parse(res.body).error.data.reason, 'session_not_found');
  await client.close();
});

test('a foreign Host or Origin is refused (DNS rebinding), localhost is served', async () => {
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'rebind', version: '1' } },
  });
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  let res = await rawRequest({
    method: 'POST',
    headers: { ...base, host: 'evil.example.com', origin: 'http://evil.example.com' },
    body: init,
  });
  assert.equal(res.status, 403);
  assert.equal(JSON.parse(res.body).error.data.reason, 'host_not_allowed');
  res = await rawRequest({
    method: 'POST',
    headers: { ...base, host: `localhost:${app.port}`, origin: 'http://evil.example.com' },
    body: init,
  });
  assert.equal(res.status, 403);
  assert.equal(JSON.parse(res.body).error.data.reason, 'origin_not_allowed');
  res = await rawRequest({
    method: 'POST',
    headers: { ...base, host: `localhost:${app.port}`, origin: `http://localhost:${app.port}` },
    body: init,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers['mcp-session-id'], /^[A-Za-z0-9_-]{32}$/);
});

test('a client that disconnects mid-request is reported to the app', async () => {
  const { client, transport } = await connect();
  const sid = transport.sessionId;
  // A request the server never answers, over a raw connection we then drop.
  await new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1',
      port: app.port,
      path: '/mcp',
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sid,
      },
    });
    req.on('error', () => {});
    req.write(JSON.stringify({ jsonrpc: '2.0', id: 'dropme', method: 'tools/call', params: { name: 'slow', arguments: {} } }));
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 200);
  });
  const line = await app.waitEvent(/^EVENT abandoned /);
  assert.equal(line, 'EVENT abandoned s:dropme');
  await client.close();
});
