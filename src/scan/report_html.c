/* report_html.c - one self-contained HTML page: inline CSS and SVG, no
 * script, and a Content-Security-Policy that forbids every fetch, so opening
 * the report never touches the network. Every string from a server or file
 * is HTML-escaped; control and invisible characters were already escaped in
 * evidence (scan.c). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "scan/detect_bridge.h"
#include "scan/report.h"
#include "util/buf.h"
#include "util/utf8.h"

#define HTML_MAX (256u * 1024u * 1024u)

/* HTML-escapes s; control, invisible and bidi characters become \u{XXXX}
 * text so a name cannot reorder or hide what the page shows. */
static void esc(struct buf *b, const char *s)
{
    if (s == NULL)
        return;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t l;
        if (utf8_decode((const unsigned char *)s + i, n - i, &cp, &l) != UTF8_OK) {
            buf_append_str(b, "&#xFFFD;");
            i++;
            continue;
        }
        if (scan_cp_hidden(cp)) {
            buf_printf(b, "\\u{%04X}", (unsigned)cp);
        } else if (l > 1) {
            buf_append(b, s + i, l);
        } else {
            switch (c) {
            case '&':
                buf_append_str(b, "&amp;");
                break;
            case '<':
                buf_append_str(b, "&lt;");
                break;
            case '>':
                buf_append_str(b, "&gt;");
                break;
            case '"':
                buf_append_str(b, "&quot;");
                break;
            case '\'':
                buf_append_str(b, "&#39;");
                break;
            default:
                buf_append_char(b, (char)c);
            }
        }
        i += l;
    }
}

static const char *sev_class(enum scan_sev s)
{
    return scan_sev_name(s);
}

static const char *risk_class(enum scan_risk r)
{
    switch (r) {
    case SCAN_RISK_READ_ONLY:
        return "ro";
    case SCAN_RISK_SIDE_EFFECT:
        return "se";
    case SCAN_RISK_CRITICAL:
        return "cr";
    }
    return "";
}

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
    "color:#1b1f24;background:#f6f7f9}"
    "header{background:#14213d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}"
    "header p{margin:4px 0 0;opacity:.8}main{padding:20px 28px;max-width:1200px}"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 20px;"
    "margin:0 0 18px}h2{font-size:17px;margin:0 0 10px}h3{font-size:15px;margin:14px 0 6px}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;"
    "border-bottom:1px solid #eceff3;vertical-align:top}th{background:#f0f2f5;font-weight:600}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".grid{display:flex;gap:18px;flex-wrap:wrap}.grid>section{flex:1 1 340px}"
    ".score{font-size:44px;font-weight:700}.score small{font-size:16px;color:#666}"
    ".pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;"
    "color:#fff}.critical{background:#8b0000}.high{background:#d1242f}.medium{background:#bf8700}"
    ".low{background:#0969da}.info{background:#6e7781}.ro{color:#1a7f37;font-weight:600}"
    ".se{color:#9a6700;font-weight:600}.cr{color:#cf222e;font-weight:600}"
    ".finding{border-left:4px solid #ccc;padding:6px 10px;margin:8px 0;background:#fafbfc}"
    ".finding.critical,.finding.high{border-color:#cf222e}.finding.medium{border-color:#bf8700}"
    ".finding.low{border-color:#0969da}.finding.info{border-color:#8c959f}"
    ".finding.critical,.finding.high,.finding.medium,.finding.low,.finding.info{background:#fafbfc}"
    "code,.ev{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}"
    ".ev{background:#fff8c5;padding:1px 4px;border-radius:3px;white-space:pre-wrap;"
    "word-break:break-all}.muted{color:#57606a}.err{color:#cf222e}";

static void summary_row(struct buf *b, const char *id, const char *label, const char *value)
{
    buf_printf(b, "<tr id=\"sum-%s\"><th scope=\"row\">", id);
    esc(b, label);
    buf_append_str(b, "</th><td class=\"n\">");
    esc(b, value);
    buf_append_str(b, "</td></tr>\n");
}

static void pct(char *out, size_t outsz, size_t a, size_t b)
{
    if (b == 0)
        snprintf(out, outsz, "n/a (no tools)");
    else
        snprintf(out, outsz, "%zu / %zu (%.0f%%)", a, b, 100.0 * (double)a / (double)b);
}

