/* test_redact.c - span redaction and the result guard.
 *
 * Guard cases (tests/cases/detect/guard.jsonl): {"name", "policy" (the
 * `results:` section as JSON, optional), "method", "request", "payload",
 * "verdict", "reason"?, "message_contains"?, "checks": [{"pointer", one of
 * "equals", "equals_json", "contains", "not_contains", "starts_with",
 * "absent", "valid_utf8", "max_len"}], "events": [{"rule", "action",
 * "pointer"?}], "no_events": [rule ids]}.
 * Config cases (guard_config.jsonl): {"name", "config" (YAML), "errors":
 * [substrings expected in order among the reported errors]}.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/redact.h"
#include "proto/json.h"
#include "testutil.h"
#include "util/utf8.h"

/* ------------------------------------------------------------ redaction */

static char *apply(const char *text, struct redact_span *sp, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(redact_apply(text, strlen(text), sp, n, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    char *r = strdup(buf_head(&b));
    buf_free(&b);
    return r;
}

static void test_redact_basic(void **state)
{
    (void)state;
    struct redact_span sp[] = {{6, 11, "[X]"}, {0, 5, NULL}};
    char *r = apply("hello world!", sp, 2);
    assert_string_equal(r, " [X]!");
    free(r);
}

static void test_redact_overlap_merges(void **state)
{
    (void)state;
    struct redact_span sp[] = {{2, 6, "[A]"}, {4, 9, "[B]"}, {9, 10, NULL}};
    char *r = apply("0123456789ab", sp, 3);
    assert_string_equal(r, "01[A]ab");
    free(r);
}

static void test_redact_utf8_boundaries(void **state)
{
    (void)state;
    /* "aé中b": spans that start and end inside multibyte sequences widen */
    const char *t = "a\xc3\xa9\xe4\xb8\xad" "b";
    struct redact_span sp[] = {{2, 4, "#"}};
    char *r = apply(t, sp, 1);
    assert_string_equal(r, "a#b");
    assert_int_equal(utf8_validate(r, strlen(r), NULL), UTF8_OK);
    free(r);
    assert_int_equal(redact_utf8_cut(t, strlen(t), 2), 1);
    assert_int_equal(redact_utf8_cut(t, strlen(t), 4), 3);
    assert_int_equal(redact_utf8_cut(t, strlen(t), 99), strlen(t));
}

static void test_redact_clips_and_budget(void **state)
{
    (void)state;
    struct redact_span sp[] = {{3, 50, "[Z]"}};
    char *r = apply("abcdef", sp, 1);
    assert_string_equal(r, "abc[Z]");
    free(r);
    struct buf b;
    buf_init(&b, 4); /* too small: must fail, not overflow */
    struct redact_span sp2[] = {{0, 1, "[LONG MARKER]"}};
    assert_int_equal(redact_apply("abcdef", 6, sp2, 1, &b), -1);
    buf_free(&b);
}

static void test_redact_findings(void **state)
{
    (void)state;
    const struct detect_set *ds = detect_set_shared();
    const char *t = "key AKIA2E0A8F3B244C9986 and mail jo@corp-mail.net";
    struct detect_list l;
    detect_list_init(&l, 0);
    assert_int_equal(detect_scan_text(ds, DETECT_CTX_RESULT, t, strlen(t), NULL, &l), 0);
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(redact_findings(t, strlen(t), l.v, l.n, &b), 0);
    buf_cstr(&b);
    assert_string_equal(buf_head(&b),
                        "key [REDACTED:secret.aws_access_key_id] and mail [REDACTED:pii.email]");
    buf_free(&b);
    detect_list_free(&l);
}

/* --------------------------------------------------------- guard cases */

static size_t failures;

static void failf(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(const char *name, const char *fmt, ...)
{
    va_list ap;
    char msg[600];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_message("  case \"%s\": %s\n", name, msg);
    failures++;
}

/* RFC 6901 lookup (tests only). */
static json_t *ptr_get(json_t *root, const char *ptr)
{
    json_t *cur = root;
    const char *p = ptr;
    while (*p == '/' && cur != NULL) {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p != '\0' && *p != '/' && n < sizeof(tok) - 1) {
            if (*p == '~' && p[1] == '1') {
                tok[n++] = '/';
                p += 2;
            } else if (*p == '~' && p[1] == '0') {
                tok[n++] = '~';
                p += 2;
            } else {
                tok[n++] = *p++;
            }
        }
        tok[n] = '\0';
        if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            cur = *end == '\0' ? json_array_get(cur, idx) : NULL;
        } else {
            cur = json_object_get(cur, tok);
        }
    }
    return cur;
}

static struct result_guard *compile_policy(const json_t *c)
{
    json_t *pol = json_object_get(c, "policy");
    if (pol == NULL)
        return result_guard_compile(NULL, NULL, NULL);
    json_t *wrap = json_pack("{s:O}", "results", pol);
    char *txt = json_dumps(wrap, JSON_COMPACT);
    json_decref(wrap);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("t.json", txt, strlen(txt), true, &e);
    free(txt);
    assert_non_null(doc);
    struct result_guard *g =
        result_guard_compile(doc, json_object_get(doc->root, "results"), &e);
    if (g == NULL)
        cfg_errors_print(&e, stderr);
    cfg_errors_free(&e);
    cfg_doc_free(doc);
    return g;
}

static void check_guard_case(const json_t *c)
{
    const char *name = TU_CASE_NAME(c);
    struct result_guard *g = compile_policy(c);
    assert_non_null(g);
    json_t *payload = json_deep_copy(json_object_get(c, "payload"));
    const char *method = json_string_value(json_object_get(c, "method"));
    enum detect_payload kind = method != NULL
                                   ? detect_payload_of(method, json_is_true(json_object_get(c, "request")))
                                   : DETECT_P_ERROR;
    struct result_guard_ctx ctx = {"srv", "weather"};
    struct result_guard_report rep;
    size_t before = failures;
    assert_int_equal(result_guard_apply(g, payload, kind, &ctx, &rep), 0);
    const char *want = json_string_value(json_object_get(c, "verdict"));
    if (strcmp(want, result_guard_verdict_name(rep.verdict)) != 0)
        failf(name, "verdict %s, expected %s (%s)", result_guard_verdict_name(rep.verdict), want,
              rep.message);
    const char *reason = json_string_value(json_object_get(c, "reason"));
    if (reason != NULL && (rep.reason == NULL || strcmp(reason, rep.reason) != 0))
        failf(name, "reason %s, expected %s", rep.reason != NULL ? rep.reason : "(none)", reason);
    const char *mc = json_string_value(json_object_get(c, "message_contains"));
    if (mc != NULL && strstr(rep.message, mc) == NULL)
        failf(name, "message \"%s\" lacks \"%s\"", rep.message, mc);
    if (rep.verdict == RG_PASS && !json_equal(payload, json_object_get(c, "payload")))
        failf(name, "a passing payload was changed");
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(c, "checks"), i, k) {
        const char *ptr = json_string_value(json_object_get(k, "pointer"));
        json_t *v = ptr_get(payload, ptr);
        const char *s = json_string_value(v);
        const char *op;
        if (json_is_true(json_object_get(k, "absent"))) {
            if (v != NULL)
                failf(name, "%s should be absent", ptr);
            continue;
        }
        if (v == NULL) {
            failf(name, "%s is missing", ptr);
            continue;
        }
        if ((op = json_string_value(json_object_get(k, "equals"))) != NULL &&
            (s == NULL || strcmp(s, op) != 0))
            failf(name, "%s is \"%s\", expected \"%s\"", ptr, s != NULL ? s : "?", op);
        if (json_object_get(k, "equals_json") != NULL &&
            !json_equal(v, json_object_get(k, "equals_json")))
            failf(name, "%s changed", ptr);
        if ((op = json_string_value(json_object_get(k, "contains"))) != NULL &&
            (s == NULL || strstr(s, op) == NULL))
            failf(name, "%s = \"%s\" lacks \"%s\"", ptr, s != NULL ? s : "?", op);
        if ((op = json_string_value(json_object_get(k, "not_contains"))) != NULL && s != NULL &&
            strstr(s, op) != NULL)
            failf(name, "%s still contains \"%s\"", ptr, op);
        if ((op = json_string_value(json_object_get(k, "starts_with"))) != NULL &&
            (s == NULL || strncmp(s, op, strlen(op)) != 0))
            failf(name, "%s = \"%.120s\" does not start with \"%s\"", ptr, s != NULL ? s : "?", op);
        if (json_is_true(json_object_get(k, "valid_utf8")) &&
            utf8_validate(s, json_string_length(v), NULL) != UTF8_OK)
            failf(name, "%s is not valid UTF-8", ptr);
        json_t *ml = json_object_get(k, "max_len");
        if (ml != NULL && json_string_length(v) > (size_t)json_integer_value(ml))
            failf(name, "%s has %zu bytes, more than %lld", ptr, json_string_length(v),
                  (long long)json_integer_value(ml));
    }
    json_array_foreach(json_object_get(c, "events"), i, k) {
        const char *rule = json_string_value(json_object_get(k, "rule"));
        const char *act = json_string_value(json_object_get(k, "action"));
        const char *ptr = json_string_value(json_object_get(k, "pointer"));
        bool found = false;
        for (size_t e = 0; e < rep.nevents && !found; e++) {
            const struct result_guard_event *ev = &rep.events[e];
            found = strcmp(ev->rule, rule) == 0 &&
                    strcmp(result_guard_action_name(ev->action), act) == 0 &&
                    (ptr == NULL || (ev->pointer != NULL && strcmp(ev->pointer, ptr) == 0));
        }
        if (!found)
            failf(name, "no event %s/%s%s%s", rule, act, ptr != NULL ? " at " : "",
                  ptr != NULL ? ptr : "");
    }
    json_array_foreach(json_object_get(c, "no_events"), i, k) {
        for (size_t e = 0; e < rep.nevents; e++)
            if (strcmp(rep.events[e].rule, json_string_value(k)) == 0)
                failf(name, "unexpected event %s", json_string_value(k));
    }
    /* the audit view never carries the secret values of the payload */
    json_t *audit = result_guard_report_json(&rep);
    assert_non_null(audit);
    char *adump = json_dumps(audit, JSON_COMPACT);
    if (strstr(adump, "Zk3Qx8Lm") != NULL || strstr(adump, "2E0A8F3B") != NULL ||
        strstr(adump, "Tr0ub4dor") != NULL || strstr(adump, "gonzalez") != NULL)
        failf(name, "audit record shows a secret: %s", adump);
    free(adump);
    json_decref(audit);
    if (failures != before) {
        char *d = json_dumps(payload, JSON_COMPACT | JSON_ENSURE_ASCII);
        print_message("      payload now %.400s\n", d);
        free(d);
        for (size_t e = 0; e < rep.nevents; e++)
            print_message("      event %s %s %s\n", rep.events[e].rule,
                          result_guard_action_name(rep.events[e].action),
                          rep.events[e].pointer != NULL ? rep.events[e].pointer : "");
    }
    result_guard_report_free(&rep);
    json_decref(payload);
    result_guard_free(g);
}

