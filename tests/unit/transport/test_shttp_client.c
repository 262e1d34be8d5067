/* The MCP Streamable HTTP client session against our server (test app) on
 * the same loop: handshake, JSON and SSE answers, a server->client request
 * answered by the caller, the GET stream, resume of an interrupted stream,
 * re-initialization after a 404, synthesized errors, DELETE on close, extra
 * headers replaced between requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net.h"
#include "transport/http_client.h"
#include "transport/shttp_client.h"

struct env {
    struct event_base *base;
    struct http_server *hs;
    struct http_listener *l;
    struct testapp *app;
    struct http_client *hc;
    char url[128];
};

static void env_start(struct env *e, const struct shttp_opts *so)
{
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN); /* as any program using the transport must */
    e->base = event_base_new();
    e->hs = http_server_new(e->base);
    char err[256];
    struct http_listener_opts lo = {.host = "127.0.0.1"};
    e->l = http_listener_new(e->hs, &lo, err, sizeof(err));
    assert_non_null(e->l);
    struct shttp_opts o = so ? *so : (struct shttp_opts){0};
    e->app = testapp_new(e->l, &o, NULL, err, sizeof(err));
    assert_non_null(e->app);
    e->hc = http_client_new(e->base, NULL);
    snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%u/mcp", (unsigned)http_listener_port(e->l));
}

static void env_stop(struct env *e)
{
    http_client_free(e->hc);
    testapp_free(e->app);
    http_server_free(e->hs);
    event_base_free(e->base);
}

struct sess {
    struct shttp_client *c;
    int ready;
    bool reinitialized;
    bool failed;
    char why[256];
    json_t *got;   /* array of {raw, synthesized} */
    bool answer_elicitation;
    bool close_on_message;
};

static void s_message(void *ud, const struct rpc_msg *m, const char *raw, size_t len, bool synth)
{
    struct sess *s = ud;
    json_array_append_new(s->got, json_pack("{s:s#,s:b}", "raw", raw, len, "synth", synth));
    if (s->answer_elicitation && m->kind == RPC_REQUEST &&
        strcmp(m->method, "elicitation/create") == 0) {
        struct buf b;
        buf_init(&b, 4096);
        json_t *res = json_pack("{s:s,s:{s:s}}", "action", "accept", "content", "answer", "caller");
        rpc_emit_result(&b, m->id, res);
        json_decref(res);
        assert_int_equal(shttp_client_send(s->c, buf_head(&b), buf_used(&b)), 0);
        buf_free(&b);
    }
    if (s->close_on_message) {
        shttp_client_close(s->c);
        s->c = NULL;
    }
}

static void s_ready(void *ud, const json_t *res, bool again)
{
    struct sess *s = ud;
    assert_non_null(json_object_get(res, "serverInfo"));
    s->ready++;
    s->reinitialized = again;
}

static void s_failed(void *ud, const char *why)
{
    struct sess *s = ud;
    s->failed = true;
    snprintf(s->why, sizeof(s->why), "%s", why);
}

static const struct shttp_client_cbs s_cbs = {s_message, s_ready, s_failed};

static void run_until(struct env *e, bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < 10000 && !cond(arg); i++) {
        struct timeval tv = {0, 1000};
        event_base_loopexit(e->base, &tv);
        event_base_loop(e->base, EVLOOP_ONCE);
    }
    assert_true(cond(arg));
}

static bool is_ready(void *a)
{
    return ((struct sess *)a)->ready > 0 || ((struct sess *)a)->failed;
}

/* Finds a received message containing `needle`; returns its raw text. */
static const char *find(struct sess *s, const char *needle)
{
    size_t i;
    json_t *v;
    json_array_foreach(s->got, i, v)
    {
        const char *raw = json_string_value(json_object_get(v, "raw"));
        if (strstr(raw, needle) != NULL)
            return raw;
    }
    return NULL;
}

static const char *g_needle;
static struct sess *g_s;
static bool has_needle(void *a)
{
    (void)a;
    return find(g_s, g_needle) != NULL;
}

static void wait_for(struct env *e, struct sess *s, const char *needle)
{
    g_s = s;
    g_needle = needle;
    run_until(e, has_needle, NULL);
}

static json_t *init_params(void)
{
    return json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", "2025-06-18",
                     "capabilities", "elicitation", "clientInfo", "name", "shttp-client-test",
                     "version", "1");
}

static struct shttp_client *open_client(struct env *e, struct sess *s,
                                        const struct shttp_client_opts *extra)
{
    memset(s, 0, sizeof(*s));
    s->got = json_array();
    struct shttp_client_opts o = extra ? *extra : (struct shttp_client_opts){0};
    o.url = e->url;
    char err[160];
    s->c = shttp_client_new(e->hc, &o, &s_cbs, s, err, sizeof(err));
    assert_non_null(s->c);
    json_t *p = init_params();
    assert_int_equal(shttp_client_start(s->c, p), 0);
    json_decref(p);
    return s->c;
}

