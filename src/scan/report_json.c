/* report_json.c - the JSON report (schema version 1, docs/scan.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "scan/detect_bridge.h"
#include "scan/report.h"

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *finding_loc(const struct scan_report *r, const struct scan_finding *f)
{
    const struct scan_server *s = f->loc.server >= 0 && (size_t)f->loc.server < r->nservers
                                      ? &r->servers[f->loc.server]
                                      : NULL;
    const struct scan_item *it = s != NULL && f->loc.item >= 0 && (size_t)f->loc.item < s->nitems
                                     ? &s->items[f->loc.item]
                                     : NULL;
    json_t *loc = json_object();
    json_object_set_new(loc, "server", str_or_null(s != NULL ? s->name : NULL));
    json_object_set_new(loc, "kind", str_or_null(it != NULL ? scan_kind_name(it->kind) : NULL));
    json_object_set_new(loc, "item", str_or_null(it != NULL ? it->name : NULL));
    json_object_set_new(loc, "pointer", str_or_null(f->loc.pointer));
    json_object_set_new(loc, "span",
                        f->loc.has_span ? json_pack("{s:I, s:I}", "start", (json_int_t)f->loc.start,
                                                    "end", (json_int_t)f->loc.end)
                                        : json_null());
    json_object_set_new(loc, "file", str_or_null(f->loc.pos.file));
    json_object_set_new(loc, "line", f->loc.pos.line ? json_integer(f->loc.pos.line) : json_null());
    json_object_set_new(loc, "column", f->loc.pos.col ? json_integer(f->loc.pos.col) : json_null());
    return loc;
}

static json_t *finding_obj(const struct scan_report *r, size_t i)
{
    const struct scan_finding *f = &r->findings[i];
    const struct scan_rule *ru = scan_rule_find(f->rule);
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "index", (json_int_t)i, "id",
                     f->rule, "severity", scan_sev_name(f->sev), "category", f->category, "title",
                     ru != NULL ? ru->title : f->rule, "message", f->message, "fix",
                     f->fix != NULL ? f->fix : "", "evidence", str_or_null(f->evidence), "location",
                     finding_loc(r, f));
}

/* The findings of one item, briefly (id, severity, pointer, span, evidence). */
static json_t *item_findings(const struct scan_report *r, size_t s, size_t i)
{
    json_t *a = json_array();
    for (size_t k = 0; k < r->nfindings; k++) {
        const struct scan_finding *f = &r->findings[k];
        if (f->loc.server != (int)s || f->loc.item != (int)i)
            continue;
        json_array_append_new(
            a,
            json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "index", (json_int_t)k, "id", f->rule,
                      "severity", scan_sev_name(f->sev), "pointer", str_or_null(f->loc.pointer),
                      "span",
                      f->loc.has_span ? json_pack("{s:I, s:I}", "start", (json_int_t)f->loc.start,
                                                  "end", (json_int_t)f->loc.end)
                                      : json_null(),
                      "evidence", str_or_null(f->evidence)));
    }
    return a;
}

static json_t *item_obj(const struct scan_report *r, size_t s, size_t i)
{
    const struct scan_item *it = &r->servers[s].items[i];
    json_t *o = json_object();
    const char *key = it->kind == SCAN_KIND_RESOURCE   ? "uri"
                      : it->kind == SCAN_KIND_TEMPLATE ? "uri_template"
                                                       : "name";
    json_object_set_new(o, key, json_string(it->name));
    const char *title = json_string_value(json_object_get(it->def, "title"));
    if (title == NULL)
        title =
            json_string_value(json_object_get(json_object_get(it->def, "annotations"), "title"));
    json_object_set_new(o, "title", str_or_null(title));
    if (it->kind != SCAN_KIND_TOOL && it->kind != SCAN_KIND_PROMPT)
        json_object_set_new(o, "name",
                            str_or_null(json_string_value(json_object_get(it->def, "name"))));
    json_object_set_new(o, "risk", json_string(scan_risk_name(it->risk)));
    json_t *cats = json_array();
    for (unsigned c = 0; c < SCAN_CAT_COUNT; c++) {
        if (it->cats & (1u << c))
            json_array_append_new(cats, json_string(scan_cat_name(1u << c)));
    }
    json_object_set_new(o, "categories", cats);
    json_t *reasons = json_array();
    for (size_t k = 0; k < it->nreasons; k++)
        json_array_append_new(reasons, json_string(it->reasons[k]));
    json_object_set_new(o, "reasons", reasons);
    if (it->kind == SCAN_KIND_TOOL) {
        json_t *ann = json_object_get(it->def, "annotations");
        json_object_set_new(o, "annotations",
                            json_is_object(ann) ? json_deep_copy(ann) : json_null());
        json_object_set_new(o, "tokens", json_integer((json_int_t)it->tokens));
    }
    json_object_set_new(o, "sha256", it->hash[0] ? json_string(it->hash) : json_null());
    json_object_set_new(o, "http",
                        it->http_method != NULL
                            ? json_pack("{s:s, s:s}", "method", it->http_method, "path",
                                        it->http_path != NULL ? it->http_path : "")
                            : json_null());
    json_object_set_new(o, "file",
                        it->pos.line ? json_pack("{s:s, s:i, s:i}", "file", it->pos.file, "line",
                                                 (int)it->pos.line, "column", (int)it->pos.col)
                                     : json_null());
    json_object_set_new(o, "worst",
                        it->nfindings ? json_string(scan_sev_name(it->worst)) : json_null());
    json_object_set_new(o, "findings", item_findings(r, s, i));
    return o;
}

