/* pins.c - canonical JSON, definition hashes and the mcpwall.lock file. */
#include "policy/pins.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/json.h"
#include "util/file.h"
#include "util/str.h"

#define PINS_CANON_MAX_DEPTH 256u
#define PINS_CANON_MAX_BYTES (16u * 1024u * 1024u)

struct pins {
    json_t *root; /* {"version":1,"generator":..,"servers":{..}} */
};

static const char *const kind_key[] = {"tools", "prompts"};

/* ---- canonical JSON --------------------------------------------------------- */

static int canon_string(struct buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    if (buf_append_char(b, '"') < 0)
        return -1;
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t elen = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c < 0x20) {
            esc[0] = '\\';
            switch (c) {
            case '\b':
                esc[1] = 'b';
                elen = 2;
                break;
            case '\t':
                esc[1] = 't';
                elen = 2;
                break;
            case '\n':
                esc[1] = 'n';
                elen = 2;
                break;
            case '\f':
                esc[1] = 'f';
                elen = 2;
                break;
            case '\r':
                esc[1] = 'r';
                elen = 2;
                break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hexd[c >> 4];
                esc[5] = hexd[c & 15];
                elen = 6;
            }
        } else {
            continue;
        }
        if (buf_append(b, s + seg, i - seg) < 0 || buf_append(b, esc, elen) < 0)
            return -1;
        seg = i + 1;
    }
    if (buf_append(b, s + seg, n - seg) < 0)
        return -1;
    return buf_append_char(b, '"');
}

static int canon_real(struct buf *b, double d)
{
    char tmp[40];
    if (!isfinite(d))
        return -1;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        char *end = NULL;
        double back = strtod(tmp, &end);
        if (end != tmp && *end == '\0' && back == d)
            break;
    }
    if (buf_append_str(b, tmp) < 0)
        return -1;
    if (strpbrk(tmp, ".eE") == NULL)
        return buf_append_str(b, ".0");
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int canon_value(struct buf *b, const json_t *v, unsigned depth)
{
    if (depth > PINS_CANON_MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char **keys = n ? calloc(n, sizeof(*keys)) : NULL;
        if (n && keys == NULL)
            return -1;
        size_t i = 0;
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (i < n)
                keys[i++] = k;
        }
        if (i > 1)
            qsort(keys, i, sizeof(*keys), key_cmp);
        int rc = buf_append_char(b, '{');
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (j > 0)
                rc = buf_append_char(b, ',');
            if (rc == 0)
                rc = canon_string(b, keys[j], strlen(keys[j]));
            if (rc == 0)
                rc = buf_append_char(b, ':');
            if (rc == 0)
                rc = canon_value(b, json_object_get(v, keys[j]), depth + 1);
        }
        free(keys);
        return rc == 0 ? buf_append_char(b, '}') : -1;
    }
    case JSON_ARRAY: {
        if (buf_append_char(b, '[') < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0 && buf_append_char(b, ',') < 0)
                return -1;
            if (canon_value(b, json_array_get(v, i), depth + 1) < 0)
                return -1;
        }
        return buf_append_char(b, ']');
    }
    case JSON_STRING:
        return canon_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return buf_printf(b, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return canon_real(b, json_real_value(v));
    case JSON_TRUE:
        return buf_append_str(b, "true");
    case JSON_FALSE:
        return buf_append_str(b, "false");
    case JSON_NULL:
        return buf_append_str(b, "null");
    }
    return -1;
}

int pins_canonical(struct buf *b, const json_t *v)
{
    if (v == NULL)
        return -1;
    return canon_value(b, v, 0);
}

int pins_hash_def(const json_t *def, char out[SHA256_HEX_LEN + 1])
{
    struct buf b;
    buf_init(&b, PINS_CANON_MAX_BYTES);
    int rc = pins_canonical(&b, def);
    if (rc == 0)
        rc = sha256_hex(buf_head(&b), buf_used(&b), out);
    buf_free(&b);
    if (rc < 0)
        out[0] = '\0';
    return rc;
}

/* ---- the lockfile ----------------------------------------------------------- */

