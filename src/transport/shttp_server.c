/* shttp_server.c - MCP Streamable HTTP, server side (see shttp_server.h).
 *
 * Data model. A session holds streams: stream 0 is the standalone (GET)
 * stream, streams 1.. are requests. Every SSE event a stream carries is kept
 * in two doubly linked lists, the stream's and the session's (oldest first),
 * until it is evicted: an event may be evicted only once it has been written
 * to a connection, oldest first, when the session's byte or event budget
 * needs room. Events not yet written cannot be evicted, so a send that does
 * not fit fails (SHTTP_EFULL) instead of buffering without bound.
 *
 * Lifetimes. A session is freed when it has ended and no stream is left;
 * `refs` counts one for being open, one per request stream and one per
 * temporary pin. A request stream is freed when the app no longer holds it,
 * no connection is attached, no event of it is kept and nothing pins it.
 */
#include "transport/shttp_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proto/sse.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SH_PUMP_HIGH (64u * 1024u) /* stop writing while this much waits in the socket path */
#define SH_IDKEY     96

struct sev {
    struct sev *gprev, *gnext; /* session order */
    struct sev *sprev, *snext; /* stream order */
    struct shttp_stream *st;
    uint64_t seq;
    bool written;
    size_t len;
    char data[];
};

enum st_mode { ST_PENDING, ST_SSE, ST_DONE };

struct shttp_stream {
    struct shttp_stream *prev, *next; /* the owner's request streams */
    struct shttp_session *s;          /* NULL once the session has ended */
    struct shttp_session *owner;      /* for the reference count */
    uint32_t no;
    json_t *req_id;
    char idkey[SH_IDKEY];
    enum st_mode mode;
    struct http_request *hreq; /* attached connection, or NULL */
    struct sev *head, *tail;
    struct sev *next_write;    /* first event not yet written to hreq */
    uint64_t evicted_seq;      /* highest seq evicted from this stream */
    bool responded;
    bool app_holds;
    bool abandoned;
    bool is_init;
    unsigned pins;
    uint64_t created_us, detached_us, last_write_us;
};

struct shttp_session {
    struct shttp_session *hnext;        /* hash chain */
    struct shttp_session *lprev, *lnext; /* the server's list of open sessions */
    struct shttp_server *srv;
    char id[SHTTP_SESSION_ID_LEN + 1];
    uint64_t hkey;
    char *principal;
    void *ud;
    enum mcp_rev version;
    bool open;
    bool app_open;
    bool expire; /* marked by the tick */
    unsigned refs;
    struct shttp_stream *streams;
    struct shttp_stream st0;
    uint32_t next_no;
    uint64_t next_seq;
    struct sev *ghead, *gtail;
    size_t bytes, nevents;
    size_t inflight;
    uint64_t last_activity_us;
};

struct shttp_server {
    struct http_listener *l;
    struct event_base *base;
    struct shttp_opts o;
    char *path;
    const struct shttp_app_ops *ops;
    void *app;
    struct shttp_session **buckets;
    size_t nbuckets;
    struct shttp_session *list;
    size_t nsessions;
    struct event *tick;
};

