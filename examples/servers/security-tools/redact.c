/* redact.c - see redact.h. Each pattern's capture group 1 is the secret; the
 * rest of the match (a key name, "Bearer ", a URL scheme) is kept. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "redact.h"
#include "jit.h"

#include <pcre2.h>
#include <string.h>

#include "util/log.h"

static const char *const patterns[] = {
    "(AKIA[0-9A-Z]{16})",
    "(?i)aws_secret_access_key[\"']?\\s*[=:]\\s*[\"']?([A-Za-z0-9/+=]{20,})",
    "\\b(gh[pousr]_[A-Za-z0-9]{30,})",
    "\\b(github_pat_[A-Za-z0-9_]{30,})",
    "\\b(xox[abprs]-[A-Za-z0-9-]{10,})",
    "\\b(sk-[A-Za-z0-9_-]{20,})",
    "\\b(eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,})",
    "(?i)\\bbearer\\s+([A-Za-z0-9._~+/=-]{12,})",
    /* one pattern over two lines (parenthesised: the concatenation is meant) */
    ("(?i)\\b(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
     "client[_-]?secret|private[_-]?key)\\b[\"']?\\s*[=:]\\s*[\"']?([^\\s\"'&,;]+)"),
    "(?i)\\b[a-z][a-z0-9+.-]*://[^/\\s:@]+:([^/\\s@]+)@",
    "(-----BEGIN [A-Z ]*PRIVATE KEY-----)",
};
#define NPAT (sizeof(patterns) / sizeof(patterns[0]))

static pcre2_code *codes[NPAT];
static pcre2_match_context *mctx;
static pcre2_match_data *md;

int redact_init(void)
{
    if (md != NULL)
        return 0;
    mctx = pcre2_match_context_create(NULL);
    if (mctx == NULL)
        return -1;
    pcre2_set_match_limit(mctx, 200000);
    pcre2_set_depth_limit(mctx, 1000);
    for (size_t i = 0; i < NPAT; i++) {
        int ec;
        PCRE2_SIZE eo;
        codes[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
        if (codes[i] == NULL) {
            log_warnx("redact: pattern %zu does not compile (error %d at %zu)", i, ec,
                      (size_t)eo);
            return -1;
        }
        if (st_jit_ok())
            pcre2_jit_compile(codes[i], PCRE2_JIT_COMPLETE);
    }
    md = pcre2_match_data_create(4, NULL);
    return md != NULL ? 0 : -1;
}

void redact_fini(void)
{
    for (size_t i = 0; i < NPAT; i++) {
        pcre2_code_free(codes[i]);
        codes[i] = NULL;
    }
    pcre2_match_data_free(md);
    md = NULL;
    pcre2_match_context_free(mctx);
    mctx = NULL;
}

/* Applies one pattern to in[0,n) into out. Returns replacements, -1 when out
 * is full, -2 when the pattern hit a limit. */
static int apply(pcre2_code *code, const char *in, size_t n, struct buf *out)
{
    size_t pos = 0;
    int count = 0;
    while (pos <= n) {
        int rc = pcre2_match(code, (PCRE2_SPTR)in, n, pos, 0, md, mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            return -2;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s1 = ov[2], e1 = ov[3], e0 = ov[1];
        if (rc < 2 || s1 == PCRE2_UNSET) {
            s1 = ov[0];
            e1 = ov[1];
        }
        if (buf_append(out, in + pos, s1 - pos) < 0 || buf_append_str(out, REDACT_MARK) < 0 ||
            buf_append(out, in + e1, e0 - e1) < 0)
            return -1;
        count++;
        if (e0 == pos) { /* empty match: step over one byte */
            if (e0 >= n)
                break;
            if (buf_append(out, in + e0, 1) < 0)
                return -1;
            pos = e0 + 1;
            continue;
        }
        pos = e0;
    }
    if (pos < n && buf_append(out, in + pos, n - pos) < 0)
        return -1;
    return count;
}

int redact_text(const char *s, size_t n, struct buf *out)
{
    if (md == NULL && redact_init() < 0)
        return -1;
    struct buf a, b;
    buf_init(&a, out->max);
    buf_init(&b, out->max);
    if (buf_append(&a, s, n) < 0) {
        buf_free(&a);
        buf_free(&b);
        return -1;
    }
    int total = 0;
    for (size_t i = 0; i < NPAT; i++) {
        buf_reset(&b);
        int rc = apply(codes[i], buf_head(&a), buf_used(&a), &b);
        if (rc == -2) { /* fail closed */
            buf_reset(&a);
            buf_append_str(&a, REDACT_MARK);
            total++;
            break;
        }
        if (rc < 0) {
            total = -1;
            break;
        }
        if (rc > 0) {
            struct buf t = a;
            a = b;
            b = t;
            total += rc;
        }
    }
    if (total >= 0 && buf_append(out, buf_head(&a), buf_used(&a)) < 0)
        total = -1;
    buf_free(&a);
    buf_free(&b);
    return total;
}

json_t *redact_json(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        struct buf b;
        buf_init(&b, json_string_length(v) * 11 + 64);
        json_t *r = NULL;
        if (redact_text(json_string_value(v), json_string_length(v), &b) >= 0)
            r = json_stringn(buf_head(&b), buf_used(&b));
        buf_free(&b);
        return r != NULL ? r : json_string(REDACT_MARK);
    }
    case JSON_OBJECT: {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_object_set_new(o, k, redact_json(x));
        return o;
    }
    case JSON_ARRAY: {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, redact_json(x));
        return a;
    }
    default:
        return json_deep_copy(v);
    }
}