static void csend(struct sess *s, const char *msg)
{
    assert_int_equal(shttp_client_send(s->c, msg, strlen(msg)), 0);
}

static void test_handshake_and_calls(void **state)
{
    (void)state;
    struct env e;
    env_start(&e, NULL);
    struct sess s;
    open_client(&e, &s, NULL);
    /* Sent before the session is ready: queued, then delivered. */
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    run_until(&e, is_ready, &s);
    assert_false(s.failed);
    assert_false(s.reinitialized);
    assert_int_equal(strlen(shttp_client_session_id(s.c)), 32);
    assert_string_equal(shttp_client_protocol_version(s.c), "2025-06-18");
    wait_for(&e, &s, "\"tools\":[");
    /* An SSE answer: the progress notifications come first, then the result. */
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"progress\",\"arguments\":{\"steps\":2},\"_meta\":{\"progressToken\":\"t\"}}}");
    wait_for(&e, &s, "done 2");
    assert_non_null(find(&s, "\"progress\":2"));
    /* The server asks, the caller answers through the same session. */
    s.answer_elicitation = true;
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"ask\","
             "\"arguments\":{\"message\":\"?\"}}}");
    wait_for(&e, &s, "accept: caller");
    /* An unsolicited message on the GET stream. */
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"notify\",\"arguments\":{\"text\":\"over GET\"}}}");
    wait_for(&e, &s, "over GET");
    /* Nothing was synthesized. */
    size_t i;
    json_t *v;
    json_array_foreach(s.got, i, v) assert_false(json_is_true(json_object_get(v, "synth")));
    /* Bad input is refused at once. */
    assert_int_equal(shttp_client_send(s.c, "[1]", 3), -1);
    assert_int_equal(shttp_client_send(s.c, "{", 1), -1);
    /* Closing sends DELETE: the server ends the session. */
    shttp_client_close(s.c);
    struct testapp_counts k;
    for (int n = 0; n < 5000; n++) {
        testapp_counts(e.app, &k);
        if (k.sessions_closed > 0)
            break;
        event_base_loop(e.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    assert_string_equal(k.last_close_reason, "deleted");
    json_decref(s.got);
    env_stop(&e);
}

/* The auth hook sees each request's X-Cred header (credentials that change,
 * such as refreshed tokens, are set with shttp_client_set_headers). */
static char g_seen[16][32];
static size_t g_nseen;

static enum http_auth_verdict see_cred(void *ud, struct http_request *req)
{
    (void)ud;
    const char *v = http_request_header(req, "x-cred");
    if (g_nseen < 16)
        snprintf(g_seen[g_nseen++], sizeof(g_seen[0]), "%s", v != NULL ? v : "-");
    return HTTP_AUTH_ALLOW;
}

static void test_set_headers(void **state)
{
    (void)state;
    struct env e;
    struct shttp_opts so = {.auth = true};
    env_start(&e, &so);
    http_listener_set_auth(e.l, see_cred, NULL);
    g_nseen = 0;
    static const char *const first[] = {"X-Cred: one", NULL};
    struct shttp_client_opts o = {.headers = first, .no_get_stream = true};
    struct sess s;
    open_client(&e, &s, &o);
    run_until(&e, is_ready, &s);
    assert_false(s.failed);
    assert_true(g_nseen >= 1);
    static const char *const bad[] = {"X-Cred: two\r\nX-Evil: 1", NULL};
    assert_int_equal(shttp_client_set_headers(s.c, bad), -1); /* the old ones stay */
    static const char *const second[] = {"X-Cred: two", NULL};
    assert_int_equal(shttp_client_set_headers(s.c, second), 0);
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    wait_for(&e, &s, "\"tools\":[");
    /* The handshake (initialize, notifications/initialized) carried the first
     * value, the later request the second; never the refused line. */
    size_t ones = 0, twos = 0;
    for (size_t i = 0; i < g_nseen; i++) {
        ones += strcmp(g_seen[i], "one") == 0;
        twos += strcmp(g_seen[i], "two") == 0;
    }
    assert_int_equal(twos, 1);
    assert_int_equal(ones + twos, g_nseen);
    assert_true(ones >= 1);
    size_t before = g_nseen;
    assert_int_equal(shttp_client_set_headers(s.c, NULL), 0); /* none at all */
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    wait_for(&e, &s, "\"id\":2");
    assert_int_equal(g_nseen, before + 1);
    assert_string_equal(g_seen[before], "-");
    shttp_client_close(s.c);
    json_decref(s.got);
    env_stop(&e);
}

static void test_resume_interrupted_answer(void **state)
{
    (void)state;
    struct env e;
    struct shttp_opts so = {.retry_ms = 50};
    env_start(&e, &so);
    struct sess s;
    open_client(&e, &s, NULL);
    run_until(&e, is_ready, &s);
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"poll\","
             "\"arguments\":{}}}");
    wait_for(&e, &s, "polled");
    const char *raw = find(&s, "polled");
    assert_non_null(strstr(raw, "\"id\":7"));
    struct testapp_counts k;
    testapp_counts(e.app, &k);
    assert_int_equal(k.abandoned, 0);
    shttp_client_close(s.c);
    json_decref(s.got);
    env_stop(&e);
}

