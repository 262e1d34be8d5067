#include "proto/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct parser {
    const char *start;
    const char *p;
    const char *end;
    const struct json_limits *lim;
    struct json_err *err;
    size_t depth;
    struct buf scratch; /* decoded strings that contained escapes */
    json_pos_fn pos_fn;
    void *pos_ud;
    /* Where the value being parsed goes (for pos_fn). */
    json_t *cur_parent;
    const char *cur_key;
    size_t cur_keylen;
    size_t cur_index;
    size_t cur_key_off;
};

static void fail(struct parser *ps, const char *at, enum json_reason r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct parser *ps, const char *at, enum json_reason r, const char *fmt, ...)
{
    if (ps->err->reason != JSON_OK)
        return; /* keep the first error */
    ps->err->reason = r;
    ps->err->offset = (size_t)(at - ps->start);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(ps->err->msg) - 24)
        snprintf(ps->err->msg + n, sizeof(ps->err->msg) - (size_t)n, " at byte %zu",
                 ps->err->offset);
}

static inline void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->p++;
    }
}

static json_t *parse_value(struct parser *ps);

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void fail_utf8(struct parser *ps, const char *at, enum utf8_status st)
{
    switch (st) {
    case UTF8_OVERLONG:
        fail(ps, at, JSON_E_OVERLONG_UTF8, "overlong UTF-8 encoding in string");
        break;
    case UTF8_SURROGATE:
        fail(ps, at, JSON_E_SURROGATE_UTF8, "UTF-8-encoded surrogate (U+D800..U+DFFF) in string");
        break;
    default:
        fail(ps, at, JSON_E_INVALID_UTF8, "invalid UTF-8 in string");
        break;
    }
}

/* Reads a string starting at the opening quote. On success *out and *outlen point
 * either into the input (no escapes) or into ps->scratch. */
static int parse_string(struct parser *ps, bool is_key, const char **out, size_t *outlen)
{
    const char *open = ps->p;
    const char *seg = ++ps->p;
    bool escaped = false;
    size_t max = ps->lim->max_string;

    buf_reset(&ps->scratch);
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            size_t seglen = (size_t)(ps->p - seg);
            if (escaped) {
                if (buf_used(&ps->scratch) + seglen > max)
                    goto too_long;
                if (buf_append(&ps->scratch, seg, seglen) < 0)
                    goto nomem;
                *out = buf_head(&ps->scratch);
                *outlen = buf_used(&ps->scratch);
            } else {
                if (seglen > max)
                    goto too_long;
                *out = seg;
                *outlen = seglen;
            }
            ps->p++;
            return 0;
        }
        if (c == '\\') {
            size_t seglen = (size_t)(ps->p - seg);
            if (buf_used(&ps->scratch) + seglen > max)
                goto too_long;
            if (buf_append(&ps->scratch, seg, seglen) < 0)
                goto nomem;
            escaped = true;
            const char *esc = ps->p;
            if (ps->end - ps->p < 2) {
                fail(ps, esc, JSON_E_TRUNCATED, "string ends inside an escape");
                return -1;
            }
            char e = ps->p[1];
            char ch;
            ps->p += 2;
            switch (e) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0) {
                    fail(ps, esc, JSON_E_BAD_ESCAPE, "\\u must be followed by four hex digits");
                    return -1;
                }
                ps->p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    fail(ps, esc, JSON_E_LONE_SURROGATE,
                         "lone low surrogate \\u%04X without a preceding high surrogate",
                         (unsigned)cp);
                    return -1;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                        hex4(ps->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                        fail(ps, esc, JSON_E_LONE_SURROGATE,
                             "lone high surrogate \\u%04X not followed by a low surrogate",
                             (unsigned)cp);
                        return -1;
                    }
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0 && is_key) {
                    fail(ps, esc, JSON_E_NUL_IN_KEY, "NUL character (\\u0000) in an object key");
                    return -1;
                }
                char enc[4];
                size_t n = utf8_encode(cp, enc);
                if (buf_used(&ps->scratch) + n > max)
                    goto too_long;
                if (buf_append(&ps->scratch, enc, n) < 0)
                    goto nomem;
                seg = ps->p;
                continue;
            }
            default:
                fail(ps, esc, JSON_E_BAD_ESCAPE, "invalid escape sequence in string");
                return -1;
            }
            if (buf_used(&ps->scratch) + 1 > max)
                goto too_long;
            if (buf_append_char(&ps->scratch, ch) < 0)
                goto nomem;
            seg = ps->p;
            continue;
        }
        if (c < 0x20) {
            fail(ps, ps->p, JSON_E_CONTROL_CHAR,
                 "unescaped control character 0x%02X in string", (unsigned)c);
            return -1;
        }
        if (c < 0x80) {
            ps->p++;
            continue;
        }
        uint32_t cp;
        size_t len;
        enum utf8_status st = utf8_decode((const unsigned char *)ps->p, (size_t)(ps->end - ps->p),
                                          &cp, &len);
        if (st != UTF8_OK) {
            fail_utf8(ps, ps->p, st);
            return -1;
        }
        ps->p += len;
    }
    fail(ps, open, JSON_E_TRUNCATED, "unterminated string");
    return -1;
