/* Loading the configuration for a command, with every error printed. */
#include <stdio.h>

#include "cli/cli.h"

struct gw_config *cli_load_config(const char *path)
{
    if (path == NULL)
        return gwconfig_default();
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct gw_config *cfg = gwconfig_load(path, &errs);
    if (cfg == NULL) {
        cfg_errors_print(&errs, stderr);
        fprintf(stderr, "mcpwall: %zu error%s in %s\n", errs.n, errs.n == 1 ? "" : "s", path);
    }
    cfg_errors_free(&errs);
    return cfg;
}
