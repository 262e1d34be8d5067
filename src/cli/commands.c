/* commands.c - the subcommand table. One line per command; each command lives
 * in its own cmd_*.c file. */
#include <stddef.h>

#include "cli/cli.h"

const struct cli_cmd cli_cmds[] = {
    {"wrap", cmd_wrap, "run a stdio MCP server behind the gateway (host config drop-in)"},
    {"serve", cmd_serve, "serve MCP over Streamable HTTP in front of many upstream servers"},
    {"check", cmd_check, "validate a configuration; report every error as file:line:col"},
    {"audit", cmd_audit, "verify or show a tamper-evident audit log"},
    {"pins", cmd_pins, "show and accept changed tool definitions (diff, approve)"},
    {"scan", cmd_scan, "inventory, risk classes and findings of MCP servers and host configs"},
    {"keygen", cmd_keygen, "generate an API key and the hash the configuration keeps"},
    {"version", cmd_version, "print the version"},
    {"sandbox-exec", cmd_sandbox_exec, "run one command in the native sandbox"},
    {NULL, NULL, NULL},
};
