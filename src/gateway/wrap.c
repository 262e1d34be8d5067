#include "gateway/wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/pipeline.h"
#include "policy/authn.h"
#include "policy/pins.h"
#include "transport/chan.h"
#include "transport/child.h"
#include "transport/fdlines.h"
#include "util/log.h"
#include "util/str.h"

#define STDERR_LINE_MAX 4096
#define STDERR_LINES_PER_SEC 200

struct wrap {
    char pin_name[256];            /* the server's name (lockfile, rate limits) */
    struct ratelimit *rl;          /* rate_limits: */
    struct event_base *base;
    const struct gw_config *cfg;
    struct chan host;
    struct chan server;
    struct child child;
    struct fdlines errlines;       /* the server's stderr, rate limited, to our log */
    struct fdlines sbxlines;       /* sandbox violation reports (sandboxed servers only) */
    struct event *exit_wait_ev;    /* stdout closed: give the process time to exit */
    struct event *audit_ev;        /* writes a waiting audit batch when it is due */
    bool exit_wait_over;
    struct event *sig_ev[8];
    struct event *sigchld_ev;
    struct event *grace_ev;
    int grace_step;         /* 0 none, 1 stdin closed, 2 SIGTERM sent, 3 SIGKILL sent */
    struct gw_session sess;
    struct audit_log *audit;
    bool host_eof;
    bool host_gone;         /* host's stdout failed */
    bool server_out_eof;
    bool child_exited;
    int child_status;
    bool we_stopped_child;  /* we asked it to stop (host EOF, signal) */
    bool finishing;
};

static void wrap_update(struct wrap *w);

/* ---- outputs for the pipeline ------------------------------------------------ */

static int io_to_client(void *ud, const char *msg, size_t len)
{
    struct wrap *w = ud;
    if (w->host_gone)
        return -1;
    return chan_queue(&w->host, msg, len);
}

static int io_to_server(void *ud, const char *msg, size_t len)
{
    struct wrap *w = ud;
    if (w->server_out_eof || w->child_exited)
        return -1;
    return chan_queue(&w->server, msg, len);
}

static void io_after_event(void *ud)
{
    wrap_update(ud);
}

static void io_flush(void *ud, int to_side)
{
    struct wrap *w = ud;
    chan_flush(to_side == GW_C2S ? &w->server : &w->host);
}

static const struct gw_io wrap_io = {io_to_client, io_to_server, io_after_event, io_flush};

/* ---- channel callbacks --------------------------------------------------------- */

static void host_line(void *ud, struct chan *ch, const char *line, size_t len)
{
    struct wrap *w = ud;
    w->sess.batch_more = chan_has_line(ch);
    gw_client_message(&w->sess, line, len);
}

static void server_line(void *ud, struct chan *ch, const char *line, size_t len)
{
    struct wrap *w = ud;
    w->sess.batch_more = chan_has_line(ch);
    gw_server_message(&w->sess, line, len);
}

static void host_oversize(void *ud, struct chan *ch, const struct frame_item *it)
{
    (void)ch;
    gw_client_oversize(&((struct wrap *)ud)->sess, it);
}

static void server_oversize(void *ud, struct chan *ch, const struct frame_item *it)
{
    (void)ch;
    gw_server_oversize(&((struct wrap *)ud)->sess, it);
}

static void start_grace_timer(struct wrap *w)
{
    uint64_t us = w->cfg->limits.shutdown_grace_us;
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000u),
                         .tv_usec = (suseconds_t)(us % 1000000u)};
    evtimer_add(w->grace_ev, &tv);
}

static void host_read_end(void *ud, struct chan *ch, int err)
{
    (void)ch;
    struct wrap *w = ud;
    if (err != 0)
        log_warnx("reading from the host failed: %s", strerror(err));
    w->host_eof = true;
}

static void server_read_end(void *ud, struct chan *ch, int err)
{
    (void)ch;
    struct wrap *w = ud;
    if (err != 0)
        log_warnx("reading from the server failed: %s", strerror(err));
    w->server_out_eof = true;
}

static void host_write_error(void *ud, struct chan *ch, int err)
{
    (void)ch;
    struct wrap *w = ud;
    log_warnx("the host stopped reading our output (%s); shutting the server down", strerror(err));
    w->host_gone = true;
    w->host_eof = true;
}

static void server_write_error(void *ud, struct chan *ch, int err)
{
    (void)ch;
    (void)ud;
    log_warnx("writing to the server failed: %s", strerror(err));
}

