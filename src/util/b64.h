/* b64.h - base64 (RFC 4648): the strict base64url reader JOSE needs, and
 * encoders for base64url (no padding) and standard base64 (padded, for HTTP
 * Basic credentials).
 *
 * The reader is canonical: only the 64 URL-safe characters, no padding, no
 * whitespace, no length that leaves a lone character (len % 4 == 1), and the
 * unused low bits of the last character must be zero, so every byte string
 * has exactly one accepted encoding (a tampered token cannot differ from the
 * signed one only in ignored bits).
 */
#ifndef MCPWALL_UTIL_B64_H
#define MCPWALL_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that decoding inlen characters can produce (an upper bound). */
static inline size_t b64url_decoded_max(size_t inlen)
{
    return inlen / 4 * 3 + 2;
}

/* Decodes in[0, inlen) into out (capacity outcap). Returns 0 and sets *outlen,
 * or -1 when the input is not canonical base64url or out is too small. */
int b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen);

/* Characters that encoding n bytes produces (without the NUL). */
static inline size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}
static inline size_t b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Encode and NUL-terminate; return the length, or -1 when outcap is too small. */
long b64url_encode(const uint8_t *in, size_t n, char *out, size_t outcap);
long b64_encode(const uint8_t *in, size_t n, char *out, size_t outcap);

#endif
