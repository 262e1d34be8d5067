#include "proto/frame.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void frame_init(struct frame_reader *fr, size_t max_line)
{
    memset(fr, 0, sizeof(*fr));
    fr->max_line = max_line;
    /* Room for one whole line plus one read chunk. */
    buf_init(&fr->in, max_line + FRAME_READ_CHUNK + 1);
}

void frame_free(struct frame_reader *fr)
{
    buf_free(&fr->in);
}

static void tail_push(struct frame_reader *fr, const char *p, size_t n)
{
    if (n >= FRAME_TAIL_KEEP) {
        memcpy(fr->tail, p + n - FRAME_TAIL_KEEP, FRAME_TAIL_KEEP);
        fr->tailpos = 0;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fr->tail[fr->tailpos] = p[i];
        fr->tailpos = (fr->tailpos + 1) % FRAME_TAIL_KEEP;
    }
}

/* Moves bytes of an oversize line into head/tail keepers and drops them. */
static void discard_bytes(struct frame_reader *fr, const char *p, size_t n)
{
    if (fr->headlen < FRAME_HEAD_KEEP) {
        size_t take = FRAME_HEAD_KEEP - fr->headlen;
        if (take > n)
            take = n;
        memcpy(fr->head + fr->headlen, p, take);
        fr->headlen += take;
    }
    tail_push(fr, p, n);
    fr->discarded += n;
}

ssize_t frame_read_fd(struct frame_reader *fr, int fd)
{
    if (fr->pending > 0) {
        buf_consume(&fr->in, fr->pending);
        fr->scan -= fr->pending < fr->scan ? fr->pending : fr->scan;
        fr->pending = 0;
    }
    /* Up to a pipe's worth (64 KiB) per read, into the room the buffer has:
     * the first read sizes it to one chunk, and it grows only when less than
     * FRAME_READ_MIN stays free after the bytes of a partial line are moved to
     * the front. (Asking for a whole chunk on top of a partial line doubled
     * every channel's buffer to 128 KiB.) */
    if (fr->in.cap - fr->in.len <= FRAME_READ_CHUNK)
        buf_compact(&fr->in);
    if (buf_reserve(&fr->in, fr->in.cap == 0 ? FRAME_READ_CHUNK - 1 : FRAME_READ_MIN) < 0) {
        errno = ENOBUFS;
        return -1;
    }
    size_t room = fr->in.cap - fr->in.len - 1;
    if (room > FRAME_READ_CHUNK)
        room = FRAME_READ_CHUNK;
    ssize_t r;
    do {
        r = read(fd, fr->in.data + fr->in.len, room);
    } while (r < 0 && errno == EINTR);
    if (r > 0)
        fr->in.len += (size_t)r;
    else if (r == 0)
        fr->eof = true;
    return r;
}

size_t frame_feed(struct frame_reader *fr, const char *p, size_t n)
{
    if (fr->pending > 0) {
        buf_consume(&fr->in, fr->pending);
        fr->scan -= fr->pending < fr->scan ? fr->pending : fr->scan;
        fr->pending = 0;
    }
    size_t room = fr->in.max - buf_used(&fr->in) - 1;
    size_t take = n < room ? n : room;
    if (take > 0 && buf_append(&fr->in, p, take) < 0)
        return 0;
    return take;
}

size_t frame_buffered(const struct frame_reader *fr)
{
    return buf_used(&fr->in) - fr->pending;
}

bool frame_has_line(const struct frame_reader *fr)
{
    size_t used = buf_used(&fr->in);
    if (fr->discarding || used <= fr->pending)
        return false;
    return memchr(buf_head(&fr->in) + fr->pending, '\n', used - fr->pending) != NULL;
}

struct frame_item frame_next(struct frame_reader *fr)
{
    struct frame_item it = {.kind = FRAME_NONE};

    if (fr->pending > 0) {
        buf_consume(&fr->in, fr->pending);
        fr->scan -= fr->pending < fr->scan ? fr->pending : fr->scan;
        fr->pending = 0;
    }
    for (;;) {
        char *base = buf_head(&fr->in);
        size_t used = buf_used(&fr->in);
        char *nl = used > fr->scan ? memchr(base + fr->scan, '\n', used - fr->scan) : NULL;

        if (fr->discarding) {
            if (nl == NULL) {
                discard_bytes(fr, base, used);
                buf_reset(&fr->in);
                fr->scan = 0;
                return it;
            }
            size_t n = (size_t)(nl - base);
            discard_bytes(fr, base, n);
            buf_consume(&fr->in, n + 1);
            fr->scan = 0;
            fr->discarding = false;
            /* Linearise the tail ring. */
            size_t tl = fr->discarded < FRAME_TAIL_KEEP ? fr->discarded : FRAME_TAIL_KEEP;
            for (size_t i = 0; i < tl; i++)
                fr->tail_lin[i] = fr->tail[(fr->tailpos + FRAME_TAIL_KEEP - tl + i) %
                                           FRAME_TAIL_KEEP];
            it.kind = FRAME_OVERSIZE;
            it.total = fr->discarded;
            it.head = fr->head;
            it.headlen = fr->headlen;
            it.tail = fr->tail_lin;
            it.taillen = tl;
            return it;
        }
        if (nl == NULL) {
            fr->scan = used;
            if (used > fr->max_line) {
                fr->discarding = true;
                fr->discarded = 0;
                fr->headlen = 0;
                fr->tailpos = 0;
                continue;
            }
            return it;
        }
        size_t n = (size_t)(nl - base);
        fr->scan = 0;
        if (n > fr->max_line) {
            /* Whole oversize line already buffered (small reads add up). */
            fr->discarding = true;
            fr->discarded = 0;
            fr->headlen = 0;
            fr->tailpos = 0;
            continue;
        }
        size_t len = n;
        if (len > 0 && base[len - 1] == '\r')
            len--;
        bool blank = true;
        for (size_t i = 0; i < len; i++) {
            if (base[i] != ' ' && base[i] != '\t') {
                blank = false;
                break;
            }
        }
        if (blank) {
            buf_consume(&fr->in, n + 1);
            continue;
        }
        it.kind = FRAME_LINE;
        it.data = base;
        it.len = len;
        fr->pending = n + 1;
        return it;
    }
}
