#include "gateway/pipeline.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/args.h"
#include "guard/redact.h"
#include "guard/schema.h"
#include "guard/tokens.h"
#include "policy/pins.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

enum gw_verdict { GW_CONTINUE, GW_REFUSE, GW_DROP, GW_HOLD };

/* One message on its way through the stages. Fields are read from the token
 * tape; a jansson tree is built only when a stage needs to change the
 * message (msg_tree), and then the message is re-serialised on the way out. */
struct gw_msg {
    enum gw_dir dir;
    const char *raw;
    size_t rawlen;
    struct jtape *tape;
    struct rpc_view v;
    const struct mcp_method *mm;
    char idkey[160];
    size_t idkeylen;
    json_t *root;          /* built on demand */
    struct rpc_msg rm;     /* tree view of root, for the lifecycle code */
    bool modified;
    uint64_t t_in;
    int target_kind;       /* enum pol_kind or -1 */
    const char *target;
    size_t target_len;
    size_t args;           /* token of the arguments, JT_NONE if none */
    struct gw_pending *pending; /* a response: the request it answers */
    bool answers_init;
    const char *rule;
    char rule_buf[96];
    struct rpc_err err;
    json_t *err_data;
    struct buf scratch;    /* decoded target when it had escapes */
    json_t *args_json;     /* the arguments as a tree, built by validate when needed */
    json_t *flags;         /* argument findings that let the call pass (audited) */
    json_t *guard;         /* the result guard's report when it found something (audited) */
    uint64_t timeout_us;   /* a rate_limits rule's timeout for this call; 0: the session's */
};

static const char *const dir_names[2] = {"c2s", "s2c"};

/* Builds the tree of the whole message (once) and its rpc_msg view. */
static json_t *msg_tree(struct gw_msg *m)
{
    if (m->root != NULL)
        return m->root;
    m->root = jt_json(m->tape, 0);
    if (m->root == NULL)
        return NULL;
    m->rm.kind = m->v.kind;
    m->rm.root = m->root;
    m->rm.id = json_object_get(m->root, "id");
    m->rm.params = json_object_get(m->root, "params");
    m->rm.result = json_object_get(m->root, "result");
    m->rm.error = json_object_get(m->root, "error");
    m->rm.method = m->v.method_str;
    m->rm.method_len = m->v.method_len;
    return m->root;
}

/* ---- output and audit helpers ---------------------------------------------- */

static int send_to(struct gw_session *s, enum gw_dir to_side, const char *p, size_t n)
{
    /* to_side: GW_C2S means "toward the server", GW_S2C "toward the client". */
    int rc = to_side == GW_C2S ? s->io->to_server(s->io_ud, p, n) : s->io->to_client(s->io_ud, p, n);
    if (rc < 0)
        log_debug("session %.8s: %s output refused a %zu-byte message", s->id,
                  to_side == GW_C2S ? "server" : "client", n);
    return rc;
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

/* Answers the message being handled, with its own id. */
static void answer_msg(struct gw_session *s, struct gw_msg *m, int code, const char *msg,
                       const char *reason, const json_t *data)
{
    json_t *id = rpc_view_id(&m->v);
    answer_error(s, m->dir, id, code, msg, reason, data);
    json_decref(id);
}

static const char *kind_name(enum rpc_kind k)
{
    switch (k) {
    case RPC_REQUEST: return "request";
    case RPC_NOTIFICATION: return "notification";
    default: return "response";
    }
}

/* Hash and bounded preview of the arguments, exactly as sent. */
static char *args_preview(struct gw_msg *m, char sha[65])
{
    size_t n;
    const char *raw = jt_raw(m->tape, m->args, &n);
    sha256_hex(raw, n, sha);
    struct buf b;
    buf_init(&b, 64 * 1024);
    audit_preview_tape(&b, m->tape, m->args);
    buf_cstr(&b);
    char *p = b.data;
    if (p == NULL)
        p = strdup("{}");
    return p;
}

static void audit_refusal(struct gw_session *s, struct gw_msg *m)
{
    metrics_denial(s->metrics, s->server != NULL ? s->server : "", m->err.reason);
    if (s->audit == NULL)
        return;
    char sha[65] = "";
    char *preview = NULL;
    if (m->args != JT_NONE)
        preview = args_preview(m, sha);
    struct audit_rec r = {
        .session = s->id,
        .identity = s->identity,
        .server = s->server,
        .dir = dir_names[m->dir],
        .kind = m->tape->n > 0 ? kind_name(m->v.kind) : "message",
        .method = m->v.method_str,
        .method_len = m->v.method_len,
        .decision = "deny",
        .rule = m->rule,
        .reason = m->err.reason,
        .outcome = "refused",
        .error_code = m->err.code,
        .have_latency = true,
        .latency_us = mono_us() - m->t_in,
        .args_sha256 = sha,
        .args_preview = preview,
    };
    r.gw_us = r.latency_us;
    if (m->target_kind >= 0 && m->target != NULL) {
        r.target_kind = policy_kind_word((enum pol_kind)m->target_kind);
        r.target = m->target;
        r.target_len = m->target_len;
    }
    json_t *extra = NULL;
    if (m->guard != NULL) {
        extra = json_pack("{sO}", "guard", m->guard);
        r.extra = extra;
    }
    audit_append(s->audit, &r);
    json_decref(extra);
    free(preview);
}

/* Audits a completed request (answered, failed, timed out, cancelled). The
 * result text, when given, is raw escaped string content from the response. */
static void audit_completion_ex(struct gw_session *s, const struct gw_pending *p,
                                const char *outcome, int error_code, const char *result_raw,
                                size_t result_len, const json_t *result, const json_t *guard,
                                uint64_t now)
{
    if (p->internal)
        return;
    metrics_request(s->metrics, s->server != NULL ? s->server : "", p->method_name,
                    p->target_kind == POL_TOOL ? p->target : NULL, outcome, now - p->t_in);
    if (s->audit == NULL)
        return;
    struct audit_rec r = {
        .session = s->id,
        .identity = s->identity,
        .dir = dir_names[p->dir],
        .server = s->server,
        .kind = "request",
        .method = p->method_name,
        .decision = "allow",
        .rule = p->rule[0] != '\0' ? p->rule : NULL,
        .outcome = outcome,
        .error_code = error_code,
        .have_latency = true,
        .latency_us = now - p->t_in,
        .gw_us = p->gw_us,
        .args_sha256 = p->args_sha256,
        .args_preview = p->args_preview,
        .result_raw = result_raw,
        .result_raw_len = result_len,
        .result = result,
    };
    json_t *extra = NULL;
    if (p->flags != NULL || p->guard != NULL || guard != NULL) {
        extra = json_object();
        if (p->flags != NULL)
            json_object_set_new(extra, "findings", json_loads(p->flags, 0, NULL));
        if (guard != NULL)
            json_object_set(extra, "guard", (json_t *)guard);
        else if (p->guard != NULL)
            json_object_set_new(extra, "guard", json_loads(p->guard, 0, NULL));
        r.extra = extra;
    }
    if (p->target_kind >= 0 && p->target != NULL) {
        r.target_kind = policy_kind_word((enum pol_kind)p->target_kind);
        r.target = p->target;
    }
    audit_append(s->audit, &r);
    json_decref(extra);
}

static void audit_completion(struct gw_session *s, const struct gw_pending *p, const char *outcome,
                             int error_code, const char *result_raw, size_t result_len)
{
    audit_completion_ex(s, p, outcome, error_code, result_raw, result_len, NULL, NULL,
                        mono_us());
}

void gw_audit_event(struct gw_session *s, const char *event, const json_t *extra)
{
    if (s->audit == NULL)
        return;
    struct audit_rec r = {
        .event = event,
        .session = s->id,
        .identity = s->identity,
        .server = s->server,
        .extra = extra,
    };
    audit_append(s->audit, &r);
}

void gw_audit_sandbox_event(struct gw_session *s, const char *line, size_t len)
{
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *rule = json_string_value(json_object_get(ev, "rule"));
    if (rule != NULL && s->audit != NULL) {
        char rname[64];
        snprintf(rname, sizeof(rname), "sandbox.%s", rule);
        json_t *extra = json_pack("{s:s?}", "denied", json_string_value(json_object_get(ev, "what")));
        struct audit_rec r = {
            .event = "sandbox",
            .session = s->id,
            .identity = s->identity,
            .server = s->server,
            .decision = "deny",
            .rule = rname,
            .reason = json_string_value(json_object_get(ev, "detail")),
            .extra = extra,
        };
        audit_append(s->audit, &r);
        json_decref(extra);
        metrics_denial(s->metrics, s->server != NULL ? s->server : "", rname);
    }
    json_decref(ev);
}

/* ---- deadlines: one FIFO per session, one timer for its head -------------- */

static void deadline_cb(evutil_socket_t fd, short what, void *arg);

static void deadline_arm(struct gw_session *s)
{
    if (s->base == NULL)
        return;
    if (s->timer == NULL) {
        s->timer = evtimer_new(s->base, deadline_cb, s);
        if (s->timer == NULL)
            return;
    }
    if (s->thead == NULL) {
        evtimer_del(s->timer);
        s->timer_at = 0;
        return;
    }
    s->timer_at = s->thead->deadline;
    uint64_t now = mono_us();
    uint64_t wait = s->thead->deadline > now ? s->thead->deadline - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000000u),
                         .tv_usec = (suseconds_t)(wait % 1000000u)};
    evtimer_add(s->timer, &tv);
}

