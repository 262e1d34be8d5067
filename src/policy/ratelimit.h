/* ratelimit.h - rate limits, cost budgets, per-tool call timeouts and the
 * per-session call-rate alert (the `limit` stage of the pipeline).
 *
 * Config (top-level section `rate_limits:`; docs/rate-limits.md has the full
 * reference):
 *
 *   rate_limits:
 *     store: memory                     # default; or:
 *     # store: {redis: "redis://127.0.0.1:6379/0", prefix: "mcpwall:",
 *     #         timeout: 50ms, on_error: deny, max_inflight: 1024}
 *     max_keys: 100000                  # memory store: live keys at most
 *     alert: {calls_per_minute: 100}    # per session; 0 turns it off
 *     rules:                            # token buckets; every matching rule applies
 *       - name: writes                  # required, unique, [A-Za-z0-9_.-]{1,64}
 *         server: fs                    # globs (string or list); absent: any
 *         tool: ["write_*", "move_*"]
 *         identity: "apikey:*"
 *         role: [admin]                 # matches when any caller role matches
 *         rate: 10/min                  # N/s | N/min | N/h | N/d | N/<duration>
 *         burst: 5                      # bucket size; default N
 *         key: [identity, tool, server] # default; any subset; never session
 *         timeout: 30s                  # per-call timeout (rules may have only this)
 *     budgets:                          # fixed windows aligned to the UTC epoch
 *       - name: daily
 *         identity: "jwt:*"
 *         window: 1d                    # 1s .. 366d
 *         calls: 1000                   # any of calls, result_bytes, tokens
 *         result_bytes: 50MiB
 *         tokens: 200000
 *         key: [identity]               # default [identity, tool, server]
 *
 * Keys are built from the identity (never the session: a client that
 * re-initializes keeps its budget), the tool and the server, as configured.
 *
 * Lifecycle: ratelimit_compile() makes an immutable, reference-counted
 * rl_config; ratelimit_new() pairs one with a store (memory, or Redis on the
 * caller's libevent loop); ratelimit_reload() swaps the config and keeps the
 * counters (a rule keeps its buckets while its name and rate stay the same).
 * Everything runs on the one thread of the event loop. With the Redis store
 * the process must ignore SIGPIPE (hiredis writes with write(2)); wrap and
 * serve do.
 */
#ifndef MCPWALL_POLICY_RATELIMIT_H
#define MCPWALL_POLICY_RATELIMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"

struct event_base;

#define RL_NAME_MAX 64
/* Longest identity, server or tool name accepted by ratelimit_check(). */
#define RL_FIELD_MAX 1024
/* Most roles per subject (as many as an identity may carry: IDENTITY_MAX_ITEMS). */
#define RL_ROLES_MAX 256
/* Most rules plus budgets in one config. */
#define RL_MAX_LIMITS 256

struct rl_config;
struct ratelimit;
struct rl_pending;

/* Who is calling what. All strings are borrowed for the duration of the call. */
struct rl_subject {
    const char *identity;      /* "apikey:alice", "jwt:iss#sub", "local:1000"; required */
    const char *const *roles;  /* the caller's roles; may be NULL when nroles == 0 */
    size_t nroles;
    const char *server;        /* upstream server name; required */
    const char *tool;          /* tool name (or the method for non-tool requests); required */
};

enum rl_reason {
    RL_OK = 0,            /* allowed (or no rule matched) */
    RL_RATE_LIMITED,      /* a rule's bucket is empty */
    RL_BUDGET_EXCEEDED,   /* a budget's window is spent */
    RL_STATE_FULL,        /* memory store at max_keys: a new key was refused */
    RL_UNAVAILABLE,       /* Redis unreachable, error, timeout or shutdown; allowed per on_error */
};

enum rl_dim { RL_DIM_NONE = 0, RL_DIM_CALLS, RL_DIM_RESULT_BYTES, RL_DIM_TOKENS };

struct rl_decision {
    bool allowed;
    enum rl_reason reason;     /* RL_UNAVAILABLE with allowed = true: on_error: allow let it pass */
    char rule[RL_NAME_MAX + 1];/* the refusing rule or budget ("" otherwise) */
    enum rl_dim dim;           /* RL_BUDGET_EXCEEDED: what ran out */
    uint32_t retry_after;      /* seconds (rounded up, >= 1) when refused; 0 when allowed */
    uint64_t retry_after_us;
    int64_t remaining;         /* calls left under the tightest matched limit; -1: no call limit */
    uint64_t timeout_us;       /* per-call timeout: the smallest of the matching rules'; 0: none */
    uint32_t matched;          /* rules and budgets that matched */
};

/* Completion of a pending check. `d` is valid during the call only. */
typedef void (*rl_done_fn)(void *arg, const struct rl_decision *d);

struct rl_stats {
    uint64_t checks, allowed, refused, unavailable;
    uint64_t keys;            /* memory store: live keys */
    uint64_t full_refusals;   /* memory store: new keys refused at max_keys */
    uint64_t store_errors, store_timeouts, account_dropped;
    bool store_connected;     /* redis; true for memory */
};

