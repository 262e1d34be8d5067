#include "proto/jtape.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_scan.h"
#include "util/utf8.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SMALL_OBJECT 16 /* members compared pairwise; larger objects use a hash set */

struct tp {
    struct jtape *t;
    const char *start;
    const char *p;
    const char *end;
    const struct json_limits *lim;
    struct json_err *err;
    size_t depth;
    size_t max_toks;
};

static void fail(struct tp *ps, const char *at, enum json_reason r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct tp *ps, const char *at, enum json_reason r, const char *fmt, ...)
{
    if (ps->err->reason != JSON_OK)
        return;
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

static inline void skip_ws(struct tp *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->p++;
    }
}

/* Appends a token; returns its index or JT_NONE (error set). */
static size_t push(struct tp *ps, enum jt_type type, const char *at)
{
    struct jtape *t = ps->t;
    if (t->n >= ps->max_toks) {
        fail(ps, at, JSON_E_TOO_MANY_ITEMS, "message has more than %zu values", ps->max_toks);
        return JT_NONE;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        struct jt_tok *nt = realloc(t->tok, ncap * sizeof(*nt));
        if (nt == NULL) {
            fail(ps, at, JSON_E_NOMEM, "out of memory");
            return JT_NONE;
        }
        t->tok = nt;
        t->cap = ncap;
    }
    struct jt_tok *k = &t->tok[t->n];
    k->start = (uint32_t)(at - ps->start);
    k->len = 0;
    k->next = (uint32_t)(t->n + 1);
    k->count = 0;
    k->type = (uint8_t)type;
    k->flags = 0;
    return t->n++;
}

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

static void fail_utf8(struct tp *ps, const char *at, enum utf8_status st)
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

/* Bytes that end the fast scan inside a string: quote, backslash, control
 * characters and non-ASCII. */
static const unsigned char str_stop[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

/* Validates a string starting at its opening quote and records it. The
 * decoded length is counted (for the string budget) without decoding. */
static size_t parse_string(struct tp *ps, bool is_key)
{
    const char *open = ps->p;
    size_t idx = push(ps, JT_STRING, open + 1);
    if (idx == JT_NONE)
        return JT_NONE;
    size_t decoded = 0;
    size_t max = ps->lim->max_string;
    uint8_t flags = 0;
    const unsigned char *p = (const unsigned char *)open + 1;
    const unsigned char *end = (const unsigned char *)ps->end;

    for (;;) {
        const unsigned char *run = p;
#ifdef __SSE2__
        while (end - p >= 16) {
            unsigned m = json_stop_mask16(p, '"');
            if (m != 0) {
                p += __builtin_ctz(m);
                break;
            }
            p += 16;
        }
#endif
        while (p < end && !str_stop[*p])
            p++;
        decoded += (size_t)(p - run);
        if (p >= end) {
            fail(ps, open, JSON_E_TRUNCATED, "unterminated string");
            return JT_NONE;
        }
        unsigned char c = *p;
        if (c == '"') {
            if (decoded > max) {
                fail(ps, open, JSON_E_STRING_TOO_LONG, "string longer than the %zu-byte limit",
                     max);
                return JT_NONE;
            }
            struct jt_tok *k = &ps->t->tok[idx];
            k->len = (uint32_t)((const char *)p - (open + 1));
            k->count = (uint32_t)decoded;
            k->flags = flags;
            ps->p = (const char *)p + 1;
            return idx;
        }
        if (c == '\\') {
            flags |= JT_F_ESC;
            const char *esc = (const char *)p;
            if (end - p < 2) {
                fail(ps, esc, JSON_E_TRUNCATED, "string ends inside an escape");
                return JT_NONE;
            }
            unsigned char e = p[1];
            p += 2;
            switch (e) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                decoded++;
                break;
            case 'u': {
                uint32_t cp;
                if (end - p < 4 || hex4((const char *)p, &cp) < 0) {
                    fail(ps, esc, JSON_E_BAD_ESCAPE, "\\u must be followed by four hex digits");
                    return JT_NONE;
                }
                p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    fail(ps, esc, JSON_E_LONE_SURROGATE,
                         "lone low surrogate \\u%04X without a preceding high surrogate",
                         (unsigned)cp);
                    return JT_NONE;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                        hex4((const char *)p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                        fail(ps, esc, JSON_E_LONE_SURROGATE,
                             "lone high surrogate \\u%04X not followed by a low surrogate",
                             (unsigned)cp);
                        return JT_NONE;
                    }
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0 && is_key) {
                    fail(ps, esc, JSON_E_NUL_IN_KEY, "NUL character (\\u0000) in an object key");
                    return JT_NONE;
                }
                decoded += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                break;
            }
            default:
                fail(ps, esc, JSON_E_BAD_ESCAPE, "invalid escape sequence in string");
                return JT_NONE;
            }
            if (decoded > max) {
                fail(ps, open, JSON_E_STRING_TOO_LONG, "string longer than the %zu-byte limit",
                     max);
                return JT_NONE;
            }
            continue;
        }
        if (c < 0x20) {
            fail(ps, (const char *)p, JSON_E_CONTROL_CHAR,
                 "unescaped control character 0x%02X in string", (unsigned)c);
            return JT_NONE;
        }
        uint32_t cp;
        size_t len;
        enum utf8_status st = utf8_decode(p, (size_t)(end - p), &cp, &len);
        if (st != UTF8_OK) {
            fail_utf8(ps, (const char *)p, st);
            return JT_NONE;
        }
        p += len;
        decoded += len;
        if (decoded > max) {
            fail(ps, open, JSON_E_STRING_TOO_LONG, "string longer than the %zu-byte limit", max);
            return JT_NONE;
        }
    }
}

