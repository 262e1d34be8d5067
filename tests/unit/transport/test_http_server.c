/* The HTTP listener over real loopback sockets: strict checks, deadlines
 * (slow clients cut off), Host/Origin, routes, auth hook, counters, keep-alive
 * and pipelining, streaming and client disconnects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net.h"

/* ---- routes used by the tests (run on the loop thread) ---- */

struct state {
    int closes;        /* close callbacks seen */
    int identity_frees;
    struct http_request *held;
    struct http_request *pending_auth;
    char seen_identity[64];
    int observed;
    int observed_last_status;
    bool observed_aborted;
    int stream_refused; /* http_stream_write returned -1 */
    size_t stream_written;
    size_t stream_max_pending;
};
static struct state S;

static void h_echo(void *ud, struct http_request *r)
{
    (void)ud;
    size_t n;
    const char *b = http_request_body(r, &n);
    char out[512];
    const char *id = http_request_identity(r);
    snprintf(out, sizeof(out), "{\"method\":\"%s\",\"len\":%zu,\"identity\":\"%s\",\"q\":\"%s\"}",
             http_request_method_name(r), n, id ? id : "", http_request_query(r) ? http_request_query(r) : "");
    (void)b;
    http_reply(r, 200, NULL, 0, "application/json", out, strlen(out));
}

static void on_close(void *arg, struct http_request *r)
{
    (void)arg;
    (void)r;
    S.closes++;
    if (S.held == r)
        S.held = NULL;
}

static void h_hold(void *ud, struct http_request *r)
{
    (void)ud;
    S.held = r;
    http_request_on_close(r, on_close, NULL);
}

/* Streams 64 KiB pieces whenever the output drains, until the writer
 * refuses; records the most bytes ever waiting. */
static void stream_more(void *arg, struct http_request *r)
{
    (void)arg;
    static char piece[64 * 1024];
    memset(piece, 'z', sizeof(piece));
    for (;;) {
        if (http_stream_write(r, piece, sizeof(piece)) < 0) {
            S.stream_refused++;
            return;
        }
        S.stream_written += sizeof(piece);
        size_t p = http_stream_pending(r);
        if (p > S.stream_max_pending)
            S.stream_max_pending = p;
    }
}

static void h_stream(void *ud, struct http_request *r)
{
    (void)ud;
    http_request_on_close(r, on_close, NULL);
    S.held = r;
    http_stream_begin(r, 200, NULL, 0, "application/octet-stream");
    http_stream_on_drain(r, stream_more, NULL);
    stream_more(NULL, r);
}

static int h_health(void *ud, struct buf *body, const char **ctype)
{
    (void)ud;
    *ctype = "text/plain; charset=utf-8";
    buf_append_str(body, "ok\n");
    return 200;
}

static void ident_free(void *p)
{
    S.identity_frees++;
    free(p);
}

static enum http_auth_verdict auth(void *ud, struct http_request *r)
{
    (void)ud;
    const char *tok = http_request_header(r, "Authorization");
    if (tok != NULL && strcmp(tok, "Bearer good") == 0) {
        http_request_set_identity(r, strdup("alice"), ident_free, "alice");
        return HTTP_AUTH_ALLOW;
    }
    if (tok != NULL && strcmp(tok, "Bearer later") == 0) {
        S.pending_auth = r;
        http_request_on_close(r, on_close, NULL);
        return HTTP_AUTH_PENDING;
    }
    struct http_header h = {"WWW-Authenticate", "Bearer realm=\"mcp\""};
    http_reply_error(r, 401, &h, 1, NULL, -32001, "authentication required", "unauthenticated");
    return HTTP_AUTH_DENY;
}

static void resume_auth(struct tsrv *t, void *arg)
{
    (void)t;
    (void)arg;
    struct http_request *r = S.pending_auth;
    S.pending_auth = NULL;
    http_request_on_close(r, NULL, NULL);
    http_request_set_identity(r, strdup("bob"), ident_free, "bob");
    http_request_auth_done(r, true);
}

