#include "proto/jsonrpc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHOD_MAX_LEN 256

void rpc_err_set(struct rpc_err *e, int code, const char *reason, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    e->reason = reason;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

void rpc_err_clear(struct rpc_err *e)
{
    if (e == NULL)
        return;
    json_decref(e->id);
    e->id = NULL;
}

void rpc_msg_free(struct rpc_msg *m)
{
    if (m == NULL)
        return;
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

bool rpc_id_valid(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

size_t rpc_id_key(const json_t *id, char *out, size_t outsz)
{
    int n;
    if (json_is_integer(id)) {
        n = snprintf(out, outsz, "n:%lld", (long long)json_integer_value(id));
    } else if (json_is_string(id)) {
        size_t len = json_string_length(id);
        if (len + 3 > outsz)
            return 0;
        out[0] = 's';
        out[1] = ':';
        memcpy(out + 2, json_string_value(id), len);
        out[len + 2] = '\0';
        return len + 2;
    } else {
        return 0;
    }
    return n > 0 && (size_t)n < outsz ? (size_t)n : 0;
}

bool rpc_id_equal(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_string(a) && json_is_string(b))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    return false;
}

static const char *json_type_name(const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a fractional number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

static void keep_id(struct rpc_err *e, json_t *root)
{
    json_t *id = json_object_get(root, "id");
    if (rpc_id_valid(id))
        e->id = json_incref(id);
}

int rpc_classify(json_t *root, struct rpc_msg *m, struct rpc_err *e)
{
    memset(m, 0, sizeof(*m));
    e->id = NULL;
    e->offset = 0;

    if (json_is_array(root)) {
        rpc_err_set(e, RPC_INVALID_REQUEST, "batch_not_supported",
                    "JSON-RPC batch arrays are not allowed: MCP removed batching in 2025-06-18; "
                    "send each message on its own line");
        return -1;
    }
    if (!json_is_object(root)) {
        rpc_err_set(e, RPC_INVALID_REQUEST, "not_an_object",
                    "a JSON-RPC message must be an object, got %s", json_type_name(root));
        return -1;
    }
    json_t *ver = json_object_get(root, "jsonrpc");
    if (ver == NULL) {
        keep_id(e, root);
        rpc_err_set(e, RPC_INVALID_REQUEST, "missing_jsonrpc",
                    "member \"jsonrpc\" is missing; it must be \"2.0\"");
        return -1;
    }
    if (!json_is_string(ver) || json_string_length(ver) != 3 ||
        memcmp(json_string_value(ver), "2.0", 3) != 0) {
        keep_id(e, root);
        rpc_err_set(e, RPC_INVALID_REQUEST, "bad_jsonrpc_version",
                    "member \"jsonrpc\" must be the string \"2.0\"");
        return -1;
    }

    json_t *id = json_object_get(root, "id");
    json_t *method = json_object_get(root, "method");
    json_t *result = json_object_get(root, "result");
    json_t *error = json_object_get(root, "error");
    json_t *params = json_object_get(root, "params");

    /* JSON-RPC 2.0: an error answering a request whose id could not be read
     * carries "id": null; that is the only place null is allowed. */
    if (json_is_null(id) && method == NULL && error != NULL && result == NULL)
        id = NULL;
    if (id != NULL && !rpc_id_valid(id)) {
        if (json_is_null(id))
            rpc_err_set(e, RPC_INVALID_REQUEST, "null_id",
                        "\"id\" must not be null in MCP; use a string or an integer, or omit it "
                        "for a notification");
        else
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_id_type",
                        "\"id\" must be a string or an integer, got %s", json_type_name(id));
        return -1;
    }

    if (method != NULL) {
        if (result != NULL || error != NULL) {
            keep_id(e, root);
            rpc_err_set(e, RPC_INVALID_REQUEST, "ambiguous_message",
                        "a message with \"method\" must not also carry \"result\" or \"error\"");
            return -1;
        }
        if (!json_is_string(method)) {
            keep_id(e, root);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_method",
                        "\"method\" must be a string, got %s", json_type_name(method));
            return -1;
        }
        size_t mlen = json_string_length(method);
        const char *ms = json_string_value(method);
        if (mlen == 0 || mlen > METHOD_MAX_LEN || memchr(ms, '\0', mlen) != NULL) {
            keep_id(e, root);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_method",
                        "\"method\" must be a non-empty name of at most %d bytes", METHOD_MAX_LEN);
            return -1;
        }
        if (params != NULL && !json_is_object(params)) {
            keep_id(e, root);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_params",
                        "\"params\" must be an object in MCP, got %s", json_type_name(params));
            return -1;
        }
        m->kind = id != NULL ? RPC_REQUEST : RPC_NOTIFICATION;
        m->method = ms;
        m->method_len = mlen;
        m->params = params;
        m->id = id;
    } else if (result != NULL || error != NULL) {
        if (result != NULL && error != NULL) {
            keep_id(e, root);
            rpc_err_set(e, RPC_INVALID_REQUEST, "ambiguous_message",
                        "a response must carry either \"result\" or \"error\", not both");
            return -1;
        }
        if (error != NULL) {
            json_t *code = json_object_get(error, "code");
            json_t *msg = json_object_get(error, "message");
            if (!json_is_object(error) || !json_is_integer(code) || !json_is_string(msg)) {
                keep_id(e, root);
                rpc_err_set(e, RPC_INVALID_REQUEST, "bad_error_object",
                            "\"error\" must be an object with an integer \"code\" and a string "
                            "\"message\"");
                return -1;
            }
            /* JSON-RPC allows a missing id in an error answering unparseable input. */
            m->kind = RPC_ERROR;
            m->error = error;
        } else {
            if (id == NULL) {
                rpc_err_set(e, RPC_INVALID_REQUEST, "missing_id",
                            "a result must carry the \"id\" of the request it answers");
                return -1;
            }
            if (!json_is_object(result)) {
                keep_id(e, root);
                rpc_err_set(e, RPC_INVALID_REQUEST, "bad_result",
                            "\"result\" must be an object in MCP, got %s", json_type_name(result));
                return -1;
            }
            m->kind = RPC_RESULT;
            m->result = result;
        }
        m->id = id;
    } else {
        keep_id(e, root);
        rpc_err_set(e, RPC_INVALID_REQUEST, "missing_method",
                    "message has no \"method\" (request or notification) and no \"result\" or "
                    "\"error\" (response)");
        return -1;
    }
    m->root = json_incref(root);
    return 0;
}