static size_t parse_number(struct tp *ps)
{
    const char *s = ps->p;
    const char *q = s;
    bool is_int = true;

    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end) {
        fail(ps, s, JSON_E_TRUNCATED, "number ends early");
        return JT_NONE;
    }
    if (*q == '0') {
        q++;
        if (q < ps->end && *q >= '0' && *q <= '9') {
            fail(ps, s, JSON_E_BAD_NUMBER, "number with a leading zero");
            return JT_NONE;
        }
    } else if (*q >= '1' && *q <= '9') {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        fail(ps, s, JSON_E_BAD_NUMBER, "invalid number");
        return JT_NONE;
    }
    if (q < ps->end && *q == '.') {
        is_int = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, s, JSON_E_BAD_NUMBER, "number needs digits after the decimal point");
            return JT_NONE;
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
            return JT_NONE;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    size_t n = (size_t)(q - s);
    char tmp[320];
    if (n >= sizeof(tmp)) {
        fail(ps, s, JSON_E_NUMBER_RANGE, "number longer than %zu characters", sizeof(tmp) - 1);
        return JT_NONE;
    }
    uint8_t flags = 0;
    /* Short integers always fit int64: skip the conversion. */
    size_t digits = n - (*s == '-');
    if (is_int && digits <= 18) {
        flags = JT_F_INT;
    } else {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        char *endp;
        if (is_int) {
            errno = 0;
            (void)strtoll(tmp, &endp, 10);
            if (errno == 0 && endp == tmp + n)
                flags = JT_F_INT;
        }
        if (flags == 0) {
            double d = strtod(tmp, &endp);
            if (endp != tmp + n || !isfinite(d)) {
                fail(ps, s, JSON_E_NUMBER_RANGE, "number out of the representable range");
                return JT_NONE;
            }
        }
    }
    size_t idx = push(ps, JT_NUMBER, s);
    if (idx == JT_NONE)
        return JT_NONE;
    ps->t->tok[idx].len = (uint32_t)n;
    ps->t->tok[idx].flags = flags;
    ps->p = q;
    return idx;
}

static size_t parse_value(struct tp *ps);

/* Decoded comparison of two key tokens (raw when neither has escapes). */
static bool keys_equal(struct jtape *t, size_t a, size_t b)
{
    const struct jt_tok *x = &t->tok[a], *y = &t->tok[b];
    if (x->count != y->count)
        return false;
    if (((x->flags | y->flags) & JT_F_ESC) == 0)
        return x->len == y->len && memcmp(t->src + x->start, t->src + y->start, x->len) == 0;
    size_t la, lb;
    struct buf sa, sb;
    buf_init(&sa, (size_t)x->count + 8);
    buf_init(&sb, (size_t)y->count + 8);
    const char *pa = jt_str(t, a, &la, &sa);
    const char *pb = jt_str(t, b, &lb, &sb);
    bool eq = pa != NULL && pb != NULL && la == lb && memcmp(pa, pb, la) == 0;
    buf_free(&sa);
    buf_free(&sb);
    return eq;
}

