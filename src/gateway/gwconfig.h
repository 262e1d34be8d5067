/* gwconfig.h - the gateway configuration file (shared by wrap and serve).
 *
 * Top-level keys: version (1), log, limits, audit, policy, results, pins,
 * rate_limits, sandbox, auth (wrap: local_roles), and for serve: listen,
 * admin, servers, separator, namespacing, credentials. Unknown keys are
 * errors (with a suggestion). With no file, gwconfig_default() gives the safe
 * default: allow everything, audit everything to the per-user state directory.
 * Every key, its default and an example are in docs/config.md.
 */
#ifndef MCPWALL_GATEWAY_GWCONFIG_H
#define MCPWALL_GATEWAY_GWCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"
#include "policy/policy.h"
#include "proto/json.h"
#include "util/log.h"

struct sandbox_profile;
struct result_guard;
struct pins;
struct authn;
struct cred_store;
struct secret;
struct rl_config;

/* `pins:` - tool definitions must match the lockfile mcpwall.lock. */
enum gw_pin_action { GW_PIN_ALLOW = 0, GW_PIN_WARN, GW_PIN_BLOCK };

struct gw_pins_cfg {
    struct pins *lock;               /* loaded lockfile; NULL: pins not enforced */
    char *path;                      /* as resolved */
    char *server;                    /* wrap: the name the server is pinned under; NULL: derived */
    enum gw_pin_action on_change;    /* a pinned tool whose definition differs (default block) */
    enum gw_pin_action on_new;       /* a tool the lockfile does not have (default allow) */
};
const char *gw_pin_action_name(enum gw_pin_action a);

/* A compiled result guard (the `results:` section) shared by the sessions
 * that use it: a reload compiles a new one while sessions that hold the old
 * one keep it until they end. */
struct gw_results {
    int refs;
    struct result_guard *g; /* owned */
};

/* Takes ownership of g (NULL gives NULL). */
struct gw_results *gw_results_new(struct result_guard *g);
struct gw_results *gw_results_ref(struct gw_results *r);
void gw_results_unref(struct gw_results *r);

struct gw_limits {
    struct json_limits json;       /* max_message_bytes, max_depth, ... */
    uint64_t request_timeout_us;   /* 0: no timeout */
    size_t queue_bytes;            /* per-direction backpressure budget */
    size_t max_inflight;           /* requests in flight per session and direction */
    uint64_t shutdown_grace_us;    /* host EOF -> SIGTERM -> SIGKILL steps */
};

enum gw_audit_notif { GW_AUDIT_NOTIF_DENIED = 0, GW_AUDIT_NOTIF_ALL };

struct gw_audit_cfg {
    bool enabled;
    char *file;            /* NULL: default path */
    bool fsync;
    uint64_t flush_interval_us;
    enum gw_audit_notif notifications;
};

/* An HTTP listener of serve (public MCP endpoint or admin). */
struct gw_listen {
    bool set;
    char *host;             /* default 127.0.0.1 */
    uint16_t port;          /* 0: ephemeral */
    char *tls_cert;
    char *tls_key;
    char **allowed_hosts;   /* NULL-terminated, or NULL for the loopback default */
    char **allowed_origins; /* NULL-terminated, or NULL: same-origin only */
    char *path;             /* MCP endpoint path, default /mcp */
};

/* One upstream server of serve (servers: NAME: ...). */
struct gw_server {
    char *name;              /* [a-z][a-z0-9-]*, at most 32 */
    char **argv;             /* stdio: command and args (NULL-terminated); NULL for url */
    char **env;              /* extra "NAME=value" for the child (NULL-terminated) or NULL */
    char *cwd;
    char *url;               /* Streamable HTTP upstream */
    char **headers;          /* "Name: value" lines for url upstreams (NULL-terminated) */
    /* env and headers values may be ${env:..}/${file:..} references: the lines
     * above hold the resolved values (never print them), and these keep the
     * resolved secrets registered so log lines are scrubbed of them. */
    struct secret **secrets;
    size_t nsecrets;
    char *credential;        /* name in credentials: (checked at load), or NULL */
    uint64_t timeout_us;     /* request timeout for this server; 0: limits.request_timeout */
    struct policy *policy;   /* one reference: the server's own, or the top-level one */
    struct gw_results *results; /* one reference: its own `results:` over the top-level one */
    struct sandbox_profile *sandbox; /* owned; NULL: unsandboxed */
};

enum gw_ns_mode { GW_NS_AUTO = 0, GW_NS_ALWAYS, GW_NS_NEVER };

struct gw_config {
    int refs;              /* gwconfig_ref/gwconfig_free */
    char *path;            /* NULL for the built-in default */
    struct gw_limits limits;
    struct gw_audit_cfg audit;
    enum log_level log_level;
    struct policy *policy; /* one reference */
    struct gw_results *results; /* one reference; the defaults when there is no `results:` */
    struct gw_pins_cfg pins;
    struct rl_config *rate_limits; /* one reference; the defaults without `rate_limits:` */
    struct sandbox_profile *sandbox; /* owned; NULL: the server runs unsandboxed */
    /* serve */
    struct gw_listen listen;
    struct gw_listen admin;
    struct gw_server *servers;
    size_t nservers;
    char separator[8];     /* between server and tool names, default "__" */
    enum gw_ns_mode namespacing;
    /* auth: and credentials: (docs/auth.md); one reference each. NULL in the
     * built-in default (serve's quick start makes its own key). */
    struct authn *authn;
    struct cred_store *creds;
    bool auth_set;         /* the file has an auth: section */
};

/* Adds an upstream given on the command line (--upstream NAME=URL or
 * NAME='CMD ARGS', or the command after --). -1 with a sentence in err. */
int gwconfig_add_server(struct gw_config *c, const char *name, const char *url,
                        char *const *argv, char *err, size_t errlen);
/* Whether tools of this configuration are shown as server<sep>tool. */
bool gwconfig_namespaced(const struct gw_config *c);
/* Looks an upstream up by name; NULL when unknown. */
const struct gw_server *gwconfig_server(const struct gw_config *c, const char *name, size_t len);

/* Loads and compiles a file; NULL after reporting every error to errs. */
struct gw_config *gwconfig_load(const char *path, struct cfg_errors *errs);
/* Compiles an already loaded document (used by tests and reload). */
struct gw_config *gwconfig_compile(const struct cfg_doc *doc, struct cfg_errors *errs);
/* The built-in safe default (no file). */
struct gw_config *gwconfig_default(void);
/* Drops a reference (the creator holds one); frees at zero. NULL-safe. */
void gwconfig_free(struct gw_config *c);
struct gw_config *gwconfig_ref(struct gw_config *c);
/* The default audit path: $XDG_STATE_HOME/mcpwall/audit.jsonl or
 * ~/.local/state/mcpwall/audit.jsonl (directories created 0700). */
int gwconfig_default_audit_path(char *out, size_t outsz);
/* Prints a plain summary of what the configuration does (mcpwall check). */
void gwconfig_describe(const struct gw_config *c, void *file /* FILE* */);

#endif
