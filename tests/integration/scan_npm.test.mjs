// `mcpwall scan` against the reference servers from npm (pinned in
// tests/package.json): inventory, risk classes, the scanner's own findings
// with their evidence spans, token totals, pins and CI exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MCP, NODE, SRC, mcpwall, scanJson, server, tool, findings, spanText, tmpdir } from './lib/scan.mjs';

const EVERYTHING = [NODE, path.join(MCP, 'server-everything/dist/index.js'), 'stdio'];
const FILESYSTEM = [NODE, path.join(MCP, 'server-filesystem/dist/index.js')];
const MEMORY = [NODE, path.join(MCP, 'server-memory/dist/index.js')];

// Detector findings (guard/detect), when the build has the detectors.
const DETECTOR = /^(inject|hidden|secret|pii|unicode|ansi)\./;
const detected = (r) => r.findings.filter((f) => DETECTOR.test(f.id));

// Scanner findings (not the detectors'), as "rule item severity".
const own = (r) => r.findings.filter((f) => !DETECTOR.test(f.id))
    .map((f) => `${f.id} ${f.location.item} ${f.severity}`).sort();

test('server-everything: inventory, classes, the lying annotations', () => {
    const r = scanJson(['--', ...EVERYTHING]);
    const s = server(r, 'server-everything');
    assert.equal(s.error, null);
    assert.equal(s.transport, 'stdio');
    assert.equal(s.server_info.name, 'mcp-servers/everything');
    assert.equal(s.tools.length, 13);
    assert.equal(s.prompts.length, 4);
    assert.equal(s.resources.length, 7);
    assert.equal(s.resource_templates.length, 2);
    assert.deepEqual(r.summary.risk, { 'read-only': 7, 'side-effect': 5, critical: 1 });

    // get-env says readOnlyHint but hands environment variables (secrets) to the model
    const env = tool(s, 'get-env');
    assert.equal(env.risk, 'critical');
    assert.deepEqual(env.categories, ['credentials']);
    assert.equal(env.annotations.readOnlyHint, true);
    assert.equal(tool(s, 'echo').risk, 'read-only');
    assert.equal(tool(s, 'gzip-file-as-resource').risk, 'side-effect');
    // readOnlyHint: false raises a tool the name alone would call read-only
    assert.equal(tool(s, 'simulate-research-query').risk, 'side-effect');

    assert.deepEqual(own(r), [
        'tool.annotation-mismatch get-env high',
        'tool.annotation-mismatch trigger-long-running-operation medium',
        'tool.credential-exposure get-env medium',
    ]);
    const mm = findings(r, { id: 'tool.annotation-mismatch', item: 'get-env' })[0];
    assert.equal(mm.location.pointer, '/name');
    assert.deepEqual(mm.location.span, { start: 4, end: 7 });
    assert.equal(spanText({ name: 'get-env' }, mm), 'env');
    assert.equal(mm.evidence, 'env');
    assert.match(mm.fix, /annotations/);
    // every tool has a hash and a token estimate; the server's total is their sum
    let sum = 0;
    for (const t of s.tools) {
        assert.match(t.sha256, /^[0-9a-f]{64}$/);
        assert.ok(t.tokens > 10, `${t.name} tokens ${t.tokens}`);
        sum += t.tokens;
    }
    assert.equal(s.tokens, sum);
    assert.equal(r.summary.tokens, sum);
    // the score deducts exactly what it lists
    assert.equal(r.score.value, 100 - r.score.deductions.reduce((a, d) => a + d.points, 0));
    // the reference server's texts are not poisoning: nothing above low from the detectors
    if (r.detectors)
        assert.deepEqual(detected(r).filter((f) => f.severity !== 'low' && f.severity !== 'info'), []);
});

test('server-filesystem: writes are destructive by its own annotations', () => {
    const dir = tmpdir();
    const r = scanJson(['--', ...FILESYSTEM, dir]);
    const s = server(r, 'server-filesystem');
    assert.equal(s.tools.length, 14);
    for (const name of ['write_file', 'edit_file', 'move_file']) {
        const t = tool(s, name);
        assert.equal(t.risk, 'critical', name);
        assert.deepEqual(t.categories, ['deletion'], name);
        assert.ok(t.reasons.some((x) => /destructiveHint is true/.test(x)), name);
    }
    assert.equal(tool(s, 'create_directory').risk, 'side-effect');
    for (const name of ['read_text_file', 'list_directory', 'search_files', 'get_file_info', 'directory_tree'])
        assert.equal(tool(s, name).risk, 'read-only', name);
    assert.deepEqual(r.summary.risk, { 'read-only': 10, 'side-effect': 1, critical: 3 });
    assert.deepEqual(own(r), []);
    assert.deepEqual(detected(r), []);
});

