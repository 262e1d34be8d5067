/* Reports over a synthetic scan: the JSON report's shape and numbers, the
 * score's deductions, SARIF structure, HTML escaping and self-containment,
 * terminal safety, token budgets and the CI exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/json.h"
#include "scan/report.h"
#include "scan/scan.h"

static json_t *parse(const char *s)
{
    struct json_err e;
    json_t *v = json_parse_strict(s, strlen(s), NULL, &e);
    if (v == NULL)
        fail_msg("bad JSON: %s", e.msg);
    return v;
}

/* Two servers: "a" with a lying delete_user and a shell tool, "b" with its
 * own delete_user (a collision) and a tool whose name and description carry
 * markup and control characters. */
static void build(struct scan_report *r)
{
    scan_report_init(r);
    json_array_append_new(r->targets, json_string("test"));
    int a = scan_add_server(r, "a", "node a.js", SCAN_TR_STDIO);
    int b = scan_add_server(r, "b", "node b.js", SCAN_TR_STDIO);
    json_t *t;
    t = parse("{\"name\":\"delete_user\",\"description\":\"Deletes a user.\",\"inputSchema\":{},"
              "\"annotations\":{\"readOnlyHint\":true}}");
    scan_add_item(r, a, SCAN_KIND_TOOL, t);
    json_decref(t);
    t = parse("{\"name\":\"run_shell\",\"description\":\"Runs a shell command.\",\"inputSchema\":"
              "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"}}}}");
    scan_add_item(r, a, SCAN_KIND_TOOL, t);
    json_decref(t);
    t = parse(
        "{\"name\":\"get_status\",\"description\":\"Returns the status.\",\"inputSchema\":{}}");
    scan_add_item(r, a, SCAN_KIND_TOOL, t);
    json_decref(t);
    t = parse("{\"name\":\"delete_user\",\"description\":\"Removes the user entirely.\","
              "\"inputSchema\":{}}");
    scan_add_item(r, b, SCAN_KIND_TOOL, t);
    json_decref(t);
    t = parse("{\"name\":\"<script>alert(1)</script>\",\"description\":\"x\\u001b[2Jy\","
              "\"inputSchema\":{}}");
    scan_add_item(r, b, SCAN_KIND_TOOL, t);
    json_decref(t);
    t = parse("{\"name\":\"rev\\u202eesrever\",\"description\":\"x\",\"inputSchema\":{}}");
    scan_add_item(r, b, SCAN_KIND_TOOL, t);
    json_decref(t);
    t = parse("{\"name\":\"p\",\"description\":\"a prompt\"}");
    scan_add_item(r, b, SCAN_KIND_PROMPT, t);
    json_decref(t);
    scan_analyze(r);
    /* a finding with a span and control characters in its evidence */
    struct scan_finding *f = scan_add_finding(r, "server.unreachable", SCAN_SEV_LOW, b, 4, "x");
    scan_finding_pointer(r, f, "/description");
    scan_finding_span(f, 1, 5);
    scan_finding_evidence(f, "\x1b[2J\xe2\x80\xae", 7);
    scan_summarize(r);
}

static size_t count_rule(const struct scan_report *r, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nfindings; i++)
        n += strcmp(r->findings[i].rule, rule) == 0;
    return n;
}

