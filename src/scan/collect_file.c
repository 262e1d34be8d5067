/* collect_file.c - saved tools/list results, captures and wire logs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/json.h"
#include "scan/collect.h"
#include "util/file.h"
#include "util/str.h"

#define CAPTURE_FORMAT "mcpwall-capture/1"
#define FILE_MAX       (64u * 1024u * 1024u)
#define WIRE_MAX_LINES 1000000u

static void ferr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ferr(char *err, size_t errsz, const char *fmt, ...)
{
    if (err == NULL || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static bool looks_like_tool_array(const json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) == 0)
        return false;
    const json_t *t = json_array_get(a, 0);
    return json_is_string(json_object_get(t, "name")) &&
           (json_object_get(t, "inputSchema") != NULL || json_object_get(t, "description") != NULL);
}

static bool is_list_result(const json_t *v)
{
    return json_is_array(json_object_get(v, "tools")) ||
           json_is_array(json_object_get(v, "prompts")) ||
           json_is_array(json_object_get(v, "resources")) ||
           json_is_array(json_object_get(v, "resourceTemplates"));
}

static bool is_hostcfg(const json_t *v)
{
    if (json_is_object(json_object_get(v, "mcpServers")) ||
        json_is_object(json_object_get(v, "context_servers")))
        return true;
    if (json_is_object(json_object_get(json_object_get(v, "mcp"), "servers")))
        return true;
    json_t *servers = json_object_get(v, "servers");
    if (json_is_object(servers)) {
        const char *k;
        json_t *e;
        json_object_foreach(servers, k, e)
        {
            if (json_object_get(e, "command") != NULL || json_object_get(e, "url") != NULL ||
                json_object_get(e, "type") != NULL)
                return true;
        }
        return json_object_size(servers) == 0;
    }
    json_t *projects = json_object_get(v, "projects");
    if (json_is_object(projects)) {
        const char *k;
        json_t *e;
        json_object_foreach(projects, k, e)
        {
            if (json_object_get(e, "mcpServers") != NULL)
                return true;
        }
    }
    return false;
}

/* Skips a UTF-8 BOM and blanks. */
static size_t skip_lead(const char *d, size_t n)
{
    size_t i = 0;
    if (n >= 3 && (unsigned char)d[0] == 0xef && (unsigned char)d[1] == 0xbb &&
        (unsigned char)d[2] == 0xbf)
        i = 3;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    return i;
}

enum collect_filetype collect_sniff(const char *data, size_t len)
{
    size_t i = skip_lead(data, len);
    if (i < len && (data[i] == '{' || data[i] == '[')) {
        struct json_err je;
        struct json_limits lim = json_default_limits;
        lim.max_bytes = FILE_MAX;
        json_t *v = json_parse_strict(data + i, len - i, &lim, &je);
        enum collect_filetype ft = COLLECT_FT_UNKNOWN;
        if (v == NULL) {
            /* JSON Lines, or JSON with comments (VS Code, Zed settings) */
            const char *nl = memchr(data + i, '\n', len - i);
            if (nl != NULL) {
                json_t *first =
                    json_parse_strict(data + i, (size_t)(nl - data - (ptrdiff_t)i), &lim, &je);
                if (json_is_object(first) && json_object_get(first, "jsonrpc") != NULL)
                    ft = COLLECT_FT_TOOLS;
                json_decref(first);
            }
            /* an OpenAPI document also has "servers": look for "openapi" first */
            if (ft == COLLECT_FT_UNKNOWN && str_casestr_n(data, len, "\"openapi\"") != NULL)
                ft = COLLECT_FT_OPENAPI;
            if (ft == COLLECT_FT_UNKNOWN &&
                (str_casestr_n(data, len, "\"mcpServers\"") != NULL ||
                 str_casestr_n(data, len, "\"servers\"") != NULL ||
                 str_casestr_n(data, len, "\"context_servers\"") != NULL))
                ft = COLLECT_FT_HOSTCFG;
            return ft;
        }
        if (json_is_string(json_object_get(v, "openapi")) ||
            json_is_string(json_object_get(v, "swagger")))
            ft = COLLECT_FT_OPENAPI;
        else if (json_is_string(json_object_get(v, "format")) || looks_like_tool_array(v) ||
                 is_list_result(v) || is_list_result(json_object_get(v, "result")))
            ft = COLLECT_FT_TOOLS;
        else if (is_hostcfg(v))
            ft = COLLECT_FT_HOSTCFG;
        json_decref(v);
        return ft;
    }
    /* YAML: an OpenAPI document starts with (or soon has) "openapi:" at a line start */
    for (size_t p = i; p < len;) {
        if (len - p >= 8 && (memcmp(data + p, "openapi:", 8) == 0 ||
                             (len - p >= 8 && memcmp(data + p, "swagger:", 8) == 0)))
            return COLLECT_FT_OPENAPI;
        const char *nl = memchr(data + p, '\n', len - p);
        if (nl == NULL)
            break;
        p = (size_t)(nl - data) + 1;
    }
    return COLLECT_FT_UNKNOWN;
}

