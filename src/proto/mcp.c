#include "proto/mcp.h"

#include <stdio.h>
#include <string.h>

#define C MCP_FROM_CLIENT
#define S MCP_FROM_SERVER
#define L MCP_REV_LEGACY
#define A MCP_REV_ALL
#define R25 MCP_REV_2025_11_25
#define R26 MCP_REV_2026_07_28

/* Sorted by name for binary search (checked by the unit tests). Sources:
 * schema/<rev>/schema.ts of modelcontextprotocol/modelcontextprotocol. */
static const struct mcp_method methods[] = {
    {"completion/complete", MCP_M_COMPLETION_COMPLETE, true, C, A},
    {"elicitation/create", MCP_M_ELICITATION_CREATE, true, S, A},
    {"initialize", MCP_M_INITIALIZE, true, C, L},
    {"logging/setLevel", MCP_M_LOGGING_SET_LEVEL, true, C, L},
    {"notifications/cancelled", MCP_N_CANCELLED, false, C | S, A},
    {"notifications/elicitation/complete", MCP_N_ELICITATION_COMPLETE, false, S, R25},
    {"notifications/initialized", MCP_N_INITIALIZED, false, C, L},
    {"notifications/message", MCP_N_MESSAGE, false, S, A},
    {"notifications/progress", MCP_N_PROGRESS, false, C | S, A},
    {"notifications/prompts/list_changed", MCP_N_PROMPTS_LIST_CHANGED, false, S, A},
    {"notifications/resources/list_changed", MCP_N_RESOURCES_LIST_CHANGED, false, S, A},
    {"notifications/resources/updated", MCP_N_RESOURCES_UPDATED, false, S, A},
    {"notifications/roots/list_changed", MCP_N_ROOTS_LIST_CHANGED, false, C, L},
    {"notifications/subscriptions/acknowledged", MCP_N_SUBSCRIPTIONS_ACKNOWLEDGED, false, S, R26},
    {"notifications/tasks/status", MCP_N_TASKS_STATUS, false, C | S, R25},
    {"notifications/tools/list_changed", MCP_N_TOOLS_LIST_CHANGED, false, S, A},
    {"ping", MCP_M_PING, true, C | S, L},
    {"prompts/get", MCP_M_PROMPTS_GET, true, C, A},
    {"prompts/list", MCP_M_PROMPTS_LIST, true, C, A},
    {"resources/list", MCP_M_RESOURCES_LIST, true, C, A},
    {"resources/read", MCP_M_RESOURCES_READ, true, C, A},
    {"resources/subscribe", MCP_M_RESOURCES_SUBSCRIBE, true, C, L},
    {"resources/templates/list", MCP_M_RESOURCES_TEMPLATES_LIST, true, C, A},
    {"resources/unsubscribe", MCP_M_RESOURCES_UNSUBSCRIBE, true, C, L},
    {"roots/list", MCP_M_ROOTS_LIST, true, S, A},
    {"sampling/createMessage", MCP_M_SAMPLING_CREATE_MESSAGE, true, S, A},
    {"server/discover", MCP_M_SERVER_DISCOVER, true, C, R26},
    {"subscriptions/listen", MCP_M_SUBSCRIPTIONS_LISTEN, true, C, R26},
    {"tasks/cancel", MCP_M_TASKS_CANCEL, true, C | S, R25},
    {"tasks/get", MCP_M_TASKS_GET, true, C | S, R25},
    {"tasks/list", MCP_M_TASKS_LIST, true, C | S, R25},
    {"tasks/result", MCP_M_TASKS_RESULT, true, C | S, R25},
    {"tools/call", MCP_M_TOOLS_CALL, true, C, A},
    {"tools/list", MCP_M_TOOLS_LIST, true, C, A},
};

#undef C
#undef S
#undef L
#undef A
#undef R25
#undef R26

static const size_t methods_n = sizeof(methods) / sizeof(methods[0]);

