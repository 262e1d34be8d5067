/* detect_fast.c - the fast path of the byte pass.
 *
 * Most text a server returns is prose: words of letters, single blanks and
 * punctuation that start no detector. The byte pass (detect.c) hands such
 * stretches to dfast_run(), which classifies 64 bytes at a time into bit
 * masks (with SSE2 or AVX2 where the CPU has them, else from a table) and
 * visits only the words that could matter: a possible trigger word of the
 * injection patterns (by shape: first two bytes, last byte, length), the
 * word "bearer", and a possible token prefix (its first byte) that mixes
 * case or ends at a '.'. It looks the trigger words up itself and gives the
 * others to dpass_sec(), the byte pass's own code; the other words need
 * nothing (the byte pass would do nothing with them).
 *
 * A stretch ends at whatever the byte pass does more with: digits and '_'
 * (numbers, identifiers: the whole word goes back), the separators the
 * secret checks start at (: = @ - + ( / ~), controls, non-ASCII bytes,
 * whitespace runs of 16 bytes or more (the byte pass measures runs), words
 * of 40 bytes or more (base64 runs). The byte pass takes over there - at the
 * start of the word holding that byte, or of the word just before it - and
 * calls the fast path again later. Words and whitespace runs that continue
 * past a block start the next block. Because every visited word goes
 * through the same code and nothing is skipped that the byte pass would act
 * on, the findings are those of the reference (DETECT_IMPL_REF, which never
 * comes here); the unit test test_detect_diff and the fuzz target compare
 * them.
 */
#include "guard/detect_int.h"

#include <pthread.h>
#include <string.h>
#ifdef __x86_64__
#include <immintrin.h>
#endif

/* classes of the fast path, one byte per byte value */
#define F_WORD 0x01u /* [A-Za-z0-9_] */
#define F_STOP 0x02u /* left to the byte pass: digits '_' : = @ - + ( / ~ controls DEL non-ASCII */
#define F_WS   0x04u /* ' ' '\t' '\n' '\r' */
#define F_UP   0x08u /* [A-Z] */
#define F_DOT  0x10u /* '.' */

static uint8_t fast_cls[256];
static uint8_t fast_pf1[256]; /* 1: detect_prefix_first is 1 */
static uint8_t fast_pf1_low6[64]; /* fast_pf1 of a letter by its low six bits */
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

static void fast_tables(void)
{
    for (unsigned c = 0; c < 256; c++) {
        unsigned k = detect_cls[c], f = 0;
        if (k & C_WORD)
            f |= F_WORD;
        if (k & (C_DIGIT | C_UNDER | C_CTRL | C_HIGH))
            f |= F_STOP;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            f |= F_WS;
        if (k & C_UPPER)
            f |= F_UP;
        if (c == '.')
            f |= F_DOT;
        if (c == ':' || c == '=' || c == '@' || c == '-' || c == '+' || c == '(' || c == '/' ||
            c == '~')
            f |= F_STOP;
        fast_cls[c] = (uint8_t)f;
        fast_pf1[c] = detect_prefix_first[c] == 1;
        if (k & C_ALPHA)
            fast_pf1_low6[c & 63] = fast_pf1[c];
    }
}

void dfast_init(void)
{
    pthread_once(&fast_once, fast_tables);
}

/* Inlined into each instruction-set variant of the loop. */
#define FAST_INLINE __attribute__((always_inline)) static inline

/* The classes of 64 bytes as bit masks (bit k: byte k of the block). A
 * classifier may count digits and '_' as word bytes or not (they stop the
 * fast path either way), and may stop at more bytes than F_STOP has. */
struct bmasks {
    uint64_t word, stop, ws, up, dot;
};