const char *shttp_close_reason_name(enum shttp_close_reason r)
{
    switch (r) {
    case SHTTP_CLOSE_DELETED: return "deleted";
    case SHTTP_CLOSE_EXPIRED: return "expired";
    case SHTTP_CLOSE_APP: return "closed";
    case SHTTP_CLOSE_INIT_FAILED: return "init_failed";
    case SHTTP_CLOSE_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

static void sh_conn_closed(void *arg, struct http_request *req);
static void sh_drain(void *arg, struct http_request *req);
static void sh_session_end(struct shttp_session *s, enum shttp_close_reason why);

/* ------------------------------------------------------------------ */
/* Sessions: table, references                                         */

static uint64_t sh_hkey(const char *id)
{
    uint8_t d[SHA256_LEN];
    if (sha256(id, strlen(id), d) < 0)
        fatalx("shttp: sha256 failed");
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = (k << 8) | d[i];
    return k;
}

static void sh_b64url(const uint8_t *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    out[o] = '\0';
}

static struct shttp_session *sh_find(struct shttp_server *srv, const char *sid)
{
    size_t n = strlen(sid);
    if (n != SHTTP_SESSION_ID_LEN)
        return NULL;
    uint64_t k = sh_hkey(sid);
    for (struct shttp_session *s = srv->buckets[k & (srv->nbuckets - 1)]; s != NULL;
         s = s->hnext) {
        /* The table is keyed by a hash of the id, and the id itself is
         * compared in constant time: lookups reveal nothing of live ids. */
        if (s->hkey == k && ct_equal(s->id, SHTTP_SESSION_ID_LEN, sid, n))
            return s;
    }
    return NULL;
}

static void sh_unlink_table(struct shttp_session *s)
{
    struct shttp_server *srv = s->srv;
    struct shttp_session **pp = &srv->buckets[s->hkey & (srv->nbuckets - 1)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp == s)
        *pp = s->hnext;
    if (s->lprev)
        s->lprev->lnext = s->lnext;
    else
        srv->list = s->lnext;
    if (s->lnext)
        s->lnext->lprev = s->lprev;
    s->lprev = s->lnext = NULL;
    srv->nsessions--;
}

static struct shttp_session *sh_session_new(struct shttp_server *srv, const char *principal)
{
    struct shttp_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (principal != NULL && (s->principal = strdup(principal)) == NULL) {
        free(s);
        return NULL;
    }
    do {
        uint8_t rnd[24];
        if (random_bytes(rnd, sizeof(rnd)) < 0)
            fatalx("shttp: the CSPRNG failed");
        sh_b64url(rnd, sizeof(rnd), s->id);
    } while (sh_find(srv, s->id) != NULL);
    s->hkey = sh_hkey(s->id);
    s->srv = srv;
    s->open = true;
    s->refs = 1;
    s->st0.s = s->st0.owner = s;
    s->st0.mode = ST_SSE;
    s->last_activity_us = mono_us();
    size_t b = s->hkey & (srv->nbuckets - 1);
    s->hnext = srv->buckets[b];
    srv->buckets[b] = s;
    s->lnext = srv->list;
    if (srv->list)
        srv->list->lprev = s;
    srv->list = s;
    srv->nsessions++;
    return s;
}

static void sh_session_unref(struct shttp_session *s)
{
    MW_ASSERT(s->refs > 0);
    if (--s->refs > 0)
        return;
    MW_ASSERT(!s->open && s->streams == NULL && s->ghead == NULL);
    free(s->principal);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Events                                                             */

static void sh_stream_maybe_free(struct shttp_stream *st);

static void sh_event_unlink(struct shttp_session *s, struct sev *ev)
{
    struct shttp_stream *st = ev->st;
    if (ev->gprev)
        ev->gprev->gnext = ev->gnext;
    else
        s->ghead = ev->gnext;
    if (ev->gnext)
        ev->gnext->gprev = ev->gprev;
    else
        s->gtail = ev->gprev;
    if (ev->sprev)
        ev->sprev->snext = ev->snext;
    else
        st->head = ev->snext;
    if (ev->snext)
        ev->snext->sprev = ev->sprev;
    else
        st->tail = ev->sprev;
    if (st->next_write == ev)
        st->next_write = ev->snext;
    s->bytes -= ev->len;
    s->nevents--;
}

static void sh_event_drop(struct shttp_session *s, struct sev *ev, bool evicted)
{
    struct shttp_stream *st = ev->st;
    sh_event_unlink(s, ev);
    if (evicted && ev->seq > st->evicted_seq)
        st->evicted_seq = ev->seq;
    free(ev);
}

static void sh_stream_drop_events(struct shttp_stream *st)
{
    struct shttp_session *s = st->owner;
    while (st->head != NULL)
        sh_event_drop(s, st->head, true);
}

/* Makes room for `need` more bytes and one more event by evicting written
 * events, oldest first. -1 when that is not enough (unless `force`). */
static int sh_make_room(struct shttp_session *s, size_t need, bool force)
{
    const struct shttp_opts *o = &s->srv->o;
    struct sev *ev = s->ghead;
    while (ev != NULL &&
           (s->bytes + need > o->max_session_bytes || s->nevents + 1 > o->replay_events)) {
        struct sev *nx = ev->gnext;
        if (ev->written) {
            struct shttp_stream *st = ev->st;
            sh_event_drop(s, ev, true);
            if (st->head == NULL)
                sh_stream_maybe_free(st);
        }
        ev = nx;
    }
    if (force)
        return 0;
    if (s->bytes + need > o->max_session_bytes || s->nevents + 1 > o->replay_events)
        return -1;
    return 0;
}

static void sh_event_id(const struct shttp_stream *st, uint64_t seq, char *out, size_t outsz)
{
    snprintf(out, outsz, "%u-%llu", st->no, (unsigned long long)seq);
}

/* Appends one message to a stream as an SSE event and writes what it can. */
static int sh_stream_append(struct shttp_stream *st, const char *msg, size_t len, bool force)
{
    struct shttp_session *s = st->owner;
    struct buf b;
    buf_init(&b, len + len / 8 + 128);
    char id[48];
    uint64_t seq = s->next_seq + 1;
    sh_event_id(st, seq, id, sizeof(id));
    if (sse_emit_event(&b, id, NULL, msg, len) < 0) {
        buf_free(&b);
        return SHTTP_EFULL;
    }
    size_t n = buf_used(&b);
    if (sh_make_room(s, n, force) < 0) {
        buf_free(&b);
        return SHTTP_EFULL;
    }
    struct sev *ev = malloc(sizeof(*ev) + n);
    if (ev == NULL) {
        buf_free(&b);
        return SHTTP_EFULL;
    }
    memset(ev, 0, sizeof(*ev));
    memcpy(ev->data, buf_head(&b), n);
    buf_free(&b);
    ev->len = n;
    ev->seq = s->next_seq = seq;
    ev->st = st;
    ev->gprev = s->gtail;
    if (s->gtail)
        s->gtail->gnext = ev;
    else
        s->ghead = ev;
    s->gtail = ev;
    ev->sprev = st->tail;
    if (st->tail)
        st->tail->snext = ev;
    else
        st->head = ev;
    st->tail = ev;
    if (st->next_write == NULL)
        st->next_write = ev;
    s->bytes += n;
    s->nevents++;
    return SHTTP_OK;
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */

/* Detaches the connection from a stream; ends the HTTP response if `end`. */
static void sh_detach(struct shttp_stream *st, bool end)
{
    struct http_request *req = st->hreq;
    if (req == NULL)
        return;
    st->hreq = NULL;
    http_request_on_close(req, NULL, NULL);
    http_stream_on_drain(req, NULL, NULL);
    if (end)
        http_stream_end(req);
    sh_stream_maybe_free(st);
}

static void sh_attach(struct shttp_stream *st, struct http_request *req)
{
    st->hreq = req;
    st->detached_us = 0;
    st->last_write_us = mono_us();
    http_request_on_close(req, sh_conn_closed, st);
    http_stream_on_drain(req, sh_drain, st);
}

/* Writes the stream's pending events while the connection takes them; ends
 * the connection once a responded stream has written everything. */
static void sh_pump(struct shttp_stream *st)
{
    struct http_request *req = st->hreq;
    if (req == NULL || st->mode != ST_SSE)
        return;
    while (st->next_write != NULL && http_stream_pending(req) < SH_PUMP_HIGH) {
        struct sev *ev = st->next_write;
        if (http_stream_write(req, ev->data, ev->len) < 0)
            break;
        ev->written = true;
        st->next_write = ev->snext;
        st->last_write_us = mono_us();
    }
    if (st->next_write == NULL && st->responded && st->no != 0) {
        st->mode = ST_DONE;
        sh_detach(st, true);
    }
}

static void sh_drain(void *arg, struct http_request *req)
{
    (void)req;
    sh_pump(arg);
}

static int sh_sse_begin(struct shttp_stream *st, struct http_request *req, bool priming)
{
    struct shttp_session *s = st->owner;
    struct http_header h[3];
    size_t n = 0;
    h[n++] = (struct http_header){"Cache-Control", "no-cache"};
    h[n++] = (struct http_header){"X-Accel-Buffering", "no"};
    if (st->is_init)
        h[n++] = (struct http_header){"Mcp-Session-Id", s->id};
    if (http_stream_begin(req, 200, h, n, "text/event-stream") < 0)
        return -1;
    if (priming) {
        /* The priming event (2025-11-25): an id and empty data, so the
         * client holds a Last-Event-ID from the start, and the delay to wait
         * before it resumes (well inside resume_grace_ms). */
        char id[48], blk[128];
        sh_event_id(st, ++s->next_seq, id, sizeof(id));
        int w = snprintf(blk, sizeof(blk), "id: %s\nretry: %u\ndata: \n\n", id,
                         s->srv->o.retry_ms);
        if (w > 0 && (size_t)w < sizeof(blk))
            http_stream_write(req, blk, (size_t)w);
    }
    return 0;
}

/* Turns a pending request into an SSE stream. */
static int sh_upgrade(struct shttp_stream *st)
{
    if (st->mode != ST_PENDING)
        return 0;
    if (st->hreq == NULL || sh_sse_begin(st, st->hreq, true) < 0)
        return -1;
    st->mode = ST_SSE;
    st->last_write_us = mono_us();
    return 0;
}

/* Tells the app a request was left. Never frees st (it is pinned meanwhile):
 * the caller calls sh_stream_maybe_free() afterwards. */
static void sh_abandon(struct shttp_stream *st)
{
    if (st->abandoned || !st->app_holds || st->responded)
        return;
    st->abandoned = true;
    sh_stream_drop_events(st); /* nobody will read them */
    struct shttp_session *s = st->owner;
    const struct shttp_app_ops *ops = s->srv->ops;
    st->pins++;
    s->refs++;
    if (ops->on_abandoned != NULL && s->app_open)
        ops->on_abandoned(s->srv->app, s->ud, st);
    if (st->is_init && s->open)
        sh_session_end(s, SHTTP_CLOSE_INIT_FAILED);
    st->pins--;
    sh_session_unref(s); /* st still holds its own reference on s */
}

/* The HTTP connection of a stream went away (client gone, timeout ...). */
static void sh_conn_closed(void *arg, struct http_request *req)
{
    (void)req;
    struct shttp_stream *st = arg;
    st->hreq = NULL; /* the request is being freed */
    if (st->no == 0)
        return;
    if (st->responded) {
        st->mode = ST_DONE; /* what was not written stays for a replay */
        sh_stream_maybe_free(st);
        return;
    }
    uint32_t grace = st->owner->srv->o.resume_grace_ms;
    if (st->mode == ST_PENDING || grace == 0 || st->s == NULL) {
        sh_abandon(st);
        sh_stream_maybe_free(st);
        return;
    }
    st->detached_us = mono_us(); /* the tick abandons it unless it is resumed */
}

/* ------------------------------------------------------------------ */
/* Streams                                                            */

static void sh_stream_maybe_free(struct shttp_stream *st)
{
    if (st->no == 0 || st->app_holds || st->hreq != NULL || st->head != NULL || st->pins > 0)
        return;
    struct shttp_session *s = st->owner;
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    json_decref(st->req_id);
    free(st);
    sh_session_unref(s);
}

static struct shttp_stream *sh_stream_new(struct shttp_session *s, const struct rpc_msg *m,
                                          struct http_request *req)
{
    struct shttp_stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->s = st->owner = s;
    st->no = ++s->next_no;
    st->req_id = json_incref(m->id);
    rpc_id_key(m->id, st->idkey, sizeof(st->idkey));
    st->mode = ST_PENDING;
    st->app_holds = true;
    st->created_us = mono_us();
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->refs++;
    s->inflight++;
    sh_attach(st, req);
    return st;
}

static bool sh_id_in_flight(struct shttp_session *s, const json_t *id)
{
    char key[SH_IDKEY];
    if (rpc_id_key(id, key, sizeof(key)) == 0)
        return false;
    for (struct shttp_stream *st = s->streams; st != NULL; st = st->next) {
        if (st->app_holds && !st->responded && strcmp(st->idkey, key) == 0)
            return true;
    }
    return false;
}

/* The app gives the stream back (responded or released). */
static void sh_stream_unhold(struct shttp_stream *st)
{
    if (!st->app_holds)
        return;
    st->app_holds = false;
    if (st->owner->inflight > 0)
        st->owner->inflight--;
}

/* Reads the negotiated version from the initialize answer; false when the
 * answer is an error (the session then ends). */
static bool sh_read_init_answer(struct shttp_session *s, const char *msg, size_t len)
{
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse(msg, len, &s->srv->o.json, &m, &e) < 0) {
        rpc_err_clear(&e);
        return false;
    }
    bool ok = m.kind == RPC_RESULT;
    if (ok) {
        size_t vl = 0;
        const char *v = json_get_str(m.result, "protocolVersion", &vl);
        if (v != NULL)
            s->version = mcp_rev_from_string(v, vl);
    }
    rpc_msg_free(&m);
    return ok;
}

int shttp_stream_send(struct shttp_stream *st, const char *msg, size_t len)
{
    if (st == NULL || st->no == 0 || st->responded || st->abandoned || st->s == NULL ||
        !st->s->open || len == 0 || !st->app_holds)
        return SHTTP_ECLOSED;
    if (st->mode == ST_PENDING && sh_upgrade(st) < 0)
        return SHTTP_ECLOSED;
    int rc = sh_stream_append(st, msg, len, false);
    if (rc == SHTTP_OK)
        sh_pump(st);
    return rc;
}

int shttp_stream_respond(struct shttp_stream *st, const char *msg, size_t len)
{
    if (st == NULL || st->no == 0)
        return SHTTP_ECLOSED;
    bool held = st->app_holds;
    sh_stream_unhold(st);
    struct shttp_session *s = st->s;
    if (!held || st->responded || st->abandoned || s == NULL || !s->open || len == 0) {
        sh_stream_maybe_free(st);
        return SHTTP_ECLOSED;
    }
    s->last_activity_us = mono_us();
    bool init_failed = false;
    if (st->is_init && !sh_read_init_answer(s, msg, len))
        init_failed = true;
    st->responded = true;
    int rc = SHTTP_OK;
    st->pins++;
    if (st->mode == ST_PENDING) {
        struct http_request *req = st->hreq;
        struct http_header h[1];
        size_t n = 0;
        if (st->is_init && !init_failed)
            h[n++] = (struct http_header){"Mcp-Session-Id", s->id};
        st->mode = ST_DONE;
        sh_detach(st, false);
        if (req != NULL && http_reply(req, 200, h, n, "application/json", msg, len) < 0)
            rc = SHTTP_ECLOSED;
    } else {
        /* The final response may pass the byte budget by its own size: it is
         * never dropped. */
        rc = sh_stream_append(st, msg, len, true);
        sh_pump(st);
    }
    st->pins--;
    if (init_failed && s->open)
        sh_session_end(s, SHTTP_CLOSE_INIT_FAILED);
    sh_stream_maybe_free(st);
    return rc;
}

void shttp_stream_release(struct shttp_stream *st)
{
    if (st == NULL || st->no == 0)
        return;
    bool held = st->app_holds;
    sh_stream_unhold(st);
    struct shttp_session *s = st->s;
    if (held && !st->responded && !st->abandoned && s != NULL && s->open) {
        /* No response will come: the stream ends after what it carries (a
         * pending JSON-mode answer becomes an SSE stream that just ends). */
        st->responded = true;
        st->pins++;
        if (st->mode == ST_PENDING && sh_upgrade(st) < 0) {
            st->mode = ST_DONE;
            sh_detach(st, false);
        }
        sh_pump(st);
        st->pins--;
        if (st->is_init && s->open)
            sh_session_end(s, SHTTP_CLOSE_INIT_FAILED);
    }
    sh_stream_maybe_free(st);
}

int shttp_stream_disconnect(struct shttp_stream *st)
{
    if (st == NULL || st->no == 0 || st->mode != ST_SSE || st->hreq == NULL || st->responded ||
        st->s == NULL || !st->s->open)
        return SHTTP_ECLOSED;
    /* What is queued goes first, then "retry"; the client resumes after it
     * with Last-Event-ID and gets anything sent meanwhile. */
    st->pins++;
    sh_pump(st);
    if (st->hreq != NULL) {
        char blk[40];
        int w = snprintf(blk, sizeof(blk), "retry: %u\n\n", st->owner->srv->o.retry_ms);
        if (w > 0 && (size_t)w < sizeof(blk))
            http_stream_write(st->hreq, blk, (size_t)w);
        sh_detach(st, true);
        st->detached_us = mono_us();
    }
    st->pins--;
    return SHTTP_OK;
}

const json_t *shttp_stream_request_id(const struct shttp_stream *st)
{
    return st->req_id;
}

struct shttp_session *shttp_stream_session(const struct shttp_stream *st)
{
    return st->s;
}

bool shttp_stream_abandoned(const struct shttp_stream *st)
{
    return st->abandoned;
}

int shttp_session_send(struct shttp_session *s, const char *msg, size_t len)
{
    if (s == NULL || !s->open || len == 0)
        return SHTTP_ECLOSED;
    int rc = sh_stream_append(&s->st0, msg, len, false);
    if (rc == SHTTP_OK)
        sh_pump(&s->st0);
    return rc;
}

void shttp_session_close(struct shttp_session *s)
{
    if (s != NULL && s->open)
        sh_session_end(s, SHTTP_CLOSE_APP);
}

const char *shttp_session_id(const struct shttp_session *s)
{
    return s->id;
}

enum mcp_rev shttp_session_version(const struct shttp_session *s)
{
    return s->version;
}

const char *shttp_session_principal(const struct shttp_session *s)
{
    return s->principal;
}

void *shttp_session_userdata(const struct shttp_session *s)
{
    return s->ud;
}

size_t shttp_server_session_count(const struct shttp_server *srv)
{
    return srv->nsessions;
}

/* ------------------------------------------------------------------ */
/* Ending a session                                                   */

static void sh_session_end(struct shttp_session *s, enum shttp_close_reason why)
{
    if (!s->open)
        return;
    struct shttp_server *srv = s->srv;
    s->open = false;
    sh_unlink_table(s);
    s->refs++; /* held until the end of this function */

    /* Connections first (no app callbacks): a JSON-mode request gets 404,
     * SSE streams end. */
    sh_detach(&s->st0, true);
    size_t n = 0;
    for (struct shttp_stream *st = s->streams; st != NULL; st = st->next)
        n++;
    struct shttp_stream **pinned = n ? calloc(n, sizeof(*pinned)) : NULL;
    if (n && pinned == NULL)
        fatalx("shttp: out of memory ending a session");
    size_t k = 0;
    for (struct shttp_stream *st = s->streams; st != NULL; st = st->next) {
        st->pins++;
        pinned[k++] = st;
    }
    for (size_t i = 0; i < k; i++) {
        struct shttp_stream *st = pinned[i];
        struct http_request *req = st->hreq;
        if (req == NULL)
            continue;
        if (st->mode == ST_PENDING) {
            sh_detach(st, false);
            http_reply_error(req, 404, NULL, 0, st->req_id, RPC_INVALID_REQUEST,
                             "the session has ended", "session_ended");
        } else {
            sh_detach(st, true);
        }
    }
    /* Then the app: requests it still holds are abandoned, then the session. */
    for (size_t i = 0; i < k; i++)
        sh_abandon(pinned[i]);
    while (s->ghead != NULL)
        sh_event_drop(s, s->ghead, true);
    if (s->app_open && srv->ops->session_close != NULL)
        srv->ops->session_close(srv->app, s->ud, why);
    s->app_open = false;
    s->ud = NULL;
    for (size_t i = 0; i < k; i++) {
        pinned[i]->s = NULL;
        pinned[i]->pins--;
        sh_stream_maybe_free(pinned[i]);
    }
    free(pinned);
    /* Drop the guard and the "open" reference together: the guard alone can
     * never be the last one. */
    MW_ASSERT(s->refs >= 2);
    s->refs--;
    sh_session_unref(s);
}

/* ------------------------------------------------------------------ */
/* HTTP handlers                                                      */

static void sh_error(struct http_request *req, int status, const json_t *id, int code,
                     const char *msg, const char *reason)
{
    http_reply_error(req, status, NULL, 0, id, code, msg, reason);
}

/* Checks Mcp-Session-Id and MCP-Protocol-Version; returns the session or
 * NULL after answering. */
static struct shttp_session *sh_session_of(struct shttp_server *srv, struct http_request *req)
{
    size_t nsid = http_request_header_count(req, "Mcp-Session-Id");
    if (nsid == 0) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST, "Mcp-Session-Id header is required",
                 "session_required");
        return NULL;
    }
    if (nsid > 1) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST, "more than one Mcp-Session-Id header",
                 "bad_session_id");
        return NULL;
    }
    struct shttp_session *s = sh_find(srv, http_request_header(req, "Mcp-Session-Id"));
    if (s != NULL) {
        const char *p = http_request_principal(req);
        const char *q = s->principal;
        bool same = (p == NULL && q == NULL) ||
                    (p != NULL && q != NULL && ct_equal(p, strlen(p), q, strlen(q)));
        if (!same)
            s = NULL; /* bound to someone else: indistinguishable from unknown */
    }
    if (s == NULL) {
        sh_error(req, 404, NULL, RPC_INVALID_REQUEST, "session not found", "session_not_found");
        return NULL;
    }
    size_t npv = http_request_header_count(req, "MCP-Protocol-Version");
    if (npv > 1) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST, "more than one MCP-Protocol-Version header",
                 "bad_protocol_version");
        return NULL;
    }
    if (npv == 1) {
        /* The header is the client's statement of its version. Invalid or
         * unsupported values are refused (spec); a published revision other
         * than the negotiated one is accepted, as the official SDKs and the
         * conformance suite expect: the session keeps its negotiated version. */
        const char *pv = http_request_header(req, "MCP-Protocol-Version");
        if (!mcp_version_known(pv, strlen(pv))) {
            sh_error(req, 400, NULL, RPC_INVALID_REQUEST, "unsupported MCP-Protocol-Version",
                     "unsupported_protocol_version");
            return NULL;
        }
    }
    s->last_activity_us = mono_us();
    return s;
}

