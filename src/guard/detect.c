/* detect.c - rule table, finding lists, detector sets and the byte-level pass.
 *
 * The pass reads each byte once. Word characters are skipped a word at a
 * time; only at a word start (known token prefixes, digits) or at a handful
 * of special bytes ('@', ':', '=', '-', '+', '(', '~', ESC, controls,
 * non-ASCII, whitespace runs, base64 runs) does a verifier run. Injection
 * patterns run afterwards, near their trigger words (detect_inject.c).
 */
#include "guard/detect_int.h"

#include <pthread.h>
#include <stdio.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/utf8.h"

#define N DETECT_SEV_NONE
#define I DETECT_SEV_INFO
#define L DETECT_SEV_LOW
#define M DETECT_SEV_MEDIUM
#define H DETECT_SEV_HIGH
#define C DETECT_SEV_CRITICAL
#define SEC DETECT_CAT_SECRET
#define PII DETECT_CAT_PII
#define INJ DETECT_CAT_INJECTION
#define HID DETECT_CAT_HIDDEN

/* severity: {result context, definition context} */
static const struct detect_rule_info rules[DR__COUNT] = {
    [DR_SECRET_PRIVATE_KEY] = {"secret.private_key", SEC, {C, H}, "PEM, OpenSSH or PuTTY private key block"},
    [DR_SECRET_AWS_KEY_ID] = {"secret.aws_access_key_id", SEC, {H, H}, "AWS access key id (AKIA..., ASIA...)"},
    [DR_SECRET_AWS_SECRET_KEY] = {"secret.aws_secret_key", SEC, {C, H}, "AWS secret access key assigned to an AWS secret key name"},
    [DR_SECRET_GCP_API_KEY] = {"secret.gcp_api_key", SEC, {H, H}, "Google Cloud API key (AIza...)"},
    [DR_SECRET_GOOGLE_OAUTH] = {"secret.google_oauth", SEC, {H, H}, "Google OAuth access token (ya29.) or client secret (GOCSPX-)"},
    [DR_SECRET_AZURE_KEY] = {"secret.azure_key", SEC, {H, H}, "Azure storage/service bus key, SAS signature or Entra client secret"},
    [DR_SECRET_GITHUB_TOKEN] = {"secret.github_token", SEC, {H, H}, "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)"},
    [DR_SECRET_GITLAB_TOKEN] = {"secret.gitlab_token", SEC, {H, H}, "GitLab personal access token (glpat-)"},
    [DR_SECRET_SLACK_TOKEN] = {"secret.slack_token", SEC, {H, H}, "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-)"},
    [DR_SECRET_SLACK_WEBHOOK] = {"secret.slack_webhook", SEC, {H, H}, "Slack or Discord incoming webhook URL"},
    [DR_SECRET_STRIPE_KEY] = {"secret.stripe_key", SEC, {H, H}, "Stripe secret or restricted key (sk_live_, rk_live_, sk_test_, whsec_)"},
    [DR_SECRET_OPENAI_KEY] = {"secret.openai_key", SEC, {H, H}, "OpenAI API key (sk-proj-, sk-svcacct-, legacy sk-)"},
    [DR_SECRET_ANTHROPIC_KEY] = {"secret.anthropic_key", SEC, {H, H}, "Anthropic API key (sk-ant-)"},
    [DR_SECRET_VENDOR_TOKEN] = {"secret.vendor_token", SEC, {H, H}, "other fixed-format tokens: npm, PyPI, Hugging Face, DigitalOcean, Shopify, SendGrid"},
    [DR_SECRET_JWT] = {"secret.jwt", SEC, {H, M}, "JSON Web Token whose header decodes to a JOSE header"},
    [DR_SECRET_URL_PASSWORD] = {"secret.url_password", SEC, {H, H}, "password in a URL (scheme://user:password@host)"},
    [DR_SECRET_BEARER] = {"secret.bearer_token", SEC, {H, H}, "credential after 'Bearer ' (Authorization header value)"},
    [DR_SECRET_KEY_VALUE] = {"secret.key_value", SEC, {H, M}, "high-entropy value of a key=value or \"key\": \"value\" pair whose key names a secret"},
    [DR_PII_EMAIL] = {"pii.email", PII, {M, L}, "e-mail address (reserved example domains excluded)"},
    [DR_PII_CARD] = {"pii.card_number", PII, {H, L}, "payment card number with a valid issuer prefix and Luhn check"},
    [DR_PII_PHONE] = {"pii.phone", PII, {M, L}, "phone number: +country E.164 or North American (NXX) NXX-XXXX"},
    [DR_PII_IBAN] = {"pii.iban", PII, {M, L}, "IBAN with a valid country length and mod-97 check"},
    [DR_PII_SSN] = {"pii.ssn", PII, {H, L}, "US social security number next to the words SSN or social security"},
    [DR_INJ_OVERRIDE] = {"inject.override", INJ, {H, H}, "tells the model to ignore or replace its instructions"},
    [DR_INJ_ROLE_CHANGE] = {"inject.role_change", INJ, {H, H}, "tells the model it is now someone else or in a jailbreak/privileged mode"},
    [DR_INJ_SAFETY_BYPASS] = {"inject.safety_bypass", INJ, {H, H}, "tells the model to disable safety checks, guardrails or validation"},
    [DR_INJ_PRIVILEGE] = {"inject.privilege", INJ, {H, M}, "claims or grants elevated, admin or unrestricted access"},
    [DR_INJ_SYSTEM_TAG] = {"inject.system_tag", INJ, {H, H}, "fake system/instruction markup: <|system|>, <system>, <IMPORTANT>, [SYSTEM ...], [INST], <<SYS>>"},
    [DR_INJ_ADDRESSED_TO_AI] = {"inject.addressed_to_ai", INJ, {H, M}, "text addressed to the AI agent reading it (notes/directives for the AI)"},
    [DR_INJ_IMPERSONATION] = {"inject.impersonation", INJ, {H, H}, "pretends to be the user, the developer or a new user turn"},
    [DR_INJ_CONCEALMENT] = {"inject.concealment", INJ, {H, H}, "asks to hide something from the user"},
    [DR_INJ_EXFILTRATION] = {"inject.exfiltration", INJ, {H, H}, "asks to send, copy or pass sensitive data to a destination"},
    [DR_INJ_TOOL_CALL] = {"inject.tool_call", INJ, {M, L}, "instructs the model to call a specific tool"},
    [DR_INJ_TOOL_SHADOWING] = {"inject.tool_shadowing", INJ, {M, H}, "changes how other tools behave, or names another server's tool"},
    [DR_INJ_TOOL_REDIRECT] = {"inject.tool_redirect", INJ, {M, L}, "claims the tool was replaced and points the model to another tool"},
    [DR_INJ_TOOL_REFERENCE] = {"inject.tool_reference", INJ, {N, M}, "a definition names a tool of another server (list given by the scanner)"},
    [DR_INJ_THREAT] = {"inject.threat", INJ, {M, M}, "threatens failure or data loss to force compliance"},
    [DR_INJ_PREFERENCE] = {"inject.preference", INJ, {L, M}, "manipulates tool choice: always use this tool, the best tool, do not use others"},
    [DR_INJ_CREDENTIAL_REQUEST] = {"inject.credential_request", INJ, {H, L}, "asks for a password, key, token, seed phrase, card code or one-time code"},
    [DR_INJ_PRE_TASK] = {"inject.pre_task", INJ, {M, M}, "demands an extra task before the user's task"},
    [DR_INJ_SENSITIVE_PATH] = {"inject.sensitive_path", INJ, {L, L}, "mentions a credential file or system secret path (~/.ssh, .env, mcp.json, /etc/shadow)"},
    [DR_INJ_SENSITIVE_READ] = {"inject.sensitive_read", INJ, {H, H}, "asks to read, collect or send a credential file or secret path"},
    [DR_INJ_EXFIL_PARAM] = {"inject.exfil_param", INJ, {N, H}, "a parameter that harvests model context (system_prompt, conversation_history, sidenote, llm_model_name ...)"},
    [DR_INJ_HIDDEN_COMMENT] = {"inject.hidden_comment", INJ, {H, H}, "HTML/code comment carrying instructions for the AI"},
    [DR_UNI_TAG_CHARS] = {"unicode.tag_chars", HID, {H, H}, "Unicode tag characters U+E0000-E007F (invisible ASCII smuggling)"},
    [DR_UNI_BIDI] = {"unicode.bidi_control", HID, {M, H}, "bidirectional embedding/override/isolate controls (U+202A-202E, U+2066-2069)"},
    [DR_UNI_ZERO_WIDTH] = {"unicode.zero_width", HID, {L, M}, "zero-width and invisible filler characters"},
    [DR_UNI_VARIATION_SELECTOR] = {"unicode.variation_selector", HID, {M, H}, "variation selectors used outside emoji/ideograph sequences (byte smuggling)"},
    [DR_UNI_CONFUSABLE] = {"unicode.confusable", HID, {M, M}, "Latin word spelled with Cyrillic/Greek look-alikes or fullwidth letters"},
    [DR_UNI_CONTROL] = {"unicode.control_char", HID, {M, M}, "C0/C1 control characters other than tab and newline"},
    [DR_ANSI_CSI] = {"ansi.csi", HID, {M, M}, "ANSI CSI sequence (colours; cursor moves, erases and concealed text are high)"},
    [DR_ANSI_OSC] = {"ansi.osc", HID, {H, H}, "ANSI OSC sequence: OSC 8 hyperlink, OSC 52 clipboard write, window title"},
    [DR_ANSI_ESCAPE] = {"ansi.escape", HID, {M, M}, "other terminal escape sequences (DCS, APC, PM, bare ESC)"},
    [DR_HIDDEN_WHITESPACE] = {"hidden.whitespace_run", HID, {M, M}, "long run of spaces or blank lines that pushes text out of view"},
    [DR_HIDDEN_ENCODED_TEXT] = {"hidden.encoded_text", HID, {L, M}, "base64 or hex blob that decodes to readable text"},
    [DR_HIDDEN_ENCODED_INSTRUCTIONS] = {"hidden.encoded_instructions", HID, {H, H}, "base64 or hex blob that decodes to injected instructions"},
};