too_long:
    fail(ps, open, JSON_E_STRING_TOO_LONG, "string longer than the %zu-byte limit", max);
    return -1;
nomem:
    fail(ps, open, JSON_E_NOMEM, "out of memory reading string");
    return -1;
}

static json_t *parse_number(struct parser *ps)
{
    const char *s = ps->p;
    const char *q = s;
    bool is_int = true;

    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end) {
        fail(ps, s, JSON_E_TRUNCATED, "number ends early");
        return NULL;
    }
    if (*q == '0') {
        q++;
        if (q < ps->end && *q >= '0' && *q <= '9') {
            fail(ps, s, JSON_E_BAD_NUMBER, "number with a leading zero");
            return NULL;
        }
    } else if (*q >= '1' && *q <= '9') {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        fail(ps, s, JSON_E_BAD_NUMBER, "invalid number");
        return NULL;
    }
    if (q < ps->end && *q == '.') {
        is_int = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, s, JSON_E_BAD_NUMBER, "number needs digits after the decimal point");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        is_int = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, s, JSON_E_BAD_NUMBER, "number needs digits in its exponent");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    size_t n = (size_t)(q - s);
    char tmp[320];
    if (n >= sizeof(tmp)) {
        fail(ps, s, JSON_E_NUMBER_RANGE, "number longer than %zu characters", sizeof(tmp) - 1);
        return NULL;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    ps->p = q;
    if (is_int) {
        errno = 0;
        char *endp;
        long long v = strtoll(tmp, &endp, 10);
        if (errno == 0 && endp == tmp + n)
            return json_integer(v);
        /* Too large for int64: keep it as a real (original bytes still forwarded). */
    }
    errno = 0;
    char *endp;
    double d = strtod(tmp, &endp);
    if (endp != tmp + n || !isfinite(d)) {
        fail(ps, s, JSON_E_NUMBER_RANGE, "number out of the representable range");
        return NULL;
    }
    return json_real(d);
}

