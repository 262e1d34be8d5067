/* collect_session.c - the MCP client session the scanner runs against a live
 * server (over stdio or Streamable HTTP). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proto/json.h"
#include "proto/jsonrpc.h"
#include "proto/mcp.h"
#include "scan/collect.h"
#include "util/buf.h"
#include "util/timeutil.h"

struct session {
    struct collect_tr *tr;
    const struct collect_opts *o;
    long long next_id;
    char err[300];
};

static uint64_t timeout_of(const struct collect_opts *o)
{
    return o != NULL && o->timeout_us > 0 ? o->timeout_us : COLLECT_DEFAULT_TIMEOUT_US;
}

static int send_json(struct session *s, const json_t *msg)
{
    size_t len = 0;
    char *txt = json_emit_str(msg, &len);
    if (txt == NULL) {
        snprintf(s->err, sizeof(s->err), "cannot serialise a request");
        return -1;
    }
    int rc = s->tr->send(s->tr->ctx, txt, len, s->err, sizeof(s->err));
    free(txt);
    return rc;
}

/* Answers a request the server sent us while we wait. */
static void answer_server_request(struct session *s, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    json_t *resp;
    if (strcmp(method, "ping") == 0) {
        resp = json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id", id, "result");
    } else if (strcmp(method, "roots/list") == 0) {
        resp = json_pack("{s:s, s:O, s:{s:[]}}", "jsonrpc", "2.0", "id", id, "result", "roots");
    } else {
        resp = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code",
                         RPC_METHOD_NOT_FOUND, "message",
                         "mcpwall scan does not offer this client feature");
    }
    if (resp != NULL) {
        send_json(s, resp);
        json_decref(resp);
    }
}

/* Sends a request and waits for its answer. Returns the result (new
 * reference), or NULL with s->err set (error responses included). */
static json_t *request(struct session *s, const char *method, json_t *params)
{
    long long id = ++s->next_id;
    json_t *req =
        json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
    if (req == NULL)
        return NULL;
    if (params != NULL)
        json_object_set(req, "params", params);
    int rc = send_json(s, req);
    json_decref(req);
    if (rc < 0)
        return NULL;
    uint64_t deadline = mono_us() + timeout_of(s->o);
    for (;;) {
        json_t *msg = NULL;
        rc = s->tr->recv(s->tr->ctx, deadline, &msg, s->err, sizeof(s->err));
        if (rc == 0) {
            snprintf(s->err, sizeof(s->err), "no answer to %s within %llu ms", method,
                     (unsigned long long)(timeout_of(s->o) / 1000));
            return NULL;
        }
        if (rc < 0)
            return NULL;
        struct rpc_msg m;
        struct rpc_err e;
        memset(&e, 0, sizeof(e));
        if (rpc_classify(msg, &m, &e) < 0) {
            /* A server that answers with junk is broken; say so. */
            snprintf(s->err, sizeof(s->err), "invalid message from the server: %s", e.msg);
            rpc_err_clear(&e);
            json_decref(msg);
            return NULL;
        }
        json_decref(msg);
        if (m.kind == RPC_REQUEST) {
            answer_server_request(s, m.root);
            rpc_msg_free(&m);
            continue;
        }
        if (m.kind == RPC_NOTIFICATION) {
            rpc_msg_free(&m);
            continue;
        }
        if (!json_is_integer(m.id) || json_integer_value(m.id) != id) {
            rpc_msg_free(&m);
            continue; /* a late answer to something we gave up on */
        }
        if (m.kind == RPC_ERROR) {
            const char *em = json_string_value(json_object_get(m.error, "message"));
            long long code = 0;
            json_get_int(m.error, "code", &code);
            snprintf(s->err, sizeof(s->err), "%s failed: %lld %.200s", method, code,
                     em != NULL ? em : "");
            rpc_msg_free(&m);
            return NULL;
        }
        json_t *res = json_incref(m.result);
        rpc_msg_free(&m);
        if (!json_is_object(res)) {
            json_decref(res);
            snprintf(s->err, sizeof(s->err), "%s: result is not an object", method);
            return NULL;
        }
        return res;
    }
}