static inline unsigned ctz64(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

static inline unsigned clz64(uint64_t x)
{
    return (unsigned)__builtin_clzll(x);
}

/* Words of 40 bytes or more are base64 candidates (the byte pass looks at
 * runs of 40 and more). */
#define FAST_WORD_MAX 40

/* Bits k of x where x holds bits k .. k+len-1 (len >= 1). */
static inline uint64_t runs_of(uint64_t x, unsigned len)
{
    unsigned have = 1;
    while (have * 2 <= len) {
        x &= x >> have;
        have *= 2;
    }
    if (have < len)
        x &= x >> (len - have);
    return x;
}

/* The word pass: for the words of a block (first bytes in starts, last
 * bytes in lasts, in the same order), sets in *tc the first bit of every
 * word whose fshape is in the set and in *sc that of every word with a
 * first byte of fast_pf1 whose last bit is in secmark. */
typedef void (*words_fn)(const unsigned char *p, uint64_t starts, uint64_t lasts,
                         uint64_t secmark, const struct detect_set *ds, uint64_t *tc,
                         uint64_t *sc);

FAST_INLINE void words_scalar(const unsigned char *p, uint64_t starts, uint64_t lasts,
                              uint64_t secmark, const struct detect_set *ds, uint64_t *tc,
                              uint64_t *sc)
{
    const uint64_t *fs = ds->fshape;
    uint64_t tcand = 0, scand = 0;
    while (starts != 0) {
        uint64_t a = ctz64(starts), z = ctz64(lasts);
        starts &= starts - 1;
        lasts &= lasts - 1;
        unsigned sh = fshape_mix(p[a], p[a + (z > a)], p[z], z - a + 1);
        tcand |= ((fs[sh / 64] >> (sh % 64)) & 1u) << a;
        scand |= (fast_pf1[p[a]] & (secmark >> z) & 1u) << a;
    }
    *tc = tcand;
    *sc = scand;
}

/* A block with words to visit: its offset, word bytes, capitals after a
 * word's first byte, and the first bytes of the words to visit. */
struct fast_rec {
    size_t b;
    uint64_t word, inner_up, tc, sc;
};

/* Blocks are visited in batches: the loop over blocks then runs without
 * waiting for the answers of the word pass (its branches do not depend on
 * them). */
#define FAST_BATCH 32

/* Visits the candidate words of n blocks: first the trigger words (they
 * only add to s->hits), then the secret checks (they add findings), each in
 * text order. */
static void fast_visit(struct dscan *s, const struct fast_rec *rec, size_t n)
{
    for (size_t r = 0; r < n && s->collect; r++) {
        const unsigned char *p = s->p + rec[r].b;
        uint64_t w = rec[r].word, tc = rec[r].tc;
        while (tc != 0) {
            unsigned a = ctz64(tc);
            tc &= tc - 1;
            uint64_t after = ~w & (~0ull << a);
            size_t len = (after != 0 ? ctz64(after) : 64) - a;
            size_t pos = rec[r].b + a;
            if (len >= TRIG_WORD_MAX)
                continue;
            long te = s->n - pos >= 32
                          ? inj_trigger_probe(s->ds, p + a, len, word_hash(p + a, len, 32), true)
                          : inj_trigger_slot(s->ds, p + a, len, word_hash(p + a, len, s->n - pos));
            if (te >= 0 && inj_hit_push(s, pos, len, (size_t)te) < 0) {
                s->err = -1;
                return;
            }
        }
    }
    for (size_t r = 0; r < n; r++) {
        const unsigned char *p = s->p + rec[r].b;
        uint64_t w = rec[r].word, cand = rec[r].sc;
        /* "bearer" is among the trigger candidates: their words of six letters */
        uint64_t last = w & ~(w >> 1);
        cand |= rec[r].tc & (last >> 5) &
                ~(last | last >> 1 | last >> 2 | last >> 3 | last >> 4);
        while (cand != 0) {
            unsigned a = ctz64(cand);
            cand &= cand - 1;
            uint64_t after = ~w & (~0ull << a);
            unsigned e = after != 0 ? ctz64(after) : 64;
            if (((rec[r].sc >> a) & 1u) || (e - a == 6 && (p[a] | 0x20) == 'b')) {
                uint64_t inner = (e == 64 ? ~0ull : (1ull << e) - 1) & ~((2ull << a) - 1);
                size_t pos = rec[r].b + a;
                dpass_sec(s, pos, pos + e - a, (rec[r].inner_up & inner) != 0 ? C_UPPER : 0);
            }
        }
    }
}

/* Visits the block of 64 bytes at b, classified in m; la is the class of the
 * byte after it (b + 64 < s->n). Returns the offset in the block where the
 * next block starts (64, or less when a word or whitespace run goes on past
 * the block), or, with *stop set, where the byte pass must take over. */
FAST_INLINE unsigned fast_block(struct dscan *s, size_t b, const struct bmasks *m, unsigned la,
                                bool *stop, words_fn words, struct fast_rec *rec)
{
    const unsigned char *p = s->p + b;
    uint64_t w = m->word, ws = m->ws;
    uint64_t wstart = w & ~(w << 1);
    uint64_t sstart = ws & ~(ws << 1);
    /* (no branches here: the text decides them all) */
    /* An element going on past the block is left to the next block: lim is
     * the start of the last word or whitespace run when it does. */
    bool wgo = (w >> 63) & ((la & F_WORD) != 0), sgo = (ws >> 63) & ((la & F_WS) != 0);
    unsigned lastw = 63 - clz64(wstart | 1), lasts_ = 63 - clz64(sstart | 1);
    unsigned lim = wgo ? lastw : sgo ? lasts_ : 64;
    /* stops: the stop bytes, whitespace runs of 16 bytes or more and words
     * of FAST_WORD_MAX or more (at their first byte); a stop byte right
     * after the block counts at offset 64 */
    uint64_t stopm = m->stop | (sstart & runs_of(ws, 16)) | runs_of(w, FAST_WORD_MAX);
    unsigned ts = stopm != 0 ? ctz64(stopm) : 64;
    bool stopped = stopm != 0 || (la & F_STOP);
    /* The byte pass takes the word that holds the first stop or ends just
     * before it (a digit, '_', '-' ...): the words visited here end before
     * `end`. */
    uint64_t below = ts == 64 ? wstart : wstart & ((1ull << ts) - 1);
    bool inword = ts > 0 && ((w >> (ts - 1)) & 1u);
    unsigned end = stopped && inword ? 63 - clz64(below | 1) : ts;
    if (lim < end) {
        end = lim;
        stopped = lim == 0;
    }
    uint64_t keep = end == 64 ? ~0ull : (1ull << end) - 1;
    uint64_t starts = wstart & keep;
    uint64_t lasts = w & ~(w >> 1) & keep; /* last byte of each word */
    /* Words that may start a token (dpass_sec looks at words with a first
     * byte of detect_prefix_first 1 when they hold a capital after the first
     * byte or end at a '.'), marked at their last byte. Adding the start bit
     * to a word's bits carries past its end unless a capital (cleared
     * first) stops the carry: the words that carry out have none. The carry
     * out of bit 63 is lost, so a last word ending there counts as marked. */
    uint64_t inner_up = m->up & ~wstart;
    uint64_t nocap = ((w & ~inner_up) + wstart) & ~w; /* bit after each capital-free word */
    uint64_t capword = lasts & ~(nocap >> 1);
    uint64_t dotnext = (m->dot >> 1) | ((uint64_t)((la & F_DOT) != 0) << 63);
    /* the words worth a look (no branch per word): tc may be a trigger
     * word (or "bearer"), sc may start a token; they are visited later */
    rec->b = b;
    rec->word = w;
    rec->inner_up = inner_up;
    words(p, starts, lasts, capword | (lasts & dotnext), s->ds, &rec->tc, &rec->sc);
    *stop = stopped;
    return end;
}

/* ---------------------------------------------------------- classification */

static inline void classify_scalar(const unsigned char *p, struct bmasks *m)
{
    uint64_t w = 0, st = 0, ws = 0, up = 0, dot = 0;
    for (unsigned k = 0; k < 64; k++) {
        uint64_t f = fast_cls[p[k]];
        w |= (f & 1u) << k;
        st |= ((f >> 1) & 1u) << k;
        ws |= ((f >> 2) & 1u) << k;
        up |= ((f >> 3) & 1u) << k;
        dot |= ((f >> 4) & 1u) << k;
    }
    m->word = w;
    m->stop = st;
    m->ws = ws;
    m->up = up;
    m->dot = dot;
}

#ifdef __x86_64__
/* 16 bytes: unsigned range tests lo <= x <= hi as min(x - lo, hi - lo) == x - lo */
#define RANGE16(x, lo, hi)                                                                         \
    _mm_cmpeq_epi8(_mm_min_epu8(_mm_sub_epi8((x), _mm_set1_epi8((char)(lo))),                     \
                                _mm_set1_epi8((char)((hi) - (lo)))),                               \
                   _mm_sub_epi8((x), _mm_set1_epi8((char)(lo))))
#define EQ16(x, c) _mm_cmpeq_epi8((x), _mm_set1_epi8((char)(c)))

static inline void classify_sse2(const unsigned char *p, struct bmasks *m)
{
    uint64_t w = 0, st = 0, ws = 0, up = 0, dot = 0;
    for (unsigned k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        __m128i lower = RANGE16(x, 'a', 'z');
        __m128i upper = RANGE16(x, 'A', 'Z');
        __m128i digit = RANGE16(x, '0', ':'); /* digits and ':' */
        __m128i under = EQ16(x, '_');
        __m128i blank = _mm_or_si128(_mm_or_si128(EQ16(x, ' '), EQ16(x, '\t')),
                                     _mm_or_si128(EQ16(x, '\n'), EQ16(x, '\r')));
        __m128i low = RANGE16(x, 0, 0x1f);
        /* DEL and non-ASCII: x >= 0x7f */
        __m128i high = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x7f)), x);
        __m128i sep = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(EQ16(x, '='), EQ16(x, '@')),
                         _mm_or_si128(EQ16(x, '-'), EQ16(x, '+'))),
            _mm_or_si128(_mm_or_si128(EQ16(x, '('), EQ16(x, '/')), EQ16(x, '~')));
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_or_si128(digit, under), sep),
                                    _mm_or_si128(_mm_andnot_si128(blank, low), high));
        __m128i word = _mm_or_si128(_mm_or_si128(lower, upper),
                                    _mm_or_si128(_mm_andnot_si128(EQ16(x, ':'), digit), under));
        unsigned sh = 16 * k;
        w |= (uint64_t)(unsigned)_mm_movemask_epi8(word) << sh;
        st |= (uint64_t)(unsigned)_mm_movemask_epi8(stop) << sh;
        ws |= (uint64_t)(unsigned)_mm_movemask_epi8(blank) << sh;
        up |= (uint64_t)(unsigned)_mm_movemask_epi8(upper) << sh;
        dot |= (uint64_t)(unsigned)_mm_movemask_epi8(EQ16(x, '.')) << sh;
    }
    m->word = w;
    m->stop = st;
    m->ws = ws;
    m->up = up;
    m->dot = dot;
}

