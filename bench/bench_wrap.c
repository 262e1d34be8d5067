/* bench_wrap - tools/call round trips through a stdio MCP command.
 *
 *   bench_wrap [-n CALLS] [-w WARMUP] [-j INFLIGHT] [-s PAYLOAD_BYTES] -- CMD ARGS...
 *
 * Spawns CMD (a server, a relay in front of one, or mcpwall wrap), performs
 * the handshake, then keeps INFLIGHT tools/call echo requests outstanding
 * until CALLS have completed, timing each from write to answer. Prints one
 * JSON line: p50/p99 latency (µs), calls/s, and when CMD reported its own
 * "resource usage:" line on stderr at exit, its CPU µs per call and peak RSS. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct frame_reader fr;
static int rfd, wfd;
/* Requests not yet taken by the pipe. Writes never block: with many large
 * requests in flight a blocking write would wait on a command that is itself
 * waiting for us to read its answers. */
static struct buf outq;

static void flush_some(void)
{
    while (buf_used(&outq) > 0) {
        ssize_t w = write(wfd, buf_head(&outq), buf_used(&outq));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        buf_consume(&outq, (size_t)w);
    }
}

static void send_msg(const char *p, size_t n)
{
    if (buf_append(&outq, p, n) < 0) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    flush_some();
}

/* Reads until one complete message; returns its id (-1 for none). */
static long long read_reply(void)
{
    for (;;) {
        struct frame_item it = frame_next(&fr);
        if (it.kind == FRAME_LINE) {
            struct rpc_msg m;
            struct rpc_err e;
            if (rpc_parse(it.data, it.len, NULL, &m, &e) < 0) {
                fprintf(stderr, "bench: bad reply: %s\n", e.msg);
                exit(1);
            }
            long long id = json_is_integer(m.id) ? json_integer_value(m.id) : -1;
            if (m.kind == RPC_ERROR) {
                fprintf(stderr, "bench: error reply: %.*s\n", (int)it.len, it.data);
                exit(1);
            }
            rpc_msg_free(&m);
            if (id >= 0)
                return id;
            continue;
        }
        if (it.kind == FRAME_OVERSIZE) {
            fprintf(stderr, "bench: oversize reply\n");
            exit(1);
        }
        if (buf_used(&outq) > 0) {
            struct pollfd pf[2] = {{.fd = rfd, .events = POLLIN}, {.fd = wfd, .events = POLLOUT}};
            if (poll(pf, 2, -1) < 0 && errno != EINTR) {
                perror("poll");
                exit(1);
            }
            if (pf[1].revents != 0)
                flush_some();
            if (pf[0].revents == 0)
                continue;
        }
        ssize_t r = frame_read_fd(&fr, rfd);
        if (r <= 0) {
            fprintf(stderr, "bench: the command closed its output\n");
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    long calls = 20000, warmup = 1000, inflight = 1, payload = 100;
    int c;
    while ((c = getopt(argc, argv, "+n:w:j:s:")) != -1) {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end != '\0' || v < 0) {
            fprintf(stderr, "bad number %s\n", optarg);
            return 2;
        }
        switch (c) {
        case 'n': calls = v; break;
        case 'w': warmup = v; break;
        case 'j': inflight = v > 0 ? v : 1; break;
        case 's': payload = v; break;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: bench_wrap [-n N] [-w N] [-j N] [-s BYTES] -- CMD ARGS\n");
        return 2;
    }
    int in[2], out[2];
    char errpath[] = "/tmp/bench-wrap-stderr-XXXXXX";
    int errfd = mkstemp(errpath);
    if (pipe(in) < 0 || pipe(out) < 0 || errfd < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(errfd, 2);
        close(in[1]);
        close(out[0]);
        execvp(argv[optind], argv + optind);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    signal(SIGPIPE, SIG_IGN);
    wfd = in[1];
    rfd = out[0];
    fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
    frame_init(&fr, 64u << 20);
    buf_init(&outq, 64u << 20);

    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                       "\"name\":\"bench\",\"version\":\"1\"}}}\n";
    send_msg(init, strlen(init));
    read_reply();
    const char *inited = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
    send_msg(inited, strlen(inited));

    char *text = malloc((size_t)payload + 1);
    for (long i = 0; i < payload; i++)
        text[i] = (char)('a' + i % 26);
    text[payload] = '\0';
    struct buf req;
    buf_init(&req, (size_t)payload + 4096);

    long total = warmup + calls;
    uint64_t *sent = calloc((size_t)total + 1, sizeof(uint64_t));
    uint64_t *lat = calloc((size_t)calls + 1, sizeof(uint64_t));
    long next = 1, done = 0, measured = 0;
    uint64_t t_start = 0;
    while (done < total) {
        while (next <= total && next - done - 1 < inflight) {
            buf_reset(&req);
            buf_printf(&req, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":"
                             "{\"name\":\"echo\",\"arguments\":{\"text\":\"%s\"}}}\n",
                       next, text);
            if (next == warmup + 1)
                t_start = now_ns();
            sent[next] = now_ns();
            send_msg(buf_head(&req), buf_used(&req));
            next++;
        }
        long long id = read_reply();
        uint64_t t = now_ns();
        if (id < 1 || id > total)
            continue;
        if (id > warmup)
            lat[measured++] = (t - sent[id]) / 1000;
        done++;
    }
    uint64_t elapsed = now_ns() - t_start;
    close(wfd);
    int st;
    waitpid(pid, &st, 0);

    qsort(lat, (size_t)measured, sizeof(uint64_t), cmp_u64);
    double p50 = (double)lat[measured / 2];
    double p99 = (double)lat[(size_t)((double)measured * 0.99)];
    double cps = (double)calls / ((double)elapsed / 1e9);

    /* The command's own CPU and memory, if it reported them. */
    double cpu_us = -1;
    long rss = -1;
    FILE *f = fopen(errpath, "r");
    char line[1024];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *p = strstr(line, "resource usage: user ");
        if (p == NULL)
            continue;
        double u, s;
        if (sscanf(p, "resource usage: user %lfs sys %lfs peak RSS %ld KiB", &u, &s, &rss) == 3)
            cpu_us = (u + s) * 1e6 / (double)total;
    }
    if (f != NULL)
        fclose(f);
    if (getenv("BENCH_KEEP_STDERR") != NULL) fprintf(stderr, "stderr kept in %s\n", errpath); else unlink(errpath);
    printf("{\"calls\":%ld,\"inflight\":%ld,\"payload\":%ld,\"p50_us\":%.0f,\"p99_us\":%.0f,"
           "\"calls_per_s\":%.0f,\"cpu_us_per_call\":%.2f,\"peak_rss_kib\":%ld}\n",
           calls, inflight, payload, p50, p99, cps, cpu_us, rss);
    return 0;
}
