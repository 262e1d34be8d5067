/* report_sarif.c - SARIF 2.1.0 (OASIS), one run, one result per finding.
 * Findings about a file (host config, capture, OpenAPI document) carry a
 * physical location with line and column; findings about a live server carry
 * a logical location (server/tool) and, for HTTP servers, the URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "scan/report.h"
#include "util/buf.h"
#include "util/hash.h"

static const char *sarif_level(enum scan_sev s)
{
    switch (s) {
    case SCAN_SEV_CRITICAL:
    case SCAN_SEV_HIGH:
        return "error";
    case SCAN_SEV_MEDIUM:
        return "warning";
    default:
        return "note";
    }
}

/* GitHub code scanning reads properties.security-severity (0.0 - 10.0). */
static const char *security_severity(enum scan_sev s)
{
    switch (s) {
    case SCAN_SEV_CRITICAL:
        return "9.5";
    case SCAN_SEV_HIGH:
        return "8.0";
    case SCAN_SEV_MEDIUM:
        return "5.5";
    case SCAN_SEV_LOW:
        return "3.0";
    default:
        return "0.0";
    }
}

/* A file path as a URI reference: absolute paths become file:// URIs; bytes
 * outside the unreserved set and '/' are percent-encoded. */
static json_t *path_uri(const char *path)
{
    struct buf b;
    buf_init(&b, 16384);
    if (path[0] == '/')
        buf_append_str(&b, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
            buf_append_char(&b, (char)c);
        else
            buf_printf(&b, "%%%02X", c);
    }
    buf_cstr(&b);
    json_t *s = json_string(b.data != NULL ? buf_head(&b) : "");
    buf_free(&b);
    return s;
}

/* CamelCase name of a rule id for reportingDescriptor.name. */
static json_t *rule_name(const char *id)
{
    char out[128];
    size_t o = 0;
    bool up = true;
    for (const char *p = id; *p != '\0' && o + 1 < sizeof(out); p++) {
        if (*p == '.' || *p == '-' || *p == '_' || *p == '/') {
            up = true;
            continue;
        }
        char c = *p;
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        out[o++] = c;
        up = false;
    }
    out[o] = '\0';
    return json_string(out);
}

static json_t *rule_obj(const struct scan_rule *ru)
{
    return json_pack("{s:s, s:o, s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s}, s:{s:[s,s], s:s, "
                     "s:s}}",
                     "id", ru->id, "name", rule_name(ru->id), "shortDescription", "text", ru->title,
                     "fullDescription", "text", ru->title, "help", "text", ru->fix, "markdown",
                     ru->fix, "defaultConfiguration", "level", sarif_level(ru->sev), "properties",
                     "tags", "security", ru->category, "security-severity",
                     security_severity(ru->sev), "precision", "medium");
}

static json_t *fingerprint(const struct scan_report *r, const struct scan_finding *f)
{
    struct buf b;
    buf_init(&b, 65536);
    const struct scan_server *s = f->loc.server >= 0 && (size_t)f->loc.server < r->nservers
                                      ? &r->servers[f->loc.server]
                                      : NULL;
    buf_printf(&b, "%s|%s|%s|%s|%s", f->rule, s != NULL ? s->name : "",
               s != NULL && f->loc.item >= 0 && (size_t)f->loc.item < s->nitems
                   ? s->items[f->loc.item].name
                   : "",
               f->loc.pointer != NULL ? f->loc.pointer : "",
               f->evidence != NULL ? f->evidence : "");
    char hex[SHA256_HEX_LEN + 1];
    if (b.data == NULL || sha256_hex(buf_head(&b), buf_used(&b), hex) < 0)
        hex[0] = '\0';
    buf_free(&b);
    return json_string(hex);
}

