/* Unit tests of src/sandbox: compiling config sections (table in
 * tests/cases/sandbox/compile.jsonl), shipped profiles, destinations, the
 * seccomp program, and the spawn plan (mounts, environment, network). Nothing
 * here creates namespaces: that is covered by the integration tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/config.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"
#include "testutil.h"
#include "util/str.h"

static const char *net_word(enum sb_net n)
{
    static const char *const w[] = {"none", "loopback", "allow", "host"};
    return w[n];
}

static bool has_path(const struct sandbox_profile *p, const char *path, int access)
{
    for (size_t i = 0; i < p->npaths; i++) {
        if (strcmp(p->paths[i].path, path) == 0 && (access < 0 || (int)p->paths[i].access == access))
            return true;
    }
    return false;
}

static bool has_str(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], s) == 0)
            return true;
    }
    return false;
}

static uint64_t limit_value(const struct sandbox_profile *p, const char *k)
{
    if (strcmp(k, "address_space") == 0) return p->lim.address_space;
    if (strcmp(k, "memory") == 0) return p->lim.memory;
    if (strcmp(k, "cpu_permille") == 0) return p->lim.cpu_permille;
    if (strcmp(k, "cpu_time_s") == 0) return p->lim.cpu_time_s;
    if (strcmp(k, "open_files") == 0) return p->lim.open_files;
    if (strcmp(k, "processes") == 0) return p->lim.processes;
    if (strcmp(k, "file_size") == 0) return p->lim.file_size;
    if (strcmp(k, "tmp_size") == 0) return p->tmp_size;
    if (strcmp(k, "nallow") == 0) return p->nallow;
    if (strcmp(k, "nsys_deny") == 0) return p->nsys_deny;
    if (strcmp(k, "nsys_allow") == 0) return p->nsys_allow;
    fail_msg("unknown numeric fact %s", k);
    return 0;
}

static void check_fact(const char *name, const struct sandbox_profile *p, const char *k,
                       const json_t *v)
{
    const char *s = json_string_value(v);
    bool ok = true;
    if (strcmp(k, "net") == 0) {
        ok = strcmp(net_word(p->net), s) == 0;
    } else if (strncmp(k, "has_path", 8) == 0) {
        ok = has_path(p, s, -1);
    } else if (strcmp(k, "has_rw") == 0) {
        ok = has_path(p, s, SB_RW);
    } else if (strcmp(k, "has_overlay") == 0) {
        ok = has_path(p, s, SB_OVERLAY);
    } else if (strncmp(k, "has_pass", 8) == 0) {
        ok = has_str(p->env_pass, p->nenv_pass, s);
    } else if (strncmp(k, "has_set", 7) == 0) {
        ok = has_str(p->env_set, p->nenv_set, s);
    } else if (strcmp(k, "home_private") == 0) {
        ok = p->home_private == json_is_true(v);
    } else if (strcmp(k, "allow_private") == 0) {
        ok = p->allow_private == json_is_true(v);
    } else if (strcmp(k, "landlock_required") == 0) {
        ok = p->landlock_required == json_is_true(v);
    } else if (strncmp(k, "allow", 5) == 0) {
        size_t i = (size_t)(k[5] - '0');
        char buf[320];
        ok = i < p->nallow;
        if (ok) {
            snprintf(buf, sizeof(buf), "%s:%u", p->allow[i].host, p->allow[i].port);
            ok = strcmp(buf, s) == 0;
        }
    } else {
        uint64_t want = json_integer_value(v) < 0 ? SB_UNLIMITED : (uint64_t)json_integer_value(v);
        ok = limit_value(p, k) == want;
    }
    if (!ok)
        fail_msg("case '%s': fact %s does not hold", name, k);
}

static void test_compile_table(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/sandbox/compile.jsonl");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = TU_CASE_NAME(c);
        const char *yaml = json_string_value(json_object_get(c, "yaml"));
        struct cfg_errors e;
        cfg_errors_init(&e);
        struct cfg_doc *doc = cfg_load_mem("/cfgdir/t.yaml", yaml, strlen(yaml), false, &e);
        if (doc == NULL)
            fail_msg("case '%s': the YAML itself is invalid: %s", name, e.n ? e.msgs[0] : "");
        struct sandbox_profile *p = sandbox_compile(doc, json_object_get(doc->root, "sandbox"), &e);
        json_t *errors = json_object_get(c, "errors");
        if (errors != NULL) {
            if (p != NULL)
                fail_msg("case '%s': accepted", name);
            for (size_t k = 0; k < e.n; k++)
                print_message("    %s\n", e.msgs[k]);
            if (e.n != json_array_size(errors))
                fail_msg("case '%s': %zu errors, expected %zu", name, e.n, json_array_size(errors));
            /* each expected message matches one reported message (any order) */
            bool used[64] = {false};
            size_t j;
            json_t *want;
            json_array_foreach(errors, j, want) {
                bool found = false;
                for (size_t m = 0; m < e.n && m < 64 && !found; m++) {
                    if (!used[m] && strstr(e.msgs[m], json_string_value(want)) != NULL)
                        found = used[m] = true;
                }
                if (!found)
                    fail_msg("case '%s': no error matches '%s'", name, json_string_value(want));
            }
        } else {
            if (p == NULL)
                fail_msg("case '%s': refused: %s", name, e.n ? e.msgs[0] : "(no message)");
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(c, "ok"), k, v) check_fact(name, p, k, v);
        }
        sandbox_free(p);
        cfg_doc_free(doc);
        cfg_errors_free(&e);
    }
    json_decref(cases);
}

