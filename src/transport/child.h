/* child.h - starting a local MCP server as a child process with pipes.
 *
 * The child gets fresh pipes as stdin/stdout/stderr, its own process group
 * (so a terminal's Ctrl-C reaches it only through us), dies when we die
 * (PR_SET_PDEATHSIG), and inherits no other descriptor. An exec failure is
 * reported to the caller synchronously with the reason. When spec->sandbox is
 * set, the child is started inside the native sandbox (sandbox/sandbox.h).
 */
#ifndef MCPWALL_TRANSPORT_CHILD_H
#define MCPWALL_TRANSPORT_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sandbox_profile;

struct child_spec {
    char *const *argv;                      /* argv[0] is looked up in PATH */
    char *const *envp;                      /* NULL: the caller's environment */
    const char *cwd;                        /* NULL: the caller's */
    const struct sandbox_profile *sandbox;  /* NULL: unsandboxed */
};

struct child {
    pid_t pid;
    int in_fd;  /* we write: the child's stdin (non-blocking, close-on-exec) */
    int out_fd; /* we read: the child's stdout */
    int err_fd; /* we read: the child's stderr */
    int ev_fd;  /* sandboxed only (else -1), we read: one JSON line per violation the
                 * sandbox observed ({"event":"sandbox.denied",...}, sandbox.h) */
};

/* Starts the child. Returns 0, or -1 with a sentence in err (never secrets). */
int child_spawn(const struct child_spec *spec, struct child *c, char *err, size_t errlen);
/* Sends a signal to the child (its process group); ignores a child already gone. */
void child_signal(const struct child *c, int sig);
/* Closes any fds still open in c (sets them to -1). */
void child_close_fds(struct child *c);
/* Describes a wait() status: "exited with status 3", "killed by signal 9 (SIGKILL)". */
void child_describe_status(int status, char *out, size_t outsz);

#endif
