#include "proto/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jtape.h"
#include "proto/json_scan.h"
#include "util/utf8.h"

const struct json_limits json_default_limits = {
    .max_bytes = JSON_DEFAULT_MAX_BYTES,
    .max_depth = JSON_DEFAULT_MAX_DEPTH,
    .max_string = JSON_DEFAULT_MAX_STRING,
    .max_members = JSON_DEFAULT_MAX_MEMBERS,
    .max_items = JSON_DEFAULT_MAX_ITEMS,
};

static const char *const reason_codes[JSON_E__COUNT] = {
    [JSON_OK] = "ok",
    [JSON_E_EMPTY] = "empty_message",
    [JSON_E_TOO_LARGE] = "message_too_large",
    [JSON_E_SYNTAX] = "syntax_error",
    [JSON_E_TRUNCATED] = "unexpected_end",
    [JSON_E_DEPTH] = "depth_exceeded",
    [JSON_E_STRING_TOO_LONG] = "string_too_long",
    [JSON_E_TOO_MANY_MEMBERS] = "too_many_members",
    [JSON_E_TOO_MANY_ITEMS] = "too_many_items",
    [JSON_E_DUPLICATE_KEY] = "duplicate_key",
    [JSON_E_INVALID_UTF8] = "invalid_utf8",
    [JSON_E_OVERLONG_UTF8] = "overlong_utf8",
    [JSON_E_SURROGATE_UTF8] = "utf8_encoded_surrogate",
    [JSON_E_LONE_SURROGATE] = "lone_surrogate",
    [JSON_E_NUL_IN_KEY] = "nul_in_key",
    [JSON_E_CONTROL_CHAR] = "control_character",
    [JSON_E_BAD_ESCAPE] = "invalid_escape",
    [JSON_E_BAD_NUMBER] = "invalid_number",
    [JSON_E_NUMBER_RANGE] = "number_out_of_range",
    [JSON_E_TRAILING_DATA] = "trailing_data",
    [JSON_E_NOMEM] = "out_of_memory",
};

const char *json_reason_code(enum json_reason r)
{
    if ((unsigned)r >= JSON_E__COUNT)
        return "unknown";
    return reason_codes[r];
}

json_t *json_parse_strict_pos(const char *buf, size_t len, const struct json_limits *lim,
                              struct json_err *err, json_pos_fn fn, void *ud)
{
    struct jtape t;
    jtape_init(&t);
    json_t *v = NULL;
    if (jtape_parse(&t, buf, len, lim, err) == 0) {
        v = jt_json_pos(&t, 0, fn, ud);
        if (v == NULL) {
            err->reason = JSON_E_NOMEM;
            err->offset = 0;
            snprintf(err->msg, sizeof(err->msg), "out of memory");
        }
    }
    jtape_free(&t);
    return v;
}

json_t *json_parse_strict(const char *buf, size_t len, const struct json_limits *lim,
                          struct json_err *err)
{
    return json_parse_strict_pos(buf, len, lim, err, NULL, NULL);
}

