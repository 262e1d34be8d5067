#include "gateway/pipeline.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

enum gw_verdict { GW_CONTINUE, GW_REFUSE, GW_DROP };

struct gw_msg {
    enum gw_dir dir;
    const char *raw;
    size_t rawlen;
    struct rpc_msg rpc;
    const struct mcp_method *mm;
    bool modified;
    uint64_t t_in;
    int target_kind; /* enum pol_kind or -1 */
    const char *target;
    size_t target_len;
    const json_t *args;
    struct gw_pending *pending; /* a response: the request it answers */
    bool answers_init;
    const char *rule;
    struct rpc_err err;
    json_t *err_data;
};

static const char *const dir_names[2] = {"c2s", "s2c"};

/* ---- output and audit helpers ---------------------------------------------- */

static void send_to(struct gw_session *s, enum gw_dir to_side, const char *p, size_t n)
{
    /* to_side: GW_C2S means "toward the server", GW_S2C "toward the client". */
    int rc = to_side == GW_C2S ? s->io->to_server(s->io_ud, p, n) : s->io->to_client(s->io_ud, p, n);
    if (rc < 0)
        log_debug("session %.8s: %s output refused a %zu-byte message", s->id,
                  to_side == GW_C2S ? "server" : "client", n);
}

/* Sends an error response to whoever sent the request (dir = sender). */
static void answer_error(struct gw_session *s, enum gw_dir sender, const json_t *id, int code,
                         const char *msg, const char *reason, const json_t *data)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (rpc_emit_error(&b, id, code, msg, reason, data) == 0)
        send_to(s, sender == GW_C2S ? GW_S2C : GW_C2S, buf_head(&b), buf_used(&b));
    buf_free(&b);
}

static const char *kind_name(enum rpc_kind k)
{
    switch (k) {
    case RPC_REQUEST: return "request";
    case RPC_NOTIFICATION: return "notification";
    default: return "response";
    }
}

static void audit_refusal(struct gw_session *s, const struct gw_msg *m)
{
    if (s->audit == NULL)
        return;
    struct audit_rec r = {
        .session = s->id,
        .identity = s->identity,
        .dir = dir_names[m->dir],
        .kind = m->rpc.root != NULL ? kind_name(m->rpc.kind) : "message",
        .method = m->rpc.method,
        .method_len = m->rpc.method_len,
        .decision = "deny",
        .rule = m->rule,
        .reason = m->err.reason,
        .outcome = "refused",
        .error_code = m->err.code,
        .have_latency = true,
        .latency_us = mono_us() - m->t_in,
        .args = m->args,
    };
    r.gw_us = r.latency_us;
    if (m->target_kind >= 0 && m->target != NULL) {
        r.target_kind = policy_kind_word((enum pol_kind)m->target_kind);
        r.target = m->target;
        r.target_len = m->target_len;
    }
    audit_append(s->audit, &r);
}

/* Audits a completed request (answered, failed, timed out, cancelled). */
static void audit_completion(struct gw_session *s, const struct gw_pending *p, const char *outcome,
                             int error_code, const json_t *result)
{
    if (s->audit == NULL)
        return;
    uint64_t now = mono_us();
    struct audit_rec r = {
        .session = s->id,
        .identity = s->identity,
        .dir = dir_names[p->dir],
        .kind = "request",
        .method = p->method_name,
        .decision = "allow",
        .rule = p->rule,
        .outcome = outcome,
        .error_code = error_code,
        .have_latency = true,
        .latency_us = now - p->t_in,
        .gw_us = p->gw_us,
        .args = p->args,
        .result = result,
    };
    if (p->target_kind >= 0 && p->target != NULL) {
        r.target_kind = policy_kind_word((enum pol_kind)p->target_kind);
        r.target = p->target;
    }
    audit_append(s->audit, &r);
}

