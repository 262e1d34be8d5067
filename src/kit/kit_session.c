/* kit_session.c - one client session: lifecycle, dispatch of every request
 * the kit answers itself, and routing to handlers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit_internal.h"
#include "proto/json.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define KIT_MAX_OUT (32u * 1024u * 1024u) /* one outbound message */
#define KIT_URI_MAX 2048

struct kit_session *kit_session_open(struct kit_server *s, const struct kit_transport *tp,
                                     void *tctx, const char *id)
{
    struct kit_session *ss = calloc(1, sizeof(*ss));
    if (ss == NULL)
        return NULL;
    ss->srv = s;
    ss->tp = tp;
    ss->tctx = tctx;
    ss->client_caps = json_object();
    ss->subs = json_object();
    ss->log_level = KIT_LOG_INFO;
    if (ss->client_caps == NULL || ss->subs == NULL) {
        json_decref(ss->client_caps);
        json_decref(ss->subs);
        free(ss);
        return NULL;
    }
    if (id != NULL)
        str_copy(ss->id, id, sizeof(ss->id));
    else
        snprintf(ss->id, sizeof(ss->id), "session-%lu", ++s->next_session);
    ss->next = s->sessions;
    s->sessions = ss;
    return ss;
}

void kit_session_maybe_free(struct kit_session *ss)
{
    if (!ss->closed || ss->holds > 0 || ss->calls != NULL || ss->out != NULL)
        return;
    struct kit_session **pp = &ss->srv->sessions;
    while (*pp != NULL && *pp != ss)
        pp = &(*pp)->next;
    if (*pp == ss)
        *pp = ss->next;
    json_decref(ss->client_caps);
    json_decref(ss->client_info);
    json_decref(ss->subs);
    free(ss);
}

void kit_session_close(struct kit_session *ss)
{
    if (ss->closed)
        return;
    /* Reply channels that outlive the session are given back now; calls still
     * running answer into nothing. */
    if (ss->tp->streams_outlive_session && ss->tp->drop != NULL) {
        for (struct kit_call *c = ss->calls; c != NULL; c = c->next) {
            if (c->stream != NULL) {
                ss->tp->drop(ss->tctx, c->stream);
                c->stream = NULL;
            }
        }
    }
    ss->closed = true;
    ss->state = KIT_S_CLOSED;
    ss->holds++;
    for (;;) {
        struct kit_call *c = ss->calls;
        while (c != NULL && c->cancelled)
            c = c->next;
        if (c == NULL)
            break;
        kit_call_cancel(c);
    }
    kit_outbound_fail_all(ss, NULL, KIT_ERR_CLOSED, "the session ended");
    ss->holds--;
    kit_session_maybe_free(ss);
}

void kit_session_abandon_stream(struct kit_session *ss, void *stream)
{
    if (ss->closed || stream == NULL)
        return;
    ss->holds++;
    for (struct kit_call *c = ss->calls; c != NULL; c = c->next) {
        if (c->stream == stream && !c->cancelled) {
            kit_call_cancel(c);
            break;
        }
    }
    ss->holds--;
    kit_session_maybe_free(ss);
}

size_t kit_session_live_calls(const struct kit_session *ss)
{
    return ss->ncalls;
}

int kit_session_emit(struct kit_session *ss, void *stream, struct buf *b, bool final)
{
    if (ss->closed)
        return -1;
    return ss->tp->send(ss->tctx, stream, buf_head(b), buf_used(b), final);
}

int kit_session_send(struct kit_session *ss, const char *data, size_t len)
{
    if (ss->closed)
        return -1;
    return ss->tp->send(ss->tctx, NULL, data, len, false);
}

void kit_send_error(struct kit_session *ss, void *stream, const json_t *id, int code,
                    const char *reason, const char *message)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (rpc_emit_error(&b, id, code, message, reason, NULL) == 0)
        kit_session_emit(ss, stream, &b, true);
    else if (stream != NULL && ss->tp->drop != NULL && !ss->closed)
        ss->tp->drop(ss->tctx, stream);
    buf_free(&b);
}

