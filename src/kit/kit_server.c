/* kit_server.c - the server object, registration of tools, resources,
 * templates and prompts, URI templates and content builders. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit_internal.h"
#include "proto/json.h"
#include "util/log.h"

#define KIT_NAME_MAX 128
#define KIT_URI_MAX  2048

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
    if (err == NULL || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

struct kit_server *kit_server_new(struct event_base *base, const struct kit_info *info,
                                  const struct kit_limits *lim)
{
    if (base == NULL || info == NULL || info->name == NULL || info->version == NULL)
        return NULL;
    struct kit_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base = base;
    if (lim != NULL)
        s->lim = *lim;
    if (s->lim.max_message == 0)
        s->lim.max_message = JSON_DEFAULT_MAX_BYTES;
    if (s->lim.max_calls == 0)
        s->lim.max_calls = 64;
    if (s->lim.max_outbound == 0)
        s->lim.max_outbound = 16;
    if (s->lim.outbound_timeout_us == 0)
        s->lim.outbound_timeout_us = 60u * 1000000u;
    if (s->lim.page_size == 0)
        s->lim.page_size = 50;
    if (s->lim.max_subscriptions == 0)
        s->lim.max_subscriptions = 256;
    if (s->lim.drain_timeout_us == 0)
        s->lim.drain_timeout_us = 5u * 1000000u;
    s->server_info = json_pack("{s:s, s:s}", "name", info->name, "version", info->version);
    if (s->server_info == NULL) {
        free(s);
        return NULL;
    }
    if (info->title != NULL)
        json_object_set_new(s->server_info, "title", json_string(info->title));
    if (info->instructions != NULL)
        s->instructions = strdup(info->instructions);
    return s;
}

void kit_server_free(struct kit_server *s)
{
    if (s == NULL)
        return;
    while (s->sessions != NULL) {
        struct kit_session *ss = s->sessions;
        kit_session_close(ss);
        if (s->sessions == ss) {
            /* Handlers still hold calls: free them regardless (documented). */
            while (ss->calls != NULL) {
                struct kit_call *c = ss->calls;
                c->finished = true;
                c->holds = 0;
                kit_call_release(c);
            }
            kit_session_maybe_free(ss);
        }
    }
    for (size_t i = 0; i < s->ntools; i++) {
        free(s->tools[i].name);
        json_decref(s->tools[i].def);
        kit_schema_free(s->tools[i].in);
        kit_schema_free(s->tools[i].out);
    }
    free(s->tools);
    for (size_t i = 0; i < s->nres; i++) {
        free(s->res[i].uri);
        json_decref(s->res[i].def);
    }
    free(s->res);
    for (size_t i = 0; i < s->ntpls; i++) {
        free(s->tpls[i].tpl);
        json_decref(s->tpls[i].def);
    }
    free(s->tpls);
    for (size_t i = 0; i < s->nprompts; i++) {
        struct kit_prompt_ent *p = &s->prompts[i];
        free(p->name);
        json_decref(p->def);
        for (size_t j = 0; j < p->nargs; j++)
            free(p->argnames[j]);
        free(p->argnames);
        free(p->argreq);
    }
    free(s->prompts);
    json_decref(s->server_info);
    free(s->instructions);
    free(s);
}

struct event_base *kit_server_base(const struct kit_server *s)
{
    return s->base;
}

void kit_server_stop(struct kit_server *s)
{
    s->stopping = true;
    event_base_loopexit(s->base, NULL);
}

void kit_server_set_recorder(struct kit_server *s, kit_record_fn fn, void *ud)
{
    s->recorder = fn;
    s->recorder_ud = ud;
}

void kit_server_set_gate(struct kit_server *s, kit_gate_fn fn, void *ud)
{
    s->gate = fn;
    s->gate_ud = ud;
}

/* ---- registration helpers ---------------------------------------------- */

static bool name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > KIT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static json_t *parse_json_text(const char *what, const char *text, char *err, size_t errsz)
{
    struct json_err je;
    json_t *v = json_parse_strict(text, strlen(text), NULL, &je);
    if (v == NULL)
        seterr(err, errsz, "%s is not valid JSON: %s at byte %zu", what, je.msg, je.offset);
    return v;
}

static void set_opt_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, key, json_string(v));
}

