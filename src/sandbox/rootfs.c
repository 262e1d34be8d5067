/* rootfs.c - builds the sandbox's file system in its own mount namespace.
 *
 * The sequence follows bubblewrap's: a scratch tmpfs becomes the root with
 * the host's root moved below it at /oldroot, so every host path can be
 * bound from /oldroot/<path> even when a sandbox tmpfs (/tmp) covers the same
 * place; the new root is a second tmpfs at /newroot, filled with binds,
 * tmpfs, /proc, /dev and generated files; then /newroot becomes the root,
 * the host's root is detached, and the root tmpfs is made read-only.
 * Every bind is nosuid and nodev; read-only binds are read-only recursively
 * (mount_setattr, Linux 5.12+; older kernels get the top mount only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/str.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif

struct sb_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};
#define SB_MOUNT_ATTR_RDONLY 0x1
#define SB_MOUNT_ATTR_NOSUID 0x2
#define SB_MOUNT_ATTR_NODEV 0x4
#define SB_MOUNT_ATTR_NOEXEC 0x8
#define SB_AT_RECURSIVE 0x8000

#define BASE "/tmp"

static int fail(char *err, size_t errlen, const char *what, const char *path)
{
    int e = errno;
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
    errno = e;
    return -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[SB_PATH_MAX + 16];
    if (str_copy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int mkparent(const char *path)
{
    char tmp[SB_PATH_MAX + 16];
    str_copy(tmp, path, sizeof(tmp));
    char *s = strrchr(tmp, '/');
    if (s == NULL || s == tmp)
        return 0;
    *s = '\0';
    return mkdir_p(tmp, 0755);
}

/* Creates the mount point for a bind: a directory or an empty file. */
static int mountpoint(const char *dst, bool dir)
{
    if (dir)
        return mkdir_p(dst, 0755);
    if (mkparent(dst) != 0)
        return -1;
    struct stat st;
    if (stat(dst, &st) == 0)
        return 0;
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* Flags a remount must keep because the kernel locks them on mounts that
 * came from a more privileged namespace. */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) != 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    if (sv.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    return f;
}

static int set_flags(const char *dst, bool ro, bool nodev)
{
    struct sb_mount_attr a = {.attr_set = SB_MOUNT_ATTR_NOSUID};
    if (ro)
        a.attr_set |= SB_MOUNT_ATTR_RDONLY;
    if (nodev)
        a.attr_set |= SB_MOUNT_ATTR_NODEV;
    if (syscall(SYS_mount_setattr, AT_FDCWD, dst, SB_AT_RECURSIVE, &a, sizeof(a)) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
    unsigned long f = MS_REMOUNT | MS_BIND | MS_NOSUID | locked_flags(dst);
    if (ro)
        f |= MS_RDONLY;
    if (nodev)
        f |= MS_NODEV;
    return mount(NULL, dst, NULL, f, NULL);
}

static int bind(const char *src, const char *dst, bool dir, bool ro, bool nodev, char *err,
                size_t errlen)
{
    if (mountpoint(dst, dir) != 0)
        return fail(err, errlen, "cannot create the mount point", dst + strlen("/newroot"));
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
        return fail(err, errlen, "cannot bind", src + strlen("/oldroot"));
    if (set_flags(dst, ro, nodev) != 0)
        return fail(err, errlen, ro ? "cannot make read-only" : "cannot set nosuid on",
                    dst + strlen("/newroot"));
    return 0;
}

static int tmpfs(const char *dst, const char *mode, uint64_t size, char *err, size_t errlen)
{
    char opts[96];
    snprintf(opts, sizeof(opts), "mode=%s,size=%llu", mode, (unsigned long long)size);
    if (mkdir_p(dst, 0755) != 0)
        return fail(err, errlen, "cannot create", dst + strlen("/newroot"));
    if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        return fail(err, errlen, "cannot mount a tmpfs on", dst + strlen("/newroot"));
    return 0;
}

static int overlay(const struct sb_mount *m, const char *src, const char *dst, size_t idx,
                   uint64_t size, char *err, size_t errlen)
{
    char dir[64], up[80], work[80], opts[SB_PATH_MAX + 256], topts[64];
    snprintf(dir, sizeof(dir), "/ovl/%zu", idx);
    snprintf(topts, sizeof(topts), "mode=0755,size=%llu", (unsigned long long)size);
    snprintf(up, sizeof(up), "%s/upper", dir);
    snprintf(work, sizeof(work), "%s/work", dir);
    if (mkdir_p(dir, 0755) != 0 ||
        mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, topts) != 0 ||
        mkdir(up, 0755) != 0 || mkdir(work, 0755) != 0)
        return fail(err, errlen, "cannot prepare the overlay for", m->dst);
    int w = snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", src, up,
                     work);
    if (w < 0 || (size_t)w >= sizeof(opts)) {
        errno = ENAMETOOLONG;
        return fail(err, errlen, "overlay path too long:", m->dst);
    }
    if (mkdir_p(dst, 0755) != 0)
        return fail(err, errlen, "cannot create the mount point", m->dst);
    if (mount("overlay", dst, "overlay", MS_NOSUID | MS_NODEV, opts) != 0) {
        /* older kernels (< 5.11) or lower layers overlayfs refuses: read-only instead */
        return bind(src, dst, true, true, true, err, errlen);
    }
    /* the upper tmpfs stays referenced by the overlay after /ovl is detached */
    return 0;
}

