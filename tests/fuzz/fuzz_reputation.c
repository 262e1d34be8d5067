/* Fuzz target: mcp-security-tools reputation list loader and lookups. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipcheck.h"
#include "reputation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rep_db *db = rep_db_new();
    struct cfg_errors e;
    cfg_errors_init(&e);
    /* First byte picks whether the list has a default category. */
    const char *def = size > 0 && (data[0] & 1) ? "listed" : NULL;
    rep_db_load_mem(db, "fuzz", "fuzz.txt", (const char *)data, size, def, &e);
    rep_db_finish(db);
    static const char *const probes[] = {"45.155.205.233", "0.0.0.1", "255.255.255.254",
                                         "2a0e:b107:1170::42", "8.8.8.8", "::ffff:1.2.3.4"};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        struct ip_check c;
        ip_check(probes[i], strlen(probes[i]), &c);
        struct rep_match m[8];
        rep_db_lookup(db, &c.addr, m, 8);
    }
    /* The input as an address too. */
    struct ip_check c;
    ip_check((const char *)data, size, &c);
    rep_db_free(db);
    cfg_errors_free(&e);
    return 0;
}
