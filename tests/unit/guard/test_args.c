/* Argument constraints: the data tables in tests/cases/args/ run against a
 * real directory tree with symlinks, plus config positions and the schema
 * hints of the http-fetch profile. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/args.h"
#include "testutil.h"

static char tmpdir[256];

static void mk(const char *rel, bool dir, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    if (dir) {
        if (mkdir(p, 0755) < 0)
            fail_msg("mkdir %s: %s", p, strerror(errno));
        return;
    }
    FILE *f = fopen(p, "w");
    if (f == NULL)
        fail_msg("create %s: %s", p, strerror(errno));
    fputs(content, f);
    fclose(f);
}

static void ln(const char *target, const char *rel)
{
    char p[512], t[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    if (strncmp(target, "$TMP", 4) == 0)
        snprintf(t, sizeof(t), "%s%s", tmpdir, target + 4);
    else
        snprintf(t, sizeof(t), "%s", target);
    if (symlink(t, p) < 0)
        fail_msg("symlink %s: %s", p, strerror(errno));
}

static int build_tree(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcpwall-args-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    mk("data", true, NULL);
    mk("data/file.txt", false, "hello\n");
    mk("data/te..st", false, "dots\n");
    mk("data/sub", true, NULL);
    mk("data/sub/inner.txt", false, "inner\n");
    ln("/etc", "data/link-etc");
    ln("sub", "data/link-sub");
    ln("../secret", "data/link-up");
    ln("/etc/mcpwall-no-such-file", "data/dangling");
    ln("loop2", "data/loop1");
    ln("loop1", "data/loop2");
    ln("$TMP/data/sub", "data/abs-inside");
    ln("sub/../../secret", "data/deep-link");
    mk("data_secret", true, NULL);
    mk("data_secret/x.txt", false, "twin\n");
    mk("secret", true, NULL);
    mk("secret/s.txt", false, "secret\n");
    mk("repo", true, NULL);
    mk("repo/a.txt", false, "a\n");
    mk("repo/sub", true, NULL);
    ln("../other_repo", "repo/escape_link");
    mk("other_repo", true, NULL);
    mk("other_repo/x", false, "x\n");
    ln("data", "rootlink");
    return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int remove_tree(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Serialises v, replaces every "$TMP" by the tree's path, parses again. */
