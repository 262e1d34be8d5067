#include "policy/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "proto/json.h"
#include "util/file.h"
#include "util/str.h"

#define CFG_MAX_FILE   (16u * 1024u * 1024u)
#define CFG_MAX_DEPTH  64u
#define CFG_MAX_ERRORS 100u

/* ---- errors ---------------------------------------------------------------- */

void cfg_errors_init(struct cfg_errors *e)
{
    memset(e, 0, sizeof(*e));
    e->max = CFG_MAX_ERRORS;
}

void cfg_errors_free(struct cfg_errors *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    memset(e, 0, sizeof(*e));
}

__attribute__((format(printf, 3, 0))) static void
errors_vadd(struct cfg_errors *e, const char *prefix, const char *fmt, va_list ap)
{
    if (e->n >= e->max)
        return;
    char msg[1024];
    int n = snprintf(msg, sizeof(msg), "%s", prefix);
    if (n < 0)
        return;
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 8;
        char **p = realloc(e->msgs, ncap * sizeof(*p));
        if (p == NULL)
            return;
        e->msgs = p;
        e->cap = ncap;
    }
    e->msgs[e->n] = strdup(msg);
    if (e->msgs[e->n] != NULL)
        e->n++;
}

void cfg_errors_add(struct cfg_errors *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(e, "", fmt, ap);
    va_end(ap);
}

void cfg_errors_print(const struct cfg_errors *e, void *file)
{
    FILE *f = file;
    for (size_t i = 0; i < e->n; i++)
        fprintf(f, "%s\n", e->msgs[i]);
    if (e->n >= e->max)
        fprintf(f, "(further errors not shown)\n");
}

/* ---- position table --------------------------------------------------------- */

struct cfg_posent {
    struct cfg_posent *next;
    const json_t *parent;
    char *key;      /* NULL for array elements and the root */
    size_t index;
    struct cfg_pos kpos;
    struct cfg_pos vpos;
};

static size_t pos_hash(const json_t *parent, const char *key, size_t index)
{
    size_t h = (size_t)(uintptr_t)parent * 0x9e3779b97f4a7c15ull;
    if (key != NULL) {
        for (const char *p = key; *p; p++)
            h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    } else {
        h ^= index * 0xff51afd7ed558ccdull;
    }
    return h;
}

static void pos_put(struct cfg_doc *doc, const json_t *parent, const char *key, size_t index,
                    struct cfg_pos kpos, struct cfg_pos vpos)
{
    if (doc->nents * 2 >= doc->nslots) {
        size_t ns = doc->nslots ? doc->nslots * 2 : 256;
        struct cfg_posent **slots = calloc(ns, sizeof(*slots));
        if (slots == NULL)
            return;
        for (size_t i = 0; i < doc->nslots; i++) {
            struct cfg_posent *pe = doc->slots[i];
            while (pe != NULL) {
                struct cfg_posent *next = pe->next;
                size_t h = pos_hash(pe->parent, pe->key, pe->index) % ns;
                pe->next = slots[h];
                slots[h] = pe;
                pe = next;
            }
        }
        free(doc->slots);
        doc->slots = slots;
        doc->nslots = ns;
    }
    struct cfg_posent *pe = calloc(1, sizeof(*pe));
    if (pe == NULL)
        return;
    pe->parent = parent;
    pe->key = key != NULL ? strdup(key) : NULL;
    pe->index = index;
    pe->kpos = kpos;
    pe->vpos = vpos;
    size_t h = pos_hash(parent, key, index) % doc->nslots;
    pe->next = doc->slots[h];
    doc->slots[h] = pe;
    doc->nents++;
}

static const struct cfg_posent *pos_get(const struct cfg_doc *doc, const json_t *parent,
                                        const char *key, size_t index)
{
    if (doc == NULL || doc->nslots == 0)
        return NULL;
    size_t h = pos_hash(parent, key, index) % doc->nslots;
    for (const struct cfg_posent *pe = doc->slots[h]; pe != NULL; pe = pe->next) {
        if (pe->parent != parent)
            continue;
        if (key != NULL ? (pe->key != NULL && strcmp(pe->key, key) == 0)
                        : (pe->key == NULL && pe->index == index))
            return pe;
    }
    return NULL;
}

/* Finds where a container sits (its own value position) by scanning: containers
 * are unique pointers, so the entry whose value is this container names it. */
