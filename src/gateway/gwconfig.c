#include "gateway/gwconfig.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/srvconfig.h"
#include "guard/args.h"
#include "guard/redact.h"
#include "policy/authn.h"
#include "policy/credentials.h"
#include "policy/pins.h"
#include "policy/ratelimit.h"
#include "sandbox/sandbox.h"
#include "util/str.h"

static void limits_default(struct gw_limits *l)
{
    l->json = json_default_limits;
    l->request_timeout_us = 300u * 1000000u;
    l->queue_bytes = 4u * 1024u * 1024u;
    l->max_inflight = 1024;
    l->shutdown_grace_us = 5u * 1000000u;
}

static struct gw_config *config_new(void)
{
    struct gw_config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->refs = 1;
    limits_default(&c->limits);
    c->audit.enabled = true;
    c->audit.flush_interval_us = 10000;
    c->audit.notifications = GW_AUDIT_NOTIF_DENIED;
    c->log_level = LOG_LVL_INFO;
    memcpy(c->separator, "__", 3);
    return c;
}

struct gw_results *gw_results_new(struct result_guard *g)
{
    if (g == NULL)
        return NULL;
    struct gw_results *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        result_guard_free(g);
        return NULL;
    }
    r->refs = 1;
    r->g = g;
    return r;
}

struct gw_results *gw_results_ref(struct gw_results *r)
{
    if (r != NULL)
        r->refs++;
    return r;
}

void gw_results_unref(struct gw_results *r)
{
    if (r == NULL || --r->refs > 0)
        return;
    result_guard_free(r->g);
    free(r);
}

struct gw_config *gwconfig_ref(struct gw_config *c)
{
    if (c != NULL)
        c->refs++;
    return c;
}

void gwconfig_free(struct gw_config *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    free(c->path);
    free(c->audit.file);
    srvconfig_free(c);
    policy_unref(c->policy);
    gw_results_unref(c->results);
    pins_free(c->pins.lock);
    rl_config_free(c->rate_limits);
    free(c->pins.path);
    free(c->pins.server);
    sandbox_free(c->sandbox);
    authn_unref(c->authn);
    cred_store_unref(c->creds);
    free(c);
}

struct gw_config *gwconfig_default(void)
{
    struct gw_config *c = config_new();
    if (c == NULL)
        return NULL;
    c->policy = policy_allow_all();
    c->results = gw_results_new(result_guard_compile(NULL, NULL, NULL));
    c->rate_limits = ratelimit_compile(NULL, NULL, NULL);
    if (c->policy == NULL || c->results == NULL || c->rate_limits == NULL) {
        gwconfig_free(c);
        return NULL;
    }
    return c;
}

static void compile_limits(const struct cfg_doc *doc, const json_t *sec, struct gw_limits *l,
                           struct cfg_errors *errs)
{
    static const char *const keys[] = {"max_message_bytes", "max_depth", "max_string_bytes",
                                       "max_members", "max_items", "request_timeout",
                                       "queue_bytes", "max_inflight", "shutdown_grace", NULL};
    uint64_t v;
    cfg_check_keys(errs, doc, sec, keys);
    if (cfg_get_size(errs, doc, sec, "max_message_bytes", 256u * 1024u * 1024u, &v) == 0) {
        if (v < 1024)
            cfg_err(errs, doc, sec, "max_message_bytes", 0, "max_message_bytes must be at least 1KiB");
        l->json.max_bytes = (size_t)v;
    }
    if (cfg_get_uint(errs, doc, sec, "max_depth", JSON_HARD_MAX_DEPTH, &v) == 0) {
        if (v < 4)
            cfg_err(errs, doc, sec, "max_depth", 0, "max_depth must be at least 4");
        l->json.max_depth = (size_t)v;
    }
    if (cfg_get_size(errs, doc, sec, "max_string_bytes", 256u * 1024u * 1024u, &v) == 0)
        l->json.max_string = (size_t)v;
    if (cfg_get_uint(errs, doc, sec, "max_members", 10000000, &v) == 0)
        l->json.max_members = (size_t)v;
    if (cfg_get_uint(errs, doc, sec, "max_items", 100000000, &v) == 0)
        l->json.max_items = (size_t)v;
    if (cfg_get_duration_us(errs, doc, sec, "request_timeout", 24ull * 3600u * 1000000u, &v) == 0)
        l->request_timeout_us = v;
    if (cfg_get_size(errs, doc, sec, "queue_bytes", 1024u * 1024u * 1024u, &v) == 0) {
        if (v < 65536)
            cfg_err(errs, doc, sec, "queue_bytes", 0, "queue_bytes must be at least 64KiB");
        l->queue_bytes = (size_t)v;
    }
    if (cfg_get_uint(errs, doc, sec, "max_inflight", 1000000, &v) == 0) {
        if (v == 0)
            cfg_err(errs, doc, sec, "max_inflight", 0, "max_inflight must be at least 1");
        l->max_inflight = (size_t)v;
    }
    if (cfg_get_duration_us(errs, doc, sec, "shutdown_grace", 600ull * 1000000u, &v) == 0)
        l->shutdown_grace_us = v;
}

