#include "policy/policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/args.h"
#include "policy/identity.h"
#include "util/str.h"

static const char *const kind_keys[POL_KIND__COUNT] = {"tools", "prompts", "resources"};
static const char *const kind_words[POL_KIND__COUNT] = {"tool", "prompt", "resource"};

const char *policy_kind_word(enum pol_kind kind)
{
    return (unsigned)kind < POL_KIND__COUNT ? kind_words[kind] : "item";
}

static void strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void rule_free(struct pol_rule *r)
{
    free(r->name);
    free(r->message);
    strv_free_n(r->roles, r->nroles);
    strv_free_n(r->identities, r->nidentities);
    strv_free_n(r->clients, r->nclients);
    strv_free_n(r->models, r->nmodels);
    for (int k = 0; k < POL_KIND__COUNT; k++) {
        for (size_t i = 0; i < r->nglobs[k]; i++)
            free(r->globs[k][i]);
        free(r->globs[k]);
    }
}

static void policy_free(struct policy *p)
{
    for (size_t i = 0; i < p->nrules; i++)
        rule_free(&p->rules[i]);
    free(p->rules);
    for (int k = 0; k < POL_KIND__COUNT; k++) {
        map_free(&p->idx[k].literal);
        free(p->idx[k].glob_rules);
    }
    args_policy_free(p->args);
    free(p);
}

struct policy *policy_ref(struct policy *p)
{
    if (p != NULL)
        p->refs++;
    return p;
}

void policy_unref(struct policy *p)
{
    if (p != NULL && --p->refs == 0)
        policy_free(p);
}

/* Builds the per-kind indexes: literal names in a map (earliest rule wins),
 * rules with real globs in a list scanned in order. */
static int build_index(struct policy *p)
{
    for (int k = 0; k < POL_KIND__COUNT; k++) {
        struct pol_kind_index *ix = &p->idx[k];
        map_init(&ix->literal);
        ix->glob_rules = calloc(p->nrules ? p->nrules : 1, sizeof(size_t));
        if (ix->glob_rules == NULL)
            return -1;
        for (size_t r = 0; r < p->nrules; r++) {
            const struct pol_rule *rule = &p->rules[r];
            bool has_glob = false;
            for (size_t g = 0; g < rule->nglobs[k]; g++) {
                const char *pat = rule->globs[k][g];
                if (!glob_is_literal(pat)) {
                    has_glob = true;
                    continue;
                }
                if (map_get(&ix->literal, pat, strlen(pat)) == NULL &&
                    map_put(&ix->literal, pat, strlen(pat), (void *)(uintptr_t)(r + 1)) < 0)
                    return -1;
            }
            if (has_glob)
                ix->glob_rules[ix->nglob_rules++] = r;
        }
    }
    return 0;
}

static bool any_glob(char *const *globs, size_t n, const char *s)
{
    if (s == NULL)
        return false;
    size_t len = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (glob_match(globs[i], s, len))
            return true;
    return false;
}

/* Whether every condition of rule r holds for who. */
static bool rule_applies(const struct pol_rule *r, const struct pol_subject *who)
{
    if (!r->conditional)
        return true;
    const struct identity *id = who != NULL ? who->id : NULL;
    if (r->nroles > 0) {
        bool has = false;
        for (size_t i = 0; id != NULL && i < r->nroles && !has; i++)
            has = identity_has_role(id, r->roles[i]);
        if (!has)
            return false;
    }
    if (r->nidentities > 0 && !any_glob(r->identities, r->nidentities, id ? id->principal : NULL))
        return false;
    if (r->nclients > 0 && !any_glob(r->clients, r->nclients, who ? who->client : NULL))
        return false;
    if (r->nmodels > 0 && !any_glob(r->models, r->nmodels, who ? who->model : NULL))
        return false;
    return true;
}

static void decide_by_rule(const struct policy *p, size_t best, struct pol_decision *d)
{
    if (best != SIZE_MAX) {
        d->rule = &p->rules[best];
        d->action = d->rule->action;
    } else {
        d->rule = NULL;
        d->action = p->default_action;
    }
}

void policy_decide(const struct policy *p, const struct pol_subject *who, enum pol_kind kind,
                   const char *name, size_t len, struct pol_decision *d)
{
    if (p->conditional) {
        /* Rules limited to some callers: the first rule that applies to this
         * caller and names the item decides (policies with conditions are
         * small; the indexes below serve the unconditional common case). */
        size_t best = SIZE_MAX;
        for (size_t r = 0; r < p->nrules && best == SIZE_MAX; r++) {
            const struct pol_rule *rule = &p->rules[r];
            if (!rule_applies(rule, who))
                continue;
            for (size_t g = 0; g < rule->nglobs[kind]; g++) {
                if (glob_match(rule->globs[kind][g], name, len)) {
                    best = r;
                    break;
                }
            }
        }
        decide_by_rule(p, best, d);
        return;
    }
    const struct pol_kind_index *ix = &p->idx[kind];
    size_t best = SIZE_MAX;
    void *hit = map_get(&ix->literal, name, len);
    if (hit != NULL)
        best = (size_t)(uintptr_t)hit - 1;
    for (size_t i = 0; i < ix->nglob_rules && ix->glob_rules[i] < best; i++) {
        const struct pol_rule *r = &p->rules[ix->glob_rules[i]];
        for (size_t g = 0; g < r->nglobs[kind]; g++) {
            if (glob_match(r->globs[kind][g], name, len)) {
                best = ix->glob_rules[i];
                break;
            }
        }
        if (best == ix->glob_rules[i])
            break;
    }
    decide_by_rule(p, best, d);
}

