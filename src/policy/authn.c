#include "policy/authn.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "policy/jwt.h"
#include "policy/secrets.h"
#include "proto/jsonrpc.h"
#include "transport/http_client.h"
#include "transport/http_server.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/map.h"
#include "util/timeutil.h"

/* cfg_err index meaning "the value itself": an element that never exists,
 * so the position falls back to the container's own. */
#define CFG_SELF SIZE_MAX
/* ---- compiled configuration and runtime state ---- */

struct strv {
    char **v;
    size_t n;
};

struct apikey_entry {
    char *name;
    char *display;
    struct apikey_hash h;
    struct strv roles;
    struct strv scopes;
    uint64_t expires_us; /* 0: never */
};

struct authn_waiter {
    struct authn_waiter *next, *prev;
    struct authn *a;
    size_t issuer;
    struct http_request *req;
    char *token;
    size_t toklen;
};

struct authn_issuer {
    struct authn *a;
    size_t index;
    char *issuer;
    struct strv audiences;
    unsigned algs; /* 1 << enum jwt_alg */
    int64_t skew_s;
    char *roles_claim;
    char *name_claim;
    struct strv default_roles;
    char *jwks_file; /* resolved path */
    char *jwks_url;
    char *ca_file;
    uint64_t refresh_us;
    uint64_t min_refresh_us;
    uint64_t fetch_timeout_us;
    /* runtime */
    struct jwks *keys; /* NULL until loaded */
    bool loaded;
    bool attempted;        /* a fetch or read has been started at least once */
    uint64_t last_attempt; /* authn clock (µs) of the last fetch or re-read */
    struct http_creq *inflight;
    struct authn_waiter *waiters;
    size_t nwaiters;
    struct event *timer;
    time_t file_mtime;
    long file_mtime_ns;
};

/* A verified JWT, remembered by the SHA-256 of its bytes so the next request
 * with the same token costs a hash instead of a signature check. Only
 * successes are kept; an entry is valid until the token's exp (+ skew) and
 * only for the key-set generation it was verified with (any key-set change
 * forgets everything, so a removed key stops working at once). */
struct authn_cached {
    uint8_t digest[SHA256_LEN];
    struct identity *id;
    uint64_t valid_until_us;
    uint64_t gen;
};

struct authn {
    int refs;
    struct authn_cached *cache; /* token_cache slots, direct-mapped; NULL: off */
    size_t ncache;
    uint64_t keygen; /* bumped whenever a key set changes */
    char *resource;
    char *prm_url;
    char *prm_path[2];
    size_t nprm_path;
    char *prm_doc;
    struct strv required_scopes;
    char *required_scope_str; /* space-joined, "" when none */
    bool anonymous;
    struct strv anon_roles;
    struct strv local_roles;
    char *model_header; /* request header carrying the model hint; "" when off */
    size_t max_token;
    struct apikey_entry *keys;
    size_t nkeys;
    struct map key_by_id;
    struct authn_issuer *iss;
    size_t niss;
    /* runtime */
    struct event_base *base;
    struct http_client *client;
    uint64_t (*clock)(void *ud);
    void *clock_ud;
    authn_observe_fn obs;
    void *obs_ud;
    struct authn_stats stats;
};

static void issuer_fetch_done(void *ud, struct http_creq *r, const struct http_cresult *res);
static void issuer_timer_cb(evutil_socket_t fd, short ev, void *arg);
static void issuer_resolve_waiters(struct authn_issuer *is);

/* ---- small helpers ---- */

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strv_push(struct strv *s, const char *x)
{
    char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    s->v = nv;
    if ((nv[s->n] = strdup(x)) == NULL)
        return -1;
    s->n++;
    return 0;
}

static bool strv_has(const struct strv *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

static uint64_t now_wall(const struct authn *a)
{
    return a->clock ? a->clock(a->clock_ud) : wall_us();
}

static uint64_t now_mono(const struct authn *a)
{
    return a->clock ? a->clock(a->clock_ud) : mono_us();
}

/* A role, scope or name list member: non-empty, printable, no spaces in
 * scopes (they are space-separated on the wire). */
static bool name_ok(const char *s, bool allow_space)
{
    size_t n = strlen(s);
    if (n == 0 || n > IDENTITY_MAX_NAME)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == ' ' && !allow_space) || *p == '"' || *p == '\\')
            return false;
    }
    return true;
}

/* Reads key (string or list of strings) into out, each checked with name_ok. */
static int cfg_names(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                     const char *key, bool allow_space, struct strv *out)
{
    json_t *l = NULL;
    int rc = cfg_get_str_list(e, doc, obj, key, &l);
    if (rc != 0)
        return rc;
    const json_t *arr = json_object_get(obj, key);
    size_t i;
    json_t *it;
    json_array_foreach(l, i, it)
    {
        const char *s = json_string_value(it);
        if (!name_ok(s, allow_space)) {
            cfg_err(e, doc, json_is_array(arr) ? arr : obj, json_is_array(arr) ? NULL : key, i,
                    "'%s' entries must be 1 to %u printable characters%s", key, IDENTITY_MAX_NAME,
                    allow_space ? "" : " without spaces or quotes");
            rc = -1;
            continue;
        }
        if (!strv_has(out, s) && strv_push(out, s) < 0)
            rc = -1;
    }
    json_decref(l);
    return rc;
}

static int cfg_dup_str(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                       const char *key, char **out)
{
    const char *s;
    int rc = cfg_get_str(e, doc, obj, key, &s);
    if (rc != 0)
        return rc;
    if (s[0] == '\0') {
        cfg_err(e, doc, obj, key, 0, "'%s' must not be empty", key);
        return -1;
    }
    *out = strdup(s);
    return *out ? 0 : -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* "2027-01-01" or "2027-01-01T12:00:00Z" / "+02:00" (RFC 3339) -> µs. */
static int parse_time_us(const char *s, uint64_t *out)
{
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    size_t n = strlen(s);
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    int64_t off = 0;
    if (n > 10) {
        if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || n < 20 || !digits(s + 11, 2, &h) ||
            s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se) ||
            h > 23 || mi > 59 || se > 60)
            return -1;
        const char *p = s + 19;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
            off = 0;
        } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
            unsigned oh, om;
            if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
                return -1;
            off = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        } else {
            return -1;
        }
    }
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    if (t < 0)
        return -1;
    *out = (uint64_t)t * 1000000u;
    return 0;
}

/* An absolute http(s) URL without userinfo, query or fragment. Splits it
 * into origin ("https://host:port") and path ("" or "/..."). http is only
 * accepted for loopback hosts when loopback_http is set. */
static int url_split(const char *u, bool loopback_http, char *origin, size_t olen, char *path,
                     size_t plen, const char **why)
{
    const char *rest;
    bool http = false;
    if (strncmp(u, "https://", 8) == 0) {
        rest = u + 8;
    } else if (strncmp(u, "http://", 7) == 0) {
        rest = u + 7;
        http = true;
    } else {
        *why = "must be an absolute https:// URL";
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '\\' || *p == '"') {
            *why = "must not contain spaces, quotes, backslashes or non-ASCII characters";
            return -1;
        }
    }
    if (strchr(u, '#') != NULL || strchr(u, '?') != NULL) {
        *why = "must not have a query or a fragment";
        return -1;
    }
    size_t alen = strcspn(rest, "/");
    if (alen == 0 || memchr(rest, '@', alen) != NULL) {
        *why = "needs a host and no user information";
        return -1;
    }
    if (http) {
        bool loop = false;
        static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
        for (size_t i = 0; i < 3; i++) {
            size_t hl = strlen(hosts[i]);
            if (alen >= hl && strncasecmp(rest, hosts[i], hl) == 0 &&
                (alen == hl || rest[hl] == ':'))
                loop = true;
        }
        if (!loop || !loopback_http) {
            *why = "must use https (http is accepted for loopback hosts only)";
            return -1;
        }
    }
    size_t ol = (size_t)(rest - u) + alen;
    if (ol >= olen || strlen(rest + alen) >= plen) {
        *why = "is too long";
        return -1;
    }
    memcpy(origin, u, ol);
    origin[ol] = '\0';
    snprintf(path, plen, "%s", rest + alen);
    return 0;
}

/* ---- compile ---- */

static void issuer_clear(struct authn_issuer *is)
{
    free(is->issuer);
    strv_free(&is->audiences);
    free(is->roles_claim);
    free(is->name_claim);
    strv_free(&is->default_roles);
    free(is->jwks_file);
    free(is->jwks_url);
    free(is->ca_file);
    jwks_unref(is->keys);
}

