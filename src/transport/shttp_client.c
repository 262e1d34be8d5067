/* shttp_client.c - MCP Streamable HTTP client session (see shttp_client.h). */
#include "transport/shttp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "util/buf.h"
#include "util/log.h"

#define SC_IDKEY 96

enum sc_state { SC_IDLE, SC_INIT, SC_READY, SC_FAILED };

struct sc_post {
    struct sc_post *prev, *next;
    struct shttp_client *c;
    struct http_creq *r;
    struct http_sse_stream *resume; /* GET + Last-Event-ID after a broken answer stream */
    char *msg;
    size_t len;
    json_t *id;    /* request id (own reference), NULL for notifications and responses */
    bool is_init;
    bool answered;
    bool sse;
    long status;
    char lei[SSE_DEFAULT_MAX_ID + 1];
    unsigned gen;  /* the session generation it was sent in */
};

struct qmsg {
    char *msg;
    size_t len;
};

struct shttp_client {
    struct http_client *hc;
    char *url;
    char *ca_file;
    char **xh;
    size_t nxh;
    uint32_t connect_ms, request_ms, idle_ms;
    size_t max_message, max_queue;
    unsigned max_reinit;
    bool no_get;
    const struct shttp_client_cbs *cbs;
    void *ud;
    json_t *init_params;
    char *sid;
    char version[32];
    enum sc_state state;
    unsigned gen;
    unsigned reinits, streak;
    struct sc_post *posts;
    struct qmsg *queue;
    size_t nq;
    struct http_sse_stream *get;
    int depth;
    bool closed;
};

static const struct http_creq_cbs sc_post_cbs;
static void sc_free(struct shttp_client *c);

#define SC_MAX_XH 40

/* Extra header lines may hold credentials: wiped before they are freed. */
static void sc_xh_free(char **xh, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (xh[i] != NULL) {
            explicit_bzero(xh[i], strlen(xh[i]));
            free(xh[i]);
        }
    }
    free(xh);
}

/* Copies a NULL-terminated list of header lines; NULL on a bad line or OOM. */
static char **sc_xh_copy(const char *const *headers, size_t *n)
{
    size_t nh = 0;
    for (const char *const *h = headers; h != NULL && *h != NULL; h++)
        nh++;
    *n = 0;
    if (nh > SC_MAX_XH)
        return NULL;
    char **xh = calloc(nh + 1, sizeof(char *));
    if (xh == NULL)
        return NULL;
    for (size_t i = 0; i < nh; i++) {
        if (strpbrk(headers[i], "\r\n") != NULL || (xh[i] = strdup(headers[i])) == NULL) {
            sc_xh_free(xh, i);
            return NULL;
        }
    }
    *n = nh;
    return xh;
}
static void sc_initialize(struct shttp_client *c);

/* ---- callbacks into the caller, with close-inside-callback safety ---- */

static void sc_enter(struct shttp_client *c)
{
    c->depth++;
}

/* Returns true when the client was closed during the callbacks (then freed). */
static bool sc_leave(struct shttp_client *c)
{
    if (--c->depth == 0 && c->closed) {
        sc_free(c);
        return true;
    }
    return c->closed;
}

static void sc_emit(struct shttp_client *c, const struct rpc_msg *m, const char *raw, size_t len,
                    bool synth)
{
    if (c->closed || c->cbs->on_message == NULL)
        return;
    c->cbs->on_message(c->ud, m, raw, len, synth);
}

static void sc_synthesize(struct shttp_client *c, const json_t *id, int code, const char *message,
                          const char *reason);

/* The session cannot go on: queued requests are answered with errors, then
 * the caller is told. Callers hold sc_enter(). */
static void sc_fail(struct shttp_client *c, const char *why)
{
    if (c->state == SC_FAILED)
        return;
    c->state = SC_FAILED;
    size_t n = c->nq;
    c->nq = 0;
    for (size_t i = 0; i < n; i++) {
        struct rpc_msg m;
        struct rpc_err e;
        if (!c->closed && rpc_parse(c->queue[i].msg, c->queue[i].len, NULL, &m, &e) == 0) {
            if (m.kind == RPC_REQUEST)
                sc_synthesize(c, m.id, MW_ERR_UPSTREAM, why, "upstream_unavailable");
            rpc_msg_free(&m);
        }
        free(c->queue[i].msg);
    }
    if (!c->closed && c->cbs->on_failed != NULL)
        c->cbs->on_failed(c->ud, why);
}