const struct mcp_method *mcp_method_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = methods_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *mn = methods[mid].name;
        size_t ml = strlen(mn);
        size_t n = ml < len ? ml : len;
        int c = memcmp(name, mn, n);
        if (c == 0)
            c = len < ml ? -1 : (len > ml ? 1 : 0);
        if (c == 0)
            return &methods[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct mcp_method *mcp_method_by_id(enum mcp_method_id id)
{
    for (size_t i = 0; i < methods_n; i++)
        if (methods[i].id == id)
            return &methods[i];
    return NULL;
}

size_t mcp_method_count(void)
{
    return methods_n;
}

const struct mcp_method *mcp_method_at(size_t i)
{
    return i < methods_n ? &methods[i] : NULL;
}

const char *const mcp_supported_versions[] = {"2025-11-25", "2025-06-18"};
const size_t mcp_supported_versions_n = 2;

enum mcp_rev mcp_rev_from_string(const char *v, size_t len)
{
    if (len == 10) {
        if (memcmp(v, "2025-06-18", 10) == 0)
            return MCP_REV_2025_06_18;
        if (memcmp(v, "2025-11-25", 10) == 0)
            return MCP_REV_2025_11_25;
        if (memcmp(v, "2026-07-28", 10) == 0)
            return MCP_REV_2026_07_28;
    }
    return MCP_REV_NONE;
}

const char *mcp_rev_name(enum mcp_rev r)
{
    switch (r) {
    case MCP_REV_2025_06_18: return "2025-06-18";
    case MCP_REV_2025_11_25: return "2025-11-25";
    case MCP_REV_2026_07_28: return "2026-07-28";
    default: return "none";
    }
}

bool mcp_version_supported(const char *v, size_t len)
{
    enum mcp_rev r = mcp_rev_from_string(v, len);
    return (r & MCP_REV_LEGACY) != 0;
}

bool mcp_version_known(const char *v, size_t len)
{
    static const char *const known[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (len == 10 && memcmp(v, known[i], 10) == 0)
            return true;
    return false;
}

#define META_VERSION_KEY "io.modelcontextprotocol/protocolVersion"

bool mcp_request_is_modern(const struct rpc_msg *m, const char **version)
{
    *version = NULL;
    if (m->kind != RPC_REQUEST && m->kind != RPC_NOTIFICATION)
        return false;
    json_t *meta = json_object_get(m->params, "_meta");
    json_t *v = json_object_get(meta, META_VERSION_KEY);
    if (json_is_string(v))
        *version = json_string_value(v);
    if (v != NULL)
        return true;
    const struct mcp_method *mm = mcp_method_lookup(m->method, m->method_len);
    return mm != NULL && mm->revs == MCP_REV_2026_07_28;
}

json_t *mcp_unsupported_version_data(const char *requested)
{
    json_t *sup = json_array();
    for (size_t i = 0; i < mcp_supported_versions_n; i++)
        json_array_append_new(sup, json_string(mcp_supported_versions[i]));
    json_t *d = json_object();
    json_object_set_new(d, "supported", sup);
    if (requested != NULL)
        json_object_set_new(d, "requested", json_string(requested));
    return d;
}

void mcp_unsupported_version_err(struct rpc_err *e, const char *requested)
{
    rpc_err_set(e, MCP_ERR_UNSUPPORTED_VERSION, "unsupported_protocol_version",
                "Unsupported protocol version %.20s: the stateless 2026-07-28 era is not "
                "supported by this gateway yet; use 2025-11-25 or 2025-06-18 with an initialize "
                "handshake",
                requested != NULL ? requested : MCP_MODERN_VERSION);
}

void mcp_lc_init(struct mcp_lifecycle *lc)
{
    memset(lc, 0, sizeof(*lc));
    lc->state = MCP_LC_NEW;
    lc->era = MCP_ERA_UNKNOWN;
}

void mcp_lc_free(struct mcp_lifecycle *lc)
{
    if (lc == NULL)
        return;
    json_decref(lc->client_caps);
    json_decref(lc->client_info);
    json_decref(lc->server_caps);
    json_decref(lc->server_info);
    json_decref(lc->init_id);
    memset(lc, 0, sizeof(*lc));
}

static const char *method_name(const struct rpc_msg *m, char *tmp, size_t tmpsz)
{
    size_t n = m->method_len < tmpsz - 1 ? m->method_len : tmpsz - 1;
    memcpy(tmp, m->method, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)tmp[i] < 0x20 || tmp[i] == '"')
            tmp[i] = '?';
    return tmp;
}

enum mcp_lc_action mcp_lc_client(struct mcp_lifecycle *lc, const struct rpc_msg *m,
                                 const struct mcp_method *mm, bool *rewritten, struct rpc_err *e)
{
    char tmp[80];
    *rewritten = false;

    if (m->kind == RPC_RESULT || m->kind == RPC_ERROR)
        return MCP_LC_PASS; /* answers to server requests are checked by the router */

    enum mcp_method_id id = mm != NULL ? mm->id : MCP_M_UNKNOWN;

    if (id == MCP_M_INITIALIZE && m->kind == RPC_REQUEST) {
        if (lc->state != MCP_LC_NEW) {
            rpc_err_set(e, RPC_INVALID_REQUEST, "already_initialized",
                        "initialize was already sent in this session; a session is initialized "
                        "once");
            return MCP_LC_REFUSE;
        }
        json_t *pv = json_object_get(m->params, "protocolVersion");
        if (!json_is_string(pv)) {
            rpc_err_set(e, RPC_INVALID_PARAMS, "bad_initialize",
                        "initialize needs params.protocolVersion as a string");
            return MCP_LC_REFUSE;
        }
        json_t *caps = json_object_get(m->params, "capabilities");
        json_t *info = json_object_get(m->params, "clientInfo");
        if (!json_is_object(caps) || !json_is_object(info) ||
            !json_is_string(json_object_get(info, "name"))) {
            rpc_err_set(e, RPC_INVALID_PARAMS, "bad_initialize",
                        "initialize needs params.capabilities (object) and params.clientInfo "
                        "with a name");
            return MCP_LC_REFUSE;
        }
        if (!mcp_version_supported(json_string_value(pv), json_string_length(pv))) {
            /* Spec: answer with a version we support; the client then decides. */
            json_object_set_new(m->params, "protocolVersion", json_string(MCP_LATEST_VERSION));
            lc->version_rewritten = true;
            *rewritten = true;
        }
        lc->client_caps = json_incref(caps);
        lc->client_info = json_incref(info);
        lc->init_id = json_incref(m->id);
        lc->state = MCP_LC_INIT_SENT;
        lc->era = MCP_ERA_LEGACY;
        return MCP_LC_PASS;
    }

    if (id == MCP_N_INITIALIZED) {
        if (lc->state == MCP_LC_INIT_SENT && !lc->early_initialized) {
            /* A pipelining client: pass it on; the session is ready once the
             * initialize answer arrives. Requests still wait until then. */
            lc->early_initialized = true;
            return MCP_LC_PASS;
        }
        if (lc->state != MCP_LC_INIT_DONE) {
            rpc_err_set(e, RPC_INVALID_REQUEST, "unexpected_initialized",
                        "notifications/initialized arrived %s",
                        lc->state == MCP_LC_READY ? "twice" : "before initialize was answered");
            return MCP_LC_REFUSE;
        }
        lc->state = MCP_LC_READY;
        return MCP_LC_PASS;
    }

    if (lc->state == MCP_LC_READY)
        return MCP_LC_PASS;

    /* Pings are allowed at any time; so is cancelling the pending initialize. */
    if (id == MCP_M_PING || id == MCP_N_CANCELLED)
        return MCP_LC_PASS;

    if (lc->state == MCP_LC_FAILED) {
        rpc_err_set(e, RPC_INVALID_REQUEST, "session_failed",
                    "the session's initialize handshake failed; start a new session");
        return MCP_LC_REFUSE;
    }
    if (lc->state == MCP_LC_NEW)
        rpc_err_set(e, RPC_INVALID_REQUEST, "not_initialized",
                    "\"%s\" sent before initialize: the session must start with initialize "
                    "(only ping is allowed before it)",
                    method_name(m, tmp, sizeof(tmp)));
    else
        rpc_err_set(e, RPC_INVALID_REQUEST, "not_initialized",
                    "\"%s\" sent before notifications/initialized: finish the handshake first",
                    method_name(m, tmp, sizeof(tmp)));
    return MCP_LC_REFUSE;
}

enum mcp_lc_action mcp_lc_server(struct mcp_lifecycle *lc, const struct rpc_msg *m,
                                 const struct mcp_method *mm, bool answers_init,
                                 struct rpc_err *e)
{
    char tmp[80];

    if (answers_init) {
        json_decref(lc->init_id);
        lc->init_id = NULL;
        if (m->kind == RPC_ERROR) {
            lc->state = MCP_LC_NEW; /* the client may try again */
            lc->early_initialized = false;
            return MCP_LC_PASS;
        }
        json_t *pv = json_object_get(m->result, "protocolVersion");
        if (!json_is_string(pv) ||
            !mcp_version_supported(json_string_value(pv), json_string_length(pv))) {
            lc->state = MCP_LC_FAILED;
            rpc_err_set(e, MW_ERR_UPSTREAM, "unsupported_server_version",
                        "the server answered initialize with protocol version %.20s, which this "
                        "gateway does not support (supported: 2025-11-25, 2025-06-18)",
                        json_is_string(pv) ? json_string_value(pv) : "(missing)");
            return MCP_LC_REFUSE;
        }
        json_t *caps = json_object_get(m->result, "capabilities");
        json_t *info = json_object_get(m->result, "serverInfo");
        if (!json_is_object(caps) || !json_is_object(info)) {
            lc->state = MCP_LC_FAILED;
            rpc_err_set(e, MW_ERR_UPSTREAM, "bad_initialize_result",
                        "the server's initialize result lacks capabilities or serverInfo");
            return MCP_LC_REFUSE;
        }
        lc->version = mcp_rev_from_string(json_string_value(pv), json_string_length(pv));
        lc->server_caps = json_incref(caps);
        lc->server_info = json_incref(info);
        lc->state = lc->early_initialized ? MCP_LC_READY : MCP_LC_INIT_DONE;
        return MCP_LC_PASS;
    }

    if (m->kind == RPC_RESULT || m->kind == RPC_ERROR)
        return MCP_LC_PASS;

    enum mcp_method_id id = mm != NULL ? mm->id : MCP_M_UNKNOWN;
    if (lc->state == MCP_LC_READY || lc->state == MCP_LC_INIT_DONE) {
        /* After the initialize result a server may log and ping; its requests
         * (sampling, elicitation, roots) must wait for notifications/initialized. */
        if (lc->state == MCP_LC_READY || m->kind == RPC_NOTIFICATION || id == MCP_M_PING)
            return MCP_LC_PASS;
    }
    if (id == MCP_M_PING || id == MCP_N_MESSAGE || id == MCP_N_PROGRESS || id == MCP_N_CANCELLED)
        return MCP_LC_PASS;
    rpc_err_set(e, RPC_INVALID_REQUEST, "not_initialized",
                "server sent \"%s\" before the session was initialized",
                method_name(m, tmp, sizeof(tmp)));
    return MCP_LC_REFUSE;
}

void mcp_request_ctx(const struct mcp_lifecycle *lc, const struct rpc_msg *m,
                     struct mcp_request_ctx *out)
{
    (void)m; /* a stateless era reads version and capabilities from m's _meta */
    out->era = lc->era;
    out->version = lc->version;
    out->client_caps = lc->client_caps;
    out->client_info = lc->client_info;
}
