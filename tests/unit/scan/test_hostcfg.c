/* Host configs: every file under tests/cases/scan/hostcfg/home (one per
 * host) is found by discovery, parsed with positions, and gives exactly the
 * findings of tests/cases/scan/hostcfg-expect.jsonl (rule, severity, server,
 * pointer, line). Plus JSONC, version order, the known-bad list and the
 * variable expansion of --connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/hostcfg.h"
#include "scan/scan.h"
#include "testutil.h"

static void test_discover_and_findings(void **state)
{
    (void)state;
    char home[4096];
    snprintf(home, sizeof(home), "%s", tu_src_path("tests/cases/scan/hostcfg/home"));
    struct scan_report r;
    scan_report_init(&r);
    size_t found = hostcfg_discover(&r, home);
    assert_int_equal(found, 6);
    assert_int_equal(json_array_size(r.configs), 6);
    assert_int_equal(r.nservers, 22);
    scan_resolve_positions(&r);

    json_t *want = tu_load_cases("tests/cases/scan/hostcfg-expect.jsonl");
    size_t homelen = strlen(home);
    bool *matched = calloc(r.nfindings + 1, sizeof(bool));
    size_t i, bad = 0;
    json_t *w;
    json_array_foreach(want, i, w)
    {
        bool hit = false;
        for (size_t k = 0; k < r.nfindings && !hit; k++) {
            const struct scan_finding *f = &r.findings[k];
            if (matched[k] || f->loc.pos.file == NULL || strlen(f->loc.pos.file) <= homelen + 1)
                continue;
            const char *rel = f->loc.pos.file + homelen + 1;
            hit = strcmp(rel, json_string_value(json_object_get(w, "file"))) == 0 &&
                  strcmp(f->rule, json_string_value(json_object_get(w, "rule"))) == 0 &&
                  strcmp(scan_sev_name(f->sev),
                         json_string_value(json_object_get(w, "severity"))) == 0 &&
                  strcmp(r.servers[f->loc.server].name,
                         json_string_value(json_object_get(w, "server"))) == 0 &&
                  f->loc.pointer != NULL &&
                  strcmp(f->loc.pointer, json_string_value(json_object_get(w, "pointer"))) == 0 &&
                  (json_int_t)f->loc.pos.line == json_integer_value(json_object_get(w, "line"));
            if (hit)
                matched[k] = true;
        }
        if (!hit) {
            char *s = json_dumps(w, JSON_COMPACT);
            fprintf(stderr, "missing finding: %s\n", s);
            free(s);
            bad++;
        }
    }
    for (size_t k = 0; k < r.nfindings; k++) {
        if (!matched[k]) {
            fprintf(stderr, "unexpected finding: %s %s at %s:%u\n", r.findings[k].rule,
                    r.findings[k].message,
                    r.findings[k].loc.pos.file ? r.findings[k].loc.pos.file : "?",
                    r.findings[k].loc.pos.line);
            bad++;
        }
    }
    /* the secret itself is never shown */
    for (size_t k = 0; k < r.nfindings; k++) {
        const char *ev = r.findings[k].evidence;
        assert_null(ev != NULL ? strstr(ev, "R4nd0mLook1ng") : NULL);
        assert_null(ev != NULL ? strstr(ev, "9f8e7d6c5b4a") : NULL);
        assert_null(strstr(r.findings[k].message, "R4nd0mLook1ng"));
    }
    free(matched);
    json_decref(want);
    scan_report_free(&r);
    assert_int_equal(bad, 0);
}

static void test_jsonc(void **state)
{
    (void)state;
    char s[] = "{ // c\n \"a\": \"x // not a comment\", /* b\n */ \"b\": [1, 2,], }";
    size_t n = strlen(s);
    hostcfg_strip_jsonc(s, n);
    assert_int_equal(strlen(s), n); /* offsets kept */
    json_error_t je;
    json_t *v = json_loads(s, 0, &je);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "a")), "x // not a comment");
    assert_int_equal(json_array_size(json_object_get(v, "b")), 2);
    json_decref(v);
    /* newlines survive, so line numbers do */
    assert_non_null(strchr(s, '\n'));
}

