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

/* "n:<decimal>": written by hand because it runs for every request and
 * response (snprintf was a visible part of the per-message cost). Both key
 * functions below use it, so a tape id and a tree id give the same key. */
static size_t id_key_int(long long v, char *out, size_t outsz)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    unsigned long long u = v < 0 ? (unsigned long long)(-(v + 1)) + 1u : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--i] = '-';
    size_t n = sizeof(tmp) - i;
    if (n + 3 > outsz)
        return 0;
    out[0] = 'n';
    out[1] = ':';
    memcpy(out + 2, tmp + i, n);
    out[n + 2] = '\0';
    return n + 2;
}

/* "s:<string>", the decoded string's bytes. */
static size_t id_key_str(const char *s, size_t n, char *out, size_t outsz)
{
    if (n + 3 > outsz)
        return 0;
    out[0] = 's';
    out[1] = ':';
    memcpy(out + 2, s, n);
    out[n + 2] = '\0';
    return n + 2;
}

size_t rpc_id_key(const json_t *id, char *out, size_t outsz)
{
    if (json_is_integer(id))
        return id_key_int((long long)json_integer_value(id), out, outsz);
    if (json_is_string(id))
        return id_key_str(json_string_value(id), json_string_length(id), out, outsz);
    return 0;
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

static const char *tok_type_name(const struct jtape *t, size_t i)
{
    switch (jt_type(t, i)) {
    case JT_OBJECT: return "an object";
    case JT_ARRAY: return "an array";
    case JT_STRING: return "a string";
    case JT_NUMBER:
        return (t->tok[i].flags & JT_F_INT) != 0 ? "an integer" : "a fractional number";
    case JT_TRUE:
    case JT_FALSE: return "a boolean";
    case JT_NULL: return "null";
    }
    return "nothing";
}

static bool tok_id_valid(const struct jtape *t, size_t i)
{
    enum jt_type ty = jt_type(t, i);
    return ty == JT_STRING || (ty == JT_NUMBER && (t->tok[i].flags & JT_F_INT) != 0);
}

json_t *rpc_view_id(const struct rpc_view *v)
{
    return v->id != JT_NONE ? jt_json(v->tape, v->id) : NULL;
}

size_t rpc_id_key_tape(const struct jtape *t, size_t tok, char *out, size_t outsz)
{
    long long v;
    if (jt_int(t, tok, &v))
        return id_key_int(v, out, outsz);
    /* count: the decoded length, known before decoding */
    if (jt_type(t, tok) != JT_STRING || (size_t)t->tok[tok].count + 3 > outsz)
        return 0;
    struct buf sc;
    buf_init(&sc, 0);
    size_t n;
    const char *s = jt_str(t, tok, &n, &sc);
    size_t kl = s != NULL ? id_key_str(s, n, out, outsz) : 0;
    buf_free(&sc);
    return kl;
}

static void keep_id(struct rpc_err *e, const struct jtape *t, size_t id)
{
    if (id != JT_NONE && tok_id_valid(t, id))
        e->id = jt_json(t, id);
}

/* The classification rules, once, over a tape. */
static int classify(struct jtape *t, struct rpc_view *v, struct rpc_err *e)
{
    memset(v, 0, sizeof(*v));
    v->tape = t;
    v->id = v->method = v->params = v->result = v->error = JT_NONE;
    e->id = NULL;
    e->offset = 0;

    if (jt_type(t, 0) == JT_ARRAY) {
        rpc_err_set(e, RPC_INVALID_REQUEST, "batch_not_supported",
                    "JSON-RPC batch arrays are not allowed: MCP removed batching in 2025-06-18; "
                    "send each message on its own line");
        return -1;
    }
    if (jt_type(t, 0) != JT_OBJECT) {
        rpc_err_set(e, RPC_INVALID_REQUEST, "not_an_object",
                    "a JSON-RPC message must be an object, got %s", tok_type_name(t, 0));
        return -1;
    }
    size_t ver = JT_NONE, id = JT_NONE, method = JT_NONE, result = JT_NONE, error = JT_NONE,
           params = JT_NONE;
    size_t it = JT_NONE, val, key;
    while ((key = jt_next_member(t, 0, &it, &val)) != JT_NONE) {
        const struct jt_tok *k = &t->tok[key];
        if ((k->flags & JT_F_ESC) != 0) {
            /* Rare: compare decoded. */
            if (jt_str_eq(t, key, "jsonrpc", 7)) ver = val;
            else if (jt_str_eq(t, key, "id", 2)) id = val;
            else if (jt_str_eq(t, key, "method", 6)) method = val;
            else if (jt_str_eq(t, key, "params", 6)) params = val;
            else if (jt_str_eq(t, key, "result", 6)) result = val;
            else if (jt_str_eq(t, key, "error", 5)) error = val;
            continue;
        }
        const char *ks = t->src + k->start;
        switch (k->len) {
        case 2: if (memcmp(ks, "id", 2) == 0) id = val; break;
        case 5: if (memcmp(ks, "error", 5) == 0) error = val; break;
        case 6:
            if (memcmp(ks, "method", 6) == 0) method = val;
            else if (memcmp(ks, "params", 6) == 0) params = val;
            else if (memcmp(ks, "result", 6) == 0) result = val;
            break;
        case 7: if (memcmp(ks, "jsonrpc", 7) == 0) ver = val; break;
        default: break;
        }
    }
    if (ver == JT_NONE) {
        keep_id(e, t, id);
        rpc_err_set(e, RPC_INVALID_REQUEST, "missing_jsonrpc",
                    "member \"jsonrpc\" is missing; it must be \"2.0\"");
        return -1;
    }
    if (!jt_str_eq(t, ver, "2.0", 3)) {
        keep_id(e, t, id);
        rpc_err_set(e, RPC_INVALID_REQUEST, "bad_jsonrpc_version",
                    "member \"jsonrpc\" must be the string \"2.0\"");
        return -1;
    }
    /* JSON-RPC 2.0: an error answering a request whose id could not be read
     * carries "id": null; that is the only place null is allowed. */
    if (jt_type(t, id) == JT_NULL && method == JT_NONE && error != JT_NONE && result == JT_NONE)
        id = JT_NONE;
    if (id != JT_NONE && !tok_id_valid(t, id)) {
        if (jt_type(t, id) == JT_NULL)
            rpc_err_set(e, RPC_INVALID_REQUEST, "null_id",
                        "\"id\" must not be null in MCP; use a string or an integer, or omit it "
                        "for a notification");
        else
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_id_type",
                        "\"id\" must be a string or an integer, got %s", tok_type_name(t, id));
        return -1;
    }
    v->id = id;
    if (method != JT_NONE) {
        if (result != JT_NONE || error != JT_NONE) {
            keep_id(e, t, id);
            rpc_err_set(e, RPC_INVALID_REQUEST, "ambiguous_message",
                        "a message with \"method\" must not also carry \"result\" or \"error\"");
            return -1;
        }
        if (jt_type(t, method) != JT_STRING) {
            keep_id(e, t, id);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_method",
                        "\"method\" must be a string, got %s", tok_type_name(t, method));
            return -1;
        }
        size_t mlen;
        const char *ms = jt_str(t, method, &mlen, &t->scratch);
        if (ms == NULL || mlen == 0 || mlen > METHOD_MAX_LEN || memchr(ms, '\0', mlen) != NULL) {
            keep_id(e, t, id);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_method",
                        "\"method\" must be a non-empty name of at most %d bytes", METHOD_MAX_LEN);
            return -1;
        }
        if (params != JT_NONE && jt_type(t, params) != JT_OBJECT) {
            keep_id(e, t, id);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_params",
                        "\"params\" must be an object in MCP, got %s", tok_type_name(t, params));
            return -1;
        }
        v->kind = id != JT_NONE ? RPC_REQUEST : RPC_NOTIFICATION;
        v->method = method;
        v->method_str = ms;
        v->method_len = mlen;
        v->params = params;
        return 0;
    }
    if (result != JT_NONE || error != JT_NONE) {
        if (result != JT_NONE && error != JT_NONE) {
            keep_id(e, t, id);
            rpc_err_set(e, RPC_INVALID_REQUEST, "ambiguous_message",
                        "a response must carry either \"result\" or \"error\", not both");
            return -1;
        }
        if (error != JT_NONE) {
            size_t code = jt_get(t, error, "code"), msg = jt_get(t, error, "message");
            if (jt_type(t, error) != JT_OBJECT || jt_type(t, code) != JT_NUMBER ||
                (t->tok[code].flags & JT_F_INT) == 0 || jt_type(t, msg) != JT_STRING) {
                keep_id(e, t, id);
                rpc_err_set(e, RPC_INVALID_REQUEST, "bad_error_object",
                            "\"error\" must be an object with an integer \"code\" and a string "
                            "\"message\"");
                return -1;
            }
            v->kind = RPC_ERROR;
            v->error = error;
            return 0;
        }
        if (id == JT_NONE) {
            rpc_err_set(e, RPC_INVALID_REQUEST, "missing_id",
                        "a result must carry the \"id\" of the request it answers");
            return -1;
        }
        if (jt_type(t, result) != JT_OBJECT) {
            keep_id(e, t, id);
            rpc_err_set(e, RPC_INVALID_REQUEST, "bad_result",
                        "\"result\" must be an object in MCP, got %s", tok_type_name(t, result));
            return -1;
        }
        v->kind = RPC_RESULT;
        v->result = result;
        return 0;
    }
    keep_id(e, t, id);
    rpc_err_set(e, RPC_INVALID_REQUEST, "missing_method",
                "message has no \"method\" (request or notification) and no \"result\" or "
                "\"error\" (response)");
    return -1;
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

