/* scan_cli.h - what `mcpwall scan` and `mcpwall pins` share: the options of
 * a scan and the collection of its targets. */
#ifndef MCPWALL_CLI_SCAN_CLI_H
#define MCPWALL_CLI_SCAN_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "scan/collect.h"
#include "scan/scan.h"

#define SCAN_MAX_HEADERS      64
#define SCAN_MAX_SANDBOX_OPTS 32

enum scan_fmt { FMT_TEXT, FMT_JSON, FMT_SARIF, FMT_HTML };

struct scan_cli {
    enum scan_fmt format;
    const char *output;
    int fail_on; /* -1: never */
    const char *policy;
    bool pin;
    const char *lock;
    const char *name;
    const char *headers[SCAN_MAX_HEADERS];
    size_t nheaders;
    bool host_configs;
    bool connect;
    const char *home;
    bool probe;
    const char *save_capture;
    int color; /* -1 auto */
    bool server_stderr;
    const char *sandbox; /* profile for mcpwall sandbox-exec, or NULL */
    struct {
        const char *flag; /* --read, --write, --allow */
        const char *value;
    } sandbox_opts[SCAN_MAX_SANDBOX_OPTS];
    size_t nsandbox_opts;
    struct collect_opts co;
};

/* Collects every target into r: files, URLs, the command line `cmd`
 * (NULL-terminated argv, or NULL), host configs (c->host_configs) and, with
 * c->connect, the servers they name. Returns 0, or 3 when a target could not
 * be read (the reason was printed). */
int scan_cli_collect(struct scan_report *r, const struct scan_cli *c, char **targets, int ntargets,
                     char **cmd);

#endif