/* AVX2 and AVX-512: a class byte per input byte from two 16-entry tables
 * (one by low nibble, one by high nibble; a class bit is set when both
 * entries have it), so each bit stands for a rectangle of byte values:
 *   0x01 [A-O] [a-o]           0x02 [P-Z] [p-z]
 *   0x04 0x40-0x5f (capitals are letters with this bit)
 *   0x08 \t \n \r               0x10 ' '
 *   0x20 ! " # $ % & ' ) * , .  0x40 [ \ ] { | }    0x80 ; < > ?
 * Words are runs of letters here: digits and '_' are stops anyway, and the
 * byte pass takes a word that holds one. Bytes outside every class stop. */
#define NIB_LO                                                                                      \
    0x16, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x07, 0x2f, 0x2f, (char)0xc5, (char)0xe5,      \
        0x4d, (char)0xa5, (char)0x85
#define NIB_HI 0x08, 0x00, 0x30, (char)0x80, 0x05, 0x46, 0x01, 0x42, 0, 0, 0, 0, 0, 0, 0, 0
#define NIB_LETTER 0x03
#define NIB_CAPHALF 0x04
#define NIB_BLANK 0x18
#define NIB_PUNCT 0xe0

__attribute__((target("avx2,bmi,bmi2"))) static inline void classify_avx2(const unsigned char *p,
                                                                 struct bmasks *m)
{
    const __m256i lot = _mm256_setr_epi8(NIB_LO, NIB_LO);
    const __m256i hit = _mm256_setr_epi8(NIB_HI, NIB_HI);
    const __m256i nib = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    uint64_t letter = 0, caphalf = 0, blank = 0, punct = 0, dot = 0;
    for (unsigned k = 0; k < 2; k++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * k));
        __m256i lo = _mm256_and_si256(x, nib);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
        __m256i t = _mm256_and_si256(_mm256_shuffle_epi8(lot, lo), _mm256_shuffle_epi8(hit, hi));
        unsigned sh = 32 * k;