static char *doc_relative(const struct cfg_doc *doc, const char *p)
{
    if (p[0] == '/' || doc->path == NULL || strrchr(doc->path, '/') == NULL)
        return strdup(p);
    const char *slash = strrchr(doc->path, '/');
    size_t dl = (size_t)(slash - doc->path);
    size_t n = dl + 1 + strlen(p) + 1;
    char *r = malloc(n);
    if (r != NULL)
        snprintf(r, n, "%.*s/%s", (int)dl, doc->path, p);
    return r;
}

/* Reads a JWKS file into is->keys. -1 with a sentence in err. */
static int issuer_read_file(struct authn_issuer *is, char *err, size_t errlen)
{
    /* Non-blocking open and a regular-file check: a FIFO or a device named
     * by mistake must not hang or flood the loader. */
    int fd = open(is->jwks_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "cannot open JWKS file %s: %m", is->jwks_file);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "JWKS file %s is not a regular file", is->jwks_file);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        close(fd);
        snprintf(err, errlen, "cannot read JWKS file %s", is->jwks_file);
        return -1;
    }
    struct buf b;
    buf_init(&b, JWKS_MAX_BYTES);
    char chunk[8192];
    size_t r;
    int rc = 0;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, r) < 0) {
            snprintf(err, errlen, "JWKS file %s is larger than %u bytes", is->jwks_file,
                     JWKS_MAX_BYTES);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read JWKS file %s", is->jwks_file);
        rc = -1;
    }
    fclose(f);
    if (rc == 0) {
        struct jwt_err je;
        struct jwks_report rep;
        struct jwks *k = jwks_parse(buf_head(&b) ? buf_head(&b) : "", buf_used(&b), &rep, &je);
        if (k == NULL) {
            snprintf(err, errlen, "JWKS file %s: %s", is->jwks_file, je.msg);
            rc = -1;
        } else {
            if (rep.skipped > 0)
                log_warnx("auth: JWKS file %s: %zu key(s) skipped; %s", is->jwks_file, rep.skipped,
                          rep.first);
            jwks_unref(is->keys);
            is->keys = k;
            is->loaded = true;
        }
    }
    buf_free(&b);
    return rc;
}

static const char *const issuer_keys[] = {"issuer",
                                          "jwks_url",
                                          "jwks_file",
                                          "audience",
                                          "algorithms",
                                          "clock_skew",
                                          "roles_claim",
                                          "default_roles",
                                          "name_claim",
                                          "refresh_interval",
                                          "min_refresh_interval",
                                          "fetch_timeout",
                                          "ca_file",
                                          NULL};

static void compile_issuer(struct authn *a, const struct cfg_doc *doc, const json_t *o,
                           struct authn_issuer *is, struct cfg_errors *e)
{
    is->a = a;
    is->algs = (1u << JWT_RS256) | (1u << JWT_ES256) | (1u << JWT_EDDSA);
    is->skew_s = 60;
    is->refresh_us = 15ull * 60u * 1000000u;
    is->min_refresh_us = 30ull * 1000000u;
    is->fetch_timeout_us = 10ull * 1000000u;
    if (!json_is_object(o)) {
        cfg_err(e, doc, o, NULL, CFG_SELF, "a jwt issuer must be a mapping");
        return;
    }
    cfg_check_keys(e, doc, o, issuer_keys);
    const char *why;
    char origin[2048], path[2048];
    if (cfg_dup_str(e, doc, o, "issuer", &is->issuer) == 1)
        cfg_err(e, doc, o, NULL, CFG_SELF,
                "a jwt issuer needs 'issuer' (the exact iss of its tokens)");
    if (is->issuer != NULL && (strlen(is->issuer) > 250 || strchr(is->issuer, '#') != NULL ||
                               !name_ok(is->issuer, false)))
        cfg_err(e, doc, o, "issuer", 0,
                "issuer is at most 250 printable characters without spaces, quotes or '#'");
    for (size_t i = 0; is->issuer != NULL && i < is->index; i++) {
        if (a->iss[i].issuer != NULL && strcmp(a->iss[i].issuer, is->issuer) == 0)
            cfg_err(e, doc, o, "issuer", 0, "issuer '%s' is configured twice", is->issuer);
    }
    int ru = cfg_dup_str(e, doc, o, "jwks_url", &is->jwks_url);
    char *file = NULL;
    int rf = cfg_dup_str(e, doc, o, "jwks_file", &file);
    if (ru == 1 && rf == 1)
        cfg_err(e, doc, o, NULL, CFG_SELF, "a jwt issuer needs jwks_url or jwks_file");
    if (ru == 0 && rf == 0)
        cfg_err(e, doc, o, "jwks_file", 0, "give jwks_url or jwks_file, not both");
    if (ru == 0 &&
        url_split(is->jwks_url, true, origin, sizeof(origin), path, sizeof(path), &why) < 0)
        cfg_err(e, doc, o, "jwks_url", 0, "jwks_url %s", why);
    if (cfg_dup_str(e, doc, o, "ca_file", &is->ca_file) == 0) {
        char *r = doc_relative(doc, is->ca_file);
        free(is->ca_file);
        is->ca_file = r;
    }
    if (rf == 0) {
        is->jwks_file = doc_relative(doc, file);
        char err[512];
        if (is->jwks_file != NULL && issuer_read_file(is, err, sizeof(err)) < 0)
            cfg_err(e, doc, o, "jwks_file", 0, "%s", err);
        else if (is->keys != NULL && is->keys->n == 0)
            cfg_err(e, doc, o, "jwks_file", 0, "JWKS file %s has no usable key", is->jwks_file);
    }
    free(file);
    if (cfg_names(e, doc, o, "audience", false, &is->audiences) == 1) {
        if (a->resource != NULL)
            strv_push(&is->audiences, a->resource);
    }
    json_t *algs = NULL;
    if (cfg_get_str_list(e, doc, o, "algorithms", &algs) == 0) {
        is->algs = 0;
        size_t i;
        json_t *it;
        json_array_foreach(algs, i, it)
        {
            enum jwt_alg al = jwt_alg_parse(json_string_value(it));
            if (al == JWT_ALG_UNKNOWN) {
                const json_t *arr = json_object_get(o, "algorithms");
                cfg_err(e, doc, json_is_array(arr) ? arr : o,
                        json_is_array(arr) ? NULL : "algorithms", i,
                        "algorithm '%s' is not supported (RS256, ES256, EdDSA)",
                        json_string_value(it));
            }
            is->algs |= 1u << al;
        }
        if (json_array_size(algs) == 0)
            cfg_err(e, doc, o, "algorithms", 0, "algorithms must not be empty");
        json_decref(algs);
    }
    uint64_t v;
    if (cfg_get_duration_us(e, doc, o, "clock_skew", AUTHN_MAX_SKEW_S * 1000000ull, &v) == 0)
        is->skew_s = (int64_t)(v / 1000000u);
    if (cfg_get_duration_us(e, doc, o, "refresh_interval", 24ull * 3600u * 1000000u, &v) == 0) {
        if (v < 1000000u)
            cfg_err(e, doc, o, "refresh_interval", 0, "refresh_interval must be at least 1s");
        is->refresh_us = v;
    }
    if (cfg_get_duration_us(e, doc, o, "min_refresh_interval", 3600ull * 1000000u, &v) == 0) {
        if (v < 1000000u)
            cfg_err(e, doc, o, "min_refresh_interval", 0,
                    "min_refresh_interval must be at least 1s (it is what stops a flood of "
                    "forged key ids from flooding the identity provider)");
        is->min_refresh_us = v;
    }
    if (cfg_get_duration_us(e, doc, o, "fetch_timeout", 120ull * 1000000u, &v) == 0) {
        if (v < 100000u)
            cfg_err(e, doc, o, "fetch_timeout", 0, "fetch_timeout must be at least 100ms");
        is->fetch_timeout_us = v;
    }
    if (cfg_dup_str(e, doc, o, "roles_claim", &is->roles_claim) == 1)
        is->roles_claim = strdup("roles");
    if (cfg_dup_str(e, doc, o, "name_claim", &is->name_claim) == 1)
        is->name_claim = strdup("preferred_username");
    cfg_names(e, doc, o, "default_roles", false, &is->default_roles);
}

static const char *const apikey_keys[] = {"name",         "hash",    "roles", "scopes",
                                          "display_name", "expires", NULL};

static bool key_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