#undef N
#undef I
#undef L
#undef M
#undef H
#undef C

static const char *const cat_names[DETECT_CAT__COUNT] = {"secret", "pii", "injection", "hidden"};
static const char *const sev_names[] = {"none", "info", "low", "medium", "high", "critical"};
static const char *const payload_names[DETECT_P__COUNT] = {
    "tool_result", "resource_read", "prompt_get", "sampling", "elicitation", "initialize", "error", "any"};

const struct detect_rule_info *detect_rule_info(enum detect_rule r)
{
    MW_ASSERT((unsigned)r < DR__COUNT);
    return &rules[r];
}

const char *detect_rule_id(enum detect_rule r)
{
    return (unsigned)r < DR__COUNT ? rules[r].id : "unknown";
}

int detect_rule_lookup(const char *id, enum detect_rule *out)
{
    for (unsigned i = 0; i < DR__COUNT; i++) {
        if (strcmp(rules[i].id, id) == 0) {
            *out = (enum detect_rule)i;
            return 0;
        }
    }
    return -1;
}

const char *detect_category_name(enum detect_category c)
{
    return (unsigned)c < DETECT_CAT__COUNT ? cat_names[c] : "unknown";
}

int detect_category_lookup(const char *name, enum detect_category *out)
{
    for (unsigned i = 0; i < DETECT_CAT__COUNT; i++) {
        if (strcmp(cat_names[i], name) == 0) {
            *out = (enum detect_category)i;
            return 0;
        }
    }
    return -1;
}