const char *policy_rule_name(const struct pol_decision *d)
{
    return d->rule != NULL ? d->rule->name : "default";
}

void policy_denial_message(const struct pol_decision *d, enum pol_kind kind, const char *name,
                           size_t len, char *out, size_t outsz)
{
    char shown[120];
    size_t n = len < sizeof(shown) - 4 ? len : sizeof(shown) - 4;
    memcpy(shown, name, n);
    if (n < len)
        memcpy(shown + n, "...", 4);
    else
        shown[n] = '\0';
    for (char *c = shown; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '"')
            *c = '?';
    int w;
    if (d->rule != NULL)
        w = snprintf(out, outsz, "%s \"%s\" is denied by policy rule \"%s\"", kind_words[kind],
                     shown, d->rule->name);
    else
        w = snprintf(out, outsz, "%s \"%s\" is denied by the policy's default (no rule allows it)",
                     kind_words[kind], shown);
    if (w > 0 && (size_t)w < outsz && d->rule != NULL && d->rule->message != NULL)
        snprintf(out + w, outsz - (size_t)w, ": %s", d->rule->message);
    if (outsz > 0)
        out[0] = (char)(out[0] >= 'a' && out[0] <= 'z' ? out[0] - 32 : out[0]);
}

struct policy *policy_allow_all(void)
{
    struct policy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->refs = 1;
    p->default_action = POL_ALLOW;
    if (build_index(p) < 0) {
        policy_free(p);
        return NULL;
    }
    return p;
}

static bool glob_ok(const char *g)
{
    /* Unterminated classes are taken literally by glob_match; flag them here. */
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

static int compile_rule(const struct cfg_doc *doc, const json_t *rules, size_t idx,
                        const json_t *r, struct pol_rule *out, struct cfg_errors *errs)
{
    static const char *const keys[] = {"name",  "action",     "tools",   "prompts", "resources",
                                       "roles", "identities", "clients", "models",  "message",
                                       NULL};
    int bad = 0;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(r)) {
        cfg_err(errs, doc, rules, NULL, idx, "each rule must be a mapping with name and action");
        return -1;
    }
    if (cfg_check_keys(errs, doc, r, keys) > 0)
        bad = -1;
    const char *name = NULL, *action = NULL, *msg = NULL;
    int rc = cfg_get_str(errs, doc, r, "name", &name);
    if (rc == 1)
        cfg_err(errs, doc, rules, NULL, idx, "rule needs a 'name'");
    else if (rc == 0 && name[0] == '\0')
        cfg_err(errs, doc, r, "name", 0, "rule name must not be empty");
    if (rc != 0 || name[0] == '\0')
        bad = -1;
    rc = cfg_get_str(errs, doc, r, "action", &action);
    if (rc == 1) {
        cfg_err(errs, doc, rules, NULL, idx, "rule needs an 'action' (allow or deny)");
        bad = -1;
    } else if (rc == 0) {
        if (strcmp(action, "allow") == 0)
            out->action = POL_ALLOW;
        else if (strcmp(action, "deny") == 0)
            out->action = POL_DENY;
        else {
            cfg_err(errs, doc, r, "action", 0, "action must be 'allow' or 'deny', not '%s'", action);
            bad = -1;
        }
    } else {
        bad = -1;
    }
    if (cfg_get_str(errs, doc, r, "message", &msg) < 0)
        bad = -1;
    bool any = false;
    for (int k = 0; k < POL_KIND__COUNT; k++) {
        json_t *list = NULL;
        rc = cfg_get_str_list(errs, doc, r, kind_keys[k], &list);
        if (rc < 0) {
            bad = -1;
            continue;
        }
        if (rc == 1)
            continue;
        any = true;
        out->covers[k] = true;
        size_t n = json_array_size(list);
        out->globs[k] = calloc(n ? n : 1, sizeof(char *));
        json_t *src = json_object_get(r, kind_keys[k]);
        for (size_t i = 0; i < n; i++) {
            const char *g = json_string_value(json_array_get(list, i));
            if (!glob_ok(g)) {
                if (json_is_array(src))
                    cfg_err(errs, doc, src, NULL, i, "invalid glob '%s' (empty, or '[' without ']')", g);
                else
                    cfg_err(errs, doc, r, kind_keys[k], 0, "invalid glob '%s'", g);
                bad = -1;
                continue;
            }
            out->globs[k][out->nglobs[k]++] = strdup(g);
        }
        json_decref(list);
    }
    if (!any && bad == 0) {
        cfg_err(errs, doc, rules, NULL, idx,
                "rule '%s' matches nothing: give at least one of tools, prompts, resources",
                name != NULL ? name : "?");
        bad = -1;
    }
    static const char *const cond_keys[] = {"roles", "identities", "clients", "models"};
    char ***cond_v[] = {&out->roles, &out->identities, &out->clients, &out->models};
    size_t *cond_n[] = {&out->nroles, &out->nidentities, &out->nclients, &out->nmodels};
    for (size_t c = 0; c < 4; c++) {
        json_t *list = NULL;
        rc = cfg_get_str_list(errs, doc, r, cond_keys[c], &list);
        if (rc < 0) {
            bad = -1;
            continue;
        }
        if (rc == 1)
            continue;
        size_t n = json_array_size(list);
        json_t *src = json_object_get(r, cond_keys[c]);
        if (n == 0) {
            cfg_err(errs, doc, r, cond_keys[c], 0,
                    "'%s' is empty: the rule would apply to no one; remove the key or list values",
                    cond_keys[c]);
            bad = -1;
        }
        *cond_v[c] = calloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            const char *g = json_string_value(json_array_get(list, i));
            if (c > 0 && !glob_ok(g)) {
                cfg_err(errs, doc, json_is_array(src) ? src : r, json_is_array(src) ? NULL : cond_keys[c],
                        json_is_array(src) ? i : 0, "invalid glob '%s' (empty, or '[' without ']')", g);
                bad = -1;
                continue;
            }
            if (c == 0 && g[0] == '\0') {
                cfg_err(errs, doc, json_is_array(src) ? src : r, json_is_array(src) ? NULL : cond_keys[c],
                        json_is_array(src) ? i : 0, "a role must not be empty");
                bad = -1;
                continue;
            }
            (*cond_v[c])[(*cond_n[c])++] = strdup(g);
        }
        json_decref(list);
        out->conditional = true;
    }
    if ((json_object_get(r, "clients") != NULL || json_object_get(r, "models") != NULL) &&
        out->action == POL_ALLOW) {
        cfg_err(errs, doc, r, json_object_get(r, "clients") != NULL ? "clients" : "models", 0,
                "rule '%s': clients and models are unverified hints the caller chooses, so they "
                "may only narrow access: use them in deny rules (use roles or identities to "
                "allow)",
                name != NULL ? name : "?");
        bad = -1;
    }
    out->name = name != NULL ? strdup(name) : NULL;
    out->message = msg != NULL ? strdup(msg) : NULL;
    return bad;
}