static int proc(const char *dst, char *err, size_t errlen)
{
    if (mkdir_p(dst, 0555) != 0)
        return fail(err, errlen, "cannot create", "/proc");
    if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return fail(err, errlen, "cannot mount", "/proc (is the host's /proc partly hidden?)");
    /* the parts of /proc that write to the kernel, read-only */
    static const char *const ro[] = {"sys", "sysrq-trigger", "irq", "bus", "fs", NULL};
    for (const char *const *r = ro; *r != NULL; r++) {
        char p[SB_PATH_MAX + 64];
        snprintf(p, sizeof(p), "%s/%s", dst, *r);
        if (access(p, F_OK) != 0)
            continue;
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) != 0 || set_flags(p, true, true) != 0)
            return fail(err, errlen, "cannot make read-only", p + strlen("/newroot"));
    }
    return 0;
}

static int dev(const char *dst, uint64_t shm_size, char *err, size_t errlen)
{
    if (mkdir_p(dst, 0755) != 0 ||
        mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536") != 0)
        return fail(err, errlen, "cannot mount", "/dev");
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", NULL};
    for (const char *const *n = nodes; *n != NULL; n++) {
        char s[64], d[SB_PATH_MAX + 64];
        snprintf(s, sizeof(s), "/oldroot/dev/%s", *n);
        snprintf(d, sizeof(d), "%s/%s", dst, *n);
        if (mountpoint(d, false) != 0 || mount(s, d, NULL, MS_BIND, NULL) != 0)
            return fail(err, errlen, "cannot bind", s + strlen("/oldroot"));
        if (set_flags(d, false, false) != 0)
            return fail(err, errlen, "cannot set nosuid on", s + strlen("/oldroot"));
    }
    static const char *const links[][2] = {{"fd", "/proc/self/fd"},
                                           {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"},
                                           {"stderr", "/proc/self/fd/2"}};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        char d[SB_PATH_MAX + 64];
        snprintf(d, sizeof(d), "%s/%s", dst, links[i][0]);
        if (symlink(links[i][1], d) != 0)
            return fail(err, errlen, "cannot create", d + strlen("/newroot"));
    }
    char shm[SB_PATH_MAX + 64];
    snprintf(shm, sizeof(shm), "%s/shm", dst);
    return tmpfs(shm, "1777", shm_size, err, errlen);
}

static int write_file(const char *dst, const char *data, size_t len, char *err, size_t errlen)
{
    if (mkparent(dst) != 0)
        return fail(err, errlen, "cannot create the directory of", dst + strlen("/newroot"));
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return fail(err, errlen, "cannot create", dst + strlen("/newroot"));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return fail(err, errlen, "cannot write", dst + strlen("/newroot"));
        }
        off += (size_t)w;
    }
    close(fd);
    return 0;
}