/* ---- headers ---- */

/* Fills hv with the request headers; storage in `store` (caller's). */
static const char **sc_headers(struct shttp_client *c, bool post, char store[2][160],
                               const char **hv, size_t cap)
{
    size_t n = 0;
    if (post) {
        hv[n++] = "Content-Type: application/json";
        hv[n++] = "Accept: application/json, text/event-stream";
    }
    if (c->sid != NULL) {
        snprintf(store[0], 160, "Mcp-Session-Id: %s", c->sid);
        hv[n++] = store[0];
    }
    if (c->version[0] != '\0') {
        snprintf(store[1], 160, "MCP-Protocol-Version: %s", c->version);
        hv[n++] = store[1];
    }
    for (size_t i = 0; i < c->nxh && n + 1 < cap; i++)
        hv[n++] = c->xh[i];
    hv[n] = NULL;
    return hv;
}

/* ---- posts ---- */

static void sc_post_free(struct sc_post *p)
{
    struct shttp_client *c = p->c;
    if (p->prev)
        p->prev->next = p->next;
    else if (c->posts == p)
        c->posts = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->r != NULL)
        http_creq_cancel(p->r);
    if (p->resume != NULL)
        http_sse_close(p->resume);
    json_decref(p->id);
    free(p->msg);
    free(p);
}

/* Answers a request the server did not, with a JSON-RPC error. */
static void sc_synthesize(struct shttp_client *c, const json_t *id, int code, const char *message,
                          const char *reason)
{
    struct buf b;
    buf_init(&b, 4096);
    if (rpc_emit_error(&b, id, code, message, reason, NULL) == 0) {
        struct rpc_msg m;
        struct rpc_err e;
        if (rpc_parse(buf_head(&b), buf_used(&b), NULL, &m, &e) == 0) {
            sc_emit(c, &m, buf_head(&b), buf_used(&b), true);
            rpc_msg_free(&m);
        } else {
            rpc_err_clear(&e);
        }
    }
    buf_free(&b);
}

static void sc_post_fail(struct sc_post *p, int code, const char *message, const char *reason)
{
    if (p->id != NULL && !p->answered && !p->is_init) {
        p->answered = true;
        sc_synthesize(p->c, p->id, code, message, reason);
    }
}

static void sc_init_answer(struct shttp_client *c, const struct rpc_msg *m);

/* One message from the server, on the answer of post p (or the GET stream
 * when p is NULL). */
static void sc_deliver(struct shttp_client *c, struct sc_post *p, const char *raw, size_t len)
{
    struct json_limits lim = json_default_limits;
    lim.max_bytes = c->max_message;
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse(raw, len, &lim, &m, &e) < 0) {
        log_warnx("shttp client: %s: dropped a malformed message from the server (%s)", c->url,
                  e.reason);
        rpc_err_clear(&e);
        return;
    }
    bool is_answer = p != NULL && p->id != NULL && (m.kind == RPC_RESULT || m.kind == RPC_ERROR) &&
                     rpc_id_equal(m.id, p->id);
    if (is_answer)
        p->answered = true;
    if (is_answer && p->is_init)
        sc_init_answer(c, &m);
    else
        sc_emit(c, &m, raw, len, false);
    rpc_msg_free(&m);
}

static int sc_post_response(void *ud, struct http_creq *r, long status)
{
    struct sc_post *p = ud;
    struct shttp_client *c = p->c;
    p->status = status;
    p->sse = http_creq_is_sse(r);
    if (p->is_init && status == 200 && p->gen == c->gen) {
        const char *sid = http_creq_header(r, "Mcp-Session-Id");
        free(c->sid);
        c->sid = NULL;
        if (sid != NULL) {
            bool ok = strlen(sid) <= 128;
            for (const char *q = sid; ok && *q; q++)
                ok = *q >= 0x21 && *q <= 0x7e;
            if (ok)
                c->sid = strdup(sid);
        }
    }
    return 0;
}

static int sc_post_event(void *ud, struct http_creq *r, const struct sse_event *ev)
{
    struct sc_post *p = ud;
    struct shttp_client *c = p->c;
    size_t n;
    const char *id = http_creq_last_event_id(r, &n);
    if (n > 0 && n < sizeof(p->lei)) {
        memcpy(p->lei, id, n);
        p->lei[n] = '\0';
    }
    if (ev->data_len == 0)
        return 0; /* priming event */
    sc_enter(c);
    sc_deliver(c, p, ev->data, ev->data_len);
    return sc_leave(c) ? 1 : 0;
}

