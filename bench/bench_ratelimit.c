/* bench_ratelimit - cost of a rate-limit decision.
 *
 *   memory store: ns per ratelimit_check() (CPU time) with 1 rule, 5 rules
 *                 (all matching: 4 buckets + 1 budget), and 1 rule over 100k
 *                 distinct callers (a table of 100k live keys);
 *   redis store:  checks per second and latency percentiles against a local
 *                 redis-server (started here on a unix socket in a temp dir,
 *                 or the URL given with -r) with N checks in flight.
 *
 * Run: build/bench/bench_ratelimit [-n CHECKS] [-r REDIS_URL]
 */
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "policy/config.h"
#include "policy/ratelimit.h"
#include "util/str.h"
#include "util/timeutil.h"

extern char **environ;

#define T0 (1767225600ull * 1000000ull)

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct ratelimit *make(const char *yaml, struct event_base *base)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("bench.yaml", yaml, strlen(yaml), false, &e);
    struct rl_config *c =
        doc != NULL ? ratelimit_compile(doc, json_object_get(doc->root, "rate_limits"), &e) : NULL;
    if (c == NULL) {
        cfg_errors_print(&e, stderr);
        exit(1);
    }
    cfg_doc_free(doc);
    cfg_errors_free(&e);
    char err[160];
    struct ratelimit *rl = ratelimit_new(c, base, err, sizeof(err));
    rl_config_free(c);
    if (rl == NULL) {
        fprintf(stderr, "bench_ratelimit: %s\n", err);
        exit(1);
    }
    return rl;
}

static void bench_memory(const char *label, const char *yaml, size_t nids, size_t n)
{
    struct ratelimit *rl = make(yaml, NULL);
    char (*ids)[40] = malloc(nids * sizeof(*ids));
    for (size_t i = 0; i < nids; i++)
        snprintf(ids[i], sizeof(ids[i]), "apikey:user-%zu", i);
    struct rl_subject s = {.server = "filesystem", .tool = "read_text_file"};
    struct rl_decision d;
    size_t allowed = 0;
    /* Warm: every key exists before timing. */
    for (size_t i = 0; i < nids; i++) {
        s.identity = ids[i];
        ratelimit_check(rl, &s, T0, &d, NULL, NULL, NULL);
    }
    uint64_t t0 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        s.identity = ids[i % nids];
        ratelimit_check(rl, &s, T0 + 1000000 + i, &d, NULL, NULL, NULL);
        allowed += d.allowed;
    }
    uint64_t dt = cpu_ns() - t0;
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    printf("memory  %-34s %7.1f ns/check  (%zu checks, %.1f%% allowed, %llu keys)\n", label,
           (double)dt / (double)n, n, 100.0 * (double)allowed / (double)n,
           (unsigned long long)st.keys);
    free(ids);
    ratelimit_free(rl);
}

struct rbench {
    struct ratelimit *rl;
    struct event_base *base;
    size_t total, issued, done, allowed, unavailable, want_inflight;
    uint64_t *lat;
    uint64_t *start;
    size_t inflight;
    bool pumping;
};

static struct rbench *cur_bench;
static char ids[1000][24];

static void record(struct rbench *b, size_t slot, const struct rl_decision *d)
{
    b->lat[b->done++] = mono_us() - b->start[slot];
    b->allowed += d->allowed;
    b->unavailable += d->reason == RL_UNAVAILABLE;
}

static void on_done(void *arg, const struct rl_decision *d);

/* Keeps want_inflight checks in flight; checks decided at once (the store is
 * down) are recorded in the loop, never by recursion. */
static void pump(struct rbench *b)
{
    if (b->pumping)
        return;
    b->pumping = true;
    while (b->inflight < b->want_inflight && b->issued < b->total) {
        struct rl_subject s = {.identity = ids[b->issued % 1000], .server = "fs", .tool = "read"};
        struct rl_decision d;
        size_t slot = b->issued++;
        b->start[slot] = mono_us();
        int rc = ratelimit_check(b->rl, &s, wall_us(), &d, on_done, (void *)(uintptr_t)slot, NULL);
        if (rc == 0)
            b->inflight++;
        else
            record(b, slot, &d);
    }
    b->pumping = false;
    if (b->done == b->total)
        event_base_loopbreak(b->base);
}

