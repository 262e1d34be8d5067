/* The Streamable HTTP engine over raw sockets, with the test app of
 * tests/servers: sessions, headers the spec requires, JSON and SSE answers,
 * the standalone GET stream, Last-Event-ID replay, keep-alives, abandonment,
 * idle expiry, budgets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net.h"

#define INIT_JSON(v)                                                                               \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" v \
    "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw\",\"version\":\"1\"}}}"
#define INITIALIZED "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"
#define CALL(id, tool, args)                                                                       \
    "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"tools/call\",\"params\":{\"name\":\"" tool    \
    "\",\"arguments\":" args "}}"

static struct testapp_counts get_counts(struct tsrv *t)
{
    struct testapp_counts c;
    testapp_counts(t->app, &c);
    return c;
}

/* Waits until cond (over `k`, refreshed counts) holds; fails after ~10 s. */
#define WAIT_COUNTS(t, k, cond)                                                                    \
    do {                                                                                           \
        int n_ = 0;                                                                                \
        for (;;) {                                                                                 \
            (k) = get_counts(t);                                                                   \
            if ((cond) || ++n_ > 1000)                                                             \
                break;                                                                             \
            usleep(10000);                                                                         \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

static struct http_listener_opts lopts(void)
{
    struct http_listener_opts o = {.name = "mcp", .host = "127.0.0.1"};
    o.idle_timeout_ms = 10000;
    return o;
}

/* POSTs one message on a new connection; returns the status, c stays open. */
static int post(struct hcli *c, uint16_t port, const char *sid, const char *extra,
                const char *json)
{
    char *req = mcp_post(sid, extra, json);
    hcli_open(c, port);
    bool ok = hcli_sends(c, req) && hcli_head(c);
    free(req);
    return ok ? c->status : 0;
}

/* initialize + initialized; returns the session id (static buffer). */
static const char *open_session(uint16_t port, const char *version)
{
    static char sid[64];
    char body[512];
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw\","
             "\"version\":\"1\"}}}",
             version);
    struct hcli c;
    assert_int_equal(post(&c, port, NULL, NULL, body), 200);
    const char *h = hcli_header(&c, "Mcp-Session-Id");
    assert_non_null(h);
    snprintf(sid, sizeof(sid), "%s", h);
    assert_true(hcli_body_until(&c, NULL));
    hcli_close(&c);
    assert_int_equal(post(&c, port, sid, NULL, INITIALIZED), 202);
    hcli_close(&c);
    return sid;
}

static void assert_reason(const struct hcli *c, const char *reason)
{
    char want[128];
    snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
    if (c->body == NULL || strstr(c->body, want) == NULL)
        fail_msg("body %s lacks %s", c->body ? c->body : "(none)", want);
}

static void test_initialize_session_id(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {0};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    struct hcli c;
    assert_int_equal(post(&c, t.port, NULL, NULL, INIT_JSON("2025-11-25")), 200);
    assert_string_equal(hcli_header(&c, "Content-Type"), "application/json");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", hcli_header(&c, "Mcp-Session-Id"));
    assert_int_equal(strlen(sid), SHTTP_SESSION_ID_LEN);
    for (const char *p = sid; *p; p++)
        assert_true(*p >= 0x21 && *p <= 0x7e);
    assert_true(hcli_body_until(&c, NULL));
    assert_non_null(strstr(c.body, "\"protocolVersion\":\"2025-11-25\""));
    assert_non_null(strstr(c.body, "\"id\":1"));
    hcli_close(&c);
    /* Another session gets another id. */
    assert_int_equal(post(&c, t.port, NULL, NULL, INIT_JSON("2025-06-18")), 200);
    assert_string_not_equal(hcli_header(&c, "Mcp-Session-Id"), sid);
    hcli_close(&c);
    /* A request in the session. */
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("2", "echo", "{\"text\":\"hi\"}")), 200);
    assert_true(hcli_body_until(&c, NULL));
    assert_non_null(strstr(c.body, "\"text\":\"hi\""));
    assert_null(hcli_header(&c, "Mcp-Session-Id")); /* only on the initialize answer */
    hcli_close(&c);
    struct testapp_counts k = get_counts(&t);
    assert_int_equal(k.sessions_opened, 2);
    tsrv_stop(&t);
}

