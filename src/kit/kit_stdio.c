/* kit_stdio.c - serving one client over newline-delimited JSON on a pair of
 * file descriptors, on the server's libevent loop.
 *
 * Input is framed by proto/frame.h (bounded; an oversize line is answered with
 * an error carrying its salvaged id). Output is queued in an evbuffer and
 * written when the fd is writable; while more than KIT_STDIO_HIGH bytes wait,
 * reading pauses, so a client that does not read cannot make us buffer
 * without bound.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit/kit_internal.h"
#include "proto/frame.h"
#include "util/log.h"

#define KIT_STDIO_HIGH (8u * 1024u * 1024u)

struct kit_stdio {
    struct kit_server *srv;
    struct kit_session *sess;
    int in_fd, out_fd;
    struct frame_reader fr;
    struct event *rev, *wev, *drain_timer, *sigint, *sigterm, *tick;
    struct evbuffer *out;
    bool reading;
    bool in_file;  /* in_fd cannot be polled (file, /dev/null): read without events */
    bool out_file; /* out_fd cannot be polled: write synchronously */
    bool eof;
    bool out_broken;
};

static void stdio_check_done(struct kit_stdio *st);

static int stdio_send(void *tctx, void *stream, const char *data, size_t len, bool final)
{
    (void)stream;
    (void)final;
    struct kit_stdio *st = tctx;
    if (st->out_broken)
        return -1;
    if (evbuffer_add(st->out, data, len) < 0 || evbuffer_add(st->out, "\n", 1) < 0)
        return -1;
    if (st->out_file) {
        while (evbuffer_get_length(st->out) > 0) {
            if (evbuffer_write(st->out, st->out_fd) < 0 && errno != EINTR) {
                st->out_broken = true;
                evbuffer_drain(st->out, evbuffer_get_length(st->out));
                return -1;
            }
        }
        return 0;
    }
    event_add(st->wev, NULL);
    if (st->reading && evbuffer_get_length(st->out) > KIT_STDIO_HIGH) {
        if (!st->in_file)
            event_del(st->rev);
        st->reading = false;
    }
    return 0;
}

static const struct kit_transport stdio_tp = {
    .send = stdio_send,
    .drop = NULL,
};

static void stdio_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct kit_stdio *st = arg;
    while (evbuffer_get_length(st->out) > 0) {
        int n = evbuffer_write(st->out, fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            log_warnx("kit: stdio: the client's end of the output pipe is closed");
            st->out_broken = true;
            evbuffer_drain(st->out, evbuffer_get_length(st->out));
            if (st->reading && !st->in_file)
                event_del(st->rev);
            st->reading = false;
            st->eof = true;
            if (st->sess != NULL) {
                kit_session_close(st->sess);
                st->sess = NULL;
            }
            break;
        }
        if (n == 0)
            break;
    }
    if (evbuffer_get_length(st->out) == 0)
        event_del(st->wev);
    if (!st->reading && !st->eof && evbuffer_get_length(st->out) < KIT_STDIO_HIGH / 2) {
        st->reading = true;
        if (st->in_file)
            event_active(st->rev, EV_READ, 0);
        else
            event_add(st->rev, NULL);
    }
    stdio_check_done(st);
}

static void stdio_handle_item(struct kit_stdio *st, const struct frame_item *it)
{
    if (it->kind == FRAME_LINE) {
        kit_session_input_raw(st->sess, it->data, it->len, NULL);
        return;
    }
    json_t *id = rpc_salvage_id(it->head, it->headlen, it->tail, it->taillen);
    kit_send_error(st->sess, NULL, id, RPC_INVALID_REQUEST, "message_too_large",
                   "The message is larger than this server accepts");
    json_decref(id);
}

static void stdio_read_some(struct kit_stdio *st)
{
    for (int rounds = 0; rounds < 16 && st->reading; rounds++) {
        ssize_t r = frame_read_fd(&st->fr, st->in_fd);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        struct frame_item it;
        while (st->sess != NULL && (it = frame_next(&st->fr)).kind != FRAME_NONE)
            stdio_handle_item(st, &it);
        if (r <= 0) {
            if (r < 0)
                log_warn("kit: stdio: read");
            /* The client closed its end: handlers get drain_timeout to finish
             * and have their answers written, then the session ends. */
            st->eof = true;
            if (st->reading && !st->in_file)
                event_del(st->rev);
            st->reading = false;
            struct timeval tv = {
                .tv_sec = (time_t)(st->srv->lim.drain_timeout_us / 1000000u),
                .tv_usec = (suseconds_t)(st->srv->lim.drain_timeout_us % 1000000u),
            };
            evtimer_add(st->drain_timer, &tv);
            /* The client can no longer answer our requests. */
            if (st->sess != NULL)
                kit_outbound_fail_all(st->sess, NULL, KIT_ERR_CLOSED,
                                      "the client closed its input");
            struct timeval tick = {0, 20000};
            event_add(st->tick, &tick);
            return;
        }
    }
    /* A file never signals readiness: come back on the next turn. */
    if (st->in_file && st->reading)
        event_active(st->rev, EV_READ, 0);
}

