/* srvconfig.c - the serve part of the configuration: listen, admin,
 * servers, separator, namespacing (see gwconfig.h and docs/config.md). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gwconfig.h"
#include "guard/redact.h"
#include "gateway/srvconfig.h"
#include "policy/credentials.h"
#include "policy/secrets.h"
#include "sandbox/sandbox.h"
#include "util/str.h"

#define MAX_SERVERS 64

static void strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++) {
        explicit_bzero(*p, strlen(*p));
        free(*p);
    }
    free(v);
}

static char **strv_from_list(const json_t *list)
{
    size_t n = json_array_size(list);
    char **v = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; v != NULL && i < n; i++)
        v[i] = strdup(json_string_value(json_array_get(list, i)));
    return v;
}

void srvconfig_free(struct gw_config *c)
{
    for (size_t i = 0; i < c->nservers; i++) {
        struct gw_server *s = &c->servers[i];
        free(s->name);
        strv_free(s->argv);
        strv_free(s->env);
        free(s->cwd);
        free(s->url);
        strv_free(s->headers);
        for (size_t k = 0; k < s->nsecrets; k++)
            secret_unref(s->secrets[k]);
        free(s->secrets);
        free(s->credential);
        policy_unref(s->policy);
        gw_results_unref(s->results);
        sandbox_free(s->sandbox);
    }
    free(c->servers);
    c->servers = NULL;
    c->nservers = 0;
    struct gw_listen *ls[] = {&c->listen, &c->admin};
    for (size_t i = 0; i < 2; i++) {
        free(ls[i]->host);
        free(ls[i]->tls_cert);
        free(ls[i]->tls_key);
        free(ls[i]->path);
        strv_free(ls[i]->allowed_hosts);
        strv_free(ls[i]->allowed_origins);
        memset(ls[i], 0, sizeof(*ls[i]));
    }
}

bool srvconfig_name_ok(const char *n, size_t len)
{
    if (len == 0 || len > 32 || n[0] < 'a' || n[0] > 'z')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '-'))
            return false;
    return true;
}

/* "host:port", "[v6]:port" or ":port". */
int srvconfig_parse_hostport(const char *s, char **host, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return -1;
    uint64_t p;
    if (parse_u64(colon + 1, 65535, &p) < 0)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    *host = hl > 0 ? str_memdup(s, hl) : strdup("127.0.0.1");
    *port = (uint16_t)p;
    return 0;
}

static void compile_listen(const struct cfg_doc *doc, const json_t *root, const char *key,
                           struct gw_listen *l, struct cfg_errors *errs)
{
    static const char *const keys[] = {"address", "host", "port", "tls_cert", "tls_key",
                                       "allowed_hosts", "allowed_origins", "path", NULL};
    json_t *sec;
    if (cfg_get_obj(errs, doc, root, key, &sec) != 0)
        return;
    l->set = true;
    cfg_check_keys(errs, doc, sec, keys);
    const char *s;
    uint64_t port;
    if (cfg_get_str(errs, doc, sec, "address", &s) == 0 &&
        srvconfig_parse_hostport(s, &l->host, &l->port) < 0)
        cfg_err(errs, doc, sec, "address", 0, "address must be HOST:PORT, such as 127.0.0.1:8080");
    if (cfg_get_str(errs, doc, sec, "host", &s) == 0) {
        free(l->host);
        l->host = strdup(s);
    }
    if (cfg_get_uint(errs, doc, sec, "port", 65535, &port) == 0)
        l->port = (uint16_t)port;
    if (cfg_get_str(errs, doc, sec, "tls_cert", &s) == 0)
        l->tls_cert = strdup(s);
    if (cfg_get_str(errs, doc, sec, "tls_key", &s) == 0)
        l->tls_key = strdup(s);
    if ((l->tls_cert == NULL) != (l->tls_key == NULL))
        cfg_err(errs, doc, root, key, 0, "TLS needs both tls_cert and tls_key");
    if (cfg_get_str(errs, doc, sec, "path", &s) == 0) {
        if (s[0] != '/')
            cfg_err(errs, doc, sec, "path", 0, "path must start with '/'");
        l->path = strdup(s);
    }
    json_t *list;
    if (cfg_get_str_list(errs, doc, sec, "allowed_hosts", &list) == 0) {
        l->allowed_hosts = strv_from_list(list);
        json_decref(list);
    }
    if (cfg_get_str_list(errs, doc, sec, "allowed_origins", &list) == 0) {
        l->allowed_origins = strv_from_list(list);
        json_decref(list);
    }
}