static void on_activity(void *ud, struct chan *ch)
{
    (void)ch;
    wrap_update(ud);
}

static const struct chan_ops host_ops = {host_line, host_oversize, host_read_end, host_write_error,
                                         on_activity};
static const struct chan_ops server_ops = {server_line, server_oversize, server_read_end,
                                           server_write_error, on_activity};

/* ---- server stderr -> our log; sandbox reports -> audit ----------------------- */

static void server_stderr_line(void *ud, const char *p, size_t n)
{
    (void)ud;
    log_info("server: %.*s", (int)n, p);
}

static void server_stderr_suppressed(void *ud, unsigned count)
{
    (void)ud;
    log_warnx("server: (%u stderr lines suppressed)", count);
}

static void sandbox_line(void *ud, const char *p, size_t n)
{
    struct wrap *w = ud;
    gw_audit_sandbox_event(&w->sess, p, n);
}

/* ---- signals and shutdown ------------------------------------------------------- */

static void reap(struct wrap *w)
{
    int st;
    pid_t r;
    while ((r = waitpid(w->child.pid, &st, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == w->child.pid) {
        w->child_exited = true;
        w->child_status = st;
    }
}

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct wrap *w = arg;
    if (!w->child_exited)
        reap(w);
    wrap_update(w);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct wrap *w = arg;
    log_info("received %s: passing it to the server", sigabbrev_np((int)sig));
    child_signal(&w->child, (int)sig);
    if (sig == SIGINT || sig == SIGTERM) {
        w->we_stopped_child = true;
        if (w->grace_step < 2) {
            w->grace_step = 2;
            start_grace_timer(w);
        }
    }
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct wrap *w = arg;
    if (w->child_exited)
        return;
    w->we_stopped_child = true;
    if (w->grace_step <= 1) {
        log_info("the server did not exit after its input closed; sending SIGTERM");
        child_signal(&w->child, SIGTERM);
        w->grace_step = 2;
        start_grace_timer(w);
    } else {
        log_warnx("the server did not exit after SIGTERM; sending SIGKILL");
        child_signal(&w->child, SIGKILL);
        w->grace_step = 3;
    }
}

static void audit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wrap_update(arg);
}

static void exit_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct wrap *w = arg;
    reap(w);
    w->exit_wait_over = true;
    wrap_update(w);
}

/* Re-evaluates backpressure, flushes, and decides whether the session is over. */
static void wrap_update(struct wrap *w)
{
    chan_flush(&w->server);
    chan_flush(&w->host);
    /* Audit records are written in batches after the messages went out. */
    uint64_t wait_us;
    audit_flush_due(w->audit, &wait_us);
    if (wait_us > 0 && !evtimer_pending(w->audit_ev, NULL)) {
        struct timeval tv = {.tv_sec = (time_t)(wait_us / 1000000u),
                             .tv_usec = (suseconds_t)(wait_us % 1000000u)};
        evtimer_add(w->audit_ev, &tv);
    }

    size_t budget = w->cfg->limits.queue_bytes;
    bool host_q_full = chan_pending(&w->host) >= budget;
    bool server_q_full = chan_pending(&w->server) >= budget;
    bool server_alive = !w->server_out_eof && !w->child_exited;

    /* Reading the host produces output toward the server (and errors toward
     * the host); reading the server produces output toward the host. */
    chan_set_reading(&w->host, !w->host_eof && !host_q_full && !server_q_full && server_alive);
    chan_set_reading(&w->server, !w->server_out_eof && !host_q_full && !w->host_gone);

    /* Host finished: close the server's stdin once everything for it is written. */
    if (w->host_eof && w->grace_step == 0 && server_alive) {
        chan_close_write_when_drained(&w->server);
        if (chan_write_closed(&w->server)) {
            w->grace_step = 1;
            w->we_stopped_child = true;
            start_grace_timer(w);
        }
    }

    /* Its stdout closed: the process is usually exiting; wait a moment for
     * its status so the error can say how it ended. */
    if (w->server_out_eof && !w->child_exited && !w->exit_wait_over &&
        !evtimer_pending(w->exit_wait_ev, NULL)) {
        reap(w);
        if (!w->child_exited) {
            struct timeval tv = {0, 250000};
            evtimer_add(w->exit_wait_ev, &tv);
        }
    }

    /* Server gone (process exited, or stdout closed for good): fail what is pending. */
    if ((w->child_exited || (w->server_out_eof && w->exit_wait_over)) && !w->sess.upstream_gone) {
        if (!w->child_exited) {
            /* Output closed but the process lives on: it can no longer answer. */
            child_signal(&w->child, SIGTERM);
            if (w->grace_step < 2) {
                w->grace_step = 2;
                start_grace_timer(w);
            }
        }
        char why[200];
        if (w->child_exited) {
            char st[80];
            child_describe_status(w->child_status, st, sizeof(st));
            snprintf(why, sizeof(why), "the MCP server %s before answering", st);
        } else {
            snprintf(why, sizeof(why), "the MCP server closed its output before answering");
        }
        gw_upstream_gone(&w->sess, why);
        chan_flush(&w->host);
        if (w->audit != NULL)
            audit_flush(w->audit);
    }

    /* Done when the server process is gone, its output drained, and what we
     * owe the host is written (or the host is gone). */
    if (w->child_exited && w->server_out_eof &&
        (chan_pending(&w->host) == 0 || w->host_gone) && !w->finishing) {
        w->finishing = true;
        event_base_loopexit(w->base, NULL);
    }
}

