/* collect_stdio.c - spawn a stdio MCP server and run the client session over
 * its pipes (newline-delimited JSON, proto/frame.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/json.h"
#include "scan/collect.h"
#include "util/buf.h"
#include "util/timeutil.h"

extern char **environ;

#define STDERR_KEEP 2048u

struct stdio_tr {
    pid_t pid;
    int in_fd;  /* server's stdin (we write) */
    int out_fd; /* server's stdout (we read) */
    int err_fd; /* server's stderr, -1 when passed through */
    struct frame_reader fr;
    struct json_limits lim;
    char errtail[STDERR_KEEP];
    size_t errlen;
    bool exited;
    int status;
};

static int tr_send(void *ctx, const char *msg, size_t len, char *err, size_t errsz)
{
    struct stdio_tr *t = ctx;
    struct part {
        const char *p;
        size_t n;
    } parts[2] = {{msg, len}, {"\n", 1}};
    for (int k = 0; k < 2; k++) {
        size_t off = 0;
        while (off < parts[k].n) {
            ssize_t w = write(t->in_fd, parts[k].p + off, parts[k].n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                snprintf(err, errsz, "cannot write to the server: %s", strerror(errno));
                return -1;
            }
            off += (size_t)w;
        }
    }
    return 0;
}

static void keep_stderr(struct stdio_tr *t, const char *p, size_t n)
{
    if (n >= STDERR_KEEP) {
        memcpy(t->errtail, p + n - STDERR_KEEP + 1, STDERR_KEEP - 1);
        t->errlen = STDERR_KEEP - 1;
        return;
    }
    if (t->errlen + n >= STDERR_KEEP) {
        size_t drop = t->errlen + n - (STDERR_KEEP - 1);
        memmove(t->errtail, t->errtail + drop, t->errlen - drop);
        t->errlen -= drop;
    }
    memcpy(t->errtail + t->errlen, p, n);
    t->errlen += n;
}

