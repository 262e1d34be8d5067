/* ratelimit.c - rate limits, budgets, call timeouts and the session alert
 * (see ratelimit.h for the config and the API, store.h for the state).
 *
 * A check turns the subject into one store operation per matching rule
 * (token bucket) and budget (window counter), each on a key made of the
 * limit's tag and the configured parts of the subject, and hands them to the
 * store in one "check all, then take all" call.
 *
 * Keys:  r:<rule>:<params>|i<len>:<identity>|s<len>:<server>|t<len>:<tool>
 *        b:<budget>:<window_us>:<window index>|...
 * The length prefixes make the encoding unambiguous whatever the names hold.
 * <params> is a hash of the bucket's numbers: changing a rule's rate or burst
 * starts its buckets afresh rather than reading old credit in new units.
 */
#include "policy/ratelimit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/identity.h"
#include "policy/store.h"
#include "util/log.h"
#include "util/str.h"

/* Every identity authentication can produce must be accepted by a check. */
_Static_assert(RL_ROLES_MAX >= IDENTITY_MAX_ITEMS, "roles of an identity");
_Static_assert(RL_FIELD_MAX >= IDENTITY_MAX_PRINCIPAL, "principal of an identity");

enum { F_IDENTITY = 0, F_ROLE, F_SERVER, F_TOOL, F__COUNT };
static const char *const field_keys[F__COUNT] = {"identity", "role", "server", "tool"};

enum { K_IDENTITY = 1u, K_SERVER = 2u, K_TOOL = 4u, K_ALL = 7u };

struct rl_glob {
    char *pat;
    bool literal;
};

struct rl_match {
    struct rl_glob *g; /* NULL: any */
    size_t n;
};

struct rl_limit {
    char name[RL_NAME_MAX + 1];
    bool is_budget;
    struct rl_match m[F__COUNT];
    unsigned keymask;
    char tag[RL_NAME_MAX + 48];
    size_t taglen;
    /* rule */
    bool has_rate;
    uint64_t cap, cost, rate, ttl_us;
    uint64_t timeout_us;
    /* budget */
    uint64_t window_us, max_calls, max_bytes, max_tokens;
};

struct rl_config {
    int refs;
    struct rl_limit *lim; /* rules first, then budgets */
    size_t nrules, nbudgets;
    uint32_t alert;
    size_t max_keys;
    bool redis;
    bool fail_open;
    struct store_redis_cfg rcfg;
};

struct ratelimit {
    struct rl_config *cfg;
    struct store *store;
    bool closing;
    struct rl_stats st;
    /* Scratch for one check or account at a time (never nested: the store
     * calls back from the loop, never from inside a check), kept off the
     * stack. */
    struct store_op ops[RL_MAX_LIMITS];
    struct store_res res[RL_MAX_LIMITS];
    uint16_t idx[RL_MAX_LIMITS];
    uint64_t widx[RL_MAX_LIMITS];
};

struct rl_pending {
    struct ratelimit *rl;
    struct rl_config *cfg; /* the config the check began under */
    rl_done_fn cb;
    void *arg;
    struct store_req *req;
    uint32_t matched;
    uint64_t timeout_us;
    size_t nops;
    uint16_t idx[]; /* limit index of each op */
};

#define RL_DEFAULT_ALERT 100
#define RL_DEFAULT_MAX_KEYS 100000
#define RL_DEFAULT_TIMEOUT_US 50000
#define RL_DEFAULT_INFLIGHT 1024
#define RL_MAX_PERIOD_US (366ull * 86400 * 1000000)

/* ---------------------------------------------------------------- config */

static void match_free(struct rl_match *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->g[i].pat);
    free(m->g);
    m->g = NULL;
    m->n = 0;
}

static void config_destroy(struct rl_config *c)
{
    for (size_t i = 0; i < c->nrules + c->nbudgets; i++)
        for (int f = 0; f < F__COUNT; f++)
            match_free(&c->lim[i].m[f]);
    free(c->lim);
    store_redis_cfg_clear(&c->rcfg);
    free(c);
}

struct rl_config *rl_config_ref(struct rl_config *c)
{
    if (c != NULL)
        c->refs++;
    return c;
}

void rl_config_free(struct rl_config *c)
{
    if (c != NULL && --c->refs == 0)
        config_destroy(c);
}

void rl_config_counts(const struct rl_config *c, size_t *nrules, size_t *nbudgets, bool *redis)
{
    if (nrules != NULL)
        *nrules = c->nrules;
    if (nbudgets != NULL)
        *nbudgets = c->nbudgets;
    if (redis != NULL)
        *redis = c->redis;
}

static bool glob_ok(const char *g)
{
    /* Unterminated classes are taken literally by glob_match; refuse them. */
    for (const char *c = g; *c; c++) {
        if (*c == '\\' && c[1] != '\0') {
            c++;
            continue;
        }
        if (*c == '[') {
            const char *e = c + 1;
            if (*e == '!' || *e == '^')
                e++;
            if (*e == ']')
                e++;
            while (*e && *e != ']')
                e++;
            if (*e != ']')
                return false;
            c = e;
        }
    }
    return *g != '\0';
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A period: "s", "sec", "second", "min", "minute", "h", "hour", "d", "day"
 * (optionally with a count: "10s", "2d", "500ms"). Bare numbers are refused. */
static int parse_period(const char *s, uint64_t *out)
{
    static const struct {
        const char *w;
        uint64_t us;
    } words[] = {{"s", 1000000ull},        {"sec", 1000000ull},   {"second", 1000000ull},
                 {"m", 60000000ull},       {"min", 60000000ull},  {"minute", 60000000ull},
                 {"h", 3600000000ull},     {"hour", 3600000000ull}, {"d", 86400000000ull},
                 {"day", 86400000000ull}};
    size_t n = strlen(s);
    if (n == 0 || !isalpha((unsigned char)s[n - 1]))
        return -1;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(s, words[i].w) == 0) {
            *out = words[i].us;
            return 0;
        }
    if (s[n - 1] == 'd' && n >= 2 && isdigit((unsigned char)s[n - 2])) {
        char buf[24];
        uint64_t v;
        if (n - 1 >= sizeof(buf))
            return -1;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        if (parse_u64(buf, 100000, &v) < 0 || v == 0)
            return -1;
        *out = v * 86400000000ull;
        return 0;
    }
    if (!isdigit((unsigned char)s[0]))
        return -1;
    return parse_duration_us(s, out);
}