static const struct http_sse_cbs sc_resume_cbs;

static void sc_post_resume(struct sc_post *p)
{
    struct shttp_client *c = p->c;
    char store[2][160];
    const char *hv[48];
    struct http_sse_opts so = {
        .req = {.url = c->url,
                .headers = sc_headers(c, false, store, hv, 48),
                .ca_file = c->ca_file,
                .connect_timeout_ms = c->connect_ms,
                .idle_timeout_ms = c->idle_ms,
                .max_body = c->max_message},
        .last_event_id = p->lei,
        .max_retries = 3,
    };
    struct sse_limits sl = sse_default_limits;
    sl.max_event = c->max_message;
    sl.max_line = c->max_message + 16;
    so.req.sse = &sl;
    char err[160];
    p->resume = http_sse_open(c->hc, &so, &sc_resume_cbs, p, err, sizeof(err));
}

static int sc_resume_event(void *ud, const struct sse_event *ev)
{
    struct sc_post *p = ud;
    struct shttp_client *c = p->c;
    if (ev->data_len == 0)
        return 0;
    sc_enter(c);
    sc_deliver(c, p, ev->data, ev->data_len);
    if (sc_leave(c))
        return 1;
    if (p->answered) {
        struct http_sse_stream *s = p->resume;
        p->resume = NULL;
        http_sse_close(s); /* safe inside on_event */
        sc_post_free(p);
        return 1;
    }
    return 0;
}

static void sc_resume_closed(void *ud, const struct http_cresult *res)
{
    struct sc_post *p = ud;
    struct shttp_client *c = p->c;
    struct http_sse_stream *s = p->resume;
    p->resume = NULL;
    http_sse_close(s);
    sc_enter(c);
    sc_post_fail(p, MW_ERR_UPSTREAM, "the answer stream broke and could not be resumed",
                 res->status == 404 ? "upstream_session_lost" : "upstream_stream_lost");
    if (!sc_leave(c))
        sc_post_free(p);
}

static const struct http_sse_cbs sc_resume_cbs = {
    .on_event = sc_resume_event,
    .on_closed = sc_resume_closed,
};

static void sc_reinit(struct shttp_client *c, struct sc_post *refused);

static void sc_post_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    struct sc_post *p = ud;
    struct shttp_client *c = p->c;
    p->r = NULL; /* freed by http_client after this returns */
    (void)r;
    sc_enter(c);
    bool stale = p->gen != c->gen;
    if (res->err == HTTP_CE_OK && res->status == 200 && !p->sse && res->body_len > 0) {
        sc_deliver(c, p, res->body, res->body_len);
    } else if (res->err == HTTP_CE_OK && res->status == 404 && !p->is_init && !stale &&
               c->sid != NULL) {
        /* The server forgot the session: a new one, then this message again. */
        if (sc_leave(c))
            return;
        sc_reinit(c, p);
        return;
    }
    if (c->closed) {
        sc_leave(c);
        return;
    }
    bool keep = false;
    if (p->is_init && !p->answered && !stale) {
        char why[200];
        snprintf(why, sizeof(why), "initialize failed: %s (HTTP %ld)",
                 res->err != HTTP_CE_OK ? res->message : "no answer", res->status);
        sc_fail(c, why);
    } else if (p->id != NULL && !p->answered) {
        if (res->err == HTTP_CE_OK && p->sse && p->lei[0] != '\0' && !stale) {
            sc_post_resume(p); /* the stream broke before the answer: resume it */
            keep = p->resume != NULL;
        }
        if (!keep) {
            bool timeout = res->err == HTTP_CE_TIMEOUT || res->err == HTTP_CE_IDLE;
            char msg[200];
            if (res->err != HTTP_CE_OK)
                snprintf(msg, sizeof(msg), "upstream unavailable: %s", res->message);
            else
                snprintf(msg, sizeof(msg), "upstream answered HTTP %ld without a response",
                         res->status);
            sc_post_fail(p, timeout ? MW_ERR_TIMEOUT : MW_ERR_UPSTREAM, msg,
                         timeout ? "upstream_timeout" : "upstream_unavailable");
        }
    }
    if (sc_leave(c))
        return;
    if (!keep)
        sc_post_free(p);
}