static void compile_audit(const struct cfg_doc *doc, const json_t *sec, struct gw_audit_cfg *a,
                          struct cfg_errors *errs)
{
    static const char *const keys[] = {"enabled", "file", "fsync", "flush_interval",
                                       "notifications", NULL};
    const char *s;
    cfg_check_keys(errs, doc, sec, keys);
    cfg_get_bool(errs, doc, sec, "enabled", &a->enabled);
    cfg_get_bool(errs, doc, sec, "fsync", &a->fsync);
    cfg_get_duration_us(errs, doc, sec, "flush_interval", 10u * 1000000u, &a->flush_interval_us);
    if (cfg_get_str(errs, doc, sec, "file", &s) == 0) {
        if (s[0] == '\0')
            cfg_err(errs, doc, sec, "file", 0, "audit file must not be empty");
        else
            a->file = strdup(s);
    }
    if (cfg_get_str(errs, doc, sec, "notifications", &s) == 0) {
        if (strcmp(s, "all") == 0)
            a->notifications = GW_AUDIT_NOTIF_ALL;
        else if (strcmp(s, "denied") == 0)
            a->notifications = GW_AUDIT_NOTIF_DENIED;
        else
            cfg_err(errs, doc, sec, "notifications", 0,
                    "notifications must be 'denied' or 'all', not '%s'", s);
    }
}

const char *gw_pin_action_name(enum gw_pin_action a)
{
    return a == GW_PIN_BLOCK ? "block" : a == GW_PIN_WARN ? "warn" : "allow";
}

static int pin_action(const struct cfg_doc *doc, const json_t *sec, const char *key,
                      bool allow_ok, enum gw_pin_action *out, struct cfg_errors *errs)
{
    const char *s;
    if (cfg_get_str(errs, doc, sec, key, &s) != 0)
        return 0;
    if (strcmp(s, "block") == 0)
        *out = GW_PIN_BLOCK;
    else if (strcmp(s, "warn") == 0)
        *out = GW_PIN_WARN;
    else if (allow_ok && strcmp(s, "allow") == 0)
        *out = GW_PIN_ALLOW;
    else
        cfg_err(errs, doc, sec, key, 0, "%s must be %s, not '%s'", key,
                allow_ok ? "allow, warn or block" : "block or warn", s);
    return 0;
}

/* pins: {file, server, on_change, on_new}. The lockfile is loaded now, so
 * `mcpwall check` reports a missing or broken one. */