static json_t *parse_object(struct parser *ps)
{
    const char *open = ps->p;
    json_t *obj = json_object();
    size_t count = 0;

    if (obj == NULL) {
        fail(ps, open, JSON_E_NOMEM, "out of memory");
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end) {
            fail(ps, ps->p, JSON_E_TRUNCATED, "object not closed");
            goto bad;
        }
        if (*ps->p != '"') {
            fail(ps, ps->p, JSON_E_SYNTAX, "expected a string key in object");
            goto bad;
        }
        const char *keyat = ps->p;
        const char *key;
        size_t keylen;
        if (parse_string(ps, true, &key, &keylen) < 0)
            goto bad;
        if (memchr(key, '\0', keylen) != NULL) {
            fail(ps, keyat, JSON_E_NUL_IN_KEY, "NUL character in an object key");
            goto bad;
        }
        if (++count > ps->lim->max_members) {
            fail(ps, keyat, JSON_E_TOO_MANY_MEMBERS, "object has more than %zu members",
                 ps->lim->max_members);
            goto bad;
        }
        if (json_object_getn(obj, key, keylen) != NULL) {
            fail(ps, keyat, JSON_E_DUPLICATE_KEY, "duplicate key \"%.*s%s\" in object",
                 (int)(keylen > 40 ? 40 : keylen), key, keylen > 40 ? "..." : "");
            goto bad;
        }
        /* The key may live in scratch, which the value parse reuses: copy it. */
        char small[128];
        char *kcopy = keylen < sizeof(small) ? small : malloc(keylen + 1);
        if (kcopy == NULL) {
            fail(ps, keyat, JSON_E_NOMEM, "out of memory");
            goto bad;
        }
        memcpy(kcopy, key, keylen);
        kcopy[keylen] = '\0';
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            if (kcopy != small)
                free(kcopy);
            if (ps->p >= ps->end)
                fail(ps, ps->p, JSON_E_TRUNCATED, "object ends after a key");
            else
                fail(ps, ps->p, JSON_E_SYNTAX, "expected ':' after object key");
            goto bad;
        }
        ps->p++;
        skip_ws(ps);
        ps->cur_parent = obj;
        ps->cur_key = kcopy;
        ps->cur_keylen = keylen;
        ps->cur_index = 0;
        ps->cur_key_off = (size_t)(keyat - ps->start);
        json_t *v = parse_value(ps);
        if (v == NULL) {
            if (kcopy != small)
                free(kcopy);
            goto bad;
        }
        int rc = json_object_setn_new_nocheck(obj, kcopy, keylen, v);
        if (kcopy != small)
            free(kcopy);
        if (rc < 0) {
            fail(ps, keyat, JSON_E_NOMEM, "out of memory");
            goto bad;
        }
        skip_ws(ps);
        if (ps->p >= ps->end) {
            fail(ps, ps->p, JSON_E_TRUNCATED, "object not closed");
            goto bad;
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            return obj;
        }
        fail(ps, ps->p, JSON_E_SYNTAX, "expected ',' or '}' in object");
        goto bad;
    }
bad:
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(struct parser *ps)
{
    const char *open = ps->p;
    json_t *arr = json_array();
    size_t count = 0;

    if (arr == NULL) {
        fail(ps, open, JSON_E_NOMEM, "out of memory");
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        skip_ws(ps);
        if (++count > ps->lim->max_items) {
            fail(ps, ps->p, JSON_E_TOO_MANY_ITEMS, "array has more than %zu elements",
                 ps->lim->max_items);
            goto bad;
        }
        ps->cur_parent = arr;
        ps->cur_key = NULL;
        ps->cur_keylen = 0;
        ps->cur_index = count - 1;
        ps->cur_key_off = (size_t)(ps->p - ps->start);
        json_t *v = parse_value(ps);
        if (v == NULL)
            goto bad;
        if (json_array_append_new(arr, v) < 0) {
            fail(ps, ps->p, JSON_E_NOMEM, "out of memory");
            goto bad;
        }
        skip_ws(ps);
        if (ps->p >= ps->end) {
            fail(ps, ps->p, JSON_E_TRUNCATED, "array not closed");
            goto bad;
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            return arr;
        }
        fail(ps, ps->p, JSON_E_SYNTAX, "expected ',' or ']' in array");
        goto bad;
    }
bad:
    json_decref(arr);
    return NULL;
}

static json_t *parse_literal(struct parser *ps, const char *word, size_t n, json_t *v)
{
    if ((size_t)(ps->end - ps->p) < n) {
        if (memcmp(ps->p, word, (size_t)(ps->end - ps->p)) == 0)
            fail(ps, ps->p, JSON_E_TRUNCATED, "input ends inside '%s'", word);
        else
            fail(ps, ps->p, JSON_E_SYNTAX, "unexpected token");
        return NULL;
    }
    if (memcmp(ps->p, word, n) != 0) {
        fail(ps, ps->p, JSON_E_SYNTAX, "unexpected token");
        return NULL;
    }
    ps->p += n;
    return v;
}