static int wrap_exit_status(const struct wrap *w)
{
    if (!w->child_exited)
        return 1;
    if (WIFEXITED(w->child_status))
        return WEXITSTATUS(w->child_status);
    if (WIFSIGNALED(w->child_status))
        return w->we_stopped_child ? 0 : 128 + WTERMSIG(w->child_status);
    return 1;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int wrap_run(const struct wrap_opts *o)
{
    struct wrap w;
    memset(&w, 0, sizeof(w));
    w.cfg = o->cfg;
    int status = 1;
    char err[512];

    signal(SIGPIPE, SIG_IGN);
    w.base = event_base_new();
    if (w.base == NULL)
        fatalx("cannot create the event loop");
    w.rl = ratelimit_new(w.cfg->rate_limits, w.base, err, sizeof(err));
    if (w.rl == NULL)
        fatalx("rate limits: %s", err);

    if (w.cfg->audit.enabled) {
        char path[4096];
        struct audit_opts ao = {.fsync = w.cfg->audit.fsync,
                                .flush_interval_us = w.cfg->audit.flush_interval_us};
        if (o->audit_path != NULL) {
            ao.path = o->audit_path;
        } else if (w.cfg->audit.file != NULL) {
            ao.path = w.cfg->audit.file;
        } else {
            if (gwconfig_default_audit_path(path, sizeof(path)) < 0) {
                log_warnx("cannot create the default audit directory; set audit.file");
                goto out;
            }
            ao.path = path;
            ao.pick_free_name = true;
        }
        w.audit = audit_open(&ao, err, sizeof(err));
        if (w.audit == NULL) {
            log_warnx("%s", err);
            goto out;
        }
        log_info("audit log: %s", w.audit->path);
    }

    struct child_spec spec = {.argv = o->argv, .sandbox = w.cfg->sandbox};
    if (child_spawn(&spec, &w.child, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        goto out;
    }
    log_info("started server pid %d%s: %s", (int)w.child.pid,
             w.cfg->sandbox != NULL ? " in the sandbox" : "", o->argv[0]);

    if (set_nonblock(o->host_in) < 0 || set_nonblock(o->host_out) < 0)
        log_warn("cannot make host stdio non-blocking");
    size_t max_msg = w.cfg->limits.json.max_bytes;
    size_t budget = w.cfg->limits.queue_bytes;
    if (chan_init(&w.host, w.base, "host", o->host_in, o->host_out, max_msg, budget, &host_ops,
                  &w) < 0 ||
        chan_init(&w.server, w.base, "server", w.child.out_fd, w.child.in_fd, max_msg, budget,
                  &server_ops, &w) < 0)
        fatalx("cannot set up channels");
    /* The server channel owns the pipe ends from here on. */
    w.child.in_fd = w.child.out_fd = -1;
    if (gw_session_init(&w.sess, w.base, w.cfg, w.audit, &wrap_io, &w) < 0)
        fatalx("cannot create the session");
    /* The caller is the local user, with the roles of auth.local_roles. */
    struct identity *me = authn_local_identity(w.cfg->authn);
    if (me == NULL)
        fatalx("cannot create the local identity");
    gw_session_set_identity(&w.sess, me);
    identity_unref(me);
    w.sess.rl = w.rl;
    /* The server's name: the one mcpwall scan gives the command, unless
     * pins.server says (the lockfile and the rate limits key by it). */
    if (w.cfg->pins.server != NULL)
        str_copy(w.pin_name, w.cfg->pins.server, sizeof(w.pin_name));
    else
        pins_name_of_command(o->argv, w.pin_name, sizeof(w.pin_name));
    w.sess.pin_name = w.pin_name;
    if (w.cfg->pins.lock != NULL) {
        if (!pins_has_server(w.cfg->pins.lock, w.pin_name))
            log_warnx("pins: the lockfile %s has no server \"%s\": every tool is new to it "
                      "(pins.on_new: %s)%s",
                      w.cfg->pins.path, w.pin_name, gw_pin_action_name(w.cfg->pins.on_new),
                      w.cfg->pins.server == NULL ? "; set pins.server to the name used by "
                                                   "mcpwall scan --name" : "");
        else
            log_info("pins: tools of \"%s\" must match %s", w.pin_name, w.cfg->pins.path);
    }

    json_t *start = json_object();
    json_t *cmd = json_array();
    for (char *const *a = o->argv; *a != NULL; a++)
        json_array_append_new(cmd, json_string(*a));
    json_object_set_new(start, "server_command", cmd);
    json_object_set_new(start, "config", w.cfg->path ? json_string(w.cfg->path) : json_string("(default)"));
    json_object_set_new(start, "pid", json_integer(w.child.pid));
    json_object_set_new(start, "sandbox", json_boolean(w.cfg->sandbox != NULL));
    gw_audit_event(&w.sess, "start", start);
    json_decref(start);

    fdlines_start(&w.errlines, w.base, w.child.err_fd, STDERR_LINE_MAX, STDERR_LINES_PER_SEC,
                  server_stderr_line, server_stderr_suppressed, &w);
    if (w.child.ev_fd >= 0)
        fdlines_start(&w.sbxlines, w.base, w.child.ev_fd, 4096, 0, sandbox_line, NULL, &w);
    w.grace_ev = evtimer_new(w.base, grace_cb, &w);
    w.exit_wait_ev = evtimer_new(w.base, exit_wait_cb, &w);
    w.audit_ev = evtimer_new(w.base, audit_timer_cb, &w);
    static const int fwd_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++) {
        w.sig_ev[i] = evsignal_new(w.base, fwd_sigs[i], signal_cb, &w);
        evsignal_add(w.sig_ev[i], NULL);
    }
    w.sigchld_ev = evsignal_new(w.base, SIGCHLD, sigchld_cb, &w);
    evsignal_add(w.sigchld_ev, NULL);
    reap(&w); /* it may already have died before the handler was installed */

    wrap_update(&w);
    event_base_dispatch(w.base);

    /* What the server and the sandbox wrote while the server was stopping. */
    fdlines_drain(&w.errlines);
    if (w.child.ev_fd >= 0)
        fdlines_drain(&w.sbxlines);
    status = wrap_exit_status(&w);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        log_info("resource usage: user %ld.%06lds sys %ld.%06lds peak RSS %ld KiB",
                 (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
                 (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    char st[80];
    child_describe_status(w.child_status, st, sizeof(st));
    log_info("server %s", st);
    json_t *stop = json_object();
    json_object_set_new(stop, "server_status", json_string(st));
    json_object_set_new(stop, "messages_from_client", json_integer((json_int_t)w.sess.msgs_in[0]));
    json_object_set_new(stop, "messages_from_server", json_integer((json_int_t)w.sess.msgs_in[1]));
    json_object_set_new(stop, "denied", json_integer((json_int_t)w.sess.denied));
    gw_audit_event(&w.sess, "stop", stop);
    json_decref(stop);

    gw_session_free(&w.sess);
    ratelimit_free(w.rl); /* after the session: it cancelled its waiting checks */
    w.rl = NULL;
    for (size_t i = 0; i < 8; i++)
        if (w.sig_ev[i] != NULL)
            event_free(w.sig_ev[i]);
    event_free(w.sigchld_ev);
    event_free(w.grace_ev);
    event_free(w.exit_wait_ev);
    event_free(w.audit_ev);
    fdlines_free(&w.errlines);
    fdlines_free(&w.sbxlines);
    chan_free(&w.host, false);
    chan_free(&w.server, true);
    child_close_fds(&w.child);
out:
    ratelimit_free(w.rl);
    audit_close(w.audit);
    if (w.base != NULL)
        event_base_free(w.base);
    return status;
}