static void test_session_errors(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {0};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct hcli c;
    /* Missing session id: 400. */
    assert_int_equal(post(&c, t.port, NULL, NULL, CALL("3", "echo", "{}")), 400);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "session_required");
    hcli_close(&c);
    /* Forged ids: 404, whatever their shape. */
    const char *forged[] = {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", "0"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(post(&c, t.port, forged[i], NULL, CALL("3", "echo", "{}")), 404);
        assert_true(hcli_body_until(&c, NULL));
        assert_reason(&c, "session_not_found");
        hcli_close(&c);
    }
    /* Two Mcp-Session-Id headers: 400. */
    char extra[128];
    snprintf(extra, sizeof(extra), "Mcp-Session-Id: %s\r\n", sid);
    assert_int_equal(post(&c, t.port, sid, extra, CALL("3", "echo", "{}")), 400);
    hcli_close(&c);
    /* initialize inside a session: 400. */
    assert_int_equal(post(&c, t.port, sid, NULL, INIT_JSON("2025-11-25")), 400);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "session_exists");
    hcli_close(&c);
    /* DELETE ends it; then 404 for POST, GET and DELETE. */
    char req[256];
    snprintf(req, sizeof(req), "DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: %s\r\n\r\n",
             sid);
    assert_int_equal(hcli_request(&c, t.port, req), 200);
    hcli_close(&c);
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("4", "echo", "{}")), 404);
    hcli_close(&c);
    assert_int_equal(hcli_request(&c, t.port, req), 404);
    hcli_close(&c);
    snprintf(req, sizeof(req),
             "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
             "Mcp-Session-Id: %s\r\n\r\n",
             sid);
    assert_int_equal(hcli_request(&c, t.port, req), 404);
    hcli_close(&c);
    struct testapp_counts k = get_counts(&t);
    assert_int_equal(k.sessions_closed, 1);
    assert_string_equal(k.last_close_reason, "deleted");
    tsrv_stop(&t);
}

static void test_headers_required(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {0};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-06-18");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    static const struct {
        const char *accept;
        const char *ctype;
        int status;
        const char *reason;
    } cases[] = {
        {NULL, "application/json", 406, "not_acceptable"},
        {"application/json", "application/json", 406, "not_acceptable"},
        {"text/event-stream", "application/json", 406, "not_acceptable"},
        {"application/json;q=0, text/event-stream", "application/json", 406, "not_acceptable"},
        {"*/*", "application/json", 200, NULL},
        {"application/*, text/*", "application/json", 200, NULL},
        {"application/json, text/event-stream", "text/plain", 415, "unsupported_media_type"},
        {"application/json, text/event-stream", NULL, 415, "unsupported_media_type"},
        {"application/json, text/event-stream", "application/json; charset=latin1", 415,
         "unsupported_media_type"},
        {"application/json, text/event-stream", "Application/JSON; charset=\"UTF-8\"", 200, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[1024];
        const char *body = CALL("5", "echo", "{\"text\":\"x\"}");
        char acc[128] = "", ct[128] = "";
        if (cases[i].accept)
            snprintf(acc, sizeof(acc), "Accept: %s\r\n", cases[i].accept);
        if (cases[i].ctype)
            snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", cases[i].ctype);
        snprintf(req, sizeof(req),
                 "POST /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: %s\r\n%s%s"
                 "Content-Length: %zu\r\n\r\n%s",
                 sid, acc, ct, strlen(body), body);
        struct hcli c;
        int st = hcli_request(&c, t.port, req);
        if (st != cases[i].status)
            fail_msg("case %zu: %d, want %d (%s)", i, st, cases[i].status, c.body);
        if (cases[i].reason)
            assert_reason(&c, cases[i].reason);
        hcli_close(&c);
    }
    /* MCP-Protocol-Version: unknown 400; another published revision accepted
     * (the session keeps its negotiated version); absent ok. */
    struct hcli c;
    assert_int_equal(post(&c, t.port, sid, "MCP-Protocol-Version: 2024-01-01\r\n",
                          CALL("6", "echo", "{}")),
                     400);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "unsupported_protocol_version");
    hcli_close(&c);
    assert_int_equal(post(&c, t.port, sid, "MCP-Protocol-Version: 2025-03-26\r\n",
                          CALL("6", "echo", "{}")),
                     200);
    hcli_close(&c);
    assert_int_equal(post(&c, t.port, sid, "MCP-Protocol-Version: 2026-07-28\r\n",
                          CALL("6", "echo", "{}")),
                     400);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "unsupported_protocol_version");
    hcli_close(&c);
    assert_int_equal(post(&c, t.port, sid, "MCP-Protocol-Version: 2025-06-18\r\n",
                          CALL("6", "echo", "{}")),
                     200);
    hcli_close(&c);
    assert_int_equal(post(&c, t.port, NULL, "MCP-Protocol-Version: nope\r\n",
                          INIT_JSON("2025-11-25")),
                     400);
    hcli_close(&c);
    /* GET without text/event-stream in Accept: 406. */
    char req[256];
    snprintf(req, sizeof(req), "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                               "Mcp-Session-Id: %s\r\n\r\n",
             sid);
    assert_int_equal(hcli_request(&c, t.port, req), 406);
    hcli_close(&c);
    /* Other methods: 405 with Allow. */
    assert_int_equal(hcli_request(&c, t.port, "PUT /mcp HTTP/1.1\r\nHost: localhost\r\n"
                                              "Content-Length: 0\r\n\r\n"),
                     405);
    assert_string_equal(hcli_header(&c, "Allow"), "GET, POST, DELETE");
    hcli_close(&c);
    tsrv_stop(&t);
}