/* Compiles the `rate_limits` section (NULL: the defaults: no rules, memory
 * store, alert at 100 calls per minute). Every problem is reported with
 * cfg_err at its position. Returns a config with one reference, or NULL
 * after recording errors. */
struct rl_config *ratelimit_compile(const struct cfg_doc *doc, const json_t *section,
                                    struct cfg_errors *errs);
struct rl_config *rl_config_ref(struct rl_config *c);
/* Drops a reference; NULL is harmless. */
void rl_config_free(struct rl_config *c);
/* Number of rules and budgets, and whether the store is Redis. */
void rl_config_counts(const struct rl_config *c, size_t *nrules, size_t *nbudgets, bool *redis);

/* A limiter for cfg (takes a new reference; the caller keeps its own). base
 * is the event loop for the Redis store (may be NULL for memory). NULL with
 * a message in err on failure (out of memory, no Redis support). */
struct ratelimit *ratelimit_new(struct rl_config *cfg, struct event_base *base, char *err,
                                size_t errlen);
/* Swaps in a new config (takes a new reference). Counters are kept. Returns -1
 * with a message when the store settings changed (they need a restart); the
 * old config then stays. Checks in flight finish under the config they began with. */
int ratelimit_reload(struct ratelimit *rl, struct rl_config *cfg, char *err, size_t errlen);
/* Frees the limiter. Checks still pending complete first (cb with
 * RL_UNAVAILABLE, allowed per on_error). NULL is harmless. */
void ratelimit_free(struct ratelimit *rl);

/* Decides whether `who` may make one call now. now_us is the wall clock
 * (wall_us(); budgets are aligned to UTC and Redis is shared between hosts).
 * Every matching rule and budget is checked; only when all allow is one
 * call taken from each (atomically, also in Redis): a refused call consumes
 * nothing.
 * Returns 1 when decided now (*out filled, cb not called); 0 when pending
 * (Redis: cb(arg, decision) is called exactly once, later, from the loop,
 * also on error, timeout and ratelimit_free; *pending, when pending != NULL,
 * is the handle for ratelimit_cancel() until then); -1 on bad input (a
 * missing field, a field longer than RL_FIELD_MAX, more than RL_ROLES_MAX
 * roles, or cb == NULL with the Redis store), with nothing recorded. cb may
 * be NULL with the memory store, which always decides at once. */
int ratelimit_check(struct ratelimit *rl, const struct rl_subject *who, uint64_t now_us,
                    struct rl_decision *out, rl_done_fn cb, void *arg,
                    struct rl_pending **pending);
/* Drops a pending check: its cb is never called. p is invalid afterwards and
 * must not be used after its cb ran. */
void ratelimit_cancel(struct rl_pending *p);
/* Adds a result's size and estimated tokens (guard/tokens.h) to every
 * matching budget that counts them, in the window of now_us. Call it after a
 * result passed back (or was refused by a guard: the upstream did the work).
 * Fire and forget. */
void ratelimit_account(struct ratelimit *rl, const struct rl_subject *who, uint64_t result_bytes,
                       uint64_t tokens, uint64_t now_us);
void ratelimit_stats(const struct ratelimit *rl, struct rl_stats *out);
/* The alert threshold of the current config (calls per minute; 0: off). */
uint32_t ratelimit_alert_threshold(const struct ratelimit *rl);
/* The same, of a compiled config. */
uint32_t ratelimit_config_alert(const struct rl_config *c);

/* Stable reason codes for data.reason / audit: "ok", "rate_limited",
 * "budget_exceeded", "limiter_full", "limiter_unavailable". */
const char *rl_reason_str(enum rl_reason r);
/* "calls", "result_bytes", "tokens" or "". */
const char *rl_dim_str(enum rl_dim d);
/* The message a refused client sees, e.g. "rate limited by rule 'writes':
 * retry after 6 s". Returns the length it needed (snprintf-like). */
size_t rl_decision_message(const struct rl_decision *d, char *buf, size_t len);

/* Per-session call-rate alert: the gateway keeps one in each session and
 * calls rl_alert_hit() for every request of that session.
 *
 * Counts calls in the last minute (this second and the 59 before it, in
 * one-second slots). Returns true on the call that takes the count above
 * the threshold. Re-arm rule: after firing it stays silent for 60 s; then it
 * fires again on the next call while the count is above the threshold. So a
 * single burst alerts once, a sustained flood once per minute, and a session
 * that calmed down and floods again later alerts again. threshold 0: never. */
#define RL_ALERT_SLOTS 60
struct rl_alert {
    uint64_t sec;             /* second of the newest slot */
    uint64_t fired_us;        /* when it last fired */
    bool fired;               /* has fired at least once */
    bool started;
    uint32_t sum;             /* calls in the window */
    uint32_t slot[RL_ALERT_SLOTS];
};
void rl_alert_init(struct rl_alert *a);
bool rl_alert_hit(struct rl_alert *a, uint32_t threshold, uint64_t now_us);
/* Calls in the current window (for the audit record). */
uint32_t rl_alert_count(const struct rl_alert *a, uint64_t now_us);

#endif