static void on_done(void *arg, const struct rl_decision *d)
{
    struct rbench *b = cur_bench;
    b->inflight--;
    record(b, (size_t)(uintptr_t)arg, d);
    pump(b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_redis(const char *url, size_t inflight, size_t n)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "rate_limits:\n  store: {redis: \"%s\", prefix: \"bench:\", timeout: 1s, "
             "max_inflight: 4096}\n"
             "  rules: [{name: r, rate: 1000000/s}]\n",
             url);
    struct rbench b = {0};
    b.base = event_base_new();
    b.rl = make(yaml, b.base);
    b.total = n;
    b.lat = calloc(n, sizeof(*b.lat));
    b.start = calloc(n, sizeof(*b.start));
    cur_bench = &b;
    uint64_t t0 = mono_us();
    b.want_inflight = inflight;
    pump(&b);
    if (b.done < b.total)
        event_base_dispatch(b.base);
    uint64_t dt = mono_us() - t0;
    qsort(b.lat, b.done, sizeof(*b.lat), cmp_u64);
    printf("redis   %4zu in flight: %9.0f checks/s   latency p50 %5llu us  p99 %6llu us"
           "  (%zu checks, %zu unavailable)\n",
           inflight, (double)b.done * 1e6 / (double)dt,
           (unsigned long long)b.lat[b.done / 2], (unsigned long long)b.lat[b.done * 99 / 100],
           b.done, b.unavailable);
    ratelimit_free(b.rl);
    event_base_free(b.base);
    free(b.lat);
    free(b.start);
}

static pid_t start_redis(char *dir, size_t dirlen, char *url, size_t urllen)
{
    snprintf(dir, dirlen, "/tmp/mcpwall-bench-redis-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char sock[128], logf[128];
    snprintf(sock, sizeof(sock), "%.80s/r.sock", dir);
    snprintf(logf, sizeof(logf), "%.80s/r.log", dir);
    char *argv[] = {"redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                    "--appendonly", "no", "--dir", dir, "--logfile", logf, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "redis-server", NULL, NULL, argv, environ) != 0)
        return -1;
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    if (access(sock, F_OK) != 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    snprintf(url, urllen, "unix:%s", sock);
    return pid;
}

int main(int argc, char **argv)
{
    size_t n = 2000000;
    const char *url = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        if (opt == 'n')
        {
            uint64_t v;
            if (parse_u64(optarg, 1000000000, &v) < 0) {
                fprintf(stderr, "bench_ratelimit: -n takes a number\n");
                return 2;
            }
            n = (size_t)v;
        }
        else if (opt == 'r')
            url = optarg;
        else {
            fprintf(stderr, "usage: bench_ratelimit [-n CHECKS] [-r REDIS_URL]\n");
            return 2;
        }
    }
    if (n < 1000)
        n = 1000;
    signal(SIGPIPE, SIG_IGN);
    bench_memory("1 rule, 1 caller", "rate_limits:\n  rules: [{name: r, rate: 1000000000/s}]\n",
                 1, n);
    bench_memory("5 rules (4 buckets + 1 budget)",
                 "rate_limits:\n  rules:\n"
                 "    - {name: a, rate: 1000000000/s}\n"
                 "    - {name: b, tool: \"read_*\", rate: 1000000000/s, key: [identity]}\n"
                 "    - {name: c, server: \"file*\", rate: 1000000000/s, key: [server]}\n"
                 "    - {name: d, identity: \"apikey:*\", rate: 1000000000/s, key: [identity, tool]}\n"
                 "  budgets:\n"
                 "    - {name: e, window: 1d, calls: 1000000000000, result_bytes: 1GiB}\n",
                 1, n);
    bench_memory("1 rule, 100k callers (100k keys)",
                 "rate_limits:\n  max_keys: 200000\n"
                 "  rules: [{name: r, rate: 1000/s, key: [identity]}]\n",
                 100000, n);
    bench_memory("1 rule, 100k keys, half refused",
                 "rate_limits:\n  max_keys: 200000\n"
                 "  rules: [{name: r, rate: 5/s, burst: 1, key: [identity]}]\n",
                 100000, n);

    for (int i = 0; i < 1000; i++)
        snprintf(ids[i], sizeof(ids[i]), "apikey:u%d", i);
    char dir[64] = "", own_url[160];
    pid_t pid = -1;
    if (url == NULL) {
        pid = start_redis(dir, sizeof(dir), own_url, sizeof(own_url));
        if (pid < 0) {
            printf("redis   skipped: redis-server not found or did not start (or give -r URL)\n");
            return 0;
        }
        url = own_url;
    }
    size_t rn = n / 10 < 200000 ? n / 10 : 200000;
    const size_t levels[] = {1, 16, 64, 256};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        bench_redis(url, levels[i], rn);
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        char p[160];
        snprintf(p, sizeof(p), "%.80s/r.log", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%.80s/dump.rdb", dir);
        unlink(p);
        rmdir(dir);
    }
    return 0;
}
