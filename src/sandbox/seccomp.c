/* seccomp.c - the sandbox's seccomp-bpf filter.
 *
 * Default allow, with a deny list of system calls a server has no business
 * making (the kernel's attack surface and the ways out of a sandbox). Denied
 * calls fail with EPERM, never with a kill. When the kernel supports user
 * notification, denied calls are routed to the supervisor outside the sandbox,
 * which logs them and answers EPERM: the decision itself is taken by the BPF
 * program on register values only (syscall number and integer arguments), so
 * nothing can be raced by another thread rewriting memory. Pointer arguments
 * are never inspected.
 *
 * The filter is built with libseccomp in the caller and exported as raw BPF,
 * so the processes that set up the sandbox only have to load it.
 */
#include <errno.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/str.h"

const struct sb_sysrule sb_default_deny[] = {
    {"ptrace", "inspect or control other processes"},
    {"process_vm_readv", "read another process's memory"},
    {"process_vm_writev", "write another process's memory"},
    {"pidfd_getfd", "take another process's file descriptors"},
    {"kcmp", "compare other processes' kernel objects"},
    {"mount", "change the file system view"},
    {"umount2", "change the file system view"},
    {"pivot_root", "change the file system view"},
    {"chroot", "change the file system view"},
    {"move_mount", "change the file system view"},
    {"open_tree", "change the file system view"},
    {"fsopen", "change the file system view"},
    {"fsconfig", "change the file system view"},
    {"fsmount", "change the file system view"},
    {"fspick", "change the file system view"},
    {"mount_setattr", "change the file system view"},
    {"unshare", "create namespaces inside the sandbox"},
    {"setns", "enter other namespaces"},
    {"kexec_load", "replace the running kernel"},
    {"kexec_file_load", "replace the running kernel"},
    {"reboot", "reboot"},
    {"init_module", "load kernel modules"},
    {"finit_module", "load kernel modules"},
    {"delete_module", "unload kernel modules"},
    {"bpf", "load eBPF programs (kernel attack surface)"},
    {"perf_event_open", "performance counters (kernel attack surface, side channels)"},
    {"userfaultfd", "user page-fault handling (a classic exploit primitive)"},
    {"keyctl", "the kernel keyring (shared secrets)"},
    {"add_key", "the kernel keyring"},
    {"request_key", "the kernel keyring"},
    {"io_uring_setup", "io_uring (bypasses this filter for its operations; answered ENOSYS)"},
    {"io_uring_enter", "io_uring"},
    {"io_uring_register", "io_uring"},
    {"open_by_handle_at", "open files by handle, around the mount view"},
    {"name_to_handle_at", "file handles"},
    {"swapon", "swap"},
    {"swapoff", "swap"},
    {"acct", "process accounting"},
    {"quotactl", "disk quotas"},
    {"quotactl_fd", "disk quotas"},
    {"iopl", "raw I/O ports"},
    {"ioperm", "raw I/O ports"},
    {"syslog", "the kernel log"},
    {"vhangup", "terminals"},
    {"settimeofday", "the system clock"},
    {"clock_settime", "the system clock"},
    {"clock_adjtime", "the system clock"},
    {"adjtimex", "the system clock"},
    {"sethostname", "host name"},
    {"setdomainname", "domain name"},
    {"lookup_dcookie", "kernel profiling"},
    {"uselib", "obsolete library loading"},
    {"fanotify_init", "watch the whole file system"},
    {"nfsservctl", "obsolete NFS control"},
    {"clone3", "(answered ENOSYS so that the C library falls back to clone, whose flags the "
               "filter can see)"},
    {NULL, NULL},
};

static const char *const clone_ns_names[] = {"CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC",
                                             "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET",
                                             "CLONE_NEWCGROUP"};
static const unsigned long clone_ns_flags[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC,
                                               CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                               CLONE_NEWCGROUP};

const char *sb_syscall_name(int nr)
{
    static __thread char buf[64];
    char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (n == NULL) {
        snprintf(buf, sizeof(buf), "syscall %d", nr);
        return buf;
    }
    str_copy(buf, n, sizeof(buf));
    free(n);
    return buf;
}

bool sb_seccomp_notify_available(void)
{
    unsigned int action = SECCOMP_RET_USER_NOTIF;
    if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0)
        return false;
    return seccomp_api_get() >= 5;
}

static bool allowed_by_profile(const struct sandbox_profile *p, int nr)
{
    for (size_t i = 0; i < p->nsys_allow; i++) {
        if (p->sys_allow[i] == nr)
            return true;
    }
    return false;
}