void gw_audit_event(struct gw_session *s, const char *event, const json_t *extra)
{
    if (s->audit == NULL)
        return;
    struct audit_rec r = {
        .event = event,
        .session = s->id,
        .identity = s->identity,
        .extra = extra,
    };
    audit_append(s->audit, &r);
}

/* ---- stages ------------------------------------------------------------------ */

static enum gw_verdict refuse(struct gw_msg *m, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum gw_verdict refuse(struct gw_msg *m, int code, const char *reason, const char *fmt, ...)
{
    va_list ap;
    m->err.code = code;
    m->err.reason = reason;
    va_start(ap, fmt);
    vsnprintf(m->err.msg, sizeof(m->err.msg), fmt, ap);
    va_end(ap);
    return GW_REFUSE;
}

static void method_str(const struct gw_msg *m, char *out, size_t outsz)
{
    size_t n = m->rpc.method_len < outsz - 1 ? m->rpc.method_len : outsz - 1;
    memcpy(out, m->rpc.method, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == '"')
            out[i] = '?';
}

/* era: a stateless (2026-07-28) request is recognised and answered clearly. */
static enum gw_verdict stage_era(struct gw_session *s, struct gw_msg *m)
{
    (void)s;
    const char *ver;
    if (m->dir != GW_C2S || m->rpc.kind != RPC_REQUEST || !mcp_request_is_modern(&m->rpc, &ver))
        return GW_CONTINUE;
    mcp_unsupported_version_err(&m->err, ver);
    m->err_data = mcp_unsupported_version_data(ver != NULL ? ver : MCP_MODERN_VERSION);
    return GW_REFUSE;
}

/* match: a response must answer a request in flight in the other direction. */
static enum gw_verdict stage_match(struct gw_session *s, struct gw_msg *m)
{
    if (m->rpc.kind != RPC_RESULT && m->rpc.kind != RPC_ERROR)
        return GW_CONTINUE;
    enum gw_dir req_dir = m->dir == GW_C2S ? GW_S2C : GW_C2S;
    if (m->rpc.id == NULL) {
        /* An error without id answers something unreadable we sent: nothing to match. */
        return refuse(m, RPC_INVALID_REQUEST, "unmatched_response",
                      "error response without an id; it answers no request in flight");
    }
    m->pending = gw_pending_find(s, req_dir, m->rpc.id);
    if (m->pending == NULL)
        return refuse(m, RPC_INVALID_REQUEST, "unmatched_response",
                      "response to a request id that is not in flight (late, duplicate or "
                      "forged)");
    m->answers_init = req_dir == GW_C2S && m->pending->method == MCP_M_INITIALIZE;
    return GW_CONTINUE;
}

static enum gw_verdict stage_lifecycle(struct gw_session *s, struct gw_msg *m)
{
    enum mcp_lc_action a;
    struct rpc_err e = {0};
    if (m->dir == GW_C2S) {
        bool rewritten = false;
        a = mcp_lc_client(&s->lc, &m->rpc, m->mm, &rewritten, &e);
        if (rewritten)
            m->modified = true;
    } else {
        a = mcp_lc_server(&s->lc, &m->rpc, m->mm, m->answers_init, &e);
    }
    if (a == MCP_LC_PASS)
        return GW_CONTINUE;
    m->err.code = e.code;
    m->err.reason = e.reason;
    memcpy(m->err.msg, e.msg, sizeof(m->err.msg));
    return GW_REFUSE;
}

/* authn: on stdio the caller is the local user, set when the session began. */
static enum gw_verdict stage_authn(struct gw_session *s, struct gw_msg *m)
{
    (void)s;
    (void)m;
    return GW_CONTINUE;
}

static bool get_target_str(const json_t *obj, const char *key, const char **out, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return false;
    *out = json_string_value(v);
    *len = json_string_length(v);
    return memchr(*out, '\0', *len) == NULL;
}

/* route: the method is MCP, travels this way, exists in the negotiated
 * revision; and what it targets. */
static enum gw_verdict stage_route(struct gw_session *s, struct gw_msg *m)
{
    char name[80];
    if (m->rpc.kind != RPC_REQUEST && m->rpc.kind != RPC_NOTIFICATION)
        return GW_CONTINUE;
    method_str(m, name, sizeof(name));
    if (m->mm == NULL)
        return refuse(m, RPC_METHOD_NOT_FOUND, "unknown_method",
                      "method \"%s\" is not part of MCP (2025-06-18, 2025-11-25); mcpwall does "
                      "not forward unknown methods",
                      name);
    unsigned from = m->dir == GW_C2S ? MCP_FROM_CLIENT : MCP_FROM_SERVER;
    if ((m->mm->from & from) == 0)
        return refuse(m, RPC_METHOD_NOT_FOUND, "wrong_direction",
                      "method \"%s\" is sent by %s, not by %s", name,
                      from == MCP_FROM_CLIENT ? "servers" : "clients",
                      from == MCP_FROM_CLIENT ? "clients" : "servers");
    if (m->mm->is_request != (m->rpc.kind == RPC_REQUEST))
        return refuse(m, RPC_INVALID_REQUEST, "wrong_message_kind", "\"%s\" must be sent as a %s",
                      name, m->mm->is_request ? "request (with an id)" : "notification (no id)");
    if (s->lc.version != MCP_REV_NONE && (m->mm->revs & s->lc.version) == 0)
        return refuse(m, RPC_METHOD_NOT_FOUND, "method_not_in_revision",
                      "method \"%s\" does not exist in the negotiated protocol version %s", name,
                      mcp_rev_name(s->lc.version));

    const json_t *params = m->rpc.params;
    switch (m->mm->id) {
    case MCP_M_TOOLS_CALL:
        if (!get_target_str(params, "name", &m->target, &m->target_len))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "tools/call needs params.name, the tool's name as a non-empty string");
        m->target_kind = POL_TOOL;
        m->args = json_object_get(params, "arguments");
        if (m->args != NULL && !json_is_object(m->args))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "tools/call params.arguments must be an object");
        break;
    case MCP_M_PROMPTS_GET:
        if (!get_target_str(params, "name", &m->target, &m->target_len))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "prompts/get needs params.name as a non-empty string");
        m->target_kind = POL_PROMPT;
        m->args = json_object_get(params, "arguments");
        break;
    case MCP_M_RESOURCES_READ:
    case MCP_M_RESOURCES_SUBSCRIBE:
    case MCP_M_RESOURCES_UNSUBSCRIBE:
    case MCP_N_RESOURCES_UPDATED:
        if (!get_target_str(params, "uri", &m->target, &m->target_len))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "\"%s\" needs params.uri as a non-empty string", name);
        m->target_kind = POL_RESOURCE;
        break;
    case MCP_M_COMPLETION_COMPLETE: {
        json_t *ref = json_object_get(params, "ref");
        const char *type = json_string_value(json_object_get(ref, "type"));
        if (type != NULL && strcmp(type, "ref/prompt") == 0 &&
            get_target_str(ref, "name", &m->target, &m->target_len))
            m->target_kind = POL_PROMPT;
        else if (type != NULL && strcmp(type, "ref/resource") == 0 &&
                 get_target_str(ref, "uri", &m->target, &m->target_len))
            m->target_kind = POL_RESOURCE;
        else
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "completion/complete needs params.ref of type ref/prompt (with name) "
                          "or ref/resource (with uri)");
        break;
    }
    default:
        break;
    }
    return GW_CONTINUE;
}

