/* cli.h - subcommand entry points. Each returns the process exit status:
 * 0 success, 1 the operation found problems (denied, invalid, tampered),
 * 2 usage error. */
#ifndef MCPWALL_CLI_H
#define MCPWALL_CLI_H

struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *summary;
};

/* Table of subcommands, terminated by a NULL name (cli/main.c). */
extern const struct cli_cmd cli_cmds[];

int cmd_version(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_pins(int argc, char **argv);
int cmd_sandbox_exec(int argc, char **argv);
int cmd_wrap(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

#include "gateway/gwconfig.h"
/* Loads -c FILE (or the built-in default when path is NULL), printing every
 * error to stderr. */
struct gw_config *cli_load_config(const char *path);

#endif
