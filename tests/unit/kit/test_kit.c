/* Unit tests of the server kit through an in-memory transport: what a client
 * would see on the wire for lifecycle, pagination, cancellation, schema
 * rejection, progress/logging, client requests and resources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kit/kit_internal.h"
#include "proto/json.h"

/* ---- an in-memory transport that records what the kit sends ------------ */

struct cap {
    json_t *out;     /* array of {"msg":..., "stream":n, "final":bool} */
    int drops;
    void *last_drop;
};

static int cap_send(void *tctx, void *stream, const char *data, size_t len, bool final)
{
    struct cap *c = tctx;
    json_error_t je;
    json_t *m = json_loadb(data, len, 0, &je);
    assert_non_null(m);
    json_array_append_new(c->out, json_pack("{s:o, s:I, s:b}", "msg", m, "stream",
                                            (json_int_t)(intptr_t)stream, "final", final));
    return 0;
}

static void cap_drop(void *tctx, void *stream)
{
    struct cap *c = tctx;
    c->drops++;
    c->last_drop = stream;
}

static const struct kit_transport cap_tp = {.send = cap_send, .drop = cap_drop};

static int disconnects;
static int cap_disconnect(void *tctx, void *stream)
{
    (void)tctx;
    (void)stream;
    disconnects++;
    return 0;
}
/* Like the Streamable HTTP transport: reply channels outlive the session. */
static const struct kit_transport cap_http_tp = {.send = cap_send, .drop = cap_drop,
                                                 .disconnect = cap_disconnect,
                                                 .streams_outlive_session = true};

struct fx {
    struct event_base *base;
    struct kit_server *srv;
    struct kit_session *ss;
    struct cap cap;
    json_t *records; /* from the recorder */
};

static void recorder(const struct kit_call_record *r, void *ud)
{
    struct fx *f = ud;
    json_array_append_new(f->records,
                          json_pack("{s:s, s:s?, s:i, s:i, s:s?, s:s?}", "method", r->method,
                                    "name", r->name, "outcome", (int)r->outcome, "code", r->code,
                                    "reason", r->reason, "message", r->message));
}

static struct fx *fx_new(const struct kit_limits *lim)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    const struct kit_info info = {"test-server", "1.2.3", NULL, "Be nice"};
    f->srv = kit_server_new(f->base, &info, lim);
    assert_non_null(f->srv);
    f->cap.out = json_array();
    f->records = json_array();
    kit_server_set_recorder(f->srv, recorder, f);
    return f;
}

static void fx_open(struct fx *f)
{
    f->ss = kit_session_open(f->srv, &cap_tp, &f->cap, "s1");
    assert_non_null(f->ss);
}

static void fx_free(struct fx *f)
{
    kit_server_free(f->srv);
    event_base_free(f->base);
    json_decref(f->cap.out);
    json_decref(f->records);
    free(f);
}

/* Sends one message (JSON text) on reply channel `stream`. */
static void fx_in(struct fx *f, intptr_t stream, const char *text)
{
    kit_session_input_raw(f->ss, text, strlen(text), (void *)stream);
}

/* Takes the first recorded outbound message (new reference) or fails. */
static json_t *fx_take(struct fx *f)
{
    assert_true(json_array_size(f->cap.out) > 0);
    json_t *e = json_incref(json_array_get(f->cap.out, 0));
    json_array_remove(f->cap.out, 0);
    return e;
}

static json_t *take_msg(struct fx *f)
{
    json_t *e = fx_take(f);
    json_t *m = json_incref(json_object_get(e, "msg"));
    json_decref(e);
    return m;
}

static void assert_error(json_t *m, long long id, int code)
{
    assert_int_equal(json_integer_value(json_object_get(m, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                     code);
}

static const char *err_msg(const json_t *m)
{
    return json_string_value(json_object_get(json_object_get(m, "error"), "message"));
}

static bool json_contains(const json_t *v, const char *needle)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    bool found = s != NULL && strstr(s, needle) != NULL;
    free(s);
    return found;
}

static const json_t *result_of(const json_t *m)
{
    return json_object_get(m, "result");
}

static void fx_init(struct fx *f, const char *caps)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-11-25\",\"capabilities\":%s,"
             "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
             caps);
    fx_in(f, 0, buf);
    json_t *m = take_msg(f);
    assert_non_null(result_of(m));
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    assert_int_equal(json_array_size(f->cap.out), 0);
}

