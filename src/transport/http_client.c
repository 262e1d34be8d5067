/* http_client.c - libcurl multi on the libevent loop (see http_client.h).
 *
 * libcurl refuses its multi API from inside its own callbacks, and our user
 * callbacks run inside them (headers, body, SSE events). So `depth` counts
 * how deep we are in curl: outside (depth 0) handles are added and removed
 * at once; inside, starts and cancellations are queued and a deferred "kick"
 * event applies them once curl has returned.
 */
#include "transport/http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "config.h"
#include "transport/curl_dl.h"
#include "util/log.h"

struct http_creq {
    struct http_creq *prev, *next;
    struct http_client *c;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    const struct http_creq_cbs *cbs;
    void *ud;
    size_t max_body, max_head;
    uint64_t max_stream;
    struct sse_limits sse_lim;
    uint32_t idle_ms;
    struct event *idle_ev;
    struct buf head;    /* raw header block of the response being read */
    struct buf hlist;   /* parsed: "name\0value\0" pairs, names lowercased */
    struct buf bodybuf;
    struct sse_parser sse;
    long status;
    uint64_t stream_bytes;
    bool got_response;
    bool is_sse;
    bool added;
    bool cancelled;
    bool done;
    enum http_cerr err; /* our own reason for stopping a transfer */
    char msg[200];
};

struct http_client {
    struct event_base *base;
    CURLM *multi;                   /* made (and libcurl loaded) by the first request */
    long max_host;
    struct event *timer;
    struct event *kick;
    char *ca_file;
    char *ua;
    struct http_creq *reqs;
    int depth;
    int running;
};

const char *http_cerr_name(enum http_cerr e)
{
    switch (e) {
    case HTTP_CE_OK: return "ok";
    case HTTP_CE_BAD_REQUEST: return "bad_request";
    case HTTP_CE_CONNECT: return "connect_failed";
    case HTTP_CE_TLS: return "tls_failed";
    case HTTP_CE_TIMEOUT: return "timeout";
    case HTTP_CE_IDLE: return "idle_timeout";
    case HTTP_CE_TOO_LARGE: return "too_large";
    case HTTP_CE_PROTOCOL: return "protocol_error";
    case HTTP_CE_ABORTED: return "aborted";
    case HTTP_CE_IO: return "io_error";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* Request lifecycle                                                  */

static void cl_kick_later(struct http_client *c)
{
    event_active(c->kick, 0, 0);
}

static void cl_req_free(struct http_creq *r)
{
    struct http_client *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else if (c->reqs == r)
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->easy) {
        if (r->added)
            curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    free(r->body);
    if (r->idle_ev)
        event_free(r->idle_ev);
    buf_free(&r->head);
    buf_free(&r->hlist);
    buf_free(&r->bodybuf);
    sse_parser_free(&r->sse);
    free(r);
}

/* Ends a request (depth 0 only): one on_done unless cancelled, then free. */
static void cl_finish(struct http_creq *r, enum http_cerr err, const char *msg)
{
    if (r->done)
        return;
    r->done = true;
    if (r->added) {
        curl_multi_remove_handle(r->c->multi, r->easy);
        r->added = false;
    }
    if (r->idle_ev)
        event_del(r->idle_ev);
    if (!r->cancelled && r->cbs->on_done != NULL) {
        struct http_cresult res = {
            .err = err,
            .message = msg ? msg : http_cerr_name(err),
            .status = r->status,
            .body = buf_used(&r->bodybuf) ? buf_head(&r->bodybuf) : "",
            .body_len = buf_used(&r->bodybuf),
        };
        r->cbs->on_done(r->ud, r, &res);
    }
    cl_req_free(r);
}

static void cl_stop(struct http_creq *r, enum http_cerr err, const char *msg)
{
    if (r->err == HTTP_CE_OK) {
        r->err = err;
        snprintf(r->msg, sizeof(r->msg), "%s", msg);
    }
}

static void cl_idle_reset(struct http_creq *r)
{
    if (r->idle_ev != NULL && !r->done) {
        struct timeval tv = {.tv_sec = (time_t)(r->idle_ms / 1000),
                             .tv_usec = (suseconds_t)((r->idle_ms % 1000) * 1000)};
        event_add(r->idle_ev, &tv);
    }
}

static void cl_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_creq *r = arg;
    cl_finish(r, HTTP_CE_IDLE, "nothing received within the idle timeout");
}

static enum http_cerr cl_map(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return HTTP_CE_OK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return HTTP_CE_BAD_REQUEST;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return HTTP_CE_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_CE_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return HTTP_CE_TLS;
    case CURLE_FILESIZE_EXCEEDED:
        return HTTP_CE_TOO_LARGE;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return HTTP_CE_PROTOCOL;
    default:
        return HTTP_CE_IO;
    }
}

