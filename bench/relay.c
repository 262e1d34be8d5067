/* relay - the floor for any stdio intermediary: spawns CMD and copies bytes
 * both ways with poll/read/write, nothing else. Prints its own CPU time and
 * peak RSS to stderr on exit. Usage: relay CMD ARGS... */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int copy(int from, int to)
{
    char buf[65536];
    ssize_t r = read(from, buf, sizeof(buf));
    if (r <= 0)
        return -1;
    for (ssize_t off = 0; off < r;) {
        ssize_t w = write(to, buf + off, (size_t)(r - off));
        if (w <= 0)
            return -1;
        off += w;
    }
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
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = outp[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            if (copy(0, in[1]) < 0) {
                close(in[1]);
                p[0].fd = -1;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            if (copy(outp[0], 1) < 0)
                break;
        }
    }
    int st;
    waitpid(pid, &st, 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "relay resource usage: user %ld.%06lds sys %ld.%06lds peak RSS %ld KiB\n",
            (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
            (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    return 0;
}