/* An integer from 1 to max: 0 and *out set, 1 when absent, -1 after an error. */
static int get_count(struct cfg_errors *errs, const struct cfg_doc *doc, const json_t *obj,
                     const char *key, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        (uint64_t)json_integer_value(v) > max) {
        cfg_err(errs, doc, obj, key, 0, "'%s' must be an integer from 1 to %llu", key,
                (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int compile_match(const struct cfg_doc *doc, const json_t *obj, int f, struct rl_match *m,
                         struct cfg_errors *errs)
{
    json_t *list = NULL;
    int rc = cfg_get_str_list(errs, doc, obj, field_keys[f], &list);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    int bad = 0;
    size_t n = json_array_size(list);
    json_t *src = json_object_get(obj, field_keys[f]);
    if (n == 0) {
        cfg_err(errs, doc, obj, field_keys[f], 0,
                "'%s' is an empty list and would match nothing; leave it out to match any",
                field_keys[f]);
        json_decref(list);
        return -1;
    }
    m->g = calloc(n, sizeof(*m->g));
    if (m->g == NULL) {
        json_decref(list);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *g = json_string_value(json_array_get(list, i));
        if (!glob_ok(g) || strlen(g) > RL_FIELD_MAX) {
            if (json_is_array(src))
                cfg_err(errs, doc, src, NULL, i,
                        "invalid glob '%.64s' (empty, too long, or '[' without ']')", g);
            else
                cfg_err(errs, doc, obj, field_keys[f], 0,
                        "invalid glob '%.64s' (empty, too long, or '[' without ']')", g);
            bad = -1;
            continue;
        }
        m->g[m->n].pat = strdup(g);
        if (m->g[m->n].pat == NULL) {
            bad = -1;
            break;
        }
        m->g[m->n].literal = glob_is_literal(g);
        m->n++;
    }
    json_decref(list);
    return bad;
}

static int compile_key(const struct cfg_doc *doc, const json_t *obj, unsigned *mask,
                       struct cfg_errors *errs)
{
    json_t *k = json_object_get(obj, "key");
    *mask = K_ALL;
    if (k == NULL)
        return 0;
    if (json_is_string(k)) {
        cfg_err(errs, doc, obj, "key", 0,
                "'key' must be a list such as [identity, tool, server] ([] for one shared key)");
        return -1;
    }
    if (!json_is_array(k)) {
        cfg_err(errs, doc, obj, "key", 0, "'key' must be a list of identity, tool, server");
        return -1;
    }
    int bad = 0;
    *mask = 0;
    for (size_t i = 0; i < json_array_size(k); i++) {
        json_t *e = json_array_get(k, i);
        const char *s = json_string_value(e);
        unsigned bit = 0;
        if (s == NULL) {
            cfg_err(errs, doc, k, NULL, i, "key parts are strings: identity, tool or server");
            bad = -1;
            continue;
        }
        if (strcmp(s, "identity") == 0)
            bit = K_IDENTITY;
        else if (strcmp(s, "tool") == 0)
            bit = K_TOOL;
        else if (strcmp(s, "server") == 0)
            bit = K_SERVER;
        else if (strcmp(s, "session") == 0) {
            cfg_err(errs, doc, k, NULL, i,
                    "'session' cannot be part of a key: a client that re-initializes would get a "
                    "fresh budget; key by identity instead");
            bad = -1;
            continue;
        } else {
            cfg_err(errs, doc, k, NULL, i, "unknown key part '%.64s' (identity, tool or server)",
                    s);
            bad = -1;
            continue;
        }
        if (*mask & bit) {
            cfg_err(errs, doc, k, NULL, i, "'%s' is listed twice in the key", s);
            bad = -1;
        }
        *mask |= bit;
    }
    return bad;
}

static uint32_t fnv32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Common to rules and budgets: name, match fields, key. */
static int compile_common(const struct cfg_doc *doc, const json_t *list, size_t idx,
                          const json_t *r, struct rl_limit *L, const char *what,
                          struct cfg_errors *errs)
{
    int bad = 0;
    const char *name = NULL;
    int rc = cfg_get_str(errs, doc, r, "name", &name);
    if (rc == 1) {
        cfg_err(errs, doc, list, NULL, idx, "each %s needs a 'name'", what);
        bad = -1;
    } else if (rc < 0) {
        bad = -1;
    } else if (!name_ok(name)) {
        cfg_err(errs, doc, r, "name", 0,
                "a %s name is 1 to %d characters from A-Z a-z 0-9 _ . -", what, RL_NAME_MAX);
        bad = -1;
    } else {
        str_copy(L->name, name, sizeof(L->name));
    }
    for (int f = 0; f < F__COUNT; f++)
        if (compile_match(doc, r, f, &L->m[f], errs) < 0)
            bad = -1;
    if (compile_key(doc, r, &L->keymask, errs) < 0)
        bad = -1;
    return bad;
}

static int compile_rule(const struct cfg_doc *doc, const json_t *list, size_t idx, const json_t *r,
                        struct rl_limit *L, struct cfg_errors *errs)
{
    static const char *const keys[] = {"name", "identity", "role", "server", "tool", "rate",
                                       "burst", "key", "timeout", NULL};
    if (!json_is_object(r)) {
        cfg_err(errs, doc, list, NULL, idx,
                "each rule must be a mapping with a name and a rate (or timeout)");
        return -1;
    }
    int bad = cfg_check_keys(errs, doc, r, keys) > 0 ? -1 : 0;
    if (compile_common(doc, list, idx, r, L, "rule", errs) < 0)
        bad = -1;
    const char *rate = NULL;
    uint64_t n = 0, period = 0, burst = 0;
    json_t *jrate = json_object_get(r, "rate");
    int rc = jrate == NULL ? 1 : json_is_string(jrate) ? 0 : -1;
    if (rc < 0) {
        cfg_err(errs, doc, r, "rate", 0,
                "'rate' must look like 10/s, 100/min, 1000/h, 5000/d or 5/10s");
        bad = -1;
    } else if (rc == 0) {
        rate = json_string_value(jrate);
        const char *slash = strchr(rate, '/');
        char num[24];
        size_t nl = slash != NULL ? (size_t)(slash - rate) : 0;
        if (slash == NULL || nl == 0 || nl >= sizeof(num)) {
            cfg_err(errs, doc, r, "rate", 0,
                    "'rate' must look like 10/s, 100/min, 1000/h, 5000/d or 5/10s");
            bad = -1;
        } else {
            memcpy(num, rate, nl);
            num[nl] = '\0';
            if (parse_u64(num, 1000000000, &n) < 0 || n == 0) {
                cfg_err(errs, doc, r, "rate", 0,
                        "the count in 'rate' must be an integer from 1 to 1000000000");
                bad = -1;
            } else if (parse_period(slash + 1, &period) < 0) {
                cfg_err(errs, doc, r, "rate", 0,
                        "unknown period '%.32s' in 'rate' (s, min, h, d, or a duration such as "
                        "10s)",
                        slash + 1);
                bad = -1;
            } else if (period < 1000 || period > RL_MAX_PERIOD_US) {
                cfg_err(errs, doc, r, "rate", 0, "the period of 'rate' must be 1ms to 366d");
                bad = -1;
            } else {
                L->has_rate = true;
            }
        }
    }
    rc = get_count(errs, doc, r, "burst", 1000000000, &burst);
    if (rc < 0) {
        bad = -1;
    } else if (rc == 0 && json_object_get(r, "rate") == NULL) {
        cfg_err(errs, doc, r, "burst", 0, "'burst' needs a 'rate'");
        bad = -1;
    }
    if (L->has_rate) {
        if (burst == 0)
            burst = n;
        uint64_t g = gcd_u64(n, period);
        L->cost = period / g;
        L->rate = n / g;
        if (L->cost > STORE_NUM_MAX / burst) {
            cfg_err(errs, doc, r, "burst", 0,
                    "burst %llu with this rate's period is too large to count exactly (lower the "
                    "burst or shorten the period)",
                    (unsigned long long)burst);
            L->has_rate = false;
            bad = -1;
        } else {
            L->cap = L->cost * burst;
            L->ttl_us = (L->cap + L->rate - 1) / L->rate;
        }
    }
    rc = cfg_get_duration_us(errs, doc, r, "timeout", 86400ull * 1000000, &L->timeout_us);
    if (rc < 0) {
        bad = -1;
    } else if (rc == 0 && L->timeout_us == 0) {
        cfg_err(errs, doc, r, "timeout", 0, "'timeout' must be longer than 0");
        bad = -1;
    }
    if (json_object_get(r, "rate") == NULL && json_object_get(r, "timeout") == NULL) {
        if (L->name[0] != '\0')
            cfg_err(errs, doc, list, NULL, idx, "rule '%s' needs a 'rate' or a 'timeout'",
                    L->name);
        else
            cfg_err(errs, doc, list, NULL, idx, "rule %zu needs a 'rate' or a 'timeout'", idx + 1);
        bad = -1;
    }
    if (L->has_rate) {
        char p[64];
        int pl = snprintf(p, sizeof(p), "%llu/%llu/%llu", (unsigned long long)L->cap,
                          (unsigned long long)L->cost, (unsigned long long)L->rate);
        int tl = snprintf(L->tag, sizeof(L->tag), "r:%s:%08x", L->name,
                          (unsigned)fnv32(p, (size_t)pl));
        L->taglen = (size_t)tl;
    }
    return bad;
}

static int compile_budget(const struct cfg_doc *doc, const json_t *list, size_t idx,
                          const json_t *r, struct rl_limit *L, struct cfg_errors *errs)
{
    static const char *const keys[] = {"name",  "identity", "role",         "server", "tool",
                                       "window", "calls",   "result_bytes", "tokens", "key",
                                       NULL};
    if (!json_is_object(r)) {
        cfg_err(errs, doc, list, NULL, idx,
                "each budget must be a mapping with a name, a window and a limit");
        return -1;
    }
    L->is_budget = true;
    int bad = cfg_check_keys(errs, doc, r, keys) > 0 ? -1 : 0;
    if (compile_common(doc, list, idx, r, L, "budget", errs) < 0)
        bad = -1;
    const char *w = NULL;
    json_t *jw = json_object_get(r, "window");
    if (jw == NULL) {
        cfg_err(errs, doc, list, NULL, idx, "budget '%s' needs a 'window' (such as 1h or 1d)",
                L->name);
        bad = -1;
    } else if ((w = json_string_value(jw)) == NULL || parse_period(w, &L->window_us) < 0) {
        cfg_err(errs, doc, r, "window", 0, "'window' must be a duration such as 1h, 1d or 7d");
        bad = -1;
    } else if (L->window_us < 1000000 || L->window_us > RL_MAX_PERIOD_US ||
               L->window_us % 1000000 != 0) {
        cfg_err(errs, doc, r, "window", 0, "'window' must be whole seconds from 1s to 366d");
        bad = -1;
    }
    int rc1 = cfg_get_uint(errs, doc, r, "calls", STORE_NUM_MAX, &L->max_calls);
    int rc2 = cfg_get_size(errs, doc, r, "result_bytes", STORE_NUM_MAX, &L->max_bytes);
    int rc3 = cfg_get_uint(errs, doc, r, "tokens", STORE_NUM_MAX, &L->max_tokens);
    if (rc1 < 0 || rc2 < 0 || rc3 < 0)
        bad = -1;
    if (rc1 == 0 && L->max_calls == 0) {
        cfg_err(errs, doc, r, "calls", 0, "'calls' must be at least 1 (leave it out for no limit)");
        bad = -1;
    }
    if (rc2 == 0 && L->max_bytes == 0) {
        cfg_err(errs, doc, r, "result_bytes", 0,
                "'result_bytes' must be at least 1 (leave it out for no limit)");
        bad = -1;
    }
    if (rc3 == 0 && L->max_tokens == 0) {
        cfg_err(errs, doc, r, "tokens", 0,
                "'tokens' must be at least 1 (leave it out for no limit)");
        bad = -1;
    }
    if (rc1 == 1 && rc2 == 1 && rc3 == 1) {
        cfg_err(errs, doc, list, NULL, idx,
                "budget '%s' limits nothing: give calls, result_bytes or tokens", L->name);
        bad = -1;
    }
    L->ttl_us = L->window_us;
    int tl = snprintf(L->tag, sizeof(L->tag), "b:%s:%llu", L->name,
                      (unsigned long long)(L->window_us / 1000000));
    L->taglen = (size_t)tl;
    return bad;
}

static int compile_store(const struct cfg_doc *doc, const json_t *sec, struct rl_config *c,
                         struct cfg_errors *errs)
{
    static const char *const keys[] = {"redis", "prefix", "timeout", "on_error", "max_inflight",
                                       NULL};
    json_t *s = json_object_get(sec, "store");
    if (s == NULL)
        return 0;
    if (json_is_string(s)) {
        if (strcmp(json_string_value(s), "memory") == 0)
            return 0;
        if (strcmp(json_string_value(s), "redis") == 0)
            cfg_err(errs, doc, sec, "store", 0,
                    "give the Redis URL: store: {redis: \"redis://127.0.0.1:6379/0\"}");
        else
            cfg_err(errs, doc, sec, "store", 0,
                    "'store' is 'memory' or a mapping {redis: URL, ...}");
        return -1;
    }
    if (!json_is_object(s)) {
        cfg_err(errs, doc, sec, "store", 0, "'store' is 'memory' or a mapping {redis: URL, ...}");
        return -1;
    }
    int bad = cfg_check_keys(errs, doc, s, keys) > 0 ? -1 : 0;
    const char *url = NULL, *prefix = NULL, *onerr = NULL;
    uint64_t timeout = RL_DEFAULT_TIMEOUT_US, inflight = RL_DEFAULT_INFLIGHT;
    int rc = cfg_get_str(errs, doc, s, "redis", &url);
    if (rc == 1) {
        cfg_err(errs, doc, sec, "store", 0, "the store mapping needs 'redis: URL'");
        bad = -1;
    } else if (rc < 0) {
        bad = -1;
    } else if (!store_redis_available()) {
        cfg_err(errs, doc, s, "redis", 0,
                "this build of mcpwall has no Redis support (it was built without hiredis)");
        bad = -1;
    } else {
        char err[160];
        if (store_redis_parse_url(url, &c->rcfg, err, sizeof(err)) < 0) {
            cfg_err(errs, doc, s, "redis", 0, "%s", err);
            bad = -1;
        } else {
            c->redis = true;
        }
    }
    rc = cfg_get_str(errs, doc, s, "prefix", &prefix);
    if (rc < 0) {
        bad = -1;
    } else if (rc == 0 && strlen(prefix) > 64) {
        cfg_err(errs, doc, s, "prefix", 0, "'prefix' is at most 64 bytes");
        bad = -1;
    }
    rc = cfg_get_duration_us(errs, doc, s, "timeout", 60000000, &timeout);
    if (rc < 0) {
        bad = -1;
    } else if (rc == 0 && timeout < 1000) {
        cfg_err(errs, doc, s, "timeout", 0, "'timeout' must be at least 1ms");
        bad = -1;
    }
    rc = cfg_get_str(errs, doc, s, "on_error", &onerr);
    if (rc < 0) {
        bad = -1;
    } else if (rc == 0) {
        if (strcmp(onerr, "allow") == 0)
            c->fail_open = true;
        else if (strcmp(onerr, "deny") != 0) {
            cfg_err(errs, doc, s, "on_error", 0, "'on_error' is 'deny' (the default) or 'allow'");
            bad = -1;
        }
    }
    if (get_count(errs, doc, s, "max_inflight", 1000000, &inflight) < 0)
        bad = -1;
    c->rcfg.timeout_us = timeout;
    c->rcfg.max_inflight = (size_t)inflight;
    if (c->redis) {
        c->rcfg.prefix = strdup(prefix != NULL ? prefix : "mcpwall:");
        if (c->rcfg.prefix == NULL)
            bad = -1;
    }
    return bad;
}

static int compile_list(const struct cfg_doc *doc, const json_t *sec, const char *key,
                        struct rl_config *c, size_t *count, struct cfg_errors *errs)
{
    json_t *list = json_object_get(sec, key);
    *count = 0;
    if (list == NULL)
        return 0;
    if (!json_is_array(list)) {
        cfg_err(errs, doc, sec, key, 0, "'%s' must be a list", key);
        return -1;
    }
    int bad = 0;
    size_t base = c->nrules + c->nbudgets;
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (base + *count >= RL_MAX_LIMITS) {
            cfg_err(errs, doc, list, NULL, i, "at most %d rules and budgets in all",
                    RL_MAX_LIMITS);
            return -1;
        }
        struct rl_limit *L = &c->lim[base + *count];
        json_t *r = json_array_get(list, i);
        int rc = strcmp(key, "rules") == 0 ? compile_rule(doc, list, i, r, L, errs)
                                          : compile_budget(doc, list, i, r, L, errs);
        (*count)++;
        if (rc < 0) {
            bad = -1;
            continue;
        }
        for (size_t j = 0; j + 1 < base + *count; j++) {
            if (c->lim[j].name[0] != '\0' && strcmp(c->lim[j].name, L->name) == 0) {
                cfg_err(errs, doc, r, "name", 0,
                        "duplicate name '%s' (rules and budgets share one namespace)", L->name);
                bad = -1;
                break;
            }
        }
    }
    return bad;
}

struct rl_config *ratelimit_compile(const struct cfg_doc *doc, const json_t *section,
                                    struct cfg_errors *errs)
{
    static const char *const keys[] = {"store", "max_keys", "alert", "rules", "budgets", NULL};
    static const char *const akeys[] = {"calls_per_minute", NULL};
    size_t nerr = errs != NULL ? errs->n : 0; /* errs may be NULL only without a section */
    struct rl_config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->refs = 1;
    c->alert = RL_DEFAULT_ALERT;
    c->max_keys = RL_DEFAULT_MAX_KEYS;
    /* As many slots as the lists have entries (RL_MAX_LIMITS at most; the
     * lists report going past it): the full table is 88 KB of zeroed memory
     * that a gateway without rate limits would carry for nothing. */
    size_t nlim = 0;
    if (json_is_object(section)) {
        nlim = json_array_size(json_object_get(section, "rules")) +
               json_array_size(json_object_get(section, "budgets"));
        if (nlim > RL_MAX_LIMITS)
            nlim = RL_MAX_LIMITS;
    }
    c->lim = calloc(nlim > 0 ? nlim : 1, sizeof(*c->lim));
    if (c->lim == NULL)
        goto fail;
    if (section == NULL)
        return c;
    if (!json_is_object(section)) {
        /* Positions are kept per member: point at the member when the
         * section is the top-level one, else name the file. */
        if (doc != NULL && json_object_get(doc->root, "rate_limits") == section)
            cfg_err(errs, doc, doc->root, "rate_limits", 0,
                    "'rate_limits' must be a mapping (store, max_keys, alert, rules, budgets)");
        else
            cfg_errors_add(errs, "%s: 'rate_limits' must be a mapping",
                           doc != NULL ? doc->path : "config");
        goto fail;
    }
    cfg_check_keys(errs, doc, section, keys);
    compile_store(doc, section, c, errs);
    uint64_t v;
    if (get_count(errs, doc, section, "max_keys", 100000000, &v) == 0)
        c->max_keys = (size_t)v;
    json_t *alert = json_object_get(section, "alert");
    if (alert != NULL && !json_is_object(alert)) {
        cfg_err(errs, doc, section, "alert", 0,
                "'alert' must be a mapping such as {calls_per_minute: 100}");
    } else if (alert != NULL) {
        cfg_check_keys(errs, doc, alert, akeys);
        if (cfg_get_uint(errs, doc, alert, "calls_per_minute", 1000000, &v) == 0)
            c->alert = (uint32_t)v;
    }
    compile_list(doc, section, "rules", c, &c->nrules, errs);
    compile_list(doc, section, "budgets", c, &c->nbudgets, errs);
    if (errs->n > nerr)
        goto fail;
    return c;
fail:
    config_destroy(c);
    return NULL;
}

/* ---------------------------------------------------------------- limiter */

struct ratelimit *ratelimit_new(struct rl_config *cfg, struct event_base *base, char *err,
                                size_t errlen)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cfg->redis) {
        if (base == NULL) {
            snprintf(err, errlen, "the Redis store needs an event loop");
            free(rl);
            return NULL;
        }
        rl->store = store_redis_new(&cfg->rcfg, base, err, errlen);
    } else {
        rl->store = store_mem_new(cfg->max_keys);
        if (rl->store == NULL)
            snprintf(err, errlen, "out of memory");
    }
    if (rl->store == NULL) {
        free(rl);
        return NULL;
    }
    rl->cfg = rl_config_ref(cfg);
    return rl;
}