static void send_result(struct kit_session *ss, void *stream, const json_t *id,
                        const json_t *result)
{
    struct buf b;
    buf_init(&b, KIT_MAX_OUT);
    if (rpc_emit_result(&b, id, result) == 0) {
        kit_session_emit(ss, stream, &b, true);
    } else {
        log_warnx("kit: a response was larger than %u bytes; sent an error instead",
                  KIT_MAX_OUT);
        kit_send_error(ss, stream, id, RPC_INTERNAL_ERROR, "internal_error", "Internal error");
    }
    buf_free(&b);
}

static void send_empty(struct kit_session *ss, void *stream, const json_t *id)
{
    json_t *o = json_object();
    send_result(ss, stream, id, o);
    json_decref(o);
}

static void send_errorf(struct kit_session *ss, void *stream, const json_t *id, int code,
                        const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void send_errorf(struct kit_session *ss, void *stream, const json_t *id, int code,
                        const char *reason, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kit_send_error(ss, stream, id, code, reason, msg);
}

/* ---- inbound ----------------------------------------------------------- */

static void handle_notification(struct kit_session *ss, const struct rpc_msg *m)
{
    const struct mcp_method *mm = mcp_method_lookup(m->method, m->method_len);
    if (mm == NULL)
        return;
    switch (mm->id) {
    case MCP_N_INITIALIZED:
        if (ss->state == KIT_S_INITIALIZED)
            ss->state = KIT_S_READY;
        break;
    case MCP_N_CANCELLED: {
        const json_t *rid = json_object_get(m->params, "requestId");
        if (rid == NULL || !rpc_id_valid(rid))
            break;
        for (struct kit_call *c = ss->calls; c != NULL; c = c->next) {
            if (!c->cancelled && rpc_id_equal(c->id, rid)) {
                kit_call_cancel(c);
                break;
            }
        }
        break;
    }
    default:
        break; /* progress, roots/list_changed ...: nothing to do */
    }
}

void kit_session_input(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    if (ss->closed)
        return;
    ss->holds++;
    switch (m->kind) {
    case RPC_REQUEST:
        kit_dispatch_request(ss, m, stream);
        break;
    case RPC_NOTIFICATION:
        handle_notification(ss, m);
        break;
    case RPC_RESULT:
    case RPC_ERROR:
        kit_outbound_answer(ss, m);
        break;
    }
    ss->holds--;
    kit_session_maybe_free(ss);
}

void kit_session_input_raw(struct kit_session *ss, const char *data, size_t len, void *stream)
{
    struct json_limits lim = json_default_limits;
    lim.max_bytes = ss->srv->lim.max_message;
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse(data, len, &lim, &m, &e) < 0) {
        kit_send_error(ss, stream, e.id, e.code, e.reason, e.msg);
        rpc_err_clear(&e);
        return;
    }
    kit_session_input(ss, &m, stream);
    rpc_msg_free(&m);
}

/* ---- the requests the kit answers itself -------------------------------- */

static json_t *server_caps(const struct kit_server *s)
{
    json_t *caps = json_object();
    json_object_set_new(caps, "logging", json_object());
    if (s->ntools > 0)
        json_object_set_new(caps, "tools", json_pack("{s:b}", "listChanged", 0));
    if (s->nprompts > 0)
        json_object_set_new(caps, "prompts", json_pack("{s:b}", "listChanged", 0));
    if (s->nres > 0 || s->ntpls > 0)
        json_object_set_new(caps, "resources",
                            json_pack("{s:b, s:b}", "subscribe", 1, "listChanged", 0));
    if (s->nprompts > 0 || s->ntpls > 0)
        json_object_set_new(caps, "completions", json_object());
    return caps;
}

