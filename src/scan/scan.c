/* scan.c - the report model: servers, items, findings, interned strings. */
#include "scan/scan.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/timeutil.h"
#include "util/utf8.h"

static const char *const sev_names[SCAN_SEV_COUNT] = {"info", "low", "medium", "high", "critical"};

const char *scan_sev_name(enum scan_sev s)
{
    return (unsigned)s < SCAN_SEV_COUNT ? sev_names[s] : "?";
}

int scan_sev_parse(const char *s, enum scan_sev *out)
{
    for (unsigned i = 0; i < SCAN_SEV_COUNT; i++) {
        if (strcmp(s, sev_names[i]) == 0) {
            *out = (enum scan_sev)i;
            return 0;
        }
    }
    return -1;
}

const char *scan_risk_name(enum scan_risk r)
{
    switch (r) {
    case SCAN_RISK_READ_ONLY:
        return "read-only";
    case SCAN_RISK_SIDE_EFFECT:
        return "side-effect";
    case SCAN_RISK_CRITICAL:
        return "critical";
    }
    return "?";
}

const char *scan_kind_name(enum scan_kind k)
{
    switch (k) {
    case SCAN_KIND_TOOL:
        return "tool";
    case SCAN_KIND_PROMPT:
        return "prompt";
    case SCAN_KIND_RESOURCE:
        return "resource";
    case SCAN_KIND_TEMPLATE:
        return "resource-template";
    }
    return "?";
}

const char *scan_transport_name(enum scan_transport t)
{
    switch (t) {
    case SCAN_TR_NONE:
        return "none";
    case SCAN_TR_STDIO:
        return "stdio";
    case SCAN_TR_HTTP:
        return "http";
    case SCAN_TR_FILE:
        return "file";
    case SCAN_TR_OPENAPI:
        return "openapi";
    }
    return "?";
}

/* A copy of s in which every invalid UTF-8 sequence is replaced by U+FFFD, so
 * that strings from argv, stderr or HTTP bodies can go into JSON reports. */
static char *dup_utf8(const char *s)
{
    size_t n = strlen(s);
    struct buf b;
    buf_init(&b, n * 3 + 1);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l;
        if (utf8_decode((const unsigned char *)s + i, n - i, &cp, &l) == UTF8_OK) {
            buf_append(&b, s + i, l);
            i += l;
        } else {
            buf_append_str(&b, "\xef\xbf\xbd");
            i++;
        }
    }
    if (buf_cstr(&b) < 0 || b.data == NULL) {
        buf_free(&b);
        return strdup("");
    }
    char *out = strdup(buf_head(&b));
    buf_free(&b);
    return out;
}

void scan_report_init(struct scan_report *r)
{
    memset(r, 0, sizeof(*r));
    r->targets = json_array();
    r->configs = json_array();
    r->policy_notes = json_array();
    r->opt.token_budget_server = SCAN_DEFAULT_TOKEN_BUDGET_SERVER;
    r->opt.token_budget_total = SCAN_DEFAULT_TOKEN_BUDGET_TOTAL;
    r->score = 100;
    rfc3339_us(wall_us(), r->started);
}

static void item_free(struct scan_item *it)
{
    free(it->name);
    json_decref(it->def);
    for (size_t i = 0; i < it->nreasons; i++)
        free(it->reasons[i]);
    free(it->reasons);
    free(it->http_method);
    free(it->http_path);
}

void scan_report_free(struct scan_report *r)
{
    for (size_t i = 0; i < r->nservers; i++) {
        struct scan_server *s = &r->servers[i];
        for (size_t j = 0; j < s->nitems; j++)
            item_free(&s->items[j]);
        free(s->items);
        free(s->name);
        free(s->target);
        free(s->error);
        free(s->host);
        json_decref(s->init);
        json_decref(s->cfg);
    }
    free(r->servers);
    for (size_t i = 0; i < r->nfindings; i++) {
        struct scan_finding *f = &r->findings[i];
        free(f->message);
        free(f->evidence);
        free(f->loc.pointer);
        free(f->loc.uri);
    }
    free(r->findings);
    for (size_t i = 0; i < r->ninterned; i++)
        free(r->interned[i]);
    free(r->interned);
    for (size_t i = 0; i < r->nded; i++)
        free(r->ded[i].why);
    free(r->ded);
    for (size_t i = 0; i < r->ndocs; i++)
        cfg_doc_free(r->docs[i]);
    free(r->docs);
    free(r->policy_file);
    json_decref(r->targets);
    json_decref(r->configs);
    json_decref(r->policy_notes);
    memset(r, 0, sizeof(*r));
}

