/* limits.c - resource limits: rlimits on the server, and a cgroup of its own
 * when one can be written (cgroup v2 first; the v1 pids and memory
 * controllers as a fallback, as on hybrid hosts where v2 has no controllers).
 *
 * Kernel facts that shape this file:
 *  - RLIMIT_NPROC counts the processes and threads of the user in the
 *    sandbox's user namespace, but is never enforced for the host's uid 0:
 *    running mcpwall as root, only a pids cgroup bounds a fork bomb.
 *  - A cgroup v2 directory can only hold processes if its parent enables the
 *    controllers, and a cgroup with processes cannot enable them for its
 *    children; so the sandbox's cgroup is made a sibling of mcpwall's own
 *    (or a child of the root when mcpwall runs in the root cgroup).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/str.h"

static int set_one(int res, uint64_t v, bool soft_kill_margin, const char *name, char *err,
                   size_t errlen)
{
    struct rlimit cur, rl;
    if (v == SB_UNLIMITED)
        return 0;
    if (getrlimit(res, &cur) != 0)
        cur.rlim_max = RLIM_INFINITY;
    rlim_t want = (rlim_t)v;
    rl.rlim_cur = want;
    rl.rlim_max = soft_kill_margin ? want + 1 : want;
    /* never above what mcpwall itself was given */
    if (cur.rlim_max != RLIM_INFINITY && rl.rlim_max > cur.rlim_max) {
        rl.rlim_max = cur.rlim_max;
        if (rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
    }
    if (setrlimit(res, &rl) != 0) {
        snprintf(err, errlen, "setrlimit %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

int sb_rlimits_apply(const struct sandbox_profile *p, char *err, size_t errlen)
{
    const struct sb_limits *l = &p->lim;
    struct rlimit zero = {0, 0};
    if (setrlimit(RLIMIT_CORE, &zero) != 0) {
        snprintf(err, errlen, "setrlimit CORE: %s", strerror(errno));
        return -1;
    }
    /* CPU: SIGXCPU at the limit, SIGKILL one second later */
    if (set_one(RLIMIT_AS, l->address_space, false, "AS", err, errlen) < 0 ||
        set_one(RLIMIT_CPU, l->cpu_time_s, true, "CPU", err, errlen) < 0 ||
        set_one(RLIMIT_NOFILE, l->open_files, false, "NOFILE", err, errlen) < 0 ||
        set_one(RLIMIT_NPROC, l->processes, false, "NPROC", err, errlen) < 0 ||
        set_one(RLIMIT_FSIZE, l->file_size, false, "FSIZE", err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- cgroups --------------------------------------------------------------- */

static int write_str(const char *dir, const char *file, const char *val)
{
    char p[SB_PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(val);
    ssize_t w = write(fd, val, len);
    int e = errno;
    close(fd);
    errno = e;
    return w == (ssize_t)len ? 0 : -1;
}

static int read_str(const char *dir, const char *file, char *out, size_t outsz)
{
    char p[SB_PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, out, outsz - 1);
    close(fd);
    if (r < 0)
        return -1;
    out[r] = '\0';
    return 0;
}

static bool has_word(const char *list, const char *w)
{
    size_t l = strlen(w);
    for (const char *p = list; (p = strstr(p, w)) != NULL; p += l) {
        if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
            (p[l] == '\0' || p[l] == ' ' || p[l] == '\n'))
            return true;
    }
    return false;
}

/* True when a comma-separated option list holds opt. */
static bool has_opt(const char *list, const char *opt)
{
    size_t l = strlen(opt);
    for (const char *p = list; *p != '\0';) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == l && strncmp(p, opt, l) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

/* Finds the mount point of a cgroup hierarchy: v2 when controller is NULL,
 * else the v1 hierarchy carrying that controller. */
static int cg_mount(const char *controller, char *out, size_t outsz)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int rc = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char *sep = strstr(line, " - ");
        if (sep == NULL)
            continue;
        char fstype[32], source[256], super[1024] = "";
        if (sscanf(sep + 3, "%31s %255s %1023s", fstype, source, super) < 2)
            continue;
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 0; tok != NULL && i < 4; i++)
            tok = strtok_r(NULL, " ", &save);
        if (tok == NULL)
            continue;
        if (controller == NULL ? strcmp(fstype, "cgroup2") == 0
                               : (strcmp(fstype, "cgroup") == 0 && has_opt(super, controller))) {
            str_copy(out, tok, outsz);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Our own cgroup path in a hierarchy: "0::" for v2, or the v1 line whose
 * controller list holds `controller`. */
static int cg_self(const char *controller, char *out, size_t outsz)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[4096];
    int rc = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c1 = '\0';
        *c2 = '\0';
        bool match = controller == NULL ? (strcmp(line, "0") == 0 && c1[1] == '\0')
                                        : has_opt(c1 + 1, controller);
        if (match) {
            str_copy(out, c2 + 1, outsz);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void note_add(struct sb_cgroup *cg, const char *text)
{
    size_t l = strlen(cg->note);
    if (l > 0 && l < sizeof(cg->note) - 2) {
        cg->note[l++] = ';';
        cg->note[l++] = ' ';
        cg->note[l] = '\0';
    }
    str_copy(cg->note + l, text, sizeof(cg->note) - l);
}

/* The v2 directory under which a sandbox cgroup can be made, with the
 * controllers we need enabled; 0 and out filled, or -1. `enable` tries to
 * switch missing controllers on. */
static int cg2_parent(bool want_mem, bool want_pids, bool want_cpu, bool enable, char *out,
                      size_t outsz, char *why, size_t whylen)
{
    char mnt[SB_PATH_MAX], self[SB_PATH_MAX], sub[256];
    if (cg_mount(NULL, mnt, sizeof(mnt)) < 0) {
        snprintf(why, whylen, "no cgroup v2 hierarchy is mounted");
        return -1;
    }
    if (cg_self(NULL, self, sizeof(self)) < 0) {
        snprintf(why, whylen, "this process is not in a cgroup v2 hierarchy");
        return -1;
    }
    char *slash = strrchr(self, '/');
    if (slash != NULL && slash != self)
        *slash = '\0';          /* our parent: the sandbox becomes our sibling */
    else
        str_copy(self, "/", sizeof(self));
    if ((size_t)snprintf(out, outsz, "%s%s", mnt, strcmp(self, "/") == 0 ? "" : self) >= outsz) {
        snprintf(why, whylen, "cgroup path too long");
        return -1;
    }
    if (access(out, W_OK) != 0) {
        snprintf(why, whylen, "cgroup %.150s is not writable", self);
        return -1;
    }
    if (read_str(out, "cgroup.subtree_control", sub, sizeof(sub)) < 0) {
        snprintf(why, whylen, "cannot read %.150s/cgroup.subtree_control", self);
        return -1;
    }
    static const char *const names[] = {"memory", "pids", "cpu"};
    bool want[] = {want_mem, want_pids, want_cpu};
    bool any = false;
    for (size_t i = 0; i < 3; i++) {
        if (!want[i])
            continue;
        if (!has_word(sub, names[i]) && enable) {
            char v[16];
            snprintf(v, sizeof(v), "+%s", names[i]);
            write_str(out, "cgroup.subtree_control", v);
        }
    }
    if (enable && read_str(out, "cgroup.subtree_control", sub, sizeof(sub)) < 0)
        sub[0] = '\0';
    for (size_t i = 0; i < 3; i++)
        any = any || (want[i] && has_word(sub, names[i]));
    if (!any) {
        snprintf(why, whylen, "cgroup v2 at %.100s has none of the memory, pids, cpu controllers "
                              "enabled for its children",
                 self);
        return -1;
    }
    return 0;
}

static unsigned cg_counter;

static int cg_mkdir(const char *parent, char *out, size_t outsz)
{
    for (int tries = 0; tries < 8; tries++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((size_t)snprintf(out, outsz, "%s/mcpwall-sandbox-%d-%u-%ld", parent, (int)getpid(),
                             cg_counter++, (long)(ts.tv_nsec % 100000)) >= outsz)
            return -1;
        if (mkdir(out, 0755) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

void sb_cgroup_create(const struct sandbox_profile *p, struct sb_cgroup *cg)
{
    const struct sb_limits *l = &p->lim;
    bool want_mem = l->memory != SB_UNLIMITED, want_pids = l->processes != SB_UNLIMITED,
         want_cpu = l->cpu_permille != SB_UNLIMITED;
    char parent[SB_PATH_MAX], why[256] = "", v[64];
    memset(cg, 0, sizeof(*cg));
    if (!want_mem && !want_pids && !want_cpu)
        return;
    bool got_mem = false, got_pids = false;
    if (cg2_parent(want_mem, want_pids, want_cpu, true, parent, sizeof(parent), why,
                   sizeof(why)) == 0 &&
        cg_mkdir(parent, cg->path, sizeof(cg->path)) == 0) {
        if (want_mem) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory);
            got_mem = write_str(cg->path, "memory.max", v) == 0;
            write_str(cg->path, "memory.swap.max", "0");
        }
        if (want_pids) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->processes);
            got_pids = write_str(cg->path, "pids.max", v) == 0;
        }
        if (want_cpu) {
            snprintf(v, sizeof(v), "%llu 100000", (unsigned long long)l->cpu_permille * 100);
            if (write_str(cg->path, "cpu.max", v) != 0)
                note_add(cg, "CPU share not limited (no cpu controller)");
        }
        if (!got_mem && !got_pids && !want_cpu) {
            rmdir(cg->path);
            cg->path[0] = '\0';
        }
    } else {
        if (why[0] == '\0')
            snprintf(why, sizeof(why), "cannot create a cgroup v2 directory: %s",
                     strerror(errno));
        cg->path[0] = '\0';
        if (want_cpu)
            note_add(cg, "CPU share not limited (no writable cgroup v2)");
    }
    /* v1 fallback for what v2 could not give */
    char mnt[SB_PATH_MAX], self[SB_PATH_MAX], dir[SB_PATH_MAX];
    if (want_pids && !got_pids) {
        if (cg_mount("pids", mnt, sizeof(mnt)) == 0 && cg_self("pids", self, sizeof(self)) == 0 &&
            (size_t)snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(self, "/") ? self : "") <
                sizeof(dir) &&
            access(dir, W_OK) == 0 && cg_mkdir(dir, cg->v1_pids, sizeof(cg->v1_pids)) == 0) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->processes);
            if (write_str(cg->v1_pids, "pids.max", v) == 0) {
                got_pids = true;
            } else {
                rmdir(cg->v1_pids);
                cg->v1_pids[0] = '\0';
            }
        } else {
            cg->v1_pids[0] = '\0';
        }
        if (!got_pids) {
            note_add(cg, geteuid() == 0 ? "process count: only RLIMIT_NPROC, which the kernel "
                                          "does not apply to root (no writable pids cgroup: "
                                        : "process count: RLIMIT_NPROC only (no writable pids "
                                          "cgroup: ");
            str_copy(cg->note + strlen(cg->note), why, sizeof(cg->note) - strlen(cg->note));
            str_copy(cg->note + strlen(cg->note), ")", sizeof(cg->note) - strlen(cg->note));
        }
    }
    if (want_mem && !got_mem) {
        if (cg_mount("memory", mnt, sizeof(mnt)) == 0 &&
            cg_self("memory", self, sizeof(self)) == 0 &&
            (size_t)snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(self, "/") ? self : "") <
                sizeof(dir) &&
            access(dir, W_OK) == 0 && cg_mkdir(dir, cg->v1_mem, sizeof(cg->v1_mem)) == 0) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory);
            if (write_str(cg->v1_mem, "memory.limit_in_bytes", v) == 0) {
                got_mem = true;
                write_str(cg->v1_mem, "memory.memsw.limit_in_bytes", v);
            } else {
                rmdir(cg->v1_mem);
                cg->v1_mem[0] = '\0';
            }
        } else {
            cg->v1_mem[0] = '\0';
        }
        if (!got_mem)
            note_add(cg, "memory: address-space limit only (no writable memory cgroup)");
    }
}

int sb_cgroup_attach(const struct sb_cgroup *cg, pid_t pid)
{
    char v[32];
    int rc = 0;
    snprintf(v, sizeof(v), "%d", (int)pid);
    if (cg->path[0] != '\0' && write_str(cg->path, "cgroup.procs", v) != 0)
        rc = -1;
    if (cg->v1_pids[0] != '\0' && write_str(cg->v1_pids, "cgroup.procs", v) != 0)
        rc = -1;
    if (cg->v1_mem[0] != '\0' && write_str(cg->v1_mem, "cgroup.procs", v) != 0)
        rc = -1;
    return rc;
}

static long events_value(const char *dir, const char *file, const char *key)
{
    char buf[1024];
    if (dir[0] == '\0' || read_str(dir, file, buf, sizeof(buf)) < 0)
        return 0;
    size_t kl = strlen(key);
    for (char *p = buf; p != NULL && *p != '\0';) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            char *end;
            long v = strtol(p + kl + 1, &end, 10);
            return end != p + kl + 1 ? v : 0;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return 0;
}

int sb_cgroup_oom_killed(const struct sb_cgroup *cg)
{
    return events_value(cg->path, "memory.events", "oom_kill") > 0 ||
           events_value(cg->v1_mem, "memory.oom_control", "oom_kill") > 0;
}

long sb_cgroup_pids_max_hits(const struct sb_cgroup *cg)
{
    long n = events_value(cg->path, "pids.events", "max");
    return n > 0 ? n : events_value(cg->v1_pids, "pids.events", "max");
}

static void rmdir_retry(char *dir)
{
    if (dir[0] == '\0')
        return;
    /* the sandbox's processes are being killed with its pid namespace; give
     * them a moment to leave */
    for (int i = 0; i < 100 && rmdir(dir) != 0 && errno == EBUSY; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    dir[0] = '\0';
}

void sb_cgroup_destroy(struct sb_cgroup *cg)
{
    rmdir_retry(cg->path);
    rmdir_retry(cg->v1_pids);
    rmdir_retry(cg->v1_mem);
}

void sb_cgroup_describe(char *out, size_t outsz, bool *v2)
{
    char parent[SB_PATH_MAX], why[256], mnt[SB_PATH_MAX], self[SB_PATH_MAX], dir[SB_PATH_MAX];
    *v2 = cg_mount(NULL, mnt, sizeof(mnt)) == 0;
    if (cg2_parent(true, true, true, false, parent, sizeof(parent), why, sizeof(why)) == 0) {
        snprintf(out, outsz, "cgroup v2 limits available under %s", parent);
        return;
    }
    bool p1 = cg_mount("pids", mnt, sizeof(mnt)) == 0 && cg_self("pids", self, sizeof(self)) == 0 &&
              (size_t)snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(self, "/") ? self : "") <
                  sizeof(dir) &&
              access(dir, W_OK) == 0;
    bool m1 = cg_mount("memory", mnt, sizeof(mnt)) == 0 &&
              cg_self("memory", self, sizeof(self)) == 0 &&
              (size_t)snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(self, "/") ? self : "") <
                  sizeof(dir) &&
              access(dir, W_OK) == 0;
    if (p1 || m1)
        snprintf(out, outsz, "%s; cgroup v1 %s%s%s used instead", why, p1 ? "pids" : "",
                 p1 && m1 ? " and " : "", m1 ? "memory" : "");
    else
        snprintf(out, outsz, "no cgroup limits: %s (memory and process limits rely on rlimits%s)",
                 why, geteuid() == 0 ? ", and the process limit does not apply to root" : "");
}
