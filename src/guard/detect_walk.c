/* detect_walk.c - walks tool definitions and MCP payloads, string by string,
 * keeping the RFC 6901 pointer of each string for findings and edits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect_int.h"
#include "util/str.h"

#define WALK_MAX_DEPTH 64

/* ---------------------------------------------------------------- pointers */

struct ptr {
    char *b;
    size_t len, cap;
    int err;
};

static void ptr_free(struct ptr *p)
{
    free(p->b);
    p->b = NULL;
}

static size_t ptr_push(struct ptr *p, const char *tok, size_t idx)
{
    size_t saved = p->len;
    char num[24];
    if (tok == NULL) {
        snprintf(num, sizeof(num), "%zu", idx);
        tok = num;
    }
    size_t need = p->len + 2 + 2 * strlen(tok) + 1;
    if (need > p->cap) {
        size_t nc = p->cap != 0 ? p->cap : 128;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(p->b, nc);
        if (nb == NULL) {
            p->err = -1;
            return saved;
        }
        p->b = nb;
        p->cap = nc;
    }
    p->b[p->len++] = '/';
    for (const char *t = tok; *t != '\0'; t++) {
        if (*t == '~') {
            p->b[p->len++] = '~';
            p->b[p->len++] = '0';
        } else if (*t == '/') {
            p->b[p->len++] = '~';
            p->b[p->len++] = '1';
        } else {
            p->b[p->len++] = *t;
        }
    }
    p->b[p->len] = '\0';
    return saved;
}

static void ptr_pop(struct ptr *p, size_t saved)
{
    p->len = saved;
    if (p->b != NULL)
        p->b[saved] = '\0';
}

static const char *ptr_str(struct ptr *p)
{
    if (p->b == NULL) {
        p->b = malloc(64);
        if (p->b == NULL) {
            p->err = -1;
            return "";
        }
        p->cap = 64;
        p->len = 0;
        p->b[0] = '\0';
    }
    return p->b;
}

/* ------------------------------------------------------- tool definitions */

struct twalk {
    const struct detect_set *ds;
    const struct detect_tool_opts *opt;
    struct detect_list *out;
    struct ptr ptr;
    const json_t *tool;
    int err;
};

static int scan_str(struct twalk *w, const char *s, size_t n, unsigned extra)
{
    size_t before = w->out->n;
    if (detect_scan_text(w->ds, DETECT_CTX_DEFINITION, s, n, ptr_str(&w->ptr), w->out) < 0)
        return -1;
    for (size_t i = before; i < w->out->n; i++)
        w->out->v[i].flags |= extra;
    return 0;
}

/* Parameter names that make the model hand over its own context. Each has
 * topic words: when the tool's name or description is about that topic the
 * parameter is legitimate (a prompt manager takes a system_prompt). */
static const struct {
    const char *norm;   /* lowercase, letters and digits only */
    const char *topics; /* '|' separated, matched case-insensitively */
    const char *what;
} harvest[] = {
    {"systemprompt", "system prompt|prompt", "the system prompt"},
    {"systemmessage", "system message", "the system prompt"},
    {"systeminstructions", "system instruction", "the system prompt"},
    {"conversationhistory", "conversation|chat history|transcript", "the conversation"},
    {"chathistory", "conversation|chat history|transcript", "the conversation"},
    {"messagehistory", "message history|conversation|transcript", "the conversation"},
    {"conversationlog", "conversation|transcript", "the conversation"},
    {"previousmessages", "conversation|messages", "the conversation"},
    {"allmessages", "conversation|messages|inbox", "the conversation"},
    {"userhistory", "history", "the conversation"},
    {"fullcontext", "context window", "the model context"},
    {"contextwindow", "context window", "the model context"},
    {"hiddencontext", "", "the model context"},
    {"chainofthought", "reasoning|chain of thought|thinking", "the model's reasoning"},
    {"reasoningtrace", "reasoning", "the model's reasoning"},
    {"thoughtprocess", "reasoning|thought|thinking", "the model's reasoning"},
    {"toolslist", "list of tools|tool list|tools list|available tools|tool names|toolkit|registry",
     "the list of tools"},
    {"toollist", "list of tools|tool list|tools list|available tools|tool names|toolkit|registry",
     "the list of tools"},
    {"availabletools", "available tools|list of tools|toolkit|registry", "the list of tools"},
    {"toolcallhistory", "history|audit", "the tool-call history"},
    {"toolhistory", "history|audit", "the tool-call history"},
    {"modelname", "model|machine learning|ml |inference|deploy", "the model's identity"},
    {"llmmodelname", "model", "the model's identity"},
    {"llmname", "llm|model", "the model's identity"},
    {"llmmodel", "llm|model", "the model's identity"},
    {"aimodel", "model", "the model's identity"},
    {"sidenote", "note", "hidden side channel"},
    {"sidenotes", "note", "hidden side channel"},
};