/* Adds the lists of one result object to a server, keeping positions. */
static void add_lists(struct scan_report *r, int server, const struct cfg_doc *doc,
                      const json_t *res)
{
    static const struct {
        const char *key;
        enum scan_kind kind;
    } lists[] = {{"tools", SCAN_KIND_TOOL},
                 {"prompts", SCAN_KIND_PROMPT},
                 {"resources", SCAN_KIND_RESOURCE},
                 {"resourceTemplates", SCAN_KIND_TEMPLATE}};
    for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
        json_t *arr = json_object_get(res, lists[k].key);
        size_t i;
        json_t *d;
        json_array_foreach(arr, i, d)
        {
            struct scan_item *it = scan_add_item(r, server, lists[k].kind, d);
            if (it != NULL && doc != NULL) {
                it->def_in_doc = true;
                struct cfg_pos p = cfg_pos_of(doc, arr, NULL, i);
                it->pos.file = scan_intern(r, doc->path);
                it->pos.line = p.line;
                it->pos.col = p.col;
            }
        }
    }
}

static void base_name(const char *path, char *out, size_t outsz)
{
    const char *b = strrchr(path, '/');
    b = b != NULL ? b + 1 : path;
    str_copy(out, b, outsz);
    char *dot = strrchr(out, '.');
    if (dot != NULL && dot != out)
        *dot = '\0';
}

/* A JSON Lines log of JSON-RPC messages: answers to list requests are matched
 * to their requests by id (or recognised by their shape). */
static int collect_wire(struct scan_report *r, const char *path, const char *data, size_t len,
                        const char *name, char *err, size_t errsz)
{
    char nm[128];
    if (name == NULL)
        base_name(path, nm, sizeof(nm));
    int server = scan_add_server(r, name != NULL ? name : nm, path, SCAN_TR_FILE);
    if (server < 0) {
        ferr(err, errsz, "too many servers");
        return -1;
    }
    json_t *methods = json_object(); /* id key -> method */
    struct json_limits lim = json_default_limits;
    size_t lines = 0, used = 0, p = 0;
    while (p < len && lines < WIRE_MAX_LINES) {
        const char *nl = memchr(data + p, '\n', len - p);
        size_t e = nl != NULL ? (size_t)(nl - data) : len;
        size_t s = skip_lead(data + p, e - p) + p;
        lines++;
        if (s < e) {
            struct json_err je;
            json_t *m = json_parse_strict(data + s, e - s, &lim, &je);
            if (m == NULL) {
                ferr(err, errsz, "%s:%zu: not JSON (%s)", path, lines, json_reason_code(je.reason));
                json_decref(methods);
                return -1;
            }
            json_t *id = json_object_get(m, "id");
            char key[80] = "";
            if (id != NULL) {
                char *ids = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
                if (ids != NULL)
                    str_copy(key, ids, sizeof(key));
                free(ids);
            }
            const char *method = json_string_value(json_object_get(m, "method"));
            json_t *res = json_object_get(m, "result");
            if (method != NULL && key[0] != '\0') {
                json_object_set_new(methods, key, json_string(method));
            } else if (res != NULL) {
                const char *req = json_string_value(json_object_get(methods, key));
                if (req != NULL && strcmp(req, "initialize") == 0) {
                    json_decref(r->servers[server].init);
                    r->servers[server].init = json_incref(res);
                    used++;
                } else if (is_list_result(res)) {
                    add_lists(r, server, NULL, res);
                    used++;
                } else if (json_object_get(res, "protocolVersion") != NULL &&
                           json_object_get(res, "capabilities") != NULL) {
                    json_decref(r->servers[server].init);
                    r->servers[server].init = json_incref(res);
                    used++;
                }
            }
            json_decref(m);
        }
        p = e + 1;
    }
    json_decref(methods);
    if (used == 0) {
        ferr(err, errsz, "%s: no initialize or list results in this log", path);
        return -1;
    }
    return 0;
}

