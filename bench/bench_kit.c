/* bench_kit - figures for the server kit and mcp-security-tools:
 *   kit dispatch: tools/call round trips per second through the in-memory
 *     transport (parse, route, validate against the inputSchema, handler,
 *     result emission);
 *   query_logs: search throughput (MB/s) over a generated log with a simple
 *     and a heavier pattern;
 *   reputation: load time and lookups per second on 1 Mi random entries.
 * Usage: bench_kit [MB of log, default 64]. Prints one line per figure. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcheck.h"
#include "kit/kit_internal.h"
#include "logsearch.h"
#include "redact.h"
#include "reputation.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t sent;
static int count_send(void *t, void *s, const char *d, size_t n, bool f)
{
    (void)t;
    (void)s;
    (void)d;
    (void)n;
    (void)f;
    sent++;
    return 0;
}
static const struct kit_transport tp = {.send = count_send};

static void echo(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_tool_text(c, "ok");
}

static void bench_dispatch(void)
{
    struct event_base *base = event_base_new();
    const struct kit_info info = {"bench", "1", NULL, NULL};
    struct kit_server *s = kit_server_new(base, &info, NULL);
    char err[200];
    const struct kit_tool t = {"echo", NULL, NULL,
                               "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                               "\"maxLength\":100},\"n\":{\"type\":\"integer\"}},"
                               "\"required\":[\"a\"]}",
                               NULL, NULL, echo, NULL};
    kit_add_tool(s, &t, err, sizeof(err));
    struct kit_session *ss = kit_session_open(s, &tp, NULL, "bench");
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}";
    kit_session_input_raw(ss, init, strlen(init), NULL);
    const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                      "\"name\":\"echo\",\"arguments\":{\"a\":\"hello world\",\"n\":42}}}";
    size_t n = 200000;
    uint64_t t0 = mono_us();
    for (size_t i = 0; i < n; i++)
        kit_session_input_raw(ss, req, strlen(req), NULL);
    uint64_t dt = mono_us() - t0;
    printf("kit dispatch: %.0f tools/call per second (%.2f us each, %zu answers)\n",
           (double)n * 1e6 / (double)dt, (double)dt / (double)n, sent - 1);
    kit_server_free(s);
    event_base_free(base);
}

static void bench_search(size_t mb)
{
    char path[] = "/tmp/bench-kit-log-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return;
    unlink(path);
    struct buf b;
    buf_init(&b, 1 << 20);
    size_t total = 0;
    static const char *const lv[] = {"INFO ", "WARN ", "ERROR", "DEBUG"};
    while (total < mb * 1024 * 1024) {
        buf_reset(&b);
        while (buf_used(&b) < (1 << 20) - 200)
            buf_printf(&b, "2026-11-20T08:%02u:%02uZ %s request path=/v1/orders/%llu status=%u "
                           "client=45.155.%u.%u duration_ms=%u\n",
                       (unsigned)(next_rand() % 60), (unsigned)(next_rand() % 60),
                       lv[next_rand() % 4], (unsigned long long)(next_rand() % 100000),
                       (unsigned)(200 + next_rand() % 300), (unsigned)(next_rand() % 256),
                       (unsigned)(next_rand() % 256), (unsigned)(next_rand() % 5000));
        if (write(fd, buf_head(&b), buf_used(&b)) < 0)
            break;
        total += buf_used(&b);
    }
    buf_free(&b);
    static const char *const pats[] = {"status=404", "ERROR.*client=45\\.155\\.1[0-9]{2}\\."};
    for (size_t p = 0; p < 2; p++) {
        for (int redact = 0; redact < 2; redact++) {
            const struct logsearch_opts o = {
                .match_limit = 100000, .depth_limit = 1000, .heap_limit_kib = 8192,
                .timeout_us = 600ull * 1000000ull, .max_output = 1u << 30,
                .max_line_len = 2048, .max_pattern = 512, .max_scan_line = 65536,
                .redact = redact != 0,
            };
            lseek(fd, 0, SEEK_SET);
            char err[300];
            struct logsearch *s = logsearch_new(dup(fd), pats[p], strlen(pats[p]), 1000000, &o,
                                                err, sizeof(err));
            if (s == NULL) {
                printf("search: %s\n", err);
                continue;
            }
            uint64_t t0 = mono_us();
            while (logsearch_step(s, 10000, err, sizeof(err)) == LS_MORE)
                ;
            uint64_t dt = mono_us() - t0;
            json_t *r = logsearch_result(s);
            printf("query_logs: %.0f MB/s over %zu MB, pattern %s, redaction %s (%zu matches)\n",
                   (double)total / (double)dt, total >> 20, pats[p], redact ? "on" : "off",
                   json_array_size(json_object_get(r, "matches")));
            json_decref(r);
            logsearch_free(s);
        }
    }
    close(fd);
    redact_fini();
}

static void bench_reputation(void)
{
    size_t n = 1u << 20;
    struct buf b;
    buf_init(&b, 64u << 20);
    for (size_t i = 0; i < n; i++) {
        unsigned len = 16 + (unsigned)(next_rand() % 17);
        uint32_t a = (uint32_t)next_rand();
        a &= len == 32 ? 0xffffffffu : ~(0xffffffffu >> len);
        buf_printf(&b, "%u.%u.%u.%u/%u c%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
                   len, (unsigned)(next_rand() % 8));
    }
    struct rep_db *db = rep_db_new();
    struct cfg_errors e;
    cfg_errors_init(&e);
    uint64_t t0 = mono_us();
    long got = rep_db_load_mem(db, "bench", "bench", buf_head(&b), buf_used(&b), NULL, &e);
    rep_db_finish(db);
    uint64_t load = mono_us() - t0;
    size_t lookups = 1000000, hits = 0;
    struct rep_match m[4];
    t0 = mono_us();
    for (size_t i = 0; i < lookups; i++) {
        struct ip_addr a = {.family = 4};
        uint32_t v = (uint32_t)next_rand();
        a.b[0] = (uint8_t)(v >> 24);
        a.b[1] = (uint8_t)(v >> 16);
        a.b[2] = (uint8_t)(v >> 8);
        a.b[3] = (uint8_t)v;
        hits += rep_db_lookup(db, &a, m, 4) > 0;
    }
    uint64_t dt = mono_us() - t0;
    printf("reputation: %ld entries loaded and indexed in %.0f ms; %.0f lookups per second "
           "(%.0f ns each, %zu%% listed)\n",
           got, (double)load / 1000.0, (double)lookups * 1e6 / (double)dt,
           (double)dt * 1000.0 / (double)lookups, hits * 100 / lookups);
    rep_db_free(db);
    cfg_errors_free(&e);
    buf_free(&b);
}

int main(int argc, char **argv)
{
    log_init("bench_kit", LOG_LVL_ERROR, 2);
    size_t mb = 64;
    if (argc > 1) {
        char *end;
        unsigned long v = strtoul(argv[1], &end, 10);
        if (*end == '\0' && v > 0 && v < 100000)
            mb = v;
    }
    bench_dispatch();
    bench_search(mb);
    bench_reputation();
    return 0;
}
