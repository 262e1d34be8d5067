/* detect_int.h - internals shared by the detector files (not an API).
 *
 * detect.c         rule table, lists, sets, the byte-level pass, evidence
 * detect_secret.c  secrets and PII verifiers called from the byte pass
 * detect_hidden.c  Unicode, ANSI, whitespace runs, encoded blobs, folding
 * detect_inject.c  trigger words and the PCRE2 injection patterns
 * detect_walk.c    tool definitions and MCP payload walkers
 * detect_fast.c    the fast path of the byte pass (prose skipped in blocks)
 */
#ifndef MCPWALL_GUARD_DETECT_INT_H
#define MCPWALL_GUARD_DETECT_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdatomic.h>
#include <string.h>

#include "guard/detect.h"

/* byte classes */
#define C_WORD  0x01u /* [A-Za-z0-9_] */
#define C_ALPHA 0x02u
#define C_DIGIT 0x04u
#define C_B64   0x08u /* [A-Za-z0-9+/=_-] */
#define C_HEX   0x10u
#define C_SPACE 0x20u /* ' ' '\t' */
#define C_CTRL  0x40u /* C0 except \t \n \r, and DEL */
#define C_HIGH  0x80u
#define C_UNDER 0x100u /* '_' */
#define C_UPPER 0x200u /* [A-Z] */

extern const uint16_t detect_cls[256];
extern const uint8_t detect_lc[256]; /* ASCII lowercase */

static inline bool d_alnum(unsigned char c)
{
    return (detect_cls[c] & (C_ALPHA | C_DIGIT)) != 0;
}
static inline bool d_word(unsigned char c)
{
    return (detect_cls[c] & C_WORD) != 0;
}
static inline bool d_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static inline bool d_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}
static inline bool d_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

/* ---- injection patterns (detect_inject.c) ---- */

struct dscan;

#define TRIG_WORD_MAX 32
#define DETECT_PAD 64 /* zeroed bytes after every buffer the patterns read */
#define TRIG_MAX_PATS 24

struct trig_entry {
    char word[TRIG_WORD_MAX]; /* lowercase, NUL-padded */
    uint8_t len;
    uint8_t used;
    uint8_t npats;
    uint8_t pats[TRIG_MAX_PATS]; /* patterns this word triggers */
    uint32_t hash;
    uint32_t classes; /* co-trigger classes this word belongs to */
};

/* What a lookup reads of the entry in the same slot (an array of its own,
 * small enough for the L1 cache). */
struct trig_key {
    uint32_t hash;
    uint8_t len; /* 0: empty slot */
    uint8_t npats;
    uint16_t ref0; /* its patterns: detect_set.refs[ref0 .. ref0 + npats) */
    uint32_t classes;
};

/* A pattern of a trigger word, with what the scan checks before reading the
 * pattern itself. */
struct pat_ref {
    uint32_t need, any; /* of the pattern */
    uint16_t back, fwd;
    uint8_t pat; /* index in detect_set.pat */
    uint8_t on;  /* bit ctx set: the pattern runs in that context */
    uint8_t anch; /* P_ANCH */
    uint8_t pad;
};

enum { INJ_JIT_NOT_YET = 0, INJ_JIT_READY, INJ_JIT_NONE /* the interpreter runs it */ };

struct inj_pattern {
    enum detect_rule rule;
    pcre2_code *re;
    pcre2_code *with; /* optional: must match in the same sentence */
    /* JIT code is made when a pattern first runs (inj_jit_ready): most
     * texts trigger few patterns, and the JIT code of all of them is 750 KB. */
    _Atomic uint8_t jit, with_jit; /* INJ_JIT_* */
    uint8_t sev[DETECT_CTX__COUNT]; /* 0: the rule's default; 0xff: off */
    unsigned flags;
    uint32_t need;    /* co-trigger classes required near the anchor (all of them) */
    uint32_t any;     /* ... and at least one of these */
    const char *pre;  /* substring required before the anchor (NULL: none) */
    size_t prelen;
    const char *post; /* one of these bytes required after it (NULL: none) */
    uint16_t back, fwd;
};

#define INJ_MAX_PATTERNS 128

#define TRIG_BLOOM_BITS 16
#define FSHAPE_BITS 14 /* 2 KB: stays in the L1 cache */

/* Implementations of the scan. They find exactly the same things; the
 * reference is the plain byte loop with no prefilter, kept so that tests and
 * the fuzz target can compare the fast ones against it. */
enum detect_impl {
    DETECT_IMPL_REF = 0, /* byte loop only; every pattern gate evaluated in full */
    DETECT_IMPL_SCALAR,  /* fast path, masks built from a table (any CPU) */
    DETECT_IMPL_SSE2,    /* fast path, masks built with SSE2 (x86-64) */
    DETECT_IMPL_AVX2,    /* fast path, masks built with AVX2 */
    DETECT_IMPL_AVX512,  /* fast path, masks built with AVX-512BW */
    DETECT_IMPL_VBMI2,   /* the same, and words hashed 16 at a time (AVX-512 VBMI2) */
    DETECT_IMPL__COUNT
};