static void test_guard_cases(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/detect/guard.jsonl");
    size_t i;
    json_t *c;
    failures = 0;
    json_array_foreach(cases, i, c) check_guard_case(c);
    json_decref(cases);
    if (failures != 0)
        fail_msg("%zu failed expectations", failures);
}

/* result_guard_quick() must never pass what result_guard_apply() would change
 * or report. Checked on every guard case and on every detector case wrapped as
 * a tool result (default policy), with both outcomes exercised. */
static size_t quick_pass, quick_defer;

static void check_quick(const struct result_guard *g, const json_t *payload, enum detect_payload kind,
                        const char *name)
{
    char *txt = json_dumps(payload, JSON_COMPACT);
    assert_non_null(txt);
    struct jtape t;
    jtape_init(&t);
    struct json_err je;
    assert_int_equal(jtape_parse(&t, txt, strlen(txt), &json_default_limits, &je), 0);
    struct buf scratch;
    buf_init(&scratch, 1 << 20);
    int q = result_guard_quick(g, &t, 0, kind, &scratch);
    json_t *copy = json_deep_copy(payload);
    struct result_guard_ctx ctx = {"srv", "tool"};
    struct result_guard_report rep;
    assert_int_equal(result_guard_apply(g, copy, kind, &ctx, &rep), 0);
    if (q == 1) {
        quick_pass++;
        if (rep.verdict != RG_PASS || rep.nevents != 0)
            failf(name, "quick look passed, the guard says %s with %zu events",
                  result_guard_verdict_name(rep.verdict), rep.nevents);
    } else {
        quick_defer++;
    }
    result_guard_report_free(&rep);
    json_decref(copy);
    buf_free(&scratch);
    jtape_free(&t);
    free(txt);
}

