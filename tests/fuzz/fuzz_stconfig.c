/* Fuzz target: mcp-security-tools configuration (YAML/JSON -> compiled config). */
#include <stdint.h>
#include <stdlib.h>

#include "st_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("fuzz", (const char *)data, size, size > 0 && data[0] == '{', &e);
    if (d != NULL) {
        struct st_config c;
        st_config_defaults(&c);
        st_config_compile(d, "/base", &c, &e);
        st_config_free(&c);
        cfg_doc_free(d);
    }
    cfg_errors_free(&e);
    return 0;
}
