/* The audit chain: intact logs verify; each kind of tampering is caught at the
 * first bad record; logs continue across restarts; a writer killed with
 * SIGKILL mid-stream never leaves a torn line; secrets never appear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "testutil.h"

static char dir[256];
static char logpath[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mcpwall-audit-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(logpath, sizeof(logpath), "%s/a.jsonl", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "%s/a.jsonl", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/a.jsonl.head", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/a-2.jsonl", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/a-2.jsonl.head", dir);
    unlink(cmd);
    rmdir(dir);
    return 0;
}

static void write_records(int n)
{
    char err[256];
    struct audit_opts o = {.path = logpath};
    struct audit_log *a = audit_open(&o, err, sizeof(err));
    assert_non_null(a);
    for (int i = 0; i < n; i++) {
        json_t *args = json_pack("{s:i,s:s}", "n", i, "api_key", "sk-live-SHOULD-NOT-APPEAR");
        struct audit_rec r = {.session = "s1", .dir = "c2s", .kind = "request",
                              .method = "tools/call", .target_kind = "tool", .target = "echo",
                              .decision = "allow", .rule = "default", .outcome = "ok",
                              .have_latency = true, .latency_us = 10, .gw_us = 2, .args = args};
        assert_int_equal(audit_append(a, &r), 0);
        json_decref(args);
        if (i % 3 == 0)
            assert_int_equal(audit_flush(a), 0);
    }
    audit_close(a);
}

static char **read_lines(size_t *n)
{
    size_t len;
    char *data = tu_read_file(logpath, &len);
    assert_non_null(data);
    char **lines = calloc(len + 1, sizeof(char *));
    *n = 0;
    char *save = data;
    for (char *p = data; *p;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
        lines[*n] = strndup(p, l);
        (*n)++;
        p += l;
    }
    free(save);
    return lines;
}

static void write_lines(char **lines, size_t n)
{
    FILE *f = fopen(logpath, "wb");
    for (size_t i = 0; i < n; i++)
        if (lines[i] != NULL)
            fputs(lines[i], f);
    fclose(f);
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static void expect_bad(uint64_t line, const char *words)
{
    struct audit_verify v;
    assert_int_equal(audit_verify_file(logpath, &v), 1);
    if (v.bad_line != line || strstr(v.msg, words) == NULL)
        fail_msg("verify: line %llu '%s' (expected line %llu with '%s')",
                 (unsigned long long)v.bad_line, v.msg, (unsigned long long)line, words);
}

static void test_intact_and_redacted(void **state)
{
    (void)state;
    write_records(10);
    struct audit_verify v;
    assert_int_equal(audit_verify_file(logpath, &v), 0);
    assert_int_equal(v.records, 10);
    assert_true(v.head_checked);
    size_t len;
    char *data = tu_read_file(logpath, &len);
    assert_null(strstr(data, "SHOULD-NOT-APPEAR"));
    assert_non_null(strstr(data, "\"args\":{\"n\":0,\"api_key\":\"[REDACTED]\"}"));
    free(data);
}

static void test_modified(void **state)
{
    (void)state;
    write_records(6);
    size_t n;
    char **l = read_lines(&n);
    char *p = strstr(l[3], "\"echo\"");
    p[1] = 'E'; /* tool echo -> Echo in record 4 */
    write_lines(l, n);
    free_lines(l, n);
    expect_bad(4, "was modified");
}

static void test_deleted(void **state)
{
    (void)state;
    write_records(6);
    size_t n;
    char **l = read_lines(&n);
    free(l[2]);
    l[2] = NULL;
    write_lines(l, n);
    free_lines(l, n);
    expect_bad(3, "deleted, inserted or reordered");
}

static void test_inserted(void **state)
{
    (void)state;
    write_records(6);
    size_t n;
    char **l = read_lines(&n);
    char **m = calloc(n + 2, sizeof(char *));
    for (size_t i = 0, j = 0; i < n; i++) {
        m[j++] = l[i];
        if (i == 1)
            m[j++] = strdup(l[1]); /* a replayed copy of record 2 */
    }
    write_lines(m, n + 1);
    free_lines(m, n + 1);
    free(l);
    expect_bad(3, "deleted, inserted or reordered");
}

static void test_reordered(void **state)
{
    (void)state;
    write_records(6);
    size_t n;
    char **l = read_lines(&n);
    char *t = l[1];
    l[1] = l[2];
    l[2] = t;
    write_lines(l, n);
    free_lines(l, n);
    expect_bad(2, "deleted, inserted or reordered");
}

static void test_truncated(void **state)
{
    (void)state;
    write_records(6);
    size_t n;
    char **l = read_lines(&n);
    write_lines(l, n - 2);
    free_lines(l, n);
    expect_bad(5, "truncated");
}

static void test_first_records_removed(void **state)
{
    (void)state;
    write_records(6);
    size_t n;
    char **l = read_lines(&n);
    free(l[0]);
    l[0] = NULL;
    write_lines(l, n);
    free_lines(l, n);
    expect_bad(1, "removed from the start");
}

