#include "audit/audit.h"

#include <stdarg.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/json.h"
#include "proto/jtape.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define HASH_SUFFIX_LEN 75 /* ,"hash":"<64 hex>"} */
#define HEAD_SIZE 128
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_MAX_PENDING (16u * 1024u * 1024u)
#define AUDIT_MAX_LINE (1024u * 1024u)

/* ---- previews and hashing --------------------------------------------------- */

static bool key_is_secret_slow(const char *key);

/* Keys repeat (path, text, message ...): remember recent answers. */
bool audit_key_is_secret(const char *key)
{
    static _Thread_local struct {
        char key[32];
        bool secret;
        bool used;
    } cache[64];
    size_t n = 0;
    uint32_t h = 2166136261u;
    for (; n < 31 && key[n] != '\0'; n++)
        h = (h ^ (unsigned char)key[n]) * 16777619u;
    if (key[n] != '\0')
        return key_is_secret_slow(key);
    size_t slot = h & 63;
    if (cache[slot].used && memcmp(cache[slot].key, key, n + 1) == 0)
        return cache[slot].secret;
    bool s = key_is_secret_slow(key);
    memcpy(cache[slot].key, key, n + 1);
    cache[slot].secret = s;
    cache[slot].used = true;
    return s;
}

static bool key_is_secret_slow(const char *key)
{
    static const char *const words[] = {
        "password", "passwd", "passphrase", "secret",     "token",       "api_key",
        "apikey",   "api-key", "authorization", "credential", "private_key", "privatekey",
        "cookie",   "bearer", "access_key", "accesskey",  "session_key", "client_secret",
        NULL,
    };
    char low[64];
    size_t n = 0;
    for (; key[n] != '\0'; n++) {
        if (n == sizeof(low) - 1)
            break;
        unsigned char c = (unsigned char)key[n];
        low[n] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    low[n] = '\0';
    if (key[n] != '\0') /* longer keys: the slow case-insensitive search */
        for (const char *const *w = words; *w != NULL; w++)
            if (str_casestr_n(key, strlen(key), *w) != NULL)
                return true;
    for (const char *const *w = words; *w != NULL; w++)
        if (strstr(low, *w) != NULL)
            return true;
    return strcmp(low, "auth") == 0 || strcmp(low, "pwd") == 0 || strcmp(low, "key") == 0;
}

void audit_preview(const json_t *v, size_t max, struct buf *out)
{
    json_emit_preview(out, v, max, audit_key_is_secret);
}

/* A bounded, structured preview written straight into the record: strings cut
 * to PREVIEW_STR bytes, at most PREVIEW_ITEMS members/elements per container,
 * depth PREVIEW_DEPTH; values of secret-looking keys replaced. Always valid JSON. */
#define PREVIEW_STR 80
#define PREVIEW_ITEMS 16
#define PREVIEW_DEPTH 4

static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

static void emit_preview_value(struct buf *b, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= PREVIEW_DEPTH) {
            buf_append_str(b, "\"{...}\"");
            return;
        }
        buf_append_char(b, '{');
        size_t i = 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (i > 0)
                buf_append_char(b, ',');
            if (i == PREVIEW_ITEMS) {
                buf_append_str(b, "\"...\":");
                buf_append_u64(b, json_object_size(v) - i);
                break;
            }
            size_t kl = strlen(k);
            json_emit_string(b, k, utf8_cut(k, kl, PREVIEW_STR));
            buf_append_char(b, ':');
            if (audit_key_is_secret(k))
                buf_append_str(b, "\"[REDACTED]\"");
            else
                emit_preview_value(b, x, depth + 1);
            i++;
        }
        buf_append_char(b, '}');
        return;
    }
    case JSON_ARRAY: {
        if (depth >= PREVIEW_DEPTH) {
            buf_append_str(b, "\"[...]\"");
            return;
        }
        size_t n = json_array_size(v);
        buf_append_char(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                buf_append_char(b, ',');
            if (i == PREVIEW_ITEMS) {
                buf_append_str(b, "\"... ");
                buf_append_u64(b, n - i);
                buf_append_str(b, " more\"");
                break;
            }
            emit_preview_value(b, json_array_get(v, i), depth + 1);
        }
        buf_append_char(b, ']');
        return;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        size_t cut = utf8_cut(s, n, PREVIEW_STR);
        if (cut == n) {
            json_emit_string(b, s, n);
        } else {
            json_emit_string(b, s, cut);
            b->len--; /* reopen the string to add the marker */
            buf_append_str(b, "...\"");
        }
        return;
    }
    default:
        json_emit(b, v);
        return;
    }
}