static void compile_apikeys(struct authn *a, const struct cfg_doc *doc, const json_t *list,
                            struct cfg_errors *e)
{
    if (!json_is_array(list)) {
        cfg_err(e, doc, list, NULL, CFG_SELF, "api_keys must be a list");
        return;
    }
    if (json_array_size(list) == 0)
        return;
    a->keys = calloc(json_array_size(list), sizeof(*a->keys));
    if (a->keys == NULL)
        return;
    size_t i;
    const json_t *o;
    json_array_foreach(list, i, o)
    {
        if (!json_is_object(o)) {
            cfg_err(e, doc, list, NULL, i, "each api_keys entry must be a mapping");
            continue;
        }
        struct apikey_entry *k = &a->keys[a->nkeys++];
        cfg_check_keys(e, doc, o, apikey_keys);
        if (cfg_dup_str(e, doc, o, "name", &k->name) == 1)
            cfg_err(e, doc, list, NULL, i, "an api_keys entry needs a name");
        if (k->name != NULL && !key_name_ok(k->name))
            cfg_err(e, doc, o, "name", 0,
                    "an API key name is 1 to 64 of [A-Za-z0-9._@-] (it becomes the principal "
                    "apikey:<name>)");
        for (size_t j = 0; k->name != NULL && j + 1 < a->nkeys; j++)
            if (a->keys[j].name != NULL && strcmp(a->keys[j].name, k->name) == 0)
                cfg_err(e, doc, o, "name", 0, "API key name '%s' is used twice", k->name);
        const char *hs;
        int rc = cfg_get_str(e, doc, o, "hash", &hs);
        if (rc == 1) {
            cfg_err(e, doc, list, NULL, i,
                    "an api_keys entry needs the hash printed by mcpwall keygen");
        } else if (rc == 0) {
            char err[200];
            if (apikey_hash_parse(hs, &k->h, err, sizeof(err)) < 0) {
                cfg_err(e, doc, o, "hash", 0, "%s", err);
            } else if (map_get(&a->key_by_id, k->h.id, APIKEY_ID_LEN) != NULL) {
                cfg_err(e, doc, o, "hash", 0,
                        "this hash's key id is already used by another entry (one key, one "
                        "entry)");
            } else {
                map_put(&a->key_by_id, k->h.id, APIKEY_ID_LEN, k);
            }
        }
        cfg_names(e, doc, o, "roles", false, &k->roles);
        cfg_names(e, doc, o, "scopes", false, &k->scopes);
        cfg_dup_str(e, doc, o, "display_name", &k->display);
        const char *ex;
        if (cfg_get_str(e, doc, o, "expires", &ex) == 0 && parse_time_us(ex, &k->expires_us) < 0)
            cfg_err(e, doc, o, "expires", 0,
                    "expires is a date (2027-01-31) or an RFC 3339 time (2027-01-31T12:00:00Z)");
    }
}

static const char *const auth_keys[] = {"resource",
                                        "token_cache",
                                        "resource_metadata_url",
                                        "resource_name",
                                        "resource_documentation",
                                        "scopes_supported",
                                        "authorization_servers",
                                        "required_scopes",
                                        "anonymous",
                                        "anonymous_roles",
                                        "local_roles",
                                        "model_header",
                                        "max_token_bytes",
                                        "api_keys",
                                        "jwt",
                                        NULL};

static int build_prm(struct authn *a, const struct strv *scopes_supported,
                     const struct strv *auth_servers, const char *name, const char *doc_url)
{
    json_t *o = json_object();
    if (o == NULL)
        return -1;
    json_object_set_new(o, "resource", json_string(a->resource));
    json_t *as = json_array();
    if (auth_servers->n > 0) {
        for (size_t i = 0; i < auth_servers->n; i++)
            json_array_append_new(as, json_string(auth_servers->v[i]));
    } else {
        for (size_t i = 0; i < a->niss; i++)
            if (a->iss[i].issuer != NULL)
                json_array_append_new(as, json_string(a->iss[i].issuer));
    }
    json_object_set_new(o, "authorization_servers", as);
    json_t *bm = json_array();
    json_array_append_new(bm, json_string("header"));
    json_object_set_new(o, "bearer_methods_supported", bm);
    if (scopes_supported->n > 0) {
        json_t *ss = json_array();
        for (size_t i = 0; i < scopes_supported->n; i++)
            json_array_append_new(ss, json_string(scopes_supported->v[i]));
        json_object_set_new(o, "scopes_supported", ss);
    }
    if (name != NULL)
        json_object_set_new(o, "resource_name", json_string(name));
    if (doc_url != NULL)
        json_object_set_new(o, "resource_documentation", json_string(doc_url));
    a->prm_doc = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return a->prm_doc ? 0 : -1;
}

static struct authn *authn_alloc(void)
{
    struct authn *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->refs = 1;
    a->max_token = JWT_DEFAULT_MAX_TOKEN;
    a->ncache = AUTHN_DEFAULT_TOKEN_CACHE;
    map_init(&a->key_by_id);
    a->required_scope_str = strdup("");
    a->model_header = strdup(AUTHN_DEFAULT_MODEL_HEADER);
    if (a->required_scope_str == NULL || a->model_header == NULL) {
        free(a->required_scope_str);
        free(a->model_header);
        free(a);
        return NULL;
    }
    return a;
}

static int join_scopes(struct authn *a)
{
    size_t n = 1;
    for (size_t i = 0; i < a->required_scopes.n; i++)
        n += strlen(a->required_scopes.v[i]) + 1;
    char *s = malloc(n);
    if (s == NULL)
        return -1;
    s[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < a->required_scopes.n; i++)
        off += (size_t)snprintf(s + off, n - off, "%s%s", i ? " " : "", a->required_scopes.v[i]);
    free(a->required_scope_str);
    a->required_scope_str = s;
    return 0;
}