/* The last line of what the server wrote to stderr, printable. */
static void stderr_hint(const struct stdio_tr *t, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t end = t->errlen;
    while (end > 0 && (t->errtail[end - 1] == '\n' || t->errtail[end - 1] == '\r'))
        end--;
    size_t st = end;
    while (st > 0 && t->errtail[st - 1] != '\n')
        st--;
    size_t o = 0;
    for (size_t i = st; i < end && o + 1 < outsz; i++) {
        unsigned char c = (unsigned char)t->errtail[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[o] = '\0';
}

static void exit_text(const struct stdio_tr *t, char *err, size_t errsz, const char *what)
{
    char hint[200];
    stderr_hint(t, hint, sizeof(hint));
    char st[64] = "";
    if (t->exited) {
        if (WIFEXITED(t->status))
            snprintf(st, sizeof(st), " (exit status %d)", WEXITSTATUS(t->status));
        else if (WIFSIGNALED(t->status))
            snprintf(st, sizeof(st), " (killed by signal %d)", WTERMSIG(t->status));
    }
    snprintf(err, errsz, "%s%s%s%s", what, st, hint[0] ? ": " : "", hint);
}

static int tr_recv(void *ctx, uint64_t deadline, json_t **msg, char *err, size_t errsz)
{
    struct stdio_tr *t = ctx;
    for (;;) {
        struct frame_item it = frame_next(&t->fr);
        if (it.kind == FRAME_OVERSIZE) {
            snprintf(err, errsz, "the server sent a message of %zu bytes (limit %zu)", it.total,
                     t->lim.max_bytes);
            return -1;
        }
        if (it.kind == FRAME_LINE) {
            struct json_err je;
            json_t *v = json_parse_strict(it.data, it.len, &t->lim, &je);
            if (v == NULL) {
                /* Servers that log to stdout break the protocol; report it. */
                snprintf(err, errsz,
                         "the server wrote something that is not JSON-RPC to "
                         "stdout (%s)",
                         json_reason_code(je.reason));
                return -1;
            }
            *msg = v;
            return 1;
        }
        if (t->fr.eof) {
            exit_text(t, err, errsz, "the server closed its stdout");
            return -1;
        }
        uint64_t now = mono_us();
        if (now >= deadline)
            return 0;
        struct pollfd p[2] = {{t->out_fd, POLLIN, 0}, {t->err_fd, POLLIN, 0}};
        nfds_t np = t->err_fd >= 0 ? 2 : 1;
        uint64_t wait_ms = (deadline - now + 999) / 1000;
        int rc = poll(p, np, wait_ms > 60000 ? 60000 : (int)wait_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            snprintf(err, errsz, "poll: %s", strerror(errno));
            return -1;
        }
        if (np == 2 && (p[1].revents & (POLLIN | POLLHUP))) {
            char tmp[4096];
            ssize_t n = read(t->err_fd, tmp, sizeof(tmp));
            if (n > 0)
                keep_stderr(t, tmp, (size_t)n);
            else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                close(t->err_fd);
                t->err_fd = -1;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = frame_read_fd(&t->fr, t->out_fd);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(err, errsz, "cannot read from the server: %s", strerror(errno));
                return -1;
            }
            if (n == 0 && !t->exited) {
                /* give the child a moment so the exit status can be shown */
                for (int i = 0; i < 20 && !t->exited; i++) {
                    if (waitpid(t->pid, &t->status, WNOHANG) == t->pid)
                        t->exited = true;
                    else
                        usleep(10000);
                }
                /* drain what stderr still holds */
                if (t->err_fd >= 0) {
                    char tmp[4096];
                    ssize_t m;
                    while ((m = read(t->err_fd, tmp, sizeof(tmp))) > 0)
                        keep_stderr(t, tmp, (size_t)m);
                }
            }
        }
    }
}

static void reap(struct stdio_tr *t)
{
    if (t->in_fd >= 0) {
        close(t->in_fd);
        t->in_fd = -1;
    }
    /* stdin closed: a well-behaved server exits; give it 2 s, then TERM, then KILL */
    static const int sigs[] = {0, SIGTERM, SIGKILL};
    for (int k = 0; k < 3 && !t->exited; k++) {
        if (sigs[k] != 0)
            kill(-t->pid, sigs[k]);
        for (int i = 0; i < 200 && !t->exited; i++) {
            pid_t w = waitpid(t->pid, &t->status, WNOHANG);
            if (w == t->pid || (w < 0 && errno == ECHILD))
                t->exited = true;
            else
                usleep(10000);
        }
    }
    if (!t->exited)
        waitpid(t->pid, &t->status, 0);
    /* children of the server (npx -> node) share its process group */
    kill(-t->pid, SIGKILL);
}

/* Environment of the child: ours plus the extra entries (which win). */
static char **child_env(char **extra)
{
    size_t n = 0, m = 0;
    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    char **env = calloc(n + m + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nl = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < m && !overridden; j++)
            overridden = strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=';
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = extra[j];
    return env;
}

int collect_stdio(struct scan_report *r, int server, char *const argv[],
                  const struct collect_opts *o)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    bool pass_err = o != NULL && o->server_stderr;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        (!pass_err && pipe2(errp, O_CLOEXEC) < 0)) {
        scan_server_fail(r, server, "pipe: %s", strerror(errno));
        goto fail_pipes;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (!pass_err)
        posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    if (o != NULL && o->cwd != NULL)
        posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    char **env = child_env(o != NULL ? o->env : NULL);
    pid_t pid;
    int rc = env != NULL ? posix_spawnp(&pid, argv[0], &fa, &at, argv, env) : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        scan_server_fail(r, server, "cannot run '%s': %s", argv[0], strerror(rc));
        goto fail_pipes;
    }
    close(in[0]);
    close(out[1]);
    if (errp[1] >= 0)
        close(errp[1]);

    struct stdio_tr t;
    memset(&t, 0, sizeof(t));
    t.pid = pid;
    t.in_fd = in[1];
    t.out_fd = out[0];
    t.err_fd = errp[0];
    if (t.err_fd >= 0)
        fcntl(t.err_fd, F_SETFL, fcntl(t.err_fd, F_GETFL) | O_NONBLOCK);
    fcntl(t.out_fd, F_SETFL, fcntl(t.out_fd, F_GETFL) | O_NONBLOCK);
    size_t maxmsg = o != NULL && o->max_message > 0 ? o->max_message : COLLECT_DEFAULT_MAX_MESSAGE;
    frame_init(&t.fr, maxmsg);
    t.lim = json_default_limits;
    t.lim.max_bytes = maxmsg;
    struct collect_tr tr = {&t, tr_send, tr_recv, NULL};
    rc = collect_session(r, server, &tr, o);
    reap(&t);
    frame_free(&t.fr);
    close(t.out_fd);
    if (t.err_fd >= 0)
        close(t.err_fd);
    return rc;

fail_pipes:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    return -1;
}
