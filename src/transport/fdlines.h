/* fdlines.h - reads lines from a non-blocking fd on the loop (a child's
 * stderr, the sandbox's event pipe) and hands each to a callback. Lines over
 * `max` bytes are cut. With per_sec > 0, at most that many lines per second
 * are delivered; the rest are counted and reported through on_suppressed
 * once the burst is over. */
#ifndef MCPWALL_TRANSPORT_FDLINES_H
#define MCPWALL_TRANSPORT_FDLINES_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct fdlines {
    struct event *ev;
    struct event *summary_ev;
    int fd;
    struct buf line;
    size_t max;
    unsigned per_sec;
    uint64_t window_start;
    unsigned in_window;
    unsigned suppressed;
    void (*on_line)(void *ud, const char *line, size_t len);
    void (*on_suppressed)(void *ud, unsigned count);
    void *ud;
};

/* Starts reading fd (borrowed: the caller closes it after fdlines_free). */
int fdlines_start(struct fdlines *fl, struct event_base *base, int fd, size_t max,
                  unsigned per_sec, void (*on_line)(void *, const char *, size_t),
                  void (*on_suppressed)(void *, unsigned), void *ud);
/* Reads what is left without waiting (after the writer exited). */
void fdlines_drain(struct fdlines *fl);
void fdlines_free(struct fdlines *fl);

#endif
