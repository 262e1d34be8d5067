/* openapi.c - OpenAPI 3.x operations as the MCP tools a bridge exposes. */
#include "scan/openapi.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/config.h"
#include "proto/json.h"
#include "scan/collect_http.h"
#include "util/str.h"

static const char *const methods[] = {"get",  "put",   "post",  "delete", "options",
                                      "head", "patch", "trace", NULL};

static void oerr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void oerr(char *err, size_t errsz, const char *fmt, ...)
{
    if (err == NULL || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

void openapi_tool_name(const char *method, const char *path, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *m = method; *m != '\0' && o + 1 < outsz && o < 64; m++)
        out[o++] = (char)tolower((unsigned char)*m);
    bool sep = true;
    for (const char *p = path; *p != '\0' && o + 1 < outsz && o < 64; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 0x80) {
            if (sep)
                out[o++] = '_';
            sep = false;
            if (o + 1 < outsz && o < 64)
                out[o++] = (char)c;
        } else {
            sep = true;
        }
    }
    out[o] = '\0';
}

/* A tool name from an operationId: characters outside [A-Za-z0-9_-] become
 * '_', at most 64 bytes (the limit many hosts apply). */
static void sanitize_name(const char *id, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = id; *p != '\0' && o + 1 < outsz && o < 64; p++) {
        unsigned char c = (unsigned char)*p;
        out[o++] = (isalnum(c) && c < 0x80) || c == '_' || c == '-' ? (char)c : '_';
    }
    out[o] = '\0';
}

struct ctx {
    const json_t *root;
    size_t nodes;
    bool over;
};

/* Resolves a local reference "#/a/b" in the document. */
static const json_t *resolve_ref(const struct ctx *c, const char *ref)
{
    if (ref == NULL || ref[0] != '#')
        return NULL;
    const json_t *parent;
    char key[256];
    size_t index;
    return scan_pointer_get(c->root, ref + 1, &parent, key, sizeof(key), &index);
}

/* Deep copy with local $refs replaced by their targets; `stack` holds the
 * refs being expanded (cycle guard). */
static json_t *inline_refs(struct ctx *c, const json_t *v, unsigned depth, json_t *stack)
{
    if (++c->nodes > OPENAPI_MAX_SCHEMA_NODES) {
        c->over = true;
        return json_null();
    }
    if (json_is_object(v)) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (ref != NULL) {
            const json_t *target = resolve_ref(c, ref);
            bool cycle = false;
            size_t i;
            json_t *s;
            json_array_foreach(stack, i, s)
            {
                cycle = cycle || strcmp(json_string_value(s), ref) == 0;
            }
            if (target == NULL || cycle || depth >= OPENAPI_MAX_REF_DEPTH)
                return json_pack("{s:s}", "$ref", ref);
            json_array_append_new(stack, json_string(ref));
            json_t *out = inline_refs(c, target, depth + 1, stack);
            json_array_remove(stack, json_array_size(stack) - 1);
            return out;
        }
        json_t *o = json_object();
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            json_object_set_new(o, k, inline_refs(c, m, depth, stack));
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            json_array_append_new(a, inline_refs(c, m, depth, stack));
        }
        return a;
    }
    return json_deep_copy(v);
}

static const json_t *deref(const struct ctx *c, const json_t *v)
{
    for (int i = 0; i < (int)OPENAPI_MAX_REF_DEPTH && json_is_object(v); i++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (ref == NULL)
            return v;
        v = resolve_ref(c, ref);
    }
    return json_is_object(v) ? v : NULL;
}

static void add_params(struct ctx *c, const json_t *params, json_t *props, json_t *required,
                       json_t *seen)
{
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        const json_t *pp = deref(c, p);
        const char *name = json_string_value(json_object_get(pp, "name"));
        const char *in = json_string_value(json_object_get(pp, "in"));
        if (name == NULL || in == NULL)
            continue;
        char key[300];
        snprintf(key, sizeof(key), "%s:%s", in, name);
        if (json_object_get(seen, key) != NULL)
            continue; /* operation-level parameters override path-level ones */
        json_object_set_new(seen, key, json_true());
        json_t *stack = json_array();
        json_t *schema = json_object_get(pp, "schema");
        json_t *s = schema != NULL ? inline_refs(c, schema, 0, stack) : json_object();
        json_decref(stack);
        if (!json_is_object(s)) {
            json_decref(s);
            s = json_object();
        }
        const char *desc = json_string_value(json_object_get(pp, "description"));
        if (desc != NULL && json_object_get(s, "description") == NULL)
            json_object_set_new(s, "description", json_string(desc));
        json_object_set_new(props, name, s);
        if (json_is_true(json_object_get(pp, "required")) || strcmp(in, "path") == 0)
            json_array_append_new(required, json_string(name));
    }
}