static void deadline_add(struct gw_session *s, struct gw_pending *p, uint64_t deadline)
{
    p->deadline = deadline;
    /* Mostly in arrival order (one timeout for all): insert from the tail.
     * Per-tool timeouts (rate_limits rules) may place one earlier. */
    struct gw_pending *after = s->ttail;
    while (after != NULL && after->deadline > deadline)
        after = after->tprev;
    p->tprev = after;
    p->tnext = after != NULL ? after->tnext : s->thead;
    if (p->tnext != NULL)
        p->tnext->tprev = p;
    else
        s->ttail = p;
    if (after != NULL)
        after->tnext = p;
    else
        s->thead = p;
    /* The timer needs arming only for a new head, and not even then when it
     * is already set to fire no later (answered requests leave it armed: it
     * fires, finds nothing due and re-arms, once per timeout period rather
     * than once per request). */
    if (s->thead == p && (s->timer_at == 0 || s->timer_at > deadline))
        deadline_arm(s);
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
    size_t n = m->v.method_len < outsz - 1 ? m->v.method_len : outsz - 1;
    memcpy(out, m->v.method_str, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == '"')
            out[i] = '?';
}

#define META_VERSION_KEY "io.modelcontextprotocol/protocolVersion"

/* era: a stateless (2026-07-28) request is recognised and answered clearly. */
static enum gw_verdict stage_era(struct gw_session *s, struct gw_msg *m)
{
    (void)s;
    if (m->dir != GW_C2S || m->v.kind != RPC_REQUEST)
        return GW_CONTINUE;
    const struct jtape *t = m->tape;
    size_t ver = jt_get(t, jt_get(t, m->v.params, "_meta"), META_VERSION_KEY);
    bool modern = ver != JT_NONE || (m->mm != NULL && m->mm->revs == MCP_REV_2026_07_28);
    if (!modern)
        return GW_CONTINUE;
    char vs[32] = MCP_MODERN_VERSION;
    size_t n;
    const char *p = jt_str(t, ver, &n, &m->scratch);
    if (p != NULL) {
        n = n < sizeof(vs) - 1 ? n : sizeof(vs) - 1;
        memcpy(vs, p, n);
        vs[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)vs[i] < 0x20)
                vs[i] = '?';
    }
    mcp_unsupported_version_err(&m->err, vs);
    m->err_data = mcp_unsupported_version_data(vs);
    return GW_REFUSE;
}

