/* bench_gw.h - what the in-process pipeline benches share: an output that
 * discards, and a gateway session with its audit log past the MCP handshake. */
#ifndef MCPWALL_BENCH_GW_H
#define MCPWALL_BENCH_GW_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/pipeline.h"

static int bench_sink(void *ud, const char *msg, size_t len)
{
    (void)ud;
    (void)msg;
    (void)len;
    return 0;
}

static const struct gw_io bench_io = {bench_sink, bench_sink, NULL, NULL};

/* A fresh audit log at audit_path (batched every 10 ms, as the gateway's
 * default) and a session on cfg that has been through initialize. Exits when
 * the log cannot be opened: a bench without it would measure less. */
static struct audit_log *bench_session_open(struct gw_session *s, struct gw_config *cfg,
                                            const char *audit_path)
{
    char err[256];
    remove(audit_path);
    struct audit_opts ao = {.path = audit_path, .flush_interval_us = 10000};
    struct audit_log *audit = audit_open(&ao, err, sizeof(err));
    if (audit == NULL) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    gw_session_init(s, NULL, cfg, audit, &bench_io, NULL);
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"b\",\"version\":\"1\"}}}";
    static const char initres[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-11-25\","
        "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}}}";
    static const char inited[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    gw_client_message(s, init, sizeof(init) - 1);
    gw_server_message(s, initres, sizeof(initres) - 1);
    gw_client_message(s, inited, sizeof(inited) - 1);
    return audit;
}

#endif