struct pins *pins_new(const char *generator)
{
    struct pins *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->root = json_pack("{s:i, s:s, s:{}}", "version", PINS_VERSION, "generator",
                        generator != NULL ? generator : "mcpwall", "servers");
    if (p->root == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void pins_free(struct pins *p)
{
    if (p == NULL)
        return;
    json_decref(p->root);
    free(p);
}

static bool is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != SHA256_HEX_LEN)
        return false;
    for (const char *q = s; *q; q++) {
        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
            return false;
    }
    return true;
}

static void perr(struct pins_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(struct pins_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* Checks the shape of a loaded lockfile. */
static int validate(const json_t *root, const char *path, struct pins_err *err)
{
    if (!json_is_object(root)) {
        perr(err, "%s: not a JSON object", path);
        return -1;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != PINS_VERSION) {
        perr(err, "%s: 'version' must be %d", path, PINS_VERSION);
        return -1;
    }
    json_t *servers = json_object_get(root, "servers");
    if (!json_is_object(servers)) {
        perr(err, "%s: 'servers' must be an object", path);
        return -1;
    }
    const char *sname;
    json_t *s;
    json_object_foreach(servers, sname, s)
    {
        if (!json_is_object(s)) {
            perr(err, "%s: server '%s' must be an object", path, sname);
            return -1;
        }
        for (size_t k = 0; k < 2; k++) {
            json_t *items = json_object_get(s, kind_key[k]);
            if (items == NULL)
                continue;
            if (!json_is_object(items)) {
                perr(err, "%s: servers.%s.%s must be an object", path, sname, kind_key[k]);
                return -1;
            }
            const char *iname;
            json_t *it;
            json_object_foreach(items, iname, it)
            {
                if (!json_is_object(it) ||
                    !is_hex64(json_string_value(json_object_get(it, "sha256")))) {
                    perr(err, "%s: servers.%s.%s.%s needs a 'sha256' of 64 lowercase hex digits",
                         path, sname, kind_key[k], iname);
                    return -1;
                }
            }
        }
    }
    return 0;
}

struct pins *pins_load(const char *path, struct pins_err *err)
{
    size_t len;
    enum file_status fs;
    char *data = file_read_all(path, PINS_MAX_FILE, &len, &fs);
    if (data == NULL) {
        char why[600];
        file_read_error(why, sizeof(why), path, PINS_MAX_FILE, fs);
        perr(err, "%s", why);
        return NULL;
    }
    struct json_limits lim = json_default_limits;
    lim.max_bytes = PINS_MAX_FILE;
    lim.max_depth = 512;
    lim.max_members = PINS_MAX_ITEMS + 16;
    struct json_err je;
    json_t *root = json_parse_strict(data, len, &lim, &je);
    if (root == NULL) {
        size_t line, col;
        json_offset_linecol(data, len, je.offset, &line, &col);
        perr(err, "%s:%zu:%zu: %s", path, line, col, json_reason_code(je.reason));
        free(data);
        return NULL;
    }
    free(data);
    if (validate(root, path, err) < 0) {
        json_decref(root);
        return NULL;
    }
    struct pins *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(root);
        perr(err, "out of memory");
        return NULL;
    }
    p->root = root;
    return p;
}

int pins_save(const struct pins *p, const char *path, struct pins_err *err)
{
    char *text = json_dumps(p->root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (text == NULL) {
        perr(err, "%s: cannot serialise", path);
        return -1;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        perr(err, "%s: path too long", path);
        free(text);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perr(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(text);
        return -1;
    }
    size_t len = strlen(text), off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && write(fd, "\n", 1) != 1)
        rc = -1;
    if (rc == 0 && fsync(fd) < 0)
        rc = -1;
    if (close(fd) < 0)
        rc = -1;
    free(text);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0) {
        perr(err, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

static json_t *server_obj(const struct pins *p, const char *server)
{
    return json_object_get(json_object_get(p->root, "servers"), server);
}

static json_t *kind_obj(const struct pins *p, const char *server, enum pins_kind kind)
{
    return json_object_get(server_obj(p, server), kind_key[kind]);
}

/* Returns the server's kind object, creating both as needed. */
static json_t *kind_obj_make(struct pins *p, const char *server, enum pins_kind kind)
{
    json_t *servers = json_object_get(p->root, "servers");
    json_t *s = json_object_get(servers, server);
    if (s == NULL) {
        s = json_object();
        if (s == NULL || json_object_set_new(servers, server, s) < 0)
            return NULL;
    }
    json_t *k = json_object_get(s, kind_key[kind]);
    if (k == NULL) {
        k = json_object();
        if (k == NULL || json_object_set_new(s, kind_key[kind], k) < 0)
            return NULL;
    }
    return k;
}

static json_t *pin_entry(const json_t *def)
{
    char hex[SHA256_HEX_LEN + 1];
    if (pins_hash_def(def, hex) < 0)
        return NULL;
    json_t *copy = json_deep_copy(def);
    if (copy == NULL)
        return NULL;
    return json_pack("{s:s, s:o}", "sha256", hex, "definition", copy);
}

int pins_set(struct pins *p, const char *server, const char *target, enum pins_kind kind,
             const json_t *defs)
{
    if (!json_is_array(defs) || json_array_size(defs) > PINS_MAX_ITEMS)
        return -1;
    json_t *fresh = json_object();
    if (fresh == NULL)
        return -1;
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (name == NULL || json_object_get(fresh, name) != NULL)
            continue;
        json_t *e = pin_entry(d);
        if (e == NULL || json_object_set_new(fresh, name, e) < 0) {
            json_decref(fresh);
            return -1;
        }
    }
    if (kind_obj_make(p, server, kind) == NULL) {
        json_decref(fresh);
        return -1;
    }
    json_t *s = server_obj(p, server);
    if (json_object_set_new(s, kind_key[kind], fresh) < 0)
        return -1;
    if (target != NULL)
        json_object_set_new(s, "target", json_string(target));
    return 0;
}

int pins_set_one(struct pins *p, const char *server, enum pins_kind kind, const json_t *def)
{
    const char *name = json_string_value(json_object_get(def, "name"));
    json_t *k = name != NULL ? kind_obj_make(p, server, kind) : NULL;
    if (k == NULL || json_object_size(k) >= PINS_MAX_ITEMS)
        return -1;
    json_t *e = pin_entry(def);
    if (e == NULL)
        return -1;
    return json_object_set_new(k, name, e);
}

int pins_remove_one(struct pins *p, const char *server, enum pins_kind kind, const char *name)
{
    json_t *k = kind_obj(p, server, kind);
    return k != NULL ? json_object_del(k, name) : -1;
}

bool pins_has_server(const struct pins *p, const char *server)
{
    return server_obj(p, server) != NULL;
}

bool pins_has_kind(const struct pins *p, const char *server, enum pins_kind kind)
{
    return kind_obj(p, server, kind) != NULL;
}

const char *pins_lookup(const struct pins *p, const char *server, enum pins_kind kind,
                        const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(kind_obj(p, server, kind), name), "sha256"));
}

const json_t *pins_lookup_def(const struct pins *p, const char *server, enum pins_kind kind,
                              const char *name)
{
    return json_object_get(json_object_get(kind_obj(p, server, kind), name), "definition");
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *pins_servers(const struct pins *p)
{
    json_t *servers = json_object_get(p->root, "servers");
    size_t n = json_object_size(servers);
    const char **names = calloc(n ? n : 1, sizeof(*names));
    json_t *out = json_array();
    if (names == NULL || out == NULL) {
        free(names);
        json_decref(out);
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(servers, k, v)
    {
        if (i < n)
            names[i++] = k;
    }
    qsort(names, i, sizeof(*names), str_cmp);
    for (size_t j = 0; j < i; j++)
        json_array_append_new(out, json_string(names[j]));
    free(names);
    return out;
}

const char *pins_status_name(enum pins_status s)
{
    switch (s) {
    case PINS_UNCHANGED:
        return "unchanged";
    case PINS_CHANGED:
        return "changed";
    case PINS_NEW:
        return "new";
    case PINS_REMOVED:
        return "removed";
    }
    return "?";
}

static int delta_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pins_delta *)a)->name, ((const struct pins_delta *)b)->name);
}

