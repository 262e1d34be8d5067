/* store_redis.c - the shared store: Redis through hiredis's async API on the
 * caller's libevent loop (see store.h for the operations).
 *
 * One connection per store. Every take is one EVALSHA of a Lua script that
 * reads every key, decides, and writes only when all operations allow, so a
 * refused call consumes nothing and two gateways never both spend the last
 * token. The scripts are loaded when the connection comes up; a NOSCRIPT
 * reply (a flushed or restarted server) is answered by EVAL of the same
 * script, which loads it again.
 *
 * Never blocking: connect is non-blocking (host names are refused at config
 * time: resolving them would block), replies arrive on the loop, and every
 * take has a deadline (`timeout`): when it passes the caller gets
 * STORE_TIMEOUT and the late reply is dropped. While the connection is down,
 * takes are answered at once with STORE_ERROR (the caller applies on_error)
 * and reconnects are tried lazily, with backoff from 100 ms to 5 s. A
 * connection whose oldest command has had no reply for max(1 s, 10 x timeout)
 * is dropped and reopened. At most max_inflight commands are outstanding;
 * beyond that takes fail at once (STORE_ERROR) instead of queueing without
 * bound. Accounting (what a finished call cost a budget) is not answered to
 * anyone, so it waits instead: while the connection is down or full, the
 * built commands queue (RS_ACCT_BACKLOG at most, then they are counted as
 * dropped) and go out in order once it is up. A command already sent when a
 * connection breaks is not repeated: Redis may have applied it.
 *
 * Lifetimes: a store_req lives exactly as long as its command is outstanding
 * in hiredis (hiredis always calls back: with the reply, or with NULL when
 * the connection goes). Delivering the result to the caller (or a timeout,
 * cancel or shutdown) only takes it off the waiting list. The store itself
 * may be freed from inside a callback it made: freeing is deferred until the
 * outermost of its callbacks returns.
 */
#include <config.h> /* meson's build config (HAVE_HIREDIS), not policy/config.h */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/store.h"

#ifdef HAVE_HIREDIS

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <hiredis/adapters/libevent.h>
#pragma GCC diagnostic pop

#include "util/log.h"
#include "util/timeutil.h"

/* ARGV: now, then per op: kind ('b' bucket | 'w' window budget), p1..p4, pexpire ms.
 *   bucket  p1 cap, p2 cost, p3 rate, p4 unused
 *   budget  p1 max calls, p2 max bytes, p3 max tokens, p4 window end (all 0 = unlimited)
 * Returns {all_ok, then per op: ok, retry_us, remaining, dim}. The arithmetic
 * is the memory store's, in doubles that stay below 2^53. */
static const char take_script[] =
    "local now = tonumber(ARGV[1])\n"
    "local n = #KEYS\n"
    "local st, out, all = {}, {}, 1\n"
    "for i = 1, n do\n"
    "  local a = 2 + (i - 1) * 6\n"
    "  local p1, p2, p3, p4 = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]),"
    " tonumber(ARGV[a + 4])\n"
    "  if ARGV[a] == 'b' then\n"
    "    local v = redis.call('HMGET', KEYS[i], 'c', 't')\n"
    "    local c, t = tonumber(v[1]), tonumber(v[2])\n"
    "    if c == nil or t == nil or c > p1 then\n"
    "      c = p1\n"
    "      t = now\n"
    "    elseif now > t then\n"
    "      if (now - t) * p3 >= p1 - c then c = p1 else c = c + (now - t) * p3 end\n"
    "      t = now\n"
    "    end\n"
    "    st[i] = {c, t}\n"
    "    if c >= p2 then\n"
    "      out[i] = {1, 0, math.floor((c - p2) / p2), 0}\n"
    "    else\n"
    "      all = 0\n"
    "      out[i] = {0, math.ceil((p2 - c) / p3), 0, 0}\n"
    "    end\n"
    "  else\n"
    "    local v = redis.call('HMGET', KEYS[i], 'c', 'b', 'k')\n"
    "    local calls, bytes, toks = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0\n"
    "    local dim = 0\n"
    "    if p1 > 0 and calls + 1 > p1 then dim = 1\n"
    "    elseif p2 > 0 and bytes >= p2 then dim = 2\n"
    "    elseif p3 > 0 and toks >= p3 then dim = 3 end\n"
    "    local rem = -1\n"
    "    if p1 > 0 then rem = p1 - calls - 1 end\n"
    "    if dim ~= 0 then\n"
    "      all = 0\n"
    "      local r = p4 - now\n"
    "      if r < 1 then r = 1 end\n"
    "      if p1 > 0 then rem = 0 end\n"
    "      out[i] = {0, r, rem, dim}\n"
    "    else\n"
    "      out[i] = {1, 0, rem, 0}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if all == 1 then\n"
    "  for i = 1, n do\n"
    "    local a = 2 + (i - 1) * 6\n"
    "    if ARGV[a] == 'b' then\n"
    "      redis.call('HSET', KEYS[i], 'c', string.format('%.0f', st[i][1] - tonumber(ARGV[a + 2])),"
    " 't', string.format('%.0f', st[i][2]))\n"
    "    else\n"
    "      redis.call('HINCRBY', KEYS[i], 'c', 1)\n"
    "    end\n"
    "    redis.call('PEXPIRE', KEYS[i], ARGV[a + 5])\n"
    "  end\n"
    "end\n"
    "local r = {all}\n"
    "for i = 1, n do\n"
    "  for j = 1, 4 do r[#r + 1] = out[i][j] end\n"
    "end\n"
    "return r\n";