struct authn *authn_compile(const struct cfg_doc *doc, const json_t *sec, struct cfg_errors *e)
{
    size_t nerr = e->n;
    struct authn *a = authn_alloc();
    struct strv scopes_supported = {0}, auth_servers = {0};
    char *name = NULL, *docurl = NULL;
    if (a == NULL)
        return NULL;
    if (sec == NULL)
        return a;
    if (!json_is_object(sec)) {
        cfg_err(e, doc, sec, NULL, CFG_SELF, "auth must be a mapping");
        goto fail;
    }
    cfg_check_keys(e, doc, sec, auth_keys);
    const char *why;
    char origin[2048], path[2048];
    if (cfg_dup_str(e, doc, sec, "resource", &a->resource) == 0) {
        if (url_split(a->resource, true, origin, sizeof(origin), path, sizeof(path), &why) < 0) {
            cfg_err(e, doc, sec, "resource", 0,
                    "resource %s (it is the URL clients use to reach this gateway)", why);
        } else {
            size_t pl = strlen(path);
            while (pl > 0 && path[pl - 1] == '/')
                path[--pl] = '\0';
            size_t n = strlen(AUTHN_PRM_WELL_KNOWN) + pl + 1;
            a->prm_path[0] = malloc(n);
            if (a->prm_path[0] != NULL)
                snprintf(a->prm_path[0], n, "%s%s", AUTHN_PRM_WELL_KNOWN, path);
            a->nprm_path = 1;
            if (pl > 0) {
                a->prm_path[1] = strdup(AUTHN_PRM_WELL_KNOWN);
                a->nprm_path = 2;
            }
            n = strlen(origin) + (a->prm_path[0] ? strlen(a->prm_path[0]) : 0) + 1;
            a->prm_url = malloc(n);
            if (a->prm_url != NULL)
                snprintf(a->prm_url, n, "%s%s", origin, a->prm_path[0] ? a->prm_path[0] : "");
        }
    }
    if (cfg_dup_str(e, doc, sec, "resource_metadata_url", &docurl) == 0) {
        if (url_split(docurl, true, origin, sizeof(origin), path, sizeof(path), &why) < 0) {
            cfg_err(e, doc, sec, "resource_metadata_url", 0, "resource_metadata_url %s", why);
        } else {
            free(a->prm_url);
            a->prm_url = docurl;
            docurl = NULL;
        }
    }
    free(docurl);
    docurl = NULL;
    cfg_dup_str(e, doc, sec, "resource_name", &name);
    if (cfg_dup_str(e, doc, sec, "resource_documentation", &docurl) == 0 &&
        strncmp(docurl, "https://", 8) != 0 && strncmp(docurl, "http://", 7) != 0)
        cfg_err(e, doc, sec, "resource_documentation", 0,
                "resource_documentation must be an http(s) URL");
    cfg_names(e, doc, sec, "scopes_supported", false, &scopes_supported);
    cfg_names(e, doc, sec, "required_scopes", false, &a->required_scopes);
    json_t *asl = NULL;
    if (cfg_get_str_list(e, doc, sec, "authorization_servers", &asl) == 0) {
        const json_t *l = json_object_get(sec, "authorization_servers");
        size_t i;
        const json_t *it;
        json_array_foreach(asl, i, it)
        {
            if (url_split(json_string_value(it), true, origin, sizeof(origin), path, sizeof(path),
                          &why) < 0)
                cfg_err(e, doc, json_is_array(l) ? l : sec,
                        json_is_array(l) ? NULL : "authorization_servers", i,
                        "authorization server %s", why);
            else
                strv_push(&auth_servers, json_string_value(it));
        }
        json_decref(asl);
    }
    int ra = cfg_get_bool(e, doc, sec, "anonymous", &a->anonymous);
    if (cfg_names(e, doc, sec, "anonymous_roles", false, &a->anon_roles) == 0 &&
        (ra != 0 || !a->anonymous))
        cfg_err(e, doc, sec, "anonymous_roles", 0,
                "anonymous_roles needs 'anonymous: true' (anonymous access is off)");
    cfg_names(e, doc, sec, "local_roles", false, &a->local_roles);
    const char *mh;
    if (cfg_get_str(e, doc, sec, "model_header", &mh) == 0) {
        bool ok = strlen(mh) <= 64;
        for (const char *p = mh; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_';
        if (!ok || strcasecmp(mh, "authorization") == 0 || strcasecmp(mh, "cookie") == 0 ||
            strcasecmp(mh, "proxy-authorization") == 0) {
            cfg_err(e, doc, sec, "model_header", 0,
                    "model_header is a header name (letters, digits, '-', '_'; at most 64), not a "
                    "credential header; \"\" turns the hint off");
        } else {
            char *d = strdup(mh);
            if (d != NULL) {
                free(a->model_header);
                a->model_header = d;
            }
        }
    }
    uint64_t v;
    if (cfg_get_size(e, doc, sec, "max_token_bytes", JWT_HARD_MAX_TOKEN, &v) == 0) {
        if (v < 512)
            cfg_err(e, doc, sec, "max_token_bytes", 0, "max_token_bytes must be at least 512");
        a->max_token = (size_t)v;
    }
    if (cfg_get_uint(e, doc, sec, "token_cache", 1u << 20, &v) == 0)
        a->ncache = (size_t)v;
    const json_t *keys = json_object_get(sec, "api_keys");
    if (keys != NULL)
        compile_apikeys(a, doc, keys, e);
    const json_t *jw = json_object_get(sec, "jwt");
    if (jw != NULL) {
        size_t n = json_is_array(jw) ? json_array_size(jw) : 1;
        if (json_is_array(jw) && n == 0) {
            cfg_err(e, doc, sec, "jwt", 0, "jwt must list at least one issuer");
        } else if (!json_is_array(jw) && !json_is_object(jw)) {
            cfg_err(e, doc, sec, "jwt", 0, "jwt is an issuer mapping or a list of them");
        } else if (n > 32) {
            cfg_err(e, doc, sec, "jwt", 0, "at most 32 jwt issuers");
        } else {
            if (a->resource == NULL)
                cfg_err(e, doc, sec, "jwt", 0,
                        "jwt needs auth.resource: the URL of this gateway, which tokens must "
                        "name in aud and which the metadata document describes");
            a->iss = calloc(n, sizeof(*a->iss));
            if (a->iss != NULL) {
                a->niss = n;
                for (size_t i = 0; i < n; i++) {
                    a->iss[i].index = i;
                    compile_issuer(a, doc, json_is_array(jw) ? json_array_get(jw, i) : jw,
                                   &a->iss[i], e);
                }
            }
        }
    }
    if (a->required_scopes.n > 0 && a->niss == 0)
        cfg_err(e, doc, sec, "required_scopes", 0,
                "required_scopes applies to JWT access tokens, and no jwt issuer is configured");
    if (e->n != nerr)
        goto fail;
    if (join_scopes(a) < 0)
        goto fail;
    if (a->ncache > 0 && a->niss > 0 && (a->cache = calloc(a->ncache, sizeof(*a->cache))) == NULL)
        goto fail;
    if (a->resource != NULL && build_prm(a, &scopes_supported, &auth_servers, name, docurl) < 0)
        goto fail;
    strv_free(&scopes_supported);
    strv_free(&auth_servers);
    free(name);
    free(docurl);
    return a;
fail:
    strv_free(&scopes_supported);
    strv_free(&auth_servers);
    free(name);
    free(docurl);
    authn_unref(a);
    return NULL;
}

struct authn *authn_new_single_key(const char *name, const char *const *roles, size_t nroles,
                                   char key_out[APIKEY_LEN + 1])
{
    char stored[APIKEY_HASH_MAX];
    if (!key_name_ok(name) || apikey_generate(key_out, stored) < 0)
        return NULL;
    struct authn *a = authn_alloc();
    if (a == NULL || (a->keys = calloc(1, sizeof(*a->keys))) == NULL)
        goto fail;
    a->nkeys = 1;
    struct apikey_entry *k = &a->keys[0];
    char err[160];
    if ((k->name = strdup(name)) == NULL ||
        apikey_hash_parse(stored, &k->h, err, sizeof(err)) < 0 ||
        map_put(&a->key_by_id, k->h.id, APIKEY_ID_LEN, k) < 0)
        goto fail;
    for (size_t i = 0; i < nroles; i++)
        if (!name_ok(roles[i], false) || strv_push(&k->roles, roles[i]) < 0)
            goto fail;
    return a;
fail:
    secret_wipe(key_out, APIKEY_LEN + 1);
    authn_unref(a);
    return NULL;
}

struct authn *authn_ref(struct authn *a)
{
    if (a != NULL)
        a->refs++;
    return a;
}

void authn_unref(struct authn *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    authn_stop(a);
    for (size_t i = 0; i < a->nkeys; i++) {
        free(a->keys[i].name);
        free(a->keys[i].display);
        strv_free(&a->keys[i].roles);
        strv_free(&a->keys[i].scopes);
        secret_wipe(&a->keys[i].h, sizeof(a->keys[i].h));
    }
    free(a->keys);
    map_free(&a->key_by_id);
    for (size_t i = 0; a->cache != NULL && i < a->ncache; i++)
        identity_unref(a->cache[i].id);
    free(a->cache);
    for (size_t i = 0; i < a->niss; i++)
        issuer_clear(&a->iss[i]);
    free(a->iss);
    free(a->resource);
    free(a->prm_url);
    free(a->prm_path[0]);
    free(a->prm_path[1]);
    free(a->prm_doc);
    strv_free(&a->required_scopes);
    free(a->required_scope_str);
    strv_free(&a->anon_roles);
    strv_free(&a->local_roles);
    free(a->model_header);
    free(a);
}

static void print_list(FILE *f, const struct strv *s)
{
    if (s->n == 0) {
        fprintf(f, "(none)");
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s%s", i ? ", " : "", s->v[i]);
}

void authn_describe(const struct authn *a, void *file)
{
    FILE *f = file;
    if (a->nkeys == 0 && a->niss == 0 && !a->anonymous) {
        fprintf(f, "auth: no API keys, no JWT issuers, anonymous off: every HTTP request is "
                   "refused (401)\n");
        return;
    }
    fprintf(f, "auth:\n");
    if (a->resource != NULL)
        fprintf(f, "  resource %s (metadata at %s)\n", a->resource, a->prm_url);
    fprintf(f, "  anonymous access: %s", a->anonymous ? "on, roles " : "off\n");
    if (a->anonymous) {
        print_list(f, &a->anon_roles);
        fprintf(f, "\n");
    }
    for (size_t i = 0; i < a->nkeys; i++) {
        fprintf(f, "  API key apikey:%s (key id %s), roles ", a->keys[i].name, a->keys[i].h.id);
        print_list(f, &a->keys[i].roles);
        if (a->keys[i].expires_us) {
            char ts[32];
            rfc3339_us(a->keys[i].expires_us, ts);
            fprintf(f, ", expires %s", ts);
        }
        fprintf(f, "\n");
    }
    for (size_t i = 0; i < a->niss; i++) {
        const struct authn_issuer *is = &a->iss[i];
        fprintf(f, "  JWT issuer %s, keys from %s, audience ", is->issuer,
                is->jwks_url ? is->jwks_url : is->jwks_file);
        print_list(f, &is->audiences);
        fprintf(f, ", roles from claim '%s'\n", is->roles_claim);
    }
    if (a->required_scopes.n > 0)
        fprintf(f, "  required scopes: %s\n", a->required_scope_str);
    if (a->local_roles.n > 0) {
        fprintf(f, "  local user (wrap) roles ");
        print_list(f, &a->local_roles);
        fprintf(f, "\n");
    }
    if (a->model_header[0] != '\0')
        fprintf(f, "  model hint from header %s (unverified: policy may only narrow with it)\n",
                a->model_header);
}

/* ---- runtime: key-set fetches ---- */

void authn_set_clock(struct authn *a, uint64_t (*fn)(void *ud), void *ud)
{
    a->clock = fn;
    a->clock_ud = ud;
}

void authn_set_observer(struct authn *a, authn_observe_fn fn, void *ud)
{
    a->obs = fn;
    a->obs_ud = ud;
}

const struct authn_stats *authn_stats(const struct authn *a)
{
    return &a->stats;
}

static void issuer_arm_timer(struct authn_issuer *is, uint64_t us)
{
    if (is->timer == NULL)
        return;
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000u),
                         .tv_usec = (suseconds_t)(us % 1000000u)};
    evtimer_add(is->timer, &tv);
}