static void test_guard_quick_agrees(void **state)
{
    (void)state;
    failures = quick_pass = quick_defer = 0;
    json_t *cases = tu_load_cases("tests/cases/detect/guard.jsonl");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        struct result_guard *g = compile_policy(c);
        assert_non_null(g);
        const char *method = json_string_value(json_object_get(c, "method"));
        enum detect_payload kind =
            method != NULL ? detect_payload_of(method, json_is_true(json_object_get(c, "request")))
                           : DETECT_P_ERROR;
        check_quick(g, json_object_get(c, "payload"), kind, TU_CASE_NAME(c));
        result_guard_free(g);
    }
    json_decref(cases);
    struct result_guard *g = result_guard_compile(NULL, NULL, NULL);
    assert_non_null(g);
    static const char *const tables[] = {
        "tests/cases/detect/secrets.jsonl", "tests/cases/detect/pii.jsonl",
        "tests/cases/detect/injection.jsonl", "tests/cases/detect/hidden.jsonl"};
    for (size_t k = 0; k < sizeof(tables) / sizeof(tables[0]); k++) {
        cases = tu_load_cases(tables[k]);
        json_array_foreach(cases, i, c) {
            json_t *in = json_object_get(c, "input");
            if (!json_is_string(in))
                continue;
            json_t *payload = json_pack("{s[{s:s,s:O}]}", "content", "type", "text", "text", in);
            check_quick(g, payload, DETECT_P_TOOL_RESULT, TU_CASE_NAME(c));
            json_decref(payload);
        }
        json_decref(cases);
    }
    result_guard_free(g);
    print_message("      quick look: %zu passed at once, %zu left to the guard\n", quick_pass,
                  quick_defer);
    assert_true(quick_pass > 0 && quick_defer > 0);
    if (failures != 0)
        fail_msg("%zu failed expectations", failures);
}