static struct cfg_pos container_pos(const struct cfg_doc *doc, const json_t *v)
{
    struct cfg_pos none = {0, 0};
    if (doc == NULL)
        return none;
    if (v == doc->root) {
        const struct cfg_posent *pe = pos_get(doc, NULL, NULL, 0);
        return pe != NULL ? pe->vpos : none;
    }
    for (size_t i = 0; i < doc->nslots; i++) {
        for (const struct cfg_posent *pe = doc->slots[i]; pe != NULL; pe = pe->next) {
            const json_t *val = pe->key != NULL ? json_object_get(pe->parent, pe->key)
                                                : (json_is_array(pe->parent)
                                                       ? json_array_get(pe->parent, pe->index)
                                                       : NULL);
            if (val == v)
                return pe->vpos;
        }
    }
    return none;
}

struct cfg_pos cfg_pos_of(const struct cfg_doc *doc, const json_t *parent, const char *key,
                          size_t index)
{
    struct cfg_pos none = {0, 0};
    if (parent == NULL && key == NULL)
        return container_pos(doc, doc != NULL ? doc->root : NULL);
    const struct cfg_posent *pe = pos_get(doc, parent, key, index);
    if (pe != NULL)
        return pe->vpos;
    /* Absent member: point at the object that lacks it. */
    return parent != NULL ? container_pos(doc, parent) : none;
}

struct cfg_pos cfg_key_pos_of(const struct cfg_doc *doc, const json_t *parent, const char *key)
{
    const struct cfg_posent *pe = pos_get(doc, parent, key, 0);
    if (pe != NULL)
        return pe->kpos;
    return container_pos(doc, parent);
}

__attribute__((format(printf, 4, 0))) static void
err_at(struct cfg_errors *e, const struct cfg_doc *doc, struct cfg_pos pos, const char *fmt,
       va_list ap)
{
    char prefix[512];
    const char *path = doc != NULL && doc->path != NULL ? doc->path : "(config)";
    if (pos.line > 0)
        snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", path, pos.line, pos.col);
    else
        snprintf(prefix, sizeof(prefix), "%s: ", path);
    errors_vadd(e, prefix, fmt, ap);
}

void cfg_err(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *parent,
             const char *key, size_t index, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_at(e, doc, cfg_pos_of(doc, parent, key, index), fmt, ap);
    va_end(ap);
}

void cfg_err_key(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *parent,
                 const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_at(e, doc, cfg_key_pos_of(doc, parent, key), fmt, ap);
    va_end(ap);
}

static void err_pos(struct cfg_errors *e, const struct cfg_doc *doc, struct cfg_pos pos,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void err_pos(struct cfg_errors *e, const struct cfg_doc *doc, struct cfg_pos pos,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_at(e, doc, pos, fmt, ap);
    va_end(ap);
}

/* ---- documents ------------------------------------------------------------- */

void cfg_doc_free(struct cfg_doc *doc)
{
    if (doc == NULL)
        return;
    for (size_t i = 0; i < doc->nslots; i++) {
        struct cfg_posent *pe = doc->slots[i];
        while (pe != NULL) {
            struct cfg_posent *next = pe->next;
            free(pe->key);
            free(pe);
            pe = next;
        }
    }
    free(doc->slots);
    json_decref(doc->root);
    free(doc->path);
    free(doc);
}

/* JSON: positions come from the strict parser's callback. Turning each byte
 * offset into a line and column by scanning from the start of the text would
 * be quadratic (a saved tools/list of a few hundred tools has tens of
 * thousands of values), so a sparse index is built once: for every block of
 * LC_BLOCK bytes, the line number, the offset of the line start and the number
 * of UTF-8 continuation bytes before it. A lookup scans at most one block.
 * Columns count code points, as json_offset_linecol() does. */
#define LC_BLOCK 64u

struct lc_index {
    const char *buf;
    size_t len;
    uint32_t *line;  /* per block: line number (1-based) at the block start */
    uint32_t *ls;    /* per block: offset of the start of that line */
    uint32_t *cont;  /* per block: continuation bytes before the block start */
};

static int lc_build(struct lc_index *x, const char *buf, size_t len)
{
    size_t nb = len / LC_BLOCK + 1;
    x->buf = buf;
    x->len = len;
    x->line = malloc(nb * sizeof(uint32_t));
    x->ls = malloc(nb * sizeof(uint32_t));
    x->cont = malloc(nb * sizeof(uint32_t));
    if (len > UINT32_MAX || x->line == NULL || x->ls == NULL || x->cont == NULL)
        return -1;
    uint32_t line = 1, ls = 0, cont = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i % LC_BLOCK == 0) {
            x->line[i / LC_BLOCK] = line;
            x->ls[i / LC_BLOCK] = ls;
            x->cont[i / LC_BLOCK] = cont;
        }
        if (i == len)
            break;
        if (buf[i] == '\n') {
            line++;
            ls = (uint32_t)(i + 1);
        } else if (((unsigned char)buf[i] & 0xc0) == 0x80) {
            cont++;
        }
    }
    return 0;
}

