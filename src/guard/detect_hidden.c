/* detect_hidden.c - text a person does not see, and the folded view.
 *
 * Hidden content: Unicode tag characters, bidi controls, zero-width and
 * filler characters, variation-selector runs, C0/C1 controls, ANSI escape
 * sequences, long whitespace runs and base64/hex blobs that decode to text.
 *
 * Folding: injection patterns are matched against a copy of the text in
 * which invisible characters are removed, tag characters are decoded to the
 * ASCII they smuggle, fullwidth/mathematical letters and Cyrillic/Greek
 * look-alikes become ASCII, and exotic spaces become ' '. Spans found there
 * are mapped back to the original through a segment table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect_int.h"
#include "util/utf8.h"

/* thresholds per context: {result, definition} */
static const size_t ws_run_min[DETECT_CTX__COUNT] = {256, 40};
static const size_t nl_run_min[DETECT_CTX__COUNT] = {64, 16};
static const size_t blob_min[DETECT_CTX__COUNT] = {64, 40};

/* ------------------------------------------------------------ whitespace */

size_t hid_spaces(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t j = i;
    while (j < s->n && (p[j] == ' ' || p[j] == '\t'))
        j++;
    if (j - i >= ws_run_min[s->ctx]) {
        char ev[DETECT_EVIDENCE_MAX];
        snprintf(ev, sizeof(ev), "%zu consecutive blanks", j - i);
        dscan_add(s, DR_HIDDEN_WHITESPACE, i, j, DETECT_SEV_NONE, 0, ev);
    }
    return j;
}

size_t hid_newlines(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t j = i, nl = 0, last_nl = i;
    while (j < s->n && (p[j] == '\n' || p[j] == '\r' || p[j] == ' ' || p[j] == '\t')) {
        if (p[j] == '\n') {
            nl++;
            last_nl = j;
        }
        j++;
    }
    if (nl >= nl_run_min[s->ctx]) {
        char ev[DETECT_EVIDENCE_MAX];
        snprintf(ev, sizeof(ev), "%zu consecutive blank lines", nl);
        dscan_add(s, DR_HIDDEN_WHITESPACE, i, last_nl + 1, DETECT_SEV_NONE, 0, ev);
        return last_nl + 1;
    }
    /* trailing blanks of the run are looked at by hid_spaces */
    return last_nl + 1;
}

/* -------------------------------------------------------------- controls */

size_t hid_control(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t j = i;
    while (j < s->n && (detect_cls[p[j]] & C_CTRL) && p[j] != 0x1b)
        j++;
    char ev[DETECT_EVIDENCE_MAX];
    snprintf(ev, sizeof(ev), "%zu control character%s starting with \\u%04X", j - i,
             j - i == 1 ? "" : "s", (unsigned)p[i]);
    dscan_add(s, DR_UNI_CONTROL, i, j, DETECT_SEV_NONE, 0, ev);
    return j;
}