#define NIB_MASK(bits)                                                                             \
    ((uint64_t)(uint32_t)~_mm256_movemask_epi8(                                                    \
         _mm256_cmpeq_epi8(_mm256_and_si256(t, _mm256_set1_epi8((char)(bits))), zero))            \
     << sh)
        letter |= NIB_MASK(NIB_LETTER);
        blank |= NIB_MASK(NIB_BLANK);
        punct |= NIB_MASK(NIB_PUNCT);
#undef NIB_MASK
        caphalf |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(t, 5)) << sh;
        dot |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                   _mm256_cmpeq_epi8(x, _mm256_set1_epi8('.')))
               << sh;
    }
    m->word = letter;
    m->up = letter & caphalf;
    m->ws = blank;
    m->stop = ~(letter | blank | punct);
    m->dot = dot;
}

__attribute__((target("avx512bw,bmi,bmi2"))) static inline void classify_avx512(const unsigned char *p,
                                                                       struct bmasks *m)
{
    const __m512i lot = _mm512_broadcast_i32x4(_mm_setr_epi8(NIB_LO));
    const __m512i hit = _mm512_broadcast_i32x4(_mm_setr_epi8(NIB_HI));
    const __m512i nib = _mm512_set1_epi8(0x0f);
    __m512i x = _mm512_loadu_si512((const void *)p);
    __m512i lo = _mm512_and_si512(x, nib);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
    __m512i t = _mm512_and_si512(_mm512_shuffle_epi8(lot, lo), _mm512_shuffle_epi8(hit, hi));
    uint64_t letter = _mm512_test_epi8_mask(t, _mm512_set1_epi8(NIB_LETTER));
    uint64_t blank = _mm512_test_epi8_mask(t, _mm512_set1_epi8(NIB_BLANK));
    uint64_t punct = _mm512_test_epi8_mask(t, _mm512_set1_epi8((char)NIB_PUNCT));
    m->word = letter;
    m->up = letter & _mm512_test_epi8_mask(t, _mm512_set1_epi8(NIB_CAPHALF));
    m->ws = blank;
    m->stop = ~(letter | blank | punct);
    m->dot = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('.'));
}
#endif

