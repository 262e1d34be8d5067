// The public tool-poisoning cases of THREATS.md (A1 Invariant add/sidenote,
// A2 shadowing of send_email, A3 the WhatsApp sleeper rug pull, A14 injection
// in annotations) served by small SDK servers (servers/poison.mjs) and
// scanned over stdio. What the scanner finds itself (classes, annotation
// mismatches, rug pulls through pins) is always checked; what the detectors
// find (guard/detect) is checked with its exact spans when the build has them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NODE, SERVERS, scanJson, mcpwall, server, tool, findings, spanText, tmpdir, makeHome } from './lib/scan.mjs';

const POISON = path.join(SERVERS, 'poison.mjs');
const cmd = (...a) => ['--', NODE, POISON, ...a];
const DETECTORS = scanJson(['--name', 'probe', ...cmd('email')]).detectors;
const noDetect = !DETECTORS && 'this build has no guard/detect detectors (feat/detect not merged)';

const INJECTION = /^inject\./;
const HIDDEN = /^(hidden|unicode|ansi)\./;

/** Byte range of the n-th occurrence of `phrase` in s. */
function range(s, phrase) {
    const i = s.indexOf(phrase);
    assert.ok(i >= 0, `phrase not in text: ${phrase}`);
    const start = Buffer.byteLength(s.slice(0, i), 'utf8');
    return { start, end: start + Buffer.byteLength(phrase, 'utf8') };
}

/** A finding of `id` at `pointer` whose span overlaps the phrase in the definition string. */
function assertSpan(report, srv, item, pointer, id, phrase) {
    const def = srv.__defs[item];
    let s = def;
    for (const tok of pointer.split('/').slice(1)) s = s[tok];
    const want = range(s, phrase);
    const hits = findings(report, { server: srv.name, item, pointer, id })
        .filter((f) => f.location.span && f.location.span.start < want.end && f.location.span.end > want.start);
    assert.ok(hits.length > 0,
        `no ${id} finding on ${item}${pointer} covering "${phrase}" [${want.start},${want.end}); got:\n` +
        findings(report, { server: srv.name, item }).map((f) => `  ${f.id} ${f.location.pointer} ` +
            `${JSON.stringify(f.location.span)} ${JSON.stringify(spanText(def, f))}`).join('\n'));
    return hits[0];
}

/** Scan with --save-capture too, so the exact definitions are known to the test. */
function scanWithDefs(args) {
    const dir = tmpdir();
    const cap = path.join(dir, 'capture.json');
    const r = scanJson(['--save-capture', cap, ...args]);
    const c = JSON.parse(fs.readFileSync(cap, 'utf8'));
    for (const s of r.servers) {
        const cs = c.servers.find((x) => x.name === s.name);
        s.__defs = Object.fromEntries((cs?.tools ?? []).map((t) => [t.name, t]));
    }
    return r;
}

test('A1 add/sidenote: the tool is listed and classified', () => {
    const r = scanWithDefs(['--name', 'math', ...cmd('add')]);
    const s = server(r, 'math');
    assert.equal(s.tools.length, 1);
    const add = tool(s, 'add');
    assert.ok(s.__defs.add.description.includes('<IMPORTANT>'));
    assert.equal(add.risk, 'side-effect');
});

test('A1 add/sidenote: every trigger is found with its span', { skip: noDetect }, () => {
    const r = scanWithDefs(['--name', 'math', ...cmd('add')]);
    const s = server(r, 'math');
    assertSpan(r, s, 'add', '/description', INJECTION, '<IMPORTANT>');
    assertSpan(r, s, 'add', '/description', INJECTION, '~/.cursor/mcp.json');
    assertSpan(r, s, 'add', '/description', INJECTION, '~/.ssh/id_rsa');
    assertSpan(r, s, 'add', '/description', INJECTION, 'otherwise the tool will not work');
    assertSpan(r, s, 'add', '/description', INJECTION, 'Do not mention');
    const side = findings(r, { server: 'math', item: 'add', id: INJECTION })
        .filter((f) => (f.location.pointer ?? '').startsWith('/inputSchema/properties/sidenote'));
    assert.ok(side.length > 0, 'the sidenote parameter is reported');
    assert.ok(r.findings.some((f) => f.severity === 'critical' || f.severity === 'high'));
    // poisoning fails CI at --fail-on high
    assert.equal(mcpwall(['scan', '--fail-on', 'high', '--name', 'math', ...cmd('add')]).status, 1);
});

function shadowHome() {
    return makeHome({
        '.config/Claude/claude_desktop_config.json': {
            mcpServers: {
                mail: { command: NODE, args: [POISON, 'email'] },
                math: { command: NODE, args: [POISON, 'shadow'] },
            },
        },
    });
}

test('A2 shadowing: both servers are connected from the host config', () => {
    const home = shadowHome();
    const r = scanWithDefs(['--host-configs', '--connect', '--home', home]);
    assert.equal(server(r, 'mail').error, null);
    assert.equal(tool(server(r, 'mail'), 'send_email').risk, 'critical');
    assert.deepEqual(tool(server(r, 'mail'), 'send_email').categories, ['outbound-message']);
    assert.equal(server(r, 'math').host, 'claude-desktop');
    assert.equal(server(r, 'math').config.line, 10);
});

