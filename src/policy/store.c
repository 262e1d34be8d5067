/* store.c - parts of the store interface shared by both implementations:
 * the Redis URL and its settings. */
#include "policy/store.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <config.h> /* meson's build config (HAVE_HIREDIS), not policy/config.h */
#include "util/str.h"

static int url_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int url_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int pct_decode(const char *s, size_t n, char **out)
{
    char *d = malloc(n + 1);
    size_t j = 0;
    if (d == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2])) {
                free(d);
                return -1;
            }
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            char *end;
            unsigned long v = strtoul(hex, &end, 16);
            if (end != hex + 2 || v == 0) {
                free(d);
                return -1;
            }
            d[j++] = (char)v;
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

static int parse_db(const char *s, size_t n, uint32_t *db)
{
    char buf[16];
    uint64_t v;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (parse_u64(buf, 100000, &v) < 0)
        return -1;
    *db = (uint32_t)v;
    return 0;
}

int store_redis_parse_url(const char *url, struct store_redis_cfg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (str_has_prefix(url, "unix:")) {
        const char *p = url + 5;
        if (str_has_prefix(p, "//"))
            p += 2;
        const char *q = strchr(p, '?');
        size_t plen = q != NULL ? (size_t)(q - p) : strlen(p);
        if (plen == 0 || p[0] != '/')
            return url_fail(err, errlen, "a unix socket URL needs an absolute path (unix:/run/redis.sock)");
        if (plen >= 108)
            return url_fail(err, errlen, "the unix socket path is longer than 107 bytes");
        if (q != NULL) {
            if (!str_has_prefix(q, "?db=") || parse_db(q + 4, strlen(q + 4), &out->db) < 0)
                return url_fail(err, errlen,
                                "the only query a unix socket URL takes is ?db=N (0 to 100000)");
        }
        out->unix_path = str_memdup(p, plen);
        return out->unix_path != NULL ? 0 : url_fail(err, errlen, "out of memory");
    }
    if (!str_has_prefix(url, "redis://"))
        return url_fail(err, errlen,
                        "the Redis URL must start with redis:// or unix: (rediss:// TLS is not "
                        "supported)");
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    const char *slash;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL)
            return url_fail(err, errlen, "credentials in the Redis URL must be [user]:password@");
        if (colon > p && pct_decode(p, (size_t)(colon - p), &out->user) < 0)
            goto badcred;
        if (pct_decode(colon + 1, (size_t)(at - colon - 1), &out->password) < 0)
            goto badcred;
        if (out->password[0] == '\0')
            goto badcred;
        p = at + 1;
    }
    slash = strchr(p, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - p) : strlen(p);
    const char *hend = p + hlen;
    const char *portp = NULL;
    const char *h = p;
    size_t hl;
    if (*h == '[') {
        const char *rb = memchr(h, ']', hlen);
        if (rb == NULL)
            goto badhost;
        h++;
        hl = (size_t)(rb - h);
        if (rb + 1 < hend) {
            if (rb[1] != ':')
                goto badhost;
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(h, ':', hlen);
        hl = colon != NULL ? (size_t)(colon - h) : hlen;
        if (colon != NULL)
            portp = colon + 1;
    }
    if (hl == 0 || hl >= 64)
        goto badhost;
    out->host = str_memdup(h, hl);
    if (out->host == NULL)
        goto oom;
    unsigned char a[16];
    if (strcmp(out->host, "localhost") == 0) {
        free(out->host);
        out->host = strdup("127.0.0.1");
        if (out->host == NULL)
            goto oom;
    } else if (inet_pton(AF_INET, out->host, a) != 1 && inet_pton(AF_INET6, out->host, a) != 1) {
        store_redis_cfg_clear(out);
        return url_fail(err, errlen,
                        "the Redis host must be an IP address or localhost (resolving a name "
                        "would block the event loop)");
    }
    if (portp != NULL) {
        char buf[8];
        uint64_t v;
        size_t pl = (size_t)(hend - portp);
        if (pl == 0 || pl >= sizeof(buf))
            goto badport;
        memcpy(buf, portp, pl);
        buf[pl] = '\0';
        if (parse_u64(buf, 65535, &v) < 0 || v == 0)
            goto badport;
        out->port = (uint16_t)v;
    }
    if (slash != NULL && slash[1] != '\0' && parse_db(slash + 1, strlen(slash + 1), &out->db) < 0) {
        store_redis_cfg_clear(out);
        return url_fail(err, errlen, "the Redis database must be a number (redis://host:port/0)");
    }
    return 0;
badcred:
    store_redis_cfg_clear(out);
    return url_fail(err, errlen, "bad credentials in the Redis URL (empty password or bad %%-escape)");
badhost:
    store_redis_cfg_clear(out);
    return url_fail(err, errlen, "bad host in the Redis URL");
badport:
    store_redis_cfg_clear(out);
    return url_fail(err, errlen, "the Redis port must be a number from 1 to 65535");
oom:
    store_redis_cfg_clear(out);
    return url_fail(err, errlen, "out of memory");
}

void store_redis_cfg_clear(struct store_redis_cfg *c)
{
    if (c == NULL)
        return;
    free(c->host);
    free(c->unix_path);
    free(c->user);
    if (c->password != NULL) {
        OPENSSL_cleanse(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->prefix);
    memset(c, 0, sizeof(*c));
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst != NULL ? 0 : -1;
}

int store_redis_cfg_copy(struct store_redis_cfg *dst, const struct store_redis_cfg *src)
{
    *dst = *src;
    dst->host = dst->unix_path = dst->user = dst->password = dst->prefix = NULL;
    if (dup_opt(&dst->host, src->host) < 0 || dup_opt(&dst->unix_path, src->unix_path) < 0 ||
        dup_opt(&dst->user, src->user) < 0 || dup_opt(&dst->password, src->password) < 0 ||
        dup_opt(&dst->prefix, src->prefix) < 0) {
        store_redis_cfg_clear(dst);
        return -1;
    }
    return 0;
}

static bool str_eq_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool store_redis_cfg_equal(const struct store_redis_cfg *a, const struct store_redis_cfg *b)
{
    return str_eq_opt(a->host, b->host) && a->port == b->port &&
           str_eq_opt(a->unix_path, b->unix_path) && a->db == b->db &&
           str_eq_opt(a->user, b->user) && str_eq_opt(a->password, b->password) &&
           str_eq_opt(a->prefix, b->prefix) && a->timeout_us == b->timeout_us &&
           a->max_inflight == b->max_inflight;
}

bool store_redis_available(void)
{
#ifdef HAVE_HIREDIS
    return true;
#else
    return false;
#endif
}