const char *scan_intern(struct scan_report *r, const char *s)
{
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < r->ninterned; i++) {
        if (strcmp(r->interned[i], s) == 0)
            return r->interned[i];
    }
    if (r->ninterned == r->icap) {
        size_t nc = r->icap ? r->icap * 2 : 16;
        char **n = realloc(r->interned, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        r->interned = n;
        r->icap = nc;
    }
    char *c = strdup(s);
    if (c == NULL)
        return NULL;
    r->interned[r->ninterned++] = c;
    return c;
}

int scan_add_server(struct scan_report *r, const char *name, const char *target,
                    enum scan_transport tr)
{
    if (r->nservers >= SCAN_MAX_SERVERS)
        return -1;
    if (r->nservers == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        struct scan_server *n = realloc(r->servers, nc * sizeof(*n));
        if (n == NULL)
            return -1;
        r->servers = n;
        r->cap = nc;
    }
    struct scan_server *s = &r->servers[r->nservers];
    memset(s, 0, sizeof(*s));
    s->name = dup_utf8(name != NULL ? name : "server");
    s->target = dup_utf8(target != NULL ? target : "");
    s->transport = tr;
    if (s->name == NULL || s->target == NULL) {
        free(s->name);
        free(s->target);
        return -1;
    }
    return (int)r->nservers++;
}

void scan_server_fail(struct scan_report *r, int server, const char *fmt, ...)
{
    if (server < 0 || (size_t)server >= r->nservers)
        return;
    struct scan_server *s = &r->servers[server];
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(s->error);
    s->error = dup_utf8(msg);
}

static const char *item_name_key(enum scan_kind k)
{
    switch (k) {
    case SCAN_KIND_RESOURCE:
        return "uri";
    case SCAN_KIND_TEMPLATE:
        return "uriTemplate";
    default:
        return "name";
    }
}

struct scan_item *scan_add_item(struct scan_report *r, int server, enum scan_kind kind, json_t *def)
{
    if (server < 0 || (size_t)server >= r->nservers || !json_is_object(def))
        return NULL;
    struct scan_server *s = &r->servers[server];
    const char *name = json_string_value(json_object_get(def, item_name_key(kind)));
    if (name == NULL || s->nitems >= SCAN_MAX_ITEMS_PER_SERVER)
        return NULL;
    if (s->nitems == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct scan_item *n = realloc(s->items, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        s->items = n;
        s->cap = nc;
    }
    struct scan_item *it = &s->items[s->nitems];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->name = strdup(name);
    if (it->name == NULL)
        return NULL;
    it->def = json_incref(def);
    s->nitems++;
    return it;
}

size_t scan_add_items(struct scan_report *r, int server, enum scan_kind kind, const json_t *arr)
{
    size_t n = 0, i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        if (scan_add_item(r, server, kind, d) != NULL)
            n++;
    }
    return n;
}