static void test_guard_config_errors(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/detect/guard_config.jsonl");
    size_t i;
    json_t *c;
    failures = 0;
    json_array_foreach(cases, i, c) {
        const char *name = TU_CASE_NAME(c);
        const char *y = json_string_value(json_object_get(c, "config"));
        struct cfg_errors e;
        cfg_errors_init(&e);
        struct cfg_doc *doc = cfg_load_mem("t.yaml", y, strlen(y), false, &e);
        assert_non_null(doc);
        struct result_guard *g =
            result_guard_compile(doc, json_object_get(doc->root, "results"), &e);
        if (g != NULL)
            failf(name, "accepted");
        size_t at = 0, k;
        json_t *want;
        json_array_foreach(json_object_get(c, "errors"), k, want) {
            bool found = false;
            for (; at < e.n && !found; at++)
                found = strstr(e.msgs[at], json_string_value(want)) != NULL;
            if (!found) {
                failf(name, "missing error \"%s\"", json_string_value(want));
                for (size_t m = 0; m < e.n; m++)
                    print_message("      got: %s\n", e.msgs[m]);
            }
        }
        result_guard_free(g);
        cfg_errors_free(&e);
        cfg_doc_free(doc);
    }
    json_decref(cases);
    if (failures != 0)
        fail_msg("%zu failed expectations", failures);
}