const char *detect_severity_name(enum detect_severity s)
{
    return (unsigned)s <= DETECT_SEV_CRITICAL ? sev_names[s] : "unknown";
}

int detect_severity_lookup(const char *name, enum detect_severity *out)
{
    for (unsigned i = 0; i <= DETECT_SEV_CRITICAL; i++) {
        if (strcmp(sev_names[i], name) == 0) {
            *out = (enum detect_severity)i;
            return 0;
        }
    }
    return -1;
}

const char *detect_payload_name(enum detect_payload k)
{
    return (unsigned)k < DETECT_P__COUNT ? payload_names[k] : "unknown";
}

/* ---------------------------------------------------------------- lists */

void detect_list_init(struct detect_list *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max != 0 ? max : DETECT_LIST_DEFAULT_MAX;
}

void detect_list_clear(struct detect_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].pointer);
    l->n = 0;
    l->dropped = 0;
}

void detect_list_free(struct detect_list *l)
{
    if (l == NULL)
        return;
    detect_list_clear(l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

enum detect_severity detect_list_max_severity(const struct detect_list *l)
{
    enum detect_severity m = DETECT_SEV_NONE;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].severity > m)
            m = l->v[i].severity;
    return m;
}

size_t detect_list_count(const struct detect_list *l, enum detect_rule r)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        k += l->v[i].rule == r;
    return k;
}

/* ------------------------------------------------------------- evidence */

void ev_excerpt(const unsigned char *p, size_t n, char *out, size_t max)
{
    size_t o = 0, i = 0;
    if (max == 0)
        return;
    while (i < n) {
        uint32_t cp;
        size_t len;
        char tmp[16];
        size_t tl;
        if (p[i] < 0x80) {
            cp = p[i];
            len = 1;
        } else if (utf8_decode(p + i, n - i, &cp, &len) != UTF8_OK) {
            cp = 0xfffd;
            len = 1;
        }
        bool visible = cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0) &&
                       !(cp >= 0x200b && cp <= 0x200f) && !(cp >= 0x202a && cp <= 0x202e) &&
                       !(cp >= 0x2060 && cp <= 0x206f) && cp != 0xfeff && cp != 0xad &&
                       !(cp >= 0xfe00 && cp <= 0xfe0f) && !(cp >= 0xe0000 && cp <= 0xe01ef) &&
                       cp != 0x180e && cp != 0x034f;
        if (cp == '\n' || cp == '\r' || cp == '\t') {
            tmp[0] = ' ';
            tl = 1;
        } else if (!visible) {
            tl = (size_t)snprintf(tmp, sizeof(tmp), cp > 0xffff ? "\\U%06X" : "\\u%04X",
                                  (unsigned)cp);
        } else if (cp == 0xfffd && len == 1) {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02X", p[i]);
        } else {
            memcpy(tmp, p + i, len);
            tl = len;
        }
        if (o + tl + 4 > max) {
            if (o + 4 <= max) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        /* collapse runs of blanks produced by newlines */
        if (!(tl == 1 && tmp[0] == ' ' && o > 0 && out[o - 1] == ' ')) {
            memcpy(out + o, tmp, tl);
            o += tl;
        }
        i += len;
    }
    out[o < max ? o : max - 1] = '\0';
}

void ev_mask(const unsigned char *p, size_t n, size_t keep, const char *what, char *out,
             size_t max)
{
    char pre[24];
    if (keep > n)
        keep = n;
    if (keep > sizeof(pre) - 1)
        keep = sizeof(pre) - 1;
    size_t k = 0;
    for (size_t i = 0; i < keep; i++)
        pre[k++] = (p[i] >= 0x21 && p[i] < 0x7f) ? (char)p[i] : '?';
    pre[k] = '\0';
    snprintf(out, max, "%s%s**** (%zu chars)", what != NULL ? what : "", pre, n);
}