/* ---- handlers -------------------------------------------------------------- */

static void h_echo(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    char *s = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    kit_call_tool_text(c, s);
    free(s);
}

static int echo_calls;
static void h_count(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    echo_calls++;
    kit_call_tool_text(c, "ok");
}

static struct kit_call *parked;
static int cancel_seen;
static void on_cancel_finish(struct kit_call *c, void *ud)
{
    (void)ud;
    cancel_seen++;
    kit_call_tool_text(c, "too late"); /* must not reach the client */
}

static void h_park(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    parked = c;
    kit_call_on_cancel(c, on_cancel_finish, NULL);
}

static void h_park_nocb(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    parked = c;
}

static int reply_code;
static char reply_text[256];
static void on_reply(struct kit_call *c, const json_t *result, const struct kit_rpc_error *err,
                     void *ud)
{
    (void)ud;
    if (err != NULL) {
        reply_code = err->code;
        snprintf(reply_text, sizeof(reply_text), "%s", err->message);
        kit_call_tool_error(c, "failed: %s", err->message);
        return;
    }
    reply_code = 0;
    const char *t = json_string_value(json_object_get(json_object_get(result, "content"), "text"));
    snprintf(reply_text, sizeof(reply_text), "%s", t != NULL ? t : "");
    kit_call_tool_text(c, reply_text);
}

static void h_sample(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    parked = c;
    json_t *p = json_pack("{s:[], s:i}", "messages", "maxTokens", 10);
    if (kit_call_sample(c, p, on_reply, NULL) < 0)
        kit_call_tool_error(c, "no sampling");
}

static void roots_reply(struct kit_call *c, const json_t *result, const struct kit_rpc_error *err,
                        void *ud)
{
    (void)ud;
    if (err != NULL) {
        kit_call_tool_error(c, "%s", err->message);
        return;
    }
    const char *uri = json_string_value(json_object_get(
        json_array_get(json_object_get(result, "roots"), 0), "uri"));
    kit_call_tool_text(c, uri != NULL ? uri : "none");
}

static void h_roots(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    if (kit_call_elicit(c, json_object(), on_reply, NULL) == 0) {
        kit_call_tool_error(c, "elicitation should need the capability");
        return;
    }
    if (kit_call_list_roots(c, roots_reply, NULL) < 0)
        kit_call_tool_error(c, "no roots");
}

static void h_progress(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    bool has_token = json_object_get(json_object_get(kit_call_params(c), "_meta"),
                                     "progressToken") != NULL;
    assert_int_equal(kit_call_progress(c, 1, 3, "one"), 0);
    /* progress must increase (checked only when there is a token to send to) */
    assert_int_equal(kit_call_progress(c, 1, 3, NULL), has_token ? -1 : 0);
    assert_int_equal(kit_call_progress(c, 2, -1, NULL), 0);
    kit_call_log(c, KIT_LOG_DEBUG, "t", "debug %d", 1);
    kit_call_log(c, KIT_LOG_WARNING, "t", "warning %d", 2);
    kit_call_tool_text(c, "done");
}

static void h_structured(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    if (json_is_true(json_object_get(args, "bad")))
        kit_call_tool_structured(c, json_pack("{s:s}", "n", "not a number"), NULL);
    else
        kit_call_tool_structured(c, json_pack("{s:i}", "n", 7), NULL);
}

