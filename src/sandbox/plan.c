/* plan.c - turns a profile into the concrete plan of one spawn, in the
 * caller, before anything is forked: host paths resolved and checked, the
 * mount list sorted (parents first), generated files (/etc/passwd, hosts),
 * the final environment, the network listeners and the BPF program. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/buf.h"
#include "util/str.h"

extern char **environ;

int sb_expand_home(const char *path, const char *home, char *out, size_t outsz)
{
    int w;
    if (path[0] == '~')
        w = snprintf(out, outsz, "%s%s", strcmp(home, "/") == 0 && path[1] ? "" : home, path + 1);
    else
        w = snprintf(out, outsz, "%s", path);
    return (w < 0 || (size_t)w >= outsz) ? -1 : 0;
}

static bool path_under(const char *p, const char *dir)
{
    size_t l = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(p, dir, l) == 0 && (p[l] == '\0' || p[l] == '/');
}

static int mount_push(struct sb_plan *pl, enum sb_mount_kind kind, const char *dst,
                      const char *src, bool src_is_dir)
{
    struct sb_mount *nm = realloc(pl->mounts, (pl->nmounts + 1) * sizeof(*nm));
    if (nm == NULL)
        return -1;
    pl->mounts = nm;
    struct sb_mount *m = &nm[pl->nmounts];
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->dst = strdup(dst);
    m->src = src != NULL ? strdup(src) : NULL;
    m->src_is_dir = src_is_dir;
    if (m->dst == NULL || (src != NULL && m->src == NULL)) {
        free(m->dst);
        free(m->src);
        return -1;
    }
    pl->nmounts++;
    return 0;
}

static int file_push(struct sb_plan *pl, const char *dst, struct buf *content)
{
    if (mount_push(pl, SB_M_FILE, dst, NULL, false) < 0)
        return -1;
    struct sb_mount *m = &pl->mounts[pl->nmounts - 1];
    m->datalen = buf_used(content);
    m->data = malloc(m->datalen + 1);
    if (m->data == NULL)
        return -1;
    memcpy(m->data, buf_head(content), m->datalen);
    m->data[m->datalen] = '\0';
    return 0;
}

static void mount_free(struct sb_mount *m)
{
    free(m->dst);
    free(m->src);
    free(m->data);
}

static bool has_dst(const struct sb_plan *pl, const char *dst)
{
    for (size_t i = 0; i < pl->nmounts; i++) {
        if (strcmp(pl->mounts[i].dst, dst) == 0)
            return true;
    }
    return false;
}

static int kind_rank(enum sb_mount_kind k)
{
    switch (k) {
    case SB_M_BIND_RW: return 3;
    case SB_M_OVERLAY: return 2;
    case SB_M_BIND_RO: return 1;
    default: return 0;
    }
}

static int cmp_mount(const void *a, const void *b)
{
    const struct sb_mount *x = a, *y = b;
    int c = strcmp(x->dst, y->dst);
    if (c != 0)
        return c;
    return kind_rank(y->kind) - kind_rank(x->kind); /* strongest first */
}

/* Sorts parents first, keeps one entry per destination (the strongest), and
 * drops binds already provided by an ancestor bind of the same kind. */
static void mounts_finish(struct sb_plan *pl)
{
    qsort(pl->mounts, pl->nmounts, sizeof(*pl->mounts), cmp_mount);
    size_t out = 0;
    for (size_t i = 0; i < pl->nmounts; i++) {
        struct sb_mount *m = &pl->mounts[i];
        bool drop = out > 0 && strcmp(pl->mounts[out - 1].dst, m->dst) == 0;
        if (!drop && (m->kind == SB_M_BIND_RO || m->kind == SB_M_BIND_RW) && m->src != NULL) {
            /* nearest enclosing entry kept so far */
            for (size_t j = out; j-- > 0;) {
                const struct sb_mount *a = &pl->mounts[j];
                if (!path_under(m->dst, a->dst) || strcmp(a->dst, m->dst) == 0)
                    continue;
                if (a->kind == m->kind && a->src != NULL &&
                    strcmp(m->dst + strlen(a->dst), m->src + strlen(a->src)) == 0 &&
                    strncmp(m->src, a->src, strlen(a->src)) == 0 &&
                    strcmp(a->dst, a->src) == 0 && strcmp(m->dst, m->src) == 0)
                    drop = true;
                break;
            }
        }
        if (drop) {
            mount_free(m);
            continue;
        }
        if (out != i)
            pl->mounts[out] = *m;
        out++;
    }
    pl->nmounts = out;
}