test('server-memory: three deletions', () => {
    const r = scanJson(['--', ...MEMORY]);
    const s = server(r, 'server-memory');
    assert.equal(s.tools.length, 9);
    assert.deepEqual(s.tools.filter((t) => t.risk === 'critical').map((t) => t.name).sort(),
        ['delete_entities', 'delete_observations', 'delete_relations']);
    assert.deepEqual(r.summary.risk, { 'read-only': 3, 'side-effect': 3, critical: 3 });
    assert.deepEqual(own(r), []);
    assert.deepEqual(detected(r), []);
});

test('exit status for CI and the lockfile round trip', () => {
    // everything has a high finding: --fail-on high fails, critical passes
    assert.equal(mcpwall(['scan', '--fail-on', 'high', '--', ...EVERYTHING]).status, 1);
    assert.equal(mcpwall(['scan', '--fail-on', 'critical', '--', ...EVERYTHING]).status, 0);
    assert.equal(mcpwall(['scan', '--fail-on', 'bogus', '--', ...EVERYTHING]).status, 2);
    assert.equal(mcpwall(['scan', '--', NODE, '-e', 'process.exit(3)']).status, 0);

    const dir = tmpdir();
    const lock = path.join(dir, 'mcpwall.lock');
    const w = mcpwall(['scan', '--pin', '--lock', lock, '--', ...MEMORY]);
    assert.equal(w.status, 0, w.stderr);
    const l = JSON.parse(fs.readFileSync(lock, 'utf8'));
    assert.equal(l.version, 1);
    assert.equal(Object.keys(l.servers['server-memory'].tools).length, 9);
    // unchanged: no pin findings, the server is marked pinned
    const r = scanJson(['--lock', lock, '--', ...MEMORY]);
    assert.equal(findings(r, { id: /^pins\./ }).length, 0);
    assert.equal(server(r, 'server-memory').pinned, true);
    // the same lock does not know another server
    const r2 = scanJson(['--lock', lock, '--', ...EVERYTHING]);
    assert.equal(findings(r2, { id: 'pins.new' }).length, 1);
    assert.equal(mcpwall(['pins', 'diff', '--lock', lock, '--', ...MEMORY]).status, 0);
});

test('a server that fails to start is reported, not hidden', () => {
    const r = scanJson(['--', NODE, '-e', 'console.error("boom: missing API key"); process.exit(3)']);
    const f = findings(r, { id: 'server.unreachable' });
    assert.equal(f.length, 1);
    assert.match(f[0].message, /exit status 3/);
    assert.match(f[0].message, /boom: missing API key/);
    assert.equal(r.summary.servers_failed, 1);
});

test('--policy: what a gateway configuration leaves open', () => {
    const deny = path.join(SRC, 'tests/cases/scan/policy/deny-deletes.yaml');
    const r = scanJson(['--policy', deny, '--', ...MEMORY]);
    const p = r.summary.policy;
    assert.equal(p.file, deny);
    assert.equal(p.missing_permissions, 3);          // create_entities, create_relations, add_observations
    assert.equal(p.audited, 9);
    assert.equal(p.audit_coverage, 1);
    assert.equal(p.with_approval, 0);
    assert.equal(p.critical_with_approval, 3);       // the deletions are denied
    assert.equal(p.critical_approval_coverage, 1);
    assert.match(p.notes.join('\n'), /no approval rules/);
    const open = findings(r, { id: 'policy.open-to-everyone' });
    assert.deepEqual(open.map((f) => f.location.item).sort(), ['add_observations', 'create_entities', 'create_relations']);
    for (const f of open) {
        assert.equal(f.location.file, deny);
        assert.equal(f.location.line, 6);            // the default that allows them
    }
    assert.equal(findings(r, { id: 'policy.critical-without-approval' }).length, 0);

    const all = path.join(SRC, 'tests/cases/scan/policy/open.yaml');
    const r2 = scanJson(['--policy', all, '--', ...MEMORY]);
    assert.equal(r2.summary.policy.audit_coverage, 0);
    assert.equal(r2.summary.policy.critical_with_approval, 0);
    assert.deepEqual(findings(r2, { id: 'policy.critical-without-approval' }).map((f) => f.location.item).sort(),
        ['delete_entities', 'delete_observations', 'delete_relations']);
    const na = findings(r2, { id: 'policy.not-audited' });
    assert.equal(na.length, 1);
    assert.equal(na[0].location.line, 4);            // audit.enabled: false
    // an invalid configuration is refused with its errors
    const bad = mcpwall(['scan', '--policy', path.join(SRC, 'tests/cases/scan/classify.jsonl'), '--', ...MEMORY]);
    assert.equal(bad.status, 3);
});