static json_t *server_obj(const struct scan_report *r, size_t s)
{
    const struct scan_server *sv = &r->servers[s];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(sv->name));
    json_object_set_new(o, "target", json_string(sv->target));
    json_object_set_new(o, "transport", json_string(scan_transport_name(sv->transport)));
    json_object_set_new(o, "host", str_or_null(sv->host));
    json_object_set_new(o, "config",
                        sv->cfgpos.line
                            ? json_pack("{s:s, s:i, s:i}", "file", sv->cfgpos.file, "line",
                                        (int)sv->cfgpos.line, "column", (int)sv->cfgpos.col)
                            : json_null());
    json_object_set_new(o, "error", str_or_null(sv->error));
    json_t *si = json_object_get(sv->init, "serverInfo");
    json_object_set_new(o, "server_info", json_is_object(si) ? json_deep_copy(si) : json_null());
    json_object_set_new(
        o, "protocol_version",
        str_or_null(json_string_value(json_object_get(sv->init, "protocolVersion"))));
    json_object_set_new(o, "tokens", json_integer((json_int_t)sv->tokens));
    json_object_set_new(o, "pinned", json_boolean(sv->pinned));
    static const char *const keys[] = {"tools", "prompts", "resources", "resource_templates"};
    json_t *arrs[4];
    for (int k = 0; k < 4; k++) {
        arrs[k] = json_array();
        json_object_set_new(o, keys[k], arrs[k]);
    }
    for (size_t i = 0; i < sv->nitems; i++)
        json_array_append_new(arrs[sv->items[i].kind], item_obj(r, s, i));
    return o;
}

static double ratio(size_t a, size_t b)
{
    return b == 0 ? 0.0 : (double)a / (double)b;
}

json_t *report_json_tree(const struct scan_report *r)
{
    const struct scan_summary *sum = &r->sum;
    json_t *risk =
        json_pack("{s:I, s:I, s:I}", "read-only", (json_int_t)sum->by_risk[SCAN_RISK_READ_ONLY],
                  "side-effect", (json_int_t)sum->by_risk[SCAN_RISK_SIDE_EFFECT], "critical",
                  (json_int_t)sum->by_risk[SCAN_RISK_CRITICAL]);
    json_t *cats = json_object();
    for (unsigned c = 0; c < SCAN_CAT_COUNT; c++)
        json_object_set_new(cats, scan_cat_name(1u << c), json_integer((json_int_t)sum->by_cat[c]));
    json_t *fsev = json_object();
    for (int v = SCAN_SEV_COUNT - 1; v >= 0; v--)
        json_object_set_new(fsev, scan_sev_name((enum scan_sev)v),
                            json_integer((json_int_t)sum->findings_by_sev[v]));
    json_t *policy = json_null();
    if (r->policy_done) {
        size_t crit = sum->by_risk[SCAN_RISK_CRITICAL];
        policy =
            json_pack("{s:s, s:I, s:I, s:f, s:I, s:f, s:I, s:f, s:O}", "file",
                      r->policy_file != NULL ? r->policy_file : "", "missing_permissions",
                      (json_int_t)sum->missing_permissions, "audited", (json_int_t)sum->audited,
                      "audit_coverage", ratio(sum->audited, sum->tools), "with_approval",
                      (json_int_t)sum->with_approval, "approval_coverage",
                      ratio(sum->with_approval, sum->tools), "critical_with_approval",
                      (json_int_t)sum->critical_with_approval, "critical_approval_coverage",
                      ratio(sum->critical_with_approval, crit), "notes", r->policy_notes);
    }
    json_t *summary = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:o}", "servers",
        (json_int_t)sum->servers, "servers_failed", (json_int_t)sum->servers_failed, "tools",
        (json_int_t)sum->tools, "prompts", (json_int_t)sum->prompts, "resources",
        (json_int_t)sum->resources, "resource_templates", (json_int_t)sum->templates, "risk", risk,
        "critical_categories", cats, "findings", fsev, "tokens", (json_int_t)sum->tokens,
        "token_budget_server", (json_int_t)r->opt.token_budget_server, "token_budget_total",
        (json_int_t)r->opt.token_budget_total, "policy", policy);
    json_t *ded = json_array();
    for (size_t i = 0; i < r->nded; i++)
        json_array_append_new(ded,
                              json_pack("{s:s, s:s, s:I, s:i, s:s}", "rule", r->ded[i].rule,
                                        "severity", scan_sev_name(r->ded[i].sev), "count",
                                        (json_int_t)r->ded[i].count, "points", r->ded[i].points,
                                        "why", r->ded[i].why != NULL ? r->ded[i].why : ""));
    json_t *servers = json_array();
    for (size_t s = 0; s < r->nservers; s++)
        json_array_append_new(servers, server_obj(r, s));
    json_t *findings = json_array();
    for (size_t i = 0; i < r->nfindings; i++)
        json_array_append_new(findings, finding_obj(r, i));
    return json_pack("{s:s, s:i, s:{s:s, s:s}, s:s, s:O, s:O, s:b, s:I, s:o, s:{s:i, s:o}, s:o, "
                     "s:o}",
                     "schema", SCAN_REPORT_SCHEMA, "version", SCAN_REPORT_VERSION, "generator",
                     "name", "mcpwall", "version", MCPWALL_VERSION, "started", r->started,
                     "targets", r->targets, "configs", r->configs, "detectors",
                     scan_detect_available(), "dropped_findings", (json_int_t)r->dropped_findings,
                     "summary", summary, "score", "value", r->score, "deductions", ded, "servers",
                     servers, "findings", findings);
}

int report_json(const struct scan_report *r, FILE *out)
{
    json_t *t = report_json_tree(r);
    if (t == NULL)
        return -1;
    int rc = json_dumpf(t, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF ? 0 : -1;
    json_decref(t);
    return rc;
}