static json_t *result_obj(const struct scan_report *r, const struct scan_finding *f,
                          size_t rule_index)
{
    const struct scan_server *s = f->loc.server >= 0 && (size_t)f->loc.server < r->nservers
                                      ? &r->servers[f->loc.server]
                                      : NULL;
    const struct scan_item *it = s != NULL && f->loc.item >= 0 && (size_t)f->loc.item < s->nitems
                                     ? &s->items[f->loc.item]
                                     : NULL;
    json_t *loc = json_object();
    if (f->loc.pos.file != NULL && f->loc.pos.line > 0) {
        json_t *region = json_pack("{s:i}", "startLine", (int)f->loc.pos.line);
        if (f->loc.pos.col > 0)
            json_object_set_new(region, "startColumn", json_integer(f->loc.pos.col));
        if (f->evidence != NULL)
            json_object_set_new(region, "snippet", json_pack("{s:s}", "text", f->evidence));
        json_object_set_new(loc, "physicalLocation",
                            json_pack("{s:{s:o}, s:o}", "artifactLocation", "uri",
                                      path_uri(f->loc.pos.file), "region", region));
    } else if (s != NULL && s->transport == SCAN_TR_HTTP) {
        json_object_set_new(loc, "physicalLocation",
                            json_pack("{s:{s:s}}", "artifactLocation", "uri", s->target));
    }
    if (s != NULL) {
        json_t *ll = json_array();
        if (it != NULL) {
            char fq[1024];
            snprintf(fq, sizeof(fq), "%s/%s", s->name, it->name);
            json_array_append_new(
                ll, json_pack("{s:s, s:s, s:s}", "name", it->name, "fullyQualifiedName", fq, "kind",
                              it->kind == SCAN_KIND_TOOL ? "function" : "member"));
        } else {
            json_array_append_new(ll, json_pack("{s:s, s:s, s:s}", "name", s->name,
                                                "fullyQualifiedName", s->name, "kind", "module"));
        }
        json_object_set_new(loc, "logicalLocations", ll);
    }
    json_t *props = json_pack("{s:s, s:s, s:s}", "severity", scan_sev_name(f->sev), "category",
                              f->category, "fix", f->fix != NULL ? f->fix : "");
    if (f->loc.pointer != NULL)
        json_object_set_new(props, "pointer", json_string(f->loc.pointer));
    if (f->loc.has_span)
        json_object_set_new(props, "span",
                            json_pack("{s:I, s:I}", "start", (json_int_t)f->loc.start, "end",
                                      (json_int_t)f->loc.end));
    if (f->evidence != NULL)
        json_object_set_new(props, "evidence", json_string(f->evidence));
    json_t *res = json_pack("{s:s, s:I, s:s, s:{s:s}, s:{s:o}, s:o}", "ruleId", f->rule,
                            "ruleIndex", (json_int_t)rule_index, "level", sarif_level(f->sev),
                            "message", "text", f->message, "partialFingerprints",
                            "mcpwallFinding/v1", fingerprint(r, f), "properties", props);
    if (json_object_size(loc) > 0)
        json_object_set_new(res, "locations", json_pack("[o]", loc));
    else
        json_decref(loc);
    return res;
}

json_t *report_sarif_tree(const struct scan_report *r)
{
    size_t nrules = 0;
    const struct scan_rule **used = scan_rules_used(r, &nrules);
    if (used == NULL)
        return NULL;
    json_t *rules = json_array();
    for (size_t i = 0; i < nrules; i++)
        json_array_append_new(rules, rule_obj(used[i]));
    json_t *results = json_array();
    for (size_t i = 0; i < r->nfindings; i++) {
        size_t ri = 0;
        const struct scan_rule *ru = scan_rule_find(r->findings[i].rule);
        while (ri < nrules && used[ri] != ru)
            ri++;
        json_array_append_new(results, result_obj(r, &r->findings[i], ri));
    }
    free(used);
    json_t *driver = json_pack("{s:s, s:s, s:s, s:o}", "name", "mcpwall", "version",
                               MCPWALL_VERSION, "semanticVersion", MCPWALL_VERSION, "rules", rules);
    json_t *inv = json_pack("[{s:b, s:s}]", "executionSuccessful", 1, "startTimeUtc", r->started);
    json_t *run =
        json_pack("{s:{s:o}, s:o, s:o, s:{s:i, s:O}}", "tool", "driver", driver, "invocations", inv,
                  "results", results, "properties", "score", r->score, "targets", r->targets);
    return json_pack("{s:s, s:s, s:[o]}", "$schema",
                     "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs",
                     run);
}

int report_sarif(const struct scan_report *r, FILE *out)
{
    json_t *t = report_sarif_tree(r);
    if (t == NULL)
        return -1;
    int rc = json_dumpf(t, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF ? 0 : -1;
    json_decref(t);
    return rc;
}