static bool overlay_safe(const char *p)
{
    /* overlayfs option syntax cannot carry these in lowerdir */
    return strpbrk(p, ",:\\") == NULL;
}

/* Adds the mounts for one declared path. */
static int add_declared(struct sb_plan *pl, const struct sb_path *sp, char *err, size_t errlen)
{
    static const char *const what[] = {"read", "write", "overlay"};
    char exp[SB_PATH_MAX], real[PATH_MAX];
    if (sb_expand_home(sp->path, pl->home, exp, sizeof(exp)) < 0) {
        snprintf(err, errlen, "%s path %s is too long", what[sp->access], sp->path);
        return -1;
    }
    if (realpath(exp, real) == NULL) {
        if (sp->optional && (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
            return 0;
        snprintf(err, errlen, "%s path %s: %s", what[sp->access], exp, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(real, &st) != 0) {
        if (sp->optional)
            return 0;
        snprintf(err, errlen, "%s path %s: %s", what[sp->access], exp, strerror(errno));
        return -1;
    }
    bool isdir = S_ISDIR(st.st_mode);
    if (!isdir && !S_ISREG(st.st_mode)) {
        if (sp->optional)
            return 0;
        snprintf(err, errlen, "%s path %s is neither a file nor a directory", what[sp->access],
                 exp);
        return -1;
    }
    if (strcmp(real, "/") == 0) {
        snprintf(err, errlen, "%s path %s resolves to /, which would expose every file",
                 what[sp->access], exp);
        return -1;
    }
    enum sb_mount_kind k = SB_M_BIND_RO;
    if (sp->access == SB_RW)
        k = SB_M_BIND_RW;
    else if (sp->access == SB_OVERLAY)
        k = (isdir && overlay_safe(real)) ? SB_M_OVERLAY : SB_M_BIND_RO;
    if (mount_push(pl, k, real, real, isdir) < 0)
        goto oom;
    if (strcmp(exp, real) != 0) {
        struct stat lst;
        char parent[SB_PATH_MAX], rparent[PATH_MAX];
        str_copy(parent, exp, sizeof(parent));
        char *slash = strrchr(parent, '/');
        if (slash != NULL)
            *(slash == parent ? slash + 1 : slash) = '\0';
        if (lstat(exp, &lst) == 0 && S_ISLNK(lst.st_mode) && realpath(parent, rparent) != NULL &&
            strcmp(rparent, parent) == 0) {
            char target[PATH_MAX];
            ssize_t n = readlink(exp, target, sizeof(target) - 1);
            if (n > 0) {
                target[n] = '\0';
                if (mount_push(pl, SB_M_SYMLINK, exp, target, false) < 0)
                    goto oom;
                return 0;
            }
        }
        if (mount_push(pl, k, exp, real, isdir) < 0)
            goto oom;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* True when a host path is visible through one of the binds. */
static bool covered(const struct sb_plan *pl, const char *real)
{
    for (size_t i = 0; i < pl->nmounts; i++) {
        const struct sb_mount *m = &pl->mounts[i];
        if ((m->kind == SB_M_BIND_RO || m->kind == SB_M_BIND_RW || m->kind == SB_M_OVERLAY) &&
            strcmp(m->dst, m->src) == 0 && path_under(real, m->src))
            return true;
    }
    return false;
}

static const char *env_get(char **envp, size_t n, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(envp[i], name, l) == 0 && envp[i][l] == '=')
            return envp[i] + l + 1;
    }
    return NULL;
}

/* Sets NAME=VALUE in the plan's environment, replacing an earlier value. */
static int env_put(struct sb_plan *pl, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv)
        return 0;
    size_t l = (size_t)(eq - kv);
    char *d = strdup(kv);
    if (d == NULL)
        return -1;
    for (size_t i = 0; i < pl->nenvp; i++) {
        if (strncmp(pl->envp[i], kv, l) == 0 && pl->envp[i][l] == '=') {
            explicit_bzero(pl->envp[i], strlen(pl->envp[i]));
            free(pl->envp[i]);
            pl->envp[i] = d;
            return 0;
        }
    }
    char **ne = realloc(pl->envp, (pl->nenvp + 2) * sizeof(char *));
    if (ne == NULL) {
        free(d);
        return -1;
    }
    pl->envp = ne;
    ne[pl->nenvp++] = d;
    ne[pl->nenvp] = NULL;
    return 0;
}

static int build_env(struct sb_plan *pl, char *const envp[])
{
    const struct sandbox_profile *p = pl->prof;
    pl->envp = calloc(1, sizeof(char *));
    if (pl->envp == NULL)
        return -1;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        char name[256];
        size_t l = (size_t)(eq - *e);
        if (l == 0 || l >= sizeof(name))
            continue;
        memcpy(name, *e, l);
        name[l] = '\0';
        for (size_t i = 0; i < p->nenv_pass; i++) {
            if (glob_match(p->env_pass[i], name, l)) {
                if (env_put(pl, *e) < 0)
                    return -1;
                break;
            }
        }
    }
    for (size_t i = 0; i < p->nenv_set; i++) {
        if (env_put(pl, p->env_set[i]) < 0)
            return -1;
    }
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (env_put(pl, envp[i]) < 0)
            return -1;
    }
    char kv[SB_PATH_MAX + 16];
    snprintf(kv, sizeof(kv), "HOME=%s", pl->home);
    if (env_put(pl, kv) < 0)
        return -1;
    if (env_get(pl->envp, pl->nenvp, "PATH") == NULL &&
        env_put(pl, "PATH=/usr/local/bin:/usr/bin:/bin") < 0)
        return -1;
    if (env_get(pl->envp, pl->nenvp, "USER") == NULL) {
        snprintf(kv, sizeof(kv), "USER=%s", pl->user);
        if (env_put(pl, kv) < 0)
            return -1;
    }
    return 0;
}

