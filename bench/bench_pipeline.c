/* bench_pipeline - user-space cost of one tools/call round trip through the
 * gateway pipeline, in process (no pipes, no syscalls except audit writes):
 * request from the client, response from the server, audit record, with the
 * outputs discarded. Prints ns per round trip.
 *   bench_pipeline [ITERATIONS] [PAYLOAD_BYTES] [AUDIT_FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/pipeline.h"
#include "util/timeutil.h"

static size_t sink_bytes;

static int sink(void *ud, const char *msg, size_t len)
{
    (void)ud;
    (void)msg;
    sink_bytes += len;
    return 0;
}

static const struct gw_io io = {sink, sink, NULL, NULL};

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
    char err[256];
    remove(audit_path);
    struct audit_opts ao = {.path = audit_path, .flush_interval_us = 10000};
    struct audit_log *audit = audit_open(&ao, err, sizeof(err));
    struct gw_session s;
    gw_session_init(&s, NULL, cfg, audit, &io, NULL);
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                       "\"name\":\"b\",\"version\":\"1\"}}}";
    const char *initres = "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":"
                          "\"2025-11-25\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{"
                          "\"name\":\"s\",\"version\":\"1\"}}}";
    const char *inited = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    gw_client_message(&s, init, strlen(init));
    gw_server_message(&s, initres, strlen(initres));
    gw_client_message(&s, inited, strlen(inited));
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
        audit_flush_due(audit, mono_us(), &w);
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
