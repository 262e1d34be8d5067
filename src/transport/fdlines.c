#include "transport/fdlines.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/timeutil.h"

static void deliver(struct fdlines *fl)
{
    const char *p = buf_used(&fl->line) > 0 ? buf_head(&fl->line) : "";
    size_t n = buf_used(&fl->line);
    buf_reset(&fl->line);
    if (fl->per_sec > 0) {
        uint64_t now = mono_us();
        if (fl->suppressed == 0 && now - fl->window_start >= 1000000u) {
            fl->window_start = now;
            fl->in_window = 0;
        }
        if (++fl->in_window > fl->per_sec) {
            if (fl->suppressed++ == 0 && fl->summary_ev != NULL) {
                struct timeval tv = {1, 0};
                evtimer_add(fl->summary_ev, &tv);
            }
            return;
        }
    }
    fl->on_line(fl->ud, p, n);
}

static void feed(struct fdlines *fl, const char *chunk, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (chunk[i] == '\n')
            deliver(fl);
        else if (buf_used(&fl->line) < fl->max)
            buf_append_char(&fl->line, chunk[i]);
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct fdlines *fl = arg;
    char chunk[8192];
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r > 0) {
        feed(fl, chunk, (size_t)r);
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (buf_used(&fl->line) > 0)
        deliver(fl);
    event_del(fl->ev);
}

static void summary_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fdlines *fl = arg;
    if (fl->suppressed > 0 && fl->on_suppressed != NULL)
        fl->on_suppressed(fl->ud, fl->suppressed);
    fl->suppressed = 0;
    fl->in_window = 0;
    fl->window_start = mono_us();
}

int fdlines_start(struct fdlines *fl, struct event_base *base, int fd, size_t max,
                  unsigned per_sec, void (*on_line)(void *, const char *, size_t),
                  void (*on_suppressed)(void *, unsigned), void *ud)
{
    memset(fl, 0, sizeof(*fl));
    fl->fd = fd;
    fl->max = max;
    fl->per_sec = per_sec;
    fl->on_line = on_line;
    fl->on_suppressed = on_suppressed;
    fl->ud = ud;
    buf_init(&fl->line, max + 1);
    fl->ev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, fl);
    if (fl->ev == NULL || event_add(fl->ev, NULL) < 0)
        return -1;
    if (per_sec > 0)
        fl->summary_ev = evtimer_new(base, summary_cb, fl);
    return 0;
}

void fdlines_drain(struct fdlines *fl)
{
    if (fl->ev == NULL)
        return;
    char chunk[8192];
    for (int i = 0; i < 64; i++) {
        ssize_t r = read(fl->fd, chunk, sizeof(chunk));
        if (r <= 0)
            break;
        feed(fl, chunk, (size_t)r);
    }
    if (buf_used(&fl->line) > 0)
        deliver(fl);
    if (fl->suppressed > 0 && fl->on_suppressed != NULL)
        fl->on_suppressed(fl->ud, fl->suppressed);
    fl->suppressed = 0;
}

void fdlines_free(struct fdlines *fl)
{
    if (fl->ev != NULL)
        event_free(fl->ev);
    if (fl->summary_ev != NULL)
        event_free(fl->summary_ev);
    fl->ev = fl->summary_ev = NULL;
    buf_free(&fl->line);
}