static int grow(void **arr, size_t *cap, size_t n, size_t elsz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap == 0 ? 8 : *cap * 2;
    void *p = realloc(*arr, nc * elsz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

int kit_add_tool(struct kit_server *s, const struct kit_tool *t, char *err, size_t errsz)
{
    if (t->name == NULL || !name_ok(t->name)) {
        seterr(err, errsz, "tool name must be 1-%d characters of A-Z a-z 0-9 _ - .",
               KIT_NAME_MAX);
        return -1;
    }
    if (t->handler == NULL) {
        seterr(err, errsz, "tool %s: no handler", t->name);
        return -1;
    }
    for (size_t i = 0; i < s->ntools; i++) {
        if (strcmp(s->tools[i].name, t->name) == 0) {
            seterr(err, errsz, "tool %s is registered twice", t->name);
            return -1;
        }
    }
    json_t *in = NULL, *out = NULL, *ann = NULL, *def = NULL;
    struct kit_schema *cin = NULL, *cout = NULL;
    char sub[200];
    in = parse_json_text("inputSchema", t->input_schema != NULL ? t->input_schema
                                                                : "{\"type\":\"object\"}",
                         err, errsz);
    if (in == NULL)
        goto fail;
    if (!json_is_object(in) || !json_is_string(json_object_get(in, "type")) ||
        strcmp(json_string_value(json_object_get(in, "type")), "object") != 0) {
        seterr(err, errsz, "tool %s: inputSchema must be an object schema with \"type\":\"object\"",
               t->name);
        goto fail;
    }
    if ((cin = kit_schema_compile(in, sub, sizeof(sub))) == NULL) {
        seterr(err, errsz, "tool %s: inputSchema: %s", t->name, sub);
        goto fail;
    }
    if (t->output_schema != NULL) {
        if ((out = parse_json_text("outputSchema", t->output_schema, err, errsz)) == NULL)
            goto fail;
        if (!json_is_object(out)) {
            seterr(err, errsz, "tool %s: outputSchema must be an object", t->name);
            goto fail;
        }
        if ((cout = kit_schema_compile(out, sub, sizeof(sub))) == NULL) {
            seterr(err, errsz, "tool %s: outputSchema: %s", t->name, sub);
            goto fail;
        }
    }
    if (t->annotations != NULL) {
        if ((ann = parse_json_text("annotations", t->annotations, err, errsz)) == NULL)
            goto fail;
        if (!json_is_object(ann)) {
            seterr(err, errsz, "tool %s: annotations must be an object", t->name);
            goto fail;
        }
    }
    if (grow((void **)&s->tools, &s->captools, s->ntools, sizeof(*s->tools)) < 0) {
        seterr(err, errsz, "out of memory");
        goto fail;
    }
    def = json_object();
    json_object_set_new(def, "name", json_string(t->name));
    set_opt_str(def, "title", t->title);
    set_opt_str(def, "description", t->description);
    json_object_set(def, "inputSchema", in);
    if (out != NULL)
        json_object_set(def, "outputSchema", out);
    if (ann != NULL)
        json_object_set(def, "annotations", ann);
    struct kit_tool_ent *e = &s->tools[s->ntools++];
    e->name = strdup(t->name);
    e->def = def;
    e->in = cin;
    e->out = cout;
    e->fn = t->handler;
    e->ud = t->ud;
    json_decref(in);
    json_decref(out);
    json_decref(ann);
    return 0;
fail:
    json_decref(in);
    json_decref(out);
    json_decref(ann);
    kit_schema_free(cin);
    kit_schema_free(cout);
    return -1;
}

static bool uri_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > KIT_URI_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
            return false;
    return strstr(u, ":") != NULL;
}

int kit_add_resource(struct kit_server *s, const struct kit_resource *r, char *err,
                     size_t errsz)
{
    if (r->uri == NULL || !uri_ok(r->uri)) {
        seterr(err, errsz, "resource URI must be an absolute URI without spaces (at most %d bytes)",
               KIT_URI_MAX);
        return -1;
    }
    if (r->name == NULL || r->name[0] == '\0' || r->read == NULL) {
        seterr(err, errsz, "resource %s: name and read handler are required", r->uri);
        return -1;
    }
    for (size_t i = 0; i < s->nres; i++) {
        if (strcmp(s->res[i].uri, r->uri) == 0) {
            seterr(err, errsz, "resource %s is registered twice", r->uri);
            return -1;
        }
    }
    if (grow((void **)&s->res, &s->capres, s->nres, sizeof(*s->res)) < 0) {
        seterr(err, errsz, "out of memory");
        return -1;
    }
    json_t *def = json_object();
    json_object_set_new(def, "uri", json_string(r->uri));
    json_object_set_new(def, "name", json_string(r->name));
    set_opt_str(def, "title", r->title);
    set_opt_str(def, "description", r->description);
    set_opt_str(def, "mimeType", r->mime_type);
    struct kit_res_ent *e = &s->res[s->nres++];
    e->uri = strdup(r->uri);
    e->def = def;
    e->fn = r->read;
    e->ud = r->ud;
    return 0;
}

int kit_add_resource_template(struct kit_server *s, const struct kit_resource_template *t,
                              char *err, size_t errsz)
{
    char sub[160];
    if (t->uri_template == NULL || kit_uritpl_check(t->uri_template, sub, sizeof(sub)) < 0) {
        seterr(err, errsz, "resource template: %s",
               t->uri_template == NULL ? "no uri_template" : sub);
        return -1;
    }
    if (t->name == NULL || t->name[0] == '\0' || t->read == NULL) {
        seterr(err, errsz, "resource template %s: name and read handler are required",
               t->uri_template);
        return -1;
    }
    for (size_t i = 0; i < s->ntpls; i++) {
        if (strcmp(s->tpls[i].tpl, t->uri_template) == 0) {
            seterr(err, errsz, "resource template %s is registered twice", t->uri_template);
            return -1;
        }
    }
    if (grow((void **)&s->tpls, &s->captpls, s->ntpls, sizeof(*s->tpls)) < 0) {
        seterr(err, errsz, "out of memory");
        return -1;
    }
    json_t *def = json_object();
    json_object_set_new(def, "uriTemplate", json_string(t->uri_template));
    json_object_set_new(def, "name", json_string(t->name));
    set_opt_str(def, "title", t->title);
    set_opt_str(def, "description", t->description);
    set_opt_str(def, "mimeType", t->mime_type);
    struct kit_tpl_ent *e = &s->tpls[s->ntpls++];
    e->tpl = strdup(t->uri_template);
    e->def = def;
    e->fn = t->read;
    e->ud = t->ud;
    e->complete = t->complete;
    e->complete_ud = t->complete_ud;
    return 0;
}

int kit_add_prompt(struct kit_server *s, const struct kit_prompt *p, char *err, size_t errsz)
{
    if (p->name == NULL || !name_ok(p->name)) {
        seterr(err, errsz, "prompt name must be 1-%d characters of A-Z a-z 0-9 _ - .",
               KIT_NAME_MAX);
        return -1;
    }
    if (p->get == NULL) {
        seterr(err, errsz, "prompt %s: no handler", p->name);
        return -1;
    }
    for (size_t i = 0; i < s->nprompts; i++) {
        if (strcmp(s->prompts[i].name, p->name) == 0) {
            seterr(err, errsz, "prompt %s is registered twice", p->name);
            return -1;
        }
    }
    for (size_t i = 0; i < p->nargs; i++) {
        if (p->args[i].name == NULL || p->args[i].name[0] == '\0') {
            seterr(err, errsz, "prompt %s: argument %zu has no name", p->name, i);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->args[i].name, p->args[j].name) == 0) {
                seterr(err, errsz, "prompt %s: argument %s is listed twice", p->name,
                       p->args[i].name);
                return -1;
            }
        }
    }
    if (grow((void **)&s->prompts, &s->capprompts, s->nprompts, sizeof(*s->prompts)) < 0) {
        seterr(err, errsz, "out of memory");
        return -1;
    }
    json_t *def = json_object();
    json_object_set_new(def, "name", json_string(p->name));
    set_opt_str(def, "title", p->title);
    set_opt_str(def, "description", p->description);
    struct kit_prompt_ent *e = &s->prompts[s->nprompts];
    memset(e, 0, sizeof(*e));
    if (p->nargs > 0) {
        json_t *args = json_array();
        e->argnames = calloc(p->nargs, sizeof(char *));
        e->argreq = calloc(p->nargs, sizeof(bool));
        if (e->argnames == NULL || e->argreq == NULL) {
            free(e->argnames);
            free(e->argreq);
            json_decref(args);
            json_decref(def);
            seterr(err, errsz, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < p->nargs; i++) {
            json_t *a = json_object();
            json_object_set_new(a, "name", json_string(p->args[i].name));
            set_opt_str(a, "title", p->args[i].title);
            set_opt_str(a, "description", p->args[i].description);
            json_object_set_new(a, "required", json_boolean(p->args[i].required));
            json_array_append_new(args, a);
            e->argnames[i] = strdup(p->args[i].name);
            e->argreq[i] = p->args[i].required;
        }
        e->nargs = p->nargs;
        json_object_set_new(def, "arguments", args);
    }
    e->name = strdup(p->name);
    e->def = def;
    e->fn = p->get;
    e->ud = p->ud;
    e->complete = p->complete;
    e->complete_ud = p->complete_ud;
    s->nprompts++;
    return 0;
}

