/* hostcfg.h - MCP host configuration files: reading them, finding them, and
 * what they say about each server.
 *
 * Hosts and files (Linux; macOS in brackets):
 *   claude-desktop  ~/.config/Claude/claude_desktop_config.json
 *                   [~/Library/Application Support/Claude/claude_desktop_config.json]
 *                   {"mcpServers": {NAME: {command, args, env}}}
 *   claude-code     ~/.claude.json ({"mcpServers"} and {"projects": {DIR: {"mcpServers"}}}),
 *                   ./.mcp.json, /etc/claude-code/managed-mcp.json
 *                   [/Library/Application Support/ClaudeCode/managed-mcp.json]
 *                   entries: {type: stdio|http|sse, command, args, env, url, headers}
 *   cursor          ~/.cursor/mcp.json, ./.cursor/mcp.json
 *                   {"mcpServers": {NAME: {command, args, env, envFile} | {url, headers}}}
 *   vscode          ~/.config/Code/User/mcp.json, ~/.config/Code/User/settings.json ("mcp"),
 *                   ./.vscode/mcp.json  [~/Library/Application Support/Code/User/...]
 *                   {"servers": {NAME: {type, command, args, env, envFile, url, headers}},
 *                    "inputs": [...]}; JSON with comments and trailing commas
 *   windsurf        ~/.codeium/windsurf/mcp_config.json
 *                   {"mcpServers": {NAME: {command, args, env} | {serverUrl|url, headers}}}
 *   gemini-cli      ~/.gemini/settings.json, ./.gemini/settings.json,
 *                   /etc/gemini-cli/settings.json [/Library/Application Support/GeminiCli/...]
 *                   {"mcpServers": {NAME: {command, args, env, cwd, url, httpUrl, headers,
 *                    trust, includeTools, excludeTools}}}
 *
 * Each server entry becomes a server of the report (transport "none" until
 * --connect) with its config entry and file position, and the entry is
 * checked: inline secrets, unpinned packages, shells with -c, curl | sh,
 * 0.0.0.0 listeners, known-bad package versions (data/known-bad.json),
 * plain-HTTP URLs, auto-approval.
 */
#ifndef MCPWALL_SCAN_HOSTCFG_H
#define MCPWALL_SCAN_HOSTCFG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scan/scan.h"

/* The host a path belongs to ("cursor", ...), or NULL when the file name is
 * not one a host uses. */
const char *hostcfg_host_from_path(const char *path);

/* Reads one host config file and adds its servers and findings. `host` may be
 * NULL (guessed from the path, else "generic"). 0 / -1 with err filled. */
int hostcfg_load(struct scan_report *r, const char *path, const char *host, char *err,
                 size_t errsz);
int hostcfg_load_mem(struct scan_report *r, const char *path, const char *host, const char *data,
                     size_t len, char *err, size_t errsz);

/* Loads every config file that exists in the usual places under `home` (and
 * project files under the current directory). Returns how many were read. */
size_t hostcfg_discover(struct scan_report *r, const char *home);

/* How to reach a configured server (--connect). */
struct hostcfg_launch {
    char **argv; /* NULL-terminated, or NULL for URL servers */
    char **env;  /* extra "NAME=value", NULL-terminated */
    char *cwd;
    char *url;
    json_t *headers;   /* {"Name": "value"} or NULL */
    char why_not[200]; /* when hostcfg_launch_of fails */
};
/* Builds the launch of a configured server, expanding ${env:X}, ${X},
 * ${X:-default} and $X from our environment; fails (why_not) for
 * ${input:...} and other prompts only the host can answer. 0 / -1. */
int hostcfg_launch_of(const struct scan_server *s, struct hostcfg_launch *out);
void hostcfg_launch_free(struct hostcfg_launch *l);

/* Strips // and block comments and trailing commas from JSONC in place,
 * keeping every byte offset (replaced by spaces; newlines kept). */
void hostcfg_strip_jsonc(char *data, size_t len);

/* ---- known-bad packages (data/known-bad.json) ---- */

/* Compares two package versions: numeric dot-separated parts, then
 * pre-release tags ("1.0.0-beta" < "1.0.0"). <0, 0, >0. */
int hostcfg_version_cmp(const char *a, const char *b);
/* Looks up ecosystem ("npm" or "pypi"), package and exact version in the
 * list. Returns a new JSON array of every matching advisory, or NULL. The
 * list is read from $MCPWALL_KNOWN_BAD, else the installed data directory,
 * else the source tree's data/known-bad.json. */
json_t *hostcfg_known_bad(const char *ecosystem, const char *package, const char *version);
/* Replaces the list (tests, fuzzing); takes a new reference. NULL restores the default. */
void hostcfg_set_known_bad(json_t *list);

#endif
