/* test_detect.c - table-driven detector cases (tests/cases/detect/ tables).
 *
 * Each line: {"name", "ctx": "result"|"definition", "input" (or input_hex /
 * input_repeat), "expect": [{"rule", "text"?, "sev"?}], "absent": [rule id
 * prefixes], "absent_min"?: severity, "evidence_lacks"?: string}.
 * Definition cases may give "tool" (a whole definition) instead of "input",
 * with expected "pointer"s and optional "other_tools".
 * Every finding must also satisfy the invariants: a span inside the input
 * that never splits a UTF-8 sequence, and printable evidence.
 */
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/detect.h"
#include "guard/detect_int.h"
#include "testutil.h"
#include "util/buf.h"

static const struct detect_set *ds;

static int setup(void **state)
{
    (void)state;
    char err[256];
    ds = detect_set_new(err, sizeof(err));
    return ds == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    detect_set_free((struct detect_set *)ds);
    return 0;
}

static size_t failures;

static void failf(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(const char *name, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_message("  case \"%s\": %s\n", name, msg);
    failures++;
}

static void dump(const struct detect_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        print_message("      found %s %s [%zu,%zu) %s %s\n", detect_rule_id(l->v[i].rule),
                      detect_severity_name(l->v[i].severity), l->v[i].start, l->v[i].end,
                      l->v[i].pointer != NULL ? l->v[i].pointer : "", l->v[i].evidence);
}

static bool is_cont(const char *in, size_t len, size_t off)
{
    return off < len && ((unsigned char)in[off] & 0xc0) == 0x80;
}

static void check_invariants(const char *name, const char *in, size_t len,
                             const struct detect_list *l, bool definition)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct detect_finding *f = &l->v[i];
        if (definition)
            continue; /* spans refer to the string at f->pointer */
        if (f->start > f->end || f->end > len) {
            failf(name, "span [%zu,%zu) outside the input (%zu bytes)", f->start, f->end, len);
            continue;
        }
        if (is_cont(in, len, f->start) || is_cont(in, len, f->end))
            failf(name, "span [%zu,%zu) of %s splits a UTF-8 sequence", f->start, f->end,
                  detect_rule_id(f->rule));
        for (const char *e = f->evidence; *e != '\0'; e++)
            if ((unsigned char)*e < 0x20 || *e == 0x7f)
                failf(name, "evidence of %s has a control character", detect_rule_id(f->rule));
    }
}

static void check_case(const json_t *c)
{
    const char *name = TU_CASE_NAME(c);
    const char *ctxs = json_string_value(json_object_get(c, "ctx"));
    enum detect_context ctx =
        ctxs != NULL && strcmp(ctxs, "definition") == 0 ? DETECT_CTX_DEFINITION : DETECT_CTX_RESULT;
    struct detect_list l;
    detect_list_init(&l, 0);
    char *in = NULL;
    size_t len = 0;
    json_t *tool = json_object_get(c, "tool");
    bool whole = json_is_object(tool);
    if (whole) {
        const char *names[64];
        size_t nn = 0;
        json_t *ot = json_object_get(c, "other_tools");
        size_t i;
        json_t *v;
        json_array_foreach(ot, i, v) if (nn < 64) names[nn++] = json_string_value(v);
        struct detect_tool_opts opt = {names, nn};
        assert_int_equal(detect_scan_tool(ds, tool, &opt, &l), 0);
    } else {
        in = tu_case_input(c, &len);
        assert_non_null(in);
        assert_int_equal(detect_scan_text(ds, ctx, in, len, NULL, &l), 0);
        check_invariants(name, in, len, &l, false);
    }
    size_t before = failures;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "expect"), i, e) {
        const char *rule = json_string_value(json_object_get(e, "rule"));
        const char *text = json_string_value(json_object_get(e, "text"));
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *sevs = json_string_value(json_object_get(e, "sev"));
        enum detect_severity min = DETECT_SEV_LOW;
        if (sevs != NULL)
            assert_int_equal(detect_severity_lookup(sevs, &min), 0);
        enum detect_rule r;
        if (detect_rule_lookup(rule, &r) < 0) {
            failf(name, "unknown rule id %s in the table", rule);
            continue;
        }
        bool found = false;
        for (size_t k = 0; k < l.n && !found; k++) {
            const struct detect_finding *f = &l.v[k];
            if (f->rule != r || f->severity < min)
                continue;
            if (ptr != NULL && (f->pointer == NULL || strcmp(ptr, f->pointer) != 0))
                continue;
            if (text != NULL && !whole &&
                (f->end - f->start != strlen(text) || memcmp(in + f->start, text, strlen(text)) != 0))
                continue;
            found = true;
        }
        if (!found)
            failf(name, "expected %s%s%s%s%s at >= %s", rule, text != NULL ? " over \"" : "",
                  text != NULL ? text : "", text != NULL ? "\"" : "", ptr != NULL ? ptr : "",
                  detect_severity_name(min));
    }
    const char *amin = json_string_value(json_object_get(c, "absent_min"));
    enum detect_severity absent_min = DETECT_SEV_LOW;
    if (amin != NULL)
        assert_int_equal(detect_severity_lookup(amin, &absent_min), 0);
    json_array_foreach(json_object_get(c, "absent"), i, e) {
        const char *pre = json_string_value(e);
        for (size_t k = 0; k < l.n; k++) {
            const char *id = detect_rule_id(l.v[k].rule);
            if (strncmp(id, pre, strlen(pre)) == 0 && l.v[k].severity >= absent_min)
                failf(name, "unexpected %s (%s) [%zu,%zu): %s", id,
                      detect_severity_name(l.v[k].severity), l.v[k].start, l.v[k].end,
                      l.v[k].evidence);
        }
    }
    const char *lacks = json_string_value(json_object_get(c, "evidence_lacks"));
    if (lacks != NULL)
        for (size_t k = 0; k < l.n; k++)
            if (strstr(l.v[k].evidence, lacks) != NULL)
                failf(name, "evidence of %s shows \"%s\"", detect_rule_id(l.v[k].rule), lacks);
    if (failures != before)
        dump(&l);
    detect_list_free(&l);
    free(in);
}