static void test_versions(void **state)
{
    (void)state;
    assert_true(hostcfg_version_cmp("1.0.16", "1.0.18") < 0);
    assert_true(hostcfg_version_cmp("1.0.18", "1.0.18") == 0);
    assert_true(hostcfg_version_cmp("1.0.9", "1.0.10") < 0);
    assert_true(hostcfg_version_cmp("0.1.16", "0.1.15") > 0);
    assert_true(hostcfg_version_cmp("2025.7.1", "2025.12.18") < 0);
    assert_true(hostcfg_version_cmp("1.0.0-beta", "1.0.0") < 0);
    assert_true(hostcfg_version_cmp("1.0", "1.0.1") < 0);
    assert_true(hostcfg_version_cmp("1.0.1", "1.0") > 0);

    json_t *a = hostcfg_known_bad("npm", "postmark-mcp", "1.0.16");
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);
    assert_null(hostcfg_known_bad("npm", "postmark-mcp", "1.0.15"));
    assert_null(hostcfg_known_bad("npm", "postmark-mcp", "1.0.19"));
    a = hostcfg_known_bad("npm", "mcp-remote", "0.1.15");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "id")),
                        "CVE-2025-6514");
    json_decref(a);
    assert_null(hostcfg_known_bad("npm", "mcp-remote", "0.1.16"));
    assert_null(hostcfg_known_bad("npm", "mcp-remote", "0.0.4"));
    a = hostcfg_known_bad("pypi", "MCP_Server.Git", "2025.9.25"); /* PEP 503 names */
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    assert_null(hostcfg_known_bad("npm", "mcp-server-git", "2025.1.1")); /* other ecosystem */
    a = hostcfg_known_bad("npm", "@modelcontextprotocol/server-filesystem", "2025.3.28");
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);
    assert_null(hostcfg_known_bad("npm", "@modelcontextprotocol/server-filesystem", "2025.7.1"));
}

static void test_launch(void **state)
{
    (void)state;
    setenv("MW_TEST_TOKEN", "t0k", 1);
    unsetenv("MW_TEST_UNSET");
    struct scan_server s;
    memset(&s, 0, sizeof(s));
    s.cfg = json_pack("{s:s, s:[s,s,s], s:{s:s, s:s}}", "command", "node", "args", "srv.js",
                      "--token=${env:MW_TEST_TOKEN}", "${MW_TEST_UNSET:-dflt}", "env", "A",
                      "$MW_TEST_TOKEN", "B", "plain");
    struct hostcfg_launch l;
    assert_int_equal(hostcfg_launch_of(&s, &l), 0);
    assert_string_equal(l.argv[0], "node");
    assert_string_equal(l.argv[2], "--token=t0k");
    assert_string_equal(l.argv[3], "dflt");
    assert_null(l.argv[4]);
    assert_string_equal(l.env[0], "A=t0k");
    assert_string_equal(l.env[1], "B=plain");
    hostcfg_launch_free(&l);
    json_decref(s.cfg);

    s.cfg = json_pack("{s:s, s:{s:s}}", "url", "https://x.example/mcp", "headers", "Authorization",
                      "Bearer ${input:token}");
    assert_int_equal(hostcfg_launch_of(&s, &l), -1);
    assert_non_null(strstr(l.why_not, "input:token"));
    hostcfg_launch_free(&l);
    json_decref(s.cfg);

    s.cfg = json_pack("{s:s, s:[s]}", "command", "x", "args", "${MW_TEST_UNSET}");
    assert_int_equal(hostcfg_launch_of(&s, &l), -1);
    assert_non_null(strstr(l.why_not, "MW_TEST_UNSET is not set"));
    hostcfg_launch_free(&l);
    json_decref(s.cfg);
}

static void test_bad_files(void **state)
{
    (void)state;
    struct scan_report r;
    scan_report_init(&r);
    char err[300];
    const char *txt = "{\"mcpServers\": {\"a\": {\"command\": 1}}\n, }";
    /* JSONC trailing commas are tolerated; a number as command is not a command */
    assert_int_equal(hostcfg_load_mem(&r, "x/mcp.json", NULL, txt, strlen(txt), err, sizeof(err)),
                     0);
    assert_int_equal(r.nservers, 1);
    assert_string_equal(r.findings[0].rule, "config.unsupported-entry");
    const char *broken = "{\"mcpServers\": {\"a\": }";
    assert_int_equal(
        hostcfg_load_mem(&r, "x/mcp.json", NULL, broken, strlen(broken), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "x/mcp.json:1:"));
    scan_report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discover_and_findings),
        cmocka_unit_test(test_jsonc),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_launch),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
