#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/config.h"

static struct cfg_doc *load(const char *text, bool json, struct cfg_errors *e)
{
    cfg_errors_init(e);
    return cfg_load_mem("t.yaml", text, strlen(text), json, e);
}

static void expect_error(const char *text, const char *want)
{
    struct cfg_errors e;
    struct cfg_doc *d = load(text, false, &e);
    if (d != NULL)
        fail_msg("accepted: %s", text);
    if (e.n == 0 || strstr(e.msgs[0], want) == NULL)
        fail_msg("expected '%s', got '%s'", want, e.n ? e.msgs[0] : "(none)");
    cfg_errors_free(&e);
}

static void test_yaml_values_and_positions(void **state)
{
    (void)state;
    struct cfg_errors e;
    const char *y = "version: 1\n"
                    "name: \"quoted\"\n"
                    "list:\n"
                    "  - a\n"
                    "  - 12\n"
                    "  - 1.5\n"
                    "  - true\n"
                    "  - ~\n"
                    "  - yes\n"
                    "nested: {x: -3, y: '007'}\n";
    struct cfg_doc *d = load(y, false, &e);
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_object_get(d->root, "version")), 1);
    json_t *l = json_object_get(d->root, "list");
    assert_string_equal(json_string_value(json_array_get(l, 0)), "a");
    assert_int_equal(json_integer_value(json_array_get(l, 1)), 12);
    assert_true(json_is_real(json_array_get(l, 2)));
    assert_true(json_is_true(json_array_get(l, 3)));
    assert_true(json_is_null(json_array_get(l, 4)));
    assert_string_equal(json_string_value(json_array_get(l, 5)), "yes"); /* YAML 1.2 */
    json_t *n = json_object_get(d->root, "nested");
    assert_string_equal(json_string_value(json_object_get(n, "y")), "007");
    struct cfg_pos p = cfg_pos_of(d, l, NULL, 1);
    assert_int_equal(p.line, 5);
    assert_int_equal(p.col, 5);
    p = cfg_key_pos_of(d, d->root, "nested");
    assert_int_equal(p.line, 10);
    assert_int_equal(p.col, 1);
    cfg_err(&e, d, n, "x", 0, "bad x");
    assert_string_equal(e.msgs[0], "t.yaml:10:13: bad x");
    /* Absent members point at their object. */
    cfg_err(&e, d, n, "missing", 0, "needs missing");
    assert_string_equal(e.msgs[1], "t.yaml:10:9: needs missing");
    cfg_doc_free(d);
    cfg_errors_free(&e);
}

static void test_yaml_refusals(void **state)
{
    (void)state;
    expect_error("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key 'a' (first at line 1)");
    expect_error("a: &x 1\nb: *x\n", "t.yaml:1:4: YAML anchors (&x) are not allowed");
    expect_error("a: !!str 1\n", "YAML tags (tag:yaml.org,2002:str) are not allowed");
    expect_error("a: [1, 2\n", "t.yaml:");
    expect_error("? [a]\n: 1\n", "keys must be plain strings");
    expect_error("a: 1\n---\nb: 2\n", "only one YAML document");
}

static void test_json_positions_and_errors(void **state)
{
    (void)state;
    struct cfg_errors e;
    struct cfg_doc *d = load("{\n  \"a\": {\"b\": true},\n  \"c\": [null, 2]\n}", true, &e);
    assert_non_null(d);
    json_t *a = json_object_get(d->root, "a");
    struct cfg_pos p = cfg_pos_of(d, a, "b", 0);
    assert_int_equal(p.line, 2);
    assert_int_equal(p.col, 14);
    p = cfg_pos_of(d, json_object_get(d->root, "c"), NULL, 1);
    assert_int_equal(p.line, 3);
    assert_int_equal(p.col, 15);
    cfg_doc_free(d);
    cfg_errors_free(&e);
    d = load("{\n  \"a\": 1,\n  \"a\": 2\n}", true, &e);
    assert_null(d);
    assert_string_equal(e.msgs[0], "t.yaml:3:3: duplicate key \"a\" in object (duplicate_key)");
    cfg_errors_free(&e);
}

static void test_getters(void **state)
{
    (void)state;
    struct cfg_errors e;
    struct cfg_doc *d = load("size: 4MiB\nbad: 4QB\nt: 30s\nn: 5\nl: x\nls: [a, 1]\nalowed: 1\n",
                             false, &e);
    assert_non_null(d);
    uint64_t v;
    assert_int_equal(cfg_get_size(&e, d, d->root, "size", UINT64_MAX, &v), 0);
    assert_int_equal(v, 4u << 20);
    assert_int_equal(cfg_get_size(&e, d, d->root, "bad", UINT64_MAX, &v), -1);
    assert_non_null(strstr(e.msgs[0], "t.yaml:2:6: 'bad' must be a size"));
    assert_int_equal(cfg_get_duration_us(&e, d, d->root, "t", UINT64_MAX, &v), 0);
    assert_int_equal(v, 30000000);
    assert_int_equal(cfg_get_uint(&e, d, d->root, "n", 4, &v), -1);
    assert_int_equal(cfg_get_size(&e, d, d->root, "absent", UINT64_MAX, &v), 1);
    json_t *l;
    assert_int_equal(cfg_get_str_list(&e, d, d->root, "l", &l), 0);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    assert_int_equal(cfg_get_str_list(&e, d, d->root, "ls", &l), -1);
    static const char *const keys[] = {"size", "bad", "t", "n", "l", "ls", "allowed", NULL};
    size_t before = e.n;
    assert_int_equal(cfg_check_keys(&e, d, d->root, keys), 1);
    assert_string_equal(e.msgs[before], "t.yaml:7:1: unknown key 'alowed' (did you mean 'allowed'?)");
    cfg_doc_free(d);
    cfg_errors_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_values_and_positions),
        cmocka_unit_test(test_yaml_refusals),
        cmocka_unit_test(test_json_positions_and_errors),
        cmocka_unit_test(test_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
