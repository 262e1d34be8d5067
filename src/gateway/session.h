/* session.h - one client session as the gateway sees it.
 *
 * A session owns the lifecycle state (proto/mcp.h), the requests in flight in
 * each direction (to answer them if the other side fails, to time them out,
 * and to audit them when they complete), a reference to the policy snapshot it
 * started with, and the two outputs the pipeline writes to. The host (wrap or
 * serve) creates it and feeds it messages through pipeline.h.
 */
#ifndef MCPWALL_GATEWAY_SESSION_H
#define MCPWALL_GATEWAY_SESSION_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "audit/metrics.h"
#include "gateway/gwconfig.h"
#include "policy/identity.h"
#include "policy/policy.h"
#include "policy/ratelimit.h"
#include "proto/jtape.h"
#include "proto/mcp.h"
#include "util/map.h"

enum gw_dir { GW_C2S = 0, GW_S2C = 1 };

struct gw_session;

/* Where the pipeline sends bytes (one message, no newline). Return -1 when
 * the output cannot take it (queue hard cap passed or peer gone). */
struct gw_io {
    int (*to_client)(void *ud, const char *msg, size_t len);
    int (*to_server)(void *ud, const char *msg, size_t len);
    /* Called after work the pipeline did on its own (a timeout fired), so the
     * host flushes what was queued. */
    void (*after_event)(void *ud);
    /* Optional: write what is queued toward that side now (to_side as in
     * send_to: GW_C2S toward the server, GW_S2C toward the client). The
     * pipeline calls it after forwarding the last message of a batch, before
     * its bookkeeping (audit), so that work is off the message's path. */
    void (*flush)(void *ud, int to_side);
};

/* A tool as its server described it, with its schemas compiled once. */
struct gw_tool {
    json_t *def;                 /* the tool object from tools/list */
    struct schema *in;           /* compiled inputSchema; NULL with in_err set if invalid */
    struct schema *out;          /* compiled outputSchema, or NULL */
    char *in_err;                /* why the inputSchema could not be compiled */
    bool seen;                   /* listed in the current full listing */
    uint8_t pin;                 /* enum gw_pin_state (pins: configured) */
    char sha256[65];             /* of the definition, when pins are configured */
};

enum gw_pin_state { GW_PIN_UNCHECKED = 0, GW_PIN_MATCH, GW_PIN_CHANGED, GW_PIN_NEW };

/* A request waiting for the limiter (the Redis store answers later): its
 * bytes are kept and the pipeline runs again on them with the decision. */
struct gw_held {
    struct gw_held *prev, *next;
    struct gw_session *sess;
    struct rl_pending *pending; /* until the decision arrives */
    char *raw;
    size_t len;
};

/* A request in flight, keyed by its id in the direction it travels. */
struct gw_pending {
    struct gw_session *sess;
    enum gw_dir dir;             /* who sent the request */
    char key[160];               /* rpc id key: "n:<int>" or "s:<string>" */
    size_t keylen;
    enum mcp_method_id method;
    char method_name[64];
    int target_kind;             /* enum pol_kind, or -1 */
    char *target;                /* owned; tool/prompt name or resource URI */
    char args_sha256[65];        /* "" when the request had no arguments */
    char *args_preview;          /* owned; bounded JSON preview, or NULL */
    char rule[96];               /* copied: a reload may swap the policy meanwhile */
    bool internal;               /* the gateway's own request: its answer is not forwarded */
    bool list_had_cursor;        /* tools/list: a page after the first */
    char *flags;                 /* owned: JSON array of argument findings to audit, or NULL */
    char *guard;                 /* owned: result guard report of a server->client request
                                    (JSON), audited with its completion; or NULL */
    uint64_t t_in;               /* µs: request received */
    uint64_t gw_us;              /* µs spent in mcpwall on the request */
    uint64_t deadline;           /* µs (monotonic); 0: none */
    struct gw_pending *tnext, *tprev; /* the session's deadline list (FIFO) */
    bool cancelled;
};