int sb_rootfs_build(const struct sb_plan *pl, char *err, size_t errlen)
{
    const struct sandbox_profile *p = pl->prof;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return fail(err, errlen, "cannot make the mounts private:", "/");
    if (mount("tmpfs", BASE, "tmpfs", MS_NODEV | MS_NOSUID, "mode=0755,size=1048576") != 0)
        return fail(err, errlen, "cannot mount the scratch tmpfs on", BASE);
    if (chdir(BASE) != 0 || mkdir("newroot", 0755) != 0 || mkdir("oldroot", 0755) != 0)
        return fail(err, errlen, "cannot prepare", BASE);
    if (mount("tmpfs", "newroot", "tmpfs", MS_NODEV | MS_NOSUID, "mode=0755,size=16777216") != 0)
        return fail(err, errlen, "cannot mount the root tmpfs", "");
    if (syscall(SYS_pivot_root, BASE, "oldroot") != 0)
        return fail(err, errlen, "pivot_root", "(first)");
    if (chdir("/") != 0)
        return fail(err, errlen, "chdir", "/");

    for (size_t i = 0; i < pl->nmounts; i++) {
        const struct sb_mount *m = &pl->mounts[i];
        char dst[SB_PATH_MAX + 16], src[SB_PATH_MAX + 16];
        snprintf(dst, sizeof(dst), "/newroot%s", m->dst);
        if (m->src != NULL)
            snprintf(src, sizeof(src), "/oldroot%s", m->src);
        int rc = 0;
        switch (m->kind) {
        case SB_M_BIND_RO:
            rc = bind(src, dst, m->src_is_dir, true, true, err, errlen);
            break;
        case SB_M_BIND_RW:
            rc = bind(src, dst, m->src_is_dir, false, true, err, errlen);
            break;
        case SB_M_OVERLAY:
            rc = overlay(m, src, dst, i, p->tmp_size, err, errlen);
            break;
        case SB_M_TMPFS:
            rc = tmpfs(dst, strcmp(m->dst, "/tmp") == 0 ? "1777" : "0700", m->size, err, errlen);
            break;
        case SB_M_DIR:
            rc = mkdir_p(dst, 0700) == 0 ? 0 : fail(err, errlen, "cannot create", m->dst);
            break;
        case SB_M_SYMLINK:
            if (mkparent(dst) != 0 || (symlink(m->src, dst) != 0 && errno != EEXIST))
                rc = fail(err, errlen, "cannot create the symbolic link", m->dst);
            break;
        case SB_M_FILE:
            rc = write_file(dst, m->data, m->datalen, err, errlen);
            break;
        case SB_M_PROC:
            rc = proc(dst, err, errlen);
            break;
        case SB_M_DEV:
            rc = dev(dst, p->tmp_size, err, errlen);
            break;
        }
        if (rc != 0)
            return -1;
    }

    /* leave the host's root behind */
    if (mount("oldroot", "oldroot", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        umount2("oldroot", MNT_DETACH) != 0)
        return fail(err, errlen, "cannot detach", "the host's root");
    int oldfd = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldfd < 0 || chdir("/newroot") != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
        fchdir(oldfd) != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) {
        if (oldfd >= 0)
            close(oldfd);
        return fail(err, errlen, "pivot_root", "(second)");
    }
    close(oldfd);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        return fail(err, errlen, "cannot make read-only", "/");
    return 0;
}
