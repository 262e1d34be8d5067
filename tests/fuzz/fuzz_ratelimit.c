/* Fuzz target: the rate_limits section (YAML, or JSON when the input starts
 * with '{'). A config that compiles is put to work: a memory limiter decides
 * a few calls by subjects made of the input's own bytes, and accounts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/config.h"
#include "policy/ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d =
        cfg_load_mem("fuzz", (const char *)data, size, size > 0 && data[0] == '{', &e);
    if (d == NULL)
        goto out;
    json_t *sec = json_object_get(d->root, "rate_limits");
    struct rl_config *c = ratelimit_compile(d, sec != NULL ? sec : d->root, &e);
    if (c != NULL) {
        bool redis = false;
        rl_config_counts(c, NULL, NULL, &redis);
        char err[128];
        /* Redis configs compile but are not connected to here (no loop). */
        struct ratelimit *rl = redis ? NULL : ratelimit_new(c, NULL, err, sizeof(err));
        if (rl != NULL) {
            char id[32] = "apikey:x", tool[32] = "read_file";
            size_t n = size < 24 ? size : 24;
            for (size_t i = 0; i < n; i++)
                id[7 + i % 16] = (char)(data[size - 1 - i] | 1);
            const char *roles[] = {"admin", "guest"};
            struct rl_subject s = {.identity = id, .roles = roles, .nroles = 2, .server = "fs",
                                   .tool = tool};
            struct rl_decision dec;
            uint64_t t = 1767225600ull * 1000000;
            for (int i = 0; i < 8; i++) {
                (void)ratelimit_check(rl, &s, t + (uint64_t)i * 250000, &dec, NULL, NULL, NULL);
                ratelimit_account(rl, &s, 1000, 250, t + (uint64_t)i * 250000);
                tool[0] = (char)('a' + i);
            }
            ratelimit_free(rl);
        }
        rl_config_free(c);
    }
    cfg_doc_free(d);
out:
    cfg_errors_free(&e);
    return 0;
}
