// The official TypeScript SDK against mcpwall's authentication hook
// (tests/servers/auth-testapp: the transport test application behind
// policy/authn). A small OAuth authorization server written here issues
// ES256 access tokens with the client-credentials grant and publishes its
// keys; everything (the API key from `mcpwall keygen`, the signing keys) is
// made by the test.
//   - an API key in Authorization: Bearer works; no credentials get 401 with
//     a challenge the SDK reads (resource_metadata, scope);
//   - the SDK discovers the Protected Resource Metadata (RFC 9728), finds the
//     authorization server, obtains a token for this resource with
//     ClientCredentialsProvider, and calls tools with it;
//   - the authorization server rotates its key: a token signed with the new
//     key passes without restarting the gateway, one signed with the removed
//     key fails;
//   - a token issued for another resource is refused (no passthrough), and
//     a token in the query string is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const builddir = process.env.MCPWALL_BUILDDIR;
const mcpwall = process.env.MCPWALL_BIN;
const appBin = path.join(builddir, 'tests', 'servers', 'auth-testapp');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpwall-auth-it-'));

const CLIENT_ID = 'reporting-bot';
const CLIENT_SECRET = crypto.randomBytes(24).toString('base64url');

let app; // { proc, port, lines[] }
let gwUrl; // http://127.0.0.1:PORT/mcp
let apiKey;

// ---- the authorization server ----
const idp = {
  server: null,
  url: null,
  keys: [], // { kid, privateKey, jwk }
  audOverride: null,
  tokenRequests: [],
  jwksHits: 0,
};

function newKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' } };
}

function b64u(x) {
  return Buffer.from(x).toString('base64url');
}

function signJwt(key, claims) {
  const head = b64u(JSON.stringify({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' }));
  const body = b64u(JSON.stringify(claims));
  const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64u(sig)}`;
}

function issue(key, { sub = CLIENT_ID, aud, scope = 'mcp', ttl = 300 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(key, { iss: idp.url, sub, aud, scope, iat: now, exp: now + ttl, client_id: sub });
}

function startIdp() {
  idp.server = http.createServer((req, res) => {
    const send = (status, obj) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(obj));
    };
    const u = new URL(req.url, idp.url);
    if (req.method === 'GET' && (u.pathname === '/.well-known/oauth-authorization-server' ||
                                 u.pathname === '/.well-known/openid-configuration')) {
      return send(200, {
        issuer: idp.url,
        authorization_endpoint: `${idp.url}/authorize`,
        token_endpoint: `${idp.url}/token`,
        jwks_uri: `${idp.url}/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (req.method === 'GET' && u.pathname === '/jwks') {
      idp.jwksHits++;
      return send(200, { keys: idp.keys.map((k) => k.jwk) });
    }
    if (req.method === 'POST' && u.pathname === '/token') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const basic = Buffer.from((req.headers.authorization || '').replace(/^Basic /, ''), 'base64').toString();
        const [id, secret] = basic.split(':').map(decodeURIComponent);
        idp.tokenRequests.push({ grant: form.get('grant_type'), resource: form.get('resource'), scope: form.get('scope'), id });
        if (id !== CLIENT_ID || secret !== CLIENT_SECRET) return send(401, { error: 'invalid_client' });
        if (form.get('grant_type') !== 'client_credentials') return send(400, { error: 'unsupported_grant_type' });
        const aud = idp.audOverride ?? form.get('resource');
        const key = idp.keys[idp.keys.length - 1];
        // The client's default scope when it asks for none (as IdPs assign
        // default scopes to registered clients).
        const scope = form.get('scope') || 'mcp';
        return send(200, { access_token: issue(key, { aud, scope }), token_type: 'Bearer', expires_in: 300 });
      });
      return;
    }
    send(404, { error: 'not_found' });
  });
  return new Promise((r) => idp.server.listen(0, '127.0.0.1', () => {
    idp.url = `http://127.0.0.1:${idp.server.address().port}`;
    r();
  }));
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function startApp(config, port) {
  return new Promise((resolve, reject) => {
    const proc = spawn(appBin, ['-c', config, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      const m = /^LISTENING (\d+)$/.exec(line);
      if (m) resolve({ proc, port: Number(m[1]), lines });
      else lines.push(line);
    });
    proc.on('error', reject);
    proc.on('exit', (code) => reject(new Error(`auth-testapp exited with ${code}`)));
  });
}

before(async () => {
  await startIdp();
  idp.keys.push(newKey('k1'));
  const kg = JSON.parse(execFileSync(mcpwall, ['keygen', '--json', '--name', 'alice', '--role', 'dev']).toString());
  apiKey = kg.key;
  const port = await freePort();
  gwUrl = `http://127.0.0.1:${port}/mcp`;
  const config = path.join(tmp, 'mcpwall.yaml');
  fs.writeFileSync(config, [
    'auth:',
    `  resource: ${gwUrl}`,
    '  required_scopes: [mcp]',
    '  scopes_supported: [mcp]',
    '  api_keys:',
    '    - name: alice',
    `      hash: "${kg.hash}"`,
    '      roles: [dev]',
    '  jwt:',
    `    issuer: ${idp.url}`,
    `    jwks_url: ${idp.url}/jwks`,
    '    min_refresh_interval: 1s',
    '',
  ].join('\n'));
  app = await startApp(config, port);
});