static bool topic_mentioned(const char *text, size_t n, const char *topics)
{
    const char *t = topics;
    while (*t != '\0') {
        const char *e = strchr(t, '|');
        size_t tl = e != NULL ? (size_t)(e - t) : strlen(t);
        char buf[48];
        if (tl > 0 && tl < sizeof(buf)) {
            memcpy(buf, t, tl);
            buf[tl] = '\0';
            if (str_casestr_n(text, n, buf) != NULL)
                return true;
        }
        t += tl;
        if (*t == '|')
            t++;
    }
    return false;
}

/* The description without the lines that document the parameter itself
 * ("Args: llm_model_name: The name of the llm model ...") - new malloc'd. */
static char *desc_without(const char *desc, const char *param)
{
    size_t n = strlen(desc), o = 0;
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    const char *p = desc;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t ll = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        if (str_casestr_n(p, ll, param) == NULL) {
            memcpy(out + o, p, ll);
            o += ll;
        }
        p += ll;
    }
    out[o] = '\0';
    return out;
}

/* Does a parameter description ask for the caller's own context? Either a
 * phrase about the model's own state, or "the model that calls this tool". */
static bool harvesting_desc(const char *d)
{
    static const char *const phrases[] = {
        "your system prompt", "your instructions", "your conversation", "your previous messages",
        "the conversation so far", "entire conversation", "full conversation", "your reasoning",
        "your chain of thought", "all previous messages", "the system prompt you",
        "your context window", "which model you", "model you are", NULL};
    static const char *const caller[] = {"calls this tool", "calling this tool",
                                         "invokes this tool", "invoking this tool",
                                         "uses this tool", "using this tool", NULL};
    static const char *const who[] = {"model", "llm", "ai ", "assistant", "agent", NULL};
    size_t n = strlen(d);
    for (size_t i = 0; phrases[i] != NULL; i++)
        if (str_casestr_n(d, n, phrases[i]) != NULL)
            return true;
    for (size_t i = 0; caller[i] != NULL; i++) {
        if (str_casestr_n(d, n, caller[i]) == NULL)
            continue;
        for (size_t k = 0; who[k] != NULL; k++)
            if (str_casestr_n(d, n, who[k]) != NULL)
                return true;
    }
    return false;
}

/* An inject.exfil_param finding spanning the whole parameter name. */
static int add_key_finding(struct twalk *w, const char *name, const char *ev)
{
    struct dscan s;
    memset(&s, 0, sizeof(s));
    s.ds = w->ds;
    s.ctx = DETECT_CTX_DEFINITION;
    s.p = (const unsigned char *)name;
    s.n = strlen(name);
    s.pointer = ptr_str(&w->ptr);
    s.out = w->out;
    s.base = w->out->n;
    s.extra_flags = DETECT_F_KEY;
    dscan_add(&s, DR_INJ_EXFIL_PARAM, 0, s.n, DETECT_SEV_NONE, 0, ev);
    return s.err;
}