struct del_ctx {
    bool done;
};
static void del_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)r;
    (void)res;
    ((struct del_ctx *)ud)->done = true;
}
static const struct http_creq_cbs del_cbs = {.on_done = del_done};
static bool del_is_done(void *a)
{
    return ((struct del_ctx *)a)->done;
}

/* The server forgets the session (DELETE behind the client's back): the
 * next request gets 404, the client re-initializes and sends it again. */
static void test_reinitialize_on_404(void **state)
{
    (void)state;
    struct env e;
    env_start(&e, NULL);
    struct sess s;
    struct shttp_client_opts o = {.no_get_stream = true};
    open_client(&e, &s, &o);
    run_until(&e, is_ready, &s);
    char old[64];
    snprintf(old, sizeof(old), "%s", shttp_client_session_id(s.c));
    char h[128];
    snprintf(h, sizeof(h), "Mcp-Session-Id: %s", old);
    const char *hv[] = {h, NULL};
    struct http_creq_opts d = {.method = "DELETE", .url = e.url, .headers = hv};
    struct del_ctx dc = {0};
    char err[128];
    assert_non_null(http_client_start(e.hc, &d, &del_cbs, &dc, err, sizeof(err)));
    run_until(&e, del_is_done, &dc);
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"echo\",\"arguments\":{\"text\":\"again\"}}}");
    wait_for(&e, &s, "again");
    assert_int_equal(s.ready, 2);
    assert_true(s.reinitialized);
    assert_int_equal(shttp_client_reinitializations(s.c), 1);
    assert_string_not_equal(shttp_client_session_id(s.c), old);
    assert_false(json_is_true(json_object_get(json_array_get(s.got, json_array_size(s.got) - 1),
                                              "synth")));
    shttp_client_close(s.c);
    json_decref(s.got);
    env_stop(&e);
}

static bool is_failed(void *a)
{
    return ((struct sess *)a)->failed;
}

static void test_synthesized_errors(void **state)
{
    (void)state;
    struct env e;
    env_start(&e, NULL);
    /* A request that outlives its timeout is answered by the transport. */
    struct sess s;
    struct shttp_client_opts o = {.request_timeout_ms = 200};
    open_client(&e, &s, &o);
    run_until(&e, is_ready, &s);
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\","
             "\"arguments\":{}}}");
    wait_for(&e, &s, "\"id\":9,\"error\"");
    const char *raw = find(&s, "\"id\":9,\"error\"");
    char want[32];
    snprintf(want, sizeof(want), "\"code\":%d", MW_ERR_TIMEOUT);
    assert_non_null(strstr(raw, want));
    assert_non_null(strstr(raw, "upstream_timeout"));
    json_t *last = json_array_get(s.got, json_array_size(s.got) - 1);
    assert_true(json_is_true(json_object_get(last, "synth")));
    /* The caller may close the client from inside its callback. */
    s.close_on_message = true;
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}");
    for (int i = 0; i < 5000 && s.c != NULL; i++)
        event_base_loop(e.base, EVLOOP_ONCE);
    assert_null(s.c);
    json_decref(s.got);
    /* Nobody listens: the handshake fails, queued requests get errors. */
    memset(&s, 0, sizeof(s));
    s.got = json_array();
    struct shttp_client_opts bad = {.url = "http://127.0.0.1:1/mcp"};
    char err[128];
    s.c = shttp_client_new(e.hc, &bad, &s_cbs, &s, err, sizeof(err));
    json_t *p = init_params();
    assert_int_equal(shttp_client_start(s.c, p), 0);
    json_decref(p);
    csend(&s, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/list\"}");
    run_until(&e, is_failed, &s);
    assert_non_null(strstr(s.why, "initialize failed"));
    raw = find(&s, "\"id\":11");
    assert_non_null(raw);
    snprintf(want, sizeof(want), "\"code\":%d", MW_ERR_UPSTREAM);
    assert_non_null(strstr(raw, want));
    assert_int_equal(shttp_client_send(s.c, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"ping\"}", 39),
                     -1);
    shttp_client_close(s.c);
    json_decref(s.got);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_calls),
        cmocka_unit_test(test_resume_interrupted_answer),
        cmocka_unit_test(test_reinitialize_on_404),
        cmocka_unit_test(test_synthesized_errors),
        cmocka_unit_test(test_set_headers),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
