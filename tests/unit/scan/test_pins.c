/* Pins: canonical JSON, hashes, lockfile round trip, comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/pins.h"
#include "proto/json.h"
#include "testutil.h"

static json_t *parse(const char *s)
{
    struct json_err e;
    json_t *v = json_parse_strict(s, strlen(s), NULL, &e);
    if (v == NULL)
        fail_msg("bad test JSON: %s", e.msg);
    return v;
}

static void expect_canon(const char *in, const char *want)
{
    json_t *v = parse(in);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(pins_canonical(&b, v), 0);
    buf_cstr(&b);
    assert_string_equal(buf_head(&b), want);
    buf_free(&b);
    json_decref(v);
}

static void test_canonical(void **state)
{
    (void)state;
    /* keys sorted, no whitespace, minimal escapes, raw UTF-8 */
    expect_canon("{ \"b\" : 1, \"a\": [true, null, \"x\\n\\u0001\\\"\\\\\\/\"] }",
                 "{\"a\":[true,null,\"x\\n\\u0001\\\"\\\\/\"],\"b\":1}");
    expect_canon("{\"\\u00e9\": \"\\u2028\\u00e9\", \"Z\": false, \"a\": {}}",
                 "{\"Z\":false,\"a\":{},\"\xc3\xa9\":\"\xe2\x80\xa8\xc3\xa9\"}");
    /* numbers: integers as written, reals in the shortest round-trip form */
    expect_canon("[1, -0, 1.0, 1.5, 0.1, 1e21, 12345678901234567]",
                 "[1,0,1.0,1.5,0.1,1e+21,12345678901234567]");
    expect_canon("\"\"", "\"\"");
}

static void test_hash(void **state)
{
    (void)state;
    /* the same definition in two layouts has one pin */
    json_t *a = parse("{\"name\":\"add\",\"description\":\"Add two numbers\",\"inputSchema\":"
                      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                      "\"b\":{\"type\":\"integer\"}}}}");
    json_t *b = parse("{\"inputSchema\": {\"properties\": {\"b\": {\"type\": \"integer\"}, \"a\": "
                      "{\"type\": \"integer\"}}, \"type\": \"object\"},\n \"description\": \"Add "
                      "two numbers\", \"name\": \"add\"}");
    char ha[65], hb[65];
    assert_int_equal(pins_hash_def(a, ha), 0);
    assert_int_equal(pins_hash_def(b, hb), 0);
    assert_string_equal(ha, hb);
    /* sha256 of the canonical text, computed independently */
    assert_string_equal(ha, "e1987daffa7096be2deb824b6f0306e3352b29fd6bc7671b0fe5bc164448c230");
    /* any change anywhere changes the pin */
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(b, "inputSchema"), "properties"), "b"),
        "description", json_string("and a side note"));
    assert_int_equal(pins_hash_def(b, hb), 0);
    assert_string_not_equal(ha, hb);
    json_decref(a);
    json_decref(b);
}

static void test_check_and_roundtrip(void **state)
{
    (void)state;
    json_t *v1 = parse("[{\"name\":\"a\",\"description\":\"one\"},{\"name\":\"b\",\"description\":"
                       "\"two\"},{\"name\":\"c\"}]");
    json_t *v2 = parse("[{\"name\":\"a\",\"description\":\"one\"},{\"name\":\"b\",\"description\":"
                       "\"two <IMPORTANT>\"},{\"name\":\"d\"}]");
    struct pins *p = pins_new("mcpwall test");
    assert_non_null(p);
    assert_int_equal(pins_set(p, "srv", "node srv.js", PINS_TOOL, v1), 0);
    assert_true(pins_has_server(p, "srv"));
    assert_true(pins_has_kind(p, "srv", PINS_TOOL));
    assert_false(pins_has_kind(p, "srv", PINS_PROMPT));

    char path[] = "/tmp/mcpwall-pins-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct pins_err pe;
    assert_int_equal(pins_save(p, path, &pe), 0);
    pins_free(p);
    p = pins_load(path, &pe);
    assert_non_null(p);

    struct pins_result res;
    assert_int_equal(pins_check(p, "srv", PINS_TOOL, v2, &res), 0);
    assert_int_equal(res.n, 4);
    assert_string_equal(res.d[0].name, "a");
    assert_int_equal(res.d[0].status, PINS_UNCHANGED);
    assert_string_equal(res.d[1].name, "b");
    assert_int_equal(res.d[1].status, PINS_CHANGED);
    assert_int_equal(strlen(res.d[1].old_hash), 64);
    assert_string_not_equal(res.d[1].old_hash, res.d[1].new_hash);
    assert_string_equal(res.d[1].old_hash, pins_lookup(p, "srv", PINS_TOOL, "b"));
    assert_string_equal(res.d[2].name, "c");
    assert_int_equal(res.d[2].status, PINS_REMOVED);
    assert_string_equal(res.d[3].name, "d");
    assert_int_equal(res.d[3].status, PINS_NEW);
    assert_int_equal(res.changed, 1);
    assert_int_equal(res.added, 1);
    assert_int_equal(res.removed, 1);
    assert_int_equal(res.unchanged, 1);
    pins_result_free(&res);
    /* the definition is kept for review */
    assert_string_equal(json_string_value(json_object_get(pins_lookup_def(p, "srv", PINS_TOOL, "b"),
                                                          "description")),
                        "two");
    /* an unknown server: everything is new */
    assert_int_equal(pins_check(p, "other", PINS_TOOL, v2, &res), 0);
    assert_int_equal(res.added, 3);
    pins_result_free(&res);
    /* approving one change */
    assert_int_equal(pins_set_one(p, "srv", PINS_TOOL, json_array_get(v2, 1)), 0);
    assert_int_equal(pins_remove_one(p, "srv", PINS_TOOL, "c"), 0);
    assert_int_equal(pins_remove_one(p, "srv", PINS_TOOL, "c"), -1);
    assert_int_equal(pins_check(p, "srv", PINS_TOOL, v2, &res), 0);
    assert_int_equal(res.changed, 0);
    assert_int_equal(res.removed, 0);
    assert_int_equal(res.added, 1);
    pins_result_free(&res);
    json_t *names = pins_servers(p);
    assert_int_equal(json_array_size(names), 1);
    json_decref(names);
    pins_free(p);
    unlink(path);
    json_decref(v1);
    json_decref(v2);
}

static void expect_load_error(const char *text, const char *want)
{
    char path[] = "/tmp/mcpwall-pins-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct pins_err pe;
    struct pins *p = pins_load(path, &pe);
    unlink(path);
    if (p != NULL)
        fail_msg("accepted: %s", text);
    if (strstr(pe.msg, want) == NULL)
        fail_msg("expected '%s' in '%s'", want, pe.msg);
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("{\"version\": 2, \"servers\": {}}", "'version' must be 1");
    expect_load_error("{\"version\": 1}", "'servers' must be an object");
    expect_load_error("{\"version\": 1, \"servers\": {\"s\": {\"tools\": {\"t\": {\"sha256\": "
                      "\"ABC\"}}}}}",
                      "servers.s.tools.t needs a 'sha256'");
    expect_load_error("{\"version\": 1,\n \"servers\": {} , }", ":2:");
    expect_load_error("{\"version\": 1, \"version\": 1, \"servers\": {}}", "duplicate_key");
    struct pins_err pe;
    assert_null(pins_load("/nonexistent/mcpwall.lock", &pe));
    assert_non_null(strstr(pe.msg, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_check_and_roundtrip),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
