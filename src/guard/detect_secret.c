/* detect_secret.c - secrets and PII, verified by hand-written checks.
 *
 * Each function is called by the byte pass at a candidate position and adds
 * findings whose span is the secret itself (for key=value pairs and URL
 * passwords: only the value), so that redaction keeps the surrounding text
 * readable. Evidence never contains the secret: a known public prefix, stars
 * and the length.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "guard/detect_int.h"
#include "util/log.h"
#include "util/str.h"

/* ---------------------------------------------------------------- helpers */

enum charset {
    CS_ALNUM = 0,
    CS_B64URL,   /* A-Za-z0-9_- */
    CS_WORD,     /* A-Za-z0-9_ */
    CS_UPNUM,    /* A-Z0-9 */
    CS_SLACK,    /* A-Za-z0-9- */
    CS_LHEX,     /* a-f0-9 */
    CS_HEX,      /* a-fA-F0-9 */
    CS_ALPHA,    /* A-Za-z */
    CS_B64,      /* A-Za-z0-9+/ */
    CS_PATH,     /* A-Za-z0-9_/- */
    CS_DOTB64URL /* A-Za-z0-9_.- */
};

static bool in_cs(enum charset cs, unsigned char c)
{
    bool al = d_alnum(c);
    switch (cs) {
    case CS_ALNUM:
        return al;
    case CS_B64URL:
        return al || c == '_' || c == '-';
    case CS_WORD:
        return al || c == '_';
    case CS_UPNUM:
        return d_upper(c) || d_digit(c);
    case CS_SLACK:
        return al || c == '-';
    case CS_LHEX:
        return d_digit(c) || (c >= 'a' && c <= 'f');
    case CS_HEX:
        return d_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    case CS_ALPHA:
        return d_upper(c) || d_lower(c);
    case CS_B64:
        return al || c == '+' || c == '/';
    case CS_PATH:
        return al || c == '_' || c == '/' || c == '-';
    case CS_DOTB64URL:
        return al || c == '_' || c == '-' || c == '.';
    }
    return false;
}

static double entropy(const unsigned char *p, size_t n)
{
    unsigned cnt[256] = {0};
    double h = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        cnt[p[i]]++;
    for (unsigned i = 0; i < 256; i++) {
        if (cnt[i] == 0)
            continue;
        double f = (double)cnt[i] / (double)n;
        h -= f * log2(f);
    }
    return h;
}

static size_t distinct(const unsigned char *p, size_t n)
{
    unsigned char seen[256] = {0};
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (!seen[p[i]]) {
            seen[p[i]] = 1;
            d++;
        }
    }
    return d;
}

static bool has_ci(const unsigned char *p, size_t n, const char *needle)
{
    return str_casestr_n((const char *)p, n, needle) != NULL;
}

static bool has_cs(const unsigned char *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m > n)
        return false;
    return memmem(p, n, needle, m) != NULL;
}

/* p[0, n) equals the lowercase word w, ignoring ASCII case */
static bool eq_ci(const unsigned char *p, size_t n, const char *w)
{
    size_t i = 0;
    for (; i < n; i++)
        if (w[i] == '\0' || detect_lc[p[i]] != (unsigned char)w[i])
            return false;
    return w[i] == '\0';
}

/* Values written in documentation instead of real secrets. */
static bool is_placeholder(const unsigned char *v, size_t n)
{
    static const char *const exact[] = {
        "password", "passwd", "pass", "secret", "token", "changeme", "string", "str", "none",
        "null", "nil", "undefined", "true", "false", "required", "optional", "hidden",
        "redacted", "masked", "empty", "value", "default", "bearer", "basic", "n/a", "tbd",
        "test", "example", "sample", "dummy", "foo", "bar", "foobar", "hunter2", "int", "bool",
        "any", "object", "number", "text", NULL};
    static const char *const sub_ci[] = {
        "xxxx", "****", "....", "your_", "your-", "yourapi", "yoursecret", "yourtoken",
        "${", "{{", "placeholder", "redacted", "changeme", "change_me", "process.env",
        "os.environ", "getenv", "<", ">", "\u2022\u2022", "insert_", "replace_", "_here",
        "-here", "secrets.", NULL};
    if (n == 0)
        return true;
    for (size_t i = 0; exact[i] != NULL; i++)
        if (eq_ci(v, n, exact[i]))
            return true;
    if (v[0] == '<' || v[0] == '{' || v[0] == '[' || v[0] == '%' || v[0] == '*' ||
        v[0] == '(')
        return true;
    if (v[0] == '$' && !(n > 1 && (d_digit(v[1]) || v[1] == 'a'))) /* $VAR, but $2b$ hashes */
        return true;
    for (size_t i = 0; sub_ci[i] != NULL; i++)
        if (has_ci(v, n, sub_ci[i]))
            return true;
    if (has_cs(v, n, "EXAMPLE") || has_cs(v, n, "example") || has_cs(v, n, "Example"))
        return true;
    if (n >= 8 && distinct(v, n) <= 3)
        return true;
    return false;
}

struct classes {
    bool lower, upper, digit, sym;
};

static struct classes char_classes(const unsigned char *v, size_t n)
{
    struct classes c = {false, false, false, false};
    for (size_t i = 0; i < n; i++) {
        if (d_lower(v[i]))
            c.lower = true;
        else if (d_upper(v[i]))
            c.upper = true;
        else if (d_digit(v[i]))
            c.digit = true;
        else
            c.sym = true;
    }
    return c;
}

/* -------------------------------------------------------- token prefixes */

#define TP_MIXED    0x1u /* body must mix letters and digits */
#define TP_TEST     0x2u /* a test-mode key: medium severity */
#define TP_JWT      0x4u
#define TP_SENDGRID 0x8u
#define TP_PAD      0x10u /* base64 '=' padding may follow */
#define TP_SAS      0x20u /* Azure SAS: needs "sv=" before it */
#define TP_CASELESS 0x40u
#define TP_UPLOW    0x80u /* body must mix upper and lower case */