/* "NAME<sep>value" for an env or headers entry whose value may hold
 * ${env:..}/${file:..} references (plain values are allowed: these are not
 * secret fields). A resolved reference stays registered (out->secrets) so the
 * log scrubber blanks it. NULL after reporting. */
static char *srv_value_line(const struct cfg_doc *doc, const json_t *obj, const char *k,
                            const char *sep, struct gw_server *out, struct cfg_errors *errs)
{
    const char *raw = json_string_value(json_object_get(obj, k));
    struct secret *sv = NULL;
    if (secret_from_cfg(errs, doc, obj, k, 0, false, &sv) != 0)
        return NULL;
    size_t vl;
    const char *v = secret_value(sv, &vl);
    struct buf line;
    buf_init(&line, strlen(k) + vl + 8);
    char *res = NULL;
    if (buf_printf(&line, "%s%s", k, sep) == 0 && buf_append(&line, v, vl) == 0 &&
        buf_cstr(&line) == 0)
        res = strdup(buf_head(&line));
    buf_wipe_free(&line);
    struct secret **ns = NULL;
    if (raw != NULL && secret_has_ref(raw) && res != NULL &&
        (ns = realloc(out->secrets, (out->nsecrets + 1) * sizeof(*ns))) != NULL) {
        out->secrets = ns;
        out->secrets[out->nsecrets++] = sv;
        sv = NULL;
    }
    secret_unref(sv);
    return res;
}