static void add_tool(struct kit_server *s, const char *name, const char *in, const char *out,
                     kit_tool_fn fn)
{
    char err[256];
    const struct kit_tool t = {name, NULL, "d", in, out, NULL, fn, NULL};
    if (kit_add_tool(s, &t, err, sizeof(err)) < 0)
        fail_msg("kit_add_tool %s: %s", name, err);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_lifecycle(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "echo", NULL, NULL, h_echo);
    fx_open(f);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    json_t *m = take_msg(f);
    assert_error(m, 1, RPC_INVALID_REQUEST);
    assert_non_null(strstr(err_msg(m), "not initialized"));
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"); /* allowed before init */
    m = take_msg(f);
    assert_int_equal(json_object_size(result_of(m)), 0);
    json_decref(m);
    /* An unknown version is answered with ours. */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":{"
                "\"protocolVersion\":\"1999-01-01\",\"capabilities\":{},"
                "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}");
    m = take_msg(f);
    const json_t *r = result_of(m);
    assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), "2025-11-25");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "serverInfo"), "name")),
        "test-server");
    assert_string_equal(json_string_value(json_object_get(r, "instructions")), "Be nice");
    const json_t *caps = json_object_get(r, "capabilities");
    assert_non_null(json_object_get(caps, "tools"));
    assert_non_null(json_object_get(caps, "logging"));
    assert_null(json_object_get(caps, "prompts")); /* none registered */
    assert_null(json_object_get(caps, "resources"));
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"initialize\",\"params\":{"
                "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}");
    m = take_msg(f);
    assert_error(m, 4, RPC_INVALID_REQUEST);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    assert_int_equal(f->ss->state, KIT_S_READY);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/list\"}");
    m = take_msg(f);
    assert_error(m, 5, RPC_METHOD_NOT_FOUND);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"no/such\"}");
    m = take_msg(f);
    assert_error(m, 6, RPC_METHOD_NOT_FOUND);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"logging/setLevel\","
                "\"params\":{\"level\":\"loud\"}}");
    m = take_msg(f);
    assert_error(m, 7, RPC_INVALID_PARAMS);
    json_decref(m);
    fx_in(f, 0, "not json");
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                     RPC_PARSE_ERROR);
    json_decref(m);
    fx_free(f);
}

static void test_version_echo(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    fx_open(f);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}");
    json_t *m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(result_of(m), "protocolVersion")),
                        "2025-06-18");
    json_decref(m);
    fx_free(f);
}

static void test_pagination(void **state)
{
    (void)state;
    const struct kit_limits lim = {.page_size = 50};
    struct fx *f = fx_new(&lim);
    for (int i = 0; i < 120; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%03d", i);
        add_tool(f->srv, name, NULL, NULL, h_echo);
    }
    fx_open(f);
    fx_init(f, "{}");
    int seen = 0, pages = 0;
    char cursor[64] = "";
    for (;;) {
        char req[200];
        if (cursor[0] == '\0')
            snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\"}",
                     10 + pages);
        else
            snprintf(req, sizeof(req),
                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\","
                     "\"params\":{\"cursor\":\"%s\"}}",
                     10 + pages, cursor);
        fx_in(f, 0, req);
        json_t *m = take_msg(f);
        const json_t *tools = json_object_get(result_of(m), "tools");
        size_t i;
        const json_t *t;
        json_array_foreach(tools, i, t) {
            char want[16];
            snprintf(want, sizeof(want), "t%03d", seen);
            assert_string_equal(json_string_value(json_object_get(t, "name")), want);
            seen++;
        }
        pages++;
        const char *nc = json_string_value(json_object_get(result_of(m), "nextCursor"));
        if (nc == NULL) {
            json_decref(m);
            break;
        }
        assert_int_equal(json_array_size(tools), 50);
        snprintf(cursor, sizeof(cursor), "%s", nc);
        json_decref(m);
    }
    assert_int_equal(seen, 120);
    assert_int_equal(pages, 3);
    static const char *const bad[] = {"\"p999\"", "\"abc\"", "42", "\"p0\"", "\"p-1\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[200];
        snprintf(req, sizeof(req),
                 "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"tools/list\",\"params\":{\"cursor\":%s}}",
                 bad[i]);
        fx_in(f, 0, req);
        json_t *m = take_msg(f);
        assert_error(m, 99, RPC_INVALID_PARAMS);
        json_decref(m);
    }
    fx_free(f);
}

