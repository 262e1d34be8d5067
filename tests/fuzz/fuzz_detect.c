/* Fuzz target: the detectors and redaction on arbitrary bytes.
 *
 * The first byte picks the context (even: result, odd: definition); the rest
 * is the text. Invariants (abort() on violation, so libFuzzer reports them):
 * every span lies inside the text and, for valid UTF-8 input, never splits
 * a code point; evidence is printable; redacting every finding of valid
 * UTF-8 yields valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/redact.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum detect_context ctx = (data[0] & 1) ? DETECT_CTX_DEFINITION : DETECT_CTX_RESULT;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    bool valid = utf8_validate(text, len, NULL) == UTF8_OK;
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