/* The first text a result carries (tool content, resource contents, prompt or
 * sampling messages), cut to AUDIT_PREVIEW_MAX bytes. */
static const json_t *first_text(const json_t *r, int depth)
{
    if (depth > 4 || r == NULL)
        return NULL;
    if (json_is_object(r)) {
        json_t *t = json_object_get(r, "text");
        if (json_is_string(t))
            return t;
        static const char *const keys[] = {"content", "contents", "messages", "structuredContent",
                                           NULL};
        for (const char *const *k = keys; *k != NULL; k++) {
            const json_t *x = first_text(json_object_get(r, *k), depth + 1);
            if (x != NULL)
                return x;
        }
        return NULL;
    }
    if (json_is_array(r)) {
        for (size_t i = 0; i < json_array_size(r) && i < 8; i++) {
            const json_t *x = first_text(json_array_get(r, i), depth + 1);
            if (x != NULL)
                return x;
        }
    }
    return NULL;
}

/* Largest prefix of raw (escaped) JSON string content of at most max bytes
 * that ends on a character boundary: not inside an escape or a UTF-8 sequence. */
static size_t raw_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    /* no escape and no multi-byte character up to the cut: any cut is fine */
    size_t plain = 0;
    while (plain < max && (unsigned char)s[plain] != '\\' && (unsigned char)s[plain] < 0x80)
        plain++;
    if (plain == max)
        return max;
    size_t i = plain, last = plain; /* the bytes before are one step each */
    while (i < n) {
        size_t step = 1;
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            step = (i + 1 < n && s[i + 1] == 'u') ? 6 : 2;
        else if (c >= 0xf0)
            step = 4;
        else if (c >= 0xe0)
            step = 3;
        else if (c >= 0xc0)
            step = 2;
        if (i + step > max)
            break;
        i += step;
        last = i;
    }
    return last;
}

static void raw_string(struct buf *b, const char *s, size_t n, size_t max)
{
    size_t cut = raw_cut(s, n, max);
    buf_append_char(b, '"');
    buf_append(b, s, cut);
    if (cut < n)
        buf_append_str(b, "...");
    buf_append_char(b, '"');
}

static void preview_tape(struct buf *b, const struct jtape *t, size_t i, int depth)
{
    const struct jt_tok *k = &t->tok[i];
    switch ((enum jt_type)k->type) {
    case JT_OBJECT: {
        if (depth >= PREVIEW_DEPTH) {
            buf_append_str(b, "\"{...}\"");
            return;
        }
        buf_append_char(b, '{');
        size_t it = JT_NONE, val, key, m = 0;
        while ((key = jt_next_member(t, i, &it, &val)) != JT_NONE) {
            if (m > 0)
                buf_append_char(b, ',');
            if (m == PREVIEW_ITEMS) {
                buf_append_str(b, "\"...\":");
                buf_append_u64(b, k->count - m);
                break;
            }
            const struct jt_tok *kt = &t->tok[key];
            raw_string(b, t->src + kt->start, kt->len, PREVIEW_STR);
            buf_append_char(b, ':');
            char name[64];
            size_t nl;
            struct buf sc;
            buf_init(&sc, 0);
            const char *ks = jt_str(t, key, &nl, &sc);
            bool secret = false;
            if (ks != NULL && nl < sizeof(name)) {
                memcpy(name, ks, nl);
                name[nl] = '\0';
                secret = audit_key_is_secret(name);
            } else if (ks != NULL) {
                secret = true; /* a key this long is not worth the risk */
            }
            buf_free(&sc);
            if (secret)
                buf_append_str(b, "\"[REDACTED]\"");
            else
                preview_tape(b, t, val, depth + 1);
            m++;
        }
        buf_append_char(b, '}');
        return;
    }
    case JT_ARRAY: {
        if (depth >= PREVIEW_DEPTH) {
            buf_append_str(b, "\"[...]\"");
            return;
        }
        buf_append_char(b, '[');
        size_t c = i + 1;
        for (uint32_t e = 0; e < k->count; e++) {
            if (e > 0)
                buf_append_char(b, ',');
            if (e == PREVIEW_ITEMS) {
                buf_append_str(b, "\"... ");
                buf_append_u64(b, k->count - e);
                buf_append_str(b, " more\"");
                break;
            }
            preview_tape(b, t, c, depth + 1);
            c = t->tok[c].next;
        }
        buf_append_char(b, ']');
        return;
    }
    case JT_STRING:
        raw_string(b, t->src + k->start, k->len, PREVIEW_STR);
        return;
    default:
        buf_append(b, t->src + k->start, k->len);
        return;
    }
}