static void lc_free(struct lc_index *x)
{
    free(x->line);
    free(x->ls);
    free(x->cont);
}

/* Continuation bytes in [0, off). */
static size_t lc_cont(const struct lc_index *x, size_t off)
{
    size_t b = off / LC_BLOCK, n = x->cont[b];
    for (size_t i = b * LC_BLOCK; i < off; i++)
        n += ((unsigned char)x->buf[i] & 0xc0) == 0x80;
    return n;
}

static void lc_lookup(const struct lc_index *x, size_t off, size_t *line, size_t *col)
{
    if (off > x->len)
        off = x->len;
    size_t b = off / LC_BLOCK;
    size_t l = x->line[b], ls = x->ls[b];
    for (size_t i = b * LC_BLOCK; i < off; i++) {
        if (x->buf[i] == '\n') {
            l++;
            ls = i + 1;
        }
    }
    *line = l;
    *col = 1 + (off - ls) - (lc_cont(x, off) - lc_cont(x, ls));
}

struct json_pos_ctx {
    struct cfg_doc *doc;
    const char *data;
    size_t len;
    struct lc_index *lc; /* NULL: fall back to scanning from the start */
};

static void json_pos_cb(void *ud, json_t *parent, const char *key, size_t keylen, size_t index,
                        json_t *value, size_t key_off, size_t value_off)
{
    (void)value;
    (void)keylen;
    struct json_pos_ctx *c = ud;
    size_t kl, kc, vl, vc;
    if (c->lc != NULL) {
        lc_lookup(c->lc, key_off, &kl, &kc);
        lc_lookup(c->lc, value_off, &vl, &vc);
    } else {
        json_offset_linecol(c->data, c->len, key_off, &kl, &kc);
        json_offset_linecol(c->data, c->len, value_off, &vl, &vc);
    }
    struct cfg_pos kp = {(uint32_t)kl, (uint32_t)kc}, vp = {(uint32_t)vl, (uint32_t)vc};
    if (parent == NULL)
        kp = vp;
    pos_put(c->doc, parent, key, index, kp, vp);
}

static struct cfg_doc *load_json(struct cfg_doc *doc, const char *data, size_t len,
                                 struct cfg_errors *errs)
{
    struct json_limits lim = json_default_limits;
    lim.max_bytes = CFG_MAX_FILE;
    lim.max_depth = CFG_MAX_DEPTH;
    struct json_err je;
    struct lc_index lc;
    memset(&lc, 0, sizeof(lc));
    struct json_pos_ctx c = {doc, data, len, lc_build(&lc, data, len) == 0 ? &lc : NULL};
    doc->root = json_parse_strict_pos(data, len, &lim, &je, json_pos_cb, &c);
    lc_free(&lc);
    if (doc->root == NULL) {
        size_t l, col;
        json_offset_linecol(data, len, je.offset, &l, &col);
        /* The parser's message ends with " at byte N": keep only the sentence. */
        char msg[160];
        str_copy(msg, je.msg, sizeof(msg));
        char *at = strstr(msg, " at byte ");
        if (at != NULL)
            *at = '\0';
        err_pos(errs, doc, (struct cfg_pos){(uint32_t)l, (uint32_t)col}, "%s (%s)", msg,
                json_reason_code(je.reason));
        cfg_doc_free(doc);
        return NULL;
    }
    return doc;
}