/* Starts a fetch of a URL key set. 0, or -1 when it cannot start. */
static int issuer_fetch(struct authn_issuer *is)
{
    struct authn *a = is->a;
    if (is->inflight != NULL)
        return 0;
    if (a->client == NULL || is->jwks_url == NULL)
        return -1;
    is->attempted = true;
    is->last_attempt = now_mono(a);
    a->stats.jwks_fetches++;
    static const char *const hdrs[] = {"Accept: application/jwk-set+json, application/json", NULL};
    uint64_t to_ms = is->fetch_timeout_us / 1000u;
    struct http_creq_opts o = {
        .method = "GET",
        .url = is->jwks_url,
        .headers = hdrs,
        .connect_timeout_ms = (uint32_t)to_ms,
        .total_timeout_ms = (uint32_t)to_ms,
        .max_body = JWKS_MAX_BYTES,
        .ca_file = is->ca_file,
    };
    static const struct http_creq_cbs cbs = {.on_done = issuer_fetch_done};
    char err[256];
    is->inflight = http_client_start(a->client, &o, &cbs, is, err, sizeof(err));
    if (is->inflight == NULL) {
        a->stats.jwks_failures++;
        log_warnx("auth: cannot fetch the key set of issuer %s: %s", is->issuer, err);
        return -1;
    }
    return 0;
}

static void issuer_fetch_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)r;
    struct authn_issuer *is = ud;
    struct authn *a = is->a;
    is->inflight = NULL;
    bool ok = false;
    if (res->err != HTTP_CE_OK) {
        log_warnx("auth: fetching the key set of issuer %s failed: %s", is->issuer,
                  res->message ? res->message : http_cerr_name(res->err));
    } else if (res->status != 200) {
        log_warnx("auth: fetching the key set of issuer %s failed: HTTP status %ld", is->issuer,
                  res->status);
    } else {
        struct jwt_err je;
        struct jwks_report rep;
        struct jwks *k = jwks_parse(res->body ? res->body : "", res->body_len, &rep, &je);
        if (k == NULL) {
            log_warnx("auth: the key set of issuer %s is unusable: %s", is->issuer, je.msg);
        } else {
            if (rep.skipped > 0)
                log_warnx("auth: key set of issuer %s: %zu key(s) skipped; %s", is->issuer,
                          rep.skipped, rep.first);
            log_info("auth: key set of issuer %s loaded: %zu key(s)", is->issuer, k->n);
            jwks_unref(is->keys);
            is->keys = k;
            is->loaded = true;
            a->stats.jwks_loaded++;
            a->keygen++;
            ok = true;
        }
    }
    if (!ok)
        a->stats.jwks_failures++;
    /* A failed fetch is retried after the rate-limit interval, a good one at
     * the refresh interval. */
    issuer_arm_timer(is, ok ? is->refresh_us : is->min_refresh_us);
    authn_ref(a);
    issuer_resolve_waiters(is);
    authn_unref(a);
}

/* Re-reads a JWKS file when it changed (or always when force). */
static void issuer_reread(struct authn_issuer *is, bool force)
{
    struct authn *a = is->a;
    struct stat st;
    is->attempted = true;
    is->last_attempt = now_mono(a);
    if (stat(is->jwks_file, &st) == 0 && !force && st.st_mtim.tv_sec == is->file_mtime &&
        st.st_mtim.tv_nsec == is->file_mtime_ns)
        return;
    a->stats.jwks_fetches++;
    char err[512];
    if (issuer_read_file(is, err, sizeof(err)) < 0) {
        a->stats.jwks_failures++;
        log_warnx("auth: %s (keeping the previous keys)", err);
        return;
    }
    a->stats.jwks_loaded++;
    a->keygen++;
    if (stat(is->jwks_file, &st) == 0) {
        is->file_mtime = st.st_mtim.tv_sec;
        is->file_mtime_ns = st.st_mtim.tv_nsec;
    }
}

static void issuer_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct authn_issuer *is = arg;
    if (is->jwks_url != NULL) {
        if (issuer_fetch(is) < 0)
            issuer_arm_timer(is, is->min_refresh_us);
    } else {
        issuer_reread(is, false);
        issuer_arm_timer(is, is->refresh_us);
    }
}

int authn_start(struct authn *a, struct event_base *base, struct http_client *client)
{
    a->base = base;
    a->client = client;
    for (size_t i = 0; i < a->niss; i++) {
        struct authn_issuer *is = &a->iss[i];
        if (is->timer == NULL && (is->timer = evtimer_new(base, issuer_timer_cb, is)) == NULL)
            return -1;
        if (is->jwks_file != NULL) {
            struct stat st;
            if (stat(is->jwks_file, &st) == 0) {
                is->file_mtime = st.st_mtim.tv_sec;
                is->file_mtime_ns = st.st_mtim.tv_nsec;
            }
            issuer_arm_timer(is, is->refresh_us);
        } else if (!is->loaded) {
            if (issuer_fetch(is) < 0)
                issuer_arm_timer(is, is->min_refresh_us);
        } else {
            issuer_arm_timer(is, is->refresh_us);
        }
    }
    return 0;
}

void authn_adopt(struct authn *a, const struct authn *old)
{
    for (size_t i = 0; i < a->niss; i++) {
        struct authn_issuer *is = &a->iss[i];
        if (is->jwks_url == NULL)
            continue;
        for (size_t j = 0; j < old->niss; j++) {
            const struct authn_issuer *o = &old->iss[j];
            if (o->loaded && o->jwks_url != NULL && strcmp(o->jwks_url, is->jwks_url) == 0 &&
                strcmp(o->issuer, is->issuer) == 0) {
                jwks_unref(is->keys);
                is->keys = jwks_ref(o->keys);
                is->loaded = true;
                is->attempted = o->attempted;
                is->last_attempt = o->last_attempt;
            }
        }
    }
}

static void reply_result(struct authn *a, struct http_request *req, struct authn_result *res);

void authn_stop(struct authn *a)
{
    for (size_t i = 0; i < a->niss; i++) {
        struct authn_issuer *is = &a->iss[i];
        if (is->timer != NULL) {
            event_free(is->timer);
            is->timer = NULL;
        }
        if (is->inflight != NULL) {
            http_creq_cancel(is->inflight);
            is->inflight = NULL;
        }
    }
    a->client = NULL;
    a->base = NULL;
    /* Waiters hold references: resolving them may drop the last one. */
    authn_ref(a);
    for (size_t i = 0; i < a->niss; i++)
        issuer_resolve_waiters(&a->iss[i]);
    a->refs--; /* not authn_unref: we are inside the stop of the final unref */
}

/* ---- authentication ---- */

static void set_result(struct authn_result *res, enum authn_status st, const char *reason,
                       const char *desc)
{
    static const int codes[] = {
        [AUTHN_OK] = 200,
        [AUTHN_NO_CREDENTIALS] = 401,
        [AUTHN_BAD_REQUEST] = 400,
        [AUTHN_INVALID_TOKEN] = 401,
        [AUTHN_INSUFFICIENT_SCOPE] = 403,
        [AUTHN_UNAVAILABLE] = 503,
        [AUTHN_NEED_KEYS] = 0,
    };
    res->status = st;
    res->http_status = codes[st];
    res->reason = reason;
    snprintf(res->description, sizeof(res->description), "%s", desc ? desc : "");
}

static bool is_b64token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes (and '+' -> ' ') s[0, n) into out (NUL-terminated, cut at outsz). */
static void pct_decode(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz; i++) {
        if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            out[o++] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
}