static void test_cut_committed_record(void **state)
{
    (void)state;
    /* Cutting a committed record in half is truncation, not a crash. */
    write_records(4);
    size_t n;
    char **l = read_lines(&n);
    l[n - 1][strlen(l[n - 1]) / 2] = '\0';
    write_lines(l, n);
    free_lines(l, n);
    expect_bad(4, "truncated");
}

static void test_crash_fragment_recovered(void **state)
{
    (void)state;
    /* A crash mid-write leaves part of an uncommitted record after the last one. */
    write_records(4);
    FILE *f = fopen(logpath, "ab");
    fputs("{\"v\":1,\"seq\":5,\"ts\":\"2026-11-21T00:00:00Z\",\"event\":\"decis", f);
    fclose(f);
    struct audit_verify v;
    assert_int_equal(audit_verify_file(logpath, &v), 0);
    assert_non_null(strstr(v.msg, "uncommitted record cut by an interrupted write"));
    /* The next writer removes the fragment and says so in the log. */
    write_records(2);
    assert_int_equal(audit_verify_file(logpath, &v), 0);
    assert_false(v.torn_tail);
    assert_int_equal(v.records, 7);
    size_t len;
    char *data = tu_read_file(logpath, &len);
    assert_non_null(strstr(data, "\"event\":\"recovered\""));
    assert_null(strstr(data, "\"decis\n"));
    free(data);
}

static void test_rehashed_forgery_caught_by_head(void **state)
{
    (void)state;
    /* An attacker who drops the last record can pass the chain check but not the head. */
    write_records(5);
    size_t n;
    char **l = read_lines(&n);
    write_lines(l, n - 1);
    free_lines(l, n);
    expect_bad(5, "truncated");
}

static void test_continue_after_restart(void **state)
{
    (void)state;
    write_records(3);
    write_records(4);
    struct audit_verify v;
    assert_int_equal(audit_verify_file(logpath, &v), 0);
    assert_int_equal(v.records, 7);
}

static void test_lock(void **state)
{
    (void)state;
    char err[300];
    struct audit_opts o = {.path = logpath};
    struct audit_log *a = audit_open(&o, err, sizeof(err));
    assert_non_null(a);
    struct audit_log *b = audit_open(&o, err, sizeof(err));
    assert_null(b);
    assert_non_null(strstr(err, "in use by another mcpwall process"));
    o.pick_free_name = true;
    b = audit_open(&o, err, sizeof(err));
    assert_non_null(b);
    assert_non_null(strstr(b->path, "a-2.jsonl"));
    audit_close(b);
    audit_close(a);
}

static void test_sigkill_never_tears(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        unlink(logpath);
        pid_t pid = fork();
        if (pid == 0) {
            char err[256];
            struct audit_opts o = {.path = logpath};
            struct audit_log *a = audit_open(&o, err, sizeof(err));
            json_t *args = json_pack("{s:s}", "text", "payload payload payload payload");
            for (;;) {
                struct audit_rec r = {.session = "k", .method = "tools/call", .args = args};
                audit_append(a, &r);
                audit_append(a, &r);
                audit_flush(a);
            }
        }
        /* Wait until the writer is appending, then kill it at a varying moment. */
        struct stat st;
        for (int w = 0; w < 5000 && (stat(logpath, &st) < 0 || st.st_size == 0); w++)
            usleep(1000);
        usleep(2000 + (useconds_t)round * 3000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        struct audit_verify v;
        int rc = audit_verify_file(logpath, &v);
        if (rc != 0)
            fail_msg("round %d: %s", round, v.msg);
        assert_true(v.records > 0);
        /* Reopening removes any uncommitted fragment; the log stays intact. */
        char err[256];
        struct audit_opts o = {.path = logpath};
        struct audit_log *a = audit_open(&o, err, sizeof(err));
        assert_non_null(a);
        audit_close(a);
        rc = audit_verify_file(logpath, &v);
        if (rc != 0 || v.torn_tail)
            fail_msg("round %d after reopen: %s", round, v.msg);
    }
}

static void test_preview(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    json_t *v = json_pack("{s:s,s:{s:s},s:[{s:s}]}", "path", "/tmp/x", "headers", "Authorization",
                          "Bearer abc", "items", "password", "hunter2");
    audit_preview(v, 200, &b);
    buf_cstr(&b);
    assert_null(strstr(buf_head(&b), "abc"));
    assert_null(strstr(buf_head(&b), "hunter2"));
    assert_non_null(strstr(buf_head(&b), "/tmp/x"));
    json_decref(v);
    buf_reset(&b);
    /* Cut on a UTF-8 boundary with an ellipsis. */
    v = json_string("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    audit_preview(v, 6, &b);
    buf_cstr(&b);
    assert_string_equal(buf_head(&b), "\"\xc3\xa9\xc3\xa9...");
    json_decref(v);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact_and_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_records_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_committed_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_fragment_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rehashed_forgery_caught_by_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_never_tears, setup, teardown),
        cmocka_unit_test(test_preview),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
