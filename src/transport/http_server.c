/* http_server.c - evhttp listeners behind a strict pre-parser (see http_server.h).
 *
 * Shape of one connection:
 *
 *   socket (or bufferevent_openssl)  <- "under"
 *     -> bufferevent_filter (struct hconn: pre-parser, deadlines, counters)
 *       -> evhttp_connection (parsing again, keep-alive, response framing)
 *         -> hs_gencb: Host/Origin, route, method, auth, handler
 *
 * evhttp 2.1 has no hook when a connection is accepted or a request begins,
 * so the filter is ours: evhttp asks for a bufferevent through its bevcb and
 * gets the filter, whose free callback tells us when the connection is gone.
 * The pre-parser only ever hands evhttp the terminator of a line it has
 * accepted, so evhttp never acts on a request the pre-parser refused; it then
 * answers itself, writing straight to "under", and closes after a short
 * linger so the client can read the answer.
 *
 * Lifetimes: struct hconn lives exactly as long as the filter bufferevent.
 * struct http_request lives from hs_gencb until its response completed
 * (evhttp's on_complete) or its connection closed (evhttp's closecb),
 * whichever is first.
 */
#include "transport/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/jsonrpc.h"
#include "transport/http_preparse.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define HS_LINGER_MS      1000u
#define HS_SIMPLE_MAX     (16u * 1024u * 1024u)
#define HS_BYTES_FIFO     4

/* ------------------------------------------------------------------ */
/* A small pointer-keyed hash map (bufferevent -> hconn).              */

struct ptrmap {
    void **keys;
    void **vals;
    size_t cap; /* power of two, or 0 */
    size_t n;
};

