/* bench_pipeline - user-space cost of one tools/call round trip through the
 * gateway pipeline, in process (no pipes, no syscalls except audit writes):
 * request from the client, response from the server, audit record, with the
 * outputs discarded. Prints ns per round trip.
 *   bench_pipeline [ITERATIONS] [PAYLOAD_BYTES] [AUDIT_FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_gw.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    char *end;
    long iters = argc > 1 ? strtol(argv[1], &end, 10) : 200000;
    if (argc > 1 && (*end != '\0' || iters <= 0))
        return 2;
    long payload = argc > 2 ? strtol(argv[2], &end, 10) : 100;
    if (argc > 2 && (*end != '\0' || payload < 0))
        return 2;
    const char *audit_path = argc > 3 ? argv[3] : "/tmp/bench-pipeline-audit.jsonl";
    struct gw_config *cfg = gwconfig_default();
    struct gw_session s;
    struct audit_log *audit = bench_session_open(&s, cfg, audit_path);
    char *text = malloc((size_t)payload + 1);
    for (long i = 0; i < payload; i++)
        text[i] = (char)('a' + i % 26);
    text[payload] = '\0';
    size_t cap = (size_t)payload + 512;
    char *req = malloc(cap), *res = malloc(cap);
    double t0 = now();
    for (long i = 1; i <= iters; i++) {
        int rn = snprintf(req, cap, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
                          "\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"%s\"}}}", i, text);
        int sn = snprintf(res, cap, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"result\":{\"content\":[{"
                          "\"type\":\"text\",\"text\":\"%s\"}]}}", i, text);
        gw_client_message(&s, req, (size_t)rn);
        gw_server_message(&s, res, (size_t)sn);
        uint64_t w;
        audit_flush_due(audit, &w);
    }
    double t1 = now();
    gw_session_free(&s);
    audit_close(audit);
    gwconfig_free(cfg);
    printf("{\"iterations\":%ld,\"payload\":%ld,\"ns_per_round_trip\":%.0f}\n", iters, payload,
           (t1 - t0) / (double)iters);
    free(req);
    free(res);
    free(text);
    return 0;
}
