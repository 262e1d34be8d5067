/* Fuzz target: OpenAPI 3 documents (JSON or YAML) into tools: $ref
 * resolution with cycles, parameters, request bodies, then classification. */
#include <stdint.h>
#include <stdlib.h>

#include "scan/openapi.h"
#include "scan/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scan_report r;
    scan_report_init(&r);
    r.opt.token_budget_server = 0;
    r.opt.token_budget_total = 0;
    char err[256];
    if (openapi_load_mem(&r, "fuzz.yaml", (const char *)data, size, NULL, err, sizeof(err)) == 0)
        scan_analyze(&r);
    scan_report_free(&r);
    return 0;
}