static void test_bad_messages(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {0};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    static const struct {
        const char *body;
        int code;
        const char *reason;
        const char *id; /* expected "id":.. in the error, or NULL for none */
    } cases[] = {
        {"[" CALL("1", "echo", "{}") "]", -32600, NULL, NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\"", -32700, NULL, NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"id\":8,\"method\":\"ping\"}", -32700, "duplicate_key",
         NULL},
        {"{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"ping\"}", -32600, NULL, "9"},
        {"", -32700, "empty_message", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcli c;
        assert_int_equal(post(&c, t.port, sid, NULL, cases[i].body), 400);
        assert_true(hcli_body_until(&c, NULL));
        char want[64];
        snprintf(want, sizeof(want), "\"code\":%d", cases[i].code);
        if (strstr(c.body, want) == NULL)
            fail_msg("case %zu: %s lacks %s", i, c.body, want);
        if (cases[i].reason)
            assert_reason(&c, cases[i].reason);
        if (cases[i].id) {
            snprintf(want, sizeof(want), "\"id\":%s", cases[i].id);
            assert_non_null(strstr(c.body, want));
        }
        hcli_close(&c);
    }
    /* Notifications: 202, no body. */
    struct hcli c;
    assert_int_equal(post(&c, t.port, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/roots/list_changed\"}"),
                     202);
    assert_true(hcli_body_until(&c, NULL));
    assert_int_equal(c.bodylen, 0);
    hcli_close(&c);
    /* A response to nothing the server asked: the app refuses it (400). */
    assert_int_equal(post(&c, t.port, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":\"srv-99\",\"result\":{}}"),
                     400);
    hcli_close(&c);
    tsrv_stop(&t);
}

/* The SSE body of a request stream: priming event, related messages, then the
 * response, then the end of the stream. */
static void test_sse_request_stream(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {0};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct hcli c;
    assert_int_equal(
        post(&c, t.port, sid, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"progress\",\"arguments\":{\"steps\":3},\"_meta\":{\"progressToken\":\"p1\"}}}"),
        200);
    assert_string_equal(hcli_header(&c, "Content-Type"), "text/event-stream");
    assert_string_equal(hcli_header(&c, "Cache-Control"), "no-cache");
    assert_true(c.chunked);
    assert_true(hcli_body_until(&c, NULL)); /* the stream ends after the response */
    const char *b = c.body;
    /* Priming event first: an id, a retry, empty data. */
    unsigned no = 0;
    assert_int_equal(sscanf(b, "id: %u-", &no), 1);
    char idpfx[32];
    snprintf(idpfx, sizeof(idpfx), "\nid: %u-", no);
    assert_non_null(strstr(b, "retry: 1000\ndata: \n\n"));
    const char *p1 = strstr(b, "\"progress\":1");
    const char *p3 = strstr(b, "\"progress\":3");
    const char *log = strstr(b, "notifications/message");
    const char *res = strstr(b, "\"id\":10,\"result\"");
    assert_non_null(p1);
    assert_non_null(p3);
    assert_non_null(log);
    assert_non_null(res);
    assert_true(p1 < p3 && p3 < log && log < res);
    /* Each event carries an id of this stream. */
    int ids = 0;
    for (const char *q = b; (q = strstr(q, idpfx)) != NULL; q++)
        ids++;
    assert_int_equal(ids, 5); /* 3 progress + 1 log + the response */
    hcli_close(&c);
    tsrv_stop(&t);
}

/* A server->client request on the request's stream, answered by a POST. */
static void test_server_request_roundtrip(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {0};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct hcli c;
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("11", "ask", "{\"message\":\"name?\"}")), 200);
    assert_true(hcli_body_until(&c, "elicitation/create"));
    assert_non_null(strstr(c.body, "\"id\":\"srv-1\""));
    struct hcli a;
    assert_int_equal(post(&a, t.port, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"result\":{\"action\":\"accept\","
                          "\"content\":{\"answer\":\"ada\"}}}"),
                     202);
    hcli_close(&a);
    assert_true(hcli_body_until(&c, NULL));
    assert_non_null(strstr(c.body, "accept: ada"));
    hcli_close(&c);
    tsrv_stop(&t);
}