static const struct http_creq_cbs sc_post_cbs = {
    .on_response = sc_post_response,
    .on_event = sc_post_event,
    .on_done = sc_post_done,
};

/* POSTs one message. `take`: msg is malloc'd and owned by the post. */
static int sc_post_start(struct shttp_client *c, char *msg, size_t len, bool is_init)
{
    struct json_limits lim = json_default_limits;
    lim.max_bytes = c->max_message;
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse(msg, len, &lim, &m, &e) < 0) {
        rpc_err_clear(&e);
        free(msg);
        return -1;
    }
    struct sc_post *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        rpc_msg_free(&m);
        free(msg);
        return -1;
    }
    p->c = c;
    p->msg = msg;
    p->len = len;
    p->is_init = is_init;
    p->gen = c->gen;
    if (m.kind == RPC_REQUEST)
        p->id = json_incref(m.id);
    rpc_msg_free(&m);
    p->next = c->posts;
    if (c->posts)
        c->posts->prev = p;
    c->posts = p;
    char store[2][160];
    const char *hv[48];
    struct sse_limits sl = sse_default_limits;
    sl.max_event = c->max_message;
    sl.max_line = c->max_message + 16;
    struct http_creq_opts o = {
        .method = "POST",
        .url = c->url,
        .headers = sc_headers(c, true, store, hv, 48),
        .body = msg,
        .body_len = len,
        .connect_timeout_ms = c->connect_ms,
        .total_timeout_ms = c->request_ms,
        .idle_timeout_ms = c->idle_ms,
        .max_body = c->max_message,
        .sse = &sl,
        .ca_file = c->ca_file,
    };
    char err[160];
    p->r = http_client_start(c->hc, &o, &sc_post_cbs, p, err, sizeof(err));
    if (p->r == NULL) {
        json_t *id = json_incref(p->id);
        sc_post_free(p);
        if (id != NULL) {
            sc_enter(c);
            sc_synthesize(c, id, MW_ERR_UPSTREAM, err, "upstream_unavailable");
            sc_leave(c);
        }
        json_decref(id);
        return -1;
    }
    return 0;
}

/* ---- the GET stream ---- */

static int sc_get_open(void *ud, long status)
{
    struct shttp_client *c = ud;
    (void)c;
    return status == 200 ? 0 : 1; /* 405: no stream offered; 404: handled in closed */
}

static int sc_get_event(void *ud, const struct sse_event *ev)
{
    struct shttp_client *c = ud;
    if (ev->data_len == 0)
        return 0;
    sc_enter(c);
    sc_deliver(c, NULL, ev->data, ev->data_len);
    return sc_leave(c) ? 1 : 0;
}

static void sc_get_closed(void *ud, const struct http_cresult *res)
{
    struct shttp_client *c = ud;
    struct http_sse_stream *s = c->get;
    c->get = NULL;
    http_sse_close(s);
    if (res->status == 404 && c->state == SC_READY && c->sid != NULL)
        sc_reinit(c, NULL);
}

static const struct http_sse_cbs sc_get_cbs = {
    .on_open = sc_get_open,
    .on_event = sc_get_event,
    .on_closed = sc_get_closed,
};

static void sc_open_get(struct shttp_client *c)
{
    if (c->no_get || c->get != NULL)
        return;
    char store[2][160];
    const char *hv[48];
    struct sse_limits sl = sse_default_limits;
    sl.max_event = c->max_message;
    sl.max_line = c->max_message + 16;
    struct http_sse_opts so = {
        .req = {.url = c->url,
                .headers = sc_headers(c, false, store, hv, 48),
                .ca_file = c->ca_file,
                .connect_timeout_ms = c->connect_ms,
                .sse = &sl},
    };
    char err[160];
    c->get = http_sse_open(c->hc, &so, &sc_get_cbs, c, err, sizeof(err));
}

/* ---- handshake ---- */

static void sc_flush_queue(struct shttp_client *c)
{
    size_t n = c->nq;
    c->nq = 0;
    for (size_t i = 0; i < n && !c->closed; i++)
        sc_post_start(c, c->queue[i].msg, c->queue[i].len, false);
    for (size_t i = 0; i < n && c->closed; i++)
        free(c->queue[i].msg);
}

