#include "util/b64.h"

static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
    if (inlen % 4 == 1)
        return -1;
    size_t need = inlen / 4 * 3 + (inlen % 4 == 0 ? 0 : inlen % 4 - 1);
    if (need > outcap)
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = url_val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    /* Leftover bits (2 or 4) must be zero: the canonical encoding. */
    if (acc != 0)
        return -1;
    *outlen = o;
    return 0;
}

static long encode(const char *alpha, int pad, const uint8_t *in, size_t n, char *out,
                   size_t outcap)
{
    size_t len = pad ? b64_encoded_len(n) : b64url_encoded_len(n);
    if (len + 1 > outcap)
        return -1;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return (long)o;
}

long b64url_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
    return encode(url_alpha, 0, in, n, out, outcap);
}

long b64_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
    return encode(std_alpha, 1, in, n, out, outcap);
}