static void compile_pins(const struct cfg_doc *doc, const json_t *sec, struct gw_pins_cfg *p,
                         struct cfg_errors *errs)
{
    static const char *const keys[] = {"file", "server", "on_change", "on_new", NULL};
    cfg_check_keys(errs, doc, sec, keys);
    p->on_change = GW_PIN_BLOCK;
    p->on_new = GW_PIN_ALLOW;
    pin_action(doc, sec, "on_change", false, &p->on_change, errs);
    pin_action(doc, sec, "on_new", true, &p->on_new, errs);
    const char *server;
    if (cfg_get_str(errs, doc, sec, "server", &server) == 0)
        p->server = strdup(server);
    const char *file;
    int rc = cfg_get_str(errs, doc, sec, "file", &file);
    if (rc == 1) {
        cfg_err(errs, doc, NULL, "pins", 0, "pins needs 'file': the lockfile written by "
                "mcpwall scan --pin (e.g. file: mcpwall.lock)");
        return;
    }
    if (rc != 0)
        return;
    /* Relative to the configuration file's folder. */
    char path[4096];
    const char *slash = doc->path != NULL ? strrchr(doc->path, '/') : NULL;
    if (file[0] != '/' && slash != NULL)
        snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - doc->path), doc->path, file);
    else
        snprintf(path, sizeof(path), "%s", file);
    p->path = strdup(path);
    struct pins_err pe;
    p->lock = pins_load(path, &pe);
    if (p->lock == NULL)
        cfg_err(errs, doc, sec, "file", 0, "cannot use the lockfile: %s (write it with mcpwall "
                "scan --pin --lock %s ...)", pe.msg, file);
}

struct gw_config *gwconfig_compile(const struct cfg_doc *doc, struct cfg_errors *errs)
{
    static const char *const keys[] = {"version", "log",     "limits",    "audit",
                                       "policy",  "results", "pins",      "rate_limits", "sandbox",
                                       "listen",
                                       "admin",   "servers", "separator", "namespacing",
                                       "auth",    "credentials", NULL};
    size_t nerr = errs->n;
    struct gw_config *c = config_new();
    if (c == NULL)
        return NULL;
    c->path = strdup(doc->path);
    json_t *root = doc->root;
    if (!json_is_object(root)) {
        cfg_err(errs, doc, NULL, NULL, 0, "the configuration must be a mapping");
        goto fail;
    }
    cfg_check_keys(errs, doc, root, keys);
    uint64_t version;
    int rc = cfg_get_uint(errs, doc, root, "version", 1000, &version);
    if (rc == 1)
        cfg_err(errs, doc, NULL, NULL, 0, "missing 'version: 1' at the top of the configuration");
    else if (rc == 0 && version != 1)
        cfg_err(errs, doc, root, "version", 0, "unsupported configuration version %llu (this "
                "mcpwall reads version 1)", (unsigned long long)version);
    json_t *sec;
    if (cfg_get_obj(errs, doc, root, "limits", &sec) == 0)
        compile_limits(doc, sec, &c->limits, errs);
    if (cfg_get_obj(errs, doc, root, "audit", &sec) == 0)
        compile_audit(doc, sec, &c->audit, errs);
    if (cfg_get_obj(errs, doc, root, "log", &sec) == 0) {
        static const char *const lkeys[] = {"level", NULL};
        const char *lv;
        cfg_check_keys(errs, doc, sec, lkeys);
        if (cfg_get_str(errs, doc, sec, "level", &lv) == 0 && log_level_parse(lv, &c->log_level) < 0)
            cfg_err(errs, doc, sec, "level", 0, "level must be error, warn, info or debug");
    }
    sec = NULL;
    if (cfg_get_obj(errs, doc, root, "policy", &sec) >= 0)
        c->policy = policy_compile(doc, sec, errs);
    if (cfg_get_obj(errs, doc, root, "pins", &sec) == 0)
        compile_pins(doc, sec, &c->pins, errs);
    sec = NULL;
    if (cfg_get_obj(errs, doc, root, "rate_limits", &sec) >= 0)
        c->rate_limits = ratelimit_compile(doc, sec, errs);
    sec = NULL;
    if (cfg_get_obj(errs, doc, root, "results", &sec) >= 0)
        c->results = gw_results_new(result_guard_compile(doc, sec, errs));
    const json_t *sb = json_object_get(root, "sandbox");
    if (sb != NULL)
        c->sandbox = sandbox_compile(doc, sb, errs);
    c->auth_set = json_object_get(root, "auth") != NULL;
    c->authn = authn_compile(doc, json_object_get(root, "auth"), errs);
    c->creds = cred_compile(doc, json_object_get(root, "credentials"), errs);
    if (c->policy != NULL && c->results != NULL)
        srvconfig_compile(doc, c, errs);
    if (errs->n > nerr || c->policy == NULL || c->results == NULL || c->rate_limits == NULL ||
        c->authn == NULL || c->creds == NULL)
        goto fail;
    return c;
fail:
    gwconfig_free(c);
    return NULL;
}

