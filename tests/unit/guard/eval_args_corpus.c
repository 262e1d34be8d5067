/* eval_args_corpus - measures the argument guards on the development corpus.
 *
 * Usage: eval_args_corpus [CORPUS_DIR]   (default $MCPWALL_CORPUS_DIR, then
 * /work/shared/corpus). Exits 77 (skipped) when the corpus is absent.
 *
 * 1. Every `tools/call request` line of wire-cases.jsonl is checked with the
 *    argument constraints. The policy is the one an operator would write: a
 *    case whose context names allowed roots gets the filesystem profile with
 *    those roots, one naming a repository the git profile; other cases use
 *    tests/cases/args/corpus-policy.json (a profile per example server). Paths
 *    under /home/user are moved into a temporary tree that rebuilds the
 *    layouts the corpus describes (etc-link -> /etc, ssh-link -> ~/.ssh, a
 *    project_backup sibling, repo/escape_link -> ../other_repo), so symlink
 *    cases meet real symlinks. A case counts as detected when the check
 *    denies or flags it. Recall is printed per category, with the categories
 *    that argument constraints do not address listed apart; precision is
 *    over all cases.
 * 2. Where the corpus has the real server's inputSchema for the tool (npm: or
 *    py: captures), the arguments are also validated against it, to show the
 *    validator accepts real traffic.
 * 3. Every inputSchema/outputSchema of tool-descriptions.jsonl is compiled.
 *
 * As a test it fails when a benign case is refused by the constraints or by a
 * real server's schema, or when an in-scope attack category loses recall
 * below the floor given in `floors` below (regression guard).
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/args.h"
#include "guard/schema.h"
#include "policy/config.h"

static char tmp[256];

/* Categories that argument constraints do not address (content inspection,
 * intent, or a tool that executes code by design). */
static const char *const out_of_scope[] = {"prompt-injection-in-arguments",
                                           "exfiltration-via-arguments",
                                           "pii-in-arguments",
                                           "code-injection",
                                           "template-injection",
                                           "ldap-injection",
                                           "nosql-injection",
                                           "xpath-injection",
                                           "query-injection",
                                           NULL};

static bool in_list(const char *s, const char *const *l)
{
    for (size_t i = 0; l[i] != NULL; i++)
        if (strcmp(s, l[i]) == 0)
            return true;
    return false;
}

static void mkp(const char *rel, int kind, const char *target)
{
    char p[512];
    snprintf(p, sizeof(p), "%s%s", tmp, rel);
    int r = 0;
    if (kind == 0)
        r = mkdir(p, 0755);
    else if (kind == 1) {
        FILE *f = fopen(p, "w");
        if (f != NULL) {
            fputs("x\n", f);
            fclose(f);
        }
    } else {
        char t[512];
        if (target[0] == '@')
            snprintf(t, sizeof(t), "%s%s", tmp, target + 1);
        else
            snprintf(t, sizeof(t), "%s", target);
        r = symlink(t, p);
    }
    if (r < 0) {
        fprintf(stderr, "eval: cannot create %s: %s\n", p, strerror(errno));
        exit(1);
    }
}