static uint64_t key_hash(struct jtape *t, size_t k)
{
    size_t len;
    struct buf s;
    buf_init(&s, (size_t)t->tok[k].count + 8);
    const char *p = jt_str(t, k, &len, &s);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; p != NULL && i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    buf_free(&s);
    return h;
}

struct keyset {
    size_t *slot; /* token index + 1; 0 empty */
    uint64_t *hash;
    size_t cap;
};

static int keyset_add(struct jtape *t, struct keyset *ks, size_t key, bool *dup)
{
    uint64_t h = key_hash(t, key);
    size_t j = (size_t)h & (ks->cap - 1);
    while (ks->slot[j] != 0) {
        if (ks->hash[j] == h && keys_equal(t, ks->slot[j] - 1, key)) {
            *dup = true;
            return 0;
        }
        j = (j + 1) & (ks->cap - 1);
    }
    ks->slot[j] = key + 1;
    ks->hash[j] = h;
    return 0;
}

static size_t parse_object(struct tp *ps)
{
    const char *open = ps->p;
    size_t idx = push(ps, JT_OBJECT, open);
    size_t keys_small[SMALL_OBJECT];
    struct keyset ks = {0};
    size_t count = 0;

    if (idx == JT_NONE)
        return JT_NONE;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
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
        size_t key = parse_string(ps, true);
        if (key == JT_NONE)
            goto bad;
        if (++count > ps->lim->max_members) {
            fail(ps, keyat, JSON_E_TOO_MANY_MEMBERS, "object has more than %zu members",
                 ps->lim->max_members);
            goto bad;
        }
        bool dup = false;
        if (count <= SMALL_OBJECT) {
            for (size_t i = 0; i + 1 < count && !dup; i++)
                dup = keys_equal(ps->t, keys_small[i], key);
            keys_small[count - 1] = key;
        } else {
            if (ks.cap == 0) {
                ks.cap = 64;
                while (ks.cap < ps->lim->max_members * 2 && ks.cap < 1u << 20)
                    ks.cap *= 2;
                ks.slot = calloc(ks.cap, sizeof(size_t));
                ks.hash = calloc(ks.cap, sizeof(uint64_t));
                if (ks.slot == NULL || ks.hash == NULL) {
                    fail(ps, keyat, JSON_E_NOMEM, "out of memory");
                    goto bad;
                }
                for (size_t i = 0; i < SMALL_OBJECT; i++)
                    keyset_add(ps->t, &ks, keys_small[i], &dup);
            }
            keyset_add(ps->t, &ks, key, &dup);
        }
        if (dup) {
            size_t kl;
            struct buf s;
            buf_init(&s, (size_t)ps->t->tok[key].count + 8);
            const char *k = jt_str(ps->t, key, &kl, &s);
            fail(ps, keyat, JSON_E_DUPLICATE_KEY, "duplicate key \"%.*s%s\" in object",
                 (int)(kl > 40 ? 40 : kl), k != NULL ? k : "", kl > 40 ? "..." : "");
            buf_free(&s);
            goto bad;
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            if (ps->p >= ps->end)
                fail(ps, ps->p, JSON_E_TRUNCATED, "object ends after a key");
            else
                fail(ps, ps->p, JSON_E_SYNTAX, "expected ':' after object key");
            goto bad;
        }
        ps->p++;
        skip_ws(ps);
        if (parse_value(ps) == JT_NONE)
            goto bad;
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
            goto done;
        }
        fail(ps, ps->p, JSON_E_SYNTAX, "expected ',' or '}' in object");
        goto bad;
    }
done:
    free(ks.slot);
    free(ks.hash);
    ps->t->tok[idx].count = (uint32_t)count;
    ps->t->tok[idx].len = (uint32_t)(ps->p - open);
    ps->t->tok[idx].next = (uint32_t)ps->t->n;
    return idx;
bad:
    free(ks.slot);
    free(ks.hash);
    return JT_NONE;
}

