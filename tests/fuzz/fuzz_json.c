/* Fuzz target: the strict JSON reader and the JSON-RPC classifier, and the
 * tape reader the gateway frames messages with, which must accept exactly
 * what the tree reader accepts and refuse the rest for the same reason. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/jsonrpc.h"
#include "proto/jtape.h"

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

    struct json_err te, je;
    json_t *tree = json_parse_strict((const char *)data, size, &lim, &je);
    struct jtape t;
    jtape_init(&t);
    int rc = jtape_parse(&t, (const char *)data, size, &lim, &te);
    if ((rc == 0) != (tree != NULL))
        abort(); /* the two readers disagree on whether this is JSON */
    if (rc != 0 && te.reason != je.reason)
        abort(); /* ... or on why it is not */
    jtape_free(&t);
    json_decref(tree);
    return 0;
}