/* The fastest implementation this CPU runs (the default of a new set). */
enum detect_impl detect_impl_best(void);
/* Whether this build and CPU can run impl. */
bool detect_impl_available(enum detect_impl impl);
const char *detect_impl_name(enum detect_impl impl);
/* Selects the implementation of ds's scans (before the set is shared).
 * Returns -1 when impl is not available here. */
int detect_set_impl(struct detect_set *ds, enum detect_impl impl);

struct detect_set {
    enum detect_impl impl;
    struct inj_pattern pat[INJ_MAX_PATTERNS];
    size_t npat;
    struct trig_entry *trig; /* open addressing, power-of-two size */
    struct trig_key *tkey;   /* the same slots: hash, length, classes */
    struct pat_ref *refs;    /* patterns of the trigger words, by word */
    size_t trig_mask;
    uint64_t bloom[(1u << TRIG_BLOOM_BITS) / 64]; /* bit (hash >> 16) set for every entry */
    uint64_t shape[(1u << 16) / 64]; /* bit shape_of(word) set for every entry */
    uint64_t fshape[(1u << FSHAPE_BITS) / 64]; /* fshape_of() of every trigger word
                                                    and of "bearer" (fast path) */
    pcre2_match_context *mctx; /* match and depth limits; JIT uses the machine stack */
};

int inj_compile(struct detect_set *ds, char *err, size_t errlen);
/* Looks up the word p[i, j) (whose lowercase hash is h) and its '_'-separated
 * parts when has_us; records trigger hits. 0 or -1 (memory). */
int inj_word(struct dscan *s, const unsigned char *p, size_t i, size_t j, uint32_t h, bool has_us);
/* A 16-bit digest of a word's shape: first two bytes, last byte, length
 * (case-insensitive). */
static inline unsigned shape_of(const unsigned char *p, size_t n)
{
    unsigned a = p[0] | 0x20u, b = n > 1 ? p[1] | 0x20u : 0, z = p[n - 1] | 0x20u;
    unsigned h = (a * 0x9e5u) ^ (b * 0x3b7u) ^ (z * 0x1f3u) ^ ((unsigned)n * 0x7b1u);
    return (h ^ (h >> 7)) & 0xffffu;
}

/* The fast path's digest of a word p[0, n) of letters: its first two bytes
 * (the first twice for a one-letter word), last byte and length,
 * case-insensitive, FSHAPE_BITS bits, one multiply. */
static inline unsigned fshape_mix(unsigned c0, unsigned c1, unsigned cz, size_t n)
{
    uint32_t h = ((c0 | c1 << 8 | cz << 16) | 0x202020u) ^ ((uint32_t)n << 24);
    return (h * 0x9e3779b1u) >> (32 - FSHAPE_BITS);
}

static inline unsigned fshape_of(const unsigned char *p, size_t n)
{
    return fshape_mix(p[0], p[n > 1], p[n - 1], n);
}

/* Could the word p[0, n) be in the trigger table? One load rejects most words. */
static inline bool inj_maybe(const struct detect_set *ds, const unsigned char *p, size_t n)
{
    if (n >= 32)
        return false;
    unsigned sh = shape_of(p, n);
    return (ds->shape[sh / 64] >> (sh % 64)) & 1u;
}

static inline bool inj_bloom(const struct detect_set *ds, uint32_t h)
{
    return (ds->bloom[(h >> 16) / 64] >> ((h >> 16) % 64)) & 1u;
}
/* Collects the trigger hits of s->ip (used when the text was folded). */
int inj_find_triggers(struct dscan *s);
void inj_free(struct detect_set *ds);
/* The eight bytes at w, any of them past len cleared (len 1..8), folded to
 * lowercase as letters are (| 0x20). */
static inline uint64_t fold8(const unsigned char *w, size_t len)
{
    uint64_t v;
    memcpy(&v, w, 8);
    return (v | 0x2020202020202020ull) & (~0ull >> (64 - 8 * len));
}

/* The slot of the word w[0, len) (any case) whose word_hash() is h, or -1.
 * letters8: the word is letters only and 32 bytes are readable at w, so it
 * is compared eight bytes at a time (the table holds lowercase words,
 * NUL-padded; a word of letters equals one only letter by letter). Callers
 * pass a constant: each gets its own loop. */