struct policy *policy_compile(const struct cfg_doc *doc, const json_t *section,
                              struct cfg_errors *errs)
{
    static const char *const keys[] = {"default", "rules", "arguments", NULL};
    size_t nerr = errs->n;
    struct policy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->refs = 1;
    p->default_action = POL_DENY;
    if (section == NULL)
        goto index;
    if (!json_is_object(section)) {
        cfg_errors_add(errs, "%s: 'policy' must be a mapping", doc->path);
        goto fail;
    }
    cfg_check_keys(errs, doc, section, keys);
    const char *def = NULL;
    if (cfg_get_str(errs, doc, section, "default", &def) == 0) {
        p->default_explicit = true;
        if (strcmp(def, "allow") == 0)
            p->default_action = POL_ALLOW;
        else if (strcmp(def, "deny") != 0)
            cfg_err(errs, doc, section, "default", 0, "default must be 'allow' or 'deny', not '%s'",
                    def);
    }
    json_t *rules = json_object_get(section, "rules");
    if (rules != NULL && !json_is_array(rules)) {
        cfg_err(errs, doc, section, "rules", 0, "'rules' must be a list");
    } else if (rules != NULL) {
        size_t n = json_array_size(rules);
        p->rules = calloc(n ? n : 1, sizeof(*p->rules));
        if (p->rules == NULL)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            struct pol_rule *r = &p->rules[p->nrules];
            json_t *jr = json_array_get(rules, i);
            compile_rule(doc, rules, i, jr, r, errs);
            p->nrules++;
            p->conditional |= r->conditional;
            for (size_t j = 0; r->name != NULL && j + 1 < p->nrules; j++) {
                if (p->rules[j].name != NULL && strcmp(p->rules[j].name, r->name) == 0) {
                    cfg_err(errs, doc, jr, "name", 0, "duplicate rule name '%s'", r->name);
                    break;
                }
            }
        }
    }
    json_t *args = json_object_get(section, "arguments");
    if (args != NULL)
        p->args = args_policy_compile(doc, args, errs);
index:
    if (errs->n > nerr)
        goto fail;
    if (build_index(p) < 0) {
        cfg_errors_add(errs, "%s: out of memory compiling the policy", doc->path);
        goto fail;
    }
    return p;
fail:
    policy_free(p);
    return NULL;
}