static void sh_dispatch(struct shttp_server *srv, struct shttp_session *s,
                        struct http_request *req, const struct rpc_msg *m, const char *raw,
                        size_t rawlen, struct shttp_stream *st)
{
    s->refs++;
    if (st)
        st->pins++;
    int rc = srv->ops->on_message(srv->app, s->ud, req, m, raw, rawlen, st);
    if (st) {
        st->pins--;
        if (rc != 0 && st->app_holds) {
            /* The app refused a request instead of answering it. */
            sh_stream_unhold(st);
            st->responded = true;
            if (st->mode == ST_PENDING && st->hreq != NULL) {
                struct http_request *r = st->hreq;
                sh_detach(st, false);
                int status = rc >= 400 && rc <= 599 ? rc : 500;
                sh_error(r, status, st->req_id, RPC_INVALID_REQUEST, "request refused",
                         "request_refused");
            } else {
                sh_detach(st, true);
            }
        }
        sh_stream_maybe_free(st);
    } else if (rc == 0) {
        http_reply(req, 202, NULL, 0, NULL, NULL, 0);
    } else {
        int status = rc >= 400 && rc <= 599 ? rc : 400;
        sh_error(req, status, NULL, RPC_INVALID_REQUEST, "message refused", "message_refused");
    }
    sh_session_unref(s);
}

