/* test_detect_diff.c - the fast scan finds exactly what the reference finds.
 *
 * The detectors have several implementations of one scan (detect_int.h):
 * the reference (the plain byte loop, every pattern gate in full) and the
 * fast paths (prose skipped in 64-byte blocks, with masks built from a
 * table, SSE2, AVX2, AVX-512, words hashed with AVX-512 VBMI2; each where
 * this CPU runs it). Every input below is scanned by each of them in both
 * contexts, and the findings must be identical: rule, category, severity,
 * span, flags, pointer and evidence, and the count of dropped findings.
 *
 * Inputs: every case of the detector tables (texts and whole tool
 * definitions), and generated texts (gen_text.h: prose with planted
 * secrets, PII, injected instructions, hidden characters, escapes, raw and
 * invalid UTF-8 at random offsets), each also cut at every length and
 * offset around the 64-byte blocks of the fast path. MCPWALL_DIFF_SEEDS
 * sets the number of generated texts (default 400).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gen_text.h"
#include "guard/detect_int.h"
#include "testutil.h"

static struct detect_set *sets[DETECT_IMPL__COUNT]; /* NULL: not available here */
static size_t compared, differences;

static int setup(void **state)
{
    (void)state;
    for (int k = 0; k < DETECT_IMPL__COUNT; k++) {
        if (!detect_impl_available((enum detect_impl)k))
            continue;
        char err[256];
        sets[k] = detect_set_new(err, sizeof(err));
        if (sets[k] == NULL || detect_set_impl(sets[k], (enum detect_impl)k) < 0)
            return -1;
    }
    return sets[DETECT_IMPL_REF] == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < DETECT_IMPL__COUNT; k++)
        detect_set_free(sets[k]);
    return 0;
}

static bool same_finding(const struct detect_finding *a, const struct detect_finding *b)
{
    if (a->rule != b->rule || a->category != b->category || a->severity != b->severity ||
        a->start != b->start || a->end != b->end || a->flags != b->flags ||
        strcmp(a->evidence, b->evidence) != 0)
        return false;
    if ((a->pointer == NULL) != (b->pointer == NULL))
        return false;
    return a->pointer == NULL || strcmp(a->pointer, b->pointer) == 0;
}

/* Reports the first difference between the reference list and impl k's. */
static void compare(const char *what, enum detect_impl k, const struct detect_list *ref,
                    const struct detect_list *got)
{
    compared++;
    size_t i = 0;
    while (i < ref->n && i < got->n && same_finding(&ref->v[i], &got->v[i]))
        i++;
    if (i == ref->n && i == got->n && ref->dropped == got->dropped)
        return;
    differences++;
    if (differences > 10)
        return;
    print_message("  %s: %s differs from the reference at finding %zu (%zu vs %zu found)\n",
                  what, detect_impl_name(k), i, ref->n, got->n);
    const struct detect_finding *f = i < ref->n ? &ref->v[i] : NULL;
    const struct detect_finding *g = i < got->n ? &got->v[i] : NULL;
    if (f != NULL)
        print_message("    reference: %s %s [%zu,%zu) %u %s\n", detect_rule_id(f->rule),
                      detect_severity_name(f->severity), f->start, f->end, f->flags, f->evidence);
    if (g != NULL)
        print_message("    %s: %s %s [%zu,%zu) %u %s\n", detect_impl_name(k),
                      detect_rule_id(g->rule), detect_severity_name(g->severity), g->start, g->end,
                      g->flags, g->evidence);
}

/* Scans text with every implementation in both contexts and compares. */
static void diff_text(const char *what, const char *text, size_t len)
{
    for (int c = 0; c < DETECT_CTX__COUNT; c++) {
        struct detect_list ref;
        detect_list_init(&ref, 0);
        assert_int_equal(detect_scan_text(sets[DETECT_IMPL_REF], (enum detect_context)c, text, len,
                                          "/p", &ref),
                         0);
        for (int k = DETECT_IMPL_REF + 1; k < DETECT_IMPL__COUNT; k++) {
            if (sets[k] == NULL)
                continue;
            struct detect_list got;
            detect_list_init(&got, 0);
            assert_int_equal(detect_scan_text(sets[k], (enum detect_context)c, text, len, "/p",
                                              &got),
                             0);
            compare(what, (enum detect_impl)k, &ref, &got);
            detect_list_free(&got);
        }
        detect_list_free(&ref);
    }
}

