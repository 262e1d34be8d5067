/* logsearch.h - the configured log files, strict resolution of a client's
 * log_path, and an incremental, bounded PCRE2 search.
 *
 * Resolution: the client's path must be, byte for byte, the canonical path
 * (realpath at start) of a configured file, and must still resolve to itself
 * at call time. '..' and '.' segments, repeated '/', relative paths, NUL
 * bytes, symbolic links (anywhere in the path) and names that merely share a
 * prefix with a configured file are refused with a clear message. The file is
 * opened with openat2(RESOLVE_NO_SYMLINKS) (where openat2 is missing: one
 * component at a time with O_NOFOLLOW) and must be a regular file.
 *
 * Search: the pattern is compiled once (length, nesting and UTF checks), run
 * line by line with PCRE2 match, depth and heap limits (JIT with a bounded
 * stack where available); lines are read in bounded chunks; the caller runs
 * logsearch_step() repeatedly with a time slice, so the event loop stays
 * responsive and cancellation is honoured between slices. Output lines are
 * cut to max_line_len on a UTF-8 boundary, control characters and invalid
 * UTF-8 are replaced by U+FFFD, and the total output is capped.
 */
#ifndef MCPWALL_ST_LOGSEARCH_H
#define MCPWALL_ST_LOGSEARCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"
#include "util/buf.h"

struct logfile {
    char *path;      /* canonical absolute path */
    char *uri;       /* file:// URI */
    char *name;      /* basename */
};

struct logset {
    struct logfile *f;
    size_t n;
};

void logset_free(struct logset *ls);
/* Adds a configured file (absolute path; must exist and be a regular file).
 * Duplicates after canonicalisation are reported. */
int logset_add(struct logset *ls, const char *configured, struct cfg_errors *errs);
/* Resolves a client's log_path; returns the index, or -1 with a sentence for
 * the client in msg (never an errno text). */
int logset_resolve(const struct logset *ls, const char *arg, size_t arglen, char *msg,
                   size_t msgsz);
/* Opens file idx read-only without following symlinks; -1 on failure. */
int logset_open(const struct logset *ls, size_t idx);

struct logsearch_opts {
    uint32_t match_limit;
    uint32_t depth_limit;
    uint32_t heap_limit_kib;
    uint64_t timeout_us;     /* wall time for the whole search */
    size_t max_output;       /* bytes of matched text returned */
    size_t max_line_len;     /* bytes of one returned line */
    size_t max_pattern;      /* bytes of the pattern */
    size_t max_scan_line;    /* bytes of a line that are searched */
    bool redact;             /* redact secrets in returned lines */
};

enum logsearch_status { LS_MORE = 0, LS_DONE, LS_FAILED };

struct logsearch;

/* Compiles the pattern and prepares to read fd (taken over; closed by
 * logsearch_free). NULL with a sentence in err for a bad pattern. */
struct logsearch *logsearch_new(int fd, const char *pattern, size_t patlen, unsigned max_lines,
                                const struct logsearch_opts *o, char *err, size_t errsz);
/* Works for about slice_us; LS_DONE when finished (see the result),
 * LS_FAILED when the pattern hit a match limit (err holds the sentence). */
enum logsearch_status logsearch_step(struct logsearch *s, uint64_t slice_us, char *err,
                                     size_t errsz);
/* The result: {"matches":[{"line":N,"text":...}], "lines_scanned":N,
 * "truncated":bool, "stopped_by":"end_of_file"|"max_lines"|"output_limit"|
 * "time_limit"}. New reference. */
json_t *logsearch_result(const struct logsearch *s);
void logsearch_free(struct logsearch *s);

/* Appends text[0,n) to out made safe for clients: invalid UTF-8, control
 * characters (except tab, and newline when keep_newlines) and bidi overrides
 * become U+FFFD; cut at max bytes on a character boundary. Returns 0, or -1
 * when out is full. */
int logsearch_sanitize(const char *text, size_t n, size_t max, bool keep_newlines,
                       struct buf *out);

#endif
