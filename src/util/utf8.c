#include "util/utf8.h"

enum utf8_status utf8_decode(const unsigned char *p, size_t n, uint32_t *cp, size_t *len)
{
    unsigned char c = p[0];
    uint32_t v;
    size_t need;
    uint32_t min;

    if (c < 0x80) {
        *cp = c;
        *len = 1;
        return UTF8_OK;
    }
    if (c >= 0xc0 && c <= 0xdf) {
        need = 2;
        v = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        v = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf7) {
        need = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return UTF8_INVALID; /* continuation byte or 0xf8..0xff as lead */
    }
    if (n < need)
        return UTF8_INVALID;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return UTF8_INVALID;
        v = (v << 6) | (p[i] & 0x3fu);
    }
    if (v < min)
        return UTF8_OVERLONG;
    if (v >= 0xd800 && v <= 0xdfff)
        return UTF8_SURROGATE;
    if (v > 0x10ffff)
        return UTF8_TOO_LARGE;
    *cp = v;
    *len = need;
    return UTF8_OK;
}

enum utf8_status utf8_validate(const char *p, size_t n, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t len;
        enum utf8_status st = utf8_decode(u + i, n - i, &cp, &len);
        if (st != UTF8_OK) {
            if (bad != NULL)
                *bad = i;
            return st;
        }
        i += len;
    }
    return UTF8_OK;
}

size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t utf8_count(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xc0) != 0x80)
            c++;
    return c;
}
