// recorder.mjs - an MCP server (official SDK) that records what reaches it, for
// the credential tests of `mcpwall serve`:
//
//   node recorder.mjs --record FILE            stdio: records its environment once
//   node recorder.mjs --record FILE --http     Streamable HTTP on 127.0.0.1: records the
//                                              headers of every request; prints
//                                              "listening PORT" on stdout when ready
//
// FILE gets one JSON object per line:
//   {"kind":"env","pid":N,"env":{...}}                         (stdio, at start)
//   {"kind":"http","method":"POST","rpc":"tools/call","headers":{...}}   (HTTP)
// Its one tool, "record", answers "ok": what it saw is never echoed back
// (the gateway's audit log must not receive it through a result).
import fs from "node:fs";
import http from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

const args = process.argv.slice(2);
const file = args[args.indexOf("--record") + 1];
if (!args.includes("--record") || !file) {
  process.stderr.write("usage: recorder.mjs --record FILE [--http]\n");
  process.exit(2);
}
const record = (obj) => fs.appendFileSync(file, JSON.stringify(obj) + "\n");

function newServer() {
  const s = new Server({ name: "recorder", version: "1.0.0" }, { capabilities: { tools: {} } });
  s.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: "record", description: "Records the request; answers ok.", inputSchema: { type: "object", properties: {} } }],
  }));
  s.setRequestHandler(CallToolRequestSchema, async () => ({ content: [{ type: "text", text: "ok" }] }));
  return s;
}

if (!args.includes("--http")) {
  record({ kind: "env", pid: process.pid, env: { ...process.env } });
  await newServer().connect(new StdioServerTransport());
} else {
  const transports = new Map();
  const readBody = async (req) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    return text ? JSON.parse(text) : undefined;
  };
  const httpServer = http.createServer(async (req, res) => {
    try {
      const body = req.method === "POST" ? await readBody(req) : undefined;
      const rpc = Array.isArray(body) ? body.map((m) => m.method ?? "response").join(",") : body?.method ?? null;
      record({ kind: "http", method: req.method, rpc, headers: req.headers });
      const sid = req.headers["mcp-session-id"];
      let t = sid ? transports.get(sid) : undefined;
      if (!t) {
        if (sid || req.method !== "POST" || !isInitializeRequest(body)) {
          res.writeHead(sid ? 404 : 400, { "content-type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "no session" }, id: null }));
          return;
        }
        t = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => transports.set(id, t),
        });
        t.onclose = () => t.sessionId && transports.delete(t.sessionId);
        await newServer().connect(t);
      }
      await t.handleRequest(req, res, body);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    }
  });
  httpServer.listen(0, "127.0.0.1", () => {
    process.stdout.write(`listening ${httpServer.address().port}\n`);
  });
}