/* match: a response must answer a request in flight in the other direction. */
static enum gw_verdict stage_match(struct gw_session *s, struct gw_msg *m)
{
    if (m->v.kind != RPC_RESULT && m->v.kind != RPC_ERROR)
        return GW_CONTINUE;
    enum gw_dir req_dir = m->dir == GW_C2S ? GW_S2C : GW_C2S;
    if (m->v.id == JT_NONE)
        return refuse(m, RPC_INVALID_REQUEST, "unmatched_response",
                      "error response without an id; it answers no request in flight");
    m->pending = gw_pending_find(s, req_dir, m->idkey, m->idkeylen);
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
    /* The lifecycle reads the initialize request and its answer in full; for
     * every other message its kind and method are enough. */
    bool full = m->answers_init || (m->mm != NULL && m->mm->id == MCP_M_INITIALIZE);
    struct rpc_msg light = {.kind = m->v.kind,
                            .method = m->v.method_str,
                            .method_len = m->v.method_len};
    const struct rpc_msg *rm = &light;
    if (full) {
        if (msg_tree(m) == NULL)
            return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory");
        rm = &m->rm;
    }
    if (m->dir == GW_C2S) {
        bool rewritten = false;
        a = mcp_lc_client(&s->lc, rm, m->mm, &rewritten, &e);
        if (rewritten)
            m->modified = true;
    } else {
        a = mcp_lc_server(&s->lc, rm, m->mm, m->answers_init, &e);
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

static bool get_target(struct gw_msg *m, size_t obj, const char *key)
{
    size_t tok = jt_get(m->tape, obj, key);
    size_t n;
    const char *p = jt_str(m->tape, tok, &n, &m->scratch);
    if (p == NULL || n == 0 || memchr(p, '\0', n) != NULL)
        return false;
    m->target = p;
    m->target_len = n;
    return true;
}

/* route: the method is MCP, travels this way, exists in the negotiated
 * revision; and what it targets. */
static enum gw_verdict stage_route(struct gw_session *s, struct gw_msg *m)
{
    char name[80];
    if (m->v.kind != RPC_REQUEST && m->v.kind != RPC_NOTIFICATION)
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
    if (m->mm->is_request != (m->v.kind == RPC_REQUEST))
        return refuse(m, RPC_INVALID_REQUEST, "wrong_message_kind", "\"%s\" must be sent as a %s",
                      name, m->mm->is_request ? "request (with an id)" : "notification (no id)");
    if (s->lc.version != MCP_REV_NONE && (m->mm->revs & s->lc.version) == 0)
        return refuse(m, RPC_METHOD_NOT_FOUND, "method_not_in_revision",
                      "method \"%s\" does not exist in the negotiated protocol version %s", name,
                      mcp_rev_name(s->lc.version));

    const struct jtape *t = m->tape;
    size_t params = m->v.params;
    switch (m->mm->id) {
    case MCP_M_TOOLS_CALL:
        if (!get_target(m, params, "name"))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "tools/call needs params.name, the tool's name as a non-empty string");
        m->target_kind = POL_TOOL;
        m->args = jt_get(t, params, "arguments");
        if (m->args != JT_NONE && jt_type(t, m->args) != JT_OBJECT)
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "tools/call params.arguments must be an object");
        break;
    case MCP_M_PROMPTS_GET:
        if (!get_target(m, params, "name"))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "prompts/get needs params.name as a non-empty string");
        m->target_kind = POL_PROMPT;
        m->args = jt_get(t, params, "arguments");
        break;
    case MCP_M_RESOURCES_READ:
    case MCP_M_RESOURCES_SUBSCRIBE:
    case MCP_M_RESOURCES_UNSUBSCRIBE:
    case MCP_N_RESOURCES_UPDATED:
        if (!get_target(m, params, "uri"))
            return refuse(m, RPC_INVALID_PARAMS, "bad_params",
                          "\"%s\" needs params.uri as a non-empty string", name);
        m->target_kind = POL_RESOURCE;
        break;
    case MCP_M_COMPLETION_COMPLETE: {
        size_t ref = jt_get(t, params, "ref");
        size_t type = jt_get(t, ref, "type");
        if (jt_str_eq(t, type, "ref/prompt", 10) && get_target(m, ref, "name"))
            m->target_kind = POL_PROMPT;
        else if (jt_str_eq(t, type, "ref/resource", 12) && get_target(m, ref, "uri"))
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
    struct pol_subject who = gw_session_subject(s);
    policy_decide(s->policy, &who, (enum pol_kind)m->target_kind, m->target, m->target_len, &d);
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
    return m->v.kind == RPC_REQUEST ? GW_REFUSE : GW_DROP;
}

/* ---- what servers say about their tools --------------------------------------- */

/* Learns the tools of one tools/list page (before any filtering). A first page
 * starts a new listing; the last page ends it and forgets tools no longer
 * listed. */
/* Compares a tool's definition with the lockfile (pins: configured). A
 * mismatch is logged and audited once per definition seen. */
static void pin_check_tool(struct gw_session *s, struct gw_tool *tool, const char *name)
{
    const struct gw_pins_cfg *pc = &s->cfg->pins;
    if (pc->lock == NULL)
        return;
    const char *server = s->pin_name != NULL ? s->pin_name : s->server != NULL ? s->server : "";
    if (pins_hash_def(tool->def, tool->sha256) < 0) {
        tool->pin = GW_PIN_CHANGED; /* cannot be verified: treated as changed */
        return;
    }
    const char *want = pins_lookup(pc->lock, server, PINS_TOOL, name);
    tool->pin = want == NULL ? GW_PIN_NEW : strcmp(want, tool->sha256) == 0 ? GW_PIN_MATCH
                                                                           : GW_PIN_CHANGED;
    enum gw_pin_action act = tool->pin == GW_PIN_CHANGED ? pc->on_change
                             : tool->pin == GW_PIN_NEW   ? pc->on_new
                                                         : GW_PIN_ALLOW;
    if (tool->pin == GW_PIN_MATCH || (tool->pin == GW_PIN_NEW && act == GW_PIN_ALLOW))
        return;
    const char *what = tool->pin == GW_PIN_CHANGED ? "changed since it was pinned"
                                                   : "is not in the lockfile";
    log_warnx("session %.8s: tool \"%s\" of server \"%s\" %s (sha256 %.12s...; %s): %s",
              s->id, name, server, what, tool->sha256, pc->path,
              act == GW_PIN_BLOCK ? "hidden and refused" : "allowed (on_change/on_new: warn)");
    json_t *extra = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s}", "tool", name, "pin_server", server,
                              "status", tool->pin == GW_PIN_CHANGED ? "changed" : "new",
                              "sha256", tool->sha256, "pinned_sha256", want, "action",
                              gw_pin_action_name(act));
    gw_audit_event(s, "pin", extra);
    json_decref(extra);
    metrics_denial(s->metrics, s->server != NULL ? s->server : "",
                   tool->pin == GW_PIN_CHANGED ? "tool_definition_changed" : "tool_not_pinned");
}

/* What the pins say about calling or listing a tool. */
static enum gw_pin_action pin_verdict(const struct gw_session *s, const struct gw_tool *tool)
{
    if (s->cfg->pins.lock == NULL || tool == NULL)
        return GW_PIN_ALLOW;
    if (tool->pin == GW_PIN_CHANGED)
        return s->cfg->pins.on_change;
    if (tool->pin == GW_PIN_NEW)
        return s->cfg->pins.on_new;
    return GW_PIN_ALLOW;
}

static void learn_tools(struct gw_session *s, const struct jtape *t, size_t result,
                        bool first_page)
{
    size_t it = 0;
    const char *k;
    size_t kl;
    void *v;
    if (first_page)
        while (map_next(&s->tools, &it, &k, &kl, &v))
            ((struct gw_tool *)v)->seen = false;
    size_t arr = jt_get(t, result, "tools");
    size_t c = arr + 1;
    struct buf sc;
    buf_init(&sc, 0);
    for (uint32_t e = 0; jt_type(t, arr) == JT_ARRAY && e < t->tok[arr].count; e++) {
        size_t nl;
        const char *name = jt_str(t, jt_get(t, c, "name"), &nl, &sc);
        if (name != NULL && nl > 0 && nl < 256) {
            /* The same definition as before: keep what was compiled and checked. */
            struct gw_tool *old = map_get(&s->tools, name, nl);
            json_t *def = old != NULL ? jt_json(t, c) : NULL;
            if (old != NULL && def != NULL && json_equal(def, old->def)) {
                old->seen = true;
                json_decref(def);
                c = t->tok[c].next;
                continue;
            }
            struct gw_tool *tool = calloc(1, sizeof(*tool));
            if (tool != NULL) {
                tool->def = def != NULL ? def : jt_json(t, c);
                def = NULL;
                tool->seen = true;
                json_t *in = json_object_get(tool->def, "inputSchema");
                json_t *out = json_object_get(tool->def, "outputSchema");
                struct schema_compile_err ce;
                if (in != NULL) {
                    tool->in = schema_compile(in, &ce);
                    if (tool->in == NULL)
                        tool->in_err = strdup(ce.msg);
                }
                if (out != NULL)
                    tool->out = schema_compile(out, NULL);
                char key[256];
                memcpy(key, name, nl);
                key[nl] = '\0';
                if (tool->def != NULL)
                    pin_check_tool(s, tool, key);
                gw_tool_free(map_del(&s->tools, key, nl));
                map_put(&s->tools, key, nl, tool);
            }
            json_decref(def);
        }
        c = t->tok[c].next;
    }
    buf_free(&sc);
    if (jt_get(t, result, "nextCursor") == JT_NONE) {
        /* The listing is complete: forget what it no longer has. */
        for (;;) {
            bool removed = false;
            it = 0;
            while (map_next(&s->tools, &it, &k, &kl, &v)) {
                if (!((struct gw_tool *)v)->seen) {
                    gw_tool_free(map_del(&s->tools, k, kl));
                    removed = true;
                    break;
                }
            }
            if (!removed)
                break;
        }
        s->tools_complete = true;
    }
}

/* Asks the server for (a page of) its tools on the gateway's own account, so
 * calls can be validated even when the client never lists them. */
