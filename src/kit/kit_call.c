/* kit_call.c - one request being handled: finishing it, progress and log
 * notifications, requests to the client, and cancellation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit_internal.h"
#include "proto/json.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define KIT_MAX_OUT        (32u * 1024u * 1024u)
#define KIT_MAX_COMPLETION 100

static const char *const level_names[] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};

const char *kit_log_level_name(enum kit_log_level l)
{
    if ((size_t)l >= sizeof(level_names) / sizeof(level_names[0]))
        return "info";
    return level_names[l];
}

bool kit_log_level_parse(const char *s, enum kit_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum kit_log_level)i;
            return true;
        }
    }
    return false;
}

/* ---- life of a call ------------------------------------------------------ */

struct kit_call *kit_call_new(struct kit_session *ss, enum kit_call_kind kind, const char *method,
                              const struct rpc_msg *m, void *stream)
{
    struct kit_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->sess = ss;
    c->kind = kind;
    c->method = method;
    c->req = json_incref(m->root);
    c->id = m->id;
    c->stream = stream;
    const json_t *tok = json_object_get(json_object_get(m->params, "_meta"), "progressToken");
    if (json_is_string(tok) || json_is_integer(tok))
        c->progress_token = (json_t *)tok;
    c->start_wall_us = wall_us();
    c->start_mono_us = mono_us();
    c->next = ss->calls;
    if (ss->calls != NULL)
        ss->calls->prev = c;
    ss->calls = c;
    ss->ncalls++;
    return c;
}

static bool call_linked(const struct kit_call *c)
{
    return c->sess != NULL;
}

