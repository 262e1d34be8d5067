#include "transport/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

extern char **environ;

static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
        close((int)fd);
}

void child_close_fds(struct child *c)
{
    if (c->in_fd >= 0)
        close(c->in_fd);
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->err_fd >= 0)
        close(c->err_fd);
    if (c->ev_fd >= 0)
        close(c->ev_fd);
    c->in_fd = c->out_fd = c->err_fd = c->ev_fd = -1;
}

/* Runs in the child after fork: only async-signal-safe calls until exec. */
static void child_exec(const struct child_spec *spec, int in_r, int out_w, int err_w, int report,
                       pid_t parent)
{
    int e;
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(127);
    /* Restore default signal dispositions and an empty mask for the server. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    /* Move the report pipe out of the way before fds 0-2 are replaced. */
    int rep = fcntl(report, F_DUPFD_CLOEXEC, 10);
    if (rep < 0)
        _exit(127);
    if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0 || dup2(rep, 3) < 0) {
        e = errno;
        (void)!write(rep, &e, sizeof(e));
        _exit(127);
    }
    fcntl(3, F_SETFD, FD_CLOEXEC);
    close_from(4);
    if (spec->cwd != NULL && chdir(spec->cwd) < 0)
        goto fail;
    execvpe(spec->argv[0], spec->argv, spec->envp != NULL ? spec->envp : environ);
fail:
    e = errno;
    (void)!write(3, &e, sizeof(e));
    _exit(127);
}

/* The sandbox's supervisor becomes the child: it mirrors the server's exit
 * status and forwards signals; spec->envp holds only the variables to inject
 * (NULL: none), the profile decides what else passes. */
static int spawn_sandboxed(const struct child_spec *spec, struct child *c, char *err,
                           size_t errlen)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, pev[2] = {-1, -1};
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0 ||
        pipe2(pev, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    struct sandbox_spawn_opts so = {.events = true, .event_fd = pev[1], .label = NULL};
    pid_t pid;
    if (sandbox_spawn_ex(spec->sandbox, spec->argv, spec->envp, spec->cwd, pin[0], pout[1],
                         perr[1], &so, &pid, err, errlen) < 0)
        goto fail;
    setpgid(pid, pid); /* the supervisor leads its group already; this closes the race */
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    close(pev[1]);
    c->pid = pid;
    c->in_fd = pin[1];
    c->out_fd = pout[0];
    c->err_fd = perr[0];
    c->ev_fd = pev[0];
    if (set_nonblock_cloexec(c->in_fd) < 0 || set_nonblock_cloexec(c->out_fd) < 0 ||
        set_nonblock_cloexec(c->err_fd) < 0 || set_nonblock_cloexec(c->ev_fd) < 0) {
        snprintf(err, errlen, "cannot configure pipes: %s", strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        child_close_fds(c);
        c->pid = -1;
        return -1;
    }
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
        if (pev[i] >= 0)
            close(pev[i]);
    }
    return -1;
}

int child_spawn(const struct child_spec *spec, struct child *c, char *err, size_t errlen)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, rep[2] = {-1, -1};
    c->pid = -1;
    c->in_fd = c->out_fd = c->err_fd = c->ev_fd = -1;

    if (spec->argv == NULL || spec->argv[0] == NULL) {
        snprintf(err, errlen, "no server command given");
        return -1;
    }
    if (spec->sandbox != NULL)
        return spawn_sandboxed(spec, c, err, errlen);
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0 ||
        pipe2(rep, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(spec, pin[0], pout[1], perr[1], rep[1], parent);
    /* Also set the group from the parent side to close the race with signals. */
    setpgid(pid, pid);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    close(rep[1]);
    pin[0] = pout[1] = perr[1] = rep[1] = -1;
    int e = 0;
    ssize_t r;
    do {
        r = read(rep[0], &e, sizeof(e));
    } while (r < 0 && errno == EINTR);
    close(rep[0]);
    rep[0] = -1;
    if (r == (ssize_t)sizeof(e)) {
        snprintf(err, errlen, "cannot start '%s': %s", spec->argv[0], strerror(e));
        waitpid(pid, NULL, 0);
        goto fail;
    }
    c->pid = pid;
    c->in_fd = pin[1];
    c->out_fd = pout[0];
    c->err_fd = perr[0];
    if (set_nonblock_cloexec(c->in_fd) < 0 || set_nonblock_cloexec(c->out_fd) < 0 ||
        set_nonblock_cloexec(c->err_fd) < 0) {
        snprintf(err, errlen, "cannot configure pipes: %s", strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        child_close_fds(c);
        c->pid = -1;
        return -1;
    }
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
        if (rep[i] >= 0)
            close(rep[i]);
    }
    return -1;
}

void child_signal(const struct child *c, int sig)
{
    if (c->pid > 0)
        kill(-c->pid, sig);
}

void child_describe_status(int status, char *out, size_t outsz)
{
    if (WIFEXITED(status))
        snprintf(out, outsz, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outsz, "was killed by signal %d (%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) != NULL ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(out, outsz, "stopped (status 0x%x)", (unsigned)status);
}