static void do_initialize(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    if (ss->state != KIT_S_NEW) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_REQUEST, "already_initialized",
                       "The session is already initialized");
        return;
    }
    const json_t *p = m->params;
    const json_t *pv = json_object_get(p, "protocolVersion");
    const json_t *caps = json_object_get(p, "capabilities");
    const json_t *ci = json_object_get(p, "clientInfo");
    if (!json_is_object(p) || !json_is_string(pv)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "initialize needs params.protocolVersion (a string)");
        return;
    }
    if (caps != NULL && !json_is_object(caps)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "initialize: params.capabilities must be an object");
        return;
    }
    if (ci != NULL && !json_is_object(ci)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "initialize: params.clientInfo must be an object");
        return;
    }
    enum mcp_rev r = mcp_rev_from_string(json_string_value(pv), json_string_length(pv));
    if ((r & MCP_REV_LEGACY) == 0)
        r = mcp_rev_from_string(MCP_LATEST_VERSION, strlen(MCP_LATEST_VERSION));
    ss->version = r;
    if (caps != NULL) {
        json_decref(ss->client_caps);
        ss->client_caps = json_deep_copy(caps);
        if (ss->client_caps == NULL)
            ss->client_caps = json_object();
    }
    if (ci != NULL)
        ss->client_info = json_deep_copy(ci);
    json_t *res = json_object();
    json_object_set_new(res, "protocolVersion", json_string(mcp_rev_name(r)));
    json_object_set_new(res, "capabilities", server_caps(ss->srv));
    json_object_set(res, "serverInfo", ss->srv->server_info);
    if (ss->srv->instructions != NULL)
        json_object_set_new(res, "instructions", json_string(ss->srv->instructions));
    ss->state = KIT_S_INITIALIZED;
    send_result(ss, stream, m->id, res);
    json_decref(res);
}

/* Cursor: "p" followed by the decimal offset of the next page. */
static int read_cursor(const json_t *params, size_t n, size_t *off)
{
    const json_t *cur = json_object_get(params, "cursor");
    *off = 0;
    if (cur == NULL || json_is_null(cur))
        return 0;
    if (!json_is_string(cur))
        return -1;
    const char *s = json_string_value(cur);
    uint64_t v;
    if (s[0] != 'p' || parse_u64(s + 1, n, &v) < 0 || v == 0)
        return -1;
    *off = (size_t)v;
    return 0;
}

static void send_list(struct kit_session *ss, const struct rpc_msg *m, void *stream,
                      const char *key, size_t n, const json_t *(*def_at)(const struct kit_server *,
                                                                          size_t))
{
    size_t off;
    if (read_cursor(m->params, n, &off) < 0) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_cursor",
                       "Invalid pagination cursor");
        return;
    }
    size_t end = off + ss->srv->lim.page_size;
    if (end > n)
        end = n;
    json_t *arr = json_array();
    for (size_t i = off; i < end; i++)
        json_array_append(arr, (json_t *)def_at(ss->srv, i));
    json_t *res = json_object();
    json_object_set_new(res, key, arr);
    if (end < n) {
        char cur[32];
        snprintf(cur, sizeof(cur), "p%zu", end);
        json_object_set_new(res, "nextCursor", json_string(cur));
    }
    send_result(ss, stream, m->id, res);
    json_decref(res);
}

static const json_t *tool_at(const struct kit_server *s, size_t i)
{
    return s->tools[i].def;
}
static const json_t *prompt_at(const struct kit_server *s, size_t i)
{
    return s->prompts[i].def;
}
static const json_t *res_at(const struct kit_server *s, size_t i)
{
    return s->res[i].def;
}
static const json_t *tpl_at(const struct kit_server *s, size_t i)
{
    return s->tpls[i].def;
}

static bool admit_call(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    if (ss->ncalls >= ss->srv->lim.max_calls) {
        kit_send_error(ss, stream, m->id, MW_ERR_OVERLOADED, "overloaded",
                       "Too many requests in flight; retry later");
        return false;
    }
    for (struct kit_call *c = ss->calls; c != NULL; c = c->next) {
        if (rpc_id_equal(c->id, m->id)) {
            kit_send_error(ss, stream, m->id, RPC_INVALID_REQUEST, "duplicate_id",
                           "A request with this id is still in progress");
            return false;
        }
    }
    return true;
}

