/* gwconfig.h - the gateway configuration file (shared by wrap and serve).
 *
 * Top-level keys: version (1), log, limits, audit, policy. Unknown keys are
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

struct gw_config {
    char *path;            /* NULL for the built-in default */
    struct gw_limits limits;
    struct gw_audit_cfg audit;
    enum log_level log_level;
    struct policy *policy; /* one reference */
};

/* Loads and compiles a file; NULL after reporting every error to errs. */
struct gw_config *gwconfig_load(const char *path, struct cfg_errors *errs);
/* Compiles an already loaded document (used by tests and reload). */
struct gw_config *gwconfig_compile(const struct cfg_doc *doc, struct cfg_errors *errs);
/* The built-in safe default (no file). */
struct gw_config *gwconfig_default(void);
void gwconfig_free(struct gw_config *c);
/* The default audit path: $XDG_STATE_HOME/mcpwall/audit.jsonl or
 * ~/.local/state/mcpwall/audit.jsonl (directories created 0700). */
int gwconfig_default_audit_path(char *out, size_t outsz);
/* Prints a plain summary of what the configuration does (mcpwall check). */
void gwconfig_describe(const struct gw_config *c, void *file /* FILE* */);

#endif
