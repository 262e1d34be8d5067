/* utf8.h - strict UTF-8 decoding (RFC 3629): no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF. */
#ifndef MCPWALL_UTIL_UTF8_H
#define MCPWALL_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

enum utf8_status {
    UTF8_OK = 0,
    UTF8_INVALID,   /* bad lead or continuation byte, or truncated sequence */
    UTF8_OVERLONG,  /* a longer encoding than the code point needs */
    UTF8_SURROGATE, /* U+D800..U+DFFF encoded directly */
    UTF8_TOO_LARGE, /* above U+10FFFF */
};

/* Decodes one code point at p (n > 0 bytes available). On success stores the
 * code point and its length in bytes (1-4). */
enum utf8_status utf8_decode(const unsigned char *p, size_t n, uint32_t *cp, size_t *len);
/* Validates a whole buffer; on failure *bad is the offset of the bad sequence. */
enum utf8_status utf8_validate(const char *p, size_t n, size_t *bad);
/* Encodes cp (<= U+10FFFF, not a surrogate) into out; returns the length. */
size_t utf8_encode(uint32_t cp, char out[4]);
/* Number of code points in a valid UTF-8 buffer. */
size_t utf8_count(const char *p, size_t n);

#endif
