/* log.h - diagnostics for operators (stderr or a file), never for peers.
 *
 * Levels follow OpenBSD's split: log_warnx() is for bad input or a failed
 * operation the program survives; fatalx() is for a broken invariant or a
 * failed startup and exits. Nothing written here may contain a secret:
 * callers pass identifiers and reasons, never tokens or argument values.
 */
#ifndef MCPWALL_UTIL_LOG_H
#define MCPWALL_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdnoreturn.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program tag, the minimum level and the file descriptor (2 by default). */
void log_init(const char *tag, enum log_level level, int fd);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* The descriptor log lines go to (for a forked helper that keeps it open). */
int log_fd_get(void);
/* Installs a filter that may overwrite bytes of every formatted line before
 * it is written (same length; the secrets module uses it to blank registered
 * secret values). NULL removes it. Called on the logging thread. */
void log_set_scrubber(void (*fn)(char *line, size_t len));
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like log_warnx() with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Always-on invariant check (never compiled out, unlike assert()). */
#define MW_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            fatalx("invariant violated: %s (%s:%d)", #cond, __FILE__, __LINE__);                   \
    } while (0)

#endif