static void sh_post(struct shttp_server *srv, struct http_request *req)
{
    const struct shttp_opts *o = &srv->o;
    if (!http_accepts(http_request_header(req, "Accept"), "application/json") ||
        !http_accepts(http_request_header(req, "Accept"), "text/event-stream")) {
        sh_error(req, 406, NULL, RPC_INVALID_REQUEST,
                 "Accept must list application/json and text/event-stream", "not_acceptable");
        return;
    }
    if (http_request_header_count(req, "Content-Type") != 1 ||
        !http_content_type_is(http_request_header(req, "Content-Type"), "application/json")) {
        sh_error(req, 415, NULL, RPC_INVALID_REQUEST, "Content-Type must be application/json",
                 "unsupported_media_type");
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse(body, len, &o->json, &m, &e) < 0) {
        sh_error(req, 400, e.id, e.code, e.msg, e.reason);
        rpc_err_clear(&e);
        return;
    }
    bool is_init = m.kind == RPC_REQUEST && m.method_len == 10 &&
                   memcmp(m.method, "initialize", 10) == 0;
    size_t nsid = http_request_header_count(req, "Mcp-Session-Id");
    if (is_init && nsid == 0) {
        size_t npv = http_request_header_count(req, "MCP-Protocol-Version");
        const char *pv = http_request_header(req, "MCP-Protocol-Version");
        if (npv > 1 || (npv == 1 && !mcp_version_known(pv, strlen(pv)))) {
            sh_error(req, 400, m.id, RPC_INVALID_REQUEST, "unsupported MCP-Protocol-Version",
                     "unsupported_protocol_version");
            goto out;
        }
        if (srv->nsessions >= o->max_sessions) {
            sh_error(req, 503, m.id, MW_ERR_OVERLOADED, "too many sessions", "too_many_sessions");
            goto out;
        }
        struct shttp_session *s = sh_session_new(srv, http_request_principal(req));
        if (s == NULL) {
            sh_error(req, 503, m.id, MW_ERR_OVERLOADED, "out of memory", "out_of_memory");
            goto out;
        }
        void *ud = NULL;
        int rc = srv->ops->session_open ? srv->ops->session_open(srv->app, s, req, &m, &ud) : 0;
        if (rc != 0) {
            int status = rc >= 400 && rc <= 599 ? rc : 403;
            sh_error(req, status, m.id, RPC_INVALID_REQUEST, "session refused",
                     "session_refused");
            s->open = false;
            sh_unlink_table(s);
            sh_session_unref(s);
            goto out;
        }
        s->ud = ud;
        s->app_open = true;
        struct shttp_stream *st = sh_stream_new(s, &m, req);
        if (st == NULL) {
            sh_error(req, 503, m.id, MW_ERR_OVERLOADED, "out of memory", "out_of_memory");
            sh_session_end(s, SHTTP_CLOSE_INIT_FAILED);
            goto out;
        }
        st->is_init = true;
        if (o->sse_always)
            sh_upgrade(st);
        sh_dispatch(srv, s, req, &m, body, len, st);
        goto out;
    }
    if (is_init) {
        sh_error(req, 400, m.id, RPC_INVALID_REQUEST,
                 "initialize is not allowed within a session", "session_exists");
        goto out;
    }
    struct shttp_session *s = sh_session_of(srv, req);
    if (s == NULL)
        goto out;
    if (m.kind != RPC_REQUEST) {
        sh_dispatch(srv, s, req, &m, body, len, NULL);
        goto out;
    }
    if (s->inflight >= o->max_inflight) {
        sh_error(req, 429, m.id, MW_ERR_OVERLOADED, "too many requests in flight",
                 "too_many_requests");
        goto out;
    }
    if (sh_id_in_flight(s, m.id)) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST,
                 "a request with this id is already in flight", "duplicate_request_id");
        goto out;
    }
    struct shttp_stream *st = sh_stream_new(s, &m, req);
    if (st == NULL) {
        sh_error(req, 503, m.id, MW_ERR_OVERLOADED, "out of memory", "out_of_memory");
        goto out;
    }
    if (o->sse_always)
        sh_upgrade(st);
    sh_dispatch(srv, s, req, &m, body, len, st);
