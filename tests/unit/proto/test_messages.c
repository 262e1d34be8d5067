/* Table-driven: every case in tests/cases/proto/messages.jsonl goes through
 * rpc_parse() with the default budgets and must give exactly the expected
 * JSON-RPC code and reason (or, for valid messages, the expected kind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/jsonrpc.h"
#include "proto/jtape.h"
#include "testutil.h"

static const char *kind_name(enum rpc_kind k)
{
    switch (k) {
    case RPC_REQUEST: return "request";
    case RPC_NOTIFICATION: return "notification";
    case RPC_RESULT: return "result";
    case RPC_ERROR: return "error";
    }
    return "?";
}

static void test_message_table(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/proto/messages.jsonl");
    size_t i;
    json_t *c;
    size_t bad = 0;

    json_array_foreach(cases, i, c) {
        size_t len;
        char *in = tu_case_input(c, &len);
        struct rpc_msg m;
        struct rpc_err e;
        int rc = rpc_parse(in, len, NULL, &m, &e);
        const char *name = TU_CASE_NAME(c);
        json_t *code = json_object_get(c, "code");
        if (code != NULL) {
            bad++;
            if (rc == 0)
                fail_msg("case '%s': accepted, expected %lld %s", name,
                         (long long)json_integer_value(code),
                         json_string_value(json_object_get(c, "reason")));
            if (e.code != json_integer_value(code) ||
                strcmp(e.reason, json_string_value(json_object_get(c, "reason"))) != 0)
                fail_msg("case '%s': got %d %s (%s), expected %lld %s", name, e.code, e.reason,
                         e.msg, (long long)json_integer_value(code),
                         json_string_value(json_object_get(c, "reason")));
            assert_true(strlen(e.msg) > 10); /* a sentence, not a code */
            json_t *want_id = json_object_get(c, "id");
            if (want_id != NULL) {
                if (e.id == NULL || !rpc_id_equal(e.id, want_id))
                    fail_msg("case '%s': id not recovered for the error answer", name);
            }
            /* The error must serialise as a valid JSON-RPC error line. */
            struct buf out;
            buf_init(&out, 1 << 16);
            if (rpc_emit_error(&out, e.id, e.code, e.msg, e.reason, NULL) != 0)
                fail_msg("case '%s': error does not serialise", name);
            struct rpc_msg back;
            struct rpc_err e2;
            assert_int_equal(rpc_parse(buf_head(&out), buf_used(&out), NULL, &back, &e2), 0);
            assert_int_equal(back.kind, RPC_ERROR);
            rpc_msg_free(&back);
            buf_free(&out);
            rpc_err_clear(&e);
        } else {
            if (rc != 0)
                fail_msg("case '%s': rejected (%d %s: %s), expected a %s", name, e.code, e.reason,
                         e.msg, json_string_value(json_object_get(c, "kind")));
            assert_string_equal(kind_name(m.kind), json_string_value(json_object_get(c, "kind")));
            rpc_msg_free(&m);
        }
        free(in);
    }
    assert_true(bad >= 60);
    json_decref(cases);
}

/* The map key of an id is the same whether it is taken from the tape (the
 * gateway's hot path) or from a jansson tree (kit, HTTP transport): a
 * response is matched to its request by it. */
static void test_id_keys(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *key;
    } cases[] = {
        {"0", "n:0"},
        {"7", "n:7"},
        {"-1", "n:-1"},
        {"1234567890", "n:1234567890"},
        {"9223372036854775807", "n:9223372036854775807"},
        {"-9223372036854775808", "n:-9223372036854775808"},
        {"\"abc\"", "s:abc"},
        {"\"\"", "s:"},
        {"\"n:1\"", "s:n:1"},
        {"\"a\\u0041\"", "s:aA"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jtape t;
        jtape_init(&t);
        struct json_err je;
        assert_int_equal(jtape_parse(&t, cases[i].json, strlen(cases[i].json), NULL, &je), 0);
        char a[64], b[64];
        size_t na = rpc_id_key_tape(&t, 0, a, sizeof(a));
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        size_t nb = rpc_id_key(v, b, sizeof(b));
        assert_int_equal(na, strlen(cases[i].key));
        assert_string_equal(a, cases[i].key);
        assert_int_equal(nb, na);
        assert_string_equal(b, cases[i].key);
        /* One byte short of key + NUL: both refuse rather than cut. */
        size_t need = strlen(cases[i].key) + 1;
        assert_int_equal(rpc_id_key_tape(&t, 0, a, need - 1), 0);
        assert_int_equal(rpc_id_key(v, b, need - 1), 0);
        assert_int_equal(rpc_id_key_tape(&t, 0, a, need), need - 1);
        assert_int_equal(rpc_id_key(v, b, need), need - 1);
        json_decref(v);
        jtape_free(&t);
    }
    /* Not ids: a fraction, null, an object. */
    static const char *const bad[] = {"1.5", "null", "{}", "true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jtape t;
        jtape_init(&t);
        struct json_err je;
        assert_int_equal(jtape_parse(&t, bad[i], strlen(bad[i]), NULL, &je), 0);
        char a[64];
        assert_int_equal(rpc_id_key_tape(&t, 0, a, sizeof(a)), 0);
        json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_int_equal(rpc_id_key(v, a, sizeof(a)), 0);
        json_decref(v);
        jtape_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_table),
        cmocka_unit_test(test_id_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
