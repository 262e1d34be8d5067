/* wrap.h - the stdio gateway: mcpwall between a host and one local server.
 *
 * The host talks to us on fds 0/1 as it would to the server; we spawn the
 * server with pipes and relay both ways through the pipeline. Backpressure:
 * when one side stops reading, we stop reading the other once the queue
 * toward the stalled side holds `limits.queue_bytes`; nothing is dropped or
 * reordered. The server's stderr goes to our log. Signals we receive are
 * forwarded to the server. Host EOF closes the server's stdin, then after
 * `limits.shutdown_grace` SIGTERM, then SIGKILL. A server that dies answers
 * every pending request with an error, and we exit with its status.
 */
#ifndef MCPWALL_GATEWAY_WRAP_H
#define MCPWALL_GATEWAY_WRAP_H

#include "gateway/gwconfig.h"

struct wrap_opts {
    const struct gw_config *cfg;
    char *const *argv;        /* server command */
    const char *audit_path;   /* overrides cfg->audit.file when set */
    int host_in, host_out;    /* normally 0 and 1 */
};

/* Runs until the session ends. Returns the exit status for the process:
 * the server's exit status, 128+signal, or 1 when the server could not start. */
int wrap_run(const struct wrap_opts *o);

#endif
