#include "policy/credentials.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/json.h"
#include "transport/http_client.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/map.h"
#include "util/timeutil.h"

struct cred_wait {
    struct cred_wait *next, *prev;
    struct cred *c;
    cred_done_fn cb;
    void *ud;
};

struct cc_cfg {
    char *token_url;
    char *client_id;
    struct secret *client_secret;
    char *scope;
    char *resource;
    char *audience;
    char *ca_file;
    bool post_auth; /* client_secret_post */
    uint64_t refresh_before_us;
    uint64_t timeout_us;
    uint64_t retry_after_us;
    uint64_t default_lifetime_us;
};

struct cred {
    struct cred_store *store;
    char *name;
    enum cred_kind kind;
    char *header;
    char *scheme; /* "" for none */
    char *env;
    struct secret *value;    /* static; or per_identity default (may be NULL) */
    struct map per_identity; /* principal -> struct secret * */
    struct cc_cfg cc;
    /* client-credentials runtime */
    struct secret *token;
    uint64_t token_exp;        /* clock µs */
    uint64_t token_refresh_at; /* clock µs: start a background grant from here */
    struct http_creq *inflight;
    struct cred_wait *waiters;
    size_t nwaiters;
    uint64_t failed_at; /* clock µs of the last failure; 0 none */
    char last_error[512];
    struct cred_stats stats;
};

struct cred_store {
    int refs;
    struct cred *creds;
    size_t n;
    struct event_base *base;
    struct http_client *client;
    uint64_t (*clock)(void *ud);
    void *clock_ud;
};

static uint64_t now_us(const struct cred_store *s)
{
    return s->clock ? s->clock(s->clock_ud) : mono_us();
}

/* cfg_err index meaning "the value itself": an element that never exists,
 * so the position falls back to the container's own. */
#define CFG_SELF SIZE_MAX
/* ---- compile ---- */

static bool header_name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return false;
    }
    return true;
}