static void test_schema_rejection(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "count",
             "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\",\"maximum\":10}},"
             "\"required\":[\"x\"],\"additionalProperties\":false}",
             NULL, h_count);
    add_tool(f->srv, "structured", "{\"type\":\"object\"}",
             "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"number\"}},"
             "\"required\":[\"n\"]}",
             h_structured);
    fx_open(f);
    fx_init(f, "{}");
    echo_calls = 0;
    static const struct {
        const char *args;
        const char *expect;
    } cases[] = {
        {"{\"x\":\"a\"}", "argument 'x': must be an integer (type)"},
        {"{\"x\":11}", "argument 'x': must be at most 10 (maximum)"},
        {"{}", "argument 'x': is required (required)"},
        {"{\"x\":1,\"y\":2}", "argument 'y': is not allowed (additionalProperties)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[300];
        snprintf(req, sizeof(req),
                 "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/call\",\"params\":{"
                 "\"name\":\"count\",\"arguments\":%s}}",
                 i + 1, cases[i].args);
        fx_in(f, 0, req);
        json_t *m = take_msg(f);
        const json_t *r = result_of(m);
        assert_true(json_is_true(json_object_get(r, "isError")));
        const char *text =
            json_string_value(json_object_get(json_array_get(json_object_get(r, "content"), 0), "text"));
        assert_non_null(strstr(text, "Invalid arguments for tool count"));
        if (strstr(text, cases[i].expect) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, text, cases[i].expect);
        json_decref(m);
    }
    assert_int_equal(echo_calls, 0); /* the handler never ran */
    const json_t *rec = json_array_get(f->records, 0);
    assert_string_equal(json_string_value(json_object_get(rec, "reason")), "invalid_arguments");
    assert_int_equal(json_integer_value(json_object_get(rec, "outcome")), KIT_TOOL_ERROR);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"count\",\"arguments\":{\"x\":3}}}");
    json_t *m = take_msg(f);
    assert_null(json_object_get(result_of(m), "isError"));
    assert_int_equal(echo_calls, 1);
    json_decref(m);
    /* arguments of the wrong JSON type and unknown tools are protocol errors */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"count\",\"arguments\":[1]}}");
    m = take_msg(f);
    assert_error(m, 21, RPC_INVALID_PARAMS);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"nope\"}}");
    m = take_msg(f);
    assert_error(m, 22, RPC_INVALID_PARAMS);
    assert_string_equal(err_msg(m), "Unknown tool: nope");
    json_decref(m);
    /* outputSchema: a conforming result passes, a bad one becomes an error */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"structured\"}}");
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(result_of(m),
                                                                         "structuredContent"),
                                                         "n")),
                     7);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":24,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"structured\",\"arguments\":{\"bad\":true}}}");
    m = take_msg(f);
    assert_error(m, 24, RPC_INTERNAL_ERROR);
    assert_string_equal(err_msg(m),
                        "The tool produced a result that does not match its output schema");
    assert_false(json_contains(m, "not a number")); /* no internals leak */
    json_decref(m);
    fx_free(f);
}

static void test_cancellation(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "park", NULL, NULL, h_park);
    fx_open(f);
    fx_init(f, "{}");
    parked = NULL;
    cancel_seen = 0;
    fx_in(f, 7, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"park\"}}");
    assert_non_null(parked);
    assert_int_equal(kit_session_live_calls(f->ss), 1);
    /* a second request with the same id while the first is live is refused */
    fx_in(f, 8, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"park\"}}");
    json_t *m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                     RPC_INVALID_REQUEST);
    json_decref(m);
    /* cancelling another id does nothing */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                "\"params\":{\"requestId\":\"b\"}}");
    assert_int_equal(cancel_seen, 0);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                "\"params\":{\"requestId\":\"a\",\"reason\":\"user\"}}");
    assert_int_equal(cancel_seen, 1);
    assert_int_equal(json_array_size(f->cap.out), 0); /* no response after cancel */
    assert_int_equal(f->cap.drops, 1);
    assert_ptr_equal(f->cap.last_drop, (void *)7);
    assert_int_equal(kit_session_live_calls(f->ss), 0);
    const json_t *rec = json_array_get(f->records, json_array_size(f->records) - 1);
    assert_int_equal(json_integer_value(json_object_get(rec, "outcome")), KIT_CANCELLED);
    fx_free(f);
}

