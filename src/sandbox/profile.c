/* profile.c - sandbox profiles: the shipped ones, compiling a config's
 * `sandbox:` section (every error reported at its position), deriving, and
 * explaining a profile in plain words. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy/config.h"
#include "sandbox/sandbox_int.h"
#include "util/log.h"
#include "util/str.h"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)
#define GIB (1024ull * 1024ull * 1024ull)

/* ---- small helpers ---------------------------------------------------------- */

static void *xrealloc_array(void *p, size_t n, size_t sz)
{
    if (sz != 0 && n > SIZE_MAX / sz)
        return NULL;
    return realloc(p, n * sz);
}

static int strv_push(char ***v, size_t *n, const char *s)
{
    char **nv = xrealloc_array(*v, *n + 1, sizeof(char *));
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[*n] = strdup(s);
    if (nv[*n] == NULL)
        return -1;
    (*n)++;
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int intv_push(int **v, size_t *n, int x)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*v)[i] == x)
            return 0;
    }
    int *nv = xrealloc_array(*v, *n + 1, sizeof(int));
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[(*n)++] = x;
    return 0;
}

/* Lexically normalises an absolute path: collapses "//", drops "/." and
 * resolves "/.." (never above "/"). Returns -1 when out is too small. */
static int path_normalize(const char *in, char *out, size_t outsz)
{
    size_t n = 0;
    const char *p = in;
    if (outsz < 2 || *p != '/')
        return -1;
    out[n++] = '/';
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 0 || (len == 1 && s[0] == '.'))
            continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (n > 1) {
                n--; /* the trailing '/' */
                while (n > 1 && out[n - 1] != '/')
                    n--;
            }
            continue;
        }
        if (n + len + 1 >= outsz)
            return -1;
        memcpy(out + n, s, len);
        n += len;
        out[n++] = '/';
    }
    if (n > 1)
        n--; /* no trailing slash */
    out[n] = '\0';
    return 0;
}

/* Turns a declared path into the stored form: "~/..." kept (normalised),
 * absolute normalised, relative joined to `base_dir`. */
static int path_store(const char *in, const char *base_dir, char *out, size_t outsz,
                      const char **why)
{
    char tmp[SB_PATH_MAX];
    *why = NULL;
    if (in[0] == '\0') {
        *why = "is empty";
        return -1;
    }
    if (strlen(in) >= SB_PATH_MAX - 2) {
        *why = "is too long";
        return -1;
    }
    if (strcmp(in, "~") == 0 || str_has_prefix(in, "~/")) {
        /* normalise the part after "~" as if it were absolute */
        if (path_normalize(in[1] ? in + 1 : "/", tmp, sizeof(tmp)) < 0) {
            *why = "is too long";
            return -1;
        }
        int w = snprintf(out, outsz, "~%s", strcmp(tmp, "/") == 0 ? "" : tmp);
        if (w < 0 || (size_t)w >= outsz) {
            *why = "is too long";
            return -1;
        }
        return 0;
    }
    if (in[0] == '~') {
        *why = "uses ~user, which is not supported (write ~/ or an absolute path)";
        return -1;
    }
    if (in[0] != '/') {
        int w = snprintf(tmp, sizeof(tmp), "%s/%s", base_dir, in);
        if (w < 0 || (size_t)w >= sizeof(tmp)) {
            *why = "is too long";
            return -1;
        }
        in = tmp;
    }
    char norm[SB_PATH_MAX];
    if (path_normalize(in, norm, sizeof(norm)) < 0) {
        *why = "is too long";
        return -1;
    }
    if (str_copy(out, norm, outsz) >= outsz) {
        *why = "is too long";
        return -1;
    }
    return 0;
}

/* Paths the sandbox manages itself or that would undo it. */
static const char *path_forbidden(const char *p, enum sb_access a)
{
    if (strcmp(p, "/") == 0)
        return "would expose every file; name the directories the server needs";
    if (strcmp(p, "~") == 0 && a != SB_RO)
        return "would make the whole home directory writable; name the directories the "
               "server needs";
    static const char *const managed[] = {"/proc", "/dev", "/sys", "/tmp", NULL};
    for (const char *const *m = managed; *m != NULL; m++) {
        size_t l = strlen(*m);
        if (strncmp(p, *m, l) == 0 && (p[l] == '\0' || p[l] == '/')) {
            if (strcmp(*m, "/tmp") == 0 && p[l] == '/')
                return NULL; /* a host directory below /tmp is fine */
            return "is managed by the sandbox (it gets its own /proc, /dev and /tmp; /sys is "
                   "never visible)";
        }
    }
    return NULL;
}

int sb_profile_add_path(struct sandbox_profile *p, const char *path, enum sb_access a,
                        bool optional)
{
    for (size_t i = 0; i < p->npaths; i++) {
        if (strcmp(p->paths[i].path, path) == 0) {
            /* the stronger access wins: rw > overlay > ro */
            if (a == SB_RW || (a == SB_OVERLAY && p->paths[i].access == SB_RO))
                p->paths[i].access = a;
            p->paths[i].optional = p->paths[i].optional && optional;
            return 0;
        }
    }
    if (p->npaths >= SB_MAX_PATHS)
        return -1;
    struct sb_path *np = xrealloc_array(p->paths, p->npaths + 1, sizeof(*np));
    if (np == NULL)
        return -1;
    p->paths = np;
    np[p->npaths].path = strdup(path);
    if (np[p->npaths].path == NULL)
        return -1;
    np[p->npaths].access = a;
    np[p->npaths].optional = optional;
    p->npaths++;
    return 0;
}

/* ---- network destinations ------------------------------------------------- */

void sb_dest_free(struct sb_dest *d)
{
    free(d->host);
    d->host = NULL;
}

