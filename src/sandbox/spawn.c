/* spawn.c - starting a server in the sandbox.
 *
 *   caller ──fork──> supervisor ──fork──> init (pid 1) ──fork──> server (pid 2)
 *
 * The caller computes the plan (plan.c), forks the supervisor and waits on a
 * close-on-exec pipe until the server has been exec'd (EOF) or a step failed
 * (a message). The supervisor creates the cgroup, enters a new user
 * namespace (mapping only the caller's own uid and gid) and a new pid
 * namespace for its children; it stays outside everything else: it relays
 * the network allow-list, answers the seccomp notifications (logging each
 * denial), forwards signals, and mirrors the server's exit status. The init
 * is pid 1 of the sandbox: it makes the remaining namespaces (mount, ipc,
 * uts, cgroup, and network unless the profile says host), builds the root
 * file system, applies Landlock, drops every capability, sets no_new_privs,
 * becomes non-dumpable (its memory is a copy of the caller's), loads the
 * seccomp filter and forks the server, which applies the rlimits and execs.
 * When the server exits the init exits, and the kernel kills whatever is left
 * in the pid namespace. The init dies with the supervisor (PDEATHSIG), the
 * supervisor with the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/log.h"
#include "util/str.h"

#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif

extern char **environ;

enum sb_msg_type { MSG_GO = 1, MSG_LISTEN, MSG_NOTIFY, MSG_NOTE, MSG_STATUS };

struct sb_msg {
    int type;
    int value;
    char text[480];
};

/* ---- small helpers ------------------------------------------------------- */

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* Reports a failed step to the caller and exits. */
static noreturn void die_to(int errw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static noreturn void die_to(int errw, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n > 0)
        write_all(errw, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    _exit(127);
}

static int msg_send(int sock, int type, int value, const char *text, const int *fds, size_t nfds)
{
    struct sb_msg m = {.type = type, .value = value};
    if (text != NULL)
        str_copy(m.text, text, sizeof(m.text));
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 64)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        if (nfds > 64)
            return -1;
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof(m) ? 0 : -1;
}

/* Receives one message; returns 1, 0 at EOF, -1 on error. Received fds are
 * stored in fds (up to *nfds, which is updated); extra ones are closed. */
static int msg_recv(int sock, struct sb_msg *m, int *fds, size_t *nfds)
{
    struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 64)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf)};
    size_t max = nfds ? *nfds : 0;
    if (nfds)
        *nfds = 0;
    ssize_t r;
    do
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r != (ssize_t)sizeof(*m))
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *in = (int *)(void *)CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            if (nfds != NULL && *nfds < max)
                fds[(*nfds)++] = in[i];
            else
                close(in[i]);
        }
    }
    m->text[sizeof(m->text) - 1] = '\0';
    return 1;
}

/* Closes every descriptor except those in keep (all >= 3). */
static void close_others(const int *keep, size_t nkeep)
{
    int sorted[16];
    size_t n = 0;
    for (size_t i = 0; i < nkeep && n < 16; i++) {
        if (keep[i] >= 3)
            sorted[n++] = keep[i];
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    }
    unsigned lo = 3;
    for (size_t i = 0; i <= n; i++) {
        unsigned hi = i < n ? (unsigned)sorted[i] : ~0u;
        if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) != 0) {
            long max = sysconf(_SC_OPEN_MAX);
            unsigned top = max > 0 && max < 65536 ? (unsigned)max : 65536;
            for (unsigned fd = lo; fd < hi && fd < top; fd++)
                close((int)fd);
        }
        if (i < n)
            lo = (unsigned)sorted[i] + 1;
    }
}

/* Moves fd to a number >= 10 with close-on-exec; -1 stays -1. */
static int lift(int fd)
{
    if (fd < 0)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    return n;
}

static void reset_signals(void)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction sa = {.sa_handler = SIG_DFL};
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    }
}

/* ---- events ---------------------------------------------------------------- */

static unsigned ev_logged, ev_suppressed;
static time_t ev_window;

