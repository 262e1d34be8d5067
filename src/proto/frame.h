/* frame.h - newline-delimited JSON framing for the stdio transport.
 *
 * Bytes are read straight into a bounded buffer; complete lines are handed out
 * as slices of it (valid until the next frame_read_fd()/frame_next() call). A
 * line longer than the message budget is never buffered whole: the reader
 * switches to discarding until the next newline and reports one FRAME_OVERSIZE
 * item carrying the line's first and last bytes, from which the id of the
 * request it answers can often be recovered. Blank lines are skipped; a
 * trailing CR is stripped.
 */
#ifndef MCPWALL_PROTO_FRAME_H
#define MCPWALL_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

#define FRAME_HEAD_KEEP 4096
#define FRAME_TAIL_KEEP 512
#define FRAME_READ_CHUNK 65536
#define FRAME_READ_MIN 4096 /* the buffer grows when less room than this is left */

enum frame_kind { FRAME_NONE = 0, FRAME_LINE, FRAME_OVERSIZE };

struct frame_item {
    enum frame_kind kind;
    const char *data;  /* FRAME_LINE: the message bytes */
    size_t len;
    size_t total;      /* FRAME_OVERSIZE: length of the discarded line */
    const char *head;  /* FRAME_OVERSIZE: its first bytes */
    size_t headlen;
    const char *tail;  /* FRAME_OVERSIZE: its last bytes */
    size_t taillen;
};

struct frame_reader {
    struct buf in;
    size_t max_line;
    size_t scan;        /* bytes of `in` already searched for '\n' */
    size_t pending;     /* bytes of the line handed out last, to consume next */
    bool discarding;
    size_t discarded;
    char head[FRAME_HEAD_KEEP];
    size_t headlen;
    char tail[FRAME_TAIL_KEEP]; /* ring */
    size_t tailpos;
    char tail_lin[FRAME_TAIL_KEEP];
    bool eof;
};

void frame_init(struct frame_reader *fr, size_t max_line);
void frame_free(struct frame_reader *fr);
/* Reads once from fd. Returns bytes read, 0 at EOF, -1 on error (errno set;
 * EAGAIN when nothing is available). */
ssize_t frame_read_fd(struct frame_reader *fr, int fd);
/* Appends bytes from memory; returns how many were taken (fewer than n when the
 * buffer is full: drain with frame_next() and feed the rest). */
size_t frame_feed(struct frame_reader *fr, const char *p, size_t n);
/* Returns the next complete item, or kind FRAME_NONE when more bytes are needed. */
struct frame_item frame_next(struct frame_reader *fr);
/* Bytes buffered but not yet handed out. */
size_t frame_buffered(const struct frame_reader *fr);
/* Whether another complete line is buffered after the one handed out last
 * (the next frame_next() will return it without reading). */
bool frame_has_line(const struct frame_reader *fr);

#endif
