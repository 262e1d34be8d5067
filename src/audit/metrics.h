/* metrics.h - counters and latency histograms, rendered in the Prometheus
 * text format (version 0.0.4) for the admin listener's /metrics.
 *
 * Series:
 *   mcpwall_requests_total{server,method,tool,outcome}   completed requests
 *   mcpwall_denials_total{server,reason}                 refused messages
 *   mcpwall_request_duration_seconds{server,tool}        histogram
 *   mcpwall_sessions_active, mcpwall_sessions_total
 *   mcpwall_bytes_total{direction="in"|"out"}            client-side bytes
 *   mcpwall_upstream_restarts_total{server}
 *   mcpwall_rate_alerts_total{server}                    sessions over the per-minute threshold
 *   mcpwall_guard_findings_total{server,rule,action}
 * serve adds its authentication, credential and rate-limiter series with
 * metrics_put_counter() / metrics_put_gauge() (docs/gateway.md lists them).
 * Label values come from names the gateway has judged; the number of series
 * is capped (MAX_SERIES): further label sets are counted under tool="(other)",
 * so a client calling random names cannot grow memory. Single-threaded, like
 * the loop that owns it.
 */
#ifndef MCPWALL_AUDIT_METRICS_H
#define MCPWALL_AUDIT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_request(struct metrics *m, const char *server, const char *method, const char *tool,
                     const char *outcome, uint64_t latency_us);
void metrics_denial(struct metrics *m, const char *server, const char *reason);
void metrics_session(struct metrics *m, int delta);
void metrics_bytes(struct metrics *m, uint64_t in, uint64_t out);
void metrics_restart(struct metrics *m, const char *server);
void metrics_rate_alert(struct metrics *m, const char *server);
/* One finding of the result guard (rule id, action name). */
void metrics_guard(struct metrics *m, const char *server, const char *rule, const char *action);
/* Appends the whole exposition to out. */
int metrics_render(const struct metrics *m, struct buf *out);
/* One sample of a counter kept elsewhere, with its HELP/TYPE lines when
 * head; lname NULL for none; label values escaped as in metrics_render(). */
void metrics_put_counter(struct buf *b, const char *name, const char *help, const char *lname,
                         const char *lvalue, uint64_t v, bool head);
/* A gauge kept elsewhere, with its HELP/TYPE lines. */
void metrics_put_gauge(struct buf *b, const char *name, const char *help, uint64_t v);

#endif