static size_t parse_array(struct tp *ps)
{
    const char *open = ps->p;
    size_t idx = push(ps, JT_ARRAY, open);
    size_t count = 0;
    if (idx == JT_NONE)
        return JT_NONE;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        goto done;
    }
    for (;;) {
        skip_ws(ps);
        if (++count > ps->lim->max_items) {
            fail(ps, ps->p, JSON_E_TOO_MANY_ITEMS, "array has more than %zu elements",
                 ps->lim->max_items);
            return JT_NONE;
        }
        if (parse_value(ps) == JT_NONE)
            return JT_NONE;
        skip_ws(ps);
        if (ps->p >= ps->end) {
            fail(ps, ps->p, JSON_E_TRUNCATED, "array not closed");
            return JT_NONE;
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            goto done;
        }
        fail(ps, ps->p, JSON_E_SYNTAX, "expected ',' or ']' in array");
        return JT_NONE;
    }
done:
    ps->t->tok[idx].count = (uint32_t)count;
    ps->t->tok[idx].len = (uint32_t)(ps->p - open);
    ps->t->tok[idx].next = (uint32_t)ps->t->n;
    return idx;
}

static size_t parse_literal(struct tp *ps, const char *word, size_t n, enum jt_type type)
{
    if ((size_t)(ps->end - ps->p) < n) {
        if (memcmp(ps->p, word, (size_t)(ps->end - ps->p)) == 0)
            fail(ps, ps->p, JSON_E_TRUNCATED, "input ends inside '%s'", word);
        else
            fail(ps, ps->p, JSON_E_SYNTAX, "unexpected token");
        return JT_NONE;
    }
    if (memcmp(ps->p, word, n) != 0) {
        fail(ps, ps->p, JSON_E_SYNTAX, "unexpected token");
        return JT_NONE;
    }
    size_t idx = push(ps, type, ps->p);
    if (idx != JT_NONE)
        ps->t->tok[idx].len = (uint32_t)n;
    ps->p += n;
    return idx;
}

static size_t parse_value(struct tp *ps)
{
    size_t idx = JT_NONE;
    if (ps->p >= ps->end) {
        fail(ps, ps->p, JSON_E_TRUNCATED, "input ends where a value was expected");
        return JT_NONE;
    }
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > ps->lim->max_depth) {
            fail(ps, ps->p, JSON_E_DEPTH, "nesting deeper than %zu levels", ps->lim->max_depth);
            return JT_NONE;
        }
        idx = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
        ps->depth--;
        return idx;
    case '"':
        return parse_string(ps, false);
    case 't':
        return parse_literal(ps, "true", 4, JT_TRUE);
    case 'f':
        return parse_literal(ps, "false", 5, JT_FALSE);
    case 'n':
        return parse_literal(ps, "null", 4, JT_NULL);
    default:
        break;
    }
    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
        return parse_number(ps);
    if ((unsigned char)*ps->p >= 0x80) {
        uint32_t cp;
        size_t len;
        enum utf8_status st =
            utf8_decode((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), &cp, &len);
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
    return JT_NONE;
}

void jtape_init(struct jtape *t)
{
    memset(t, 0, sizeof(*t));
    buf_init(&t->scratch, 0);
}

void jtape_free(struct jtape *t)
{
    free(t->tok);
    buf_free(&t->scratch);
    memset(t, 0, sizeof(*t));
}

int jtape_parse(struct jtape *t, const char *buf, size_t len, const struct json_limits *lim,
                struct json_err *err)
{
    struct json_limits capped;
    if (lim == NULL)
        lim = &json_default_limits;
    if (lim->max_depth > JSON_HARD_MAX_DEPTH) {
        capped = *lim;
        capped.max_depth = JSON_HARD_MAX_DEPTH;
        lim = &capped;
    }
    struct tp ps = {
        .t = t,
        .start = buf,
        .p = buf,
        .end = buf + len,
        .lim = lim,
        .err = err,
        .max_toks = lim->max_bytes / 2 + 16,
    };
    err->reason = JSON_OK;
    err->offset = 0;
    err->msg[0] = '\0';
    t->n = 0;
    t->src = buf;
    t->srclen = len;
    if (len > lim->max_bytes || len > UINT32_MAX - 2) {
        fail(&ps, buf, JSON_E_TOO_LARGE, "message of %zu bytes exceeds the %zu-byte limit", len,
             lim->max_bytes);
        return -1;
    }
    skip_ws(&ps);
    if (ps.p >= ps.end) {
        fail(&ps, ps.p, JSON_E_EMPTY, "empty message");
        return -1;
    }
    if (parse_value(&ps) == JT_NONE) {
        t->n = 0;
        return -1;
    }
    skip_ws(&ps);
    if (ps.p < ps.end) {
        fail(&ps, ps.p, JSON_E_TRAILING_DATA, "data after the end of the JSON value");
        t->n = 0;
        return -1;
    }
    return 0;
}

