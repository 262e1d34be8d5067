/* json_scan.h - finding the end of a run of plain JSON string text, 16
 * bytes a step (SSE2, the x86-64 baseline). Shared by the tape reader (which
 * stops at what ends or escapes a string, or needs UTF-8 checks) and the
 * string emitter (which also escapes DEL). */
#ifndef MCPWALL_PROTO_JSON_SCAN_H
#define MCPWALL_PROTO_JSON_SCAN_H

#ifdef __SSE2__
#include <emmintrin.h>

/* Bit i set when p[i] is '"', '\\', `also`, or (compared signed) below 0x20:
 * the control characters and every non-ASCII byte at once. Reads p[0, 16). */
static inline unsigned json_stop_mask16(const unsigned char *p, char also)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(also)),
                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
    return (unsigned)_mm_movemask_epi8(hit);
}
#endif

#endif