static size_t pm_hash(const void *k)
{
    uint64_t x = (uint64_t)(uintptr_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int pm_grow(struct ptrmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    void **nk = calloc(ncap, sizeof(void *));
    void **nv = calloc(ncap, sizeof(void *));
    if (nk == NULL || nv == NULL) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == NULL)
            continue;
        size_t j = pm_hash(m->keys[i]) & (ncap - 1);
        while (nk[j] != NULL)
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

static int pm_put(struct ptrmap *m, void *k, void *v)
{
    if ((m->n + 1) * 2 > m->cap && pm_grow(m) < 0)
        return -1;
    size_t j = pm_hash(k) & (m->cap - 1);
    while (m->keys[j] != NULL && m->keys[j] != k)
        j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == NULL)
        m->n++;
    m->keys[j] = k;
    m->vals[j] = v;
    return 0;
}

static void *pm_get(const struct ptrmap *m, const void *k)
{
    if (m->cap == 0)
        return NULL;
    size_t j = pm_hash(k) & (m->cap - 1);
    while (m->keys[j] != NULL) {
        if (m->keys[j] == k)
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static void pm_del(struct ptrmap *m, const void *k)
{
    if (m->cap == 0)
        return;
    size_t mask = m->cap - 1;
    size_t j = pm_hash(k) & mask;
    while (m->keys[j] != NULL && m->keys[j] != k)
        j = (j + 1) & mask;
    if (m->keys[j] == NULL)
        return;
    m->keys[j] = NULL;
    m->vals[j] = NULL;
    m->n--;
    /* Backward-shift the cluster that follows. */
    size_t i = (j + 1) & mask;
    while (m->keys[i] != NULL) {
        size_t h = pm_hash(m->keys[i]) & mask;
        /* Move entry i into the hole j when its home h is not in (j, i]. */
        bool move = (j <= i) ? (h <= j || h > i) : (h <= j && h > i);
        if (move) {
            m->keys[j] = m->keys[i];
            m->vals[j] = m->vals[i];
            m->keys[i] = NULL;
            m->vals[i] = NULL;
            j = i;
        }
        i = (i + 1) & mask;
    }
}

static void pm_free(struct ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* Types                                                              */

struct route {
    struct route *next;
    char *path;
    unsigned methods;
    bool auth;
    http_handler_fn fn;
    void *ud;
    http_simple_fn sfn; /* plain GET routes */
    void *sud;
};

struct http_server {
    struct event_base *base;
    struct http_listener *listeners;
    struct ptrmap conns; /* filter bufferevent -> hconn */
    uint64_t serial;
    size_t alive;        /* hconns not yet finalised by libevent */
    bool early_close;    /* the backend reports peer close (EV_CLOSED) */
};

struct hostpat {
    char *name; /* lowercase, IPv6 in brackets */
    int port;   /* -1: any */
};

struct http_listener {
    struct http_listener *next;
    struct http_server *srv;
    char *name;
    struct evhttp *http;
    SSL_CTX *ssl;
    uint16_t port;
    bool loopback;
    struct hostpat *hosts;
    size_t nhosts;
    bool any_host;
    char **origins; /* normalised "scheme://host:port" */
    size_t norigins;
    bool any_origin;
    size_t max_header_bytes, max_headers, max_target, max_body, max_body_total;
    size_t max_connections, max_output;
    uint32_t header_timeout_ms, body_timeout_ms, idle_timeout_ms;
    size_t body_held; /* body bytes held by all connections */
    struct route *routes;
    struct route *dead_routes; /* unrouted, freed with the listener */
    http_auth_fn auth;
    void *auth_ud;
    http_observe_fn obs;
    void *obs_ud;
    struct http_counters ctr;
};

struct hconn {
    struct http_listener *l;
    struct http_server *srv; /* outlives the listener until the loop finalised us */
    struct bufferevent *bev;   /* the filter evhttp talks to */
    struct bufferevent *under; /* socket or TLS */
    struct evhttp_connection *evcon;
    struct evbuffer_cb_entry *out_cb;  /* on under's output: count, drain */
    struct evbuffer_cb_entry *fout_cb; /* on the filter's output: flush */
    struct event *init_ev;   /* runs once, right after accept */
    struct event *timer;     /* header/body deadline, linger */
    struct event *task_ev;   /* deferred work: reject, kill, drain */
    struct event *closed_ev; /* peer close while a request is in the handler */
    int fd;
    bool tls;
    bool closed;    /* evhttp is freeing or has freed the connection */
    bool busy;      /* a request is in a handler */
    bool overload;  /* over max_connections: answer 503 */
    bool kill_pending;
    bool drain_pending;
    bool flush_pending;
    bool close_after;  /* close once the current response has reached the socket */
    bool released;     /* detached from the listener (hc_release) */
    /* pre-parser */
    struct hpp pp;
    bool got_bytes;          /* any byte on this connection yet */
    uint64_t head_start_us, body_start_us, accept_us;
    uint64_t fifo[HS_BYTES_FIFO]; /* bytes of complete requests not yet dispatched */
    size_t fifo_n;
    size_t held;             /* body bytes counted in l->body_held */
    /* rejection */
    bool reject_pending;
    bool rejecting;
    bool lingering;
    int rej_status;
    const char *rej_reason;
    const char *rej_msg;
    /* current request */
    struct http_request *cur;
};

struct http_request {
    struct hconn *hc;
    struct evhttp_request *ereq;
    struct http_listener *l;
    struct route *route;
    uint64_t serial;
    enum http_method method;
    void *identity;
    void (*identity_free)(void *);
    char *principal;
    http_close_fn close_fn;
    void *close_arg;
    http_drain_fn drain_fn;
    void *drain_arg;
    int status;
    bool started;   /* a response (or stream) began */
    bool finished;  /* the response was completed by us */
    bool auth_pending;
    bool close_after; /* the client asked for Connection: close (or spoke 1.0) */
    uint64_t start_us;
    uint64_t bytes_in;
    uint64_t bytes_out;
    size_t body_len;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

const char *http_status_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int http_error_body(struct buf *b, const json_t *id, int code, const char *message,
                    const char *reason)
{
    return rpc_emit_error(b, id, code, message, reason, NULL);
}

static bool hs_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool hs_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static void hs_count_status(struct http_listener *l, int status)
{
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        l->ctr.status[cls]++;
}

static uint64_t hs_ms_us(uint32_t ms)
{
    return (uint64_t)ms * 1000u;
}

static struct timeval hs_tv_us(uint64_t us)
{
    struct timeval tv;
    tv.tv_sec = (time_t)(us / 1000000u);
    tv.tv_usec = (suseconds_t)(us % 1000000u);
    return tv;
}

/* ------------------------------------------------------------------ */
/* Connection teardown and deferred work                              */

static void hc_task_cb(evutil_socket_t fd, short what, void *arg);
static void hc_update_timer(struct hconn *hc);
static void hreq_abort(struct http_request *r);

/* Detaches the connection from its listener and the loop: counters, the
 * connection table, our events and buffer callbacks. Runs from evhttp's close
 * callback, or at the latest from the filter's free callback. libevent may
 * finalise the filter later than evhttp frees the connection (deferred
 * callbacks hold a reference), even after the listener is gone, so nothing
 * after this may touch the listener. */
static void hc_release(struct hconn *hc)
{
    if (hc->released)
        return;
    hc->released = true;
    struct http_listener *l = hc->l;
    if (hc->cur != NULL) {
        /* evhttp freed the connection (and the request) without telling us
         * through closecb: the request dies here. */
        hc->cur->ereq = NULL;
        hreq_abort(hc->cur);
    }
    if (hc->out_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_output(hc->under), hc->out_cb);
    if (hc->fout_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_output(hc->bev), hc->fout_cb);
    hc->out_cb = hc->fout_cb = NULL;
    if (hc->tls) {
        SSL *ssl = bufferevent_openssl_get_ssl(hc->under);
        if (ssl != NULL && !SSL_is_init_finished(ssl))
            l->ctr.tls_handshake_failures++;
    }
    struct event **evs[] = {&hc->init_ev, &hc->timer, &hc->task_ev, &hc->closed_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (*evs[i] != NULL) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    }
    l->body_held -= hc->held < l->body_held ? hc->held : l->body_held;
    hc->held = 0;
    pm_del(&l->srv->conns, hc->bev);
    l->ctr.connections_open--;
}

/* The filter's free callback: the connection is gone for good. */
static void hc_free(void *ctx)
{
    struct hconn *hc = ctx;
    struct http_server *srv = hc->srv;
    hc_release(hc);
    hpp_free(&hc->pp);
    free(hc);
    srv->alive--;
}

/* evhttp's close callback: the connection is being freed. */
static void hc_closecb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct hconn *hc = arg;
    if (hc->closed)
        return;
    hc->closed = true;
    if (hc->cur != NULL)
        hreq_abort(hc->cur);
    hc_release(hc);
}

static void hc_schedule(struct hconn *hc)
{
    if (!hc->closed && hc->task_ev != NULL)
        event_active(hc->task_ev, 0, 0);
}

/* Frees the connection now (never call from inside evhttp or a filter). */
static void hc_kill(struct hconn *hc)
{
    if (hc->closed || hc->evcon == NULL)
        return;
    evhttp_connection_free(hc->evcon); /* runs hc_closecb, then hc_free */
}

/* ------------------------------------------------------------------ */
/* Our own answers (pre-parser rejections), written below evhttp       */

static void hc_reject(struct hconn *hc, int status, const char *reason, const char *msg)
{
    if (hc->rejecting || hc->reject_pending || hc->closed)
        return;
    hpp_refuse(&hc->pp, status, reason, msg);
    hc->reject_pending = true;
    hc->rej_status = status;
    hc->rej_reason = reason;
    hc->rej_msg = msg;
    struct http_counters *c = &hc->l->ctr;
    if (status == 408)
        c->rejected_timeout++;
    else if (status == 413 || status == 414 || status == 431)
        c->rejected_size++;
    else if (status != 503)
        c->rejected_syntax++;
    if (!hc->busy)
        hc_schedule(hc);
}

static void hc_do_reject(struct hconn *hc)
{
    hc->reject_pending = false;
    hc->rejecting = true;
    /* evhttp must not time the connection out while our answer drains. */
    bufferevent_set_timeouts(hc->bev, NULL, NULL);

    struct buf body;
    buf_init(&body, 4096);
    int code = hc->rej_status == 503 ? MW_ERR_OVERLOADED : RPC_INVALID_REQUEST;
    if (http_error_body(&body, NULL, code, hc->rej_msg, hc->rej_reason) < 0)
        buf_reset(&body);
    char head[512];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n"
                      "Cache-Control: no-store\r\n\r\n",
                      hc->rej_status, http_status_phrase(hc->rej_status), buf_used(&body));
    struct evbuffer *out = bufferevent_get_output(hc->under);
    if (hn > 0 && (size_t)hn < sizeof(head)) {
        evbuffer_add(out, head, (size_t)hn);
        evbuffer_add(out, buf_head(&body), buf_used(&body));
        hc->l->ctr.bytes_out += (uint64_t)hn + buf_used(&body);
    }
    buf_free(&body);
    hs_count_status(hc->l, hc->rej_status);
    bufferevent_enable(hc->under, EV_WRITE);
    /* Nothing more from this client reaches evhttp; the linger timer (armed
     * when the answer has drained) or the write timeout ends it. */
    event_del(hc->timer);
    if (evbuffer_get_length(out) == 0) {
        hc->lingering = true;
        struct timeval tv = hs_tv_us(hs_ms_us(HS_LINGER_MS));
        event_add(hc->timer, &tv);
    }
}

/* Counts what reaches the socket (or TLS) and notices a drained output. */
static void hc_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct hconn *hc = arg;
    if (info->n_deleted == 0 || evbuffer_get_length(buf) != 0 || hc->closed)
        return;
    if ((hc->rejecting || (hc->close_after && !hc->busy)) && !hc->lingering) {
        hc->lingering = true;
        if (!hc->tls && hc->fd >= 0)
            shutdown(hc->fd, SHUT_WR);
        struct timeval tv = hs_tv_us(hs_ms_us(HS_LINGER_MS));
        event_add(hc->timer, &tv);
        return;
    }
    if (hc->cur != NULL && hc->cur->drain_fn != NULL) {
        hc->drain_pending = true;
        hc_schedule(hc);
    }
}

/* evhttp queues a response and only then enables writing; a libevent 2.1
 * filter does not look at its output again when writing is enabled, so the
 * bytes would sit there. A deferred flush moves them once evhttp is done. */
static void hc_fout_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct hconn *hc = arg;
    if (info->n_added > 0 && !hc->closed) {
        hc->flush_pending = true;
        hc_schedule(hc);
    }
}

static void hc_set_idle_timeouts(struct hconn *hc, bool on)
{
    if (on) {
        struct timeval tv = hs_tv_us(hs_ms_us(hc->l->idle_timeout_ms));
        bufferevent_set_timeouts(hc->bev, &tv, &tv);
    } else {
        bufferevent_set_timeouts(hc->bev, NULL, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* Deadlines                                                          */

static void hc_update_timer(struct hconn *hc)
{
    if (hc->closed || hc->released || hc->rejecting || hc->timer == NULL)
        return;
    event_del(hc->timer);
    if (hc->busy || hc->reject_pending)
        return;
    uint64_t deadline;
    struct http_listener *l = hc->l;
    switch (hpp_phase(&hc->pp)) {
    case HPP_IDLE:
        if (hc->got_bytes)
            return; /* keep-alive silence: evhttp's idle timeout */
        deadline = hc->accept_us + hs_ms_us(l->header_timeout_ms);
        break;
    case HPP_HEAD:
        deadline = hc->head_start_us + hs_ms_us(l->header_timeout_ms);
        break;
    default:
        deadline = hc->body_start_us + hs_ms_us(l->body_timeout_ms);
        break;
    }
    uint64_t now = mono_us();
    struct timeval tv = hs_tv_us(deadline > now ? deadline - now : 0);
    event_add(hc->timer, &tv);
}

static void hc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hconn *hc = arg;
    if (hc->closed)
        return;
    if (hc->lingering) {
        hc_kill(hc);
        return;
    }
    if (hc->busy || hc->rejecting)
        return;
    enum hpp_phase ph = hpp_phase(&hc->pp);
    if (ph == HPP_IDLE && hc->got_bytes)
        return;
    bool head = ph != HPP_BODY;
    hc_reject(hc, 408, head ? "header_timeout" : "body_timeout",
              head ? "the request head did not arrive in time"
                   : "the request body did not arrive in time");
}

/* ------------------------------------------------------------------ */
/* The pre-parser hooks                                               */

static void hc_head_start(void *ud)
{
    struct hconn *hc = ud;
    bool first = !hc->got_bytes;
    hc->got_bytes = true;
    /* The first request's head is timed from the accept. */
    hc->head_start_us = first ? hc->accept_us : mono_us();
    hc_update_timer(hc);
}

static void hc_head_end(void *ud)
{
    struct hconn *hc = ud;
    hc->body_start_us = mono_us();
    hc_update_timer(hc);
}

/* Accounts body bytes against the listener's shared budget. */
static int hc_body(void *ud, size_t n)
{
    struct hconn *hc = ud;
    struct http_listener *l = hc->l;
    if (n > l->max_body_total - l->body_held)
        return -1;
    l->body_held += n;
    hc->held += n;
    return 0;
}

static void hc_done(void *ud, uint64_t bytes)
{
    struct hconn *hc = ud;
    if (hc->fifo_n < HS_BYTES_FIFO)
        hc->fifo[hc->fifo_n++] = bytes;
    else
        hc->fifo[HS_BYTES_FIFO - 1] += bytes;
    hc_update_timer(hc);
}

static const struct hpp_hooks hc_hooks = {
    .head_start = hc_head_start,
    .head_end = hc_head_end,
    .body = hc_body,
    .done = hc_done,
};

static enum bufferevent_filter_result hc_in_filter(struct evbuffer *src, struct evbuffer *dst,
                                                   ev_ssize_t lim,
                                                   enum bufferevent_flush_mode mode, void *ctx)
{
    (void)lim;
    (void)mode;
    struct hconn *hc = ctx;
    size_t total = evbuffer_get_length(src);
    hc->l->ctr.bytes_in += total;
    if (hc->rejecting || hc->reject_pending || hc->overload || hc->closed || hc->close_after) {
        evbuffer_drain(src, total);
        return BEV_OK;
    }
    size_t accepted = 0;
    bool stop = false;
    while (!stop && accepted < total) {
        struct evbuffer_iovec vec[16];
        struct evbuffer_ptr pos;
        evbuffer_ptr_set(src, &pos, accepted, EVBUFFER_PTR_SET);
        int nv = evbuffer_peek(src, (ev_ssize_t)(total - accepted), &pos, vec, 16);
        if (nv <= 0)
            break;
        int used = nv < 16 ? nv : 16;
        for (int k = 0; k < used && !stop; k++) {
            size_t len = vec[k].iov_len;
            if (len > total - accepted)
                len = total - accepted;
            size_t got = hpp_feed(&hc->pp, vec[k].iov_base, len, &hc_hooks, hc);
            accepted += got;
            if (got < len || hc->pp.status != 0) {
                hc_reject(hc, hc->pp.status, hc->pp.reason, hc->pp.msg);
                stop = true;
            }
        }
    }
    if (accepted > 0)
        evbuffer_remove_buffer(src, dst, accepted);
    if (evbuffer_get_length(src) > 0)
        evbuffer_drain(src, evbuffer_get_length(src)); /* a refused request's bytes */
    return BEV_OK;
}

static enum bufferevent_filter_result hc_out_filter(struct evbuffer *src, struct evbuffer *dst,
                                                    ev_ssize_t lim,
                                                    enum bufferevent_flush_mode mode, void *ctx)
{
    (void)lim;
    (void)mode;
    struct hconn *hc = ctx;
    size_t n = evbuffer_get_length(src);
    hc->l->ctr.bytes_out += n;
    if (hc->cur != NULL)
        hc->cur->bytes_out += n;
    if (hc->rejecting) {
        evbuffer_drain(src, n); /* evhttp has nothing to say any more */
        return BEV_OK;
    }
    evbuffer_add_buffer(dst, src);
    return BEV_OK;
}

/* ------------------------------------------------------------------ */
/* Accepting                                                          */

static void hc_closed_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hconn *hc = arg;
    if (hc->busy && !hc->closed)
        hc_kill(hc);
}

static void hc_set_sockopts(int fd, uint32_t idle_ms)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int idle = 30, intvl = 10, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#ifdef TCP_USER_TIMEOUT
    unsigned ut = idle_ms;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
#else
    (void)idle_ms;
#endif
}

/* Runs once, right after evhttp has wrapped our filter in its connection and
 * before any I/O on it: learn the evhttp connection and hook its close. */
static void hc_init_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hconn *hc = arg;
    void *cbarg = NULL;
    bufferevent_getcb(hc->bev, NULL, NULL, NULL, &cbarg);
    hc->evcon = cbarg;
    MW_ASSERT(hc->evcon != NULL);
    evhttp_connection_set_closecb(hc->evcon, hc_closecb, hc);
    hc->fd = (int)bufferevent_getfd(hc->bev);
    if (hc->fd >= 0)
        hc_set_sockopts(hc->fd, hc->l->idle_timeout_ms);
    struct timeval wtv = hs_tv_us(hs_ms_us(hc->l->idle_timeout_ms));
    bufferevent_set_timeouts(hc->under, NULL, &wtv);
    if (hc->l->srv->early_close && hc->fd >= 0)
        hc->closed_ev = event_new(hc->l->srv->base, hc->fd, EV_CLOSED | EV_PERSIST,
                                  hc_closed_cb, hc);
    if (hc->overload) {
        hc_reject(hc, 503, "too_many_connections", "too many connections");
        return;
    }
    hc_update_timer(hc);
}