static void cl_check_done(struct http_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct http_creq *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL)
            continue;
        CURLcode rc = m->data.result;
        if (r->err != HTTP_CE_OK) {
            cl_finish(r, r->err, r->msg);
        } else if (rc != CURLE_OK) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(rc));
            cl_finish(r, cl_map(rc), msg);
        } else {
            cl_finish(r, HTTP_CE_OK, NULL);
        }
    }
}

/* ------------------------------------------------------------------ */
/* curl <-> libevent                                                  */

struct cl_sock {
    struct event *ev;
};

static void cl_action(struct http_client *c, curl_socket_t fd, int action)
{
    c->depth++;
    curl_multi_socket_action(c->multi, fd, action, &c->running);
    c->depth--;
    cl_check_done(c);
}

static void cl_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    cl_action(c, (curl_socket_t)fd, action);
}

static void cl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int cl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct http_client *c = userp;
    struct cl_sock *cs = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (cs != NULL) {
            event_free(cs->ev);
            free(cs);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    if (cs == NULL) {
        cs = calloc(1, sizeof(*cs));
        if (cs == NULL)
            return -1;
        curl_multi_assign(c->multi, s, cs);
    } else if (cs->ev != NULL) {
        event_free(cs->ev);
        cs->ev = NULL;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    cs->ev = event_new(c->base, s, kind, cl_event_cb, c);
    if (cs->ev == NULL)
        return -1;
    event_add(cs->ev, NULL);
    return 0;
}

static int cl_timerfn(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct http_client *c = userp;
    if (timeout_ms < 0) {
        event_del(c->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000)};
    event_add(c->timer, &tv);
    return 0;
}

/* Applies queued starts and cancellations (outside curl). */
static void cl_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_client *c = arg;
    struct http_creq *r = c->reqs;
    while (r != NULL) {
        struct http_creq *nx = r->next;
        if (r->cancelled) {
            r->done = true;
            cl_req_free(r);
        } else if (!r->added && !r->done) {
            if (curl_multi_add_handle(c->multi, r->easy) == CURLM_OK)
                r->added = true;
            else
                cl_finish(r, HTTP_CE_BAD_REQUEST, "cannot add the request");
        }
        r = nx;
    }
}

/* ------------------------------------------------------------------ */
/* Response parsing                                                   */

static bool cl_is_sse(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return n == 17 && strncasecmp(ct, "text/event-stream", 17) == 0;
}

