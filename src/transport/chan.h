/* chan.h - a newline-delimited JSON channel over a pair of non-blocking fds on
 * a libevent loop: framed reading (proto/frame.h) and a bounded output queue.
 *
 * Backpressure is the owner's decision: chan_pending() tells how many bytes
 * wait to be written, and chan_set_reading() stops or resumes reading. The
 * output queue may exceed `budget` by at most one message (it is the owner's
 * signal to stop reading the peer), but is hard-capped at budget + max_msg +
 * a read chunk, so nothing is ever dropped silently: a queue over its cap is
 * an error the owner sees. Messages are written in the order queued.
 */
#ifndef MCPWALL_TRANSPORT_CHAN_H
#define MCPWALL_TRANSPORT_CHAN_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/frame.h"
#include "util/buf.h"

struct chan;

struct chan_ops {
    /* A complete message (without the newline); bytes valid during the call. */
    void (*on_line)(void *ud, struct chan *ch, const char *line, size_t len);
    /* A line over the message budget was discarded. */
    void (*on_oversize)(void *ud, struct chan *ch, const struct frame_item *it);
    /* The read side reached EOF or failed (errno in err, 0 for EOF). */
    void (*on_read_end)(void *ud, struct chan *ch, int err);
    /* Writing failed (EPIPE: the peer closed its end). */
    void (*on_write_error)(void *ud, struct chan *ch, int err);
    /* After a batch of input was handled, or output drained: the owner
     * flushes other channels and re-evaluates backpressure. */
    void (*on_activity)(void *ud, struct chan *ch);
};

struct chan {
    struct event_base *base;
    const char *name; /* for logs: "host", "server" */
    int rfd, wfd;
    struct event *rev, *wev;
    struct frame_reader fr;
    struct buf out;
    size_t budget;
    bool reading;       /* read event armed */
    bool read_done;     /* EOF or error seen */
    bool write_failed;
    bool close_when_drained;
    const struct chan_ops *ops;
    void *ud;
    size_t bytes_in, bytes_out;
};

/* rfd or wfd may be -1 for a one-way channel. Does not take ownership of the
 * fds unless chan_free(ch, true). */
int chan_init(struct chan *ch, struct event_base *base, const char *name, int rfd, int wfd,
              size_t max_msg, size_t budget, const struct chan_ops *ops, void *ud);
void chan_free(struct chan *ch, bool close_fds);
/* Queues msg + '\n'. Returns -1 when the queue's hard cap would be passed or
 * the write side has failed. */
int chan_queue(struct chan *ch, const char *msg, size_t len);
/* Writes as much as possible now; arms a write event for the rest. */
void chan_flush(struct chan *ch);
void chan_set_reading(struct chan *ch, bool on);
static inline size_t chan_pending(const struct chan *ch)
{
    return buf_used(&ch->out);
}
/* Closes the write fd once everything queued has been written. */
void chan_close_write_when_drained(struct chan *ch);
bool chan_write_closed(const struct chan *ch);
/* Inside an on_line callback: whether another complete line is already
 * buffered (it will be delivered right after, without a read). */
static inline bool chan_has_line(const struct chan *ch)
{
    return frame_has_line(&ch->fr);
}

#endif