static void diff_tool(const char *what, const json_t *tool)
{
    struct detect_list ref;
    detect_list_init(&ref, 0);
    assert_int_equal(detect_scan_tool(sets[DETECT_IMPL_REF], tool, NULL, &ref), 0);
    for (int k = DETECT_IMPL_REF + 1; k < DETECT_IMPL__COUNT; k++) {
        if (sets[k] == NULL)
            continue;
        struct detect_list got;
        detect_list_init(&got, 0);
        assert_int_equal(detect_scan_tool(sets[k], tool, NULL, &got), 0);
        compare(what, (enum detect_impl)k, &ref, &got);
        detect_list_free(&got);
    }
    detect_list_free(&ref);
}

static void finish(const char *what)
{
    print_message("  %s: %zu comparisons, %zu differences\n", what, compared, differences);
    size_t c = compared, d = differences;
    compared = differences = 0; /* a failure here does not carry into the next test */
    assert_int_equal(d, 0);
    assert_true(c > 0);
}

/* Every case of the detector tables. */
static void test_tables(void **state)
{
    (void)state;
    static const char *const tables[] = {
        "tests/cases/detect/secrets.jsonl",     "tests/cases/detect/pii.jsonl",
        "tests/cases/detect/injection.jsonl",   "tests/cases/detect/hidden.jsonl",
        "tests/cases/detect/definitions.jsonl", "tests/cases/detect/definitions_more.jsonl",
    };
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        json_t *cases = tu_load_cases(tables[t]);
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c) {
            const char *name = TU_CASE_NAME(c);
            json_t *tool = json_object_get(c, "tool");
            if (json_is_object(tool)) {
                diff_tool(name, tool);
                continue;
            }
            size_t len;
            char *in = tu_case_input(c, &len);
            assert_non_null(in);
            diff_text(name, in, len);
            free(in);
        }
        json_decref(cases);
    }
    finish("tables");
}

static size_t seeds(void)
{
    const char *v = getenv("MCPWALL_DIFF_SEEDS");
    char *end;
    unsigned long n = v != NULL ? strtoul(v, &end, 10) : 0;
    return v != NULL && *end == '\0' && n > 0 ? (size_t)n : 400;
}

/* Generated texts, whole. */
static void test_generated(void **state)
{
    (void)state;
    size_t n = seeds();
    char *buf = malloc(70000);
    assert_non_null(buf);
    for (size_t s = 0; s < n; s++) {
        char what[64];
        size_t len = gen_text(s, buf, s % 40 == 7 ? 65536 : 6000);
        snprintf(what, sizeof(what), "generated text %zu", s);
        diff_text(what, buf, len);
    }
    free(buf);
    finish("generated");
}

/* Generated texts cut at every length and offset around the fast path's
 * blocks: the last 64 bytes, words and runs crossing block ends, a stop as
 * the first or the last byte of a block. */
static void test_cuts(void **state)
{
    (void)state;
    size_t n = seeds() / 20 + 4;
    char *buf = malloc(8192);
    assert_non_null(buf);
    for (size_t s = 0; s < n; s++) {
        size_t len = gen_text(1000003 + s, buf, 8192);
        if (len < 300)
            continue;
        char what[64];
        for (size_t cut = 0; cut < 200 && cut < len; cut++) {
            snprintf(what, sizeof(what), "text %zu cut to %zu", s, cut + 60);
            diff_text(what, buf, cut + 60 < len ? cut + 60 : len);
            snprintf(what, sizeof(what), "text %zu from %zu", s, cut);
            diff_text(what, buf + cut, len - cut < 400 ? len - cut : 400);
        }
    }
    free(buf);
    finish("cuts");
}

/* Plain prose with every special byte at every offset of a block. */
static void test_each_byte(void **state)
{
    (void)state;
    static const char prose[] =
        "The server returns a list of files in the directory with their sizes and the "
        "dates they were changed. Please note that the report covers the last week only, "
        "and the user asked for a summary of the changes before the review meeting.";
    char text[sizeof(prose) + 8];
    for (unsigned b = 0; b < 256; b++) {
        for (size_t at = b % 5; at + 1 < sizeof(prose); at += 5) {
            memcpy(text, prose, sizeof(prose));
            text[at] = (char)b;
            char what[64];
            snprintf(what, sizeof(what), "byte 0x%02x at %zu", b, at);
            diff_text(what, text, sizeof(prose) - 1);
        }
    }
    finish("each byte");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_cuts),
        cmocka_unit_test(test_each_byte),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