int rpc_scan(struct jtape *t, const char *buf, size_t len, const struct json_limits *lim,
             struct rpc_view *v, struct rpc_err *e)
{
    struct json_err je;
    e->id = NULL;
    if (jtape_parse(t, buf, len, lim, &je) < 0) {
        memset(v, 0, sizeof(*v));
        v->id = v->method = v->params = v->result = v->error = JT_NONE;
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
    return classify(t, v, e);
}

/* Fills the tree-based message from a classified view (builds the tree). */
static int view_to_msg(const struct rpc_view *v, struct rpc_msg *m, struct rpc_err *e)
{
    memset(m, 0, sizeof(*m));
    m->root = jt_json(v->tape, 0);
    if (m->root == NULL) {
        rpc_err_set(e, RPC_INTERNAL_ERROR, "out_of_memory", "out of memory reading the message");
        return -1;
    }
    m->kind = v->kind;
    m->id = v->id != JT_NONE ? json_object_get(m->root, "id") : NULL;
    m->params = json_object_get(m->root, "params");
    m->result = v->kind == RPC_RESULT ? json_object_get(m->root, "result") : NULL;
    m->error = v->kind == RPC_ERROR ? json_object_get(m->root, "error") : NULL;
    json_t *meth = json_object_get(m->root, "method");
    if (json_is_string(meth)) {
        m->method = json_string_value(meth);
        m->method_len = json_string_length(meth);
    }
    return 0;
}

int rpc_parse(const char *buf, size_t len, const struct json_limits *lim, struct rpc_msg *m,
              struct rpc_err *e)
{
    struct jtape t;
    struct rpc_view v;
    jtape_init(&t);
    int rc = rpc_scan(&t, buf, len, lim, &v, e);
    if (rc == 0)
        rc = view_to_msg(&v, m, e);
    else
        memset(m, 0, sizeof(*m));
    jtape_free(&t);
    return rc;
}

int rpc_classify(json_t *root, struct rpc_msg *m, struct rpc_err *e)
{
    /* Cold path (callers that already hold a tree): one set of rules, read
     * again from the serialised form. */
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    memset(m, 0, sizeof(*m));
    if (s == NULL) {
        e->id = NULL;
        rpc_err_set(e, RPC_INTERNAL_ERROR, "out_of_memory", "out of memory");
        return -1;
    }
    struct json_limits lim = json_default_limits;
    lim.max_bytes = strlen(s) + 1;
    lim.max_depth = JSON_HARD_MAX_DEPTH;
    lim.max_string = lim.max_bytes;
    lim.max_members = lim.max_bytes;
    lim.max_items = lim.max_bytes;
    int rc = rpc_parse(s, strlen(s), &lim, m, e);
    free(s);
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