void audit_preview_tape(struct buf *out, const struct jtape *t, size_t tok)
{
    if (tok < t->n)
        preview_tape(out, t, tok, 0);
}

static size_t first_text_tape(const struct jtape *t, size_t i, int depth)
{
    if (depth > 4 || i >= t->n)
        return JT_NONE;
    if (t->tok[i].type == JT_OBJECT) {
        size_t x = jt_get(t, i, "text");
        if (jt_type(t, x) == JT_STRING)
            return x;
        static const char *const keys[] = {"content", "contents", "messages", "structuredContent",
                                           NULL};
        for (const char *const *k = keys; *k != NULL; k++) {
            x = first_text_tape(t, jt_get(t, i, *k), depth + 1);
            if (x != JT_NONE)
                return x;
        }
        return JT_NONE;
    }
    if (t->tok[i].type == JT_ARRAY) {
        size_t c = i + 1;
        for (uint32_t e = 0; e < t->tok[i].count && e < 8; e++) {
            size_t x = first_text_tape(t, c, depth + 1);
            if (x != JT_NONE)
                return x;
            c = t->tok[c].next;
        }
    }
    return JT_NONE;
}

size_t audit_first_text_tape(const struct jtape *t, size_t tok)
{
    return first_text_tape(t, tok, 0);
}

static void sha_sink(void *ud, const char *p, size_t n)
{
    sha256_update(ud, p, n);
}

int audit_json_sha256(const json_t *v, char out[65])
{
    struct sha256_ctx c = {0};
    uint8_t d[SHA256_LEN];
    if (sha256_init(&c) < 0)
        return -1;
    json_emit_canonical(v, sha_sink, &c);
    if (sha256_final(&c, d) < 0)
        return -1;
    hex_encode(d, sizeof(d), out);
    return 0;
}

/* ---- writer ---------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Extracts seq and hash from a record line; 0 when it looks intact. */
static int parse_record_tail(const char *line, size_t len, uint64_t *seq, char hash[65])
{
    if (len < HASH_SUFFIX_LEN + 2 || memcmp(line + len - HASH_SUFFIX_LEN, ",\"hash\":\"", 9) != 0 ||
        memcmp(line + len - 2, "\"}", 2) != 0)
        return -1;
    memcpy(hash, line + len - HASH_SUFFIX_LEN + 9, 64);
    hash[64] = '\0';
    const char *p = memmem(line, len, "\"seq\":", 6);
    if (p == NULL)
        return -1;
    p += 6;
    uint64_t v = 0;
    size_t digits = 0;
    while (p < line + len && *p >= '0' && *p <= '9' && digits < 19) {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0)
        return -1;
    *seq = v;
    return 0;
}