out:
    rpc_msg_free(&m);
}

/* "<stream>-<seq>" */
static int sh_parse_event_id(const char *v, uint32_t *no, uint64_t *seq)
{
    const char *dash = strchr(v, '-');
    if (dash == NULL || dash == v || dash[1] == '\0' || dash - v > 10 || strlen(dash + 1) > 19)
        return -1;
    uint64_t a = 0, b = 0;
    for (const char *p = v; p < dash; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        a = a * 10 + (uint64_t)(*p - '0');
    }
    for (const char *p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        b = b * 10 + (uint64_t)(*p - '0');
    }
    if (a > UINT32_MAX)
        return -1;
    *no = (uint32_t)a;
    *seq = b;
    return 0;
}

static void sh_get(struct shttp_server *srv, struct http_request *req)
{
    const struct shttp_opts *o = &srv->o;
    if (!http_accepts(http_request_header(req, "Accept"), "text/event-stream")) {
        sh_error(req, 406, NULL, RPC_INVALID_REQUEST, "Accept must list text/event-stream",
                 "not_acceptable");
        return;
    }
    size_t nlei = http_request_header_count(req, "Last-Event-ID");
    if (nlei == 0 && o->no_standalone_stream) {
        struct http_header h = {"Allow", o->no_delete ? "POST" : "POST, DELETE"};
        http_reply_error(req, 405, &h, 1, NULL, RPC_INVALID_REQUEST,
                         "this server offers no standalone SSE stream", "method_not_allowed");
        return;
    }
    struct shttp_session *s = sh_session_of(srv, req);
    if (s == NULL)
        return;
    if (nlei > 1) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST, "more than one Last-Event-ID",
                 "bad_last_event_id");
        return;
    }
    if (nlei == 0) {
        struct shttp_stream *st = &s->st0;
        if (st->hreq != NULL) {
            sh_error(req, 409, NULL, RPC_INVALID_REQUEST,
                     "the standalone stream is already open", "stream_conflict");
            return;
        }
        if (sh_sse_begin(st, req, true) < 0)
            return;
        sh_attach(st, req);
        sh_pump(st);
        return;
    }
    uint32_t no;
    uint64_t seq;
    if (sh_parse_event_id(http_request_header(req, "Last-Event-ID"), &no, &seq) < 0) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST, "malformed Last-Event-ID",
                 "bad_last_event_id");
        return;
    }
    struct shttp_stream *st = NULL;
    if (no == 0) {
        st = &s->st0;
    } else {
        for (struct shttp_stream *x = s->streams; x != NULL; x = x->next) {
            if (x->no == no)
                st = x;
        }
    }
    if (st == NULL || st->abandoned || seq > s->next_seq || st->evicted_seq > seq ||
        (st->no != 0 && st->mode == ST_PENDING)) {
        sh_error(req, 400, NULL, RPC_INVALID_REQUEST,
                 "the stream cannot be resumed from this event", "resume_unavailable");
        return;
    }
    if (st->hreq != NULL)
        sh_detach(st, true); /* the client lost that connection: it resumes here */
    st->pins++;
    if (sh_sse_begin(st, req, false) < 0) {
        st->pins--;
        sh_stream_maybe_free(st);
        return;
    }
    struct sev *ev = st->head;
    while (ev != NULL && ev->seq <= seq)
        ev = ev->snext;
    st->next_write = ev;
    sh_attach(st, req);
    st->pins--;
    sh_pump(st);
}