/* authz: the policy decides on what the message targets. */
static enum gw_verdict stage_authz(struct gw_session *s, struct gw_msg *m)
{
    if (m->target_kind < 0)
        return GW_CONTINUE;
    struct pol_decision d;
    policy_decide(s->policy, (enum pol_kind)m->target_kind, m->target, m->target_len, &d);
    m->rule = policy_rule_name(&d);
    if (d.action == POL_ALLOW)
        return GW_CONTINUE;
    s->denied++;
    policy_denial_message(&d, (enum pol_kind)m->target_kind, m->target, m->target_len, m->err.msg,
                          sizeof(m->err.msg));
    m->err.code = MW_ERR_DENIED;
    m->err.reason = "policy_denied";
    m->err_data = json_object();
    json_object_set_new(m->err_data, "rule", json_string(m->rule));
    json_object_set_new(m->err_data, policy_kind_word((enum pol_kind)m->target_kind),
                        json_stringn(m->target, m->target_len));
    /* A server's notification about a denied resource is simply not passed on. */
    return m->rpc.kind == RPC_REQUEST ? GW_REFUSE : GW_DROP;
}

static void pending_timeout_cb(evutil_socket_t fd, short what, void *arg);

/* track: requests in flight get a record, an id check, a cap and a deadline. */
static enum gw_verdict stage_track(struct gw_session *s, struct gw_msg *m)
{
    if (m->rpc.kind != RPC_REQUEST)
        return GW_CONTINUE;
    if (m->dir == GW_C2S && s->upstream_gone)
        return refuse(m, MW_ERR_UPSTREAM, "upstream_gone", "%s", s->upstream_gone_why);
    if (gw_pending_find(s, m->dir, m->rpc.id) != NULL)
        return refuse(m, RPC_INVALID_REQUEST, "duplicate_id",
                      "a request with this id is already in flight; ids must be unique among "
                      "requests in flight");
    if (gw_pending_count(s, m->dir) >= s->cfg->limits.max_inflight)
        return refuse(m, MW_ERR_OVERLOADED, "too_many_in_flight",
                      "too many requests in flight (limit %zu); wait for answers first",
                      s->cfg->limits.max_inflight);
    struct gw_pending *p = gw_pending_add(s, m->dir, m->rpc.id);
    if (p == NULL)
        return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory tracking the request");
    p->method = m->mm != NULL ? m->mm->id : MCP_M_UNKNOWN;
    method_str(m, p->method_name, sizeof(p->method_name));
    p->target_kind = m->target_kind;
    if (m->target != NULL)
        p->target = strndup(m->target, m->target_len);
    if (m->args != NULL)
        p->args = json_incref((json_t *)m->args);
    p->rule = m->rule;
    p->t_in = m->t_in;
    if (s->cfg->limits.request_timeout_us > 0 && s->base != NULL) {
        p->timer = evtimer_new(s->base, pending_timeout_cb, p);
        if (p->timer != NULL) {
            struct timeval tv = {
                .tv_sec = (time_t)(s->cfg->limits.request_timeout_us / 1000000u),
                .tv_usec = (suseconds_t)(s->cfg->limits.request_timeout_us % 1000000u),
            };
            evtimer_add(p->timer, &tv);
        }
    }
    m->pending = p;
    return GW_CONTINUE;
}