/* Finds the chain position to continue from: the last complete line's seq/hash. */
static int load_tail(struct audit_log *a, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(a->fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat audit log: %s", strerror(errno));
        return -1;
    }
    a->seq = 0;
    memcpy(a->prev, ZERO_HASH, 65);
    if (st.st_size == 0)
        return 0;
    size_t want = st.st_size > 65536 ? 65536 : (size_t)st.st_size;
    char *tail = malloc(want + 1);
    if (tail == NULL)
        return -1;
    ssize_t r = pread(a->fd, tail, want, st.st_size - (off_t)want);
    if (r != (ssize_t)want) {
        free(tail);
        snprintf(err, errlen, "cannot read audit log tail");
        return -1;
    }
    if (tail[want - 1] != '\n') {
        /* A record cut by a crash (SIGKILL between pages of a write, or power
         * loss). It was never committed: the head file is written only after a
         * batch is complete. Remove the fragment so appends start on a clean
         * line; audit_open() records that it did. */
        size_t keep = want;
        while (keep > 0 && tail[keep - 1] != '\n')
            keep--;
        if (keep == 0 && (size_t)st.st_size > want) {
            free(tail);
            snprintf(err, errlen, "audit log %s ends with an incomplete line longer than 64 KiB",
                     a->path);
            return -1;
        }
        off_t newsize = st.st_size - (off_t)(want - keep);
        if (ftruncate(a->fd, newsize) < 0) {
            free(tail);
            snprintf(err, errlen, "cannot repair the audit log's incomplete last line: %s",
                     strerror(errno));
            return -1;
        }
        a->recovered_bytes = want - keep;
        log_warnx("audit log %s ended with an incomplete record (%zu bytes) left by an "
                  "interrupted write; removed it",
                  a->path, a->recovered_bytes);
        want = keep;
    }
    /* Walk back over lines for the last one that looks like a record. */
    size_t end = want;
    while (end > 0) {
        if (tail[end - 1] == '\n')
            end--;
        size_t start = end;
        while (start > 0 && tail[start - 1] != '\n')
            start--;
        if (end > start && parse_record_tail(tail + start, end - start, &a->seq, a->prev) == 0)
            break;
        if (start == 0)
            break;
        end = start;
    }
    free(tail);
    return 0;
}

static void write_head(struct audit_log *a)
{
    if (a->head_fd < 0)
        return;
    char h[HEAD_SIZE];
    int n = snprintf(h, sizeof(h), "{\"seq\":%llu,\"hash\":\"%s\"}", (unsigned long long)a->seq,
                     a->prev);
    if (n < 0)
        return;
    memset(h + n, ' ', sizeof(h) - (size_t)n - 1);
    h[sizeof(h) - 1] = '\n';
    if (pwrite(a->head_fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) && !a->failed) {
        log_warn("cannot update audit head file of %s", a->path);
    }
}

static int open_locked(const char *path, int *fd_out, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open audit log %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            snprintf(err, errlen,
                     "audit log %s is in use by another mcpwall process; give each gateway its "
                     "own audit file",
                     path);
            return 1;
        }
        snprintf(err, errlen, "cannot lock audit log %s: %s", path, strerror(e));
        return -1;
    }
    *fd_out = fd;
    return 0;
}