static void observe(void *ud, const struct http_request_info *info)
{
    (void)ud;
    S.observed++;
    S.observed_last_status = info->status;
    S.observed_aborted = info->aborted;
}

static void setup_routes(struct tsrv *t, void *arg)
{
    (void)arg;
    memset(&S, 0, sizeof(S));
    assert_int_equal(http_listener_route(t->l, "/echo", HTTP_GET | HTTP_POST, false, h_echo, NULL), 0);
    assert_int_equal(http_listener_route(t->l, "/echo", HTTP_GET, false, h_echo, NULL), -1);
    assert_int_equal(http_listener_route(t->l, "/auth", HTTP_GET, true, h_echo, NULL), 0);
    assert_int_equal(http_listener_route(t->l, "/hold", HTTP_GET, false, h_hold, NULL), 0);
    assert_int_equal(http_listener_route(t->l, "/stream", HTTP_GET, false, h_stream, NULL), 0);
    assert_int_equal(http_listener_route_simple(t->l, "/healthz", false, h_health, NULL), 0);
    http_listener_set_auth(t->l, auth, NULL);
    http_listener_set_observer(t->l, observe, NULL);
}

static void get_state(struct tsrv *t, void *arg)
{
    (void)t;
    *(struct state *)arg = S;
}

static struct http_listener_opts base_opts(void)
{
    struct http_listener_opts o = {.name = "t", .host = "127.0.0.1"};
    o.header_timeout_ms = 400;
    o.body_timeout_ms = 400;
    o.idle_timeout_ms = 5000;
    o.max_body = 1000;
    return o;
}

/* Polls the handlers' state until cond holds (fails the test after ~10 s). */
#define WAIT_UNTIL(t, s, cond)                                                                     \
    do {                                                                                           \
        int n_ = 0;                                                                                \
        do {                                                                                       \
            usleep(10000);                                                                         \
            tsrv_call((t), get_state, &(s));                                                       \
        } while (!(cond) && ++n_ < 1000);                                                          \
        assert_true(cond);                                                                         \
    } while (0)

/* ---- tests ---- */

static void assert_json_reason(const struct hcli *c, const char *reason)
{
    char want[128];
    snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
    if (c->body == NULL || strstr(c->body, want) == NULL)
        fail_msg("body %s lacks %s", c->body ? c->body : "(none)", want);
    assert_non_null(strstr(c->body, "\"jsonrpc\":\"2.0\""));
    assert_null(strstr(c->body, "\"id\""));
    const char *ct = hcli_header(c, "Content-Type");
    assert_non_null(ct);
    assert_string_equal(ct, "application/json");
}

