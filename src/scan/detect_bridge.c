/* detect_bridge.c - guard/detect findings as scan findings.
 *
 * Every string of a definition (name, title, description, parameter names and
 * descriptions, enum values, defaults, annotations, _meta) goes through the
 * shared detector set in the definition context; each match becomes a
 * finding with the detector's rule id, severity, JSON pointer, byte span and
 * safe excerpt. The names of the tools other servers offer are passed in, so
 * that a description steering another server's tool is reported (shadowing).
 *
 * Until guard/detect.h is in the tree this file compiles to a bridge that
 * finds nothing and says so (scan_detect_available() is false; the reports
 * print that descriptions were not inspected).
 */
#include "scan/detect_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("guard/detect.h")
#include "guard/detect.h"
#define SCAN_HAVE_DETECT 1
#endif
#endif

#ifndef SCAN_HAVE_DETECT

bool scan_detect_available(void)
{
    return false;
}

size_t scan_detect_item(struct scan_report *r, int server, int item)
{
    (void)r;
    (void)server;
    (void)item;
    return 0;
}

size_t scan_detect_instructions(struct scan_report *r, int server)
{
    (void)r;
    (void)server;
    return 0;
}

size_t scan_detect_secrets(struct scan_report *r, int server, const char *pointer, const char *s,
                           size_t n, struct scan_srcpos pos)
{
    (void)r;
    (void)server;
    (void)pointer;
    (void)s;
    (void)n;
    (void)pos;
    return 0;
}

void scan_detect_cleanup(void)
{
}

#else

bool scan_detect_available(void)
{
    return true;
}

static int sev_of(enum detect_severity s)
{
    switch (s) {
    case DETECT_SEV_INFO:
        return SCAN_SEV_INFO;
    case DETECT_SEV_LOW:
        return SCAN_SEV_LOW;
    case DETECT_SEV_MEDIUM:
        return SCAN_SEV_MEDIUM;
    case DETECT_SEV_HIGH:
        return SCAN_SEV_HIGH;
    case DETECT_SEV_CRITICAL:
        return SCAN_SEV_CRITICAL;
    default:
        return -1;
    }
}

/* What to do about a detector finding, by family. */
static const char *fix_of(enum detect_category c, enum detect_rule rule)
{
    switch (c) {
    case DETECT_CAT_SECRET:
        return "Remove the secret from the definition and rotate it; tool definitions are sent to "
               "the model and to every client.";
    case DETECT_CAT_PII:
        return "Remove personal data from the definition.";
    case DETECT_CAT_HIDDEN:
        return "Remove the hidden or invisible content; a definition should read the same to a "
               "person as to the model. Until then, deny the tool in the gateway (the guards "
               "strip such characters from results).";
    case DETECT_CAT_INJECTION:
    default:
        if (rule == DR_INJ_EXFIL_PARAM)
            return "Remove the parameter: it asks the model for context the tool does not need "
                   "(conversation, system prompt, files). Deny the tool until it is gone.";
        if (rule == DR_INJ_TOOL_SHADOWING || rule == DR_INJ_TOOL_REFERENCE ||
            rule == DR_INJ_TOOL_REDIRECT)
            return "A definition must describe its own tool only: remove the server, or run the "
                   "servers behind the mcpwall gateway, which namespaces tools and pins their "
                   "definitions.";
        return "Do not install this server: its definition addresses the model with instructions "
               "the user does not see. If it is yours, rewrite the text as a plain description "
               "of what the tool does. The gateway can deny the tool and pin its definition.";
    }
}

static const char *family_category(enum detect_category c)
{
    switch (c) {
    case DETECT_CAT_SECRET:
        return "secret";
    case DETECT_CAT_PII:
        return "pii";
    case DETECT_CAT_HIDDEN:
        return "hidden-content";
    default:
        return "poisoning";
    }
}

static int register_rule(enum detect_rule rule)
{
    const struct detect_rule_info *ri = detect_rule_info(rule);
    if (ri == NULL)
        return -1;
    enum scan_sev dflt = SCAN_SEV_MEDIUM;
    int s = sev_of(ri->severity[DETECT_CTX_DEFINITION]);
    if (s >= 0)
        dflt = (enum scan_sev)s;
    return scan_rule_register(ri->id, family_category(ri->category), dflt,
                              ri->summary != NULL ? ri->summary : ri->id,
                              fix_of(ri->category, rule));
}