static void fetch_tools(struct gw_session *s, const char *cursor, size_t cursorlen)
{
    char key[64];
    char id[48];
    snprintf(id, sizeof(id), "mcpwall-tools-%u", ++s->internal_seq);
    int kn = snprintf(key, sizeof(key), "s:%s", id);
    struct gw_pending *p = gw_pending_add(s, GW_C2S, key, (size_t)kn);
    if (p == NULL)
        return;
    p->internal = true;
    p->method = MCP_M_TOOLS_LIST;
    str_copy(p->method_name, "tools/list", sizeof(p->method_name));
    p->t_in = mono_us();
    p->list_had_cursor = cursor != NULL;
    if (s->request_timeout_us > 0)
        deadline_add(s, p, p->t_in + s->request_timeout_us);
    json_t *jid = json_string(id);
    json_t *params = cursor != NULL ? json_pack("{s:s%}", "cursor", cursor, cursorlen) : NULL;
    struct buf b;
    buf_init(&b, 65536);
    if (rpc_emit_request(&b, jid, "tools/list", params) == 0 && send_to(s, GW_C2S, buf_head(&b), buf_used(&b)) < 0)
        gw_pending_done(p);
    buf_free(&b);
    json_decref(jid);
    json_decref(params);
}

void gw_fetch_tools(struct gw_session *s)
{
    if (s->upstream_gone || !json_is_object(json_object_get(s->lc.server_caps, "tools")))
        return;
    fetch_tools(s, NULL, 0);
}

/* validate: a tools/call's arguments against the tool's inputSchema, then the
 * policy's argument constraints. */
static enum gw_verdict stage_validate(struct gw_session *s, struct gw_msg *m)
{
    if (m->dir != GW_C2S || m->v.kind != RPC_REQUEST || m->mm == NULL ||
        m->mm->id != MCP_M_TOOLS_CALL)
        return GW_CONTINUE;
    struct gw_tool *tool = map_get(&s->tools, m->target, m->target_len);
    const struct arg_policy *ap = s->policy->args;
    if (tool == NULL && s->tools_complete)
        return refuse(m, RPC_INVALID_PARAMS, "unknown_tool",
                      "tool \"%.*s\" is not one the server lists; it cannot be called",
                      (int)(m->target_len < 100 ? m->target_len : 100), m->target);
    if (tool != NULL && tool->in_err != NULL)
        return refuse(m, RPC_INVALID_PARAMS, "invalid_tool_schema",
                      "the server's inputSchema for tool \"%.*s\" is invalid (%.200s); calls "
                      "to it are refused",
                      (int)(m->target_len < 100 ? m->target_len : 100), m->target, tool->in_err);
    char name[256];
    size_t nl = m->target_len < sizeof(name) - 1 ? m->target_len : sizeof(name) - 1;
    memcpy(name, m->target, nl);
    name[nl] = '\0';
    bool constraints = ap != NULL && args_policy_covers(ap, name);
    if ((tool == NULL || tool->in == NULL) && !constraints)
        return GW_CONTINUE;
    m->args_json = m->args != JT_NONE ? jt_json(m->tape, m->args) : json_object();
    if (m->args_json == NULL)
        return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory");
    if (tool != NULL && tool->in != NULL) {
        struct schema_error se;
        if (schema_validate(tool->in, m->args_json, &se) < 0) {
            m->err_data = json_pack("{s:s,s:s}", "pointer", se.pointer, "keyword", se.keyword);
            return refuse(m, RPC_INVALID_PARAMS, "invalid_arguments", "Invalid arguments for tool "
                          "\"%s\": %s", name, se.msg);
        }
    }
    if (constraints) {
        struct arg_violation av;
        const json_t *in = tool != NULL ? json_object_get(tool->def, "inputSchema") : NULL;
        int rc = args_policy_check_schema(ap, name, in, m->args_json, &av);
        if (rc < 0) {
            s->denied++;
            m->rule = NULL;
            m->err_data = json_pack("{s:s,s:s,s:s}", "pointer", av.pointer, "constraint",
                                    av.constraint, "rule", av.rule);
            str_copy(m->rule_buf, av.rule, sizeof(m->rule_buf));
            m->rule = m->rule_buf;
            return refuse(m, MW_ERR_DENIED, av.reason, "Tool \"%s\" refused by policy %s: %s",
                          name, av.rule, av.msg);
        }
        if (rc > 0) {
            if (m->flags == NULL)
                m->flags = json_array();
            json_array_append_new(m->flags, json_pack("{s:s,s:s,s:s,s:s}", "reason", av.reason,
                                                      "constraint", av.constraint, "pointer",
                                                      av.pointer, "rule", av.rule));
        }
    }
    return GW_CONTINUE;
}

/* track: requests in flight get a record, an id check, a cap and a deadline. */
static enum gw_verdict stage_track(struct gw_session *s, struct gw_msg *m)
{
    if (m->v.kind != RPC_REQUEST)
        return GW_CONTINUE;
    if (m->dir == GW_C2S && s->upstream_gone)
        return refuse(m, MW_ERR_UPSTREAM, "upstream_gone", "%s", s->upstream_gone_why);
    if (m->idkeylen == 0)
        return refuse(m, RPC_INVALID_REQUEST, "bad_id", "request id too long (at most 150 bytes)");
    if (gw_pending_find(s, m->dir, m->idkey, m->idkeylen) != NULL)
        return refuse(m, RPC_INVALID_REQUEST, "duplicate_id",
                      "a request with this id is already in flight; ids must be unique among "
                      "requests in flight");
    if (gw_pending_count(s, m->dir) >= s->cfg->limits.max_inflight)
        return refuse(m, MW_ERR_OVERLOADED, "too_many_in_flight",
                      "too many requests in flight (limit %zu); wait for answers first",
                      s->cfg->limits.max_inflight);
    struct gw_pending *p = gw_pending_add(s, m->dir, m->idkey, m->idkeylen);
    if (p == NULL)
        return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory tracking the request");
    p->method = m->mm != NULL ? m->mm->id : MCP_M_UNKNOWN;
    method_str(m, p->method_name, sizeof(p->method_name));
    p->target_kind = m->target_kind;
    if (m->target != NULL)
        p->target = str_memdup(m->target, m->target_len);
    if (m->flags != NULL)
        p->flags = json_dumps(m->flags, JSON_COMPACT);
    if (m->rule != NULL)
        str_copy(p->rule, m->rule, sizeof(p->rule));
    p->t_in = m->t_in;
    uint64_t timeout = m->timeout_us != 0 ? m->timeout_us : s->request_timeout_us;
    if (timeout > 0)
        deadline_add(s, p, m->t_in + timeout);
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
    struct pol_subject who = gw_session_subject(s);
    for (size_t i = 0; i < json_array_size(arr);) {
        json_t *it = json_array_get(arr, i);
        json_t *name = json_object_get(it, field);
        struct pol_decision d;
        if (json_is_string(name))
            policy_decide(s->policy, &who, kind, json_string_value(name),
                          json_string_length(name), &d);
        else
            d.action = POL_DENY; /* an entry without a name cannot be judged: hide it */
        if (d.action == POL_ALLOW && kind == POL_TOOL &&
            pin_verdict(s, map_get(&s->tools, json_string_value(name),
                                   json_string_length(name))) == GW_PIN_BLOCK)
            d.action = POL_DENY; /* a tool the pins refuse is not offered either */
        if (d.action == POL_DENY) {
            json_array_remove(arr, i);
            changed = true;
        } else {
            i++;
        }
    }
    return changed;
}