/* A value that can go in an HTTP header or an environment variable. */
static bool value_ok(const struct secret *s)
{
    size_t n;
    const char *v = secret_value(s, &n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return n > 0;
}

static int cfg_secret(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *o,
                      const char *key, struct secret **out)
{
    int rc = secret_from_cfg(e, doc, o, key, 0, true, out);
    if (rc == 0 && !value_ok(*out)) {
        cfg_err(e, doc, o, key, 0,
                "%s (%s) contains control characters or is empty: it cannot be sent in a "
                "header",
                key, secret_label(*out));
        secret_unref(*out);
        *out = NULL;
        return -1;
    }
    return rc;
}

static int dup_str(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *o,
                   const char *key, char **out)
{
    const char *s;
    int rc = cfg_get_str(e, doc, o, key, &s);
    if (rc == 0 && (*out = strdup(s)) == NULL)
        return -1;
    return rc;
}

static bool url_ok(const char *u)
{
    if (strncmp(u, "https://", 8) == 0)
        return strlen(u) > 8;
    if (strncmp(u, "http://", 7) == 0) {
        const char *h = u + 7;
        return strncmp(h, "127.0.0.1", 9) == 0 || strncmp(h, "localhost", 9) == 0 ||
               strncmp(h, "[::1]", 5) == 0;
    }
    return false;
}

static void compile_cc(struct cred *c, const struct cfg_doc *doc, const json_t *o,
                       struct cfg_errors *e)
{
    static const char *const keys[] = {"token_url",   "client_id",        "client_secret",
                                       "scope",       "resource",         "audience",
                                       "auth_method", "refresh_before",   "timeout",
                                       "retry_after", "default_lifetime", "ca_file",
                                       NULL};
    struct cc_cfg *cc = &c->cc;
    cc->refresh_before_us = 60ull * 1000000u;
    cc->timeout_us = 10ull * 1000000u;
    cc->retry_after_us = 5ull * 1000000u;
    cc->default_lifetime_us = 300ull * 1000000u;
    if (!json_is_object(o)) {
        cfg_err(e, doc, o, NULL, CFG_SELF, "client_credentials must be a mapping");
        return;
    }
    cfg_check_keys(e, doc, o, keys);
    if (dup_str(e, doc, o, "token_url", &cc->token_url) == 1)
        cfg_err(e, doc, o, NULL, CFG_SELF, "client_credentials needs token_url");
    else if (cc->token_url != NULL && !url_ok(cc->token_url))
        cfg_err(e, doc, o, "token_url", 0,
                "token_url must be https (http is accepted for loopback hosts only)");
    if (dup_str(e, doc, o, "client_id", &cc->client_id) == 1)
        cfg_err(e, doc, o, NULL, CFG_SELF, "client_credentials needs client_id");
    if (cfg_secret(e, doc, o, "client_secret", &cc->client_secret) == 1)
        cfg_err(e, doc, o, NULL, CFG_SELF,
                "client_credentials needs client_secret (a ${env:..} or "
                "${file:..} reference)");
    dup_str(e, doc, o, "scope", &cc->scope);
    dup_str(e, doc, o, "resource", &cc->resource);
    dup_str(e, doc, o, "audience", &cc->audience);
    if (dup_str(e, doc, o, "ca_file", &cc->ca_file) == 0 && cc->ca_file[0] != '/' &&
        doc->path != NULL && strrchr(doc->path, '/') != NULL) {
        size_t dl = (size_t)(strrchr(doc->path, '/') - doc->path);
        size_t n = dl + strlen(cc->ca_file) + 2;
        char *p = malloc(n);
        if (p != NULL) {
            snprintf(p, n, "%.*s/%s", (int)dl, doc->path, cc->ca_file);
            free(cc->ca_file);
            cc->ca_file = p;
        }
    }
    const char *m;
    if (cfg_get_str(e, doc, o, "auth_method", &m) == 0) {
        if (strcmp(m, "client_secret_post") == 0)
            cc->post_auth = true;
        else if (strcmp(m, "client_secret_basic") != 0)
            cfg_err(e, doc, o, "auth_method", 0,
                    "auth_method is client_secret_basic or client_secret_post, not '%s'", m);
    }
    uint64_t v;
    if (cfg_get_duration_us(e, doc, o, "refresh_before", 3600ull * 1000000u, &v) == 0)
        cc->refresh_before_us = v;
    if (cfg_get_duration_us(e, doc, o, "timeout", 120ull * 1000000u, &v) == 0) {
        if (v < 100000u)
            cfg_err(e, doc, o, "timeout", 0, "timeout must be at least 100ms");
        cc->timeout_us = v;
    }
    if (cfg_get_duration_us(e, doc, o, "retry_after", 3600ull * 1000000u, &v) == 0)
        cc->retry_after_us = v;
    if (cfg_get_duration_us(e, doc, o, "default_lifetime", 24ull * 3600u * 1000000u, &v) == 0) {
        if (v < 1000000u)
            cfg_err(e, doc, o, "default_lifetime", 0, "default_lifetime must be at least 1s");
        cc->default_lifetime_us = v;
    }
}

static const char *const cred_keys[] = {"value",  "per_identity", "default", "client_credentials",
                                        "header", "scheme",       "env",     NULL};

static void compile_cred(struct cred *c, const struct cfg_doc *doc, const json_t *sec,
                         const char *name, struct cfg_errors *e)
{
    const json_t *o = json_object_get(sec, name);
    map_init(&c->per_identity);
    c->name = strdup(name);
    if (!json_is_object(o)) {
        cfg_err(e, doc, sec, name, 0, "credential '%s' must be a mapping", name);
        return;
    }
    cfg_check_keys(e, doc, o, cred_keys);
    int nsrc = (json_object_get(o, "value") != NULL) +
               (json_object_get(o, "per_identity") != NULL) +
               (json_object_get(o, "client_credentials") != NULL);
    if (nsrc != 1)
        cfg_err(e, doc, sec, name, 0,
                "credential '%s' needs exactly one of value, per_identity, client_credentials",
                name);
    if (dup_str(e, doc, o, "header", &c->header) == 1)
        c->header = strdup("Authorization");
    else if (c->header != NULL && !header_name_ok(c->header))
        cfg_err(e, doc, o, "header", 0, "'%s' is not a valid header name", c->header);
    if (dup_str(e, doc, o, "scheme", &c->scheme) == 1)
        c->scheme = strdup("Bearer");
    else if (c->scheme != NULL && c->scheme[0] != '\0' && !header_name_ok(c->scheme))
        cfg_err(e, doc, o, "scheme", 0, "scheme must be a single token such as Bearer, or \"\"");
    if (dup_str(e, doc, o, "env", &c->env) == 0) {
        bool ok = c->env[0] != '\0' && !(c->env[0] >= '0' && c->env[0] <= '9');
        for (const char *p = c->env; *p; p++)
            ok &= (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
            cfg_err(e, doc, o, "env", 0, "env must be an environment variable name");
    }
    if (json_object_get(o, "default") != NULL && json_object_get(o, "per_identity") == NULL)
        cfg_err(e, doc, o, "default", 0, "default goes with per_identity");
    if (json_object_get(o, "value") != NULL) {
        c->kind = CRED_STATIC;
        cfg_secret(e, doc, o, "value", &c->value);
    } else if (json_object_get(o, "per_identity") != NULL) {
        c->kind = CRED_PER_IDENTITY;
        const json_t *pi = json_object_get(o, "per_identity");
        if (!json_is_object(pi)) {
            cfg_err(e, doc, o, "per_identity", 0,
                    "per_identity maps principals (apikey:NAME, jwt:ISS#SUB) to secrets");
        } else {
            const char *principal;
            const json_t *v;
            (void)v;
            json_object_foreach((json_t *)pi, principal, v)
            {
                struct secret *s = NULL;
                if (strchr(principal, ':') == NULL && strcmp(principal, "anonymous") != 0)
                    cfg_err_key(e, doc, pi, principal,
                                "'%s' is not a principal (apikey:NAME, jwt:ISS#SUB, "
                                "local:USER)",
                                principal);
                if (cfg_secret(e, doc, pi, principal, &s) == 0 &&
                    map_put(&c->per_identity, principal, strlen(principal), s) < 0)
                    secret_unref(s);
            }
        }
        cfg_secret(e, doc, o, "default", &c->value);
    } else if (json_object_get(o, "client_credentials") != NULL) {
        c->kind = CRED_CLIENT_CREDENTIALS;
        compile_cc(c, doc, json_object_get(o, "client_credentials"), e);
    }
}

static void cred_clear(struct cred *c)
{
    free(c->name);
    free(c->header);
    free(c->scheme);
    free(c->env);
    secret_unref(c->value);
    const char *k;
    size_t kl;
    void *v;
    for (size_t it = 0; map_next(&c->per_identity, &it, &k, &kl, &v);)
        secret_unref(v);
    map_free(&c->per_identity);
    free(c->cc.token_url);
    free(c->cc.client_id);
    secret_unref(c->cc.client_secret);
    free(c->cc.scope);
    free(c->cc.resource);
    free(c->cc.audience);
    free(c->cc.ca_file);
    secret_unref(c->token);
}

struct cred_store *cred_compile(const struct cfg_doc *doc, const json_t *sec, struct cfg_errors *e)
{
    size_t nerr = e->n;
    struct cred_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->refs = 1;
    if (sec == NULL)
        return s;
    if (!json_is_object(sec)) {
        cfg_err(e, doc, sec, NULL, CFG_SELF, "credentials must be a mapping of names");
        cred_store_unref(s);
        return NULL;
    }
    size_t n = json_object_size(sec);
    if (n > 0 && (s->creds = calloc(n, sizeof(*s->creds))) == NULL) {
        cred_store_unref(s);
        return NULL;
    }
    const char *name;
    const json_t *v;
    (void)v;
    json_object_foreach((json_t *)sec, name, v)
    {
        struct cred *c = &s->creds[s->n++];
        c->store = s;
        compile_cred(c, doc, sec, name, e);
    }
    if (e->n != nerr) {
        cred_store_unref(s);
        return NULL;
    }
    return s;
}

struct cred_store *cred_store_ref(struct cred_store *s)
{
    if (s != NULL)
        s->refs++;
    return s;
}

void cred_store_unref(struct cred_store *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    cred_store_stop(s);
    for (size_t i = 0; i < s->n; i++)
        cred_clear(&s->creds[i]);
    free(s->creds);
    free(s);
}

int cred_store_start(struct cred_store *s, struct event_base *base, struct http_client *client)
{
    s->base = base;
    s->client = client;
    return 0;
}

static void resolve_waiters(struct cred *c, struct secret *tok, const char *error);

void cred_store_stop(struct cred_store *s)
{
    s->client = NULL;
    s->base = NULL;
    cred_store_ref(s);
    for (size_t i = 0; i < s->n; i++) {
        struct cred *c = &s->creds[i];
        if (c->inflight != NULL) {
            http_creq_cancel(c->inflight);
            c->inflight = NULL;
        }
        resolve_waiters(c, NULL, "the gateway is shutting down");
    }
    s->refs--;
}

void cred_store_set_clock(struct cred_store *s, uint64_t (*fn)(void *ud), void *ud)
{
    s->clock = fn;
    s->clock_ud = ud;
}

static const char *kind_word(enum cred_kind k)
{
    switch (k) {
    case CRED_STATIC:
        return "static";
    case CRED_PER_IDENTITY:
        return "per identity";
    case CRED_CLIENT_CREDENTIALS:
        return "client credentials grant";
    }
    return "?";
}

void cred_store_describe(const struct cred_store *s, void *file)
{
    FILE *f = file;
    for (size_t i = 0; i < s->n; i++) {
        const struct cred *c = &s->creds[i];
        fprintf(f, "credential %s: %s, header %s", c->name, kind_word(c->kind), c->header);
        if (c->env != NULL)
            fprintf(f, ", env %s", c->env);
        if (c->kind == CRED_STATIC)
            fprintf(f, ", from %s", secret_label(c->value));
        else if (c->kind == CRED_PER_IDENTITY)
            fprintf(f, ", %zu identit%s%s", map_size(&c->per_identity),
                    map_size(&c->per_identity) == 1 ? "y" : "ies",
                    c->value ? ", default for others" : ", nobody else");
        else
            fprintf(f, ", %s as client %s", c->cc.token_url, c->cc.client_id);
        fprintf(f, "\n");
    }
}

struct cred *cred_find(const struct cred_store *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->creds[i].name, name) == 0)
            return &s->creds[i];
    return NULL;
}