/* Lists one kind with pagination into the server. */
static int list_all(struct session *s, struct scan_report *r, int server, const char *method,
                    const char *key, enum scan_kind kind)
{
    char *cursor = NULL;
    for (unsigned page = 0; page < COLLECT_MAX_PAGES; page++) {
        json_t *params = cursor != NULL ? json_pack("{s:s}", "cursor", cursor) : NULL;
        json_t *res = request(s, method, params);
        json_decref(params);
        if (res == NULL) {
            free(cursor);
            return -1;
        }
        json_t *arr = json_object_get(res, key);
        if (!json_is_array(arr)) {
            snprintf(s->err, sizeof(s->err), "%s: result has no '%s' array", method, key);
            json_decref(res);
            free(cursor);
            return -1;
        }
        scan_add_items(r, server, kind, arr);
        const char *next = json_string_value(json_object_get(res, "nextCursor"));
        if (next == NULL || *next == '\0' || (cursor != NULL && strcmp(next, cursor) == 0)) {
            json_decref(res);
            free(cursor);
            return 0;
        }
        free(cursor);
        cursor = strdup(next);
        json_decref(res);
        if (cursor == NULL)
            return -1;
    }
    free(cursor);
    snprintf(s->err, sizeof(s->err), "%s: more than %u pages", method, COLLECT_MAX_PAGES);
    return -1;
}

int collect_session(struct scan_report *r, int server, struct collect_tr *tr,
                    const struct collect_opts *o)
{
    struct session s;
    memset(&s, 0, sizeof(s));
    s.tr = tr;
    s.o = o;
    json_t *params =
        json_pack("{s:s, s:{}, s:{s:s, s:s, s:s}}", "protocolVersion", MCP_LATEST_VERSION,
                  "capabilities", "clientInfo", "name", "mcpwall-scan", "title", "mcpwall scanner",
                  "version", MCPWALL_VERSION);
    json_t *init = request(&s, "initialize", params);
    json_decref(params);
    if (init == NULL) {
        scan_server_fail(r, server, "%s", s.err);
        return -1;
    }
    if (!json_is_string(json_object_get(init, "protocolVersion"))) {
        scan_server_fail(r, server, "initialize: the result has no protocolVersion");
        json_decref(init);
        return -1;
    }
    json_decref(r->servers[server].init);
    r->servers[server].init = init;
    if (tr->on_init != NULL)
        tr->on_init(tr->ctx, init);
    json_t *note = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    if (note == NULL || send_json(&s, note) < 0) {
        json_decref(note);
        scan_server_fail(r, server, "%s", s.err);
        return -1;
    }
    json_decref(note);

    json_t *caps = json_object_get(init, "capabilities");
    int rc = 0;
    if (o != NULL && o->init_only)
        return 0;
    if (json_object_get(caps, "tools") != NULL &&
        list_all(&s, r, server, "tools/list", "tools", SCAN_KIND_TOOL) < 0)
        rc = -1;
    if (rc == 0 && json_object_get(caps, "prompts") != NULL &&
        list_all(&s, r, server, "prompts/list", "prompts", SCAN_KIND_PROMPT) < 0)
        rc = -1;
    if (rc == 0 && json_object_get(caps, "resources") != NULL) {
        if (list_all(&s, r, server, "resources/list", "resources", SCAN_KIND_RESOURCE) < 0 ||
            list_all(&s, r, server, "resources/templates/list", "resourceTemplates",
                     SCAN_KIND_TEMPLATE) < 0)
            rc = -1;
    }
    if (rc < 0)
        scan_server_fail(r, server, "%s", s.err);
    return rc;
}