static bool hostname_valid(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > 253)
        return false;
    size_t lab = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (lab == 0 || h[i - 1] == '-')
                return false;
            lab = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-' || c == '_'))
            return false;
        if (lab == 0 && c == '-')
            return false;
        if (++lab > 63)
            return false;
    }
    if (h[len - 1] == '.')
        return false;
    /* a last label of digits only is a mistyped address, not a name */
    const char *last = strrchr(h, '.');
    last = last ? last + 1 : h;
    for (const char *c = last; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return true;
    }
    return false;
}

int sb_parse_dest(const char *s, struct sb_dest *d, char *err, size_t errlen)
{
    char host[300];
    const char *colon;
    memset(d, 0, sizeof(*d));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "'%s' is not host:port ([v6-address]:port for IPv6)", s);
            return -1;
        }
        size_t hl = (size_t)(close - s - 1);
        if (hl == 0 || hl >= sizeof(host)) {
            snprintf(err, errlen, "'%s' has an empty or too long address", s);
            return -1;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        colon = close + 1;
        if (inet_pton(AF_INET6, host, d->addr) != 1) {
            snprintf(err, errlen, "'%s' is not a valid IPv6 address", host);
            return -1;
        }
        d->family = AF_INET6;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || colon == s) {
            snprintf(err, errlen, "'%s' is not host:port (e.g. api.example.com:443)", s);
            return -1;
        }
        size_t hl = (size_t)(colon - s);
        if (hl >= sizeof(host)) {
            snprintf(err, errlen, "'%s' has a too long host", s);
            return -1;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (strchr(host, ':') != NULL) {
            snprintf(err, errlen, "'%s': write IPv6 addresses in brackets, [::1]:8080", s);
            return -1;
        }
        if (inet_pton(AF_INET, host, d->addr) == 1) {
            d->family = AF_INET;
        } else {
            for (char *c = host; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            if (strchr(host, '*') != NULL) {
                snprintf(err, errlen,
                         "'%s': wildcards are not supported; list each host name", s);
                return -1;
            }
            if (!hostname_valid(host)) {
                snprintf(err, errlen, "'%s' is not a valid host name or IPv4 address", host);
                return -1;
            }
        }
    }
    uint64_t port;
    if (parse_u64(colon + 1, 65535, &port) < 0 || port == 0) {
        snprintf(err, errlen, "'%s' needs a port from 1 to 65535 (ranges and * are not supported)",
                 s);
        return -1;
    }
    d->port = (uint16_t)port;
    d->host = strdup(host);
    if (d->host == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int allow_push(struct sandbox_profile *p, struct sb_dest *d)
{
    for (size_t i = 0; i < p->nallow; i++) {
        if (p->allow[i].port == d->port && strcmp(p->allow[i].host, d->host) == 0) {
            sb_dest_free(d);
            return 0;
        }
    }
    if (p->nallow >= SB_MAX_ALLOW) {
        sb_dest_free(d);
        return -1;
    }
    struct sb_dest *na = xrealloc_array(p->allow, p->nallow + 1, sizeof(*na));
    if (na == NULL) {
        sb_dest_free(d);
        return -1;
    }
    p->allow = na;
    na[p->nallow++] = *d;
    return 0;
}

/* ---- shipped profiles ------------------------------------------------------ */

/* What every profile reads: the system's programs and libraries and the few
 * files of /etc that programs need to start. Optional: missing ones are
 * skipped. Secrets of /etc (shadow, ssh host keys ...) are never listed. */
static const char *const ro_system[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/timezone", "/etc/alternatives", "/etc/os-release", "/etc/protocols",
    "/etc/services", "/etc/mime.types", NULL};
static const char *const ro_certs[] = {
    "/etc/ssl", "/etc/ca-certificates", "/etc/ca-certificates.conf", "/etc/pki",
    "/etc/crypto-policies", NULL};
static const char *const ro_node[] = {
    "/usr/local", "/opt/nodejs", "~/.nvm", "~/.volta", "~/.fnm", "~/.local/share/fnm",
    "~/.local/share/pnpm", "~/.bun", NULL};
static const char *const ov_node[] = {"~/.npm", NULL};
static const char *const ro_python[] = {
    "/usr/local", "~/.pyenv", "~/.local/bin", "~/.local/lib", "~/.local/pipx", NULL};
static const char *const ov_python[] = {"~/.cache/uv", "~/.local/share/uv", "~/.cache/pip",
                                        NULL};
static const char *const env_base[] = {"LANG", "LANGUAGE", "LC_*", "TZ", NULL};
static const char *const env_node[] = {"PATH", "NODE_EXTRA_CA_CERTS", NULL};
static const char *const env_python[] = {"PATH", "VIRTUAL_ENV", "PYTHONIOENCODING", "PYENV_*",
                                         NULL};
static const char *const env_tls[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                                      "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", NULL};
static const char *const set_node[] = {"NPM_CONFIG_UPDATE_NOTIFIER=false",
                                       "NPM_CONFIG_FUND=false", NULL};
static const char *const set_python[] = {"PYTHONDONTWRITEBYTECODE=1", "UV_NO_PROGRESS=1",
                                         NULL};
/* without network, package managers must not try the registry: use what is
 * cached (npx pkg@version, uvx pkg==version run from the cache) */
static const char *const set_offline_node[] = {"NPM_CONFIG_PREFER_OFFLINE=true", NULL};
static const char *const set_offline_python[] = {"UV_OFFLINE=1", NULL};

struct builtin_def {
    const char *name;
    const char *summary;
    const char *const *ro[4];
    const char *const *ov[3];
    const char *const *env_pass[4];
    const char *const *env_set[3];
    bool home_private;
    uint64_t tmp_size;
    enum sb_net net;
    struct sb_limits lim;
};

static const struct builtin_def builtin_defs[] = {
    {"strict", "no network, reads only the system's programs and libraries, writes only a private /tmp",
     {ro_system, NULL}, {NULL}, {env_base, NULL}, {NULL}, false, 64 * MIB, SB_NET_NONE,
     {.address_space = 512 * MIB, .memory = 1 * GIB, .cpu_permille = SB_UNLIMITED,
      .cpu_time_s = SB_UNLIMITED, .open_files = 256, .processes = 64, .file_size = 64 * MIB}},
    {"node", "Node.js servers (npx pkg@version): the runtime and the npm cache readable, no network",
     {ro_system, ro_certs, ro_node, NULL}, {ov_node, NULL}, {env_base, env_node, NULL},
     {set_node, set_offline_node, NULL}, true, 256 * MIB, SB_NET_NONE,
     {.address_space = 16 * GIB, .memory = 2 * GIB, .cpu_permille = SB_UNLIMITED,
      .cpu_time_s = SB_UNLIMITED, .open_files = 1024, .processes = 256, .file_size = 1 * GIB}},
    {"python", "Python servers (uvx, pipx): the runtime and the uv/pip caches readable, no network",
     {ro_system, ro_certs, ro_python, NULL}, {ov_python, NULL}, {env_base, env_python, NULL},
     {set_python, set_offline_python, NULL}, true, 256 * MIB, SB_NET_NONE,
     {.address_space = 8 * GIB, .memory = 2 * GIB, .cpu_permille = SB_UNLIMITED,
      .cpu_time_s = SB_UNLIMITED, .open_files = 1024, .processes = 256, .file_size = 1 * GIB}},
    {"network-client",
     "Node.js or Python servers that call out: like node and python, plus TCP to the listed "
     "host:port destinations only",
     {ro_system, ro_certs, ro_node, ro_python}, {ov_node, ov_python, NULL},
     {env_base, env_node, env_python, env_tls}, {set_node, set_python, NULL}, true, 256 * MIB,
     SB_NET_ALLOW,
     {.address_space = 16 * GIB, .memory = 2 * GIB, .cpu_permille = SB_UNLIMITED,
      .cpu_time_s = SB_UNLIMITED, .open_files = 1024, .processes = 256, .file_size = 1 * GIB}},
};
#define NBUILTIN (sizeof(builtin_defs) / sizeof(builtin_defs[0]))

const char *const sandbox_builtin_names[] = {"strict", "node", "python", "network-client", NULL};

static struct sandbox_profile builtins[NBUILTIN];
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static void builtins_init(void)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        const struct builtin_def *d = &builtin_defs[i];
        struct sandbox_profile *p = &builtins[i];
        memset(p, 0, sizeof(*p));
        p->name = (char *)d->name;
        p->summary = d->summary;
        p->home_private = d->home_private;
        p->tmp_size = d->tmp_size;
        p->net = d->net;
        p->lim = d->lim;
        int rc = 0;
        for (size_t l = 0; l < 4 && d->ro[l] != NULL; l++)
            for (const char *const *s = d->ro[l]; *s != NULL; s++)
                rc |= sb_profile_add_path(p, *s, SB_RO, true);
        for (size_t l = 0; l < 3 && d->ov[l] != NULL; l++)
            for (const char *const *s = d->ov[l]; *s != NULL; s++)
                rc |= sb_profile_add_path(p, *s, SB_OVERLAY, true);
        for (size_t l = 0; l < 4 && d->env_pass[l] != NULL; l++)
            for (const char *const *s = d->env_pass[l]; *s != NULL; s++) {
                bool dup = false;
                for (size_t k = 0; k < p->nenv_pass; k++)
                    dup = dup || strcmp(p->env_pass[k], *s) == 0;
                if (!dup)
                    rc |= strv_push(&p->env_pass, &p->nenv_pass, *s);
            }
        for (size_t l = 0; l < 3 && d->env_set[l] != NULL; l++)
            for (const char *const *s = d->env_set[l]; *s != NULL; s++)
                rc |= strv_push(&p->env_set, &p->nenv_set, *s);
        MW_ASSERT(rc == 0);
        p->builtin = true;
    }
}