struct scan_finding *scan_add_finding(struct scan_report *r, const char *rule, int sev, int server,
                                      int item, const char *fmt, ...)
{
    const struct scan_rule *ru = scan_rule_find(rule);
    if (ru == NULL)
        return NULL;
    if (r->nfindings >= SCAN_MAX_FINDINGS) {
        r->dropped_findings++;
        return NULL;
    }
    if (r->nfindings == r->fcap) {
        size_t nc = r->fcap ? r->fcap * 2 : 32;
        struct scan_finding *n = realloc(r->findings, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        r->findings = n;
        r->fcap = nc;
    }
    struct scan_finding *f = &r->findings[r->nfindings];
    memset(f, 0, sizeof(*f));
    f->rule = ru->id;
    f->sev = sev >= 0 && sev < SCAN_SEV_COUNT ? (enum scan_sev)sev : ru->sev;
    f->fix = ru->fix;
    f->category = ru->category;
    f->loc.server = server;
    f->loc.item = item;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    f->message = dup_utf8(msg);
    if (f->message == NULL)
        return NULL;
    r->nfindings++;
    return f;
}

void scan_finding_pointer(struct scan_report *r, struct scan_finding *f, const char *pointer)
{
    (void)r;
    if (f == NULL || pointer == NULL)
        return;
    free(f->loc.pointer);
    f->loc.pointer = strdup(pointer);
}

void scan_finding_span(struct scan_finding *f, size_t start, size_t end)
{
    if (f == NULL || end < start)
        return;
    f->loc.has_span = true;
    f->loc.start = start;
    f->loc.end = end;
}

/* Characters shown escaped in evidence: invisible, bidi controls, tags. */
bool scan_cp_hidden(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0xad || cp == 0x34f ||
           cp == 0x61c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
           (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
           (cp >= 0xe0000 && cp <= 0xe007f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

void scan_finding_evidence(struct scan_finding *f, const char *s, size_t n)
{
    if (f == NULL || s == NULL)
        return;
    struct buf b;
    buf_init(&b, SCAN_MAX_EVIDENCE * 12 + 16);
    size_t i = 0, shown = 0;
    while (i < n) {
        uint32_t cp;
        size_t l;
        if (utf8_decode((const unsigned char *)s + i, n - i, &cp, &l) != UTF8_OK) {
            cp = 0xfffd;
            l = 1;
        }
        size_t add = scan_cp_hidden(cp) ? 10 : l;
        if (shown + add > SCAN_MAX_EVIDENCE) {
            buf_append_str(&b, "\xe2\x80\xa6"); /* … */
            break;
        }
        if (cp == '\n') {
            buf_append_str(&b, "\\n");
        } else if (cp == '\t') {
            buf_append_str(&b, "\\t");
        } else if (scan_cp_hidden(cp)) {
            buf_printf(&b, "\\u{%04X}", (unsigned)cp);
        } else if (cp == 0xfffd && l == 1) {
            buf_printf(&b, "\\x%02X", (unsigned char)s[i]);
        } else {
            buf_append(&b, s + i, l);
        }
        shown += add;
        i += l;
    }
    buf_cstr(&b);
    free(f->evidence);
    f->evidence = b.data != NULL ? strdup(buf_head(&b)) : strdup("");
    buf_free(&b);
}

void scan_finding_pos(struct scan_report *r, struct scan_finding *f, const char *file,
                      uint32_t line, uint32_t col)
{
    if (f == NULL || file == NULL)
        return;
    f->loc.pos.file = scan_intern(r, file);
    f->loc.pos.line = line;
    f->loc.pos.col = col;
}

int scan_exit_status(const struct scan_report *r, int fail_on)
{
    if (fail_on < 0)
        return 0;
    for (size_t i = 0; i < r->nfindings; i++) {
        if ((int)r->findings[i].sev >= fail_on)
            return 1;
    }
    return 0;
}

const struct cfg_doc *scan_keep_doc(struct scan_report *r, struct cfg_doc *doc)
{
    if (doc == NULL)
        return NULL;
    if (r->ndocs == r->dcap) {
        size_t nc = r->dcap ? r->dcap * 2 : 4;
        struct cfg_doc **n = realloc(r->docs, nc * sizeof(*n));
        if (n == NULL) {
            cfg_doc_free(doc);
            return NULL;
        }
        r->docs = n;
        r->dcap = nc;
    }
    r->docs[r->ndocs++] = doc;
    return doc;
}

const json_t *scan_pointer_get(const json_t *v, const char *pointer, const json_t **parent,
                               char *key, size_t keysz, size_t *index)
{
    if (pointer == NULL || (*pointer != '\0' && *pointer != '/'))
        return NULL;
    *parent = NULL;
    key[0] = '\0';
    *index = 0;
    const char *p = pointer;
    while (*p == '/') {
        p++;
        char tok[256];
        size_t tl = 0;
        while (*p != '\0' && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1'))
                c = *p++ == '0' ? '~' : '/';
            if (tl + 1 >= sizeof(tok))
                return NULL;
            tok[tl++] = c;
        }
        tok[tl] = '\0';
        if (json_is_object(v)) {
            *parent = v;
            str_copy(key, tok, keysz);
            v = json_object_get(v, tok);
        } else if (json_is_array(v)) {
            uint64_t ix;
            if (parse_u64(tok, SIZE_MAX, &ix) < 0)
                return NULL;
            *parent = v;
            key[0] = '\0';
            *index = (size_t)ix;
            v = json_array_get(v, (size_t)ix);
        } else {
            return NULL;
        }
        if (v == NULL)
            return NULL;
    }
    return v;
}

void scan_resolve_positions(struct scan_report *r)
{
    for (size_t i = 0; i < r->nfindings; i++) {
        struct scan_finding *f = &r->findings[i];
        if (f->loc.pos.line != 0 || f->loc.server < 0 || (size_t)f->loc.server >= r->nservers)
            continue;
        const struct scan_server *s = &r->servers[f->loc.server];
        const json_t *base = NULL;
        struct scan_srcpos fallback = {NULL, 0, 0};
        if (f->loc.item >= 0 && (size_t)f->loc.item < s->nitems) {
            base = s->items[f->loc.item].def_in_doc ? s->items[f->loc.item].def : NULL;
            fallback = s->items[f->loc.item].pos;
        } else if (s->cfg != NULL) {
            base = s->cfg;
            fallback = s->cfgpos;
        }
        if (s->doc != NULL && base != NULL && f->loc.pointer != NULL) {
            const json_t *parent;
            char key[256];
            size_t index;
            if (scan_pointer_get(base, f->loc.pointer, &parent, key, sizeof(key), &index) != NULL &&
                parent != NULL) {
                struct cfg_pos p = cfg_pos_of(s->doc, parent, key[0] ? key : NULL, index);
                if (p.line != 0) {
                    scan_finding_pos(r, f, s->doc->path, p.line, p.col);
                    continue;
                }
            }
        }
        if (fallback.line != 0)
            scan_finding_pos(r, f, fallback.file, fallback.line, fallback.col);
    }
}