struct gw_session {
    char id[33];
    char identity[IDENTITY_MAX_PRINCIPAL + 1]; /* the caller's principal, for audit */
    struct identity *ident;       /* reference held: the caller (wrap: the local user) */
    char client_hint[128];        /* clientInfo.name the client claims (unverified) */
    char model_hint[128];         /* model header the client sends (unverified) */
    struct event_base *base;
    const struct gw_config *cfg;  /* borrowed: outlives the session */
    struct policy *policy;        /* reference held */
    struct gw_results *results;   /* reference held: the result guard */
    struct audit_log *audit;      /* borrowed, may be NULL */
    struct metrics *metrics;      /* borrowed, may be NULL */
    const char *server;           /* borrowed: upstream name for audit and metrics, or NULL */
    const char *pin_name;         /* borrowed: name in the lockfile (wrap); NULL: server */
    uint64_t request_timeout_us;  /* from cfg->limits; a server's own timeout overrides it */
    struct mcp_lifecycle lc;
    struct map pending[2];        /* by direction of the request */
    struct gw_pending *spare;     /* finished entries kept for reuse (a short list) */
    unsigned nspare;
    /* All requests share one timeout, so deadlines are in arrival order: a
     * FIFO list and a single timer for its head. */
    struct gw_pending *thead, *ttail;
    struct event *timer;
    uint64_t timer_at;            /* deadline the timer is armed for; 0: not armed */
    struct jtape tape[2];         /* reused for messages from each side */
    /* What the server said about its tools (from any tools/list answer,
     * including the one the gateway asks for once the session is ready). */
    struct map tools;             /* name -> struct gw_tool */
    bool tools_complete;          /* a full list (every page) has been seen */
    unsigned internal_seq;
    const struct gw_io *io;
    void *io_ud;
    bool upstream_gone;
    bool batch_more;              /* set by the transport: more messages follow at once */
    /* Rate limits (rate_limits:): the process's limiter, the call-rate alert
     * (serve points it at the client session's, shared by its upstreams),
     * requests waiting for a decision, and the decision a held request is
     * re-run with. */
    struct ratelimit *rl;         /* borrowed; NULL: no limits */
    struct rl_alert own_alert;
    struct rl_alert *alert;
    struct gw_held *held;
    bool limit_decided;
    struct rl_decision limit_decision;
    char upstream_gone_why[160];
    /* counters */
    uint64_t msgs_in[2], denied, errors;
};

/* Initialises a session; takes references to cfg->policy and cfg->results. */
int gw_session_init(struct gw_session *s, struct event_base *base, const struct gw_config *cfg,
                    struct audit_log *audit, const struct gw_io *io, void *io_ud);
/* Releases pending entries (without answering them) and references. */
void gw_session_free(struct gw_session *s);
/* Replaces the policy (after a reload); requests in flight keep their rule. */
void gw_session_set_policy(struct gw_session *s, struct policy *p);
/* Sets who calls (takes a reference; NULL keeps the current one) and copies
 * its principal for audit records. */
void gw_session_set_identity(struct gw_session *s, struct identity *id);
/* The subject the policy judges: the identity and the client's hints. */
struct pol_subject gw_session_subject(const struct gw_session *s);
/* Replaces the result guard (a server's own, or after a reload). */
void gw_session_set_results(struct gw_session *s, struct gw_results *r);
/* Records a handshake done outside the pipeline (an HTTP upstream whose
 * client session initialized itself): params of the initialize request and
 * the server's result. 0, or -1 with *e when the result is unacceptable. */
int gw_session_adopt_handshake(struct gw_session *s, const json_t *init_params,
                               const json_t *init_result, struct rpc_err *e);

/* Adds a request by its id key (rpc_id_key form). NULL on a duplicate or OOM. */
struct gw_pending *gw_pending_add(struct gw_session *s, enum gw_dir dir, const char *key,
                                  size_t keylen);
struct gw_pending *gw_pending_find(struct gw_session *s, enum gw_dir dir, const char *key,
                                   size_t keylen);
/* The id of a pending request as a new jansson value. */
json_t *gw_pending_id(const struct gw_pending *p);
/* Removes from the map and frees. */
void gw_pending_done(struct gw_pending *p);
size_t gw_pending_count(const struct gw_session *s, enum gw_dir dir);
void gw_tool_free(struct gw_tool *t);

#endif
