/* analyze.c - turns collected servers into classes, findings, a summary and a
 * score. The scoring rules are documented in docs/scan.md ("Score"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pins.h"
#include "proto/json.h"
#include "scan/classify.h"
#include "scan/detect_bridge.h"
#include "scan/scan.h"
#include "guard/tokens.h"

/* Points a finding's severity costs the first time a rule fires; each further
 * occurrence of the same rule and severity costs a quarter more, up to twice
 * the first. */
static const int sev_points[SCAN_SEV_COUNT] = {0, 2, 6, 15, 30};

static void item_set_reasons(struct scan_item *it, const struct classify_result *c)
{
    it->reasons = calloc(c->nreasons ? c->nreasons : 1, sizeof(*it->reasons));
    if (it->reasons == NULL)
        return;
    for (size_t i = 0; i < c->nreasons; i++) {
        it->reasons[i] = strdup(c->reasons[i]);
        if (it->reasons[i] != NULL)
            it->nreasons++;
    }
}

/* Points a finding at the place a classification reason was seen. */
static void finding_where(struct scan_report *r, struct scan_finding *f, const struct scan_item *it,
                          const struct classify_where *w)
{
    if (f == NULL || w == NULL || w->pointer[0] == '\0')
        return;
    scan_finding_pointer(r, f, w->pointer);
    const json_t *parent;
    char key[128];
    size_t index;
    const json_t *v = scan_pointer_get(it->def, w->pointer, &parent, key, sizeof(key), &index);
    if (json_is_string(v) && w->has_span && w->end <= json_string_length(v)) {
        scan_finding_span(f, w->start, w->end);
        scan_finding_evidence(f, json_string_value(v) + w->start, w->end - w->start);
    } else if (json_is_string(v)) {
        scan_finding_evidence(f, json_string_value(v), json_string_length(v));
    } else if (key[0] != '\0') {
        scan_finding_evidence(f, key, strlen(key));
    }
}

static void classify_item(struct scan_report *r, int si, int ii)
{
    struct scan_item *it = &r->servers[si].items[ii];
    if (it->kind != SCAN_KIND_TOOL) {
        /* Prompts and resources are read by the client; they run nothing. */
        it->risk = SCAN_RISK_READ_ONLY;
        it->reasons = calloc(1, sizeof(*it->reasons));
        if (it->reasons != NULL) {
            it->reasons[0] =
                strdup(it->kind == SCAN_KIND_PROMPT ? "prompts are templates the client reads"
                                                    : "resources are data the client reads");
            it->nreasons = it->reasons[0] != NULL;
        }
        if (it->kind == SCAN_KIND_PROMPT)
            pins_hash_def(it->def, it->hash);
        return;
    }
    struct classify_result c;
    classify_tool(it->def, it->http_method, it->http_path, &c);
    it->risk = c.risk;
    it->cats = c.cats;
    item_set_reasons(it, &c);
    it->tokens = tokens_def(it->def);
    pins_hash_def(it->def, it->hash);

    if (c.cats & SCAN_CAT_CODE_EXEC) {
        const char *why = NULL;
        const struct classify_where *w = classify_where_of(&c, SCAN_CAT_CODE_EXEC, 0, &why);
        struct scan_finding *f = scan_add_finding(
            r, "tool.code-execution", -1, si, ii,
            "tool '%s' runs commands or code it is given (%s)", it->name, why != NULL ? why : "");
        finding_where(r, f, it, w);
    }
    if ((c.cats & SCAN_CAT_CREDENTIALS) && it->risk == SCAN_RISK_CRITICAL) {
        const char *why = NULL;
        const struct classify_where *w = classify_where_of(&c, SCAN_CAT_CREDENTIALS, 0, &why);
        struct scan_finding *f = scan_add_finding(r, "tool.credential-exposure", -1, si, ii,
                                                  "tool '%s' handles credentials (%s)", it->name,
                                                  why != NULL ? why : "");
        finding_where(r, f, it, w);
    }
    if (c.mismatch) {
        enum scan_sev sev = c.evidence_risk == SCAN_RISK_CRITICAL ? SCAN_SEV_HIGH : SCAN_SEV_MEDIUM;
        bool ro = strcmp(c.mismatch_hint, "readOnlyHint") == 0;
        const char *why = NULL;
        const struct classify_where *w = ro ? classify_where_of(&c, 0, c.evidence_risk, &why)
                                            : classify_where_of(&c, SCAN_CAT_DELETION, 0, &why);
        if (w != NULL && c.evidence_risk == SCAN_RISK_CRITICAL && ro)
            w = classify_where_of(&c, c.cats, 0, &why);
        struct scan_finding *f = scan_add_finding(
            r, "tool.annotation-mismatch", (int)sev, si, ii, "tool '%s' claims %s but is %s (%s)",
            it->name, ro ? "readOnlyHint: true" : "destructiveHint: false",
            scan_risk_name(c.evidence_risk), why != NULL ? why : "no read-only evidence");
        if (w != NULL && w->pointer[0] != '\0') {
            finding_where(r, f, it, w);
        } else {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/annotations/%s", c.mismatch_hint);
            scan_finding_pointer(r, f, ptr);
        }
    }
}