/* YAML 1.2 core-schema resolution of a plain scalar. */
static json_t *resolve_plain(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '~') ||
        (n == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
                    memcmp(s, "NULL", 4) == 0)))
        return json_null();
    if ((n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "True", 4) == 0 ||
                    memcmp(s, "TRUE", 4) == 0)))
        return json_true();
    if ((n == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "False", 5) == 0 ||
                    memcmp(s, "FALSE", 5) == 0)))
        return json_false();
    char tmp[64];
    if (n < sizeof(tmp)) {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        const char *p = tmp;
        if (*p == '-' || *p == '+')
            p++;
        bool digits = *p != '\0';
        for (const char *q = p; *q; q++)
            if (*q < '0' || *q > '9')
                digits = false;
        if (digits) {
            errno = 0;
            char *end;
            long long v = strtoll(tmp, &end, 10);
            if (errno == 0 && *end == '\0')
                return json_integer(v);
        }
        /* Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (core schema). */
        const char *q = p;
        size_t intd = 0, fracd = 0;
        while (*q >= '0' && *q <= '9')
            q++, intd++;
        if (*q == '.') {
            q++;
            while (*q >= '0' && *q <= '9')
                q++, fracd++;
        }
        bool isfloat = (intd > 0 || fracd > 0) && q != p && (*q == '\0' || *q == 'e' || *q == 'E');
        if (isfloat && (*q == 'e' || *q == 'E')) {
            q++;
            if (*q == '-' || *q == '+')
                q++;
            size_t expd = 0;
            while (*q >= '0' && *q <= '9')
                q++, expd++;
            isfloat = expd > 0 && *q == '\0';
        }
        if (isfloat) {
            char *end;
            double d = strtod(tmp, &end);
            if (*end == '\0')
                return json_real(d);
        }
    }
    return json_stringn(s, n);
}

struct yframe {
    json_t *container;
    char *pending_key; /* mappings: key read, value not yet */
    struct cfg_pos key_pos;
};

static struct cfg_pos mark_pos(const yaml_mark_t *m)
{
    return (struct cfg_pos){(uint32_t)m->line + 1, (uint32_t)m->column + 1};
}