/* ------------------------------------------------------------- findings */

void dscan_add(struct dscan *s, enum detect_rule r, size_t start, size_t end,
               enum detect_severity sev, unsigned flags, const char *evidence)
{
    struct detect_list *l = s->out;
    enum detect_severity def = rules[r].severity[s->ctx];
    if (def == DETECT_SEV_NONE)
        return;
    if (sev == DETECT_SEV_NONE)
        sev = def;
    if (start > end || end > s->n)
        return;
    /* spans never split a UTF-8 sequence: widen to code point boundaries */
    while (start > 0 && (s->p[start] & 0xc0) == 0x80 && start < s->n)
        start--;
    while (end < s->n && (s->p[end] & 0xc0) == 0x80)
        end++;
    /* the same rule over an overlapping span is one finding; findings of one
     * family arrive in text order, so only recent ones can overlap */
    size_t low = l->n - s->base > 32 ? l->n - 32 : s->base;
    for (size_t i = l->n; i > low; i--) {
        struct detect_finding *f = &l->v[i - 1];
        if (f->rule == r && start < f->end && f->start < end) {
            if (sev > f->severity)
                f->severity = sev;
            if (end > f->end)
                f->end = end;
            if (start < f->start)
                f->start = start;
            return;
        }
    }
    if (l->n >= l->max) {
        l->dropped++;
        return;
    }
    if (l->n == l->cap) {
        size_t nc = l->cap != 0 ? l->cap * 2 : 16;
        struct detect_finding *nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL) {
            s->err = -1;
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    struct detect_finding *f = &l->v[l->n];
    memset(f, 0, sizeof(*f));
    f->rule = r;
    f->category = rules[r].category;
    f->severity = sev;
    f->start = start;
    f->end = end;
    f->flags = flags | s->extra_flags;
    if (s->pointer != NULL) {
        f->pointer = strdup(s->pointer);
        if (f->pointer == NULL) {
            s->err = -1;
            return;
        }
    }
    if (evidence != NULL) /* built from text pieces: escape what is not printable */
        ev_excerpt((const unsigned char *)evidence, strlen(evidence), f->evidence,
                   sizeof(f->evidence));
    else
        ev_excerpt(s->p + start, end - start, f->evidence, sizeof(f->evidence));
    l->n++;
}

/* ------------------------------------------------------------ byte pass */

#define W_ C_WORD | C_B64
#define AL_ C_ALPHA | W_
#define DG_ C_DIGIT | C_HEX | W_
#define HX_ C_HEX | AL_
#define UAL_ C_UPPER | AL_
#define UHX_ C_UPPER | HX_
const uint16_t detect_cls[256] = {
    [0x00] = C_CTRL, [0x01] = C_CTRL, [0x02] = C_CTRL, [0x03] = C_CTRL, [0x04] = C_CTRL,
    [0x05] = C_CTRL, [0x06] = C_CTRL, [0x07] = C_CTRL, [0x08] = C_CTRL, ['\t'] = C_SPACE,
    [0x0b] = C_CTRL, [0x0c] = C_CTRL, [0x0e] = C_CTRL, [0x0f] = C_CTRL, [0x10] = C_CTRL,
    [0x11] = C_CTRL, [0x12] = C_CTRL, [0x13] = C_CTRL, [0x14] = C_CTRL, [0x15] = C_CTRL,
    [0x16] = C_CTRL, [0x17] = C_CTRL, [0x18] = C_CTRL, [0x19] = C_CTRL, [0x1a] = C_CTRL,
    [0x1b] = C_CTRL, [0x1c] = C_CTRL, [0x1d] = C_CTRL, [0x1e] = C_CTRL, [0x1f] = C_CTRL,
    [' '] = C_SPACE, ['+'] = C_B64, ['/'] = C_B64, ['='] = C_B64, ['-'] = C_B64,
    ['0'] = DG_, ['1'] = DG_, ['2'] = DG_, ['3'] = DG_, ['4'] = DG_, ['5'] = DG_, ['6'] = DG_,
    ['7'] = DG_, ['8'] = DG_, ['9'] = DG_,
    ['A'] = UHX_, ['B'] = UHX_, ['C'] = UHX_, ['D'] = UHX_, ['E'] = UHX_, ['F'] = UHX_,
    ['G'] = UAL_, ['H'] = UAL_, ['I'] = UAL_, ['J'] = UAL_, ['K'] = UAL_, ['L'] = UAL_, ['M'] = UAL_,
    ['N'] = UAL_, ['O'] = UAL_, ['P'] = UAL_, ['Q'] = UAL_, ['R'] = UAL_, ['S'] = UAL_, ['T'] = UAL_,
    ['U'] = UAL_, ['V'] = UAL_, ['W'] = UAL_, ['X'] = UAL_, ['Y'] = UAL_, ['Z'] = UAL_,
    ['_'] = W_ | C_UNDER,
    ['a'] = HX_, ['b'] = HX_, ['c'] = HX_, ['d'] = HX_, ['e'] = HX_, ['f'] = HX_,
    ['g'] = AL_, ['h'] = AL_, ['i'] = AL_, ['j'] = AL_, ['k'] = AL_, ['l'] = AL_, ['m'] = AL_,
    ['n'] = AL_, ['o'] = AL_, ['p'] = AL_, ['q'] = AL_, ['r'] = AL_, ['s'] = AL_, ['t'] = AL_,
    ['u'] = AL_, ['v'] = AL_, ['w'] = AL_, ['x'] = AL_, ['y'] = AL_, ['z'] = AL_,
    [0x7f] = C_CTRL,
#define HI8(b) [b] = C_HIGH, [b + 1] = C_HIGH, [b + 2] = C_HIGH, [b + 3] = C_HIGH,                  \
               [b + 4] = C_HIGH, [b + 5] = C_HIGH, [b + 6] = C_HIGH, [b + 7] = C_HIGH
    HI8(0x80), HI8(0x88), HI8(0x90), HI8(0x98), HI8(0xa0), HI8(0xa8), HI8(0xb0), HI8(0xb8),
    HI8(0xc0), HI8(0xc8), HI8(0xd0), HI8(0xd8), HI8(0xe0), HI8(0xe8), HI8(0xf0), HI8(0xf8),
#undef HI8
};
#undef W_
#undef AL_
#undef DG_
#undef HX_
#undef UAL_
#undef UHX_

#define LC8(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
const uint8_t detect_lc[256] = {
    LC8(0x00), LC8(0x08), LC8(0x10), LC8(0x18), LC8(0x20), LC8(0x28), LC8(0x30), LC8(0x38),
    0x40, LC8(0x61), LC8(0x69), LC8(0x71), 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    LC8(0x60), LC8(0x68), LC8(0x70), LC8(0x78), LC8(0x80), LC8(0x88), LC8(0x90), LC8(0x98),
    LC8(0xa0), LC8(0xa8), LC8(0xb0), LC8(0xb8), LC8(0xc0), LC8(0xc8), LC8(0xd0), LC8(0xd8),
    LC8(0xe0), LC8(0xe8), LC8(0xf0), LC8(0xf8),
};
#undef LC8

/* Bytes that may begin a known token prefix (see detect_secret.c). */
const uint8_t detect_prefix_first[256] = {
    /* first bytes of the token prefixes in detect_secret.c */
    ['A'] = 1, ['G'] = 1, ['P'] = 1, ['S'] = 1, ['d'] = 1, ['e'] = 1, ['g'] = 1, ['h'] = 1,
    ['n'] = 1, ['p'] = 1, ['r'] = 1, ['s'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
    /* numbers: cards, phones, SSNs */
    ['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2,
    ['8'] = 2, ['9'] = 2,
};

/* End of the word [A-Za-z0-9_]+ starting at i (p[i] is a word byte); *acc
 * gets the classes of the bytes after the first (C_DIGIT, C_UPPER, C_UNDER
 * are the ones callers use). 16 bytes per step with SSE2. */
static inline size_t word_end(const unsigned char *p, size_t n, size_t i, unsigned *acc)
{
#ifdef __SSE2__
    if (n - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i lo = _mm_or_si128(x, _mm_set1_epi8(0x20));
        __m128i a = _mm_sub_epi8(lo, _mm_set1_epi8('a'));
        __m128i isal = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(25)), a);
        __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
        __m128i isdg = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
        __m128i isus = _mm_cmpeq_epi8(x, _mm_set1_epi8('_'));
        __m128i u = _mm_sub_epi8(x, _mm_set1_epi8('A'));
        __m128i isup = _mm_cmpeq_epi8(_mm_min_epu8(u, _mm_set1_epi8(25)), u);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(isal, isdg), isus));
        unsigned len = (unsigned)__builtin_ctz(~m | 0x10000u);
        if (len < 16) {
            unsigned in = ((1u << len) - 1u) & ~1u; /* the word's bytes after the first */
            if ((unsigned)_mm_movemask_epi8(isdg) & in)
                *acc |= C_DIGIT;
            if ((unsigned)_mm_movemask_epi8(isup) & in)
                *acc |= C_UPPER;
            if ((unsigned)_mm_movemask_epi8(isus) & in)
                *acc |= C_UNDER;
            return i + len;
        }
    }