static void call_unlink(struct kit_call *c)
{
    struct kit_session *ss = c->sess;
    if (ss == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        ss->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    ss->ncalls--;
    c->sess = NULL;
}

static void outbound_free(struct kit_outbound *ob)
{
    struct kit_session *ss = ob->sess;
    if (ob->prev != NULL)
        ob->prev->next = ob->next;
    else
        ss->out = ob->next;
    if (ob->next != NULL)
        ob->next->prev = ob->prev;
    ss->nout--;
    if (ob->timer != NULL)
        event_free(ob->timer);
    json_decref(ob->id);
    free(ob);
}

/* Tells the client we no longer want the answer to an outbound request. */
static void outbound_send_cancel(struct kit_outbound *ob, const char *reason)
{
    struct kit_session *ss = ob->sess;
    if (ss->closed)
        return;
    json_t *p = json_pack("{s:O, s:s}", "requestId", ob->id, "reason", reason);
    struct buf b;
    buf_init(&b, 4096);
    if (p != NULL && rpc_emit_notification(&b, "notifications/cancelled", p) == 0)
        kit_session_emit(ss, ob->call != NULL ? ob->call->stream : NULL, &b, false);
    buf_free(&b);
    json_decref(p);
}

void kit_call_release(struct kit_call *c)
{
    MW_ASSERT(c->finished && c->holds == 0);
    if (call_linked(c)) {
        struct kit_session *ss = c->sess;
        for (struct kit_outbound *ob = ss->out, *nx; ob != NULL; ob = nx) {
            nx = ob->next;
            if (ob->call == c)
                outbound_free(ob);
        }
        call_unlink(c);
    }
    if (c->args_owned)
        json_decref(c->args);
    json_decref(c->req);
    free(c->name);
    free(c);
}

void kit_call_unhold(struct kit_call *c)
{
    MW_ASSERT(c->holds > 0);
    c->holds--;
    if (c->finished && c->holds == 0)
        kit_call_release(c);
}

void kit_call_cancel(struct kit_call *c)
{
    if (c->finished || c->cancelled)
        return;
    c->cancelled = true;
    c->holds++;
    kit_outbound_fail_all(c->sess, c, KIT_ERR_CANCELLED, "the request was cancelled");
    if (!c->finished && c->on_cancel != NULL) {
        void (*fn)(struct kit_call *, void *) = c->on_cancel;
        c->on_cancel = NULL;
        fn(c, c->on_cancel_ud);
    }
    kit_call_unhold(c);
}

static void record(struct kit_call *c, struct kit_session *ss, enum kit_outcome oc, int code,
                   const char *message, const char *reason, const json_t *result)
{
    struct kit_server *s = ss->srv;
    if (s->recorder == NULL)
        return;
    struct kit_call_record r = {
        .method = c->method,
        .name = c->name,
        .args = c->kind == KIT_C_READ ? NULL : c->args,
        .session = ss->id,
        .client_info = ss->client_info,
        .outcome = oc,
        .code = code,
        .message = message,
        .reason = reason != NULL ? reason : c->reason,
        .result = result,
        .start_wall_us = c->start_wall_us,
        .duration_us = mono_us() - c->start_mono_us,
    };
    s->recorder(&r, s->recorder_ud);
}

/* Text of the first text block of a tool error result, for records. */
static const char *tool_error_text(const json_t *result)
{
    const json_t *first = json_array_get(json_object_get(result, "content"), 0);
    return json_string_value(json_object_get(first, "text"));
}

/* Sends the answer and finishes the call. Exactly one of result (stolen) or
 * message is set. */
static int finish(struct kit_call *c, json_t *result, int code, const char *reason,
                  json_t *data, const char *message)
{
    MW_ASSERT(!c->finished);
    struct kit_session *ss = c->sess;
    int rc = 0;
    c->finished = true;
    c->on_cancel = NULL;
    /* Outbound requests still pending for this call are abandoned: the client
     * is told, and their callbacks are never run. */
    for (struct kit_outbound *ob = ss->out, *nx; ob != NULL; ob = nx) {
        nx = ob->next;
        if (ob->call == c) {
            outbound_send_cancel(ob, "the request that asked is finished");
            outbound_free(ob);
        }
    }
    if (result != NULL && c->kind == KIT_C_TOOL && c->tool != NULL && c->tool->out != NULL &&
        !json_is_true(json_object_get(result, "isError"))) {
        const json_t *sc = json_object_get(result, "structuredContent");
        char err[300];
        if (sc == NULL) {
            log_warnx("kit: tool %s returned no structuredContent but declares an outputSchema",
                      c->name);
            rc = -1;
        } else if (kit_schema_validate_result(c->tool->out, sc, err, sizeof(err)) < 0) {
            log_warnx("kit: tool %s returned structuredContent that fails its outputSchema: %s",
                      c->name, err);
            rc = -1;
        }
        if (rc < 0) {
            json_decref(result);
            result = NULL;
            code = RPC_INTERNAL_ERROR;
            reason = "invalid_tool_result";
            message = "The tool produced a result that does not match its output schema";
        }
    }
    if (c->cancelled || ss->closed) {
        if (!ss->closed && c->stream != NULL && ss->tp->drop != NULL)
            ss->tp->drop(ss->tctx, c->stream);
        record(c, ss, KIT_CANCELLED, 0, NULL, "cancelled", NULL);
        json_decref(result);
        json_decref(data);
        goto out;
    }
    struct buf b;
    buf_init(&b, KIT_MAX_OUT);
    if (result != NULL) {
        if (rpc_emit_result(&b, c->id, result) == 0) {
            kit_session_emit(ss, c->stream, &b, true);
            bool tool_err = c->kind == KIT_C_TOOL && json_is_true(json_object_get(result, "isError"));
            record(c, ss, tool_err ? KIT_TOOL_ERROR : KIT_OK, 0,
                   tool_err ? tool_error_text(result) : NULL, NULL, result);
        } else {
            log_warnx("kit: the result of %s %s is larger than %u bytes; sent an error instead",
                      c->method, c->name != NULL ? c->name : "", KIT_MAX_OUT);
            buf_reset(&b);
            rc = -1;
            code = RPC_INTERNAL_ERROR;
            reason = "result_too_large";
            message = "The result was too large to send";
        }
        json_decref(result);
    }
    if (message != NULL) {
        if (rpc_emit_error(&b, c->id, code, message, reason, data) < 0) {
            buf_reset(&b);
            rpc_emit_error(&b, c->id, RPC_INTERNAL_ERROR, "Internal error", "internal_error",
                           NULL);
            rc = -1;
        }
        kit_session_emit(ss, c->stream, &b, true);
        record(c, ss, KIT_RPC_ERROR, code, message, reason, NULL);
        json_decref(data);
    }
    buf_free(&b);
out:
    call_unlink(c);
    if (c->holds == 0)
        kit_call_release(c);
    kit_session_maybe_free(ss);
    return rc;
}

/* ---- accessors ------------------------------------------------------------ */

const char *kit_call_method(const struct kit_call *c)
{
    return c->method;
}
const char *kit_call_name(const struct kit_call *c)
{
    return c->name;
}
const json_t *kit_call_params(const struct kit_call *c)
{
    return json_object_get(c->req, "params");
}
const json_t *kit_call_client_caps(const struct kit_call *c)
{
    return c->sess->client_caps;
}
const char *kit_call_protocol_version(const struct kit_call *c)
{
    return mcp_rev_name(c->sess->version);
}
const char *kit_call_session_id(const struct kit_call *c)
{
    return c->sess->id;
}
struct event_base *kit_call_base(const struct kit_call *c)
{
    return c->sess->srv->base;
}
bool kit_call_cancelled(const struct kit_call *c)
{
    return c->cancelled;
}
void kit_call_on_cancel(struct kit_call *c, void (*fn)(struct kit_call *, void *), void *ud)
{
    c->on_cancel = fn;
    c->on_cancel_ud = ud;
}
void kit_call_set_reason(struct kit_call *c, const char *reason)
{
    c->reason = reason;
}

int kit_call_disconnect(struct kit_call *c)
{
    struct kit_session *ss = c->sess;
    if (c->finished || c->cancelled || ss->closed || c->stream == NULL ||
        ss->tp->disconnect == NULL)
        return -1;
    return ss->tp->disconnect(ss->tctx, c->stream);
}

/* ---- notifications tied to the call -------------------------------------- */

static int emit_notification(struct kit_call *c, const char *method, json_t *params)
{
    struct buf b;
    buf_init(&b, KIT_MAX_OUT);
    int rc = -1;
    if (params != NULL && rpc_emit_notification(&b, method, params) == 0)
        rc = kit_session_emit(c->sess, c->stream, &b, false);
    buf_free(&b);
    json_decref(params);
    return rc;
}

int kit_call_progress(struct kit_call *c, double progress, double total, const char *message)
{
    if (c->finished || c->cancelled || c->progress_token == NULL)
        return 0;
    if (c->has_progress && !(progress > c->last_progress))
        return -1;
    c->has_progress = true;
    c->last_progress = progress;
    json_t *p = json_pack("{s:O, s:f}", "progressToken", c->progress_token, "progress", progress);
    if (p != NULL && total >= 0)
        json_object_set_new(p, "total", json_real(total));
    if (p != NULL && message != NULL)
        json_object_set_new(p, "message", json_string(message));
    return emit_notification(c, "notifications/progress", p) < 0 ? -1 : 0;
}

int kit_call_log_data(struct kit_call *c, enum kit_log_level level, const char *logger,
                      json_t *data)
{
    if (c->finished || c->cancelled || level < c->sess->log_level || data == NULL) {
        json_decref(data);
        return 0;
    }
    json_t *p = json_pack("{s:s, s:o}", "level", kit_log_level_name(level), "data", data);
    if (p != NULL && logger != NULL)
        json_object_set_new(p, "logger", json_string(logger));
    emit_notification(c, "notifications/message", p);
    return 0;
}

int kit_call_log(struct kit_call *c, enum kit_log_level level, const char *logger,
                 const char *fmt, ...)
{
    if (c->finished || c->cancelled || level < c->sess->log_level)
        return 0;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kit_call_log_data(c, level, logger, json_string(msg));
}

/* ---- requests to the client ----------------------------------------------- */

static void outbound_deliver(struct kit_outbound *ob, const json_t *result,
                             const struct kit_rpc_error *err)
{
    struct kit_call *c = ob->call;
    kit_reply_fn fn = ob->fn;
    void *ud = ob->ud;
    outbound_free(ob);
    if (c == NULL)
        return;
    c->holds++;
    fn(c, result, err, ud);
    kit_call_unhold(c);
}

static void outbound_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kit_outbound *ob = arg;
    struct kit_session *ss = ob->sess;
    ss->holds++;
    outbound_send_cancel(ob, "timeout");
    struct kit_rpc_error e = {MW_ERR_TIMEOUT, "The client did not answer in time", NULL};
    outbound_deliver(ob, NULL, &e);
    ss->holds--;
    kit_session_maybe_free(ss);
}