/* Whether any element of a listed array is denied: lets allowed lists pass
 * as their original bytes without building a tree. */
static bool list_needs_filter(struct gw_session *s, struct gw_msg *m, const char *key,
                              const char *field, enum pol_kind kind)
{
    const struct jtape *t = m->tape;
    size_t arr = jt_get(t, m->v.result, key);
    if (jt_type(t, arr) != JT_ARRAY)
        return false;
    size_t c = arr + 1;
    struct pol_subject who = gw_session_subject(s);
    for (uint32_t e = 0; e < t->tok[arr].count; e++) {
        size_t n;
        const char *name = jt_str(t, jt_get(t, c, field), &n, &m->scratch);
        if (name == NULL)
            return true;
        struct pol_decision d;
        policy_decide(s->policy, &who, kind, name, n, &d);
        if (d.action == POL_DENY ||
            (kind == POL_TOOL && pin_verdict(s, map_get(&s->tools, name, n)) == GW_PIN_BLOCK))
            return true;
        c = t->tok[c].next;
    }
    return false;
}

/* Results of the server: tools learned from lists, structured results
 * checked against outputSchema, lists filtered by the same decision that
 * judges calls. */
static enum gw_verdict guard_result_shape(struct gw_session *s, struct gw_msg *m)
{
    if (m->pending->method == MCP_M_TOOLS_LIST)
        learn_tools(s, m->tape, m->v.result, !m->pending->list_had_cursor);
    if (m->pending->method == MCP_M_TOOLS_CALL && m->pending->target != NULL) {
        /* Structured results are checked against the tool's outputSchema. */
        struct gw_tool *tool = map_get(&s->tools, m->pending->target, strlen(m->pending->target));
        size_t sc = jt_get(m->tape, m->v.result, "structuredContent");
        if (tool != NULL && tool->out != NULL && sc != JT_NONE) {
            json_t *inst = jt_json(m->tape, sc);
            struct schema_error se;
            int bad = inst != NULL ? schema_validate(tool->out, inst, &se) : -1;
            json_decref(inst);
            if (bad < 0) {
                schema_error_reword(&se, "result field", "result");
                return refuse(m, MW_ERR_UPSTREAM, "invalid_structured_result",
                              "the server's structured result for tool \"%s\" does not match "
                              "its outputSchema: %s",
                              m->pending->target, se.msg);
            }
        }
    }
    if (m->pending->internal)
        return GW_CONTINUE;
    const char *key, *field;
    enum pol_kind kind;
    switch (m->pending->method) {
    case MCP_M_TOOLS_LIST: key = "tools"; field = "name"; kind = POL_TOOL; break;
    case MCP_M_PROMPTS_LIST: key = "prompts"; field = "name"; kind = POL_PROMPT; break;
    case MCP_M_RESOURCES_LIST: key = "resources"; field = "uri"; kind = POL_RESOURCE; break;
    case MCP_M_RESOURCES_TEMPLATES_LIST:
        key = "resourceTemplates";
        field = "uriTemplate";
        kind = POL_RESOURCE;
        break;
    default:
        return GW_CONTINUE;
    }
    if (!list_needs_filter(s, m, key, field, kind))
        return GW_CONTINUE;
    if (msg_tree(m) == NULL)
        return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory");
    if (filter_list(s, m->rm.result, key, field, kind))
        m->modified = true;
    return GW_CONTINUE;
}

/* What the result guard reads in a message from the server: the result of a
 * tools/call, resources/read, prompts/get or initialize; an error answering a
 * request; the params of a sampling or elicitation request or of a logging
 * message. Returns the member name and sets *kind, or NULL for anything else. */
static const char *guard_payload(const struct gw_msg *m, enum detect_payload *kind)
{
    if (m->v.kind == RPC_REQUEST || m->v.kind == RPC_NOTIFICATION) {
        switch (m->mm != NULL ? m->mm->id : MCP_M_UNKNOWN) {
        case MCP_M_SAMPLING_CREATE_MESSAGE: *kind = DETECT_P_SAMPLING; return "params";
        case MCP_M_ELICITATION_CREATE: *kind = DETECT_P_ELICITATION; return "params";
        case MCP_N_MESSAGE: *kind = DETECT_P_ANY; return "params";
        default: return NULL;
        }
    }
    if (m->pending == NULL || m->pending->internal)
        return NULL;
    if (m->v.kind == RPC_ERROR) {
        *kind = DETECT_P_ERROR;
        return "error";
    }
    switch (m->pending->method) {
    case MCP_M_TOOLS_CALL: *kind = DETECT_P_TOOL_RESULT; return "result";
    case MCP_M_RESOURCES_READ: *kind = DETECT_P_RESOURCE_READ; return "result";
    case MCP_M_PROMPTS_GET: *kind = DETECT_P_PROMPT_GET; return "result";
    case MCP_M_INITIALIZE: *kind = DETECT_P_INITIALIZE; return "result";
    default: return NULL;
    }
}

/* The result guard (policy `results:`): size cap, secrets and PII, injected
 * instructions, hidden content. A passing message keeps its original bytes;
 * an edited one is re-emitted; a blocked one is answered with an error (a
 * response: the requester gets it; a server request: the server does). */
static enum gw_verdict guard_content(struct gw_session *s, struct gw_msg *m)
{
    enum detect_payload kind;
    const char *key = s->results != NULL && !result_guard_inert(s->results->g)
                          ? guard_payload(m, &kind)
                          : NULL;
    if (key == NULL)
        return GW_CONTINUE;
    /* Most messages are clean: a look at the tape settles them without a tree. */
    size_t tok = jt_get(m->tape, 0, key);
    if (jt_type(m->tape, tok) != JT_OBJECT)
        return GW_CONTINUE;
    if (!m->modified) {
        struct buf dec; /* decoded strings with escapes (m->scratch may hold the target) */
        buf_init(&dec, s->cfg->limits.json.max_bytes);
        int quick = result_guard_quick(s->results->g, m->tape, tok, kind, &dec);
        buf_free(&dec);
        if (quick == 1)
            return GW_CONTINUE;
    }
    if (msg_tree(m) == NULL)
        return refuse(m, MW_ERR_DENIED, "guard_error",
                      "mcpwall could not inspect the message (out of memory), so it withheld it");
    json_t *payload = json_object_get(m->root, key);
    if (!json_is_object(payload))
        return GW_CONTINUE;
    struct result_guard_ctx ctx = {
        .server = s->server,
        .name = m->pending != NULL && m->v.kind != RPC_REQUEST ? m->pending->target : NULL,
    };
    struct result_guard_report rep;
    if (result_guard_apply(s->results->g, payload, kind, &ctx, &rep) < 0) {
        result_guard_report_free(&rep);
        return refuse(m, MW_ERR_DENIED, "guard_error",
                      "mcpwall could not inspect the message (out of memory), so it withheld it");
    }
    for (size_t i = 0; i < rep.nevents; i++)
        metrics_guard(s->metrics, s->server != NULL ? s->server : "", rep.events[i].rule,
                      result_guard_action_name(rep.events[i].action));
    if (rep.nevents > 0 || rep.verdict != RG_PASS)
        m->guard = result_guard_report_json(&rep);
    enum gw_verdict v = GW_CONTINUE;
    if (rep.verdict == RG_MODIFIED)
        m->modified = true;
    else if (rep.verdict == RG_BLOCK)
        v = refuse(m, MW_ERR_DENIED, rep.reason, "%s", rep.message);
    /* A server request's completion is audited when the client answers it. */
    if (v == GW_CONTINUE && m->v.kind == RPC_REQUEST && m->pending != NULL && m->guard != NULL)
        m->pending->guard = json_dumps(m->guard, JSON_COMPACT);
    result_guard_report_free(&rep);
    return v;
}

