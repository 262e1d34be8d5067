/* Fuzz target: host configuration files (JSONC stripping, every host's
 * layout, the entry checks and the launch builder of --connect). */
#include <stdint.h>
#include <stdlib.h>

#include "scan/hostcfg.h"
#include "scan/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scan_report r;
    scan_report_init(&r);
    char err[256];
    /* the first byte picks the host, so each layout gets inputs */
    static const char *const paths[] = {
        "h/.cursor/mcp.json",      "h/.vscode/mcp.json", "h/claude_desktop_config.json",
        "h/.gemini/settings.json", "h/.claude.json",     "h/windsurf/mcp_config.json"};
    const char *path = paths[size > 0 ? data[0] % 6 : 0];
    if (hostcfg_load_mem(&r, path, NULL, (const char *)data, size, err, sizeof(err)) == 0) {
        scan_resolve_positions(&r);
        for (size_t i = 0; i < r.nservers; i++) {
            struct hostcfg_launch l;
            hostcfg_launch_of(&r.servers[i], &l);
            hostcfg_launch_free(&l);
        }
    }
    scan_report_free(&r);
    return 0;
}
