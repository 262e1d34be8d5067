/* Saved results: a tools/list result, a JSON-RPC response, a bare array, an
 * mcpwall capture and a JSON Lines wire log are all read, with the file
 * position of every definition; anything else is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/config.h"
#include "proto/json.h"
#include "scan/collect.h"
#include "util/buf.h"
#include "scan/scan.h"

static struct scan_report r;

static int setup(void **state)
{
    (void)state;
    scan_report_init(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scan_report_free(&r);
    return 0;
}

static int load(const char *name, const char *text, char *err)
{
    return collect_file_mem(&r, name, text, strlen(text), NULL, err, 300);
}

static void test_list_result(void **state)
{
    (void)state;
    char err[300];
    const char *t = "{\n  \"tools\": [\n    {\"name\": \"a\", \"inputSchema\": {}},\n"
                    "    {\"name\": \"b\", \"inputSchema\": {}}\n  ],\n  \"nextCursor\": \"x\"\n}";
    assert_int_equal(load("dir/list.json", t, err), 0);
    assert_int_equal(r.nservers, 1);
    assert_string_equal(r.servers[0].name, "list");
    assert_int_equal(r.servers[0].transport, SCAN_TR_FILE);
    assert_int_equal(r.servers[0].nitems, 2);
    assert_int_equal(r.servers[0].items[1].pos.line, 4);
    assert_int_equal(r.servers[0].items[1].pos.col, 5);
    assert_string_equal(r.servers[0].items[1].pos.file, "dir/list.json");
}

static void test_rpc_and_array(void **state)
{
    (void)state;
    char err[300];
    const char *t = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"x\"}],"
                    "\"prompts\":[{\"name\":\"p\"}]}}";
    assert_int_equal(load("a.json", t, err), 0);
    assert_int_equal(r.servers[0].nitems, 2);
    assert_int_equal(r.servers[0].items[1].kind, SCAN_KIND_PROMPT);
    const char *arr =
        "[{\"name\":\"t1\",\"description\":\"d\"},{\"name\":\"t2\",\"inputSchema\":{}}]";
    assert_int_equal(load("b.json", arr, err), 0);
    assert_int_equal(r.servers[1].nitems, 2);
}

static void test_capture(void **state)
{
    (void)state;
    char err[300];
    const char *t =
        "{\"format\":\"mcpwall-capture/1\",\"servers\":[{\"name\":\"one\",\"target\":\"npx "
        "x\",\"initialize\":{\"protocolVersion\":\"2025-06-18\",\"serverInfo\":{\"name\":"
        "\"x\",\"version\":\"1\"},\"capabilities\":{}},\"tools\":[{\"name\":\"t\"}],"
        "\"resources\":[{\"uri\":\"file:///a\",\"name\":\"a\"}],\"resourceTemplates\":"
        "[{\"uriTemplate\":\"file:///{p}\",\"name\":\"f\"}]},{\"name\":\"two\",\"error\":"
        "\"failed\"}]}";
    assert_int_equal(load("c.json", t, err), 0);
    assert_int_equal(r.nservers, 2);
    assert_string_equal(r.servers[0].name, "one");
    assert_string_equal(r.servers[0].target, "npx x");
    assert_non_null(r.servers[0].init);
    assert_int_equal(r.servers[0].nitems, 3);
    assert_string_equal(r.servers[0].items[1].name, "file:///a");
    assert_int_equal(r.servers[0].items[2].kind, SCAN_KIND_TEMPLATE);
    assert_string_equal(r.servers[1].error, "failed");
    const char *bad = "{\"format\":\"other/9\",\"servers\":[]}";
    assert_int_equal(load("d.json", bad, err), -1);
    assert_non_null(strstr(err, "unknown capture format"));
}

static void test_wire_log(void **state)
{
    (void)state;
    char err[300];
    const char *t =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\","
        "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"w\",\"version\":\"0\"}}}\n"
        "\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"tools/list\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"result\":{\"tools\":[{\"name\":\"t1\"},{\"name\":"
        "\"t2\"}]}}\n";
    assert_int_equal(load("wire.jsonl", t, err), 0);
    assert_int_equal(r.nservers, 1);
    assert_string_equal(r.servers[0].name, "wire");
    assert_non_null(r.servers[0].init);
    assert_int_equal(r.servers[0].nitems, 2);
    const char *junk = "{\"a\":1}\nnot json\n";
    assert_int_equal(load("j.jsonl", junk, err), -1);
    assert_non_null(strstr(err, "j.jsonl:2: not JSON"));
}

static void test_refused(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(load("x.json", "{\"hello\": 1}", err), -1);
    assert_non_null(strstr(err, "neither a tools/list result"));
    assert_int_equal(r.nservers, 0);
    assert_int_equal(collect_sniff("openapi: 3.1.0\ninfo: {}\n", 24), COLLECT_FT_OPENAPI);
    assert_int_equal(collect_sniff("{\"mcpServers\": {}}", 18), COLLECT_FT_HOSTCFG);
    assert_int_equal(collect_sniff("{\"tools\": []}", 13), COLLECT_FT_TOOLS);
    assert_int_equal(collect_sniff("{// c\n\"servers\": {}}", 20), COLLECT_FT_HOSTCFG);
    assert_int_equal(collect_sniff("hello", 5), COLLECT_FT_UNKNOWN);
}

static void test_capture_roundtrip(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(load("l.json", "{\"tools\":[{\"name\":\"a\",\"description\":\"é\"}]}", err),
                     0);
    char path[] = "/tmp/mcpwall-capture-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(collect_save_capture(&r, path), 0);
    struct scan_report r2;
    scan_report_init(&r2);
    assert_int_equal(collect_file(&r2, path, NULL, err, sizeof(err)), 0);
    assert_int_equal(r2.nservers, 1);
    assert_string_equal(r2.servers[0].name, "l");
    assert_true(json_equal(r2.servers[0].items[0].def, r.servers[0].items[0].def));
    scan_report_free(&r2);
    unlink(path);
}

/* Positions from the JSON loader (a sparse line/column index) must be exactly
 * those json_offset_linecol() gives, for minified and pretty documents with
 * multibyte characters and lines far longer than the index's blocks. */