struct tokpre {
    const char *pre;
    size_t plen;
    enum detect_rule rule;
    enum charset cs;
    unsigned short min, max;
    unsigned flags;
    const char *what;
};

static const struct tokpre prefixes[] = {
    {"AKIA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"ASIA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"ABIA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"ACCA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"AGPA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"AIDA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"AIPA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"ANPA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"ANVA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"AROA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"APKA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"ASCA", 4, DR_SECRET_AWS_KEY_ID, CS_UPNUM, 16, 16, 0, "AWS key id "},
    {"AIza", 4, DR_SECRET_GCP_API_KEY, CS_B64URL, 35, 35, 0, "Google API key "},
    {"AccountKey=", 11, DR_SECRET_AZURE_KEY, CS_B64, 86, 88, TP_PAD, "Azure storage key "},
    {"SharedAccessKey=", 16, DR_SECRET_AZURE_KEY, CS_B64, 43, 44, TP_PAD, "Azure SAS key "},
    {"sig=", 4, DR_SECRET_AZURE_KEY, CS_B64, 40, 120, TP_SAS | TP_PAD, "Azure SAS signature "},
    {"ya29.", 5, DR_SECRET_GOOGLE_OAUTH, CS_DOTB64URL, 30, 2048, 0, "Google OAuth token "},
    {"GOCSPX-", 7, DR_SECRET_GOOGLE_OAUTH, CS_B64URL, 24, 40, 0, "Google client secret "},
    {"ghp_", 4, DR_SECRET_GITHUB_TOKEN, CS_ALNUM, 36, 251, 0, "GitHub token "},
    {"gho_", 4, DR_SECRET_GITHUB_TOKEN, CS_ALNUM, 36, 251, 0, "GitHub token "},
    {"ghu_", 4, DR_SECRET_GITHUB_TOKEN, CS_ALNUM, 36, 251, 0, "GitHub token "},
    {"ghs_", 4, DR_SECRET_GITHUB_TOKEN, CS_ALNUM, 36, 251, 0, "GitHub token "},
    {"ghr_", 4, DR_SECRET_GITHUB_TOKEN, CS_ALNUM, 36, 251, 0, "GitHub token "},
    {"github_pat_", 11, DR_SECRET_GITHUB_TOKEN, CS_WORD, 50, 251, 0, "GitHub token "},
    {"glpat-", 6, DR_SECRET_GITLAB_TOKEN, CS_B64URL, 20, 64, 0, "GitLab token "},
    {"xoxb-", 5, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"xoxp-", 5, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"xoxa-", 5, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"xoxr-", 5, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"xoxs-", 5, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"xoxe-", 5, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"xoxe.xoxp-", 10, DR_SECRET_SLACK_TOKEN, CS_SLACK, 10, 256, TP_MIXED, "Slack token "},
    {"hooks.slack.com/services/", 25, DR_SECRET_SLACK_WEBHOOK, CS_PATH, 16, 200, 0, "Slack webhook "},
    {"hooks.slack.com/workflows/", 26, DR_SECRET_SLACK_WEBHOOK, CS_PATH, 16, 200, 0, "Slack webhook "},
    {"discord.com/api/webhooks/", 25, DR_SECRET_SLACK_WEBHOOK, CS_PATH, 40, 200, 0, "Discord webhook "},
    {"discordapp.com/api/webhooks/", 28, DR_SECRET_SLACK_WEBHOOK, CS_PATH, 40, 200, 0, "Discord webhook "},
    {"sk_live_", 8, DR_SECRET_STRIPE_KEY, CS_WORD, 10, 247, 0, "Stripe key "},
    {"rk_live_", 8, DR_SECRET_STRIPE_KEY, CS_WORD, 10, 247, 0, "Stripe key "},
    {"sk_test_", 8, DR_SECRET_STRIPE_KEY, CS_WORD, 10, 247, TP_TEST, "Stripe test key "},
    {"rk_test_", 8, DR_SECRET_STRIPE_KEY, CS_WORD, 10, 247, TP_TEST, "Stripe test key "},
    {"whsec_", 6, DR_SECRET_STRIPE_KEY, CS_ALNUM, 24, 64, 0, "Stripe webhook secret "},
    {"sk-ant-", 7, DR_SECRET_ANTHROPIC_KEY, CS_B64URL, 20, 300, 0, "Anthropic key "},
    {"sk-proj-", 8, DR_SECRET_OPENAI_KEY, CS_B64URL, 10, 300, TP_MIXED, "OpenAI key "},
    {"sk-svcacct-", 11, DR_SECRET_OPENAI_KEY, CS_B64URL, 10, 300, TP_MIXED, "OpenAI key "},
    {"sk-admin-", 9, DR_SECRET_OPENAI_KEY, CS_B64URL, 10, 300, TP_MIXED, "OpenAI key "},
    {"sk-None-", 8, DR_SECRET_OPENAI_KEY, CS_B64URL, 10, 300, TP_MIXED, "OpenAI key "},
    {"sk-", 3, DR_SECRET_OPENAI_KEY, CS_ALNUM, 32, 64, TP_MIXED, "OpenAI-style key "},
    {"npm_", 4, DR_SECRET_VENDOR_TOKEN, CS_ALNUM, 36, 36, TP_MIXED, "npm token "},
    {"pypi-AgEIcHlwaS5vcmc", 20, DR_SECRET_VENDOR_TOKEN, CS_B64URL, 50, 500, 0, "PyPI token "},
    {"hf_", 3, DR_SECRET_VENDOR_TOKEN, CS_ALPHA, 30, 40, TP_UPLOW, "Hugging Face token "},
    {"dop_v1_", 7, DR_SECRET_VENDOR_TOKEN, CS_LHEX, 64, 64, 0, "DigitalOcean token "},
    {"doo_v1_", 7, DR_SECRET_VENDOR_TOKEN, CS_LHEX, 64, 64, 0, "DigitalOcean token "},
    {"dor_v1_", 7, DR_SECRET_VENDOR_TOKEN, CS_LHEX, 64, 64, 0, "DigitalOcean token "},
    {"shpat_", 6, DR_SECRET_VENDOR_TOKEN, CS_HEX, 32, 32, 0, "Shopify token "},
    {"shpss_", 6, DR_SECRET_VENDOR_TOKEN, CS_HEX, 32, 32, 0, "Shopify token "},
    {"shpca_", 6, DR_SECRET_VENDOR_TOKEN, CS_HEX, 32, 32, 0, "Shopify token "},
    {"shppa_", 6, DR_SECRET_VENDOR_TOKEN, CS_HEX, 32, 32, 0, "Shopify token "},
    {"SG.", 3, DR_SECRET_VENDOR_TOKEN, CS_DOTB64URL, 66, 66, TP_SENDGRID, "SendGrid key "},
    {"eyJ", 3, DR_SECRET_JWT, CS_B64URL, 10, 8192, TP_JWT, "JWT "},
};

static int b64val(unsigned char c)
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

/* Decodes base64 or base64url (padding optional) into out (cap bytes);
 * returns the decoded length or -1. */
static long b64_decode(const unsigned char *p, size_t n, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '=')
            break;
        int v = b64val(p[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return (long)o;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* JWT: header.payload.signature, header decoding to a JOSE header. */
static void check_jwt(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n, j = i, dots[2], nd = 0;
    while (j < n && (in_cs(CS_B64URL, p[j]) || p[j] == '.')) {
        if (p[j] == '.') {
            if (nd == 2)
                break;
            dots[nd++] = j;
        }
        j++;
    }
    if (nd < 2 || dots[0] - i < 10 || dots[1] - dots[0] - 1 < 10)
        return;
    if (p[dots[0] + 1] != 'e' || p[dots[0] + 2] != 'y' || p[dots[0] + 3] != 'J')
        return;
    size_t end = j;
    while (end > dots[1] + 1 && p[end - 1] == '.')
        end--;
    unsigned char hdr[256];
    long hl = b64_decode(p + i, dots[0] - i, hdr, sizeof(hdr) - 1);
    if (hl < 8 || hdr[0] != '{' || !has_cs(hdr, (size_t)hl, "\"alg\""))
        return;
    char ev[DETECT_EVIDENCE_MAX];
    char alg[16] = "?";
    const unsigned char *a = memmem(hdr, (size_t)hl, "\"alg\"", 5);
    if (a != NULL) {
        const unsigned char *q = a + 5;
        const unsigned char *e = hdr + hl;
        while (q < e && (*q == ':' || *q == ' ' || *q == '"'))
            q++;
        size_t k = 0;
        while (q < e && k < sizeof(alg) - 1 && d_alnum(*q))
            alg[k++] = (char)*q++;
        if (k > 0)
            alg[k] = '\0';
    }
    snprintf(ev, sizeof(ev), "JWT eyJ**** (%zu chars, alg %s)", end - i, alg);
    dscan_add(s, DR_SECRET_JWT, i, end, DETECT_SEV_NONE, 0, ev);
}

#define NPREFIX (sizeof(prefixes) / sizeof(prefixes[0]))

/* prefixes by first byte */
#define PRE_PER_BYTE 16
static uint8_t pre_list[256][PRE_PER_BYTE], pre_count[256];
static pthread_once_t pre_once = PTHREAD_ONCE_INIT;

static void pre_index(void)
{
    for (size_t t = 0; t < NPREFIX; t++) {
        unsigned char c = (unsigned char)prefixes[t].pre[0];
        if (pre_count[c] < PRE_PER_BYTE)
            pre_list[c][pre_count[c]++] = (uint8_t)t;
        else
            fatalx("token prefix index full for byte %c", c);
    }
}

void sec_init(void)
{
    pthread_once(&pre_once, pre_index);
}

static void check_prefix(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    unsigned char c0 = p[i];
    for (size_t x = 0; x < pre_count[c0]; x++) {
        const struct tokpre *tp = &prefixes[pre_list[c0][x]];
        size_t pl = tp->plen;
        if (n - i < pl + tp->min || p[i + 1] != (unsigned char)tp->pre[1] ||
            memcmp(p + i, tp->pre, pl) != 0)
            continue;
        if (tp->flags & TP_JWT) {
            check_jwt(s, i);
            return;
        }
        size_t b = i + pl, j = b;
        while (j < n && j - b <= tp->max && in_cs(tp->cs, p[j]))
            j++;
        size_t body = j - b;
        if (body < tp->min || body > tp->max)
            continue;
        if (tp->flags & TP_PAD)
            while (j < n && p[j] == '=' && j - b < (size_t)tp->max + 2)
                j++;
        if (j < n && d_alnum(p[j]))
            continue;
        if (tp->flags & TP_SENDGRID && p[b + 22] != '.')
            continue;
        struct classes cl = char_classes(p + b, body);
        if ((tp->flags & TP_MIXED) && !(cl.digit && (cl.lower || cl.upper)))
            continue;
        if ((tp->flags & TP_UPLOW) && !(cl.lower && cl.upper))
            continue;
        if (tp->flags & TP_SAS) {
            size_t from = i > 400 ? i - 400 : 0;
            if (!has_cs(p + from, i - from, "sv=20"))
                continue;
        }
        if (is_placeholder(p + b, body))
            continue;
        char ev[DETECT_EVIDENCE_MAX];
        ev_mask(p + i, j - i, pl, tp->what, ev, sizeof(ev));
        dscan_add(s, tp->rule, i, j, (tp->flags & TP_TEST) ? DETECT_SEV_MEDIUM : DETECT_SEV_NONE,
                  0, ev);
        return;
    }
}

/* ---------------------------------------------------------------- PII */

static bool luhn(const unsigned char *d, size_t n)
{
    unsigned sum = 0;
    bool dbl = false;
    for (size_t i = n; i > 0; i--) {
        unsigned v = (unsigned)(d[i - 1] - '0');
        if (dbl) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

static const char *card_brand(const unsigned char *d, size_t n)
{
    unsigned p2 = (unsigned)((d[0] - '0') * 10 + (d[1] - '0'));
    unsigned p4 = p2 * 100 + (unsigned)((d[2] - '0') * 10 + (d[3] - '0'));
    if (d[0] == '4' && (n == 13 || n == 16 || n == 19))
        return "visa";
    if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n == 16)
        return "mastercard";
    if ((p2 == 34 || p2 == 37) && n == 15)
        return "amex";
    if ((p4 == 6011 || p2 == 65 || (p4 >= 6440 && p4 <= 6499)) && n >= 16)
        return "discover";
    if (p4 >= 3528 && p4 <= 3589 && n >= 16)
        return "jcb";
    if ((p2 == 36 || p2 == 38 || p2 == 39 || (p4 >= 3000 && p4 <= 3059)) && n >= 14)
        return "diners";
    if (p2 == 62 && n >= 16)
        return "unionpay";
    if ((p2 == 50 || (p2 >= 56 && p2 <= 69)) && n >= 12)
        return "maestro";
    return NULL;
}

/* Words before a number that make it an order/reference number, not a card. */
static bool ref_context(const struct dscan *s, size_t i)
{
    static const char *const words[] = {"order", "invoice", "tracking", "transaction", "txn",
                                        "ref", "isbn", "ean", "upc", "imei", "serial",
                                        "account", "acct", "id", "#", "no.", "shipment", NULL};
    size_t from = i > 24 ? i - 24 : 0;
    for (size_t k = 0; words[k] != NULL; k++)
        if (str_casestr_n((const char *)s->p + from, i - from, words[k]) != NULL)
            return true;
    return false;
}

static bool check_card(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n, j = i, nd = 0, groups = 0, first = 0;
    unsigned char digits[20];
    unsigned char sep = 0;
    for (;;) {
        size_t k = j;
        while (k < n && d_digit(p[k]) && nd < 20)
            digits[nd++] = p[k++];
        if (k < n && d_digit(p[k]))
            return false; /* more than 19 digits */
        size_t run = k - j;
        if (groups == 0)
            first = run;
        groups++;
        if (k + 1 < n && (p[k] == ' ' || p[k] == '-') && d_digit(p[k + 1]) &&
            (sep == 0 || sep == p[k]) && run >= 3 && run <= 6 && nd < 19) {
            sep = p[k];
            j = k + 1;
            continue;
        }
        j = k;
        break;
    }
    if (nd < 13 || nd > 19)
        return false;
    if (sep != 0 && (groups < 3 || first != 4))
        return false;
    if (sep == 0 && groups != 1)
        return false;
    if (j < n && (d_alnum(p[j]) || ((p[j] == '.' || p[j] == ',') && j + 1 < n && d_digit(p[j + 1]))))
        return false;
    const char *brand = card_brand(digits, nd);
    if (brand == NULL || !luhn(digits, nd))
        return false;
    if (sep == 0 && ref_context(s, i))
        return false;
    char ev[DETECT_EVIDENCE_MAX];
    snprintf(ev, sizeof(ev), "card ****%.4s (%s, %zu digits)", (const char *)digits + nd - 4,
             brand, nd);
    dscan_add(s, DR_PII_CARD, i, j, DETECT_SEV_NONE, 0, ev);
    return true;
}

static size_t digits_at(const unsigned char *p, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && d_digit(p[k]))
        k++;
    return k - i;
}

static void phone_ev(const unsigned char *p, size_t st, size_t en, char *ev, size_t max)
{
    unsigned char last[4];
    size_t k = 4, nd = 0;
    for (size_t i = en; i > st && k > 0; i--)
        if (d_digit(p[i - 1]))
            last[--k] = p[i - 1];
    for (size_t i = st; i < en; i++)
        nd += d_digit(p[i]);
    snprintf(ev, max, "phone ***%.*s (%zu digits)", (int)(4 - k), (const char *)last + k, nd);
}

/* North American numbers: 415-555-2671, 415.555.2671, (415) 555-2671. */
static bool check_nanp(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n, j = i;
    bool paren = p[i] == '(';
    if (paren)
        j++;
    if (digits_at(p, n, j) != 3 || p[j] < '2')
        return false;
    j += 3;
    unsigned char sep;
    if (paren) {
        if (j >= n || p[j] != ')')
            return false;
        j++;
        if (j < n && (p[j] == ' ' || p[j] == '-'))
            j++;
        sep = '-';
    } else {
        if (j >= n || (p[j] != '-' && p[j] != '.'))
            return false;
        sep = p[j++];
    }
    if (digits_at(p, n, j) != 3 || p[j] < '2')
        return false;
    j += 3;
    if (j >= n || p[j] != sep)
        return false;
    j++;
    if (digits_at(p, n, j) != 4)
        return false;
    j += 4;
    if (j < n && (d_alnum(p[j]) || ((p[j] == '-' || p[j] == '.') && j + 1 < n && d_digit(p[j + 1]))))
        return false;
    char ev[DETECT_EVIDENCE_MAX];
    phone_ev(p, i, j, ev, sizeof(ev));
    dscan_add(s, DR_PII_PHONE, i, j, DETECT_SEV_NONE, 0, ev);
    return true;
}

static bool check_ssn(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    if (n - i < 11 || digits_at(p, n, i) != 3 || p[i + 3] != '-' ||
        digits_at(p, n, i + 4) != 2 || p[i + 6] != '-' || digits_at(p, n, i + 7) != 4)
        return false;
    if (i + 11 < n && d_alnum(p[i + 11]))
        return false;
    size_t from = i > 40 ? i - 40 : 0;
    if (str_casestr_n((const char *)p + from, i - from, "ssn") == NULL &&
        str_casestr_n((const char *)p + from, i - from, "social security") == NULL)
        return false;
    if (memcmp(p + i, "000", 3) == 0 || memcmp(p + i, "666", 3) == 0 || p[i] == '9' ||
        memcmp(p + i + 4, "00", 2) == 0 || memcmp(p + i + 7, "0000", 4) == 0)
        return false;
    char ev[DETECT_EVIDENCE_MAX];
    snprintf(ev, sizeof(ev), "SSN ***-**-%.4s", (const char *)p + i + 7);
    dscan_add(s, DR_PII_SSN, i, i + 11, DETECT_SEV_NONE, 0, ev);
    return true;
}

static const struct {
    char cc[3];
    unsigned char len;
} iban_len[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BR", 29}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27},
    {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31},
    {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25},
    {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VG", 24}, {"XK", 20},
};

void sec_iban(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    if (n - i < 15 || !d_upper(p[i + 1]) || !d_digit(p[i + 2]) || !d_digit(p[i + 3]))
        return;
    size_t want = 0;
    for (size_t k = 0; k < sizeof(iban_len) / sizeof(iban_len[0]); k++)
        if (p[i] == (unsigned char)iban_len[k].cc[0] && p[i + 1] == (unsigned char)iban_len[k].cc[1])
            want = iban_len[k].len;
    if (want == 0)
        return;
    unsigned char c[34];
    size_t nc = 0, j = i;
    while (j < n && nc < want) {
        if (d_upper(p[j]) || d_digit(p[j])) {
            c[nc++] = p[j++];
        } else if (p[j] == ' ' && nc % 4 == 0 && j + 1 < n && d_alnum(p[j + 1])) {
            j++;
        } else {
            break;
        }
    }
    if (nc != want || (j < n && d_alnum(p[j])))
        return;
    /* mod 97 over the rearranged digits (letters A=10 ... Z=35) */
    unsigned rem = 0;
    for (size_t k = 0; k < nc; k++) {
        unsigned char ch = c[(k + 4) % nc];
        if (d_digit(ch)) {
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        } else {
            unsigned v = (unsigned)(ch - 'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    if (rem != 1)
        return;
    char ev[DETECT_EVIDENCE_MAX];
    snprintf(ev, sizeof(ev), "IBAN %.2s**** (%zu chars)", (const char *)c, nc);
    dscan_add(s, DR_PII_IBAN, i, j, DETECT_SEV_NONE, 0, ev);
}

void sec_word_start(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    unsigned char c = p[i];
    if (d_digit(c)) {
        unsigned char prev = i > 0 ? p[i - 1] : ' ';
        if (prev == '.' || prev == '-' || prev == '$' || prev == '/' || prev == '_' ||
            prev == ',' || prev == '#' || prev == ':')
            return;
        if (check_card(s, i))
            return;
        if (check_ssn(s, i))
            return;
        (void)check_nanp(s, i);
        return;
    }
    check_prefix(s, i);
    if (d_upper(c))
        sec_iban(s, i);
    if (c == 'P' && s->n - i > 20 && memcmp(p + i, "PuTTY-User-Key-File-", 20) == 0)
        sec_putty(s, i);
}

/* '+' or '(' : international or bracketed phone numbers. */
void sec_plus(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    if (i > 0 && (d_alnum(p[i - 1]) || p[i - 1] == '+'))
        return;
    if (p[i] == '(') {
        (void)check_nanp(s, i);
        return;
    }
    size_t j = i + 1, nd = 0, groups = 0;
    if (j >= n || p[j] < '1' || p[j] > '9')
        return;
    while (j < n) {
        size_t k = j;
        bool paren = false;
        if (p[k] == '(' && groups > 0) {
            paren = true;
            k++;
        }
        size_t r = digits_at(p, n, k);
        if (r == 0 || (groups > 0 && r < 2))
            break;
        k += r;
        if (paren) {
            if (k >= n || p[k] != ')')
                break;
            k++;
        }
        nd += r;
        groups++;
        j = k;
        if (j + 1 < n && (p[j] == ' ' || p[j] == '-' || p[j] == '.') &&
            (d_digit(p[j + 1]) || p[j + 1] == '('))
            j++;
        else
            break;
    }
    /* a trailing separator consumed without a group */
    while (j > i && !d_digit(p[j - 1]) && p[j - 1] != ')')
        j--;
    if (nd < 8 || nd > 15)
        return;
    if (j < n && (d_alnum(p[j]) || ((p[j] == '.' || p[j] == ',') && j + 1 < n && d_digit(p[j + 1]))))
        return;
    char ev[DETECT_EVIDENCE_MAX];
    phone_ev(p, i, j, ev, sizeof(ev));
    dscan_add(s, DR_PII_PHONE, i, j, DETECT_SEV_NONE, 0, ev);
}

/* '~' : Microsoft Entra client secrets look like xxx8Q~yyyy (40 chars). */
void sec_tilde(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
#define ENTRA(c) (d_alnum(c) || (c) == '_' || (c) == '~' || (c) == '.' || (c) == '-')
    if (i < 5 || p[i - 1] != 'Q' || !d_digit(p[i - 2]))
        return;
    size_t st = i - 5;
    for (size_t k = st; k < i - 2; k++)
        if (!ENTRA(p[k]))
            return;
    if (st > 0 && ENTRA(p[st - 1]))
        return;
    size_t j = i + 1;
    while (j < n && ENTRA(p[j]) && j - i <= 35)
        j++;
    if (j - i - 1 < 31 || j - i - 1 > 34 || (j < n && ENTRA(p[j])))
        return;
#undef ENTRA
    struct classes cl = char_classes(p + st, j - st);
    if (!(cl.digit && cl.lower && cl.upper))
        return;
    char ev[DETECT_EVIDENCE_MAX];
    ev_mask(p + st, j - st, 0, "Entra client secret ", ev, sizeof(ev));
    dscan_add(s, DR_SECRET_AZURE_KEY, st, j, DETECT_SEV_NONE, 0, ev);
}

/* "Bearer <token>" anywhere (headers in logs, curl commands). */
void sec_bearer(struct dscan *s, size_t wend)
{
    const unsigned char *p = s->p;
    size_t n = s->n, j = wend;
    if (j >= n || p[j] != ' ')
        return;
    while (j < n && p[j] == ' ' && j - wend < 4)
        j++;
    size_t b = j;
    while (j < n && (d_alnum(p[j]) || p[j] == '-' || p[j] == '_' || p[j] == '.' || p[j] == '~' ||
                     p[j] == '+' || p[j] == '/' || p[j] == '=' || p[j] == '!'))
        j++;
    while (j > b && p[j - 1] == '.')
        j--;
    size_t len = j - b;
    if (len < 20 || len > 8192 || is_placeholder(p + b, len))
        return;
    struct classes cl = char_classes(p + b, len);
    if (!cl.digit || !(cl.lower || cl.upper) || entropy(p + b, len) < 3.0)
        return;
    char ev[DETECT_EVIDENCE_MAX];
    ev_mask(p + b, len, p[b] == 'e' && len > 3 && p[b + 1] == 'y' ? 3 : 0, "Bearer ", ev,
            sizeof(ev));
    dscan_add(s, DR_SECRET_BEARER, b, j, DETECT_SEV_NONE, 0, ev);
}

void sec_putty(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    const unsigned char *pl = memmem(p + i, s->n - i < 65536 ? s->n - i : 65536,
                                     "Private-Lines:", 14);
    if (pl == NULL)
        return;
    size_t end = (size_t)(pl - p) + 14;
    const unsigned char *mac = memmem(p + end, s->n - end < 65536 ? s->n - end : 65536,
                                      "Private-MAC:", 12);
    if (mac != NULL) {
        end = (size_t)(mac - p);
        while (end < s->n && p[end] != '\n')
            end++;
    }
    dscan_add(s, DR_SECRET_PRIVATE_KEY, i, end, DETECT_SEV_NONE, 0, "PuTTY private key file");
}

/* '-' : "-----BEGIN ... PRIVATE KEY-----" blocks. Returns where to resume. */
size_t sec_dash(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    if (n - i < 32 || memcmp(p + i, "-----BEGIN ", 11) != 0)
        return i + 1;
    size_t j = i + 11, lab = j;
    while (j < n && j - lab < 40 && (d_upper(p[j]) || p[j] == ' '))
        j++;
    if (n - j < 5 || memcmp(p + j, "-----", 5) != 0)
        return i + 1;
    size_t lablen = j - lab;
    if (!has_cs(p + lab, lablen, "PRIVATE KEY"))
        return i + 1;
    j += 5;
    /* body: base64 lines, possibly with literal "\n" escapes or headers */
    size_t body = 0, k = j;
    size_t limit = n - j < (1u << 20) ? n : j + (1u << 20);
    const unsigned char *end = memmem(p + j, limit - j, "-----END", 8);
    size_t stop = end != NULL ? (size_t)(end - p) : limit;
    for (k = j; k < stop; k++) {
        if (d_alnum(p[k]) || p[k] == '+' || p[k] == '/')
            body++;
        else if (p[k] == '\\' && k + 1 < stop && p[k + 1] == 'n')
            k++;
        else if (p[k] == '=' || p[k] == '\n' || p[k] == '\r' || p[k] == ' ' || p[k] == ':' ||
                 p[k] == '-' || p[k] == ',')
            continue;
        else if (end == NULL)
            break;
    }
    if (body < 20)
        return i + 1;
    size_t fin = k;
    if (end != NULL) {
        fin = stop + 8;
        while (fin < n && fin - stop < 64 && p[fin] != '\n' && p[fin] != '"' && p[fin] != '\\')
            fin++;
    }
    char ev[DETECT_EVIDENCE_MAX];
    snprintf(ev, sizeof(ev), "-----BEGIN %.*s----- (%zu bytes)", (int)lablen, (const char *)p + lab,
             fin - i);
    dscan_add(s, DR_SECRET_PRIVATE_KEY, i, fin, DETECT_SEV_NONE, 0, ev);
    return fin;
}

/* ------------------------------------------------------------ key=value */

/* Does the (raw) key name a secret? Suffix match at a word boundary after
 * dropping separators: DB_PASSWORD, apiKey, x-api-key, "API Key", client_secret. */
static bool secret_key(const unsigned char *k, size_t n, bool *aws_secret)
{
    static const char *const suffixes[] = {
        "password", "passwd", "passphrase", "pwd", "pass", "secret", "secretkey", "token",
        "apikey", "accesskey", "privatekey", "authkey", "authtoken", "credential",
        "credentials", "cookie", "authorization", "signingkey", "encryptionkey", "masterkey",
        "sessionkey", "clientsecret", "secretaccesskey", "accesstoken", "refreshtoken",
        "idtoken", "csrftoken", "sessiontoken", "bearertoken", "apisecret", "appsecret",
        "webhooksecret", "jwtsecret", "dbpassword", NULL};
    char norm[72];
    size_t start_of[72]; /* raw index of each normalized char */
    size_t m = 0;
    if (n == 0 || n > 64)
        return false;
    /* every suffix ends in one of these letters */
    unsigned char last = detect_lc[k[n - 1]];
    if (last != 'd' && last != 'e' && last != 's' && last != 't' && last != 'y' && last != 'n' &&
        last != 'l' && last != 'r')
        return false;
    for (size_t i = 0; i < n && m < sizeof(norm) - 1; i++) {
        unsigned char c = k[i];
        if (d_alnum(c)) {
            start_of[m] = i;
            norm[m++] = (char)detect_lc[c];
        }
    }
    norm[m] = '\0';
    *aws_secret = strstr(norm, "aws") != NULL && strstr(norm, "secret") != NULL;
    for (size_t t = 0; suffixes[t] != NULL; t++) {
        const char *suf = suffixes[t];
        /* compare from the end: most keys differ in their last letters */
        size_t sl = 0;
        while (suf[sl] != '\0')
            sl++;
        if (sl > m || norm[m - 1] != suf[sl - 1] || memcmp(norm + m - sl, suf, sl) != 0)
            continue;
        size_t ri = start_of[m - sl];
        /* word boundary in the raw key: start, after a separator, or camelCase */
        if (ri == 0 || !d_alnum(k[ri - 1]) || (d_upper(k[ri]) && d_lower(k[ri - 1])))
            return true;
    }
    return false;
}

/* URL credentials after "scheme:" at ':' (p[i] == ':' and "//" follows). */
static void check_url_password(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    size_t sb = i;
    while (sb > 0 && i - sb < 16 && (d_alnum(p[sb - 1]) || p[sb - 1] == '+' || p[sb - 1] == '.' ||
                                     p[sb - 1] == '-'))
        sb--;
    if (i - sb < 2 || !(d_lower(p[sb]) || d_upper(p[sb])))
        return;
    size_t u = i + 3, a = u, at = SIZE_MAX;
    while (a < n && a - u < 512) {
        unsigned char c = p[a];
        if (c == '/' || c == '?' || c == '#' || c == ' ' || c == '\n' || c == '\t' || c == '"' ||
            c == '\'' || c == '<' || c == '>' || c == '\\' || c == '`' || c < 0x20)
            break;
        if (c == '@')
            at = a;
        a++;
    }
    if (at == SIZE_MAX)
        return;
    const unsigned char *colon = memchr(p + u, ':', at - u);
    if (colon == NULL)
        return;
    size_t ps = (size_t)(colon - p) + 1;
    if (ps >= at || is_placeholder(p + ps, at - ps) || eq_ci(p + ps, at - ps, "pw") ||
        eq_ci(p + ps, at - ps, "pwd") || eq_ci(p + ps, at - ps, "x-oauth-basic"))
        return;
    size_t ul = (size_t)(colon - p) - u, hl = a - at - 1;
    char ev[DETECT_EVIDENCE_MAX];
    snprintf(ev, sizeof(ev), "%.*s://%.*s:****@%.*s", (int)(i - sb), (const char *)p + sb,
             (int)(ul < 24 ? ul : 24), (const char *)p + u, (int)(hl < 48 ? hl : 48),
             (const char *)p + at + 1);
    dscan_add(s, DR_SECRET_URL_PASSWORD, ps, at, DETECT_SEV_NONE, 0, ev);
}

void sec_separator(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
    unsigned char sep = p[i];
    if (sep == ':' && i + 2 < n && p[i + 1] == '/' && p[i + 2] == '/') {
        check_url_password(s, i);
        return;
    }
    if (i == 0)
        return;
    if (sep == '=' && (p[i - 1] == '!' || p[i - 1] == '<' || p[i - 1] == '>' || p[i - 1] == '=' ||
                       (i + 1 < n && (p[i + 1] == '=' || p[i + 1] == '~'))))
        return;
    if (sep == ':' && ((i + 1 < n && p[i + 1] == ':') || p[i - 1] == ':'))
        return;
    /* the key: optional closing quote, then name characters, then up to two
     * more words for labels such as "API Key:" */
    size_t ke = i;
    while (ke > 0 && i - ke < 2 && p[ke - 1] == ' ')
        ke--;
    if (ke > 0 && (p[ke - 1] == '"' || p[ke - 1] == '\'' || p[ke - 1] == '`'))
        ke--;
    if (ke == 0 || !d_alnum(p[ke - 1]))
        return;
    {
        /* every secret key name ends in one of these letters */
        unsigned char last = detect_lc[p[ke - 1]];
        if (last != 'd' && last != 'e' && last != 's' && last != 't' && last != 'y' &&
            last != 'n' && last != 'l')
            return;
    }
    size_t ks = ke;
    while (ks > 0 && ke - ks < 64 &&
           (d_alnum(p[ks - 1]) || p[ks - 1] == '_' || p[ks - 1] == '-' || p[ks - 1] == '.'))
        ks--;
    if (ks == ke)
        return;
    if (sep == ':') {
        for (int w = 0; w < 2; w++) {
            size_t t = ks;
            if (t < 2 || p[t - 1] != ' ' || !d_alnum(p[t - 2]))
                break;
            t--;
            while (t > 0 && ke - t < 40 && d_alnum(p[t - 1]))
                t--;
            if (t > 0 && d_alnum(p[t - 1]))
                break;
            ks = t;
        }
    }
    bool aws = false;
    if (!secret_key(p + ks, ke - ks, &aws)) {
        /* a label like "API Key: " may still have only its last word match */
        return;
    }
    /* the value */
    size_t v = i + 1;
    if (sep == '=' && v < n && p[v] == '>')
        v++;
    while (v < n && (p[v] == ' ' || p[v] == '\t') && v - i < 6)
        v++;
    if (v >= n)
        return;
    size_t vs, ve;
    unsigned char q = p[v];
    if (q == '"' || q == '\'' || q == '`') {
        vs = v + 1;
        ve = vs;
        while (ve < n && p[ve] != q && p[ve] != '\n' && ve - vs < 512)
            ve++;
        if (ve >= n || p[ve] != q)
            return;
    } else {
        vs = v;
        ve = vs;
        while (ve < n && ve - vs < 512) {
            unsigned char c = p[ve];
            if (c <= ' ' || c == '"' || c == '\'' || c == ',' || c == ';' || c == ')' ||
                c == '}' || c == ']' || c == '`' || c >= 0x80)
                break;
            ve++;
        }
        while (ve > vs && (p[ve - 1] == '.' || p[ve - 1] == ':'))
            ve--;
    }
    /* "Authorization: Bearer x" is the bearer rule's; "Basic x" is ours */
    if (ve - vs == 6 && eq_ci(p + vs, 6, "bearer"))
        return;
    if (ve - vs == 5 && eq_ci(p + vs, 5, "basic") && ve < n && p[ve] == ' ') {
        vs = ve + 1;
        ve = vs;
        while (ve < n && (d_alnum(p[ve]) || p[ve] == '+' || p[ve] == '/' || p[ve] == '=') &&
               ve - vs < 512)
            ve++;
    }
    size_t len = ve - vs;
    const unsigned char *val = p + vs;
    if (len < 6 || len > 512 || is_placeholder(val, len))
        return;
    if (val[0] == '/' || val[0] == '~' || (len > 1 && val[0] == '.' && val[1] == '/') ||
        has_cs(val, len, "://"))
        return;
    struct classes cl = char_classes(val, len);
    int nclass = cl.lower + cl.upper + cl.digit + cl.sym;
    bool password = false;
    {
        char last[16];
        size_t kl = ke - ks, m = 0;
        for (size_t t = kl > 15 ? kl - 15 : 0; t < kl; t++)
            last[m++] = (char)detect_lc[p[ks + t]];
        last[m] = '\0';
        password = strstr(last, "pass") != NULL || strstr(last, "pwd") != NULL;
    }
    enum detect_rule rule = DR_SECRET_KEY_VALUE;
    if (aws && len == 40) {
        rule = DR_SECRET_AWS_SECRET_KEY;
    } else if (password) {
        if (nclass < 2 && len < 12)
            return;
        if (!cl.digit && !cl.sym && len < 12)
            return;
    } else {
        if (len < 12 || nclass < 2)
            return;
        if (!cl.digit && !(cl.upper && cl.lower && len >= 24))
            return;
        if (entropy(val, len) < 3.0)
            return;
    }
    char ev[DETECT_EVIDENCE_MAX];
    size_t kl = ke - ks;
    char kb[48];
    snprintf(kb, sizeof(kb), "%.*s%c", (int)(kl < 40 ? kl : 40), (const char *)p + ks, sep);
    ev_mask(val, len, 0, kb, ev, sizeof(ev));
    dscan_add(s, rule, vs, ve, DETECT_SEV_NONE, 0, ev);
}

/* ------------------------------------------------------------------ e-mail */

static bool reserved_domain(const unsigned char *d, size_t n)
{
    static const char *const exact[] = {"example.com", "example.org", "example.net", NULL};
    static const char *const tlds[] = {".example", ".test", ".invalid", ".localhost", ".local",
                                       NULL};
    static const char *const ext[] = {
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "js", "mjs", "cjs", "ts",
        "tsx", "jsx", "css", "scss", "html", "htm", "json", "yaml", "yml", "toml", "md", "txt",
        "py", "rb", "go", "rs", "java", "kt", "c", "h", "cpp", "hpp", "cs", "php", "pl", "sh",
        "lock", "log", "xml", "csv", "pdf", "zip", "gz", "tar", "wasm", "map", "vue", NULL};
    for (size_t i = 0; exact[i] != NULL; i++) {
        size_t m = strlen(exact[i]);
        if (n >= m && eq_ci(d + n - m, m, exact[i]) && (n == m || d[n - m - 1] == '.'))
            return true;
    }
    for (size_t i = 0; tlds[i] != NULL; i++) {
        size_t m = strlen(tlds[i]);
        if (n > m && eq_ci(d + n - m, m, tlds[i]))
            return true;
    }
    const unsigned char *dot = d + n;
    while (dot > d && dot[-1] != '.')
        dot--;
    for (size_t i = 0; ext[i] != NULL; i++)
        if (eq_ci(dot, (size_t)(d + n - dot), ext[i]))
            return true;
    return false;
}

void sec_at(struct dscan *s, size_t i)
{
    const unsigned char *p = s->p;
    size_t n = s->n;
#define LOCAL(c) (d_alnum(c) || (c) == '.' || (c) == '_' || (c) == '%' || (c) == '+' || (c) == '-')
    size_t ls = i;
    while (ls > 0 && i - ls < 64 && LOCAL(p[ls - 1]))
        ls--;
#undef LOCAL
    if (ls == i || p[ls] == '.' || p[i - 1] == '.')
        return;
    /* inside URL userinfo: the URL rule owns it */
    for (size_t b = ls; b > 0 && ls - b < 256; b--) {
        unsigned char c = p[b - 1];
        if (c <= ' ' || c == '"' || c == '\'')
            break;
        if (c == '/' && b >= 3 && p[b - 2] == '/' && p[b - 3] == ':')
            return;
    }
    size_t d = i + 1, lab = d, nlab = 0, last = d;
    while (d < n && d - i < 254) {
        if (d_alnum(p[d]) || p[d] == '-') {
            d++;
            continue;
        }
        if (p[d] == '.' && d > lab && d + 1 < n && d_alnum(p[d + 1])) {
            nlab++;
            d++;
            lab = d;
            last = d;
            continue;
        }
        break;
    }
    if (nlab == 0 || d == lab)
        return;
    /* the top-level label: letters only, 2..24 */
    if (d - last < 2 || d - last > 24)
        return;
    for (size_t k = last; k < d; k++)
        if (!(d_lower(p[k]) || d_upper(p[k])))
            return;
    if (p[i + 1] == '-' || p[d - 1] == '-')
        return;
    if (reserved_domain(p + i + 1, d - i - 1))
        return;
    if (i - ls == 3 && memcmp(p + ls, "git", 3) == 0 && d < n && p[d] == ':')
        return;
    char ev[DETECT_EVIDENCE_MAX];
    size_t dl = d - i - 1;
    snprintf(ev, sizeof(ev), "%c***@%.*s", p[ls], (int)(dl < 64 ? dl : 64),
             (const char *)p + i + 1);
    dscan_add(s, DR_PII_EMAIL, ls, d, DETECT_SEV_NONE, 0, ev);
}
