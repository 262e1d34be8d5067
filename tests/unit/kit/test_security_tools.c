/* Unit tests of mcp-security-tools' parts: address classification (table in
 * tests/cases/security-tools/ip.jsonl), the reputation list loader and
 * longest-prefix lookups, log path resolution against traversal, symlinks and
 * prefix twins, the bounded search, sanitising, redaction and the config. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipcheck.h"
#include "logsearch.h"
#include "redact.h"
#include "reputation.h"
#include "st_config.h"
#include "testutil.h"

static void test_ip_table(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/security-tools/ip.jsonl");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const json_t *ip = json_object_get(c, "ip");
        const char *verdict = json_string_value(json_object_get(c, "verdict"));
        struct ip_check chk;
        ip_check(json_string_value(ip), json_string_length(ip), &chk);
        const char *got = chk.verdict == IP_PUBLIC    ? "public"
                          : chk.verdict == IP_INVALID ? "invalid"
                                                      : "reserved";
        if (strcmp(got, verdict) != 0)
            fail_msg("%s: verdict %s, want %s (%s)", TU_CASE_NAME(c), got, verdict, chk.msg);
        const char *range = json_string_value(json_object_get(c, "range"));
        if (range != NULL && strcmp(range, chk.range) != 0)
            fail_msg("%s: range %s, want %s", TU_CASE_NAME(c), chk.range, range);
        if (chk.verdict != IP_PUBLIC)
            assert_true(strlen(chk.msg) > 10);
        const char *lookup = json_string_value(json_object_get(c, "lookup"));
        if (lookup != NULL) {
            char buf[64];
            ip_format(&chk.addr, buf, sizeof(buf));
            if (strcmp(buf, lookup) != 0)
                fail_msg("%s: looks up %s, want %s", TU_CASE_NAME(c), buf, lookup);
        }
    }
    json_decref(cases);
}

static struct ip_addr addr(const char *s)
{
    struct ip_check chk;
    ip_check(s, strlen(s), &chk);
    return chk.addr;
}

static void test_reputation_lookup(void **state)
{
    (void)state;
    struct rep_db *db = rep_db_new();
    struct cfg_errors e;
    cfg_errors_init(&e);
    const char *a = "# feed A\n"
                    "45.0.0.0/8 broad\n"
                    "45.155.205.0/24 scanner\r\n"
                    "45.155.205.233 brute-force  # a host\n"
                    "  ; another comment\n"
                    "\n"
                    "2a0e:b107::/32 scanner\n"
                    "45.155.205.233 brute-force\n"; /* duplicate: reported once */
    const char *b = "45.155.205.128/25\n"
                    "8.8.8.0/24 other\n";
    assert_int_equal(rep_db_load_mem(db, "A", "a.txt", a, strlen(a), NULL, &e), 5);
    assert_int_equal(rep_db_load_mem(db, "B", "b.txt", b, strlen(b), "tor-exit", &e), 2);
    assert_int_equal(e.n, 0);
    rep_db_finish(db);
    struct rep_match m[8];
    struct ip_addr x = addr("45.155.205.233");
    size_t n = rep_db_lookup(db, &x, m, 8);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].list, "A"); /* most specific first: A's /32 */
    assert_string_equal(m[0].category, "brute-force");
    assert_string_equal(m[0].network, "45.155.205.233/32");
    assert_string_equal(m[1].list, "B");
    assert_string_equal(m[1].category, "tor-exit");
    assert_string_equal(m[1].network, "45.155.205.128/25");
    x = addr("45.155.205.100"); /* outside B's /25, inside A's /24 */
    n = rep_db_lookup(db, &x, m, 8);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].category, "scanner");
    x = addr("45.1.2.3");
    n = rep_db_lookup(db, &x, m, 8);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].network, "45.0.0.0/8");
    x = addr("2a0e:b107:1170::42");
    n = rep_db_lookup(db, &x, m, 8);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].network, "2a0e:b107::/32");
    x = addr("9.9.9.9");
    assert_int_equal(rep_db_lookup(db, &x, m, 8), 0);
    rep_db_free(db);
    cfg_errors_free(&e);
}