static void do_tools_call(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    struct kit_server *s = ss->srv;
    const json_t *name = json_object_get(m->params, "name");
    if (!json_is_string(name)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "tools/call needs params.name (a string)");
        return;
    }
    const struct kit_tool_ent *t = NULL;
    for (size_t i = 0; i < s->ntools; i++) {
        if (strcmp(s->tools[i].name, json_string_value(name)) == 0 &&
            strlen(s->tools[i].name) == json_string_length(name)) {
            t = &s->tools[i];
            break;
        }
    }
    if (t == NULL) {
        send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "unknown_tool", "Unknown tool: %.128s",
                    json_string_value(name));
        return;
    }
    const json_t *args = json_object_get(m->params, "arguments");
    if (args != NULL && !json_is_object(args)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "tools/call: params.arguments must be an object");
        return;
    }
    if (!admit_call(ss, m, stream))
        return;
    struct kit_call *c = kit_call_new(ss, KIT_C_TOOL, "tools/call", m, stream);
    if (c == NULL) {
        kit_send_error(ss, stream, m->id, RPC_INTERNAL_ERROR, "internal_error", "Internal error");
        return;
    }
    c->tool = t;
    c->name = strdup(t->name);
    if (args != NULL) {
        c->args = (json_t *)args;
    } else {
        c->args = json_object();
        c->args_owned = true;
    }
    c->holds++;
    if (s->gate != NULL && s->gate(c, t->name, c->args, s->gate_ud) < 0) {
        if (!c->finished) {
            log_warnx("kit: gate refused tools/call %s without finishing the call", t->name);
            kit_call_fail(c, MW_ERR_DENIED, "The call was refused");
        }
        kit_call_unhold(c);
        return;
    }
    if (c->finished) {
        kit_call_unhold(c);
        return;
    }
    char err[300];
    if (kit_schema_validate(t->in, c->args, err, sizeof(err)) < 0) {
        kit_call_set_reason(c, "invalid_arguments");
        kit_call_tool_error(c, "Invalid arguments for tool %s: %s", t->name, err);
        kit_call_unhold(c);
        return;
    }
    t->fn(c, c->args, t->ud);
    kit_call_unhold(c);
}

static void do_prompts_get(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    struct kit_server *s = ss->srv;
    const json_t *name = json_object_get(m->params, "name");
    if (!json_is_string(name)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "prompts/get needs params.name (a string)");
        return;
    }
    const struct kit_prompt_ent *p = NULL;
    for (size_t i = 0; i < s->nprompts; i++) {
        if (strcmp(s->prompts[i].name, json_string_value(name)) == 0 &&
            strlen(s->prompts[i].name) == json_string_length(name)) {
            p = &s->prompts[i];
            break;
        }
    }
    if (p == NULL) {
        send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "unknown_prompt",
                    "Unknown prompt: %.128s", json_string_value(name));
        return;
    }
    const json_t *args = json_object_get(m->params, "arguments");
    if (args != NULL && !json_is_object(args)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "prompts/get: params.arguments must be an object");
        return;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)args, k, v) {
        bool known = false;
        for (size_t i = 0; i < p->nargs; i++)
            if (strcmp(p->argnames[i], k) == 0)
                known = true;
        if (!known) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                        "Prompt %s has no argument named %.64s", p->name, k);
            return;
        }
        if (!json_is_string(v)) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                        "Prompt argument %.64s must be a string", k);
            return;
        }
    }
    for (size_t i = 0; i < p->nargs; i++) {
        if (p->argreq[i] && json_object_get(args, p->argnames[i]) == NULL) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                        "Prompt %s needs argument %s", p->name, p->argnames[i]);
            return;
        }
    }
    if (!admit_call(ss, m, stream))
        return;
    struct kit_call *c = kit_call_new(ss, KIT_C_PROMPT, "prompts/get", m, stream);
    if (c == NULL) {
        kit_send_error(ss, stream, m->id, RPC_INTERNAL_ERROR, "internal_error", "Internal error");
        return;
    }
    c->name = strdup(p->name);
    if (args != NULL) {
        c->args = (json_t *)args;
    } else {
        c->args = json_object();
        c->args_owned = true;
    }
    c->holds++;
    p->fn(c, c->args, p->ud);
    kit_call_unhold(c);
}

