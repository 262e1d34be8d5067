/* Schema validator: the data tables in tests/cases/schema/ plus the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/schema.h"
#include "testutil.h"

/* "data_repeat": {"unit": "a", "count": N, "distinct": bool} builds an array
 * of N strings unit0..unitN-1 (the last equal to the first when !distinct). */
static json_t *case_data(const json_t *t)
{
    const json_t *rep = json_object_get(t, "data_repeat");
    if (rep == NULL)
        return json_incref(json_object_get(t, "data"));
    const char *unit = json_string_value(json_object_get(rep, "unit"));
    size_t n = (size_t)json_integer_value(json_object_get(rep, "count"));
    bool distinct = json_is_true(json_object_get(rep, "distinct"));
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char b[64];
        snprintf(b, sizeof(b), "%s%zu", unit, (!distinct && i == n - 1) ? (size_t)0 : i);
        json_array_append_new(a, json_string(b));
    }
    return a;
}

static int run_table(const char *file)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/cases/schema/%s", file);
    json_t *cases = tu_load_cases(rel);
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(cases, i, c) {
        const char *name = TU_CASE_NAME(c);
        long long line = json_integer_value(json_object_get(c, "_line"));
        struct schema_compile_err ce;
        struct schema *s = schema_compile(json_object_get(c, "schema"), &ce);
        const char *want_ce = json_string_value(json_object_get(c, "compile_error"));
        if (want_ce != NULL) {
            if (s != NULL)
                fail_msg("%s:%lld %s: compiled, expected error '%s'", file, line, name, want_ce);
            if (strstr(ce.msg, want_ce) == NULL)
                fail_msg("%s:%lld %s: compile error '%s' lacks '%s'", file, line, name, ce.msg,
                         want_ce);
            checked++;
            continue;
        }
        if (s == NULL)
            fail_msg("%s:%lld %s: does not compile: %s", file, line, name, ce.msg);
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(c, "tests"), k, t) {
            json_t *data = case_data(t);
            bool want = json_is_true(json_object_get(t, "valid"));
            struct schema_error e;
            int r = schema_validate(s, data, &e);
            char *dump = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
            if ((r == 0) != want)
                fail_msg("%s:%lld %s, test %zu (%.200s): got %s (%s)", file, line, name, k, dump,
                         r == 0 ? "valid" : "invalid", r == 0 ? "" : e.msg);
            if (!want) {
                const char *kw = json_string_value(json_object_get(t, "keyword"));
                const char *ptr = json_string_value(json_object_get(t, "pointer"));
                const char *msg = json_string_value(json_object_get(t, "msg"));
                if (kw != NULL && strcmp(kw, e.keyword) != 0)
                    fail_msg("%s:%lld %s, test %zu: keyword '%s', expected '%s' (%s)", file, line,
                             name, k, e.keyword, kw, e.msg);
                if (ptr != NULL && strcmp(ptr, e.pointer) != 0)
                    fail_msg("%s:%lld %s, test %zu: pointer '%s', expected '%s'", file, line, name,
                             k, e.pointer, ptr);
                if (msg != NULL && strstr(e.msg, msg) == NULL)
                    fail_msg("%s:%lld %s, test %zu: message '%s' lacks '%s'", file, line, name, k,
                             e.msg, msg);
                /* every message names the rule in parentheses */
                char tail[48];
                snprintf(tail, sizeof(tail), "(%s)", e.keyword);
                assert_non_null(strstr(e.msg, tail));
            }
            free(dump);
            json_decref(data);
            checked++;
        }
        schema_free(s);
    }
    json_decref(cases);
    return checked;
}

static void test_tables(void **state)
{
    (void)state;
    static const char *const files[] = {"type.jsonl",    "enum_const.jsonl",  "numeric.jsonl",
                                        "string.jsonl",  "pattern.jsonl",     "format.jsonl",
                                        "array.jsonl",   "object.jsonl",      "combinators.jsonl",
                                        "ref.jsonl",     "dialect.jsonl"};
    int total = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int n = run_table(files[i]);
        assert_true(n > 5);
        total += n;
    }
    printf("# schema cases checked: %d\n", total);
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (j == NULL)
        fail_msg("bad JSON in test: %s", je.text);
    return j;
}

static void test_step_budget(void **state)
{
    (void)state;
    json_t *sch = parse("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\"},"
                        "{\"type\":\"integer\"}]}}");
    struct schema_options o;
    schema_options_default(&o);
    o.max_steps = 100;
    struct schema *s = schema_compile_opts(sch, &o, NULL);
    assert_non_null(s);
    json_t *small = parse("[1,2,3]");
    json_t *big = json_array();
    for (int i = 0; i < 200; i++)
        json_array_append_new(big, json_integer(i));
    struct schema_error e;
    assert_int_equal(schema_validate(s, small, &e), 0);
    assert_int_equal(schema_validate(s, big, &e), -1);
    assert_string_equal(e.keyword, "budget");
    assert_non_null(strstr(e.msg, "validation limits"));
    schema_free(s);
    /* A budget failure inside "not" is still a failure, never a pass. */
    json_t *sch2 = parse("{\"not\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}");
    s = schema_compile_opts(sch2, &o, NULL);
    assert_int_equal(schema_validate(s, big, &e), -1);
    assert_string_equal(e.keyword, "budget");
    schema_free(s);
    json_decref(sch);
    json_decref(sch2);
    json_decref(small);
    json_decref(big);
}