/* ---- navigation ----------------------------------------------------------------- */

size_t jt_get(const struct jtape *t, size_t obj, const char *key)
{
    if (obj >= t->n || t->tok[obj].type != JT_OBJECT)
        return JT_NONE;
    size_t klen = strlen(key);
    size_t i = obj + 1;
    for (uint32_t m = 0; m < t->tok[obj].count; m++) {
        size_t v = i + 1;
        if (jt_str_eq(t, i, key, klen))
            return v;
        i = t->tok[v].next;
    }
    return JT_NONE;
}

size_t jt_at(const struct jtape *t, size_t arr, size_t i)
{
    if (arr >= t->n || t->tok[arr].type != JT_ARRAY || i >= t->tok[arr].count)
        return JT_NONE;
    size_t k = arr + 1;
    while (i-- > 0)
        k = t->tok[k].next;
    return k;
}

size_t jt_next_member(const struct jtape *t, size_t obj, size_t *it, size_t *val)
{
    size_t key;
    if (*it == JT_NONE)
        key = obj + 1;
    else
        key = t->tok[*it + 1].next;
    if (key >= t->tok[obj].next)
        return JT_NONE;
    *it = key;
    *val = key + 1;
    return key;
}

/* Decodes the escapes of a validated string into out. */
static void decode_into(const char *p, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
#ifdef __SSE2__
        /* long results are mostly text between escapes: 16 bytes a step */
        while (n - i >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
            if (m != 0) { /* out may end with the decoded text: no wider store */
                size_t k = (size_t)__builtin_ctz(m);
                memcpy(out + o, p + i, k);
                i += k;
                o += k;
                break;
            }
            _mm_storeu_si128((__m128i *)(void *)(out + o), v);
            i += 16;
            o += 16;
        }
        if (i >= n)
            break;
#endif
        char c = p[i];
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        char e = p[i + 1];
        i += 2;
        switch (e) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            uint32_t cp = 0, lo = 0;
            hex4(p + i, &cp);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                hex4(p + i + 2, &lo);
                i += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            o += utf8_encode(cp, out + o);
            break;
        }
        default: out[o++] = e; break; /* " \ / */
        }
    }
    *outlen = o;
}

const char *jt_str(const struct jtape *t, size_t i, size_t *len, struct buf *scratch)
{
    if (i >= t->n || t->tok[i].type != JT_STRING)
        return NULL;
    const struct jt_tok *k = &t->tok[i];
    if ((k->flags & JT_F_ESC) == 0) {
        *len = k->len;
        return t->src + k->start;
    }
    buf_reset(scratch);
    if (scratch->max < (size_t)k->count + 1)
        scratch->max = (size_t)k->count + 1;
    if (buf_reserve(scratch, (size_t)k->count + 1) < 0)
        return NULL;
    decode_into(t->src + k->start, k->len, scratch->data + scratch->len, len);
    scratch->len += *len;
    return buf_head(scratch);
}

bool jt_str_eq(const struct jtape *t, size_t i, const char *s, size_t n)
{
    if (i >= t->n || t->tok[i].type != JT_STRING || t->tok[i].count != n)
        return false;
    const struct jt_tok *k = &t->tok[i];
    if ((k->flags & JT_F_ESC) == 0)
        return memcmp(t->src + k->start, s, n) == 0;
    char small[256];
    char *d = n < sizeof(small) ? small : malloc(n + 1);
    if (d == NULL)
        return false;
    size_t dl;
    decode_into(t->src + k->start, k->len, d, &dl);
    bool eq = dl == n && memcmp(d, s, n) == 0;
    if (d != small)
        free(d);
    return eq;
}