enum cred_kind cred_kind(const struct cred *c)
{
    return c->kind;
}

const char *cred_name(const struct cred *c)
{
    return c->name;
}

const char *cred_header_name(const struct cred *c)
{
    return c->header;
}

const char *cred_env_name(const struct cred *c)
{
    return c->env;
}

const struct cred_stats *cred_stats(const struct cred *c)
{
    return &c->stats;
}

int cred_header_line(const struct cred *c, const struct secret *tok, struct buf *line)
{
    size_t n;
    const char *v = secret_value(tok, &n);
    if (buf_append_str(line, c->header) < 0 || buf_append(line, ": ", 2) < 0)
        return -1;
    if (c->scheme[0] != '\0' &&
        (buf_append_str(line, c->scheme) < 0 || buf_append_char(line, ' ') < 0))
        return -1;
    if (buf_append(line, v, n) < 0)
        return -1;
    return buf_cstr(line);
}

/* ---- the client-credentials grant ---- */

static void grant_done(void *ud, struct http_creq *r, const struct http_cresult *res);

/* application/x-www-form-urlencoded value encoding (WHATWG URL: space is
 * '+', only [A-Za-z0-9*-._] stay as they are). */
static int form_enc(struct buf *b, const char *v, size_t vlen)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)v[i];
        int rc;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '*')
            rc = buf_append_char(b, (char)ch);
        else if (ch == ' ')
            rc = buf_append_char(b, '+');
        else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = buf_append(b, enc, 3);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int form_add(struct buf *b, const char *k, const char *v, size_t vlen)
{
    if (buf_used(b) > 0 && buf_append_char(b, '&') < 0)
        return -1;
    if (buf_append_str(b, k) < 0 || buf_append_char(b, '=') < 0)
        return -1;
    return form_enc(b, v, vlen);
}