static void test_builtins(void **state)
{
    (void)state;
    for (const char *const *n = sandbox_builtin_names; *n != NULL; n++) {
        const struct sandbox_profile *p = sandbox_builtin(*n);
        assert_non_null(p);
        assert_string_equal(sandbox_name(p), *n);
        assert_true(has_path(p, "/usr", SB_RO));
        /* nothing of the home directory is writable in a shipped profile */
        for (size_t i = 0; i < p->npaths; i++)
            assert_true(p->paths[i].access != SB_RW);
        sandbox_free((struct sandbox_profile *)p); /* ignored for shipped profiles */
    }
    assert_null(sandbox_builtin("nosuch"));
    assert_null(sandbox_builtin(NULL));
    assert_int_equal(sandbox_builtin("strict")->net, SB_NET_NONE);
    assert_int_equal(sandbox_builtin("network-client")->net, SB_NET_ALLOW);
    assert_true(has_path(sandbox_builtin("node"), "~/.npm", SB_OVERLAY));
    /* the npm credentials file is never part of a profile */
    assert_false(has_path(sandbox_builtin("node"), "~/.npmrc", -1));
    assert_false(has_path(sandbox_builtin("strict"), "/etc/shadow", -1));
}

static void test_dest(void **state)
{
    (void)state;
    struct sb_dest d;
    char err[256];
    assert_int_equal(sb_parse_dest("Api.GitHub.com:443", &d, err, sizeof(err)), 0);
    assert_string_equal(d.host, "api.github.com");
    assert_int_equal(d.port, 443);
    assert_int_equal(d.family, 0);
    sb_dest_free(&d);
    assert_int_equal(sb_parse_dest("[fd00::5]:80", &d, err, sizeof(err)), 0);
    assert_int_equal(d.family, AF_INET6);
    sb_dest_free(&d);
    assert_int_equal(sb_parse_dest("10.0.0.5:5432", &d, err, sizeof(err)), 0);
    assert_int_equal(d.family, AF_INET);
    assert_int_equal(d.addr[0], 10);
    sb_dest_free(&d);
    static const char *const bad[] = {"", ":80", "host", "host:", "host:-1", "host:1x", "h:+1",
                                      "[::1]", "[]:1", "-bad.com:1", "a..b:1", "1.2.3.4.5:1",
                                      NULL};
    for (const char *const *b = bad; *b != NULL; b++) {
        if (sb_parse_dest(*b, &d, err, sizeof(err)) == 0)
            fail_msg("accepted '%s'", *b);
    }
}

static void test_derive_and_add(void **state)
{
    (void)state;
    char err[512];
    struct sandbox_profile *p = sandbox_derive(sandbox_builtin("strict"));
    assert_non_null(p);
    assert_int_equal(sandbox_add_path(p, "rel/dir", true, err, sizeof(err)), 0);
    char cwd[4096], want[4200];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/rel/dir", cwd);
    assert_true(has_path(p, want, SB_RW));
    assert_int_equal(sandbox_add_path(p, "/", false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "would expose every file"));
    assert_int_equal(sandbox_add_allow(p, "example.com:443", err, sizeof(err)), 0);
    assert_int_equal(p->net, SB_NET_ALLOW);
    assert_int_equal(sandbox_add_allow(p, "example.com:443", err, sizeof(err)), 0);
    assert_int_equal(p->nallow, 1); /* duplicates are merged */
    assert_int_equal(sandbox_add_env_pass(p, "BAD NAME", err, sizeof(err)), -1);
    assert_int_equal(sandbox_add_env_pass(p, "OK_*", err, sizeof(err)), 0);
    /* the shipped profile is untouched */
    assert_int_equal(sandbox_builtin("strict")->net, SB_NET_NONE);
    struct sandbox_profile *q = sandbox_derive(p);
    assert_int_equal(q->nallow, 1);
    assert_true(has_path(q, want, SB_RW));
    sandbox_free(q);
    sandbox_free(p);
}