/* Parses r->head (the final response's header block) into r->hlist. */
static int cl_parse_head(struct http_creq *r)
{
    buf_reset(&r->hlist);
    const char *p = buf_head(&r->head), *end = p + buf_used(&r->head);
    const char *nl = memchr(p, '\n', (size_t)(end - p)); /* skip the status line */
    p = nl ? nl + 1 : end;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *e = le;
        if (e > p && e[-1] == '\r')
            e--;
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon != NULL && colon > p) {
            for (const char *q = p; q < colon; q++) {
                char ch = (*q >= 'A' && *q <= 'Z') ? (char)(*q - 'A' + 'a') : *q;
                if (buf_append_char(&r->hlist, ch) < 0)
                    return -1;
            }
            const char *v = colon + 1;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = e;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (buf_append_char(&r->hlist, '\0') < 0 || buf_append(&r->hlist, v, (size_t)(ve - v)) < 0 ||
                buf_append_char(&r->hlist, '\0') < 0)
                return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

const char *http_creq_header(const struct http_creq *r, const char *name)
{
    const char *p = buf_used(&r->hlist) ? buf_head(&r->hlist) : NULL;
    const char *end = p ? p + buf_used(&r->hlist) : NULL;
    while (p != NULL && p < end) {
        const char *v = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

long http_creq_status(const struct http_creq *r)
{
    return r->status;
}

bool http_creq_is_sse(const struct http_creq *r)
{
    return r->is_sse;
}

const char *http_creq_last_event_id(const struct http_creq *r, size_t *len)
{
    if (!r->is_sse) {
        *len = 0;
        return "";
    }
    return sse_parser_last_id(&r->sse, len);
}

int64_t http_creq_retry_ms(const struct http_creq *r)
{
    return r->is_sse ? sse_parser_retry(&r->sse) : -1;
}

static size_t cl_header_cb(char *p, size_t size, size_t n, void *ud)
{
    struct http_creq *r = ud;
    size_t len = size * n;
    if (r->cancelled || r->err != HTTP_CE_OK)
        return 0;
    cl_idle_reset(r);
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        buf_reset(&r->head); /* a new response head (after a 1xx) */
    if (buf_append(&r->head, p, len) < 0) {
        cl_stop(r, HTTP_CE_TOO_LARGE, "response headers too large");
        return 0;
    }
    bool blank = (len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n');
    if (!blank)
        return len;
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 100 && code < 200)
        return len; /* interim: the final head follows */
    r->status = code;
    if (cl_parse_head(r) < 0) {
        cl_stop(r, HTTP_CE_TOO_LARGE, "response headers too large");
        return 0;
    }
    r->is_sse = cl_is_sse(http_creq_header(r, "content-type"));
    if (r->is_sse)
        sse_parser_init(&r->sse, &r->sse_lim);
    r->got_response = true;
    if (r->cbs->on_response != NULL && r->cbs->on_response(r->ud, r, code) != 0) {
        cl_stop(r, HTTP_CE_ABORTED, "stopped by the caller");
        return 0;
    }
    return r->cancelled ? 0 : len;
}

static int cl_sse_event(void *ud, const struct sse_event *ev)
{
    struct http_creq *r = ud;
    if (r->cancelled)
        return 1;
    if (r->cbs->on_event != NULL && r->cbs->on_event(r->ud, r, ev) != 0) {
        cl_stop(r, HTTP_CE_ABORTED, "stopped by the caller");
        return 1;
    }
    return r->cancelled ? 1 : 0;
}

static size_t cl_write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct http_creq *r = ud;
    size_t len = size * n;
    if (r->cancelled || r->err != HTTP_CE_OK)
        return 0;
    cl_idle_reset(r);
    if (!r->got_response) {
        cl_stop(r, HTTP_CE_PROTOCOL, "body before the response head");
        return 0;
    }
    if (r->is_sse) {
        r->stream_bytes += len;
        if (r->max_stream && r->stream_bytes > r->max_stream) {
            cl_stop(r, HTTP_CE_TOO_LARGE, "event stream larger than allowed");
            return 0;
        }
        if (sse_parser_feed(&r->sse, p, len, cl_sse_event, r) < 0) {
            if (r->sse.err != SSE_E_STOPPED) {
                char m[160];
                snprintf(m, sizeof(m), "event stream refused: %s", sse_error_code(r->sse.err));
                cl_stop(r, HTTP_CE_TOO_LARGE, m);
            }
            return 0;
        }
        return r->cancelled || r->err != HTTP_CE_OK ? 0 : len;
    }
    if (r->cbs->on_data != NULL) {
        if (r->cbs->on_data(r->ud, r, p, len) != 0) {
            cl_stop(r, HTTP_CE_ABORTED, "stopped by the caller");
            return 0;
        }
        return r->cancelled ? 0 : len;
    }
    if (buf_append(&r->bodybuf, p, len) < 0) {
        cl_stop(r, HTTP_CE_TOO_LARGE, "response body larger than allowed");
        return 0;
    }
    return len;
}

/* ------------------------------------------------------------------ */
/* Client                                                             */

/* libcurl is loaded and the multi handle made when the first request starts:
 * a gateway whose upstreams and identity providers need no HTTP never maps
 * libcurl and its libraries (several MiB of resident memory). */
static int cl_ensure_multi(struct http_client *c, char *err, size_t errlen)
{
    if (c->multi != NULL)
        return 0;
    if (curl_dl_load(err, errlen) < 0) {
        log_warnx("%s", err);
        return -1;
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, cl_socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, cl_timerfn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_host);
    return 0;
}

struct http_client *http_client_new(struct event_base *base, const struct http_client_opts *o)
{
    struct http_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base = base;
    c->max_host = o && o->max_host_connections ? (long)o->max_host_connections : 16;
    c->timer = event_new(base, -1, 0, cl_timer_cb, c);
    c->kick = event_new(base, -1, 0, cl_kick_cb, c);
    const char *ua = o && o->user_agent ? o->user_agent : "mcpwall/" MCPWALL_VERSION;
    c->ua = strdup(ua);
    if (o && o->ca_file)
        c->ca_file = strdup(o->ca_file);
    if (c->timer == NULL || c->kick == NULL || c->ua == NULL ||
        (o && o->ca_file && c->ca_file == NULL)) {
        http_client_free(c);
        return NULL;
    }
    return c;
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL) {
        c->reqs->cancelled = true;
        c->reqs->done = true;
        cl_req_free(c->reqs);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi); /* CURL_POLL_REMOVE frees the socket events */
    if (c->timer)
        event_free(c->timer);
    if (c->kick)
        event_free(c->kick);
    free(c->ca_file);
    free(c->ua);
    free(c);
}

static bool cl_header_line_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    if (colon == NULL || colon == h)
        return false;
    for (const char *p = h; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

struct http_creq *http_client_start(struct http_client *c, const struct http_creq_opts *o,
                                    const struct http_creq_cbs *cbs, void *ud, char *err,
                                    size_t errlen)
{
    if (o->url == NULL || (strncasecmp(o->url, "http://", 7) != 0 &&
                           strncasecmp(o->url, "https://", 8) != 0)) {
        snprintf(err, errlen, "only http:// and https:// URLs are allowed");
        return NULL;
    }
    if (cl_ensure_multi(c, err, errlen) < 0)
        return NULL;
    struct http_creq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->c = c;
    r->cbs = cbs;
    r->ud = ud;
    r->max_body = o->max_body ? o->max_body : HTTP_CLIENT_DEFAULT_MAX_BODY;
    r->max_head = o->max_head ? o->max_head : HTTP_CLIENT_DEFAULT_MAX_HEAD;
    r->max_stream = o->max_stream;
    r->sse_lim = o->sse ? *o->sse : sse_default_limits;
    r->idle_ms = o->idle_timeout_ms;
    buf_init(&r->head, r->max_head);
    buf_init(&r->hlist, r->max_head * 2);
    buf_init(&r->bodybuf, r->max_body);
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;

    CURL *e = r->easy = curl_easy_init();
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
    for (const char *const *h = o->headers; h != NULL && *h != NULL; h++) {
        if (!cl_header_line_ok(*h)) {
            snprintf(err, errlen, "invalid request header line");
            goto fail;
        }
        struct curl_slist *nl = curl_slist_append(r->hdrs, *h);
        if (nl == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        r->hdrs = nl;
    }
    /* No "Expect: 100-continue" round trip before bodies. */
    struct curl_slist *nl = curl_slist_append(r->hdrs, "Expect:");
    if (nl == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r->hdrs = nl;
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_URL, o->url);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    const char *ca = o->ca_file ? o->ca_file : c->ca_file;
    if (ca != NULL)
        rc |= curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, c->ua);
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, cl_header_cb);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cl_write_cb);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                           (long)(o->connect_timeout_ms ? o->connect_timeout_ms
                                                        : HTTP_CLIENT_DEFAULT_CONNECT_MS));
    if (o->total_timeout_ms)
        rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->total_timeout_ms);
    if (o->body != NULL) {
        if ((r->body = malloc(o->body_len ? o->body_len : 1)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(r->body, o->body, o->body_len);
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    if (strcmp(method, "GET") == 0)
        rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        rc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") != 0 || o->body == NULL)
        rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot configure the request (libcurl too old?)");
        goto fail;
    }
    if (r->idle_ms > 0) {
        r->idle_ev = event_new(c->base, -1, 0, cl_idle_cb, r);
        if (r->idle_ev == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        cl_idle_reset(r);
    }
    if (c->depth == 0) {
        if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
            snprintf(err, errlen, "cannot start the request");
            goto fail;
        }
        r->added = true;
    } else {
        cl_kick_later(c);
    }
    return r;
fail:
    r->done = true;
    cl_req_free(r);
    return NULL;
}

void http_creq_cancel(struct http_creq *r)
{
    if (r == NULL || r->cancelled)
        return;
    r->cancelled = true;
    if (r->done)
        return; /* inside its own on_done: freed when that returns */
    if (r->c->depth == 0) {
        r->done = true;
        cl_req_free(r);
    } else {
        if (r->idle_ev)
            event_del(r->idle_ev);
        cl_kick_later(r->c);
    }
}

/* ------------------------------------------------------------------ */
/* http_fetch                                                         */

struct fetch_ctx {
    struct http_fetch_result *res;
    struct event_base *base;
    bool finished;
};

static int fx_response(void *ud, struct http_creq *r, long status)
{
    struct fetch_ctx *fx = ud;
    fx->res->status = status;
    const char *p = buf_used(&r->hlist) ? buf_head(&r->hlist) : NULL;
    const char *end = p ? p + buf_used(&r->hlist) : NULL;
    while (p != NULL && p < end) {
        const char *v = p + strlen(p) + 1;
        if (buf_printf(&fx->res->headers, "%s: %s\n", p, v) < 0)
            return 1;
        p = v + strlen(v) + 1;
    }
    return 0;
}

static int fx_event(void *ud, struct http_creq *r, const struct sse_event *ev)
{
    (void)r;
    struct fetch_ctx *fx = ud;
    if (buf_append(&fx->res->body, ev->data, ev->data_len) < 0 ||
        buf_append_char(&fx->res->body, '\n') < 0)
        return 1;
    return 0;
}

static void fx_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)r;
    struct fetch_ctx *fx = ud;
    fx->res->err = res->err;
    fx->res->status = res->status;
    snprintf(fx->res->message, sizeof(fx->res->message), "%s", res->message);
    if (res->body_len > 0 && buf_append(&fx->res->body, res->body, res->body_len) < 0 &&
        fx->res->err == HTTP_CE_OK)
        fx->res->err = HTTP_CE_TOO_LARGE;
    fx->finished = true;
    event_base_loopbreak(fx->base);
}

