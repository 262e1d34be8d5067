#include "policy/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/buf.h"
#include "util/log.h"

struct secret_range {
    size_t off;
    size_t len;
};

struct secret {
    int refs;
    char *data; /* len bytes + NUL */
    size_t len;
    char *label;
    /* The parts that are secret (the resolved references; the whole value for
     * secret_new): what the registry scrubs. Literal text around a reference
     * ("Bearer ") is not scrubbed. */
    struct secret_range ranges[SECRET_MAX_REFS];
    size_t nranges;
    bool registered;
};

/* ---- registry ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct secret **reg;
static size_t reg_n, reg_cap;

/* Names of environment variables ${env:..} references have read (under
 * reg_mu): child processes should not inherit them by accident. */
#define SECRET_ENV_NAMES_MAX 256u
static char *env_names[SECRET_ENV_NAMES_MAX];
static size_t env_nnames;

static void env_name_note(const char *name)
{
    pthread_mutex_lock(&reg_mu);
    bool have = false;
    for (size_t i = 0; i < env_nnames && !have; i++)
        have = strcmp(env_names[i], name) == 0;
    if (!have && env_nnames < SECRET_ENV_NAMES_MAX && (env_names[env_nnames] = strdup(name)) != NULL)
        env_nnames++;
    pthread_mutex_unlock(&reg_mu);
}

bool secret_env_referenced(const char *name, size_t len)
{
    bool have = false;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < env_nnames && !have; i++)
        have = strlen(env_names[i]) == len && memcmp(env_names[i], name, len) == 0;
    pthread_mutex_unlock(&reg_mu);
    return have;
}

static void log_scrub(char *line, size_t len)
{
    secret_scrub(line, len);
}

static void reg_add(struct secret *s)
{
    bool any = false;
    for (size_t i = 0; i < s->nranges; i++)
        any |= s->ranges[i].len >= SECRET_SCRUB_MIN;
    if (!any)
        return;
    pthread_mutex_lock(&reg_mu);
    if (reg_n == reg_cap) {
        size_t nc = reg_cap ? reg_cap * 2 : 16;
        struct secret **nr = realloc(reg, nc * sizeof(*nr));
        if (nr == NULL) {
            pthread_mutex_unlock(&reg_mu);
            return;
        }
        reg = nr;
        reg_cap = nc;
    }
    reg[reg_n++] = s;
    s->registered = true;
    pthread_mutex_unlock(&reg_mu);
    log_set_scrubber(log_scrub);
}

static void reg_del(struct secret *s)
{
    if (!s->registered)
        return;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n; i++) {
        if (reg[i] == s) {
            reg[i] = reg[--reg_n];
            break;
        }
    }
    if (reg_n == 0) {
        free(reg);
        reg = NULL;
        reg_cap = 0;
    }
    pthread_mutex_unlock(&reg_mu);
}

size_t secret_scrub(char *p, size_t n)
{
    size_t hits = 0;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n; i++) {
        const struct secret *s = reg[i];
        for (size_t r = 0; r < s->nranges; r++) {
            const char *v = s->data + s->ranges[r].off;
            size_t vl = s->ranges[r].len;
            if (vl < SECRET_SCRUB_MIN || vl > n)
                continue;
            char *at = p;
            size_t left = n;
            char *hit;
            while (left >= vl && (hit = memmem(at, left, v, vl)) != NULL) {
                memset(hit, '*', vl);
                hits++;
                left -= (size_t)(hit - at) + vl;
                at = hit + vl;
            }
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return hits;
}

size_t secret_registered(void)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = reg_n;
    pthread_mutex_unlock(&reg_mu);
    return n;
}

void secret_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

/* ---- values ---- */

static struct secret *secret_alloc(const void *p, size_t n, const char *label)
{
    if (n > SECRET_MAX_BYTES)
        return NULL;
    struct secret *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->refs = 1;
    s->data = malloc(n + 1);
    s->label = strdup(label != NULL ? label : "secret");
    if (s->data == NULL || s->label == NULL) {
        free(s->data);
        free(s->label);
        free(s);
        return NULL;
    }
    if (n > 0)
        memcpy(s->data, p, n);
    s->data[n] = '\0';
    s->len = n;
    return s;
}

struct secret *secret_new(const void *p, size_t n, const char *label)
{
    struct secret *s = secret_alloc(p, n, label);
    if (s == NULL)
        return NULL;
    s->ranges[0] = (struct secret_range){0, n};
    s->nranges = 1;
    reg_add(s);
    return s;
}

struct secret *secret_ref(struct secret *s)
{
    if (s != NULL)
        s->refs++;
    return s;
}