int ratelimit_reload(struct ratelimit *rl, struct rl_config *cfg, char *err, size_t errlen)
{
    const struct rl_config *o = rl->cfg;
    if (o->redis != cfg->redis || (cfg->redis && !store_redis_cfg_equal(&o->rcfg, &cfg->rcfg)) ||
        (!cfg->redis && o->max_keys != cfg->max_keys)) {
        snprintf(err, errlen,
                 "rate_limits.store or max_keys changed: restart mcpwall to apply (the old "
                 "rate limits stay in force)");
        return -1;
    }
    rl_config_free(rl->cfg);
    rl->cfg = rl_config_ref(cfg);
    return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    rl->closing = true;
    store_free(rl->store); /* pending checks complete with STORE_SHUTDOWN */
    rl_config_free(rl->cfg);
    free(rl);
}

static bool match_field(const struct rl_match *m, const char *s)
{
    if (m->n == 0)
        return true;
    size_t n = strlen(s);
    for (size_t i = 0; i < m->n; i++) {
        if (m->g[i].literal ? strcmp(m->g[i].pat, s) == 0 : glob_match(m->g[i].pat, s, n))
            return true;
    }
    return false;
}

static bool limit_matches(const struct rl_limit *L, const struct rl_subject *who)
{
    if (!match_field(&L->m[F_IDENTITY], who->identity) || !match_field(&L->m[F_SERVER], who->server) ||
        !match_field(&L->m[F_TOOL], who->tool))
        return false;
    if (L->m[F_ROLE].n == 0)
        return true;
    for (size_t i = 0; i < who->nroles; i++)
        if (who->roles[i] != NULL && match_field(&L->m[F_ROLE], who->roles[i]))
            return true;
    return false;
}