static const struct http_creq_cbs fx_cbs = {
    .on_response = fx_response,
    .on_event = fx_event,
    .on_done = fx_done,
};

int http_fetch(const struct http_creq_opts *o, const struct http_client_opts *co,
               struct http_fetch_result *res)
{
    memset(res, 0, sizeof(*res));
    buf_init(&res->body, o->max_body ? o->max_body : HTTP_CLIENT_DEFAULT_MAX_BODY);
    buf_init(&res->headers, o->max_head ? o->max_head * 2 : HTTP_CLIENT_DEFAULT_MAX_HEAD * 2);
    struct event_base *base = event_base_new();
    struct http_client *c = base ? http_client_new(base, co) : NULL;
    if (c == NULL) {
        res->err = HTTP_CE_IO;
        snprintf(res->message, sizeof(res->message), "cannot create an HTTP client");
        if (base)
            event_base_free(base);
        return -1;
    }
    struct fetch_ctx fx = {.res = res, .base = base};
    char err[200];
    struct http_creq *r = http_client_start(c, o, &fx_cbs, &fx, err, sizeof(err));
    if (r == NULL) {
        res->err = HTTP_CE_BAD_REQUEST;
        snprintf(res->message, sizeof(res->message), "%s", err);
    } else {
        while (!fx.finished && event_base_dispatch(base) == 0)
            ;
    }
    http_client_free(c);
    event_base_free(base);
    return res->err == HTTP_CE_OK && res->status > 0 ? 0 : -1;
}

