/* policy.h - the access policy: which tools, prompts and resources may be used.
 *
 * A policy is an ordered list of named rules plus a default. A rule lists
 * globs per kind (tools, prompts, resources by URI) and an action; the first
 * rule whose globs match a name decides, otherwise the default does. The same
 * decision filters lists (tools/list, prompts/list, resources/list,
 * resources/templates/list) and judges calls, so nothing that cannot be
 * called is ever listed.
 *
 * A rule may be limited to some callers: `roles` (the caller has one of them),
 * `identities` (principal globs, e.g. "apikey:ci-*"), and the unverified
 * hints `clients` (the clientInfo.name of initialize) and `models` (the model
 * header). Every condition a rule names must hold for it to apply. Hints can
 * be forged by the caller, so they may only narrow access: a rule that uses
 * them must deny (an allow rule with them is a configuration error).
 *
 * Compiled policies are immutable and reference counted: a reload compiles a
 * new one and swaps the pointer; requests in flight keep the one they started
 * with.
 *
 * Config (section `policy:`):
 *   default: allow | deny          (deny when a config file omits it)
 *   rules:
 *     - name: no-destructive       (required, unique)
 *       action: deny | allow       (required)
 *       tools: ["delete_*", "move_file"]
 *       prompts: [...]
 *       resources: ["file:///secret/..."]
 *       roles: [admin]  identities: ["apikey:ci-*"]      (optional conditions)
 *       clients: ["*cursor*"]  models: ["gpt-*"]          (hints; deny rules only)
 *       message: "text added to the error a denied caller sees"
 *   arguments: [...]               argument constraints, docs/guards-arguments.md
 */
#ifndef MCPWALL_POLICY_POLICY_H
#define MCPWALL_POLICY_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy/config.h"
#include "util/map.h"

struct arg_policy;
struct identity;

enum pol_kind { POL_TOOL = 0, POL_PROMPT, POL_RESOURCE, POL_KIND__COUNT };
enum pol_action { POL_ALLOW = 0, POL_DENY };

struct pol_rule {
    char *name;
    enum pol_action action;
    char *message;       /* optional; NULL when absent */
    char **globs[POL_KIND__COUNT];
    size_t nglobs[POL_KIND__COUNT];
    bool covers[POL_KIND__COUNT];
    /* Conditions on the caller (NULL/0: no condition of that kind). */
    char **roles;
    size_t nroles;
    char **identities;   /* principal globs */
    size_t nidentities;
    char **clients;      /* clientInfo.name globs (hint) */
    size_t nclients;
    char **models;       /* model header globs (hint) */
    size_t nmodels;
    bool conditional;    /* any of the four is set */
};

/* Who asks. Every member may be NULL: a rule with a condition on a missing
 * member does not apply. */
struct pol_subject {
    const struct identity *id; /* authenticated caller (roles, principal) */
    const char *client;        /* clientInfo.name of initialize (unverified) */
    const char *model;         /* model header (unverified) */
};

struct pol_kind_index {
    struct map literal;  /* exact name -> (uintptr_t)(rule index + 1), first rule wins */
    size_t *glob_rules;  /* indices of rules with non-literal globs for this kind */
    size_t nglob_rules;
};

struct policy {
    int refs;
    enum pol_action default_action;
    bool default_explicit;
    struct pol_rule *rules;
    size_t nrules;
    struct pol_kind_index idx[POL_KIND__COUNT];
    struct arg_policy *args;   /* the `arguments` section (guard/args.h); NULL: none */
    bool conditional;          /* some rule has conditions: decisions scan rules in order */
};

struct pol_decision {
    enum pol_action action;
    const struct pol_rule *rule; /* NULL: the default decided */
};

/* Compiles the `policy:` section (may be NULL: default deny with no rules).
 * Returns a policy with one reference, or NULL after reporting every error. */
struct policy *policy_compile(const struct cfg_doc *doc, const json_t *section,
                              struct cfg_errors *errs);
/* The policy used when no configuration is given: allow everything. */
struct policy *policy_allow_all(void);
struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

/* Decides for one name of one kind. Never fails. */
/* Decides for one name of one kind, for subject `who` (may be NULL: rules
 * with conditions do not apply). Never fails. */
void policy_decide(const struct policy *p, const struct pol_subject *who, enum pol_kind kind,
                   const char *name, size_t len, struct pol_decision *d);
/* Name of the deciding rule ("default" when none matched). */
const char *policy_rule_name(const struct pol_decision *d);
const char *policy_kind_word(enum pol_kind kind); /* "tool", "prompt", "resource" */

/* Writes a human sentence for a denial: `tool "x" is denied by policy rule
 * "y"` plus the rule's message. */
void policy_denial_message(const struct pol_decision *d, enum pol_kind kind, const char *name,
                           size_t len, char *out, size_t outsz);

#endif