void json_offset_linecol(const char *buf, size_t len, size_t offset, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    if (offset > len)
        offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int emit_cb(const char *p, size_t n, void *ud)
{
    return buf_append((struct buf *)ud, p, n);
}

int json_emit(struct buf *b, const json_t *v)
{
    return json_dump_callback(v, emit_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *json_emit_str(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s != NULL && len != NULL)
        *len = strlen(s);
    return s;
}

/* 0: copy as is; 1: needs an escape; 2: 0xE2, the lead byte of U+2028/2029. */
static const unsigned char escape_class[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1, [0x7f] = 1,
    [0xe2] = 2,
};

int json_emit_string(struct buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    if (buf_reserve(b, n + 2) < 0)
        return -1;
    b->data[b->len++] = '"';
    size_t seg = 0, i = 0;
    while (i < n) {
        /* Skip the run of bytes that need nothing. */
#ifdef __SSE2__
        /* 16 at a time; the non-ASCII bytes it stops at the table lets through */
        while (n - i >= 16) {
            unsigned m = json_stop_mask16(u + i, 0x7f);
            if (m == 0) {
                i += 16;
                continue;
            }
            i += (size_t)__builtin_ctz(m);
            if (escape_class[u[i]] != 0)
                break;
            i++; /* a non-ASCII byte that stays as it is */
        }
#endif
        while (i < n && escape_class[u[i]] == 0)
            i++;
        if (i >= n)
            break;
        unsigned char c = u[i];
        char rep[7];
        size_t replen = 0, skip = 1;
        if (escape_class[c] == 2) {
            if (i + 2 < n && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
                memcpy(rep, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                replen = 6;
                skip = 3;
            } else {
                i++;
                continue;
            }
        } else if (c == '"' || c == '\\') {
            rep[0] = '\\';
            rep[1] = (char)c;
            replen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            rep[0] = '\\';
            rep[1] = c == '\n' ? 'n' : (c == '\r' ? 'r' : 't');
            replen = 2;
        } else {
            rep[0] = '\\';
            rep[1] = 'u';
            rep[2] = '0';
            rep[3] = '0';
            rep[4] = hexd[c >> 4];
            rep[5] = hexd[c & 15];
            replen = 6;
        }
        if (buf_append(b, s + seg, i - seg) < 0 || buf_append(b, rep, replen) < 0)
            return -1;
        i += skip;
        seg = i;
    }
    if (buf_reserve(b, n - seg + 1) < 0)
        return -1;
    memcpy(b->data + b->len, s + seg, n - seg);
    b->len += n - seg;
    b->data[b->len++] = '"';
    return 0;
}

const char *json_get_str(const json_t *obj, const char *key, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    if (len != NULL)
        *len = json_string_length(v);
    return json_string_value(v);
}

bool json_get_int(const json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

int buf_append_u64(struct buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return buf_append(b, tmp + i, sizeof(tmp) - i);
}

struct preview {
    struct buf *b;
    size_t start;
    size_t max;
    bool full;
    bool (*redact)(const char *);
};

static void pv_put(struct preview *pv, const char *p, size_t n)
{
    if (pv->full)
        return;
    size_t used = buf_used(pv->b) - pv->start;
    if (used + n > pv->max) {
        size_t take = pv->max > used ? pv->max - used : 0;
        /* Never cut inside a UTF-8 sequence. */
        while (take > 0 && take < n && ((unsigned char)p[take] & 0xc0) == 0x80)
            take--;
        buf_append(pv->b, p, take);
        buf_append(pv->b, "...", 3);
        pv->full = true;
        return;
    }
    buf_append(pv->b, p, n);
}

static void pv_string(struct preview *pv, const char *s, size_t n)
{
    /* Escape into a small window at a time so long strings cost O(max). */
    char tmpbuf[512];
    struct buf t;
    size_t off = 0;
    pv_put(pv, "\"", 1);
    while (off < n && !pv->full) {
        size_t chunk = n - off < 128 ? n - off : 128;
        while (chunk < n - off && chunk > 0 && ((unsigned char)s[off + chunk] & 0xc0) == 0x80)
            chunk--;
        if (chunk == 0)
            chunk = n - off < 4 ? n - off : 4;
        t.data = tmpbuf;
        t.off = 0;
        t.len = 0;
        t.cap = sizeof(tmpbuf);
        t.max = sizeof(tmpbuf) - 1;
        json_emit_string(&t, s + off, chunk);
        /* drop the quotes json_emit_string added */
        pv_put(pv, t.data + 1, t.len - 2);
        off += chunk;
    }
    pv_put(pv, "\"", 1);
}

static void pv_value(struct preview *pv, const json_t *v, int depth)
{
    char num[64];
    if (pv->full)
        return;
    if (depth > 64) {
        pv_put(pv, "\"[...]\"", 7);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        pv_put(pv, "{", 1);
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach((json_t *)v, k, x) {
            if (pv->full)
                break;
            if (!first)
                pv_put(pv, ",", 1);
            first = false;
            pv_string(pv, k, strlen(k));
            pv_put(pv, ":", 1);
            if (pv->redact != NULL && pv->redact(k))
                pv_put(pv, "\"[REDACTED]\"", 12);
            else
                pv_value(pv, x, depth + 1);
        }
        pv_put(pv, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        pv_put(pv, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && !pv->full; i++) {
            if (i > 0)
                pv_put(pv, ",", 1);
            pv_value(pv, json_array_get(v, i), depth + 1);
        }
        pv_put(pv, "]", 1);
        break;
    }
    case JSON_STRING:
        pv_string(pv, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        pv_put(pv, num, (size_t)n);
        break;
    }
    case JSON_REAL: {
        int n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        pv_put(pv, num, (size_t)n);
        break;
    }
    case JSON_TRUE: pv_put(pv, "true", 4); break;
    case JSON_FALSE: pv_put(pv, "false", 5); break;
    case JSON_NULL: pv_put(pv, "null", 4); break;
    }
}

void json_emit_preview(struct buf *b, const json_t *v, size_t max,
                       bool (*redact_key)(const char *key))
{
    struct preview pv = {.b = b, .start = buf_used(b), .max = max, .redact = redact_key};
    if (v != NULL)
        pv_value(&pv, v, 0);
}

struct canon_sink {
    void (*sink)(void *, const char *, size_t);
    void *ud;
    char buf[1024];
    size_t n;
};

static void cs_put(struct canon_sink *cs, const char *p, size_t n)
{
    if (cs->n + n > sizeof(cs->buf)) {
        cs->sink(cs->ud, cs->buf, cs->n);
        cs->n = 0;
        if (n > sizeof(cs->buf)) {
            cs->sink(cs->ud, p, n);
            return;
        }
    }
    memcpy(cs->buf + cs->n, p, n);
    cs->n += n;
}

static void cs_string(struct canon_sink *cs, const char *s, size_t n)
{
    char tmpbuf[1100];
    struct buf t;
    size_t off = 0;
    cs_put(cs, "\"", 1);
    while (off < n) {
        size_t chunk = n - off < 256 ? n - off : 256;
        while (chunk < n - off && chunk > 0 && ((unsigned char)s[off + chunk] & 0xc0) == 0x80)
            chunk--;
        if (chunk == 0)
            chunk = n - off < 4 ? n - off : 4;
        t.data = tmpbuf;
        t.off = 0;
        t.len = 0;
        t.cap = sizeof(tmpbuf);
        t.max = sizeof(tmpbuf) - 1;
        json_emit_string(&t, s + off, chunk);
        cs_put(cs, t.data + 1, t.len - 2);
        off += chunk;
    }
    cs_put(cs, "\"", 1);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void cs_value(struct canon_sink *cs, const json_t *v, int depth)
{
    char num[64];
    if (depth > 1000)
        return;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char *small[32];
        const char **keys = n <= 32 ? small : malloc(n * sizeof(char *));
        size_t i = 0;
        const char *k;
        json_t *x;
        if (keys == NULL)
            return;
        json_object_foreach((json_t *)v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof(char *), key_cmp);
        cs_put(cs, "{", 1);
        for (i = 0; i < n; i++) {
            if (i > 0)
                cs_put(cs, ",", 1);
            cs_string(cs, keys[i], strlen(keys[i]));
            cs_put(cs, ":", 1);
            cs_value(cs, json_object_get(v, keys[i]), depth + 1);
        }
        cs_put(cs, "}", 1);
        if (keys != small)
            free(keys);
        break;
    }
    case JSON_ARRAY:
        cs_put(cs, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                cs_put(cs, ",", 1);
            cs_value(cs, json_array_get(v, i), depth + 1);
        }
        cs_put(cs, "]", 1);
        break;
    case JSON_STRING:
        cs_string(cs, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        cs_put(cs, num, (size_t)n);
        break;
    }
    case JSON_REAL: {
        int n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        cs_put(cs, num, (size_t)n);
        break;
    }
    case JSON_TRUE: cs_put(cs, "true", 4); break;
    case JSON_FALSE: cs_put(cs, "false", 5); break;
    case JSON_NULL: cs_put(cs, "null", 4); break;
    }
}

void json_emit_canonical(const json_t *v, void (*sink)(void *ud, const char *p, size_t n),
                         void *ud)
{
    struct canon_sink cs = {.sink = sink, .ud = ud, .n = 0};
    if (v != NULL)
        cs_value(&cs, v, 0);
    if (cs.n > 0)
        sink(ud, cs.buf, cs.n);
}
