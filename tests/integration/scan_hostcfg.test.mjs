// Host configurations: discovery of every host's file, --connect (spawning
// the configured stdio servers), what cannot be connected and why, cross-server
// name collisions, and exit codes for CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { MCP, NODE, SERVERS, SRC, mcpwall, scanJson, server, findings, makeHome } from './lib/scan.mjs';

const HOME = path.join(SRC, 'tests/cases/scan/hostcfg/home');
const POISON = path.join(SERVERS, 'poison.mjs');
const MEMORY = path.join(MCP, 'server-memory/dist/index.js');

test('--host-configs finds the files of all six hosts', () => {
    const r = scanJson(['--host-configs', '--home', HOME]);
    assert.deepEqual(r.configs.map((c) => c.host).sort(),
        ['claude-code', 'claude-desktop', 'cursor', 'gemini-cli', 'vscode', 'windsurf']);
    assert.equal(r.servers.length, 22);
    for (const s of r.servers) {
        assert.equal(s.transport, 'none');      // not connected without --connect
        assert.ok(s.config.line > 0, s.name);
    }
    // claude.json: user-level and per-project servers
    assert.deepEqual(r.configs.find((c) => c.host === 'claude-code').servers, ['memory', 'sentry', 'ps']);
    assert.equal(mcpwall(['scan', '--fail-on', 'critical', '--host-configs', '--home', HOME]).status, 1);
    const t = mcpwall(['scan', '--host-configs', '--home', HOME]);
    assert.match(t.stdout, /server postmark \(configured, not connected: npx -y postmark-mcp@1.0.17\)/);
});

test('--connect starts the configured servers; what it cannot start is said', () => {
    const home = makeHome({
        '.config/Claude/claude_desktop_config.json': {
            mcpServers: {
                memory: { command: NODE, args: [MEMORY], env: { MEMORY_FILE_PATH: path.join(SRC, 'build-does-not-matter.json') } },
                prompted: { command: NODE, args: [MEMORY], env: { TOKEN: '${input:token}' } },
                missing: { command: 'mcpwall-no-such-command-xyz', args: [] },
                off: { command: NODE, args: [MEMORY], disabled: true },
            },
        },
    });
    const r = scanJson(['--host-configs', '--connect', '--home', home]);
    const mem = server(r, 'memory');
    assert.equal(mem.error, null);
    assert.equal(mem.transport, 'stdio');
    assert.equal(mem.tools.length, 9);
    assert.equal(mem.host, 'claude-desktop');
    assert.match(server(r, 'prompted').error, /not connected: needs \$\{input:token\}/);
    assert.match(server(r, 'missing').error, /cannot run 'mcpwall-no-such-command-xyz'/);
    assert.match(server(r, 'off').error, /disabled/);
    assert.equal(findings(r, { id: 'server.unreachable' }).length, 3);
});

test('same tool name, different definitions on two servers: a collision', () => {
    const home = makeHome({
        '.cursor/mcp.json': {
            mcpServers: {
                calc: { command: NODE, args: [POISON, 'add'] },
                math: { command: NODE, args: [POISON, 'shadow'] },
                calc2: { command: NODE, args: [POISON, 'add'] }, // the same server again: no collision with calc
            },
        },
    });
    const r = scanJson(['--host-configs', '--connect', '--home', home]);
    const col = findings(r, { id: 'server.name-collision' });
    assert.equal(col.length, 2, col.map((f) => f.message).join('\n'));
    for (const f of col) {
        assert.equal(f.location.item, 'add');
        assert.equal(f.location.pointer, '/name');
    }
    assert.deepEqual(col.map((f) => f.location.server).sort(), ['calc2', 'math'].sort());
});

test('paths with spaces (macOS Application Support) are URIs in SARIF', () => {
    const home = makeHome({
        'Library/Application Support/Claude/claude_desktop_config.json':
            '{\n  "mcpServers": {\n    "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem"]}\n  }\n}\n',
    });
    const r = mcpwall(['scan', '-f', 'sarif', '--host-configs', '--home', home]);
    const log = JSON.parse(r.stdout);
    const res = log.runs[0].results.find((x) => x.ruleId === 'config.floating-version');
    const loc = res.locations[0].physicalLocation;
    assert.match(loc.artifactLocation.uri, /Library\/Application%20Support\/Claude\/claude_desktop_config\.json$/);
    assert.equal(loc.region.startLine, 3);
    assert.equal(loc.region.snippet.text, '@modelcontextprotocol/server-filesystem');
});

test('usage errors exit 2', () => {
    assert.equal(mcpwall(['scan']).status, 2);
    assert.equal(mcpwall(['scan', '-f', 'xml', 'x.json']).status, 2);
    assert.equal(mcpwall(['scan', '--token-budget', 'lots', 'x.json']).status, 2);
    assert.equal(mcpwall(['scan', '--']).status, 2);
    assert.equal(mcpwall(['scan', '/nonexistent/file.json']).status, 3);
    assert.equal(mcpwall(['scan', '--help']).status, 0);
});

test('--connect --sandbox: configured servers run inside mcpwall sandbox-exec', () => {
    const home = makeHome({
        '.cursor/mcp.json': {
            mcpServers: { memory: { command: NODE, args: [MEMORY], env: { MEMORY_FILE_PATH: '/tmp/mcpwall-scan-memory.json' } } },
        },
    });
    // the node profile cannot read the server's script until it is allowed
    const shut = scanJson(['--host-configs', '--connect', '--home', home, '--sandbox', 'node']);
    assert.match(server(shut, 'memory').error, /Cannot find module|exit status/);
    const open = scanJson(['--host-configs', '--connect', '--home', home, '--sandbox', 'node',
        '--sandbox-read', path.dirname(path.dirname(MCP))]);
    assert.equal(server(open, 'memory').error, null);
    assert.equal(server(open, 'memory').tools.length, 9);
    assert.equal(mcpwall(['scan', '--sandbox-read', '/x', '--', NODE, MEMORY]).status, 2);
});
