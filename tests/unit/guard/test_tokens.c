/* Token estimate against a reference tokenizer: tests/cases/scan/tokens.jsonl
 * holds real tool definitions with their o200k_base counts. The estimate must
 * stay within 10 % on average and 30 % on any one definition, and within 5 %
 * on the total (what a server's budget is checked against). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/tokens.h"
#include "testutil.h"

static void test_calibration(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/scan/tokens.jsonl");
    size_t i;
    json_t *c;
    double sum_err = 0, est_total = 0, ref_total = 0;
    size_t n = 0, worst_i = 0;
    double worst = 0;
    json_array_foreach(cases, i, c)
    {
        size_t len;
        char *in = tu_case_input(c, &len);
        double ref = (double)json_integer_value(json_object_get(c, "o200k"));
        double est = (double)tokens_estimate(in, len);
        double err = fabs(est - ref) / ref;
        sum_err += err;
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
        est_total += est;
        ref_total += ref;
        n++;
        free(in);
    }
    assert_true(n >= 30);
    fprintf(stderr,
            "tokens: %zu definitions, mean error %.1f%%, worst %.1f%% (%s), total %.0f vs %.0f\n",
            n, 100 * sum_err / (double)n, 100 * worst, TU_CASE_NAME(json_array_get(cases, worst_i)),
            est_total, ref_total);
    assert_true(sum_err / (double)n < 0.10);
    assert_true(worst < 0.30);
    assert_true(fabs(est_total - ref_total) / ref_total < 0.05);
    json_decref(cases);
}

static void test_shapes(void **state)
{
    (void)state;
    assert_int_equal(tokens_estimate("", 0), 0);
    assert_int_equal(tokens_estimate("a", 1), 1);
    /* 4 words, 3 spaces: 0.5*4 + 0.65*3 = 3.95 -> 4 */
    assert_int_equal(tokens_estimate("read the file now", 17), 4);
    /* long words cost more than short ones */
    assert_true(tokens_estimate("internationalization internationalization", 41) >
                tokens_estimate("file file", 9));
    /* non-ASCII characters count per character, not per byte */
    assert_int_equal(tokens_estimate("\xc3\xa9\xc3\xa9", 4), 4); /* 2 * 1.75 = 3.5 -> 4 */
    json_t *t = json_pack("{s:s}", "name", "x");
    assert_true(tokens_def(t) > 0);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