/* Keeps the elements of result[key] whose `field` the policy allows. */
static bool filter_list(struct gw_session *s, json_t *result, const char *key, const char *field,
                        enum pol_kind kind)
{
    json_t *arr = json_object_get(result, key);
    if (!json_is_array(arr))
        return false;
    bool changed = false;
    for (size_t i = 0; i < json_array_size(arr);) {
        json_t *it = json_array_get(arr, i);
        json_t *name = json_object_get(it, field);
        struct pol_decision d;
        if (json_is_string(name)) {
            policy_decide(s->policy, kind, json_string_value(name), json_string_length(name), &d);
        } else {
            d.action = POL_DENY; /* an entry without a name cannot be judged: hide it */
        }
        if (d.action == POL_DENY) {
            json_array_remove(arr, i);
            changed = true;
        } else {
            i++;
        }
    }
    return changed;
}

/* guard: results are filtered by the same decision that judges calls. */
static enum gw_verdict stage_guard(struct gw_session *s, struct gw_msg *m)
{
    if (m->rpc.kind != RPC_RESULT || m->pending == NULL || m->dir != GW_S2C)
        return GW_CONTINUE;
    json_t *res = m->rpc.result;
    bool changed = false;
    switch (m->pending->method) {
    case MCP_M_TOOLS_LIST:
        changed = filter_list(s, res, "tools", "name", POL_TOOL);
        break;
    case MCP_M_PROMPTS_LIST:
        changed = filter_list(s, res, "prompts", "name", POL_PROMPT);
        break;
    case MCP_M_RESOURCES_LIST:
        changed = filter_list(s, res, "resources", "uri", POL_RESOURCE);
        break;
    case MCP_M_RESOURCES_TEMPLATES_LIST:
        changed = filter_list(s, res, "resourceTemplates", "uriTemplate", POL_RESOURCE);
        break;
    default:
        break;
    }
    if (changed)
        m->modified = true;
    return GW_CONTINUE;
}