static void test_reputation_errors(void **state)
{
    (void)state;
    struct rep_db *db = rep_db_new();
    struct cfg_errors e;
    cfg_errors_init(&e);
    const char *bad = "10.0.0.1/8 x\n"          /* host bits */
                      "1.2.3.4/33 x\n"          /* prefix */
                      "1.2.3.4/08 x\n"          /* leading zero */
                      "1.2.3 x\n"               /* not an address */
                      "1.2.3.4 bad/cat\n"       /* category chars */
                      "1.2.3.4 a b\n"           /* too many tokens */
                      "5.6.7.8\n"               /* no category, no default */
                      "::ffff:1.2.3.0/120 x\n"; /* mapped */
    assert_int_equal(rep_db_load_mem(db, "bad", "bad.txt", bad, strlen(bad), NULL, &e), -1);
    assert_int_equal(e.n, 8);
    assert_string_equal(e.msgs[0], "bad.txt:1: host bits are set: the network is 10.0.0.0/8");
    assert_non_null(strstr(e.msgs[1], "bad.txt:2:"));
    assert_non_null(strstr(e.msgs[6], "no category"));
    assert_non_null(strstr(e.msgs[7], "IPv4-mapped"));
    rep_db_finish(db);
    assert_int_equal(rep_db_entries(db), 0); /* nothing of a refused list is kept */
    rep_db_free(db);
    cfg_errors_free(&e);
}

/* ---- log paths -------------------------------------------------------------- */

static char tmp[256];

