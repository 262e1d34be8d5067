/* SSE parsing and emitting: the case table in tests/cases/proto/sse.jsonl fed
 * whole, byte by byte and in odd chunks; emit/parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sse.h"
#include "testutil.h"

struct got {
    json_t *events; /* [[type, data, id, id_in_event], ...] */
};

static int collect(void *ud, const struct sse_event *ev)
{
    struct got *g = ud;
    json_array_append_new(g->events, json_pack("[s#,s#,s#,b]", ev->type, ev->type_len, ev->data,
                                               ev->data_len, ev->id, ev->id_len,
                                               ev->id_in_event));
    return 0;
}

/* Feeds in chunks of `step` bytes (0: all at once); returns the parser error. */
static enum sse_error run(const char *in, size_t len, size_t step, const struct sse_limits *lim,
                          struct got *g, struct sse_parser *p)
{
    sse_parser_init(p, lim);
    size_t off = 0;
    size_t k = step;
    while (off < len) {
        size_t n = step == 0 ? len : (k % 7) + 1;
        if (n > len - off)
            n = len - off;
        if (step == 1)
            n = 1;
        k = k * 5 + 3;
        if (sse_parser_feed(p, in + off, n, collect, g) < 0)
            return p->err;
        off += n;
    }
    return SSE_OK;
}

static void test_cases(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/proto/sse.jsonl");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        size_t len;
        char *in = tu_case_input(c, &len);
        struct sse_limits lim = sse_default_limits;
        json_t *jl = json_object_get(c, "limits");
        if (jl) {
            if (json_object_get(jl, "max_line"))
                lim.max_line = (size_t)json_integer_value(json_object_get(jl, "max_line"));
            if (json_object_get(jl, "max_event"))
                lim.max_event = (size_t)json_integer_value(json_object_get(jl, "max_event"));
            if (json_object_get(jl, "max_id"))
                lim.max_id = (size_t)json_integer_value(json_object_get(jl, "max_id"));
            if (json_object_get(jl, "max_type"))
                lim.max_type = (size_t)json_integer_value(json_object_get(jl, "max_type"));
        }
        for (size_t step = 0; step <= 2; step++) {
            struct got g = {json_array()};
            struct sse_parser p;
            enum sse_error e = run(in, len, step, &lim, &g, &p);
            const char *want_err = json_string_value(json_object_get(c, "error"));
            if (want_err != NULL) {
                if (strcmp(sse_error_code(e), want_err) != 0)
                    fail_msg("%s (step %zu): error %s, want %s", TU_CASE_NAME(c), step,
                             sse_error_code(e), want_err);
                /* A failed parser refuses everything after. */
                assert_int_equal(sse_parser_feed(&p, "data: x\n\n", 9, collect, &g), -1);
            } else if (e != SSE_OK) {
                fail_msg("%s (step %zu): unexpected error %s", TU_CASE_NAME(c), step,
                         sse_error_code(e));
            }
            json_t *want = json_object_get(c, "events");
            if (want != NULL && !json_equal(want, g.events)) {
                char *a = json_dumps(g.events, 0), *b = json_dumps(want, 0);
                fail_msg("%s (step %zu): got %s want %s", TU_CASE_NAME(c), step, a, b);
            }
            if (json_object_get(c, "count"))
                assert_int_equal(json_array_size(g.events),
                                 json_integer_value(json_object_get(c, "count")));
            const char *want_id = json_string_value(json_object_get(c, "last_id"));
            if (want_id != NULL) {
                size_t il;
                const char *id = sse_parser_last_id(&p, &il);
                assert_int_equal(il, strlen(want_id));
                assert_memory_equal(id, want_id, il);
            }
            if (json_object_get(c, "retry"))
                assert_int_equal(sse_parser_retry(&p),
                                 json_integer_value(json_object_get(c, "retry")));
            json_decref(g.events);
            sse_parser_free(&p);
        }
        free(in);
    }
    json_decref(cases);
}

/* What the emitter writes, the parser reads back unchanged (line breaks in
 * data come back as LF). */
static void test_roundtrip(void **state)
{
    (void)state;
    const char *datas[] = {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "", " leading space",
                           "two\nlines", "crlf\r\nend", "trailing\n", "cr\ronly", "\n\n"};
    const char *want[] = {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "", " leading space",
                          "two\nlines", "crlf\nend", "trailing\n", "cr\nonly", "\n\n"};
    for (size_t i = 0; i < sizeof(datas) / sizeof(datas[0]); i++) {
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(sse_emit_event(&b, "3-17", i % 2 ? "message" : NULL, datas[i],
                                        strlen(datas[i])),
                         0);
        assert_int_equal(sse_emit_comment(&b, "keepalive"), 0);
        struct got g = {json_array()};
        struct sse_parser p;
        sse_parser_init(&p, NULL);
        assert_int_equal(sse_parser_feed(&p, buf_head(&b), buf_used(&b), collect, &g), 0);
        assert_int_equal(json_array_size(g.events), 1);
        json_t *ev = json_array_get(g.events, 0);
        assert_string_equal(json_string_value(json_array_get(ev, 1)), want[i]);
        assert_string_equal(json_string_value(json_array_get(ev, 2)), "3-17");
        json_decref(g.events);
        sse_parser_free(&p);
        buf_free(&b);
    }
}

static void test_emit_refuses(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(sse_emit_event(&b, "bad\nid", NULL, "x", 1), -1);
    assert_int_equal(sse_emit_event(&b, NULL, "bad\rtype", "x", 1), -1);
    assert_int_equal(sse_emit_comment(&b, "two\nlines"), -1);
    assert_int_equal(buf_used(&b), 0);
    /* Over the buffer's budget: refused, and the buffer is unchanged. */
    assert_int_equal(sse_emit_event(&b, "1", NULL, "ok", 2), 0);
    size_t used = buf_used(&b);
    char big[100];
    memset(big, 'a', sizeof(big));
    assert_int_equal(sse_emit_event(&b, "2", NULL, big, sizeof(big)), -1);
    assert_int_equal(buf_used(&b), used);
    assert_int_equal(sse_emit_retry(&b, 1500), 0);
    buf_cstr(&b);
    assert_non_null(strstr(b.data, "retry: 1500\n\n"));
    buf_free(&b);
}

static int stop_at_first(void *ud, const struct sse_event *ev)
{
    (void)ev;
    (*(int *)ud)++;
    return 1;
}

static void test_callback_stops(void **state)
{
    (void)state;
    struct sse_parser p;
    sse_parser_init(&p, NULL);
    int n = 0;
    const char *in = "data: 1\n\ndata: 2\n\n";
    assert_int_equal(sse_parser_feed(&p, in, strlen(in), stop_at_first, &n), -1);
    assert_int_equal(n, 1);
    assert_int_equal(p.err, SSE_E_STOPPED);
    /* A reset (what a reconnecting client does) keeps the id, clears the error. */
    sse_parser_reset_stream(&p);
    assert_int_equal(sse_parser_feed(&p, in, strlen(in), NULL, NULL), 0);
    sse_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_emit_refuses),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