static void summary_table(struct buf *b, const struct scan_report *r)
{
    const struct scan_summary *s = &r->sum;
    char v[128];
    buf_append_str(b, "<section><h2>Summary</h2>\n<table id=\"summary\">\n");
    snprintf(v, sizeof(v), "%zu", s->servers);
    summary_row(b, "servers", "Servers", v);
    snprintf(v, sizeof(v), "%zu", s->tools);
    summary_row(b, "tools", "Tools", v);
    snprintf(v, sizeof(v), "%zu", s->by_risk[SCAN_RISK_READ_ONLY]);
    summary_row(b, "read-only", "Read-only tools", v);
    snprintf(v, sizeof(v), "%zu", s->by_risk[SCAN_RISK_SIDE_EFFECT]);
    summary_row(b, "side-effect", "Side-effect tools", v);
    snprintf(v, sizeof(v), "%zu", s->by_risk[SCAN_RISK_CRITICAL]);
    summary_row(b, "critical", "Critical tools", v);
    const char *nopol = "not evaluated (no --policy)";
    if (r->policy_done) {
        snprintf(v, sizeof(v), "%zu", s->missing_permissions);
        summary_row(b, "missing-permissions", "Missing permissions (tools open to everyone)", v);
        pct(v, sizeof(v), s->audited, s->tools);
        summary_row(b, "audit-coverage", "Audit coverage", v);
        pct(v, sizeof(v), s->with_approval, s->tools);
        summary_row(b, "approval-coverage", "Approval coverage", v);
        pct(v, sizeof(v), s->critical_with_approval, s->by_risk[SCAN_RISK_CRITICAL]);
        summary_row(b, "critical-approval-coverage", "Critical tools denied or behind an approval",
                    v);
    } else {
        summary_row(b, "missing-permissions", "Missing permissions (tools open to everyone)",
                    nopol);
        summary_row(b, "audit-coverage", "Audit coverage", nopol);
        summary_row(b, "approval-coverage", "Approval coverage", nopol);
    }
    snprintf(v, sizeof(v), "%zu", s->prompts);
    summary_row(b, "prompts", "Prompts", v);
    snprintf(v, sizeof(v), "%zu", s->resources + s->templates);
    summary_row(b, "resources", "Resources and templates", v);
    size_t nf = 0;
    for (int i = 0; i < SCAN_SEV_COUNT; i++)
        nf += s->findings_by_sev[i];
    snprintf(v, sizeof(v), "%zu", nf);
    summary_row(b, "findings", "Findings", v);
    snprintf(v, sizeof(v), "~%zu", s->tokens);
    summary_row(b, "tokens", "Token cost of tool definitions", v);
    snprintf(v, sizeof(v), "%d / 100", r->score);
    summary_row(b, "score", "Score", v);
    buf_append_str(b, "</table></section>\n");
}

static void risk_chart(struct buf *b, const struct scan_report *r)
{
    const struct scan_summary *s = &r->sum;
    size_t vals[3] = {s->by_risk[0], s->by_risk[1], s->by_risk[2]};
    static const char *const labels[3] = {"read-only", "side-effect", "critical"};
    static const char *const colors[3] = {"#2da44e", "#d4a72c", "#cf222e"};
    size_t max = 1;
    for (int i = 0; i < 3; i++)
        max = vals[i] > max ? vals[i] : max;
    buf_append_str(b, "<section><h2>Tools by risk class</h2>\n"
                      "<svg id=\"risk-chart\" role=\"img\" width=\"420\" height=\"130\" "
                      "viewBox=\"0 0 420 130\" xmlns=\"http://www.w3.org/2000/svg\">"
                      "<title>Tools by risk class</title>\n");
    for (int i = 0; i < 3; i++) {
        unsigned w = (unsigned)(260.0 * (double)vals[i] / (double)max);
        unsigned y = 10u + (unsigned)i * 38u;
        buf_printf(b,
                   "<text x=\"0\" y=\"%u\" font-size=\"13\" fill=\"#1b1f24\">%s</text>"
                   "<rect class=\"bar\" data-class=\"%s\" x=\"100\" y=\"%u\" width=\"%u\" "
                   "height=\"24\" rx=\"3\" fill=\"%s\"/>"
                   "<text x=\"%u\" y=\"%u\" font-size=\"13\" fill=\"#1b1f24\">%zu</text>\n",
                   y + 17, labels[i], labels[i], y, w ? w : 1, colors[i], 108 + w, y + 17, vals[i]);
    }
    buf_append_str(b, "</svg>\n");
    buf_append_str(b, "<table><tr><th>Critical category</th><th class=\"n\">Tools</th></tr>\n");
    for (unsigned c = 0; c < SCAN_CAT_COUNT; c++)
        buf_printf(b, "<tr><td>%s</td><td class=\"n\">%zu</td></tr>\n", scan_cat_name(1u << c),
                   s->by_cat[c]);
    buf_append_str(b, "</table></section>\n");
}