static struct bufferevent *hs_bevcb(struct event_base *base, void *arg)
{
    struct http_listener *l = arg;
    struct hconn *hc = calloc(1, sizeof(*hc));
    struct bufferevent *under = NULL;
    if (hc == NULL) {
        fatalx("http: out of memory accepting a connection");
        abort(); /* not reached: tells static analysers fatalx does not return */
    }
    hc->l = l;
    hc->srv = l->srv;
    l->srv->alive++;
    hc->fd = -1;
    hc->accept_us = mono_us();
    struct hpp_limits lim = {
        .max_header_bytes = l->max_header_bytes,
        .max_headers = l->max_headers,
        .max_target = l->max_target,
        .max_body = l->max_body,
    };
    hpp_init(&hc->pp, &lim);
    if (l->ssl != NULL) {
        SSL *ssl = SSL_new(l->ssl);
        if (ssl == NULL)
            fatalx("http: SSL_new failed");
        under = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                               BEV_OPT_CLOSE_ON_FREE);
        if (under != NULL)
            bufferevent_openssl_set_allow_dirty_shutdown(under, 1);
        hc->tls = true;
    } else {
        under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (under == NULL)
        fatalx("http: cannot create a bufferevent");
    hc->under = under;
    hc->bev = bufferevent_filter_new(under, hc_in_filter, hc_out_filter,
                                     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, hc_free, hc);
    if (hc->bev == NULL)
        fatalx("http: cannot create a filter bufferevent");
    hc->out_cb = evbuffer_add_cb(bufferevent_get_output(under), hc_out_cb, hc);
    hc->fout_cb = evbuffer_add_cb(bufferevent_get_output(hc->bev), hc_fout_cb, hc);
    hc->init_ev = event_new(base, -1, 0, hc_init_cb, hc);
    hc->timer = event_new(base, -1, 0, hc_timer_cb, hc);
    hc->task_ev = event_new(base, -1, 0, hc_task_cb, hc);
    if (hc->out_cb == NULL || hc->fout_cb == NULL || hc->init_ev == NULL || hc->timer == NULL || hc->task_ev == NULL ||
        pm_put(&l->srv->conns, hc->bev, hc) < 0)
        fatalx("http: out of memory accepting a connection");
    l->ctr.connections_accepted++;
    l->ctr.connections_open++;
    if (l->ctr.connections_open > l->max_connections) {
        hc->overload = true;
        l->ctr.connections_refused++;
    }
    event_active(hc->init_ev, 0, 0);
    return hc->bev;
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */

static void hreq_free(struct http_request *r)
{
    if (r->identity_free != NULL && r->identity != NULL)
        r->identity_free(r->identity);
    free(r->principal);
    free(r);
}

static void hreq_observe(struct http_request *r, bool aborted)
{
    struct http_listener *l = r->l;
    if (l->obs == NULL)
        return;
    struct http_request_info info = {
        .listener = l->name,
        .route = r->route ? r->route->path : NULL,
        .method = r->method,
        .status = r->started ? r->status : 0,
        .aborted = aborted,
        .bytes_in = r->bytes_in,
        .bytes_out = r->bytes_out,
        .duration_us = mono_us() - r->start_us,
        .identity = r->identity,
    };
    l->obs(l->obs_ud, &info);
}

/* The request leaves its connection (done or dead): release its body budget
 * and let the connection read again. */
static void hreq_detach(struct http_request *r)
{
    struct hconn *hc = r->hc;
    if (hc == NULL)
        return;
    size_t rel = r->body_len < hc->held ? r->body_len : hc->held;
    hc->held -= rel;
    hc->l->body_held -= rel < hc->l->body_held ? rel : hc->l->body_held;
    if (hc->cur == r)
        hc->cur = NULL;
    hc->busy = false;
    if (hc->closed_ev)
        event_del(hc->closed_ev);
    r->hc = NULL;
}

/* The connection closed before the response completed. */
static void hreq_abort(struct http_request *r)
{
    struct evhttp_request *ereq = r->ereq;
    r->l->ctr.client_aborts++;
    hreq_detach(r);
    r->ereq = NULL;
    if (r->close_fn != NULL) {
        http_close_fn fn = r->close_fn;
        r->close_fn = NULL;
        fn(r->close_arg, r);
    }
    hreq_observe(r, true);
    /* evhttp detaches a request it failed while we still held it (it is no
     * longer on the connection) and then leaves freeing it to us. */
    if (ereq != NULL && evhttp_request_get_connection(ereq) == NULL)
        evhttp_request_free(ereq);
    hreq_free(r);
}

/* Starts closing a connection whose last response has been queued: once it
 * has reached the socket, half-close, linger briefly, then free. */
static void hc_close_after_drain(struct hconn *hc)
{
    if (hc->timer == NULL)
        return;
    hc->rejecting = true; /* nothing more reaches evhttp */
    hc_set_idle_timeouts(hc, false);
    event_del(hc->timer);
    if (evbuffer_get_length(bufferevent_get_output(hc->under)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(hc->bev)) == 0) {
        hc->lingering = true;
        if (!hc->tls && hc->fd >= 0)
            shutdown(hc->fd, SHUT_WR);
        struct timeval tv = hs_tv_us(hs_ms_us(HS_LINGER_MS));
        event_add(hc->timer, &tv);
    }
}

static void hreq_on_complete(struct evhttp_request *ereq, void *arg)
{
    (void)ereq;
    struct http_request *r = arg;
    struct hconn *hc = r->hc;
    bool close_after = r->close_after;
    hreq_detach(r);
    r->ereq = NULL;
    hreq_observe(r, false);
    hreq_free(r);
    if (hc != NULL && !hc->closed && close_after) {
        /* evhttp goes on to read the next request: leave it nothing. */
        struct evbuffer *in = bufferevent_get_input(hc->bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        hc_close_after_drain(hc);
        return;
    }
    if (hc != NULL && !hc->closed) {
        hc_set_idle_timeouts(hc, true);
        if (hc->reject_pending)
            hc_schedule(hc);
        else if (hpp_phase(&hc->pp) != HPP_IDLE) {
            /* A pipelined request waited: its budget starts afresh now. */
            if (hpp_phase(&hc->pp) == HPP_HEAD)
                hc->head_start_us = mono_us();
            else
                hc->body_start_us = mono_us();
        }
        hc_update_timer(hc);
    }
}

static void hc_task_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hconn *hc = arg;
    if (hc->closed)
        return;
    if (hc->kill_pending) {
        hc_kill(hc);
        return;
    }
    if (hc->flush_pending) {
        hc->flush_pending = false;
        bufferevent_flush(hc->bev, EV_WRITE, BEV_NORMAL);
        if (hc->closed)
            return;
    }
    if (hc->reject_pending && !hc->busy) {
        hc_do_reject(hc);
        return;
    }
    if (hc->drain_pending) {
        hc->drain_pending = false;
        struct http_request *r = hc->cur;
        if (r != NULL && r->drain_fn != NULL && http_stream_pending(r) == 0)
            r->drain_fn(r->drain_arg, r);
    }
}

static const char *hs_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET: return "GET";
    case HTTP_HEAD: return "HEAD";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_DELETE: return "DELETE";
    case HTTP_OPTIONS: return "OPTIONS";
    case HTTP_PATCH: return "PATCH";
    }
    return "?";
}