static void write_file(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* `rel` starting with '~' is taken relative to the temporary directory. */
static int resolve(const struct logset *ls, const char *rel, char *msg, size_t msgsz)
{
    char p[600];
    if (rel[0] == '~')
        snprintf(p, sizeof(p), "%s%s", tmp, rel + 1);
    else
        snprintf(p, sizeof(p), "%s", rel);
    return logset_resolve(ls, p, strlen(p), msg, msgsz);
}

static void test_log_paths(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/st-unit-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    char p[600], q[600];
    snprintf(p, sizeof(p), "%s/log", tmp);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/other", tmp);
    mkdir(p, 0700);
    write_file("log/app.log", "a\n");
    write_file("log/app.log.bak", "secret\n");
    write_file("other/x.log", "x\n");
    snprintf(p, sizeof(p), "%s/log/app.log", tmp);
    snprintf(q, sizeof(q), "%s/link.log", tmp);
    assert_int_equal(symlink(p, q), 0);
    snprintf(p, sizeof(p), "%s/log", tmp);
    snprintf(q, sizeof(q), "%s/linkdir", tmp);
    assert_int_equal(symlink(p, q), 0);

    struct logset ls = {0};
    struct cfg_errors e;
    cfg_errors_init(&e);
    snprintf(p, sizeof(p), "%s/log/app.log", tmp);
    assert_int_equal(logset_add(&ls, p, &e), 0);
    assert_int_equal(logset_add(&ls, "relative.log", &e), -1);
    snprintf(p, sizeof(p), "%s/link.log", tmp); /* the same file again, via a link */
    assert_int_equal(logset_add(&ls, p, &e), -1);
    assert_int_equal(e.n, 2);

    char msg[300];
    assert_int_equal(resolve(&ls, "~/log/app.log", msg, sizeof(msg)), 0);
    int fd = logset_open(&ls, 0);
    assert_true(fd >= 0);
    close(fd);
    static const struct {
        const char *fmt;
        const char *why;
    } refused[] = {
        {"~/log/../log/app.log", "'..'"},
        {"~/other/../log/app.log", "'..'"},
        {"~/log/./app.log", "canonical"},
        {"~//log/app.log", "canonical"},
        {"~/log/app.log/", "canonical"},
        {"~/link.log", "symbolic link"},
        {"~/linkdir/app.log", "symbolic link"},
        {"~/log/app.log.bak", "not one of the configured"},
        {"~/log/app.lo", "not one of the configured"},
        {"~/other/x.log", "not one of the configured"},
        {"log/app.log", "absolute"},
        {"/etc/passwd", "not one of the configured"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int rc = resolve(&ls, refused[i].fmt, msg, sizeof(msg));
        if (rc != -1 || strstr(msg, refused[i].why) == NULL)
            fail_msg("%s: rc %d, message '%s' (want '%s')", refused[i].fmt, rc, msg,
                     refused[i].why);
        assert_null(strstr(msg, "No such file")); /* no errno text */
    }
    const char nul[] = "/x\0y";
    assert_int_equal(logset_resolve(&ls, nul, 4, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "NUL"));

    /* A directory on the configured path swapped for a symlink after start is refused. */
    snprintf(p, sizeof(p), "%s/log", tmp);
    snprintf(q, sizeof(q), "%s/log-real", tmp);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(symlink(q, p), 0);
    assert_int_equal(resolve(&ls, "~/log/app.log", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "symbolic link"));
    assert_int_equal(logset_open(&ls, 0), -1); /* openat2 refuses it too */
    logset_free(&ls);
    cfg_errors_free(&e);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "%s/log", tmp);
    unlink(cmd);
    static const char *const files[] = {"log-real/app.log", "log-real/app.log.bak",
                                        "other/x.log", "link.log", "linkdir"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(cmd, sizeof(cmd), "%s/%s", tmp, files[i]);
        unlink(cmd);
    }
    snprintf(cmd, sizeof(cmd), "%s/log-real", tmp);
    rmdir(cmd);
    snprintf(cmd, sizeof(cmd), "%s/other", tmp);
    rmdir(cmd);
    rmdir(tmp);
}

/* ---- the search ------------------------------------------------------------- */

static const struct logsearch_opts opts = {
    .match_limit = 100000,
    .depth_limit = 1000,
    .heap_limit_kib = 8192,
    .timeout_us = 10 * 1000000ull,
    .max_output = 1000,
    .max_line_len = 40,
    .max_pattern = 100,
    .max_scan_line = 64,
    .redact = true,
};

static int mem_fd(const char *text)
{
    char path[] = "/tmp/st-search-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static json_t *search(const char *text, const char *pat, unsigned max_lines,
                      const struct logsearch_opts *o, enum logsearch_status *st, char *err)
{
    struct logsearch *s = logsearch_new(mem_fd(text), pat, strlen(pat), max_lines, o, err, 300);
    if (s == NULL) {
        *st = LS_FAILED;
        return NULL;
    }
    while ((*st = logsearch_step(s, 1000, err, 300)) == LS_MORE)
        ;
    json_t *r = *st == LS_DONE ? logsearch_result(s) : NULL;
    logsearch_free(s);
    return r;
}

static void test_search(void **state)
{
    (void)state;
    enum logsearch_status st;
    char err[300];
    json_t *r = search("one ERROR\ntwo ok\nthree ERROR token=abc123\n\xff\x1b[31mERROR\n", "ERROR",
                       10, &opts, &st, err);
    assert_non_null(r);
    const json_t *m = json_object_get(r, "matches");
    assert_int_equal(json_array_size(m), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 1), "line")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "text")),
                        "three ERROR token=[REDACTED]");
    /* invalid UTF-8 and the terminal escape are neutralised */
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "text")),
                        "\xef\xbf\xbd\xef\xbf\xbd[31mERROR");
    assert_string_equal(json_string_value(json_object_get(r, "stopped_by")), "end_of_file");
    assert_false(json_is_true(json_object_get(r, "truncated")));
    json_decref(r);

    /* max_lines stops early and says so */
    r = search("a\na\na\na\n", "a", 2, &opts, &st, err);
    assert_int_equal(json_array_size(json_object_get(r, "matches")), 2);
    assert_string_equal(json_string_value(json_object_get(r, "stopped_by")), "max_lines");
    assert_true(json_is_true(json_object_get(r, "truncated")));
    json_decref(r);

    /* long lines are cut; the total output is capped */
    struct logsearch_opts small = opts;
    small.max_output = 100;
    char big[4096];
    const char *row = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
    size_t rl = strlen(row);
    for (size_t i = 0; i < 10; i++)
        memcpy(big + i * rl, row, rl);
    big[10 * rl] = '\0';
    r = search(big, "x", 100, &small, &st, err);
    const json_t *first = json_array_get(json_object_get(r, "matches"), 0);
    assert_int_equal(json_string_length(json_object_get(first, "text")), 40);
    assert_string_equal(json_string_value(json_object_get(r, "stopped_by")), "output_limit");
    assert_int_equal(json_array_size(json_object_get(r, "matches")), 2);
    json_decref(r);

    /* catastrophic backtracking is stopped by the match limit, quickly */
    r = search("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\n", "^(a+)+$", 10, &opts, &st, err);
    assert_null(r);
    assert_int_equal(st, LS_FAILED);
    assert_non_null(strstr(err, "limit"));
    assert_non_null(strstr(err, "line 1"));
    r = search("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab\n", "(a|a)*b$|(a|aa)+c", 10, &opts, &st, err);
    if (r != NULL) { /* PCRE2 may optimise this one away; then it must not match */
        assert_int_equal(json_array_size(json_object_get(r, "matches")), 1);
        json_decref(r);
    }

    /* bad patterns are refused with PCRE2's own message */
    r = search("x\n", "(unclosed", 10, &opts, &st, err);
    assert_null(r);
    assert_non_null(strstr(err, "not a valid regular expression"));
    char longpat[200];
    memset(longpat, 'a', 150);
    longpat[150] = '\0';
    r = search("x\n", longpat, 10, &opts, &st, err);
    assert_null(r);
    assert_non_null(strstr(err, "1 to 100 bytes"));
}