int collect_file_mem(struct scan_report *r, const char *path, const char *data, size_t len,
                     const char *name, char *err, size_t errsz)
{
    size_t lead = skip_lead(data, len);
    struct cfg_errors ce;
    cfg_errors_init(&ce);
    struct cfg_doc *doc = cfg_load_mem(path, data + lead, len - lead, true, &ce);
    if (doc == NULL) {
        cfg_errors_free(&ce);
        /* not one JSON text: maybe a JSON Lines wire log */
        return collect_wire(r, path, data, len, name, err, errsz);
    }
    cfg_errors_free(&ce);
    const struct cfg_doc *kept = scan_keep_doc(r, doc);
    if (kept == NULL) {
        ferr(err, errsz, "out of memory");
        return -1;
    }
    const json_t *root = kept->root;
    char nm[128];
    if (name == NULL)
        base_name(path, nm, sizeof(nm));
    const char *sname = name != NULL ? name : nm;

    const char *format = json_string_value(json_object_get(root, "format"));
    if (format != NULL) {
        if (strcmp(format, CAPTURE_FORMAT) != 0) {
            ferr(err, errsz, "%s: unknown capture format '%.60s' (expected %s)", path, format,
                 CAPTURE_FORMAT);
            return -1;
        }
        json_t *servers = json_object_get(root, "servers");
        if (!json_is_array(servers)) {
            ferr(err, errsz, "%s: capture without a 'servers' array", path);
            return -1;
        }
        size_t i;
        json_t *s;
        json_array_foreach(servers, i, s)
        {
            const char *cn = json_string_value(json_object_get(s, "name"));
            const char *tg = json_string_value(json_object_get(s, "target"));
            int si =
                scan_add_server(r, cn != NULL ? cn : sname, tg != NULL ? tg : path, SCAN_TR_FILE);
            if (si < 0)
                break;
            r->servers[si].doc = kept;
            json_t *init = json_object_get(s, "initialize");
            if (json_is_object(init))
                r->servers[si].init = json_incref(init);
            const char *e = json_string_value(json_object_get(s, "error"));
            if (e != NULL)
                scan_server_fail(r, si, "%s", e);
            add_lists(r, si, kept, s);
        }
        return 0;
    }
    const json_t *res = root;
    if (json_is_object(json_object_get(root, "result")) && json_object_get(root, "jsonrpc") != NULL)
        res = json_object_get(root, "result");
    if (!json_is_array(res) && !(json_is_object(res) && is_list_result(res))) {
        ferr(err, errsz, "%s: neither a tools/list result, a capture, nor a wire log", path);
        return -1;
    }
    int si = scan_add_server(r, sname, path, SCAN_TR_FILE);
    if (si < 0) {
        ferr(err, errsz, "too many servers");
        return -1;
    }
    r->servers[si].doc = kept;
    if (json_is_array(res)) {
        size_t i;
        json_t *d;
        json_array_foreach(res, i, d)
        {
            struct scan_item *it = scan_add_item(r, si, SCAN_KIND_TOOL, d);
            if (it != NULL) {
                it->def_in_doc = true;
                struct cfg_pos p = cfg_pos_of(kept, res, NULL, i);
                it->pos.file = scan_intern(r, kept->path);
                it->pos.line = p.line;
                it->pos.col = p.col;
            }
        }
        if (r->servers[si].nitems == 0)
            scan_server_fail(r, si, "%s: the array holds no tool definitions", path);
        return 0;
    }
    /* a whole-server capture may carry its initialize result beside the lists */
    json_t *init = json_object_get(res, "initialize");
    if (json_is_object(init)) {
        r->servers[si].init = json_incref(init);
    } else if (json_object_get(res, "serverInfo") != NULL) {
        r->servers[si].init = json_pack("{s:O*, s:O*, s:O*, s:O*}", "protocolVersion",
                                        json_object_get(res, "protocolVersion"), "serverInfo",
                                        json_object_get(res, "serverInfo"), "capabilities",
                                        json_object_get(res, "capabilities"), "instructions",
                                        json_object_get(res, "instructions"));
    }
    add_lists(r, si, kept, res);
    return 0;
}

int collect_file(struct scan_report *r, const char *path, const char *name, char *err, size_t errsz)
{
    size_t len;
    enum file_status fs;
    char *data = file_read_all(path, FILE_MAX, &len, &fs);
    if (data == NULL) {
        file_read_error(err, errsz, path, FILE_MAX, fs);
        return -1;
    }
    int rc = collect_file_mem(r, path, data, len, name, err, errsz);
    free(data);
    return rc;
}

int collect_save_capture(const struct scan_report *r, const char *path)
{
    json_t *servers = json_array();
    json_t *root = json_pack("{s:s, s:o}", "format", CAPTURE_FORMAT, "servers", servers);
    if (root == NULL)
        return -1;
    for (size_t s = 0; s < r->nservers; s++) {
        const struct scan_server *sv = &r->servers[s];
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", sv->name, "target", sv->target,
                              "transport", scan_transport_name(sv->transport));
        if (o == NULL)
            continue;
        if (sv->init != NULL)
            json_object_set(o, "initialize", sv->init);
        if (sv->error != NULL)
            json_object_set_new(o, "error", json_string(sv->error));
        static const char *const keys[] = {"tools", "prompts", "resources", "resourceTemplates"};
        json_t *arrs[4];
        for (int k = 0; k < 4; k++) {
            arrs[k] = json_array();
            json_object_set_new(o, keys[k], arrs[k]);
        }
        for (size_t i = 0; i < sv->nitems; i++)
            json_array_append(arrs[sv->items[i].kind], sv->items[i].def);
        json_array_append_new(servers, o);
    }
    int rc = json_dump_file(root, path, JSON_INDENT(2)) == 0 ? 0 : -1;
    json_decref(root);
    return rc;
}