struct audit_log *audit_open(const struct audit_opts *o, char *err, size_t errlen)
{
    struct audit_log *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->fd = a->head_fd = -1;
    a->fsync = o->fsync;
    a->flush_interval_us = o->flush_interval_us;
    buf_init(&a->pending, AUDIT_MAX_PENDING);
    char path[4096];
    str_copy(path, o->path, sizeof(path));
    int rc = open_locked(path, &a->fd, err, errlen);
    for (int i = 2; rc == 1 && o->pick_free_name && i < 100; i++) {
        const char *dot = strrchr(o->path, '.');
        size_t stem = dot != NULL && strchr(dot, '/') == NULL ? (size_t)(dot - o->path)
                                                               : strlen(o->path);
        snprintf(path, sizeof(path), "%.*s-%d%s", (int)stem, o->path, i,
                 dot != NULL && strchr(dot, '/') == NULL ? dot : "");
        rc = open_locked(path, &a->fd, err, errlen);
    }
    if (rc != 0)
        goto fail;
    a->path = strdup(path);
    char head[4200];
    snprintf(head, sizeof(head), "%s.head", path);
    a->head_fd = open(head, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (a->head_fd < 0)
        log_warn("cannot open audit head file %s (truncation will not be detectable)", head);
    if (load_tail(a, err, errlen) < 0)
        goto fail;
    if (a->recovered_bytes > 0) {
        json_t *x = json_pack("{s:I}", "discarded_bytes", (json_int_t)a->recovered_bytes);
        struct audit_rec r = {.event = "recovered", .extra = x};
        audit_append(a, &r);
        audit_flush(a);
        json_decref(x);
    }
    return a;
fail:
    audit_close(a);
    return NULL;
}

static void add_str(struct buf *b, const char *key, const char *val, size_t len)
{
    if (val == NULL)
        return;
    buf_append_char(b, ',');
    json_emit_string(b, key, strlen(key));
    buf_append_char(b, ':');
    json_emit_string(b, val, len ? len : strlen(val));
}

/* A member whose key is a string literal of plain characters: its ,"key":
 * prefix is a constant, copied without measuring or escaping it again (every
 * record has a dozen of them). */
#define MEMBER_PREFIX(key) ",\"" key "\":", sizeof(",\"" key "\":") - 1
#define ADD_STR(b, key, val, len) add_str_lit((b), MEMBER_PREFIX(key), (val), (len))
#define ADD_NUM(b, key, v) add_num_lit((b), MEMBER_PREFIX(key), (v))

static void add_str_lit(struct buf *b, const char *prefix, size_t plen, const char *val, size_t len)
{
    if (val == NULL)
        return;
    buf_append(b, prefix, plen);
    json_emit_string(b, val, len ? len : strlen(val));
}

static void add_num_lit(struct buf *b, const char *prefix, size_t plen, long long v)
{
    buf_append(b, prefix, plen);
    if (v < 0) {
        buf_append_char(b, '-');
        buf_append_u64(b, (unsigned long long)(-(v + 1)) + 1u);
    } else {
        buf_append_u64(b, (unsigned long long)v);
    }
}

int audit_append(struct audit_log *a, const struct audit_rec *r)
{
    if (a == NULL)
        return 0;
    struct buf *b = &a->pending;
    size_t mark = buf_used(b);
    if (mark == 0)
        a->oldest_pending_us = mono_us();
    char ts[32];
    rfc3339_us(wall_us(), ts);

    buf_append_str(b, "{\"v\":1,\"seq\":");
    buf_append_u64(b, a->seq + 1);
    buf_append_str(b, ",\"ts\":\"");
    buf_append_str(b, ts);
    if (buf_append_char(b, '"') < 0)
        goto full;
    ADD_STR(b, "event", r->event != NULL ? r->event : "decision", 0);
    ADD_STR(b, "session", r->session, 0);
    ADD_STR(b, "identity", r->identity, 0);
    ADD_STR(b, "server", r->server, 0);
    ADD_STR(b, "dir", r->dir, 0);
    ADD_STR(b, "kind", r->kind, 0);
    ADD_STR(b, "method", r->method, r->method_len);
    if (r->target_kind != NULL && r->target != NULL)
        add_str(b, r->target_kind, r->target, r->target_len);
    ADD_STR(b, "decision", r->decision, 0);
    ADD_STR(b, "rule", r->rule, 0);
    ADD_STR(b, "reason", r->reason, 0);
    ADD_STR(b, "outcome", r->outcome, 0);
    if (r->error_code != 0)
        ADD_NUM(b, "error_code", r->error_code);
    if (r->have_latency) {
        ADD_NUM(b, "latency_us", (long long)r->latency_us);
        ADD_NUM(b, "gw_us", (long long)r->gw_us);
    }
    if (r->args_sha256 != NULL && r->args_sha256[0] != '\0') {
        ADD_STR(b, "args_sha256", r->args_sha256, 64);
        if (r->args_preview != NULL) {
            buf_append_str(b, ",\"args\":");
            buf_append_str(b, r->args_preview);
        }
    } else if (r->args != NULL) {
        char h[65];
        if (audit_json_sha256(r->args, h) == 0)
            ADD_STR(b, "args_sha256", h, 64);
        buf_append_str(b, ",\"args\":");
        emit_preview_value(b, r->args, 0);
    }
    if (r->result_raw != NULL) {
        buf_append_str(b, ",\"result_preview\":");
        raw_string(b, r->result_raw, r->result_raw_len, AUDIT_PREVIEW_MAX);
    } else if (r->result != NULL) {
        const json_t *t = first_text(r->result, 0);
        if (t != NULL) {
            const char *s = json_string_value(t);
            size_t n = json_string_length(t);
            size_t cut = utf8_cut(s, n, AUDIT_PREVIEW_MAX);
            buf_append_str(b, ",\"result_preview\":");
            json_emit_string(b, s, cut);
            if (cut < n) {
                b->len--;
                buf_append_str(b, "...\"");
            }
        }
    }
    if (json_is_object(r->extra)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)r->extra, k, v) {
            buf_append_char(b, ',');
            json_emit_string(b, k, strlen(k));
            buf_append_char(b, ':');
            if (json_emit(b, v) < 0)
                goto full;
        }
    }
    buf_append_str(b, ",\"prev\":\"");
    buf_append(b, a->prev, 64);
    if (buf_append_char(b, '"') < 0)
        goto full;
    size_t len = buf_used(b) - mark;
    if (len > AUDIT_MAX_LINE)
        goto full;
    char hash[65];
    if (sha256_hex(buf_head(b) + mark, len, hash) < 0)
        goto full;
    buf_append_str(b, ",\"hash\":\"");
    buf_append(b, hash, 64);
    if (buf_append_str(b, "\"}\n") < 0)
        goto full;
    a->seq++;
    memcpy(a->prev, hash, 65);
    return 0;
