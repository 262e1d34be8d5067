// http.mjs - a Streamable HTTP MCP server (official SDK) whose weaknesses are
// switched on by flags, for the HTTP probes of `mcpwall scan`.
//
//   node http.mjs [--token T] [--prm] [--check-origin] [--weak-sessions] [--stateless]
//
// Prints "listening PORT" on stdout once it accepts connections (port chosen
// by the system on 127.0.0.1).
//   --token T        require "Authorization: Bearer T" (401 + WWW-Authenticate otherwise)
//   --prm            publish RFC 9728 metadata at /.well-known/oauth-protected-resource[/mcp]
//   --check-origin   refuse requests whose Origin is not http://localhost / 127.0.0.1 (403)
//   --weak-sessions  session ids "sess-1", "sess-2", ... instead of random UUIDs
//   --stateless      no sessions at all
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ListToolsRequestSchema, CallToolRequestSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const args = process.argv.slice(2);
const flag = (f) => args.includes(f);
const token = args.includes('--token') ? args[args.indexOf('--token') + 1] : null;
let counter = 0;
const sessionId = flag('--stateless') ? undefined
    : flag('--weak-sessions') ? () => `sess-${++counter}` : () => randomUUID();

function newServer() {
    const s = new Server({ name: 'http-probe-target', version: '1.0.0' }, { capabilities: { tools: {} } });
    s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [
        { name: 'get_time', description: 'Returns the current time.', inputSchema: { type: 'object', properties: {} } },
        { name: 'delete_project', description: 'Deletes a project and all its files.',
          inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
    ] }));
    s.setRequestHandler(CallToolRequestSchema, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
    return s;
}

const transports = new Map();
let port = 0;

async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
}

const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    if (url.pathname.startsWith('/.well-known/oauth-protected-resource')) {
        if (!flag('--prm')) { res.writeHead(404).end(); return; }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ resource: `http://127.0.0.1:${port}/mcp`, authorization_servers: ['https://auth.example.com'] }));
        return;
    }
    if (url.pathname !== '/mcp') { res.writeHead(404).end(); return; }
    const origin = req.headers.origin;
    if (flag('--check-origin') && origin && !/^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/.test(origin)) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Forbidden origin' }, id: null }));
        return;
    }
    if (token && req.headers.authorization !== `Bearer ${token}`) {
        const hdr = { 'content-type': 'application/json' };
        hdr['www-authenticate'] = flag('--prm')
            ? `Bearer resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`
            : 'Bearer';
        res.writeHead(401, hdr);
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Unauthorized' }, id: null }));
        return;
    }
    try {
        const body = req.method === 'POST' ? await readBody(req) : undefined;
        const sid = req.headers['mcp-session-id'];
        let t = sid ? transports.get(sid) : undefined;
        if (!t) {
            if (sid || req.method !== 'POST' || !isInitializeRequest(body)) {
                if (flag('--stateless') && req.method === 'POST') {
                    t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
                    await newServer().connect(t);
                } else {
                    res.writeHead(sid ? 404 : 400).end();
                    return;
                }
            } else {
                t = new StreamableHTTPServerTransport({
                    sessionIdGenerator: sessionId,
                    onsessioninitialized: (id) => transports.set(id, t),
                });
                t.onclose = () => { if (t.sessionId) transports.delete(t.sessionId); };
                await newServer().connect(t);
            }
        }
        await t.handleRequest(req, res, body);
    } catch (e) {
        if (!res.headersSent) res.writeHead(500).end(String(e));
    }
});
httpServer.listen(0, '127.0.0.1', () => {
    port = httpServer.address().port;
    process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
