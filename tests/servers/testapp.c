/* testapp.c - a small MCP server on shttp_server (see testapp.h). */
#include "testapp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proto/jsonrpc.h"
#include "util/buf.h"

#define TA_KEY 96

struct poll_job;

struct held {
    struct held *next;
    struct poll_job *job;    /* a "poll" answer waiting on a timer */
    struct shttp_stream *st; /* the tools/call being served */
    char key[TA_KEY];        /* rpc_id_key of the client's request */
    char ask_key[TA_KEY];    /* rpc_id_key of our server->client request, or "" */
};

struct tsess {
    struct testapp *a;
    struct shttp_session *s;
    struct held *held;
    unsigned next_id;
};

struct poll_job {
    struct testapp *a;
    struct tsess *ts;
    struct held *h;
    struct event *ev;
};

struct testapp {
    struct shttp_server *srv;
    struct event_base *base;
    FILE *log;
    pthread_mutex_t mu;
    struct testapp_counts c;
};

static void ta_event(struct testapp *a, const char *what, const char *detail)
{
    if (a->log != NULL) {
        fprintf(a->log, "EVENT %s %s\n", what, detail ? detail : "-");
        fflush(a->log);
    }
}

/* Sends buf as the final response and frees it. */
static void ta_respond(struct shttp_stream *st, struct buf *b)
{
    shttp_stream_respond(st, buf_head(b), buf_used(b));
    buf_free(b);
}

static void ta_result(struct shttp_stream *st, json_t *result)
{
    struct buf b;
    buf_init(&b, 64u * 1024u * 1024u);
    rpc_emit_result(&b, shttp_stream_request_id(st), result);
    json_decref(result);
    ta_respond(st, &b);
}

static void ta_error(struct shttp_stream *st, int code, const char *msg)
{
    struct buf b;
    buf_init(&b, 4096);
    rpc_emit_error(&b, shttp_stream_request_id(st), code, msg, NULL, NULL);
    ta_respond(st, &b);
}

static json_t *ta_text_result(const char *text)
{
    return json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
}

static void ta_notify(struct shttp_stream *st, struct shttp_session *s, const char *method,
                      json_t *params)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    rpc_emit_notification(&b, method, params);
    json_decref(params);
    if (st != NULL)
        shttp_stream_send(st, buf_head(&b), buf_used(&b));
    else
        shttp_session_send(s, buf_head(&b), buf_used(&b));
    buf_free(&b);
}

static json_t *ta_tools(void)
{
    json_t *obj = json_pack("{s:s}", "type", "object");
    json_t *tools = json_array();
    const char *names[] = {"echo", "progress", "ask", "notify", "slow", "big", "poll"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_array_append_new(tools, json_pack("{s:s,s:s,s:O}", "name", names[i], "description",
                                               "a transport test tool", "inputSchema", obj));
    }
    json_decref(obj);
    return json_pack("{s:o}", "tools", tools);
}

static struct held *ta_hold(struct tsess *ts, struct shttp_stream *st)
{
    struct held *h = calloc(1, sizeof(*h));
    if (h == NULL)
        abort();
    h->st = st;
    rpc_id_key(shttp_stream_request_id(st), h->key, sizeof(h->key));
    h->next = ts->held;
    ts->held = h;
    return h;
}

static void ta_unhold(struct tsess *ts, struct held *h)
{
    for (struct held **pp = &ts->held; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            if (h->job != NULL) {
                event_free(h->job->ev);
                free(h->job);
            }
            free(h);
            return;
        }
    }
}

/* The delayed answer of "poll", sent while the client is away. */
static void ta_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct poll_job *j = arg;
    struct shttp_stream *st = j->h->st;
    struct tsess *ts = j->ts;
    ta_unhold(ts, j->h); /* frees j */
    ta_result(st, ta_text_result("polled"));
}

