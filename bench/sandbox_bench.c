/* sandbox_bench - what the native sandbox costs.
 *
 *   start-up   time from spawning a small C MCP server to its first
 *              `initialize` answer, unsandboxed (fork+exec) and sandboxed
 *              (sandbox_spawn, profile strict); medians of N runs.
 *   per call   round-trip latency of `tools/call echo` over stdio, same two
 *              ways, interleaved rounds; and the cost of the seccomp filter
 *              itself per system call (getppid in a loop, before and after
 *              loading the sandbox's filter).
 *
 * usage: sandbox_bench [SERVER] [--runs N] [--calls N]
 * SERVER defaults to echo_server next to this program (bench/).
 * Targets (issue #8): <= 30 ms added at start, <= 2 % on call latency.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct srv {
    pid_t pid;
    int in;   /* we write */
    int out;  /* we read */
    char buf[65536];
    size_t len;
};

static int spawn_server(const char *path, bool sandboxed, struct srv *s)
{
    int pin[2], pout[2];
    if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0)
        return -1;
    char *argv[] = {(char *)path, NULL};
    s->len = 0;
    if (sandboxed) {
        char err[512];
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (sandbox_spawn(sandbox_builtin("strict"), argv, NULL, "/", pin[0], pout[1], devnull,
                          &s->pid, err, sizeof(err)) < 0) {
            fprintf(stderr, "sandbox_bench: %s\n", err);
            return -1;
        }
        close(devnull);
    } else {
        s->pid = fork();
        if (s->pid == 0) {
            dup2(pin[0], 0);
            dup2(pout[1], 1);
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2);
            execv(path, argv);
            _exit(127);
        }
    }
    close(pin[0]);
    close(pout[1]);
    s->in = pin[1];
    s->out = pout[0];
    return s->pid > 0 ? 0 : -1;
}

