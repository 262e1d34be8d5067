/* landlock.c - Landlock rules on top of the mount namespace.
 *
 * Raw system calls with our own copies of the UAPI structures, so that a
 * build on older headers still uses what a newer kernel offers. The ABI is
 * read at run time and only the rights it knows are requested:
 *   1 file system access rights      2 + REFER (rename/link across dirs)
 *   3 + TRUNCATE                     4 + TCP bind/connect port rules
 *   5 + IOCTL_DEV                    6 + scoping of abstract unix sockets and signals
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/str.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct sb_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct sb_ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct sb_ll_net_port {
    uint64_t allowed_access;
    uint64_t port;
};

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)
#define LL_FS_TRUNCATE (1ull << 14)
#define LL_FS_IOCTL_DEV (1ull << 15)

#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)

#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)

int sb_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static uint64_t fs_all(int abi)
{
    uint64_t a = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2)
        a |= LL_FS_REFER;
    if (abi >= 3)
        a |= LL_FS_TRUNCATE;
    if (abi >= 5)
        a |= LL_FS_IOCTL_DEV;
    return a;
}

#define LL_READ (LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE)
#define LL_FILE_ONLY (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

static int add_path_rule(int rs, const char *path, uint64_t access, uint64_t handled,
                         char *err, size_t errlen)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* e.g. an optional path that was skipped */
        snprintf(err, errlen, "landlock: open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= LL_FILE_ONLY;
    struct sb_ll_path_beneath pb = {.allowed_access = access & handled, .parent_fd = fd};
    int rc = 0;
    if (pb.allowed_access != 0 &&
        syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0) != 0) {
        snprintf(err, errlen, "landlock: rule for %s: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

static int add_port_rule(int rs, uint16_t port, uint64_t access, char *err, size_t errlen)
{
    struct sb_ll_net_port np = {.allowed_access = access, .port = port};
    if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) != 0) {
        snprintf(err, errlen, "landlock: rule for port %u: %s", port, strerror(errno));
        return -1;
    }
    return 0;
}

static void note_add(char *note, size_t notelen, const char *what)
{
    size_t l = strlen(note);
    snprintf(note + l, notelen - l, "%s%s", l ? "; " : "", what);
}

int sb_landlock_apply(const struct sb_plan *pl, char *note, size_t notelen, char *err,
                      size_t errlen)
{
    const struct sandbox_profile *p = pl->prof;
    int abi = pl->landlock_abi;
    note[0] = '\0';
    if (abi <= 0) {
        if (p->landlock_required) {
            snprintf(err, errlen,
                     "landlock: the profile requires Landlock and this kernel does not offer it");
            return -1;
        }
        note_add(note, notelen, "Landlock unavailable: files are confined by the mount "
                                "namespace only");
        return 0;
    }
    if (abi < 2)
        note_add(note, notelen, "Landlock ABI 1: files cannot be moved between directories");
    if (abi < 3)
        note_add(note, notelen, "Landlock ABI < 3: truncation is not restricted");
    if (abi < 4 && (p->net == SB_NET_ALLOW || p->net == SB_NET_NONE))
        note_add(note, notelen, "Landlock ABI < 4: no TCP port rules (the network namespace "
                                "still confines)");
    if (abi < 6 && p->net == SB_NET_HOST)
        note_add(note, notelen, "Landlock ABI < 6: abstract unix sockets of the host are "
                                "reachable");

    struct sb_ll_ruleset_attr attr = {.handled_access_fs = fs_all(abi)};
    size_t attr_size = sizeof(uint64_t);
    if (abi >= 4) {
        attr_size = 2 * sizeof(uint64_t);
        if (p->net == SB_NET_NONE)
            attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        else if (p->net == SB_NET_ALLOW)
            attr.handled_access_net = LL_NET_CONNECT_TCP;
    }
    if (abi >= 6) {
        attr_size = sizeof(attr);
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) {
        snprintf(err, errlen, "landlock: create ruleset: %s", strerror(errno));
        return -1;
    }
    uint64_t all = attr.handled_access_fs;
    int rc = -1;
    /* listing directories anywhere in the sandbox is harmless: everything
     * visible was declared */
    if (add_path_rule(rs, "/", LL_FS_READ_DIR, all, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < pl->nmounts; i++) {
        const struct sb_mount *m = &pl->mounts[i];
        uint64_t a = 0;
        switch (m->kind) {
        case SB_M_BIND_RO:
        case SB_M_FILE:
            a = LL_READ;
            break;
        case SB_M_DIR:
            a = LL_FS_READ_DIR;
            break;
        case SB_M_BIND_RW:
        case SB_M_OVERLAY:
        case SB_M_TMPFS:
            a = all & ~LL_FS_IOCTL_DEV;
            break;
        case SB_M_PROC:
            a = LL_FS_READ_FILE | LL_FS_READ_DIR;
            break;
        case SB_M_DEV: {
            static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full",
                                               "/dev/random", "/dev/urandom", NULL};
            for (const char *const *d = devs; *d != NULL; d++) {
                if (add_path_rule(rs, *d,
                                  LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_TRUNCATE |
                                      LL_FS_IOCTL_DEV,
                                  all, err, errlen) < 0)
                    goto out;
            }
            if (add_path_rule(rs, "/dev/shm", all & ~LL_FS_IOCTL_DEV, all, err, errlen) < 0)
                goto out;
            continue;
        }
        case SB_M_SYMLINK:
            continue;
        }
        if (add_path_rule(rs, m->dst, a, all, err, errlen) < 0)
            goto out;
    }
    if (abi >= 4 && p->net == SB_NET_ALLOW) {
        for (size_t i = 0; i < p->nallow; i++) {
            if (add_port_rule(rs, p->allow[i].port, LL_NET_CONNECT_TCP, err, errlen) < 0)
                goto out;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
        goto out;
    }
    if (syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
        snprintf(err, errlen, "landlock: restrict_self: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(rs);
    return rc;
}