full:
    /* Roll back the partial record; the batch stays well formed. */
    b->len = b->off + mark;
    if (!a->failed)
        log_warnx("audit record could not be built (batch full or too large)");
    return -1;
}

int audit_flush(struct audit_log *a)
{
    if (a == NULL || buf_used(&a->pending) == 0)
        return 0;
    int rc = write_all(a->fd, buf_head(&a->pending), buf_used(&a->pending));
    if (rc < 0) {
        if (!a->failed)
            log_warn("cannot write audit log %s", a->path);
        a->failed = true;
        return -1;
    }
    if (a->fsync)
        fdatasync(a->fd);
    buf_reset(&a->pending);
    write_head(a);
    return 0;
}

#define AUDIT_FLUSH_BYTES (64u * 1024u)

int audit_flush_due(struct audit_log *a, uint64_t *wait_us)
{
    *wait_us = 0;
    if (a == NULL || buf_used(&a->pending) == 0)
        return 0; /* called after every event: no clock read when idle */
    uint64_t age = mono_us() - a->oldest_pending_us;
    if (a->fsync || a->flush_interval_us == 0 || buf_used(&a->pending) >= AUDIT_FLUSH_BYTES ||
        age >= a->flush_interval_us)
        return audit_flush(a);
    *wait_us = a->flush_interval_us - age;
    return 0;
}

void audit_close(struct audit_log *a)
{
    if (a == NULL)
        return;
    if (a->fd >= 0) {
        audit_flush(a);
        close(a->fd);
    }
    if (a->head_fd >= 0)
        close(a->head_fd);
    buf_free(&a->pending);
    free(a->path);
    free(a);
}

/* ---- verify ------------------------------------------------------------------ */