static inline __attribute__((always_inline)) long
inj_trigger_probe(const struct detect_set *ds, const unsigned char *w, size_t len, uint32_t h,
                  bool letters8)
{
    size_t i = h & ds->trig_mask;
    for (;;) {
        const struct trig_key *k = &ds->tkey[i];
        if (k->len == 0)
            return -1;
        if (k->hash == h && k->len == len) {
            const char *e = ds->trig[i].word;
            bool same = true;
            if (letters8) {
                for (size_t o = 0; o < len && same; o += 8) {
                    uint64_t ev;
                    memcpy(&ev, e + o, 8);
                    same = fold8(w + o, len - o < 8 ? len - o : 8) == ev;
                }
            } else {
                for (size_t m = 0; m < len && same; m++)
                    same = (unsigned char)e[m] == detect_lc[w[m]];
            }
            if (same)
                return (long)i;
        }
        i = (i + 1) & ds->trig_mask;
    }
}

static inline long inj_trigger_slot(const struct detect_set *ds, const unsigned char *w, size_t len,
                                    uint32_t h)
{
    return inj_trigger_probe(ds, w, len, h, false);
}

static inline const struct trig_entry *inj_trigger_lookup(const struct detect_set *ds,
                                                          const unsigned char *w, size_t len,
                                                          uint32_t h)
{
    long t = inj_trigger_slot(ds, w, len, h);
    return t < 0 ? NULL : &ds->trig[t];
}
/* Hash of a word of [A-Za-z0-9_] bytes, case-insensitive (OR 0x20 maps
 * letters to lowercase and leaves digits; '_' maps consistently). Reads 8
 * bytes at a time when `avail` (bytes readable from p) allows; *us tells
 * whether the word holds '_'. */
static inline uint32_t word_hash_us(const unsigned char *p, size_t n, size_t avail, bool *us)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    uint64_t usacc = 0;
    for (size_t k = 0; k < n; k += 8) {
        size_t m = n - k < 8 ? n - k : 8;
        uint64_t mask = m < 8 ? (1ull << (8 * m)) - 1 : ~0ull;
        uint64_t w = 0;
        if (avail - k >= 8) {
            memcpy(&w, p + k, 8);
            w &= mask; /* little-endian: the word's bytes are the low ones */
        } else {
            for (size_t b = 0; b < m; b++)
                w |= (uint64_t)p[k + b] << (8 * b);
        }
        /* bytes equal to '_' (0x5f): classic zero-byte test on w ^ 0x5f.. */
        uint64_t x = (w ^ 0x5f5f5f5f5f5f5f5full) & mask;
        usacc |= ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) & mask;
        w |= 0x2020202020202020ull & mask;
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    *us = usacc != 0;
    return (uint32_t)(h ^ (h >> 32));
}

static inline uint32_t word_hash(const unsigned char *p, size_t n, size_t avail)
{
    bool us;
    return word_hash_us(p, n, avail, &us);
}

/* ---- scan state ---- */

struct fold_seg {
    size_t out; /* first folded byte of the segment */
    size_t in;  /* its offset in the original */
};

/* A trigger word found in the scanned view (12 bytes: texts are at most
 * DETECT_MAX_SCAN bytes, words shorter than TRIG_WORD_MAX). */
struct trig_hit {
    uint32_t pos;
    uint16_t te; /* index in detect_set.trig */
    uint8_t len;
    uint8_t npats;    /* of the entry */
    uint32_t classes; /* of the entry */
};

struct dscan {
    const struct detect_set *ds;
    enum detect_context ctx;
    const unsigned char *p; /* original text */
    size_t n;
    const char *pointer;
    struct detect_list *out;
    size_t base; /* first finding of this scan in out */
    int err;
    unsigned extra_flags; /* or-ed into every finding (DETECT_F_KEY) */
    int depth;            /* nesting of decoded blobs */
    pcre2_match_data *md; /* made at the first pattern run */
    unsigned char *padded; /* p with DETECT_PAD zero bytes, made when a pattern
                              runs near the end of p (JIT reads past) */
    bool has_high;        /* any byte >= 0x80 */
    bool collect;         /* the byte pass records trigger words */
    /* view scanned by the injection patterns: the original or a folded copy */
    const unsigned char *ip;
    size_t in;
    unsigned char *fold;
    struct fold_seg *seg;
    size_t nseg, capseg;
    struct trig_hit *hits;
    size_t nhits, caphits;
    bool hits_own; /* hits was allocated (else the caller's small array) */
};

/* ---- the byte pass (detect.c) and its fast path (detect_fast.c) ---- */

/* 1: a byte that may begin a known token prefix; 2: a digit (see detect.c) */
extern const uint8_t detect_prefix_first[256];

/* The byte pass's secret work on the word p[i, j) of the original text
 * (maximal run of [A-Za-z0-9_] from i): token prefixes, IBANs and numbers at
 * a word boundary, "Bearer" (the byte pass adds the trigger words of the
 * injection patterns; the fast path looks those up itself). acc holds the
 * classes of the word's bytes after the first (C_DIGIT, C_UPPER and C_UNDER
 * are read). */
