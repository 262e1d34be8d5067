/* Fuzz target: the SQL lexer/inspector and the identifier grammar. */
#include <stdint.h>

#include "guard/sqlcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct sql_findings f;
    sql_inspect(s, size, &f);
    const char *why;
    for (unsigned m = 0; m < 8; m++) {
        struct sql_ident_opts o = {(m & 1) != 0, (m & 2) != 0, (m & 4) != 0};
        (void)sql_identifier_check(s, size, &o, &why);
    }
    return 0;
}