static void test_depth_cap(void **state)
{
    (void)state;
    /* Recursion through properties is bounded by max_depth. */
    json_t *sch = parse("{\"properties\":{\"a\":{\"$ref\":\"#\"}}}");
    struct schema_options o;
    schema_options_default(&o);
    o.max_depth = 20;
    struct schema *s = schema_compile_opts(sch, &o, NULL);
    assert_non_null(s);
    json_t *inst = json_object();
    json_t *cur = inst;
    for (int i = 0; i < 50; i++) {
        json_t *n = json_object();
        json_object_set_new(cur, "a", n);
        cur = n;
    }
    struct schema_error e;
    assert_int_equal(schema_validate(s, inst, &e), -1);
    assert_string_equal(e.keyword, "budget");
    assert_non_null(strstr(e.msg, "nested too deeply"));
    /* a long pointer is truncated with "..." */
    assert_true(strlen(e.pointer) < sizeof(e.pointer));
    schema_free(s);
    json_decref(sch);
    json_decref(inst);
}

static void test_node_limit(void **state)
{
    (void)state;
    json_t *props = json_object();
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "p%d", i);
        json_object_set_new(props, k, json_pack("{s:s}", "type", "string"));
    }
    json_t *sch = json_pack("{s:o}", "properties", props);
    struct schema_options o;
    schema_options_default(&o);
    o.max_nodes = 20;
    struct schema_compile_err ce;
    assert_null(schema_compile_opts(sch, &o, &ce));
    assert_non_null(strstr(ce.msg, "more than 20 subschemas"));
    o.max_nodes = 100;
    struct schema *s = schema_compile_opts(sch, &o, &ce);
    assert_non_null(s);
    schema_free(s);
    json_decref(sch);
}

static void test_format_annotation_mode(void **state)
{
    (void)state;
    json_t *sch = parse("{\"format\":\"email\"}");
    struct schema_options o;
    schema_options_default(&o);
    o.format_assert = false;
    struct schema *s = schema_compile_opts(sch, &o, NULL);
    json_t *bad = parse("\"not an email\"");
    assert_int_equal(schema_validate(s, bad, NULL), 0);
    schema_free(s);
    s = schema_compile(sch, NULL);
    assert_int_equal(schema_validate(s, bad, NULL), -1);
    assert_string_equal(schema_dialect(s), "2020-12");
    schema_free(s);
    json_decref(sch);
    json_decref(bad);
}

static void test_reword_and_private_copy(void **state)
{
    (void)state;
    json_t *sch = parse("{\"type\":\"object\",\"properties\":{\"temp\":{\"type\":\"number\"}}}");
    struct schema *s = schema_compile(sch, NULL);
    /* the compiled schema keeps its own copy */
    json_object_clear(sch);
    json_decref(sch);
    json_t *inst = parse("{\"temp\":\"hot\"}");
    struct schema_error e;
    assert_int_equal(schema_validate(s, inst, &e), -1);
    assert_string_equal(e.msg, "argument 'temp': must be a number (type)");
    schema_error_reword(&e, "result field", "result");
    assert_string_equal(e.msg, "result field 'temp': must be a number (type)");
    json_t *whole = parse("[]");
    assert_int_equal(schema_validate(s, whole, &e), -1);
    schema_error_reword(&e, "result field", "structuredContent");
    assert_string_equal(e.msg, "structuredContent: must be an object (type)");
    assert_int_equal(schema_validate(s, NULL, &e), -1);
    schema_free(s);
    schema_free(NULL);
    json_decref(inst);
    json_decref(whole);
}

static void test_errors_never_echo_values(void **state)
{
    (void)state;
    json_t *sch = parse("{\"properties\":{\"token\":{\"type\":\"string\",\"maxLength\":4,"
                        "\"pattern\":\"^[a-z]+$\",\"format\":\"uuid\"}}}");
    struct schema *s = schema_compile(sch, NULL);
    const char *secrets[] = {"{\"token\":\"ghp_SECRETVALUE123\"}", "{\"token\":\"AB\"}",
                             "{\"token\":\"abcd\"}"};
    for (size_t i = 0; i < 3; i++) {
        json_t *inst = parse(secrets[i]);
        struct schema_error e;
        assert_int_equal(schema_validate(s, inst, &e), -1);
        const char *val = json_string_value(json_object_get(inst, "token"));
        assert_null(strstr(e.msg, val));
        json_decref(inst);
    }
    schema_free(s);
    json_decref(sch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_step_budget),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_format_annotation_mode),
        cmocka_unit_test(test_reword_and_private_copy),
        cmocka_unit_test(test_errors_never_echo_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