/* The word pass with AVX-512 (VBMI2): the first, second and last letters
 * and the length of up to 32 words are packed (compress), combined into
 * 32-bit lanes, hashed with fshape_mix and looked up in the shape bitmap
 * with a gather; PDEP puts the answers back at the words' first bytes.
 * Words are runs of letters (classify_avx512). */
#define VBMI2_TARGET "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi,bmi2"
__attribute__((target(VBMI2_TARGET))) static inline void
words_vbmi2(const unsigned char *p, uint64_t starts, uint64_t lasts, uint64_t secmark,
            const struct detect_set *ds, uint64_t *tc, uint64_t *sc)
{
    static const uint8_t iota[64] = {
        0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
        22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
        44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};
    /* dword i of the packed words: bytes i, 32 + i, 64 + i, 96 + i of (a:b) */
    static const uint8_t inter[2][64] = {
        {0,  32, 64, 96,  1,  33, 65, 97,  2,  34, 66, 98,  3,  35, 67, 99,
         4,  36, 68, 100, 5,  37, 69, 101, 6,  38, 70, 102, 7,  39, 71, 103,
         8,  40, 72, 104, 9,  41, 73, 105, 10, 42, 74, 106, 11, 43, 75, 107,
         12, 44, 76, 108, 13, 45, 77, 109, 14, 46, 78, 110, 15, 47, 79, 111},
        {16, 48, 80, 112, 17, 49, 81, 113, 18, 50, 82, 114, 19, 51, 83, 115,
         20, 52, 84, 116, 21, 53, 85, 117, 22, 54, 86, 118, 23, 55, 87, 119,
         24, 56, 88, 120, 25, 57, 89, 121, 26, 58, 90, 122, 27, 59, 91, 123,
         28, 60, 92, 124, 29, 61, 93, 125, 30, 62, 94, 126, 31, 63, 95, 127}};
    if (starts == 0) {
        *tc = 0;
        *sc = 0;
        return;
    }
    __m512i x = _mm512_loadu_si512((const void *)p);
    __m512i x1 = _mm512_loadu_si512((const void *)(p + 1));
    __m512i ix = _mm512_loadu_si512((const void *)iota);
    __m512i c0 = _mm512_maskz_compress_epi8(starts, x);
    /* the second byte, or the first again for a one-letter word */
    __m512i c1 = _mm512_maskz_compress_epi8(starts, _mm512_mask_blend_epi8(starts & lasts, x1, x));
    __m512i cz = _mm512_maskz_compress_epi8(lasts, x);
    __m512i len = _mm512_sub_epi8(_mm512_maskz_compress_epi8(lasts, ix),
                                  _mm512_maskz_compress_epi8(starts, ix));
    len = _mm512_add_epi8(len, _mm512_set1_epi8(1));
    /* possible token prefixes: fast_pf1 of the first byte, capital or '.' */
    __m512i pf1 = _mm512_permutexvar_epi8(c0, _mm512_loadu_si512((const void *)fast_pf1_low6));
    uint64_t sw = _mm512_test_epi8_mask(pf1, pf1) & _pext_u64(secmark, lasts);
    /* a = first and second bytes, b = last bytes and lengths (32 words each) */
    __m512i a = _mm512_inserti64x4(c0, _mm512_castsi512_si256(c1), 1);
    __m512i bv = _mm512_inserti64x4(cz, _mm512_castsi512_si256(len), 1);
    unsigned nw = (unsigned)__builtin_popcountll(starts);
    uint64_t tw = 0;
    for (unsigned r = 0; r * 16 < nw; r++) {
        __m512i v = _mm512_permutex2var_epi8(a, _mm512_loadu_si512((const void *)inter[r]), bv);
        v = _mm512_or_si512(v, _mm512_set1_epi32(0x202020));
        __m512i h = _mm512_srli_epi32(_mm512_mullo_epi32(v, _mm512_set1_epi32((int)0x9e3779b1u)),
                                      32 - FSHAPE_BITS);
        __mmask16 valid =
            (__mmask16)(nw - r * 16 >= 16 ? 0xffffu : (1u << (nw - r * 16)) - 1);
/* without optimisation the gather is a macro that passes the mask as short */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
        __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid,
                                                _mm512_srli_epi32(h, 5), (const void *)ds->fshape,
                                                4);
#pragma GCC diagnostic pop
        g = _mm512_srlv_epi32(g, _mm512_and_si512(h, _mm512_set1_epi32(31)));
        tw |= (uint64_t)_mm512_mask_test_epi32_mask(valid, g, _mm512_set1_epi32(1)) << (16 * r);
    }
    *tc = _pdep_u64(tw, starts);
    *sc = _pdep_u64(sw, starts);
}