#endif
    size_t j = i + 1;
    for (; j < n; j++) {
        unsigned k2 = detect_cls[p[j]];
        if (!(k2 & C_WORD))
            break;
        *acc |= k2;
    }
    return j;
}

static bool has_high_bytes(const unsigned char *p, size_t n)
{
    size_t i = 0;
    /* 256 bytes per step, a loop the compiler vectorizes */
    for (; i + 256 <= n; i += 256) {
        uint64_t acc = 0;
        for (size_t k = 0; k < 256; k += 8) {
            uint64_t w;
            memcpy(&w, p + i + k, 8);
            acc |= w;
        }
        if (acc & 0x8080808080808080ull)
            return true;
    }
    uint64_t acc = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080ull) != 0;
}

/* Token prefixes, IBANs and numbers at a word boundary. */
static inline void pass_prefix(struct dscan *s, size_t i, size_t j, unsigned acc)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    unsigned char c = p[i];
    if (i > 0 && d_alnum(p[i - 1]))
        return;
    /* Token prefixes are followed by '-' '.' '=' '/' or sit in words that
     * mix case, digits or '_' (a plain word never starts a token); digits
     * start card, phone and SSN checks. */
    uint8_t pf = detect_prefix_first[c];
    if (pf == 2) {
        /* a number worth parsing: 3 digits then - . ) or space (phone, SSN,
         * card group), 4 digits then a separator (card group) or 13-19
         * digits (card) */
        size_t r = j - i;
        unsigned char nx = j < n ? p[j] : 0;
        if ((r == 3 && (nx == '-' || nx == '.' || nx == ' ')) ||
            (r == 4 && (nx == '-' || nx == ' ')) || (r >= 13 && r <= 19))
            sec_word_start(s, i);
    } else if ((acc & (C_DIGIT | C_UPPER | C_UNDER)) ||
               (j < n && (p[j] == '-' || p[j] == '.' || p[j] == '=' || p[j] == '/'))) {
        if (pf == 1)
            sec_word_start(s, i);
        else if (d_upper(c) && j - i >= 4 && d_upper(p[i + 1]) && d_digit(p[i + 2]))
            sec_iban(s, i);
    }
}