after(async () => {
  if (app) {
    app.proc.kill('SIGTERM');
    await new Promise((r) => app.proc.once('exit', r));
  }
  await new Promise((r) => idp.server.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function connect(opts) {
  const client = new Client({ name: 'mcpwall-auth-it', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(gwUrl), opts);
  await client.connect(transport);
  return client;
}

function bearer(token) {
  return { requestInit: { headers: { Authorization: `Bearer ${token}` } } };
}

async function post(headers, query = '') {
  return fetch(`${gwUrl}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
}

test('an API key from mcpwall keygen, sent as a bearer token', async () => {
  const client = await connect(bearer(apiKey));
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  const r = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'hi' }]);
  await client.close();
  assert.ok(app.lines.includes('AUTH 200 ok apikey:alice'));
});

test('no credentials: 401 with a challenge the SDK understands', async () => {
  await assert.rejects(connect({}), (e) => /401/.test(String(e)) || e.code === 401);
  const res = await post({});
  assert.equal(res.status, 401);
  const p = extractWWWAuthenticateParams(res);
  assert.equal(String(p.resourceMetadataUrl), `${new URL(gwUrl).origin}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(p.scope, 'mcp');
  assert.equal(p.error, undefined); // no error code without credentials (RFC 6750 3.1)
  const body = await res.json();
  assert.equal(body.error.data.reason, 'no_credentials');
});

test('the SDK discovers the protected resource metadata', async () => {
  const md = await discoverOAuthProtectedResourceMetadata(new URL(gwUrl));
  assert.equal(md.resource, gwUrl);
  assert.deepEqual(md.authorization_servers, [idp.url]);
  assert.deepEqual(md.bearer_methods_supported, ['header']);
  assert.deepEqual(md.scopes_supported, ['mcp']);
});

test('OAuth client credentials end to end: discovery, token for this resource, calls', async () => {
  const before = idp.tokenRequests.length;
  const provider = new ClientCredentialsProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, expectedIssuer: idp.url });
  const client = await connect({ authProvider: provider });
  const r = await client.callTool({ name: 'echo', arguments: { text: 'via oauth' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'via oauth' }]);
  await client.close();
  const reqs = idp.tokenRequests.slice(before);
  assert.ok(reqs.length >= 1);
  // The SDK asked for a token for this gateway (RFC 8707 resource indicator,
  // taken from the metadata document).
  assert.equal(reqs[0].resource, gwUrl);
  assert.equal(reqs[0].grant, 'client_credentials');
  assert.ok(app.lines.includes(`AUTH 200 ok jwt:${idp.url}#${CLIENT_ID}`));
});

test('key rotation at the authorization server without restarting the gateway', async () => {
  const oldKey = idp.keys[0];
  const oldToken = issue(oldKey, { aud: gwUrl });
  assert.equal((await post({ authorization: `Bearer ${oldToken}` })).status, 200);
  // Rotate: k2 replaces k1.
  idp.keys = [newKey('k2')];
  const newToken = issue(idp.keys[0], { aud: gwUrl });
  // The unknown kid makes the gateway refresh (at most once per second, so a
  // request inside the interval after the last fetch may still be refused).
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await post({ authorization: `Bearer ${newToken}` })).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(status, 200);
  // The very token that passed before is refused now that k1 is gone.
  const res = await post({ authorization: `Bearer ${oldToken}` });
  assert.equal(res.status, 401);
  assert.equal(extractWWWAuthenticateParams(res).error, 'invalid_token');
  assert.equal((await res.json()).error.data.reason, 'unknown_kid');
  // And the SDK flow works with tokens from the new key.
  const provider = new ClientCredentialsProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, expectedIssuer: idp.url });
  const client = await connect({ authProvider: provider });
  assert.ok((await client.listTools()).tools.length > 0);
  await client.close();
});

test('a token issued for another resource is refused (no token passthrough)', async () => {
  const token = issue(idp.keys[0], { aud: 'https://other-server.example/mcp' });
  const res = await post({ authorization: `Bearer ${token}` });
  assert.equal(res.status, 401);
  assert.equal(extractWWWAuthenticateParams(res).error, 'invalid_token');
  assert.equal((await res.json()).error.data.reason, 'wrong_audience');
  // Through the SDK: the authorization server hands out such tokens; the
  // client cannot get in with them.
  idp.audOverride = 'https://other-server.example/mcp';
  try {
    const before = idp.tokenRequests.length;
    const seen = app.lines.length;
    const provider = new ClientCredentialsProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, expectedIssuer: idp.url });
    await assert.rejects(connect({ authProvider: provider }), (e) => {
      assert.match(String(e), /401|nauthorized/);
      return true;
    });
    // It did get a token, and the gateway refused that token for its audience.
    assert.ok(idp.tokenRequests.length > before);
    assert.ok(app.lines.slice(seen).includes('AUTH 401 wrong_audience -'));
  } finally {
    idp.audOverride = null;
  }
});

test('a token without the required scope gets 403 insufficient_scope', async () => {
  const token = issue(idp.keys[0], { aud: gwUrl, scope: 'other' });
  const res = await post({ authorization: `Bearer ${token}` });
  assert.equal(res.status, 403);
  const p = extractWWWAuthenticateParams(res);
  assert.equal(p.error, 'insufficient_scope');
  assert.equal(p.scope, 'mcp');
});

test('a token in the query string is refused', async () => {
  const res = await post({}, `?access_token=${encodeURIComponent(apiKey)}`);
  assert.equal(res.status, 400);
  assert.equal(extractWWWAuthenticateParams(res).error, 'invalid_request');
  assert.equal((await res.json()).error.data.reason, 'token_in_query');
  // Even beside a valid header.
  const res2 = await post({ authorization: `Bearer ${apiKey}` }, `?access_token=${encodeURIComponent(apiKey)}`);
  assert.equal(res2.status, 400);
  // The gateway's log lines never show a token.
  for (const l of app.lines) {
    assert.ok(!l.includes(apiKey));
    assert.ok(!l.includes(CLIENT_SECRET));
  }
});
