/* sandbox_int.h - internals shared by the files of src/sandbox/ (not for
 * other modules). The profile is what a config compiles to; the plan is what
 * one spawn derives from it in the caller, before any fork, so that the
 * processes that build the sandbox only make system calls on prepared data. */
#ifndef MCPWALL_SANDBOX_INT_H
#define MCPWALL_SANDBOX_INT_H

#include <linux/filter.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

#define SB_UNLIMITED UINT64_MAX
#define SB_MAX_PATHS 256   /* declared paths per profile */
#define SB_MAX_ALLOW 256   /* network allow-list entries */
#define SB_MAX_ENV 256     /* pass-list and set entries each */
#define SB_MAX_SYSCALLS 128 /* per-profile syscall additions */
#define SB_PATH_MAX 4096

enum sb_net { SB_NET_NONE = 0, SB_NET_LOOPBACK, SB_NET_ALLOW, SB_NET_HOST };
enum sb_access { SB_RO = 0, SB_RW, SB_OVERLAY };

struct sb_path {
    char *path;          /* absolute, or "~/..." */
    enum sb_access access;
    bool optional;       /* skipped when missing (shipped profiles) */
};

struct sb_dest {
    char *host;          /* as written (lower-cased name or literal) */
    uint16_t port;
    int family;          /* 0 for a host name, else AF_INET / AF_INET6 */
    unsigned char addr[16]; /* the literal address */
};

struct sb_limits {
    uint64_t address_space; /* RLIMIT_AS, bytes */
    uint64_t memory;        /* cgroup memory.max, bytes */
    uint64_t cpu_permille;  /* cgroup cpu.max: 1000 = one CPU */
    uint64_t cpu_time_s;    /* RLIMIT_CPU, seconds */
    uint64_t open_files;    /* RLIMIT_NOFILE */
    uint64_t processes;     /* RLIMIT_NPROC and cgroup pids.max */
    uint64_t file_size;     /* RLIMIT_FSIZE, bytes */
};

struct sandbox_profile {
    char *name;
    char *base;                /* shipped profile it derives from, or NULL */
    const char *summary;       /* shipped profiles: one line */
    bool builtin;              /* static storage: never freed or modified */
    struct sb_path *paths;
    size_t npaths;
    bool home_private;         /* writable private home instead of an empty read-only one */
    uint64_t tmp_size;
    enum sb_net net;
    struct sb_dest *allow;
    size_t nallow;
    bool allow_private;        /* host names may resolve to private/loopback addresses */
    char **env_pass;           /* names or globs */
    size_t nenv_pass;
    char **env_set;            /* "NAME=VALUE" */
    size_t nenv_set;
    struct sb_limits lim;
    int *sys_deny;             /* extra syscalls refused (native numbers) */
    size_t nsys_deny;
    int *sys_allow;            /* taken off the default list */
    size_t nsys_allow;
    bool landlock_required;
};

/* ---- profile.c ---- */
int sb_profile_add_path(struct sandbox_profile *p, const char *path, enum sb_access a,
                        bool optional);
int sb_parse_dest(const char *s, struct sb_dest *d, char *err, size_t errlen);
void sb_dest_free(struct sb_dest *d);

/* ---- seccomp.c ---- */
/* The default deny list: syscall names and why (for explain). */
struct sb_sysrule {
    const char *name;
    const char *why;
};
extern const struct sb_sysrule sb_default_deny[];
/* Builds the BPF program for p: deny-listed syscalls get SECCOMP_RET_USER_NOTIF
 * when `notify` (the supervisor answers EPERM and logs) or EPERM directly.
 * Returns a malloc'd filter (free prog->filter) or -1 with a message. */
int sb_seccomp_build(const struct sandbox_profile *p, bool notify, struct sock_fprog *prog,
                     char *err, size_t errlen);
bool sb_seccomp_notify_available(void);
/* Name of a syscall number on this architecture (static buffer for unknowns). */
const char *sb_syscall_name(int nr);

/* ---- landlock.c ---- */
int sb_landlock_abi(void);

/* ---- plan.c: everything one spawn needs, computed before forking ---- */
enum sb_mount_kind {
    SB_M_BIND_RO = 0, /* recursive bind, read-only, nosuid, nodev */
    SB_M_BIND_RW,     /* recursive bind, nosuid, nodev */
    SB_M_OVERLAY,     /* overlay: the source read-only below a private tmpfs */
    SB_M_TMPFS,       /* private tmpfs (size in `size`) */
    SB_M_DIR,         /* an empty directory on the root tmpfs (read-only at the end) */
    SB_M_SYMLINK,     /* a symbolic link to `src` */
    SB_M_FILE,        /* a file on the root tmpfs with contents `data` */
    SB_M_PROC,        /* a new /proc with its dangerous parts read-only */
    SB_M_DEV,         /* a minimal /dev */
};

