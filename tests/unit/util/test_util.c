#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/str.h"

static bool g(const char *p, const char *s)
{
    return glob_match(p, s, strlen(s));
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(g("read_*", "read_file"));
    assert_true(g("read_*", "read_"));
    assert_false(g("read_*", "rea"));
    assert_true(g("*", ""));
    assert_true(g("*_file", "delete_file"));
    assert_false(g("*_file", "delete_files"));
    assert_true(g("a?c", "abc"));
    assert_false(g("a?c", "ac"));
    assert_true(g("[a-c]x", "bx"));
    assert_false(g("[!a-c]x", "bx"));
    assert_true(g("file:///data/*", "file:///data/a/b.txt"));
    assert_false(g("file:///data/*", "file:///data_secret/x"));
    assert_true(g("\\*", "*"));
    assert_false(g("\\*", "a"));
    assert_true(g("*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaab"));
    assert_false(g("*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_true(glob_is_literal("tools_x"));
    assert_false(glob_is_literal("tools_*"));
}

static void test_parse(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_size("4MiB", &v), 0);
    assert_int_equal(v, 4u << 20);
    assert_int_equal(parse_size("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(parse_size("1.5MiB", &v), -1);
    assert_int_equal(parse_size("-1", &v), -1);
    assert_int_equal(parse_size("99999999999999999999", &v), -1);
    assert_int_equal(parse_size("4XB", &v), -1);
    assert_int_equal(parse_duration_us("250ms", &v), 0);
    assert_int_equal(v, 250000);
    assert_int_equal(parse_duration_us("2s", &v), 0);
    assert_int_equal(v, 2000000);
    assert_int_equal(parse_duration_us("10", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_int_equal(parse_u64("18446744073709551616", UINT64_MAX, &v), -1);
    assert_int_equal(parse_u64("+1", UINT64_MAX, &v), -1);
    assert_int_equal(parse_u64(" 1", UINT64_MAX, &v), -1);
}

static void test_buf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_int_equal(buf_used(&b), 10);
    buf_consume(&b, 4);
    assert_int_equal(buf_append(&b, "abcd", 4), 0);
    assert_memory_equal(buf_head(&b), "456789abcd", 10);
    assert_int_equal(buf_printf(&b, "%d", 1), -1);
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%s-%d", "ab", 12), 0);
    buf_cstr(&b);
    assert_string_equal(buf_head(&b), "ab-12");
    buf_wipe_free(&b);
}

static void test_hash(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* FIPS 180-2 vector, fed in uneven pieces and also one-shot; HMAC from RFC 4231 case 2. */
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    struct sha256_ctx c;
    uint8_t d[SHA256_LEN];
    assert_int_equal(sha256_init(&c), 0);
    for (size_t off = 0, step = 1; off < strlen(msg); off += step, step += 3)
        assert_int_equal(sha256_update(&c, msg + off, off + step <= strlen(msg) ? step : strlen(msg) - off), 0);
    assert_int_equal(sha256_final(&c, d), 0);
    hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(sha256_hex(msg, strlen(msg), hex), 0);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), 0);
    hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_true(ct_equal("abc", 3, "abc", 3));
    assert_false(ct_equal("abc", 3, "abd", 3));
    assert_false(ct_equal("abc", 3, "ab", 2));
    uint8_t r1[16], r2[16];
    assert_int_equal(random_bytes(r1, 16), 0);
    assert_int_equal(random_bytes(r2, 16), 0);
    assert_memory_not_equal(r1, r2, 16);
}

/* file_read_all: the whole file NUL-terminated, and each refusal by its status. */
static void test_file_read_all(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcpwall-file-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/f", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello\nworld", f);
    fclose(f);

    size_t len = 0;
    enum file_status st;
    char *d = file_read_all(path, 64, &len, &st);
    assert_non_null(d);
    assert_int_equal(st, FILE_OK);
    assert_int_equal(len, 11);
    assert_string_equal(d, "hello\nworld");
    free(d);

    assert_null(file_read_all(path, 10, &len, &st));
    assert_int_equal(st, FILE_E_TOO_BIG);
    assert_null(file_read_all(dir, 64, &len, &st));
    assert_int_equal(st, FILE_E_NOT_REGULAR);
    unlink(path);
    assert_null(file_read_all(path, 64, &len, &st));
    assert_int_equal(st, FILE_E_OPEN);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_file_read_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