/* Finds what serves `uri`: a static resource, or the first matching template
 * (then *vars is set to a new object). */
static bool resolve_uri(const struct kit_server *s, const char *uri,
                        const struct kit_res_ent **res, const struct kit_tpl_ent **tpl,
                        json_t **vars)
{
    *res = NULL;
    *tpl = NULL;
    *vars = NULL;
    for (size_t i = 0; i < s->nres; i++) {
        if (strcmp(s->res[i].uri, uri) == 0) {
            *res = &s->res[i];
            return true;
        }
    }
    for (size_t i = 0; i < s->ntpls; i++) {
        json_t *v = kit_uritpl_match(s->tpls[i].tpl, uri);
        if (v != NULL) {
            *tpl = &s->tpls[i];
            *vars = v;
            return true;
        }
    }
    return false;
}

static const char *get_uri(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    const json_t *uri = json_object_get(m->params, "uri");
    if (!json_is_string(uri) || json_string_length(uri) == 0 ||
        json_string_length(uri) > KIT_URI_MAX ||
        strlen(json_string_value(uri)) != json_string_length(uri)) {
        send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                    "%.40s needs params.uri (a non-empty string of at most %d bytes)", m->method,
                    KIT_URI_MAX);
        return NULL;
    }
    return json_string_value(uri);
}

static void send_not_found(struct kit_session *ss, void *stream, const json_t *id,
                           const char *uri)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    json_t *data = json_pack("{s:s}", "uri", uri);
    if (rpc_emit_error(&b, id, MCP_ERR_RESOURCE_NOT_FOUND, "Resource not found",
                       "resource_not_found", data) == 0)
        kit_session_emit(ss, stream, &b, true);
    json_decref(data);
    buf_free(&b);
}

static void do_resources_read(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    const char *uri = get_uri(ss, m, stream);
    if (uri == NULL)
        return;
    const struct kit_res_ent *r;
    const struct kit_tpl_ent *t;
    json_t *vars;
    if (!resolve_uri(ss->srv, uri, &r, &t, &vars)) {
        send_not_found(ss, stream, m->id, uri);
        return;
    }
    if (!admit_call(ss, m, stream)) {
        json_decref(vars);
        return;
    }
    struct kit_call *c = kit_call_new(ss, KIT_C_READ, "resources/read", m, stream);
    if (c == NULL) {
        json_decref(vars);
        kit_send_error(ss, stream, m->id, RPC_INTERNAL_ERROR, "internal_error", "Internal error");
        return;
    }
    c->name = strdup(uri);
    c->args = vars;
    c->args_owned = vars != NULL;
    c->holds++;
    if (r != NULL)
        r->fn(c, c->name, NULL, r->ud);
    else
        t->fn(c, c->name, vars, t->ud);
    kit_call_unhold(c);
}

static void do_subscribe(struct kit_session *ss, const struct rpc_msg *m, void *stream,
                         bool sub)
{
    const char *uri = get_uri(ss, m, stream);
    if (uri == NULL)
        return;
    if (!sub) {
        json_object_del(ss->subs, uri);
        send_empty(ss, stream, m->id);
        return;
    }
    const struct kit_res_ent *r;
    const struct kit_tpl_ent *t;
    json_t *vars;
    if (!resolve_uri(ss->srv, uri, &r, &t, &vars)) {
        send_not_found(ss, stream, m->id, uri);
        return;
    }
    json_decref(vars);
    if (json_object_get(ss->subs, uri) == NULL &&
        json_object_size(ss->subs) >= ss->srv->lim.max_subscriptions) {
        send_errorf(ss, stream, m->id, MW_ERR_OVERLOADED, "too_many_subscriptions",
                    "At most %zu subscriptions per session", ss->srv->lim.max_subscriptions);
        return;
    }
    json_object_set_new(ss->subs, uri, json_true());
    send_empty(ss, stream, m->id);
}