void sb_event(const struct sb_plan *pl, const char *rule, const char *what, const char *detail)
{
    time_t now = time(NULL);
    if (now != ev_window) {
        if (ev_suppressed > 0)
            log_warnx("sandbox%s%s: %u more denials not shown", pl->label ? " " : "",
                      pl->label ? pl->label : "", ev_suppressed);
        ev_window = now;
        ev_logged = 0;
        ev_suppressed = 0;
    }
    if (ev_logged++ < 20)
        log_warnx("sandbox%s%s: denied %s (rule: %s)%s%s", pl->label ? " " : "",
                  pl->label ? pl->label : "", what, rule, detail ? ": " : "",
                  detail ? detail : "");
    else
        ev_suppressed++;
    if (!pl->events)
        return;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "event", "sandbox.denied", "rule", rule,
                          "what", what, "detail", detail, "server", pl->label);
    if (o == NULL)
        return;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        return;
    size_t n = strlen(s);
    char *line = malloc(n + 2);
    if (line != NULL) {
        memcpy(line, s, n);
        line[n] = '\n';
        /* one write; a full pipe drops the event rather than stalling the sandbox */
        int fl = fcntl(pl->event_fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK))
            fcntl(pl->event_fd, F_SETFL, fl | O_NONBLOCK);
        ssize_t w = write(pl->event_fd, line, n + 1);
        (void)w;
        free(line);
    }
    free(s);
}

/* ---- the sandbox's init ------------------------------------------------------ */

static volatile pid_t init_server_pid;

static void init_forward(int sig)
{
    if (init_server_pid > 0)
        kill(init_server_pid, sig);
}

static int drop_caps(void)
{
    for (int c = 0; c <= 63; c++) {
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
            return -1;
    }
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                     SECBIT_NO_CAP_AMBIENT_RAISE |
                                     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
              0, 0, 0) != 0)
        return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    return (int)syscall(SYS_capset, &h, d);
}

static noreturn void server_exec(const struct sb_plan *pl, int errw)
{
    reset_signals();
    /* exceeding the file size limit fails the write with EFBIG instead of
     * killing the server (an ignored signal survives execve) */
    signal(SIGXFSZ, SIG_IGN);
    char err[256];
    if (sb_rlimits_apply(pl->prof, err, sizeof(err)) < 0)
        die_to(errw, "sandbox: %s", err);
    bool in_cwd = pl->cwd != NULL && chdir(pl->cwd) == 0;
    if (!in_cwd) {
        if (pl->cwd_strict)
            die_to(errw, "sandbox: working directory %s is not visible in the sandbox: %s",
                   pl->cwd, strerror(errno));
        if (chdir(pl->home) != 0 && chdir("/") != 0)
            die_to(errw, "sandbox: chdir /: %s", strerror(errno));
    }
    environ = pl->envp;
    execvp(pl->exec_path != NULL ? pl->exec_path : pl->argv[0], pl->argv);
    int e = errno;
    die_to(errw, "sandbox: cannot execute %s: %s%s", pl->argv[0], strerror(e),
           e == ENOENT || e == EACCES
               ? " (is it, and its interpreter, inside a path the profile can read?)"
               : "");
}