/* GET stream: unsolicited messages, one connection at a time, replay with
 * Last-Event-ID, keep-alive comments. */
static void test_get_stream_and_replay(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {.keepalive_ms = 100};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    char get[256];
    snprintf(get, sizeof(get), "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
                               "Mcp-Session-Id: %s\r\n\r\n",
             sid);
    /* A message queued before any GET is delivered when the stream opens. */
    struct hcli c, x;
    assert_int_equal(post(&x, t.port, sid, NULL, CALL("20", "notify", "{\"text\":\"first\"}")), 200);
    hcli_close(&x);
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, get));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_string_equal(hcli_header(&c, "Content-Type"), "text/event-stream");
    assert_true(hcli_body_until(&c, "\"first\""));
    /* A second GET while one is open: 409. */
    assert_int_equal(hcli_request(&x, t.port, get), 409);
    hcli_close(&x);
    assert_int_equal(post(&x, t.port, sid, NULL, CALL("21", "notify", "{\"text\":\"second\"}")), 200);
    hcli_close(&x);
    assert_true(hcli_body_until(&c, "\"second\""));
    /* Keep-alive comments flow while nothing else does. */
    assert_true(hcli_body_until(&c, ": keepalive\n\n"));
    /* The id of the "first" event. */
    const char *f = strstr(c.body, "\"first\"");
    const char *idp = f;
    while (idp > c.body && strncmp(idp, "id: ", 4) != 0)
        idp--;
    char first_id[32];
    sscanf(idp + 4, "%31s", first_id);
    hcli_close(&c);
    /* Queued while disconnected. */
    assert_int_equal(post(&x, t.port, sid, NULL, CALL("22", "notify", "{\"text\":\"third\"}")), 200);
    hcli_close(&x);
    /* Resume after "first": "second" is replayed, "third" delivered, not "first". */
    char resume[384];
    snprintf(resume, sizeof(resume),
             "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
             "Mcp-Session-Id: %s\r\nLast-Event-ID: %s\r\n\r\n",
             sid, first_id);
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, resume));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, "\"third\""));
    assert_non_null(strstr(c.body, "\"second\""));
    assert_null(strstr(c.body, "\"first\""));
    assert_true(strstr(c.body, "\"second\"") < strstr(c.body, "\"third\""));
    hcli_close(&c);
    /* Resuming from an id that does not exist: 400. */
    snprintf(resume, sizeof(resume),
             "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
             "Mcp-Session-Id: %s\r\nLast-Event-ID: 99-1\r\n\r\n",
             sid);
    assert_int_equal(hcli_request(&c, t.port, resume), 400);
    assert_reason(&c, "resume_unavailable");
    hcli_close(&c);
    tsrv_stop(&t);
}

/* A client that goes away: a JSON-mode request is abandoned at once; an SSE
 * one after the resume grace, unless the client resumes it in time. */
