/* pinscheck.c - lockfile comparison and writing for the scanner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "scan/pinscheck.h"

/* A JSON array of the server's definitions of one kind (new reference). */
static json_t *defs_of(const struct scan_server *s, enum scan_kind kind)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < s->nitems; i++) {
        if (s->items[i].kind == kind)
            json_array_append(a, s->items[i].def);
    }
    return a;
}

static int item_index(const struct scan_server *s, enum scan_kind kind, const char *name)
{
    for (size_t i = 0; i < s->nitems; i++) {
        if (s->items[i].kind == kind && strcmp(s->items[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* Which top-level members differ between two definitions, as "a, b". */
static void changed_members(const json_t *old, const json_t *cur, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t used = 0;
    json_t *keys = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)old, k, v)
    {
        json_object_set_new(keys, k, json_true());
    }
    json_object_foreach((json_t *)cur, k, v)
    {
        json_object_set_new(keys, k, json_true());
    }
    json_object_foreach(keys, k, v)
    {
        if (json_equal(json_object_get(old, k), json_object_get(cur, k)))
            continue;
        int w = snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", k);
        if (w < 0 || (size_t)w >= outsz - used)
            break;
        used += (size_t)w;
    }
    json_decref(keys);
}

static void finding_changed(struct scan_report *r, int si, enum scan_kind kind,
                            const struct pins *p, const struct pins_delta *d)
{
    const struct scan_server *s = &r->servers[si];
    int ii = item_index(s, kind, d->name);
    if (ii < 0)
        return;
    const json_t *cur = s->items[ii].def;
    const json_t *old =
        pins_lookup_def(p, s->name, kind == SCAN_KIND_TOOL ? PINS_TOOL : PINS_PROMPT, d->name);
    char what[256] = "";
    if (old != NULL)
        changed_members(old, cur, what, sizeof(what));
    struct scan_finding *f =
        scan_add_finding(r, "pins.changed", -1, si, ii,
                         "%s '%s' of server '%s' changed since it was pinned%s%s%s "
                         "(sha256 %.12s... -> %.12s...)",
                         scan_kind_name(kind), d->name, s->name, what[0] ? " (" : "", what,
                         what[0] ? ")" : "", d->old_hash, d->new_hash);
    /* Evidence: where the description starts to differ from the pinned one. */
    size_t nl = 0, ol = 0;
    const char *nd = json_get_str(cur, "description", &nl);
    const char *od = old != NULL ? json_get_str(old, "description", &ol) : NULL;
    if (f != NULL && nd != NULL && (od == NULL || nl != ol || memcmp(nd, od, nl) != 0)) {
        size_t pre = 0;
        while (od != NULL && pre < nl && pre < ol && nd[pre] == od[pre])
            pre++;
        /* back up to the start of a UTF-8 character */
        while (pre > 0 && ((unsigned char)nd[pre] & 0xc0) == 0x80)
            pre--;
        scan_finding_pointer(r, f, "/description");
        scan_finding_span(f, pre, nl);
        scan_finding_evidence(f, nd + pre, nl - pre);
    }
}

static size_t check_kind(struct scan_report *r, int si, const struct pins *p, enum scan_kind kind,
                         const char *lockpath)
{
    const struct scan_server *s = &r->servers[si];
    enum pins_kind pk = kind == SCAN_KIND_TOOL ? PINS_TOOL : PINS_PROMPT;
    if (!pins_has_kind(p, s->name, pk))
        return 0;
    json_t *defs = defs_of(s, kind);
    struct pins_result res;
    size_t added = 0;
    if (defs == NULL || pins_check(p, s->name, pk, defs, &res) < 0) {
        json_decref(defs);
        return 0;
    }
    for (size_t i = 0; i < res.n; i++) {
        const struct pins_delta *d = &res.d[i];
        switch (d->status) {
        case PINS_UNCHANGED:
            break;
        case PINS_CHANGED:
            finding_changed(r, si, kind, p, d);
            added++;
            break;
        case PINS_NEW: {
            int ii = item_index(s, kind, d->name);
            scan_add_finding(r, "pins.new", -1, si, ii, "%s '%s' of server '%s' is not in %s",
                             scan_kind_name(kind), d->name, s->name, lockpath);
            added++;
            break;
        }
        case PINS_REMOVED:
            scan_add_finding(r, "pins.removed", -1, si, -1,
                             "%s '%s' of server '%s' is pinned in %s but no longer offered",
                             scan_kind_name(kind), d->name, s->name, lockpath);
            added++;
            break;
        }
    }
    pins_result_free(&res);
    json_decref(defs);
    return added;
}

size_t scan_pins_check(struct scan_report *r, const struct pins *p, const char *lockpath)
{
    size_t added = 0;
    for (size_t s = 0; s < r->nservers; s++) {
        struct scan_server *sv = &r->servers[s];
        if (sv->error != NULL || sv->transport == SCAN_TR_NONE)
            continue;
        if (!pins_has_server(p, sv->name)) {
            scan_add_finding(r, "pins.new", -1, (int)s, -1, "server '%s' is not in %s", sv->name,
                             lockpath);
            added++;
            continue;
        }
        sv->pinned = true;
        added += check_kind(r, (int)s, p, SCAN_KIND_TOOL, lockpath);
        added += check_kind(r, (int)s, p, SCAN_KIND_PROMPT, lockpath);
    }
    return added;
}

int scan_pins_write(const struct scan_report *r, struct pins *p)
{
    for (size_t s = 0; s < r->nservers; s++) {
        const struct scan_server *sv = &r->servers[s];
        if (sv->error != NULL || sv->transport == SCAN_TR_NONE)
            continue;
        json_t *tools = defs_of(sv, SCAN_KIND_TOOL);
        json_t *prompts = defs_of(sv, SCAN_KIND_PROMPT);
        int rc = tools != NULL && prompts != NULL ? 0 : -1;
        if (rc == 0)
            rc = pins_set(p, sv->name, sv->target, PINS_TOOL, tools);
        if (rc == 0)
            rc = pins_set(p, sv->name, sv->target, PINS_PROMPT, prompts);
        json_decref(tools);
        json_decref(prompts);
        if (rc < 0)
            return -1;
    }
    return 0;
}
