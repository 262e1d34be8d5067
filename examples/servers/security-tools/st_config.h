/* st_config.h - configuration of mcp-security-tools (YAML or JSON, read by
 * policy/config.h; every error reported as file:line:col). See
 * docs/security-tools.md for the keys, their defaults and an example.
 * Relative paths are resolved against the config file's directory. */
#ifndef MCPWALL_ST_CONFIG_H
#define MCPWALL_ST_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"

#define ST_MAX_LINES_CAP 1000u

struct st_list {
    char *name;
    char *path;
    char *category; /* default category or NULL */
};

struct st_rate {
    char *tool;
    uint32_t count;     /* calls allowed ... */
    uint64_t per_us;    /* ... per this period */
};

struct st_config {
    char **log_files;   /* absolute */
    size_t nlog;
    struct st_list *lists;
    size_t nlists;
    uint32_t max_lines;        /* ceiling of the max_lines argument; <= 1000 */
    uint64_t max_output;       /* bytes of matched text per call */
    uint64_t max_line_len;     /* bytes of one returned line */
    uint64_t max_scan_line;    /* bytes of one line searched */
    uint64_t max_pattern;      /* bytes */
    uint64_t search_timeout_us;
    uint32_t match_limit;
    uint32_t depth_limit;
    uint64_t heap_limit;       /* bytes */
    uint64_t resource_max;     /* bytes of a log file served by resources/read */
    struct st_rate *rates;
    size_t nrates;
    char *audit_path;          /* NULL: the default per-user file */
    bool audit_enabled;
    bool redact_output;
};

void st_config_defaults(struct st_config *c);
void st_config_free(struct st_config *c);
/* Compiles a loaded document. `base_dir` resolves relative paths (may be NULL:
 * then relative paths are errors). Reports every error; -1 if any. */
int st_config_compile(const struct cfg_doc *doc, const char *base_dir, struct st_config *c,
                      struct cfg_errors *errs);
/* Loads and compiles a file. */
int st_config_load(const char *path, struct st_config *c, struct cfg_errors *errs);
/* Parses "30/min", "5/s", "100/hour" (also "/second", "/minute", "/h"). */
int st_parse_rate(const char *s, uint32_t *count, uint64_t *per_us);
/* Adds or replaces a rate for a tool. */
int st_config_set_rate(struct st_config *c, const char *tool, uint32_t count, uint64_t per_us);

#endif