/* ARGV: bytes, tokens, then a pexpire (ms) per key. */
static const char account_script[] =
    "for i = 1, #KEYS do\n"
    "  if tonumber(ARGV[1]) > 0 then redis.call('HINCRBY', KEYS[i], 'b', ARGV[1]) end\n"
    "  if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[i], 'k', ARGV[2]) end\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[2 + i])\n"
    "end\n"
    "return 1\n";

#define RS_BACKOFF_MIN_US 100000ull
#define RS_BACKOFF_MAX_US 5000000ull
#define RS_MAX_OPS 256
#define RS_ACCT_BACKLOG 4096 /* accounting commands kept while Redis is away */
/* Slack added to key lifetimes: gateways' clocks and Redis's may differ. */
#define RS_TTL_SLACK_MS 1000ull
#define RS_WINDOW_SLACK_MS 60000ull

struct redis_store;

struct store_req {
    struct redis_store *rs;           /* NULL once the store is gone (orphan) */
    struct store_req *aprev, *anext;  /* outstanding commands, in send order */
    struct store_req *wprev, *wnext;  /* waiting for a result, by deadline */
    struct store_req *bnext;          /* accounting not sent yet (backlog) */
    bool waiting;
    bool account;
    bool eval_sent;
    const redisAsyncContext *ac;      /* connection the command went to */
    uint64_t sent_us;                 /* mono */
    uint64_t deadline_us;             /* mono */
    store_done_fn cb;
    void *arg;
    size_t nops;
    int argc;
    const char **argv;
    size_t *argvlen;
};

struct redis_store {
    struct store base;
    struct store_redis_cfg cfg;
    struct event_base *evb;
    redisAsyncContext *ac;
    bool up;
    uint64_t retry_at_us;             /* mono: no reconnect before */
    uint64_t backoff_us;
    struct event *timer;
    struct store_req *ahead, *atail;  /* outstanding */
    struct store_req *whead, *wtail;  /* waiting */
    struct store_req *bhead, *btail;  /* accounting not sent yet, in order */
    size_t backlog;
    size_t outstanding;
    char sha_take[41], sha_acct[41];
    int depth;                        /* nesting of our callbacks */
    bool dead;                        /* store_free() was called */
    struct store_stats st;
};