static noreturn void init_main(const struct sb_plan *pl, int sv, int errw, int fd_in, int fd_out,
                               int fd_err)
{
    char err[512], note[512];
    reset_signals();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_NAME, "mcpwall-init", 0, 0, 0);

    /* the server's stdio becomes 0, 1, 2 */
    if (dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0)
        die_to(errw, "sandbox: cannot set up stdio: %s", strerror(errno));
    int keep[] = {sv, errw};
    close_others(keep, 2);

    struct sb_msg m;
    if (msg_recv(sv, &m, NULL, NULL) != 1 || m.type != MSG_GO)
        _exit(1);

    int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if (pl->prof->net != SB_NET_HOST)
        flags |= CLONE_NEWNET;
    if (unshare(flags) != 0)
        die_to(errw, "sandbox: cannot create the mount/ipc/uts/net namespaces: %s",
               strerror(errno));
    if (sethostname("mcpwall-sandbox", strlen("mcpwall-sandbox")) != 0)
        die_to(errw, "sandbox: sethostname: %s", strerror(errno));

    if (pl->nlistens > 0) {
        int *fds = calloc(pl->nlistens, sizeof(int));
        if (fds == NULL)
            die_to(errw, "sandbox: out of memory");
        if (sb_netns_setup(pl, fds, err, sizeof(err)) < 0)
            die_to(errw, "sandbox: %s", err);
        for (size_t i = 0; i < pl->nlistens; i += 64) {
            size_t n = pl->nlistens - i < 64 ? pl->nlistens - i : 64;
            if (msg_send(sv, MSG_LISTEN, (int)i, NULL, fds + i, n) < 0)
                die_to(errw, "sandbox: cannot pass the network sockets: %s", strerror(errno));
        }
        for (size_t i = 0; i < pl->nlistens; i++)
            close(fds[i]);
        free(fds);
    } else if (sb_netns_setup(pl, NULL, err, sizeof(err)) < 0) {
        die_to(errw, "sandbox: %s", err);
    }

    if (sb_rootfs_build(pl, err, sizeof(err)) < 0)
        die_to(errw, "sandbox: file system: %s", err);
    if (sb_landlock_apply(pl, note, sizeof(note), err, sizeof(err)) < 0)
        die_to(errw, "sandbox: %s", err);
    if (note[0] != '\0')
        msg_send(sv, MSG_NOTE, 0, note, NULL, 0);
    /* Away from a terminal's session when one is attached (interactive
     * sandbox-exec). Not otherwise: a new session is a new scheduler autogroup,
     * which costs a stdio ping-pong about 5 % per call, and with pipes there is
     * no terminal to protect (TIOCSTI is refused by the filter anyway). */
    if ((isatty(0) || isatty(1) || isatty(2)) && setsid() < 0)
        die_to(errw, "sandbox: setsid: %s", strerror(errno));
    if (drop_caps() != 0)
        die_to(errw, "sandbox: cannot drop capabilities: %s", strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die_to(errw, "sandbox: no_new_privs: %s", strerror(errno));
    /* this process's memory is a copy of mcpwall's: keep it out of reach
     * (/proc/1/environ, /proc/1/mem) */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        die_to(errw, "sandbox: PR_SET_DUMPABLE: %s", strerror(errno));
    long nfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                       pl->bpf_notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &pl->bpf);
    if (nfd < 0)
        die_to(errw, "sandbox: cannot load the seccomp filter: %s", strerror(errno));
    if (pl->bpf_notify) {
        int fd = (int)nfd;
        if (msg_send(sv, MSG_NOTIFY, 0, NULL, &fd, 1) < 0)
            die_to(errw, "sandbox: cannot pass the seccomp listener: %s", strerror(errno));
        close(fd);
    }

    /* forward the supervisor's signals to the server */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    struct sigaction sa = {.sa_handler = init_forward};
    sigemptyset(&sa.sa_mask);
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    pid_t srv = fork();
    if (srv < 0)
        die_to(errw, "sandbox: fork: %s", strerror(errno));
    if (srv == 0) {
        close(sv);
        server_exec(pl, errw);
    }
    init_server_pid = srv;
    close(errw);
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (w == srv) {
            msg_send(sv, MSG_STATUS, st, NULL, NULL, 0);
            _exit(0);
        }
    }
}

/* ---- the supervisor ------------------------------------------------------- */

static int write_file_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    errno = e;
    return w == (ssize_t)strlen(s) ? 0 : -1;
}

static void handle_notification(const struct sb_plan *pl, int fd)
{
    struct seccomp_notif *req = NULL;
    struct seccomp_notif_resp *resp = NULL;
    if (seccomp_notify_alloc(&req, &resp) != 0)
        return;
    if (seccomp_notify_receive(fd, req) == 0) {
        char what[96], detail[200], comm[32] = "?";
        int nr = req->data.nr;
        str_copy(what, sb_syscall_name(nr), sizeof(what));
        char path[64];
        snprintf(path, sizeof(path), "/proc/%u/comm", req->pid);
        int cfd = open(path, O_RDONLY | O_CLOEXEC);
        if (cfd >= 0) {
            ssize_t r = read(cfd, comm, sizeof(comm) - 1);
            comm[r > 0 ? r : 0] = '\0';
            comm[strcspn(comm, "\n")] = '\0';
            close(cfd);
        }
        if (nr == SCMP_SYS(socket)) {
            unsigned long long dom = req->data.args[0];
            const char *dn = dom == AF_INET ? "AF_INET" : dom == AF_INET6 ? "AF_INET6"
                                                        : dom == AF_PACKET ? "AF_PACKET" : "?";
            snprintf(detail, sizeof(detail),
                     "%s asked for a %s socket (%s, type %llu); answered EPERM", comm,
                     dom == AF_PACKET ? "packet" : "raw", dn, req->data.args[1] & 0xf);
        }
        else if (nr == SCMP_SYS(clone))
            snprintf(detail, sizeof(detail),
                     "%s tried to create namespaces (flags %#llx); answered EPERM", comm,
                     (unsigned long long)req->data.args[0]);
        else
            snprintf(detail, sizeof(detail), "by %s; answered EPERM", comm);
        sb_event(pl, "seccomp", what, detail);
        resp->id = req->id;
        resp->error = -EPERM;
        resp->val = 0;
        resp->flags = 0;
        seccomp_notify_respond(fd, resp);
    }
    seccomp_notify_free(req, resp);
}

