/* policy_eval.c - a gateway configuration's policy against the inventory.
 *
 * Policy version 1 (policy/policy.h) has allow/deny rules per tool, prompt
 * and resource and a default; it has no identities and no approval rules yet.
 * So: a tool the policy allows is allowed to every caller; no tool needs an
 * approval; calls are audited when the configuration's audit log is on (the
 * gateway records every decision, allowed or denied). The notes of the
 * report say this, and the figures follow from it:
 *   missing permissions       allowed side-effect and critical tools
 *   audit coverage            tools whose calls are audited / tools
 *   approval coverage         tools with an approval rule / tools (0 for now)
 *   critical approval coverage critical tools that cannot run without a person
 *                             (denied, or behind an approval) / critical tools
 * Findings point at the rule (or the default) that allows the tool, in the
 * configuration file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gwconfig.h"
#include "policy/config.h"
#include "policy/policy.h"
#include "scan/policy_eval.h"

static struct cfg_pos decision_pos(const struct cfg_doc *doc, const struct policy *p,
                                   const struct pol_decision *d)
{
    const json_t *sec = json_object_get(doc->root, "policy");
    if (d->rule != NULL) {
        size_t idx = (size_t)(d->rule - p->rules);
        return cfg_pos_of(doc, json_object_get(sec, "rules"), NULL, idx);
    }
    if (sec != NULL)
        return cfg_pos_of(doc, sec, "default", 0);
    return cfg_pos_of(doc, NULL, NULL, 0);
}

static void note(struct scan_report *r, const char *s)
{
    json_array_append_new(r->policy_notes, json_string(s));
}

int scan_policy_eval(struct scan_report *r, const char *path)
{
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc *doc = cfg_load_file(path, &errs);
    struct gw_config *cfg = doc != NULL ? gwconfig_compile(doc, &errs) : NULL;
    if (cfg == NULL) {
        cfg_errors_print(&errs, stderr);
        fprintf(stderr, "mcpwall scan: %zu error%s in %s\n", errs.n, errs.n == 1 ? "" : "s", path);
        cfg_errors_free(&errs);
        cfg_doc_free(doc);
        return -1;
    }
    cfg_errors_free(&errs);
    const struct cfg_doc *kept = scan_keep_doc(r, doc);
    if (kept == NULL) {
        gwconfig_free(cfg);
        return -1;
    }
    const struct policy *p = cfg->policy;
    r->policy_done = true;
    free(r->policy_file);
    r->policy_file = strdup(path);
    note(r, "policy version 1 has no identities or roles: a tool the policy allows is allowed "
            "to every caller");
    note(r, "policy version 1 has no approval rules: no tool needs an approval yet");
    if (!cfg->audit.enabled)
        note(r, "the audit log is off: no call is recorded");

    size_t open = 0, audited = 0, crit_guarded = 0;
    for (size_t s = 0; s < r->nservers; s++) {
        struct scan_server *sv = &r->servers[s];
        for (size_t i = 0; i < sv->nitems; i++) {
            struct scan_item *it = &sv->items[i];
            enum pol_kind kind = it->kind == SCAN_KIND_TOOL     ? POL_TOOL
                                 : it->kind == SCAN_KIND_PROMPT ? POL_PROMPT
                                                                : POL_RESOURCE;
            if (it->kind == SCAN_KIND_TEMPLATE)
                continue; /* the policy judges concrete URIs, not templates */
            struct pol_decision d;
            policy_decide(p, NULL, kind, it->name, strlen(it->name), &d);
            it->pol_allowed = d.action == POL_ALLOW;
            it->pol_everyone = it->pol_allowed;
            it->pol_approval = false;
            it->pol_audited = cfg->audit.enabled;
            if (it->kind != SCAN_KIND_TOOL)
                continue;
            if (it->pol_audited)
                audited++;
            /* a critical tool is guarded when it cannot run without a person:
             * denied, or (once policies have them) behind an approval */
            if (it->risk == SCAN_RISK_CRITICAL && (!it->pol_allowed || it->pol_approval))
                crit_guarded++;
            if (!it->pol_allowed || it->risk == SCAN_RISK_READ_ONLY)
                continue;
            open++;
            struct cfg_pos pos = decision_pos(kept, p, &d);
            struct scan_finding *f;
            if (it->risk == SCAN_RISK_CRITICAL)
                f = scan_add_finding(r, "policy.critical-without-approval", -1, (int)s, (int)i,
                                     "critical tool '%s' of server '%s' is allowed by %s%s%s "
                                     "and needs no approval",
                                     it->name, sv->name, d.rule != NULL ? "rule '" : "the ",
                                     policy_rule_name(&d), d.rule != NULL ? "'" : " action");
            else
                f = scan_add_finding(r, "policy.open-to-everyone", -1, (int)s, (int)i,
                                     "side-effect tool '%s' of server '%s' is allowed to every "
                                     "caller by %s%s%s",
                                     it->name, sv->name, d.rule != NULL ? "rule '" : "the ",
                                     policy_rule_name(&d), d.rule != NULL ? "'" : " action");
            if (f != NULL && pos.line != 0)
                scan_finding_pos(r, f, kept->path, pos.line, pos.col);
        }
    }
    if (!cfg->audit.enabled) {
        struct scan_finding *f = scan_add_finding(r, "policy.not-audited", -1, -1, -1,
                                                  "%s turns the audit log off", path);
        const json_t *sec = json_object_get(kept->root, "audit");
        struct cfg_pos pos = cfg_pos_of(kept, sec, "enabled", 0);
        if (f != NULL && pos.line != 0)
            scan_finding_pos(r, f, kept->path, pos.line, pos.col);
    }
    r->sum.missing_permissions = open;
    r->sum.audited = audited;
    r->sum.with_approval = 0;
    r->sum.critical_with_approval = crit_guarded;
    gwconfig_free(cfg);
    return 0;
}
