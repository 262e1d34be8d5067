#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *file_read_all(const char *path, size_t max, size_t *len, enum file_status *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *st = FILE_E_OPEN;
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        *st = FILE_E_NOT_REGULAR;
        close(fd);
        return NULL;
    }
    if ((uint64_t)sb.st_size > max) {
        *st = FILE_E_TOO_BIG;
        close(fd);
        return NULL;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    char *data = malloc(n + 1);
    while (data != NULL && got < n) {
        ssize_t r = read(fd, data + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (data == NULL || got != n) {
        free(data);
        *st = FILE_E_READ;
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    *st = FILE_OK;
    return data;
}

void file_read_error(char *out, size_t outsz, const char *path, size_t max, enum file_status st)
{
    if (out == NULL || outsz == 0)
        return;
    switch (st) {
    case FILE_OK: out[0] = '\0'; return;
    case FILE_E_OPEN: snprintf(out, outsz, "%s: cannot open: %s", path, strerror(errno)); return;
    case FILE_E_NOT_REGULAR: snprintf(out, outsz, "%s: not a regular file", path); return;
    case FILE_E_TOO_BIG: snprintf(out, outsz, "%s: file larger than %zu bytes", path, max); return;
    case FILE_E_READ: snprintf(out, outsz, "%s: cannot read", path); return;
    }
}
