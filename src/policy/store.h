/* store.h - where rate-limit and budget counters live: one small interface,
 * two implementations of the same operations.
 *
 *   memory  (store_mem.c)   this process only; bounded by max_keys; every
 *                           operation completes synchronously.
 *   redis   (store_redis.c) shared by every gateway that names the same Redis;
 *                           hiredis async on the caller's libevent loop; one
 *                           Lua script per operation, so a check is atomic
 *                           across gateways.
 *
 * The store knows nothing about rules, identities or globs: ratelimit.c turns
 * a request into a list of operations on keys, and the store applies them with
 * "check all, then take all": when any operation refuses, no state changes.
 *
 * State per key
 *   bucket  credit c and time t of the last update. Credit is counted in
 *           integer units: a call costs `cost` units, `rate` units come back
 *           per microsecond, the bucket holds at most `cap` units (all < 2^53,
 *           so Redis's Lua doubles compute exactly what the C code does).
 *           An absent key is a full bucket.
 *   budget  calls, result bytes and tokens counted in the window whose index
 *           is part of the key; an absent key is an empty window.
 * Keys are deleted once deleting them loses nothing (a bucket refilled to
 * cap, a window that ended), so expiry is invisible to clients.
 *
 * Times (`now_us`) are the caller's wall clock in microseconds; gateways that
 * share a Redis must have synchronised clocks (NTP; skew of a few ms shifts
 * refills by as much, nothing more).
 */
#ifndef MCPWALL_POLICY_STORE_H
#define MCPWALL_POLICY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* Largest value a bucket or budget parameter may take (2^53: exact in Lua). */
#define STORE_NUM_MAX (1ull << 53)
/* Longest key (ratelimit.c bounds its parts well below this). */
#define STORE_KEY_MAX 4096

enum store_op_kind { STORE_BUCKET = 0, STORE_BUDGET };

/* What a budget counts (also what ran out). */
enum store_dim { STORE_DIM_NONE = 0, STORE_DIM_CALLS, STORE_DIM_BYTES, STORE_DIM_TOKENS };

struct store_op {
    enum store_op_kind kind;
    const char *key; /* borrowed for the duration of the call; without the store prefix */
    size_t klen;
    /* STORE_BUCKET: capacity, cost of one call, refill per microsecond (all >= 1). */
    uint64_t cap, cost, rate;
    /* STORE_BUDGET: limits per window (0: not limited), end of the key's window. */
    uint64_t max_calls, max_bytes, max_tokens;
    uint64_t window_end_us;
    /* Bucket: how long the key must outlive its last update (time to refill
     * from empty). Budget: the window length (the key expires at
     * window_end_us). Ops of one kind with equal ttl_us share an expiry list. */
    uint64_t ttl_us;
};

/* Result of one operation. */
struct store_res {
    bool ok;
    enum store_dim dim;       /* budget refusals: what ran out */
    uint64_t retry_us;        /* refused: when this operation would succeed */
    int64_t remaining;        /* calls left after this one (-1: the operation does not count calls) */
};

enum store_status {
    STORE_OK = 0,      /* results valid: each op has ok/retry/remaining; all taken iff all ok */
    STORE_FULL,        /* memory store: max_keys live keys and this needs a new one; nothing taken */
    STORE_ERROR,       /* unreachable, error reply, bad reply, too many in flight */
    STORE_TIMEOUT,     /* no reply within the store's timeout */
    STORE_SHUTDOWN,    /* the store was freed with the operation pending */
};

/* Completion of a pending take: status, results (n entries; meaningful for
 * STORE_OK), and for STORE_FULL the time until the first key expires. Called
 * exactly once, from the event loop, never from inside store_take(). */
typedef void (*store_done_fn)(void *arg, enum store_status st, const struct store_res *res,
                              size_t n, uint64_t retry_us);

struct store_req;
struct store;

struct store_stats {
    uint64_t keys;            /* memory: live keys; redis: 0 (unknown) */
    uint64_t full_refusals;   /* memory: new keys refused at max_keys */
    uint64_t errors;          /* redis: errors, bad replies, overload */
    uint64_t timeouts;        /* redis: operations that timed out */
    uint64_t account_dropped; /* accounting that could not be recorded */
    uint64_t connects;        /* redis: successful connections */
    bool connected;           /* redis: connection up now */
};

