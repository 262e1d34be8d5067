/* Fuzz target: YAML/JSON configuration documents with positions. */
#include <stdint.h>
#include <stdlib.h>

#include "policy/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("fuzz", (const char *)data, size, size > 0 && data[0] == 'J', &e);
    cfg_doc_free(d);
    cfg_errors_free(&e);
    return 0;
}
