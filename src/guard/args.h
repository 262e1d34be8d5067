/* args.h - argument constraints beyond a schema, from the policy's
 * `arguments:` section, checked on every tools/call.
 *
 * The section is a list of entries. Each entry names the tools it covers
 * (globs, default every tool) and either constrains named arguments (`args`)
 * or applies a ready-made profile (`profile`), or both:
 *
 *   arguments:
 *     - tools: ["read_*", "write_file"]
 *       args:
 *         path: {path_within: ["/data"], no_leading_dash: true}
 *         "/options/files": {path_within: {roots: ["/data"], base: "/data"}}
 *         url:  {url: {schemes: [https], hosts: ["*.example.com"]}}
 *     - profile: git
 *       roots: ["/repo"]
 *
 * The full reference (every key, its default, the reason codes) is
 * docs/guards-arguments.md. In short, an argument constraint object may hold:
 *   path_within     [dirs] | {roots, base, base_arg}
 *   url             {schemes, hosts, ports, allow_private, allow_loopback,
 *                    allow_userinfo, resolve}
 *   no_shell_meta   true | "strict"
 *   no_leading_dash true
 *   no_option_words true
 *   sql_identifier  true | {quoted, qualified, order}
 *   sql_query       true | {read_only, destructive, multiple_statements}
 *   max_length      N (code points)
 *   regex           "allow-pattern" | {allow, deny, ignore_case}
 *   enum            [values]
 *   action          deny | flag
 * and profiles are filesystem, git, shell, database and http-fetch.
 *
 * A compiled policy is immutable and may be shared; checks allocate nothing
 * (path resolution uses stack buffers; one PCRE2 match block per check when a
 * regex runs) except the optional DNS lookup of `url.resolve`.
 */
#ifndef MCPWALL_GUARD_ARGS_H
#define MCPWALL_GUARD_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy/config.h"

struct arg_policy;

enum arg_action {
    ARG_ACTION_DENY = 0, /* refuse the call (JSON-RPC error) */
    ARG_ACTION_FLAG = 1, /* let it pass, audit the finding (or route it to approval) */
};

struct arg_violation {
    char pointer[256];      /* RFC 6901 pointer into `arguments`: "/path", "/paths/2" */
    const char *constraint; /* static: "path_within", "url", "no_shell_meta", ... */
    const char *reason;     /* static, stable: "path_outside_roots", "ssrf_metadata", ... */
    enum arg_action action;
    char rule[96];          /* which policy entry: "arguments[1] (profile git)" */
    char msg[512];          /* "argument 'path': is outside the allowed directories
                             * (path_within)" - never contains the argument's value */
};

/* Compiles the `arguments` section (a list; borrowed; NULL gives an empty
 * policy that checks nothing) of doc. Every problem is
 * reported with cfg_err() at its position; returns NULL when there was any.
 * Paths in roots/base are resolved against the filesystem now (see
 * docs/guards-arguments.md: a reload re-resolves them). */
struct arg_policy *args_policy_compile(const struct cfg_doc *doc, const json_t *section,
                                       struct cfg_errors *errs);
void args_policy_free(struct arg_policy *p);

/* Checks the arguments of one tools/call of `tool` (the server's own tool name,
 * not the gateway's namespaced one). `arguments` is the params.arguments value
 * (NULL or absent is treated as {}). Returns
 *    0  nothing to say;
 *    1  allowed, but a constraint with action `flag` matched (v filled);
 *   -1  refused (v filled with the first refusing constraint).
 * v may be NULL. */
int args_policy_check(const struct arg_policy *p, const char *tool, const json_t *arguments,
                      struct arg_violation *v);
/* The same, with the tool's inputSchema (borrowed, may be NULL) so that
 * profiles also find arguments by their schema: http-fetch treats a string
 * property with format uri, uri-reference, iri or iri-reference as a URL. */
int args_policy_check_schema(const struct arg_policy *p, const char *tool,
                             const json_t *input_schema, const json_t *arguments,
                             struct arg_violation *v);

/* True when some entry covers `tool` (for audit records and `mcpwall check`). */
bool args_policy_covers(const struct arg_policy *p, const char *tool);

#endif
