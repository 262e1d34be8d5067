/* mcpwall - security gateway and scanner for the Model Context Protocol. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "util/log.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("mcpwall %s\n", MCPWALL_VERSION);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mcpwall <command> [options]\n\ncommands:\n");
    for (const struct cli_cmd *c = cli_cmds; c->name != NULL; c++)
        fprintf(f, "  %-14s %s\n", c->name, c->summary);
    fprintf(f, "\nRun 'mcpwall <command> --help' for a command's options; see mcpwall(1).\n");
}

int main(int argc, char **argv)
{
    log_init("mcpwall", LOG_LVL_INFO, 2);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (const struct cli_cmd *c = cli_cmds; c->name != NULL; c++) {
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "mcpwall: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