const char *http_fetch_header(const struct http_fetch_result *res, const char *name, char *out,
                              size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = buf_used(&res->headers) ? buf_head(&res->headers) : NULL;
    const char *end = p ? p + buf_used(&res->headers) : NULL;
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && *v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= outsz)
                vl = outsz - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        p = eol + 1;
    }
    return NULL;
}

void http_fetch_result_free(struct http_fetch_result *res)
{
    if (res == NULL)
        return;
    buf_free(&res->body);
    buf_free(&res->headers);
}

/* ------------------------------------------------------------------ */
/* Reconnecting SSE stream                                            */

struct http_sse_stream {
    struct http_client *c;
    struct http_creq *cur;
    struct event *retry_ev;
    const struct http_sse_cbs *cbs;
    void *ud;
    struct http_creq_opts req;
    char *url;
    char **headers; /* NULL-terminated, copies + Accept + Last-Event-ID slot */
    size_t nheaders;
    char *ca_file;
    struct sse_limits sse_lim;
    bool has_sse_lim;
    char last_id[SSE_DEFAULT_MAX_ID + 1];
    uint32_t retry_initial_ms, retry_max_ms;
    double factor;
    unsigned max_retries;
    bool no_reconnect_on_end;
    unsigned failures;
    unsigned connections;
    int64_t server_retry;
    bool opened; /* the current connection answered 200 event-stream */
    bool closing;
};

