/* Secret references: ${env:NAME} and ${file:PATH} resolved at load, file
 * ownership and permission checks with messages that say what to do,
 * references inside longer values, escapes, errors with positions, the
 * registry that blanks secret values out of log lines, and release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "authkit.h"
#include "policy/secrets.h"
#include "util/log.h"

static int teardown(void **state)
{
    (void)state;
    tk_rmdir();
    return 0;
}

static struct secret *expand_ok(const char *s, const char *base)
{
    struct secret *out = NULL;
    char err[512];
    if (secret_expand(s, base, &out, err, sizeof(err)) < 0)
        fail_msg("'%s': %s", s, err);
    return out;
}

static void expand_err(const char *s, const char *base, const char *want)
{
    struct secret *out = NULL;
    char err[512] = "";
    if (secret_expand(s, base, &out, err, sizeof(err)) == 0) {
        secret_unref(out);
        fail_msg("'%s' accepted", s);
    }
    if (strstr(err, want) == NULL)
        fail_msg("'%s': got '%s', want '%s'", s, err, want);
}

static void test_env(void **state)
{
    (void)state;
    setenv("MW_TEST_TOKEN", "tok-env-4f1c9a2b7e", 1);
    setenv("MW_TEST_EMPTY", "", 1);
    unsetenv("MW_TEST_UNSET");
    struct secret *s = expand_ok("${env:MW_TEST_TOKEN}", NULL);
    size_t n;
    assert_string_equal(secret_value(s, &n), "tok-env-4f1c9a2b7e");
    assert_int_equal(n, 18);
    assert_string_equal(secret_label(s), "${env:MW_TEST_TOKEN}");
    assert_true(secret_equals(s, "tok-env-4f1c9a2b7e", 18));
    assert_false(secret_equals(s, "tok-env-4f1c9a2b7", 17));
    assert_false(secret_equals(s, "tok-env-4f1c9a2b7f", 18));
    secret_unref(s);
    s = expand_ok("Bearer ${env:MW_TEST_TOKEN}!", NULL);
    assert_string_equal(secret_value(s, NULL), "Bearer tok-env-4f1c9a2b7e!");
    secret_unref(s);
    s = expand_ok("cost: $5, literal $${env:X}", NULL);
    assert_string_equal(secret_value(s, NULL), "cost: $5, literal ${env:X}");
    assert_string_equal(secret_label(s), "literal");
    secret_unref(s);
    expand_err("${env:MW_TEST_UNSET}", NULL, "environment variable MW_TEST_UNSET is not set");
    expand_err("${env:MW_TEST_EMPTY}", NULL, "environment variable MW_TEST_EMPTY is empty");
    expand_err("${env:1BAD}", NULL, "not a valid environment variable name");
    expand_err("${env:A-B}", NULL, "not a valid environment variable name");
    expand_err("${vault:x}", NULL, "unknown secret reference '${vault:x}'");
    expand_err("${MW_TEST_TOKEN}", NULL, "unknown secret reference");
    expand_err("${env:MW_TEST_TOKEN", NULL, "unterminated");
    expand_err("${env:MW_TEST_TOKEN}${env:MW_TEST_TOKEN}${env:MW_TEST_TOKEN}${env:MW_TEST_TOKEN}"
               "${env:MW_TEST_TOKEN}${env:MW_TEST_TOKEN}${env:MW_TEST_TOKEN}${env:MW_TEST_TOKEN}"
               "${env:MW_TEST_TOKEN}",
               NULL, "more than 8");
    assert_true(secret_has_ref("x${env:A}"));
    assert_false(secret_has_ref("x$${env:A}"));
    assert_false(secret_has_ref("$5"));
}

static void test_file(void **state)
{
    (void)state;
    const char *dir = tk_tmpdir();
    tk_write("ok.secret", "file-secret-93be21\n", 0600);
    tk_write("ro.secret", "file-secret-ro\r\n", 0400);
    tk_write("wide.secret", "x", 0644);
    tk_write("group.secret", "x", 0640);
    tk_write("empty.secret", "", 0600);
    struct secret *s = expand_ok("${file:ok.secret}", dir);
    assert_string_equal(secret_value(s, NULL), "file-secret-93be21"); /* newline dropped */
    assert_string_equal(secret_label(s), "${file:ok.secret}");
    secret_unref(s);
    s = expand_ok("${file:ro.secret}", dir);
    assert_string_equal(secret_value(s, NULL), "file-secret-ro");
    secret_unref(s);
    char abs[512];
    snprintf(abs, sizeof(abs), "${file:%s/ok.secret}", dir);
    s = expand_ok(abs, "/nonexistent");
    assert_string_equal(secret_value(s, NULL), "file-secret-93be21");
    secret_unref(s);
    /* Refused, with what to do. */
    expand_err("${file:wide.secret}", dir,
               "accessible by group or others (mode 0644); run: chmod 600");
    expand_err("${file:group.secret}", dir, "(mode 0640)");
    expand_err("${file:empty.secret}", dir, "is empty");
    expand_err("${file:missing.secret}", dir, "cannot open secret file");
    expand_err("${file:.}", dir, "is not a regular file");
    expand_err("${file:}", dir, "needs a path");
    if (geteuid() == 0) {
        /* Owned by someone else (only root can arrange that). */
        const char *p = tk_write("other.secret", "x", 0600);
        assert_int_equal(chown(p, 65534, 65534), 0);
        expand_err("${file:other.secret}", dir, "is owned by uid 65534, not by the user");
    }
}