const struct sandbox_profile *sandbox_builtin(const char *name)
{
    if (name == NULL)
        return NULL;
    pthread_once(&builtins_once, builtins_init);
    for (size_t i = 0; i < NBUILTIN; i++) {
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    }
    return NULL;
}

const char *sandbox_name(const struct sandbox_profile *p)
{
    return p->name;
}

/* ---- derive / free --------------------------------------------------------- */

void sandbox_free(struct sandbox_profile *p)
{
    if (p == NULL || p->builtin)
        return;
    free(p->name);
    free(p->base);
    for (size_t i = 0; i < p->npaths; i++)
        free(p->paths[i].path);
    free(p->paths);
    for (size_t i = 0; i < p->nallow; i++)
        sb_dest_free(&p->allow[i]);
    free(p->allow);
    strv_free(p->env_pass, p->nenv_pass);
    if (p->env_set != NULL) {
        for (size_t i = 0; i < p->nenv_set; i++) {
            /* values may be secrets */
            explicit_bzero(p->env_set[i], strlen(p->env_set[i]));
        }
    }
    strv_free(p->env_set, p->nenv_set);
    free(p->sys_deny);
    free(p->sys_allow);
    free(p);
}

struct sandbox_profile *sandbox_derive(const struct sandbox_profile *b)
{
    struct sandbox_profile *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    int rc = 0;
    p->name = strdup(b->name);
    p->base = strdup(b->builtin ? b->name : (b->base != NULL ? b->base : b->name));
    p->summary = b->summary;
    rc |= (p->name == NULL || p->base == NULL) ? -1 : 0;
    p->home_private = b->home_private;
    p->tmp_size = b->tmp_size;
    p->net = b->net;
    p->allow_private = b->allow_private;
    p->lim = b->lim;
    p->landlock_required = b->landlock_required;
    for (size_t i = 0; i < b->npaths && rc == 0; i++)
        rc |= sb_profile_add_path(p, b->paths[i].path, b->paths[i].access, b->paths[i].optional);
    for (size_t i = 0; i < b->nallow && rc == 0; i++) {
        struct sb_dest d = b->allow[i];
        d.host = strdup(b->allow[i].host);
        rc |= d.host == NULL ? -1 : allow_push(p, &d);
    }
    for (size_t i = 0; i < b->nenv_pass && rc == 0; i++)
        rc |= strv_push(&p->env_pass, &p->nenv_pass, b->env_pass[i]);
    for (size_t i = 0; i < b->nenv_set && rc == 0; i++)
        rc |= strv_push(&p->env_set, &p->nenv_set, b->env_set[i]);
    for (size_t i = 0; i < b->nsys_deny && rc == 0; i++)
        rc |= intv_push(&p->sys_deny, &p->nsys_deny, b->sys_deny[i]);
    for (size_t i = 0; i < b->nsys_allow && rc == 0; i++)
        rc |= intv_push(&p->sys_allow, &p->nsys_allow, b->sys_allow[i]);
    if (rc != 0) {
        sandbox_free(p);
        return NULL;
    }
    return p;
}

