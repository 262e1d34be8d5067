/* tokens.c - token estimate (see tokens.h for the model and its calibration). */
#include "guard/tokens.h"

#include <stdlib.h>
#include <string.h>

#include "proto/json.h"

size_t tokens_estimate(const char *s, size_t n)
{
    /* weights in hundredths */
    size_t words = 0, extra = 0, punct = 0, digits = 0, nonascii = 0, ws = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            size_t st = i;
            while (i < n &&
                   (((unsigned char)s[i] | 0x20) >= 'a' && ((unsigned char)s[i] | 0x20) <= 'z'))
                i++;
            words++;
            size_t len = i - st;
            if (len > 6)
                extra += (len - 1) / 6;
        } else if (c >= '0' && c <= '9') {
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            digits++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
                             s[i] == '\f' || s[i] == '\v'))
                i++;
            ws++;
        } else if (c >= 0x80) {
            /* one non-ASCII character: a lead byte and its continuation bytes */
            i++;
            while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
                i++;
            nonascii++;
        } else {
            punct++;
            i++;
        }
    }
    size_t h = 50 * words + 20 * extra + 50 * punct + 250 * digits + 175 * nonascii + 65 * ws;
    size_t t = (h + 50) / 100;
    return t == 0 && n > 0 ? 1 : t;
}

size_t tokens_def(const json_t *def)
{
    size_t len = 0;
    char *s = json_emit_str(def, &len);
    if (s == NULL)
        return 0;
    size_t t = tokens_estimate(s, len);
    free(s);
    return t;
}
