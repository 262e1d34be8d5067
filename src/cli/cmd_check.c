/* mcpwall check -c FILE: reports every error as file:line:col: message. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'q': quiet = true; break;
        case 'h':
            printf("usage: mcpwall check -c FILE [-q]\n\nValidates a configuration and prints "
                   "every error as file:line:col: message;\nexits 1 when there is any. Without "
                   "-q, also says what the configuration does.\n");
            return 0;
        default: return 2;
        }
    }
    if (config == NULL && optind < argc)
        config = argv[optind];
    if (config == NULL) {
        fprintf(stderr, "usage: mcpwall check -c FILE\n");
        return 2;
    }
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct gw_config *cfg = gwconfig_load(config, &errs);
    if (cfg == NULL) {
        cfg_errors_print(&errs, stdout);
        fprintf(stdout, "%zu error%s\n", errs.n, errs.n == 1 ? "" : "s");
        cfg_errors_free(&errs);
        return 1;
    }
    cfg_errors_free(&errs);
    if (!quiet) {
        printf("%s: ok\n", config);
        gwconfig_describe(cfg, stdout);
    }
    gwconfig_free(cfg);
    return 0;
}