int pins_check(const struct pins *p, const char *server, enum pins_kind kind, const json_t *defs,
               struct pins_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_array(defs) || json_array_size(defs) > PINS_MAX_ITEMS)
        return -1;
    json_t *pinned = p != NULL ? kind_obj(p, server, kind) : NULL;
    size_t cap = json_array_size(defs) + json_object_size(pinned);
    out->d = calloc(cap ? cap : 1, sizeof(*out->d));
    json_t *seen = json_object();
    if (out->d == NULL || seen == NULL)
        goto fail;
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (name == NULL || json_object_get(seen, name) != NULL)
            continue;
        json_object_set_new(seen, name, json_true());
        struct pins_delta *pd = &out->d[out->n];
        pd->name = strdup(name);
        if (pd->name == NULL)
            goto fail;
        out->n++;
        if (pins_hash_def(d, pd->new_hash) < 0)
            goto fail;
        const char *old =
            json_string_value(json_object_get(json_object_get(pinned, name), "sha256"));
        if (old == NULL) {
            pd->status = PINS_NEW;
            out->added++;
        } else {
            str_copy(pd->old_hash, old, sizeof(pd->old_hash));
            if (strcmp(old, pd->new_hash) == 0) {
                pd->status = PINS_UNCHANGED;
                out->unchanged++;
            } else {
                pd->status = PINS_CHANGED;
                out->changed++;
            }
        }
    }
    const char *name;
    json_t *e;
    json_object_foreach(pinned, name, e)
    {
        if (json_object_get(seen, name) != NULL)
            continue;
        struct pins_delta *pd = &out->d[out->n];
        pd->name = strdup(name);
        if (pd->name == NULL)
            goto fail;
        out->n++;
        pd->status = PINS_REMOVED;
        str_copy(pd->old_hash, json_string_value(json_object_get(e, "sha256")),
                 sizeof(pd->old_hash));
        out->removed++;
    }
    json_decref(seen);
    qsort(out->d, out->n, sizeof(*out->d), delta_cmp);
    return 0;