static void stdio_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kit_stdio *st = arg;
    stdio_read_some(st);
    stdio_check_done(st);
}

/* After EOF: stop once every handler has finished and the output is written. */
static void stdio_check_done(struct kit_stdio *st)
{
    if (!st->eof || evbuffer_get_length(st->out) > 0)
        return;
    if (st->sess != NULL && kit_session_live_calls(st->sess) > 0)
        return;
    event_base_loopexit(st->srv->base, NULL);
}

static void stdio_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kit_stdio *st = arg;
    log_warnx("kit: stdio: handlers did not finish after the client left; cancelling them");
    if (st->sess != NULL) {
        kit_session_close(st->sess);
        st->sess = NULL;
    }
    event_base_loopexit(st->srv->base, NULL);
}

static void stdio_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct kit_stdio *st = arg;
    log_info("kit: signal %d: stopping", (int)sig);
    kit_server_stop(st->srv);
}

/* True for descriptors epoll cannot watch (regular files, /dev/null and
 * other non-tty devices): those are read and written without readiness
 * events (they never block). Pipes, sockets and terminals use events. */
static bool no_readiness(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return false;
    if (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode))
        return false;
    if (S_ISCHR(sb.st_mode) && isatty(fd))
        return false;
    return true;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* After EOF, a periodic check: handlers finish on their own schedule. */
static void stdio_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stdio_check_done(arg);
}

int kit_serve_stdio(struct kit_server *s, int in_fd, int out_fd)
{
    if (set_nonblock(in_fd) < 0 || set_nonblock(out_fd) < 0) {
        log_warn("kit: stdio: cannot make the descriptors non-blocking");
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct kit_stdio st;
    memset(&st, 0, sizeof(st));
    st.srv = s;
    st.in_fd = in_fd;
    st.out_fd = out_fd;
    st.in_file = no_readiness(in_fd);
    st.out_file = no_readiness(out_fd);
    frame_init(&st.fr, s->lim.max_message);
    st.out = evbuffer_new();
    st.rev = event_new(s->base, st.in_file ? -1 : in_fd, EV_READ | EV_PERSIST, stdio_on_read, &st);
    st.wev = event_new(s->base, out_fd, EV_WRITE | EV_PERSIST, stdio_on_write, &st);
    st.drain_timer = evtimer_new(s->base, stdio_on_drain_timeout, &st);
    st.sigint = evsignal_new(s->base, SIGINT, stdio_on_signal, &st);
    st.sigterm = evsignal_new(s->base, SIGTERM, stdio_on_signal, &st);
    st.tick = event_new(s->base, -1, EV_PERSIST, stdio_on_tick, &st);
    int rc = -1;
    if (st.out == NULL || st.rev == NULL || st.wev == NULL || st.drain_timer == NULL ||
        st.sigint == NULL || st.sigterm == NULL || st.tick == NULL)
        goto out;
    st.sess = kit_session_open(s, &stdio_tp, &st, "stdio");
    if (st.sess == NULL)
        goto out;
    if (st.in_file)
        event_active(st.rev, EV_READ, 0);
    else
        event_add(st.rev, NULL);
    event_add(st.sigint, NULL);
    event_add(st.sigterm, NULL);
    st.reading = true;
    s->stopping = false;
    event_base_dispatch(s->base);
    rc = 0;
    /* Flush what is left, best effort, then detach from the session. */
    while (!st.out_broken && evbuffer_get_length(st.out) > 0) {
        if (evbuffer_write(st.out, out_fd) <= 0)
            break;
    }
    if (st.sess != NULL) {
        st.out_broken = true;
        kit_session_close(st.sess);
    }
    /* A session whose handlers still hold calls must not point at our stack. */
    for (struct kit_session *ss = s->sessions; ss != NULL; ss = ss->next)
        if (ss->tctx == &st)
            ss->tctx = NULL;
out:
    if (st.tick != NULL)
        event_free(st.tick);
    if (st.rev != NULL)
        event_free(st.rev);
    if (st.wev != NULL)
        event_free(st.wev);
    if (st.drain_timer != NULL)
        event_free(st.drain_timer);
    if (st.sigint != NULL)
        event_free(st.sigint);
    if (st.sigterm != NULL)
        event_free(st.sigterm);
    if (st.out != NULL)
        evbuffer_free(st.out);
    frame_free(&st.fr);
    return rc;
}