static void test_abandon_and_resume(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {.sse_after_ms = UINT32_MAX, .resume_grace_ms = 300};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct testapp_counts k;
    /* JSON mode (nothing sent yet): abandoned as soon as the client leaves. */
    struct hcli c;
    char *req = mcp_post(sid, NULL, CALL("30", "slow", "{}"));
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, req));
    free(req);
    WAIT_COUNTS(&t, k, k.messages >= 3);
    hcli_close(&c);
    WAIT_COUNTS(&t, k, k.abandoned == 1);
    assert_string_equal(k.last_abandoned_id, "n:30");
    tsrv_stop(&t);

    /* SSE mode: the stream survives a broken connection for the grace. */
    so.sse_always = true;
    so.resume_grace_ms = 5000;
    tsrv_start(&t, &lo, &so, NULL, NULL);
    sid0 = open_session(t.port, "2025-11-25");
    snprintf(sid, sizeof(sid), "%s", sid0);
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("31", "ask", "{\"message\":\"q\"}")), 200);
    assert_true(hcli_body_until(&c, "elicitation/create"));
    char prime[32];
    sscanf(c.body + 4, "%31s", prime); /* "id: <prime>" */
    hcli_close(&c);
    usleep(100000);
    k = get_counts(&t);
    assert_int_equal(k.abandoned, 0);
    /* The client answers the elicitation, then resumes the stream. */
    struct hcli a;
    assert_int_equal(post(&a, t.port, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"result\":{\"action\":\"accept\","
                          "\"content\":{\"answer\":\"late\"}}}"),
                     202);
    hcli_close(&a);
    char resume[384];
    snprintf(resume, sizeof(resume),
             "GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
             "Mcp-Session-Id: %s\r\nLast-Event-ID: %s\r\n\r\n",
             sid, prime);
    hcli_open(&c, t.port);
    assert_true(hcli_sends(&c, resume));
    assert_true(hcli_head(&c));
    assert_int_equal(c.status, 200);
    assert_true(hcli_body_until(&c, NULL)); /* replay, then the response, then the end */
    assert_non_null(strstr(c.body, "elicitation/create"));
    assert_non_null(strstr(c.body, "accept: late"));
    hcli_close(&c);
    k = get_counts(&t);
    assert_int_equal(k.abandoned, 0);
    tsrv_stop(&t);

    /* Not resumed within the grace: abandoned. */
    so.resume_grace_ms = 200;
    tsrv_start(&t, &lo, &so, NULL, NULL);
    sid0 = open_session(t.port, "2025-11-25");
    snprintf(sid, sizeof(sid), "%s", sid0);
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("32", "slow", "{}")), 200);
    assert_true(hcli_body_until(&c, "data: \n\n")); /* the priming event */
    hcli_close(&c);
    WAIT_COUNTS(&t, k, k.abandoned == 1);
    assert_string_equal(k.last_abandoned_id, "n:32");
    tsrv_stop(&t);
}

/* A JSON-mode request still pending after sse_after_ms becomes an SSE stream
 * (so it gets keep-alives); a cancelled request's stream just ends. */
static void test_upgrade_and_cancel(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {.sse_after_ms = 100, .keepalive_ms = 100};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct hcli c;
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("40", "slow", "{}")), 200);
    assert_string_equal(hcli_header(&c, "Content-Type"), "text/event-stream");
    assert_true(hcli_body_until(&c, ": keepalive\n\n"));
    struct hcli x;
    assert_int_equal(post(&x, t.port, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                          "\"requestId\":40}}"),
                     202);
    hcli_close(&x);
    assert_true(hcli_body_until(&c, NULL)); /* the stream ends, without a response */
    assert_null(strstr(c.body, "\"id\":40"));
    hcli_close(&c);
    struct testapp_counts k = get_counts(&t);
    assert_int_equal(k.cancelled, 1);
    assert_int_equal(k.abandoned, 0);
    tsrv_stop(&t);
}

static void test_idle_expiry(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {.session_idle_ms = 200};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct testapp_counts k;
    WAIT_COUNTS(&t, k, k.sessions_closed == 1);
    assert_string_equal(k.last_close_reason, "expired");
    struct hcli c;
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("50", "echo", "{}")), 404);
    hcli_close(&c);
    tsrv_stop(&t);
}

static void test_limits(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    struct shttp_opts so = {.max_inflight = 2, .max_sessions = 2, .sse_after_ms = UINT32_MAX};
    tsrv_start(&t, &lo, &so, NULL, NULL);
    const char *sid0 = open_session(t.port, "2025-11-25");
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", sid0);
    struct hcli a, b, c;
    char *r1 = mcp_post(sid, NULL, CALL("60", "slow", "{}"));
    char *r2 = mcp_post(sid, NULL, CALL("61", "slow", "{}"));
    hcli_open(&a, t.port);
    hcli_open(&b, t.port);
    assert_true(hcli_sends(&a, r1));
    struct testapp_counts k;
    WAIT_COUNTS(&t, k, k.messages >= 3);
    /* The same id again while it is in flight: 400. */
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("60", "echo", "{}")), 400);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "duplicate_request_id");
    hcli_close(&c);
    assert_true(hcli_sends(&b, r2));
    WAIT_COUNTS(&t, k, k.messages >= 4);
    /* A third request in flight: 429. */
    assert_int_equal(post(&c, t.port, sid, NULL, CALL("62", "echo", "{}")), 429);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "too_many_requests");
    assert_non_null(strstr(c.body, "\"id\":62"));
    hcli_close(&c);
    free(r1);
    free(r2);
    hcli_close(&a);
    hcli_close(&b);
    /* Sessions: the second fits, the third does not. */
    open_session(t.port, "2025-11-25");
    assert_int_equal(post(&c, t.port, NULL, NULL, INIT_JSON("2025-11-25")), 503);
    assert_true(hcli_body_until(&c, NULL));
    assert_reason(&c, "too_many_sessions");
    hcli_close(&c);
    tsrv_stop(&t);
}