static json_t *parse_value(struct parser *ps)
{
    const char *at = ps->p;
    json_t *v = NULL;
    json_t *parent = ps->cur_parent;
    const char *key = ps->cur_key;
    size_t keylen = ps->cur_keylen, index = ps->cur_index, key_off = ps->cur_key_off;

    if (ps->p >= ps->end) {
        fail(ps, ps->p, JSON_E_TRUNCATED, "input ends where a value was expected");
        return NULL;
    }
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > ps->lim->max_depth) {
            fail(ps, ps->p, JSON_E_DEPTH, "nesting deeper than %zu levels", ps->lim->max_depth);
            return NULL;
        }
        v = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
        ps->depth--;
        break;
    case '"': {
        const char *s;
        size_t n;
        if (parse_string(ps, false, &s, &n) < 0)
            return NULL;
        v = json_stringn_nocheck(s, n);
        if (v == NULL)
            fail(ps, at, JSON_E_NOMEM, "out of memory");
        break;
    }
    case 't':
        v = parse_literal(ps, "true", 4, json_true());
        break;
    case 'f':
        v = parse_literal(ps, "false", 5, json_false());
        break;
    case 'n':
        v = parse_literal(ps, "null", 4, json_null());
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            v = parse_number(ps);
        } else if ((unsigned char)*ps->p >= 0x80) {
            uint32_t cp;
            size_t len;
            enum utf8_status st = utf8_decode((const unsigned char *)ps->p,
                                              (size_t)(ps->end - ps->p), &cp, &len);
            if (st != UTF8_OK)
                fail_utf8(ps, ps->p, st);
            else if (cp == 0xfeff)
                fail(ps, ps->p, JSON_E_SYNTAX, "byte order mark is not allowed");
            else
                fail(ps, ps->p, JSON_E_SYNTAX, "unexpected character");
        } else if ((unsigned char)*ps->p < 0x20) {
            fail(ps, ps->p, JSON_E_CONTROL_CHAR, "unexpected control character 0x%02X",
                 (unsigned)(unsigned char)*ps->p);
        } else {
            fail(ps, ps->p, JSON_E_SYNTAX, "unexpected character '%c'", *ps->p);
        }
        break;
    }
    if (v != NULL && ps->pos_fn != NULL)
        ps->pos_fn(ps->pos_ud, parent, key, keylen, index, v, key_off, (size_t)(at - ps->start));
    return v;
}

json_t *json_parse_strict_pos(const char *buf, size_t len, const struct json_limits *lim,
                              struct json_err *err, json_pos_fn fn, void *ud)
{
    struct parser ps = {
        .start = buf,
        .p = buf,
        .end = buf + len,
        .lim = lim != NULL ? lim : &json_default_limits,
        .err = err,
        .pos_fn = fn,
        .pos_ud = ud,
    };
    struct json_limits capped;

    err->reason = JSON_OK;
    err->offset = 0;
    err->msg[0] = '\0';
    if (ps.lim->max_depth > JSON_HARD_MAX_DEPTH) {
        capped = *ps.lim;
        capped.max_depth = JSON_HARD_MAX_DEPTH;
        ps.lim = &capped;
    }
    if (len > ps.lim->max_bytes) {
        fail(&ps, buf, JSON_E_TOO_LARGE, "message of %zu bytes exceeds the %zu-byte limit", len,
             ps.lim->max_bytes);
        return NULL;
    }
    buf_init(&ps.scratch, ps.lim->max_string + 8);
    skip_ws(&ps);
    if (ps.p >= ps.end) {
        fail(&ps, ps.p, JSON_E_EMPTY, "empty message");
        buf_free(&ps.scratch);
        return NULL;
    }
    json_t *v = parse_value(&ps);
    if (v != NULL) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            fail(&ps, ps.p, JSON_E_TRAILING_DATA, "data after the end of the JSON value");
            json_decref(v);
            v = NULL;
        }
    }
    buf_free(&ps.scratch);
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

int json_emit_string(struct buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    if (buf_reserve(b, n + 2) < 0)
        return -1;
    buf_append_char(b, '"');
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char u[7];
        size_t skip = 1;
        if (c == '"')
            rep = "\\\"";
        else if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '\r')
            rep = "\\r";
        else if (c == '\t')
            rep = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = hexd[c >> 4];
            u[5] = hexd[c & 15];
            u[6] = '\0';
            rep = u;
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
            rep = (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (rep != NULL) {
            if (buf_append(b, s + seg, i - seg) < 0 || buf_append_str(b, rep) < 0)
                return -1;
            i += skip - 1;
            seg = i + 1;
        }
    }
    if (buf_append(b, s + seg, n - seg) < 0)
        return -1;
    return buf_append_char(b, '"');
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
