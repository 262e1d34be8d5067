#include "transport/chan.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static void chan_read_cb(evutil_socket_t fd, short what, void *arg);
static void chan_write_cb(evutil_socket_t fd, short what, void *arg);

int chan_init(struct chan *ch, struct event_base *base, const char *name, int rfd, int wfd,
              size_t max_msg, size_t budget, const struct chan_ops *ops, void *ud)
{
    memset(ch, 0, sizeof(*ch));
    ch->base = base;
    ch->name = name;
    ch->rfd = rfd;
    ch->wfd = wfd;
    ch->budget = budget;
    ch->ops = ops;
    ch->ud = ud;
    frame_init(&ch->fr, max_msg);
    buf_init(&ch->out, budget + max_msg + FRAME_READ_CHUNK + 2);
    if (rfd >= 0) {
        ch->rev = event_new(base, rfd, EV_READ | EV_PERSIST, chan_read_cb, ch);
        if (ch->rev == NULL)
            return -1;
    }
    if (wfd >= 0) {
        ch->wev = event_new(base, wfd, EV_WRITE, chan_write_cb, ch);
        if (ch->wev == NULL)
            return -1;
    }
    return 0;
}

void chan_free(struct chan *ch, bool close_fds)
{
    if (ch->rev != NULL)
        event_free(ch->rev);
    if (ch->wev != NULL)
        event_free(ch->wev);
    ch->rev = ch->wev = NULL;
    frame_free(&ch->fr);
    buf_free(&ch->out);
    if (close_fds) {
        if (ch->rfd >= 0)
            close(ch->rfd);
        if (ch->wfd >= 0 && ch->wfd != ch->rfd)
            close(ch->wfd);
    }
    ch->rfd = ch->wfd = -1;
}

void chan_set_reading(struct chan *ch, bool on)
{
    if (ch->rev == NULL || ch->read_done || on == ch->reading)
        return;
    if (on)
        event_add(ch->rev, NULL);
    else
        event_del(ch->rev);
    ch->reading = on;
}

static void drain_items(struct chan *ch)
{
    struct frame_item it;
    while ((it = frame_next(&ch->fr)).kind != FRAME_NONE) {
        if (it.kind == FRAME_LINE)
            ch->ops->on_line(ch->ud, ch, it.data, it.len);
        else
            ch->ops->on_oversize(ch->ud, ch, &it);
    }
}

static void chan_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct chan *ch = arg;
    ssize_t r = frame_read_fd(&ch->fr, ch->rfd);
    if (r > 0) {
        ch->bytes_in += (size_t)r;
        drain_items(ch);
    } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        int err = r == 0 ? 0 : errno;
        if (ch->reading)
            event_del(ch->rev);
        ch->reading = false;
        ch->read_done = true;
        if (r == 0 && frame_buffered(&ch->fr) > 0) {
            /* A last message without its newline: deliver it rather than lose it. */
            frame_feed(&ch->fr, "\n", 1);
            drain_items(ch);
        }
        ch->ops->on_read_end(ch->ud, ch, err);
    }
    if (ch->ops->on_activity != NULL)
        ch->ops->on_activity(ch->ud, ch);
}

int chan_queue(struct chan *ch, const char *msg, size_t len)
{
    if (ch->write_failed || ch->wfd < 0)
        return -1;
    if (buf_reserve(&ch->out, len + 1) < 0)
        return -1;
    buf_append(&ch->out, msg, len);
    buf_append_char(&ch->out, '\n');
    return 0;
}

static void finish_close(struct chan *ch)
{
    if (ch->close_when_drained && buf_used(&ch->out) == 0 && ch->wfd >= 0) {
        if (ch->wev != NULL) {
            event_free(ch->wev);
            ch->wev = NULL;
        }
        if (ch->wfd != ch->rfd)
            close(ch->wfd);
        ch->wfd = -1;
    }
}

void chan_flush(struct chan *ch)
{
    while (buf_used(&ch->out) > 0 && ch->wfd >= 0 && !ch->write_failed) {
        ssize_t w = write(ch->wfd, buf_head(&ch->out), buf_used(&ch->out));
        if (w > 0) {
            ch->bytes_out += (size_t)w;
            buf_consume(&ch->out, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (ch->wev != NULL && !event_pending(ch->wev, EV_WRITE, NULL))
                event_add(ch->wev, NULL);
            return;
        }
        ch->write_failed = true;
        int err = w < 0 ? errno : EIO;
        buf_reset(&ch->out);
        if (ch->ops->on_write_error != NULL)
            ch->ops->on_write_error(ch->ud, ch, err);
        return;
    }
    finish_close(ch);
}

static void chan_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct chan *ch = arg;
    chan_flush(ch);
    if (ch->ops->on_activity != NULL)
        ch->ops->on_activity(ch->ud, ch);
}

void chan_close_write_when_drained(struct chan *ch)
{
    ch->close_when_drained = true;
    finish_close(ch);
}

bool chan_write_closed(const struct chan *ch)
{
    return ch->wfd < 0 || ch->write_failed;
}
