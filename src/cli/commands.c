/* commands.c - the subcommand table. One line per command; each command lives
 * in its own cmd_*.c file. */
#include <stddef.h>

#include "cli/cli.h"

const struct cli_cmd cli_cmds[] = {
    {"pins", cmd_pins, "show and accept changed tool definitions (diff, approve)"},
    {"scan", cmd_scan, "inventory, risk classes and findings of MCP servers and host configs"},
    {"version", cmd_version, "print the version"},
    {NULL, NULL, NULL},
};