/* Names of the tools every other server offers (borrowed strings). */
static const char **other_tools(const struct scan_report *r, int server, size_t *n)
{
    size_t total = 0;
    for (size_t s = 0; s < r->nservers; s++) {
        if ((int)s != server)
            total += r->servers[s].nitems;
    }
    const char **names = calloc(total ? total : 1, sizeof(*names));
    *n = 0;
    if (names == NULL)
        return NULL;
    for (size_t s = 0; s < r->nservers; s++) {
        if ((int)s == server)
            continue;
        for (size_t i = 0; i < r->servers[s].nitems; i++) {
            if (r->servers[s].items[i].kind == SCAN_KIND_TOOL)
                names[(*n)++] = r->servers[s].items[i].name;
        }
    }
    return names;
}

static size_t add_list(struct scan_report *r, int server, int item, const char *what,
                       const struct detect_list *l)
{
    size_t added = 0;
    for (size_t k = 0; k < l->n; k++) {
        const struct detect_finding *d = &l->v[k];
        int sev = sev_of(d->severity);
        if (sev < 0 || register_rule(d->rule) < 0)
            continue;
        const struct detect_rule_info *ri = detect_rule_info(d->rule);
        struct scan_finding *f = scan_add_finding(
            r, detect_rule_id(d->rule), sev, server, item, "%s: %s%s", what,
            ri != NULL && ri->summary != NULL ? ri->summary : detect_rule_id(d->rule),
            (d->flags & DETECT_F_KEY) ? " (in a parameter name)" : "");
        if (f == NULL)
            continue;
        scan_finding_pointer(r, f, d->pointer != NULL ? d->pointer : "");
        scan_finding_span(f, d->start, d->end);
        scan_finding_evidence(f, d->evidence, strlen(d->evidence));
        added++;
    }
    return added;
}

size_t scan_detect_item(struct scan_report *r, int server, int item)
{
    if (server < 0 || (size_t)server >= r->nservers || item < 0 ||
        (size_t)item >= r->servers[server].nitems)
        return 0;
    const struct scan_item *it = &r->servers[server].items[item];
    const struct detect_set *ds = detect_set_shared();
    struct detect_tool_opts opts;
    memset(&opts, 0, sizeof(opts));
    const char **names = NULL;
    if (it->kind == SCAN_KIND_TOOL) {
        names = other_tools(r, server, &opts.n_other_tools);
        opts.other_tools = names;
    }
    struct detect_list l;
    detect_list_init(&l, DETECT_LIST_DEFAULT_MAX);
    detect_scan_tool(ds, it->def, &opts, &l);
    char what[300];
    snprintf(what, sizeof(what), "%s '%.200s'", scan_kind_name(it->kind), it->name);
    size_t added = add_list(r, server, item, what, &l);
    detect_list_free(&l);
    free(names);
    return added;
}

size_t scan_detect_instructions(struct scan_report *r, int server)
{
    if (server < 0 || (size_t)server >= r->nservers)
        return 0;
    size_t len = 0;
    const char *ins = json_string_value(json_object_get(r->servers[server].init, "instructions"));
    if (ins == NULL)
        return 0;
    len = json_string_length(json_object_get(r->servers[server].init, "instructions"));
    struct detect_list l;
    detect_list_init(&l, DETECT_LIST_DEFAULT_MAX);
    detect_scan_text(detect_set_shared(), DETECT_CTX_DEFINITION, ins, len, "/instructions", &l);
    char what[300];
    snprintf(what, sizeof(what), "instructions of server '%.200s'", r->servers[server].name);
    size_t added = add_list(r, server, -1, what, &l);
    detect_list_free(&l);
    return added;
}

size_t scan_detect_secrets(struct scan_report *r, int server, const char *pointer, const char *s,
                           size_t n, struct scan_srcpos pos)
{
    struct detect_list l;
    detect_list_init(&l, 16);
    detect_scan_text(detect_set_shared(), DETECT_CTX_RESULT, s, n, pointer, &l);
    size_t added = 0;
    for (size_t k = 0; k < l.n; k++) {
        const struct detect_finding *d = &l.v[k];
        if (d->category != DETECT_CAT_SECRET)
            continue;
        struct scan_finding *f = scan_add_finding(
            r, "config.inline-secret", -1, server, -1, "server '%s': %s written inline (%s)",
            server >= 0 && (size_t)server < r->nservers ? r->servers[server].name : "?",
            detect_rule_id(d->rule), pointer != NULL ? pointer : "");
        if (f == NULL)
            continue;
        scan_finding_pointer(r, f, pointer);
        scan_finding_span(f, d->start, d->end);
        scan_finding_evidence(f, d->evidence, strlen(d->evidence));
        if (pos.file != NULL)
            scan_finding_pos(r, f, pos.file, pos.line, pos.col);
        added++;
        break; /* one finding per value is enough */
    }
    detect_list_free(&l);
    return added;
}

void scan_detect_cleanup(void)
{
}

#endif
