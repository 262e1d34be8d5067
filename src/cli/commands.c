/* commands.c - the subcommand table. One line per command; each command lives
 * in its own cmd_*.c file. */
#include <stddef.h>

#include "cli/cli.h"

const struct cli_cmd cli_cmds[] = {
    {"version", cmd_version, "print the version"},
    {"sandbox-exec", cmd_sandbox_exec, "run one command in the native sandbox"},
    {NULL, NULL, NULL},
};