static struct cfg_doc *load_yaml(struct cfg_doc *doc, const char *data, size_t len,
                                 struct cfg_errors *errs)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct yframe stack[CFG_MAX_DEPTH + 1];
    size_t depth = 0;
    int docs = 0;
    bool ok = true;
    size_t nerr_before = errs->n;

    if (!yaml_parser_initialize(&p)) {
        cfg_errors_add(errs, "%s: cannot initialise the YAML parser", doc->path);
        cfg_doc_free(doc);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    memset(stack, 0, sizeof(stack));

    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            err_pos(errs, doc, mark_pos(&p.problem_mark), "YAML: %s%s%s",
                    p.problem != NULL ? p.problem : "syntax error",
                    p.context != NULL ? " " : "", p.context != NULL ? p.context : "");
            ok = false;
            break;
        }
        struct cfg_pos at = mark_pos(&ev.start_mark);
        bool done = ev.type == YAML_STREAM_END_EVENT;
        json_t *v = NULL;
        const char *anchor = NULL, *tag = NULL;
        bool implicit_tag = true;

        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                err_pos(errs, doc, at, "only one YAML document is allowed per file");
                ok = false;
            }
            break;
        case YAML_ALIAS_EVENT:
            err_pos(errs, doc, at, "YAML aliases (*%s) are not allowed: write the value out",
                    (const char *)ev.data.alias.anchor);
            ok = false;
            break;
        case YAML_SCALAR_EVENT:
            anchor = (const char *)ev.data.scalar.anchor;
            tag = (const char *)ev.data.scalar.tag;
            implicit_tag = ev.data.scalar.plain_implicit || ev.data.scalar.quoted_implicit;
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = (const char *)ev.data.mapping_start.anchor;
            tag = (const char *)ev.data.mapping_start.tag;
            implicit_tag = ev.data.mapping_start.implicit;
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = (const char *)ev.data.sequence_start.anchor;
            tag = (const char *)ev.data.sequence_start.tag;
            implicit_tag = ev.data.sequence_start.implicit;
            break;
        default:
            break;
        }
        if (anchor != NULL) {
            err_pos(errs, doc, at, "YAML anchors (&%s) are not allowed", anchor);
            ok = false;
        }
        if (tag != NULL && !implicit_tag) {
            err_pos(errs, doc, at, "YAML tags (%s) are not allowed", tag);
            ok = false;
        }

        struct yframe *top = depth > 0 ? &stack[depth - 1] : NULL;
        bool want_key = top != NULL && json_is_object(top->container) && top->pending_key == NULL;

        if (ev.type == YAML_SCALAR_EVENT && want_key) {
            const char *k = (const char *)ev.data.scalar.value;
            size_t kl = ev.data.scalar.length;
            if (memchr(k, '\0', kl) != NULL) {
                err_pos(errs, doc, at, "NUL character in a key");
                ok = false;
            } else if (json_object_get(top->container, k) != NULL) {
                err_pos(errs, doc, at, "duplicate key '%s' (first at line %u)", k,
                        cfg_key_pos_of(doc, top->container, k).line);
                ok = false;
            }
            top->pending_key = strdup(k);
            top->key_pos = at;
        } else if ((ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) &&
                   want_key) {
            err_pos(errs, doc, at, "keys must be plain strings, not %s",
                    ev.type == YAML_MAPPING_START_EVENT ? "mappings" : "sequences");
            yaml_event_delete(&ev);
            ok = false;
            break; /* the rest of the structure cannot be read reliably */
        } else if (ev.type == YAML_SCALAR_EVENT) {
            const char *s = (const char *)ev.data.scalar.value;
            size_t n = ev.data.scalar.length;
            if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                v = resolve_plain(s, n);
            else
                v = json_stringn(s, n);
            if (v == NULL) {
                err_pos(errs, doc, at, "value is not valid UTF-8 text");
                ok = false;
                v = json_null();
            }
        } else if (ev.type == YAML_MAPPING_START_EVENT) {
            v = json_object();
        } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
            v = json_array();
        }

        if (v != NULL) {
            /* Insert v where it belongs and record its position. */
            if (top == NULL) {
                if (doc->root == NULL) {
                    doc->root = json_incref(v);
                    pos_put(doc, NULL, NULL, 0, at, at);
                }
            } else if (json_is_object(top->container)) {
                /* A duplicate was reported when its key was read; keep the first. */
                if (json_object_get(top->container, top->pending_key) == NULL) {
                    pos_put(doc, top->container, top->pending_key, 0, top->key_pos, at);
                    json_object_set(top->container, top->pending_key, v);
                }
                free(top->pending_key);
                top->pending_key = NULL;
            } else {
                size_t idx = json_array_size(top->container);
                pos_put(doc, top->container, NULL, idx, at, at);
                json_array_append(top->container, v);
            }
            if (json_is_object(v) || json_is_array(v)) {
                if (depth >= CFG_MAX_DEPTH) {
                    err_pos(errs, doc, at, "nesting deeper than %u levels", CFG_MAX_DEPTH);
                    json_decref(v);
                    yaml_event_delete(&ev);
                    ok = false;
                    break;
                }
                stack[depth].container = json_incref(v);
                stack[depth].pending_key = NULL;
                depth++;
            }
            json_decref(v);
        }
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            if (depth > 0) {
                depth--;
                free(stack[depth].pending_key);
                stack[depth].pending_key = NULL;
                json_decref(stack[depth].container);
            }
        }
        yaml_event_delete(&ev);
        if (done)
            break;
    }
    for (size_t i = 0; i < depth; i++) {
        free(stack[i].pending_key);
        json_decref(stack[i].container);
    }
    yaml_parser_delete(&p);
    if (!ok || errs->n > nerr_before) {
        cfg_doc_free(doc);
        return NULL;
    }
    if (doc->root == NULL) {
        doc->root = json_object(); /* an empty file is an empty configuration */
        pos_put(doc, NULL, NULL, 0, (struct cfg_pos){1, 1}, (struct cfg_pos){1, 1});
    }
    return doc;
}

struct cfg_doc *cfg_load_mem(const char *name, const char *data, size_t len, bool is_json,
                             struct cfg_errors *errs)
{
    struct cfg_doc *doc = calloc(1, sizeof(*doc));
    if (doc == NULL)
        return NULL;
    doc->path = strdup(name != NULL ? name : "(config)");
    if (len > CFG_MAX_FILE) {
        cfg_errors_add(errs, "%s: file larger than %u bytes", doc->path, CFG_MAX_FILE);
        cfg_doc_free(doc);
        return NULL;
    }
    if (!is_json) {
        size_t i = 0;
        while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
            i++;
        is_json = i < len && data[i] == '{';
    }
    return is_json ? load_json(doc, data, len, errs) : load_yaml(doc, data, len, errs);
}