static json_t *build_tool(struct ctx *c, const char *method, const char *path,
                          const json_t *pathitem, const json_t *op, char *name_out, size_t name_sz)
{
    const char *opid = json_string_value(json_object_get(op, "operationId"));
    if (opid != NULL)
        sanitize_name(opid, name_out, name_sz);
    else
        openapi_tool_name(method, path, name_out, name_sz);
    json_t *props = json_object();
    json_t *required = json_array();
    json_t *seen = json_object();
    add_params(c, json_object_get(op, "parameters"), props, required, seen);
    add_params(c, json_object_get(pathitem, "parameters"), props, required, seen);
    json_decref(seen);
    const json_t *body = deref(c, json_object_get(op, "requestBody"));
    if (body != NULL) {
        const json_t *content = json_object_get(body, "content");
        const json_t *media = json_object_get(content, "application/json");
        if (media == NULL) {
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)content, k, v)
            {
                media = v;
                break;
            }
        }
        json_t *schema = json_object_get(media, "schema");
        json_t *stack = json_array();
        json_t *s = schema != NULL ? inline_refs(c, schema, 0, stack) : json_object();
        json_decref(stack);
        const char *bd = json_string_value(json_object_get(body, "description"));
        if (json_is_object(s) && bd != NULL && json_object_get(s, "description") == NULL)
            json_object_set_new(s, "description", json_string(bd));
        json_object_set_new(props, "body", s);
        if (json_is_true(json_object_get(body, "required")))
            json_array_append_new(required, json_string("body"));
    }
    json_t *schema = json_pack("{s:s, s:o}", "type", "object", "properties", props);
    if (json_array_size(required) > 0)
        json_object_set_new(schema, "required", required);
    else
        json_decref(required);
    const char *summary = json_string_value(json_object_get(op, "summary"));
    const char *desc = json_string_value(json_object_get(op, "description"));
    char *text = NULL;
    if (summary != NULL && desc != NULL) {
        size_t l = strlen(summary) + strlen(desc) + 3;
        text = malloc(l);
        if (text != NULL)
            snprintf(text, l, "%s\n\n%s", summary, desc);
    } else {
        text = strdup(summary != NULL ? summary : desc != NULL ? desc : "");
    }
    json_t *tool = json_pack("{s:s, s:s, s:o}", "name", name_out, "description",
                             text != NULL ? text : "", "inputSchema", schema);
    free(text);
    return tool;
}

/* Security requirement of an operation: its own, else the document's. An
 * empty array (or a requirement list holding only {}) means none. */
static bool has_security(const json_t *root, const json_t *op)
{
    const json_t *sec = json_object_get(op, "security");
    if (sec == NULL)
        sec = json_object_get(root, "security");
    if (!json_is_array(sec) || json_array_size(sec) == 0)
        return false;
    size_t i;
    json_t *req;
    json_array_foreach(sec, i, req)
    {
        if (json_object_size(req) == 0)
            return false; /* {} makes authentication optional */
    }
    return true;
}

