/* Fuzz target: the detectors and redaction on arbitrary bytes.
 *
 * The first byte picks the context (even: result, odd: definition); the rest
 * is the text. Invariants (abort() on violation, so libFuzzer reports them):
 * every span lies inside the text and, for valid UTF-8 input, never splits
 * a code point; evidence is printable; redacting every finding of valid
 * UTF-8 yields valid UTF-8; and every implementation of the scan this CPU
 * runs (detect_int.h: the fast paths) finds exactly what the reference
 * implementation finds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect_int.h"
#include "guard/redact.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct detect_set *impls[DETECT_IMPL__COUNT];

static void impls_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    for (int k = 0; k < DETECT_IMPL__COUNT; k++) {
        char err[256];
        if (!detect_impl_available((enum detect_impl)k))
            continue;
        impls[k] = detect_set_new(err, sizeof(err));
        if (impls[k] == NULL || detect_set_impl(impls[k], (enum detect_impl)k) < 0)
            abort();
    }
}

static bool same(const struct detect_finding *a, const struct detect_finding *b)
{
    return a->rule == b->rule && a->severity == b->severity && a->start == b->start &&
           a->end == b->end && a->flags == b->flags && strcmp(a->evidence, b->evidence) == 0;
}

/* Aborts when an implementation's findings differ from the reference's. */
static void compare_impls(enum detect_context ctx, const char *text, size_t len)
{
    impls_init();
    struct detect_list ref;
    detect_list_init(&ref, 0);
    if (detect_scan_text(impls[DETECT_IMPL_REF], ctx, text, len, NULL, &ref) < 0)
        abort();
    for (int k = DETECT_IMPL_REF + 1; k < DETECT_IMPL__COUNT; k++) {
        if (impls[k] == NULL)
            continue;
        struct detect_list got;
        detect_list_init(&got, 0);
        if (detect_scan_text(impls[k], ctx, text, len, NULL, &got) < 0)
            abort();
        bool eq = got.n == ref.n && got.dropped == ref.dropped;
        for (size_t i = 0; eq && i < ref.n; i++)
            eq = same(&ref.v[i], &got.v[i]);
        if (!eq) {
            fprintf(stderr, "fuzz_detect: %s finds %zu, the reference %zu\n",
                    detect_impl_name((enum detect_impl)k), got.n, ref.n);
            abort();
        }
        detect_list_free(&got);
    }
    detect_list_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum detect_context ctx = (data[0] & 1) ? DETECT_CTX_DEFINITION : DETECT_CTX_RESULT;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    bool valid = utf8_validate(text, len, NULL) == UTF8_OK;
    compare_impls(ctx, text, len);
    struct detect_list l;
    detect_list_init(&l, 0);
    if (detect_scan_text(detect_set_shared(), ctx, text, len, NULL, &l) < 0)
        abort();
    for (size_t i = 0; i < l.n; i++) {
        const struct detect_finding *f = &l.v[i];
        if (f->start > f->end || f->end > len)
            abort();
        if (valid && ((f->start < len && ((unsigned char)text[f->start] & 0xc0) == 0x80) ||
                      (f->end < len && ((unsigned char)text[f->end] & 0xc0) == 0x80)))
            abort();
        size_t el = strnlen(f->evidence, sizeof(f->evidence));
        if (el == sizeof(f->evidence))
            abort();
        for (size_t k = 0; k < el; k++)
            if ((unsigned char)f->evidence[k] < 0x20 || f->evidence[k] == 0x7f)
                abort();
    }
    struct buf b;
    buf_init(&b, len + l.n * 64 + 64);
    if (redact_findings(text, len, l.v, l.n, &b) < 0)
        abort();
    if (valid && buf_used(&b) > 0 && utf8_validate(buf_head(&b), buf_used(&b), NULL) != UTF8_OK)
        abort();
    buf_free(&b);
    detect_list_free(&l);
    return 0;
}