struct sb_mount {
    enum sb_mount_kind kind;
    char *dst;           /* absolute path inside the sandbox */
    char *src;           /* host path (binds, overlay), link target (symlink) */
    bool src_is_dir;
    uint64_t size;       /* tmpfs bytes */
    char *data;          /* SB_M_FILE contents */
    size_t datalen;
};

struct sb_listen {
    int family;              /* AF_INET / AF_INET6 */
    unsigned char addr[16];  /* address inside the sandbox */
    uint16_t port;
    size_t dest;             /* index into profile->allow */
    bool add_to_lo;          /* address must be added to lo */
};

struct sb_plan {
    const struct sandbox_profile *prof;
    const char *label;
    uid_t uid;
    gid_t gid;
    char *home;               /* inside == outside path */
    char *user;
    struct sb_mount *mounts;  /* sorted by dst, parents first */
    size_t nmounts;
    char **argv;              /* borrowed from the caller */
    char *exec_path;          /* what to execute (argv[0] resolved), or NULL: search PATH */
    char **envp;              /* final environment (owned) */
    size_t nenvp;
    char *cwd;                /* inside the sandbox; NULL = home */
    bool cwd_strict;          /* caller named it: failing to enter it is an error */
    struct sb_listen *listens;
    size_t nlistens;
    struct sock_fprog bpf;
    bool bpf_notify;
    int landlock_abi;
    bool events;
    int event_fd;
};

int sb_plan_build(struct sb_plan *pl, const struct sandbox_profile *p, char *const argv[],
                  char *const envp[], const char *cwd, char *err, size_t errlen);
void sb_plan_free(struct sb_plan *pl);
/* Expands "~/" with home into out; -1 when too long. */
int sb_expand_home(const char *path, const char *home, char *out, size_t outsz);

/* ---- rootfs.c (runs in the sandbox's init, before pivoting) ---- */
int sb_rootfs_build(const struct sb_plan *pl, char *err, size_t errlen);

/* ---- landlock.c (runs in the sandbox's init, after pivoting) ---- */
/* Applies the rules; returns 0, or -1 with err filled. *note receives what
 * the kernel could not provide (empty when everything applied). */
int sb_landlock_apply(const struct sb_plan *pl, char *note, size_t notelen, char *err,
                      size_t errlen);

/* ---- netns.c (runs in the sandbox's init, in its new network namespace) ---- */
/* Brings lo up (unless the network is "none"), adds the addresses the
 * allow-list needs and opens one listening socket per entry; fds[i] receives
 * the socket of pl->listens[i]. */
int sb_netns_setup(const struct sb_plan *pl, int *fds, char *err, size_t errlen);

/* ---- proxy.c (runs in the supervisor, outside) ---- */
struct sb_proxy;
struct sb_proxy *sb_proxy_new(const struct sb_plan *pl, const int *fds, size_t nfds);
/* pollfd slots the proxy wants; fills up to max entries, returns the count. */
size_t sb_proxy_pollfds(struct sb_proxy *px, struct pollfd *pfd, size_t max);
/* Handles readiness for the slots it filled (same order). */
void sb_proxy_handle(struct sb_proxy *px, const struct pollfd *pfd, size_t n);
void sb_proxy_free(struct sb_proxy *px);

/* ---- limits.c ---- */
/* Sets the rlimits of the profile on the calling process; -1 with err. */
int sb_rlimits_apply(const struct sandbox_profile *p, char *err, size_t errlen);
struct sb_cgroup {
    char path[SB_PATH_MAX];   /* v2 cgroup directory, empty when none */
    char v1_pids[SB_PATH_MAX];
    char v1_mem[SB_PATH_MAX];
    char note[256];           /* what could not be applied */
};
/* Creates a cgroup for one sandbox and writes its limits (best effort). */
void sb_cgroup_create(const struct sandbox_profile *p, struct sb_cgroup *cg);
int sb_cgroup_attach(const struct sb_cgroup *cg, pid_t pid);
/* Reads why the sandbox may have been stopped (oom kills); 1 when the memory
 * limit killed something. */
int sb_cgroup_oom_killed(const struct sb_cgroup *cg);
/* How many forks the pids limit refused (0 when unknown). */
long sb_cgroup_pids_max_hits(const struct sb_cgroup *cg);
void sb_cgroup_destroy(struct sb_cgroup *cg);
/* For sandbox_probe(): what a spawn could use, in words; *v2 when a v2
 * hierarchy is mounted. Creates nothing. */
void sb_cgroup_describe(char *out, size_t outsz, bool *v2);

/* ---- events (spawn.c) ---- */
/* Logs a violation and, when asked, writes it to the event fd. */
void sb_event(const struct sb_plan *pl, const char *rule, const char *what, const char *detail);

#endif