static void sh_delete(struct shttp_server *srv, struct http_request *req)
{
    if (srv->o.no_delete) {
        struct http_header h = {"Allow", srv->o.no_standalone_stream ? "POST" : "GET, POST"};
        http_reply_error(req, 405, &h, 1, NULL, RPC_INVALID_REQUEST,
                         "this server does not end sessions on request", "method_not_allowed");
        return;
    }
    struct shttp_session *s = sh_session_of(srv, req);
    if (s == NULL)
        return;
    sh_session_end(s, SHTTP_CLOSE_DELETED);
    http_reply(req, 200, NULL, 0, NULL, NULL, 0);
}

static void sh_handler(void *ud, struct http_request *req)
{
    struct shttp_server *srv = ud;
    switch (http_request_method(req)) {
    case HTTP_POST:
        sh_post(srv, req);
        break;
    case HTTP_GET:
        sh_get(srv, req);
        break;
    case HTTP_DELETE:
        sh_delete(srv, req);
        break;
    default:
        sh_error(req, 405, NULL, RPC_INVALID_REQUEST, "method not allowed", "method_not_allowed");
        break;
    }
}

/* ------------------------------------------------------------------ */
/* The tick: keep-alives, upgrades, grace and idle expiry             */

static void sh_keepalive(struct shttp_stream *st, uint64_t now, uint64_t ka)
{
    if (st->hreq == NULL || st->mode != ST_SSE || now - st->last_write_us < ka)
        return;
    if (http_stream_pending(st->hreq) == 0) {
        static const char ping[] = ": keepalive\n\n";
        http_stream_write(st->hreq, ping, sizeof(ping) - 1);
    }
    st->last_write_us = now;
}