bool jt_int(const struct jtape *t, size_t i, long long *out)
{
    if (i >= t->n || t->tok[i].type != JT_NUMBER || (t->tok[i].flags & JT_F_INT) == 0)
        return false;
    const char *p = t->src + t->tok[i].start;
    size_t n = t->tok[i].len;
    bool neg = *p == '-';
    unsigned long long v = 0;
    for (size_t j = neg; j < n; j++)
        v = v * 10 + (unsigned long long)(p[j] - '0');
    if (neg)
        *out = v == 0 ? 0 : -(long long)(v - 1) - 1;
    else
        *out = (long long)v;
    return true;
}

/* ---- building trees --------------------------------------------------------------- */

struct build {
    const struct jtape *t;
    json_pos_fn fn;
    void *ud;
    struct buf scratch;
};

static json_t *build_value(struct build *b, size_t i, json_t *parent, const char *key,
                           size_t keylen, size_t index, size_t key_off)
{
    const struct jt_tok *k = &b->t->tok[i];
    json_t *v = NULL;
    switch ((enum jt_type)k->type) {
    case JT_OBJECT: {
        v = json_object();
        if (v == NULL)
            return NULL;
        size_t it = JT_NONE, val;
        size_t kk;
        while ((kk = jt_next_member(b->t, i, &it, &val)) != JT_NONE) {
            size_t kl;
            const char *ks = jt_str(b->t, kk, &kl, &b->scratch);
            char small[128];
            char *kc = kl < sizeof(small) ? small : malloc(kl + 1);
            if (ks == NULL || kc == NULL) {
                json_decref(v);
                return NULL;
            }
            memcpy(kc, ks, kl);
            kc[kl] = '\0';
            json_t *child = build_value(b, val, v, kc, kl, 0, b->t->tok[kk].start - 1);
            int rc = child != NULL ? json_object_setn_new_nocheck(v, kc, kl, child) : -1;
            if (kc != small)
                free(kc);
            if (rc < 0) {
                json_decref(v);
                return NULL;
            }
        }
        break;
    }
    case JT_ARRAY: {
        v = json_array();
        if (v == NULL)
            return NULL;
        size_t c = i + 1;
        for (uint32_t e = 0; e < k->count; e++) {
            const struct jt_tok *ck = &b->t->tok[c];
            json_t *child = build_value(b, c, v, NULL, 0, e,
                                        ck->type == JT_STRING ? ck->start - 1 : ck->start);
            if (child == NULL || json_array_append_new(v, child) < 0) {
                json_decref(v);
                return NULL;
            }
            c = b->t->tok[c].next;
        }
        break;
    }
    case JT_STRING: {
        size_t n;
        const char *s = jt_str(b->t, i, &n, &b->scratch);
        v = s != NULL ? json_stringn_nocheck(s, n) : NULL;
        break;
    }
    case JT_NUMBER: {
        long long iv;
        if (jt_int(b->t, i, &iv)) {
            v = json_integer(iv);
        } else {
            char tmp[320];
            memcpy(tmp, b->t->src + k->start, k->len);
            tmp[k->len] = '\0';
            char *endp;
            v = json_real(strtod(tmp, &endp));
        }
        break;
    }
    case JT_TRUE: v = json_true(); break;
    case JT_FALSE: v = json_false(); break;
    case JT_NULL: v = json_null(); break;
    }
    if (v != NULL && b->fn != NULL) {
        size_t voff = k->type == JT_STRING ? k->start - 1 : k->start;
        b->fn(b->ud, parent, key, keylen, index, v, parent == NULL ? voff : key_off, voff);
    }
    return v;
}

json_t *jt_json_pos(const struct jtape *t, size_t i, json_pos_fn fn, void *ud)
{
    if (i >= t->n)
        return NULL;
    struct build b = {.t = t, .fn = fn, .ud = ud};
    buf_init(&b.scratch, 0);
    json_t *v = build_value(&b, i, NULL, NULL, 0, 0, 0);
    buf_free(&b.scratch);
    return v;
}

json_t *jt_json(const struct jtape *t, size_t i)
{
    return jt_json_pos(t, i, NULL, NULL);
}