static enum http_method hs_method_of(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return HTTP_GET;
    case EVHTTP_REQ_HEAD: return HTTP_HEAD;
    case EVHTTP_REQ_POST: return HTTP_POST;
    case EVHTTP_REQ_PUT: return HTTP_PUT;
    case EVHTTP_REQ_DELETE: return HTTP_DELETE;
    case EVHTTP_REQ_OPTIONS: return HTTP_OPTIONS;
    case EVHTTP_REQ_PATCH: return HTTP_PATCH;
    default: return 0;
    }
}

/* Splits "host[:port]" / "[v6][:port]"; lowercases into out. Returns the port,
 * -1 when absent, -2 when malformed. */
static int hs_split_hostport(const char *s, size_t n, char *out, size_t outsz)
{
    size_t hlen;
    const char *port = NULL;
    if (n == 0)
        return -2;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL)
            return -2;
        hlen = (size_t)(rb - s) + 1;
        if (hlen < n) {
            if (s[hlen] != ':')
                return -2;
            port = s + hlen + 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
        if (colon)
            port = colon + 1;
        for (size_t i = 0; i < hlen; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                return -2;
        }
    }
    if (hlen == 0 || hlen >= outsz)
        return -2;
    for (size_t i = 0; i < hlen; i++) {
        char c = s[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[hlen] = '\0';
    if (port == NULL)
        return -1;
    size_t plen = n - (size_t)(port - s);
    if (plen == 0 || plen > 5)
        return -2;
    int pv = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return -2;
        pv = pv * 10 + (port[i] - '0');
    }
    return pv <= 65535 ? pv : -2;
}