/* A server's section overrides only what it names. */
static void test_guard_inherits(void **state)
{
    (void)state;
    const char *y = "results:\n  max_bytes: 2KiB\n  secrets: block\n"
                    "servers:\n  s1:\n    results:\n      pii: redact\n";
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("t.yaml", y, strlen(y), false, &e);
    assert_non_null(doc);
    struct result_guard *global =
        result_guard_compile(doc, json_object_get(doc->root, "results"), &e);
    assert_non_null(global);
    json_t *s1 = json_object_get(json_object_get(json_object_get(doc->root, "servers"), "s1"),
                                 "results");
    struct result_guard *srv = result_guard_compile_over(doc, s1, global, &e);
    assert_non_null(srv);
    json_t *p = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text",
                          "mail maria.gonzalez@acme-corp.io");
    struct result_guard_report rep;
    assert_int_equal(result_guard_apply(srv, p, DETECT_P_TOOL_RESULT, NULL, &rep), 0);
    assert_int_equal(rep.verdict, RG_MODIFIED);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(p, "content"), 0), "text")),
                        "mail [REDACTED:pii.email]");
    result_guard_report_free(&rep);
    json_decref(p);
    p = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text",
                  "ghp_Zk3Qx8Lm2Pv9Rs4Tu6Wy1Ab5Cd7Ef0Gh2Ij4");
    assert_int_equal(result_guard_apply(srv, p, DETECT_P_TOOL_RESULT, NULL, &rep), 0);
    assert_int_equal(rep.verdict, RG_BLOCK); /* inherited secrets: block */
    assert_string_equal(rep.reason, "result_secret");
    result_guard_report_free(&rep);
    json_decref(p);
    result_guard_free(srv);
    result_guard_free(global);
    cfg_errors_free(&e);
    cfg_doc_free(doc);
}

/* The audit JSON of a report: shape and stable names. */
static void test_guard_report_json(void **state)
{
    (void)state;
    struct result_guard *g = result_guard_compile(NULL, NULL, NULL);
    json_t *p = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text",
                          "token ghp_Zk3Qx8Lm2Pv9Rs4Tu6Wy1Ab5Cd7Ef0Gh2Ij4 end");
    struct result_guard_report rep;
    assert_int_equal(result_guard_apply(g, p, DETECT_P_TOOL_RESULT, NULL, &rep), 0);
    json_t *j = result_guard_report_json(&rep);
    json_error_t je;
    const char *verdict, *rule, *action, *ptr, *ev;
    json_int_t s0, s1;
    json_t *reason;
    assert_int_equal(json_unpack_ex(j, &je, 0, "{s:s,s:o,s:[{s:s,s:s,s:s,s:[I,I],s:s}]}", "verdict",
                                    &verdict, "reason", &reason, "events", "rule", &rule, "action",
                                    &action, "pointer", &ptr, "span", &s0, &s1, "evidence", &ev),
                     0);
    assert_string_equal(verdict, "modified");
    assert_true(json_is_null(reason));
    assert_string_equal(rule, "secret.github_token");
    assert_string_equal(action, "redact");
    assert_string_equal(ptr, "/content/0/text");
    assert_int_equal(s0, 6);
    assert_int_equal(s1, 46);
    assert_null(strstr(ev, "Zk3Q"));
    json_decref(j);
    result_guard_report_free(&rep);
    json_decref(p);
    result_guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_basic),          cmocka_unit_test(test_redact_overlap_merges),
        cmocka_unit_test(test_redact_utf8_boundaries), cmocka_unit_test(test_redact_clips_and_budget),
        cmocka_unit_test(test_redact_findings),       cmocka_unit_test(test_guard_cases),
        cmocka_unit_test(test_guard_config_errors),   cmocka_unit_test(test_guard_inherits),
        cmocka_unit_test(test_guard_report_json),     cmocka_unit_test(test_guard_quick_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