static void test_positions_match(void **state)
{
    (void)state;
    for (int pretty = 0; pretty < 2; pretty++) {
        struct buf b;
        buf_init(&b, 1 << 22);
        buf_append_str(&b, "{\"tools\": [");
        for (int i = 0; i < 400; i++) {
            buf_printf(&b,
                       "%s%s{\"name\": \"m%d\", \"d\": \"\xc3\xa9\xe2\x80\xa8%.*s\", "
                       "\"x\": [\"\xf0\x9f\x98\x80\", \"v%d\"]}",
                       i ? "," : "", pretty && i % 3 == 0 ? "\n  " : " ", i, (i % 4) * 28,
                       "\xc3\xa9"
                       "abcdefghijklmnopqrstuvwxyz\xc3\xa9"
                       "abcdefghijklmnopqrstuvwxyz"
                       "\xc3\xa9"
                       "abcdefghijklmnopqrstuvwxyz",
                       i);
        }
        buf_append_str(&b, "]}");
        buf_cstr(&b);
        const char *data = buf_head(&b);
        size_t len = buf_used(&b);
        struct cfg_errors e;
        cfg_errors_init(&e);
        struct cfg_doc *doc = cfg_load_mem("p.json", data, len, true, &e);
        assert_non_null(doc);
        json_t *tools = json_object_get(doc->root, "tools");
        for (size_t i = 0; i < json_array_size(tools); i++) {
            json_t *t = json_array_get(tools, i);
            char marker[32];
            snprintf(marker, sizeof(marker), "\"m%zu\"", i);
            const char *at = strstr(data, marker);
            assert_non_null(at);
            size_t line, col;
            json_offset_linecol(data, len, (size_t)(at - data), &line, &col);
            struct cfg_pos p = cfg_pos_of(doc, t, "name", 0);
            assert_int_equal(p.line, line);
            assert_int_equal(p.col, col);
            snprintf(marker, sizeof(marker), "\"v%zu\"", i);
            at = strstr(data, marker);
            json_offset_linecol(data, len, (size_t)(at - data), &line, &col);
            p = cfg_pos_of(doc, json_object_get(t, "x"), NULL, 1);
            assert_int_equal(p.line, line);
            assert_int_equal(p.col, col);
        }
        cfg_doc_free(doc);
        cfg_errors_free(&e);
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_and_array, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wire_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_roundtrip, setup, teardown),
        cmocka_unit_test(test_positions_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