static char *subst_text(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t cap = strlen(s) * 2 + 4096, o = 0;
    char *out = malloc(cap);
    for (const char *p = s; *p;) {
        if (strncmp(p, "$TMP", 4) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", tmpdir);
            p += 4;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    free(s);
    return out;
}

static json_t *subst(const json_t *v)
{
    char *t = subst_text(v);
    json_error_t je;
    json_t *r = json_loads(t, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (r == NULL)
        fail_msg("reparse: %s", je.text);
    free(t);
    return r;
}

/* Compiles a policy section given as JSON; returns NULL with errs filled. */
static struct arg_policy *compile_json(const json_t *section, struct cfg_doc **docp,
                                       struct cfg_errors *errs)
{
    char *sec = subst_text(section);
    size_t n = strlen(sec) + 32;
    char *text = malloc(n);
    snprintf(text, n, "{\"arguments\":%s}", sec);
    free(sec);
    cfg_errors_init(errs);
    struct cfg_doc *doc = cfg_load_mem("policy.json", text, strlen(text), true, errs);
    free(text);
    if (doc == NULL)
        fail_msg("policy JSON does not load: %s", errs->n ? errs->msgs[0] : "?");
    *docp = doc;
    return args_policy_compile(doc, json_object_get(doc->root, "arguments"), errs);
}

static int run_table(const char *file)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/cases/args/%s", file);
    json_t *cases = tu_load_cases(rel);
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(cases, i, c) {
        const char *name = TU_CASE_NAME(c);
        long long line = json_integer_value(json_object_get(c, "_line"));
        struct cfg_errors errs;
        struct cfg_doc *doc = NULL;
        struct arg_policy *p = compile_json(json_object_get(c, "policy"), &doc, &errs);
        const char *want_ce = json_string_value(json_object_get(c, "compile_error"));
        if (want_ce != NULL) {
            if (p != NULL)
                fail_msg("%s:%lld %s: compiled, expected '%s'", file, line, name, want_ce);
            if (errs.n == 0 || strstr(errs.msgs[0], want_ce) == NULL)
                fail_msg("%s:%lld %s: got '%s', expected '%s'", file, line, name,
                         errs.n ? errs.msgs[0] : "(nothing)", want_ce);
            /* every message carries a position */
            if (strncmp(errs.msgs[0], "policy.json:", 12) != 0)
                fail_msg("%s:%lld %s: message without a position: %s", file, line, name,
                         errs.msgs[0]);
            cfg_errors_free(&errs);
            cfg_doc_free(doc);
            checked++;
            continue;
        }
        if (p == NULL)
            fail_msg("%s:%lld %s: policy does not compile: %s", file, line, name,
                     errs.n ? errs.msgs[0] : "?");
        json_t *args = subst(json_object_get(c, "arguments"));
        const char *tool = json_string_value(json_object_get(c, "tool"));
        const char *expect = json_string_value(json_object_get(c, "expect"));
        struct arg_violation v;
        memset(&v, 0, sizeof(v));
        int rc = args_policy_check(p, tool, json_is_null(args) ? NULL : args, &v);
        const char *got = rc == 0 ? "pass" : rc > 0 ? "flag" : "deny";
        if (strcmp(got, expect) != 0)
            fail_msg("%s:%lld %s: got %s (%s), expected %s", file, line, name, got,
                     rc != 0 ? v.msg : "", expect);
        if (rc != 0) {
            const char *fields[][2] = {
                {"reason", v.reason},     {"constraint", v.constraint}, {"pointer", v.pointer},
                {"rule", v.rule},
            };
            for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
                const char *want = json_string_value(json_object_get(c, fields[f][0]));
                if (want != NULL && strcmp(want, fields[f][1]) != 0)
                    fail_msg("%s:%lld %s: %s '%s', expected '%s' (%s)", file, line, name,
                             fields[f][0], fields[f][1], want, v.msg);
            }
            const char *msg = json_string_value(json_object_get(c, "msg"));
            if (msg != NULL && strstr(v.msg, msg) == NULL)
                fail_msg("%s:%lld %s: message '%s' lacks '%s'", file, line, name, v.msg, msg);
            const char *absent = json_string_value(json_object_get(c, "msg_absent"));
            if (absent != NULL && strstr(v.msg, absent) != NULL)
                fail_msg("%s:%lld %s: message '%s' shows '%s'", file, line, name, v.msg, absent);
            assert_int_equal(v.action, rc < 0 ? ARG_ACTION_DENY : ARG_ACTION_FLAG);
            assert_true(v.reason != NULL && v.reason[0] != '\0');
            char tail[64];
            snprintf(tail, sizeof(tail), "(%s)", v.constraint);
            assert_non_null(strstr(v.msg, tail));
        }
        /* the same call without a violation struct gives the same verdict */
        assert_int_equal(args_policy_check(p, tool, json_is_null(args) ? NULL : args, NULL), rc);
        json_decref(args);
        args_policy_free(p);
        cfg_errors_free(&errs);
        cfg_doc_free(doc);
        checked++;
    }
    json_decref(cases);
    return checked;
}

static void test_tables(void **state)
{
    (void)state;
    static const char *const files[] = {"path.jsonl", "url.jsonl",      "shell.jsonl", "sql.jsonl",
                                        "misc.jsonl", "profiles.jsonl", "compile.jsonl"};
    int total = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int n = run_table(files[i]);
        assert_true(n > 10);
        total += n;
    }
    printf("# argument cases checked: %d\n", total);
}

static void test_yaml_positions_and_all_errors(void **state)
{
    (void)state;
    const char *y = "arguments:\n"
                    "  - tools: [\"read_*\"]\n"
                    "    args:\n"
                    "      path: {path_within: [relative/dir]}\n"
                    "      url: {url: {schemes: [https], hosts: 3}}\n"
                    "  - profile: nope\n"
                    "  - profile: shell\n"
                    "    strict: maybe\n";
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("p.yaml", y, strlen(y), false, &e);
    assert_non_null(d);
    struct arg_policy *p = args_policy_compile(d, json_object_get(d->root, "arguments"), &e);
    assert_null(p);
    /* one run reports every mistake, each with file:line:col */
    assert_int_equal(e.n, 4);
    assert_non_null(strstr(e.msgs[0], "p.yaml:4:"));
    assert_non_null(strstr(e.msgs[0], "'relative/dir' must be an absolute path"));
    assert_non_null(strstr(e.msgs[1], "p.yaml:5:"));
    assert_non_null(strstr(e.msgs[1], "'hosts' must be a string or a list of strings"));
    assert_non_null(strstr(e.msgs[2], "p.yaml:6:"));
    assert_non_null(strstr(e.msgs[2], "unknown profile 'nope'"));
    assert_non_null(strstr(e.msgs[3], "p.yaml:8:"));
    cfg_errors_free(&e);
    cfg_doc_free(d);
}