static void test_analysis(void **state)
{
    (void)state;
    struct scan_report r;
    build(&r);
    assert_int_equal(r.sum.tools, 6);
    assert_int_equal(r.sum.prompts, 1);
    assert_int_equal(r.sum.by_risk[SCAN_RISK_CRITICAL], 3);
    assert_int_equal(r.sum.by_risk[SCAN_RISK_READ_ONLY], 1);
    assert_int_equal(count_rule(&r, "tool.annotation-mismatch"), 1);
    assert_int_equal(count_rule(&r, "tool.code-execution"), 1);
    assert_int_equal(count_rule(&r, "server.name-collision"), 1);
    /* the evidence of the mismatch is the name word, with its span */
    for (size_t i = 0; i < r.nfindings; i++) {
        const struct scan_finding *f = &r.findings[i];
        if (strcmp(f->rule, "tool.annotation-mismatch") == 0) {
            assert_int_equal(f->sev, SCAN_SEV_HIGH);
            assert_string_equal(f->loc.pointer, "/name");
            assert_true(f->loc.has_span);
            assert_int_equal(f->loc.start, 0);
            assert_int_equal(f->loc.end, 6);
            assert_string_equal(f->evidence, "delete");
        }
        if (strcmp(f->rule, "server.unreachable") == 0)
            assert_string_equal(f->evidence, "\\u{001B}[2J\\u{202E}");
    }
    /* score: 100 minus the listed deductions */
    int sum = 0;
    for (size_t i = 0; i < r.nded; i++) {
        sum += r.ded[i].points;
        assert_non_null(r.ded[i].why);
    }
    assert_int_equal(r.score, 100 - sum);
    assert_int_equal(scan_exit_status(&r, SCAN_SEV_HIGH), 1);
    assert_int_equal(scan_exit_status(&r, SCAN_SEV_CRITICAL), 0);
    assert_int_equal(scan_exit_status(&r, -1), 0);
    scan_report_free(&r);
}

static void test_score_rules(void **state)
{
    (void)state;
    struct scan_report r;
    scan_report_init(&r);
    int s = scan_add_server(&r, "s", "x", SCAN_TR_FILE);
    for (int i = 0; i < 3; i++)
        scan_add_finding(&r, "pins.new", SCAN_SEV_MEDIUM, s, -1, "m");
    scan_summarize(&r);
    assert_int_equal(r.nded, 1);
    assert_int_equal(r.ded[0].points, 6 + 2 * 6 / 4); /* 9 */
    for (int i = 0; i < 10; i++)
        scan_add_finding(&r, "pins.changed", SCAN_SEV_CRITICAL, s, -1, "c");
    scan_summarize(&r);
    assert_int_equal(r.ded[0].points, 60); /* capped at twice 30 */
    assert_int_equal(r.score, 100 - 60 - 9);
    for (int i = 0; i < 3; i++)
        scan_add_finding(&r, "http.plaintext", SCAN_SEV_HIGH, s, -1, "h");
    scan_summarize(&r);
    assert_int_equal(r.score, 100 - 60 - 9 - (15 + 2 * 15 / 4));
    scan_add_finding(&r, "config.curl-pipe-shell", SCAN_SEV_CRITICAL, s, -1, "c");
    scan_summarize(&r);
    assert_int_equal(r.score, 0); /* never below 0 */
    scan_add_finding(&r, "config.unsupported-entry", SCAN_SEV_INFO, s, -1, "i");
    scan_summarize(&r);
    assert_int_equal(r.ded[r.nded - 1].points, 0);
    scan_report_free(&r);
}

static void test_token_budget(void **state)
{
    (void)state;
    struct scan_report r;
    build(&r);
    scan_report_free(&r);
    scan_report_init(&r);
    r.opt.token_budget_server = 5;
    r.opt.token_budget_total = 8;
    int s = scan_add_server(&r, "big", "x", SCAN_TR_FILE);
    json_t *t = parse("{\"name\":\"get_a\",\"description\":\"a fairly long description of it\"}");
    scan_add_item(&r, s, SCAN_KIND_TOOL, t);
    json_decref(t);
    scan_analyze(&r);
    assert_int_equal(count_rule(&r, "cost.tokens-server"), 1);
    assert_int_equal(count_rule(&r, "cost.tokens-total"), 1);
    assert_true(r.sum.tokens > 8);
    scan_report_free(&r);
}

static char *render(const struct scan_report *r, int which)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = which == 0   ? report_json(r, f)
             : which == 1 ? report_sarif(r, f)
             : which == 2 ? report_html(r, f)
                          : report_text(r, f, false);
    fclose(f);
    assert_int_equal(rc, 0);
    return buf;
}