static int check_param(struct twalk *w, const char *name, const json_t *schema)
{
    char norm[64];
    size_t m = 0;
    for (const char *c = name; *c != '\0' && m < sizeof(norm) - 1; c++)
        if (d_alnum((unsigned char)*c))
            norm[m++] = (char)detect_lc[(unsigned char)*c];
    norm[m] = '\0';
    const char *pdesc = json_string_value(json_object_get(schema, "description"));
    bool harvest_desc = pdesc != NULL && harvesting_desc(pdesc);
    for (size_t i = 0; i < sizeof(harvest) / sizeof(harvest[0]); i++) {
        if (strcmp(norm, harvest[i].norm) != 0)
            continue;
        if (!harvest_desc) {
            const char *tname = json_string_value(json_object_get(w->tool, "name"));
            const char *title = json_string_value(json_object_get(w->tool, "title"));
            const char *desc = json_string_value(json_object_get(w->tool, "description"));
            bool topic = false;
            if (tname != NULL && topic_mentioned(tname, strlen(tname), harvest[i].topics))
                topic = true;
            if (title != NULL && topic_mentioned(title, strlen(title), harvest[i].topics))
                topic = true;
            if (!topic && desc != NULL) {
                char *d = desc_without(desc, name);
                if (d == NULL)
                    return -1;
                topic = topic_mentioned(d, strlen(d), harvest[i].topics);
                free(d);
            }
            if (topic)
                return 0;
        }
        char ev[DETECT_EVIDENCE_MAX];
        snprintf(ev, sizeof(ev), "parameter '%.40s' asks for %s", name, harvest[i].what);
        return add_key_finding(w, name, ev);
    }
    if (harvest_desc) {
        /* an unknown name whose description asks for the caller's context */
        char ev[DETECT_EVIDENCE_MAX];
        snprintf(ev, sizeof(ev), "parameter '%.40s' is described as the caller's own context",
                 name);
        return add_key_finding(w, name, ev);
    }
    return 0;
}

/* Names of other servers' tools mentioned in a string. */
static int check_references(struct twalk *w, const char *s, size_t n)
{
    const struct detect_tool_opts *o = w->opt;
    if (o == NULL || o->other_tools == NULL)
        return 0;
    for (size_t i = 0; i < o->n_other_tools; i++) {
        const char *name = o->other_tools[i];
        size_t nl = name != NULL ? strlen(name) : 0;
        bool compound = false;
        for (size_t k = 0; k < nl; k++)
            if (name[k] == '_' || name[k] == '-' || (k > 0 && d_upper((unsigned char)name[k])))
                compound = true;
        /* single dictionary-like words ("search") are too common to mean anything */
        if (nl < 4 || (!compound && nl < 12))
            continue;
        const char *h = s;
        size_t left = n;
        while (left >= nl) {
            const char *f = memmem(h, left, name, nl);
            if (f == NULL)
                break;
            size_t off = (size_t)(f - s);
            bool b0 = off == 0 || !(d_word((unsigned char)s[off - 1]) || s[off - 1] == '-');
            bool b1 = off + nl >= n || !(d_word((unsigned char)s[off + nl]) || s[off + nl] == '-');
            if (b0 && b1) {
                char ev[DETECT_EVIDENCE_MAX];
                snprintf(ev, sizeof(ev), "names tool '%.60s' of another server", name);
                struct dscan d;
                memset(&d, 0, sizeof(d));
                d.ds = w->ds;
                d.ctx = DETECT_CTX_DEFINITION;
                d.p = (const unsigned char *)s;
                d.n = n;
                d.pointer = ptr_str(&w->ptr);
                d.out = w->out;
                d.base = w->out->n;
                dscan_add(&d, DR_INJ_TOOL_REFERENCE, off, off + nl, DETECT_SEV_NONE, 0, ev);
                if (d.err != 0)
                    return -1;
                break;
            }
            h = f + 1;
            left = n - (size_t)(h - s);
        }
    }
    return 0;
}