static void run_table(const char *rel)
{
    json_t *cases = tu_load_cases(rel);
    size_t i;
    json_t *c;
    failures = 0;
    json_array_foreach(cases, i, c) check_case(c);
    json_decref(cases);
    if (failures != 0)
        fail_msg("%zu failed expectations in %s", failures, rel);
}

static void test_secrets(void **state)
{
    (void)state;
    run_table("tests/cases/detect/secrets.jsonl");
}

static void test_pii(void **state)
{
    (void)state;
    run_table("tests/cases/detect/pii.jsonl");
}

static void test_injection(void **state)
{
    (void)state;
    run_table("tests/cases/detect/injection.jsonl");
}

static void test_hidden(void **state)
{
    (void)state;
    run_table("tests/cases/detect/hidden.jsonl");
}

static void test_definitions(void **state)
{
    (void)state;
    run_table("tests/cases/detect/definitions.jsonl");
}

static void test_definitions_more(void **state)
{
    (void)state;
    run_table("tests/cases/detect/definitions_more.jsonl");
}

/* JIT code is made for a pattern when it first runs, also when several
 * threads share a fresh set and reach the same patterns at once: every
 * thread finds exactly what one thread alone finds, the patterns that ran
 * have JIT code, and a benign text leaves the others without. */
struct jit_job {
    const struct detect_set *set;
    const char *text;
    size_t len;
    pthread_barrier_t *go;
    struct detect_list found;
};

static void *jit_scan(void *arg)
{
    struct jit_job *j = arg;
    detect_list_init(&j->found, 100000);
    pthread_barrier_wait(j->go);
    if (detect_scan_text(j->set, DETECT_CTX_RESULT, j->text, j->len, NULL, &j->found) < 0)
        return arg;
    return NULL;
}

static size_t jit_made(const struct detect_set *set)
{
    size_t n = 0;
    for (size_t i = 0; i < set->npat; i++)
        n += atomic_load(&set->pat[i].jit) == INJ_JIT_READY;
    return n;
}

static void test_lazy_jit_threads(void **state)
{
    (void)state;
    uint32_t has_jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &has_jit);
    if (!has_jit) {
        print_message("  skipped: this PCRE2 has no JIT\n");
        skip();
    }
    /* Every result-context input of the injection table, one after another. */
    json_t *cases = tu_load_cases("tests/cases/detect/injection.jsonl");
    struct buf text;
    buf_init(&text, 1u << 22);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *in = json_string_value(json_object_get(c, "input"));
        if (in != NULL)
            buf_printf(&text, "%s\n\n", in);
    }
    json_decref(cases);
    char err[256];
    struct detect_set *alone = detect_set_new(err, sizeof(err));
    struct detect_set *shared = detect_set_new(err, sizeof(err));
    assert_non_null(alone);
    assert_non_null(shared);

    /* A benign text first: patterns of words it has run, the rest wait. */
    const char *benign = "The weather today is mild. You can find the report in the docs "
                         "folder; please read it before the meeting.";
    struct detect_list l;
    detect_list_init(&l, 100);
    assert_int_equal(detect_scan_text(shared, DETECT_CTX_RESULT, benign, strlen(benign), NULL,
                                      &l),
                     0);
    detect_list_free(&l);
    size_t after_benign = jit_made(shared);
    assert_true(after_benign < shared->npat / 4);

    struct detect_list ref;
    detect_list_init(&ref, 100000);
    assert_int_equal(detect_scan_text(alone, DETECT_CTX_RESULT, buf_head(&text), buf_used(&text),
                                      NULL, &ref),
                     0);
    assert_true(ref.n >= 50);
    size_t ran = jit_made(alone);
    assert_true(ran > after_benign);
    print_message("  JIT code: %zu of %zu patterns after a benign text, %zu after the injection "
                  "table\n",
                  after_benign, shared->npat, ran);

    enum { NT = 4 };
    pthread_t th[NT];
    struct jit_job jobs[NT];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NT);
    for (int t = 0; t < NT; t++) {
        jobs[t] = (struct jit_job){.set = shared, .text = buf_head(&text), .len = buf_used(&text),
                                   .go = &go};
        assert_int_equal(pthread_create(&th[t], NULL, jit_scan, &jobs[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        assert_null(rv);
        assert_int_equal(jobs[t].found.n, ref.n);
        for (size_t k = 0; k < ref.n; k++) {
            assert_int_equal(jobs[t].found.v[k].rule, ref.v[k].rule);
            assert_int_equal(jobs[t].found.v[k].start, ref.v[k].start);
            assert_int_equal(jobs[t].found.v[k].end, ref.v[k].end);
        }
        detect_list_free(&jobs[t].found);
    }
    pthread_barrier_destroy(&go);
    /* JIT code for the patterns that ran, and for those only. */
    assert_int_equal(jit_made(shared), ran);
    detect_list_free(&ref);
    detect_set_free(alone);
    detect_set_free(shared);
    buf_free(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets),    cmocka_unit_test(test_pii),
        cmocka_unit_test(test_injection),  cmocka_unit_test(test_hidden),
        cmocka_unit_test(test_definitions), cmocka_unit_test(test_definitions_more),
        cmocka_unit_test(test_lazy_jit_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