/* ---- URI templates ------------------------------------------------------ */

int kit_uritpl_check(const char *tpl, char *err, size_t errsz)
{
    size_t n = strlen(tpl);
    if (n == 0 || n > KIT_URI_MAX || strchr(tpl, ':') == NULL) {
        seterr(err, errsz, "template must be an absolute URI of at most %d bytes", KIT_URI_MAX);
        return -1;
    }
    bool prev_var = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tpl[i];
        if (c <= 0x20 || c == 0x7f) {
            seterr(err, errsz, "template contains a space or control character");
            return -1;
        }
        if (c == '}') {
            seterr(err, errsz, "unbalanced '}' at byte %zu", i);
            return -1;
        }
        if (c != '{') {
            prev_var = false;
            continue;
        }
        if (prev_var) {
            seterr(err, errsz, "two variables in a row at byte %zu cannot be told apart", i);
            return -1;
        }
        size_t j = i + 1;
        while (j < n && tpl[j] != '}') {
            char v = tpl[j];
            if (!((v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') ||
                  v == '_')) {
                seterr(err, errsz,
                       "variable at byte %zu: only simple {name} variables are supported", i);
                return -1;
            }
            j++;
        }
        if (j >= n || j == i + 1) {
            seterr(err, errsz, "unterminated or empty variable at byte %zu", i);
            return -1;
        }
        i = j;
        prev_var = true;
    }
    return 0;
}