static void sha1_hex(const char *s, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hx[] = "0123456789abcdef";
    if (EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        fatalx("redis store: SHA-1 unavailable");
    for (unsigned int i = 0; i < 20; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[40] = '\0';
}

/* ------------------------------------------------------------- lists */

static void alist_add(struct redis_store *rs, struct store_req *r)
{
    r->anext = NULL;
    r->aprev = rs->atail;
    if (rs->atail != NULL)
        rs->atail->anext = r;
    else
        rs->ahead = r;
    rs->atail = r;
    rs->outstanding++;
}

static void alist_del(struct redis_store *rs, struct store_req *r)
{
    if (r->aprev != NULL)
        r->aprev->anext = r->anext;
    else
        rs->ahead = r->anext;
    if (r->anext != NULL)
        r->anext->aprev = r->aprev;
    else
        rs->atail = r->aprev;
    r->aprev = r->anext = NULL;
    rs->outstanding--;
}

static void wlist_add(struct redis_store *rs, struct store_req *r)
{
    r->wnext = NULL;
    r->wprev = rs->wtail;
    if (rs->wtail != NULL)
        rs->wtail->wnext = r;
    else
        rs->whead = r;
    rs->wtail = r;
    r->waiting = true;
}

static void wlist_del(struct redis_store *rs, struct store_req *r)
{
    if (r->wprev != NULL)
        r->wprev->wnext = r->wnext;
    else
        rs->whead = r->wnext;
    if (r->wnext != NULL)
        r->wnext->wprev = r->wprev;
    else
        rs->wtail = r->wprev;
    r->wprev = r->wnext = NULL;
    r->waiting = false;
}

/* ------------------------------------------------------------- lifetime */

static void rs_destroy(struct redis_store *rs)
{
    if (rs->timer != NULL)
        event_free(rs->timer);
    store_redis_cfg_clear(&rs->cfg);
    free(rs);
}

static void rs_enter(struct redis_store *rs)
{
    rs->depth++;
}

/* Returns true when the store was destroyed (the caller must not touch it). */
static bool rs_leave(struct redis_store *rs)
{
    if (--rs->depth == 0 && rs->dead) {
        rs_destroy(rs);
        return true;
    }
    return false;
}

static void rs_arm_timer(struct redis_store *rs)
{
    if (rs->whead == NULL || rs->dead) {
        evtimer_del(rs->timer);
        return;
    }
    uint64_t now = mono_us();
    uint64_t d = rs->whead->deadline_us > now ? rs->whead->deadline_us - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(d / 1000000), .tv_usec = (suseconds_t)(d % 1000000)};
    evtimer_add(rs->timer, &tv);
}

/* Delivers a result to a waiting request's caller. */
static void rs_deliver(struct redis_store *rs, struct store_req *r, enum store_status st,
                       const struct store_res *res, size_t n)
{
    wlist_del(rs, r);
    store_done_fn cb = r->cb;
    void *arg = r->arg;
    r->cb = NULL;
    cb(arg, st, res, n, 0);
}

static void rs_mark_down(struct redis_store *rs)
{
    rs->up = false;
    rs->retry_at_us = mono_us() + rs->backoff_us;
    rs->backoff_us = rs->backoff_us * 2 > RS_BACKOFF_MAX_US ? RS_BACKOFF_MAX_US : rs->backoff_us * 2;
}

/* Closes the connection (pending commands call back with NULL). */
static void rs_drop(struct redis_store *rs)
{
    redisAsyncContext *ac = rs->ac;
    if (ac == NULL)
        return;
    rs->ac = NULL;
    ac->data = NULL;
    rs_mark_down(rs);
    redisAsyncFree(ac);
}

/* ------------------------------------------------------------- connection */

static void rs_send_backlog(struct redis_store *rs);

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_store *rs = ac->data;
    if (rs == NULL || rs->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        if (rs->up || rs->st.connects == 0)
            log_warnx("rate limits: cannot connect to Redis: %s", ac->errstr);
        rs->ac = NULL;
        ((redisAsyncContext *)ac)->data = NULL;
        rs_mark_down(rs);
        return;
    }
    rs->up = true;
    rs->backoff_us = RS_BACKOFF_MIN_US;
    rs->st.connects++;
    rs_send_backlog(rs);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_store *rs = ac->data;
    (void)status;
    if (rs == NULL || rs->ac != ac)
        return;
    log_warnx("rate limits: lost the Redis connection: %s",
              ac->err != 0 ? ac->errstr : "closed");
    rs->ac = NULL;
    ((redisAsyncContext *)ac)->data = NULL;
    rs_mark_down(rs);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_store *rs = ac->data;
    const redisReply *r = reply;
    const char *what = privdata;
    if (rs == NULL || r == NULL)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        /* The server's message names the problem (WRONGPASS, ERR DB index ...), never the secret. */
        log_warnx("rate limits: Redis refused %s: %.200s", what, r->str);
        rs->st.errors++;
        rs_drop(rs);
    }
}