static void test_cancel_pending_client_request(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "sample", NULL, NULL, h_sample);
    fx_open(f);
    fx_init(f, "{\"sampling\":{}}");
    fx_in(f, 3, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"sample\"}}");
    json_t *e = fx_take(f);
    const json_t *req = json_object_get(e, "msg");
    assert_string_equal(json_string_value(json_object_get(req, "method")),
                        "sampling/createMessage");
    assert_int_equal(json_integer_value(json_object_get(e, "stream")), 3); /* on the call's stream */
    assert_false(json_is_true(json_object_get(e, "final")));
    json_int_t out_id = json_integer_value(json_object_get(req, "id"));
    json_decref(e);
    reply_code = 1;
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                "\"params\":{\"requestId\":1}}");
    /* the client is told we no longer want the sampling answer ... */
    json_t *m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(m, "method")), "notifications/cancelled");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "params"), "requestId")),
                     out_id);
    json_decref(m);
    /* ... the handler's callback saw the cancellation, and nothing else was sent */
    assert_int_equal(reply_code, KIT_ERR_CANCELLED);
    assert_int_equal(json_array_size(f->cap.out), 0);
    /* a late answer from the client is ignored */
    char late[128];
    snprintf(late, sizeof(late), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
             (long long)out_id);
    fx_in(f, 0, late);
    assert_int_equal(json_array_size(f->cap.out), 0);
    fx_free(f);
}

static void test_client_requests(void **state)
{
    (void)state;
    const struct kit_limits lim = {.outbound_timeout_us = 20000};
    struct fx *f = fx_new(&lim);
    add_tool(f->srv, "sample", NULL, NULL, h_sample);
    fx_open(f);
    fx_init(f, "{}");
    /* no sampling capability: refused without sending anything */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"sample\"}}");
    json_t *m = take_msg(f);
    assert_true(json_is_true(json_object_get(result_of(m), "isError")));
    json_decref(m);
    assert_int_equal(json_array_size(f->cap.out), 0);
    kit_session_close(f->ss);

    fx_open(f);
    fx_init(f, "{\"sampling\":{}}");
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"sample\"}}");
    m = take_msg(f);
    json_int_t out_id = json_integer_value(json_object_get(m, "id"));
    json_decref(m);
    char ans[200];
    snprintf(ans, sizeof(ans),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"role\":\"assistant\","
             "\"content\":{\"type\":\"text\",\"text\":\"hello\"},\"model\":\"m\"}}",
             (long long)out_id);
    fx_in(f, 0, ans);
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(m, "id")), 2);
    assert_string_equal(reply_text, "hello");
    json_decref(m);
    /* a client that never answers: the request times out */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"sample\"}}");
    m = take_msg(f);
    json_decref(m);
    event_base_dispatch(f->base); /* runs the 20 ms timer */
    m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(m, "method")), "notifications/cancelled");
    json_decref(m);
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(m, "id")), 3);
    assert_int_equal(reply_code, MW_ERR_TIMEOUT);
    json_decref(m);
    fx_free(f);
}

static void test_roots(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "roots", NULL, NULL, h_roots);
    fx_open(f);
    fx_init(f, "{\"roots\":{\"listChanged\":true}}");
    fx_in(f, 4, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"roots\"}}");
    json_t *m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(m, "method")), "roots/list");
    json_int_t out_id = json_integer_value(json_object_get(m, "id"));
    json_decref(m);
    char ans[200];
    snprintf(ans, sizeof(ans),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"roots\":[{\"uri\":\"file:///w\"}]}}",
             (long long)out_id);
    fx_in(f, 0, ans);
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(m, "id")), 1);
    assert_true(json_contains(m, "file:///w"));
    json_decref(m);
    /* the client's error answer reaches the handler with its code and message */
    fx_in(f, 4, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"roots\"}}");
    m = take_msg(f);
    out_id = json_integer_value(json_object_get(m, "id"));
    json_decref(m);
    snprintf(ans, sizeof(ans),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32601,\"message\":\"nope\"}}",
             (long long)out_id);
    fx_in(f, 0, ans);
    m = take_msg(f);
    assert_true(json_contains(m, "nope"));
    json_decref(m);
    fx_free(f);
}