static void sc_init_answer(struct shttp_client *c, const struct rpc_msg *m)
{
    if (m->kind == RPC_ERROR) {
        const char *msg = json_string_value(json_object_get(m->error, "message"));
        char why[240];
        snprintf(why, sizeof(why), "initialize refused: %s", msg ? msg : "error");
        sc_fail(c, why);
        return;
    }
    size_t vl = 0;
    const char *v = json_get_str(m->result, "protocolVersion", &vl);
    if (v == NULL || vl == 0 || vl >= sizeof(c->version)) {
        sc_fail(c, "initialize answer without a protocolVersion");
        return;
    }
    memcpy(c->version, v, vl);
    c->version[vl] = '\0';
    c->state = SC_READY;
    static const char initialized[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    char *n = strdup(initialized);
    if (n != NULL)
        sc_post_start(c, n, sizeof(initialized) - 1, false);
    sc_open_get(c);
    bool again = c->gen > 1;
    if (!c->closed && c->cbs->on_ready != NULL)
        c->cbs->on_ready(c->ud, m->result, again);
    if (!c->closed) {
        c->streak = 0;
        sc_flush_queue(c);
    }
}

static void sc_initialize(struct shttp_client *c)
{
    c->state = SC_INIT;
    c->gen++;
    free(c->sid);
    c->sid = NULL;
    c->version[0] = '\0';
    json_t *req = json_pack("{s:s,s:s,s:O}", "jsonrpc", "2.0", "method", "initialize", "params",
                            c->init_params);
    char id[48];
    snprintf(id, sizeof(id), "mcpwall-init-%u", c->gen);
    json_object_set_new(req, "id", json_string(id));
    size_t len = 0;
    char *msg = req ? json_emit_str(req, &len) : NULL;
    json_decref(req);
    if (msg == NULL || sc_post_start(c, msg, len, true) < 0) {
        sc_enter(c);
        sc_fail(c, "cannot send initialize");
        sc_leave(c);
    }
}

static void sc_reinit(struct shttp_client *c, struct sc_post *refused)
{
    if (c->streak >= c->max_reinit) {
        if (refused != NULL) {
            sc_enter(c);
            sc_post_fail(refused, MW_ERR_UPSTREAM, "upstream session lost", "upstream_session_lost");
            if (sc_leave(c))
                return;
            sc_post_free(refused);
        }
        sc_enter(c);
        sc_fail(c, "the server keeps losing the session");
        sc_leave(c);
        return;
    }
    c->streak++;
    c->reinits++;
    if (c->get != NULL) {
        http_sse_close(c->get);
        c->get = NULL;
    }
    /* The refused message goes first once the new session is ready. */
    if (refused != NULL) {
        if (c->nq < c->max_queue) {
            memmove(c->queue + 1, c->queue, c->nq * sizeof(c->queue[0]));
            c->queue[0].msg = refused->msg;
            c->queue[0].len = refused->len;
            c->nq++;
            refused->msg = NULL;
            refused->answered = true;
        }
        sc_enter(c);
        sc_post_fail(refused, MW_ERR_UPSTREAM, "upstream session lost", "upstream_session_lost");
        if (sc_leave(c))
            return;
        sc_post_free(refused);
    }
    /* Requests in flight on the old session will not be answered. */
    sc_enter(c);
    for (struct sc_post *p = c->posts; p != NULL && !c->closed; p = p->next) {
        if (p->gen == c->gen && p->id != NULL && !p->answered)
            sc_post_fail(p, MW_ERR_UPSTREAM, "upstream session lost", "upstream_session_lost");
    }
    if (sc_leave(c))
        return;
    struct sc_post *p = c->posts;
    while (p != NULL) {
        struct sc_post *nx = p->next;
        if (p->gen == c->gen && p->id != NULL)
            sc_post_free(p);
        p = nx;
    }
    sc_initialize(c);
}

/* ---- public ---- */

struct shttp_client *shttp_client_new(struct http_client *hc, const struct shttp_client_opts *o,
                                      const struct shttp_client_cbs *cbs, void *ud, char *err,
                                      size_t errlen)
{
    if (o->url == NULL) {
        snprintf(err, errlen, "no URL");
        return NULL;
    }
    struct shttp_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->hc = hc;
    c->cbs = cbs;
    c->ud = ud;
    c->url = strdup(o->url);
    c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    c->connect_ms = o->connect_timeout_ms;
    c->request_ms = o->request_timeout_ms;
    c->idle_ms = o->idle_timeout_ms;
    c->max_message = o->max_message ? o->max_message : JSON_DEFAULT_MAX_BYTES;
    c->max_queue = o->max_queue ? o->max_queue : 64;
    c->max_reinit = o->max_reinit ? o->max_reinit : 3;
    c->no_get = o->no_get_stream;
    c->queue = calloc(c->max_queue, sizeof(*c->queue));
    c->xh = sc_xh_copy(o->headers, &c->nxh);
    bool ok = c->url != NULL && c->queue != NULL && c->xh != NULL &&
              (o->ca_file == NULL || c->ca_file != NULL);
    if (!ok) {
        snprintf(err, errlen, c->xh == NULL ? "bad or too many extra headers, or out of memory"
                                            : "bad option or out of memory");
        sc_free(c);
        return NULL;
    }
    return c;
}

int shttp_client_start(struct shttp_client *c, const json_t *init_params)
{
    if (c->state != SC_IDLE || !json_is_object(init_params))
        return -1;
    c->init_params = json_deep_copy(init_params);
    if (c->init_params == NULL)
        return -1;
    sc_enter(c);
    sc_initialize(c);
    bool failed = c->state == SC_FAILED;
    sc_leave(c);
    return failed ? -1 : 0;
}

int shttp_client_send(struct shttp_client *c, const char *msg, size_t len)
{
    if (c->closed || c->state == SC_FAILED || len == 0 || len > c->max_message)
        return -1;
    struct json_limits lim = json_default_limits;
    lim.max_bytes = c->max_message;
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse(msg, len, &lim, &m, &e) < 0) {
        rpc_err_clear(&e);
        return -1;
    }
    rpc_msg_free(&m);
    char *copy = malloc(len);
    if (copy == NULL)
        return -1;
    memcpy(copy, msg, len);
    if (c->state != SC_READY) {
        if (c->nq >= c->max_queue) {
            free(copy);
            return -1;
        }
        c->queue[c->nq].msg = copy;
        c->queue[c->nq].len = len;
        c->nq++;
        return 0;
    }
    return sc_post_start(c, copy, len, false);
}