/* ESC sequences (ECMA-48). Returns the offset after the sequence. */
size_t hid_escape(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n, j = i + 1;
    char ev[DETECT_EVIDENCE_MAX];
    if (j >= n) {
        dscan_add(s, DR_ANSI_ESCAPE, i, j, DETECT_SEV_NONE, 0, "bare ESC");
        return j;
    }
    unsigned char t = p[j];
    if (t == '[') {
        /* CSI: parameters 0x30-0x3f, intermediates 0x20-0x2f, final 0x40-0x7e */
        size_t ps = ++j;
        while (j < n && j - ps < 64 && p[j] >= 0x30 && p[j] <= 0x3f)
            j++;
        size_t pe = j;
        while (j < n && j - ps < 64 && p[j] >= 0x20 && p[j] <= 0x2f)
            j++;
        unsigned char fin = j < n ? p[j] : 0;
        if (fin >= 0x40 && fin <= 0x7e)
            j++;
        enum detect_severity sev = DETECT_SEV_NONE;
        const char *what = "SGR colour/style";
        if (fin != 'm') {
            sev = DETECT_SEV_HIGH;
            what = (fin >= 'A' && fin <= 'H') || fin == 'f' ? "cursor movement"
                   : (fin == 'J' || fin == 'K')           ? "erase"
                                                          : "control sequence";
        } else {
            /* SGR 8 conceals text */
            for (size_t k = ps; k < pe; k++) {
                if (p[k] == '8' && (k == ps || p[k - 1] == ';') && (k + 1 == pe || p[k + 1] == ';')) {
                    sev = DETECT_SEV_HIGH;
                    what = "SGR 8 (concealed text)";
                }
            }
        }
        snprintf(ev, sizeof(ev), "ESC [%.*s%c (%s)", (int)(pe - ps < 16 ? pe - ps : 16),
                 (const char *)p + ps, fin >= 0x20 && fin < 0x7f ? fin : '?', what);
        dscan_add(s, DR_ANSI_CSI, i, j, sev, 0, ev);
        return j;
    }
    if (t == ']' || t == 'P' || t == '_' || t == '^' || t == 'X') {
        /* OSC / DCS / APC / PM / SOS: up to BEL or ST (ESC \) */
        size_t ps = ++j;
        while (j < n && j - ps < 4096 && p[j] != 0x07 && !(p[j] == 0x1b && j + 1 < n && p[j + 1] == '\\'))
            j++;
        size_t pe = j;
        if (j < n && (p[j] == 0x07 || p[j] == 0x1b)) {
            j += p[j] == 0x07 ? 1 : 2;
        } else {
            /* unterminated within the limit: end on a code point boundary */
            while (j > ps && j < n && (p[j] & 0xc0) == 0x80)
                j--;
            pe = j;
        }
        if (t == ']') {
            const char *what = "OSC";
            if (pe - ps >= 2 && p[ps] == '8' && p[ps + 1] == ';')
                what = "OSC 8 hyperlink";
            else if (pe - ps >= 3 && p[ps] == '5' && p[ps + 1] == '2' && p[ps + 2] == ';')
                what = "OSC 52 clipboard write";
            else if (pe - ps >= 2 && (p[ps] == '0' || p[ps] == '2') && p[ps + 1] == ';')
                what = "OSC window title";
            char body[64];
            ev_excerpt(p + ps, pe - ps, body, sizeof(body));
            snprintf(ev, sizeof(ev), "%s: %s", what, body);
            dscan_add(s, DR_ANSI_OSC, i, j, DETECT_SEV_NONE, 0, ev);
        } else {
            snprintf(ev, sizeof(ev), "ESC %c string sequence (%zu bytes)", t, j - i);
            dscan_add(s, DR_ANSI_ESCAPE, i, j, DETECT_SEV_HIGH, 0, ev);
        }
        return j;
    }
    /* two- or three-byte escapes: ESC c (reset), ESC ( B (charset) ...;
     * only ASCII bytes belong to them (never split a UTF-8 sequence) */
    if (t >= 0x20 && t <= 0x2f && j + 1 < n && p[j + 1] >= 0x20 && p[j + 1] < 0x7f)
        j++;
    if (j < n && p[j] >= 0x20 && p[j] < 0x7f)
        j++;
    snprintf(ev, sizeof(ev), "ESC %c", t >= 0x20 && t < 0x7f ? t : '?');
    dscan_add(s, DR_ANSI_ESCAPE, i, j, DETECT_SEV_NONE, 0, ev);
    return j;
}

/* --------------------------------------------------------------- Unicode */

enum ucls {
    U_OTHER = 0,
    U_TAG,
    U_BIDI,
    U_ZW,   /* zero-width / invisible fillers */
    U_JOIN, /* ZWJ / ZWNJ: fine inside emoji and complex scripts */
    U_VS,   /* FE00-FE0F */
    U_VSS,  /* E0100-E01EF */
    U_C1,
    U_SPACE, /* exotic spaces: fold only */
    U_FOLD,  /* fullwidth / confusable / math letters: fold only */
};