int sandbox_add_path(struct sandbox_profile *p, const char *path, bool writable, char *err,
                     size_t errlen)
{
    char cwd[SB_PATH_MAX], out[SB_PATH_MAX];
    const char *why;
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        str_copy(cwd, "/", sizeof(cwd));
    if (path_store(path, cwd, out, sizeof(out), &why) < 0) {
        snprintf(err, errlen, "path '%s' %s", path, why);
        return -1;
    }
    enum sb_access a = writable ? SB_RW : SB_RO;
    if ((why = path_forbidden(out, a)) != NULL) {
        snprintf(err, errlen, "path '%s' %s", path, why);
        return -1;
    }
    if (sb_profile_add_path(p, out, a, false) < 0) {
        snprintf(err, errlen, "too many paths (at most %d)", SB_MAX_PATHS);
        return -1;
    }
    return 0;
}

int sandbox_add_allow(struct sandbox_profile *p, const char *hostport, char *err, size_t errlen)
{
    struct sb_dest d;
    if (sb_parse_dest(hostport, &d, err, errlen) < 0)
        return -1;
    if (allow_push(p, &d) < 0) {
        snprintf(err, errlen, "too many network destinations (at most %d)", SB_MAX_ALLOW);
        return -1;
    }
    if (p->net != SB_NET_HOST)
        p->net = SB_NET_ALLOW;
    return 0;
}

static bool env_name_valid(const char *n, bool glob)
{
    if (n[0] == '\0' || isdigit((unsigned char)n[0]))
        return false;
    for (const char *c = n; *c; c++) {
        if (!(isalnum((unsigned char)*c) || *c == '_' || (glob && (*c == '*' || *c == '?'))))
            return false;
    }
    return true;
}

int sandbox_add_env_pass(struct sandbox_profile *p, const char *name, char *err, size_t errlen)
{
    if (!env_name_valid(name, true)) {
        snprintf(err, errlen, "'%s' is not a variable name (letters, digits, _; * and ? as globs)",
                 name);
        return -1;
    }
    if (p->nenv_pass >= SB_MAX_ENV || strv_push(&p->env_pass, &p->nenv_pass, name) < 0) {
        snprintf(err, errlen, "too many variables");
        return -1;
    }
    return 0;
}

/* ---- compiling a config section --------------------------------------------- */

struct compile_ctx {
    struct cfg_errors *e;
    const struct cfg_doc *doc;
    char base_dir[SB_PATH_MAX];
    struct sandbox_profile *p;
    int nerr_start;
};

/* Calls fn for each string of obj[key] (a string or a list of strings),
 * reporting non-strings. */
static void each_string(struct compile_ctx *c, const json_t *obj, const char *key,
                        void (*fn)(struct compile_ctx *, const json_t *parent, const char *k,
                                   size_t idx, const char *s, void *arg),
                        void *arg)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return;
    if (json_is_string(v)) {
        fn(c, obj, key, 0, json_string_value(v), arg);
        return;
    }
    if (!json_is_array(v)) {
        cfg_err(c->e, c->doc, obj, key, 0, "'%s' must be a string or a list of strings", key);
        return;
    }
    size_t i;
    const json_t *it;
    json_array_foreach(v, i, it) {
        if (!json_is_string(it)) {
            cfg_err(c->e, c->doc, v, NULL, i, "each entry of '%s' must be a string", key);
            continue;
        }
        fn(c, v, NULL, i, json_string_value(it), arg);
    }
}

static void add_path_cb(struct compile_ctx *c, const json_t *parent, const char *k, size_t idx,
                        const char *s, void *arg)
{
    enum sb_access a = *(enum sb_access *)arg;
    char out[SB_PATH_MAX];
    const char *why;
    if (path_store(s, c->base_dir, out, sizeof(out), &why) < 0 ||
        (why = path_forbidden(out, a)) != NULL) {
        cfg_err(c->e, c->doc, parent, k, idx, "path '%s' %s", s, why);
        return;
    }
    if (sb_profile_add_path(c->p, out, a, false) < 0)
        cfg_err(c->e, c->doc, parent, k, idx, "too many paths (at most %d)", SB_MAX_PATHS);
}

static void add_allow_cb(struct compile_ctx *c, const json_t *parent, const char *k, size_t idx,
                         const char *s, void *arg)
{
    (void)arg;
    struct sb_dest d;
    char err[256];
    if (sb_parse_dest(s, &d, err, sizeof(err)) < 0) {
        cfg_err(c->e, c->doc, parent, k, idx, "%s", err);
        return;
    }
    if (allow_push(c->p, &d) < 0)
        cfg_err(c->e, c->doc, parent, k, idx, "too many destinations (at most %d)", SB_MAX_ALLOW);
}