static char *explain_text(const struct sandbox_profile *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sandbox_explain(p, f);
    fclose(f);
    return text;
}

static void test_explain(void **state)
{
    (void)state;
    char *t = explain_text(sandbox_builtin("strict"));
    assert_non_null(strstr(t, "sandbox profile 'strict'"));
    assert_non_null(strstr(t, "none: a private network namespace"));
    assert_non_null(strstr(t, "System calls refused with EPERM"));
    assert_non_null(strstr(t, "ptrace"));
    assert_null(strstr(t, "changes are real")); /* nothing of the host is writable */
    free(t);
    char err[256];
    struct sandbox_profile *p = sandbox_derive(sandbox_builtin("network-client"));
    sandbox_add_allow(p, "[::1]:9000", err, sizeof(err));
    sandbox_add_path(p, "/srv/out", true, err, sizeof(err));
    t = explain_text(p);
    assert_non_null(strstr(t, "TCP to these destinations only"));
    assert_non_null(strstr(t, "    [::1]:9000\n"));
    assert_non_null(strstr(t, "(changes are real):\n    /srv/out\n"));
    free(t);
    sandbox_free(p);
}

static void test_seccomp_program(void **state)
{
    (void)state;
    struct sock_fprog prog;
    char err[256];
    /* the notifying variant only where the kernel (and valgrind) support it */
    int variants = sb_seccomp_notify_available() ? 2 : 1;
    for (int notify = 0; notify < variants; notify++) {
        assert_int_equal(sb_seccomp_build(sandbox_builtin("strict"), notify, &prog, err, sizeof(err)), 0);
        assert_true(prog.len > 20);
        /* libseccomp's program starts by loading seccomp_data.arch (offset 4) */
        assert_int_equal(prog.filter[0].code, BPF_LD | BPF_W | BPF_ABS);
        assert_int_equal(prog.filter[0].k, 4);
        free(prog.filter);
    }
    assert_string_equal(sb_syscall_name(101), "ptrace");
}

static const struct sb_mount *lookup_mount(const struct sb_plan *pl, const char *dst)
{
    for (size_t i = 0; i < pl->nmounts; i++) {
        if (strcmp(pl->mounts[i].dst, dst) == 0)
            return &pl->mounts[i];
    }
    return NULL;
}

/* The mount at dst; fails the test when there is none. */
static const struct sb_mount *find_mount(const struct sb_plan *pl, const char *dst)
{
    const struct sb_mount *m = lookup_mount(pl, dst);
    if (m == NULL) {
        fail_msg("no mount at %s", dst);
        abort();
    }
    return m;
}

static const char *plan_env(const struct sb_plan *pl, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < pl->nenvp; i++) {
        if (strncmp(pl->envp[i], name, l) == 0 && pl->envp[i][l] == '=')
            return pl->envp[i] + l + 1;
    }
    return NULL;
}