/* True when the query string carries something that looks like a credential. */
static bool query_has_token(const char *q)
{
    static const char *const names[] = {"access_token", "token",  "api_key",       "apikey",
                                        "api-key",      "bearer", "authorization", "id_token"};
    while (q != NULL && *q != '\0') {
        size_t n = strcspn(q, "&;");
        const char *eq = memchr(q, '=', n);
        size_t kl = eq ? (size_t)(eq - q) : n;
        char key[64], val[128];
        pct_decode(q, kl, key, sizeof(key));
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcasecmp(key, names[i]) == 0)
                return true;
        if (eq != NULL) {
            pct_decode(eq + 1, n - kl - 1, val, sizeof(val));
            /* An mcpwall key, or a JWT ("eyJ" is base64url of '{"'). */
            if (apikey_has_prefix(val, strlen(val)) ||
                (strncmp(val, "eyJ", 3) == 0 && strchr(val, '.') != NULL))
                return true;
        }
        q += n;
        if (*q != '\0')
            q++;
    }
    return false;
}

/* Identity of an API key, or an error. */
static void auth_apikey(struct authn *a, const char *tok, size_t len, struct authn_result *res)
{
    if (!apikey_well_formed(tok, len)) {
        set_result(res, AUTHN_INVALID_TOKEN, "invalid_api_key", "invalid API key");
        return;
    }
    char id[APIKEY_ID_LEN + 1];
    apikey_id(tok, id);
    const struct apikey_entry *k = map_get(&a->key_by_id, id, APIKEY_ID_LEN);
    /* The same work whether or not the id is configured. */
    static const struct apikey_hash dummy;
    bool ok = apikey_verify(k ? &k->h : &dummy, tok, len) && k != NULL;
    if (!ok) {
        set_result(res, AUTHN_INVALID_TOKEN, "invalid_api_key", "invalid API key");
        return;
    }
    if (k->expires_us != 0 && now_wall(a) >= k->expires_us) {
        set_result(res, AUTHN_INVALID_TOKEN, "expired", "API key expired");
        return;
    }
    char principal[80];
    snprintf(principal, sizeof(principal), "apikey:%s", k->name);
    struct identity *idn = identity_new(IDENTITY_APIKEY, principal, k->display);
    bool bad = idn == NULL || identity_set_str(&idn->subject, k->name) < 0;
    for (size_t i = 0; !bad && i < k->roles.n; i++)
        bad = identity_add_role(idn, k->roles.v[i], strlen(k->roles.v[i])) < 0;
    for (size_t i = 0; !bad && i < k->scopes.n; i++)
        bad = identity_add_scope(idn, k->scopes.v[i], strlen(k->scopes.v[i])) < 0;
    if (bad) {
        identity_unref(idn);
        set_result(res, AUTHN_UNAVAILABLE, "internal_error", "out of memory");
        return;
    }
    idn->expires_us = k->expires_us;
    res->id = idn;
    set_result(res, AUTHN_OK, "ok", NULL);
}

static int add_claim_strings(struct identity *idn, const json_t *v, bool split_spaces,
                             int (*add)(struct identity *, const char *, size_t))
{
    if (v == NULL)
        return 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!split_spaces)
            return add(idn, s, strlen(s));
        while (*s) {
            while (*s == ' ')
                s++;
            size_t n = strcspn(s, " ");
            if (n > 0 && add(idn, s, n) < 0)
                return -1;
            s += n;
        }
        return 0;
    }
    if (!json_is_array(v))
        return -1;
    size_t i;
    const json_t *it;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it) || strlen(json_string_value(it)) != json_string_length(it) ||
            add(idn, json_string_value(it), json_string_length(it)) < 0)
            return -1;
    }
    return 0;
}

static struct authn_issuer *find_issuer(struct authn *a, const json_t *claims)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    for (size_t i = 0; iss != NULL && i < a->niss; i++)
        if (strcmp(a->iss[i].issuer, iss) == 0)
            return &a->iss[i];
    return NULL;
}

/* A key for t, or NULL with res set (error, or NEED_KEYS). */
static const struct jwk *pick_key(struct authn *a, struct authn_issuer *is, const struct jwt *t,
                                  bool allow_fetch, struct authn_result *res)
{
    bool can_fetch = allow_fetch && is->jwks_url != NULL && a->client != NULL;
    uint64_t now = now_mono(a);
    bool due = !is->attempted || now - is->last_attempt >= is->min_refresh_us;
    if (!is->loaded) {
        /* Waiting for the first load; a failed one is retried by the timer
         * or, at most once per min_refresh_interval, by a request. */
        if (can_fetch && (is->inflight != NULL || due)) {
            res->issuer = is->index;
            set_result(res, AUTHN_NEED_KEYS, "need_keys", NULL);
        } else {
            set_result(res, AUTHN_UNAVAILABLE, "keys_unavailable",
                       "the issuer's signing keys are not available yet; retry later");
        }
        return NULL;
    }
    if (t->kid == NULL) {
        /* No kid: only a set with one key of the token's algorithm decides. */
        const struct jwk *found = NULL;
        size_t n = 0;
        for (size_t i = 0; i < is->keys->n; i++) {
            if (is->keys->keys[i].alg == t->alg) {
                found = &is->keys->keys[i];
                n++;
            }
        }
        if (n == 1)
            return found;
        set_result(res, AUTHN_INVALID_TOKEN, "unknown_kid",
                   n == 0 ? "no key of the token's algorithm"
                          : "token has no kid and the issuer has several keys");
        return NULL;
    }
    const struct jwk *k = jwks_find(is->keys, t->kid);
    if (k != NULL)
        return k;
    /* Unknown kid: a rotation, or a forgery. Refresh, at most once per
     * min_refresh_interval whatever the number of distinct kids presented. */
    if (is->jwks_url != NULL && can_fetch && (is->inflight != NULL || due)) {
        res->issuer = is->index;
        set_result(res, AUTHN_NEED_KEYS, "need_keys", NULL);
        return NULL;
    }
    if (is->jwks_file != NULL && allow_fetch && due) {
        a->stats.kid_refreshes++;
        issuer_reread(is, false);
        if ((k = jwks_find(is->keys, t->kid)) != NULL)
            return k;
    } else if (allow_fetch && !due) {
        a->stats.kid_refused++;
    }
    set_result(res, AUTHN_INVALID_TOKEN, "unknown_kid", "token signed by an unknown key (kid)");
    return NULL;
}

static const char *jwt_reason_to_result(enum jwt_reason r)
{
    return jwt_reason_code(r);
}