int openapi_load_mem(struct scan_report *r, const char *path, const char *data, size_t len,
                     const char *name, char *err, size_t errsz)
{
    struct cfg_errors ce;
    cfg_errors_init(&ce);
    struct cfg_doc *doc = cfg_load_mem(path, data, len, false, &ce);
    if (doc == NULL) {
        oerr(err, errsz, "%s", ce.n > 0 ? ce.msgs[0] : "cannot parse");
        cfg_errors_free(&ce);
        return -1;
    }
    cfg_errors_free(&ce);
    const struct cfg_doc *kept = scan_keep_doc(r, doc);
    if (kept == NULL) {
        oerr(err, errsz, "out of memory");
        return -1;
    }
    const json_t *root = kept->root;
    if (json_is_string(json_object_get(root, "swagger"))) {
        oerr(err, errsz, "%s: Swagger 2.0 is not supported; convert it to OpenAPI 3 first", path);
        return -1;
    }
    const char *ver = json_string_value(json_object_get(root, "openapi"));
    if (ver == NULL || ver[0] != '3') {
        oerr(err, errsz, "%s: not an OpenAPI 3 document (no \"openapi\": \"3.x\")", path);
        return -1;
    }
    const json_t *paths = json_object_get(root, "paths");
    if (!json_is_object(paths) && json_object_get(root, "webhooks") == NULL) {
        oerr(err, errsz, "%s: no 'paths' object", path);
        return -1;
    }
    const char *title = json_string_value(json_object_get(json_object_get(root, "info"), "title"));
    int si = scan_add_server(r,
                             name != NULL    ? name
                             : title != NULL ? title
                                             : path,
                             path, SCAN_TR_OPENAPI);
    if (si < 0) {
        oerr(err, errsz, "too many servers");
        return -1;
    }
    struct scan_server *sv = &r->servers[si];
    sv->doc = kept;
    sv->init =
        json_pack("{s:s, s:{s:s, s:s}, s:{s:{}}}", "protocolVersion", "openapi", "serverInfo",
                  "name", title != NULL ? title : path, "version", ver, "capabilities", "tools");

    /* servers[].url over plain HTTP to a host that is not loopback */
    size_t i;
    json_t *srv;
    json_array_foreach(json_object_get(root, "servers"), i, srv)
    {
        const char *url = json_string_value(json_object_get(srv, "url"));
        if (url != NULL && str_has_prefix(url, "http://") && !http_url_is_loopback(url)) {
            struct scan_finding *f = scan_add_finding(r, "http.plaintext", -1, si, -1,
                                                      "API server %s is plain HTTP", url);
            if (f != NULL) {
                struct cfg_pos p = cfg_pos_of(kept, srv, "url", 0);
                scan_finding_pos(r, f, kept->path, p.line, p.col);
                scan_finding_evidence(f, url, strlen(url));
            }
        }
    }

    struct ctx c = {root, 0, false};
    size_t nops = 0;
    const char *pk;
    json_t *item;
    json_object_foreach((json_t *)paths, pk, item)
    {
        const json_t *pi = deref(&c, item);
        if (pi == NULL)
            continue;
        for (const char *const *m = methods; *m != NULL; m++) {
            json_t *op = json_object_get(pi, *m);
            if (!json_is_object(op))
                continue;
            if (++nops > OPENAPI_MAX_OPERATIONS) {
                oerr(err, errsz, "%s: more than %u operations", path, OPENAPI_MAX_OPERATIONS);
                return -1;
            }
            char tname[80];
            c.nodes = 0;
            json_t *tool = build_tool(&c, *m, pk, pi, op, tname, sizeof(tname));
            if (tool == NULL)
                continue;
            struct scan_item *it = scan_add_item(r, si, SCAN_KIND_TOOL, tool);
            json_decref(tool);
            if (it == NULL)
                continue;
            char up[16];
            size_t ml = str_copy(up, *m, sizeof(up));
            for (size_t k = 0; k < ml && k < sizeof(up); k++)
                up[k] = (char)toupper((unsigned char)up[k]);
            it->http_method = strdup(up);
            it->http_path = strdup(pk);
            struct cfg_pos p = cfg_key_pos_of(kept, pi, *m);
            it->pos.file = scan_intern(r, kept->path);
            it->pos.line = p.line;
            it->pos.col = p.col;
            if (c.over) {
                c.over = false;
                scan_server_fail(r, si, "schema of %s %s too large (more than %u nodes)", up, pk,
                                 OPENAPI_MAX_SCHEMA_NODES);
            }
            bool changes = strcmp(*m, "get") != 0 && strcmp(*m, "head") != 0 &&
                           strcmp(*m, "options") != 0 && strcmp(*m, "trace") != 0;
            if (changes && !has_security(root, op)) {
                struct scan_finding *f = scan_add_finding(
                    r, "openapi.no-auth", -1, si, (int)(sv->nitems - 1),
                    "%s %s (%s) changes state and declares no security requirement", up, pk, tname);
                if (f != NULL)
                    scan_finding_pos(r, f, kept->path, p.line, p.col);
            }
        }
    }
    return 0;
}

int openapi_load(struct scan_report *r, const char *path, const char *name, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        oerr(err, errsz, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1u << 16, len = 0;
    char *data = malloc(cap);
    size_t n;
    while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            if (cap >= (64u << 20)) {
                free(data);
                data = NULL;
                break;
            }
            char *nd = realloc(data, cap * 2);
            if (nd == NULL) {
                free(data);
                data = NULL;
                break;
            }
            data = nd;
            cap *= 2;
        }
    }
    fclose(f);
    if (data == NULL) {
        oerr(err, errsz, "%s: cannot read (or larger than 64 MiB)", path);
        return -1;
    }
    int rc = openapi_load_mem(r, path, data, len, name, err, errsz);
    free(data);
    return rc;
}