static void test_plan_mounts_and_env(void **state)
{
    (void)state;
    char err[512];
    struct sb_plan pl;
    setenv("HOME", "/nonexistent-mcpwall-home", 1);
    setenv("LANG", "C.UTF-8", 1);
    setenv("MCPWALL_UNIT_SECRET", "do-not-pass", 1);
    struct sandbox_profile *p = sandbox_derive(sandbox_builtin("strict"));
    sandbox_add_path(p, "/usr/share", true, err, sizeof(err));
    char *argv[] = {"true", NULL};
    char *envp[] = {"INJECTED=1", "LANG=injected-wins", NULL};
    assert_int_equal(sb_plan_build(&pl, p, argv, envp, NULL, err, sizeof(err)), 0);
    for (size_t i = 1; i < pl.nmounts; i++)
        assert_true(strcmp(pl.mounts[i - 1].dst, pl.mounts[i].dst) < 0);
    const struct sb_mount *m = find_mount(&pl, "/usr");
    assert_non_null(m);
    assert_int_equal(m->kind, SB_M_BIND_RO);
    m = find_mount(&pl, "/usr/share");
    assert_non_null(m);
    assert_int_equal(m->kind, SB_M_BIND_RW); /* a writable bind on top of a read-only one */
    assert_int_equal(find_mount(&pl, "/tmp")->kind, SB_M_TMPFS);
    assert_int_equal(find_mount(&pl, "/proc")->kind, SB_M_PROC);
    assert_int_equal(find_mount(&pl, "/dev")->kind, SB_M_DEV);
    assert_int_equal(find_mount(&pl, "/nonexistent-mcpwall-home")->kind, SB_M_DIR);
    m = find_mount(&pl, "/etc/passwd");
    assert_non_null(m);
    assert_int_equal(m->kind, SB_M_FILE);
    assert_non_null(strstr(m->data, ":/nonexistent-mcpwall-home:"));
    assert_non_null(strstr(find_mount(&pl, "/etc/hosts")->data, "127.0.0.1\tlocalhost"));
    assert_null(lookup_mount(&pl, "/etc/shadow"));
    assert_null(lookup_mount(&pl, "/etc/resolv.conf"));
    /* /bin is a symbolic link on merged-/usr systems: recreated, not bound */
    m = lookup_mount(&pl, "/bin");
    if (m != NULL && m->kind == SB_M_SYMLINK)
        assert_string_equal(m->src, "usr/bin");
    assert_string_equal(plan_env(&pl, "INJECTED"), "1");
    assert_string_equal(plan_env(&pl, "LANG"), "injected-wins");
    assert_string_equal(plan_env(&pl, "HOME"), "/nonexistent-mcpwall-home");
    assert_string_equal(plan_env(&pl, "PATH"), "/usr/local/bin:/usr/bin:/bin");
    assert_null(plan_env(&pl, "MCPWALL_UNIT_SECRET"));
    assert_non_null(pl.exec_path);
    /* found in the sandbox's PATH, as execvp would */
    assert_true(pl.exec_path[0] == '/' && str_has_suffix(pl.exec_path, "/true"));
    sb_plan_free(&pl);
    sandbox_free(p);
}

static void test_plan_network(void **state)
{
    (void)state;
    char err[512];
    struct sb_plan pl;
    struct sandbox_profile *p = sandbox_derive(sandbox_builtin("strict"));
    static const char *const dests[] = {"example.com:443", "10.1.2.3:5432", "[fd00::5]:80",
                                        "example.com:80", "other.example:1", "127.0.0.1:8080"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(sandbox_add_allow(p, dests[i], err, sizeof(err)), 0);
    char *argv[] = {"/bin/true", NULL};
    assert_int_equal(sb_plan_build(&pl, p, argv, NULL, "/", err, sizeof(err)), 0);
    assert_int_equal(pl.nlistens, 6);
    /* one address per host name, both ports on it */
    assert_memory_equal(pl.listens[0].addr, ((unsigned char[]){127, 77, 0, 1}), 4);
    assert_memory_equal(pl.listens[3].addr, ((unsigned char[]){127, 77, 0, 1}), 4);
    assert_memory_equal(pl.listens[4].addr, ((unsigned char[]){127, 77, 0, 2}), 4);
    assert_true(pl.listens[1].add_to_lo);
    assert_true(pl.listens[2].add_to_lo);
    assert_int_equal(pl.listens[2].family, AF_INET6);
    assert_false(pl.listens[5].add_to_lo);
    const char *hosts = find_mount(&pl, "/etc/hosts")->data;
    assert_non_null(strstr(hosts, "127.77.0.1\texample.com\n"));
    assert_non_null(strstr(hosts, "127.77.0.2\tother.example\n"));
    assert_null(strstr(strstr(hosts, "example.com") + 1, "\texample.com")); /* once */
    assert_non_null(strstr(find_mount(&pl, "/etc/nsswitch.conf")->data, "hosts: files\n"));
    assert_true(pl.cwd_strict);
    sb_plan_free(&pl);
    sandbox_free(p);
}

static void test_plan_errors(void **state)
{
    (void)state;
    char err[512];
    struct sb_plan pl;
    struct sandbox_profile *p = sandbox_derive(sandbox_builtin("strict"));
    sandbox_add_path(p, "/nonexistent/mcpwall/data", false, err, sizeof(err));
    char *argv[] = {"/bin/true", NULL};
    assert_int_equal(sb_plan_build(&pl, p, argv, NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "read path /nonexistent/mcpwall/data: No such file or directory");
    char *none[] = {NULL};
    assert_int_equal(sb_plan_build(&pl, sandbox_builtin("strict"), none, NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "no command to run");
    sandbox_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_table),   cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_dest),            cmocka_unit_test(test_derive_and_add),
        cmocka_unit_test(test_explain),         cmocka_unit_test(test_seccomp_program),
        cmocka_unit_test(test_plan_mounts_and_env), cmocka_unit_test(test_plan_network),
        cmocka_unit_test(test_plan_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