fail:
    json_decref(seen);
    pins_result_free(out);
    return -1;
}

void pins_result_free(struct pins_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->d[i].name);
    free(r->d);
    memset(r, 0, sizeof(*r));
}

void pins_name_of_command(char *const argv[], char *out, size_t outsz)
{
    const char *pick = argv[0];
    for (size_t i = 0; argv[i] != NULL; i++) {
        const char *a = argv[i];
        if (a[0] == '-')
            continue;
        const char *base = strrchr(a, '/');
        base = base != NULL ? base + 1 : a;
        if (i == 0 &&
            (strcmp(base, "npx") == 0 || strcmp(base, "uvx") == 0 || strcmp(base, "node") == 0 ||
             strcmp(base, "python3") == 0 || strcmp(base, "python") == 0 ||
             strcmp(base, "bunx") == 0 || strcmp(base, "pipx") == 0 ||
             strcmp(base, "docker") == 0 || strcmp(base, "uv") == 0 || strcmp(base, "deno") == 0))
            continue;
        if (strcmp(a, "run") == 0 || strcmp(a, "exec") == 0 || strcmp(a, "dlx") == 0)
            continue;
        pick = a;
        break;
    }
    /* a script path: name it after its package directory
     * (.../server-memory/dist/index.js -> server-memory) */
    char path[1024];
    str_copy(path, pick, sizeof(path));
    for (int depth = 0; depth < 4; depth++) {
        char *slash = strrchr(path, '/');
        if (slash == NULL || slash[1] == '\0')
            break;
        const char *leaf = slash + 1;
        static const char *const generic[] = {"index", "main", "cli", "server", "dist", "build",
                                              "lib",   "src",  "bin", "out",    NULL};
        bool gen = false;
        for (const char *const *g = generic; *g != NULL && !gen; g++) {
            size_t gl = strlen(*g);
            gen = strncmp(leaf, *g, gl) == 0 && (leaf[gl] == '\0' || leaf[gl] == '.');
        }
        if (!gen)
            break;
        *slash = '\0';
    }
    const char *base = strrchr(path, '/');
    /* keep npm scopes readable: @scope/pkg -> pkg */
    str_copy(out, base != NULL && base[1] != '\0' ? base + 1 : path, outsz);
    char *at = strchr(out + 1, '@');
    if (at != NULL)
        *at = '\0';
    char *dot = strrchr(out, '.');
    if (dot != NULL && (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0 ||
                        strcmp(dot, ".py") == 0 || strcmp(dot, ".ts") == 0))
        *dot = '\0';
}
