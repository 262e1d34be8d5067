/* report_text.c - the terminal report. Evidence is printed escaped (scan.c),
 * so nothing a server sends can move the cursor or hide text here. */
#include <stdio.h>
#include <string.h>

#include "scan/detect_bridge.h"
#include "scan/report.h"
#include "util/utf8.h"

struct tc {
    bool on;
};

static const char *col(const struct tc *c, const char *code)
{
    return c->on ? code : "";
}

#define C_RESET "\033[0m"
#define C_BOLD  "\033[1m"
#define C_DIM   "\033[2m"
#define C_RED   "\033[31m"
#define C_BRED  "\033[1;31m"
#define C_YEL   "\033[33m"
#define C_CYAN  "\033[36m"
#define C_GREEN "\033[32m"

static const char *sev_color(enum scan_sev s)
{
    switch (s) {
    case SCAN_SEV_CRITICAL:
        return C_BRED;
    case SCAN_SEV_HIGH:
        return C_RED;
    case SCAN_SEV_MEDIUM:
        return C_YEL;
    case SCAN_SEV_LOW:
        return C_CYAN;
    case SCAN_SEV_INFO:
        return C_DIM;
    }
    return "";
}

static const char *risk_color(enum scan_risk r)
{
    switch (r) {
    case SCAN_RISK_CRITICAL:
        return C_RED;
    case SCAN_RISK_SIDE_EFFECT:
        return C_YEL;
    case SCAN_RISK_READ_ONLY:
        return C_GREEN;
    }
    return "";
}

/* Prints a string from a server with control, invisible and bidi characters
 * shown as \u{XXXX} (names, titles and messages are not escaped before). */
static void safe(FILE *out, const char *s, size_t max)
{
    size_t n = strlen(s), i = 0, shown = 0;
    while (i < n && shown < max) {
        uint32_t cp;
        size_t l;
        if (utf8_decode((const unsigned char *)s + i, n - i, &cp, &l) != UTF8_OK) {
            fputc('?', out);
            i++;
            shown++;
            continue;
        }
        if (scan_cp_hidden(cp))
            fprintf(out, "\\u{%04X}", (unsigned)cp);
        else
            fwrite(s + i, 1, l, out);
        i += l;
        shown++;
    }
    if (i < n)
        fputs("...", out);
}

static void print_item(FILE *out, const struct tc *c, const struct scan_report *r,
                       const struct scan_item *it)
{
    (void)r;
    fprintf(out, "    %s%-11s%s ", col(c, risk_color(it->risk)), scan_risk_name(it->risk),
            col(c, C_RESET));
    safe(out, it->name, 60);
    if (it->cats != 0) {
        fputs(" [", out);
        bool first = true;
        for (unsigned k = 0; k < SCAN_CAT_COUNT; k++) {
            if (it->cats & (1u << k)) {
                fprintf(out, "%s%s", first ? "" : ", ", scan_cat_name(1u << k));
                first = false;
            }
        }
        fputc(']', out);
    }
    if (it->nfindings > 0)
        fprintf(out, "  %s%zu finding%s, worst %s%s", col(c, sev_color(it->worst)), it->nfindings,
                it->nfindings == 1 ? "" : "s", scan_sev_name(it->worst), col(c, C_RESET));
    fputc('\n', out);
    if (it->nreasons > 0 && it->kind == SCAN_KIND_TOOL) {
        fprintf(out, "                %s", col(c, C_DIM));
        for (size_t k = 0; k < it->nreasons && k < 3; k++)
            fprintf(out, "%s%s", k ? "; " : "", it->reasons[k]);
        fprintf(out, "%s\n", col(c, C_RESET));
    }
}