/* guard: what the server sends toward the client. */
static enum gw_verdict stage_guard(struct gw_session *s, struct gw_msg *m)
{
    if (m->dir != GW_S2C)
        return GW_CONTINUE;
    if (m->v.kind == RPC_RESULT && m->pending != NULL) {
        enum gw_verdict v = guard_result_shape(s, m);
        if (v != GW_CONTINUE)
            return v;
    }
    return guard_content(s, m);
}

/* ---- limit: rate limits, budgets, per-tool timeouts, the call-rate alert ---- */

static void on_message(struct gw_session *s, enum gw_dir dir, const char *raw, size_t len);

/* The server's name for limits and pins: serve's upstream name, wrap's
 * command name. */
static const char *server_name(const struct gw_session *s)
{
    return s->server != NULL ? s->server : s->pin_name != NULL ? s->pin_name : "server";
}

static struct rl_subject limit_subject(const struct gw_session *s, const char *tool)
{
    return (struct rl_subject){
        .identity = s->identity,
        .roles = s->ident != NULL ? (const char *const *)s->ident->roles : NULL,
        .nroles = s->ident != NULL ? s->ident->nroles : 0,
        .server = server_name(s),
        .tool = tool,
    };
}

/* The limiter answered a held request: run it through the pipeline again,
 * this time with the decision. */
static void held_decided(void *arg, const struct rl_decision *d)
{
    struct gw_held *h = arg;
    struct gw_session *s = h->sess;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        s->held = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    s->limit_decided = true;
    s->limit_decision = *d;
    s->batch_more = false;
    on_message(s, GW_C2S, h->raw, h->len);
    s->limit_decided = false;
    free(h->raw);
    free(h);
    if (s->io->after_event != NULL)
        s->io->after_event(s->io_ud);
}

static enum gw_verdict limit_verdict(struct gw_msg *m, const struct rl_decision *d)
{
    if (d->allowed) {
        m->timeout_us = d->timeout_us;
        return GW_CONTINUE;
    }
    char msg[300];
    rl_decision_message(d, msg, sizeof(msg));
    m->err_data = json_pack("{s:s,s:s,s:s,s:I}", "reason", rl_reason_str(d->reason), "rule", d->rule,
                            "dimension", rl_dim_str(d->dim), "retryAfter",
                            (json_int_t)d->retry_after);
    if (d->rule[0] != '\0') {
        str_copy(m->rule_buf, d->rule, sizeof(m->rule_buf));
        m->rule = m->rule_buf;
    }
    return refuse(m, MW_ERR_RATE_LIMITED, rl_reason_str(d->reason), "%s", msg);
}

/* limit: tools/call requests pass the rate_limits rules and budgets (keyed
 * by identity, tool and server, never by session) and count toward the
 * session's call-rate alert. A check the Redis store cannot answer at once
 * holds the request (its bytes are kept) until it does. */
static enum gw_verdict stage_limit(struct gw_session *s, struct gw_msg *m)
{
    if (m->dir != GW_C2S || m->v.kind != RPC_REQUEST || m->mm == NULL ||
        m->mm->id != MCP_M_TOOLS_CALL || m->target == NULL)
        return GW_CONTINUE;
    if (s->limit_decided)
        return limit_verdict(m, &s->limit_decision);
    uint32_t threshold = s->rl != NULL ? ratelimit_alert_threshold(s->rl)
                                       : ratelimit_config_alert(s->cfg->rate_limits);
    if (rl_alert_hit(s->alert, threshold, m->t_in)) {
        uint32_t n = rl_alert_count(s->alert, m->t_in);
        log_warnx("session %.8s: %u tool calls in the last minute, above the alert threshold "
                  "of %u (rate_limits.alert)",
                  s->id, n, threshold);
        metrics_rate_alert(s->metrics, s->server != NULL ? s->server : "");
        json_t *extra = json_pack("{s:I,s:I}", "calls_last_minute", (json_int_t)n,
                                  "threshold", (json_int_t)threshold);
        gw_audit_event(s, "rate_alert", extra);
        json_decref(extra);
    }
    if (s->rl == NULL)
        return GW_CONTINUE;
    char tool[RL_FIELD_MAX + 1];
    size_t tl = m->target_len < RL_FIELD_MAX ? m->target_len : RL_FIELD_MAX;
    memcpy(tool, m->target, tl);
    tool[tl] = '\0';
    struct rl_subject who = limit_subject(s, tool);
    struct rl_decision d;
    if (!ratelimit_async(s->rl)) {
        /* The memory store decides at once: no hold, nothing to allocate. */
        int rc = ratelimit_check(s->rl, &who, wall_us(), &d, NULL, NULL, NULL);
        if (rc < 0)
            return refuse(m, MW_ERR_RATE_LIMITED, "limiter_error",
                          "the rate limiter cannot judge this call (a name is too long)");
        return limit_verdict(m, &d);
    }
    struct gw_held *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory");
    h->sess = s;
    int rc = ratelimit_check(s->rl, &who, wall_us(), &d, held_decided, h, &h->pending);
    if (rc == 0) {
        h->raw = malloc(m->rawlen);
        if (h->raw == NULL) {
            ratelimit_cancel(h->pending);
            free(h);
            return refuse(m, RPC_INTERNAL_ERROR, "internal", "out of memory");
        }
        memcpy(h->raw, m->raw, m->rawlen);
        h->len = m->rawlen;
        h->next = s->held;
        if (s->held != NULL)
            s->held->prev = h;
        s->held = h;
        return GW_HOLD;
    }
    free(h);
    if (rc < 0)
        return refuse(m, MW_ERR_RATE_LIMITED, "limiter_error",
                      "the rate limiter cannot judge this call (a name is too long)");
    return limit_verdict(m, &d);
}

/* Budgets counting result bytes or tokens learn what a call returned. */
static void limit_account(struct gw_session *s, const struct gw_pending *p, const struct gw_msg *m)
{
    if (s->rl == NULL || p->method != MCP_M_TOOLS_CALL || p->target == NULL ||
        m->v.kind != RPC_RESULT)
        return;
    size_t nrules, nbudgets;
    bool redis;
    rl_config_counts(s->cfg->rate_limits, &nrules, &nbudgets, &redis);
    if (nbudgets == 0)
        return;
    size_t n;
    const char *res = jt_raw(m->tape, m->v.result, &n);
    struct rl_subject who = limit_subject(s, p->target);
    ratelimit_account(s->rl, &who, n, tokens_estimate(res, n), wall_us());
}

/* pin: a tool is called only while its definition matches the lockfile
 * (pins: configured; on_change / on_new decide for mismatches). */