static int confusable(uint32_t cp);

static enum ucls classify(uint32_t cp)
{
    if (cp >= 0xe0000 && cp <= 0xe007f)
        return U_TAG;
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
        return U_BIDI;
    if (cp == 0x200c || cp == 0x200d)
        return U_JOIN;
    if (cp == 0x200b || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff || cp == 0x180e ||
        cp == 0x034f || cp == 0x115f || cp == 0x1160 || cp == 0x3164 || cp == 0xffa0 ||
        cp == 0x17b4 || cp == 0x17b5 || cp == 0x2800 || cp == 0x00ad || cp == 0x061c ||
        cp == 0x200e || cp == 0x200f)
        return U_ZW;
    if (cp >= 0xfe00 && cp <= 0xfe0f)
        return U_VS;
    if (cp >= 0xe0100 && cp <= 0xe01ef)
        return U_VSS;
    if (cp >= 0x80 && cp <= 0x9f)
        return U_C1;
    if (cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f ||
        cp == 0x205f || cp == 0x3000)
        return U_SPACE;
    if ((cp >= 0xff01 && cp <= 0xff5e) || (cp >= 0x1d400 && cp <= 0x1d7ff) ||
        (cp >= 0x24b6 && cp <= 0x24e9) || confusable(cp) != 0)
        return U_FOLD;
    return U_OTHER;
}

static bool decode_at(const unsigned char *p, size_t n, size_t i, uint32_t *cp, size_t *len)
{
    if (p[i] < 0x80) {
        *cp = p[i];
        *len = 1;
        return true;
    }
    if (utf8_decode(p + i, n - i, cp, len) != UTF8_OK) {
        *cp = 0xfffd;
        *len = 1;
        return false;
    }
    return true;
}

/* code point ending just before offset i (0 when none) */
static uint32_t cp_before(const unsigned char *p, size_t i)
{
    if (i == 0)
        return 0;
    size_t k = i - 1;
    while (k > 0 && i - k < 4 && (p[k] & 0xc0) == 0x80)
        k--;
    uint32_t cp;
    size_t len;
    if (!decode_at(p, i, k, &cp, &len) || k + len != i)
        return 0xfffd;
    return cp;
}