static int verify_fail(struct audit_verify *v, uint64_t line, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int verify_fail(struct audit_verify *v, uint64_t line, uint64_t seq, const char *fmt, ...)
{
    va_list ap;
    v->ok = false;
    v->bad_line = line;
    v->bad_seq = seq;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
    va_end(ap);
    return 1;
}

int audit_verify_file(const char *path, struct audit_verify *v)
{
    memset(v, 0, sizeof(*v));
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(v->msg, sizeof(v->msg), "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, last_seq = 0;
    char prev[65];
    memcpy(prev, ZERO_HASH, 65);
    int rc = 0;
    struct json_limits lim = json_default_limits;
    lim.max_bytes = AUDIT_MAX_LINE + 200;

    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        size_t len = (size_t)n;
        if (line[len - 1] != '\n') {
            /* Only the final line can lack its newline. Whether it is an
             * uncommitted fragment of a crash or a cut record is decided with
             * the head file below. */
            v->torn_tail = true;
            v->torn_line = lineno;
            break;
        }
        len--;
        struct json_err je;
        json_t *rec = json_parse_strict(line, len, &lim, &je);
        if (rec == NULL) {
            rc = verify_fail(v, lineno, last_seq + 1, "line %llu is not a valid record (%s)",
                             (unsigned long long)lineno, json_reason_code(je.reason));
            break;
        }
        long long seq = -1;
        const char *rprev = json_get_str(rec, "prev", NULL);
        const char *rhash = json_get_str(rec, "hash", NULL);
        json_get_int(rec, "seq", &seq);
        if (rprev == NULL || rhash == NULL || seq < 1 ||
            len < HASH_SUFFIX_LEN || memcmp(line + len - HASH_SUFFIX_LEN, ",\"hash\":\"", 9) != 0) {
            json_decref(rec);
            rc = verify_fail(v, lineno, last_seq + 1,
                             "line %llu is not a chained record (missing seq, prev or hash)",
                             (unsigned long long)lineno);
            break;
        }
        char calc[65];
        sha256_hex(line, len - HASH_SUFFIX_LEN, calc);
        if (strcmp(calc, rhash) != 0) {
            rc = verify_fail(v, lineno, (uint64_t)seq,
                             "record %lld (line %llu) was modified: its hash does not match its "
                             "content",
                             seq, (unsigned long long)lineno);
        } else if ((uint64_t)seq != last_seq + 1 && !(lineno == 1 && strcmp(rprev, ZERO_HASH) != 0)) {
            rc = verify_fail(v, lineno, (uint64_t)seq,
                             "record %lld (line %llu) follows record %llu: records were deleted, "
                             "inserted or reordered",
                             seq, (unsigned long long)lineno, (unsigned long long)last_seq);
        } else if (lineno == 1 && strcmp(rprev, ZERO_HASH) != 0) {
            rc = verify_fail(v, lineno, (uint64_t)seq,
                             "the log does not start at its first record (record %lld chains to "
                             "an earlier one): records were removed from the start",
                             seq);
        } else if (strcmp(rprev, prev) != 0) {
            rc = verify_fail(v, lineno, (uint64_t)seq,
                             "record %lld (line %llu) does not chain to the record before it: a "
                             "record was deleted, inserted, replaced or reordered",
                             seq, (unsigned long long)lineno);
        }
        json_decref(rec);
        if (rc != 0)
            break;
        memcpy(prev, calc, 65);
        last_seq = (uint64_t)seq;
        v->records++;
    }
    free(line);
    fclose(f);
    if (rc != 0)
        return rc;

    char head[4200];
    snprintf(head, sizeof(head), "%s.head", path);
    FILE *hf = fopen(head, "rb");
    if (hf == NULL && v->torn_tail)
        return verify_fail(v, v->torn_line, last_seq + 1,
                           "line %llu is an incomplete record and there is no head file to tell "
                           "an interrupted write from a truncation",
                           (unsigned long long)v->torn_line);
    if (hf != NULL) {
        char hb[HEAD_SIZE + 1];
        size_t hn = fread(hb, 1, HEAD_SIZE, hf);
        fclose(hf);
        hb[hn] = '\0';
        struct json_err je;
        json_t *h = json_parse_strict(hb, hn, NULL, &je);
        long long hseq = -1;
        const char *hhash = json_get_str(h, "hash", NULL);
        json_get_int(h, "seq", &hseq);
        if (h == NULL || hhash == NULL || hseq < 0) {
            json_decref(h);
            return verify_fail(v, lineno + 1, last_seq + 1, "the head file %s is damaged", head);
        }
        v->head_checked = true;
        if ((uint64_t)hseq > last_seq) {
            json_decref(h);
            return verify_fail(v, v->torn_tail ? v->torn_line : lineno + 1, last_seq + 1,
                               "the log was truncated: it ends at record %llu but %lld records "
                               "were written (head file)",
                               (unsigned long long)last_seq, hseq);
        }
        if ((uint64_t)hseq == last_seq && strcmp(hhash, prev) != 0) {
            json_decref(h);
            return verify_fail(v, lineno, last_seq,
                               "the last record (%llu) differs from the one the writer recorded "
                               "in the head file",
                               (unsigned long long)last_seq);
        }
        json_decref(h);
    }
    v->ok = true;
    snprintf(v->msg, sizeof(v->msg), "%llu records, chain intact%s%s",
             (unsigned long long)v->records,
             v->head_checked ? ", head file matches"
                             : " (no head file: truncation at the end cannot be detected)",
             v->torn_tail ? "; the last line is an uncommitted record cut by an interrupted "
                            "write (crash), which the next start removes"
                          : "");
    return 0;
}