static bool hs_host_ok(struct http_listener *l, const char *host, char *hname, size_t hsz,
                       int *hport)
{
    *hport = hs_split_hostport(host, strlen(host), hname, hsz);
    if (*hport == -2)
        return false;
    if (l->any_host)
        return true;
    for (size_t i = 0; i < l->nhosts; i++) {
        if (strcmp(l->hosts[i].name, hname) == 0 &&
            (l->hosts[i].port < 0 || l->hosts[i].port == *hport))
            return true;
    }
    return false;
}

/* Normalises an origin "scheme://host[:port]" to "scheme://host:port"; -1 if
 * it is not one. */
static int hs_origin_norm(const char *o, char *out, size_t outsz)
{
    const char *rest;
    int defport;
    bool https;
    if (strncasecmp(o, "http://", 7) == 0) {
        rest = o + 7;
        defport = 80;
        https = false;
    } else if (strncasecmp(o, "https://", 8) == 0) {
        rest = o + 8;
        defport = 443;
        https = true;
    } else {
        return -1;
    }
    char host[256];
    int port = hs_split_hostport(rest, strlen(rest), host, sizeof(host));
    if (port == -2)
        return -1;
    if (port < 0)
        port = defport;
    int w = snprintf(out, outsz, "%s://%s:%d", https ? "https" : "http", host, port);
    return (w > 0 && (size_t)w < outsz) ? 0 : -1;
}

static bool hs_origin_ok(struct http_listener *l, const char *origin, const char *hname, int hport)
{
    if (l->any_origin)
        return true;
    char norm[300];
    if (hs_origin_norm(origin, norm, sizeof(norm)) < 0)
        return false;
    for (size_t i = 0; i < l->norigins; i++) {
        if (strcmp(l->origins[i], norm) == 0)
            return true;
    }
    /* Same origin as the request itself (its Host already passed). */
    char self[300];
    bool tls = l->ssl != NULL;
    int w = snprintf(self, sizeof(self), "%s://%s:%d", tls ? "https" : "http", hname,
                     hport >= 0 ? hport : (tls ? 443 : 80));
    return w > 0 && (size_t)w < sizeof(self) && strcmp(self, norm) == 0;
}

static void hs_run_handler(struct http_request *r)
{
    struct route *rt = r->route;
    rt->fn(rt->ud, r);
}

static void hs_gencb(struct evhttp_request *ereq, void *arg)
{
    struct http_listener *l = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    struct hconn *hc = pm_get(&l->srv->conns, bev);
    MW_ASSERT(hc != NULL);
    if (hc->evcon == NULL) {
        /* Our init has not run (cannot happen: it is activated at accept). */
        hc->evcon = evcon;
        evhttp_connection_set_closecb(evcon, hc_closecb, hc);
    }
    struct http_request *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        evhttp_send_error(ereq, 503, NULL);
        return;
    }
    r->hc = hc;
    r->ereq = ereq;
    r->l = l;
    r->serial = ++l->srv->serial;
    r->start_us = mono_us();
    r->method = hs_method_of(evhttp_request_get_command(ereq));
    r->body_len = evbuffer_get_length(evhttp_request_get_input_buffer(ereq));
    if (hc->fifo_n > 0) {
        r->bytes_in = hc->fifo[0];
        memmove(hc->fifo, hc->fifo + 1, (--hc->fifo_n) * sizeof(hc->fifo[0]));
    }
    hc->cur = r;
    hc->busy = true;
    if (hc->timer)
        event_del(hc->timer);
    /* evhttp keeps reading while it writes and would apply its idle timeout
     * to the client's silence during a long response: liveness is ours now
     * (peer-close watch, TCP keepalive and user timeout, write timeout). */
    hc_set_idle_timeouts(hc, false);
    if (hc->closed_ev)
        event_add(hc->closed_ev, NULL);
    evhttp_request_set_on_complete_cb(ereq, hreq_on_complete, r);
    l->ctr.requests++;

    /* evhttp frees a connection as soon as a closing response has left the
     * filter, before it reached the socket (the bytes would be lost): so
     * evhttp is told the connection persists and we close it ourselves. */
    struct evkeyvalq *ih = evhttp_request_get_input_headers(ereq);
    bool keepalive = false, close_tok = false;
    for (struct evkeyval *kv = ih->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "Connection") != 0)
            continue;
        if (str_casestr_n(kv->value, strlen(kv->value), "close") != NULL)
            close_tok = true;
        if (str_casestr_n(kv->value, strlen(kv->value), "keep-alive") != NULL)
            keepalive = true;
    }
    bool v10 = ereq->major == 1 && ereq->minor == 0;
    r->close_after = close_tok || (v10 && !keepalive);
    if (r->close_after) {
        hc->close_after = true; /* pipelined requests after this one are dropped */
        evhttp_remove_header(ih, "Connection");
        if (v10)
            evhttp_add_header(ih, "Connection", "keep-alive");
    }

    /* DNS-rebinding protection: Host, then Origin. */
    const char *host = http_request_header(r, "Host");
    char hname[256];
    int hport = -1;
    if (host == NULL || !hs_host_ok(l, host, hname, sizeof(hname), &hport)) {
        l->ctr.rejected_host++;
        http_reply_error(r, 403, NULL, 0, NULL, RPC_INVALID_REQUEST, "Host not allowed",
                         "host_not_allowed");
        return;
    }
    size_t norig = http_request_header_count(r, "Origin");
    if (norig > 0) {
        const char *origin = http_request_header(r, "Origin");
        if (norig > 1 || !hs_origin_ok(l, origin, hname, hport)) {
            l->ctr.rejected_origin++;
            http_reply_error(r, 403, NULL, 0, NULL, RPC_INVALID_REQUEST, "Origin not allowed",
                             "origin_not_allowed");
            return;
        }
    }

    const char *path = http_request_path(r);
    struct route *rt = NULL;
    for (struct route *x = l->routes; x != NULL; x = x->next) {
        if (path != NULL && strcmp(x->path, path) == 0) {
            rt = x;
            break;
        }
    }
    if (rt == NULL) {
        http_reply_error(r, 404, NULL, 0, NULL, RPC_INVALID_REQUEST, "Not found", "not_found");
        return;
    }
    r->route = rt;
    if ((rt->methods & r->method) == 0) {
        char allow[96] = "";
        size_t off = 0;
        for (unsigned b = 1; b <= HTTP_PATCH; b <<= 1) {
            if (rt->methods & b) {
                int w = snprintf(allow + off, sizeof(allow) - off, "%s%s", off ? ", " : "",
                                 hs_method_name((enum http_method)b));
                if (w > 0 && (size_t)w < sizeof(allow) - off)
                    off += (size_t)w;
            }
        }
        struct http_header h = {"Allow", allow};
        http_reply_error(r, 405, &h, 1, NULL, RPC_INVALID_REQUEST, "Method not allowed",
                         "method_not_allowed");
        return;
    }
    if (rt->auth && l->auth != NULL) {
        enum http_auth_verdict v = l->auth(l->auth_ud, r);
        if (v == HTTP_AUTH_DENY) {
            l->ctr.rejected_auth++;
            if (!r->started)
                http_reply_error(r, 403, NULL, 0, NULL, RPC_INVALID_REQUEST, "Forbidden",
                                 "auth_denied");
            return;
        }
        if (v == HTTP_AUTH_PENDING) {
            r->auth_pending = true;
            return;
        }
    }
    hs_run_handler(r);
}