size_t hid_high(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    uint32_t cp;
    size_t len;
    if (!decode_at(p, n, i, &cp, &len))
        return i + 1;
    enum ucls c = classify(cp);
    if (c == U_OTHER || c == U_SPACE || c == U_FOLD)
        return i + len; /* look-alikes are handled by the folded view */
    if (c == U_C1) {
        if (cp == 0x9b || cp == 0x9d) {
            dscan_add(s, cp == 0x9b ? DR_ANSI_CSI : DR_ANSI_OSC, i, i + len, DETECT_SEV_HIGH, 0,
                      cp == 0x9b ? "C1 CSI (U+009B)" : "C1 OSC (U+009D)");
        } else {
            dscan_add(s, DR_UNI_CONTROL, i, i + len, DETECT_SEV_NONE, 0, NULL);
        }
        return i + len;
    }
    /* gather the run of the same family */
    size_t j = i + len, count = 1;
    uint32_t first = cp;
    char payload[48];
    size_t pl = 0;
    if (c == U_TAG && cp >= 0xe0020 && cp <= 0xe007e)
        payload[pl++] = (char)(cp - 0xe0000);
    while (j < n) {
        uint32_t c2;
        size_t l2;
        if (!decode_at(p, n, j, &c2, &l2))
            break;
        enum ucls k2 = classify(c2);
        bool same = k2 == c || ((c == U_ZW || c == U_JOIN) && (k2 == U_ZW || k2 == U_JOIN)) ||
                    ((c == U_VS || c == U_VSS) && (k2 == U_VS || k2 == U_VSS));
        if (!same)
            break;
        if (k2 == U_TAG && c2 >= 0xe0020 && c2 <= 0xe007e && pl < sizeof(payload) - 1)
            payload[pl++] = (char)(c2 - 0xe0000);
        if (k2 == U_ZW)
            c = U_ZW;
        j += l2;
        count++;
    }
    payload[pl] = '\0';
    char ev[DETECT_EVIDENCE_MAX];
    uint32_t before = cp_before(p, i);
    uint32_t after = 0;
    size_t al;
    if (j < n)
        decode_at(p, n, j, &after, &al);
    switch (c) {
    case U_TAG: {
        char pe[64];
        ev_excerpt((const unsigned char *)payload, pl, pe, sizeof(pe));
        snprintf(ev, sizeof(ev), "%zu tag characters spelling \"%s\"", count, pe);
        dscan_add(s, DR_UNI_TAG_CHARS, i, j, DETECT_SEV_NONE, 0, ev);
        break;
    }
    case U_BIDI:
        snprintf(ev, sizeof(ev), "bidi control U+%04X%s", (unsigned)first,
                 count > 1 ? " and more" : "");
        dscan_add(s, DR_UNI_BIDI, i, j, DETECT_SEV_NONE, 0, ev);
        break;
    case U_JOIN:
        /* joiners between non-ASCII characters: emoji sequences, Indic, Persian */
        if (count <= 2 && before >= 0x80 && after >= 0x80)
            break;
        __attribute__((fallthrough));
    case U_ZW: {
        if (count == 1 && first == 0xfeff && i == 0)
            break; /* byte order mark */
        if (count == 1 && (first == 0x00ad || first == 0x200e || first == 0x200f || first == 0x061c))
            break; /* soft hyphen and direction marks are ordinary alone */
        enum detect_severity sev = DETECT_SEV_NONE;
        if (s->ctx == DETECT_CTX_RESULT && count >= 3)
            sev = DETECT_SEV_MEDIUM;
        snprintf(ev, sizeof(ev), "%zu invisible character%s (U+%04X%s)", count,
                 count == 1 ? "" : "s", (unsigned)first, count > 1 ? "..." : "");
        dscan_add(s, DR_UNI_ZERO_WIDTH, i, j, sev, 0, ev);
        break;
    }
    case U_VS:
    case U_VSS:
        if (count == 1) {
            /* one selector after an emoji/symbol, a keycap digit, or (VSS)
             * after an ideograph is the normal use */
            if (c == U_VS && (before >= 0x80 || after == 0x20e3))
                break;
            if (c == U_VSS && before >= 0x3400)
                break;
        }
        snprintf(ev, sizeof(ev), "%zu variation selector%s (U+%04X%s)", count,
                 count == 1 ? "" : "s", (unsigned)first, count > 1 ? "..." : "");
        dscan_add(s, DR_UNI_VARIATION_SELECTOR, i, j, count >= 4 ? DETECT_SEV_HIGH : DETECT_SEV_NONE,
                  0, ev);
        break;
    default:
        break;
    }
    return j;
}

/* ----------------------------------------------------------------- blobs */