static void test_progress_and_logging(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "progress", NULL, NULL, h_progress);
    fx_open(f);
    fx_init(f, "{}");
    fx_in(f, 5, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"progress\",\"_meta\":{\"progressToken\":\"tok\"}}}");
    json_t *m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(m, "method")), "notifications/progress");
    const json_t *p = json_object_get(m, "params");
    assert_string_equal(json_string_value(json_object_get(p, "progressToken")), "tok");
    assert_true(json_number_value(json_object_get(p, "progress")) == 1.0);
    assert_true(json_number_value(json_object_get(p, "total")) == 3.0);
    assert_string_equal(json_string_value(json_object_get(p, "message")), "one");
    json_decref(m);
    m = take_msg(f);
    assert_true(json_number_value(json_object_get(json_object_get(m, "params"), "progress")) == 2.0);
    json_decref(m);
    /* default level info: debug filtered, warning sent */
    m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(m, "method")), "notifications/message");
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "params"), "data")),
                        "warning 2");
    json_decref(m);
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(m, "id")), 1);
    json_decref(m);
    /* without a progress token no progress is sent; setLevel error hides warnings */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\","
                "\"params\":{\"level\":\"error\"}}");
    m = take_msg(f);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"progress\"}}");
    m = take_msg(f);
    assert_int_equal(json_integer_value(json_object_get(m, "id")), 3);
    json_decref(m);
    assert_int_equal(json_array_size(f->cap.out), 0);
    fx_free(f);
}

static void test_session_close(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "park", NULL, NULL, h_park_nocb);
    fx_open(f);
    fx_init(f, "{}");
    parked = NULL;
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"park\"}}");
    assert_non_null(parked);
    assert_int_equal(kit_call_disconnect(parked), -1); /* not a Streamable HTTP stream */
    kit_session_close(f->ss);
    assert_true(kit_call_cancelled(parked));
    /* the handler finishes later: nothing is sent, the session goes away */
    size_t before = json_array_size(f->cap.out);
    kit_call_tool_text(parked, "late");
    assert_int_equal(json_array_size(f->cap.out), before);
    assert_null(f->srv->sessions);
    fx_free(f);
}

static void read_res(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)ud;
    char text[256];
    snprintf(text, sizeof(text), "vars=%s",
             vars != NULL ? json_string_value(json_object_get(vars, "id")) : "none");
    kit_call_resource_text(c, uri, "text/plain", text, strlen(text));
}

static void prompt_get(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    kit_call_result(c, json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "messages", "role", "user",
                                 "content", "type", "text", "text",
                                 json_string_value(json_object_get(args, "a"))));
}