/* Starts the grant. 0, or -1 with c->last_error set. */
static int grant_start(struct cred *c)
{
    struct cred_store *s = c->store;
    struct cc_cfg *cc = &c->cc;
    if (s->client == NULL) {
        snprintf(c->last_error, sizeof(c->last_error),
                 "credential '%s': the token client is not running", c->name);
        return -1;
    }
    struct buf body, basic, user;
    buf_init(&body, 16384);
    buf_init(&basic, 16384);
    buf_init(&user, 16384);
    size_t sl;
    const char *sec = secret_value(cc->client_secret, &sl);
    int rc = form_add(&body, "grant_type", "client_credentials", 18);
    if (cc->scope != NULL)
        rc |= form_add(&body, "scope", cc->scope, strlen(cc->scope));
    if (cc->resource != NULL)
        rc |= form_add(&body, "resource", cc->resource, strlen(cc->resource));
    if (cc->audience != NULL)
        rc |= form_add(&body, "audience", cc->audience, strlen(cc->audience));
    const char *hdrs[4] = {"Content-Type: application/x-www-form-urlencoded",
                           "Accept: application/json", NULL, NULL};
    if (cc->post_auth) {
        rc |= form_add(&body, "client_id", cc->client_id, strlen(cc->client_id));
        rc |= form_add(&body, "client_secret", sec, sl);
    } else {
        /* RFC 6749 §2.3.1: id and secret are form-encoded, then Basic. */
        rc |= form_enc(&user, cc->client_id, strlen(cc->client_id));
        rc |= buf_append_char(&user, ':');
        rc |= form_enc(&user, sec, sl);
        char enc[16384];
        long el = rc == 0 ? b64_encode((const uint8_t *)buf_head(&user), buf_used(&user), enc,
                                       sizeof(enc))
                          : -1;
        if (el < 0)
            rc = -1;
        else
            rc |= buf_printf(&basic, "Authorization: Basic %s", enc);
        secret_wipe(enc, sizeof(enc));
        hdrs[2] = buf_head(&basic);
    }
    if (rc != 0) {
        snprintf(c->last_error, sizeof(c->last_error), "credential '%s': token request too large",
                 c->name);
        goto out;
    }
    uint64_t to_ms = cc->timeout_us / 1000u;
    struct http_creq_opts o = {
        .method = "POST",
        .url = cc->token_url,
        .headers = hdrs,
        .body = buf_head(&body),
        .body_len = buf_used(&body),
        .connect_timeout_ms = (uint32_t)to_ms,
        .total_timeout_ms = (uint32_t)to_ms,
        .max_body = CRED_MAX_TOKEN_BODY,
        .ca_file = cc->ca_file,
    };
    static const struct http_creq_cbs cbs = {.on_done = grant_done};
    char err[256];
    c->stats.grants++;
    c->inflight = http_client_start(s->client, &o, &cbs, c, err, sizeof(err));
    if (c->inflight == NULL) {
        snprintf(c->last_error, sizeof(c->last_error),
                 "credential '%s': cannot start the token request: %s", c->name, err);
        rc = -1;
    }
out:
    buf_wipe_free(&body);
    buf_wipe_free(&basic);
    buf_wipe_free(&user);
    return rc == 0 ? 0 : -1;
}

