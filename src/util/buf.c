#include "util/buf.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->off = b->len = b->cap = 0;
    b->max = max;
}

void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

void buf_wipe_free(struct buf *b)
{
    if (b == NULL)
        return;
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    buf_free(b);
}

int buf_reserve(struct buf *b, size_t extra)
{
    size_t used = b->len - b->off;

    /* +1 keeps room for buf_cstr()'s terminator. */
    if (extra > b->max - used)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, used);
        b->off = 0;
        b->len = used;
        if (b->len + extra + 1 <= b->cap)
            return 0;
    }
    size_t need = used + extra + 1;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *p = realloc(b->data, ncap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int buf_append_slow(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void buf_compact(struct buf *b)
{
    if (b->off == 0)
        return;
    size_t used = b->len - b->off;
    if (used > 0)
        memmove(b->data, b->data + b->off, used);
    b->off = 0;
    b->len = used;
}

void buf_consume(struct buf *b, size_t n)
{
    size_t used = b->len - b->off;
    if (n >= used) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
}

void buf_reset(struct buf *b)
{
    b->off = b->len = 0;
}

int buf_cstr(struct buf *b)
{
    if (b->data == NULL || b->len + 1 > b->cap) {
        /* buf_reserve(0) still guarantees the terminator slot. */
        if (buf_reserve(b, 0) < 0)
            return -1;
    }
    b->data[b->len] = '\0';
    return 0;
}