/* Normalised name for collisions: lowercase letters and digits only. */
static void norm_name(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (; *s != '\0' && o + 1 < outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z')
            out[o++] = (char)(c + 32);
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

struct tool_ref {
    int s, i;
    char norm[128];
};

static int tool_ref_cmp(const void *a, const void *b)
{
    const struct tool_ref *x = a, *y = b;
    int c = strcmp(x->norm, y->norm);
    if (c != 0)
        return c;
    return x->s != y->s ? x->s - y->s : x->i - y->i;
}

struct twin {
    const char *d;
    size_t len;
    const struct tool_ref *ref;
};

/* By description, then by position (server, item), so the first of a group
 * is the earliest tool. */
static int twin_cmp(const void *a, const void *b)
{
    const struct twin *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(x->d, y->d, x->len);
    if (c != 0)
        return c;
    if (x->ref->s != y->ref->s)
        return x->ref->s - y->ref->s;
    return x->ref->i - y->ref->i;
}

static bool twin_same(const struct twin *x, const struct twin *y)
{
    return x->len == y->len && memcmp(x->d, y->d, x->len) == 0;
}

/* Same tool name (after normalisation) with a different definition on
 * another server: a call may reach the wrong one (shadowing). */
static void find_collisions(struct scan_report *r)
{
    size_t n = 0;
    for (size_t s = 0; s < r->nservers; s++)
        n += r->servers[s].nitems;
    if (n == 0)
        return;
    struct tool_ref *refs = calloc(n, sizeof(*refs));
    if (refs == NULL)
        return;
    size_t k = 0;
    for (size_t s = 0; s < r->nservers; s++) {
        for (size_t i = 0; i < r->servers[s].nitems; i++) {
            const struct scan_item *it = &r->servers[s].items[i];
            if (it->kind != SCAN_KIND_TOOL)
                continue;
            refs[k].s = (int)s;
            refs[k].i = (int)i;
            norm_name(it->name, refs[k].norm, sizeof(refs[k].norm));
            k++;
        }
    }
    qsort(refs, k, sizeof(*refs), tool_ref_cmp);
    for (size_t a = 0; a < k;) {
        size_t b = a + 1;
        while (b < k && strcmp(refs[a].norm, refs[b].norm) == 0)
            b++;
        for (size_t j = a + 1; j < b; j++) {
            const struct scan_item *it = &r->servers[refs[j].s].items[refs[j].i];
            /* the first earlier tool of another server with a different definition */
            size_t o = a;
            while (o < j && (refs[o].s == refs[j].s ||
                             strcmp(r->servers[refs[o].s].items[refs[o].i].hash, it->hash) == 0))
                o++;
            if (o == j)
                continue; /* same server, or the same tool seen twice */
            const struct scan_item *other = &r->servers[refs[o].s].items[refs[o].i];
            struct scan_finding *f = scan_add_finding(
                r, "server.name-collision", -1, refs[j].s, refs[j].i,
                "tool '%s' of server '%s' has the name of tool '%s' of server '%s' with a "
                "different definition",
                it->name, r->servers[refs[j].s].name, other->name, r->servers[refs[o].s].name);
            scan_finding_pointer(r, f, "/name");
            if (f != NULL)
                scan_finding_evidence(f, it->name, strlen(it->name));
        }
        a = b;
    }
    /* twins: same long description, different names. Sorted by description so
     * equal ones are adjacent; each later one is reported against the first. */
    struct twin *tw = calloc(k ? k : 1, sizeof(*tw));
    size_t nt = 0;
    for (size_t a = 0; tw != NULL && a < k; a++) {
        const struct scan_item *x = &r->servers[refs[a].s].items[refs[a].i];
        size_t xl = 0;
        const char *xd = json_get_str(x->def, "description", &xl);
        if (xd == NULL || xl < 40)
            continue;
        tw[nt].d = xd;
        tw[nt].len = xl;
        tw[nt].ref = &refs[a];
        nt++;
    }
    if (tw != NULL)
        qsort(tw, nt, sizeof(*tw), twin_cmp);
    for (size_t a = 0; a < nt;) {
        size_t b = a + 1;
        while (b < nt && twin_same(&tw[a], &tw[b]))
            b++;
        for (size_t j = a + 1; j < b; j++) {
            if (strcmp(tw[j].ref->norm, tw[a].ref->norm) == 0)
                continue; /* the same name: a collision, or the same tool twice */
            const struct scan_item *x = &r->servers[tw[j].ref->s].items[tw[j].ref->i];
            const struct scan_item *y = &r->servers[tw[a].ref->s].items[tw[a].ref->i];
            struct scan_finding *f = scan_add_finding(
                r, "server.duplicate-tool", -1, tw[j].ref->s, tw[j].ref->i,
                "tool '%s' (server '%s') repeats the description of tool '%s' (server '%s')",
                x->name, r->servers[tw[j].ref->s].name, y->name, r->servers[tw[a].ref->s].name);
            scan_finding_pointer(r, f, "/description");
        }
        a = b;
    }
    free(tw);
    free(refs);
}

static void token_budgets(struct scan_report *r)
{
    size_t total = 0;
    for (size_t s = 0; s < r->nservers; s++) {
        struct scan_server *sv = &r->servers[s];
        sv->tokens = 0;
        for (size_t i = 0; i < sv->nitems; i++) {
            if (sv->items[i].kind == SCAN_KIND_TOOL)
                sv->tokens += sv->items[i].tokens;
        }
        total += sv->tokens;
        if (r->opt.token_budget_server > 0 && sv->tokens > r->opt.token_budget_server)
            scan_add_finding(r, "cost.tokens-server", -1, (int)s, -1,
                             "the tool definitions of server '%s' cost about %zu tokens "
                             "(budget %zu)",
                             sv->name, sv->tokens, r->opt.token_budget_server);
    }
    if (r->opt.token_budget_total > 0 && total > r->opt.token_budget_total)
        scan_add_finding(r, "cost.tokens-total", -1, -1, -1,
                         "the tool definitions of all servers cost about %zu tokens (budget %zu)",
                         total, r->opt.token_budget_total);
}

void scan_analyze(struct scan_report *r)
{
    for (size_t s = 0; s < r->nservers; s++) {
        const struct scan_server *sv = &r->servers[s];
        if (sv->error != NULL)
            scan_add_finding(r, "server.unreachable", -1, (int)s, -1, "server '%s' (%s): %s",
                             sv->name, sv->target, sv->error);
        for (size_t i = 0; i < r->servers[s].nitems; i++) {
            classify_item(r, (int)s, (int)i);
            scan_detect_item(r, (int)s, (int)i);
        }
        scan_detect_instructions(r, (int)s);
    }
    find_collisions(r);
    token_budgets(r);
    scan_summarize(r);
}

struct ded_key {
    const char *rule;
    enum scan_sev sev;
    size_t count;
};

static int ded_cmp(const void *a, const void *b)
{
    const struct scan_deduction *x = a, *y = b;
    if (x->points != y->points)
        return y->points - x->points;
    return strcmp(x->rule, y->rule);
}

void scan_summarize(struct scan_report *r)
{
    struct scan_summary *sum = &r->sum;
    size_t keep_missing = sum->missing_permissions, keep_audited = sum->audited,
           keep_crit_appr = sum->critical_with_approval, keep_appr = sum->with_approval;
    memset(sum, 0, sizeof(*sum));
    sum->missing_permissions = keep_missing;
    sum->audited = keep_audited;
    sum->critical_with_approval = keep_crit_appr;
    sum->with_approval = keep_appr;
    sum->servers = r->nservers;
    for (size_t s = 0; s < r->nservers; s++) {
        const struct scan_server *sv = &r->servers[s];
        if (sv->error != NULL)
            sum->servers_failed++;
        sum->tokens += sv->tokens;
        for (size_t i = 0; i < sv->nitems; i++) {
            struct scan_item *it = &sv->items[i];
            it->nfindings = 0;
            it->worst = SCAN_SEV_INFO;
            switch (it->kind) {
            case SCAN_KIND_TOOL:
                sum->tools++;
                sum->by_risk[it->risk]++;
                for (unsigned c = 0; c < SCAN_CAT_COUNT; c++) {
                    if (it->cats & (1u << c))
                        sum->by_cat[c]++;
                }
                break;
            case SCAN_KIND_PROMPT:
                sum->prompts++;
                break;
            case SCAN_KIND_RESOURCE:
                sum->resources++;
                break;
            case SCAN_KIND_TEMPLATE:
                sum->templates++;
                break;
            }
        }
    }
    for (size_t i = 0; i < r->nfindings; i++) {
        const struct scan_finding *f = &r->findings[i];
        sum->findings_by_sev[f->sev]++;
        if (f->loc.server >= 0 && (size_t)f->loc.server < r->nservers && f->loc.item >= 0 &&
            (size_t)f->loc.item < r->servers[f->loc.server].nitems) {
            struct scan_item *it = &r->servers[f->loc.server].items[f->loc.item];
            it->nfindings++;
            if (f->sev > it->worst)
                it->worst = f->sev;
        }
    }

    /* score: one deduction per (rule, severity) */
    for (size_t i = 0; i < r->nded; i++)
        free(r->ded[i].why);
    free(r->ded);
    r->ded = NULL;
    r->nded = 0;
    struct scan_deduction *d = calloc(r->nfindings ? r->nfindings : 1, sizeof(*d));
    if (d == NULL)
        return;
    size_t nd = 0;
    for (size_t i = 0; i < r->nfindings; i++) {
        const struct scan_finding *f = &r->findings[i];
        size_t j = 0;
        while (j < nd && !(d[j].rule == f->rule && d[j].sev == f->sev))
            j++;
        if (j == nd) {
            d[nd].rule = f->rule;
            d[nd].sev = f->sev;
            nd++;
        }
        d[j].count++;
    }
    int total = 0;
    for (size_t j = 0; j < nd; j++) {
        int w = sev_points[d[j].sev];
        int pts = w + (int)(d[j].count - 1) * w / 4;
        if (pts > 2 * w)
            pts = 2 * w;
        d[j].points = pts;
        total += pts;
        const struct scan_rule *ru = scan_rule_find(d[j].rule);
        char why[300];
        if (pts == 0)
            snprintf(why, sizeof(why), "%zu x %s (%s): informational, no deduction", d[j].count,
                     d[j].rule, scan_sev_name(d[j].sev));
        else
            snprintf(why, sizeof(why), "%zu x %s (%s): %s - %d for the first%s", d[j].count,
                     d[j].rule, scan_sev_name(d[j].sev), ru != NULL ? ru->title : "", w,
                     d[j].count > 1 ? (pts == 2 * w ? ", capped at twice that"
                                                    : ", a quarter of that for each other")
                                    : "");
        d[j].why = strdup(why);
    }
    qsort(d, nd, sizeof(*d), ded_cmp);
    r->ded = d;
    r->nded = nd;
    r->score = total >= 100 ? 0 : 100 - total;
}
