/* mcpwall wrap [-c FILE] [--audit FILE] [--log-level L] -- CMD ARGS... */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "gateway/wrap.h"
#include "util/log.h"

static void wrap_usage(FILE *f)
{
    fprintf(f, "usage: mcpwall wrap [-c FILE] [--audit FILE] [--log-level LEVEL] -- CMD [ARGS...]\n"
               "\n"
               "Runs the MCP server CMD with pipes and relays its stdio through mcpwall's policy,\n"
               "audit and limits. Use it in a host's config in place of the server command.\n"
               "\n"
               "  -c, --config FILE     policy/configuration (YAML or JSON); without it a safe\n"
               "                        default applies: allow everything, audit everything\n"
               "      --audit FILE      audit log path (overrides audit.file)\n"
               "      --log-level L     error | warn | info | debug\n");
}

int cmd_wrap(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"audit", required_argument, NULL, 'a'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *audit = NULL, *level = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'a': audit = optarg; break;
        case 'l': level = optarg; break;
        case 'h': wrap_usage(stdout); return 0;
        default: wrap_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "mcpwall wrap: missing the server command after '--'\n\n");
        wrap_usage(stderr);
        return 2;
    }
    struct gw_config *cfg = cli_load_config(config);
    if (cfg == NULL)
        return 2;
    enum log_level lv = cfg->log_level;
    if (level != NULL && log_level_parse(level, &lv) < 0) {
        fprintf(stderr, "mcpwall wrap: unknown log level '%s'\n", level);
        gwconfig_free(cfg);
        return 2;
    }
    log_set_level(lv);
    if (config == NULL)
        log_info("no configuration given (-c): default policy applies: allow everything, audit "
                 "everything");
    struct wrap_opts wo = {
        .cfg = cfg,
        .argv = argv + optind,
        .audit_path = audit,
        .host_in = 0,
        .host_out = 1,
    };
    int rc = wrap_run(&wo);
    gwconfig_free(cfg);
    return rc;
}