static bool tpl_has_var(const char *tpl, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strchr(tpl, '{'); p != NULL; p = strchr(p + 1, '{')) {
        if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '}')
            return true;
    }
    return false;
}

static void do_complete(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    struct kit_server *s = ss->srv;
    const json_t *ref = json_object_get(m->params, "ref");
    const json_t *arg = json_object_get(m->params, "argument");
    const char *type = json_string_value(json_object_get(ref, "type"));
    const char *aname = json_string_value(json_object_get(arg, "name"));
    const char *aval = json_string_value(json_object_get(arg, "value"));
    if (type == NULL || aname == NULL || aval == NULL) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "completion/complete needs params.ref.type, params.argument.name and "
                       "params.argument.value");
        return;
    }
    const json_t *ctx = json_object_get(json_object_get(m->params, "context"), "arguments");
    if (ctx != NULL && !json_is_object(ctx)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "completion/complete: params.context.arguments must be an object");
        return;
    }
    kit_complete_fn fn = NULL;
    void *ud = NULL;
    const char *target;
    if (strcmp(type, "ref/prompt") == 0) {
        target = json_string_value(json_object_get(ref, "name"));
        const struct kit_prompt_ent *p = NULL;
        for (size_t i = 0; target != NULL && i < s->nprompts; i++)
            if (strcmp(s->prompts[i].name, target) == 0)
                p = &s->prompts[i];
        if (p == NULL) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "unknown_prompt",
                        "Unknown prompt: %.128s", target != NULL ? target : "(none)");
            return;
        }
        bool known = false;
        for (size_t i = 0; i < p->nargs; i++)
            if (strcmp(p->argnames[i], aname) == 0)
                known = true;
        if (!known) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                        "Prompt %s has no argument named %.64s", p->name, aname);
            return;
        }
        fn = p->complete;
        ud = p->complete_ud;
    } else if (strcmp(type, "ref/resource") == 0) {
        target = json_string_value(json_object_get(ref, "uri"));
        const struct kit_tpl_ent *t = NULL;
        for (size_t i = 0; target != NULL && i < s->ntpls; i++)
            if (strcmp(s->tpls[i].tpl, target) == 0)
                t = &s->tpls[i];
        if (t == NULL) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "unknown_template",
                        "Unknown resource template: %.200s", target != NULL ? target : "(none)");
            return;
        }
        if (!tpl_has_var(t->tpl, aname)) {
            send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                        "Template has no variable named %.64s", aname);
            return;
        }
        fn = t->complete;
        ud = t->complete_ud;
    } else {
        send_errorf(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                    "Unknown completion reference type %.40s", type);
        return;
    }
    if (fn == NULL) {
        json_t *res = json_pack("{s:{s:[], s:b}}", "completion", "values", "hasMore", 0);
        send_result(ss, stream, m->id, res);
        json_decref(res);
        return;
    }
    if (!admit_call(ss, m, stream))
        return;
    struct kit_call *c = kit_call_new(ss, KIT_C_COMPLETE, "completion/complete", m, stream);
    if (c == NULL) {
        kit_send_error(ss, stream, m->id, RPC_INTERNAL_ERROR, "internal_error", "Internal error");
        return;
    }
    c->name = strdup(target);
    c->args = (json_t *)ctx;
    c->holds++;
    fn(c, aname, aval, ctx, ud);
    kit_call_unhold(c);
}

static void do_set_level(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    const char *lv = json_string_value(json_object_get(m->params, "level"));
    enum kit_log_level l;
    if (lv == NULL || !kit_log_level_parse(lv, &l)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "logging/setLevel needs params.level: one of debug, info, notice, "
                       "warning, error, critical, alert, emergency");
        return;
    }
    ss->log_level = l;
    send_empty(ss, stream, m->id);
}

static bool params_ok(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    if (m->params != NULL && !json_is_object(m->params)) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_PARAMS, "invalid_params",
                       "params must be an object");
        return false;
    }
    return true;
}

