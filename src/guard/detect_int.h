/* detect_int.h - internals shared by the detector files (not an API).
 *
 * detect.c         rule table, lists, sets, the byte-level pass, evidence
 * detect_secret.c  secrets and PII verifiers called from the byte pass
 * detect_hidden.c  Unicode, ANSI, whitespace runs, encoded blobs, folding
 * detect_inject.c  trigger words and the PCRE2 injection patterns
 * detect_walk.c    tool definitions and MCP payload walkers
 */
#ifndef MCPWALL_GUARD_DETECT_INT_H
#define MCPWALL_GUARD_DETECT_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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

extern const uint8_t detect_cls[256];
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

#define TRIG_WORD_MAX 32
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

struct inj_pattern {
    enum detect_rule rule;
    pcre2_code *re;
    pcre2_code *with; /* optional: must match in the same sentence */
    uint8_t sev[DETECT_CTX__COUNT]; /* 0: the rule's default */
    unsigned flags;
    uint32_t need;  /* co-trigger classes required in the window (all of them) */
    uint16_t back, fwd;
};

#define INJ_MAX_PATTERNS 128

struct detect_set {
    struct inj_pattern pat[INJ_MAX_PATTERNS];
    size_t npat;
    struct trig_entry *trig; /* open addressing, power-of-two size */
    size_t trig_mask;
    pcre2_match_context *mctx; /* match and depth limits; JIT uses the machine stack */
};

int inj_compile(struct detect_set *ds, char *err, size_t errlen);
void inj_free(struct detect_set *ds);
const struct trig_entry *inj_trigger_lookup(const struct detect_set *ds, const unsigned char *w,
                                            size_t len, uint32_t h);
uint32_t inj_hash_init(void);
static inline uint32_t inj_hash_step(uint32_t h, unsigned char lc)
{
    return (h ^ lc) * 16777619u;
}

/* ---- scan state ---- */

struct fold_seg {
    size_t out; /* first folded byte of the segment */
    size_t in;  /* its offset in the original */
};

struct trig_hit {
    size_t pos;
    size_t len;
    const struct trig_entry *te;
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
    pcre2_match_data *md;
    bool has_high;        /* any byte >= 0x80 */
    bool want_fold;       /* foldable characters seen */
    /* view scanned by the injection patterns: the original or a folded copy */
    const unsigned char *ip;
    size_t in;
    unsigned char *fold;
    struct fold_seg *seg;
    size_t nseg, capseg;
    struct trig_hit *hits;
    size_t nhits, caphits;
};

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

/* hidden content */
size_t hid_escape(struct dscan *s, size_t i);    /* ESC */
size_t hid_control(struct dscan *s, size_t i);   /* other C0 / DEL */
size_t hid_high(struct dscan *s, size_t i);      /* non-ASCII: returns next offset */
size_t hid_spaces(struct dscan *s, size_t i);    /* ' ' '\t' run */
size_t hid_newlines(struct dscan *s, size_t i);  /* '\n' run */
void hid_blob(struct dscan *s, size_t start, size_t end); /* base64/hex run */
/* Builds s->fold when the text has foldable characters; 0 or -1 (memory). */
int hid_fold(struct dscan *s);
/* Maps a folded span back to the original. */
void fold_map(const struct dscan *s, size_t fs, size_t fe, size_t *os, size_t *oe);

/* injection: finds trigger words in s->ip and runs the patterns */
int inj_scan(struct dscan *s);

/* Runs the whole pass over a nested text (decoded blob) and returns the
 * highest injection severity found there, with its rule. */
enum detect_severity detect_nested(const struct dscan *s, const unsigned char *p, size_t n,
                                   enum detect_rule *rule, char *ev, size_t evmax);

#endif
