#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/json.h"
#include "proto/jtape.h"
#include "util/utf8.h"

static json_t *parse(const char *s, struct json_err *e)
{
    return json_parse_strict(s, strlen(s), NULL, e);
}

static void test_offsets(void **state)
{
    (void)state;
    struct json_err e;
    assert_null(parse("{\"a\":1,\"a\":2}", &e));
    assert_int_equal(e.reason, JSON_E_DUPLICATE_KEY);
    assert_int_equal(e.offset, 7);
    assert_non_null(strstr(e.msg, "\"a\""));
    assert_non_null(strstr(e.msg, "byte 7"));
    assert_null(parse("[1, 2 3]", &e));
    assert_int_equal(e.reason, JSON_E_SYNTAX);
    assert_int_equal(e.offset, 6);
}

static void test_custom_limits(void **state)
{
    (void)state;
    struct json_limits lim = json_default_limits;
    struct json_err e;
    lim.max_depth = 2;
    json_t *two = json_parse_strict("[[1]]", 5, &lim, &e);
    assert_non_null(two);
    json_decref(two);
    assert_null(json_parse_strict("[[[1]]]", 7, &lim, &e));
    assert_int_equal(e.reason, JSON_E_DEPTH);
    lim = json_default_limits;
    lim.max_string = 3;
    json_t *ok = json_parse_strict("\"abc\"", 5, &lim, &e);
    assert_non_null(ok);
    json_decref(ok);
    assert_null(json_parse_strict("\"abcd\"", 6, &lim, &e));
    assert_int_equal(e.reason, JSON_E_STRING_TOO_LONG);
    /* Keys count against the string budget too. */
    assert_null(json_parse_strict("{\"abcd\":1}", 10, &lim, &e));
    assert_int_equal(e.reason, JSON_E_STRING_TOO_LONG);
    lim = json_default_limits;
    lim.max_members = 2;
    assert_null(json_parse_strict("{\"a\":1,\"b\":2,\"c\":3}", 19, &lim, &e));
    assert_int_equal(e.reason, JSON_E_TOO_MANY_MEMBERS);
    lim = json_default_limits;
    lim.max_items = 2;
    assert_null(json_parse_strict("[1,2,3]", 7, &lim, &e));
    assert_int_equal(e.reason, JSON_E_TOO_MANY_ITEMS);
    lim = json_default_limits;
    lim.max_bytes = 4;
    assert_null(json_parse_strict("[1,2]", 5, &lim, &e));
    assert_int_equal(e.reason, JSON_E_TOO_LARGE);
}

static void test_values(void **state)
{
    (void)state;
    struct json_err e;
    json_t *v = parse("{\"s\":\"a\\u00e9\\uD83D\\uDE00\\n\",\"i\":-42,\"r\":1.5e3,\"big\":"
                      "123456789012345678901234567890,\"t\":true,\"n\":null,\"z\":\"\\u0000x\"}",
                      &e);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "s")), "a\xc3\xa9\xf0\x9f\x98\x80\n");
    assert_int_equal(json_integer_value(json_object_get(v, "i")), -42);
    assert_true(json_real_value(json_object_get(v, "r")) == 1500.0);
    assert_true(json_is_real(json_object_get(v, "big")));
    assert_true(json_is_true(json_object_get(v, "t")));
    assert_true(json_is_null(json_object_get(v, "n")));
    assert_int_equal(json_string_length(json_object_get(v, "z")), 2);
    json_decref(v);
    /* Member order is preserved. */
    v = parse("{\"b\":1,\"a\":2}", &e);
    char *s = json_emit_str(v, NULL);
    assert_string_equal(s, "{\"b\":1,\"a\":2}");
    free(s);
    json_decref(v);
}

struct posrec {
    json_t *v[8];
    size_t off[8];
    size_t n;
};

static void record(void *ud, json_t *parent, const char *key, size_t keylen, size_t index,
                   json_t *v, size_t key_off, size_t off)
{
    (void)parent;
    (void)key;
    (void)keylen;
    (void)index;
    (void)key_off;
    struct posrec *r = ud;
    if (r->n < 8) {
        r->v[r->n] = v;
        r->off[r->n] = off;
        r->n++;
    }
}

static void test_positions(void **state)
{
    (void)state;
    const char *doc = "{\n  \"a\": [1,\n   \"x\"]\n}";
    struct json_err e;
    struct posrec r = {0};
    json_t *v = json_parse_strict_pos(doc, strlen(doc), NULL, &e, record, &r);
    assert_non_null(v);
    assert_int_equal(r.n, 4); /* 1, "x", array, object */
    size_t line, col;
    json_offset_linecol(doc, strlen(doc), r.off[1], &line, &col);
    assert_int_equal(line, 3);
    assert_int_equal(col, 4);
    json_offset_linecol(doc, strlen(doc), r.off[2], &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 8);
    json_decref(v);
}