static noreturn void mirror_exit(int st)
{
    if (WIFEXITED(st))
        _exit(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigaction(sig, &sa, NULL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, sig);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(1);
}

static noreturn void monitor_main(struct sb_plan *pl, int errw, int fd_in, int fd_out,
                                  int fd_err, pid_t caller)
{
    char who[200];
    snprintf(who, sizeof(who), "sandbox%s%s", pl->label ? " " : "", pl->label ? pl->label : "");
    /* its own process group: a group signal from the caller reaches only the
     * supervisor, which forwards it */
    setpgid(0, 0);
    /* a clean slate: default signal handling with the ones we watch blocked */
    reset_signals();
    sigset_t watch;
    sigemptyset(&watch);
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaddset(&watch, fwd[i]);
    sigaddset(&watch, SIGCHLD);
    sigaddset(&watch, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &watch, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    prctl(PR_SET_NAME, "mcpwall-sbx", 0, 0, 0);

    /* keep only what we need, away from 0..2; 0 and 1 become /dev/null so
     * that the caller's own stdio is not held open */
    int logfd = log_fd_get();
    errw = lift(errw);
    fd_in = lift(fd_in);
    fd_out = lift(fd_out);
    fd_err = lift(fd_err);
    if (pl->events)
        pl->event_fd = lift(pl->event_fd);
    int lfd = logfd >= 0 ? lift(logfd) : -1;
    if (errw < 0 || fd_in < 0 || fd_out < 0 || fd_err < 0 || (pl->events && pl->event_fd < 0))
        die_to(errw >= 0 ? errw : 2, "sandbox: bad file descriptors: %s", strerror(errno));
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (lfd < 0)
            dup2(null, 2);
        close(null);
    }
    if (lfd >= 0) {
        dup2(lfd, 2);
        close(lfd);
        log_init(NULL, log_get_level(), 2);
    }
    int keep[] = {errw, fd_in, fd_out, fd_err, pl->events ? pl->event_fd : -1};
    close_others(keep, 5);

    struct sb_cgroup cg;
    sb_cgroup_create(pl->prof, &cg);
    if (cg.note[0] != '\0')
        log_info("%s: %s", who, cg.note);

    if (geteuid() == 0 && setgroups(0, NULL) != 0)
        die_to(errw, "sandbox: cannot drop supplementary groups: %s", strerror(errno));
    if (unshare(CLONE_NEWUSER) != 0)
        die_to(errw,
               "sandbox: cannot create a user namespace: %s (unprivileged user namespaces may be "
               "disabled: see sysctls user.max_user_namespaces, "
               "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns)",
               strerror(errno));
    char map[64];
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pl->uid, (unsigned)pl->uid);
    if (write_file_str("/proc/self/setgroups", "deny") != 0 && errno != ENOENT)
        die_to(errw, "sandbox: /proc/self/setgroups: %s", strerror(errno));
    if (write_file_str("/proc/self/uid_map", map) != 0)
        die_to(errw, "sandbox: uid_map: %s", strerror(errno));
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pl->gid, (unsigned)pl->gid);
    if (write_file_str("/proc/self/gid_map", map) != 0)
        die_to(errw, "sandbox: gid_map: %s", strerror(errno));
    /* non-dumpable only now: it makes /proc/self root's, and the maps above are
     * written through /proc/self */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* the death signal is set after the credential change, which may clear it */
    prctl(PR_SET_PDEATHSIG, SIGRTMIN, 0, 0, 0);
    if (getppid() != caller)
        _exit(1);
    if (unshare(CLONE_NEWPID) != 0)
        die_to(errw, "sandbox: cannot create a pid namespace: %s", strerror(errno));

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        die_to(errw, "sandbox: socketpair: %s", strerror(errno));
    pid_t init = fork();
    if (init < 0)
        die_to(errw, "sandbox: fork: %s", strerror(errno));
    if (init == 0) {
        close(sv[0]);
        if (pl->events)
            close(pl->event_fd);
        init_main(pl, sv[1], errw, fd_in, fd_out, fd_err);
    }
    close(sv[1]);
    close(errw);
    close(fd_in);
    close(fd_out);
    close(fd_err);
    if ((cg.path[0] || cg.v1_pids[0] || cg.v1_mem[0]) && sb_cgroup_attach(&cg, init) != 0)
        log_warnx("%s: cannot move the sandbox into its cgroup: %s", who, strerror(errno));
    if (msg_send(sv[0], MSG_GO, 0, NULL, NULL, 0) < 0) {
        kill(init, SIGKILL);
        waitpid(init, NULL, 0);
        sb_cgroup_destroy(&cg);
        _exit(1);
    }

    int sfd = signalfd(-1, &watch, SFD_CLOEXEC | SFD_NONBLOCK);
    int notify_fd = -1;
    struct sb_proxy *px = NULL;
    int *lfds = NULL;
    size_t nlfds = 0;
    bool sv_open = true, have_status = false, done = false;
    int status = 0, init_status = 0;
    size_t maxp = 3 + (size_t)SB_MAX_ALLOW + 2 * 256;
    struct pollfd *pfd = calloc(maxp, sizeof(*pfd));
    if (pl->nlistens > 0)
        lfds = calloc(pl->nlistens, sizeof(int));
    if (pfd == NULL || sfd < 0 || (pl->nlistens > 0 && lfds == NULL)) {
        kill(init, SIGKILL);
        waitpid(init, NULL, 0);
        sb_cgroup_destroy(&cg);
        _exit(1);
    }

    while (!done) {
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = sv_open ? sv[0] : -1, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = notify_fd, .events = POLLIN};
        size_t np = px != NULL ? sb_proxy_pollfds(px, pfd + n, maxp - n) : 0;
        if (poll(pfd, n + np, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[2].revents & POLLIN)
            handle_notification(pl, notify_fd);
        else if (pfd[2].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            close(notify_fd);
            notify_fd = -1;
        }
        if (pfd[1].revents) {
            struct sb_msg m;
            int fds[64];
            size_t nf = 64;
            int r = msg_recv(sv[0], &m, fds, &nf);
            if (r <= 0) {
                sv_open = false;
            } else if (m.type == MSG_NOTIFY && nf == 1) {
                notify_fd = fds[0];
            } else if (m.type == MSG_LISTEN) {
                for (size_t i = 0; i < nf; i++) {
                    size_t at = (size_t)m.value + i;
                    if (m.value >= 0 && at < pl->nlistens && at >= nlfds)
                        lfds[nlfds++] = fds[i];
                    else
                        close(fds[i]);
                }
                if (nlfds == pl->nlistens && px == NULL) {
                    px = sb_proxy_new(pl, lfds, nlfds);
                    if (px == NULL)
                        log_warnx("%s: out of memory for the network relay", who);
                }
            } else if (m.type == MSG_NOTE) {
                log_info("%s: %s", who, m.text);
            } else if (m.type == MSG_STATUS) {
                status = m.value;
                have_status = true;
            } else {
                for (size_t i = 0; i < nf; i++)
                    close(fds[i]);
            }
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGCHLD) {
                    pid_t w = waitpid(init, &init_status, WNOHANG);
                    if (w == init)
                        done = true;
                } else if (sig == SIGRTMIN) {
                    /* mcpwall is gone: so is the sandbox */
                    kill(init, SIGKILL);
                } else {
                    kill(init, sig);
                }
            }
        }
        if (px != NULL && np > 0)
            sb_proxy_handle(px, pfd + 3, np);
    }
    /* a status message sent just before the init exited */
    while (sv_open && !have_status) {
        struct sb_msg m;
        size_t nf = 0;
        struct pollfd p1 = {.fd = sv[0], .events = POLLIN};
        if (poll(&p1, 1, 0) <= 0 || msg_recv(sv[0], &m, NULL, &nf) <= 0)
            break;
        if (m.type == MSG_STATUS) {
            status = m.value;
            have_status = true;
        }
    }
    if (notify_fd >= 0) {
        /* answer what is still queued so the log is complete */
        struct pollfd p1 = {.fd = notify_fd, .events = POLLIN};
        while (poll(&p1, 1, 0) > 0 && (p1.revents & POLLIN))
            handle_notification(pl, notify_fd);
        close(notify_fd);
    }
    if (ev_suppressed > 0)
        log_warnx("%s: %u more denials not shown", who, ev_suppressed);
    long pid_hits = sb_cgroup_pids_max_hits(&cg);
    if (pid_hits > 0) {
        char d[160];
        snprintf(d, sizeof(d), "the process limit (%llu) refused %ld fork%s",
                 (unsigned long long)pl->prof->lim.processes, pid_hits, pid_hits == 1 ? "" : "s");
        sb_event(pl, "cgroup", "fork", d);
    }
    if (sb_cgroup_oom_killed(&cg))
        sb_event(pl, "cgroup", "memory",
                 "the server reached the sandbox's memory limit and the kernel killed it");
    sb_proxy_free(px);
    free(lfds);
    free(pfd);
    sb_cgroup_destroy(&cg);
    if (!have_status) {
        /* the init died before the server ended (killed, or setup failed) */
        if (WIFSIGNALED(init_status))
            mirror_exit(init_status);
        _exit(WIFEXITED(init_status) && WEXITSTATUS(init_status) != 0 ? WEXITSTATUS(init_status)
                                                                        : 1);
    }
    mirror_exit(status);
}

