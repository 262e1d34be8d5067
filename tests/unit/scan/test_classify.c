/* Risk classes: every case of tests/cases/scan/classify.jsonl gives the
 * expected class, the exact set of critical categories and, where the
 * annotations claim less than the evidence, the mismatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/classify.h"
#include "testutil.h"

static void test_classify_table(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/scan/classify.jsonl");
    size_t i, bad = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const json_t *tool = json_object_get(c, "tool");
        const json_t *http = json_object_get(c, "http");
        struct classify_result r;
        classify_tool(tool, json_string_value(json_object_get(http, "method")),
                      json_string_value(json_object_get(http, "path")), &r);
        const char *want = json_string_value(json_object_get(c, "risk"));
        unsigned want_cats = 0;
        size_t k;
        json_t *cat;
        json_array_foreach(json_object_get(c, "cats"), k, cat)
        {
            for (unsigned b = 0; b < SCAN_CAT_COUNT; b++) {
                if (strcmp(scan_cat_name(1u << b), json_string_value(cat)) == 0)
                    want_cats |= 1u << b;
            }
        }
        const char *mm = json_string_value(json_object_get(c, "mismatch"));
        bool ok = strcmp(scan_risk_name(r.risk), want) == 0 && r.cats == want_cats &&
                  r.mismatch == (mm != NULL) && (mm == NULL || strcmp(mm, r.mismatch_hint) == 0);
        if (!ok) {
            bad++;
            fprintf(stderr, "case '%s': got %s cats=0x%x mismatch=%d(%s); want %s cats=0x%x %s\n",
                    TU_CASE_NAME(c), scan_risk_name(r.risk), r.cats, r.mismatch, r.mismatch_hint,
                    want, want_cats, mm != NULL ? mm : "");
            for (size_t q = 0; q < r.nreasons; q++)
                fprintf(stderr, "    reason: %s\n", r.reasons[q]);
        }
        /* every class has at least one reason a person can read */
        if (r.nreasons == 0) {
            bad++;
            fprintf(stderr, "case '%s': no reason given\n", TU_CASE_NAME(c));
        }
    }
    json_decref(cases);
    assert_int_equal(bad, 0);
}

static void test_words(void **state)
{
    (void)state;
    char w[8][32];
    size_t n = classify_words("getHTTPServerURL_v2-list", 24, w, 8);
    assert_int_equal(n, 6);
    assert_string_equal(w[0], "get");
    assert_string_equal(w[1], "http");
    assert_string_equal(w[2], "server");
    assert_string_equal(w[3], "url");
    assert_string_equal(w[4], "v2");
    assert_string_equal(w[5], "list");
    n = classify_words("", 0, w, 8);
    assert_int_equal(n, 0);
    /* at most `max` words */
    n = classify_words("a_b_c_d_e_f_g_h_i_j", 19, w, 3);
    assert_int_equal(n, 3);
}

/* The evidence of a class is located in the definition: the name word's
 * byte span, so reports can show exactly what decided. */
static void test_where(void **state)
{
    (void)state;
    json_t *t = json_pack("{s:s, s:s}", "name", "bulkDeleteUsers", "description", "x");
    struct classify_result r;
    classify_tool(t, NULL, NULL, &r);
    const char *why = NULL;
    const struct classify_where *w = classify_where_of(&r, SCAN_CAT_DELETION, 0, &why);
    assert_non_null(w);
    assert_string_equal(w->pointer, "/name");
    assert_true(w->has_span);
    assert_int_equal(w->start, 4);
    assert_int_equal(w->end, 10); /* "Delete" */
    assert_non_null(strstr(why, "delete"));
    json_decref(t);

    t = json_pack("{s:s, s:s}", "name", "tool", "description",
                  "A helper that can execute code in a sandbox.");
    classify_tool(t, NULL, NULL, &r);
    w = classify_where_of(&r, SCAN_CAT_CODE_EXEC, 0, &why);
    assert_non_null(w);
    assert_string_equal(w->pointer, "/description");
    assert_int_equal(w->start, 18);
    assert_int_equal(w->end, 30); /* "execute code" */
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_where),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
