// Report formats: SARIF 2.1.0 validated against the official OASIS schema
// (the copy shipped in @microsoft/jest-sarif, pinned in tests/package.json),
// the JSON report against docs/scan-report.schema.json, and the HTML report
// opened in headless Chromium: its summary table is read back from the DOM
// and a screenshot is kept in meson-logs/ as a CI artifact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { BUILD, MCP, NM, NODE, SERVERS, SRC, mcpwall, scanJson, tmpdir } from './lib/scan.mjs';

const require = createRequire(path.join(NM, 'package.json'));
const AjvDraft04 = require('ajv-draft-04');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const HOME = path.join(SRC, 'tests/cases/scan/hostcfg/home');
const OPENAPI = path.join(SRC, 'tests/cases/scan/openapi/shop.yaml');
const EVERYTHING = ['--', NODE, path.join(MCP, 'server-everything/dist/index.js'), 'stdio'];

function sarifValidator() {
    const schema = JSON.parse(fs.readFileSync(
        path.join(NM, '@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
    // the schema's "language" pattern is not valid with the u flag (a stray ']')
    const ajv = new AjvDraft04({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats(ajv);
    return ajv.compile(schema);
}

function sarif(args) {
    const r = mcpwall(['scan', '-f', 'sarif', ...args]);
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    return JSON.parse(r.stdout);
}

test('SARIF validates against the SARIF 2.1.0 schema', () => {
    const validate = sarifValidator();
    const cases = {
        'host configs': ['--host-configs', '--home', HOME],
        openapi: [OPENAPI],
        'stdio server': EVERYTHING,
        'poisoned server': ['--', NODE, path.join(SERVERS, 'poison.mjs'), 'add'],
    };
    for (const [name, args] of Object.entries(cases)) {
        const log = sarif(args);
        const ok = validate(log);
        assert.ok(ok, `${name}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`);
        assert.equal(log.version, '2.1.0');
        assert.equal(log.runs.length, 1);
    }
    // a schema-invalid log is refused, so the check above can fail
    const bad = sarif(['--host-configs', '--home', HOME]);
    bad.runs[0].results[0].level = 'severe';
    assert.equal(validate(bad), false);
});

test('SARIF findings point to the config file and line', () => {
    const log = sarif(['--host-configs', '--home', HOME]);
    const run = log.runs[0];
    const res = run.results.filter((r) => r.ruleId === 'config.inline-secret' &&
        r.locations?.[0]?.physicalLocation?.artifactLocation?.uri?.endsWith('claude_desktop_config.json'));
    assert.equal(res.length, 1);
    const loc = res[0].locations[0];
    assert.match(loc.physicalLocation.artifactLocation.uri, /^file:\/\/\//);
    assert.equal(loc.physicalLocation.region.startLine, 11);
    assert.equal(loc.logicalLocations[0].name, 'github');
    assert.equal(res[0].level, 'error');
    assert.equal(run.tool.driver.rules[res[0].ruleIndex].id, 'config.inline-secret');
    assert.equal(run.tool.driver.rules[res[0].ruleIndex].properties['security-severity'], '8.0');
    // "Application Support" style paths are percent-encoded
    const enc = sarif([OPENAPI]).runs[0].results.find((r) => r.ruleId === 'openapi.no-auth');
    assert.equal(enc.locations[0].physicalLocation.region.startLine, 38);
});

test('the JSON report follows docs/scan-report.schema.json', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(SRC, 'docs/scan-report.schema.json'), 'utf8'));
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    for (const args of [['--host-configs', '--home', HOME], [OPENAPI], EVERYTHING,
        ['--policy', path.join(SRC, 'tests/cases/scan/policy/open.yaml'), ...EVERYTHING]]) {
        const r = scanJson(args);
        assert.ok(validate(r), `${args.join(' ')}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`);
    }
    const r = scanJson(EVERYTHING);
    r.servers[0].tools[0].risk = 'harmless';
    assert.equal(validate(r), false);
});

function chromium(args) {
    const ud = tmpdir('mcpwall-chromium-');
    return spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--user-data-dir=${ud}`, ...args], { encoding: 'utf8', timeout: 120000, maxBuffer: 64 << 20 });
}

test('the HTML report opens in Chromium with its summary table', () => {
    const dir = tmpdir();
    const html = path.join(dir, 'report.html');
    const r = mcpwall(['scan', '-f', 'html', '-o', html, '--host-configs', '--home', HOME, ...EVERYTHING]);
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    const text = fs.readFileSync(html, 'utf8');
    // self-contained: nothing is fetched
    assert.doesNotMatch(text, /\s(src|href)=|url\(|@import|<script|<link/i);
    assert.match(text, /Content-Security-Policy" content="default-src 'none'/);

    const dom = chromium(['--dump-dom', `file://${html}`]);
    assert.equal(dom.status, 0, dom.stderr);
    const rows = {};
    for (const m of dom.stdout.matchAll(/<tr id="sum-([a-z-]+)"><th scope="row">([^<]*)<\/th><td class="n">([^<]*)<\/td><\/tr>/g))
        rows[m[1]] = m[3];
    const json = scanJson(['--host-configs', '--home', HOME, ...EVERYTHING]);
    assert.equal(rows.tools, String(json.summary.tools));
    assert.equal(rows['read-only'], String(json.summary.risk['read-only']));
    assert.equal(rows['side-effect'], String(json.summary.risk['side-effect']));
    assert.equal(rows.critical, String(json.summary.risk.critical));
    assert.equal(rows['missing-permissions'], 'not evaluated (no --policy)');
    assert.ok('audit-coverage' in rows && 'approval-coverage' in rows);
    assert.equal(rows.score, `${json.score.value} / 100`);
    assert.match(dom.stdout, /<svg id="risk-chart"/);
    assert.match(dom.stdout, /<h3 id="sev-critical">/);

    // screenshot for the CI artifacts
    const shot = path.join(BUILD, 'meson-logs', 'scan-report.png');
    const s = chromium(['--hide-scrollbars', '--window-size=1280,2400', `--screenshot=${shot}`, `file://${html}`]);
    assert.equal(s.status, 0, s.stderr);
    const png = fs.readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.length > 20000, `screenshot of ${png.length} bytes`);
});

test('text report: no colour when not a tty, colour on request', () => {
    const plain = mcpwall(['scan', ...EVERYTHING]);
    assert.doesNotMatch(plain.stdout, /\x1b/);
    assert.match(plain.stdout, /^mcpwall scan: 1 server, 13 tools/);
    assert.match(plain.stdout, /score \d+\/100/);
    const col = mcpwall(['scan', '--color', ...EVERYTHING]);
    assert.match(col.stdout, /\x1b\[1m/);
});
