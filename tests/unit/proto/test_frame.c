#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"

static void test_lines(void **state)
{
    (void)state;
    struct frame_reader fr;
    frame_init(&fr, 1024);
    const char *in = "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":";
    assert_int_equal(frame_feed(&fr, in, strlen(in)), strlen(in));
    struct frame_item it = frame_next(&fr);
    assert_int_equal(it.kind, FRAME_LINE);
    assert_int_equal(it.len, 7);
    assert_memory_equal(it.data, "{\"a\":1}", 7);
    it = frame_next(&fr);
    assert_int_equal(it.kind, FRAME_LINE);
    assert_int_equal(it.len, 7); /* CR stripped */
    assert_memory_equal(it.data, "{\"b\":2}", 7);
    it = frame_next(&fr);
    assert_int_equal(it.kind, FRAME_NONE);
    assert_int_equal(frame_feed(&fr, "3}\n", 3), 3);
    it = frame_next(&fr);
    assert_int_equal(it.kind, FRAME_LINE);
    assert_memory_equal(it.data, "{\"c\":3}", 7);
    frame_free(&fr);
}

/* A line larger than the budget is dropped without being held whole, and the
 * id of the response it carried is recovered from its tail. */
static void test_oversize_from_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct frame_reader fr;
    frame_init(&fr, 1000);
    const char *pre = "{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"";
    const char *post = "\"}]},\"jsonrpc\":\"2.0\",\"id\":42}\n{\"jsonrpc\":\"2.0\",\"id\":43,\"result\":{}}\n";
    if (fork() == 0) {
        close(p[0]);
        (void)!write(p[1], pre, strlen(pre));
        char chunk[4096];
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 256; i++) /* 1 MiB */
            (void)!write(p[1], chunk, sizeof(chunk));
        (void)!write(p[1], post, strlen(post));
        _exit(0);
    }
    close(p[1]);
    int seen_oversize = 0, seen_line = 0;
    size_t peak = 0;
    for (;;) {
        ssize_t r = frame_read_fd(&fr, p[0]);
        assert_true(r >= 0);
        if (fr.in.cap > peak)
            peak = fr.in.cap;
        struct frame_item it;
        while ((it = frame_next(&fr)).kind != FRAME_NONE) {
            if (it.kind == FRAME_OVERSIZE) {
                seen_oversize++;
                assert_true(it.total > 1000000);
                json_t *id = rpc_salvage_id(it.head, it.headlen, it.tail, it.taillen);
                assert_non_null(id);
                assert_int_equal(json_integer_value(id), 42);
                json_decref(id);
            } else {
                seen_line++;
                assert_non_null(memmem(it.data, it.len, "\"id\":43", 7));
            }
        }
        if (r == 0)
            break;
    }
    assert_int_equal(seen_oversize, 1);
    assert_int_equal(seen_line, 1);
    assert_true(peak < 200000); /* never buffered the megabyte */
    close(p[0]);
    frame_free(&fr);
}

/* Lines of every size up to the budget cross a pipe intact and in order,
 * whatever the read boundaries; the reading buffer stays at one 64 KiB chunk
 * while every line fits in it, and grows for the long ones. */
static void test_pipe_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 100, 10240, 10240, 65000, 65535, 65536, 70000, 300000, 7};
    const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
    const size_t rounds = 40;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct frame_reader fr;
    frame_init(&fr, 400000);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char *line = malloc(300001);
        for (size_t r = 0; r < rounds; r++)
            for (size_t i = 0; i < nsizes; i++) {
                for (size_t k = 0; k < sizes[i]; k++)
                    line[k] = (char)('a' + (r + i + k) % 26);
                line[sizes[i]] = '\n';
                /* odd write sizes, so reads end inside lines */
                size_t off = 0, step = 777 + 1000 * i;
                while (off < sizes[i] + 1) {
                    size_t n = sizes[i] + 1 - off < step ? sizes[i] + 1 - off : step;
                    if (write(p[1], line + off, n) != (ssize_t)n)
                        _exit(1);
                    off += n;
                }
            }
        free(line); /* valgrind checks the child's leaks too */
        _exit(0);
    }
    close(p[1]);
    size_t got = 0, peak_small = 0;
    for (;;) {
        ssize_t r = frame_read_fd(&fr, p[0]);
        assert_true(r >= 0);
        /* Until the first four lines (all under 64 KiB) are out, whatever
         * the read boundaries were: one chunk. */
        if (got < 4 && fr.in.cap > peak_small)
            peak_small = fr.in.cap;
        struct frame_item it;
        while ((it = frame_next(&fr)).kind != FRAME_NONE) {
            assert_int_equal(it.kind, FRAME_LINE);
            size_t rr = got / nsizes, i = got % nsizes;
            assert_int_equal(it.len, sizes[i]);
            for (size_t k = 0; k < it.len; k++)
                if (it.data[k] != (char)('a' + (rr + i + k) % 26))
                    fail_msg("line %zu differs at byte %zu", got, k);
            got++;
        }
        if (r == 0)
            break;
    }
    assert_int_equal(got, rounds * nsizes);
    assert_int_equal(peak_small, 65536);
    assert_true(fr.in.cap >= 300001);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(p[0]);
    frame_free(&fr);
}

static void test_salvage(void **state)
{
    (void)state;
    const char *h = "{\"jsonrpc\":\"2.0\",\"params\":{\"id\":5},\"id\":\"abc\",\"method\":";
    json_t *id = rpc_salvage_id(h, strlen(h), NULL, 0);
    assert_non_null(id);
    assert_string_equal(json_string_value(id), "abc");
    json_decref(id);
    /* A nested id is not taken for the message's id. */
    const char *t = "\"x\":{\"id\":7}}";
    assert_null(rpc_salvage_id(NULL, 0, t, strlen(t)));
    const char *n = "{\"params\":{\"id\":7},";
    assert_null(rpc_salvage_id(n, strlen(n), NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_oversize_from_pipe),
        cmocka_unit_test(test_salvage),
        cmocka_unit_test(test_pipe_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