/* Decimal digits of v into num (no terminator); returns their count. */
static size_t u64_dec(char num[20], uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        num[i] = tmp[n - 1 - i];
    return n;
}

/* Writes (dst != NULL) or measures one part "|<c><len>:<bytes>". */
static size_t key_part(char *dst, char c, const char *s, size_t n)
{
    char num[20];
    size_t nl = u64_dec(num, n);
    if (dst != NULL) {
        dst[0] = '|';
        dst[1] = c;
        memcpy(dst + 2, num, nl);
        dst[2 + nl] = ':';
        memcpy(dst + 3 + nl, s, n);
    }
    return 2 + nl + 1 + n;
}

struct rl_fields {
    const char *s[3]; /* identity, server, tool */
    size_t n[3];
};

/* Writes (dst != NULL) or measures the key of limit L for the subject. */
static size_t key_build(char *dst, const struct rl_limit *L, const struct rl_fields *f,
                        uint64_t widx)
{
    static const char letters[3] = {'i', 's', 't'};
    static const unsigned bits[3] = {K_IDENTITY, K_SERVER, K_TOOL};
    size_t k = L->taglen;
    if (dst != NULL)
        memcpy(dst, L->tag, L->taglen);
    if (L->is_budget) {
        char num[20];
        size_t nl = u64_dec(num, widx);
        if (dst != NULL) {
            dst[k] = ':';
            memcpy(dst + k + 1, num, nl);
        }
        k += 1 + nl;
    }
    for (int i = 0; i < 3; i++)
        if (L->keymask & bits[i])
            k += key_part(dst != NULL ? dst + k : NULL, letters[i], f->s[i], f->n[i]);
    return k;
}