/* ---- public entry points --------------------------------------------------- */

int sandbox_spawn_ex(const struct sandbox_profile *p, char *const argv[], char *const envp[],
                     const char *cwd, int fd_in, int fd_out, int fd_err,
                     const struct sandbox_spawn_opts *opts, pid_t *pidp, char *err, size_t errlen)
{
    struct sb_plan pl;
    char perr[512];
    if (sb_plan_build(&pl, p, argv, envp, cwd, perr, sizeof(perr)) < 0) {
        snprintf(err, errlen, "sandbox: %s", perr);
        return -1;
    }
    if (opts != NULL) {
        pl.label = opts->label;
        pl.events = opts->events;
        pl.event_fd = opts->event_fd;
    }
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "sandbox: pipe: %s", strerror(errno));
        sb_plan_free(&pl);
        return -1;
    }
    pid_t caller = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "sandbox: fork: %s", strerror(errno));
        close(ep[0]);
        close(ep[1]);
        sb_plan_free(&pl);
        return -1;
    }
    if (pid == 0) {
        close(ep[0]);
        monitor_main(&pl, ep[1], fd_in, fd_out, fd_err, caller);
    }
    close(ep[1]);
    sb_plan_free(&pl);
    char msg[1024];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(ep[0], msg + n, sizeof(msg) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n >= sizeof(msg) - 1)
            break;
    }
    msg[n] = '\0';
    close(ep[0]);
    if (n > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    *pidp = pid;
    return 0;
}

int sandbox_spawn(const struct sandbox_profile *p, char *const argv[], char *const envp[],
                  const char *cwd, int fd_in, int fd_out, int fd_err, pid_t *pid, char *err,
                  size_t errlen)
{
    return sandbox_spawn_ex(p, argv, envp, cwd, fd_in, fd_out, fd_err, NULL, pid, err, errlen);
}

void sandbox_probe(struct sandbox_kernel *k)
{
    memset(k, 0, sizeof(*k));
    pid_t c = fork();
    if (c == 0)
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
    int st = 0;
    if (c > 0) {
        while (waitpid(c, &st, 0) < 0 && errno == EINTR)
            ;
        k->userns = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    k->landlock_abi = sb_landlock_abi();
    unsigned int act = SECCOMP_RET_ERRNO;
    k->seccomp = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &act) == 0;
    k->seccomp_notify = k->seccomp && sb_seccomp_notify_available();
    sb_cgroup_describe(k->cgroup_note, sizeof(k->cgroup_note), &k->cgroup_v2);
}