void http_request_auth_done(struct http_request *r, bool allow)
{
    if (!r->auth_pending)
        return;
    r->auth_pending = false;
    if (!allow) {
        r->l->ctr.rejected_auth++;
        if (!r->started)
            http_reply_error(r, 403, NULL, 0, NULL, RPC_INVALID_REQUEST, "Forbidden",
                             "auth_denied");
        return;
    }
    hs_run_handler(r);
}

int http_request_set_identity(struct http_request *r, void *identity, void (*free_fn)(void *),
                              const char *principal)
{
    char *p = NULL;
    if (principal != NULL && (p = strdup(principal)) == NULL)
        return -1;
    if (r->identity_free != NULL && r->identity != NULL)
        r->identity_free(r->identity);
    free(r->principal);
    r->identity = identity;
    r->identity_free = free_fn;
    r->principal = p;
    return 0;
}

void *http_request_identity(const struct http_request *r)
{
    return r->identity;
}

const char *http_request_principal(const struct http_request *r)
{
    return r->principal;
}

enum http_method http_request_method(const struct http_request *r)
{
    return r->method;
}

const char *http_request_method_name(const struct http_request *r)
{
    return hs_method_name(r->method);
}

const char *http_request_path(const struct http_request *r)
{
    if (r->ereq == NULL)
        return NULL;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->ereq);
    const char *p = u ? evhttp_uri_get_path(u) : NULL;
    return p && *p ? p : "/";
}

const char *http_request_query(const struct http_request *r)
{
    if (r->ereq == NULL)
        return NULL;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->ereq);
    return u ? evhttp_uri_get_query(u) : NULL;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    if (r->ereq == NULL)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->ereq), name);
}

size_t http_request_header_count(const struct http_request *r, const char *name)
{
    if (r->ereq == NULL)
        return 0;
    size_t n = 0;
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->ereq);
    for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, name) == 0)
            n++;
    }
    return n;
}

const char *http_request_body(struct http_request *r, size_t *len)
{
    *len = 0;
    if (r->ereq == NULL)
        return "";
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ereq);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return "";
    const char *p = (const char *)evbuffer_pullup(in, -1);
    if (p == NULL)
        return "";
    *len = n;
    return p;
}

const char *http_request_peer(const struct http_request *r, uint16_t *port)
{
    char *addr = NULL;
    ev_uint16_t p = 0;
    if (r->ereq != NULL && evhttp_request_get_connection(r->ereq) != NULL)
        evhttp_connection_get_peer(evhttp_request_get_connection(r->ereq), &addr, &p);
    if (port != NULL)
        *port = p;
    return addr ? addr : "";
}

bool http_request_is_tls(const struct http_request *r)
{
    return r->l->ssl != NULL;
}

struct http_listener *http_request_listener(const struct http_request *r)
{
    return r->l;
}

uint64_t http_request_serial(const struct http_request *r)
{
    return r->serial;
}

void http_request_on_close(struct http_request *r, http_close_fn fn, void *arg)
{
    r->close_fn = fn;
    r->close_arg = arg;
}

static bool hs_header_ok(const char *name, const char *value)
{
    if (name == NULL || value == NULL || *name == '\0')
        return false;
    for (const char *p = name; *p; p++) {
        if (!hs_tchar((unsigned char)*p))
            return false;
    }
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static int hs_set_headers(struct http_request *r, const struct http_header *hdrs, size_t n,
                          const char *ctype)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ereq);
    for (size_t i = 0; i < n; i++) {
        if (!hs_header_ok(hdrs[i].name, hdrs[i].value))
            return -1;
        evhttp_add_header(out, hdrs[i].name, hdrs[i].value);
    }
    if (ctype != NULL) {
        if (!hs_header_ok("Content-Type", ctype))
            return -1;
        evhttp_add_header(out, "Content-Type", ctype);
    }
    if (evhttp_find_header(out, "Cache-Control") == NULL)
        evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    return 0;
}

int http_reply(struct http_request *r, int status, const struct http_header *hdrs, size_t nhdrs,
               const char *ctype, const void *body, size_t len)
{
    if (r->ereq == NULL || r->started)
        return -1;
    r->started = true;
    r->finished = true;
    r->status = status;
    hs_count_status(r->l, status);
    struct evbuffer *b = evbuffer_new();
    int rc = 0;
    if (b == NULL || hs_set_headers(r, hdrs, nhdrs, len ? ctype : NULL) < 0 ||
        (len && evbuffer_add(b, body, len) < 0)) {
        /* Headers the caller built are broken: answer 500 instead. */
        evhttp_clear_headers(evhttp_request_get_output_headers(r->ereq));
        if (b != NULL)
            evbuffer_drain(b, evbuffer_get_length(b));
        status = 500;
        rc = -1;
    }
    struct evhttp_request *ereq = r->ereq;
    /* May complete synchronously in theory; r is not touched after this. */
    evhttp_send_reply(ereq, status, http_status_phrase(status), b);
    if (b != NULL)
        evbuffer_free(b);
    return rc;
}

int http_reply_error(struct http_request *r, int status, const struct http_header *hdrs,
                     size_t nhdrs, const json_t *id, int code, const char *message,
                     const char *reason)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (http_error_body(&b, id, code, message, reason) < 0) {
        buf_free(&b);
        return http_reply(r, status, hdrs, nhdrs, NULL, NULL, 0);
    }
    int rc = http_reply(r, status, hdrs, nhdrs, "application/json", buf_head(&b), buf_used(&b));
    buf_free(&b);
    return rc;
}

int http_stream_begin(struct http_request *r, int status, const struct http_header *hdrs,
                      size_t nhdrs, const char *ctype)
{
    if (r->ereq == NULL || r->started)
        return -1;
    if (hs_set_headers(r, hdrs, nhdrs, ctype) < 0)
        return -1;
    r->started = true;
    r->status = status;
    hs_count_status(r->l, status);
    evhttp_send_reply_start(r->ereq, status, http_status_phrase(status));
    return 0;
}

size_t http_stream_pending(const struct http_request *r)
{
    if (r->hc == NULL || r->hc->closed)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(r->hc->bev)) +
           evbuffer_get_length(bufferevent_get_output(r->hc->under));
}