struct store_vtbl {
    int (*take)(struct store *s, const struct store_op *ops, size_t n, uint64_t now_us,
                struct store_res *res, enum store_status *st, uint64_t *full_retry_us,
                store_done_fn cb, void *arg, struct store_req **req);
    void (*account)(struct store *s, const struct store_op *ops, size_t n, uint64_t bytes,
                    uint64_t tokens, uint64_t now_us);
    void (*cancel)(struct store *s, struct store_req *req);
    void (*stats)(const struct store *s, struct store_stats *out);
    void (*free)(struct store *s);
};

struct store {
    const struct store_vtbl *vt;
};

/* Redis connection settings, as parsed by store_redis_parse_url(). */
struct store_redis_cfg {
    char *host;        /* IP literal or "localhost"; NULL with unix_path */
    uint16_t port;
    char *unix_path;   /* NULL for TCP */
    uint32_t db;
    char *user;        /* NULL: AUTH with the password alone (or no AUTH) */
    char *password;    /* secret: never logged; NULL: no AUTH */
    char *prefix;      /* prepended to every key */
    uint64_t timeout_us;
    size_t max_inflight;
};

/* Parses "redis://[[user]:password@]host[:port][/db]" or
 * "unix:/path/to/socket[?db=N]" (also "unix:///path"). host must be an IP
 * literal ([v6] in brackets) or localhost: a name would need a blocking DNS
 * lookup on the event loop. Fills host/port/unix_path/db/user/password (new
 * strings). Returns 0, or -1 with a message (without the URL, which may hold
 * a password) in err. */
int store_redis_parse_url(const char *url, struct store_redis_cfg *out, char *err, size_t errlen);
/* Frees the strings of a config (wipes the password). */
void store_redis_cfg_clear(struct store_redis_cfg *c);
/* Deep copy; -1 on allocation failure. */
int store_redis_cfg_copy(struct store_redis_cfg *dst, const struct store_redis_cfg *src);
/* True when both configs name the same server, credentials and settings. */
bool store_redis_cfg_equal(const struct store_redis_cfg *a, const struct store_redis_cfg *b);
/* True when this build has Redis support (hiredis). */
bool store_redis_available(void);

/* A memory store holding at most max_keys keys (>= 1). NULL on allocation failure. */
struct store *store_mem_new(size_t max_keys);
/* A Redis store on `base` (required). Connects at once and again, with
 * backoff, after failures; never blocks. NULL with a message in err when
 * built without hiredis or out of memory. The config is copied. */
struct store *store_redis_new(const struct store_redis_cfg *cfg, struct event_base *base,
                              char *err, size_t errlen);

/* Checks every op and takes them all when every one allows (atomic). Returns
 * 1 when decided now (*st, and res[0..n) for STORE_OK, are filled; for
 * STORE_FULL *full_retry_us too; cb is not called), 0 when pending (cb will
 * be called once; *req, when req != NULL, can cancel it), -1 on bad input
 * (n == 0 or a key too long). n <= 256; the keys of one take are distinct. */
static inline int store_take(struct store *s, const struct store_op *ops, size_t n,
                             uint64_t now_us, struct store_res *res, enum store_status *st,
                             uint64_t *full_retry_us, store_done_fn cb, void *arg,
                             struct store_req **req)
{
    return s->vt->take(s, ops, n, now_us, res, st, full_retry_us, cb, arg, req);
}
/* Adds bytes and tokens to the budget keys (ops of kind STORE_BUDGET; their
 * max_* are ignored). Fire and forget: failures only count in stats. */
static inline void store_account(struct store *s, const struct store_op *ops, size_t n,
                                 uint64_t bytes, uint64_t tokens, uint64_t now_us)
{
    s->vt->account(s, ops, n, bytes, tokens, now_us);
}
/* Drops a pending take: its cb will not be called. req is invalid afterwards. */
static inline void store_cancel(struct store *s, struct store_req *req)
{
    s->vt->cancel(s, req);
}
static inline void store_stats(const struct store *s, struct store_stats *out)
{
    s->vt->stats(s, out);
}
/* Frees the store; pending takes complete with STORE_SHUTDOWN first. NULL is harmless. */
static inline void store_free(struct store *s)
{
    if (s != NULL)
        s->vt->free(s);
}

#endif