int sb_seccomp_build(const struct sandbox_profile *p, bool notify, struct sock_fprog *prog,
                     char *err, size_t errlen)
{
    uint32_t deny = notify ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(EPERM);
    int rc = -1, memfd = -1;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    memset(prog, 0, sizeof(*prog));
    if (ctx == NULL) {
        snprintf(err, errlen, "seccomp: cannot create a filter");
        return -1;
    }
    /* Other ABIs (i386 through int 0x80, x32) are refused outright rather than
     * filtered: their system call numbers differ. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS)) != 0 ||
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0) {
        snprintf(err, errlen, "seccomp: cannot set filter attributes");
        goto out;
    }
    /* a binary tree over syscall numbers instead of a linear chain: every
     * allowed call (read, write, ...) pays O(log n) comparisons, not n */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (const struct sb_sysrule *r = sb_default_deny; r->name != NULL; r++) {
        int nr = seccomp_syscall_resolve_name(r->name);
        if (nr == __NR_SCMP_ERROR || nr < 0 || allowed_by_profile(p, nr))
            continue;
        /* answered ENOSYS without a log line: the C library falls back from
         * clone3 to clone, and runtimes (libuv) probe io_uring at every start */
        bool quiet = strcmp(r->name, "clone3") == 0 || str_has_prefix(r->name, "io_uring");
        uint32_t act = quiet ? SCMP_ACT_ERRNO(ENOSYS) : deny;
        if (seccomp_rule_add(ctx, act, nr, 0) != 0) {
            snprintf(err, errlen, "seccomp: cannot add a rule for %s", r->name);
            goto out;
        }
    }
    for (size_t i = 0; i < p->nsys_deny; i++) {
        int nr = p->sys_deny[i];
        /* a profile may name a call that is already on the list */
        int r2 = seccomp_rule_add(ctx, deny, nr, 0);
        if (r2 != 0 && r2 != -EEXIST) {
            snprintf(err, errlen, "seccomp: cannot add a rule for %s", sb_syscall_name(nr));
            goto out;
        }
    }
    if (!allowed_by_profile(p, SCMP_SYS(unshare))) {
        /* new namespaces through clone(): the flags are a register argument */
        for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
            if (seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                                 SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i],
                                         clone_ns_flags[i])) != 0) {
                snprintf(err, errlen, "seccomp: cannot add the clone rule for %s",
                         clone_ns_names[i]);
                goto out;
            }
        }
    }
    /* raw IP sockets and packet sockets (netlink sockets are SOCK_RAW too and
     * stay allowed: route netlink only sees the sandbox's own interfaces) */
    static const int ipfam[] = {AF_INET, AF_INET6};
    static const int rawtypes[] = {SOCK_RAW, SOCK_PACKET};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++) {
            if (seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 2,
                                 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ipfam[i]),
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)rawtypes[j])) !=
                0) {
                snprintf(err, errlen, "seccomp: cannot add the socket rules");
                goto out;
            }
        }
    }
    if (seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET)) != 0) {
        snprintf(err, errlen, "seccomp: cannot add the socket rules");
        goto out;
    }
    /* pushing keystrokes into a terminal; the kernel reads the command as 32
     * bits, so compare only those */
    if (seccomp_rule_add(ctx, deny, SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI)) != 0 ||
        seccomp_rule_add(ctx, deny, SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX)) != 0) {
        snprintf(err, errlen, "seccomp: cannot add the ioctl rules");
        goto out;
    }

    memfd = (int)syscall(SYS_memfd_create, "mcpwall-bpf", MFD_CLOEXEC);
    if (memfd < 0) {
        snprintf(err, errlen, "seccomp: memfd_create: %s", strerror(errno));
        goto out;
    }
    if (seccomp_export_bpf(ctx, memfd) != 0) {
        snprintf(err, errlen, "seccomp: cannot export the filter");
        goto out;
    }
    off_t size = lseek(memfd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter))) {
        snprintf(err, errlen, "seccomp: exported filter has an unexpected size");
        goto out;
    }
    struct sock_filter *f = malloc((size_t)size);
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (pread(memfd, f, (size_t)size, 0) != size) {
        free(f);
        snprintf(err, errlen, "seccomp: cannot read the exported filter");
        goto out;
    }
    prog->filter = f;
    prog->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
    rc = 0;
out:
    if (memfd >= 0)
        close(memfd);
    seccomp_release(ctx);
    return rc;
}