static void rs_connect(struct redis_store *rs)
{
    redisAsyncContext *ac;
    if (rs->cfg.unix_path != NULL)
        ac = redisAsyncConnectUnix(rs->cfg.unix_path);
    else
        ac = redisAsyncConnect(rs->cfg.host, rs->cfg.port);
    if (ac == NULL) {
        rs_mark_down(rs);
        return;
    }
    if (ac->err != 0) {
        if (rs->up || rs->st.connects == 0)
            log_warnx("rate limits: cannot connect to Redis: %s", ac->errstr);
        redisAsyncFree(ac);
        rs_mark_down(rs);
        return;
    }
    if (redisLibeventAttach(ac, rs->evb) != REDIS_OK) {
        redisAsyncFree(ac);
        rs_mark_down(rs);
        return;
    }
    ac->data = rs;
    rs->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (rs->cfg.password != NULL) {
        const char *argv[3] = {"AUTH", NULL, NULL};
        size_t len[3] = {4, 0, 0};
        int argc = 1;
        if (rs->cfg.user != NULL) {
            argv[argc] = rs->cfg.user;
            len[argc++] = strlen(rs->cfg.user);
        }
        argv[argc] = rs->cfg.password;
        len[argc++] = strlen(rs->cfg.password);
        redisAsyncCommandArgv(ac, on_setup_reply, (void *)"AUTH", argc, argv, len);
    }
    if (rs->cfg.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof(db), "%u", rs->cfg.db);
        const char *argv[2] = {"SELECT", db};
        size_t len[2] = {6, (size_t)n};
        redisAsyncCommandArgv(ac, on_setup_reply, (void *)"SELECT", 2, argv, len);
    }
    const char *a1[3] = {"SCRIPT", "LOAD", take_script};
    size_t l1[3] = {6, 4, strlen(take_script)};
    redisAsyncCommandArgv(ac, on_setup_reply, (void *)"SCRIPT LOAD", 3, a1, l1);
    const char *a2[3] = {"SCRIPT", "LOAD", account_script};
    size_t l2[3] = {6, 4, strlen(account_script)};
    redisAsyncCommandArgv(ac, on_setup_reply, (void *)"SCRIPT LOAD", 3, a2, l2);
}

/* The connection to send on, connecting when allowed; NULL while down. */
static redisAsyncContext *rs_conn(struct redis_store *rs)
{
    if (rs->ac == NULL && !rs->dead && mono_us() >= rs->retry_at_us)
        rs_connect(rs);
    return rs->ac;
}

/* ------------------------------------------------------------- commands */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int rs_send(struct redis_store *rs, redisAsyncContext *ac, struct store_req *r)
{
    if (redisAsyncCommandArgv(ac, on_reply, r, r->argc, r->argv, r->argvlen) != REDIS_OK)
        return -1;
    r->ac = ac;
    r->sent_us = mono_us();
    alist_add(rs, r);
    return 0;
}