static int hexv(unsigned char c)
{
    if (d_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64v(unsigned char c)
{
    if (d_upper(c))
        return c - 'A';
    if (d_lower(c))
        return c - 'a' + 26;
    if (d_digit(c))
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Is buf readable text? (printable ASCII or valid UTF-8, some letters and spaces) */
static bool looks_text(const unsigned char *b, size_t n)
{
    size_t good = 0, letters = 0, spaces = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len;
        if (b[i] < 0x80) {
            unsigned char c = b[i];
            if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t')
                good++;
            if (d_lower(c) || d_upper(c))
                letters++;
            if (c == ' ' || c == '\n')
                spaces++;
            i++;
        } else if (utf8_decode(b + i, n - i, &cp, &len) == UTF8_OK) {
            good += len;
            letters++;
            i += len;
        } else if (n - i < 4) {
            good++; /* a sequence cut by the decode window */
            i++;
        } else {
            i++;
        }
    }
    return n >= 16 && good * 100 >= n * 95 && letters * 2 >= n && spaces >= 2;
}

void hid_blob(struct dscan *s, size_t start, size_t end)
{
    const unsigned char *p = s->p;
    /* '=' is padding: anything before an inner '=' is a key name ("data=") */
    size_t pad = end;
    while (pad > start && p[pad - 1] == '=')
        pad--;
    const unsigned char *eq = pad > start ? memrchr(p + start, '=', pad - start) : NULL;
    if (eq != NULL)
        start = (size_t)(eq - p) + 1;
    while (start < pad && (p[start] == '-' || p[start] == '+' || p[start] == '/'))
        start++;
    if (pad - start < blob_min[s->ctx])
        return;
    /* already part of a secret (JWT, key, token)? */
    for (size_t k = s->out->n; k > s->base; k--) {
        const struct detect_finding *f = &s->out->v[k - 1];
        if (f->start < end && start < f->end)
            return;
        if (f->end <= start)
            break;
    }
    unsigned char dec[1024];
    size_t dl = 0;
    bool hex = true;
    for (size_t k = start; k < pad; k++)
        if (hexv(p[k]) < 0) {
            hex = false;
            break;
        }
    const char *kind;
    if (hex) {
        if ((pad - start) % 2 != 0)
            return;
        for (size_t k = start; k + 1 < pad && dl < sizeof(dec); k += 2)
            dec[dl++] = (unsigned char)(hexv(p[k]) * 16 + hexv(p[k + 1]));
        kind = "hex";
    } else {
        /* base64 of text mixes cases: a one-case run (a long identifier)
         * is not decoded at all */
        bool up = false, low = false;
        for (size_t k = start; k < pad && (k - start) * 3 / 4 < sizeof(dec) && !(up && low);
             k++) {
            up |= d_upper(p[k]);
            low |= d_lower(p[k]);
        }
        if (!up || !low)
            return;
        uint32_t acc = 0;
        int bits = 0;
        for (size_t k = start; k < pad && dl < sizeof(dec); k++) {
            int v = b64v(p[k]);
            if (v < 0)
                return;
            acc = (acc << 6) | (uint32_t)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                dec[dl++] = (unsigned char)(acc >> bits);
            }
        }
        kind = "base64";
    }
    if (!looks_text(dec, dl))
        return;
    char ev[DETECT_EVIDENCE_MAX], inner[80];
    enum detect_rule ir = DR_INJ_OVERRIDE;
    enum detect_severity is = detect_nested(s, dec, dl, &ir, inner, sizeof(inner));
    if (is >= DETECT_SEV_MEDIUM) {
        snprintf(ev, sizeof(ev), "%s decodes to %s: %s", kind, detect_rule_id(ir), inner);
        dscan_add(s, DR_HIDDEN_ENCODED_INSTRUCTIONS, start, end, DETECT_SEV_NONE, 0, ev);
        return;
    }
    ev_excerpt(dec, dl, inner, 64);
    snprintf(ev, sizeof(ev), "%s decodes to text: \"%s\"", kind, inner);
    dscan_add(s, DR_HIDDEN_ENCODED_TEXT, start, end, DETECT_SEV_NONE, 0, ev);
}

/* --------------------------------------------------------------- folding */

/* Cyrillic and Greek letters that look like ASCII letters. */
static int confusable(uint32_t cp)
{
    static const struct {
        uint16_t cp;
        char to;
    } map[] = {
        {0x0391, 'A'}, {0x0392, 'B'}, {0x0395, 'E'}, {0x0396, 'Z'}, {0x0397, 'H'}, {0x0399, 'I'},
        {0x039a, 'K'}, {0x039c, 'M'}, {0x039d, 'N'}, {0x039f, 'O'}, {0x03a1, 'P'}, {0x03a4, 'T'},
        {0x03a5, 'Y'}, {0x03a7, 'X'}, {0x03b1, 'a'}, {0x03b9, 'i'}, {0x03ba, 'k'}, {0x03bd, 'v'},
        {0x03bf, 'o'}, {0x03c1, 'p'}, {0x03c4, 't'}, {0x03c5, 'u'}, {0x03c7, 'x'}, {0x0405, 'S'},
        {0x0406, 'I'}, {0x0408, 'J'}, {0x0410, 'A'}, {0x0412, 'B'}, {0x0415, 'E'}, {0x041a, 'K'},
        {0x041c, 'M'}, {0x041d, 'H'}, {0x041e, 'O'}, {0x0420, 'P'}, {0x0421, 'C'}, {0x0422, 'T'},
        {0x0423, 'Y'}, {0x0425, 'X'}, {0x0430, 'a'}, {0x0435, 'e'}, {0x043e, 'o'}, {0x0440, 'p'},
        {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'},
        {0x0501, 'd'}, {0x04bb, 'h'}, {0x04cf, 'l'}, {0x0261, 'g'}, {0x0251, 'a'}, {0x0269, 'i'},
    };
    if (cp < 0x0251 || cp > 0x0501)
        return 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].cp == cp)
            return map[i].to;
    return 0;
}

