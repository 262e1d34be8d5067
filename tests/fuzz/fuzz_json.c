/* Fuzz target: the strict JSON reader and the JSON-RPC classifier. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_limits lim = json_default_limits;
    lim.max_bytes = 1 << 20;
    struct rpc_msg m;
    struct rpc_err e;
    if (rpc_parse((const char *)data, size, &lim, &m, &e) == 0) {
        char *s = json_emit_str(m.root, NULL);
        free(s);
        rpc_msg_free(&m);
    } else {
        rpc_err_clear(&e);
    }
    return 0;
}