static bool reply_is_noscript(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Parses {all, (ok, retry, remaining, dim) * n}. */
static int parse_take(const redisReply *r, size_t n, struct store_res *res)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 1 + 4 * n)
        return -1;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
    for (size_t i = 0; i < n; i++) {
        redisReply *const *e = &r->element[1 + 4 * i];
        long long dim = e[3]->integer;
        if (e[1]->integer < 0 || dim < 0 || dim > STORE_DIM_TOKENS)
            return -1;
        res[i].ok = e[0]->integer == 1;
        res[i].retry_us = (uint64_t)e[1]->integer;
        res[i].remaining = e[2]->integer;
        res[i].dim = (enum store_dim)dim;
    }
    return 0;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store_req *r = privdata;
    struct redis_store *rs = r->rs;
    const redisReply *rp = reply;
    if (rs == NULL) { /* the store is gone */
        free(r);
        return;
    }
    alist_del(rs, r);
    if (reply_is_noscript(rp) && !r->eval_sent && rs->ac == ac && !rs->dead) {
        /* The server lost the script: EVAL sends (and caches) it again. */
        r->eval_sent = true;
        r->argv[0] = "EVAL";
        r->argvlen[0] = 4;
        r->argv[1] = r->account ? account_script : take_script;
        r->argvlen[1] = strlen(r->argv[1]);
        if (rs_send(rs, ac, r) == 0)
            return;
    }
    if (!r->waiting) { /* account, or already answered (timeout, cancel) */
        if (rp == NULL || rp->type == REDIS_REPLY_ERROR)
            rs->st.errors++;
        free(r);
        rs_send_backlog(rs); /* room for the accounting that waits */
        return;
    }
    struct store_res res[RS_MAX_OPS];
    enum store_status st = STORE_OK;
    if (rp == NULL || parse_take(rp, r->nops, res) < 0) {
        if (rp != NULL && rp->type == REDIS_REPLY_ERROR)
            log_warnx("rate limits: Redis error: %.200s", rp->str);
        rs->st.errors++;
        st = STORE_ERROR;
    }
    rs_enter(rs);
    rs_deliver(rs, r, st, res, r->nops);
    free(r);
    if (rs_leave(rs))
        return;
    rs_arm_timer(rs);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct redis_store *rs = arg;
    (void)fd;
    (void)what;
    uint64_t now = mono_us();
    rs_enter(rs);
    while (!rs->dead && rs->whead != NULL && rs->whead->deadline_us <= now) {
        rs->st.timeouts++;
        rs_deliver(rs, rs->whead, STORE_TIMEOUT, NULL, 0);
    }
    /* A connection whose oldest command is long unanswered is stuck (a
     * stopped server, a black-holed route): drop it and start afresh. */
    uint64_t stall = rs->cfg.timeout_us * 10 > 1000000 ? rs->cfg.timeout_us * 10 : 1000000;
    if (!rs->dead && rs->ahead != NULL && rs->ahead->ac == rs->ac && rs->ac != NULL &&
        now - rs->ahead->sent_us > stall) {
        log_warnx("rate limits: Redis has not answered for %llu ms; reconnecting",
                  (unsigned long long)((now - rs->ahead->sent_us) / 1000));
        rs_drop(rs);
    }
    if (rs_leave(rs))
        return;
    rs_arm_timer(rs);
}

/* One allocation: the request, argv, lengths, and the strings. */
static struct store_req *req_alloc(size_t argc, size_t strbytes)
{
    size_t sz = sizeof(struct store_req) + argc * (sizeof(char *) + sizeof(size_t)) + strbytes;
    struct store_req *r = calloc(1, sz);
    if (r == NULL)
        return NULL;
    r->argv = (const char **)(void *)(r + 1);
    r->argvlen = (size_t *)(void *)(r->argv + argc);
    r->argc = (int)argc;
    return r;
}

/* Appends a decimal number to the request's string area. */
static void put_num(struct store_req *r, int *i, char **p, uint64_t v)
{
    int n = snprintf(*p, 21, "%llu", (unsigned long long)v);
    r->argv[*i] = *p;
    r->argvlen[*i] = (size_t)n;
    (*i)++;
    *p += n;
}

static void put_key(struct redis_store *rs, struct store_req *r, int *i, char **p,
                    const struct store_op *op)
{
    size_t pl = strlen(rs->cfg.prefix != NULL ? rs->cfg.prefix : "");
    if (pl > 0)
        memcpy(*p, rs->cfg.prefix, pl);
    memcpy(*p + pl, op->key, op->klen);
    r->argv[*i] = *p;
    r->argvlen[*i] = pl + op->klen;
    (*i)++;
    *p += pl + op->klen;
}

static uint64_t ttl_ms(const struct store_op *op, uint64_t now)
{
    if (op->kind == STORE_BUDGET) {
        uint64_t left = op->window_end_us > now ? op->window_end_us - now : 0;
        return (left + 999) / 1000 + RS_WINDOW_SLACK_MS;
    }
    return (op->ttl_us + 999) / 1000 + RS_TTL_SLACK_MS;
}