static void ss_connect(struct http_sse_stream *s);

static void ss_close_final(struct http_sse_stream *s, enum http_cerr err, const char *msg,
                           long status)
{
    s->closing = true;
    if (s->cbs->on_closed != NULL) {
        struct http_cresult res = {.err = err, .message = msg, .status = status};
        s->cbs->on_closed(s->ud, &res);
    }
}

static int ss_response(void *ud, struct http_creq *r, long status)
{
    struct http_sse_stream *s = ud;
    bool opened = s->opened = status == 200 && http_creq_is_sse(r);
    if (opened)
        s->failures = 0;
    /* s is not touched after on_open (it may not close s, but it may stop). */
    if (s->cbs->on_open != NULL && s->cbs->on_open(s->ud, status) != 0)
        return 1;
    return opened ? 0 : 1;
}

static void ss_note_id(struct http_sse_stream *s, struct http_creq *r)
{
    size_t n;
    const char *id = http_creq_last_event_id(r, &n);
    if (n > 0 && n < sizeof(s->last_id)) {
        memcpy(s->last_id, id, n);
        s->last_id[n] = '\0';
    }
    int64_t rt = http_creq_retry_ms(r);
    if (rt >= 0)
        s->server_retry = rt;
}

static int ss_event(void *ud, struct http_creq *r, const struct sse_event *ev)
{
    struct http_sse_stream *s = ud;
    ss_note_id(s, r);
    if (s->cbs->on_event != NULL && s->cbs->on_event(s->ud, ev) != 0)
        return 1;
    return 0;
}

static void ss_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ss_connect(arg);
}

static void ss_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    struct http_sse_stream *s = ud;
    s->cur = NULL;
    ss_note_id(s, r);
    if (res->err == HTTP_CE_ABORTED && !s->opened) {
        /* Refused by the server (not 200 text/event-stream), or by on_open. */
        ss_close_final(s, HTTP_CE_ABORTED, "the server refused the event stream", res->status);
        return;
    }
    if (res->err == HTTP_CE_ABORTED || res->err == HTTP_CE_TOO_LARGE) {
        ss_close_final(s, res->err, res->message, res->status);
        return;
    }
    if (res->err == HTTP_CE_OK && s->opened && s->no_reconnect_on_end) {
        ss_close_final(s, HTTP_CE_OK, "the server ended the stream", res->status);
        return;
    }
    if (!s->opened)
        s->failures++;
    if (s->failures > s->max_retries) {
        ss_close_final(s, res->err != HTTP_CE_OK ? res->err : HTTP_CE_IO,
                       "giving up after repeated failures", res->status);
        return;
    }
    double delay = s->retry_initial_ms;
    if (s->server_retry >= 0) {
        delay = (double)s->server_retry;
    } else {
        for (unsigned i = 1; i < s->failures; i++)
            delay *= s->factor;
    }
    if (delay > s->retry_max_ms)
        delay = s->retry_max_ms;
    uint64_t ms = (uint64_t)delay;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    event_add(s->retry_ev, &tv);
}

static const struct http_creq_cbs ss_cbs = {
    .on_response = ss_response,
    .on_event = ss_event,
    .on_done = ss_done,
};

