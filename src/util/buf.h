/* buf.h - bounded growable byte buffers (after curl's dynbuf).
 *
 * Every buffer is created with a maximum; an append that would pass it fails
 * with -1 and leaves the buffer unchanged, so attacker-influenced sizes are
 * checked before memory is taken. Bytes live in data[off, len): consuming from
 * the front is O(1) and the gap is reclaimed on the next growth.
 */
#ifndef MCPWALL_UTIL_BUF_H
#define MCPWALL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *data;
    size_t off; /* first unconsumed byte */
    size_t len; /* end of valid bytes */
    size_t cap;
    size_t max; /* most bytes the buffer may hold (len - off) */
};

void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer may be reused after buf_init(). NULL-safe. */
void buf_free(struct buf *b);
/* Like buf_free() but wipes the bytes first (for secrets). */
void buf_wipe_free(struct buf *b);

static inline size_t buf_used(const struct buf *b)
{
    return b->len - b->off;
}
static inline char *buf_head(const struct buf *b)
{
    /* A buffer that never held a byte has no storage: NULL, not NULL + 0. */
    return b->data != NULL ? b->data + b->off : NULL;
}

/* Makes room for `extra` more bytes; -1 if that would pass max or memory fails. */
int buf_reserve(struct buf *b, size_t extra);
/* Appends n bytes; -1 (and nothing appended) past max or without memory. */
int buf_append_slow(struct buf *b, const void *p, size_t n);
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
    /* the common case inline: room already there (and one byte for a NUL) */
    if (n == 0)
        return 0;
    if (n <= b->max - (b->len - b->off) && n < b->cap - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    return buf_append_slow(b, p, n);
}
static inline int buf_append_char(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Moves the bytes to the front of the storage (reclaims consumed space now). */
void buf_compact(struct buf *b);
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* NUL-terminates the contents without counting the NUL; -1 when full. */
int buf_cstr(struct buf *b);

#endif