static void ta_tool(struct tsess *ts, const struct rpc_msg *m, struct shttp_stream *st)
{
    const char *name = json_string_value(json_object_get(m->params, "name"));
    json_t *args = json_object_get(m->params, "arguments");
    if (name == NULL) {
        ta_error(st, RPC_INVALID_PARAMS, "missing tool name");
        return;
    }
    if (strcmp(name, "echo") == 0) {
        const char *t = json_string_value(json_object_get(args, "text"));
        ta_result(st, ta_text_result(t ? t : ""));
    } else if (strcmp(name, "progress") == 0) {
        json_int_t steps = json_integer_value(json_object_get(args, "steps"));
        json_t *tok = json_object_get(json_object_get(m->params, "_meta"), "progressToken");
        for (json_int_t i = 1; i <= steps && tok != NULL; i++)
            ta_notify(st, NULL, "notifications/progress",
                      json_pack("{s:O,s:I,s:I}", "progressToken", tok, "progress", i, "total",
                                steps));
        ta_notify(st, NULL, "notifications/message",
                  json_pack("{s:s,s:s,s:s}", "level", "info", "logger", "testapp", "data",
                            "progress finished"));
        char txt[64];
        snprintf(txt, sizeof(txt), "done %lld", (long long)steps);
        ta_result(st, ta_text_result(txt));
    } else if (strcmp(name, "ask") == 0) {
        const char *q = json_string_value(json_object_get(args, "message"));
        struct held *h = ta_hold(ts, st);
        char id[48];
        snprintf(id, sizeof(id), "srv-%u", ++ts->next_id);
        json_t *jid = json_string(id);
        rpc_id_key(jid, h->ask_key, sizeof(h->ask_key));
        json_t *params = json_pack(
            "{s:s,s:{s:s,s:{s:{s:s}},s:[s]}}", "message", q ? q : "?", "requestedSchema", "type",
            "object", "properties", "answer", "type", "string", "required", "answer");
        struct buf b;
        buf_init(&b, 64 * 1024);
        rpc_emit_request(&b, jid, "elicitation/create", params);
        json_decref(params);
        json_decref(jid);
        shttp_stream_send(st, buf_head(&b), buf_used(&b));
        buf_free(&b);
    } else if (strcmp(name, "notify") == 0) {
        const char *t = json_string_value(json_object_get(args, "text"));
        ta_notify(NULL, ts->s, "notifications/message",
                  json_pack("{s:s,s:s,s:s}", "level", "info", "logger", "testapp", "data",
                            t ? t : "unsolicited"));
        ta_result(st, ta_text_result("queued"));
    } else if (strcmp(name, "poll") == 0) {
        /* A progress message, then the server closes the connection (the
         * stream stays); the answer follows while the client is away, and
         * it gets it by resuming with Last-Event-ID. */
        json_t *tok = json_object_get(json_object_get(m->params, "_meta"), "progressToken");
        ta_notify(st, NULL, "notifications/progress",
                  json_pack("{s:O,s:i,s:i}", "progressToken", tok ? tok : json_null(), "progress",
                            1, "total", 2));
        struct held *h = ta_hold(ts, st);
        shttp_stream_disconnect(st);
        struct poll_job *j = calloc(1, sizeof(*j));
        if (j == NULL)
            abort();
        j->a = ts->a;
        j->ts = ts;
        j->h = h;
        j->ev = event_new(ts->a->base, -1, 0, ta_poll_cb, j);
        h->job = j;
        struct timeval tv = {0, 100000};
        event_add(j->ev, &tv);
    } else if (strcmp(name, "slow") == 0) {
        ta_hold(ts, st);
    } else if (strcmp(name, "big") == 0) {
        json_int_t n = json_integer_value(json_object_get(args, "bytes"));
        if (n < 0 || n > 16 * 1024 * 1024)
            n = 0;
        char *t = malloc((size_t)n + 1);
        memset(t, 'x', (size_t)n);
        t[n] = '\0';
        ta_result(st, ta_text_result(t));
        free(t);
    } else {
        ta_error(st, RPC_INVALID_PARAMS, "unknown tool");
    }
}

static int ta_session_open(void *app, struct shttp_session *s, struct http_request *req,
                           const struct rpc_msg *init, void **sess_ud)
{
    (void)req;
    (void)init;
    struct testapp *a = app;
    struct tsess *ts = calloc(1, sizeof(*ts));
    if (ts == NULL)
        return 503;
    ts->a = a;
    ts->s = s;
    *sess_ud = ts;
    pthread_mutex_lock(&a->mu);
    a->c.sessions_opened++;
    pthread_mutex_unlock(&a->mu);
    ta_event(a, "session_open", shttp_session_id(s));
    return 0;
}

static void ta_session_close(void *app, void *sess_ud, enum shttp_close_reason why)
{
    struct testapp *a = app;
    struct tsess *ts = sess_ud;
    while (ts->held != NULL) {
        shttp_stream_release(ts->held->st);
        ta_unhold(ts, ts->held);
    }
    free(ts);
    pthread_mutex_lock(&a->mu);
    a->c.sessions_closed++;
    snprintf(a->c.last_close_reason, sizeof(a->c.last_close_reason), "%s",
             shttp_close_reason_name(why));
    pthread_mutex_unlock(&a->mu);
    ta_event(a, "session_close", shttp_close_reason_name(why));
}

