/* Fuzz target: ndjson framing with a small line budget, fed in odd chunks. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_reader fr;
    frame_init(&fr, 64);
    size_t off = 0, step = 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t took = frame_feed(&fr, (const char *)data + off, n);
        off += took;
        struct frame_item it;
        while ((it = frame_next(&fr)).kind != FRAME_NONE) {
            if (it.kind == FRAME_OVERSIZE) {
                json_t *id = rpc_salvage_id(it.head, it.headlen, it.tail, it.taillen);
                json_decref(id);
            }
        }
        step = step * 3 % 97 + 1;
    }
    frame_free(&fr);
    return 0;
}