static void add_env_cb(struct compile_ctx *c, const json_t *parent, const char *k, size_t idx,
                       const char *s, void *arg)
{
    (void)arg;
    char err[200];
    if (sandbox_add_env_pass(c->p, s, err, sizeof(err)) < 0)
        cfg_err(c->e, c->doc, parent, k, idx, "%s", err);
}

static int syscall_lookup(const char *name)
{
    if (!env_name_valid(name, false))
        return -1;
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

static bool in_default_deny(const char *name)
{
    for (const struct sb_sysrule *r = sb_default_deny; r->name != NULL; r++) {
        if (strcmp(r->name, name) == 0)
            return true;
    }
    return false;
}

static void add_sys_cb(struct compile_ctx *c, const json_t *parent, const char *k, size_t idx,
                       const char *s, void *arg)
{
    bool deny = *(bool *)arg;
    int nr = syscall_lookup(s);
    if (nr < 0) {
        cfg_err(c->e, c->doc, parent, k, idx, "'%s' is not a system call of this architecture",
                s);
        return;
    }
    if (!deny && !in_default_deny(s)) {
        cfg_err(c->e, c->doc, parent, k, idx,
                "'%s' is not refused by default, so there is nothing to allow", s);
        return;
    }
    if (!deny && strcmp(s, "clone3") == 0) {
        cfg_err(c->e, c->doc, parent, k, idx,
                "clone3 cannot be allowed: its flags are out of reach of the filter");
        return;
    }
    int rc = deny ? ((c->p->nsys_deny >= SB_MAX_SYSCALLS) ? -1
                                                          : intv_push(&c->p->sys_deny,
                                                                      &c->p->nsys_deny, nr))
                  : ((c->p->nsys_allow >= SB_MAX_SYSCALLS) ? -1
                                                           : intv_push(&c->p->sys_allow,
                                                                       &c->p->nsys_allow, nr));
    if (rc < 0)
        cfg_err(c->e, c->doc, parent, k, idx, "too many system calls (at most %d)",
                SB_MAX_SYSCALLS);
}

static void compile_network(struct compile_ctx *c, const json_t *sec)
{
    const json_t *v = json_object_get(sec, "network");
    if (v == NULL)
        return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "none") == 0) {
            c->p->net = SB_NET_NONE;
        } else if (strcmp(s, "loopback") == 0) {
            c->p->net = SB_NET_LOOPBACK;
        } else if (strcmp(s, "host") == 0) {
            c->p->net = SB_NET_HOST;
        } else {
            cfg_err(c->e, c->doc, sec, "network", 0,
                    "network must be none, loopback, host, a list of host:port, or {allow: "
                    "[...]}, not '%s'",
                    s);
        }
        if (c->p->net != SB_NET_ALLOW) {
            for (size_t i = 0; i < c->p->nallow; i++)
                sb_dest_free(&c->p->allow[i]);
            c->p->nallow = 0;
        }
        return;
    }
    if (json_is_array(v)) {
        c->p->net = SB_NET_ALLOW;
        each_string(c, sec, "network", add_allow_cb, NULL);
        return;
    }
    if (!json_is_object(v)) {
        cfg_err(c->e, c->doc, sec, "network", 0,
                "network must be none, loopback, host, a list of host:port, or {allow: [...]}");
        return;
    }
    static const char *const keys[] = {"allow", "allow_private", NULL};
    cfg_check_keys(c->e, c->doc, v, keys);
    c->p->net = SB_NET_ALLOW;
    each_string(c, v, "allow", add_allow_cb, NULL);
    bool b;
    if (cfg_get_bool(c->e, c->doc, v, "allow_private", &b) == 0)
        c->p->allow_private = b;
}

static void compile_env(struct compile_ctx *c, const json_t *sec)
{
    const json_t *v = json_object_get(sec, "env");
    if (v == NULL)
        return;
    if (json_is_array(v) || json_is_string(v)) {
        each_string(c, sec, "env", add_env_cb, NULL);
        return;
    }
    if (!json_is_object(v)) {
        cfg_err(c->e, c->doc, sec, "env", 0,
                "env must be a list of variable names to pass, or {pass: [...], set: {...}}");
        return;
    }
    static const char *const keys[] = {"pass", "set", NULL};
    cfg_check_keys(c->e, c->doc, v, keys);
    each_string(c, v, "pass", add_env_cb, NULL);
    const json_t *set = json_object_get(v, "set");
    if (set == NULL)
        return;
    if (!json_is_object(set)) {
        cfg_err(c->e, c->doc, v, "set", 0, "set must be a mapping of NAME: value");
        return;
    }
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)set, k, val) {
        if (!env_name_valid(k, false)) {
            cfg_err_key(c->e, c->doc, set, k, "'%s' is not a variable name", k);
            continue;
        }
        char buf[8192];
        const char *s = NULL;
        char num[64];
        if (json_is_string(val)) {
            s = json_string_value(val);
        } else if (json_is_integer(val)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(val));
            s = num;
        } else if (json_is_boolean(val)) {
            s = json_is_true(val) ? "true" : "false";
        } else {
            cfg_err(c->e, c->doc, set, k, 0, "the value of %s must be a string", k);
            continue;
        }
        int w = snprintf(buf, sizeof(buf), "%s=%s", k, s);
        if (w < 0 || (size_t)w >= sizeof(buf)) {
            cfg_err(c->e, c->doc, set, k, 0, "the value of %s is too long (at most 8 KiB)", k);
            continue;
        }
        /* a later set of the same name replaces the earlier one */
        size_t kl = strlen(k);
        bool replaced = false;
        for (size_t i = 0; i < c->p->nenv_set; i++) {
            if (strncmp(c->p->env_set[i], k, kl) == 0 && c->p->env_set[i][kl] == '=') {
                char *d = strdup(buf);
                if (d != NULL) {
                    free(c->p->env_set[i]);
                    c->p->env_set[i] = d;
                }
                replaced = true;
            }
        }
        if (!replaced && (c->p->nenv_set >= SB_MAX_ENV ||
                          strv_push(&c->p->env_set, &c->p->nenv_set, buf) < 0))
            cfg_err(c->e, c->doc, set, k, 0, "too many variables");
        explicit_bzero(buf, sizeof(buf));
    }
}