static void build_tree(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/mcpwall-eval-XXXXXX");
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    static const struct {
        const char *rel;
        int kind;
        const char *target;
    } t[] = {
        {"/home", 0, NULL},
        {"/home/user", 0, NULL},
        {"/home/user/.ssh", 0, NULL},
        {"/home/user/project", 0, NULL},
        {"/home/user/project/README.md", 1, NULL},
        {"/home/user/project/src", 0, NULL},
        {"/home/user/project/src/main.ts", 1, NULL},
        {"/home/user/project/docs", 0, NULL},
        {"/home/user/project/docs/CONTRIBUTING.md", 1, NULL},
        {"/home/user/project/etc-link", 2, "/etc"},
        {"/home/user/project/link", 2, "/etc"},
        {"/home/user/project/ssh-link", 2, "@/home/user/.ssh"},
        {"/home/user/project_backup", 0, NULL},
        {"/home/user/project_backup/secrets.txt", 1, NULL},
        {"/home/user/repo", 0, NULL},
        {"/home/user/repo/subdir", 0, NULL},
        {"/home/user/repo/escape_link", 2, "../other_repo"},
        {"/home/user/other_repo", 0, NULL},
        {"/home/user/projects", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        mkp(t[i].rel, t[i].kind, t[i].target);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

/* Returns a deep copy of v with every string starting with /home/user moved
 * under the temporary tree. */
static json_t *remap(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strncmp(s, "/home/user", 10) == 0) {
            size_t n = json_string_length(v);
            size_t tl = strlen(tmp);
            char *b = malloc(n + tl + 1);
            memcpy(b, tmp, tl);
            memcpy(b + tl, s, n);
            json_t *r = json_stringn(b, n + tl);
            free(b);
            return r;
        }
        return json_deep_copy(v);
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, remap(json_array_get(v, i)));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) json_object_set_new(o, k, remap(m));
        return o;
    }
    return json_deep_copy(v);
}

static struct arg_policy *compile_section(const json_t *section)
{
    char *txt = json_dumps(section, JSON_COMPACT);
    size_t n = strlen(txt) + 32;
    char *doc_txt = malloc(n);
    snprintf(doc_txt, n, "{\"arguments\":%s}", txt);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("eval-policy.json", doc_txt, strlen(doc_txt), true, &e);
    struct arg_policy *p = d != NULL ? args_policy_compile(d, json_object_get(d->root, "arguments"), &e)
                                     : NULL;
    if (p == NULL)
        cfg_errors_print(&e, stderr);
    cfg_errors_free(&e);
    cfg_doc_free(d);
    free(txt);
    free(doc_txt);
    return p;
}

struct cat {
    char name[64];
    int n, detected, denied, flagged;
    bool attack;
};

static struct cat cats[64];
static size_t ncats;

static struct cat *cat_get(const char *name, bool attack)
{
    for (size_t i = 0; i < ncats; i++)
        if (strcmp(cats[i].name, name) == 0)
            return &cats[i];
    if (ncats == sizeof(cats) / sizeof(cats[0]))
        return &cats[ncats - 1];
    snprintf(cats[ncats].name, sizeof(cats[0].name), "%s", name);
    cats[ncats].attack = attack;
    return &cats[ncats++];
}

static json_t *load_jsonl(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, NULL);
        if (j != NULL)
            json_array_append_new(arr, j);
    }
    free(line);
    fclose(f);
    return arr;
}

/* The real server's inputSchema for `tool` (npm: or py: capture of the same
 * package the case came from), or NULL. */