static int json_reason_rpc_code(enum json_reason r)
{
    switch (r) {
    case JSON_E_TOO_LARGE:
    case JSON_E_DEPTH:
    case JSON_E_STRING_TOO_LONG:
    case JSON_E_TOO_MANY_MEMBERS:
    case JSON_E_TOO_MANY_ITEMS:
        return RPC_INVALID_REQUEST;
    default:
        return RPC_PARSE_ERROR;
    }
}

int rpc_parse(const char *buf, size_t len, const struct json_limits *lim, struct rpc_msg *m,
              struct rpc_err *e)
{
    struct json_err je;
    json_t *root = json_parse_strict(buf, len, lim, &je);

    e->id = NULL;
    if (root == NULL) {
        memset(m, 0, sizeof(*m));
        e->code = json_reason_rpc_code(je.reason);
        e->reason = json_reason_code(je.reason);
        e->offset = je.offset;
        snprintf(e->msg, sizeof(e->msg), "%s: %s",
                 e->code == RPC_PARSE_ERROR ? "Parse error" : "Invalid request", je.msg);
        if (je.reason == JSON_E_TOO_LARGE)
            e->id = rpc_salvage_id(buf, len < 4096 ? len : 4096, len > 512 ? buf + len - 512 : buf,
                                   len < 512 ? len : 512);
        else
            e->id = rpc_salvage_id(buf, len, NULL, 0);
        return -1;
    }
    int rc = rpc_classify(root, m, e);
    json_decref(root);
    return rc;
}

static int emit_id(struct buf *b, const json_t *id)
{
    if (id == NULL)
        return buf_append_str(b, "null");
    return json_emit(b, id);
}

int rpc_emit_error(struct buf *b, const json_t *id, int code, const char *message,
                   const char *data_reason, const json_t *data)
{
    int rc = 0;
    /* An unknown id is omitted rather than null: MCP 2025-11-25 makes the id of
     * an error optional, and SDK clients reject a null id. */
    rc |= buf_append_str(b, "{\"jsonrpc\":\"2.0\",");
    if (id != NULL) {
        rc |= buf_append_str(b, "\"id\":");
        rc |= emit_id(b, id);
        rc |= buf_append_char(b, ',');
    }
    rc |= buf_printf(b, "\"error\":{\"code\":%d,\"message\":", code);
    rc |= json_emit_string(b, message, strlen(message));
    if (data_reason != NULL || data != NULL) {
        rc |= buf_append_str(b, ",\"data\":{");
        bool first = true;
        if (data_reason != NULL) {
            rc |= buf_append_str(b, "\"reason\":");
            rc |= json_emit_string(b, data_reason, strlen(data_reason));
            first = false;
        }
        if (json_is_object(data)) {
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)data, k, v) {
                if (data_reason != NULL && strcmp(k, "reason") == 0)
                    continue;
                if (!first)
                    rc |= buf_append_char(b, ',');
                rc |= json_emit_string(b, k, strlen(k));
                rc |= buf_append_char(b, ':');
                rc |= json_emit(b, v);
                first = false;
            }
        }
        rc |= buf_append_char(b, '}');
    }
    rc |= buf_append_str(b, "}}");
    return rc != 0 ? -1 : 0;
}