static void sh_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct shttp_server *srv = arg;
    const struct shttp_opts *o = &srv->o;
    uint64_t now = mono_us();
    uint64_t ka = (uint64_t)o->keepalive_ms * 1000u;
    uint64_t grace = (uint64_t)o->resume_grace_ms * 1000u;
    uint64_t idle = (uint64_t)o->session_idle_ms * 1000u;

    /* Phase 1, no app callbacks: keep-alives and upgrades. Collect work. */
    size_t nab = 0, cap = 0;
    struct shttp_stream **ab = NULL;
    for (struct shttp_session *s = srv->list; s != NULL; s = s->lnext) {
        bool busy = s->st0.hreq != NULL;
        sh_keepalive(&s->st0, now, ka);
        for (struct shttp_stream *st = s->streams; st != NULL; st = st->next) {
            if (st->app_holds || st->hreq != NULL)
                busy = true;
            if (st->mode == ST_PENDING && st->hreq != NULL && o->sse_after_ms != UINT32_MAX &&
                now - st->created_us >= (uint64_t)o->sse_after_ms * 1000u)
                sh_upgrade(st);
            sh_keepalive(st, now, ka);
            if (st->hreq == NULL && st->mode == ST_SSE && st->detached_us != 0 &&
                st->app_holds && !st->responded && !st->abandoned &&
                now - st->detached_us >= grace) {
                if (nab == cap) {
                    cap = cap ? cap * 2 : 16;
                    struct shttp_stream **na = realloc(ab, cap * sizeof(*na));
                    if (na == NULL)
                        break;
                    ab = na;
                }
                st->pins++;
                s->refs++;
                ab[nab++] = st;
            }
        }
        if (busy)
            s->last_activity_us = now;
        s->expire = !busy && now - s->last_activity_us >= idle;
    }
    /* Phase 2: abandonments (app callbacks may change anything). */
    for (size_t i = 0; i < nab; i++) {
        struct shttp_stream *st = ab[i];
        struct shttp_session *owner = st->owner;
        if (st->hreq == NULL && !st->abandoned)
            sh_abandon(st);
        st->pins--;
        sh_stream_maybe_free(st);
        sh_session_unref(owner);
    }
    free(ab);
    /* Phase 3: idle sessions, one at a time (ending one may end others). */
    for (;;) {
        struct shttp_session *s = srv->list;
        while (s != NULL && !s->expire)
            s = s->lnext;
        if (s == NULL)
            break;
        s->expire = false;
        sh_session_end(s, SHTTP_CLOSE_EXPIRED);
    }
}