/* JSON Schema and MCP member names: not worth scanning as text. */
static bool plain_key(const char *k)
{
    static const char *const keys[] = {
        "type", "properties", "required", "description", "title", "name", "inputSchema",
        "outputSchema", "annotations", "items", "enum", "const", "default", "examples",
        "additionalProperties", "$schema", "$ref", "$defs", "definitions", "anyOf", "oneOf",
        "allOf", "not", "format", "minimum", "maximum", "minLength", "maxLength", "pattern",
        "minItems", "maxItems", "uniqueItems", "readOnlyHint", "destructiveHint",
        "idempotentHint", "openWorldHint", "_meta", "icons", "execution", "nullable",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "prefixItems", "if", "then",
        "else", "propertyNames", "patternProperties", "dependentRequired", "contentMediaType",
        "contentEncoding", "deprecated", "readOnly", "writeOnly", "$id", "$comment", NULL};
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

static int twalk_value(struct twalk *w, const json_t *v, int depth, bool props);

static int twalk_value(struct twalk *w, const json_t *v, int depth, bool props)
{
    if (depth > WALK_MAX_DEPTH || w->ptr.err != 0)
        return w->ptr.err;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (scan_str(w, s, n, 0) < 0)
            return -1;
        return check_references(w, s, n);
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            size_t sv = ptr_push(&w->ptr, NULL, i);
            int rc = twalk_value(w, e, depth + 1, false);
            ptr_pop(&w->ptr, sv);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            size_t sv = ptr_push(&w->ptr, k, 0);
            int rc = 0;
            if (props) {
                /* k is a parameter name */
                if (scan_str(w, k, strlen(k), DETECT_F_KEY) < 0 || check_param(w, k, e) < 0)
                    rc = -1;
            } else if (!plain_key(k)) {
                if (scan_str(w, k, strlen(k), DETECT_F_KEY) < 0)
                    rc = -1;
            }
            if (rc == 0)
                rc = twalk_value(w, e, depth + 1,
                                 !props && (strcmp(k, "properties") == 0 ||
                                            strcmp(k, "patternProperties") == 0) &&
                                     json_is_object(e));
            ptr_pop(&w->ptr, sv);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

int detect_scan_tool(const struct detect_set *ds, const json_t *tool,
                     const struct detect_tool_opts *opt, struct detect_list *out)
{
    struct twalk w;
    memset(&w, 0, sizeof(w));
    w.ds = ds;
    w.opt = opt;
    w.out = out;
    w.tool = tool;
    int rc = twalk_value(&w, tool, 0, false);
    if (w.ptr.err != 0)
        rc = -1;
    ptr_free(&w.ptr);
    return rc;
}

/* ---------------------------------------------------------------- payloads */

enum detect_payload detect_payload_of(const char *method, bool request)
{
    if (method == NULL)
        return DETECT_P_ANY;
    if (request) {
        if (strcmp(method, "sampling/createMessage") == 0)
            return DETECT_P_SAMPLING;
        if (strcmp(method, "elicitation/create") == 0)
            return DETECT_P_ELICITATION;
        return DETECT_P_ANY;
    }
    if (strcmp(method, "tools/call") == 0)
        return DETECT_P_TOOL_RESULT;
    if (strcmp(method, "resources/read") == 0)
        return DETECT_P_RESOURCE_READ;
    if (strcmp(method, "prompts/get") == 0)
        return DETECT_P_PROMPT_GET;
    if (strcmp(method, "initialize") == 0)
        return DETECT_P_INITIALIZE;
    return DETECT_P_ANY;
}

struct pwalk {
    detect_slot_fn fn;
    void *ud;
    struct ptr ptr;
    int stop;
};

static int visit(struct pwalk *w, json_t *parent, const char *key, size_t index, bool text)
{
    json_t *v = key != NULL ? json_object_get(parent, key) : json_array_get(parent, index);
    if (!json_is_string(v))
        return 0;
    size_t sv = ptr_push(&w->ptr, key, index);
    if (w->ptr.err != 0)
        return -1;
    struct detect_slot s = {parent, key, index, v, ptr_str(&w->ptr), text};
    int rc = w->fn(w->ud, &s);
    ptr_pop(&w->ptr, sv);
    return rc;
}

/* every string below v (object keys are not visited) */
static int visit_all(struct pwalk *w, json_t *v, int depth)
{
    if (depth > WALK_MAX_DEPTH)
        return 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, e) {
            int rc;
            if (json_is_string(e)) {
                rc = visit(w, v, k, 0, false);
            } else {
                size_t sv = ptr_push(&w->ptr, k, 0);
                rc = w->ptr.err != 0 ? -1 : visit_all(w, e, depth + 1);
                ptr_pop(&w->ptr, sv);
            }
            if (rc != 0)
                return rc;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            int rc;
            if (json_is_string(e)) {
                rc = visit(w, v, NULL, i, false);
            } else {
                size_t sv = ptr_push(&w->ptr, NULL, i);
                rc = w->ptr.err != 0 ? -1 : visit_all(w, e, depth + 1);
                ptr_pop(&w->ptr, sv);
            }
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* a member that is an object or array: descend with the pointer pushed */
#define DESCEND(w, key, idx, call)                                                                 \
    do {                                                                                           \
        size_t sv_ = ptr_push(&(w)->ptr, (key), (idx));                                            \
        int rc_ = (w)->ptr.err != 0 ? -1 : (call);                                                 \
        ptr_pop(&(w)->ptr, sv_);                                                                   \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* One content block: text, embedded resource, resource link. */
static int visit_block(struct pwalk *w, json_t *b)
{
    if (!json_is_object(b))
        return 0;
    const char *type = json_string_value(json_object_get(b, "type"));
    int rc;
    if (type == NULL || strcmp(type, "text") == 0) {
        if ((rc = visit(w, b, "text", 0, true)) != 0)
            return rc;
    } else if (strcmp(type, "resource") == 0) {
        json_t *r = json_object_get(b, "resource");
        if (json_is_object(r))
            DESCEND(w, "resource", 0, visit(w, r, "text", 0, true));
    } else if (strcmp(type, "resource_link") == 0) {
        if ((rc = visit(w, b, "name", 0, false)) != 0 ||
            (rc = visit(w, b, "title", 0, false)) != 0 ||
            (rc = visit(w, b, "description", 0, false)) != 0)
            return rc;
    }
    return 0;
}

/* "content": one block or an array of blocks */
static int visit_content(struct pwalk *w, json_t *parent, const char *key)
{
    json_t *c = json_object_get(parent, key);
    if (json_is_object(c)) {
        DESCEND(w, key, 0, visit_block(w, c));
    } else if (json_is_array(c)) {
        size_t sv = ptr_push(&w->ptr, key, 0);
        if (w->ptr.err != 0)
            return -1;
        for (size_t i = 0; i < json_array_size(c); i++) {
            size_t s2 = ptr_push(&w->ptr, NULL, i);
            int rc = w->ptr.err != 0 ? -1 : visit_block(w, json_array_get(c, i));
            ptr_pop(&w->ptr, s2);
            if (rc != 0) {
                ptr_pop(&w->ptr, sv);
                return rc;
            }
        }
        ptr_pop(&w->ptr, sv);
    }
    return 0;
}

static int visit_messages(struct pwalk *w, json_t *parent)
{
    json_t *m = json_object_get(parent, "messages");
    if (!json_is_array(m))
        return 0;
    size_t sv = ptr_push(&w->ptr, "messages", 0);
    if (w->ptr.err != 0)
        return -1;
    for (size_t i = 0; i < json_array_size(m); i++) {
        json_t *msg = json_array_get(m, i);
        if (!json_is_object(msg))
            continue;
        size_t s2 = ptr_push(&w->ptr, NULL, i);
        int rc = w->ptr.err != 0 ? -1 : visit_content(w, msg, "content");
        ptr_pop(&w->ptr, s2);
        if (rc != 0) {
            ptr_pop(&w->ptr, sv);
            return rc;
        }
    }
    ptr_pop(&w->ptr, sv);
    return 0;
}

static int walk_kind(struct pwalk *w, json_t *p, enum detect_payload kind)
{
    int rc;
    switch (kind) {
    case DETECT_P_TOOL_RESULT: {
        if ((rc = visit_content(w, p, "content")) != 0)
            return rc;
        json_t *sc = json_object_get(p, "structuredContent");
        if (sc != NULL) {
            if (json_is_string(sc))
                return visit(w, p, "structuredContent", 0, false);
            DESCEND(w, "structuredContent", 0, visit_all(w, sc, 1));
        }
        return 0;
    }
    case DETECT_P_RESOURCE_READ: {
        json_t *c = json_object_get(p, "contents");
        if (!json_is_array(c))
            return 0;
        size_t sv = ptr_push(&w->ptr, "contents", 0);
        if (w->ptr.err != 0)
            return -1;
        for (size_t i = 0; i < json_array_size(c); i++) {
            json_t *e = json_array_get(c, i);
            if (!json_is_object(e))
                continue;
            size_t s2 = ptr_push(&w->ptr, NULL, i);
            rc = w->ptr.err != 0 ? -1 : visit(w, e, "text", 0, true);
            ptr_pop(&w->ptr, s2);
            if (rc != 0) {
                ptr_pop(&w->ptr, sv);
                return rc;
            }
        }
        ptr_pop(&w->ptr, sv);
        return 0;
    }
    case DETECT_P_PROMPT_GET:
        if ((rc = visit(w, p, "description", 0, false)) != 0)
            return rc;
        return visit_messages(w, p);
    case DETECT_P_SAMPLING:
        if ((rc = visit(w, p, "systemPrompt", 0, true)) != 0)
            return rc;
        return visit_messages(w, p);
    case DETECT_P_ELICITATION: {
        if ((rc = visit(w, p, "message", 0, true)) != 0)
            return rc;
        json_t *rs = json_object_get(p, "requestedSchema");
        if (rs != NULL)
            DESCEND(w, "requestedSchema", 0, visit_all(w, rs, 1));
        return 0;
    }
    case DETECT_P_INITIALIZE:
        return visit(w, p, "instructions", 0, true);
    case DETECT_P_ERROR: {
        if ((rc = visit(w, p, "message", 0, true)) != 0)
            return rc;
        json_t *d = json_object_get(p, "data");
        if (json_is_string(d))
            return visit(w, p, "data", 0, false);
        if (d != NULL)
            DESCEND(w, "data", 0, visit_all(w, d, 1));
        return 0;
    }
    case DETECT_P_ANY:
    default:
        return visit_all(w, p, 0);
    }
}

int detect_walk_payload(json_t *payload, enum detect_payload kind, detect_slot_fn fn, void *ud)
{
    struct pwalk w;
    if (!json_is_object(payload))
        return 0;
    memset(&w, 0, sizeof(w));
    w.fn = fn;
    w.ud = ud;
    int rc = walk_kind(&w, payload, kind);
    if (w.ptr.err != 0)
        rc = -1;
    ptr_free(&w.ptr);
    return rc;
}

struct scanctx {
    const struct detect_set *ds;
    struct detect_list *out;
};

static int scan_slot(void *ud, const struct detect_slot *s)
{
    struct scanctx *c = ud;
    return detect_scan_text(c->ds, DETECT_CTX_RESULT, json_string_value(s->value),
                            json_string_length(s->value), s->pointer, c->out);
}

int detect_scan_payload(const struct detect_set *ds, const json_t *payload,
                        enum detect_payload kind, struct detect_list *out)
{
    struct scanctx c = {ds, out};
    return detect_walk_payload((json_t *)payload, kind, scan_slot, &c);
}