int rpc_emit_result(struct buf *b, const json_t *id, const json_t *result)
{
    int rc = 0;
    rc |= buf_append_str(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    rc |= emit_id(b, id);
    rc |= buf_append_str(b, ",\"result\":");
    rc |= json_emit(b, result);
    rc |= buf_append_char(b, '}');
    return rc != 0 ? -1 : 0;
}

int rpc_emit_notification(struct buf *b, const char *method, const json_t *params)
{
    int rc = 0;
    rc |= buf_append_str(b, "{\"jsonrpc\":\"2.0\",\"method\":");
    rc |= json_emit_string(b, method, strlen(method));
    if (params != NULL) {
        rc |= buf_append_str(b, ",\"params\":");
        rc |= json_emit(b, params);
    }
    rc |= buf_append_char(b, '}');
    return rc != 0 ? -1 : 0;
}

int rpc_emit_request(struct buf *b, const json_t *id, const char *method, const json_t *params)
{
    int rc = 0;
    rc |= buf_append_str(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    rc |= emit_id(b, id);
    rc |= buf_append_str(b, ",\"method\":");
    rc |= json_emit_string(b, method, strlen(method));
    if (params != NULL) {
        rc |= buf_append_str(b, ",\"params\":");
        rc |= json_emit(b, params);
    }
    rc |= buf_append_char(b, '}');
    return rc != 0 ? -1 : 0;
}

/* Reads a scalar id value at p: an integer or a short string without escapes. */
static json_t *scan_id_value(const char *p, const char *end, const char **after)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p >= end)
        return NULL;
    if (*p == '"') {
        const char *s = ++p;
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && p - s < 256)
            p++;
        if (p >= end || *p != '"')
            return NULL;
        *after = p + 1;
        return json_stringn(s, (size_t)(p - s));
    }
    const char *s = p;
    if (p < end && *p == '-')
        p++;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9' && p - digits < 19)
        p++;
    if (p == digits || (p < end && (*p == '.' || *p == 'e' || *p == 'E')))
        return NULL;
    char tmp[24];
    size_t n = (size_t)(p - s);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *after = p;
    char *endp;
    long long v = strtoll(tmp, &endp, 10);
    if (endp != tmp + n)
        return NULL;
    return json_integer(v);
}

/* Walks the head of an object tracking depth and strings; takes "id" only at depth 1. */
static json_t *salvage_head(const char *p, size_t n)
{
    const char *end = p + n;
    int depth = 0;
    const char *q = p;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
        q++;
    if (q >= end || *q != '{')
        return NULL;
    for (; q < end; q++) {
        char c = *q;
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
            if (depth <= 0)
                return NULL;
        } else if (c == '"') {
            const char *s = q + 1;
            const char *r = s;
            while (r < end && *r != '"') {
                if (*r == '\\')
                    r++;
                r++;
            }
            if (r >= end)
                return NULL;
            bool is_id = depth == 1 && r - s == 2 && memcmp(s, "id", 2) == 0;
            q = r;
            if (is_id) {
                const char *t = q + 1;
                while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                    t++;
                if (t < end && *t == ':') {
                    const char *after;
                    json_t *v = scan_id_value(t + 1, end, &after);
                    if (v != NULL)
                        return v;
                }
            }
        }
    }
    return NULL;
}

/* Looks for `"id": <scalar> }` as the last member before the final brace. */
static json_t *salvage_tail(const char *p, size_t n)
{
    const char *end = p + n;
    while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
        end--;
    if (end == p || end[-1] != '}')
        return NULL;
    const char *close = end - 1;
    /* Search backwards for "id" followed by ':' and a scalar ending at close. */
    for (const char *k = close; k - p >= 4; k--) {
        if (k[-4] == '"' && k[-3] == 'i' && k[-2] == 'd' && k[-1] == '"') {
            const char *t = k;
            while (t < close && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                t++;
            if (t >= close || *t != ':')
                continue;
            const char *after;
            json_t *v = scan_id_value(t + 1, close, &after);
            if (v == NULL)
                continue;
            while (after < close && (*after == ' ' || *after == '\t' || *after == '\r' ||
                                     *after == '\n'))
                after++;
            const char *before = k - 5;
            while (before >= p && (*before == ' ' || *before == '\t' || *before == '\n' ||
                                   *before == '\r'))
                before--;
            if (after == close && before >= p && (*before == ',' || *before == '{'))
                return v;
            json_decref(v);
        }
    }
    return NULL;
}

json_t *rpc_salvage_id(const char *head, size_t headlen, const char *tail, size_t taillen)
{
    json_t *id = NULL;
    if (head != NULL && headlen > 0)
        id = salvage_head(head, headlen);
    if (id == NULL && tail != NULL && taillen > 0)
        id = salvage_tail(tail, taillen);
    return id;
}
