/* bench_guards - what the full guard set adds to one tools/call, measured
 * through the real pipeline in process (no pipes): the tool's inputSchema,
 * the policy's argument constraints (the filesystem profile: the path is
 * resolved on a real temporary tree) and the result guard (secrets, PII,
 * injection, hidden content, size cap) on a 10 KB text result.
 *
 * Each round trip is a tools/call read_file request and its answer, with the
 * audit log on. It runs three configurations on the same messages:
 *   bare      no inputSchema known, no constraints, results: all off
 *   guarded   schema + filesystem constraints + the default result guard
 *   finding   guarded, and the result carries an AWS key (the redaction path)
 * and prints µs per round trip for each, and guarded - bare: the guard set's
 * cost (the budget: 20 µs per call).
 *
 * Usage: bench_guards [ITERATIONS] [RESULT_BYTES]   (defaults 20000, 10240).
 * The result text is English prose (the Debian GPL-3 text when present). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_gw.h"
#include "util/buf.h"
#include "util/timeutil.h"

/* size bytes of prose, JSON-escaped: newlines as \\n, quotes and backslashes
 * turned into apostrophes, other control characters into spaces. */
static char *prose(size_t size)
{
    struct buf raw;
    buf_init(&raw, 1u << 24);
    FILE *f = fopen("/usr/share/common-licenses/GPL-3", "r");
    char chunk[4096];
    size_t n;
    while (f != NULL && buf_used(&raw) < size && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&raw, chunk, n);
    if (f != NULL)
        fclose(f);
    static const char *const words[] = {"the", "server", "returns", "a", "list", "of", "files",
                                        "in", "the", "directory", "with", "their", "sizes", "and"};
    for (size_t i = 0; buf_used(&raw) < size; i++) {
        buf_append_str(&raw, words[i % 14]);
        buf_append_char(&raw, i % 11 == 10 ? '\n' : ' ');
    }
    struct buf out;
    buf_init(&out, 1u << 25);
    for (size_t i = 0; i < size; i++) {
        char c = buf_head(&raw)[i];
        if (c == '\n')
            buf_append_str(&out, "\\n");
        else if (c == '"' || c == '\\')
            buf_append_char(&out, '\'');
        else if ((unsigned char)c < 0x20)
            buf_append_char(&out, ' ');
        else
            buf_append_char(&out, c);
    }
    buf_free(&raw);
    buf_cstr(&out);
    return out.data;
}

static struct gw_config *config(const char *yaml)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("bench.yaml", yaml, strlen(yaml), false, &e);
    struct gw_config *c = doc != NULL ? gwconfig_compile(doc, &e) : NULL;
    if (c == NULL) {
        cfg_errors_print(&e, stderr);
        exit(1);
    }
    cfg_doc_free(doc);
    cfg_errors_free(&e);
    return c;
}