static bool var_char(char c)
{
    return c != '/' && c != '?' && c != '#' && c != '\0';
}

json_t *kit_uritpl_match(const char *tpl, const char *uri)
{
    json_t *vars = json_object();
    const char *t = tpl, *u = uri;
    while (*t != '\0') {
        if (*t != '{') {
            if (*u != *t)
                goto nomatch;
            t++;
            u++;
            continue;
        }
        const char *close = strchr(t, '}');
        if (close == NULL)
            goto nomatch;
        char name[KIT_NAME_MAX + 1];
        size_t nl = (size_t)(close - t - 1);
        if (nl == 0 || nl > KIT_NAME_MAX)
            goto nomatch;
        memcpy(name, t + 1, nl);
        name[nl] = '\0';
        t = close + 1;
        /* The value runs to the next literal character of the template (or
         * the end), and never across '/', '?' or '#'. */
        const char *start = u;
        while (var_char(*u) && (*t == '\0' || *u != *t))
            u++;
        if (u == start)
            goto nomatch;
        json_object_set_new(vars, name, json_stringn(start, (size_t)(u - start)));
    }
    if (*u != '\0')
        goto nomatch;
    return vars;
nomatch:
    json_decref(vars);
    return NULL;
}

/* ---- content builders ----------------------------------------------------- */

char *kit_base64(const void *data, size_t len)
{
    if (len > (size_t)1 << 30)
        return NULL;
    size_t outlen = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(outlen);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static json_t *binary_content(const char *type, const void *data, size_t len,
                              const char *mime_type)
{
    char *b64 = kit_base64(data, len);
    if (b64 == NULL)
        return NULL;
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", type, "data", b64, "mimeType",
                          mime_type != NULL ? mime_type : "application/octet-stream");
    free(b64);
    return o;
}

json_t *kit_content_text(const char *text)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", text != NULL ? text : "");
}

json_t *kit_content_image(const void *data, size_t len, const char *mime_type)
{
    return binary_content("image", data, len, mime_type);
}

json_t *kit_content_audio(const void *data, size_t len, const char *mime_type)
{
    return binary_content("audio", data, len, mime_type);
}

json_t *kit_content_resource_text(const char *uri, const char *mime_type, const char *text)
{
    json_t *r = json_pack("{s:s, s:s}", "uri", uri, "text", text != NULL ? text : "");
    if (r == NULL)
        return NULL;
    if (mime_type != NULL)
        json_object_set_new(r, "mimeType", json_string(mime_type));
    return json_pack("{s:s, s:o}", "type", "resource", "resource", r);
}

json_t *kit_content_resource_blob(const char *uri, const char *mime_type, const void *data,
                                  size_t len)
{
    char *b64 = kit_base64(data, len);
    if (b64 == NULL)
        return NULL;
    json_t *r = json_pack("{s:s, s:s}", "uri", uri, "blob", b64);
    free(b64);
    if (r == NULL)
        return NULL;
    if (mime_type != NULL)
        json_object_set_new(r, "mimeType", json_string(mime_type));
    return json_pack("{s:s, s:o}", "type", "resource", "resource", r);
}