static int subject_ok(const struct rl_subject *who, struct rl_fields *f)
{
    if (who == NULL || who->identity == NULL || who->server == NULL || who->tool == NULL ||
        who->nroles > RL_ROLES_MAX || (who->nroles > 0 && who->roles == NULL))
        return -1;
    f->s[0] = who->identity;
    f->s[1] = who->server;
    f->s[2] = who->tool;
    for (int i = 0; i < 3; i++) {
        f->n[i] = strnlen(f->s[i], RL_FIELD_MAX + 1);
        if (f->n[i] > RL_FIELD_MAX)
            return -1;
    }
    return 0;
}

/* The ops of every matching rule with a rate and every budget (for_account:
 * only budgets that count bytes or tokens). Keys go to one buffer: *heap is
 * set when it had to be allocated (the caller frees it). Returns the number
 * of ops, or -1 out of memory. */
static int build_ops(const struct rl_config *c, const struct rl_subject *who,
                     const struct rl_fields *f, uint64_t now, bool for_account,
                     struct store_op *ops, uint16_t *idx, uint64_t *widx, char *stackbuf,
                     size_t stacklen, char **heap, uint32_t *matched, uint64_t *timeout_us)
{
    size_t n = 0, need = 0;
    *heap = NULL;
    *matched = 0;
    *timeout_us = 0;
    for (size_t i = 0; i < c->nrules + c->nbudgets; i++) {
        const struct rl_limit *L = &c->lim[i];
        if (for_account && (!L->is_budget || (L->max_bytes == 0 && L->max_tokens == 0)))
            continue;
        if (!limit_matches(L, who))
            continue;
        (*matched)++;
        if (L->timeout_us > 0 && (*timeout_us == 0 || L->timeout_us < *timeout_us))
            *timeout_us = L->timeout_us;
        if (!L->is_budget && !L->has_rate)
            continue;
        struct store_op *op = &ops[n];
        memset(op, 0, sizeof(*op));
        widx[n] = 0;
        if (L->is_budget) {
            widx[n] = now / L->window_us;
            op->kind = STORE_BUDGET;
            op->max_calls = L->max_calls;
            op->max_bytes = L->max_bytes;
            op->max_tokens = L->max_tokens;
            op->window_end_us = (widx[n] + 1) * L->window_us;
        } else {
            op->kind = STORE_BUCKET;
            op->cap = L->cap;
            op->cost = L->cost;
            op->rate = L->rate;
        }
        op->ttl_us = L->ttl_us;
        op->klen = key_build(NULL, L, f, widx[n]);
        need += op->klen;
        idx[n] = (uint16_t)i;
        n++;
    }
    char *buf = stackbuf;
    if (need > stacklen) {
        buf = *heap = malloc(need);
        if (buf == NULL)
            return -1;
    }
    size_t off = 0;
    for (size_t j = 0; j < n; j++) {
        key_build(buf + off, &c->lim[idx[j]], f, widx[j]);
        ops[j].key = buf + off;
        off += ops[j].klen;
    }
    return (int)n;
}