struct gw_config *gwconfig_load(const char *path, struct cfg_errors *errs)
{
    struct cfg_doc *doc = cfg_load_file(path, errs);
    if (doc == NULL)
        return NULL;
    struct gw_config *c = gwconfig_compile(doc, errs);
    cfg_doc_free(doc);
    return c;
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    str_copy(tmp, dir, sizeof(tmp));
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int gwconfig_default_audit_path(char *out, size_t outsz)
{
    const char *state = getenv("XDG_STATE_HOME");
    char dir[4096];
    if (state != NULL && state[0] == '/') {
        snprintf(dir, sizeof(dir), "%s/mcpwall", state);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] != '/') {
            struct passwd *pw = getpwuid(geteuid());
            home = pw != NULL ? pw->pw_dir : NULL;
        }
        if (home == NULL)
            return -1;
        snprintf(dir, sizeof(dir), "%s/.local/state/mcpwall", home);
    }
    if (mkdir_p(dir) < 0)
        return -1;
    int n = snprintf(out, outsz, "%s/audit.jsonl", dir);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static void describe_policy(const struct policy *p, FILE *f, const char *indent);
static void describe_rest(const struct gw_config *c, FILE *f);

void gwconfig_describe(const struct gw_config *c, void *file)
{
    FILE *f = file;
    describe_policy(c->policy, f, "");
    for (size_t i = 0; i < c->nservers; i++) {
        const struct gw_server *s = &c->servers[i];
        fprintf(f, "server %s: %s", s->name, s->url != NULL ? s->url : "stdio:");
        for (char **a = s->argv; a != NULL && *a != NULL; a++)
            fprintf(f, " %s", *a);
        fprintf(f, "%s%s", s->sandbox != NULL ? " (sandboxed)" : "",
                s->timeout_us ? " (own timeout)" : "");
        if (s->credential != NULL)
            fprintf(f, " (credential %s)", s->credential);
        fprintf(f, "\n");
        if (s->policy != c->policy)
            describe_policy(s->policy, f, "  ");
    }
    if (c->nservers > 0)
        fprintf(f, "names: %s\n", gwconfig_namespaced(c) ? "tools and prompts as <server>__<name>, "
                                                         "resources as <server>+<uri>"
                                                       : "as the server names them");
    if (c->listen.set || c->nservers > 0)
        fprintf(f, "listen: %s:%u%s\n", c->listen.host ? c->listen.host : "127.0.0.1",
                (unsigned)c->listen.port, c->listen.tls_cert ? " (TLS)" : "");
    if (c->admin.set)
        fprintf(f, "admin: %s:%u (/metrics /healthz /readyz)\n",
                c->admin.host ? c->admin.host : "127.0.0.1", (unsigned)c->admin.port);
    if (c->authn != NULL && (c->auth_set || c->nservers > 0 || c->listen.set))
        authn_describe(c->authn, f);
    if (c->creds != NULL)
        cred_store_describe(c->creds, f);
    describe_rest(c, f);
}