static void test_strict_refusals(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    static const struct {
        const char *req;
        int status;
        const char *reason;
    } cases[] = {
        {"GET /echo HTTP/1.1\nHost: 127.0.0.1\n\n", 400, "bare_lf"},
        {"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate_host"},
        {"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400, "content_length_with_transfer_encoding"},
        {"BREW /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501, "method_not_implemented"},
        {"GET /echo HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n", 505, "http_version_not_supported"},
        {"GET http://127.0.0.1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "bad_target"},
        {"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n", 413,
         "body_too_large"},
        {"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFF\r\n",
         413, "body_too_large"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcli c;
        int st = hcli_request(&c, t.port, cases[i].req);
        if (st != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, st, cases[i].status);
        assert_json_reason(&c, cases[i].reason);
        /* The transport closes after refusing a request. */
        assert_string_equal(hcli_header(&c, "Connection"), "close");
        assert_true(hcli_wait_closed(&c));
        hcli_close(&c);
    }
    struct http_counters ctr;
    tsrv_counters(&t, &ctr);
    assert_int_equal(ctr.rejected_size, 2);
    assert_int_equal(ctr.rejected_syntax, 6);
    assert_int_equal(ctr.status[4], 6);
    assert_int_equal(ctr.status[5], 2);
    tsrv_stop(&t);
}

/* A 413 for an oversize Content-Length comes before the client sends the
 * body: the server does not read what it will not accept. */
static void test_oversize_refused_before_body(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                               "5000000\r\n\r\n"));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 413);
    assert_true(hcli_body_until(&c, NULL));
    assert_json_reason(&c, "body_too_large");
    hcli_close(&c);
    tsrv_stop(&t);
}

/* One byte every 40 ms never trips evhttp's idle timeout (5 s here), but the
 * whole head must arrive within header_timeout_ms (400 ms): the client is
 * cut off with 408 long before it finishes. */
static void test_slow_head_cut_off(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    hcli_open(&c, t.port);
    const char *req = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "\r\n\r\n";
    size_t sent = 0;
    for (; sent < strlen(req); sent++) {
        if (!hcli_send(&c, req + sent, 1))
            break;
        usleep(40000);
        struct http_counters ctr;
        tsrv_counters(&t, &ctr);
        if (ctr.rejected_timeout > 0)
            break;
    }
    assert_true(sent < strlen(req));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 408);
    assert_true(hcli_body_until(&c, NULL));
    assert_json_reason(&c, "header_timeout");
    assert_true(hcli_wait_closed(&c));
    hcli_close(&c);
    tsrv_stop(&t);
}

static void test_slow_body_cut_off(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                               "200\r\n\r\n"));
    size_t sent = 0;
    for (; sent < 200; sent++) {
        if (!hcli_send(&c, "b", 1))
            break;
        usleep(40000);
        struct http_counters ctr;
        tsrv_counters(&t, &ctr);
        if (ctr.rejected_timeout > 0)
            break;
    }
    assert_true(sent < 200);
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 408);
    assert_true(hcli_body_until(&c, NULL));
    assert_json_reason(&c, "body_timeout");
    hcli_close(&c);
    /* A client that connects and says nothing is cut the same way. */
    hcli_open(&c, t.port);
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 408);
    hcli_close(&c);
    tsrv_stop(&t);
}

/* Keep-alive: several requests on one connection, pipelined ones answered in
 * order, and an idle connection closed after idle_timeout_ms. */
static void test_keepalive_pipelining_idle(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    o.idle_timeout_ms = 300;
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "GET /echo?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                               "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nabcd"
                               "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, NULL));
    assert_non_null(strstr(c.body, "\"method\":\"GET\""));
    assert_non_null(strstr(c.body, "\"q\":\"a=1\""));
    hcli_next(&c);
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, NULL));
    assert_non_null(strstr(c.body, "\"len\":4"));
    hcli_next(&c);
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, NULL));
    assert_string_equal(c.body, "ok\n");
    /* Idle now: the server closes the connection. */
    assert_true(hcli_wait_closed(&c));
    hcli_close(&c);
    /* Connection: close is honoured and the answer is not lost. */
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                               "close\r\n\r\nGET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, NULL));
    assert_string_equal(c.body, "ok\n");
    assert_true(hcli_wait_closed(&c)); /* the second request is not served */
    hcli_close(&c);
    tsrv_stop(&t);
}

/* Copies tmpl with "%u" replaced by the port. */
static void subst_port(const char *tmpl, unsigned port, char *out, size_t n)
{
    const char *p = strstr(tmpl, "%u");
    if (p == NULL) {
        snprintf(out, n, "%s", tmpl);
        return;
    }
    snprintf(out, n, "%.*s%u%s", (int)(p - tmpl), tmpl, port, p + 2);
}

