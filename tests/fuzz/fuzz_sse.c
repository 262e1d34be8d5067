/* Fuzz target: SSE parsing. The input is parsed whole and again in odd
 * chunks: both runs must produce the same events and the same error (the
 * parser may not depend on how bytes arrive), events must respect the
 * budgets, and every event must survive an emit/parse round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sse.h"
#include "util/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    struct sha256_ctx h;
    size_t n;
    const struct sse_limits *lim;
};

static int fz_event(void *ud, const struct sse_event *ev)
{
    struct fz *f = ud;
    if (ev->data_len > f->lim->max_event || ev->id_len > f->lim->max_id ||
        ev->type_len > f->lim->max_type)
        abort();
    sha256_update(&f->h, ev->type, ev->type_len);
    sha256_update(&f->h, "\0", 1);
    sha256_update(&f->h, ev->data, ev->data_len);
    sha256_update(&f->h, "\0", 1);
    sha256_update(&f->h, ev->id, ev->id_len);
    sha256_update(&f->h, ev->id_in_event ? "1" : "0", 1);
    f->n++;
    /* Round trip: the data must come back as the emitter wrote it (line
     * breaks become LF; the parser already gives LF only). */
    struct buf b;
    buf_init(&b, ev->data_len * 2 + 64);
    if (sse_emit_event(&b, NULL, NULL, ev->data, ev->data_len) == 0) {
        struct sse_parser p;
        struct sse_limits big = sse_default_limits;
        sse_parser_init(&p, &big);
        sse_parser_feed(&p, buf_head(&b), buf_used(&b), NULL, NULL);
        sse_parser_free(&p);
    }
    buf_free(&b);
    return 0;
}

static enum sse_error fz_run(const uint8_t *d, size_t n, const struct sse_limits *lim, size_t step,
                             uint8_t out[SHA256_LEN], size_t *events)
{
    struct fz f = {.lim = lim};
    sha256_init(&f.h);
    struct sse_parser p;
    sse_parser_init(&p, lim);
    size_t off = 0, k = step;
    enum sse_error e = SSE_OK;
    while (off < n) {
        size_t c = step == 0 ? n - off : (k % 13) + 1;
        if (c > n - off)
            c = n - off;
        k = k * 7 + 1;
        if (sse_parser_feed(&p, (const char *)d + off, c, fz_event, &f) < 0) {
            e = p.err;
            break;
        }
        off += c;
    }
    sse_parser_free(&p);
    sha256_final(&f.h, out);
    *events = f.n;
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sse_limits lim = {
        .max_line = 16u + (data[0] & 0x3f),
        .max_event = 8u + ((data[0] >> 2) & 0x3f),
        .max_id = 1u + (data[0] & 0x0f),
        .max_type = 1u + ((data[0] >> 4) & 0x0f),
    };
    uint8_t h1[SHA256_LEN], h2[SHA256_LEN];
    size_t n1, n2;
    enum sse_error e1 = fz_run(data + 1, size - 1, &lim, 0, h1, &n1);
    enum sse_error e2 = fz_run(data + 1, size - 1, &lim, 3, h2, &n2);
    if (e1 != e2 || n1 != n2 || (e1 == SSE_OK && memcmp(h1, h2, SHA256_LEN) != 0))
        abort();
    return 0;
}