/* A size, or "unlimited". */
static void get_limit_size(struct compile_ctx *c, const json_t *obj, const char *key,
                           uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    uint64_t n;
    if (v == NULL)
        return;
    if (json_is_string(v) && strcmp(json_string_value(v), "unlimited") == 0) {
        *out = SB_UNLIMITED;
        return;
    }
    if (cfg_get_size(c->e, c->doc, obj, key, UINT64_MAX - 1, &n) == 0) {
        if (n == 0)
            cfg_err(c->e, c->doc, obj, key, 0, "'%s' must be larger than 0", key);
        else
            *out = n;
    }
}

static void get_limit_count(struct compile_ctx *c, const json_t *obj, const char *key,
                            uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    uint64_t n;
    if (v == NULL)
        return;
    if (json_is_string(v) && strcmp(json_string_value(v), "unlimited") == 0) {
        *out = SB_UNLIMITED;
        return;
    }
    if (cfg_get_uint(c->e, c->doc, obj, key, max, &n) == 0) {
        if (n == 0)
            cfg_err(c->e, c->doc, obj, key, 0, "'%s' must be at least 1", key);
        else
            *out = n;
    }
}

static void compile_limits(struct compile_ctx *c, const json_t *sec)
{
    json_t *v = NULL;
    if (cfg_get_obj(c->e, c->doc, sec, "limits", &v) != 0 || v == NULL)
        return;
    if (!json_is_object(v)) {
        cfg_err(c->e, c->doc, sec, "limits", 0, "limits must be a mapping");
        return;
    }
    static const char *const keys[] = {"address_space", "memory", "cpu", "cpu_time",
                                       "open_files", "processes", "file_size", NULL};
    cfg_check_keys(c->e, c->doc, v, keys);
    struct sb_limits *l = &c->p->lim;
    get_limit_size(c, v, "address_space", &l->address_space);
    get_limit_size(c, v, "memory", &l->memory);
    get_limit_size(c, v, "file_size", &l->file_size);
    get_limit_count(c, v, "open_files", 1u << 20, &l->open_files);
    get_limit_count(c, v, "processes", 1u << 22, &l->processes);
    if (l->open_files != SB_UNLIMITED && l->open_files < 16)
        cfg_err(c->e, c->doc, v, "open_files", 0, "open_files below 16 leaves no room to work");
    const json_t *ct = json_object_get(v, "cpu_time");
    if (ct != NULL) {
        uint64_t us;
        if (json_is_string(ct) && strcmp(json_string_value(ct), "unlimited") == 0)
            l->cpu_time_s = SB_UNLIMITED;
        else if (cfg_get_duration_us(c->e, c->doc, v, "cpu_time", 366ull * 86400 * 1000000, &us) ==
                 0) {
            if (us < 1000000)
                cfg_err(c->e, c->doc, v, "cpu_time", 0, "cpu_time must be at least 1s");
            else
                l->cpu_time_s = (us + 999999) / 1000000;
        }
    }
    const json_t *cpu = json_object_get(v, "cpu");
    if (cpu != NULL) {
        /* "50%" of one CPU, or a number of CPUs (1, 1.5) */
        double cpus = -1;
        if (json_is_string(cpu)) {
            const char *s = json_string_value(cpu);
            char *end;
            errno = 0;
            double d = strtod(s, &end);
            if (strcmp(s, "unlimited") == 0) {
                l->cpu_permille = SB_UNLIMITED;
                cpus = -2;
            } else if (errno == 0 && end != s && strcmp(end, "%") == 0) {
                cpus = d / 100.0;
            }
        } else if (json_is_number(cpu)) {
            cpus = json_number_value(cpu);
        }
        if (cpus == -2) {
            /* unlimited */
        } else if (cpus < 0.01 || cpus > 1024) {
            cfg_err(c->e, c->doc, v, "cpu", 0,
                    "cpu must be a share such as \"50%%\" of one CPU or a number of CPUs such as "
                    "1.5 (at least 1%%)");
        } else {
            l->cpu_permille = (uint64_t)(cpus * 1000.0 + 0.5);
        }
    }
}

static void compile_syscalls(struct compile_ctx *c, const json_t *sec)
{
    json_t *v = NULL;
    if (cfg_get_obj(c->e, c->doc, sec, "syscalls", &v) != 0 || v == NULL)
        return;
    if (!json_is_object(v)) {
        cfg_err(c->e, c->doc, sec, "syscalls", 0, "syscalls must be a mapping {deny:, allow:}");
        return;
    }
    static const char *const keys[] = {"deny", "allow", NULL};
    cfg_check_keys(c->e, c->doc, v, keys);
    bool deny = true;
    each_string(c, v, "deny", add_sys_cb, &deny);
    deny = false;
    each_string(c, v, "allow", add_sys_cb, &deny);
}