static void auth_jwt(struct authn *a, const char *tok, size_t len, bool allow_fetch,
                     struct authn_result *res)
{
    struct jwt t;
    struct jwt_err je;
    if (a->niss == 0) {
        set_result(res, AUTHN_INVALID_TOKEN, "invalid_token", "invalid access token");
        return;
    }
    if (jwt_decode(tok, len, a->max_token, &t, &je) < 0) {
        set_result(res, AUTHN_INVALID_TOKEN, jwt_reason_to_result(je.reason), je.msg);
        return;
    }
    struct identity *idn = NULL;
    struct authn_issuer *is = find_issuer(a, t.claims);
    if (is == NULL) {
        set_result(res, AUTHN_INVALID_TOKEN, "wrong_issuer", "token issuer is not trusted");
        goto out;
    }
    if ((is->algs & (1u << t.alg)) == 0) {
        set_result(res, AUTHN_INVALID_TOKEN, "bad_alg",
                   "token algorithm is not accepted for this issuer");
        goto out;
    }
    const struct jwk *k = pick_key(a, is, &t, allow_fetch, res);
    if (k == NULL)
        goto out;
    if (jwt_verify(&t, k, &je) < 0) {
        set_result(res, AUTHN_INVALID_TOKEN, jwt_reason_to_result(je.reason), je.msg);
        goto out;
    }
    struct jwt_rules rules = {
        .issuer = is->issuer,
        .audiences = (const char *const *)is->audiences.v,
        .naud = is->audiences.n,
        .now = (int64_t)(now_wall(a) / 1000000u),
        .skew = is->skew_s,
    };
    if (jwt_check_claims(&t, &rules, &je) < 0) {
        set_result(res, AUTHN_INVALID_TOKEN, jwt_reason_to_result(je.reason), je.msg);
        goto out;
    }
    const char *sub = json_string_value(json_object_get(t.claims, "sub"));
    size_t plen = strlen(is->issuer) + strlen(sub) + 6;
    char *principal = malloc(plen);
    if (principal == NULL) {
        set_result(res, AUTHN_UNAVAILABLE, "internal_error", "out of memory");
        goto out;
    }
    snprintf(principal, plen, "jwt:%s#%s", is->issuer, sub);
    MW_ASSERT(strlen(principal) <= IDENTITY_MAX_PRINCIPAL); /* issuer <= 250, sub <= 255 */
    const json_t *nm = jwt_claim(t.claims, is->name_claim);
    const char *display = json_string_value(nm);
    if (display == NULL || !name_ok(display, true))
        display = sub;
    idn = identity_new(IDENTITY_JWT, principal, display);
    free(principal);
    if (idn == NULL || identity_set_str(&idn->issuer, is->issuer) < 0 ||
        identity_set_str(&idn->subject, sub) < 0) {
        set_result(res, AUTHN_UNAVAILABLE, "internal_error", "out of memory");
        goto out;
    }
    const char *cid = json_string_value(json_object_get(t.claims, "client_id"));
    if (cid == NULL)
        cid = json_string_value(json_object_get(t.claims, "azp"));
    if (cid != NULL && name_ok(cid, false) && identity_set_str(&idn->client_id, cid) < 0) {
        set_result(res, AUTHN_UNAVAILABLE, "internal_error", "out of memory");
        goto out;
    }
    if (add_claim_strings(idn, jwt_claim(t.claims, is->roles_claim), false, identity_add_role) <
        0) {
        set_result(res, AUTHN_INVALID_TOKEN, "bad_claim",
                   "token roles claim is not a string or a list of strings (or too many)");
        goto out;
    }
    for (size_t i = 0; i < is->default_roles.n; i++)
        identity_add_role(idn, is->default_roles.v[i], strlen(is->default_roles.v[i]));
    if (add_claim_strings(idn, json_object_get(t.claims, "scope"), true, identity_add_scope) < 0 ||
        add_claim_strings(idn, json_object_get(t.claims, "scp"), true, identity_add_scope) < 0) {
        set_result(res, AUTHN_INVALID_TOKEN, "bad_claim",
                   "token scope claim is not a space-separated string (or too many scopes)");
        goto out;
    }
    int64_t exp = 0;
    if (jwt_numeric_date(t.claims, "exp", &exp) == 0)
        idn->expires_us = (uint64_t)exp * 1000000u;
    for (size_t i = 0; i < a->required_scopes.n; i++) {
        if (!identity_has_scope(idn, a->required_scopes.v[i])) {
            set_result(res, AUTHN_INSUFFICIENT_SCOPE, "insufficient_scope",
                       "token lacks a required scope");
            snprintf(res->scope, sizeof(res->scope), "%s", a->required_scope_str);
            goto out;
        }
    }
    res->id = idn;
    idn = NULL;
    set_result(res, AUTHN_OK, "ok", NULL);
out:
    identity_unref(idn);
    jwt_free(&t);
}

static void auth_token(struct authn *a, const char *tok, size_t len, bool allow_fetch,
                       struct authn_result *res)
{
    if (len > a->max_token) {
        set_result(res, AUTHN_INVALID_TOKEN, "too_large", "token too large");
        return;
    }
    if (apikey_has_prefix(tok, len)) {
        auth_apikey(a, tok, len, res);
        return;
    }
    struct authn_cached *slot = NULL;
    uint8_t d[SHA256_LEN];
    if (a->cache != NULL && sha256(tok, len, d) == 0) {
        uint64_t ix = 0;
        memcpy(&ix, d, sizeof(ix));
        slot = &a->cache[ix % a->ncache];
        if (slot->id != NULL && slot->gen == a->keygen && now_wall(a) < slot->valid_until_us &&
            CRYPTO_memcmp(slot->digest, d, sizeof(d)) == 0) {
            a->stats.cache_hits++;
            res->id = identity_ref(slot->id);
            set_result(res, AUTHN_OK, "ok", NULL);
            return;
        }
    }
    auth_jwt(a, tok, len, allow_fetch, res);
    if (slot != NULL && res->status == AUTHN_OK && res->id->expires_us != 0) {
        identity_unref(slot->id);
        memcpy(slot->digest, d, sizeof(d));
        slot->id = identity_ref(res->id);
        slot->gen = a->keygen;
        const struct authn_issuer *is = NULL;
        for (size_t i = 0; i < a->niss && is == NULL; i++)
            if (strcmp(a->iss[i].issuer, res->id->issuer) == 0)
                is = &a->iss[i];
        slot->valid_until_us = res->id->expires_us + (uint64_t)(is ? is->skew_s : 0) * 1000000u;
    }
}

static void count_result(struct authn *a, const struct authn_result *res)
{
    switch (res->status) {
    case AUTHN_OK:
        a->stats.allowed++;
        break;
    case AUTHN_NO_CREDENTIALS:
        a->stats.no_credentials++;
        break;
    case AUTHN_BAD_REQUEST:
        a->stats.bad_request++;
        break;
    case AUTHN_INVALID_TOKEN:
        a->stats.invalid_token++;
        break;
    case AUTHN_INSUFFICIENT_SCOPE:
        a->stats.insufficient_scope++;
        break;
    case AUTHN_UNAVAILABLE:
        a->stats.unavailable++;
        break;
    case AUTHN_NEED_KEYS:
        break;
    }
}

/* Splits "Bearer <token>"; 0 bearer, 1 another scheme, -1 malformed. */
static int parse_authorization(const char *h, const char **tok, size_t *len)
{
    size_t sl = strcspn(h, " ");
    if (sl != 6 || strncasecmp(h, "Bearer", 6) != 0)
        return 1;
    const char *p = h + 6;
    while (*p == ' ')
        p++;
    size_t n = 0;
    while (is_b64token_char((unsigned char)p[n]))
        n++;
    size_t eq = 0;
    while (p[n + eq] == '=')
        eq++;
    size_t end = n + eq;
    while (p[end] == ' ' || p[end] == '\t')
        end++;
    if (n == 0 || p[end] != '\0')
        return -1;
    *tok = p;
    *len = n + eq;
    return 0;
}

static void authenticate(struct authn *a, const char *authz, size_t nauth, const char *query,
                         bool allow_fetch, struct authn_result *res)
{
    memset(res, 0, sizeof(*res));
    if (query != NULL && query_has_token(query)) {
        set_result(res, AUTHN_BAD_REQUEST, "token_in_query",
                   "access tokens are not accepted in the URL query string; send them in the "
                   "Authorization header");
        return;
    }
    if (nauth > 1) {
        set_result(res, AUTHN_BAD_REQUEST, "duplicate_authorization",
                   "more than one Authorization header");
        return;
    }
    if (authz == NULL) {
        if (a->anonymous) {
            res->id = identity_anonymous((const char *const *)a->anon_roles.v, a->anon_roles.n);
            if (res->id == NULL)
                set_result(res, AUTHN_UNAVAILABLE, "internal_error", "out of memory");
            else
                set_result(res, AUTHN_OK, "ok", NULL);
            return;
        }
        set_result(res, AUTHN_NO_CREDENTIALS, "no_credentials", "authentication required");
        return;
    }
    const char *tok = NULL;
    size_t len = 0;
    int pr = parse_authorization(authz, &tok, &len);
    if (pr == 1) {
        set_result(res, AUTHN_NO_CREDENTIALS, "unsupported_scheme",
                   "authentication required (Bearer)");
        return;
    }
    if (pr < 0) {
        set_result(res, AUTHN_BAD_REQUEST, "malformed_authorization",
                   "malformed Bearer credentials");
        return;
    }
    auth_token(a, tok, len, allow_fetch, res);
}

void authn_authenticate(struct authn *a, const char *authorization, size_t nauth, const char *query,
                        struct authn_result *res)
{
    authenticate(a, authorization, nauth, query, true, res);
    count_result(a, res);
}

/* Appends a quoted-string parameter (values are ours and never contain '"'
 * or '\\', but make sure). */
static void param(struct buf *b, bool *first, const char *name, const char *v)
{
    buf_printf(b, "%s%s=\"", *first ? " " : ", ", name);
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        buf_append_char(b, c == '"' || c == '\\' || c < 0x20 || c >= 0x7f ? '\'' : (char)c);
    }
    buf_append_char(b, '"');
    *first = false;
}

int authn_challenge(const struct authn *a, const struct authn_result *res, struct buf *out)
{
    const char *err = NULL;
    switch (res->status) {
    case AUTHN_OK:
    case AUTHN_UNAVAILABLE:
    case AUTHN_NEED_KEYS:
        return 0;
    case AUTHN_NO_CREDENTIALS:
        break;
    case AUTHN_BAD_REQUEST:
        err = "invalid_request";
        break;
    case AUTHN_INVALID_TOKEN:
        err = "invalid_token";
        break;
    case AUTHN_INSUFFICIENT_SCOPE:
        err = "insufficient_scope";
        break;
    }
    bool first = true;
    if (buf_append_str(out, "Bearer") < 0)
        return -1;
    if (a->prm_url != NULL)
        param(out, &first, "resource_metadata", a->prm_url);
    else
        param(out, &first, "realm", "mcpwall");
    if (err != NULL)
        param(out, &first, "error", err);
    if (err != NULL && res->description[0] != '\0')
        param(out, &first, "error_description", res->description);
    if (res->status == AUTHN_INSUFFICIENT_SCOPE)
        param(out, &first, "scope", res->scope);
    else if (res->status != AUTHN_BAD_REQUEST && a->required_scope_str[0] != '\0')
        param(out, &first, "scope", a->required_scope_str);
    return buf_cstr(out);
}