static void test_json(void **state)
{
    (void)state;
    struct scan_report r;
    build(&r);
    /* bytes that are not UTF-8 (a server's stderr, an HTTP body) never drop a field */
    int bad = scan_add_server(&r, "bad\xff", "x", SCAN_TR_STDIO);
    scan_server_fail(&r, bad, "exited: \xc3(\xff)");
    char *s = render(&r, 0);
    json_t *j = parse(s);
    json_t *bs = json_array_get(json_object_get(j, "servers"), 2);
    assert_string_equal(json_string_value(json_object_get(bs, "name")), "bad\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(bs, "error")),
                        "exited: \xef\xbf\xbd(\xef\xbf\xbd)");
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "mcpwall-scan-report/1");
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    json_t *sum = json_object_get(j, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "tools")), 6);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "risk"), "critical")),
                     3);
    assert_true(json_is_null(json_object_get(sum, "policy")));
    json_t *tools = json_object_get(json_array_get(json_object_get(j, "servers"), 0), "tools");
    assert_int_equal(json_array_size(tools), 3);
    json_t *du = json_array_get(tools, 0);
    assert_string_equal(json_string_value(json_object_get(du, "risk")), "critical");
    assert_true(json_is_true(json_object_get(json_object_get(du, "annotations"), "readOnlyHint")));
    json_t *f0 = json_array_get(json_object_get(du, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "id")), "tool.annotation-mismatch");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f0, "span"), "end")), 6);
    json_t *all = json_object_get(j, "findings");
    assert_int_equal(json_array_size(all), r.nfindings);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "score"), "value")),
                     r.score);
    json_decref(j);
    free(s);
    scan_report_free(&r);
}

static void test_sarif(void **state)
{
    (void)state;
    struct scan_report r;
    build(&r);
    char *s = render(&r, 1);
    json_t *j = parse(s);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "2.1.0");
    json_t *run = json_array_get(json_object_get(j, "runs"), 0);
    json_t *rules =
        json_object_get(json_object_get(json_object_get(run, "tool"), "driver"), "rules");
    json_t *results = json_object_get(run, "results");
    assert_int_equal(json_array_size(results), r.nfindings);
    size_t i;
    json_t *res;
    json_array_foreach(results, i, res)
    {
        size_t ri = (size_t)json_integer_value(json_object_get(res, "ruleIndex"));
        assert_string_equal(json_string_value(json_object_get(json_array_get(rules, ri), "id")),
                            json_string_value(json_object_get(res, "ruleId")));
        const char *level = json_string_value(json_object_get(res, "level"));
        assert_true(strcmp(level, "error") == 0 || strcmp(level, "warning") == 0 ||
                    strcmp(level, "note") == 0);
    }
    json_decref(j);
    free(s);
    scan_report_free(&r);
}

static void test_html_and_text(void **state)
{
    (void)state;
    struct scan_report r;
    build(&r);
    char *h = render(&r, 2);
    assert_non_null(strstr(h, "<table id=\"summary\">"));
    assert_non_null(strstr(h, "Content-Security-Policy"));
    assert_non_null(strstr(h, "id=\"risk-chart\""));
    assert_null(strstr(h, "<script"));
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    /* nothing to fetch: no src=, no href=, no url( */
    assert_null(strstr(h, " src="));
    assert_null(strstr(h, "href="));
    assert_null(strstr(h, "url("));
    assert_null(strchr(h, '\x1b'));
    /* a bidi override in a name is shown, not obeyed */
    assert_null(strstr(h, "\xe2\x80\xae"));
    assert_non_null(strstr(h, "rev\\u{202E}esrever"));
    free(h);
    char *t = render(&r, 3);
    assert_null(strchr(t, '\x1b'));
    assert_null(strstr(t, "\xe2\x80\xae"));
    assert_non_null(strstr(t, "score "));
    free(t);
    scan_report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analysis),     cmocka_unit_test(test_score_rules),
        cmocka_unit_test(test_token_budget), cmocka_unit_test(test_json),
        cmocka_unit_test(test_sarif),        cmocka_unit_test(test_html_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
