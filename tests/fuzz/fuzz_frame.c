/* Fuzz target: ndjson framing with a small line budget, two ways that must
 * agree: fed from memory in odd chunks (frame_feed), and read from a pipe in
 * odd writes (frame_read_fd, the path the gateway's channels take). Both must
 * give the same lines and the same oversize reports. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Appends what frame_next() gives to a log: kind, lengths and bytes. */
static void drain(struct frame_reader *fr, struct buf *log)
{
    struct frame_item it;
    while ((it = frame_next(fr)).kind != FRAME_NONE) {
        buf_append_char(log, (char)('0' + it.kind));
        if (it.kind == FRAME_OVERSIZE) {
            buf_printf(log, "%zu/%zu/%zu:", it.total, it.headlen, it.taillen);
            buf_append(log, it.head, it.headlen);
            buf_append(log, it.tail, it.taillen);
            json_t *id = rpc_salvage_id(it.head, it.headlen, it.tail, it.taillen);
            json_decref(id);
        } else {
            buf_printf(log, "%zu:", it.len);
            buf_append(log, it.data, it.len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf a, b;
    buf_init(&a, 1u << 24);
    buf_init(&b, 1u << 24);

    struct frame_reader fr;
    frame_init(&fr, 64);
    size_t off = 0, step = 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t took = frame_feed(&fr, (const char *)data + off, n);
        off += took;
        drain(&fr, &a);
        step = step * 3 % 97 + 1;
    }
    frame_free(&fr);

    int p[2];
    if (pipe2(p, O_NONBLOCK) == 0) {
        frame_init(&fr, 64);
        off = 0;
        step = 7;
        bool closed = false;
        for (;;) {
            if (off < size) {
                size_t n = size - off < step ? size - off : step;
                ssize_t w = write(p[1], data + off, n);
                if (w > 0)
                    off += (size_t)w;
                step = step * 5 % 4093 + 1;
            } else if (!closed) {
                close(p[1]);
                closed = true;
            }
            ssize_t r = frame_read_fd(&fr, p[0]);
            drain(&fr, &b);
            if (r == 0)
                break;
            if (r < 0 && errno != EAGAIN)
                abort(); /* a pipe read does not fail */
        }
        close(p[0]);
        frame_free(&fr);
        /* The memory path never sees an end of input: a last line without a
         * newline stays pending there, and the pipe path's end of file does
         * not turn it into a line either. */
        if (buf_used(&a) != buf_used(&b) ||
            (buf_used(&a) > 0 && memcmp(buf_head(&a), buf_head(&b), buf_used(&a)) != 0))
            abort();
    }
    buf_free(&a);
    buf_free(&b);
    return 0;
}
