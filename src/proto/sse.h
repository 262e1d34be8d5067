/* sse.h - Server-Sent Events: an incremental, bounded parser and the emitters.
 *
 * The parser follows the WHATWG "event stream interpretation" algorithm:
 * lines end in CRLF, LF or CR (a CRLF split across two feeds is one line end);
 * a UTF-8 byte order mark at the very start is skipped; lines starting with ':'
 * are comments; "data" lines accumulate (joined with LF), "event" sets the
 * type, "id" sets the last-event-id buffer (ignored when it contains NUL),
 * "retry" sets the reconnection time when it is all ASCII digits; unknown
 * fields are ignored; an empty line dispatches the event unless its data
 * buffer is empty (an id-only block still updates the last event id).
 *
 * Everything an attacker controls is bounded before it is buffered: one line,
 * one event's data, the id and the type each have a budget, and passing one
 * is an error that stops the parser (the stream is then unusable: a caller
 * closes the connection). The parser never allocates more than
 * max_line + max_event + max_id + max_type bytes.
 */
#ifndef MCPWALL_PROTO_SSE_H
#define MCPWALL_PROTO_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct sse_limits {
    size_t max_line;  /* bytes of one line, terminator excluded; default 4 MiB + 16 */
    size_t max_event; /* bytes of one event's data; default 4 MiB + 16 */
    size_t max_id;    /* bytes of an id value; default 256 */
    size_t max_type;  /* bytes of an event type; default 128 */
};

#define SSE_DEFAULT_MAX_LINE  (4u * 1024u * 1024u + 16u)
#define SSE_DEFAULT_MAX_EVENT (4u * 1024u * 1024u + 16u)
#define SSE_DEFAULT_MAX_ID    256u
#define SSE_DEFAULT_MAX_TYPE  128u

extern const struct sse_limits sse_default_limits;

enum sse_error {
    SSE_OK = 0,
    SSE_E_LINE_TOO_LONG,  /* sse_line_too_long */
    SSE_E_EVENT_TOO_LARGE, /* sse_event_too_large */
    SSE_E_ID_TOO_LONG,    /* sse_id_too_long */
    SSE_E_TYPE_TOO_LONG,  /* sse_type_too_long */
    SSE_E_NOMEM,          /* out_of_memory */
    SSE_E_STOPPED,        /* the callback asked to stop (sse_stopped) */
};

/* Stable wire name of an error (for logs and data.reason). */
const char *sse_error_code(enum sse_error e);

/* One dispatched event. All pointers are borrowed and valid only during the
 * callback. Strings are not NUL-terminated; use the lengths. */
struct sse_event {
    const char *type; /* "" when the event had no "event" field ("message") */
    size_t type_len;
    const char *data; /* the data lines joined with LF, final LF removed */
    size_t data_len;
    const char *id;   /* the last-event-id buffer at dispatch time (sticky) */
    size_t id_len;
    bool id_in_event; /* an "id" field appeared in this very event */
};

/* Called for each dispatched event; return nonzero to stop parsing (the feed
 * then returns -1 with SSE_E_STOPPED and the parser refuses further input). */
typedef int (*sse_event_fn)(void *ud, const struct sse_event *ev);

struct sse_parser {
    struct sse_limits lim;
    struct buf line;   /* an incomplete line carried over between feeds */
    struct buf data;   /* data of the event being built */
    struct buf type;   /* event type of the event being built */
    struct buf id;     /* last event id buffer (persists across events) */
    bool id_in_event;
    bool cr_pending;   /* the previous feed ended in CR: skip one LF */
    bool first_line;   /* the BOM check has not happened yet */
    int64_t retry_ms;  /* last valid "retry" value, -1 when none */
    enum sse_error err;
};

/* Initialises p with `lim` (NULL for the defaults). Allocates nothing. */
void sse_parser_init(struct sse_parser *p, const struct sse_limits *lim);
/* Releases the buffers; p may be initialised again. NULL-safe. */
void sse_parser_free(struct sse_parser *p);
/* Forgets a half-built event and any carried-over line, keeping the last event
 * id and retry value (what a client does when it reconnects). Clears an error. */
void sse_parser_reset_stream(struct sse_parser *p);

/* Parses buf[0,len), calling fn for every event completed. Returns 0, or -1
 * with p->err set (a budget passed, memory, or the callback stopped); after an
 * error every further feed fails the same way. */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *ud);

/* The last event id buffer (may be empty); *len receives its length. */
const char *sse_parser_last_id(const struct sse_parser *p, size_t *len);
/* The last valid retry value in milliseconds, or -1. */
int64_t sse_parser_retry(const struct sse_parser *p);

/* Emitters: each appends one complete SSE block to b (bounded by b's budget;
 * -1 when it does not fit, b unchanged in that case).
 *
 * sse_emit_event: `id` (may be NULL) and `type` (may be NULL) must not contain
 * CR, LF or NUL (-1 otherwise); `data` is split at every CRLF, LF or CR into
 * "data: " lines, so a receiver reassembles it with LF line breaks. */
int sse_emit_event(struct buf *b, const char *id, const char *type, const char *data, size_t len);
/* ": text\n\n" (text must not contain CR or LF; may be NULL for ":\n\n"). */
int sse_emit_comment(struct buf *b, const char *text);
/* "retry: ms\n\n". */
int sse_emit_retry(struct buf *b, uint32_t ms);

#endif