void dpass_sec(struct dscan *s, size_t i, size_t j, unsigned acc);

/* Runs the fast path from offset i of the original text, where the byte pass
 * has no base64 run open. Does what the byte pass would do over a stretch of
 * ordinary prose and returns where the byte pass must go on: the first byte,
 * or the start of the first word, that the fast path leaves to it (never
 * more than s->n - 64: the last bytes are the byte pass's). */
size_t dfast_run(struct dscan *s, size_t i);
/* Builds the tables of the fast path (idempotent, thread-safe). */
void dfast_init(void);

/* Grows s->hits; 0 or -1 (memory). */
int inj_hits_grow(struct dscan *s);

/* Records the trigger word at pos of the injection view (slot te). */
static inline int inj_hit_push(struct dscan *s, size_t pos, size_t len, size_t te)
{
    if (s->nhits == s->caphits && inj_hits_grow(s) < 0)
        return -1;
    const struct trig_key *k = &s->ds->tkey[te];
    struct trig_hit *h = &s->hits[s->nhits++];
    h->pos = (uint32_t)pos;
    h->te = (uint16_t)te;
    h->len = (uint8_t)len;
    h->npats = k->npats;
    h->classes = k->classes;
    return 0;
}

/* Adds a finding of rule r at [start, end) of the ORIGINAL text. sev 0 takes
 * the rule default for the context; a rule with NONE there is dropped. The
 * evidence is formatted by the caller (may be NULL: excerpt of the span). */
void dscan_add(struct dscan *s, enum detect_rule r, size_t start, size_t end,
               enum detect_severity sev, unsigned flags, const char *evidence);
/* Evidence helpers: excerpt of text with controls and invisibles escaped,
 * at most max-1 bytes, cut on a code point boundary with "..." appended. */
void ev_excerpt(const unsigned char *p, size_t n, char *out, size_t max);
/* Masked preview: keeps `keep` leading bytes (a known public prefix), then
 * '*' and the length: "ghp_**** (40 chars)". */
void ev_mask(const unsigned char *p, size_t n, size_t keep, const char *what, char *out,
             size_t max);

/* secrets and PII: each inspects position i of the original text and adds
 * findings; returns the offset to continue from (>= i + 1) or i when nothing
 * was consumed. */
void sec_word_start(struct dscan *s, size_t i);  /* known token prefixes, IBAN, numbers */
void sec_separator(struct dscan *s, size_t i);   /* ':' or '=' : key=value, URL credentials */
void sec_at(struct dscan *s, size_t i);          /* '@' : e-mail */
size_t sec_dash(struct dscan *s, size_t i);      /* '-' : PEM blocks */
void sec_plus(struct dscan *s, size_t i);        /* '+' '(' : phone numbers */
void sec_tilde(struct dscan *s, size_t i);       /* '~' : Azure AD client secrets */
void sec_bearer(struct dscan *s, size_t wend); /* word "bearer" */
void sec_putty(struct dscan *s, size_t i);
void sec_iban(struct dscan *s, size_t i);                /* [A-Z]{2}[0-9]{2}... */
/* Builds the token-prefix index (idempotent, thread-safe). */
void sec_init(void);

/* hidden content */
size_t hid_escape(struct dscan *s, size_t i);    /* ESC */
size_t hid_control(struct dscan *s, size_t i);   /* other C0 / DEL */
size_t hid_high(struct dscan *s, size_t i);      /* non-ASCII: returns next offset */
size_t hid_spaces(struct dscan *s, size_t i);    /* ' ' '\t' run */
size_t hid_newlines(struct dscan *s, size_t i);  /* '\n' run */
void hid_blob(struct dscan *s, size_t start, size_t end); /* base64/hex run */
/* Offsets of the characters the folded view changes (look-alikes,
 * invisibles, exotic spaces, tag characters), at most max of them; returns
 * their number, or max + 1 when there are more. Only non-ASCII bytes are
 * decoded. */
size_t hid_fold_spots(const unsigned char *p, size_t n, size_t *spots, size_t max);
/* Builds the folded view of p[from, to) in s->fold / s->ip / s->in with
 * segments mapping back to original offsets; 0 or -1 (memory). */
int hid_fold_range(struct dscan *s, size_t from, size_t to);
/* Maps a folded span back to the original. */
void fold_map(const struct dscan *s, size_t fs, size_t fe, size_t *os, size_t *oe);

/* injection: finds trigger words in s->ip and runs the patterns */
int inj_scan(struct dscan *s);

/* Runs the whole pass over a nested text (decoded blob) and returns the
 * highest injection severity found there, with its rule. */
enum detect_severity detect_nested(const struct dscan *s, const unsigned char *p, size_t n,
                                   enum detect_rule *rule, char *ev, size_t evmax);

#endif