static void resolve_waiters(struct cred *c, struct secret *tok, const char *error)
{
    struct cred_wait *list = c->waiters;
    c->waiters = NULL;
    c->nwaiters = 0;
    while (list != NULL) {
        struct cred_wait *w = list;
        list = w->next;
        w->cb(w->ud, tok ? secret_ref(tok) : NULL, error);
        free(w);
    }
}

/* A safe OAuth error code from a token endpoint's error body, or "". */
static void oauth_error_code(const char *body, size_t len, char *out, size_t outsz)
{
    out[0] = '\0';
    struct json_err je;
    struct json_limits lim = {.max_bytes = CRED_MAX_TOKEN_BODY,
                              .max_depth = 4,
                              .max_string = 4096,
                              .max_members = 64,
                              .max_items = 64};
    json_t *v = body ? json_parse_strict(body, len, &lim, &je) : NULL;
    const char *e = json_string_value(json_object_get(v, "error"));
    if (e != NULL && strlen(e) < outsz && strlen(e) <= 40) {
        bool ok = true;
        for (const char *p = e; *p; p++)
            ok &= (*p >= 'a' && *p <= 'z') || *p == '_';
        if (ok)
            snprintf(out, outsz, "%s", e);
    }
    json_decref(v);
}

static void grant_failed(struct cred *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void grant_failed(struct cred *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->last_error, sizeof(c->last_error), "credential '%s': %s", c->name, msg);
    c->failed_at = now_us(c->store);
    if (c->failed_at == 0)
        c->failed_at = 1;
    c->stats.grant_failures++;
    log_warnx("auth: %s", c->last_error);
}

