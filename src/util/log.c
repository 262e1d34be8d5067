#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_tag = "mcpwall";
static enum log_level log_level = LOG_LVL_INFO;
static int log_fd = 2;
static void (*log_scrubber)(char *line, size_t len);

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *tag, enum log_level level, int fd)
{
    if (tag != NULL)
        log_tag = tag;
    log_level = level;
    log_fd = fd;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

int log_fd_get(void)
{
    return log_fd;
}

void log_set_scrubber(void (*fn)(char *line, size_t len))
{
    log_scrubber = fn;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* One write() per line so lines from concurrent writers never interleave. */
static void log_emit(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
    char line[2048];
    size_t n = 0;
    struct timespec ts;
    struct tm tm;

    if (lvl > log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int w = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000, log_tag,
                     level_names[lvl]);
    if (w > 0)
        n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
    w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (w > 0)
        n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
    if (errnum != 0 && n < sizeof(line) - 1) {
        w = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
        if (w > 0)
            n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
    }
    if (log_scrubber != NULL)
        log_scrubber(line, n);
    /* Control characters from peers (their stderr, names) never reach a terminal raw. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            line[i] = '?';
    }
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t r;
    do {
        r = write(log_fd, line, n);
    } while (r < 0 && errno == EINTR);
}

#define LOG_FN(name, lvl, with_errno)                                                              \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_emit(lvl, with_errno ? saved : 0, fmt, ap);                                            \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)

noreturn void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(LOG_LVL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}

noreturn void fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_emit(LOG_LVL_ERROR, saved, fmt, ap);
    va_end(ap);
    exit(1);
}