static int ss_start(struct http_sse_stream *s)
{
    char lei[SSE_DEFAULT_MAX_ID + 32];
    size_t n = s->nheaders;
    s->headers[n] = NULL;
    if (s->last_id[0] != '\0') {
        snprintf(lei, sizeof(lei), "Last-Event-ID: %s", s->last_id);
        s->headers[n] = lei;
        s->headers[n + 1] = NULL;
    }
    struct http_creq_opts o = s->req;
    o.method = "GET";
    o.url = s->url;
    o.headers = (const char *const *)s->headers;
    o.body = NULL;
    o.body_len = 0;
    o.ca_file = s->ca_file;
    o.sse = s->has_sse_lim ? &s->sse_lim : NULL;
    s->opened = false;
    char err[200];
    s->connections++;
    s->cur = http_client_start(s->c, &o, &ss_cbs, s, err, sizeof(err));
    s->headers[n] = NULL;
    return s->cur != NULL ? 0 : -1;
}

static void ss_connect(struct http_sse_stream *s)
{
    if (ss_start(s) < 0)
        ss_close_final(s, HTTP_CE_BAD_REQUEST, "cannot start the request", 0);
}

struct http_sse_stream *http_sse_open(struct http_client *c, const struct http_sse_opts *o,
                                      const struct http_sse_cbs *cbs, void *ud, char *err,
                                      size_t errlen)
{
    struct http_sse_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->c = c;
    s->cbs = cbs;
    s->ud = ud;
    s->req = o->req;
    s->server_retry = -1;
    s->retry_initial_ms = o->retry_initial_ms ? o->retry_initial_ms : 1000;
    s->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : 30000;
    s->factor = o->retry_factor >= 1.0 ? o->retry_factor : 1.5;
    s->max_retries = o->max_retries ? o->max_retries : 5;
    s->no_reconnect_on_end = o->no_reconnect_on_end;
    if (o->req.sse) {
        s->sse_lim = *o->req.sse;
        s->has_sse_lim = true;
    }
    if (o->last_event_id != NULL) {
        if (strlen(o->last_event_id) >= sizeof(s->last_id) || strpbrk(o->last_event_id, "\r\n")) {
            snprintf(err, errlen, "invalid last event id");
            free(s);
            return NULL;
        }
        snprintf(s->last_id, sizeof(s->last_id), "%s", o->last_event_id);
    }
    size_t nh = 0;
    for (const char *const *h = o->req.headers; h != NULL && *h != NULL; h++)
        nh++;
    s->headers = calloc(nh + 3, sizeof(char *));
    s->url = o->req.url ? strdup(o->req.url) : NULL;
    s->ca_file = o->req.ca_file ? strdup(o->req.ca_file) : NULL;
    s->retry_ev = event_new(c->base, -1, 0, ss_retry_cb, s);
    bool ok = s->headers != NULL && s->url != NULL && s->retry_ev != NULL &&
              (o->req.ca_file == NULL || s->ca_file != NULL);
    for (size_t i = 0; ok && i < nh; i++) {
        if ((s->headers[s->nheaders] = strdup(o->req.headers[i])) == NULL)
            ok = false;
        else
            s->nheaders++;
    }
    if (ok && (s->headers[s->nheaders] = strdup("Accept: text/event-stream")) == NULL)
        ok = false;
    else if (ok)
        s->nheaders++;
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        http_sse_close(s);
        return NULL;
    }
    if (ss_start(s) < 0) {
        snprintf(err, errlen, "cannot start the request");
        http_sse_close(s);
        return NULL;
    }
    return s;
}

void http_sse_close(struct http_sse_stream *s)
{
    if (s == NULL)
        return;
    if (s->cur != NULL)
        http_creq_cancel(s->cur);
    if (s->retry_ev)
        event_free(s->retry_ev);
    for (size_t i = 0; s->headers != NULL && i < s->nheaders; i++)
        free(s->headers[i]);
    free(s->headers);
    free(s->url);
    free(s->ca_file);
    free(s);
}

const char *http_sse_last_event_id(const struct http_sse_stream *s)
{
    return s->last_id;
}

unsigned http_sse_connections(const struct http_sse_stream *s)
{
    return s->connections;
}