/* The one place the order is written. */
static enum gw_verdict (*const stages[])(struct gw_session *, struct gw_msg *) = {
    stage_era, stage_match, stage_lifecycle, stage_authn, stage_route,
    stage_authz, stage_track, stage_guard,
};

/* ---- driving a message ---------------------------------------------------------- */

static void forward(struct gw_session *s, struct gw_msg *m)
{
    enum gw_dir to = m->dir == GW_C2S ? GW_C2S : GW_S2C;
    if (!m->modified) {
        send_to(s, to, m->raw, m->rawlen);
        return;
    }
    struct buf b;
    buf_init(&b, s->cfg->limits.json.max_bytes + 1024);
    if (json_emit(&b, m->rpc.root) == 0)
        send_to(s, to, buf_head(&b), buf_used(&b));
    else
        log_warnx("session %.8s: a rewritten message exceeded the size budget", s->id);
    buf_free(&b);
}

static void complete_request(struct gw_session *s, struct gw_msg *m)
{
    struct gw_pending *p = m->pending;
    int code = 0;
    const char *outcome = p->cancelled ? "cancelled" : "ok";
    if (m->rpc.kind == RPC_ERROR) {
        long long c = 0;
        json_get_int(m->rpc.error, "code", &c);
        code = (int)c;
        if (!p->cancelled)
            outcome = "error";
    }
    p->gw_us += mono_us() - m->t_in;
    const json_t *result = NULL;
    if (m->rpc.kind == RPC_RESULT &&
        (p->method == MCP_M_TOOLS_CALL || p->method == MCP_M_PROMPTS_GET ||
         p->method == MCP_M_RESOURCES_READ || p->method == MCP_M_SAMPLING_CREATE_MESSAGE ||
         p->method == MCP_M_ELICITATION_CREATE))
        result = m->rpc.result;
    audit_completion(s, p, outcome, code, result);
    gw_pending_done(p);
    m->pending = NULL;
}