static void score_section(struct buf *b, const struct scan_report *r)
{
    buf_printf(b,
               "<section id=\"score\"><h2>Score</h2><div class=\"score\">%d <small>/ 100</small>"
               "</div>\n",
               r->score);
    buf_append_str(b, "<p class=\"muted\">100 minus one deduction per rule and severity: "
                      "critical 30, high 15, medium 6, low 2, info 0 points for the first "
                      "finding, a quarter of that for each other, at most twice the first.</p>\n");
    buf_append_str(b,
                   "<table id=\"deductions\"><tr><th class=\"n\">Points</th><th>Why</th></tr>\n");
    for (size_t i = 0; i < r->nded; i++) {
        buf_printf(b, "<tr><td class=\"n\">-%d</td><td>", r->ded[i].points);
        esc(b, r->ded[i].why);
        buf_append_str(b, "</td></tr>\n");
    }
    if (r->nded == 0)
        buf_append_str(b, "<tr><td class=\"n\">0</td><td>no findings</td></tr>\n");
    buf_append_str(b, "</table></section>\n");
}

static void item_label(struct buf *b, const struct scan_report *r, const struct scan_finding *f)
{
    const struct scan_server *s = f->loc.server >= 0 && (size_t)f->loc.server < r->nservers
                                      ? &r->servers[f->loc.server]
                                      : NULL;
    if (s == NULL)
        return;
    buf_append_str(b, " <span class=\"muted\">server</span> <code>");
    esc(b, s->name);
    buf_append_str(b, "</code>");
    if (f->loc.item >= 0 && (size_t)f->loc.item < s->nitems) {
        buf_printf(b, " <span class=\"muted\">%s</span> <code>",
                   scan_kind_name(s->items[f->loc.item].kind));
        esc(b, s->items[f->loc.item].name);
        buf_append_str(b, "</code>");
    }
}

static void findings_section(struct buf *b, const struct scan_report *r)
{
    buf_append_str(b, "<section id=\"findings\"><h2>Findings by severity</h2>\n");
    if (!scan_detect_available())
        buf_append_str(b, "<p class=\"err\">This build has no poisoning detectors: descriptions "
                          "and schemas were not inspected for injected instructions.</p>\n");
    for (int v = SCAN_SEV_COUNT - 1; v >= 0; v--) {
        size_t n = r->sum.findings_by_sev[v];
        buf_printf(b, "<h3 id=\"sev-%s\"><span class=\"pill %s\">%s</span> %zu</h3>\n",
                   scan_sev_name((enum scan_sev)v), sev_class((enum scan_sev)v),
                   scan_sev_name((enum scan_sev)v), n);
        for (size_t i = 0; i < r->nfindings; i++) {
            const struct scan_finding *f = &r->findings[i];
            if ((int)f->sev != v)
                continue;
            buf_printf(b, "<div class=\"finding %s\" data-rule=\"", sev_class(f->sev));
            esc(b, f->rule);
            buf_append_str(b, "\"><code>");
            esc(b, f->rule);
            buf_append_str(b, "</code>");
            item_label(b, r, f);
            if (f->loc.pos.file != NULL && f->loc.pos.line > 0) {
                buf_append_str(b, " <span class=\"muted\">at</span> <code>");
                esc(b, f->loc.pos.file);
                buf_printf(b, ":%u:%u</code>", (unsigned)f->loc.pos.line, (unsigned)f->loc.pos.col);
            }
            buf_append_str(b, "<br>");
            esc(b, f->message);
            if (f->evidence != NULL) {
                buf_append_str(b, "<br><span class=\"muted\">evidence");
                if (f->loc.pointer != NULL) {
                    buf_append_str(b, " at <code>");
                    esc(b, f->loc.pointer);
                    buf_append_str(b, "</code>");
                }
                if (f->loc.has_span)
                    buf_printf(b, " bytes [%zu, %zu)", f->loc.start, f->loc.end);
                buf_append_str(b, ":</span> <span class=\"ev\">");
                esc(b, f->evidence);
                buf_append_str(b, "</span>");
            }
            buf_append_str(b, "<br><span class=\"muted\">fix:</span> ");
            esc(b, f->fix);
            buf_append_str(b, "</div>\n");
        }
    }
    buf_append_str(b, "</section>\n");
}