/* ASCII byte a code point folds to; 0 = keep as is; -1 = drop. */
static int fold_cp(uint32_t cp)
{
    if (cp >= 0xe0020 && cp <= 0xe007e)
        return (int)(cp - 0xe0000);
    switch (classify(cp)) {
    case U_TAG:
    case U_BIDI:
    case U_ZW:
    case U_JOIN:
    case U_VS:
    case U_VSS:
        return -1;
    case U_SPACE:
        return ' ';
    case U_C1:
        return ' ';
    case U_FOLD:
        break;
    default:
        return 0;
    }
    if (cp >= 0xff01 && cp <= 0xff5e)
        return (int)(cp - 0xfee0);
    if (cp >= 0x24b6 && cp <= 0x24cf)
        return (int)('A' + (cp - 0x24b6));
    if (cp >= 0x24d0 && cp <= 0x24e9)
        return (int)('a' + (cp - 0x24d0));
    if (cp >= 0x1d7ce && cp <= 0x1d7ff)
        return (int)('0' + (cp - 0x1d7ce) % 10);
    if (cp >= 0x1d400 && cp <= 0x1d6a3) {
        uint32_t k = (cp - 0x1d400) % 52;
        return (int)(k < 26 ? 'A' + k : 'a' + (k - 26));
    }
    int c = confusable(cp);
    return c != 0 ? c : 0;
}

static int seg_push(struct dscan *s, size_t out, size_t in)
{
    if (s->nseg > 0 && s->seg[s->nseg - 1].out == out) {
        s->seg[s->nseg - 1].in = in;
        return 0;
    }
    if (s->nseg == s->capseg) {
        size_t nc = s->capseg != 0 ? s->capseg * 2 : 64;
        struct fold_seg *ns = realloc(s->seg, nc * sizeof(*ns));
        if (ns == NULL)
            return -1;
        s->seg = ns;
        s->capseg = nc;
    }
    s->seg[s->nseg].out = out;
    s->seg[s->nseg].in = in;
    s->nseg++;
    return 0;
}