int report_text(const struct scan_report *r, FILE *out, bool color)
{
    struct tc c = {color};
    const struct scan_summary *s = &r->sum;
    fprintf(out,
            "%smcpwall scan%s: %zu server%s, %zu tools (%zu read-only, %zu side-effect, %zu "
            "critical), %zu prompts, %zu resources, %zu resource templates\n",
            col(&c, C_BOLD), col(&c, C_RESET), s->servers, s->servers == 1 ? "" : "s", s->tools,
            s->by_risk[SCAN_RISK_READ_ONLY], s->by_risk[SCAN_RISK_SIDE_EFFECT],
            s->by_risk[SCAN_RISK_CRITICAL], s->prompts, s->resources, s->templates);
    if (!scan_detect_available())
        fprintf(out,
                "%snote: this build has no poisoning detectors; descriptions were not "
                "inspected%s\n",
                col(&c, C_YEL), col(&c, C_RESET));

    for (size_t i = 0; i < r->nservers; i++) {
        const struct scan_server *sv = &r->servers[i];
        fprintf(out, "\n%sserver ", col(&c, C_BOLD));
        safe(out, sv->name, 80);
        fprintf(out, "%s (%s: ", col(&c, C_RESET),
                sv->transport == SCAN_TR_NONE ? "configured, not connected"
                                              : scan_transport_name(sv->transport));
        safe(out, sv->target, 120);
        fputc(')', out);
        const char *sn =
            json_string_value(json_object_get(json_object_get(sv->init, "serverInfo"), "name"));
        const char *sver =
            json_string_value(json_object_get(json_object_get(sv->init, "serverInfo"), "version"));
        if (sn != NULL) {
            fputs(" ", out);
            safe(out, sn, 60);
            if (sver != NULL) {
                fputc(' ', out);
                safe(out, sver, 30);
            }
        }
        if (sv->host != NULL)
            fprintf(out, " from %s %s:%u", sv->host, sv->cfgpos.file ? sv->cfgpos.file : "?",
                    (unsigned)sv->cfgpos.line);
        fputc('\n', out);
        if (sv->error != NULL) {
            fprintf(out, "    %snot scanned: ", col(&c, C_RED));
            safe(out, sv->error, 400);
            fprintf(out, "%s\n", col(&c, C_RESET));
        }
        size_t ntools = 0;
        for (size_t k = 0; k < sv->nitems; k++)
            ntools += sv->items[k].kind == SCAN_KIND_TOOL;
        if (ntools > 0)
            fprintf(out, "  %zu tools, about %zu tokens of definitions\n", ntools, sv->tokens);
        for (int kind = SCAN_KIND_TOOL; kind <= SCAN_KIND_TEMPLATE; kind++) {
            for (size_t k = 0; k < sv->nitems; k++) {
                if ((int)sv->items[k].kind != kind)
                    continue;
                if (kind != SCAN_KIND_TOOL && sv->items[k].nfindings == 0)
                    continue; /* prompts and resources only when something was found */
                print_item(out, &c, r, &sv->items[k]);
            }
        }
        size_t others = s->prompts + s->resources + s->templates;
        (void)others;
    }

    fprintf(out, "\n%sfindings%s: ", col(&c, C_BOLD), col(&c, C_RESET));
    for (int v = SCAN_SEV_COUNT - 1; v >= 0; v--)
        fprintf(out, "%s%zu %s", v == SCAN_SEV_COUNT - 1 ? "" : ", ", s->findings_by_sev[v],
                scan_sev_name((enum scan_sev)v));
    fputc('\n', out);
    for (int v = SCAN_SEV_COUNT - 1; v >= 0; v--) {
        for (size_t i = 0; i < r->nfindings; i++) {
            const struct scan_finding *f = &r->findings[i];
            if ((int)f->sev != v)
                continue;
            fprintf(out, "  %s%-8s%s %s", col(&c, sev_color(f->sev)), scan_sev_name(f->sev),
                    col(&c, C_RESET), f->rule);
            if (f->loc.pos.file != NULL && f->loc.pos.line != 0)
                fprintf(out, "  %s:%u:%u", f->loc.pos.file, (unsigned)f->loc.pos.line,
                        (unsigned)f->loc.pos.col);
            fputs("\n           ", out);
            safe(out, f->message, 600);
            fputc('\n', out);
            if (f->evidence != NULL) {
                fprintf(out, "           evidence");
                if (f->loc.pointer != NULL) {
                    fputs(" at ", out);
                    safe(out, f->loc.pointer, 100);
                }
                if (f->loc.has_span)
                    fprintf(out, " [%zu,%zu)", f->loc.start, f->loc.end);
                fprintf(out, ": \"%s\"\n", f->evidence);
            }
            if (f->fix != NULL && *f->fix != '\0')
                fprintf(out, "           %sfix: %s%s\n", col(&c, C_DIM), f->fix, col(&c, C_RESET));
        }
    }
    if (r->dropped_findings > 0)
        fprintf(out, "  (%zu more findings were not recorded)\n", r->dropped_findings);
    if (r->policy_done) {
        fprintf(out,
                "\n%spolicy%s %s: %zu tools allowed to everyone, audit coverage %zu/%zu, "
                "approval coverage %zu/%zu (critical tools guarded %zu/%zu)\n",
                col(&c, C_BOLD), col(&c, C_RESET), r->policy_file ? r->policy_file : "",
                s->missing_permissions, s->audited, s->tools, s->with_approval, s->tools,
                s->critical_with_approval, s->by_risk[SCAN_RISK_CRITICAL]);
        size_t i;
        json_t *n;
        json_array_foreach(r->policy_notes, i, n)
        {
            fprintf(out, "  note: %s\n", json_string_value(n));
        }
    }
    fprintf(out, "\n%sscore %d/100%s\n", col(&c, C_BOLD), r->score, col(&c, C_RESET));
    for (size_t i = 0; i < r->nded; i++) {
        if (r->ded[i].points > 0)
            fprintf(out, "  -%-3d %s\n", r->ded[i].points, r->ded[i].why);
    }
    return ferror(out) ? -1 : 0;
}