static int build_etc(struct sb_plan *pl)
{
    struct buf b;
    int rc = -1;
    buf_init(&b, 1 << 20);
    if (!has_dst(pl, "/etc/passwd")) {
        if (pl->uid == 0)
            buf_printf(&b, "root:x:0:0:root:%s:/bin/sh\n", pl->home);
        else
            buf_printf(&b, "root:x:0:0:root:/root:/usr/sbin/nologin\n%s:x:%u:%u::%s:/bin/sh\n",
                       pl->user, (unsigned)pl->uid, (unsigned)pl->gid, pl->home);
        if (pl->uid != 65534)
            buf_printf(&b, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        if (file_push(pl, "/etc/passwd", &b) < 0)
            goto out;
        buf_reset(&b);
    }
    if (!has_dst(pl, "/etc/group")) {
        buf_printf(&b, "root:x:0:\n");
        if (pl->gid != 0 && pl->gid != 65534)
            buf_printf(&b, "%s:x:%u:\n", pl->user, (unsigned)pl->gid);
        buf_printf(&b, "nogroup:x:65534:\n");
        if (file_push(pl, "/etc/group", &b) < 0)
            goto out;
        buf_reset(&b);
    }
    if (pl->prof->net == SB_NET_HOST) {
        static const char *const netfiles[] = {"/etc/hosts", "/etc/resolv.conf",
                                               "/etc/nsswitch.conf", "/etc/gai.conf",
                                               "/etc/host.conf", NULL};
        for (const char *const *f = netfiles; *f != NULL; f++) {
            struct sb_path sp = {.path = (char *)*f, .access = SB_RO, .optional = true};
            char e[64];
            if (!has_dst(pl, *f) && add_declared(pl, &sp, e, sizeof(e)) < 0)
                goto out;
        }
        rc = 0;
        goto out;
    }
    if (!has_dst(pl, "/etc/nsswitch.conf")) {
        buf_printf(&b, "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
                       "networks: files\nprotocols: files\nservices: files\n");
        if (file_push(pl, "/etc/nsswitch.conf", &b) < 0)
            goto out;
        buf_reset(&b);
    }
    if (!has_dst(pl, "/etc/hosts")) {
        buf_printf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (size_t i = 0; i < pl->nlistens; i++) {
            const struct sb_listen *l = &pl->listens[i];
            const struct sb_dest *d = &pl->prof->allow[l->dest];
            if (d->family != 0)
                continue;
            bool seen = false;
            for (size_t j = 0; j < i; j++)
                seen = seen || strcmp(pl->prof->allow[pl->listens[j].dest].host, d->host) == 0;
            if (seen)
                continue;
            char a[INET6_ADDRSTRLEN];
            inet_ntop(l->family, l->addr, a, sizeof(a));
            buf_printf(&b, "%s\t%s\n", a, d->host);
        }
        if (file_push(pl, "/etc/hosts", &b) < 0)
            goto out;
        buf_reset(&b);
    }
    rc = 0;
out:
    buf_free(&b);
    return rc;
}

static int build_listens(struct sb_plan *pl, char *err, size_t errlen)
{
    const struct sandbox_profile *p = pl->prof;
    if (p->net != SB_NET_ALLOW || p->nallow == 0)
        return 0;
    pl->listens = calloc(p->nallow, sizeof(*pl->listens));
    if (pl->listens == NULL)
        goto oom;
    unsigned next = 1;
    for (size_t i = 0; i < p->nallow; i++) {
        const struct sb_dest *d = &p->allow[i];
        struct sb_listen *l = &pl->listens[pl->nlistens];
        l->dest = i;
        l->port = d->port;
        if (d->family == 0) {
            /* one loopback address per host name, 127.77.x.y */
            unsigned n = 0;
            for (size_t j = 0; j < i; j++) {
                if (p->allow[j].family == 0 && strcmp(p->allow[j].host, d->host) == 0) {
                    const struct sb_listen *o = NULL;
                    for (size_t k = 0; k < pl->nlistens; k++)
                        if (pl->listens[k].dest == j)
                            o = &pl->listens[k];
                    if (o != NULL)
                        n = ((unsigned)o->addr[2] << 8) | o->addr[3];
                    break;
                }
            }
            if (n == 0)
                n = next++;
            l->family = AF_INET;
            l->addr[0] = 127;
            l->addr[1] = 77;
            l->addr[2] = (unsigned char)(n >> 8);
            l->addr[3] = (unsigned char)(n & 0xff);
        } else {
            l->family = d->family;
            memcpy(l->addr, d->addr, sizeof(l->addr));
            if (d->family == AF_INET)
                l->add_to_lo = d->addr[0] != 127;
            else
                l->add_to_lo = !IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)d->addr);
        }
        pl->nlistens++;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Finds argv[0] as execvp would, in the sandbox's PATH, on the host. */
static int resolve_exec(struct sb_plan *pl, const char *cmd, char *out, size_t outsz)
{
    if (strchr(cmd, '/') != NULL) {
        char abs[SB_PATH_MAX];
        if (cmd[0] != '/') {
            char cwd[SB_PATH_MAX];
            if (getcwd(cwd, sizeof(cwd)) == NULL)
                return -1;
            if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, cmd) >= sizeof(abs))
                return -1;
        } else {
            str_copy(abs, cmd, sizeof(abs));
        }
        return str_copy(out, abs, outsz) < outsz ? 0 : -1;
    }
    const char *path = env_get(pl->envp, pl->nenvp, "PATH");
    if (path == NULL)
        return -1;
    while (*path != '\0') {
        const char *c = strchr(path, ':');
        size_t l = c ? (size_t)(c - path) : strlen(path);
        if (l > 0 && path[0] == '/') {
            char cand[SB_PATH_MAX];
            if ((size_t)snprintf(cand, sizeof(cand), "%.*s/%s", (int)l, path, cmd) <
                    sizeof(cand) &&
                access(cand, X_OK) == 0) {
                struct stat st;
                if (stat(cand, &st) == 0 && S_ISREG(st.st_mode))
                    return str_copy(out, cand, outsz) < outsz ? 0 : -1;
            }
        }
        path += l;
        if (*path == ':')
            path++;
    }
    return -1;
}

