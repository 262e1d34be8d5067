/* Fuzz target: the auth: and credentials: sections of a configuration
 * (YAML or JSON), compiled as `mcpwall check` would. */
#include <stdint.h>
#include <stdio.h>

#include "policy/authn.h"
#include "policy/credentials.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d =
        cfg_load_mem("fuzz.yaml", (const char *)data, size, size > 0 && data[0] == '{', &e);
    if (d != NULL && json_is_object(d->root)) {
        struct authn *a = authn_compile(d, json_object_get(d->root, "auth"), &e);
        if (a != NULL) {
            FILE *f = fopen("/dev/null", "w");
            if (f != NULL) {
                authn_describe(a, f);
                fclose(f);
            }
        }
        authn_unref(a);
        cred_store_unref(cred_compile(d, json_object_get(d->root, "credentials"), &e));
    }
    cfg_doc_free(d);
    cfg_errors_free(&e);
    return 0;
}