/* Unsolicited messages with no GET stream open are bounded by the session's
 * byte budget: past it, shttp_session_send() refuses instead of buffering. */
struct budget {
    int ok, full;
};

static struct shttp_session *g_session;

static int cap_open(void *app, struct shttp_session *s, struct http_request *req,
                    const struct rpc_msg *init, void **ud)
{
    (void)app;
    (void)req;
    (void)init;
    g_session = s;
    *ud = NULL;
    return 0;
}
static void cap_close(void *app, void *ud, enum shttp_close_reason why)
{
    (void)app;
    (void)ud;
    (void)why;
    g_session = NULL;
}
static int cap_msg(void *app, void *ud, struct http_request *req, const struct rpc_msg *m,
                   const char *raw, size_t rawlen, struct shttp_stream *st)
{
    (void)app;
    (void)ud;
    (void)req;
    (void)raw;
    (void)rawlen;
    if (st != NULL) {
        const char *res = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":"
                          "\"2025-11-25\",\"capabilities\":{},\"serverInfo\":{\"name\":\"c\","
                          "\"version\":\"1\"}}}";
        (void)m;
        shttp_stream_respond(st, res, strlen(res));
    }
    return 0;
}
static const struct shttp_app_ops cap_ops = {cap_open, cap_close, cap_msg, NULL};
static struct shttp_server *g_cap;

static void cap_setup(struct tsrv *t, void *arg)
{
    (void)arg;
    char err[128];
    struct shttp_opts o = {.max_session_bytes = 4096, .replay_events = 1000};
    g_cap = shttp_server_new(t->l, &o, &cap_ops, NULL, err, sizeof(err));
    assert_non_null(g_cap);
}

static void cap_fill(struct tsrv *t, void *arg)
{
    (void)t;
    struct budget *b = arg;
    char msg[200];
    memset(msg, ' ', sizeof(msg));
    memcpy(msg, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}", 50);
    for (int i = 0; i < 100; i++) {
        int rc = shttp_session_send(g_session, msg, sizeof(msg));
        if (rc == SHTTP_OK)
            b->ok++;
        else if (rc == SHTTP_EFULL)
            b->full++;
    }
}

static void cap_free(struct tsrv *t, void *arg)
{
    (void)t;
    (void)arg;
    shttp_server_free(g_cap);
    g_cap = NULL;
}

static void test_session_budget(void **state)
{
    (void)state;
    struct tsrv t;
    struct http_listener_opts lo = lopts();
    tsrv_start(&t, &lo, NULL, cap_setup, NULL);
    struct hcli c;
    assert_int_equal(post(&c, t.port, NULL, NULL, INIT_JSON("2025-11-25")), 200);
    hcli_close(&c);
    struct budget b = {0};
    tsrv_call(&t, cap_fill, &b);
    assert_true(b.ok > 5 && b.ok < 20); /* 4096 bytes hold about 18 events of ~220 bytes */
    assert_int_equal(b.ok + b.full, 100);
    tsrv_call(&t, cap_free, NULL);
    /* The route is gone with the server. */
    assert_int_equal(post(&c, t.port, NULL, NULL, INIT_JSON("2025-11-25")), 404);
    hcli_close(&c);
    tsrv_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialize_session_id),
        cmocka_unit_test(test_session_errors),
        cmocka_unit_test(test_headers_required),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_sse_request_stream),
        cmocka_unit_test(test_server_request_roundtrip),
        cmocka_unit_test(test_get_stream_and_replay),
        cmocka_unit_test(test_abandon_and_resume),
        cmocka_unit_test(test_upgrade_and_cancel),
        cmocka_unit_test(test_idle_expiry),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_session_budget),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