static void compile_server(const struct cfg_doc *doc, const json_t *servers, const char *name,
                           const json_t *sec, struct gw_config *c, struct gw_server *out,
                           struct cfg_errors *errs)
{
    static const char *const keys[] = {"command", "args",    "env",     "cwd",
                                       "url",     "headers", "timeout", "policy",
                                       "results", "sandbox", "credential", NULL};
    memset(out, 0, sizeof(*out));
    out->name = strdup(name);
    if (!srvconfig_name_ok(name, strlen(name)))
        cfg_err_key(errs, doc, servers, name,
                    "server name '%s' must be lowercase letters, digits and '-', starting with a "
                    "letter, at most 32 characters",
                    name);
    if (!json_is_object(sec)) {
        cfg_err(errs, doc, servers, name, 0, "server '%s' must be a mapping", name);
        return;
    }
    cfg_check_keys(errs, doc, sec, keys);
    const char *cmd = NULL, *url = NULL, *cwd = NULL;
    cfg_get_str(errs, doc, sec, "command", &cmd);
    cfg_get_str(errs, doc, sec, "url", &url);
    if ((cmd == NULL) == (url == NULL))
        cfg_err(errs, doc, servers, name, 0,
                "server '%s' needs exactly one of 'command' (a stdio server) or 'url' (a "
                "Streamable HTTP server)",
                name);
    if (cmd != NULL) {
        json_t *args = NULL;
        if (cfg_get_str_list(errs, doc, sec, "args", &args) < 0)
            args = NULL;
        size_t n = json_array_size(args);
        out->argv = calloc(n + 2, sizeof(char *));
        out->argv[0] = strdup(cmd);
        for (size_t i = 0; i < n; i++)
            out->argv[i + 1] = strdup(json_string_value(json_array_get(args, i)));
        json_decref(args);
    } else if (json_object_get(sec, "args") != NULL) {
        cfg_err(errs, doc, sec, "args", 0, "'args' belongs with 'command'");
    }
    if (url != NULL) {
        if (!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://"))
            cfg_err(errs, doc, sec, "url", 0, "url must be http:// or https://");
        out->url = strdup(url);
    }
    if (cfg_get_str(errs, doc, sec, "cwd", &cwd) == 0)
        out->cwd = strdup(cwd);
    json_t *env;
    if (cfg_get_obj(errs, doc, sec, "env", &env) == 0) {
        out->env = calloc(json_object_size(env) + 1, sizeof(char *));
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v) {
            if (!json_is_string(v) || strchr(k, '=') != NULL || k[0] == '\0') {
                cfg_err(errs, doc, env, k, 0, "env entries are NAME: \"value\" strings");
                continue;
            }
            if ((out->env[i] = srv_value_line(doc, env, k, "=", out, errs)) != NULL)
                i++;
        }
    }
    json_t *hdr;
    if (cfg_get_obj(errs, doc, sec, "headers", &hdr) == 0) {
        if (url == NULL)
            cfg_err(errs, doc, sec, "headers", 0, "'headers' belong with 'url'");
        out->headers = calloc(json_object_size(hdr) + 1, sizeof(char *));
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(hdr, k, v) {
            bool ok = json_is_string(v) && k[0] != '\0';
            for (const char *p = k; ok && *p; p++)
                ok = isalnum((unsigned char)*p) || strchr("-_", *p) != NULL;
            if (!ok) {
                cfg_err(errs, doc, hdr, k, 0,
                        "headers are Name: \"value\" with a token name and no control characters");
                continue;
            }
            char *line = srv_value_line(doc, hdr, k, ": ", out, errs);
            for (const char *p = line != NULL ? line : ""; ok && *p; p++)
                ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
            if (!ok) {
                /* The resolved value may be a secret: the message names the key only. */
                cfg_err(errs, doc, hdr, k, 0,
                        "headers are Name: \"value\" with a token name and no control characters");
                explicit_bzero(line, strlen(line));
                free(line);
                continue;
            }
            if (line != NULL)
                out->headers[i++] = line;
        }
    }
    const char *cred;
    if (cfg_get_str(errs, doc, sec, "credential", &cred) == 0) {
        if (c->creds != NULL && cred_find(c->creds, cred) == NULL) /* NULL: reported */
            cfg_err(errs, doc, sec, "credential", 0,
                    "no credential named '%s' in the credentials: section", cred);
        out->credential = strdup(cred);
        if (url == NULL && c->creds != NULL && cred_find(c->creds, cred) != NULL &&
            cred_env_name(cred_find(c->creds, cred)) == NULL)
            cfg_err(errs, doc, sec, "credential", 0,
                    "credential '%s' has no 'env': a stdio server gets its credential as an "
                    "environment variable, so the credential needs env: NAME",
                    cred);
    }
    cfg_get_duration_us(errs, doc, sec, "timeout", 24ull * 3600u * 1000000u, &out->timeout_us);
    json_t *pol;
    if (cfg_get_obj(errs, doc, sec, "policy", &pol) == 0)
        out->policy = policy_compile(doc, pol, errs);
    else
        out->policy = policy_ref(c->policy);
    json_t *res;
    if (cfg_get_obj(errs, doc, sec, "results", &res) == 0)
        out->results = gw_results_new(result_guard_compile_over(doc, res, c->results->g, errs));
    else
        out->results = gw_results_ref(c->results);
    const json_t *sb = json_object_get(sec, "sandbox");
    if (sb != NULL) {
        if (cmd == NULL)
            cfg_err(errs, doc, sec, "sandbox", 0, "'sandbox' applies to stdio servers (command)");
        else
            out->sandbox = sandbox_compile(doc, sb, errs);
    }
}