void secret_unref(struct secret *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    reg_del(s);
    secret_wipe(s->data, s->len);
    free(s->data);
    free(s->label);
    free(s);
}

const char *secret_value(const struct secret *s, size_t *len)
{
    if (len != NULL)
        *len = s->len;
    return s->data;
}

const char *secret_label(const struct secret *s)
{
    return s->label;
}

bool secret_equals(const struct secret *s, const void *p, size_t n)
{
    return CRYPTO_memcmp(s->data, p, n < s->len ? n : s->len) == 0 && n == s->len;
}

/* ---- references ---- */

bool secret_has_ref(const char *s)
{
    for (const char *p = s; (p = strchr(p, '$')) != NULL; p++) {
        if (p[1] == '$' && p[2] == '{') {
            p += 2;
            continue;
        }
        if (p[1] == '{')
            return true;
    }
    return false;
}

static bool env_name_ok(const char *n, size_t len)
{
    if (len == 0 || len > 255 || (n[0] >= '0' && n[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* Reads a secret file into b after checking what it is and who may read it. */
static int read_secret_file(const char *path, struct buf *b, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open secret file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat secret file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "secret file %s is not a regular file", path);
        goto out;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "secret file %s is owned by uid %u, not by the user mcpwall runs as (uid %u); "
                 "chown it to that user",
                 path, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(err, errlen,
                 "secret file %s is accessible by group or others (mode %04o); "
                 "run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if ((uint64_t)st.st_size > SECRET_MAX_BYTES) {
        snprintf(err, errlen, "secret file %s is larger than %u bytes", path, SECRET_MAX_BYTES);
        goto out;
    }
    char chunk[4096];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read secret file %s: %s", path, strerror(errno));
            secret_wipe(chunk, sizeof(chunk));
            goto out;
        }
        if (r == 0)
            break;
        if (buf_append(b, chunk, (size_t)r) < 0) {
            snprintf(err, errlen, "secret file %s is larger than %u bytes", path, SECRET_MAX_BYTES);
            secret_wipe(chunk, sizeof(chunk));
            goto out;
        }
    }
    secret_wipe(chunk, sizeof(chunk));
    /* One trailing newline (what `echo` and editors add) is not part of it. */
    if (buf_used(b) > 0 && buf_head(b)[buf_used(b) - 1] == '\n') {
        b->len--;
        if (buf_used(b) > 0 && buf_head(b)[buf_used(b) - 1] == '\r')
            b->len--;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

int secret_expand(const char *s, const char *basedir, struct secret **out, char *err, size_t errlen)
{
    struct buf b;
    struct secret_range ranges[SECRET_MAX_REFS];
    size_t nranges = 0;
    char label[512];
    size_t lablen = 0;
    label[0] = '\0';
    buf_init(&b, SECRET_MAX_BYTES);
    const char *p = s;
    while (*p != '\0') {
        const char *d = strchr(p, '$');
        if (d == NULL) {
            if (buf_append_str(&b, p) < 0)
                goto toolong;
            break;
        }
        if (buf_append(&b, p, (size_t)(d - p)) < 0)
            goto toolong;
        if (d[1] == '$' && d[2] == '{') { /* "$${" -> "${" */
            if (buf_append(&b, "${", 2) < 0)
                goto toolong;
            p = d + 3;
            continue;
        }
        if (d[1] != '{') {
            if (buf_append_char(&b, '$') < 0)
                goto toolong;
            p = d + 1;
            continue;
        }
        const char *end = strchr(d + 2, '}');
        if (end == NULL) {
            snprintf(err, errlen, "unterminated secret reference (a '${' without '}')");
            goto fail;
        }
        const char *body = d + 2;
        size_t blen = (size_t)(end - body);
        const char *colon = memchr(body, ':', blen);
        bool is_env = colon != NULL && colon - body == 3 && memcmp(body, "env", 3) == 0;
        bool is_file = colon != NULL && colon - body == 4 && memcmp(body, "file", 4) == 0;
        if (!is_env && !is_file) {
            snprintf(err, errlen,
                     "unknown secret reference '${%.*s}': use ${env:NAME} or ${file:PATH} "
                     "(write $${ for a literal ${)",
                     (int)(blen > 64 ? 64 : blen), body);
            goto fail;
        }
        if (nranges == SECRET_MAX_REFS) {
            snprintf(err, errlen, "more than %u secret references in one value", SECRET_MAX_REFS);
            goto fail;
        }
        const char *arg = colon + 1;
        size_t alen = (size_t)(end - arg);
        size_t start = buf_used(&b);
        int w;
        if (is_env) {
            if (!env_name_ok(arg, alen)) {
                snprintf(err, errlen, "'${env:%.*s}': not a valid environment variable name",
                         (int)(alen > 64 ? 64 : alen), arg);
                goto fail;
            }
            char name[256];
            memcpy(name, arg, alen);
            name[alen] = '\0';
            const char *v = getenv(name);
            if (v == NULL) {
                snprintf(err, errlen, "${env:%s}: environment variable %s is not set", name, name);
                goto fail;
            }
            if (v[0] == '\0') {
                snprintf(err, errlen, "${env:%s}: environment variable %s is empty", name, name);
                goto fail;
            }
            env_name_note(name);
            if (buf_append_str(&b, v) < 0)
                goto toolong;
            w = snprintf(label + lablen, sizeof(label) - lablen, "%s${env:%s}", lablen ? " " : "",
                         name);
        } else {
            if (alen == 0 || alen >= 4096 || memchr(arg, '\0', alen) != NULL) {
                snprintf(err, errlen, "'${file:}' needs a path");
                goto fail;
            }
            char path[4096 + 1024];
            if (arg[0] == '/' || basedir == NULL || basedir[0] == '\0')
                w = snprintf(path, sizeof(path), "%.*s", (int)alen, arg);
            else
                w = snprintf(path, sizeof(path), "%s/%.*s", basedir, (int)alen, arg);
            if (w < 0 || (size_t)w >= sizeof(path)) {
                snprintf(err, errlen, "secret file path too long");
                goto fail;
            }
            struct buf fb;
            buf_init(&fb, SECRET_MAX_BYTES);
            if (read_secret_file(path, &fb, err, errlen) < 0) {
                buf_wipe_free(&fb);
                goto fail;
            }
            if (buf_used(&fb) == 0) {
                snprintf(err, errlen, "secret file %s is empty", path);
                buf_wipe_free(&fb);
                goto fail;
            }
            if (memchr(buf_head(&fb), '\0', buf_used(&fb)) != NULL) {
                snprintf(err, errlen, "secret file %s contains a NUL byte", path);
                buf_wipe_free(&fb);
                goto fail;
            }
            int ar = buf_append(&b, buf_head(&fb), buf_used(&fb));
            buf_wipe_free(&fb);
            if (ar < 0)
                goto toolong;
            w = snprintf(label + lablen, sizeof(label) - lablen, "%s${file:%.*s}",
                         lablen ? " " : "", (int)(alen > 200 ? 200 : alen), arg);
        }
        if (w > 0)
            lablen += (size_t)w < sizeof(label) - lablen ? (size_t)w : sizeof(label) - lablen - 1;
        ranges[nranges++] = (struct secret_range){start, buf_used(&b) - start};
        p = end + 1;
    }
    struct secret *sec =
        secret_alloc(buf_used(&b) ? buf_head(&b) : "", buf_used(&b), nranges ? label : "literal");
    buf_wipe_free(&b);
    if (sec == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(sec->ranges, ranges, nranges * sizeof(ranges[0]));
    sec->nranges = nranges;
    reg_add(sec);
    *out = sec;
    return 0;
toolong:
    snprintf(err, errlen, "secret value longer than %u bytes", SECRET_MAX_BYTES);
fail:
    buf_wipe_free(&b);
    return -1;
}

int secret_from_cfg(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *parent,
                    const char *key, size_t index, bool require_ref, struct secret **out)
{
    const json_t *v = key != NULL ? json_object_get(parent, key) : json_array_get(parent, index);
    if (v == NULL)
        return 1;
    if (!json_is_string(v)) {
        cfg_err(e, doc, parent, key, index, "%s must be a string", key ? key : "value");
        return -1;
    }
    const char *s = json_string_value(v);
    if (require_ref && !secret_has_ref(s)) {
        cfg_err(e, doc, parent, key, index,
                "%s is a secret: write a reference such as ${env:NAME} or ${file:PATH}, "
                "not the value itself",
                key ? key : "this value");
        return -1;
    }
    char dir[4096];
    dir[0] = '\0';
    if (doc->path != NULL) {
        const char *slash = strrchr(doc->path, '/');
        if (slash != NULL) {
            size_t dl = (size_t)(slash - doc->path);
            if (dl == 0)
                dl = 1; /* "/x.yaml" */
            if (dl < sizeof(dir)) {
                memcpy(dir, doc->path, dl);
                dir[dl] = '\0';
            }
        }
    }
    char err[1024];
    if (secret_expand(s, dir[0] ? dir : NULL, out, err, sizeof(err)) < 0) {
        cfg_err(e, doc, parent, key, index, "%s", err);
        return -1;
    }
    return 0;
}