static void test_host_origin(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    const char *origins[] = {"https://app.example.com", NULL};
    o.allowed_origins = origins;
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    char req[512];
    static const struct {
        const char *host;
        const char *origin;
        int status;
        const char *reason;
    } cases[] = {
        {"127.0.0.1", NULL, 200, NULL},
        {"localhost:%u", NULL, 200, NULL},
        {"[::1]:%u", NULL, 200, NULL},
        {"LOCALHOST", NULL, 200, NULL},
        {"evil.example.com", NULL, 403, "host_not_allowed"},
        {"evil.example.com:%u", "http://evil.example.com:%u", 403, "host_not_allowed"},
        {"127.0.0.1.nip.io", NULL, 403, "host_not_allowed"},
        {"localhost:%u", "http://localhost:%u", 200, NULL},
        {"localhost:%u", "http://localhost:1", 403, "origin_not_allowed"},
        {"localhost:%u", "https://localhost:%u", 403, "origin_not_allowed"},
        {"localhost:%u", "http://evil.example.com", 403, "origin_not_allowed"},
        {"localhost:%u", "null", 403, "origin_not_allowed"},
        {"localhost:%u", "https://app.example.com", 200, NULL},
        {"localhost:%u", "https://app.example.com:443", 200, NULL},
        {"localhost:%u", "http://app.example.com", 403, "origin_not_allowed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[128], origin[160] = "";
        subst_port(cases[i].host, t.port, host, sizeof(host));
        if (cases[i].origin) {
            char ov[128];
            subst_port(cases[i].origin, t.port, ov, sizeof(ov));
            snprintf(origin, sizeof(origin), "Origin: %s\r\n", ov);
        }
        snprintf(req, sizeof(req), "GET /echo HTTP/1.1\r\nHost: %s\r\n%s\r\n", host, origin);
        struct hcli c;
        int st = hcli_request(&c, t.port, req);
        if (st != cases[i].status)
            fail_msg("case %zu (%s / %s): %d, want %d", i, host, origin, st, cases[i].status);
        if (cases[i].reason)
            assert_json_reason(&c, cases[i].reason);
        hcli_close(&c);
    }
    struct hcli c;
    snprintf(req, sizeof(req), "GET /echo HTTP/1.1\r\nHost: localhost\r\nOrigin: "
                               "https://app.example.com\r\nOrigin: http://x\r\n\r\n");
    assert_int_equal(hcli_request(&c, t.port, req), 403);
    hcli_close(&c);
    struct http_counters ctr;
    tsrv_counters(&t, &ctr);
    assert_int_equal(ctr.rejected_host, 3);
    assert_int_equal(ctr.rejected_origin, 6);
    tsrv_stop(&t);
}

static void test_listener_options(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct http_server *hs = http_server_new(base);
    char err[256] = "";
    struct http_listener_opts o = {.host = "0.0.0.0"};
    assert_null(http_listener_new(hs, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "allowed_hosts must be set"));
    const char *any[] = {"*", NULL};
    o.allowed_hosts = any;
    struct http_listener *l = http_listener_new(hs, &o, err, sizeof(err));
    assert_non_null(l);
    assert_true(http_listener_port(l) > 0);
    struct http_listener_opts t1 = {.tls_cert_file = "/nonexistent.pem"};
    assert_null(http_listener_new(hs, &t1, err, sizeof(err)));
    assert_non_null(strstr(err, "both a certificate and a key"));
    struct http_listener_opts t2 = {.tls_cert_file = "/nonexistent.pem", .tls_key_file = "/x"};
    assert_null(http_listener_new(hs, &t2, err, sizeof(err)));
    assert_non_null(strstr(err, "certificate chain"));
    const char *bad[] = {"ftp://x", NULL};
    struct http_listener_opts t3 = {.allowed_origins = bad};
    assert_null(http_listener_new(hs, &t3, err, sizeof(err)));
    assert_non_null(strstr(err, "allowed origin"));
    http_server_free(hs);
    event_base_free(base);
}

static void test_routes_methods(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    assert_int_equal(hcli_request(&c, t.port, "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                     404);
    assert_json_reason(&c, "not_found");
    hcli_close(&c);
    assert_int_equal(hcli_request(&c, t.port, "DELETE /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                     405);
    assert_string_equal(hcli_header(&c, "Allow"), "GET, POST");
    assert_json_reason(&c, "method_not_allowed");
    hcli_close(&c);
    assert_int_equal(hcli_request(&c, t.port, "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Content-Length: 0\r\n\r\n"),
                     405);
    assert_string_equal(hcli_header(&c, "Allow"), "GET, HEAD");
    hcli_close(&c);
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_string_equal(hcli_header(&c, "X-Content-Type-Options"), "nosniff");
    hcli_close(&c);
    tsrv_stop(&t);
}

static void test_auth_hook(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    assert_int_equal(hcli_request(&c, t.port, "GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                     401);
    assert_string_equal(hcli_header(&c, "WWW-Authenticate"), "Bearer realm=\"mcp\"");
    assert_non_null(strstr(c.body, "\"code\":-32001"));
    hcli_close(&c);
    assert_int_equal(hcli_request(&c, t.port, "GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Authorization: Bearer good\r\n\r\n"),
                     200);
    assert_non_null(strstr(c.body, "\"identity\":\"alice\""));
    hcli_close(&c);
    /* Routes without auth=true do not run the hook. */
    assert_int_equal(hcli_request(&c, t.port, "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                     200);
    hcli_close(&c);
    /* Pending: the hook answers later (a JWKS fetch, say). */
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Authorization: Bearer later\r\n\r\n"));
    struct state s;
    WAIT_UNTIL(&t, s, !(s.pending_auth == NULL));
    tsrv_call(&t, resume_auth, NULL);
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, NULL));
    assert_non_null(strstr(c.body, "\"identity\":\"bob\""));
    hcli_close(&c);
    /* A client that leaves while its authentication is pending is reported. */
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Authorization: Bearer later\r\n\r\n"));
    WAIT_UNTIL(&t, s, !(s.pending_auth == NULL));
    hcli_close(&c);
    WAIT_UNTIL(&t, s, !(s.closes == 0));
    struct http_counters ctr;
    tsrv_counters(&t, &ctr);
    assert_int_equal(ctr.rejected_auth, 1);
    assert_int_equal(ctr.client_aborts, 1);
    tsrv_stop(&t);
    assert_int_equal(S.identity_frees, 2);
}

/* A handler holding a request learns when the client goes away. */
static void test_client_gone(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, "GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    struct state s;
    WAIT_UNTIL(&t, s, !(s.held == NULL));
    hcli_close(&c);
    WAIT_UNTIL(&t, s, !(s.closes == 0));
    assert_null(s.held);
    assert_true(s.observed_aborted);
    assert_int_equal(s.observed_last_status, 0);
    tsrv_stop(&t);
}

/* A client that does not read: writes are refused past max_output (no
 * unbounded buffering), and the stalled connection is cut by the write
 * timeout. */
static void test_backpressure(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    o.max_output = 256 * 1024;
    o.idle_timeout_ms = 500;
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    hcli_open(&c, t.port);
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    assert_true(hcli_sends(&c, "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    struct state s;
    WAIT_UNTIL(&t, s, !(s.stream_refused == 0));
    /* Never read: the stalled write times out and the handler is told. */
    WAIT_UNTIL(&t, s, !(s.closes == 0));
    assert_true(s.stream_max_pending <= 256 * 1024);
    assert_true(s.stream_written > 0);
    hcli_close(&c);
    tsrv_stop(&t);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    o.max_connections = 2;
    o.header_timeout_ms = 5000;
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli a, b, c;
    hcli_open(&a, t.port);
    hcli_open(&b, t.port);
    hcli_open(&c, t.port);
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 503);
    assert_true(hcli_body_until(&c, NULL));
    assert_json_reason(&c, "too_many_connections");
    hcli_close(&c);
    assert_true(hcli_sends(&a, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    assert_true(hcli_head(&a));
    assert_int_equal(a.status, 200);
    hcli_close(&a);
    hcli_close(&b);
    struct http_counters ctr;
    tsrv_counters(&t, &ctr);
    assert_int_equal(ctr.connections_refused, 1);
    tsrv_stop(&t);
}

static void test_counters_observer(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_routes, NULL);
    struct hcli c;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hcli_request(&c, t.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                         200);
        hcli_close(&c);
    }
    assert_int_equal(hcli_request(&c, t.port, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 404);
    hcli_close(&c);
    struct http_counters ctr;
    tsrv_counters(&t, &ctr);
    assert_int_equal(ctr.requests, 4);
    assert_int_equal(ctr.status[2], 3);
    assert_int_equal(ctr.status[4], 1);
    assert_true(ctr.bytes_in > 4 * 30);
    assert_true(ctr.bytes_out > 4 * 100);
    assert_int_equal(ctr.connections_accepted, 4);
    struct state s;
    WAIT_UNTIL(&t, s, !(s.observed < 4));
    assert_int_equal(s.observed_last_status, 404);
    tsrv_stop(&t);
}

/* Two listeners on one loop (the gateway's public and admin ports): each
 * serves its own routes, and each counts for itself. */
static struct http_listener *g_admin;

static int h_metrics(void *ud, struct buf *body, const char **ctype)
{
    (void)ud;
    *ctype = "text/plain; version=0.0.4";
    buf_append_str(body, "mcpwall_up 1\n");
    return 200;
}

static void setup_two(struct tsrv *t, void *arg)
{
    setup_routes(t, arg);
    char err[128];
    struct http_listener_opts a = {.name = "admin", .host = "127.0.0.1"};
    g_admin = http_listener_new(t->hs, &a, err, sizeof(err));
    assert_non_null(g_admin);
    assert_string_equal(http_listener_name(g_admin), "admin");
    assert_int_equal(http_listener_route_simple(g_admin, "/metrics", false, h_metrics, NULL), 0);
}

static void admin_counters(struct tsrv *t, void *arg)
{
    (void)t;
    *(struct http_counters *)arg = *http_listener_counters(g_admin);
}

static void test_two_listeners(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts o = base_opts();
    tsrv_start(&t, &o, NULL, setup_two, NULL);
    uint16_t ap = http_listener_port(g_admin);
    assert_true(ap != t.port);
    struct hcli c;
    assert_int_equal(hcli_request(&c, ap, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
    assert_string_equal(c.body, "mcpwall_up 1\n");
    assert_string_equal(hcli_header(&c, "Content-Type"), "text/plain; version=0.0.4");
    hcli_close(&c);
    assert_int_equal(hcli_request(&c, ap, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 404);
    hcli_close(&c);
    assert_int_equal(hcli_request(&c, t.port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                     404);
    hcli_close(&c);
    /* Host protection applies to the admin port too. */
    assert_int_equal(hcli_request(&c, ap, "GET /metrics HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
                     403);
    hcli_close(&c);
    struct http_counters pub, adm;
    tsrv_counters(&t, &pub);
    tsrv_call(&t, admin_counters, &adm);
    assert_int_equal(adm.requests, 3);
    assert_int_equal(adm.rejected_host, 1);
    assert_int_equal(pub.requests, 1);
    tsrv_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_refusals),
        cmocka_unit_test(test_oversize_refused_before_body),
        cmocka_unit_test(test_slow_head_cut_off),
        cmocka_unit_test(test_slow_body_cut_off),
        cmocka_unit_test(test_keepalive_pipelining_idle),
        cmocka_unit_test(test_host_origin),
        cmocka_unit_test(test_listener_options),
        cmocka_unit_test(test_routes_methods),
        cmocka_unit_test(test_auth_hook),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_counters_observer),
        cmocka_unit_test(test_two_listeners),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
