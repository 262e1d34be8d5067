/* Fuzz target: the strict HTTP request pre-parser. The input is fed whole
 * and again byte by byte and in odd chunks: the bytes accepted, the verdict
 * and the requests completed must not depend on how the bytes arrive; after a
 * refusal nothing more is accepted; hooks run in a sane order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/http_preparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    int in_head;
    uint64_t done, body;
};

static void fz_head_start(void *ud)
{
    struct fz *f = ud;
    if (f->in_head)
        abort();
    f->in_head = 1;
}

static void fz_head_end(void *ud)
{
    struct fz *f = ud;
    if (!f->in_head)
        abort();
    f->in_head = 2;
}

static int fz_body(void *ud, size_t n)
{
    struct fz *f = ud;
    if (f->in_head != 2)
        abort();
    f->body += n;
    return 0;
}

static void fz_done(void *ud, uint64_t bytes)
{
    struct fz *f = ud;
    if (!f->in_head || bytes == 0)
        abort();
    f->in_head = 0;
    f->done++;
}

static const struct hpp_hooks fz_hooks = {fz_head_start, fz_head_end, fz_body, fz_done};

static size_t fz_run(const uint8_t *d, size_t n, const struct hpp_limits *lim, size_t step,
                     int *status, uint64_t *done, uint64_t *body)
{
    struct hpp p;
    struct fz f = {0};
    hpp_init(&p, lim);
    size_t off = 0, k = step;
    size_t acc = 0;
    while (off < n) {
        size_t c = step == 0 ? n - off : step == 1 ? 1 : (k % 11) + 1;
        if (c > n - off)
            c = n - off;
        k = k * 5 + 3;
        size_t got = hpp_feed(&p, (const char *)d + off, c, &fz_hooks, &f);
        if (got > c)
            abort();
        acc += got;
        if (got < c || p.status != 0) {
            if (p.status == 0 || p.reason == NULL || p.msg == NULL)
                abort();
            /* Refused: nothing more is accepted. */
            if (hpp_feed(&p, "GET / HTTP/1.1\r\n", 16, &fz_hooks, &f) != 0)
                abort();
            break;
        }
        off += c;
    }
    *status = p.status;
    *done = f.done;
    *body = f.body;
    if (p.requests != f.done)
        abort();
    hpp_free(&p);
    return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct hpp_limits lim = {
        .max_header_bytes = 64u + (size_t)(data[0] & 0x7f) * 4,
        .max_headers = 1u + (data[0] & 0x07),
        .max_target = 8u + (data[0] & 0x1f),
        .max_body = (size_t)(data[0] >> 3) * 3,
    };
    int s0, s1, s2;
    uint64_t d0, d1, d2, b0, b1, b2;
    size_t a0 = fz_run(data + 1, size - 1, &lim, 0, &s0, &d0, &b0);
    size_t a1 = fz_run(data + 1, size - 1, &lim, 1, &s1, &d1, &b1);
    size_t a2 = fz_run(data + 1, size - 1, &lim, 2, &s2, &d2, &b2);
    if (a0 != a1 || a0 != a2 || s0 != s1 || s0 != s2 || d0 != d1 || d0 != d2 || b0 != b1 ||
        b0 != b2)
        abort();
    return 0;
}