static enum gw_verdict stage_pin(struct gw_session *s, struct gw_msg *m)
{
    if (s->cfg->pins.lock == NULL || m->dir != GW_C2S || m->v.kind != RPC_REQUEST ||
        m->mm == NULL || m->mm->id != MCP_M_TOOLS_CALL)
        return GW_CONTINUE;
    int nl = (int)(m->target_len < 100 ? m->target_len : 100);
    struct gw_tool *tool = map_get(&s->tools, m->target, m->target_len);
    if (tool == NULL) {
        s->denied++;
        return refuse(m, MW_ERR_DENIED, "tool_unverified",
                      "tool \"%.*s\" cannot be checked against the lockfile yet (mcpwall has not "
                      "read its definition); list the tools and retry",
                      nl, m->target);
    }
    if (pin_verdict(s, tool) != GW_PIN_BLOCK)
        return GW_CONTINUE;
    s->denied++;
    m->err_data = json_pack("{s:s}", "sha256", tool->sha256);
    if (tool->pin == GW_PIN_CHANGED)
        return refuse(m, MW_ERR_DENIED, "tool_definition_changed",
                      "tool \"%.*s\" is refused: its definition changed since it was pinned in "
                      "the lockfile (review with mcpwall pins diff, accept with mcpwall pins "
                      "approve)",
                      nl, m->target);
    return refuse(m, MW_ERR_DENIED, "tool_not_pinned",
                  "tool \"%.*s\" is refused: it is not in the lockfile and pins.on_new is block "
                  "(pin it with mcpwall pins approve)",
                  nl, m->target);
}

/* The one place the order is written. */
static enum gw_verdict (*const stages[])(struct gw_session *, struct gw_msg *) = {
    stage_era, stage_match, stage_lifecycle, stage_authn, stage_route,
    stage_authz, stage_validate, stage_limit, stage_pin, stage_track, stage_guard,
};

/* ---- driving a message ---------------------------------------------------------- */

/* Sends the message on. -1 when the other side could not take it. */
static int forward(struct gw_session *s, struct gw_msg *m)
{
    enum gw_dir to = m->dir == GW_C2S ? GW_C2S : GW_S2C;
    if (!m->modified)
        return send_to(s, to, m->raw, m->rawlen);
    struct buf b;
    buf_init(&b, s->cfg->limits.json.max_bytes + 1024);
    int rc = -1;
    if (json_emit(&b, m->root) == 0)
        rc = send_to(s, to, buf_head(&b), buf_used(&b));
    else
        log_warnx("session %.8s: a rewritten message exceeded the size budget", s->id);
    buf_free(&b);
    return rc;
}

static bool logs_result(enum mcp_method_id id)
{
    return id == MCP_M_TOOLS_CALL || id == MCP_M_PROMPTS_GET || id == MCP_M_RESOURCES_READ ||
           id == MCP_M_SAMPLING_CREATE_MESSAGE || id == MCP_M_ELICITATION_CREATE;
}

static void complete_request(struct gw_session *s, struct gw_msg *m)
{
    struct gw_pending *p = m->pending;
    int code = 0;
    const char *outcome = p->cancelled ? "cancelled" : "ok";
    if (m->v.kind == RPC_ERROR) {
        long long c = 0;
        jt_int(m->tape, jt_get(m->tape, m->v.error, "code"), &c);
        code = (int)c;
        if (!p->cancelled)
            outcome = "error";
    }
    uint64_t now = mono_us(); /* one clock read for gw_us and the latency */
    p->gw_us += now - m->t_in;
    const char *text = NULL;
    size_t textlen = 0;
    const json_t *result = NULL;
    /* The preview shows what the client received: the edited result when the
     * guard changed it, nothing when the guard only logged findings (they may
     * be secrets the policy lets through). */
    if (m->v.kind == RPC_RESULT && logs_result(p->method) && m->modified) {
        result = m->rm.result;
    } else if (m->v.kind == RPC_RESULT && logs_result(p->method) && m->guard == NULL) {
        size_t tok = audit_first_text_tape(m->tape, m->v.result);
        if (tok != JT_NONE) {
            text = m->tape->src + m->tape->tok[tok].start;
            textlen = m->tape->tok[tok].len;
        }
    }
    audit_completion_ex(s, p, outcome, code, text, textlen, result, m->guard, now);
    limit_account(s, p, m);
    gw_pending_done(p);
    m->pending = NULL;
}