static void grant_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)r;
    struct cred *c = ud;
    struct cred_store *s = c->store;
    c->inflight = NULL;
    json_t *v = NULL;
    struct secret *tok = NULL;
    if (res->err != HTTP_CE_OK) {
        grant_failed(c, "token request failed: %s", http_cerr_name(res->err));
        goto out;
    }
    if (res->status != 200) {
        char code[48];
        oauth_error_code(res->body, res->body_len, code, sizeof(code));
        grant_failed(c, "token endpoint answered %ld%s%s%s", res->status, code[0] ? " (" : "", code,
                     code[0] ? ")" : "");
        goto out;
    }
    struct json_err je;
    struct json_limits lim = {.max_bytes = CRED_MAX_TOKEN_BODY,
                              .max_depth = 8,
                              .max_string = 32768,
                              .max_members = 64,
                              .max_items = 256};
    v = res->body ? json_parse_strict(res->body, res->body_len, &lim, &je) : NULL;
    const json_t *at = json_object_get(v, "access_token");
    const char *tt = json_string_value(json_object_get(v, "token_type"));
    if (!json_is_object(v) || !json_is_string(at) || json_string_length(at) == 0) {
        grant_failed(c, "token response without access_token");
        goto out;
    }
    if (tt == NULL || strcasecmp(tt, "Bearer") != 0) {
        grant_failed(c, "token response with token_type other than Bearer");
        goto out;
    }
    char label[160];
    snprintf(label, sizeof(label), "token from grant '%s'", c->name);
    tok = secret_new(json_string_value(at), json_string_length(at), label);
    if (tok == NULL || !value_ok(tok)) {
        grant_failed(c, "token response with an unusable access_token");
        goto out;
    }
    uint64_t life = c->cc.default_lifetime_us;
    const json_t *ei = json_object_get(v, "expires_in");
    if (json_is_integer(ei) && json_integer_value(ei) > 0 &&
        json_integer_value(ei) < 10ll * 365 * 86400)
        life = (uint64_t)json_integer_value(ei) * 1000000u;
    else if (ei != NULL) {
        grant_failed(c, "token response with an invalid expires_in");
        goto out;
    }
    uint64_t now = now_us(s);
    uint64_t before = c->cc.refresh_before_us < life / 2 ? c->cc.refresh_before_us : life / 2;
    secret_unref(c->token);
    c->token = secret_ref(tok);
    c->token_exp = now + life;
    c->token_refresh_at = now + life - before;
    c->failed_at = 0;
    c->last_error[0] = '\0';
    log_info("auth: credential '%s': token obtained, valid %llus", c->name,
             (unsigned long long)(life / 1000000u));
out:
    json_decref(v);
    cred_store_ref(s);
    if (c->failed_at != 0 || tok == NULL)
        resolve_waiters(c, NULL, c->last_error[0] ? c->last_error : "token request failed");
    else
        resolve_waiters(c, tok, NULL);
    secret_unref(tok);
    cred_store_unref(s);
}

#define CRED_MIN_VALIDITY_US (5ull * 1000000u)