int sb_plan_build(struct sb_plan *pl, const struct sandbox_profile *p, char *const argv[],
                  char *const envp[], const char *cwd, char *err, size_t errlen)
{
    memset(pl, 0, sizeof(*pl));
    pl->prof = p;
    pl->argv = (char **)argv;
    pl->uid = geteuid();
    pl->gid = getegid();
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
        snprintf(err, errlen, "no command to run");
        return -1;
    }

    /* home and user name */
    const char *home = getenv("HOME");
    struct passwd pw, *pwp = NULL;
    char pwbuf[4096];
    getpwuid_r(pl->uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
    if (home == NULL || home[0] != '/')
        home = pwp != NULL ? pw.pw_dir : "/";
    char hnorm[SB_PATH_MAX];
    if (realpath(home, hnorm) == NULL)
        str_copy(hnorm, home, sizeof(hnorm));
    pl->home = strdup(hnorm);
    pl->user = strdup(pwp != NULL ? pw.pw_name : (pl->uid == 0 ? "root" : "user"));
    if (pl->home == NULL || pl->user == NULL)
        goto oom;
    for (char *c = pl->user; *c; c++) {
        if (*c == ':' || *c == '\n')
            *c = '_';
    }

    /* declared paths */
    for (size_t i = 0; i < p->npaths; i++) {
        if (add_declared(pl, &p->paths[i], err, errlen) < 0)
            goto fail;
    }
    /* the sandbox's own /dev, /proc, /tmp and home */
    if (mount_push(pl, SB_M_DEV, "/dev", NULL, true) < 0 ||
        mount_push(pl, SB_M_PROC, "/proc", NULL, true) < 0 ||
        mount_push(pl, SB_M_TMPFS, "/tmp", NULL, true) < 0)
        goto oom;
    pl->mounts[pl->nmounts - 1].size = p->tmp_size;
    bool home_declared = strcmp(pl->home, "/") == 0;
    for (size_t i = 0; i < pl->nmounts && !home_declared; i++) {
        const struct sb_mount *m = &pl->mounts[i];
        if (m->kind <= SB_M_OVERLAY && path_under(pl->home, m->dst))
            home_declared = true;
    }
    if (!home_declared) {
        if (mount_push(pl, p->home_private ? SB_M_TMPFS : SB_M_DIR, pl->home, NULL, true) < 0)
            goto oom;
        pl->mounts[pl->nmounts - 1].size = p->tmp_size;
    }

    if (build_env(pl, envp) < 0)
        goto oom;

    /* the command itself */
    char exe[SB_PATH_MAX], rexe[PATH_MAX];
    if (resolve_exec(pl, argv[0], exe, sizeof(exe)) == 0) {
        struct stat st;
        if (realpath(exe, rexe) != NULL && !covered(pl, rexe) && stat(rexe, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            /* the command's own executable is always visible */
            if (mount_push(pl, SB_M_BIND_RO, rexe, rexe, false) < 0)
                goto oom;
            str_copy(exe, rexe, sizeof(exe));
        }
        pl->exec_path = strdup(exe);
        if (pl->exec_path == NULL)
            goto oom;
    }

    if (build_listens(pl, err, errlen) < 0)
        goto fail;
    if (build_etc(pl) < 0)
        goto oom;
    mounts_finish(pl);

    /* working directory */
    char cbuf[SB_PATH_MAX];
    if (cwd != NULL) {
        pl->cwd_strict = true;
        if (cwd[0] != '/') {
            char here[SB_PATH_MAX];
            if (getcwd(here, sizeof(here)) == NULL ||
                (size_t)snprintf(cbuf, sizeof(cbuf), "%s/%s", here, cwd) >= sizeof(cbuf)) {
                snprintf(err, errlen, "working directory %s: path too long", cwd);
                goto fail;
            }
            cwd = cbuf;
        }
        pl->cwd = strdup(cwd);
    } else if (getcwd(cbuf, sizeof(cbuf)) != NULL) {
        pl->cwd = strdup(cbuf);
    }

    pl->landlock_abi = sb_landlock_abi();
    if (p->landlock_required && pl->landlock_abi <= 0) {
        snprintf(err, errlen, "the profile requires Landlock and this kernel does not offer it");
        goto fail;
    }
    pl->bpf_notify = sb_seccomp_notify_available();
    if (sb_seccomp_build(p, pl->bpf_notify, &pl->bpf, err, errlen) < 0)
        goto fail;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    sb_plan_free(pl);
    return -1;
}

void sb_plan_free(struct sb_plan *pl)
{
    for (size_t i = 0; i < pl->nmounts; i++)
        mount_free(&pl->mounts[i]);
    free(pl->mounts);
    for (size_t i = 0; i < pl->nenvp; i++) {
        explicit_bzero(pl->envp[i], strlen(pl->envp[i]));
        free(pl->envp[i]);
    }
    free(pl->envp);
    free(pl->home);
    free(pl->user);
    free(pl->cwd);
    free(pl->exec_path);
    free(pl->listens);
    free(pl->bpf.filter);
    memset(pl, 0, sizeof(*pl));
}
