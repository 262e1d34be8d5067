/* serve.h - the Streamable HTTP gateway: many upstream MCP servers behind one
 * endpoint.
 *
 * Each client session (an shttp session) gets its own session with every
 * upstream: a stdio child spawned for it, or a Streamable HTTP client session.
 * Each (client session, upstream) pair is a gw_session, so the pipeline of
 * wrap (lifecycle, policy of that upstream, tracking, timeouts, audit) applies
 * unchanged. The federation layer in front of those sessions:
 *   - answers initialize by initializing every upstream and merging their
 *     capabilities;
 *   - names tools and prompts server<sep>name and resources server+uri when
 *     there is more than one upstream (or namespacing: always), so names of
 *     different servers can never collide; lists are paged across upstreams
 *     with cursors of its own;
 *   - routes each call to its upstream, rewriting only the bytes of the name;
 *   - routes server->client requests to the client (ids rewritten so two
 *     upstreams cannot collide) and the answers back; progress and log
 *     notifications to the stream of the request they belong to;
 *   - cancels upstream work when a client abandons a request;
 *   - restarts a crashed stdio upstream with backoff, failing what it held.
 * An admin listener serves /metrics (Prometheus), /healthz and /readyz.
 * SIGHUP reloads the configuration: an invalid file keeps the old one; new
 * sessions get the new upstream set, existing sessions the new policies.
 */
#ifndef MCPWALL_GATEWAY_SERVE_H
#define MCPWALL_GATEWAY_SERVE_H

#include "gateway/gwconfig.h"

struct serve_opts {
    struct gw_config *cfg;      /* a reference is taken */
    const char *config_path;    /* re-read on SIGHUP (NULL: reload not possible) */
    const char *audit_path;     /* overrides cfg->audit.file */
    /* Upstreams given on the command line are added on each (re)load. */
    int (*add_cli_upstreams)(struct gw_config *cfg, void *ud, char *err, size_t errlen);
    void *cli_ud;
};

/* Runs until SIGTERM/SIGINT. Returns the process exit status. */
int serve_run(const struct serve_opts *o);

#endif