/* ------------------------------------------------------------------ */
/* Server                                                             */

struct shttp_server *shttp_server_new(struct http_listener *l, const struct shttp_opts *opts,
                                      const struct shttp_app_ops *ops, void *app, char *err,
                                      size_t errlen)
{
    struct shttp_opts o = opts ? *opts : (struct shttp_opts){0};
    if (ops == NULL || ops->on_message == NULL) {
        snprintf(err, errlen, "the application must implement on_message");
        return NULL;
    }
    if (o.path == NULL)
        o.path = "/mcp";
    if (o.max_sessions == 0)
        o.max_sessions = 1024;
    if (o.max_inflight == 0)
        o.max_inflight = 64;
    if (o.max_session_bytes == 0)
        o.max_session_bytes = 4u * 1024u * 1024u;
    if (o.replay_events == 0)
        o.replay_events = 256;
    if (o.session_idle_ms == 0)
        o.session_idle_ms = 30u * 60u * 1000u;
    if (o.keepalive_ms == 0)
        o.keepalive_ms = 15000;
    if (o.resume_grace_ms == 0)
        o.resume_grace_ms = 10000;
    else if (o.resume_grace_ms == UINT32_MAX)
        o.resume_grace_ms = 0;
    if (o.sse_after_ms == 0)
        o.sse_after_ms = 1000;
    if (o.retry_ms == 0)
        o.retry_ms = 1000;
    const struct json_limits *dl = &json_default_limits;
    if (o.json.max_bytes == 0)
        o.json.max_bytes = dl->max_bytes;
    if (o.json.max_depth == 0)
        o.json.max_depth = dl->max_depth;
    if (o.json.max_string == 0)
        o.json.max_string = dl->max_string;
    if (o.json.max_members == 0)
        o.json.max_members = dl->max_members;
    if (o.json.max_items == 0)
        o.json.max_items = dl->max_items;

    struct shttp_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->l = l;
    srv->base = http_server_base(http_listener_server(l));
    srv->ops = ops;
    srv->app = app;
    srv->path = strdup(o.path);
    o.path = srv->path;
    srv->o = o;
    srv->nbuckets = 64;
    while (srv->nbuckets < o.max_sessions)
        srv->nbuckets *= 2;
    srv->buckets = calloc(srv->nbuckets, sizeof(*srv->buckets));
    /* The tick runs at a quarter of the shortest interval it serves. */
    uint64_t t = o.keepalive_ms;
    if (o.resume_grace_ms > 0 && o.resume_grace_ms < t)
        t = o.resume_grace_ms;
    if (o.sse_after_ms != UINT32_MAX && o.sse_after_ms < t)
        t = o.sse_after_ms;
    if (o.session_idle_ms < t)
        t = o.session_idle_ms;
    t /= 4;
    if (t < 5)
        t = 5;
    if (t > 1000)
        t = 1000;
    srv->tick = event_new(srv->base, -1, EV_PERSIST, sh_tick, srv);
    if (srv->path == NULL || srv->buckets == NULL || srv->tick == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct timeval tv = {.tv_sec = (time_t)(t / 1000), .tv_usec = (suseconds_t)((t % 1000) * 1000)};
    event_add(srv->tick, &tv);
    if (http_listener_route(l, srv->path, HTTP_POST | HTTP_GET | HTTP_DELETE, o.auth, sh_handler,
                            srv) < 0) {
        snprintf(err, errlen, "cannot route %s (already routed?)", srv->path);
        goto fail;
    }
    return srv;
fail:
    if (srv->tick)
        event_free(srv->tick);
    free(srv->buckets);
    free(srv->path);
    free(srv);
    return NULL;
}

void shttp_server_free(struct shttp_server *srv)
{
    if (srv == NULL)
        return;
    http_listener_unroute(srv->l, srv->path);
    while (srv->list != NULL)
        sh_session_end(srv->list, SHTTP_CLOSE_SHUTDOWN);
    event_free(srv->tick);
    free(srv->buckets);
    free(srv->path);
    free(srv);
}