static void handle(struct gw_session *s, struct gw_msg *m)
{
    enum gw_verdict v = GW_CONTINUE;
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]) && v == GW_CONTINUE; i++)
        v = stages[i](s, m);

    if (v == GW_CONTINUE) {
        /* notifications/cancelled: mark the request so its audit says so. */
        if (m->mm != NULL && m->mm->id == MCP_N_CANCELLED) {
            json_t *rid = json_object_get(m->rpc.params, "requestId");
            struct gw_pending *p =
                rid != NULL ? gw_pending_find(s, m->dir, rid) : NULL;
            if (p != NULL)
                p->cancelled = true;
        }
        if (m->pending != NULL && m->rpc.kind == RPC_REQUEST)
            m->pending->gw_us = mono_us() - m->t_in;
        forward(s, m);
        if (m->pending != NULL && m->rpc.kind != RPC_REQUEST)
            complete_request(s, m);
        else if (m->rpc.kind == RPC_NOTIFICATION &&
                 s->cfg->audit.notifications == GW_AUDIT_NOTIF_ALL && s->audit != NULL) {
            struct audit_rec r = {.session = s->id, .identity = s->identity,
                                  .dir = dir_names[m->dir], .kind = "notification",
                                  .method = m->rpc.method, .method_len = m->rpc.method_len,
                                  .decision = "allow", .outcome = "ok"};
            audit_append(s->audit, &r);
        }
        return;
    }

    /* Refused or dropped. */
    if (v == GW_REFUSE && m->rpc.kind == RPC_REQUEST)
        answer_error(s, m->dir, m->rpc.id, m->err.code, m->err.msg, m->err.reason, m->err_data);
    if (m->err.reason == NULL)
        m->err.reason = "dropped";
    if (v == GW_REFUSE && m->rpc.kind != RPC_REQUEST)
        log_info("session %.8s: dropped a %s from the %s: %s", s->id, kind_name(m->rpc.kind),
                 m->dir == GW_C2S ? "client" : "server", m->err.msg);
    /* A refused initialize answer (unsupported server version): tell the client. */
    if (m->answers_init && v == GW_REFUSE && m->pending != NULL) {
        answer_error(s, GW_C2S, m->pending->id, m->err.code, m->err.msg, m->err.reason, NULL);
        audit_completion(s, m->pending, "error", m->err.code, NULL);
        gw_pending_done(m->pending);
        m->pending = NULL;
    }
    audit_refusal(s, m);
}

static void on_message(struct gw_session *s, enum gw_dir dir, const char *raw, size_t len)
{
    struct gw_msg m;
    memset(&m, 0, sizeof(m));
    m.dir = dir;
    m.raw = raw;
    m.rawlen = len;
    m.t_in = mono_us();
    m.target_kind = -1;
    s->msgs_in[dir]++;

    struct rpc_err e = {0};
    if (rpc_parse(raw, len, &s->cfg->limits.json, &m.rpc, &e) < 0) {
        m.err = e;
        if (dir == GW_C2S) {
            /* The client gets the error (with its id when it could be read). */
            answer_error(s, GW_C2S, e.id, e.code, e.msg, e.reason, NULL);
        } else {
            /* A broken server message that answers a pending request fails that request. */
            struct gw_pending *p = e.id != NULL ? gw_pending_find(s, GW_C2S, e.id) : NULL;
            if (p != NULL) {
                char msg[300];
                snprintf(msg, sizeof(msg), "the MCP server sent an invalid response: %s", e.msg);
                answer_error(s, GW_C2S, p->id, MW_ERR_UPSTREAM, msg, "upstream_invalid_message",
                             NULL);
                audit_completion(s, p, "error", MW_ERR_UPSTREAM, NULL);
                gw_pending_done(p);
            } else {
                log_warnx("session %.8s: dropped an invalid message from the server: %s", s->id,
                          e.msg);
            }
        }
        audit_refusal(s, &m);
        rpc_err_clear(&e);
        return;
    }
    if (m.rpc.method != NULL)
        m.mm = mcp_method_lookup(m.rpc.method, m.rpc.method_len);
    handle(s, &m);
    json_decref(m.err_data);
    rpc_msg_free(&m.rpc);
}

void gw_client_message(struct gw_session *s, const char *raw, size_t len)
{
    on_message(s, GW_C2S, raw, len);
}

void gw_server_message(struct gw_session *s, const char *raw, size_t len)
{
    on_message(s, GW_S2C, raw, len);
}

