/* Fuzz target: the result guard and the definition walker on arbitrary JSON.
 *
 * The first byte picks the payload kind and the policy (defaults, or
 * everything acting: redact secrets and PII, strip hidden content, tag
 * injections, a small size cap); the rest is parsed strictly as JSON. The
 * guard must not crash, must leave valid JSON whose strings are valid UTF-8,
 * and its audit JSON must build. The same object is walked as a tool
 * definition. When the gateway's quick look on the token tape passes the
 * payload, the guard must agree: pass, nothing to report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/redact.h"
#include "proto/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct result_guard *guards[2];

static struct result_guard *guard(int which)
{
    if (guards[which] != NULL)
        return guards[which];
    if (which == 0) {
        guards[0] = result_guard_compile(NULL, NULL, NULL);
    } else {
        const char *y = "results:\n  max_bytes: 300\n  secrets: redact\n"
                        "  pii: {action: redact}\n  injection: tag\n  hidden: strip\n";
        struct cfg_errors e;
        cfg_errors_init(&e);
        struct cfg_doc *d = cfg_load_mem("fuzz.yaml", y, strlen(y), false, &e);
        guards[1] = result_guard_compile(d, json_object_get(d->root, "results"), &e);
        cfg_doc_free(d);
        cfg_errors_free(&e);
    }
    if (guards[which] == NULL)
        abort();
    return guards[which];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum detect_payload kind = (enum detect_payload)((data[0] >> 1) % DETECT_P__COUNT);
    struct json_err je;
    struct json_limits lim = json_default_limits;
    lim.max_bytes = 1 << 20;
    json_t *v = json_parse_strict((const char *)data + 1, size - 1, &lim, &je);
    if (v == NULL)
        return 0;
    struct detect_list l;
    detect_list_init(&l, 0);
    if (detect_scan_tool(detect_set_shared(), v, NULL, &l) < 0)
        abort();
    detect_list_free(&l);
    int quick = 0;
    if (json_is_object(v)) {
        struct jtape t;
        jtape_init(&t);
        struct buf scratch;
        buf_init(&scratch, 1 << 20);
        if (jtape_parse(&t, (const char *)data + 1, size - 1, &lim, &je) == 0)
            quick = result_guard_quick(guard(data[0] & 1), &t, 0, kind, &scratch);
        buf_free(&scratch);
        jtape_free(&t);
    }
    struct result_guard_report rep;
    struct result_guard_ctx ctx = {"fuzz", "tool"};
    if (result_guard_apply(guard(data[0] & 1), v, kind, &ctx, &rep) < 0)
        abort();
    if (quick == 1 && (rep.verdict != RG_PASS || rep.nevents != 0))
        abort();
    json_t *audit = result_guard_report_json(&rep);
    if (audit == NULL)
        abort();
    json_decref(audit);
    /* the edited message must serialise and parse back strictly */
    char *out = json_emit_str(v, NULL);
    if (out == NULL)
        abort();
    json_t *back = json_parse_strict(out, strlen(out), NULL, &je);
    if (back == NULL && je.reason != JSON_E_DEPTH)
        abort();
    json_decref(back);
    free(out);
    result_guard_report_free(&rep);
    json_decref(v);
    return 0;
}