/* One loop per classifier, so that each is inlined into its own loop. */
#define FAST_LOOP(name, classify, words, attr)                                                     \
    attr static size_t name(struct dscan *s, size_t i)                                             \
    {                                                                                              \
        struct fast_rec rec[FAST_BATCH];                                                           \
        size_t b = i, nrec = 0;                                                                    \
        while (s->n - b > 64) {                                                                    \
            struct bmasks m;                                                                       \
            bool stop = false;                                                                     \
            classify(s->p + b, &m);                                                                \
            unsigned k = fast_block(s, b, &m, fast_cls[s->p[b + 64]], &stop, words, &rec[nrec]);   \
            nrec++; /* even without candidates: nothing here waits for the word pass */           \
            b += k;                                                                                \
            if (stop)                                                                              \
                break;                                                                             \
            if (nrec == FAST_BATCH) {                                                              \
                fast_visit(s, rec, nrec);                                                          \
                nrec = 0;                                                                          \
                if (s->err != 0)                                                                   \
                    return b;                                                                      \
            }                                                                                      \
        }                                                                                          \
        fast_visit(s, rec, nrec);                                                                  \
        return b;                                                                                  \
    }

FAST_LOOP(run_scalar, classify_scalar, words_scalar, )
#ifdef __x86_64__
FAST_LOOP(run_sse2, classify_sse2, words_scalar, )
FAST_LOOP(run_avx2, classify_avx2, words_scalar, __attribute__((target("avx2,bmi,bmi2"))))
FAST_LOOP(run_avx512, classify_avx512, words_scalar,
          __attribute__((target("avx512bw,bmi,bmi2"))))