static void test_resources_and_prompts(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    char err[200];
    const struct kit_resource r = {"x://static", "static", NULL, NULL, "text/plain", read_res,
                                   NULL};
    assert_int_equal(kit_add_resource(f->srv, &r, err, sizeof(err)), 0);
    assert_int_equal(kit_add_resource(f->srv, &r, err, sizeof(err)), -1); /* duplicate */
    const struct kit_resource_template t = {"x://item/{id}/data", "item", NULL, NULL, NULL,
                                            read_res, NULL, NULL, NULL};
    assert_int_equal(kit_add_resource_template(f->srv, &t, err, sizeof(err)), 0);
    static const struct kit_prompt_arg pa[] = {{"a", NULL, NULL, true}, {"b", NULL, NULL, false}};
    const struct kit_prompt p = {"p", NULL, "a prompt", pa, 2, prompt_get, NULL, NULL, NULL};
    assert_int_equal(kit_add_prompt(f->srv, &p, err, sizeof(err)), 0);
    fx_open(f);
    fx_init(f, "{}");
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\","
                "\"params\":{\"uri\":\"x://item/42/data\"}}");
    json_t *m = take_msg(f);
    const json_t *c0 = json_array_get(json_object_get(result_of(m), "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")), "vars=42");
    assert_string_equal(json_string_value(json_object_get(c0, "uri")), "x://item/42/data");
    json_decref(m);
    static const char *const missing[] = {"x://item//data", "x://item/4/2/data", "x://nope"};
    for (size_t i = 0; i < 3; i++) {
        char req[200];
        snprintf(req, sizeof(req),
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/read\","
                 "\"params\":{\"uri\":\"%s\"}}",
                 missing[i]);
        fx_in(f, 0, req);
        m = take_msg(f);
        assert_error(m, 2, MCP_ERR_RESOURCE_NOT_FOUND);
        json_decref(m);
    }
    /* subscriptions: unknown refused, known accepted, updates reach subscribers only */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/subscribe\","
                "\"params\":{\"uri\":\"x://nope\"}}");
    m = take_msg(f);
    assert_error(m, 3, MCP_ERR_RESOURCE_NOT_FOUND);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/subscribe\","
                "\"params\":{\"uri\":\"x://static\"}}");
    m = take_msg(f);
    assert_int_equal(json_object_size(result_of(m)), 0);
    json_decref(m);
    kit_resource_updated(f->srv, "x://other");
    assert_int_equal(json_array_size(f->cap.out), 0);
    kit_resource_updated(f->srv, "x://static");
    m = take_msg(f);
    assert_string_equal(json_string_value(json_object_get(m, "method")),
                        "notifications/resources/updated");
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/unsubscribe\","
                "\"params\":{\"uri\":\"x://static\"}}");
    json_decref(take_msg(f));
    kit_resource_updated(f->srv, "x://static");
    assert_int_equal(json_array_size(f->cap.out), 0);
    /* prompts: required and unknown arguments */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"prompts/get\","
                "\"params\":{\"name\":\"p\",\"arguments\":{\"b\":\"x\"}}}");
    m = take_msg(f);
    assert_error(m, 6, RPC_INVALID_PARAMS);
    assert_string_equal(err_msg(m), "Prompt p needs argument a");
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"prompts/get\","
                "\"params\":{\"name\":\"p\",\"arguments\":{\"a\":\"x\",\"c\":\"y\"}}}");
    m = take_msg(f);
    assert_error(m, 7, RPC_INVALID_PARAMS);
    json_decref(m);
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"prompts/get\","
                "\"params\":{\"name\":\"p\",\"arguments\":{\"a\":\"hello\"}}}");
    m = take_msg(f);
    assert_true(json_contains(result_of(m), "hello"));
    json_decref(m);
    /* completion without a handler: empty values */
    fx_in(f, 0, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"completion/complete\",\"params\":{"
                "\"ref\":{\"type\":\"ref/prompt\",\"name\":\"p\"},"
                "\"argument\":{\"name\":\"a\",\"value\":\"h\"}}}");
    m = take_msg(f);
    assert_int_equal(json_array_size(json_object_get(json_object_get(result_of(m), "completion"),
                                                     "values")),
                     0);
    json_decref(m);
    fx_free(f);
}

static void test_uritpl(void **state)
{
    (void)state;
    char err[160];
    assert_int_equal(kit_uritpl_check("a://x/{id}/y", err, sizeof(err)), 0);
    assert_int_equal(kit_uritpl_check("a://x/{id}{b}", err, sizeof(err)), -1);
    assert_int_equal(kit_uritpl_check("a://x/{+id}", err, sizeof(err)), -1);
    assert_int_equal(kit_uritpl_check("a://x/{id", err, sizeof(err)), -1);
    assert_int_equal(kit_uritpl_check("a://x/}", err, sizeof(err)), -1);
    assert_int_equal(kit_uritpl_check("noscheme/{id}", err, sizeof(err)), -1);
    json_t *v = kit_uritpl_match("a://x/{id}.json", "a://x/abc.json");
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "id")), "abc");
    json_decref(v);
    assert_null(kit_uritpl_match("a://x/{id}", "a://x/a/b"));
    assert_null(kit_uritpl_match("a://x/{id}", "a://x/"));
    assert_null(kit_uritpl_match("a://x/{id}", "a://y/z"));
}