static void fill_unavailable(const struct rl_config *c, struct rl_decision *d)
{
    d->reason = RL_UNAVAILABLE;
    d->allowed = c->fail_open;
    d->rule[0] = '\0';
    d->dim = RL_DIM_NONE;
    d->remaining = -1;
    d->retry_after_us = d->allowed ? 0 : 1000000;
}

static void decide(const struct rl_config *c, const uint16_t *idx, size_t n,
                   enum store_status st, const struct store_res *res, uint64_t full_retry_us,
                   struct rl_decision *d)
{
    static const enum rl_dim dims[] = {RL_DIM_NONE, RL_DIM_CALLS, RL_DIM_RESULT_BYTES,
                                       RL_DIM_TOKENS};
    d->allowed = true;
    d->reason = RL_OK;
    d->rule[0] = '\0';
    d->dim = RL_DIM_NONE;
    d->retry_after_us = 0;
    d->remaining = -1;
    switch (st) {
    case STORE_OK:
        break;
    case STORE_FULL:
        d->allowed = false;
        d->reason = RL_STATE_FULL;
        d->retry_after_us = full_retry_us;
        goto secs;
    default:
        fill_unavailable(c, d);
        goto secs;
    }
    size_t worst = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!res[i].ok) {
            if (worst == SIZE_MAX || res[i].retry_us > res[worst].retry_us)
                worst = i;
        } else if (res[i].remaining >= 0 && (d->remaining < 0 || res[i].remaining < d->remaining)) {
            d->remaining = res[i].remaining;
        }
    }
    if (worst != SIZE_MAX) {
        const struct rl_limit *L = &c->lim[idx[worst]];
        d->allowed = false;
        d->reason = L->is_budget ? RL_BUDGET_EXCEEDED : RL_RATE_LIMITED;
        d->dim = L->is_budget && res[worst].dim <= STORE_DIM_TOKENS ? dims[res[worst].dim]
                                                                   : RL_DIM_NONE;
        str_copy(d->rule, L->name, sizeof(d->rule));
        d->retry_after_us = res[worst].retry_us;
        d->remaining = 0;
    }