static void describe_policy(const struct policy *p, FILE *f, const char *indent)
{
    fprintf(f, "%s", indent);
    fprintf(f, "policy: default %s, %zu rule%s\n", p->default_action == POL_ALLOW ? "allow" : "deny",
            p->nrules, p->nrules == 1 ? "" : "s");
    for (size_t i = 0; i < p->nrules; i++) {
        const struct pol_rule *r = &p->rules[i];
        fprintf(f, "%s  %zu. %s %s:", indent, i + 1, r->action == POL_ALLOW ? "allow" : "deny ",
                r->name);
        for (int k = 0; k < POL_KIND__COUNT; k++) {
            if (!r->covers[k])
                continue;
            fprintf(f, " %ss", policy_kind_word((enum pol_kind)k));
            for (size_t g = 0; g < r->nglobs[k]; g++)
                fprintf(f, "%s%s", g ? "," : " ", r->globs[k][g]);
            fprintf(f, ";");
        }
        /* Conditions on the caller (roles, identities; client/model hints). */
        static const char *const cw[] = {"roles", "identities", "clients", "models"};
        char **const cv[] = {r->roles, r->identities, r->clients, r->models};
        const size_t cn[] = {r->nroles, r->nidentities, r->nclients, r->nmodels};
        bool first = true;
        for (size_t k = 0; k < 4; k++) {
            if (cn[k] == 0)
                continue;
            fprintf(f, "%s%s ", first ? " for " : " and ", cw[k]);
            for (size_t g = 0; g < cn[k]; g++)
                fprintf(f, "%s%s", g ? "," : "", cv[k][g]);
            first = false;
        }
        fprintf(f, "\n");
    }
    if (p->nrules == 0 && p->default_action == POL_DENY)
        fprintf(f, "%s  warning: no rules and default deny: every tool, prompt and resource is "
                   "denied\n", indent);
    if (!p->default_explicit)
        fprintf(f, "%s  note: 'policy.default' not set: deny applies to anything no rule matches\n",
                indent);
    if (p->args != NULL)
        fprintf(f, "%s  argument constraints: yes (policy.arguments)\n", indent);
}

static void describe_rest(const struct gw_config *c, FILE *f)
{
    fprintf(f, "audit: %s%s%s\n", c->audit.enabled ? (c->audit.file ? c->audit.file : "default per-user file") : "off",
            c->audit.fsync ? ", fsync each batch" : "",
            c->audit.notifications == GW_AUDIT_NOTIF_ALL ? ", all notifications" : "");
    fprintf(f, "limits: message %zu bytes, depth %zu, request timeout %llu ms, queue %zu bytes\n",
            c->limits.json.max_bytes, c->limits.json.max_depth,
            (unsigned long long)(c->limits.request_timeout_us / 1000), c->limits.queue_bytes);
    char rg[256];
    result_guard_describe(c->results->g, rg, sizeof(rg));
    fprintf(f, "results: %s\n", rg);
    size_t nrules, nbudgets;
    bool redis;
    rl_config_counts(c->rate_limits, &nrules, &nbudgets, &redis);
    fprintf(f, "rate limits: %zu rule%s, %zu budget%s (%s); alert above %u calls per minute in a "
               "session%s\n",
            nrules, nrules == 1 ? "" : "s", nbudgets, nbudgets == 1 ? "" : "s",
            redis ? "shared in Redis" : "in memory", ratelimit_config_alert(c->rate_limits),
            ratelimit_config_alert(c->rate_limits) == 0 ? " (off)" : "");
    if (c->pins.lock != NULL) {
        json_t *servers = pins_servers(c->pins.lock);
        fprintf(f, "pins: %s (%zu server%s pinned); changed tools: %s, tools not pinned: %s\n",
                c->pins.path, json_array_size(servers), json_array_size(servers) == 1 ? "" : "s",
                gw_pin_action_name(c->pins.on_change), gw_pin_action_name(c->pins.on_new));
        json_decref(servers);
    } else {
        fprintf(f, "pins: none (tool definitions are not checked against a lockfile; see "
                   "mcpwall scan --pin)\n");
    }
    if (c->nservers > 0)
        return; /* serve: each server's sandbox is shown with it */
    if (c->sandbox != NULL) {
        fprintf(f, "sandbox: the server runs in mcpwall's sandbox\n");
        sandbox_explain(c->sandbox, f);
    } else {
        fprintf(f, "sandbox: none (the server runs with your account's full authority; add a "
                   "sandbox: section)\n");
    }
}