static void test_sanitize_and_redact(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    /* a cut never splits a character */
    logsearch_sanitize("ab\xc3\xa9", 4, 3, false, &b);
    assert_int_equal(buf_used(&b), 2);
    buf_reset(&b);
    logsearch_sanitize("a\nb\x7f\xe2\x80\xae", 7, 100, true, &b);
    buf_cstr(&b);
    assert_string_equal(buf_head(&b), "a\nb\xef\xbf\xbd\xef\xbf\xbd");
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"key AKIAABCDEFGHIJKLMNOP end", "key [REDACTED] end"},
        {"Authorization: Bearer abcdefghijklmnop123", "Authorization: Bearer [REDACTED]"},
        {"password=hunter2 user=bob", "password=[REDACTED] user=bob"},
        {"\"api_key\": \"sk-abcdefghijklmnopqrstuvwx\"", "\"api_key\": \"[REDACTED]\""},
        {"https://user:pa55@host/x", "https://user:[REDACTED]@host/x"},
        {"jwt eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", "jwt [REDACTED]"},
        {"token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED]"},
        {"nothing to see", "nothing to see"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&b);
        assert_true(redact_text(cases[i].in, strlen(cases[i].in), &b) >= 0);
        buf_cstr(&b);
        if (strcmp(buf_head(&b), cases[i].out) != 0)
            fail_msg("redact '%s' -> '%s', want '%s'", cases[i].in, buf_head(&b), cases[i].out);
    }
    json_t *v = json_pack("{s:s, s:[s]}", "pattern", "password=x1", "a", "sk-abcdefghijklmnopqrstuvwx");
    json_t *r = redact_json(v);
    assert_string_equal(json_string_value(json_object_get(r, "pattern")), "password=[REDACTED]");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "a"), 0)), "[REDACTED]");
    json_decref(v);
    json_decref(r);
    buf_free(&b);
    redact_fini();
}

static void test_config(void **state)
{
    (void)state;
    const char *yaml = "log_files:\n"
                       "  - logs/a.log\n"
                       "  - /abs/b.log\n"
                       "reputation_lists:\n"
                       "  - {name: one, file: r.txt, category: spam}\n"
                       "limits:\n"
                       "  max_lines: 50\n"
                       "  max_output: 64KiB\n"
                       "  search_timeout: 500ms\n"
                       "rate_limits:\n"
                       "  query_logs: 5/s\n"
                       "audit:\n"
                       "  file: audit.jsonl\n";
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("t.yaml", yaml, strlen(yaml), false, &e);
    assert_non_null(doc);
    struct st_config c;
    st_config_defaults(&c);
    assert_int_equal(st_config_compile(doc, "/base", &c, &e), 0);
    assert_int_equal(c.nlog, 2);
    assert_string_equal(c.log_files[0], "/base/logs/a.log");
    assert_string_equal(c.log_files[1], "/abs/b.log");
    assert_string_equal(c.lists[0].path, "/base/r.txt");
    assert_string_equal(c.lists[0].category, "spam");
    assert_int_equal(c.max_lines, 50);
    assert_int_equal(c.max_output, 65536);
    assert_int_equal(c.search_timeout_us, 500000);
    assert_string_equal(c.audit_path, "/base/audit.jsonl");
    for (size_t i = 0; i < c.nrates; i++)
        if (strcmp(c.rates[i].tool, "query_logs") == 0)
            assert_true(c.rates[i].count == 5 && c.rates[i].per_us == 1000000);
    st_config_free(&c);
    cfg_doc_free(doc);

    const char *bad = "log_file: x\n"
                      "limits:\n"
                      "  max_lines: 5000\n"
                      "  match_limit: 0\n"
                      "rate_limits:\n"
                      "  query_logs: lots\n"
                      "reputation_lists:\n"
                      "  - {name: a}\n";
    doc = cfg_load_mem("bad.yaml", bad, strlen(bad), false, &e);
    st_config_defaults(&c);
    assert_int_equal(st_config_compile(doc, "/base", &c, &e), -1);
    assert_int_equal(e.n, 5);
    assert_non_null(strstr(e.msgs[0], "bad.yaml:1:1:"));      /* unknown key, with a hint */
    assert_non_null(strstr(e.msgs[0], "log_files"));
    bool saw_rate = false;
    for (size_t i = 0; i < e.n; i++)
        if (strstr(e.msgs[i], "bad.yaml:6:") != NULL && strstr(e.msgs[i], "COUNT/UNIT") != NULL)
            saw_rate = true;
    assert_true(saw_rate);
    st_config_free(&c);
    cfg_doc_free(doc);
    cfg_errors_free(&e);

    uint32_t n;
    uint64_t per;
    assert_int_equal(st_parse_rate("10/min", &n, &per), 0);
    assert_true(n == 10 && per == 60000000ull);
    assert_int_equal(st_parse_rate("0/min", &n, &per), -1);
    assert_int_equal(st_parse_rate("10/day", &n, &per), -1);
    assert_int_equal(st_parse_rate("/min", &n, &per), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_table),
        cmocka_unit_test(test_reputation_lookup),
        cmocka_unit_test(test_reputation_errors),
        cmocka_unit_test(test_log_paths),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_sanitize_and_redact),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