secs:
    if (d->allowed) {
        d->retry_after = 0;
    } else {
        uint64_t s = (d->retry_after_us + 999999) / 1000000;
        d->retry_after = s == 0 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    }
}

static void count_decision(struct ratelimit *rl, const struct rl_decision *d)
{
    if (d->reason == RL_UNAVAILABLE)
        rl->st.unavailable++;
    if (d->allowed)
        rl->st.allowed++;
    else
        rl->st.refused++;
}

static void on_store_done(void *arg, enum store_status st, const struct store_res *res, size_t n,
                          uint64_t retry_us)
{
    struct rl_pending *p = arg;
    struct rl_decision d;
    memset(&d, 0, sizeof(d));
    decide(p->cfg, p->idx, n, st, res, retry_us, &d);
    d.matched = p->matched;
    d.timeout_us = p->timeout_us;
    count_decision(p->rl, &d);
    rl_done_fn cb = p->cb;
    void *cbarg = p->arg;
    rl_config_free(p->cfg);
    free(p);
    cb(cbarg, &d);
}

int ratelimit_check(struct ratelimit *rl, const struct rl_subject *who, uint64_t now_us,
                    struct rl_decision *out, rl_done_fn cb, void *arg,
                    struct rl_pending **pending)
{
    struct rl_fields f;
    char stackbuf[4096];
    char *heap = NULL;
    uint32_t matched;
    uint64_t timeout_us;
    if (pending != NULL)
        *pending = NULL;
    if (rl == NULL || out == NULL || subject_ok(who, &f) < 0 || (cb == NULL && rl->cfg->redis))
        return -1;
    struct rl_config *c = rl->cfg;
    struct store_op *ops = rl->ops;
    struct store_res *res = rl->res;
    uint16_t *idx = rl->idx;
    memset(out, 0, sizeof(*out));
    rl->st.checks++;
    int n = build_ops(c, who, &f, now_us, false, ops, idx, rl->widx, stackbuf, sizeof(stackbuf),
                      &heap, &matched, &timeout_us);
    out->matched = matched;
    out->timeout_us = timeout_us;
    out->remaining = -1;
    out->allowed = true;
    if (n < 0 || rl->closing) {
        decide(c, idx, 0, STORE_ERROR, res, 0, out);
        count_decision(rl, out);
        return 1;
    }
    if (n == 0) {
        count_decision(rl, out);
        return 1;
    }
    struct rl_pending *p = NULL;
    if (cb != NULL) {
        p = malloc(sizeof(*p) + (size_t)n * sizeof(p->idx[0]));
        if (p != NULL) {
            p->rl = rl;
            p->cfg = c;
            p->cb = cb;
            p->arg = arg;
            p->req = NULL;
            p->matched = matched;
            p->timeout_us = timeout_us;
            p->nops = (size_t)n;
            memcpy(p->idx, idx, (size_t)n * sizeof(idx[0]));
        }
    }
    enum store_status st = STORE_ERROR;
    uint64_t full_retry = 0;
    /* Without a cb (memory store only) the store decides synchronously. */
    int rc = p != NULL || cb == NULL
                 ? store_take(rl->store, ops, (size_t)n, now_us, res, &st, &full_retry,
                              p != NULL ? on_store_done : NULL, p, p != NULL ? &p->req : NULL)
                 : 1;
    free(heap);
    if (rc < 0) {
        free(p);
        rl->st.checks--;
        return -1;
    }
    if (rc == 0) {
        MW_ASSERT(p != NULL);
        rl_config_ref(c);
        if (pending != NULL)
            *pending = p;
        return 0;
    }
    free(p);
    decide(c, idx, (size_t)n, st, res, full_retry, out);
    out->matched = matched;
    out->timeout_us = timeout_us;
    count_decision(rl, out);
    return 1;
}