static int send_line(struct srv *s, const char *line)
{
    size_t n = strlen(line);
    while (n > 0) {
        ssize_t w = write(s->in, line, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        line += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response line (discarded). */
static int read_line(struct srv *s)
{
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        if (nl != NULL) {
            size_t used = (size_t)(nl - s->buf) + 1;
            memmove(s->buf, s->buf + used, s->len - used);
            s->len -= used;
            return 0;
        }
        if (s->len == sizeof(s->buf))
            return -1;
        ssize_t r = read(s->out, s->buf + s->len, sizeof(s->buf) - s->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        s->len += (size_t)r;
    }
}

static void stop_server(struct srv *s)
{
    close(s->in);
    close(s->out);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
}

static const char *init_req = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
                              "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                              "\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int startup(const char *path, bool sandboxed, size_t runs, double *med, double *p90)
{
    double *t = calloc(runs, sizeof(double));
    for (size_t i = 0; i < runs; i++) {
        struct srv s;
        double t0 = now_us();
        if (spawn_server(path, sandboxed, &s) < 0 || send_line(&s, init_req) < 0 ||
            read_line(&s) < 0) {
            free(t);
            return -1;
        }
        t[i] = now_us() - t0;
        stop_server(&s);
    }
    *med = median(t, runs);
    *p90 = t[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1];
    free(t);
    return 0;
}

/* Mean round trip of `calls` echo calls on a running server, in µs. */
static double call_round(struct srv *s, size_t calls, unsigned *id)
{
    char req[256];
    double t0 = now_us();
    for (size_t i = 0; i < calls; i++) {
        snprintf(req, sizeof(req),
                 "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"echo\",\"arguments\":{\"text\":\"hello\"}}}\n",
                 ++*id);
        if (send_line(s, req) < 0 || read_line(s) < 0)
            return -1;
    }
    return (now_us() - t0) / (double)calls;
}

/* ns per getppid() in a child, before and after loading the sandbox's filter. */
static int syscall_cost(double *before, double *after)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t c = fork();
    if (c == 0) {
        double r[2];
        struct sock_fprog prog;
        char err[256];
        const long n = 2000000;
        for (int phase = 0; phase < 2; phase++) {
            if (phase == 1) {
                if (sb_seccomp_build(sandbox_builtin("strict"), false, &prog, err, sizeof(err)) < 0 ||
                    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
                    _exit(1);
            }
            for (long i = 0; i < n / 10; i++) /* warm up */
                syscall(SYS_getppid);
            double t0 = now_us();
            for (long i = 0; i < n; i++)
                syscall(SYS_getppid);
            r[phase] = (now_us() - t0) * 1000.0 / (double)n;
        }
        ssize_t w = write(p[1], r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(p[1]);
    double r[2];
    ssize_t got = read(p[0], r, sizeof(r));
    close(p[0]);
    waitpid(c, NULL, 0);
    if (got != (ssize_t)sizeof(r))
        return -1;
    *before = r[0];
    *after = r[1];
    return 0;
}

int main(int argc, char **argv)
{
    char def[4096];
    const char *server = NULL;
    size_t runs = 30, calls = 5000;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || runs == 0)
                runs = 30;
        } else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
            calls = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || calls == 0)
                calls = 5000;
        } else {
            server = argv[i];
        }
    }
    if (server == NULL) {
        ssize_t n = readlink("/proc/self/exe", def, sizeof(def) - 64);
        if (n <= 0)
            return 2;
        def[n] = '\0';
        char *slash = strrchr(def, '/');
        if (slash != NULL)
            *slash = '\0';
        size_t l = strlen(def);
        /* the bench's own echo server: built in every tree (the release
         * tree builds no test servers) */
        snprintf(def + l, sizeof(def) - l, "/echo_server");
        server = def;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("sandbox benchmark: server %s, profile strict, %zu start-ups, %zu calls per round\n",
           server, runs, calls);

    double um, u90, sm, s90;
    if (startup(server, false, 3, &um, &u90) < 0 || startup(server, true, 3, &sm, &s90) < 0) {
        fprintf(stderr, "sandbox_bench: cannot start the server (unsandboxed or sandboxed)\n");
        return 1;
    }
    if (startup(server, false, runs, &um, &u90) < 0 || startup(server, true, runs, &sm, &s90) < 0)
        return 1;
    printf("start-up to first initialize answer: unsandboxed %.2f ms (p90 %.2f), sandboxed %.2f ms "
           "(p90 %.2f): +%.2f ms [target <= 30 ms: %s]\n",
           um / 1000, u90 / 1000, sm / 1000, s90 / 1000, (sm - um) / 1000,
           (sm - um) / 1000 <= 30 ? "met" : "MISSED");

    /* Per-call latency: interleaved rounds against two servers; the median of
     * the per-round ratio, and the ratio of the best rounds (least disturbed by
     * the scheduler). The same measurement between two identical unsandboxed
     * servers (A/A) shows how much of a difference is noise on this machine. */
    struct srv sa, sb, sc;
    unsigned id = 0;
    if (spawn_server(server, false, &sa) < 0 || send_line(&sa, init_req) < 0 || read_line(&sa) < 0 ||
        spawn_server(server, false, &sb) < 0 || send_line(&sb, init_req) < 0 || read_line(&sb) < 0 ||
        spawn_server(server, true, &sc) < 0 || send_line(&sc, init_req) < 0 || read_line(&sc) < 0)
        return 1;
    call_round(&sa, 500, &id);
    call_round(&sb, 500, &id);
    call_round(&sc, 500, &id);
    enum { ROUNDS = 21 };
    double la[ROUNDS], lb[ROUNDS], lc[ROUNDS], rab[ROUNDS], rac[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        struct srv *order[3] = {&sa, &sb, &sc};
        double *out[3] = {&la[r], &lb[r], &lc[r]};
        for (int k = 0; k < 3; k++) {
            int j = (k + r) % 3; /* rotate who goes first */
            *out[j] = call_round(order[j], calls / 4, &id);
            if (*out[j] < 0)
                return 1;
        }
        rab[r] = lb[r] / la[r];
        rac[r] = lc[r] / la[r];
    }
    stop_server(&sa);
    stop_server(&sb);
    stop_server(&sc);
    double ma = median(la, ROUNDS), mc = median(lc, ROUNDS);
    double noise = (median(rab, ROUNDS) - 1.0) * 100.0;
    double pct = (median(rac, ROUNDS) - 1.0) * 100.0;
    double best = (lc[0] / la[0] - 1.0) * 100.0; /* la, lc are sorted by median() */
    /* Over the target by no more than two identical servers differ (the A/A
     * noise) says nothing either way: the verdict says so rather than met or
     * missed. */
    const char *verdict = pct <= 2.0                  ? "met"
                          : pct <= 2.0 + fabs(noise) ? "not resolved: within the A/A noise"
                                                     : "MISSED";
    printf("call latency (tools/call echo, stdio round trip, %d interleaved rounds): "
           "unsandboxed %.2f us, sandboxed %.2f us (medians)\n"
           "  sandboxed vs unsandboxed: %+.2f %% (median of per-round ratios), %+.2f %% (best "
           "rounds); A/A noise floor between two unsandboxed servers: %+.2f %% [target <= 2 %%: "
           "%s]\n",
           ROUNDS, ma, mc, pct, best, noise, verdict);
    double b, a;
    if (syscall_cost(&b, &a) == 0) {
        /* the server makes two system calls per call: read the request, write the answer */
        double share = 2.0 * (a - b) / 1000.0 / ma * 100.0;
        printf("seccomp filter per system call (getppid): %.1f ns without, %.1f ns with: %+.1f ns;\n"
               "  at 2 system calls per call that is %+.2f %% of a call [target <= 2 %%: %s]\n",
               b, a, a - b, share, share <= 2.0 ? "met" : "MISSED");
    }
    return 0;
}