static void handle(struct gw_session *s, struct gw_msg *m)
{
    enum gw_verdict v = GW_CONTINUE;
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]) && v == GW_CONTINUE; i++)
        v = stages[i](s, m);
    if (v == GW_HOLD)
        return; /* waits for the limiter; it runs again with the decision */

    if (v == GW_CONTINUE && m->pending != NULL && m->pending->internal &&
        m->v.kind != RPC_REQUEST) {
        /* The answer to the gateway's own tools/list: learned already; ask for
         * the next page, never forward it. */
        size_t nc = m->v.kind == RPC_RESULT ? jt_get(m->tape, m->v.result, "nextCursor") : JT_NONE;
        size_t cl;
        const char *cs = jt_str(m->tape, nc, &cl, &m->scratch);
        char cur[1024];
        bool more = cs != NULL && cl < sizeof(cur);
        if (more)
            memcpy(cur, cs, cl);
        gw_pending_done(m->pending);
        m->pending = NULL;
        if (more)
            fetch_tools(s, cur, cl);
        return;
    }
    if (v == GW_CONTINUE) {
        /* notifications/cancelled: mark the request so its audit says so. */
        if (m->mm != NULL && m->mm->id == MCP_N_CANCELLED) {
            char key[160];
            size_t kl = rpc_id_key_tape(m->tape, jt_get(m->tape, m->v.params, "requestId"), key,
                                        sizeof(key));
            struct gw_pending *p = gw_pending_find(s, m->dir, key, kl);
            if (p != NULL)
                p->cancelled = true;
        }
        if (m->pending != NULL && m->v.kind == RPC_REQUEST)
            m->pending->gw_us = mono_us() - m->t_in;
        int fw = forward(s, m);
        /* The last message of a batch goes out now; the bookkeeping below
         * (argument preview, audit record) is then off its path. */
        if (fw == 0 && !s->batch_more && s->io->flush != NULL)
            s->io->flush(s->io_ud, m->dir == GW_C2S ? GW_C2S : GW_S2C);
        if (m->pending != NULL && m->v.kind == RPC_REQUEST && m->args != JT_NONE &&
            s->audit != NULL)
            m->pending->args_preview = args_preview(m, m->pending->args_sha256);
        if (fw < 0 && m->pending != NULL && m->v.kind == RPC_REQUEST) {
            /* The other side cannot take it (gone, or its queue is over its
             * hard cap): answer now rather than at the timeout. */
            answer_msg(s, m, MW_ERR_UPSTREAM,
                       m->dir == GW_C2S ? "the MCP server cannot take requests right now"
                                        : "the client cannot take requests right now",
                       "upstream_unavailable", NULL);
            audit_completion(s, m->pending, "error", MW_ERR_UPSTREAM, NULL, 0);
            gw_pending_done(m->pending);
            m->pending = NULL;
            return;
        }
        if (m->pending != NULL && m->v.kind != RPC_REQUEST)
            complete_request(s, m);
        if (m->mm != NULL && m->mm->id == MCP_N_INITIALIZED && m->dir == GW_C2S &&
            s->lc.state == MCP_LC_READY)
            gw_fetch_tools(s); /* learn the tools' schemas on the gateway's own account */
        if (m->mm != NULL && m->mm->id == MCP_N_TOOLS_LIST_CHANGED && m->dir == GW_S2C) {
            s->tools_complete = false;
            gw_fetch_tools(s);
        }
        if (m->v.kind == RPC_NOTIFICATION &&
                 s->cfg->audit.notifications == GW_AUDIT_NOTIF_ALL && s->audit != NULL) {
            struct audit_rec r = {.session = s->id, .identity = s->identity,
                                  .dir = dir_names[m->dir], .kind = "notification",
                                  .method = m->v.method_str, .method_len = m->v.method_len,
                                  .decision = "allow", .outcome = "ok"};
            audit_append(s->audit, &r);
        }
        return;
    }

    /* Refused or dropped. */
    if (v == GW_REFUSE && m->v.kind == RPC_REQUEST)
        answer_msg(s, m, m->err.code, m->err.msg, m->err.reason, m->err_data);
    if (m->err.reason == NULL)
        m->err.reason = "dropped";
    if (v == GW_REFUSE && m->v.kind != RPC_REQUEST)
        log_info("session %.8s: dropped a %s from the %s: %s", s->id, kind_name(m->v.kind),
                 m->dir == GW_C2S ? "client" : "server", m->err.msg);
    /* A refused answer (unsupported server version, a structured result that
     * breaks its outputSchema): the requester gets the error instead. */
    if (v == GW_REFUSE && m->pending != NULL && m->v.kind != RPC_REQUEST) {
        if (!m->pending->internal) {
            json_t *id = gw_pending_id(m->pending);
            answer_error(s, m->pending->dir, id, m->err.code, m->err.msg, m->err.reason, NULL);
            json_decref(id);
            audit_completion_ex(s, m->pending, "error", m->err.code, NULL, 0, NULL, m->guard,
                                mono_us());
        }
        gw_pending_done(m->pending);
        m->pending = NULL;
    }
    if (m->answers_init && v == GW_REFUSE && m->pending != NULL) {
        json_t *id = gw_pending_id(m->pending);
        answer_error(s, GW_C2S, id, m->err.code, m->err.msg, m->err.reason, NULL);
        json_decref(id);
        audit_completion(s, m->pending, "error", m->err.code, NULL, 0);
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
    m.tape = &s->tape[dir];
    m.t_in = mono_us();
    m.target_kind = -1;
    m.args = JT_NONE;
    buf_init(&m.scratch, 0);
    s->msgs_in[dir]++;

    struct rpc_err e = {0};
    if (rpc_scan(m.tape, raw, len, &s->cfg->limits.json, &m.v, &e) < 0) {
        m.err = e;
        if (dir == GW_C2S) {
            /* The client gets the error (with its id when it could be read). */
            answer_error(s, GW_C2S, e.id, e.code, e.msg, e.reason, NULL);
        } else {
            /* A broken server message that answers a pending request fails that request. */
            char key[160];
            size_t kl = e.id != NULL ? rpc_id_key(e.id, key, sizeof(key)) : 0;
            struct gw_pending *p = gw_pending_find(s, GW_C2S, key, kl);
            if (p != NULL) {
                char msg[300];
                snprintf(msg, sizeof(msg), "the MCP server sent an invalid response: %s", e.msg);
                answer_error(s, GW_C2S, e.id, MW_ERR_UPSTREAM, msg, "upstream_invalid_message",
                             NULL);
                audit_completion(s, p, "error", MW_ERR_UPSTREAM, NULL, 0);
                gw_pending_done(p);
            } else {
                log_warnx("session %.8s: dropped an invalid message from the server: %s", s->id,
                          e.msg);
            }
        }
        audit_refusal(s, &m);
        rpc_err_clear(&e);
        buf_free(&m.scratch);
        return;
    }
    if (m.v.method_str != NULL)
        m.mm = mcp_method_lookup(m.v.method_str, m.v.method_len);
    if (m.v.id != JT_NONE)
        m.idkeylen = rpc_id_key_tape(m.tape, m.v.id, m.idkey, sizeof(m.idkey));
    handle(s, &m);
    json_decref(m.err_data);
    json_decref(m.root);
    json_decref(m.args_json);
    json_decref(m.flags);
    json_decref(m.guard);
    buf_free(&m.scratch);
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
    m.args = JT_NONE;
    m.tape = &s->tape[dir];
    m.tape->n = 0;
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
        char key[160];
        size_t kl = id != NULL ? rpc_id_key(id, key, sizeof(key)) : 0;
        struct gw_pending *p = gw_pending_find(s, GW_C2S, key, kl);
        if (p != NULL) {
            answer_error(s, GW_C2S, id, m.err.code, m.err.msg, m.err.reason, NULL);
            audit_completion(s, p, "error", m.err.code, NULL, 0);
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

static void expire(struct gw_pending *p)
{
    struct gw_session *s = p->sess;
    if (p->internal) {
        gw_pending_done(p);
        return;
    }
    char msg[200];
    uint64_t ms = s->request_timeout_us / 1000;
    snprintf(msg, sizeof(msg), "no answer to \"%s\" from the %s within %llu ms; the request was "
             "cancelled",
             p->method_name, p->dir == GW_C2S ? "MCP server" : "client", (unsigned long long)ms);
    json_t *id = gw_pending_id(p);
    answer_error(s, p->dir, id, MW_ERR_TIMEOUT, msg, "timeout", NULL);
    /* Tell the other side to stop working on it. */
    json_t *params = json_object();
    json_object_set(params, "requestId", id);
    json_object_set_new(params, "reason", json_string("timeout (mcpwall)"));
    struct buf b;
    buf_init(&b, 4096);
    if (rpc_emit_notification(&b, "notifications/cancelled", params) == 0)
        send_to(s, p->dir, buf_head(&b), buf_used(&b));
    buf_free(&b);
    json_decref(params);
    json_decref(id);
    audit_completion(s, p, "timeout", MW_ERR_TIMEOUT, NULL, 0);
    gw_pending_done(p);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_session *s = arg;
    s->timer_at = 0;
    uint64_t now = mono_us();
    while (s->thead != NULL && s->thead->deadline <= now)
        expire(s->thead);
    deadline_arm(s);
    if (s->io->after_event != NULL)
        s->io->after_event(s->io_ud);
}

/* Fails every request in flight in one direction (the other side is gone). */
static void fail_all(struct gw_session *s, enum gw_dir dir, const char *why)
{
    struct gw_pending *list[256];
    for (;;) {
        size_t n = 0, it = 0;
        const char *k;
        size_t kl;
        void *v;
        while (n < 256 && map_next(&s->pending[dir], &it, &k, &kl, &v))
            list[n++] = v;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            struct gw_pending *p = list[i];
            if (why != NULL && !p->internal) {
                json_t *id = gw_pending_id(p);
                answer_error(s, GW_C2S, id, MW_ERR_UPSTREAM, why, "upstream_gone", NULL);
                json_decref(id);
            }
            audit_completion(s, p, "upstream_exit", why != NULL ? MW_ERR_UPSTREAM : 0, NULL, 0);
            gw_pending_done(p);
        }
    }
}

void gw_upstream_gone(struct gw_session *s, const char *why)
{
    if (!s->upstream_gone) {
        s->upstream_gone = true;
        str_copy(s->upstream_gone_why, why, sizeof(s->upstream_gone_why));
    }
    /* Answer every client request still waiting for the server; requests the
     * server made of the client can no longer be answered. */
    fail_all(s, GW_C2S, why);
    fail_all(s, GW_S2C, NULL);
    deadline_arm(s);
}