static void inventory_section(struct buf *b, const struct scan_report *r)
{
    buf_append_str(b, "<section id=\"inventory\"><h2>Inventory</h2>\n");
    for (size_t s = 0; s < r->nservers; s++) {
        const struct scan_server *sv = &r->servers[s];
        buf_append_str(b, "<h3>");
        esc(b, sv->name);
        buf_printf(b, " <span class=\"muted\">(%s) ", scan_transport_name(sv->transport));
        esc(b, sv->target);
        buf_printf(b, " &middot; ~%zu tokens</span></h3>\n", sv->tokens);
        if (sv->error != NULL) {
            buf_append_str(b, "<p class=\"err\">Not scanned: ");
            esc(b, sv->error);
            buf_append_str(b, "</p>\n");
        }
        if (sv->nitems == 0)
            continue;
        buf_append_str(b, "<table class=\"inv\"><tr><th>Kind</th><th>Name</th><th>Risk</th>"
                          "<th>Why</th><th class=\"n\">Tokens</th><th class=\"n\">Findings</th>"
                          "</tr>\n");
        for (size_t i = 0; i < sv->nitems; i++) {
            const struct scan_item *it = &sv->items[i];
            buf_printf(b, "<tr><td>%s</td><td><code>", scan_kind_name(it->kind));
            esc(b, it->name);
            buf_printf(b, "</code></td><td class=\"%s\">%s", risk_class(it->risk),
                       scan_risk_name(it->risk));
            for (unsigned c = 0; c < SCAN_CAT_COUNT; c++) {
                if (it->cats & (1u << c))
                    buf_printf(b, "<br><small>%s</small>", scan_cat_name(1u << c));
            }
            buf_append_str(b, "</td><td><small>");
            for (size_t k = 0; k < it->nreasons; k++) {
                if (k > 0)
                    buf_append_str(b, "; ");
                esc(b, it->reasons[k]);
            }
            buf_printf(b, "</small></td><td class=\"n\">%zu</td><td class=\"n\">", it->tokens);
            if (it->nfindings > 0)
                buf_printf(b, "<span class=\"pill %s\">%zu</span>", sev_class(it->worst),
                           it->nfindings);
            else
                buf_append_str(b, "0");
            buf_append_str(b, "</td></tr>\n");
        }
        buf_append_str(b, "</table>\n");
    }
    buf_append_str(b, "</section>\n");
}

int report_html(const struct scan_report *r, FILE *out)
{
    struct buf b;
    buf_init(&b, HTML_MAX);
    buf_append_str(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                       "'none'; style-src 'unsafe-inline'; img-src data:\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
                       "<title>mcpwall scan report</title>\n<style>");
    buf_append_str(&b, css);
    buf_append_str(&b, "</style></head><body>\n<header><h1>mcpwall scan report</h1><p>");
    buf_printf(&b, "mcpwall %s &middot; %s &middot; ", MCPWALL_VERSION, r->started);
    size_t i;
    json_t *t;
    json_array_foreach(r->targets, i, t)
    {
        if (i > 0)
            buf_append_str(&b, ", ");
        esc(&b, json_string_value(t));
    }
    buf_append_str(&b, "</p></header>\n<main>\n<div class=\"grid\">\n");
    summary_table(&b, r);
    risk_chart(&b, r);
    score_section(&b, r);
    buf_append_str(&b, "</div>\n");
    findings_section(&b, r);
    inventory_section(&b, r);
    if (r->policy_done && json_array_size(r->policy_notes) > 0) {
        buf_append_str(&b, "<section><h2>Policy notes</h2><ul>\n");
        json_array_foreach(r->policy_notes, i, t)
        {
            buf_append_str(&b, "<li>");
            esc(&b, json_string_value(t));
            buf_append_str(&b, "</li>\n");
        }
        buf_append_str(&b, "</ul></section>\n");
    }
    buf_append_str(&b, "</main></body></html>\n");
    int rc = -1;
    if (b.data != NULL && buf_used(&b) > 0)
        rc = fwrite(buf_head(&b), 1, buf_used(&b), out) == buf_used(&b) ? 0 : -1;
    buf_free(&b);
    return rc;
}