int kit_call_request(struct kit_call *c, const char *method, json_t *params, kit_reply_fn fn,
                     void *ud)
{
    struct kit_session *ss = c->sess;
    if (c->finished || c->cancelled || ss->closed || fn == NULL ||
        ss->nout >= ss->srv->lim.max_outbound) {
        json_decref(params);
        return -1;
    }
    struct kit_outbound *ob = calloc(1, sizeof(*ob));
    if (ob == NULL) {
        json_decref(params);
        return -1;
    }
    ob->sess = ss;
    ob->call = c;
    ob->fn = fn;
    ob->ud = ud;
    ob->id = json_integer(++ss->next_out_id);
    rpc_id_key(ob->id, ob->key, sizeof(ob->key));
    ob->timer = evtimer_new(ss->srv->base, outbound_timeout, ob);
    struct buf b;
    buf_init(&b, KIT_MAX_OUT);
    int rc = -1;
    if (ob->id != NULL && ob->timer != NULL &&
        rpc_emit_request(&b, ob->id, method, params) == 0)
        rc = kit_session_emit(ss, c->stream, &b, false);
    buf_free(&b);
    json_decref(params);
    if (rc < 0) {
        if (ob->timer != NULL)
            event_free(ob->timer);
        json_decref(ob->id);
        free(ob);
        return -1;
    }
    struct timeval tv = {
        .tv_sec = (time_t)(ss->srv->lim.outbound_timeout_us / 1000000u),
        .tv_usec = (suseconds_t)(ss->srv->lim.outbound_timeout_us % 1000000u),
    };
    evtimer_add(ob->timer, &tv);
    ob->next = ss->out;
    if (ss->out != NULL)
        ss->out->prev = ob;
    ss->out = ob;
    ss->nout++;
    return 0;
}