size_t hid_fold_spots(const unsigned char *p, size_t n, size_t *spots, size_t max)
{
    size_t i = 0, k = 0;
    while (i < n) {
        /* skip ASCII eight bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        while (i < n && p[i] < 0x80)
            i++;
        if (i >= n)
            break;
        uint32_t cp;
        size_t len;
        if (!decode_at(p, n, i, &cp, &len)) {
            i++;
            continue;
        }
        enum ucls c = classify(cp);
        if (c != U_OTHER && c != U_C1) {
            if (k == max)
                return max + 1;
            spots[k++] = i;
        }
        i += len;
    }
    return k;
}

int hid_fold_range(struct dscan *s, size_t from, size_t to)
{
    const unsigned char *p = s->p;
    size_t n = to, o = 0, i = from;
    free(s->fold);
    s->fold = malloc(to - from + DETECT_PAD);
    s->nseg = 0;
    if (s->fold == NULL)
        return -1;
    if (seg_push(s, 0, from) < 0)
        return -1;
    /* confusable-word tracking: a run of letters mixing ASCII and folded ones */
    size_t wstart = SIZE_MAX;
    bool w_ascii = false, w_folded = false;
    while (i < n) {
        if (p[i] < 0x80 && wstart == SIZE_MAX) {
            /* copy a run of ASCII up to the next letter-bearing boundary */
            size_t j = i;
            while (j < n && p[j] < 0x80)
                j++;
            /* keep the last ASCII word out of the bulk copy: it may continue
             * with a folded letter (mixed-script word tracking) */
            size_t k = j;
            if (j < n)
                while (k > i && (d_lower(p[k - 1]) || d_upper(p[k - 1])))
                    k--;
            if (k > i) {
                memcpy(s->fold + o, p + i, k - i);
                o += k - i;
                i = k;
                continue;
            }
        }
        uint32_t cp;
        size_t len;
        bool ok = decode_at(p, n, i, &cp, &len);
        int f = ok && cp >= 0x80 ? fold_cp(cp) : 0;
        bool letter = (cp < 0x80 && (d_lower((unsigned char)cp) || d_upper((unsigned char)cp))) ||
                      (f > 0 && (d_lower((unsigned char)f) || d_upper((unsigned char)f)));
        if (letter) {
            if (wstart == SIZE_MAX) {
                wstart = i;
                w_ascii = w_folded = false;
            }
            if (cp < 0x80)
                w_ascii = true;
            else if (classify(cp) == U_FOLD && !(cp >= 0xff01 && cp <= 0xff5e))
                w_folded = true;
        } else if (f != -1 && wstart != SIZE_MAX) {
            if (w_ascii && w_folded) {
                char ev[DETECT_EVIDENCE_MAX], ex[64];
                ev_excerpt(p + wstart, i - wstart, ex, sizeof(ex));
                snprintf(ev, sizeof(ev), "mixed-script word \"%s\"", ex);
                dscan_add(s, DR_UNI_CONFUSABLE, wstart, i, DETECT_SEV_NONE, 0, ev);
            }
            wstart = SIZE_MAX;
        }
        if (f == 0) {
            memcpy(s->fold + o, p + i, len);
            o += len;
        } else if (f == -1) {
            if (seg_push(s, o, i + len) < 0)
                return -1;
        } else {
            if (seg_push(s, o, i) < 0)
                return -1;
            s->fold[o++] = (unsigned char)f;
            if (seg_push(s, o, i + len) < 0)
                return -1;
        }
        i += len;
    }
    if (wstart != SIZE_MAX && w_ascii && w_folded) {
        char ev[DETECT_EVIDENCE_MAX], ex[64];
        ev_excerpt(p + wstart, n - wstart, ex, sizeof(ex));
        snprintf(ev, sizeof(ev), "mixed-script word \"%s\"", ex);
        dscan_add(s, DR_UNI_CONFUSABLE, wstart, n, DETECT_SEV_NONE, 0, ev);
    }
    memset(s->fold + o, 0, DETECT_PAD);
    s->ip = s->fold;
    s->in = o;
    return 0;
}

static size_t map_one(const struct dscan *s, size_t o)
{
    size_t lo = 0, hi = s->nseg;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->seg[mid].out <= o)
            lo = mid;
        else
            hi = mid;
    }
    return s->seg[lo].in + (o - s->seg[lo].out);
}

void fold_map(const struct dscan *s, size_t fs, size_t fe, size_t *os, size_t *oe)
{
    if (s->fold == NULL || s->nseg == 0) {
        *os = fs;
        *oe = fe;
        return;
    }
    *os = map_one(s, fs);
    if (fe == fs) {
        *oe = *os;
        return;
    }
    size_t last = map_one(s, fe - 1);
    uint32_t cp;
    size_t len;
    decode_at(s->p, s->n, last, &cp, &len);
    *oe = last + len;
    if (*oe > s->n)
        *oe = s->n;
    if (*oe < *os)
        *oe = *os;
}