static int redis_take(struct store *s, const struct store_op *ops, size_t n, uint64_t now,
                      struct store_res *res, enum store_status *st, uint64_t *full_retry_us,
                      store_done_fn cb, void *arg, struct store_req **reqp)
{
    struct redis_store *rs = (struct redis_store *)s;
    (void)res;
    (void)full_retry_us;
    if (reqp != NULL)
        *reqp = NULL;
    if (n == 0 || n > RS_MAX_OPS || cb == NULL)
        return -1;
    size_t keybytes = 0, pl = strlen(rs->cfg.prefix != NULL ? rs->cfg.prefix : "");
    for (size_t i = 0; i < n; i++) {
        if (ops[i].klen == 0 || ops[i].klen > STORE_KEY_MAX)
            return -1;
        keybytes += pl + ops[i].klen;
    }
    if (rs->dead) {
        *st = STORE_SHUTDOWN;
        return 1;
    }
    redisAsyncContext *ac = rs_conn(rs);
    if (ac == NULL || rs->outstanding >= rs->cfg.max_inflight) {
        rs->st.errors++;
        *st = STORE_ERROR;
        return 1;
    }
    size_t argc = 3 + n + 1 + 6 * n;
    struct store_req *r = req_alloc(argc, keybytes + 21 * (1 + 5 * n) + 2 * n + 64);
    if (r == NULL) {
        rs->st.errors++;
        *st = STORE_ERROR;
        return 1;
    }
    char *p = (char *)(r->argvlen + argc);
    int i = 0;
    r->rs = rs;
    r->nops = n;
    r->cb = cb;
    r->arg = arg;
    r->argv[i] = "EVALSHA";
    r->argvlen[i++] = 7;
    r->argv[i] = rs->sha_take;
    r->argvlen[i++] = 40;
    put_num(r, &i, &p, n);
    for (size_t k = 0; k < n; k++)
        put_key(rs, r, &i, &p, &ops[k]);
    put_num(r, &i, &p, now);
    for (size_t k = 0; k < n; k++) {
        const struct store_op *op = &ops[k];
        r->argv[i] = op->kind == STORE_BUCKET ? "b" : "w";
        r->argvlen[i++] = 1;
        if (op->kind == STORE_BUCKET) {
            put_num(r, &i, &p, op->cap);
            put_num(r, &i, &p, op->cost);
            put_num(r, &i, &p, op->rate);
            put_num(r, &i, &p, 0);
        } else {
            put_num(r, &i, &p, op->max_calls);
            put_num(r, &i, &p, op->max_bytes);
            put_num(r, &i, &p, op->max_tokens);
            put_num(r, &i, &p, op->window_end_us);
        }
        put_num(r, &i, &p, ttl_ms(op, now));
    }
    MW_ASSERT((size_t)i == argc);
    if (rs_send(rs, ac, r) < 0) {
        free(r);
        rs->st.errors++;
        *st = STORE_ERROR;
        return 1;
    }
    r->deadline_us = r->sent_us + rs->cfg.timeout_us;
    bool first = rs->whead == NULL;
    wlist_add(rs, r);
    if (first)
        rs_arm_timer(rs);
    if (reqp != NULL)
        *reqp = r;
    return 0;
}

static void redis_account(struct store *s, const struct store_op *ops, size_t n, uint64_t bytes,
                          uint64_t tokens, uint64_t now)
{
    struct redis_store *rs = (struct redis_store *)s;
    size_t keybytes = 0, pl = strlen(rs->cfg.prefix != NULL ? rs->cfg.prefix : "");
    if (n == 0 || n > RS_MAX_OPS || rs->dead)
        return;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind != STORE_BUDGET || ops[i].klen == 0 || ops[i].klen > STORE_KEY_MAX)
            return;
        keybytes += pl + ops[i].klen;
    }
    size_t argc = 3 + n + 2 + n;
    struct store_req *r = req_alloc(argc, keybytes + 21 * (3 + n));
    if (r == NULL) {
        rs->st.account_dropped++;
        return;
    }
    char *p = (char *)(r->argvlen + argc);
    int i = 0;
    r->rs = rs;
    r->account = true;
    r->argv[i] = "EVALSHA";
    r->argvlen[i++] = 7;
    r->argv[i] = rs->sha_acct;
    r->argvlen[i++] = 40;
    put_num(r, &i, &p, n);
    for (size_t k = 0; k < n; k++)
        put_key(rs, r, &i, &p, &ops[k]);
    put_num(r, &i, &p, bytes);
    put_num(r, &i, &p, tokens);
    for (size_t k = 0; k < n; k++)
        put_num(r, &i, &p, ttl_ms(&ops[k], now));
    MW_ASSERT((size_t)i == argc);
    /* In order behind what already waits, and only on a connection that is up
     * (commands given to one still connecting are lost if it fails). */
    if (rs->backlog == 0) {
        redisAsyncContext *ac = rs_conn(rs);
        if (ac != NULL && rs->up && rs->outstanding < rs->cfg.max_inflight &&
            rs_send(rs, ac, r) == 0)
            return;
    }
    if (rs->backlog >= RS_ACCT_BACKLOG) {
        free(r);
        rs->st.account_dropped++;
        return;
    }
    r->bnext = NULL;
    if (rs->btail != NULL)
        rs->btail->bnext = r;
    else
        rs->bhead = r;
    rs->btail = r;
    rs->backlog++;
    rs_conn(rs); /* reconnects when the backoff allows; the backlog goes then */
    rs_send_backlog(rs);
}