static int acquire_cc(struct cred *c, cred_done_fn cb, void *ud, struct secret **out,
                      struct cred_wait **wout, char *err, size_t errlen)
{
    uint64_t now = now_us(c->store);
    bool usable = c->token != NULL && now + CRED_MIN_VALIDITY_US < c->token_exp;
    bool backoff = c->failed_at != 0 && now - c->failed_at < c->cc.retry_after_us;
    if (usable) {
        /* Refresh in the background once the token nears expiry. */
        if (now >= c->token_refresh_at && c->inflight == NULL && !backoff)
            grant_start(c);
        c->stats.cache_hits++;
        *out = secret_ref(c->token);
        return 0;
    }
    if (c->inflight == NULL) {
        if (backoff) {
            snprintf(err, errlen, "%s", c->last_error);
            return -1;
        }
        if (grant_start(c) < 0) {
            snprintf(err, errlen, "%s", c->last_error);
            return -1;
        }
    }
    if (c->nwaiters >= CRED_MAX_WAITERS) {
        snprintf(err, errlen, "credential '%s': too many requests waiting for a token", c->name);
        return -1;
    }
    struct cred_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->c = c;
    w->cb = cb;
    w->ud = ud;
    w->next = c->waiters;
    if (c->waiters != NULL)
        c->waiters->prev = w;
    c->waiters = w;
    c->nwaiters++;
    c->stats.waits++;
    *wout = w;
    return 1;
}

int cred_acquire(struct cred *c, const struct identity *id, cred_done_fn cb, void *ud,
                 struct secret **out, struct cred_wait **w, char *err, size_t errlen)
{
    *out = NULL;
    if (w != NULL)
        *w = NULL;
    switch (c->kind) {
    case CRED_STATIC:
        *out = secret_ref(c->value);
        return 0;
    case CRED_PER_IDENTITY: {
        struct secret *s = NULL;
        if (id != NULL)
            s = map_get(&c->per_identity, id->principal, strlen(id->principal));
        if (s == NULL)
            s = c->value;
        if (s == NULL) {
            snprintf(err, errlen, "no credential '%s' for %s", c->name,
                     id ? id->principal : "an unauthenticated caller");
            return -1;
        }
        *out = secret_ref(s);
        return 0;
    }
    case CRED_CLIENT_CREDENTIALS: {
        struct cred_wait *dummy;
        return acquire_cc(c, cb, ud, out, w ? w : &dummy, err, errlen);
    }
    }
    snprintf(err, errlen, "unknown credential kind");
    return -1;
}

void cred_wait_cancel(struct cred_wait *w)
{
    if (w == NULL)
        return;
    struct cred *c = w->c;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        c->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    c->nwaiters--;
    free(w);
}

/* ---- headers toward upstreams ---- */

static bool line_named(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0)
        return false;
    const char *p = line + n;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == ':';
}

static bool line_safe(const char *line, const char *tok, size_t toklen)
{
    if (strpbrk(line, "\r\n") != NULL)
        return false;
    if (tok != NULL && toklen > 0 && memmem(line, strlen(line), tok, toklen) != NULL)
        return false;
    return true;
}

static int push(char ***v, size_t *n, const char *line)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    *v = nv;
    if ((nv[*n] = strdup(line)) == NULL)
        return -1;
    (*n)++;
    nv[*n] = NULL;
    return 0;
}

char **cred_upstream_headers(const char *const *configured, const char *const *passthrough,
                             const char *cred_line, const char *client_token,
                             size_t client_token_len)
{
    char **v = calloc(1, sizeof(*v));
    size_t n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; configured != NULL && configured[i] != NULL; i++) {
        const char *l = configured[i];
        if (cred_line != NULL && line_named(l, "Authorization"))
            continue;
        if (line_safe(l, client_token, client_token_len) && push(&v, &n, l) < 0)
            goto fail;
    }
    for (size_t i = 0; passthrough != NULL && passthrough[i] != NULL; i++) {
        const char *l = passthrough[i];
        if (line_named(l, "Authorization") || line_named(l, "Proxy-Authorization") ||
            line_named(l, "Cookie"))
            continue;
        if (line_safe(l, client_token, client_token_len) && push(&v, &n, l) < 0)
            goto fail;
    }
    if (cred_line != NULL && line_safe(cred_line, client_token, client_token_len) &&
        push(&v, &n, cred_line) < 0)
        goto fail;
    return v;
fail:
    cred_headers_free(v);
    return NULL;
}

void cred_headers_free(char **h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; h[i] != NULL; i++) {
        secret_wipe(h[i], strlen(h[i]));
        free(h[i]);
    }
    free(h);
}