void srvconfig_compile(const struct cfg_doc *doc, struct gw_config *c, struct cfg_errors *errs)
{
    const json_t *root = doc->root;
    compile_listen(doc, root, "listen", &c->listen, errs);
    compile_listen(doc, root, "admin", &c->admin, errs);
    const char *s;
    if (cfg_get_str(errs, doc, root, "separator", &s) == 0) {
        size_t n = strlen(s);
        bool ok = n > 0 && n < sizeof(c->separator);
        for (size_t i = 0; ok && i < n; i++)
            ok = !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-') &&
                 (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f;
        if (!ok)
            cfg_err(errs, doc, root, "separator", 0,
                    "separator must be 1-7 visible characters that cannot appear in a server "
                    "name (not a-z, 0-9 or '-'), such as \"__\" or \".\"");
        else
            str_copy(c->separator, s, sizeof(c->separator));
    }
    if (cfg_get_str(errs, doc, root, "namespacing", &s) == 0) {
        if (strcmp(s, "auto") == 0)
            c->namespacing = GW_NS_AUTO;
        else if (strcmp(s, "always") == 0)
            c->namespacing = GW_NS_ALWAYS;
        else if (strcmp(s, "never") == 0)
            c->namespacing = GW_NS_NEVER;
        else
            cfg_err(errs, doc, root, "namespacing", 0, "namespacing must be auto, always or never");
    }
    json_t *servers;
    if (cfg_get_obj(errs, doc, root, "servers", &servers) != 0)
        return;
    if (json_object_size(servers) > MAX_SERVERS) {
        cfg_err(errs, doc, root, "servers", 0, "at most %d servers", MAX_SERVERS);
        return;
    }
    c->servers = calloc(json_object_size(servers) + 1, sizeof(*c->servers));
    const char *name;
    json_t *sec;
    json_object_foreach(servers, name, sec) {
        compile_server(doc, servers, name, sec, c, &c->servers[c->nservers], errs);
        c->nservers++;
    }
    if (c->namespacing == GW_NS_NEVER && c->nservers > 1)
        cfg_err(errs, doc, root, "namespacing", 0,
                "namespacing: never needs a single server (names of several could collide)");
}

int gwconfig_add_server(struct gw_config *c, const char *name, const char *url,
                        char *const *argv, char *err, size_t errlen)
{
    if (!srvconfig_name_ok(name, strlen(name))) {
        snprintf(err, errlen,
                 "server name '%s' must be lowercase letters, digits and '-', starting with a "
                 "letter",
                 name);
        return -1;
    }
    if (gwconfig_server(c, name, strlen(name)) != NULL) {
        snprintf(err, errlen, "server '%s' is given twice", name);
        return -1;
    }
    if (c->nservers >= MAX_SERVERS) {
        snprintf(err, errlen, "at most %d servers", MAX_SERVERS);
        return -1;
    }
    struct gw_server *ns = realloc(c->servers, (c->nservers + 2) * sizeof(*ns));
    if (ns == NULL)
        return -1;
    c->servers = ns;
    struct gw_server *s = &c->servers[c->nservers];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    if (url != NULL) {
        if (!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://")) {
            snprintf(err, errlen, "upstream '%s': url must be http:// or https://", name);
            free(s->name);
            return -1;
        }
        s->url = strdup(url);
    } else {
        size_t n = 0;
        while (argv[n] != NULL)
            n++;
        if (n == 0) {
            snprintf(err, errlen, "upstream '%s': empty command", name);
            free(s->name);
            return -1;
        }
        s->argv = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            s->argv[i] = strdup(argv[i]);
    }
    s->policy = policy_ref(c->policy);
    s->results = gw_results_ref(c->results);
    c->nservers++;
    return 0;
}

bool gwconfig_namespaced(const struct gw_config *c)
{
    switch (c->namespacing) {
    case GW_NS_ALWAYS: return true;
    case GW_NS_NEVER: return false;
    default: return c->nservers > 1;
    }
}

const struct gw_server *gwconfig_server(const struct gw_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nservers; i++)
        if (strlen(c->servers[i].name) == len && memcmp(c->servers[i].name, name, len) == 0)
            return &c->servers[i];
    return NULL;
}