static void test_emit_string(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\x01\x7f\xe2\x80\xa8z";
    assert_int_equal(json_emit_string(&b, in, sizeof(in) - 1), 0);
    buf_cstr(&b);
    assert_string_equal(buf_head(&b), "\"a\\\"b\\\\c\\n\\u0001\\u007f\\u2028z\"");
    /* Round trip through the strict parser. */
    struct json_err e;
    json_t *v = json_parse_strict(buf_head(&b), buf_used(&b), NULL, &e);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), sizeof(in) - 1);
    assert_memory_equal(json_string_value(v), in, sizeof(in) - 1);
    json_decref(v);
    buf_free(&b);
    /* Budget respected. */
    buf_init(&b, 4);
    assert_int_equal(json_emit_string(&b, "abcdef", 6), -1);
    buf_free(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    size_t bad;
    assert_int_equal(utf8_validate("h\xc3\xa9", 3, &bad), UTF8_OK);
    assert_int_equal(utf8_validate("ab\xc0\xaf", 4, &bad), UTF8_OVERLONG);
    assert_int_equal(bad, 2);
    assert_int_equal(utf8_validate("\xed\xbf\xbf", 3, &bad), UTF8_SURROGATE);
    assert_int_equal(utf8_validate("\xf4\x90\x80\x80", 4, &bad), UTF8_TOO_LARGE);
    assert_int_equal(utf8_count("h\xc3\xa9\xf0\x9f\x98\x80", 7), 3);
}

/* Strings with escapes at every offset and of every length around the
 * decoder's 16-byte steps: jt_str() gives back the original bytes and
 * jt_str_eq() agrees, and nothing is written past the decoded length (the
 * scratch buffer is sized to it; ASan and valgrind watch). */
static void test_tape_escapes(void **state)
{
    (void)state;
    static const char *const esc[] = {"\\n", "\\\\", "\\\"", "\\t", "\\u00e9", "\\ud83d\\ude00", "\\/"};
    static const char *const dec[] = {"\n", "\\", "\"", "\t", "\xc3\xa9", "\xf0\x9f\x98\x80", "/"};
    uint64_t r = 88172645463325252ull;
    for (int round = 0; round < 3000; round++) {
        char json[512], want[512];
        size_t jl = 0, wl = 0;
        json[jl++] = '"';
        size_t len = (size_t)(round % 97);
        for (size_t i = 0; i < len; i++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            if (r % 9 == 0) {
                size_t k = (size_t)(r >> 8) % (sizeof(esc) / sizeof(esc[0]));
                memcpy(json + jl, esc[k], strlen(esc[k]));
                jl += strlen(esc[k]);
                memcpy(want + wl, dec[k], strlen(dec[k]));
                wl += strlen(dec[k]);
            } else {
                char c = (char)('a' + (r >> 16) % 26);
                json[jl++] = c;
                want[wl++] = c;
            }
        }
        json[jl++] = '"';
        struct jtape t;
        struct json_err err;
        jtape_init(&t);
        assert_int_equal(jtape_parse(&t, json, jl, &json_default_limits, &err), 0);
        struct buf scratch;
        buf_init(&scratch, 0);
        size_t got;
        const char *s = jt_str(&t, 0, &got, &scratch);
        assert_non_null(s);
        assert_int_equal(got, wl);
        assert_memory_equal(s, want, wl);
        assert_true(jt_str_eq(&t, 0, want, wl));
        buf_free(&scratch);
        jtape_free(&t);
    }
}

/* json_emit_string against a byte-at-a-time reference, with the bytes that
 * need an escape (and non-ASCII ones that do not) at every offset and length
 * around the emitter's 16-byte steps. */
static void ref_escape(struct buf *b, const unsigned char *u, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    buf_append_char(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c == 0xe2 && i + 2 < n && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
            buf_append_str(b, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
            i += 2;
        } else if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_append(b, e, 2);
        } else if (c == '\n') {
            buf_append_str(b, "\\n");
        } else if (c == '\r') {
            buf_append_str(b, "\\r");
        } else if (c == '\t') {
            buf_append_str(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            buf_append(b, e, 6);
        } else {
            buf_append_char(b, (char)c);
        }
    }
    buf_append_char(b, '"');
}

static void test_emit_string_steps(void **state)
{
    (void)state;
    static const char *const pieces[] = {"\"", "\\", "\n", "\x01", "\x7f", "\xe2\x80\xa8",
                                         "\xe2\x80\xa9", "\xe2\x82\xac", "\xc3\xa9", "\t", "\x1f"};
    uint64_t r = 2463534242ull;
    for (int round = 0; round < 4000; round++) {
        unsigned char in[256];
        size_t n = 0, len = (size_t)(round % 83);
        while (n < len) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            if (r % 11 == 0) {
                const char *pc = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
                memcpy(in + n, pc, strlen(pc));
                n += strlen(pc);
            } else {
                in[n++] = (unsigned char)('a' + (r >> 16) % 26);
            }
        }
        struct buf got, want;
        buf_init(&got, 4096);
        buf_init(&want, 4096);
        assert_int_equal(json_emit_string(&got, (const char *)in, n), 0);
        ref_escape(&want, in, n);
        assert_int_equal(buf_used(&got), buf_used(&want));
        assert_memory_equal(buf_head(&got), buf_head(&want), buf_used(&want));
        buf_free(&got);
        buf_free(&want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),   cmocka_unit_test(test_custom_limits),
        cmocka_unit_test(test_values),    cmocka_unit_test(test_positions),
        cmocka_unit_test(test_emit_string), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_tape_escapes), cmocka_unit_test(test_emit_string_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