static const json_t *real_schema(const json_t *tools, const json_t *c, const char *tool)
{
    const char *src = json_string_value(json_object_get(c, "source"));
    const char *server = json_string_value(json_object_get(json_object_get(c, "context"), "server"));
    for (size_t i = 0; i < json_array_size(tools); i++) {
        const json_t *t = json_array_get(tools, i);
        const char *id = json_string_value(json_object_get(t, "id"));
        const json_t *def = json_object_get(t, "tool");
        if (id == NULL || (strncmp(id, "npm:", 4) != 0 && strncmp(id, "py:", 3) != 0))
            continue;
        if (strcmp(json_string_value(json_object_get(def, "name")), tool) != 0)
            continue;
        const char *pkg = strchr(id, ':') + 1;
        const char *end = strrchr(id, ':');
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(end - pkg), pkg);
        char npm[160];
        snprintf(npm, sizeof(npm), "npm:%s@", name);
        if ((src != NULL && strncmp(src, npm, strlen(npm)) == 0) ||
            (server != NULL && strstr(server, name) != NULL))
            return json_object_get(def, "inputSchema");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("MCPWALL_CORPUS_DIR");
    if (dir == NULL)
        dir = "/work/shared/corpus";
    const char *src = getenv("MCPWALL_SRCDIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/wire-cases.jsonl", dir);
    json_t *cases = load_jsonl(path);
    if (cases == NULL) {
        printf("corpus not found at %s: skipped\n", dir);
        return 77;
    }
    snprintf(path, sizeof(path), "%s/tool-descriptions.jsonl", dir);
    json_t *tools = load_jsonl(path);
    snprintf(path, sizeof(path), "%s/tests/cases/args/corpus-policy.json", src != NULL ? src : ".");
    json_error_t je;
    json_t *pol = json_load_file(path, 0, &je);
    if (pol == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", path, je.text);
        return 1;
    }
    build_tree();
    json_t *static_section = remap(json_object_get(pol, "arguments"));
    struct arg_policy *static_policy = compile_section(static_section);
    if (static_policy == NULL)
        return 1;

    int tp = 0, fp = 0, fn = 0, tn = 0, action_match = 0, positives = 0;
    int schema_checked = 0, schema_rejected_benign = 0, schema_rejected_attack = 0;
    int failures = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        if (strcmp(json_string_value(json_object_get(c, "kind")), "tools/call request") != 0)
            continue;
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *label = json_string_value(json_object_get(c, "label"));
        const char *category = json_string_value(json_object_get(c, "category"));
        const char *expected = json_string_value(json_object_get(c, "expected_action"));
        const json_t *params = json_object_get(json_object_get(c, "message"), "params");
        const char *tool = json_string_value(json_object_get(params, "name"));
        json_t *args = remap(json_object_get(params, "arguments"));
        const json_t *ctx = json_object_get(c, "context");
        struct arg_policy *p = static_policy;
        struct arg_policy *own = NULL;
        if (json_object_get(ctx, "allowed_roots") != NULL ||
            json_object_get(ctx, "allowed_repository") != NULL) {
            json_t *roots = json_object_get(ctx, "allowed_roots");
            const char *profile = roots != NULL ? "filesystem" : "git";
            json_t *repo = json_pack("[O]", json_object_get(ctx, "allowed_repository"));
            json_t *r = remap(roots != NULL ? roots : repo);
            json_decref(repo);
            json_t *sec = json_pack("[{s:s, s:o}]", "profile", profile, "roots", r);
            own = compile_section(sec);
            json_decref(sec);
            if (own == NULL)
                return 1;
            p = own;
        }
        struct arg_violation v;
        int rc = args_policy_check(p, tool, args, &v);
        bool attack = strcmp(label, "benign") != 0;
        bool detected = rc != 0;
        struct cat *ct = cat_get(category, attack);
        ct->n++;
        ct->detected += detected;
        ct->denied += rc < 0;
        ct->flagged += rc > 0;
        if (attack) {
            positives++;
            if (detected)
                tp++;
            else
                fn++;
            if ((strcmp(expected, "block") == 0 && rc < 0) || (strcmp(expected, "warn") == 0 && rc > 0))
                action_match++;
        } else {
            if (detected) {
                fp++;
                failures++;
                printf("FALSE POSITIVE %s: %s\n", id, v.msg);
            } else {
                tn++;
            }
        }
        if (getenv("EVAL_VERBOSE") != NULL)
            printf("%-5s %-28s %-40s %s\n", rc < 0 ? "deny" : rc > 0 ? "flag" : "pass", category, id,
                   rc != 0 ? v.reason : "");
        const json_t *sch = real_schema(tools, c, tool);
        if (sch != NULL) {
            struct schema_compile_err ce;
            struct schema *s = schema_compile(sch, &ce);
            if (s != NULL) {
                struct schema_error se;
                schema_checked++;
                json_t *orig = json_object_get(params, "arguments");
                json_t *empty = json_object();
                int vr = schema_validate(s, orig != NULL ? orig : empty, &se);
                json_decref(empty);
                if (vr < 0) {
                    if (attack) {
                        schema_rejected_attack++;
                    } else {
                        schema_rejected_benign++;
                        failures++;
                        printf("SCHEMA REJECTS BENIGN %s: %s\n", id, se.msg);
                    }
                }
                schema_free(s);
            }
        }
        args_policy_free(own);
        json_decref(args);
    }

    printf("\nArgument constraints on %d tools/call requests of wire-cases.jsonl\n", tp + fp + fn + tn);
    printf("%-34s %5s %9s %6s %6s %7s\n", "category (attack/warn)", "cases", "detected", "deny",
           "flag", "recall");
    int in_tp = 0, in_n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            printf("-- out of scope for argument constraints:\n");
        for (size_t i = 0; i < ncats; i++) {
            struct cat *ct = &cats[i];
            if (!ct->attack || in_list(ct->name, out_of_scope) != (pass == 1))
                continue;
            printf("%-34s %5d %9d %6d %6d %6.1f%%\n", ct->name, ct->n, ct->detected, ct->denied,
                   ct->flagged, 100.0 * ct->detected / ct->n);
            if (pass == 0) {
                in_tp += ct->detected;
                in_n += ct->n;
            }
        }
    }
    printf("-- benign:\n");
    for (size_t i = 0; i < ncats; i++)
        if (!cats[i].attack)
            printf("%-34s %5d  false positives %d\n", cats[i].name, cats[i].n, cats[i].detected);
    printf("\nin-scope recall %d/%d = %.1f%%; all-attack recall %d/%d = %.1f%%\n", in_tp, in_n,
           100.0 * in_tp / (in_n ? in_n : 1), tp, positives, 100.0 * tp / (positives ? positives : 1));
    printf("precision %d/%d = %.1f%%; false positives %d of %d benign\n", tp, tp + fp,
           100.0 * tp / (tp + fp ? tp + fp : 1), fp, fp + tn);
    printf("expected action matched (block->deny, warn->flag) on %d of %d attack/warn cases\n",
           action_match, positives);
    printf("real-server inputSchema validation: %d calls checked, %d attack calls rejected by the "
           "schema alone, %d benign calls rejected\n",
           schema_checked, schema_rejected_attack, schema_rejected_benign);

    /* 3. compile every schema of the tool corpus */
    int compiled = 0, total = 0;
    for (size_t i = 0; tools != NULL && i < json_array_size(tools); i++) {
        const json_t *def = json_object_get(json_array_get(tools, i), "tool");
        const char *keys[] = {"inputSchema", "outputSchema"};
        for (int k = 0; k < 2; k++) {
            const json_t *sch = json_object_get(def, keys[k]);
            if (sch == NULL)
                continue;
            total++;
            struct schema_compile_err ce;
            struct schema *s = schema_compile(sch, &ce);
            if (s != NULL)
                compiled++;
            else
                printf("schema of %s (%s) does not compile: %s\n",
                       json_string_value(json_object_get(json_array_get(tools, i), "id")), keys[k],
                       ce.msg);
            schema_free(s);
        }
    }
    printf("tool-descriptions.jsonl: %d of %d schemas compile\n", compiled, total);

    /* regression floors for in-scope recall (per category, percent) */
    static const struct {
        const char *cat;
        double floor;
    } floors[] = {{"path-prefix-bypass", 100}, {"path-traversal", 100}, {"symlink-escape", 100},
                  {"null-byte-path", 100},     {"repo-scope-bypass", 100}, {"argument-injection", 90},
                  {"ssrf", 90},                {"shell-metacharacters", 90}, {"sql-injection", 100}};
    for (size_t i = 0; i < sizeof(floors) / sizeof(floors[0]); i++) {
        for (size_t k = 0; k < ncats; k++) {
            if (strcmp(cats[k].name, floors[i].cat) != 0)
                continue;
            double r = 100.0 * cats[k].detected / cats[k].n;
            if (r + 1e-9 < floors[i].floor) {
                printf("REGRESSION: %s recall %.1f%% is below %.0f%%\n", floors[i].cat, r,
                       floors[i].floor);
                failures++;
            }
        }
    }
    args_policy_free(static_policy);
    json_decref(static_section);
    json_decref(pol);
    json_decref(cases);
    json_decref(tools);
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return failures ? 1 : 0;
}