/* Sends waiting accounting, oldest first, while the connection is up and has
 * room. */
static void rs_send_backlog(struct redis_store *rs)
{
    while (rs->bhead != NULL && !rs->dead && rs->up && rs->ac != NULL &&
           rs->outstanding < rs->cfg.max_inflight) {
        struct store_req *r = rs->bhead;
        if (rs_send(rs, rs->ac, r) < 0)
            return;
        rs->bhead = r->bnext;
        if (rs->bhead == NULL)
            rs->btail = NULL;
        r->bnext = NULL;
        rs->backlog--;
    }
}

static void redis_cancel(struct store *s, struct store_req *r)
{
    struct redis_store *rs = (struct redis_store *)s;
    if (r == NULL || !r->waiting)
        return;
    wlist_del(rs, r); /* the reply, when it comes, frees r */
    r->cb = NULL;
    rs_arm_timer(rs);
}

static void redis_stats(const struct store *s, struct store_stats *out)
{
    const struct redis_store *rs = (const struct redis_store *)s;
    *out = rs->st;
    out->connected = rs->up && rs->ac != NULL;
}

static void redis_free(struct store *s)
{
    struct redis_store *rs = (struct redis_store *)s;
    if (rs->dead)
        return;
    rs->dead = true;
    rs_enter(rs);
    while (rs->whead != NULL)
        rs_deliver(rs, rs->whead, STORE_SHUTDOWN, NULL, 0);
    evtimer_del(rs->timer);
    while (rs->bhead != NULL) { /* never sent: lost with the store */
        struct store_req *r = rs->bhead;
        rs->bhead = r->bnext;
        free(r);
        rs->st.account_dropped++;
    }
    rs->btail = NULL;
    rs->backlog = 0;
    /* Orphan the outstanding commands: hiredis calls them back (NULL reply)
     * when the context goes, and they free themselves. */
    for (struct store_req *r = rs->ahead; r != NULL; r = r->anext)
        r->rs = NULL;
    rs->ahead = rs->atail = NULL;
    rs->outstanding = 0;
    redisAsyncContext *ac = rs->ac;
    rs->ac = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    rs_leave(rs);
}

static const struct store_vtbl redis_vtbl = {
    .take = redis_take,
    .account = redis_account,
    .cancel = redis_cancel,
    .stats = redis_stats,
    .free = redis_free,
};

struct store *store_redis_new(const struct store_redis_cfg *cfg, struct event_base *base,
                              char *err, size_t errlen)
{
    struct redis_store *rs = calloc(1, sizeof(*rs));
    if (rs == NULL || base == NULL || store_redis_cfg_copy(&rs->cfg, cfg) < 0) {
        snprintf(err, errlen, base == NULL ? "the Redis store needs an event loop" : "out of memory");
        free(rs);
        return NULL;
    }
    rs->base.vt = &redis_vtbl;
    rs->evb = base;
    if (rs->cfg.timeout_us == 0)
        rs->cfg.timeout_us = 50000;
    if (rs->cfg.max_inflight == 0)
        rs->cfg.max_inflight = 1024;
    rs->backoff_us = RS_BACKOFF_MIN_US;
    rs->timer = evtimer_new(base, on_timer, rs);
    if (rs->timer == NULL) {
        snprintf(err, errlen, "out of memory");
        rs_destroy(rs);
        return NULL;
    }
    sha1_hex(take_script, rs->sha_take);
    sha1_hex(account_script, rs->sha_acct);
    rs_connect(rs);
    return &rs->base;
}

#else /* !HAVE_HIREDIS */

struct store *store_redis_new(const struct store_redis_cfg *cfg, struct event_base *base,
                              char *err, size_t errlen)
{
    (void)cfg;
    (void)base;
    snprintf(err, errlen, "this build of mcpwall has no Redis support (built without hiredis)");
    return NULL;
}

#endif