/* "Bearer <token>" */
static inline void pass_bearer(struct dscan *s, size_t i, size_t j)
{
    const unsigned char *p = s->p;
    if (j - i == 6 && (p[i] | 0x20) == 'b' && (p[i + 1] | 0x20) == 'e' &&
        (p[i + 2] | 0x20) == 'a' && (p[i + 3] | 0x20) == 'r' && (p[i + 4] | 0x20) == 'e' &&
        (p[i + 5] | 0x20) == 'r')
        sec_bearer(s, j);
}

/* dpass_sec() and the trigger words of the injection patterns. */
static void dpass_word(struct dscan *s, size_t i, size_t j, unsigned acc)
{
    const unsigned char *p = s->p;
    pass_prefix(s, i, j, acc);
    if (s->collect && (((acc | detect_cls[p[i]]) & C_UNDER) || inj_maybe(s->ds, p + i, j - i))) {
        bool has_us;
        uint32_t h = word_hash_us(p + i, j - i, s->n - i, &has_us);
        if ((has_us || inj_bloom(s->ds, h)) && inj_word(s, p, i, j, h, has_us) < 0)
            s->err = -1;
    }
    pass_bearer(s, i, j);
}

/* Trigger words only add to s->hits: a caller may look them up apart, in
 * any order with the secret checks, which add findings. */
void dpass_sec(struct dscan *s, size_t i, size_t j, unsigned acc)
{
    pass_prefix(s, i, j, acc);
    pass_bearer(s, i, j);
}

/* Fast-path re-entry: after a stretch shorter than this, the byte pass goes
 * on alone for FAST_BACKOFF bytes (dense markup, numbers or attacks would
 * otherwise pay for block classification at every special byte). */
#define FAST_SHORT 32
#define FAST_BACKOFF 48

static void byte_pass(struct dscan *s)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    size_t i = 0;
    size_t b64 = SIZE_MAX; /* start of the current base64-alphabet run */
    bool fast = s->ds->impl != DETECT_IMPL_REF;
    size_t next_fast = 0; /* first offset where the fast path may run again */

    while (i < n && s->err == 0) {
        if (fast && b64 == SIZE_MAX && i >= next_fast && n - i > 64) {
            size_t r = dfast_run(s, i);
            next_fast = r - i < FAST_SHORT ? r + FAST_BACKOFF : r;
            i = r;
            if (s->err != 0)
                break;
        }
        unsigned char c = p[i];
        unsigned k = detect_cls[c];
        if (k & C_WORD) {
            unsigned acc = 0; /* classes of the bytes after the first */
            size_t j = word_end(p, n, i, &acc);
            if (b64 == SIZE_MAX)
                b64 = i;
            dpass_word(s, i, j, acc);
            i = j;
            continue;
        }
        if (!(k & C_B64) && b64 != SIZE_MAX) {
            if (i - b64 >= 40)
                hid_blob(s, b64, i);
            b64 = SIZE_MAX;
        }
        switch (c) {
        case ' ':
        case '\t':
            if (i + 1 < n && p[i + 1] != ' ' && p[i + 1] != '\t') {
                i++;
                continue;
            }
            i = hid_spaces(s, i);
            continue;
        case '\n':
            if (i + 1 < n && detect_cls[p[i + 1]] & C_WORD) {
                i++;
                continue;
            }
            i = hid_newlines(s, i);
            continue;
        case ':':
        case '=':
            sec_separator(s, i);
            break;
        case '@':
            sec_at(s, i);
            break;
        case '-': {
            if (b64 == SIZE_MAX)
                b64 = i;
            size_t j = sec_dash(s, i);
            if (j > i + 1) {
                b64 = SIZE_MAX;
                i = j;
                continue;
            }
            break;
        }
        case '+':
            if (b64 == SIZE_MAX)
                b64 = i;
            sec_plus(s, i);
            break;
        case '(':
            sec_plus(s, i);
            break;
        case '~':
            sec_tilde(s, i);
            break;
        case '/':
            if (b64 == SIZE_MAX)
                b64 = i;
            break;
        default:
            if (k & C_HIGH) {
                s->has_high = true;
                i = hid_high(s, i);
                continue;
            }
            if (k & C_CTRL) {
                i = c == 0x1b ? hid_escape(s, i) : hid_control(s, i);
                continue;
            }
            break;
        }
        i++;
    }
    if (b64 != SIZE_MAX && n - b64 >= 40)
        hid_blob(s, b64, n);
}

