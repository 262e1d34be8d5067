/* file.h - reading a whole configuration-sized file, bounded.
 *
 * Configuration, pins, host configuration and capture files are read the
 * same way: open, require a regular file no larger than a maximum, read it
 * all (EINTR retried), NUL-terminate; and one wording for what went wrong. */
#ifndef MCPWALL_UTIL_FILE_H
#define MCPWALL_UTIL_FILE_H

#include <stddef.h>

enum file_status {
    FILE_OK,
    FILE_E_OPEN,        /* open(2) failed: errno says why */
    FILE_E_NOT_REGULAR, /* a directory, FIFO, device ... */
    FILE_E_TOO_BIG,     /* larger than the maximum */
    FILE_E_READ,        /* out of memory or a short read */
};

/* Reads path into a malloc'd buffer of *len bytes plus a NUL. On failure
 * returns NULL and sets *st (errno is kept for FILE_E_OPEN). */
char *file_read_all(const char *path, size_t max, size_t *len, enum file_status *st);
/* The sentence for a failed file_read_all() ("<path>: cannot open: <why>",
 * "...: not a regular file", "...: file larger than <max> bytes", "...: cannot
 * read"). Call it right after the failure: FILE_E_OPEN reads errno. */
void file_read_error(char *out, size_t outsz, const char *path, size_t max, enum file_status st);

#endif