static void test_registration_errors(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    char err[256];
    struct kit_tool t = {"bad name", NULL, NULL, NULL, NULL, NULL, h_echo, NULL};
    assert_int_equal(kit_add_tool(f->srv, &t, err, sizeof(err)), -1);
    t.name = "ok";
    t.input_schema = "{\"type\":\"string\"}";
    assert_int_equal(kit_add_tool(f->srv, &t, err, sizeof(err)), -1);
    t.input_schema = "{\"type\":\"object\",";
    assert_int_equal(kit_add_tool(f->srv, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not valid JSON"));
    t.input_schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"strin\"}}}";
    assert_int_equal(kit_add_tool(f->srv, &t, err, sizeof(err)), -1);
    t.input_schema = NULL;
    assert_int_equal(kit_add_tool(f->srv, &t, err, sizeof(err)), 0);
    assert_int_equal(kit_add_tool(f->srv, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "twice"));
    fx_free(f);
}

static void test_http_streams(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    add_tool(f->srv, "park", NULL, NULL, h_park);
    f->ss = kit_session_open(f->srv, &cap_http_tp, &f->cap, "h1");
    fx_init(f, "{}");
    /* the client leaves a request (its connection broke for good): cancelled, released */
    cancel_seen = 0;
    fx_in(f, 11, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                 "\"name\":\"park\"}}");
    disconnects = 0;
    assert_int_equal(kit_call_disconnect(parked), 0);
    assert_int_equal(disconnects, 1);
    kit_session_abandon_stream(f->ss, (void *)11);
    assert_int_equal(cancel_seen, 1);
    assert_int_equal(f->cap.drops, 1);
    assert_ptr_equal(f->cap.last_drop, (void *)11);
    assert_int_equal(json_array_size(f->cap.out), 0);
    /* the session ends while a handler ignores the cancellation: its stream
     * is released at once, and its late answer goes nowhere */
    fx_in(f, 12, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                 "\"name\":\"park\"}}");
    struct kit_call *late = parked;
    kit_call_on_cancel(late, NULL, NULL);
    kit_session_close(f->ss);
    assert_int_equal(f->cap.drops, 2);
    assert_ptr_equal(f->cap.last_drop, (void *)12);
    kit_call_tool_text(late, "late");
    assert_int_equal(f->cap.drops, 2);
    assert_int_equal(json_array_size(f->cap.out), 0);
    assert_null(f->srv->sessions);
    fx_free(f);
}

/* ---- stdio transport ----------------------------------------------------------- */

static void later_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kit_call *c = arg;
    kit_call_tool_text(c, "finished after EOF");
}

static void h_later(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    struct timeval tv = {0, 30000};
    event_base_once(kit_call_base(c), -1, EV_TIMEOUT, later_fire, c, &tv);
}

static void test_stdio(void **state)
{
    (void)state;
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}\n");
    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"later\"}}\r\n\n");
    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{\"pad\":\"");
    for (int i = 0; i < 3000; i++)
        buf_append_char(&b, 'x');
    buf_append_str(&b, "\"}}\n{oops\n");
    assert_int_equal(write(in[1], buf_head(&b), buf_used(&b)), (ssize_t)buf_used(&b));
    close(in[1]); /* the client is done writing: EOF */
    const struct kit_limits lim = {.max_message = 1024};
    struct fx *f = fx_new(&lim);
    add_tool(f->srv, "later", NULL, NULL, h_later);
    assert_int_equal(kit_serve_stdio(f->srv, in[0], out[1]), 0);
    close(out[1]);
    char got[65536];
    ssize_t n = read(out[0], got, sizeof(got) - 1);
    assert_true(n > 0);
    got[n] = '\0';
    /* four answers, one per line: initialize, the oversize ping (its id
     * salvaged), the parse error, and the call that finished after EOF */
    json_t *lines = json_array();
    for (char *line = got, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_error_t je;
        json_t *m = json_loadb(line, (size_t)(nl - line), 0, &je);
        assert_non_null(m);
        json_array_append_new(lines, m);
    }
    assert_int_equal(json_array_size(lines), 4);
    assert_non_null(result_of(json_array_get(lines, 0)));
    assert_error(json_array_get(lines, 1), 9, RPC_INVALID_REQUEST);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(json_array_get(lines, 1), "error"), "data"),
                            "reason")),
                        "message_too_large");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(lines, 2), "error"), "code")),
                     RPC_PARSE_ERROR);
    assert_true(json_contains(json_array_get(lines, 3), "finished after EOF"));
    json_decref(lines);
    buf_free(&b);
    close(in[0]);
    close(out[0]);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_version_echo),
        cmocka_unit_test(test_pagination),
        cmocka_unit_test(test_schema_rejection),
        cmocka_unit_test(test_cancellation),
        cmocka_unit_test(test_cancel_pending_client_request),
        cmocka_unit_test(test_client_requests),
        cmocka_unit_test(test_progress_and_logging),
        cmocka_unit_test(test_roots),
        cmocka_unit_test(test_session_close),
        cmocka_unit_test(test_resources_and_prompts),
        cmocka_unit_test(test_uritpl),
        cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_stdio),
        cmocka_unit_test(test_http_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