struct cfg_doc *cfg_load_file(const char *path, struct cfg_errors *errs)
{
    size_t len;
    enum file_status fs;
    char *data = file_read_all(path, CFG_MAX_FILE, &len, &fs);
    if (data == NULL) {
        char why[600];
        file_read_error(why, sizeof(why), path, CFG_MAX_FILE, fs);
        cfg_errors_add(errs, "%s", why);
        return NULL;
    }
    struct cfg_doc *doc = cfg_load_mem(path, data, len, str_has_suffix(path, ".json"), errs);
    free(data);
    return doc;
}

/* ---- checks and getters ---------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = c < del ? (c < ins ? c : ins) : (del < ins ? del : ins);
        }
    }
    return d[la][lb];
}

size_t cfg_check_keys(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                      const char *const *allowed)
{
    size_t bad = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool known = false;
        const char *best = NULL;
        size_t bestd = 3;
        for (const char *const *a = allowed; *a != NULL; a++) {
            if (strcmp(*a, k) == 0) {
                known = true;
                break;
            }
            size_t dd = edit_distance(*a, k);
            if (dd < bestd) {
                bestd = dd;
                best = *a;
            }
        }
        if (!known) {
            bad++;
            if (best != NULL)
                cfg_err_key(e, doc, obj, k, "unknown key '%s' (did you mean '%s'?)", k, best);
            else
                cfg_err_key(e, doc, obj, k, "unknown key '%s'", k);
        }
    }
    return bad;
}

static const char *type_word(const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

int cfg_get_str(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (!json_is_string(v)) {
        cfg_err(e, doc, obj, key, 0, "'%s' must be a string, not %s", key, type_word(v));
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int cfg_get_bool(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                 const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (!json_is_boolean(v)) {
        cfg_err(e, doc, obj, key, 0, "'%s' must be true or false, not %s", key, type_word(v));
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int cfg_get_uint(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                 const char *key, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max) {
        cfg_err(e, doc, obj, key, 0, "'%s' must be an integer from 0 to %llu", key,
                (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int cfg_get_size(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                 const char *key, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    uint64_t n;
    if (v == NULL)
        return 1;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        n = (uint64_t)json_integer_value(v);
    } else if (!json_is_string(v) || parse_size(json_string_value(v), &n) < 0) {
        cfg_err(e, doc, obj, key, 0,
                "'%s' must be a size in bytes, such as 4194304 or \"4MiB\" (units: B, KiB, MiB, "
                "GiB, kB, MB, GB)",
                key);
        return -1;
    }
    if (n > max) {
        cfg_err(e, doc, obj, key, 0, "'%s' is larger than the maximum of %llu bytes", key,
                (unsigned long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

int cfg_get_duration_us(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                        const char *key, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    uint64_t n;
    if (v == NULL)
        return 1;
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < (json_int_t)(UINT64_MAX / 1000)) {
        n = (uint64_t)json_integer_value(v) * 1000u;
    } else if (!json_is_string(v) || parse_duration_us(json_string_value(v), &n) < 0) {
        cfg_err(e, doc, obj, key, 0,
                "'%s' must be a duration such as \"30s\", \"250ms\", \"5m\" (a bare number is "
                "milliseconds)",
                key);
        return -1;
    }
    if (n > max) {
        cfg_err(e, doc, obj, key, 0, "'%s' is longer than the maximum of %llu ms", key,
                (unsigned long long)(max / 1000));
        return -1;
    }
    *out = n;
    return 0;
}

int cfg_get_str_list(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                     const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (json_is_string(v)) {
        *out = json_array();
        json_array_append(*out, v);
        return 0;
    }
    if (!json_is_array(v)) {
        cfg_err(e, doc, obj, key, 0, "'%s' must be a string or a list of strings, not %s", key,
                type_word(v));
        return -1;
    }
    size_t i;
    json_t *it;
    int rc = 0;
    json_array_foreach(v, i, it) {
        if (!json_is_string(it)) {
            cfg_err(e, doc, v, NULL, i, "'%s' entries must be strings, not %s", key,
                    type_word(it));
            rc = -1;
        }
    }
    if (rc < 0)
        return -1;
    *out = json_incref(v);
    return 0;
}

int cfg_get_obj(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (!json_is_object(v)) {
        cfg_err(e, doc, obj, key, 0, "'%s' must be a mapping, not %s", key, type_word(v));
        return -1;
    }
    *out = v;
    return 0;
}