static bool client_has(const struct kit_call *c, const char *cap)
{
    return json_is_object(json_object_get(c->sess->client_caps, cap));
}

int kit_call_sample(struct kit_call *c, json_t *params, kit_reply_fn fn, void *ud)
{
    if (!client_has(c, "sampling")) {
        json_decref(params);
        return -1;
    }
    return kit_call_request(c, "sampling/createMessage", params, fn, ud);
}

int kit_call_elicit(struct kit_call *c, json_t *params, kit_reply_fn fn, void *ud)
{
    if (!client_has(c, "elicitation")) {
        json_decref(params);
        return -1;
    }
    return kit_call_request(c, "elicitation/create", params, fn, ud);
}

int kit_call_list_roots(struct kit_call *c, kit_reply_fn fn, void *ud)
{
    if (!client_has(c, "roots"))
        return -1;
    return kit_call_request(c, "roots/list", NULL, fn, ud);
}

void kit_outbound_answer(struct kit_session *ss, const struct rpc_msg *m)
{
    char key[80];
    if (m->id == NULL || rpc_id_key(m->id, key, sizeof(key)) == 0)
        return;
    struct kit_outbound *ob = ss->out;
    while (ob != NULL && strcmp(ob->key, key) != 0)
        ob = ob->next;
    if (ob == NULL) {
        log_debug("kit: session %s: answer to an unknown or abandoned request ignored", ss->id);
        return;
    }
    if (m->kind == RPC_RESULT) {
        outbound_deliver(ob, m->result, NULL);
        return;
    }
    const json_t *code = json_object_get(m->error, "code");
    const char *msg = json_string_value(json_object_get(m->error, "message"));
    struct kit_rpc_error e = {
        .code = json_is_integer(code) ? (int)json_integer_value(code) : RPC_INTERNAL_ERROR,
        .message = msg != NULL ? msg : "",
        .data = json_object_get(m->error, "data"),
    };
    outbound_deliver(ob, NULL, &e);
}

void kit_outbound_fail_all(struct kit_session *ss, struct kit_call *only, int code,
                           const char *message)
{
    for (;;) {
        struct kit_outbound *ob = ss->out;
        while (ob != NULL && only != NULL && ob->call != only)
            ob = ob->next;
        if (ob == NULL)
            return;
        if (code == KIT_ERR_CANCELLED)
            outbound_send_cancel(ob, "the request that asked was cancelled");
        struct kit_rpc_error e = {code, message, NULL};
        outbound_deliver(ob, NULL, &e);
    }
}