int http_stream_write(struct http_request *r, const void *p, size_t n)
{
    if (r->ereq == NULL || !r->started || r->finished || r->hc == NULL || r->hc->closed)
        return -1;
    if (n == 0)
        return 0;
    if (http_stream_pending(r) + n > r->l->max_output && http_stream_pending(r) > 0)
        return -1;
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add(b, p, n) < 0) {
        if (b)
            evbuffer_free(b);
        return -1;
    }
    evhttp_send_reply_chunk(r->ereq, b);
    evbuffer_free(b);
    return 0;
}

void http_stream_on_drain(struct http_request *r, http_drain_fn fn, void *arg)
{
    r->drain_fn = fn;
    r->drain_arg = arg;
}

void http_stream_end(struct http_request *r)
{
    if (r->ereq == NULL || !r->started || r->finished)
        return;
    r->finished = true;
    /* May complete synchronously (HTTP/1.0): r is not touched after this. */
    evhttp_send_reply_end(r->ereq);
}

/* ------------------------------------------------------------------ */
/* Server and listeners                                               */

struct http_server *http_server_new(struct event_base *base)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->base = base;
    srv->early_close = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) != 0;
    return srv;
}

struct event_base *http_server_base(const struct http_server *srv)
{
    return srv->base;
}

static void hs_listener_free(struct http_listener *l)
{
    if (l->http != NULL)
        evhttp_free(l->http); /* frees every connection: closecb, then hc_free */
    struct route *lists[2] = {l->routes, l->dead_routes};
    for (int k = 0; k < 2; k++) {
        struct route *rt = lists[k];
        while (rt != NULL) {
            struct route *nx = rt->next;
            free(rt->path);
            free(rt);
            rt = nx;
        }
    }
    for (size_t i = 0; i < l->nhosts; i++)
        free(l->hosts[i].name);
    free(l->hosts);
    for (size_t i = 0; i < l->norigins; i++)
        free(l->origins[i]);
    free(l->origins);
    if (l->ssl != NULL)
        SSL_CTX_free(l->ssl);
    free(l->name);
    free(l);
}

void http_server_free(struct http_server *srv)
{
    if (srv == NULL)
        return;
    struct http_listener *l = srv->listeners;
    while (l != NULL) {
        struct http_listener *nx = l->next;
        hs_listener_free(l);
        l = nx;
    }
    /* libevent finalises a bufferevent whose deferred callbacks are pending
     * only when the loop runs them: give it a few non-blocking turns so no
     * connection is left behind (a no-op when called from inside the loop). */
    for (int i = 0; i < 16 && srv->alive > 0; i++) {
        if (event_base_loop(srv->base, EVLOOP_NONBLOCK) < 0)
            break;
    }
    pm_free(&srv->conns);
    if (srv->alive == 0)
        free(srv);
    /* else: connections still hold srv; it is leaked rather than freed early. */
}

static bool hs_addr_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

static int hs_add_host(struct http_listener *l, const char *spec, char *err, size_t errlen)
{
    if (strcmp(spec, "*") == 0) {
        l->any_host = true;
        return 0;
    }
    char name[256];
    int port = hs_split_hostport(spec, strlen(spec), name, sizeof(name));
    if (port == -2) {
        snprintf(err, errlen, "allowed host \"%s\" is not host[:port]", spec);
        return -1;
    }
    struct hostpat *nh = realloc(l->hosts, (l->nhosts + 1) * sizeof(*nh));
    if (nh == NULL)
        return -1;
    l->hosts = nh;
    if ((nh[l->nhosts].name = strdup(name)) == NULL)
        return -1;
    nh[l->nhosts].port = port;
    l->nhosts++;
    return 0;
}

static int hs_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                      const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11), in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *hs_tls_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "cannot load TLS certificate chain from %s", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "cannot load TLS private key from %s", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "TLS private key does not match the certificate");
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, hs_alpn_cb, NULL);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static int hs_bind(const struct http_listener_opts *o, bool *loopback, char *err, size_t errlen)
{
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)o->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (o->reuseport)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0) {
            *loopback = hs_addr_loopback(ai->ai_addr);
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s port %u: %s", host, (unsigned)o->port,
                 strerror(saved));
    return fd;
}

struct http_listener *http_listener_new(struct http_server *srv, const struct http_listener_opts *o,
                                        char *err, size_t errlen)
{
    struct http_listener *l = calloc(1, sizeof(*l));
    int fd = -1;
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->srv = srv;
    l->name = strdup(o->name && *o->name ? o->name : "http");
    l->max_header_bytes = o->max_header_bytes ? o->max_header_bytes : HTTP_DEFAULT_MAX_HEADER_BYTES;
    l->max_headers = o->max_headers ? o->max_headers : HTTP_DEFAULT_MAX_HEADERS;
    l->max_target = o->max_target ? o->max_target : HTTP_DEFAULT_MAX_TARGET;
    l->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    l->max_body_total = o->max_body_total ? o->max_body_total : HTTP_DEFAULT_MAX_BODY_TOTAL;
    l->max_connections = o->max_connections ? o->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
    l->max_output = o->max_output ? o->max_output : HTTP_DEFAULT_MAX_OUTPUT;
    l->header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms
                                                : HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    l->body_timeout_ms = o->body_timeout_ms ? o->body_timeout_ms : HTTP_DEFAULT_BODY_TIMEOUT_MS;
    l->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    if (l->name == NULL || l->max_target + 32 > l->max_header_bytes) {
        snprintf(err, errlen, l->name ? "max_target must be smaller than max_header_bytes"
                                      : "out of memory");
        goto fail;
    }
    if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
        snprintf(err, errlen, "TLS needs both a certificate and a key");
        goto fail;
    }
    if (o->tls_cert_file != NULL &&
        (l->ssl = hs_tls_ctx(o->tls_cert_file, o->tls_key_file, err, errlen)) == NULL)
        goto fail;

    if (o->fd > 0) {
        fd = o->fd;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
            snprintf(err, errlen, "listening socket: %s", strerror(errno));
            goto fail;
        }
        l->loopback = hs_addr_loopback((struct sockaddr *)&ss);
        evutil_make_socket_nonblocking(fd);
    } else {
        fd = hs_bind(o, &l->loopback, err, errlen);
        if (fd < 0)
            goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            l->port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            l->port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    }

    if (o->allowed_hosts != NULL) {
        for (const char *const *h = o->allowed_hosts; *h != NULL; h++) {
            if (hs_add_host(l, *h, err, errlen) < 0)
                goto fail;
        }
    } else if (l->loopback) {
        static const char *const lo[] = {"localhost", "127.0.0.1", "[::1]"};
        for (size_t i = 0; i < 3; i++) {
            if (hs_add_host(l, lo[i], err, errlen) < 0)
                goto fail;
        }
        if (o->host != NULL && *o->host && strchr(o->host, ':') == NULL &&
            hs_add_host(l, o->host, err, errlen) < 0)
            goto fail;
    } else {
        snprintf(err, errlen,
                 "listener %s is not on a loopback address: allowed_hosts must be set "
                 "(\"*\" to accept any Host)",
                 l->name);
        goto fail;
    }
    if (o->allowed_origins != NULL) {
        for (const char *const *p = o->allowed_origins; *p != NULL; p++) {
            if (strcmp(*p, "*") == 0) {
                l->any_origin = true;
                continue;
            }
            char norm[300];
            if (hs_origin_norm(*p, norm, sizeof(norm)) < 0) {
                snprintf(err, errlen, "allowed origin \"%s\" is not scheme://host[:port]", *p);
                goto fail;
            }
            char **no = realloc(l->origins, (l->norigins + 1) * sizeof(*no));
            if (no == NULL)
                goto fail;
            l->origins = no;
            if ((no[l->norigins] = strdup(norm)) == NULL)
                goto fail;
            l->norigins++;
        }
    }

    l->http = evhttp_new(srv->base);
    if (l->http == NULL) {
        snprintf(err, errlen, "cannot create the HTTP server");
        goto fail;
    }
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* evhttp's own limits sit above ours so ours always answer first. */
    evhttp_set_max_headers_size(l->http, (ev_ssize_t)(l->max_header_bytes * 2 + 4096));
    evhttp_set_max_body_size(l->http, (ev_ssize_t)l->max_body);
    struct timeval itv = hs_tv_us(hs_ms_us(l->idle_timeout_ms));
    evhttp_set_timeout_tv(l->http, &itv);
    evhttp_set_default_content_type(l->http, NULL);
    evhttp_set_bevcb(l->http, hs_bevcb, l);
    evhttp_set_gencb(l->http, hs_gencb, l);
    if (evhttp_accept_socket_with_handle(l->http, fd) == NULL) {
        snprintf(err, errlen, "cannot accept on the listening socket");
        goto fail;
    }
    fd = -1; /* evhttp owns it now */
    l->next = srv->listeners;
    srv->listeners = l;
    return l;
