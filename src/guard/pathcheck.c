/* pathcheck.c - lexical and physical path resolution (see pathcheck.h). */
#include "guard/pathcheck.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends component c[0,n) to out (holding `*len` bytes, "/" for the root). */
static int append(char *out, size_t outsz, size_t *len, const char *c, size_t n)
{
    size_t need = *len + (*len > 1 ? 1 : 0) + n + 1;
    if (need > outsz)
        return -1;
    if (*len > 1)
        out[(*len)++] = '/';
    memcpy(out + *len, c, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

static void pop(char *out, size_t *len)
{
    while (*len > 1 && out[*len - 1] != '/')
        (*len)--;
    if (*len > 1)
        (*len)--; /* the separator */
    out[*len] = '\0';
}

int path_lexical(const char *abs, char *out, size_t outsz)
{
    if (outsz < 2 || abs[0] != '/')
        return -1;
    size_t len = 1;
    out[0] = '/';
    out[1] = '\0';
    const char *p = abs;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            pop(out, &len);
            continue;
        }
        if (append(out, outsz, &len, s, n) < 0)
            return -1;
    }
    return 0;
}

int path_physical(const char *abs, char *out, size_t outsz, const char **reason)
{
    return path_physical_from(NULL, abs, out, outsz, reason);
}

int path_physical_from(const char *resolved, const char *abs, char *out, size_t outsz,
                       const char **reason)
{
    char rest[2 * PATH_MAX];
    char link[PATH_MAX];
    size_t len = 1;
    unsigned links = 0;
    bool exists = true;

    if (outsz < 2 || abs[0] != '/' || strlen(abs) >= sizeof(rest)) {
        *reason = "path_too_long";
        return -1;
    }
    memcpy(rest, abs, strlen(abs) + 1);
    out[0] = '/';
    out[1] = '\0';
    size_t off = 0;
    size_t rl = resolved != NULL ? strlen(resolved) : 0;
    if (rl > 1 && rl < outsz && resolved[0] == '/' && strncmp(abs, resolved, rl) == 0 &&
        (abs[rl] == '/' || abs[rl] == '\0')) {
        memcpy(out, resolved, rl + 1);
        len = rl;
        off = rl;
    }
    while (rest[off] != '\0') {
        while (rest[off] == '/')
            off++;
        size_t s = off;
        while (rest[off] != '\0' && rest[off] != '/')
            off++;
        size_t n = off - s;
        if (n == 0 || (n == 1 && rest[s] == '.'))
            continue;
        if (n == 2 && rest[s] == '.' && rest[s + 1] == '.') {
            pop(out, &len);
            continue;
        }
        size_t before = len;
        if (append(out, outsz, &len, rest + s, n) < 0) {
            *reason = "path_too_long";
            return -1;
        }
        if (!exists)
            continue;
        struct stat st;
        if (lstat(out, &st) < 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                exists = false; /* the rest is judged lexically */
                continue;
            }
            *reason = errno == ENAMETOOLONG ? "path_too_long" : "path_unresolvable";
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++links > PATH_MAX_SYMLINKS) {
                *reason = "path_symlink_loop";
                return -1;
            }
            ssize_t ln = readlink(out, link, sizeof(link) - 1);
            if (ln < 0) {
                *reason = "path_unresolvable";
                return -1;
            }
            link[ln] = '\0';
            /* rest := link "/" rest[off..] */
            size_t tail = strlen(rest + off);
            if ((size_t)ln + 1 + tail + 1 > sizeof(rest)) {
                *reason = "path_too_long";
                return -1;
            }
            memmove(rest + ln + 1, rest + off, tail + 1);
            memcpy(rest, link, (size_t)ln);
            rest[ln] = '/';
            off = 0;
            if (link[0] == '/') {
                len = 1;
                out[1] = '\0';
            } else {
                len = before;
                out[len] = '\0';
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            /* A file with components after it: the kernel would fail with
             * ENOTDIR; a lexical normaliser would fold a following "..". */
            bool more = false;
            for (size_t k = off; rest[k] != '\0'; k++)
                if (rest[k] != '/') {
                    more = true;
                    break;
                }
            if (more)
                exists = false;
        }
    }
    return 0;
}

bool path_within(const char *path, const char *root)
{
    size_t rl = strlen(root);
    if (rl == 1 && root[0] == '/')
        return path[0] == '/';
    if (strncmp(path, root, rl) != 0)
        return false;
    return path[rl] == '\0' || path[rl] == '/';
}
