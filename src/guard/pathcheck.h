/* pathcheck.h - where a path argument really points.
 *
 * path_lexical() normalises an absolute path as a string: repeated '/', '.'
 * and '..' are folded without looking at the filesystem (what Node's
 * path.resolve and Python's os.path.normpath do before a server checks or
 * opens it).
 *
 * path_physical() resolves an absolute path the way the kernel walks it:
 * component by component, following every symbolic link (also a dangling one,
 * and the last component), applying '..' to the directory reached so far, with
 * at most PATH_MAX_SYMLINKS links. When a component does not exist (or is not
 * a directory), the rest is applied lexically to the deepest existing
 * directory, so a file that is about to be created is judged by where it
 * would be created.
 *
 * path_within() is a component-wise prefix test: "/data" contains "/data" and
 * "/data/x" but not "/data_secret".
 *
 * Limits: both results are at most PATH_MAX-1 bytes. The check is a snapshot:
 * the filesystem can change between the check and the server's open(2)
 * (TOCTOU); confine the server with the sandbox (Landlock) for a guarantee.
 */
#ifndef MCPWALL_GUARD_PATHCHECK_H
#define MCPWALL_GUARD_PATHCHECK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define PATH_MAX_SYMLINKS 40

/* abs must start with '/'. Returns 0, or -1 when the result does not fit. */
int path_lexical(const char *abs, char *out, size_t outsz);
/* Returns 0, or -1 with *reason "path_too_long", "path_symlink_loop" or
 * "path_unresolvable" (a component could not be examined, e.g. EACCES). */
int path_physical(const char *abs, char *out, size_t outsz, const char **reason);
/* The same, trusting `resolved` (the output of an earlier path_physical(),
 * e.g. a policy root) when abs starts with it followed by '/' or the end:
 * only the components after it are examined. resolved may be NULL. */
int path_physical_from(const char *resolved, const char *abs, char *out, size_t outsz,
                       const char **reason);
bool path_within(const char *path, const char *root);

#endif