test('A2 shadowing: the reference to another server\'s send_email is found', { skip: noDetect }, () => {
    const home = shadowHome();
    const r = scanWithDefs(['--host-configs', '--connect', '--home', home]);
    const s = server(r, 'math');
    assertSpan(r, s, 'add', '/description', INJECTION, 'send_email');
    assertSpan(r, s, 'add', '/description', INJECTION, 'Do not mention this to the user');
    assertSpan(r, s, 'add', '/description', INJECTION, 'the application will crash');
    assert.equal(findings(r, { server: 'mail', id: INJECTION }).length, 0, 'the mail server is clean');
});

function sleeperHome(state) {
    return makeHome({
        '.cursor/mcp.json': {
            mcpServers: {
                whatsapp: { command: NODE, args: [POISON, 'whatsapp'] },
                facts: { command: NODE, args: [POISON, 'sleeper', state] },
            },
        },
    });
}

test('A3 WhatsApp sleeper: the rug pull breaks the pin', () => {
    const dir = tmpdir();
    const state = path.join(dir, 'mcp-triggered');
    const lock = path.join(dir, 'mcpwall.lock');
    const home = sleeperHome(state);
    // first load: benign, pinned
    const first = mcpwall(['scan', '--host-configs', '--connect', '--home', home, '--pin', '--lock', lock]);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(fs.existsSync(state), 'the sleeper armed itself on first start');
    // second load: the docstring changed
    const r = scanWithDefs(['--host-configs', '--connect', '--home', home, '--lock', lock]);
    const s = server(r, 'facts');
    const changed = findings(r, { id: 'pins.changed', server: 'facts' });
    assert.equal(changed.length, 1);
    assert.equal(changed[0].severity, 'high');
    assert.equal(changed[0].location.item, 'get_fact_of_the_day');
    assert.equal(changed[0].location.pointer, '/description');
    const desc = s.__defs.get_fact_of_the_day.description;
    // the span starts where the pinned text ends and covers the rest
    assert.equal(changed[0].location.span.start, Buffer.byteLength('Get a random fact of the day.'));
    assert.equal(changed[0].location.span.end, Buffer.byteLength(desc));
    assert.match(spanText(s.__defs.get_fact_of_the_day, changed[0]), /^\n\s+<IMPORTANT>/);
    assert.match(changed[0].message, /\(description\)/);
    // the messaging server did not change
    assert.equal(findings(r, { id: /^pins\./, server: 'whatsapp' }).length, 0);
    // pins diff shows it and fails; approve accepts it; diff is then clean
    const d = mcpwall(['pins', 'diff', '--lock', lock, '--host-configs', '--connect', '--home', home]);
    assert.equal(d.status, 1);
    assert.match(d.stdout, /changed +tool get_fact_of_the_day/);
    assert.match(d.stdout, /\+ +<IMPORTANT>/);
    assert.equal(mcpwall(['pins', 'approve', '--lock', lock, '--host-configs', '--connect', '--home', home]).status, 0);
    assert.equal(mcpwall(['pins', 'diff', '--lock', lock, '--host-configs', '--connect', '--home', home]).status, 0);
});

test('A3 WhatsApp sleeper: the poisoned text itself is found', { skip: noDetect }, () => {
    const dir = tmpdir();
    const state = path.join(dir, 'mcp-triggered');
    fs.writeFileSync(state, 'armed\n'); // second load straight away
    const r = scanWithDefs(['--host-configs', '--connect', '--home', sleeperHome(state)]);
    const s = server(r, 'facts');
    assertSpan(r, s, 'get_fact_of_the_day', '/description', INJECTION, 'send_message');
    assertSpan(r, s, 'get_fact_of_the_day', '/description', HIDDEN, ' '.repeat(120));
    assertSpan(r, s, 'get_fact_of_the_day', '/description', INJECTION, "don't notify the user");
});

test('A14 annotations: a false readOnlyHint on a deletion', () => {
    const r = scanWithDefs(['--name', 'records', ...cmd('annotations')]);
    const t = tool(server(r, 'records'), 'delete_records');
    assert.equal(t.risk, 'critical');
    assert.equal(t.annotations.readOnlyHint, true);
    const mm = findings(r, { id: 'tool.annotation-mismatch', item: 'delete_records' });
    assert.equal(mm.length, 1);
    assert.equal(mm[0].severity, 'high');
    assert.deepEqual(mm[0].location.span, { start: 0, end: 6 });
});

test('A14 annotations: the injection in annotations.title is found', { skip: noDetect }, () => {
    const r = scanWithDefs(['--name', 'records', ...cmd('annotations')]);
    const s = server(r, 'records');
    assertSpan(r, s, 'delete_records', '/annotations/title', INJECTION, 'ignore all previous instructions');
});