void ratelimit_cancel(struct rl_pending *p)
{
    if (p == NULL)
        return;
    store_cancel(p->rl->store, p->req);
    rl_config_free(p->cfg);
    free(p);
}

void ratelimit_account(struct ratelimit *rl, const struct rl_subject *who, uint64_t result_bytes,
                       uint64_t tokens, uint64_t now_us)
{
    struct rl_fields f;
    char stackbuf[4096];
    char *heap = NULL;
    uint32_t matched;
    uint64_t timeout_us;
    if (rl == NULL || rl->closing || subject_ok(who, &f) < 0 ||
        (result_bytes == 0 && tokens == 0))
        return;
    int n = build_ops(rl->cfg, who, &f, now_us, true, rl->ops, rl->idx, rl->widx, stackbuf,
                      sizeof(stackbuf), &heap, &matched, &timeout_us);
    if (n < 0) {
        rl->st.account_dropped++;
        return;
    }
    if (n > 0)
        store_account(rl->store, rl->ops, (size_t)n, result_bytes, tokens, now_us);
    free(heap);
}

void ratelimit_stats(const struct ratelimit *rl, struct rl_stats *out)
{
    struct store_stats ss;
    *out = rl->st;
    store_stats(rl->store, &ss);
    out->keys = ss.keys;
    out->full_refusals = ss.full_refusals;
    out->store_errors = ss.errors;
    out->store_timeouts = ss.timeouts;
    out->account_dropped += ss.account_dropped;
    out->store_connected = rl->cfg->redis ? ss.connected : true;
}

uint32_t ratelimit_alert_threshold(const struct ratelimit *rl)
{
    return rl->cfg->alert;
}

uint32_t ratelimit_config_alert(const struct rl_config *c)
{
    return c->alert;
}

bool ratelimit_async(const struct ratelimit *rl)
{
    return rl->cfg->redis;
}

const char *rl_reason_str(enum rl_reason r)
{
    switch (r) {
    case RL_OK:
        return "ok";
    case RL_RATE_LIMITED:
        return "rate_limited";
    case RL_BUDGET_EXCEEDED:
        return "budget_exceeded";
    case RL_STATE_FULL:
        return "limiter_full";
    case RL_UNAVAILABLE:
        return "limiter_unavailable";
    }
    return "unknown";
}

const char *rl_dim_str(enum rl_dim d)
{
    switch (d) {
    case RL_DIM_CALLS:
        return "calls";
    case RL_DIM_RESULT_BYTES:
        return "result_bytes";
    case RL_DIM_TOKENS:
        return "tokens";
    case RL_DIM_NONE:
        break;
    }
    return "";
}

size_t rl_decision_message(const struct rl_decision *d, char *buf, size_t len)
{
    int n;
    switch (d->reason) {
    case RL_RATE_LIMITED:
        n = snprintf(buf, len, "rate limited by rule '%s': retry after %u s", d->rule,
                     d->retry_after);
        break;
    case RL_BUDGET_EXCEEDED:
        n = snprintf(buf, len, "budget '%s' exhausted (%s): retry after %u s", d->rule,
                     rl_dim_str(d->dim), d->retry_after);
        break;
    case RL_STATE_FULL:
        n = snprintf(buf, len,
                     "rate limiter is tracking too many callers: retry after %u s",
                     d->retry_after);
        break;
    case RL_UNAVAILABLE:
        n = snprintf(buf, len, "rate limiter unavailable: retry after %u s", d->retry_after);
        break;
    default:
        n = snprintf(buf, len, "allowed");
        break;
    }
    return n < 0 ? 0 : (size_t)n;
}

/* ---------------------------------------------------------------- alert */

void rl_alert_init(struct rl_alert *a)
{
    memset(a, 0, sizeof(*a));
}

static void alert_advance(struct rl_alert *a, uint64_t sec)
{
    if (!a->started) {
        a->started = true;
        a->sec = sec;
        return;
    }
    if (sec <= a->sec)
        return; /* same second, or the clock went back: count in the newest slot */
    if (sec - a->sec >= RL_ALERT_SLOTS) {
        memset(a->slot, 0, sizeof(a->slot));
        a->sum = 0;
    } else {
        for (uint64_t s = a->sec + 1; s <= sec; s++) {
            uint32_t *sl = &a->slot[s % RL_ALERT_SLOTS];
            a->sum -= *sl;
            *sl = 0;
        }
    }
    a->sec = sec;
}

bool rl_alert_hit(struct rl_alert *a, uint32_t threshold, uint64_t now_us)
{
    alert_advance(a, now_us / 1000000);
    uint32_t *sl = &a->slot[a->sec % RL_ALERT_SLOTS];
    if (a->sum < UINT32_MAX) {
        (*sl)++;
        a->sum++;
    }
    if (threshold == 0 || a->sum <= threshold)
        return false;
    if (a->fired && now_us < a->fired_us + 60000000ull)
        return false;
    a->fired = true;
    a->fired_us = now_us;
    return true;
}

uint32_t rl_alert_count(const struct rl_alert *a, uint64_t now_us)
{
    uint64_t sec = now_us / 1000000;
    if (!a->started || sec >= a->sec + RL_ALERT_SLOTS)
        return 0;
    if (sec <= a->sec)
        return a->sum;
    uint32_t sum = a->sum;
    for (uint64_t s = a->sec + 1; s <= sec; s++)
        sum -= a->slot[s % RL_ALERT_SLOTS];
    return sum;
}