static void reply_result(struct authn *a, struct http_request *req, struct authn_result *res)
{
    struct buf ch;
    buf_init(&ch, 2048);
    struct http_header h[2];
    size_t nh = 0;
    if (authn_challenge(a, res, &ch) == 0 && buf_used(&ch) > 0)
        h[nh++] = (struct http_header){"WWW-Authenticate", buf_head(&ch)};
    if (res->status == AUTHN_UNAVAILABLE)
        h[nh++] = (struct http_header){"Retry-After", "5"};
    int code = res->status == AUTHN_BAD_REQUEST   ? RPC_INVALID_REQUEST
               : res->status == AUTHN_UNAVAILABLE ? RPC_INTERNAL_ERROR
                                                  : MW_ERR_DENIED;
    http_reply_error(req, res->http_status, h, nh, NULL, code,
                     res->description[0] ? res->description : "authentication required",
                     res->reason);
    buf_free(&ch);
}

int authn_reply_insufficient_scope(const struct authn *a, struct http_request *req,
                                   const char *scope, const char *description)
{
    struct authn_result res;
    memset(&res, 0, sizeof(res));
    set_result(&res, AUTHN_INSUFFICIENT_SCOPE, "insufficient_scope",
               description ? description : "insufficient scope");
    snprintf(res.scope, sizeof(res.scope), "%s", scope);
    struct buf ch;
    buf_init(&ch, 2048);
    authn_challenge(a, &res, &ch);
    struct http_header h = {"WWW-Authenticate", buf_head(&ch) ? buf_head(&ch) : "Bearer"};
    int rc = http_reply_error(req, 403, &h, 1, NULL, MW_ERR_DENIED, res.description,
                              "insufficient_scope");
    buf_free(&ch);
    return rc;
}

static void observe(struct authn *a, struct http_request *req, const struct authn_result *res)
{
    if (a->obs == NULL)
        return;
    uint16_t port;
    const char *peer = http_request_peer(req, &port);
    a->obs(a->obs_ud, res, peer);
}

/* Ends the hook's work for a request: identity attached (true) or answered. */
static bool finish(struct authn *a, struct http_request *req, struct authn_result *res)
{
    if (res->status == AUTHN_OK) {
        struct identity *idn = res->id;
        if (http_request_set_identity(req, idn, identity_free_cb, idn->principal) == 0) {
            observe(a, req, res);
            return true;
        }
        identity_unref(idn);
        res->id = NULL;
        set_result(res, AUTHN_UNAVAILABLE, "internal_error", "out of memory");
    }
    observe(a, req, res);
    reply_result(a, req, res);
    return false;
}

const char *authn_request_token(const struct http_request *req, size_t *len)
{
    const char *h = http_request_header(req, "Authorization");
    const char *tok;
    size_t n;
    if (h == NULL || parse_authorization(h, &tok, &n) != 0)
        return NULL;
    if (len != NULL)
        *len = n;
    return tok;
}

static void waiter_unlink(struct authn_waiter *w)
{
    struct authn_issuer *is = &w->a->iss[w->issuer];
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        is->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    is->nwaiters--;
}

static void waiter_free(struct authn_waiter *w)
{
    struct authn *a = w->a;
    secret_wipe(w->token, w->toklen);
    free(w->token);
    free(w);
    authn_unref(a);
}

static void waiter_closed(void *arg, struct http_request *req)
{
    (void)req;
    struct authn_waiter *w = arg;
    waiter_unlink(w);
    waiter_free(w);
}

static int hold(struct authn *a, struct http_request *req, size_t issuer)
{
    struct authn_issuer *is = &a->iss[issuer];
    if (is->nwaiters >= AUTHN_MAX_WAITERS)
        return -1;
    size_t len;
    const char *tok = authn_request_token(req, &len);
    if (tok == NULL)
        return -1;
    struct authn_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->token = malloc(len + 1)) == NULL) {
        free(w);
        return -1;
    }
    if (is->inflight == NULL) {
        if (is->loaded)
            a->stats.kid_refreshes++;
        if (issuer_fetch(is) < 0) {
            free(w->token);
            free(w);
            return -1;
        }
    }
    memcpy(w->token, tok, len);
    w->token[len] = '\0';
    w->toklen = len;
    w->a = authn_ref(a);
    w->issuer = issuer;
    w->req = req;
    w->next = is->waiters;
    if (is->waiters != NULL)
        is->waiters->prev = w;
    is->waiters = w;
    is->nwaiters++;
    http_request_on_close(req, waiter_closed, w);
    return 0;
}

static void issuer_resolve_waiters(struct authn_issuer *is)
{
    struct authn *a = is->a;
    struct authn_waiter *list = is->waiters;
    is->waiters = NULL;
    is->nwaiters = 0;
    while (list != NULL) {
        struct authn_waiter *w = list;
        list = w->next;
        struct http_request *req = w->req;
        http_request_on_close(req, NULL, NULL);
        struct authn_result res;
        memset(&res, 0, sizeof(res));
        if (a->client == NULL && !is->loaded)
            set_result(&res, AUTHN_UNAVAILABLE, "keys_unavailable", "the gateway is shutting down");
        else
            auth_token(a, w->token, w->toklen, false, &res);
        count_result(a, &res);
        bool allow = finish(a, req, &res);
        http_request_auth_done(req, allow);
        waiter_free(w);
    }
}

enum http_auth_verdict authn_http_hook(void *ud, struct http_request *req)
{
    struct authn *a = ud;
    struct authn_result res;
    authenticate(a, http_request_header(req, "Authorization"),
                 http_request_header_count(req, "Authorization"), http_request_query(req), true,
                 &res);
    if (res.status == AUTHN_NEED_KEYS) {
        if (hold(a, req, res.issuer) == 0) {
            a->stats.pending++;
            return HTTP_AUTH_PENDING;
        }
        set_result(&res, AUTHN_UNAVAILABLE, "keys_unavailable",
                   "the issuer's signing keys cannot be fetched now; retry later");
    }
    count_result(a, &res);
    return finish(a, req, &res) ? HTTP_AUTH_ALLOW : HTTP_AUTH_DENY;
}

/* ---- metadata ---- */

size_t authn_prm_paths(const struct authn *a, const char *paths[2])
{
    if (a->prm_doc == NULL)
        return 0;
    for (size_t i = 0; i < a->nprm_path; i++)
        paths[i] = a->prm_path[i];
    return a->nprm_path;
}

int authn_prm_write(const struct authn *a, struct buf *body)
{
    if (a->prm_doc == NULL)
        return -1;
    return buf_append_str(body, a->prm_doc);
}

int authn_prm_handler(void *ud, struct buf *body, const char **content_type)
{
    const struct authn *a = ud;
    if (authn_prm_write(a, body) < 0) {
        buf_append_str(body, "{\"error\":\"not_found\"}");
        *content_type = "application/json";
        return 404;
    }
    *content_type = "application/json";
    return 200;
}

int authn_route_metadata(struct authn *a, struct http_listener *l)
{
    const char *paths[2];
    size_t n = authn_prm_paths(a, paths);
    for (size_t i = 0; i < n; i++)
        if (http_listener_route_simple(l, paths[i], false, authn_prm_handler, a) < 0)
            return -1;
    return 0;
}

/* ---- misc ---- */

struct identity *authn_local_identity(const struct authn *a)
{
    struct identity *id = identity_local_user();
    for (size_t i = 0; id != NULL && a != NULL && i < a->local_roles.n; i++) {
        if (identity_add_role(id, a->local_roles.v[i], strlen(a->local_roles.v[i])) < 0) {
            identity_unref(id);
            return NULL;
        }
    }
    return id;
}

bool authn_anonymous_allowed(const struct authn *a)
{
    return a->anonymous;
}

const char *authn_resource(const struct authn *a)
{
    return a->resource;
}

const char *authn_model_header(const struct authn *a)
{
    if (a == NULL)
        return AUTHN_DEFAULT_MODEL_HEADER;
    return a->model_header[0] != '\0' ? a->model_header : NULL;
}