static void test_from_config(void **state)
{
    (void)state;
    tk_write("cfg.secret", "cfg-secret-a81f", 0600);
    setenv("MW_TEST_TOKEN", "tok-env-4f1c9a2b7e", 1);
    const char *y = "a: ${file:cfg.secret}\n"
                    "b: plain\n"
                    "c: [\"${env:MW_TEST_TOKEN}\", \"${env:MW_TEST_NOPE}\"]\n"
                    "d: 5\n"
                    "e: ${file:wide2.secret}\n";
    tk_write("wide2.secret", "w", 0666);
    char path[512];
    snprintf(path, sizeof(path), "%s/c.yaml", tk_tmpdir());
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem(path, y, strlen(y), false, &e);
    assert_non_null(d);
    struct secret *s = NULL;
    /* Relative to the configuration's folder. */
    assert_int_equal(secret_from_cfg(&e, d, d->root, "a", 0, true, &s), 0);
    assert_string_equal(secret_value(s, NULL), "cfg-secret-a81f");
    secret_unref(s);
    assert_int_equal(secret_from_cfg(&e, d, d->root, "b", 0, true, &s), -1);
    assert_int_equal(secret_from_cfg(&e, d, d->root, "b", 0, false, &s), 0);
    secret_unref(s);
    const json_t *c = json_object_get(d->root, "c");
    assert_int_equal(secret_from_cfg(&e, d, c, NULL, 0, true, &s), 0);
    secret_unref(s);
    assert_int_equal(secret_from_cfg(&e, d, c, NULL, 1, true, &s), -1);
    assert_int_equal(secret_from_cfg(&e, d, d->root, "d", 0, true, &s), -1);
    assert_int_equal(secret_from_cfg(&e, d, d->root, "e", 0, true, &s), -1);
    assert_int_equal(secret_from_cfg(&e, d, d->root, "zz", 0, true, &s), 1);
    assert_int_equal(e.n, 4);

    assert_non_null(strstr(e.msgs[0], "c.yaml:2:4: b is a secret: write a reference"));
    assert_non_null(strstr(e.msgs[1], "c.yaml:3:29: ${env:MW_TEST_NOPE}: environment variable"));
    assert_non_null(strstr(e.msgs[2], "c.yaml:4:4: d must be a string"));
    assert_non_null(strstr(e.msgs[3], "c.yaml:5:4: secret file"));
    assert_non_null(strstr(e.msgs[3], "chmod 600"));
    cfg_errors_free(&e);
    cfg_doc_free(d);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_scrub(void **state)
{
    (void)state;
    size_t before = secret_registered();
    char path[512];
    snprintf(path, sizeof(path), "%s/log.txt", tk_tmpdir());
    FILE *lf = fopen(path, "w+");
    assert_non_null(lf);
    enum log_level old = log_get_level();
    log_init("test", LOG_LVL_DEBUG, fileno(lf));
    struct secret *s = secret_new("sk-live-0123456789", 18, "test");
    setenv("MW_TEST_HDR", "hdr-secret-xyz42", 1);
    struct secret *h = expand_ok("Bearer ${env:MW_TEST_HDR}", NULL);
    struct secret *tiny = secret_new("abc", 3, "tiny");
    struct secret *lit = expand_ok("no references here", NULL);
    assert_int_equal(secret_registered(), before + 2); /* tiny and literal are not */
    /* A bug that logs secrets: the values are blanked, the rest is kept. */
    log_warnx("oops %s and %s and again %s; abc stays", secret_value(s, NULL),
              secret_value(h, NULL), secret_value(s, NULL));
    fflush(lf);
    const char *out = read_all(path);
    assert_null(strstr(out, "sk-live-0123456789"));
    assert_null(strstr(out, "hdr-secret-xyz42"));
    assert_non_null(strstr(out, "oops ****************** and Bearer **************** and again"));
    assert_non_null(strstr(out, "abc stays"));
    /* In-place scrub of any buffer. */
    char buf[] = "x=sk-live-0123456789&y=sk-live-0123456789";
    assert_int_equal(secret_scrub(buf, strlen(buf)), 2);
    assert_null(strstr(buf, "sk-live"));
    /* Released secrets are forgotten. */
    secret_unref(s);
    secret_unref(h);
    secret_unref(tiny);
    secret_unref(lit);
    assert_int_equal(secret_registered(), before);
    char buf2[] = "sk-live-0123456789";
    assert_int_equal(secret_scrub(buf2, strlen(buf2)), 0);
    log_init("mcpwall", old, 2);
    fclose(lf);
    /* References are shared, not copied. */
    struct secret *r = secret_new("shared-value-1", 14, "x");
    assert_ptr_equal(secret_ref(r), r);
    secret_unref(r);
    assert_string_equal(secret_value(r, NULL), "shared-value-1");
    secret_unref(r);
    secret_unref(NULL);
    assert_null(secret_new("x", SECRET_MAX_BYTES + 1, "big"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_from_config),
        cmocka_unit_test(test_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
