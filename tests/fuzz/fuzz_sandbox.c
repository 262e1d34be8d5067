/* Fuzz target: a configuration's sandbox: section (sandbox_compile), then a
 * derivation and each host:port line of the input through the destination
 * parser. Nothing is spawned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/config.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("/fuzz/c.yaml", (const char *)data, size, false, &e);
    if (d != NULL && json_is_object(d->root)) {
        const json_t *sec = json_object_get(d->root, "sandbox");
        if (sec != NULL) {
            struct sandbox_profile *p = sandbox_compile(d, sec, &e);
            struct sandbox_profile *q = p != NULL ? sandbox_derive(p) : NULL;
            sandbox_free(q);
            sandbox_free(p);
        }
    }
    cfg_doc_free(d);
    cfg_errors_free(&e);
    /* destinations, one per line */
    char line[512];
    size_t off = 0;
    while (off < size) {
        size_t n = 0;
        while (off < size && data[off] != '\n' && n < sizeof(line) - 1)
            line[n++] = (char)data[off++];
        off++;
        line[n] = '\0';
        struct sb_dest dest;
        char err[256];
        if (memchr(line, '\0', n) == NULL && sb_parse_dest(line, &dest, err, sizeof(err)) == 0)
            sb_dest_free(&dest);
    }
    return 0;
}