/* ------------------------------------------------------------------ sets */

static void fshape_add(struct detect_set *ds, const unsigned char *w, size_t n)
{
    unsigned sh = fshape_of(w, n);
    ds->fshape[sh / 64] |= 1ull << (sh % 64);
}

struct detect_set *detect_set_new(char *err, size_t errlen)
{
    struct detect_set *ds = calloc(1, sizeof(*ds));
    if (ds == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sec_init();
    ds->mctx = pcre2_match_context_create(NULL);
    if (ds->mctx == NULL) {
        snprintf(err, errlen, "out of memory");
        free(ds);
        return NULL;
    }
    /* windows are small; these limits only stop pathological backtracking */
    pcre2_set_match_limit(ds->mctx, 200000);
    pcre2_set_depth_limit(ds->mctx, 2000);
    if (inj_compile(ds, err, errlen) < 0) {
        detect_set_free(ds);
        return NULL;
    }
    /* the fast path visits trigger words and "bearer" */
    for (size_t t = 0; t <= ds->trig_mask; t++)
        if (ds->trig[t].used)
            fshape_add(ds, (const unsigned char *)ds->trig[t].word, ds->trig[t].len);
    fshape_add(ds, (const unsigned char *)"bearer", 6);
    dfast_init();
    ds->impl = detect_impl_best();
    return ds;
}

void detect_set_free(struct detect_set *ds)
{
    if (ds == NULL)
        return;
    inj_free(ds);
    pcre2_match_context_free(ds->mctx);
    free(ds);
}

static struct detect_set *shared_set;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void shared_init(void)
{
    char err[256];
    shared_set = detect_set_new(err, sizeof(err));
    if (shared_set == NULL)
        fatalx("detector patterns: %s", err);
}

const struct detect_set *detect_set_shared(void)
{
    pthread_once(&shared_once, shared_init);
    return shared_set;
}

/* ------------------------------------------------------------------ scan */

#define FOLD_RADIUS 400 /* bytes around a foldable character rescanned folded */

static int cmp_finding(const void *a, const void *b)
{
    const struct detect_finding *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (int)x->rule - (int)y->rule;
}

/* Regions around sparse foldable characters: [spot - R, spot + R] widened to
 * whitespace and merged. Hits inside them are dropped from the raw scan and
 * found again in the folded copy of each region. */
static void scan_sparse_folds(struct dscan *s, const size_t *spots, size_t ns)
{
    size_t *ra = NULL, *rb = NULL, nr = 0;
    if (ns > 0) {
        ra = malloc(ns * sizeof(*ra));
        rb = malloc(ns * sizeof(*rb));
        if (ra == NULL || rb == NULL) {
            free(ra);
            free(rb);
            s->err = -1;
            return;
        }
    }
    for (size_t k = 0; k < ns; k++) {
        size_t a = spots[k] > FOLD_RADIUS ? spots[k] - FOLD_RADIUS : 0;
        size_t b = spots[k] + FOLD_RADIUS < s->n ? spots[k] + FOLD_RADIUS : s->n;
        while (a > 0 && spots[k] - a < FOLD_RADIUS + 64 && s->p[a - 1] > ' ')
            a--;
        while (b < s->n && b - spots[k] < FOLD_RADIUS + 64 && s->p[b] > ' ')
            b++;
        if (nr > 0 && a <= rb[nr - 1]) {
            rb[nr - 1] = b;
        } else {
            ra[nr] = a;
            rb[nr] = b;
            nr++;
        }
    }
    size_t w = 0, r = 0;
    for (size_t h = 0; h < s->nhits; h++) {
        while (r < nr && rb[r] <= s->hits[h].pos)
            r++;
        if (r < nr && s->hits[h].pos >= ra[r])
            continue;
        s->hits[w++] = s->hits[h];
    }
    s->nhits = w;
    if (inj_scan(s) < 0)
        s->err = -1;
    for (r = 0; r < nr && s->err == 0; r++) {
        if (hid_fold_range(s, ra[r], rb[r]) < 0 || inj_find_triggers(s) < 0 || inj_scan(s) < 0)
            s->err = -1;
    }
    s->ip = s->p;
    s->in = s->n;
    free(ra);
    free(rb);
}

/* Evidence is logged: where a finding's excerpt covers a secret or PII span
 * found in the same text, that part is shown as "****". */
static void mask_evidence(struct dscan *s)
{
    struct detect_finding *v = s->out->v + s->base;
    size_t n = s->out->n - s->base;
    for (size_t i = 0; i < n; i++) {
        struct detect_finding *f = &v[i];
        if (f->category == DETECT_CAT_SECRET || f->category == DETECT_CAT_PII)
            continue;
        bool overlap = false;
        for (size_t k = 0; k < n && !overlap; k++)
            overlap = (v[k].category == DETECT_CAT_SECRET || v[k].category == DETECT_CAT_PII) &&
                      v[k].start < f->end && f->start < v[k].end;
        if (!overlap || f->end - f->start > 4096)
            continue;
        unsigned char tmp[4096 + 64];
        size_t o = 0, pos = f->start;
        while (pos < f->end && o < sizeof(tmp) - 8) {
            size_t hide = 0;
            for (size_t k = 0; k < n; k++)
                if ((v[k].category == DETECT_CAT_SECRET || v[k].category == DETECT_CAT_PII) &&
                    v[k].start <= pos && pos < v[k].end && v[k].end > hide)
                    hide = v[k].end;
            if (hide > pos) {
                memcpy(tmp + o, "****", 4);
                o += 4;
                pos = hide;
            } else {
                tmp[o++] = s->p[pos++];
            }
        }
        ev_excerpt(tmp, o, f->evidence, sizeof(f->evidence));
    }
}

/* Trigger hits of a short text fit here (no allocation). */
#define SMALL_HITS 32

static int scan_run(struct dscan *s)
{
    struct trig_hit small[SMALL_HITS];
    s->hits = small;
    s->caphits = SMALL_HITS;
    s->hits_own = false;
    s->ip = s->p;
    s->in = s->n;
    /* Injection patterns must see through look-alike letters and invisible
     * characters: a folded copy. When such characters are few, only the
     * regions around them are folded and rescanned; the rest is scanned raw
     * with the trigger words the byte pass collected. */
    size_t maxspots = s->n / (4 * FOLD_RADIUS) + 8, ns = 0;
    size_t *spots = NULL;
    if (s->has_high) {
        spots = malloc(maxspots * sizeof(*spots));
        if (spots == NULL)
            s->err = -1;
        else
            ns = hid_fold_spots(s->p, s->n, spots, maxspots);
    }
    bool full = ns > maxspots || ns * 2 * FOLD_RADIUS > s->n;
    s->collect = !full;
    if (s->err == 0)
        byte_pass(s);
    if (s->err == 0 && full) {
        if (hid_fold_range(s, 0, s->n) < 0 || inj_find_triggers(s) < 0 || inj_scan(s) < 0)
            s->err = -1;
    } else if (s->err == 0) {
        scan_sparse_folds(s, spots, ns);
    }
    free(spots);
    free(s->padded);
    if (s->md != NULL)
        pcre2_match_data_free(s->md);
    free(s->fold);
    free(s->seg);
    if (s->hits_own)
        free(s->hits);
    s->padded = NULL;
    s->md = NULL;
    s->fold = NULL;
    s->seg = NULL;
    s->hits = NULL;
    s->hits_own = false;
    if (s->out->n > s->base + 1) {
        qsort(s->out->v + s->base, s->out->n - s->base, sizeof(struct detect_finding),
              cmp_finding);
        mask_evidence(s);
    }
    return s->err;
}

int detect_scan_text(const struct detect_set *ds, enum detect_context ctx, const char *text,
                     size_t len, const char *pointer, struct detect_list *out)
{
    struct dscan s;
    MW_ASSERT(ds != NULL && out != NULL && (unsigned)ctx < DETECT_CTX__COUNT);
    if (text == NULL || len == 0)
        return 0;
    s = (struct dscan){
        .ds = ds,
        .ctx = ctx,
        .p = (const unsigned char *)text,
        .n = len < DETECT_MAX_SCAN ? len : DETECT_MAX_SCAN,
        .pointer = pointer,
        .out = out,
        .base = out->n,
    };
    s.has_high = has_high_bytes(s.p, s.n);
    return scan_run(&s);
}

/* Scans a decoded blob in a private list (depth 1 only) and reports its
 * strongest injection finding. */
enum detect_severity detect_nested(const struct dscan *parent, const unsigned char *p, size_t n,
                                   enum detect_rule *rule, char *ev, size_t evmax)
{
    struct detect_list l;
    struct dscan s;
    enum detect_severity best = DETECT_SEV_NONE;
    if (parent->depth >= 1)
        return DETECT_SEV_NONE;
    detect_list_init(&l, 64);
    memset(&s, 0, sizeof(s));
    s.ds = parent->ds;
    s.ctx = parent->ctx;
    s.p = p;
    s.n = n;
    s.out = &l;
    s.depth = parent->depth + 1;
    s.has_high = has_high_bytes(p, n);
    (void)scan_run(&s);
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].category == DETECT_CAT_INJECTION && l.v[i].severity > best) {
            best = l.v[i].severity;
            *rule = l.v[i].rule;
            snprintf(ev, evmax, "%s", l.v[i].evidence);
        }
    }
    detect_list_free(&l);
    return best;
}