fail:
    if (fd >= 0)
        close(fd);
    hs_listener_free(l);
    return NULL;
}

uint16_t http_listener_port(const struct http_listener *l)
{
    return l->port;
}

bool http_listener_loopback(const struct http_listener *l)
{
    return l->loopback;
}

struct http_server *http_listener_server(const struct http_listener *l)
{
    return l->srv;
}

const char *http_listener_name(const struct http_listener *l)
{
    return l->name;
}

bool http_listener_is_tls(const struct http_listener *l)
{
    return l->ssl != NULL;
}

const struct http_counters *http_listener_counters(const struct http_listener *l)
{
    return &l->ctr;
}

void http_listener_set_observer(struct http_listener *l, http_observe_fn fn, void *ud)
{
    l->obs = fn;
    l->obs_ud = ud;
}

void http_listener_set_auth(struct http_listener *l, http_auth_fn fn, void *ud)
{
    l->auth = fn;
    l->auth_ud = ud;
}

static int hs_add_route(struct http_listener *l, const char *path, unsigned methods, bool auth,
                        http_handler_fn fn, http_simple_fn sfn, void *ud)
{
    if (path == NULL || path[0] != '/' || methods == 0)
        return -1;
    for (struct route *x = l->routes; x != NULL; x = x->next) {
        if (strcmp(x->path, path) == 0)
            return -1;
    }
    struct route *rt = calloc(1, sizeof(*rt));
    if (rt == NULL || (rt->path = strdup(path)) == NULL) {
        free(rt);
        return -1;
    }
    rt->methods = methods;
    rt->auth = auth;
    rt->fn = fn;
    rt->sfn = sfn;
    rt->ud = ud;
    rt->next = l->routes;
    l->routes = rt;
    return 0;
}

int http_listener_route(struct http_listener *l, const char *path, unsigned methods, bool auth,
                        http_handler_fn fn, void *ud)
{
    if (fn == NULL)
        return -1;
    return hs_add_route(l, path, methods, auth, fn, NULL, ud);
}

int http_listener_unroute(struct http_listener *l, const char *path)
{
    for (struct route **pp = &l->routes; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->path, path) == 0) {
            struct route *rt = *pp;
            *pp = rt->next;
            /* A request already routed keeps a pointer for its observer: the
             * route is parked, not freed, until the listener goes. */
            rt->next = l->dead_routes;
            l->dead_routes = rt;
            return 0;
        }
    }
    return -1;
}

static void hs_simple_handler(void *ud, struct http_request *r)
{
    struct route *rt = ud;
    struct buf body;
    buf_init(&body, HS_SIMPLE_MAX);
    const char *ctype = NULL;
    int status = rt->sfn(rt->sud, &body, &ctype);
    if (status < 100 || status > 599)
        status = 500;
    http_reply(r, status, NULL, 0, ctype ? ctype : "text/plain; charset=utf-8",
               buf_used(&body) ? buf_head(&body) : "", buf_used(&body));
    buf_free(&body);
}

int http_listener_route_simple(struct http_listener *l, const char *path, bool auth,
                               http_simple_fn fn, void *ud)
{
    if (fn == NULL || hs_add_route(l, path, HTTP_GET | HTTP_HEAD, auth, hs_simple_handler, NULL,
                                   NULL) < 0)
        return -1;
    /* The handler's ud is the route itself: it carries fn and its ud. */
    l->routes->ud = l->routes;
    l->routes->sfn = fn;
    l->routes->sud = ud;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Content negotiation                                                */

static const char *hs_trim(const char *s, const char *e, size_t *len)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *len = (size_t)(e - s);
    return s;
}

/* q > 0 for the parameters of one media range (s..e after the type). */
static bool hs_q_positive(const char *s, const char *e)
{
    while (s < e) {
        const char *semi = memchr(s, ';', (size_t)(e - s));
        const char *pe = semi ? semi : e;
        size_t plen;
        const char *p = hs_trim(s, pe, &plen);
        if (plen >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            bool nonzero = false;
            for (size_t i = 2; i < plen; i++) {
                if (p[i] >= '1' && p[i] <= '9')
                    nonzero = true;
            }
            return nonzero;
        }
        s = semi ? semi + 1 : e;
    }
    return true;
}

bool http_accepts(const char *accept, const char *type)
{
    if (accept == NULL)
        return false;
    const char *slash = strchr(type, '/');
    size_t tmain = slash ? (size_t)(slash - type) : strlen(type);
    const char *s = accept;
    const char *end = accept + strlen(accept);
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *re = comma ? comma : end;
        const char *semi = memchr(s, ';', (size_t)(re - s));
        size_t mlen;
        const char *m = hs_trim(s, semi ? semi : re, &mlen);
        bool match = hs_ieq(m, mlen, type) || hs_ieq(m, mlen, "*/*") ||
                     (mlen == tmain + 2 && strncasecmp(m, type, tmain) == 0 && m[tmain] == '/' &&
                      m[tmain + 1] == '*');
        if (match && hs_q_positive(semi ? semi + 1 : re, re))
            return true;
        s = comma ? comma + 1 : end;
    }
    return false;
}

bool http_content_type_is(const char *ctype, const char *type)
{
    if (ctype == NULL)
        return false;
    const char *end = ctype + strlen(ctype);
    const char *semi = strchr(ctype, ';');
    size_t mlen;
    const char *m = hs_trim(ctype, semi ? semi : end, &mlen);
    if (!hs_ieq(m, mlen, type))
        return false;
    const char *s = semi ? semi + 1 : end;
    while (s < end) {
        const char *nx = memchr(s, ';', (size_t)(end - s));
        const char *pe = nx ? nx : end;
        size_t plen;
        const char *p = hs_trim(s, pe, &plen);
        if (plen >= 8 && strncasecmp(p, "charset=", 8) == 0) {
            const char *v = p + 8;
            size_t vlen = plen - 8;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (!hs_ieq(v, vlen, "utf-8") && !hs_ieq(v, vlen, "utf8"))
                return false;
        }
        s = nx ? nx + 1 : end;
    }
    return true;
}