/* ---- finishers -------------------------------------------------------------- */

int kit_call_result(struct kit_call *c, json_t *result)
{
    if (result == NULL || !json_is_object(result)) {
        json_decref(result);
        log_warnx("kit: %s %s finished with a missing or non-object result", c->method,
                  c->name != NULL ? c->name : "");
        finish(c, NULL, RPC_INTERNAL_ERROR, "internal_error", NULL, "Internal error");
        return -1;
    }
    return finish(c, result, 0, NULL, NULL, NULL);
}

int kit_call_fail(struct kit_call *c, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return finish(c, NULL, code, NULL, NULL, msg);
}

int kit_call_fail_data(struct kit_call *c, int code, const char *reason, json_t *data,
                       const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (reason != NULL && c->reason == NULL)
        c->reason = reason;
    return finish(c, NULL, code, reason, data, msg);
}

static int finish_built(struct kit_call *c, json_t *result)
{
    if (result == NULL) {
        log_warnx("kit: could not build the result of %s %s (out of memory or text that is "
                  "not UTF-8)",
                  c->method, c->name != NULL ? c->name : "");
        finish(c, NULL, RPC_INTERNAL_ERROR, "internal_error", NULL, "Internal error");
        return -1;
    }
    return finish(c, result, 0, NULL, NULL, NULL);
}

int kit_call_tool_text(struct kit_call *c, const char *text)
{
    json_t *t = kit_content_text(text);
    return finish_built(c, t == NULL ? NULL : json_pack("{s:[o]}", "content", t));
}

int kit_call_tool_error(struct kit_call *c, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *t = kit_content_text(msg);
    return finish_built(c, t == NULL ? NULL : json_pack("{s:[o], s:b}", "content", t, "isError", 1));
}

int kit_call_tool_structured(struct kit_call *c, json_t *structured, const char *text)
{
    if (structured == NULL)
        return finish_built(c, NULL);
    char *dump = NULL;
    if (text == NULL) {
        dump = json_dumps(structured, JSON_COMPACT);
        text = dump;
    }
    json_t *t = text != NULL ? kit_content_text(text) : NULL;
    free(dump);
    if (t == NULL) {
        json_decref(structured);
        return finish_built(c, NULL);
    }
    return finish_built(c, json_pack("{s:[o], s:o}", "content", t, "structuredContent",
                                     structured));
}

int kit_call_resource_text(struct kit_call *c, const char *uri, const char *mime_type,
                           const char *text, size_t len)
{
    json_t *item = json_pack("{s:s, s:s%}", "uri", uri, "text", text, len);
    if (item != NULL && mime_type != NULL)
        json_object_set_new(item, "mimeType", json_string(mime_type));
    return finish_built(c, item == NULL ? NULL : json_pack("{s:[o]}", "contents", item));
}

int kit_call_resource_blob(struct kit_call *c, const char *uri, const char *mime_type,
                           const void *data, size_t len)
{
    char *b64 = kit_base64(data, len);
    json_t *item = b64 != NULL ? json_pack("{s:s, s:s}", "uri", uri, "blob", b64) : NULL;
    free(b64);
    if (item != NULL && mime_type != NULL)
        json_object_set_new(item, "mimeType", json_string(mime_type));
    return finish_built(c, item == NULL ? NULL : json_pack("{s:[o]}", "contents", item));
}

int kit_call_completion(struct kit_call *c, const char *const *values, size_t n, bool has_more)
{
    json_t *arr = json_array();
    size_t sent = n > KIT_MAX_COMPLETION ? KIT_MAX_COMPLETION : n;
    for (size_t i = 0; arr != NULL && i < sent; i++) {
        json_t *v = json_string(values[i]);
        if (v == NULL) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_array_append_new(arr, v);
    }
    if (arr == NULL)
        return finish_built(c, NULL);
    json_t *comp = json_pack("{s:o, s:b}", "values", arr, "hasMore", has_more || n > sent);
    if (comp != NULL && n > sent)
        json_object_set_new(comp, "total", json_integer((json_int_t)n));
    return finish_built(c, comp == NULL ? NULL : json_pack("{s:o}", "completion", comp));
}