static void set_base_dir(struct compile_ctx *c)
{
    char cwd[SB_PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        str_copy(cwd, "/", sizeof(cwd));
    const char *path = c->doc != NULL ? c->doc->path : NULL;
    const char *slash = path != NULL ? strrchr(path, '/') : NULL;
    char tmp[2 * SB_PATH_MAX + 2];
    int w;
    if (slash == NULL) {
        w = snprintf(tmp, sizeof(tmp), "%s", cwd);
    } else if (path[0] == '/') {
        size_t l = (size_t)(slash - path);
        w = snprintf(tmp, sizeof(tmp), "%.*s", (int)(l == 0 ? 1 : l), path);
    } else {
        w = snprintf(tmp, sizeof(tmp), "%s/%.*s", cwd, (int)(slash - path), path);
    }
    if (w < 0 || (size_t)w >= sizeof(tmp) ||
        path_normalize(tmp, c->base_dir, sizeof(c->base_dir)) < 0)
        str_copy(c->base_dir, "/", sizeof(c->base_dir));
}

struct sandbox_profile *sandbox_compile(const struct cfg_doc *doc, const json_t *section,
                                        struct cfg_errors *errs)
{
    struct compile_ctx c = {.e = errs, .doc = doc};
    size_t nerr = errs->n;
    const char *base = "strict";
    set_base_dir(&c);

    if (json_is_string(section)) {
        const struct sandbox_profile *b = sandbox_builtin(json_string_value(section));
        if (b == NULL) {
            cfg_err(errs, doc, section, NULL, 0,
                    "unknown sandbox profile '%s' (shipped: strict, node, python, network-client)",
                    json_string_value(section));
            return NULL;
        }
        return sandbox_derive(b);
    }
    if (!json_is_object(section)) {
        cfg_err(errs, doc, section, NULL, 0,
                "sandbox must be a profile name or a mapping (see docs/sandbox.md)");
        return NULL;
    }
    static const char *const keys[] = {"profile", "read", "write", "overlay", "home",
                                       "tmp_size", "network", "env", "limits", "syscalls",
                                       "landlock", NULL};
    cfg_check_keys(errs, doc, section, keys);

    const char *pname = NULL;
    int prc = cfg_get_str(errs, doc, section, "profile", &pname);
    if (prc == 0)
        base = pname;
    const struct sandbox_profile *b = sandbox_builtin(base);
    if (b == NULL) {
        cfg_err(errs, doc, section, "profile", 0,
                "unknown sandbox profile '%s' (shipped: strict, node, python, network-client)",
                base);
        b = sandbox_builtin("strict");
    }
    c.p = sandbox_derive(b);
    if (c.p == NULL) {
        cfg_errors_add(errs, "%s: out of memory", doc ? doc->path : "config");
        return NULL;
    }
    free(c.p->name);
    c.p->name = strdup("config");

    enum sb_access a = SB_RO;
    each_string(&c, section, "read", add_path_cb, &a);
    a = SB_RW;
    each_string(&c, section, "write", add_path_cb, &a);
    a = SB_OVERLAY;
    each_string(&c, section, "overlay", add_path_cb, &a);

    const char *home = NULL;
    if (cfg_get_str(errs, doc, section, "home", &home) == 0) {
        if (strcmp(home, "empty") == 0)
            c.p->home_private = false;
        else if (strcmp(home, "private") == 0)
            c.p->home_private = true;
        else
            cfg_err(errs, doc, section, "home", 0,
                    "home must be 'empty' (read-only, empty) or 'private' (a writable private "
                    "directory that is discarded), not '%s'",
                    home);
    }
    uint64_t sz;
    if (cfg_get_size(errs, doc, section, "tmp_size", 64 * GIB, &sz) == 0) {
        if (sz < 64 * KIB)
            cfg_err(errs, doc, section, "tmp_size", 0, "tmp_size must be at least 64KiB");
        else
            c.p->tmp_size = sz;
    }
    compile_network(&c, section);
    compile_env(&c, section);
    compile_limits(&c, section);
    compile_syscalls(&c, section);
    const char *ll = NULL;
    if (cfg_get_str(errs, doc, section, "landlock", &ll) == 0) {
        if (strcmp(ll, "required") == 0)
            c.p->landlock_required = true;
        else if (strcmp(ll, "best-effort") == 0)
            c.p->landlock_required = false;
        else
            cfg_err(errs, doc, section, "landlock", 0,
                    "landlock must be 'required' or 'best-effort', not '%s'", ll);
    }
    if (c.p->name == NULL || errs->n > nerr) {
        sandbox_free(c.p);
        return NULL;
    }
    return c.p;
}

/* ---- explain ------------------------------------------------------------- */

static void explain_size(FILE *out, uint64_t v)
{
    if (v == SB_UNLIMITED)
        fputs("unlimited", out);
    else if (v >= GIB && v % GIB == 0)
        fprintf(out, "%llu GiB", (unsigned long long)(v / GIB));
    else if (v >= MIB && v % MIB == 0)
        fprintf(out, "%llu MiB", (unsigned long long)(v / MIB));
    else if (v >= KIB && v % KIB == 0)
        fprintf(out, "%llu KiB", (unsigned long long)(v / KIB));
    else
        fprintf(out, "%llu bytes", (unsigned long long)v);
}

static void explain_count(FILE *out, uint64_t v)
{
    if (v == SB_UNLIMITED)
        fputs("unlimited", out);
    else
        fprintf(out, "%llu", (unsigned long long)v);
}

static void explain_paths(FILE *out, const struct sandbox_profile *p, enum sb_access a,
                          const char *intro)
{
    size_t n = 0;
    for (size_t i = 0; i < p->npaths; i++) {
        if (p->paths[i].access != a)
            continue;
        if (n++ == 0)
            fprintf(out, "%s\n", intro);
        fprintf(out, "    %s%s\n", p->paths[i].path, p->paths[i].optional ? "  (if present)" : "");
    }
}

void sandbox_explain(const struct sandbox_profile *p, FILE *out)
{
    struct sandbox_kernel k;
    sandbox_probe(&k);
    if (strcmp(p->name, "config") == 0)
        fprintf(out, "sandbox profile from the configuration, derived from '%s'\n",
                p->base ? p->base : "strict");
    else
        fprintf(out, "sandbox profile '%s': %s\n", p->name, p->summary ? p->summary : "");

    fprintf(out, "\nIt can read (and run programs from):\n");
    size_t nro = 0;
    for (size_t i = 0; i < p->npaths; i++)
        nro += p->paths[i].access == SB_RO;
    if (nro == 0)
        fprintf(out, "    nothing of the host\n");
    explain_paths(out, p, SB_RO, "  these paths, read-only:");
    explain_paths(out, p, SB_OVERLAY,
                  "  these paths, with writes kept private and discarded at exit:");
    fprintf(out, "  plus: the command's own executable, a private /proc (its own processes "
                 "only), /dev/null, zero, full, random, urandom\n");

    fprintf(out, "\nIt can write:\n");
    fprintf(out, "    /tmp and /dev/shm: private, empty at start, discarded at exit, at most ");
    explain_size(out, p->tmp_size);
    fputc('\n', out);
    if (p->home_private)
        fprintf(out, "    your home directory's path: a private empty directory, discarded at "
                     "exit\n");
    explain_paths(out, p, SB_RW, "  and these host paths (changes are real):");

    fprintf(out, "\nIt cannot see:\n");
    fprintf(out, "    your home directory (~/.ssh, ~/.aws, ~/.config, shell history ...) except "
                 "the paths above;\n"
                 "    the rest of the file system, other processes, /sys, the host's /etc "
                 "beyond the few files listed\n");

    fprintf(out, "\nNetwork:\n");
    switch (p->net) {
    case SB_NET_NONE:
        fprintf(out, "    none: a private network namespace with no interface up; no "
                     "connection of any protocol can leave\n");
        break;
    case SB_NET_LOOPBACK:
        fprintf(out, "    its own private loopback only (not the host's): it can talk to "
                     "itself, nothing else\n");
        break;
    case SB_NET_HOST:
        fprintf(out, "    UNRESTRICTED: the host's network, including services on the host's "
                     "loopback and the local network\n");
        break;
    case SB_NET_ALLOW:
        if (p->nallow == 0) {
            fprintf(out, "    allow-list, but no destination is listed: nothing can be "
                         "reached\n");
            break;
        }
        fprintf(out, "    TCP to these destinations only (every other address, port and "
                     "protocol is unreachable):\n");
        for (size_t i = 0; i < p->nallow; i++) {
            if (p->allow[i].family == AF_INET6)
                fprintf(out, "    [%s]:%u\n", p->allow[i].host, p->allow[i].port);
            else
                fprintf(out, "    %s:%u\n", p->allow[i].host, p->allow[i].port);
        }
        fprintf(out, "    host names are resolved by mcpwall, outside the sandbox%s\n",
                p->allow_private ? ""
                                 : "; a name that resolves to a private, loopback or "
                                   "link-local address is refused");
        break;
    }

    fprintf(out, "\nEnvironment: only the server's declared variables");
    if (p->nenv_pass > 0) {
        fprintf(out, ", and from mcpwall's own environment:");
        for (size_t i = 0; i < p->nenv_pass; i++)
            fprintf(out, " %s", p->env_pass[i]);
    }
    if (p->nenv_set > 0) {
        fprintf(out, "; set:");
        for (size_t i = 0; i < p->nenv_set; i++) {
            const char *eq = strchr(p->env_set[i], '=');
            fprintf(out, " %.*s", (int)(eq ? eq - p->env_set[i] : 0), p->env_set[i]);
        }
    }
    fprintf(out, "\n");

    fprintf(out, "\nLimits: address space ");
    explain_size(out, p->lim.address_space);
    fprintf(out, ", processes and threads ");
    explain_count(out, p->lim.processes);
    fprintf(out, ", open files ");
    explain_count(out, p->lim.open_files);
    fprintf(out, ", file size ");
    explain_size(out, p->lim.file_size);
    fprintf(out, ", CPU time ");
    if (p->lim.cpu_time_s == SB_UNLIMITED)
        fprintf(out, "unlimited");
    else
        fprintf(out, "%llu s", (unsigned long long)p->lim.cpu_time_s);
    fprintf(out, ";\n    with a writable cgroup: memory ");
    explain_size(out, p->lim.memory);
    fprintf(out, ", CPU ");
    if (p->lim.cpu_permille == SB_UNLIMITED)
        fprintf(out, "unlimited");
    else
        fprintf(out, "%llu%% of one CPU", (unsigned long long)(p->lim.cpu_permille / 10));
    fprintf(out, "\n");

    fprintf(out, "\nSystem calls refused with EPERM%s: ", k.seccomp_notify ? " (and logged)" : "");
    size_t col = 0;
    for (const struct sb_sysrule *r = sb_default_deny; r->name != NULL; r++) {
        if (strcmp(r->name, "clone3") == 0 || str_has_prefix(r->name, "io_uring"))
            continue; /* answered ENOSYS, said below */
        int nr = seccomp_syscall_resolve_name(r->name);
        bool allowed = false;
        for (size_t i = 0; i < p->nsys_allow; i++)
            allowed = allowed || p->sys_allow[i] == nr;
        if (allowed)
            continue;
        fprintf(out, "%s%s", col++ ? ", " : "", r->name);
    }
    for (size_t i = 0; i < p->nsys_deny; i++)
        fprintf(out, ", %s", sb_syscall_name(p->sys_deny[i]));
    fprintf(out, ";\n    raw and packet sockets; new namespaces; clone3 and io_uring answer "
                 "ENOSYS;\n    all capabilities dropped; no privilege gain through setuid "
                 "programs\n");

    fprintf(out, "\nThis machine: ");
    if (!k.userns)
        fprintf(out, "user namespaces UNAVAILABLE (the sandbox cannot start); ");
    if (k.landlock_abi > 0)
        fprintf(out, "Landlock ABI %d%s; ", k.landlock_abi,
                k.landlock_abi < 4 ? " (no TCP port rules)" : "");
    else
        fprintf(out, "Landlock unavailable (%s); ",
                p->landlock_required ? "the profile requires it: the sandbox will not start"
                                     : "mount namespaces still confine files");
    fprintf(out, "seccomp %s; ",
            !k.seccomp ? "UNAVAILABLE" : (k.seccomp_notify ? "with denial logging" : "(denials not logged)"));
    fprintf(out, "%s\n", k.cgroup_note);
}