static double run(struct gw_config *cfg, bool schema, long iters, const char *path,
                  const char *text, const char *audit_path)
{
    struct gw_session s;
    struct audit_log *audit = bench_session_open(&s, cfg, audit_path);
    /* The gateway asks for the tools itself once ready (id "mcpwall-..."):
     * the client's own list answers with the same definition. */
    static const char listreq[] = "{\"jsonrpc\":\"2.0\",\"id\":\"l\",\"method\":\"tools/list\"}";
    gw_client_message(&s, listreq, sizeof(listreq) - 1);
    const char *list =
        schema ? "{\"jsonrpc\":\"2.0\",\"id\":\"l\",\"result\":{\"tools\":[{\"name\":\"read_file\","
                 "\"description\":\"Read a text file.\",\"inputSchema\":{\"type\":\"object\","
                 "\"properties\":{\"path\":{\"type\":\"string\",\"minLength\":1},\"head\":{"
                 "\"type\":\"integer\",\"minimum\":1}},\"required\":[\"path\"],"
                 "\"additionalProperties\":false}}]}}"
               : "{\"jsonrpc\":\"2.0\",\"id\":\"l\",\"result\":{\"tools\":[{\"name\":"
                 "\"read_file\",\"description\":\"Read a text file.\"}]}}";
    gw_server_message(&s, list, strlen(list));
    size_t cap = strlen(text) + 1024;
    char *req = malloc(cap), *res = malloc(cap);
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
        double t0 = (double)mono_us();
        for (long i = 1; i <= iters; i++) {
            long id = round * iters + i;
            int rn = snprintf(req, cap, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
                              "\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"%s\"}}}",
                              id, path);
            int sn = snprintf(res, cap, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"result\":{\"content\":[{"
                              "\"type\":\"text\",\"text\":\"%s\"}]}}", id, text);
            gw_client_message(&s, req, (size_t)rn);
            gw_server_message(&s, res, (size_t)sn);
            uint64_t w;
            audit_flush_due(audit, &w);
        }
        double per = ((double)mono_us() - t0) / (double)iters;
        if (per < best)
            best = per;
    }
    if (s.denied != 0 || s.errors != 0) {
        fprintf(stderr, "bench_guards: %llu calls were refused: the measurement is void\n",
                (unsigned long long)(s.denied + s.errors));
        exit(1);
    }
    free(req);
    free(res);
    gw_session_free(&s);
    audit_close(audit);
    return best;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long iters = argc > 1 ? strtol(argv[1], &end, 10) : 20000;
    bool bad = argc > 1 && *end != '\0';
    long size = argc > 2 ? strtol(argv[2], &end, 10) : 10240;
    bad |= argc > 2 && *end != '\0';
    if (bad || iters <= 0 || size < 64 || size > (1L << 23)) {
        fprintf(stderr, "usage: bench_guards [ITERATIONS] [RESULT_BYTES 64..8388608]\n");
        return 2;
    }
    char dir[] = "/tmp/bench-guards-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char sub[300], path[400], audit_path[300];
    snprintf(sub, sizeof(sub), "%s/share/docs", dir);
    snprintf(path, sizeof(path), "%s/share", dir);
    mkdir(path, 0700);
    mkdir(sub, 0700);
    snprintf(path, sizeof(path), "%s/share/docs/notes.txt", dir);
    FILE *f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
    snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", dir);

    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "version: 1\nrate_limits: {alert: {calls_per_minute: 0}}\npolicy:\n  default: allow\n"
             "  arguments:\n    - profile: filesystem\n      roots: [\"%s/share\"]\n", dir);
    struct gw_config *guarded = config(yaml);
    struct gw_config *bare =
        config("version: 1\nrate_limits: {alert: {calls_per_minute: 0}}\npolicy: {default: "
               "allow}\nresults: {max_bytes: 0, secrets: off, pii: off, injection: off, hidden: "
               "off}\n");

    char *text = prose((size_t)size);
    char *secret = strdup(text);
    size_t at = strlen(secret) / 2;
    while (secret[at - 1] == '\\') /* not between a backslash and its letter */
        at++;
    memcpy(secret + at, "AKIAQX4Z7HJ2KLMN3PQR", 20);

    double t_bare = run(bare, false, iters, path, text, audit_path);
    double t_guarded = run(guarded, true, iters, path, text, audit_path);
    double t_finding = run(guarded, true, iters / 4 + 1, path, secret, audit_path);
    printf("{\"result_bytes\":%ld,\"bare_us\":%.2f,\"guarded_us\":%.2f,\"finding_us\":%.2f,"
           "\"guard_set_us\":%.2f,\"guard_set_with_finding_us\":%.2f}\n",
           size, t_bare, t_guarded, t_finding, t_guarded - t_bare, t_finding - t_bare);
    free(text);
    free(secret);
    gwconfig_free(guarded);
    gwconfig_free(bare);
    remove(path);
    remove(audit_path);
    char head[320];
    snprintf(head, sizeof(head), "%s.head", audit_path);
    remove(head);
    rmdir(sub);
    snprintf(path, sizeof(path), "%s/share", dir);
    rmdir(path);
    rmdir(dir);
    return 0;
}
