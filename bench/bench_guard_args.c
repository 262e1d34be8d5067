/* bench_guard_args - per-call cost of the argument guards of a tools/call:
 * JSON Schema validation of `arguments` against the tool's inputSchema, then
 * the policy's argument constraints. The message is already parsed (the
 * gateway parses once); what is measured is what the validate stage adds.
 *
 * Calls measured (schemas written after the shape the real servers publish):
 *   filesystem read_text_file   draft-07 schema + filesystem profile; the path
 *                               is resolved on a real temporary tree (5 lstat)
 *   fetch                       2020-12 schema with format uri + http-fetch profile
 *   git_diff                    schema + git profile (repo path + ref)
 *   sqlite read_query           schema + database profile (SQL inspection)
 *
 * Usage: bench_guard_args [iterations]   (default 200000). Prints µs/call per
 * stage and in total; the budget for the full guard set is 20 µs.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guard/args.h"
#include "guard/schema.h"
#include "policy/config.h"

static char tmp[256];

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (j == NULL) {
        fprintf(stderr, "bench: bad JSON: %s\n", je.text);
        exit(1);
    }
    return j;
}

/* Replaces every "$TMP" in s with the temporary directory. */
static char *subst(const char *s)
{
    size_t cap = strlen(s) * 4 + 1024, o = 0;
    char *out = malloc(cap);
    while (*s) {
        if (strncmp(s, "$TMP", 4) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", tmp);
            s += 4;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

struct bcase {
    const char *name;
    const char *tool;
    const char *schema;
    const char *policy_yaml;
    const char *arguments;
};

static const struct bcase cases[] = {
    {"filesystem read_text_file", "read_text_file",
     "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\","
     "\"properties\":{\"path\":{\"type\":\"string\"},\"tail\":{\"type\":\"number\","
     "\"description\":\"If provided, returns only the last N lines of the file\"},"
     "\"head\":{\"type\":\"number\",\"description\":\"If provided, returns only the first N "
     "lines of the file\"}},\"required\":[\"path\"],\"additionalProperties\":false}",
     "arguments:\n  - profile: filesystem\n    roots: [\"$TMP/home/user/project\"]\n",
     "{\"path\":\"$TMP/home/user/project/src/main.ts\",\"head\":20}"},
    {"fetch url", "fetch",
     "{\"type\":\"object\",\"title\":\"Fetch\",\"properties\":{\"url\":{\"type\":\"string\","
     "\"format\":\"uri\",\"minLength\":1,\"title\":\"Url\"},\"max_length\":{\"type\":"
     "\"integer\",\"default\":5000,\"exclusiveMinimum\":0,\"exclusiveMaximum\":1000000},"
     "\"start_index\":{\"type\":\"integer\",\"default\":0,\"minimum\":0},\"raw\":{\"type\":"
     "\"boolean\",\"default\":false}},\"required\":[\"url\"]}",
     "arguments:\n  - profile: http-fetch\n",
     "{\"url\":\"https://docs.python.org/3/library/json.html\",\"max_length\":5000}"},
    {"git_diff", "git_diff",
     "{\"type\":\"object\",\"properties\":{\"repo_path\":{\"type\":\"string\"},\"target\":"
     "{\"type\":\"string\"},\"context_lines\":{\"type\":\"integer\",\"default\":3}},"
     "\"required\":[\"repo_path\",\"target\"]}",
     "arguments:\n  - profile: git\n    roots: [\"$TMP/home/user/repo\"]\n",
     "{\"repo_path\":\"$TMP/home/user/repo\",\"target\":\"HEAD~1\"}"},
    {"sqlite read_query", "read_query",
     "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":"
     "\"SELECT SQL query to execute\"}},\"required\":[\"query\"]}",
     "arguments:\n  - profile: database\n",
     "{\"query\":\"SELECT id, subject, status FROM tickets WHERE status = 'open' ORDER BY id "
     "DESC LIMIT 20\"}"},
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

int main(int argc, char **argv)
{
    long iters = 200000;
    if (argc > 1) {
        char *end;
        iters = strtol(argv[1], &end, 10);
        if (*end != '\0' || iters <= 0) {
            fprintf(stderr, "usage: bench_guard_args [iterations]\n");
            return 2;
        }
    }
    snprintf(tmp, sizeof(tmp), "/tmp/mcpwall-bench-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return 1;
    const char *dirs[] = {"/home", "/home/user", "/home/user/project", "/home/user/project/src",
                          "/home/user/repo"};
    char p[512];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", tmp, dirs[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof(p), "%s/home/user/project/src/main.ts", tmp);
    FILE *f = fopen(p, "w");
    if (f != NULL) {
        fputs("export {}\n", f);
        fclose(f);
    }

    printf("bench_guard_args: %ld iterations per case\n", iters);
    printf("%-28s %12s %12s %12s\n", "tools/call", "schema µs", "args µs", "total µs");
    double worst = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct bcase *b = &cases[c];
        json_t *sj = parse(b->schema);
        struct schema_compile_err ce;
        struct schema *s = schema_compile(sj, &ce);
        if (s == NULL) {
            fprintf(stderr, "bench: %s: %s\n", b->name, ce.msg);
            return 1;
        }
        char *y = subst(b->policy_yaml);
        struct cfg_errors e;
        cfg_errors_init(&e);
        struct cfg_doc *d = cfg_load_mem("bench.yaml", y, strlen(y), false, &e);
        struct arg_policy *pol =
            d != NULL ? args_policy_compile(d, json_object_get(d->root, "arguments"), &e) : NULL;
        if (pol == NULL) {
            cfg_errors_print(&e, stderr);
            return 1;
        }
        char *a = subst(b->arguments);
        json_t *args = parse(a);
        struct schema_error se;
        struct arg_violation v;
        if (schema_validate(s, args, &se) != 0 || args_policy_check(pol, b->tool, args, &v) != 0) {
            fprintf(stderr, "bench: %s: the benign call is refused\n", b->name);
            return 1;
        }
        /* best of three runs of each stage, to keep scheduler noise out */
        double best_s = 1e18, best_a = 1e18;
        for (int run = 0; run < 3; run++) {
            double t0 = now_us();
            for (long i = 0; i < iters; i++)
                (void)schema_validate(s, args, &se);
            double t1 = now_us();
            for (long i = 0; i < iters; i++)
                (void)args_policy_check_schema(pol, b->tool, sj, args, &v);
            double t2 = now_us();
            if ((t1 - t0) / (double)iters < best_s)
                best_s = (t1 - t0) / (double)iters;
            if ((t2 - t1) / (double)iters < best_a)
                best_a = (t2 - t1) / (double)iters;
        }
        printf("%-28s %12.3f %12.3f %12.3f\n", b->name, best_s, best_a, best_s + best_a);
        if (best_s + best_a > worst)
            worst = best_s + best_a;
        json_decref(args);
        free(a);
        args_policy_free(pol);
        cfg_doc_free(d);
        cfg_errors_free(&e);
        free(y);
        schema_free(s);
        json_decref(sj);
    }
    printf("worst case %.3f µs/call for schema + constraints (issue budget for the full guard "
           "set: 20 µs)\n",
           worst);
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