void kit_dispatch_request(struct kit_session *ss, const struct rpc_msg *m, void *stream)
{
    const struct mcp_method *mm = mcp_method_lookup(m->method, m->method_len);
    enum mcp_method_id id = mm != NULL ? mm->id : MCP_M_UNKNOWN;
    const struct kit_server *s = ss->srv;
    if (!params_ok(ss, m, stream))
        return;
    if (ss->state == KIT_S_NEW && id != MCP_M_INITIALIZE && id != MCP_M_PING) {
        kit_send_error(ss, stream, m->id, RPC_INVALID_REQUEST, "not_initialized",
                       "The session is not initialized: send initialize first");
        return;
    }
    switch (id) {
    case MCP_M_INITIALIZE:
        do_initialize(ss, m, stream);
        return;
    case MCP_M_PING:
        send_empty(ss, stream, m->id);
        return;
    case MCP_M_LOGGING_SET_LEVEL:
        do_set_level(ss, m, stream);
        return;
    case MCP_M_TOOLS_LIST:
        if (s->ntools == 0)
            break;
        send_list(ss, m, stream, "tools", s->ntools, tool_at);
        return;
    case MCP_M_TOOLS_CALL:
        if (s->ntools == 0)
            break;
        do_tools_call(ss, m, stream);
        return;
    case MCP_M_PROMPTS_LIST:
        if (s->nprompts == 0)
            break;
        send_list(ss, m, stream, "prompts", s->nprompts, prompt_at);
        return;
    case MCP_M_PROMPTS_GET:
        if (s->nprompts == 0)
            break;
        do_prompts_get(ss, m, stream);
        return;
    case MCP_M_RESOURCES_LIST:
        if (s->nres == 0 && s->ntpls == 0)
            break;
        send_list(ss, m, stream, "resources", s->nres, res_at);
        return;
    case MCP_M_RESOURCES_TEMPLATES_LIST:
        if (s->nres == 0 && s->ntpls == 0)
            break;
        send_list(ss, m, stream, "resourceTemplates", s->ntpls, tpl_at);
        return;
    case MCP_M_RESOURCES_READ:
        if (s->nres == 0 && s->ntpls == 0)
            break;
        do_resources_read(ss, m, stream);
        return;
    case MCP_M_RESOURCES_SUBSCRIBE:
    case MCP_M_RESOURCES_UNSUBSCRIBE:
        if (s->nres == 0 && s->ntpls == 0)
            break;
        do_subscribe(ss, m, stream, id == MCP_M_RESOURCES_SUBSCRIBE);
        return;
    case MCP_M_COMPLETION_COMPLETE:
        if (s->nprompts == 0 && s->ntpls == 0)
            break;
        do_complete(ss, m, stream);
        return;
    default:
        break;
    }
    send_errorf(ss, stream, m->id, RPC_METHOD_NOT_FOUND, "method_not_found",
                "Method not found: %.64s", m->method);
}

/* ---- server-wide notifications ------------------------------------------- */

void kit_resource_updated(struct kit_server *s, const char *uri)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    json_t *p = json_pack("{s:s}", "uri", uri);
    if (p != NULL && rpc_emit_notification(&b, "notifications/resources/updated", p) == 0) {
        for (struct kit_session *ss = s->sessions; ss != NULL; ss = ss->next) {
            if (!ss->closed && json_object_get(ss->subs, uri) != NULL)
                kit_session_send(ss, buf_head(&b), buf_used(&b));
        }
    }
    json_decref(p);
    buf_free(&b);
}

void kit_server_log(struct kit_server *s, enum kit_log_level level, const char *logger,
                    const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:s, s:s}", "level", kit_log_level_name(level), "data", msg);
    if (p == NULL)
        return; /* e.g. the text was not UTF-8 */
    if (logger != NULL)
        json_object_set_new(p, "logger", json_string(logger));
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (rpc_emit_notification(&b, "notifications/message", p) == 0) {
        for (struct kit_session *ss = s->sessions; ss != NULL; ss = ss->next) {
            if (!ss->closed && ss->state == KIT_S_READY && level >= ss->log_level)
                kit_session_send(ss, buf_head(&b), buf_used(&b));
        }
    }
    json_decref(p);
    buf_free(&b);
}