FAST_LOOP(run_vbmi2, classify_avx512, words_vbmi2, __attribute__((target(VBMI2_TARGET))))
#endif

size_t dfast_run(struct dscan *s, size_t i)
{
    switch (s->ds->impl) {
#ifdef __x86_64__
    case DETECT_IMPL_VBMI2:
        return run_vbmi2(s, i);
    case DETECT_IMPL_AVX512:
        return run_avx512(s, i);
    case DETECT_IMPL_AVX2:
        return run_avx2(s, i);
    case DETECT_IMPL_SSE2:
        return run_sse2(s, i);
#endif
    case DETECT_IMPL_SCALAR:
        return run_scalar(s, i);
    default:
        return i;
    }
}

bool detect_impl_available(enum detect_impl impl)
{
    switch (impl) {
    case DETECT_IMPL_REF:
    case DETECT_IMPL_SCALAR:
        return true;
#ifdef __x86_64__
    case DETECT_IMPL_SSE2:
        return true;
    case DETECT_IMPL_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
    case DETECT_IMPL_AVX512:
        return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("bmi2");
    case DETECT_IMPL_VBMI2:
        return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi") &&
               __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi2");
#endif
    default:
        return false;
    }
}

enum detect_impl detect_impl_best(void)
{
    /* Not SCALAR: building the masks byte by byte from a table is slower
     * than the reference loop; it stays for the comparison tests. */
    for (int k = DETECT_IMPL__COUNT - 1; k > DETECT_IMPL_SCALAR; k--)
        if (detect_impl_available((enum detect_impl)k))
            return (enum detect_impl)k;
    return DETECT_IMPL_REF;
}

const char *detect_impl_name(enum detect_impl impl)
{
    static const char *const names[DETECT_IMPL__COUNT] = {"reference", "scalar", "sse2", "avx2",
                                                              "avx512", "vbmi2"};
    return (unsigned)impl < DETECT_IMPL__COUNT ? names[impl] : "unknown";
}

int detect_set_impl(struct detect_set *ds, enum detect_impl impl)
{
    if (!detect_impl_available(impl))
        return -1;
    ds->impl = impl;
    return 0;
}
