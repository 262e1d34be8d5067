/* Fuzz target: saved tools/list results, captures and JSON Lines wire logs,
 * then the whole analysis and the JSON, SARIF and HTML writers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "scan/collect.h"
#include "scan/report.h"
#include "scan/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scan_report r;
    scan_report_init(&r);
    char err[256];
    if (collect_file_mem(&r, "fuzz.json", (const char *)data, size, NULL, err, sizeof(err)) == 0) {
        scan_analyze(&r);
        scan_resolve_positions(&r);
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull != NULL) {
            report_json(&r, devnull);
            report_sarif(&r, devnull);
            report_html(&r, devnull);
            report_text(&r, devnull, true);
            fclose(devnull);
        }
    }
    scan_report_free(&r);
    return 0;
}