static void test_yaml_example_from_docs(void **state)
{
    (void)state;
    const char *y = "arguments:\n"
                    "  - tools: [\"read_*\", \"write_file\"]\n"
                    "    args:\n"
                    "      path: {path_within: [\"/data\"], no_leading_dash: true}\n"
                    "      url:  {url: {schemes: [https], hosts: [\"*.example.com\"]}}\n"
                    "  - profile: git\n"
                    "    roots: [\"/repo\"]\n";
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("p.yaml", y, strlen(y), false, &e);
    struct arg_policy *p = args_policy_compile(d, json_object_get(d->root, "arguments"), &e);
    assert_non_null(p);
    assert_int_equal(e.n, 0);
    assert_true(args_policy_covers(p, "read_file"));
    assert_true(args_policy_covers(p, "anything")); /* the git profile covers every tool */
    json_t *a = json_pack("{s:s}", "path", "/data/../etc/passwd");
    struct arg_violation v;
    assert_int_equal(args_policy_check(p, "read_file", a, &v), -1);
    assert_string_equal(v.reason, "path_outside_roots");
    assert_string_equal(v.rule, "arguments[0]");
    json_decref(a);
    a = json_pack("{s:s, s:s}", "repo_path", "/repo", "target", "--output=/tmp/x");
    assert_int_equal(args_policy_check(p, "git_diff", a, &v), -1);
    assert_string_equal(v.rule, "arguments[1] (profile git)");
    assert_string_equal(v.msg, "argument 'target': must not start with '-' (it would be read "
                               "as a command-line option) (no_leading_dash)");
    json_decref(a);
    args_policy_free(p);
    args_policy_free(NULL);
    /* an absent section checks nothing */
    p = args_policy_compile(d, NULL, &e);
    assert_non_null(p);
    assert_false(args_policy_covers(p, "read_file"));
    a = json_pack("{s:s}", "path", "/etc/passwd");
    assert_int_equal(args_policy_check(p, "read_file", a, &v), 0);
    json_decref(a);
    args_policy_free(p);
    assert_int_equal(e.n, 0);
    cfg_errors_free(&e);
    cfg_doc_free(d);
}

static void test_schema_hints(void **state)
{
    (void)state;
    const char *y = "arguments:\n  - profile: http-fetch\n";
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("p.yaml", y, strlen(y), false, &e);
    struct arg_policy *p = args_policy_compile(d, json_object_get(d->root, "arguments"), &e);
    assert_non_null(p);
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"target\":{\"type\":"
                                "\"string\",\"format\":\"uri\"},\"note\":{\"type\":\"string\"}}}",
                                0, NULL);
    json_t *a = json_pack("{s:s, s:s}", "target", "http://[::ffff:127.0.0.1]/", "note",
                          "http://127.0.0.1/");
    struct arg_violation v;
    /* by name alone, "target" is not a URL argument */
    assert_int_equal(args_policy_check(p, "probe", a, &v), 0);
    /* the schema says it is */
    assert_int_equal(args_policy_check_schema(p, "probe", schema, a, &v), -1);
    assert_string_equal(v.pointer, "/target");
    assert_string_equal(v.reason, "ssrf_loopback");
    json_decref(a);
    json_decref(schema);
    args_policy_free(p);
    cfg_errors_free(&e);
    cfg_doc_free(d);
}

static void test_long_pointer_is_truncated(void **state)
{
    (void)state;
    const char *y = "arguments:\n  - profile: shell\n";
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("p.yaml", y, strlen(y), false, &e);
    struct arg_policy *p = args_policy_compile(d, json_object_get(d->root, "arguments"), &e);
    json_t *a = json_object();
    char key[200];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *inner = json_object();
    json_object_set_new(inner, key, json_string("x;y"));
    json_object_set_new(a, key, inner);
    struct arg_violation v;
    assert_int_equal(args_policy_check(p, "t", a, &v), -1);
    assert_true(strlen(v.pointer) < sizeof(v.pointer));
    assert_non_null(strstr(v.pointer, "..."));
    json_decref(a);
    args_policy_free(p);
    cfg_errors_free(&e);
    cfg_doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_yaml_positions_and_all_errors),
        cmocka_unit_test(test_yaml_example_from_docs),
        cmocka_unit_test(test_schema_hints),
        cmocka_unit_test(test_long_pointer_is_truncated),
    };
    return cmocka_run_group_tests(tests, build_tree, remove_tree);
}
