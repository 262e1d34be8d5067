/* logsearch.c - see logsearch.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "logsearch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jit.h"
#include "redact.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#define LS_READ_CHUNK (64u * 1024u)

/* ---- configured files ------------------------------------------------- */

void logset_free(struct logset *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->f[i].path);
        free(ls->f[i].uri);
        free(ls->f[i].name);
    }
    free(ls->f);
    ls->f = NULL;
    ls->n = 0;
}

/* file:// URI of an absolute path, percent-encoding what is not unreserved or '/'. */
static char *file_uri(const char *path)
{
    size_t n = strlen(path);
    char *u = malloc(7 + 3 * n + 1);
    if (u == NULL)
        return NULL;
    memcpy(u, "file://", 7);
    size_t o = 7;
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
            u[o++] = (char)c;
        } else {
            u[o++] = '%';
            u[o++] = hx[c >> 4];
            u[o++] = hx[c & 15];
        }
    }
    u[o] = '\0';
    return u;
}

int logset_add(struct logset *ls, const char *configured, struct cfg_errors *errs)
{
    if (configured[0] != '/') {
        cfg_errors_add(errs, "log file %s: the path must be absolute", configured);
        return -1;
    }
    char *rp = realpath(configured, NULL);
    if (rp == NULL) {
        cfg_errors_add(errs, "log file %s: %s", configured, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (stat(rp, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        cfg_errors_add(errs, "log file %s: not a regular file", configured);
        free(rp);
        return -1;
    }
    for (size_t i = 0; i < ls->n; i++) {
        if (strcmp(ls->f[i].path, rp) == 0) {
            cfg_errors_add(errs, "log file %s: listed twice (it is %s)", configured, rp);
            free(rp);
            return -1;
        }
    }
    struct logfile *nf = realloc(ls->f, (ls->n + 1) * sizeof(*nf));
    if (nf == NULL) {
        free(rp);
        return -1;
    }
    ls->f = nf;
    const char *base = strrchr(rp, '/');
    struct logfile *f = &ls->f[ls->n];
    f->path = rp;
    f->uri = file_uri(rp);
    f->name = strdup(base != NULL ? base + 1 : rp);
    if (f->uri == NULL || f->name == NULL) {
        free(f->uri);
        free(f->name);
        free(rp);
        return -1;
    }
    ls->n++;
    return 0;
}

static void setmsg(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setmsg(char *msg, size_t msgsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}

int logset_resolve(const struct logset *ls, const char *arg, size_t arglen, char *msg,
                   size_t msgsz)
{
    if (arglen == 0 || strlen(arg) != arglen) {
        setmsg(msg, msgsz, "log_path is empty or contains a NUL character");
        return -1;
    }
    if (arglen >= PATH_MAX) {
        setmsg(msg, msgsz, "log_path is too long");
        return -1;
    }
    if (arg[0] != '/') {
        setmsg(msg, msgsz, "log_path must be an absolute path naming one of the configured log "
                           "files (see resources/list)");
        return -1;
    }
    /* Segment checks on the text itself, before touching the file system. */
    for (const char *p = arg; *p != '\0';) {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t sl = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
            setmsg(msg, msgsz, "log_path must not contain '..': path traversal is not allowed");
            return -1;
        }
        if ((sl == 1 && seg[0] == '.') || (sl == 0 && end != NULL)) {
            setmsg(msg, msgsz, "log_path must be written in canonical form (no '.' segments, no "
                               "repeated or trailing '/')");
            return -1;
        }
        if (sl == 0 && end == NULL && p != arg) {
            setmsg(msg, msgsz, "log_path must be written in canonical form (no '.' segments, no "
                               "repeated or trailing '/')");
            return -1;
        }
        if (end == NULL)
            break;
        p = end;
    }
    int idx = -1;
    for (size_t i = 0; i < ls->n; i++) {
        if (strcmp(ls->f[i].path, arg) == 0) {
            idx = (int)i;
            break;
        }
    }
    char *rp = realpath(arg, NULL);
    if (idx >= 0) {
        /* The name is a configured file: it must still resolve to itself (a
         * component replaced by a symbolic link since start is refused). */
        bool same = rp != NULL && strcmp(rp, arg) == 0;
        free(rp);
        if (!same) {
            setmsg(msg, msgsz, "log_path no longer resolves to the configured file (a symbolic "
                               "link in the path is not allowed)");
            return -1;
        }
        return idx;
    }
    if (rp != NULL) {
        for (size_t i = 0; i < ls->n; i++) {
            if (strcmp(ls->f[i].path, rp) == 0) {
                free(rp);
                setmsg(msg, msgsz, "log_path reaches a configured log file through a symbolic "
                                   "link, which is not allowed: use the file's own path %s",
                       ls->f[i].path);
                return -1;
            }
        }
        free(rp);
    }
    setmsg(msg, msgsz, "log_path is not one of the configured log files (names must match "
                       "exactly; see resources/list)");
    return -1;
}

/* Opens an absolute path one component at a time, refusing a symbolic link
 * anywhere (for kernels, or valgrind, without openat2). */
static int open_walk_nofollow(const char *path)
{
    int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = path + 1;
    while (dfd >= 0 && *p != '\0') {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        char comp[NAME_MAX + 1];
        if (n == 0 || n > NAME_MAX) {
            close(dfd);
            errno = EINVAL;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int flags = slash != NULL ? O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                                  : O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        int nfd = openat(dfd, comp, flags);
        close(dfd);
        if (nfd < 0 || slash == NULL)
            return nfd;
        dfd = nfd;
        p = slash + 1;
    }
    if (dfd >= 0)
        close(dfd);
    errno = EINVAL;
    return -1;
}

int logset_open(const struct logset *ls, size_t idx)
{
    if (idx >= ls->n)
        return -1;
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, ls->f[idx].path, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM))
        fd = open_walk_nofollow(ls->f[idx].path);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* ---- text made safe ------------------------------------------------------- */

int logsearch_sanitize(const char *text, size_t n, size_t max, bool keep_newlines, struct buf *out)
{
    static const char repl[] = "\xef\xbf\xbd";
    size_t used = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len;
        const char *piece;
        size_t plen;
        if (utf8_decode((const unsigned char *)text + i, n - i, &cp, &len) != UTF8_OK) {
            piece = repl;
            plen = 3;
            len = 1;
        } else if ((cp < 0x20 && cp != '\t' && !(keep_newlines && cp == '\n')) || (cp >= 0x7f && cp <= 0x9f) ||
                   (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
            /* C0/C1 controls (terminal escapes) and bidi overrides. */
            piece = repl;
            plen = 3;
        } else {
            piece = text + i;
            plen = len;
        }
        if (used + plen > max)
            break;
        if (buf_append(out, piece, plen) < 0)
            return -1;
        used += plen;
        i += len;
    }
    return 0;
}

/* ---- the search --------------------------------------------------------------- */

struct logsearch {
    int fd;
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    struct logsearch_opts o;
    unsigned max_lines;
    char *buf;
    size_t cap, len, off;
    bool eof;
    bool skipping;
    uint64_t line_no;
    uint64_t deadline;
    json_t *matches;
    size_t out_bytes;
    const char *stopped_by;
    bool done;
};

void logsearch_free(struct logsearch *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    pcre2_code_free(s->code);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jstack);
    free(s->buf);
    json_decref(s->matches);
    free(s);
}

struct logsearch *logsearch_new(int fd, const char *pattern, size_t patlen, unsigned max_lines,
                                const struct logsearch_opts *o, char *err, size_t errsz)
{
    struct logsearch *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        close(fd);
        snprintf(err, errsz, "the search could not be started");
        return NULL;
    }
    s->fd = fd;
    s->o = *o;
    s->max_lines = max_lines;
    if (patlen == 0 || patlen > o->max_pattern) {
        snprintf(err, errsz, "pattern must be 1 to %zu bytes long", o->max_pattern);
        goto fail;
    }
    if (strlen(pattern) != patlen) {
        snprintf(err, errsz, "pattern must not contain a NUL character");
        goto fail;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (cc == NULL) {
        snprintf(err, errsz, "the search could not be started");
        goto fail;
    }
    pcre2_set_max_pattern_length(cc, o->max_pattern);
    pcre2_set_parens_nest_limit(cc, 32);
    int ec;
    PCRE2_SIZE eo;
    s->code = pcre2_compile((PCRE2_SPTR)pattern, patlen,
                            PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &ec,
                            &eo, cc);
    pcre2_compile_context_free(cc);
    if (s->code == NULL) {
        char pm[160];
        if (pcre2_get_error_message(ec, (PCRE2_UCHAR *)pm, sizeof(pm)) < 0)
            snprintf(pm, sizeof(pm), "syntax error");
        snprintf(err, errsz, "pattern is not a valid regular expression: %s (at offset %zu)", pm,
                 (size_t)eo);
        goto fail;
    }
    s->mctx = pcre2_match_context_create(NULL);
    s->md = pcre2_match_data_create_from_pattern(s->code, NULL);
    if (s->mctx == NULL || s->md == NULL) {
        snprintf(err, errsz, "the search could not be started");
        goto fail;
    }
    pcre2_set_match_limit(s->mctx, o->match_limit);
    pcre2_set_depth_limit(s->mctx, o->depth_limit);
    pcre2_set_heap_limit(s->mctx, o->heap_limit_kib);
    if (st_jit_ok() && pcre2_jit_compile(s->code, PCRE2_JIT_COMPLETE) == 0) {
        s->jstack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
        if (s->jstack != NULL)
            pcre2_jit_stack_assign(s->mctx, NULL, s->jstack);
    }
    s->cap = o->max_scan_line + LS_READ_CHUNK;
    s->buf = malloc(s->cap);
    s->matches = json_array();
    if (s->buf == NULL || s->matches == NULL) {
        snprintf(err, errsz, "the search could not be started");
        goto fail;
    }
    s->deadline = mono_us() + o->timeout_us;
    s->stopped_by = "end_of_file";
    return s;
fail:
    logsearch_free(s);
    return NULL;
}

/* Returns 1 to go on, 0 when the search stopped, -1 on a limit error. */
static int process_line(struct logsearch *s, const char *line, size_t n, char *err, size_t errsz)
{
    s->line_no++;
    int rc = pcre2_match(s->code, (PCRE2_SPTR)line, n, 0, 0, s->md, s->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 1;
    if (rc < 0) {
        const char *what = "an internal limit";
        if (rc == PCRE2_ERROR_MATCHLIMIT)
            what = "the match limit";
        else if (rc == PCRE2_ERROR_DEPTHLIMIT)
            what = "the depth limit";
        else if (rc == PCRE2_ERROR_HEAPLIMIT)
            what = "the memory limit";
        else if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            what = "the stack limit";
        snprintf(err, errsz,
                 "the pattern was stopped by %s on line %llu (it backtracks too much: "
                 "simplify it, e.g. avoid nested quantifiers such as (a+)+)",
                 what, (unsigned long long)s->line_no);
        return -1;
    }
    struct buf red, out;
    buf_init(&red, n * 11 + 64);
    buf_init(&out, s->o.max_line_len + 8);
    const char *text = line;
    size_t tl = n;
    if (s->o.redact && redact_text(line, n, &red) >= 0) {
        text = buf_head(&red);
        tl = buf_used(&red);
    }
    int ok = logsearch_sanitize(text, tl, s->o.max_line_len, false, &out);
    json_t *js = ok == 0 ? json_stringn(buf_head(&out), buf_used(&out)) : NULL;
    size_t added = buf_used(&out);
    buf_free(&red);
    buf_free(&out);
    if (js == NULL)
        js = json_string("");
    if (s->out_bytes + added > s->o.max_output) {
        json_decref(js);
        s->stopped_by = "output_limit";
        return 0;
    }
    s->out_bytes += added;
    json_array_append_new(s->matches,
                          json_pack("{s:I, s:o}", "line", (json_int_t)s->line_no, "text", js));
    if (json_array_size(s->matches) >= s->max_lines) {
        s->stopped_by = "max_lines";
        return 0;
    }
    return 1;
}

enum logsearch_status logsearch_step(struct logsearch *s, uint64_t slice_us, char *err,
                                     size_t errsz)
{
    if (s->done)
        return LS_DONE;
    uint64_t now = mono_us();
    uint64_t slice_end = now + slice_us;
    unsigned n = 0;
    for (;;) {
        if ((++n & 63) == 0) {
            now = mono_us();
            if (now >= s->deadline) {
                s->stopped_by = "time_limit";
                s->done = true;
                return LS_DONE;
            }
            if (now >= slice_end)
                return LS_MORE;
        }
        char *start = s->buf + s->off;
        size_t avail = s->len - s->off;
        char *nl = memchr(start, '\n', avail);
        if (nl != NULL) {
            size_t ll = (size_t)(nl - start);
            s->off += ll + 1;
            if (s->skipping) {
                s->skipping = false;
                continue;
            }
            if (ll > 0 && start[ll - 1] == '\r')
                ll--;
            int rc = process_line(s, start, ll, err, errsz);
            if (rc < 0)
                return LS_FAILED;
            if (rc == 0) {
                s->done = true;
                return LS_DONE;
            }
            continue;
        }
        if (!s->skipping && avail >= s->o.max_scan_line) {
            /* An overlong line: search its first max_scan_line bytes, skip the rest. */
            int rc = process_line(s, start, s->o.max_scan_line, err, errsz);
            s->off = s->len;
            s->skipping = true;
            if (rc < 0)
                return LS_FAILED;
            if (rc == 0) {
                s->done = true;
                return LS_DONE;
            }
            continue;
        }
        if (s->skipping) {
            s->off = s->len;
            avail = 0;
        }
        if (s->eof) {
            if (avail > 0 && !s->skipping) {
                int rc = process_line(s, start, avail, err, errsz);
                s->off = s->len;
                if (rc < 0)
                    return LS_FAILED;
            }
            s->done = true;
            return LS_DONE;
        }
        /* Compact, then read the next chunk. */
        if (s->off > 0) {
            memmove(s->buf, s->buf + s->off, s->len - s->off);
            s->len -= s->off;
            s->off = 0;
        }
        ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            s->eof = true;
        else
            s->len += (size_t)r;
    }
}

json_t *logsearch_result(const struct logsearch *s)
{
    bool truncated = strcmp(s->stopped_by, "end_of_file") != 0;
    return json_pack("{s:O, s:I, s:b, s:s}", "matches", s->matches, "lines_scanned",
                     (json_int_t)s->line_no, "truncated", truncated, "stopped_by", s->stopped_by);
}
