/* sandbox.h - the native sandbox for local MCP servers: namespaces, a fresh
 * root file system, Landlock, seccomp, resource limits and a scrubbed
 * environment, without a container engine. See docs/sandbox.md.
 *
 * A profile is compiled once (from a config section or a shipped profile) and
 * is immutable afterwards; it may be shared by any number of spawns. Paths in
 * a profile may start with "~/" (the caller's home, expanded at spawn time).
 */
#ifndef MCPWALL_SANDBOX_SANDBOX_H
#define MCPWALL_SANDBOX_SANDBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct cfg_doc;
struct cfg_errors;
struct sandbox_profile;

/* Compiles a config's `sandbox:` section: either a string (the name of a
 * shipped profile) or a mapping (keys in docs/sandbox.md). Every problem is
 * reported with cfg_err() at its position. Returns a new profile (free with
 * sandbox_free) or NULL when errs received at least one error. `section` is
 * borrowed. */
struct sandbox_profile *sandbox_compile(const struct cfg_doc *doc, const json_t *section,
                                        struct cfg_errors *errs);

/* A shipped profile: "strict", "node", "python" or "network-client"; NULL for
 * any other name. The result is static and must not be freed. */
const struct sandbox_profile *sandbox_builtin(const char *name);
/* NULL-terminated list of the shipped profile names. */
extern const char *const sandbox_builtin_names[];

/* A new, modifiable copy of p (free with sandbox_free). */
struct sandbox_profile *sandbox_derive(const struct sandbox_profile *p);
/* Additions for command-line use on a derived profile; 0 or -1 with a message
 * in err. A relative path is taken relative to the current directory. */
int sandbox_add_path(struct sandbox_profile *p, const char *path, bool writable, char *err,
                     size_t errlen);
int sandbox_add_allow(struct sandbox_profile *p, const char *hostport, char *err, size_t errlen);
int sandbox_add_env_pass(struct sandbox_profile *p, const char *name, char *err, size_t errlen);
/* Frees a compiled or derived profile; NULL and shipped profiles are ignored. */
void sandbox_free(struct sandbox_profile *p);
/* The profile's name ("node", or "config" for a compiled section). */
const char *sandbox_name(const struct sandbox_profile *p);

/* Starts argv in the sandbox with fd_in/fd_out/fd_err as its stdin, stdout
 * and stderr (the caller owns those descriptors and closes its copies after
 * the call). argv[0] is looked up in the sandbox's PATH when it has no '/'.
 * envp holds the variables to inject (the server's declared environment,
 * secrets included); they always pass. From the caller's own environment only
 * the variables named by the profile's pass-list pass. cwd NULL means the
 * caller's current directory when the sandbox can see it, else the home.
 *
 * The returned pid is a small supervisor outside the sandbox: signals sent to
 * it reach the server, its exit status is the server's (a server killed by a
 * signal makes it die by the same signal), and it dies with the caller (the
 * server then dies too). It returns once the server has been exec'd: 0 and
 * *pid, or -1 with a clear message in err (nothing is left running then). */
int sandbox_spawn(const struct sandbox_profile *p, char *const argv[], char *const envp[],
                  const char *cwd, int fd_in, int fd_out, int fd_err, pid_t *pid, char *err,
                  size_t errlen);

/* Options of sandbox_spawn_ex(). Zero-initialise, then set what you need. */
struct sandbox_spawn_opts {
    /* When `events` is true, the supervisor writes one JSON object per line
     * to event_fd for each violation it observes, for the caller to audit:
     * {"event":"sandbox.denied","rule":"seccomp","what":"ptrace",...}. The
     * caller keeps its copy of event_fd and reads it (non-blocking is fine;
     * lines are written whole, dropped when the pipe is full). */
    bool events;
    int event_fd;
    /* A label for log lines, e.g. the server's name; may be NULL. */
    const char *label;
};
int sandbox_spawn_ex(const struct sandbox_profile *p, char *const argv[], char *const envp[],
                     const char *cwd, int fd_in, int fd_out, int fd_err,
                     const struct sandbox_spawn_opts *opts, pid_t *pid, char *err,
                     size_t errlen);

/* Writes, in plain words, what a server under p can read, write and reach,
 * which limits apply and which kernel features this machine lacks. */
void sandbox_explain(const struct sandbox_profile *p, FILE *out);

/* What the running kernel offers. */
struct sandbox_kernel {
    bool userns;          /* unprivileged user namespaces can be created */
    int landlock_abi;     /* 0 when Landlock is unavailable */
    bool seccomp;         /* seccomp filters */
    bool seccomp_notify;  /* seccomp user notification (denials can be logged) */
    bool cgroup_v2;       /* a cgroup v2 hierarchy is mounted */
    char cgroup_note[160]; /* what the sandbox could use, in words */
};
void sandbox_probe(struct sandbox_kernel *k);

#endif
