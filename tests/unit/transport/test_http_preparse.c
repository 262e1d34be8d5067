/* The strict HTTP pre-parser against tests/cases/transport/http_preparse.jsonl,
 * fed whole, byte by byte and in odd chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "transport/http_preparse.h"

static size_t feed(struct hpp *p, const char *in, size_t len, int mode)
{
    size_t off = 0, acc = 0, k = 1;
    while (off < len) {
        size_t n = mode == 0 ? len - off : mode == 1 ? 1 : (k % 9) + 1;
        if (n > len - off)
            n = len - off;
        k = k * 3 + 1;
        size_t got = hpp_feed(p, in + off, n, NULL, NULL);
        acc += got;
        if (got < n)
            break;
        off += n;
    }
    return acc;
}

static void test_cases(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/transport/http_preparse.jsonl");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        size_t len;
        char *in = tu_case_input(c, &len);
        struct hpp_limits lim = {0};
        json_t *jl = json_object_get(c, "limits");
        lim.max_body = (size_t)json_integer_value(json_object_get(jl, "max_body"));
        lim.max_header_bytes = (size_t)json_integer_value(json_object_get(jl, "max_header_bytes"));
        lim.max_headers = (size_t)json_integer_value(json_object_get(jl, "max_headers"));
        int want_status = (int)json_integer_value(json_object_get(c, "status"));
        const char *want_reason = json_string_value(json_object_get(c, "reason"));
        json_int_t want_req = json_integer_value(json_object_get(c, "requests"));
        for (int mode = 0; mode < 3; mode++) {
            struct hpp p;
            hpp_init(&p, &lim);
            size_t acc = feed(&p, in, len, mode);
            if (p.status != want_status)
                fail_msg("%s (mode %d): status %d (%s), want %d", TU_CASE_NAME(c), mode, p.status,
                         p.reason ? p.reason : "-", want_status);
            if (want_reason != NULL && strcmp(p.reason, want_reason) != 0)
                fail_msg("%s (mode %d): reason %s, want %s", TU_CASE_NAME(c), mode, p.reason,
                         want_reason);
            if ((json_int_t)p.requests != want_req)
                fail_msg("%s (mode %d): %llu requests, want %lld", TU_CASE_NAME(c), mode,
                         (unsigned long long)p.requests, (long long)want_req);
            if (want_status == 0)
                assert_int_equal(acc, len);
            else
                assert_true(acc < len);
            hpp_free(&p);
        }
        free(in);
    }
    json_decref(cases);
}

/* The terminator of a refused line is never accepted, so the parser behind
 * never sees a complete bad request. */
static void test_refusal_withholds_terminator(void **state)
{
    (void)state;
    const char *in = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999\r\n\r\n";
    struct hpp_limits lim = {.max_body = 10};
    struct hpp p;
    hpp_init(&p, &lim);
    size_t got = hpp_feed(&p, in, strlen(in), NULL, NULL);
    assert_int_equal(p.status, 413);
    assert_int_equal(got, strlen(in) - 1); /* all but the final LF */
    hpp_free(&p);
}

struct order {
    char log[64];
    size_t n;
    int refuse_body;
};

static void o_hs(void *ud)
{
    struct order *o = ud;
    o->log[o->n++] = 'h';
}
static void o_he(void *ud)
{
    struct order *o = ud;
    o->log[o->n++] = 'e';
}
static int o_body(void *ud, size_t n)
{
    struct order *o = ud;
    (void)n;
    o->log[o->n++] = 'b';
    return o->refuse_body ? -1 : 0;
}
static void o_done(void *ud, uint64_t bytes)
{
    struct order *o = ud;
    (void)bytes;
    o->log[o->n++] = 'd';
}

static void test_hooks(void **state)
{
    (void)state;
    const struct hpp_hooks h = {o_hs, o_he, o_body, o_done};
    const char *in = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n"
                     "Host: a\r\n\r\n";
    struct order o = {0};
    struct hpp p;
    hpp_init(&p, NULL);
    assert_int_equal(hpp_feed(&p, in, strlen(in), &h, &o), strlen(in));
    o.log[o.n] = '\0';
    assert_string_equal(o.log, "hebdhd");
    assert_int_equal(hpp_phase(&p), HPP_IDLE);
    hpp_free(&p);
    /* A body hook that refuses (shared budget) stops with 503. */
    struct order o2 = {.refuse_body = 1};
    hpp_init(&p, NULL);
    assert_true(hpp_feed(&p, in, strlen(in), &h, &o2) < strlen(in));
    assert_int_equal(p.status, 503);
    assert_string_equal(p.reason, "server_busy");
    hpp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_refusal_withholds_terminator),
        cmocka_unit_test(test_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