static void ta_abandoned(void *app, void *sess_ud, struct shttp_stream *st)
{
    struct testapp *a = app;
    struct tsess *ts = sess_ud;
    char key[TA_KEY] = "";
    rpc_id_key(shttp_stream_request_id(st), key, sizeof(key));
    for (struct held *h = ts->held; h != NULL; h = h->next) {
        if (h->st == st) {
            ta_unhold(ts, h);
            break;
        }
    }
    shttp_stream_release(st);
    pthread_mutex_lock(&a->mu);
    a->c.abandoned++;
    snprintf(a->c.last_abandoned_id, sizeof(a->c.last_abandoned_id), "%s", key);
    pthread_mutex_unlock(&a->mu);
    ta_event(a, "abandoned", key);
}

static int ta_on_message(void *app, void *sess_ud, struct http_request *req,
                         const struct rpc_msg *m, const char *raw, size_t rawlen,
                         struct shttp_stream *st)
{
    (void)req;
    (void)raw;
    (void)rawlen;
    struct testapp *a = app;
    struct tsess *ts = sess_ud;
    pthread_mutex_lock(&a->mu);
    a->c.messages++;
    pthread_mutex_unlock(&a->mu);
    if (m->kind == RPC_REQUEST) {
        if (strcmp(m->method, "initialize") == 0) {
            const char *v = json_string_value(json_object_get(m->params, "protocolVersion"));
            if (v == NULL || !mcp_version_supported(v, strlen(v)))
                v = MCP_LATEST_VERSION;
            ta_result(st, json_pack("{s:s,s:{s:{s:b},s:{}},s:{s:s,s:s}}", "protocolVersion", v,
                                    "capabilities", "tools", "listChanged", 1, "logging",
                                    "serverInfo", "name", "shttp-testapp", "version", "0.1.0"));
        } else if (strcmp(m->method, "ping") == 0) {
            ta_result(st, json_object());
        } else if (strcmp(m->method, "tools/list") == 0) {
            ta_result(st, ta_tools());
        } else if (strcmp(m->method, "tools/call") == 0) {
            ta_tool(ts, m, st);
        } else {
            ta_error(st, RPC_METHOD_NOT_FOUND, "method not found");
        }
        return 0;
    }
    if (m->kind == RPC_NOTIFICATION) {
        if (strcmp(m->method, "notifications/cancelled") == 0) {
            char key[TA_KEY] = "";
            rpc_id_key(json_object_get(m->params, "requestId"), key, sizeof(key));
            for (struct held *h = ts->held; h != NULL; h = h->next) {
                if (strcmp(h->key, key) == 0) {
                    shttp_stream_release(h->st);
                    ta_unhold(ts, h);
                    pthread_mutex_lock(&a->mu);
                    a->c.cancelled++;
                    pthread_mutex_unlock(&a->mu);
                    ta_event(a, "cancelled", key);
                    break;
                }
            }
        }
        return 0;
    }
    /* A response to one of our requests. */
    char key[TA_KEY] = "";
    rpc_id_key(m->id, key, sizeof(key));
    for (struct held *h = ts->held; h != NULL; h = h->next) {
        if (h->ask_key[0] != '\0' && strcmp(h->ask_key, key) == 0) {
            struct shttp_stream *cst = h->st;
            ta_unhold(ts, h);
            if (m->kind == RPC_RESULT) {
                const char *ans =
                    json_string_value(json_object_get(json_object_get(m->result, "content"),
                                                      "answer"));
                const char *action = json_string_value(json_object_get(m->result, "action"));
                char txt[512];
                snprintf(txt, sizeof(txt), "%s: %s", action ? action : "?", ans ? ans : "");
                ta_result(cst, ta_text_result(txt));
            } else {
                ta_error(cst, RPC_INTERNAL_ERROR, "the client refused the elicitation");
            }
            return 0;
        }
    }
    return 400; /* a response to nothing we asked */
}

static const struct shttp_app_ops ta_ops = {
    .session_open = ta_session_open,
    .session_close = ta_session_close,
    .on_message = ta_on_message,
    .on_abandoned = ta_abandoned,
};

struct testapp *testapp_new(struct http_listener *l, const struct shttp_opts *o, FILE *log,
                            char *err, size_t errlen)
{
    struct testapp *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    pthread_mutex_init(&a->mu, NULL);
    a->log = log;
    a->base = http_server_base(http_listener_server(l));
    a->srv = shttp_server_new(l, o, &ta_ops, a, err, errlen);
    if (a->srv == NULL) {
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    return a;
}

void testapp_free(struct testapp *a)
{
    if (a == NULL)
        return;
    shttp_server_free(a->srv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void testapp_counts(struct testapp *a, struct testapp_counts *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->c;
    pthread_mutex_unlock(&a->mu);
}

struct shttp_server *testapp_server(struct testapp *a)
{
    return a->srv;
}