static void sc_nop_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)ud;
    (void)r;
    (void)res;
}
static const struct http_creq_cbs sc_delete_cbs = {.on_done = sc_nop_done};

static void sc_free(struct shttp_client *c)
{
    while (c->posts != NULL)
        sc_post_free(c->posts);
    if (c->get != NULL)
        http_sse_close(c->get);
    for (size_t i = 0; i < c->nq; i++)
        free(c->queue[i].msg);
    free(c->queue);
    if (c->xh != NULL)
        sc_xh_free(c->xh, c->nxh);
    json_decref(c->init_params);
    free(c->sid);
    free(c->url);
    free(c->ca_file);
    free(c);
}

void shttp_client_close(struct shttp_client *c)
{
    if (c == NULL || c->closed)
        return;
    c->closed = true;
    if (c->sid != NULL && c->state == SC_READY) {
        /* Best effort; nothing waits for it (its callback touches nothing). */
        char store[2][160];
        const char *hv[48];
        struct http_creq_opts o = {.method = "DELETE",
                                   .url = c->url,
                                   .headers = sc_headers(c, false, store, hv, 48),
                                   .ca_file = c->ca_file,
                                   .connect_timeout_ms = c->connect_ms,
                                   .total_timeout_ms = 5000};
        char err[160];
        http_client_start(c->hc, &o, &sc_delete_cbs, NULL, err, sizeof(err));
    }
    if (c->depth == 0)
        sc_free(c);
}

int shttp_client_set_headers(struct shttp_client *c, const char *const *headers)
{
    size_t n;
    char **xh = sc_xh_copy(headers, &n);
    if (xh == NULL)
        return -1;
    sc_xh_free(c->xh, c->nxh);
    c->xh = xh;
    c->nxh = n;
    return 0;
}

const char *shttp_client_session_id(const struct shttp_client *c)
{
    return c->state == SC_READY ? c->sid : NULL;
}

const char *shttp_client_protocol_version(const struct shttp_client *c)
{
    return c->version[0] ? c->version : NULL;
}

bool shttp_client_ready(const struct shttp_client *c)
{
    return c->state == SC_READY;
}

unsigned shttp_client_reinitializations(const struct shttp_client *c)
{
    return c->reinits;
}
