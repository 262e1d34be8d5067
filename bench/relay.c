/* relay - the floor for any stdio intermediary: spawns CMD and copies bytes
 * both ways with poll/read/write, nothing else. Writes never block (a full
 * pipe would otherwise deadlock with a command that is itself waiting to
 * write to us): each direction has a buffer, read only while it has room.
 * Prints its own CPU time and peak RSS to stderr on exit.
 * Usage: relay CMD ARGS... */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP (1u << 20)

struct dir {
    int from, to;
    char *buf;
    size_t off, len;
    bool eof;
};

/* Reads what fits; -1 at end of input. */
static int fill(struct dir *d)
{
    if (d->off > 0 && d->len > 0)
        memmove(d->buf, d->buf + d->off, d->len);
    d->off = 0;
    ssize_t r = read(d->from, d->buf + d->len, CAP - d->len);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0)
        return -1;
    d->len += (size_t)r;
    return 0;
}

/* Writes what the pipe takes; -1 when the reader is gone. */
static int drain(struct dir *d)
{
    while (d->len > 0) {
        ssize_t w = write(d->to, d->buf + d->off, d->len);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (w <= 0)
            return -1;
        d->off += (size_t)w;
        d->len -= (size_t)w;
    }
    d->off = 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int in[2], outp[2];
    if (pipe(in) < 0 || pipe(outp) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        close(in[0]);
        close(in[1]);
        close(outp[0]);
        close(outp[1]);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    signal(SIGPIPE, SIG_IGN);
    struct dir up = {.from = 0, .to = in[1], .buf = malloc(CAP)};
    struct dir down = {.from = outp[0], .to = 1, .buf = malloc(CAP)};
    if (up.buf == NULL || down.buf == NULL)
        return 1;
    int fds[] = {0, 1, in[1], outp[0]};
    for (size_t i = 0; i < 4; i++)
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    for (;;) {
        struct pollfd p[4] = {
            {.fd = !up.eof && up.len < CAP ? up.from : -1, .events = POLLIN},
            {.fd = up.len > 0 ? up.to : -1, .events = POLLOUT},
            {.fd = !down.eof && down.len < CAP ? down.from : -1, .events = POLLIN},
            {.fd = down.len > 0 ? down.to : -1, .events = POLLOUT},
        };
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if ((p[0].revents & (POLLIN | POLLHUP)) && fill(&up) < 0)
            up.eof = true;
        if (drain(&up) < 0)
            break;
        if (up.eof && up.len == 0 && up.to >= 0) {
            close(up.to);
            up.to = -1;
        }
        if ((p[2].revents & (POLLIN | POLLHUP)) && fill(&down) < 0)
            down.eof = true;
        if (drain(&down) < 0 || (down.eof && down.len == 0))
            break;
    }
    int st;
    waitpid(pid, &st, 0);
    free(up.buf);
    free(down.buf);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "relay resource usage: user %ld.%06lds sys %ld.%06lds peak RSS %ld KiB\n",
            (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
            (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    return 0;
}