static void oversize(struct gw_session *s, enum gw_dir dir, const struct frame_item *it)
{
    struct gw_msg m;
    memset(&m, 0, sizeof(m));
    m.dir = dir;
    m.t_in = mono_us();
    m.target_kind = -1;
    json_t *id = rpc_salvage_id(it->head, it->headlen, it->tail, it->taillen);
    size_t limit = s->cfg->limits.json.max_bytes;
    if (dir == GW_C2S) {
        refuse(&m, RPC_INVALID_REQUEST, "message_too_large",
               "Invalid request: message of %zu bytes exceeds the %zu-byte limit", it->total, limit);
        answer_error(s, GW_C2S, id, m.err.code, m.err.msg, m.err.reason, NULL);
    } else {
        refuse(&m, MW_ERR_UPSTREAM, "upstream_message_too_large",
               "the MCP server's response of %zu bytes exceeds the %zu-byte message limit",
               it->total, limit);
        struct gw_pending *p = id != NULL ? gw_pending_find(s, GW_C2S, id) : NULL;
        if (p != NULL) {
            answer_error(s, GW_C2S, p->id, m.err.code, m.err.msg, m.err.reason, NULL);
            audit_completion(s, p, "error", m.err.code, NULL);
            gw_pending_done(p);
        } else {
            log_warnx("session %.8s: dropped a %zu-byte message from the server (limit %zu)",
                      s->id, it->total, limit);
        }
    }
    audit_refusal(s, &m);
    json_decref(id);
}

void gw_client_oversize(struct gw_session *s, const struct frame_item *it)
{
    oversize(s, GW_C2S, it);
}

void gw_server_oversize(struct gw_session *s, const struct frame_item *it)
{
    oversize(s, GW_S2C, it);
}

static void pending_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_pending *p = arg;
    struct gw_session *s = p->sess;
    char msg[200];
    uint64_t ms = s->cfg->limits.request_timeout_us / 1000;
    snprintf(msg, sizeof(msg), "no answer to \"%s\" from the %s within %llu ms; the request was "
             "cancelled",
             p->method_name, p->dir == GW_C2S ? "MCP server" : "client", (unsigned long long)ms);
    answer_error(s, p->dir, p->id, MW_ERR_TIMEOUT, msg, "timeout", NULL);
    /* Tell the other side to stop working on it. */
    json_t *params = json_object();
    json_object_set(params, "requestId", p->id);
    json_object_set_new(params, "reason", json_string("timeout (mcpwall)"));
    struct buf b;
    buf_init(&b, 4096);
    if (rpc_emit_notification(&b, "notifications/cancelled", params) == 0)
        send_to(s, p->dir, buf_head(&b), buf_used(&b));
    buf_free(&b);
    json_decref(params);
    audit_completion(s, p, "timeout", MW_ERR_TIMEOUT, NULL);
    gw_pending_done(p);
    if (s->io->after_event != NULL)
        s->io->after_event(s->io_ud);
}

void gw_upstream_gone(struct gw_session *s, const char *why)
{
    if (!s->upstream_gone) {
        s->upstream_gone = true;
        str_copy(s->upstream_gone_why, why, sizeof(s->upstream_gone_why));
    }
    /* Answer every client request still waiting for the server. */
    struct gw_pending *list[256];
    for (;;) {
        size_t n = 0, it = 0;
        const char *k;
        size_t kl;
        void *v;
        while (n < 256 && map_next(&s->pending[GW_C2S], &it, &k, &kl, &v))
            list[n++] = v;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            struct gw_pending *p = list[i];
            answer_error(s, GW_C2S, p->id, MW_ERR_UPSTREAM, why, "upstream_gone", NULL);
            audit_completion(s, p, "upstream_exit", MW_ERR_UPSTREAM, NULL);
            gw_pending_done(p);
        }
    }
    /* Requests the server made of the client can no longer be answered. */
    for (;;) {
        size_t it = 0, n = 0;
        const char *k;
        size_t kl;
        void *v;
        while (n < 256 && map_next(&s->pending[GW_S2C], &it, &k, &kl, &v))
            list[n++] = v;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            audit_completion(s, list[i], "upstream_exit", 0, NULL);
            gw_pending_done(list[i]);
        }
    }
}
