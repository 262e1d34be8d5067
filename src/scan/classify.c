/* classify.c - risk classes from names, methods, paths, schemas and
 * descriptions. The vocabulary is in the tables below; docs/scan.md lists it. */
#include "scan/classify.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/json.h"
#include "util/str.h"

#define MAX_WORDS 24

enum effect { E_NONE = 0, E_READ, E_SIDE, E_CRIT };

/* A verb: what the action does. Critical verbs carry their category. */
struct verb {
    const char *w;
    enum effect e;
    unsigned cat;
};

static const struct verb verbs[] = {
    /* deletion / destruction */
    {"delete", E_CRIT, SCAN_CAT_DELETION},
    {"del", E_CRIT, SCAN_CAT_DELETION},
    {"remove", E_CRIT, SCAN_CAT_DELETION},
    {"rm", E_CRIT, SCAN_CAT_DELETION},
    {"rmdir", E_CRIT, SCAN_CAT_DELETION},
    {"unlink", E_CRIT, SCAN_CAT_DELETION},
    {"destroy", E_CRIT, SCAN_CAT_DELETION},
    {"drop", E_CRIT, SCAN_CAT_DELETION},
    {"purge", E_CRIT, SCAN_CAT_DELETION},
    {"wipe", E_CRIT, SCAN_CAT_DELETION},
    {"erase", E_CRIT, SCAN_CAT_DELETION},
    {"truncate", E_CRIT, SCAN_CAT_DELETION},
    {"trash", E_CRIT, SCAN_CAT_DELETION},
    {"terminate", E_CRIT, SCAN_CAT_DELETION},
    {"kill", E_CRIT, SCAN_CAT_DELETION},
    {"shred", E_CRIT, SCAN_CAT_DELETION},
    {"overwrite", E_CRIT, SCAN_CAT_DELETION},
    {"uninstall", E_CRIT, SCAN_CAT_DELETION},
    /* money */
    {"pay", E_CRIT, SCAN_CAT_MONEY},
    {"charge", E_CRIT, SCAN_CAT_MONEY},
    {"refund", E_CRIT, SCAN_CAT_MONEY},
    {"payout", E_CRIT, SCAN_CAT_MONEY},
    {"withdraw", E_CRIT, SCAN_CAT_MONEY},
    {"purchase", E_CRIT, SCAN_CAT_MONEY},
    {"buy", E_CRIT, SCAN_CAT_MONEY},
    {"sell", E_CRIT, SCAN_CAT_MONEY},
    {"trade", E_CRIT, SCAN_CAT_MONEY},
    {"donate", E_CRIT, SCAN_CAT_MONEY},
    {"tip", E_CRIT, SCAN_CAT_MONEY},
    {"stake", E_CRIT, SCAN_CAT_MONEY},
    {"bid", E_CRIT, SCAN_CAT_MONEY},
    /* permissions */
    {"grant", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"revoke", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"chmod", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"chown", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"elevate", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"promote", E_SIDE, 0},
    {"escalate", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"privesc", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"exploit", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"jailbreak", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"demote", E_SIDE, 0},
    {"impersonate", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"sudo", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"invite", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"share", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"unshare", E_CRIT, SCAN_CAT_PERMISSIONS},
    {"authorize", E_CRIT, SCAN_CAT_PERMISSIONS},
    /* credentials */
    {"rotate", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"login", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"authenticate", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"decrypt", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"crack", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"bruteforce", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"brute", E_CRIT, SCAN_CAT_CREDENTIALS},
    {"keylog", E_CRIT, SCAN_CAT_CREDENTIALS},
    /* code execution */
    {"exec", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"execute", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"eval", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"evaluate", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"spawn", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"interpret", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"inject", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"hijack", E_CRIT, SCAN_CAT_CODE_EXEC},
    {"backdoor", E_CRIT, SCAN_CAT_CODE_EXEC},
    /* outbound messages */
    {"send", E_CRIT, SCAN_CAT_OUTBOUND},
    {"email", E_CRIT, SCAN_CAT_OUTBOUND},
    {"mail", E_CRIT, SCAN_CAT_OUTBOUND},
    {"sms", E_CRIT, SCAN_CAT_OUTBOUND},
    {"text", E_NONE, 0},
    {"tweet", E_CRIT, SCAN_CAT_OUTBOUND},
    {"retweet", E_CRIT, SCAN_CAT_OUTBOUND},
    {"publish", E_CRIT, SCAN_CAT_OUTBOUND},
    {"broadcast", E_CRIT, SCAN_CAT_OUTBOUND},
    {"forward", E_CRIT, SCAN_CAT_OUTBOUND},
    {"reply", E_CRIT, SCAN_CAT_OUTBOUND},
    {"notify", E_CRIT, SCAN_CAT_OUTBOUND},
    {"dm", E_CRIT, SCAN_CAT_OUTBOUND},
    {"message", E_NONE, 0},
    {"post", E_CRIT, SCAN_CAT_OUTBOUND},
    {"call", E_NONE, 0},
    {"dial", E_CRIT, SCAN_CAT_OUTBOUND},
    {"announce", E_CRIT, SCAN_CAT_OUTBOUND},
    {"exfiltrate", E_CRIT, SCAN_CAT_OUTBOUND},
    {"exfil", E_CRIT, SCAN_CAT_OUTBOUND},
    {"phish", E_CRIT, SCAN_CAT_OUTBOUND},
    {"spam", E_CRIT, SCAN_CAT_OUTBOUND},
    /* side effects */
    {"create", E_SIDE, 0},
    {"add", E_SIDE, 0},
    {"insert", E_SIDE, 0},
    {"new", E_SIDE, 0},
    {"make", E_SIDE, 0},
    {"write", E_SIDE, 0},
    {"update", E_SIDE, 0},
    {"upsert", E_SIDE, 0},
    {"edit", E_SIDE, 0},
    {"modify", E_SIDE, 0},
    {"patch", E_SIDE, 0},
    {"put", E_SIDE, 0},
    {"set", E_SIDE, 0},
    {"save", E_SIDE, 0},
    {"store", E_SIDE, 0},
    {"upload", E_SIDE, 0},
    {"import", E_SIDE, 0},
    {"move", E_SIDE, 0},
    {"mv", E_SIDE, 0},
    {"rename", E_SIDE, 0},
    {"copy", E_SIDE, 0},
    {"cp", E_SIDE, 0},
    {"append", E_SIDE, 0},
    {"replace", E_SIDE, 0},
    {"commit", E_SIDE, 0},
    {"push", E_SIDE, 0},
    {"merge", E_SIDE, 0},
    {"rebase", E_SIDE, 0},
    {"checkout", E_SIDE, 0},
    {"install", E_SIDE, 0},
    {"deploy", E_SIDE, 0},
    {"start", E_SIDE, 0},
    {"stop", E_SIDE, 0},
    {"restart", E_SIDE, 0},
    {"enable", E_SIDE, 0},
    {"disable", E_SIDE, 0},
    {"toggle", E_SIDE, 0},
    {"schedule", E_SIDE, 0},
    {"book", E_SIDE, 0},
    {"cancel", E_SIDE, 0},
    {"close", E_SIDE, 0},
    {"archive", E_SIDE, 0},
    {"approve", E_SIDE, 0},
    {"reject", E_SIDE, 0},
    {"assign", E_SIDE, 0},
    {"apply", E_SIDE, 0},
    {"sync", E_SIDE, 0},
    {"register", E_SIDE, 0},
    {"submit", E_SIDE, 0},
    {"fork", E_SIDE, 0},
    {"clone", E_SIDE, 0},
    {"init", E_SIDE, 0},
    {"initialize", E_SIDE, 0},
    {"trigger", E_SIDE, 0},
    {"launch", E_SIDE, 0},
    {"build", E_SIDE, 0},
    {"compile", E_SIDE, 0},
    {"gzip", E_SIDE, 0},
    {"zip", E_SIDE, 0},
    {"compress", E_SIDE, 0},
    {"unzip", E_SIDE, 0},
    {"extract", E_NONE, 0},
    {"mark", E_SIDE, 0},
    {"label", E_SIDE, 0},
    {"lock", E_SIDE, 0},
    {"unlock", E_SIDE, 0},
    {"pin", E_SIDE, 0},
    {"star", E_SIDE, 0},
    {"follow", E_SIDE, 0},
    {"like", E_SIDE, 0},
    {"vote", E_SIDE, 0},
    {"subscribe", E_SIDE, 0},
    {"unsubscribe", E_SIDE, 0},
    {"configure", E_SIDE, 0},
    {"config", E_NONE, 0},
    {"reset", E_SIDE, 0},
    {"revert", E_SIDE, 0},
    {"restore", E_SIDE, 0},
    {"transfer", E_SIDE, 0},
    {"record", E_SIDE, 0},
    {"track", E_SIDE, 0},
    {"log", E_SIDE, 0},
    {"navigate", E_SIDE, 0},
    {"click", E_SIDE, 0},
    {"type", E_SIDE, 0},
    {"fill", E_SIDE, 0},
    {"press", E_SIDE, 0},
    {"drag", E_SIDE, 0},
    {"select", E_NONE, 0},
    {"resize", E_SIDE, 0},
    {"scale", E_SIDE, 0},
    {"allocate", E_SIDE, 0},
    {"provision", E_SIDE, 0},
    {"attach", E_SIDE, 0},
    {"detach", E_SIDE, 0},
    {"link", E_SIDE, 0},
    {"tag", E_SIDE, 0},
    {"comment", E_SIDE, 0},
    {"reopen", E_SIDE, 0},
    {"order", E_SIDE, 0},
    {"draft", E_SIDE, 0},
    {"mkdir", E_SIDE, 0},
    {"touch", E_SIDE, 0},
    {"remember", E_SIDE, 0},
    {"forget", E_CRIT, SCAN_CAT_DELETION},
    {"clear", E_CRIT, SCAN_CAT_DELETION},
    {"flush", E_CRIT, SCAN_CAT_DELETION},
    {"run", E_SIDE, 0},
    {"invoke", E_SIDE, 0},
    {"process", E_NONE, 0},
    /* reads */
    {"get", E_READ, 0},
    {"list", E_READ, 0},
    {"read", E_READ, 0},
    {"search", E_READ, 0},
    {"find", E_READ, 0},
    {"fetch", E_READ, 0},
    {"query", E_READ, 0},
    {"describe", E_READ, 0},
    {"show", E_READ, 0},
    {"view", E_READ, 0},
    {"lookup", E_READ, 0},
    {"look", E_READ, 0},
    {"inspect", E_READ, 0},
    {"check", E_READ, 0},
    {"count", E_READ, 0},
    {"info", E_READ, 0},
    {"status", E_READ, 0},
    {"stats", E_READ, 0},
    {"explain", E_READ, 0},
    {"summarize", E_READ, 0},
    {"analyze", E_READ, 0},
    {"validate", E_READ, 0},
    {"verify", E_READ, 0},
    {"compare", E_READ, 0},
    {"diff", E_READ, 0},
    {"preview", E_READ, 0},
    {"browse", E_READ, 0},
    {"download", E_READ, 0},
    {"export", E_READ, 0},
    {"retrieve", E_READ, 0},
    {"scan", E_READ, 0},
    {"cat", E_READ, 0},
    {"ls", E_READ, 0},
    {"grep", E_READ, 0},
    {"echo", E_READ, 0},
    {"ping", E_READ, 0},
    {"whoami", E_READ, 0},
    {"open", E_READ, 0},
    {"print", E_READ, 0},
    {"calculate", E_READ, 0},
    {"compute", E_READ, 0},
    {"sum", E_READ, 0},
    {"convert", E_READ, 0},
    {"format", E_READ, 0},
    {"parse", E_READ, 0},
    {"translate", E_READ, 0},
    {"tree", E_READ, 0},
    {"exists", E_READ, 0},
    {"health", E_READ, 0},
    {"version", E_READ, 0},
    {"help", E_READ, 0},
    {"screenshot", E_READ, 0},
    {"snapshot", E_READ, 0},
    {"wait", E_READ, 0},
    {"return", E_READ, 0},
    {"estimate", E_READ, 0},
    {"recommend", E_READ, 0},
    {"suggest", E_READ, 0},
    {"think", E_READ, 0},
    {"watch", E_READ, 0},
    {"render", E_READ, 0},
    {"resolve", E_READ, 0},
    {"hover", E_READ, 0},
    {"tail", E_READ, 0},
    {"head", E_NONE, 0},
    {"lint", E_READ, 0},
    {"test", E_NONE, 0},
    {"generate", E_NONE, 0},
    {"simulate", E_NONE, 0},
    {"sample", E_NONE, 0},
    {"research", E_READ, 0},
    {"geocode", E_READ, 0},
    {"weather", E_READ, 0},
    {NULL, E_NONE, 0},
};

/* Nouns that make a side effect critical. `any_verb`: critical even next to a
 * read verb (reading secrets exposes them; a shell is a shell). */
struct noun {
    const char *w;
    unsigned cat;
    bool any_verb;
};

static const struct noun nouns[] = {
    {"shell", SCAN_CAT_CODE_EXEC, true},
    {"bash", SCAN_CAT_CODE_EXEC, true},
    {"zsh", SCAN_CAT_CODE_EXEC, true},
    {"powershell", SCAN_CAT_CODE_EXEC, true},
    {"terminal", SCAN_CAT_CODE_EXEC, true},
    {"command", SCAN_CAT_CODE_EXEC, false},
    {"cmd", SCAN_CAT_CODE_EXEC, false},
    {"subprocess", SCAN_CAT_CODE_EXEC, true},
    {"repl", SCAN_CAT_CODE_EXEC, true},
    {"script", SCAN_CAT_CODE_EXEC, false},
    {"code", SCAN_CAT_CODE_EXEC, false},
    {"python", SCAN_CAT_CODE_EXEC, false},
    {"javascript", SCAN_CAT_CODE_EXEC, false},
    {"js", SCAN_CAT_CODE_EXEC, false},
    {"shellcode", SCAN_CAT_CODE_EXEC, true},
    {"backdoor", SCAN_CAT_CODE_EXEC, true},
    {"rootkit", SCAN_CAT_CODE_EXEC, true},
    {"malware", SCAN_CAT_CODE_EXEC, true},
    {"ransomware", SCAN_CAT_CODE_EXEC, true},
    {"keylogger", SCAN_CAT_CREDENTIALS, true},
    {"keystroke", SCAN_CAT_CREDENTIALS, true},
    {"process", SCAN_CAT_CODE_EXEC, false},
    {"payment", SCAN_CAT_MONEY, false},
    {"invoice", SCAN_CAT_MONEY, false},
    {"refund", SCAN_CAT_MONEY, false},
    {"funds", SCAN_CAT_MONEY, false},
    {"money", SCAN_CAT_MONEY, false},
    {"wallet", SCAN_CAT_MONEY, false},
    {"payout", SCAN_CAT_MONEY, false},
    {"subscription", SCAN_CAT_MONEY, false},
    {"charge", SCAN_CAT_MONEY, false},
    {"transaction", SCAN_CAT_MONEY, false},
    {"permission", SCAN_CAT_PERMISSIONS, false},
    {"role", SCAN_CAT_PERMISSIONS, false},
    {"acl", SCAN_CAT_PERMISSIONS, false},
    {"privilege", SCAN_CAT_PERMISSIONS, false},
    {"ownership", SCAN_CAT_PERMISSIONS, false},
    {"collaborator", SCAN_CAT_PERMISSIONS, false},
    {"member", SCAN_CAT_PERMISSIONS, false},
    {"admin", SCAN_CAT_PERMISSIONS, false},
    {"policy", SCAN_CAT_PERMISSIONS, false},
    {"user", SCAN_CAT_PERMISSIONS, false},
    {"secret", SCAN_CAT_CREDENTIALS, true},
    {"password", SCAN_CAT_CREDENTIALS, true},
    {"credential", SCAN_CAT_CREDENTIALS, true},
    {"apikey", SCAN_CAT_CREDENTIALS, true},
    {"passphrase", SCAN_CAT_CREDENTIALS, true},
    {"vault", SCAN_CAT_CREDENTIALS, false},
    {"env", SCAN_CAT_CREDENTIALS, true},
    {"cookie", SCAN_CAT_CREDENTIALS, true},
    {"mfa", SCAN_CAT_CREDENTIALS, false},
    {"otp", SCAN_CAT_CREDENTIALS, true},
    {"email", SCAN_CAT_OUTBOUND, false},
    {"sms", SCAN_CAT_OUTBOUND, false},
    {"message", SCAN_CAT_OUTBOUND, false},
    {"tweet", SCAN_CAT_OUTBOUND, false},
    {"notification", SCAN_CAT_OUTBOUND, false},
    {"webhook", SCAN_CAT_OUTBOUND, false},
    {NULL, 0, false},
};

/* Word pairs: a credential only next to its qualifier ("api key", "access token"). */
struct pair {
    const char *a, *b;
    unsigned cat;
};

static const struct pair pairs[] = {
    {"api", "key", SCAN_CAT_CREDENTIALS},
    {"access", "key", SCAN_CAT_CREDENTIALS},
    {"private", "key", SCAN_CAT_CREDENTIALS},
    {"ssh", "key", SCAN_CAT_CREDENTIALS},
    {"secret", "key", SCAN_CAT_CREDENTIALS},
    {"access", "token", SCAN_CAT_CREDENTIALS},
    {"auth", "token", SCAN_CAT_CREDENTIALS},
    {"api", "token", SCAN_CAT_CREDENTIALS},
    {"refresh", "token", SCAN_CAT_CREDENTIALS},
    {"bearer", "token", SCAN_CAT_CREDENTIALS},
    {"personal", "token", SCAN_CAT_CREDENTIALS},
    {"session", "token", SCAN_CAT_CREDENTIALS},
    {"environment", "variable", SCAN_CAT_CREDENTIALS},
    {"send", "money", SCAN_CAT_MONEY},
    {"transfer", "fund", SCAN_CAT_MONEY},
    {"transfer", "money", SCAN_CAT_MONEY},
    {"transfer", "ownership", SCAN_CAT_PERMISSIONS},
    {"run", "command", SCAN_CAT_CODE_EXEC},
    {"run", "script", SCAN_CAT_CODE_EXEC},
    {"run", "code", SCAN_CAT_CODE_EXEC},
    {"run", "python", SCAN_CAT_CODE_EXEC},
    {"run", "sql", SCAN_CAT_CODE_EXEC},
    {"run", "shell", SCAN_CAT_CODE_EXEC},
    {"system", "command", SCAN_CAT_CODE_EXEC},
    {"add", "user", SCAN_CAT_PERMISSIONS},
    {"set", "role", SCAN_CAT_PERMISSIONS},
    {NULL, NULL, 0},
};

/* Argument names that mean the tool runs what it is given. */
static const char *const exec_args[] = {
    "command",     "cmd",         "shell_command", "bash_command",    "shell",
    "script",      "commandline", "command_line",  "powershell",      "code",
    "python_code", "js_code",     "source_code",   "expression_code", NULL};

static const char *const cat_names[SCAN_CAT_COUNT] = {
    "money", "deletion", "permissions", "credentials", "code-execution", "outbound-message"};

const char *scan_cat_name(unsigned bit)
{
    for (unsigned i = 0; i < SCAN_CAT_COUNT; i++) {
        if (bit == (1u << i))
            return cat_names[i];
    }
    return NULL;
}

size_t classify_words(const char *name, size_t len, char words[][32], size_t max)
{
    size_t n = 0, wl = 0;
    char cur[32];
    for (size_t i = 0; i <= len && n < max; i++) {
        unsigned char c = i < len ? (unsigned char)name[i] : 0;
        bool alnum = c < 0x80 && isalnum(c);
        /* camelCase boundary: lower->Upper, or UPPER->Upper+lower (HTTPServer) */
        bool boundary = false;
        if (alnum && wl > 0 && isupper(c)) {
            unsigned char prev = (unsigned char)name[i - 1];
            unsigned char next = i + 1 < len ? (unsigned char)name[i + 1] : 0;
            if (islower(prev) || isdigit(prev) || (isupper(prev) && islower(next)))
                boundary = true;
        }
        if ((!alnum || boundary) && wl > 0) {
            cur[wl] = '\0';
            memcpy(words[n++], cur, wl + 1);
            wl = 0;
        }
        if (alnum && wl < sizeof(cur) - 1 && n < max)
            cur[wl++] = (char)tolower(c);
    }
    return n;
}

/* Looks a word up with light stemming: exact, then without a plural or
 * third-person "s"/"es", then without "ing"/"ed"/"d". */
static const struct verb *verb_find(const char *w)
{
    char stem[32];
    size_t l = strlen(w);
    for (int pass = 0; pass < 6; pass++) {
        const char *q = w;
        if (pass > 0) {
            static const char *const suf[] = {"", "s", "es", "ing", "ed", "d"};
            size_t sl = strlen(suf[pass]);
            if (l <= sl + 1 || strcmp(w + l - sl, suf[pass]) != 0)
                continue;
            memcpy(stem, w, l - sl);
            stem[l - sl] = '\0';
            q = stem;
        }
        for (const struct verb *v = verbs; v->w != NULL; v++) {
            if (strcmp(v->w, q) == 0)
                return v;
        }
    }
    return NULL;
}

static bool word_is(const char *w, const char *base)
{
    size_t l = strlen(w), bl = strlen(base);
    if (strcmp(w, base) == 0)
        return true;
    /* plurals: keys, secrets, entities (y -> ies) */
    if (l == bl + 1 && w[l - 1] == 's' && strncmp(w, base, bl) == 0)
        return true;
    if (l == bl + 2 && strcmp(w + bl, "es") == 0 && strncmp(w, base, bl) == 0)
        return true;
    return false;
}

static const struct noun *noun_find(const char *w)
{
    for (const struct noun *n = nouns; n->w != NULL; n++) {
        if (word_is(w, n->w))
            return n;
    }
    return NULL;
}

static void reason(struct classify_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reason(struct classify_result *r, const char *fmt, ...)
{
    r->last_kept = r->nreasons < CLASSIFY_MAX_REASONS;
    if (!r->last_kept)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reasons[r->nreasons++], CLASSIFY_REASON_LEN, fmt, ap);
    va_end(ap);
}

/* Attaches a place to the reason just added: the pointer, and the span of
 * `needle` (case-insensitive, at a word start) inside `text` when given. */
static void where(struct classify_result *r, unsigned cats, enum scan_risk risk,
                  const char *pointer, const char *text, size_t tlen, const char *needle)
{
    if (r->nreasons == 0 || !r->last_kept)
        return;
    struct classify_where *w = &r->where[r->nreasons - 1];
    w->cats = cats;
    w->risk = risk;
    str_copy(w->pointer, pointer != NULL ? pointer : "", sizeof(w->pointer));
    if (text == NULL || needle == NULL || *needle == '\0')
        return;
    /* the needle may be "api key" (two words): find its first word */
    char first[64];
    str_copy(first, needle, sizeof(first));
    char *sp = strchr(first, ' ');
    bool pair = sp != NULL;
    if (sp != NULL)
        *sp = '\0';
    const char *p = text;
    size_t left = tlen;
    const char *hit = NULL;
    while (left > 0 && (hit = str_casestr_n(p, left, pair ? first : needle)) != NULL) {
        if (hit == text || !isalpha((unsigned char)hit[-1]) ||
            !!islower((unsigned char)hit[-1]) != !!islower((unsigned char)hit[0]))
            break;
        left -= (size_t)(hit - p) + 1;
        p = hit + 1;
        hit = NULL;
    }
    if (hit == NULL)
        return;
    w->has_span = true;
    w->start = (size_t)(hit - text);
    size_t len = pair ? strlen(first) : strlen(needle);
    if (pair) {
        /* extend over the second word */
        const char *second = sp != NULL ? needle + (sp - first) + 1 : "";
        const char *h2 = str_casestr_n(hit, tlen - w->start, second);
        if (h2 != NULL)
            len = (size_t)(h2 - hit) + strlen(second);
    }
    w->end = w->start + len;
    /* a stemmed word ("deletes") covers its letters */
    while (w->end < tlen && isalpha((unsigned char)text[w->end]) &&
           !isupper((unsigned char)text[w->end]))
        w->end++;
}

const struct classify_where *classify_where_of(const struct classify_result *c, unsigned cat,
                                               enum scan_risk risk, const char **reason)
{
    for (size_t i = 0; i < c->nreasons; i++) {
        bool hit = cat != 0 ? (c->where[i].cats & cat) != 0 : c->where[i].risk == risk;
        if (hit) {
            if (reason != NULL)
                *reason = c->reasons[i];
            return &c->where[i];
        }
    }
    return NULL;
}

static const char *cats_text(unsigned cats, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t used = 0;
    for (unsigned i = 0; i < SCAN_CAT_COUNT; i++) {
        if (!(cats & (1u << i)))
            continue;
        int w = snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", cat_names[i]);
        if (w < 0 || (size_t)w >= outsz - used)
            break;
        used += (size_t)w;
    }
    return out;
}

/* What the words of one identifier (a name, an operationId or a path) say. */
struct evidence {
    bool read, side;
    unsigned cats;
    char read_w[32], side_w[32];
    char crit_w[SCAN_CAT_COUNT][32];
};

static void note_crit(struct evidence *ev, unsigned cat, const char *w)
{
    for (unsigned i = 0; i < SCAN_CAT_COUNT; i++) {
        if ((cat & (1u << i)) && !(ev->cats & (1u << i)))
            str_copy(ev->crit_w[i], w, sizeof(ev->crit_w[i]));
    }
    ev->cats |= cat;
}

/* Verbs that are nouns unless they open the name ("email_user" sends mail,
 * "get_email" reads it). */
static bool verb_nounish(const struct verb *v)
{
    static const char *const nounish[] = {
        "email",   "mail",     "post",       "sms",     "tweet",  "share",  "charge",   "refund",
        "tip",     "login",    "log",        "order",   "record", "type",   "link",     "tag",
        "comment", "label",    "star",       "pin",     "book",   "build",  "transfer", "lock",
        "message", "text",     "call",       "version", "status", "info",   "stats",    "health",
        "tree",    "snapshot", "screenshot", "export",  "import", "sample", "draft",    NULL};
    for (const char *const *n = nounish; *n != NULL; n++) {
        if (strcmp(v->w, *n) == 0)
            return true;
    }
    return false;
}

/* Reads the words of a name: the first verb decides (names are verb_object
 * or object_verb); later verbs count only after "and"/"or"/"then", or when
 * they are critical and the first verb is not a read. Nouns make a side
 * effect critical ("create_payment"), and some are critical next to any verb
 * ("get_secret", "run_shell"). */
static void words_evidence(char words[][32], size_t n, struct evidence *ev, bool is_path)
{
    size_t primary = n;
    const struct verb *pv = NULL;
    bool conj = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(words[i], "and") == 0 || strcmp(words[i], "or") == 0 ||
            strcmp(words[i], "then") == 0)
            conj = true;
    }
    for (size_t i = 0; i < n && !is_path; i++) {
        const struct verb *v = verb_find(words[i]);
        if (v == NULL || v->e == E_NONE || (i > 0 && verb_nounish(v)))
            continue;
        primary = i;
        pv = v;
        break;
    }
    for (size_t i = primary; i < n; i++) {
        const struct verb *v = verb_find(words[i]);
        if (v == NULL || v->e == E_NONE || (i > primary && verb_nounish(v)))
            continue;
        if (i > primary && !conj && !(v->e == E_CRIT && pv->e != E_READ))
            continue;
        if (v->e == E_READ) {
            if (!ev->read)
                str_copy(ev->read_w, words[i], sizeof(ev->read_w));
            ev->read = true;
        } else {
            if (!ev->side)
                str_copy(ev->side_w, words[i], sizeof(ev->side_w));
            ev->side = true;
            if (v->e == E_CRIT)
                note_crit(ev, v->cat, words[i]);
        }
    }
    bool acting = ev->side || (is_path && !ev->read);
    for (size_t i = 0; i < n; i++) {
        const struct noun *nn = noun_find(words[i]);
        if (nn == NULL)
            continue;
        if (nn->cat == SCAN_CAT_OUTBOUND && (ev->cats & SCAN_CAT_DELETION))
            continue; /* delete_message deletes; it sends nothing */
        if (nn->any_verb || acting)
            note_crit(ev, nn->cat, words[i]);
    }
    for (size_t i = 0; i + 1 < n; i++) {
        for (const struct pair *p = pairs; p->a != NULL; p++) {
            if (word_is(words[i], p->a) && word_is(words[i + 1], p->b)) {
                char both[32];
                snprintf(both, sizeof(both), "%.15s %.15s", words[i], words[i + 1]);
                note_crit(ev, p->cat, both);
            }
        }
    }
}

/* Case-insensitive search for a phrase at a word start, not negated by
 * "not"/"never"/"no"/"without" in the few words before it. */
static bool phrase_at(const char *text, size_t len, const char *phrase)
{
    size_t pl = strlen(phrase);
    const char *p = text;
    size_t left = len;
    while (left >= pl) {
        const char *hit = str_casestr_n(p, left, phrase);
        if (hit == NULL)
            return false;
        size_t off = (size_t)(hit - text);
        bool start_ok = off == 0 || !isalnum((unsigned char)text[off - 1]);
        if (start_ok) {
            size_t from = off > 24 ? off - 24 : 0;
            bool neg = str_casestr_n(text + from, off - from, "not ") != NULL ||
                       str_casestr_n(text + from, off - from, "never ") != NULL ||
                       str_casestr_n(text + from, off - from, "n't ") != NULL ||
                       str_casestr_n(text + from, off - from, "without ") != NULL ||
                       str_casestr_n(text + from, off - from, "no ") != NULL;
            if (!neg)
                return true;
        }
        size_t adv = off + 1 - (size_t)(p - text);
        p += adv;
        left -= adv;
    }
    return false;
}

struct phrase {
    const char *p;
    unsigned cat;
};

static const struct phrase desc_phrases[] = {
    {"shell command", SCAN_CAT_CODE_EXEC},
    {"system command", SCAN_CAT_CODE_EXEC},
    {"terminal command", SCAN_CAT_CODE_EXEC},
    {"arbitrary command", SCAN_CAT_CODE_EXEC},
    {"arbitrary code", SCAN_CAT_CODE_EXEC},
    {"execute code", SCAN_CAT_CODE_EXEC},
    {"executes code", SCAN_CAT_CODE_EXEC},
    {"run code", SCAN_CAT_CODE_EXEC},
    {"runs code", SCAN_CAT_CODE_EXEC},
    {"execute python", SCAN_CAT_CODE_EXEC},
    {"executes python", SCAN_CAT_CODE_EXEC},
    {"execute javascript", SCAN_CAT_CODE_EXEC},
    {"execute a command", SCAN_CAT_CODE_EXEC},
    {"executes a command", SCAN_CAT_CODE_EXEC},
    {"execute commands", SCAN_CAT_CODE_EXEC},
    {"executes commands", SCAN_CAT_CODE_EXEC},
    {"run a command", SCAN_CAT_CODE_EXEC},
    {"runs a command", SCAN_CAT_CODE_EXEC},
    {"execute sql", SCAN_CAT_CODE_EXEC},
    {"arbitrary sql", SCAN_CAT_CODE_EXEC},
    {"eval(", SCAN_CAT_CODE_EXEC},
    {"in a shell", SCAN_CAT_CODE_EXEC},
    {"permanently delete", SCAN_CAT_DELETION},
    {"permanently remove", SCAN_CAT_DELETION},
    {"irreversibl", SCAN_CAT_DELETION},
    {"cannot be undone", SCAN_CAT_DELETION},
    {"transfer funds", SCAN_CAT_MONEY},
    {"send money", SCAN_CAT_MONEY},
    {"make a payment", SCAN_CAT_MONEY},
    {"process a payment", SCAN_CAT_MONEY},
    {"charge the", SCAN_CAT_MONEY},
    {"issue a refund", SCAN_CAT_MONEY},
    {"send an email", SCAN_CAT_OUTBOUND},
    {"sends an email", SCAN_CAT_OUTBOUND},
    {"send email", SCAN_CAT_OUTBOUND},
    {"sends email", SCAN_CAT_OUTBOUND},
    {"send a message", SCAN_CAT_OUTBOUND},
    {"sends a message", SCAN_CAT_OUTBOUND},
    {"send messages", SCAN_CAT_OUTBOUND},
    {"send an sms", SCAN_CAT_OUTBOUND},
    {"post a message", SCAN_CAT_OUTBOUND},
    {"posts a message", SCAN_CAT_OUTBOUND},
    {"grant access", SCAN_CAT_PERMISSIONS},
    {"grants access", SCAN_CAT_PERMISSIONS},
    {"change permissions", SCAN_CAT_PERMISSIONS},
    {"changes permissions", SCAN_CAT_PERMISSIONS},
    {"environment variables", SCAN_CAT_CREDENTIALS},
    {"api keys", SCAN_CAT_CREDENTIALS},
    {"private key", SCAN_CAT_CREDENTIALS},
    {"passwords", SCAN_CAT_CREDENTIALS},
    {NULL, 0},
};

/* The first word of a description, as a verb ("Deletes the ..." -> delete). */
static const struct verb *desc_first_verb(const char *d, size_t len, char w[32])
{
    size_t i = 0;
    while (i < len && !isalpha((unsigned char)d[i]))
        i++;
    /* "This tool deletes ..." / "Tool to delete ..." */
    static const char *const lead[] = {
        "this tool ", "tool to ", "use this tool to ", "allows you to ", "lets you ",
        "used to ",   NULL};
    for (const char *const *l = lead; *l != NULL; l++) {
        size_t ll = strlen(*l);
        if (len - i >= ll && strncasecmp(d + i, *l, ll) == 0) {
            i += ll;
            break;
        }
    }
    size_t wl = 0;
    while (i < len && wl < 31 && isalpha((unsigned char)d[i]))
        w[wl++] = (char)tolower((unsigned char)d[i++]);
    w[wl] = '\0';
    return wl > 0 ? verb_find(w) : NULL;
}

static void schema_evidence(const json_t *schema, struct classify_result *r, unsigned *cats,
                            bool exec_context)
{
    json_t *props = json_object_get(schema, "properties");
    if (!json_is_object(props))
        return;
    bool has_amount = false, has_currency = false, has_recipient = false, has_body = false;
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
    {
        char lk[64];
        size_t kl = str_copy(lk, k, sizeof(lk));
        for (size_t i = 0; i < kl && i < sizeof(lk); i++)
            lk[i] = (char)tolower((unsigned char)lk[i]);
        for (const char *const *e = exec_args; *e != NULL; e++) {
            bool weak = strcmp(*e, "code") == 0 || strcmp(*e, "script") == 0;
            if (strcmp(lk, *e) == 0 && (!weak || exec_context) && !(*cats & SCAN_CAT_CODE_EXEC)) {
                *cats |= SCAN_CAT_CODE_EXEC;
                reason(r, "takes a '%s' argument it runs (code-execution)", k);
                char ptr[96], ek[64];
                size_t o = 0;
                for (const char *q = k; *q != '\0' && o + 3 < sizeof(ek); q++) {
                    if (*q == '~' || *q == '/') {
                        ek[o++] = '~';
                        ek[o++] = *q == '~' ? '0' : '1';
                    } else {
                        ek[o++] = *q;
                    }
                }
                ek[o] = '\0';
                snprintf(ptr, sizeof(ptr), "/inputSchema/properties/%s", ek);
                where(r, SCAN_CAT_CODE_EXEC, SCAN_RISK_CRITICAL, ptr, NULL, 0, NULL);
            }
        }
        if (strcmp(lk, "amount") == 0 || strcmp(lk, "amount_cents") == 0)
            has_amount = true;
        if (strcmp(lk, "currency") == 0)
            has_currency = true;
        if (strcmp(lk, "to") == 0 || strcmp(lk, "recipient") == 0 ||
            strcmp(lk, "recipients") == 0 || strcmp(lk, "phone_number") == 0 ||
            strcmp(lk, "chat_id") == 0 || strcmp(lk, "channel") == 0)
            has_recipient = true;
        if (strcmp(lk, "body") == 0 || strcmp(lk, "message") == 0 || strcmp(lk, "text") == 0 ||
            strcmp(lk, "content") == 0 || strcmp(lk, "subject") == 0)
            has_body = true;
    }
    if (has_amount && has_currency && !(*cats & SCAN_CAT_MONEY)) {
        *cats |= SCAN_CAT_MONEY;
        reason(r, "takes 'amount' and 'currency' arguments (money)");
        where(r, SCAN_CAT_MONEY, SCAN_RISK_CRITICAL, "/inputSchema/properties/amount", NULL, 0,
              NULL);
    }
    if (has_recipient && has_body && !(*cats & SCAN_CAT_OUTBOUND)) {
        *cats |= SCAN_CAT_OUTBOUND;
        reason(r, "takes a recipient and a message body (outbound-message)");
        where(r, SCAN_CAT_OUTBOUND, SCAN_RISK_CRITICAL, "/inputSchema/properties", NULL, 0, NULL);
    }
}

static void method_path_evidence(const char *method, const char *path, struct classify_result *r,
                                 bool *read, bool *side, unsigned *cats)
{
    if (method == NULL)
        return;
    if (strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0 ||
        strcasecmp(method, "OPTIONS") == 0 || strcasecmp(method, "TRACE") == 0) {
        *read = true;
        reason(r, "HTTP %s (read)", method);
        where(r, 0, SCAN_RISK_READ_ONLY, "", NULL, 0, NULL);
    } else if (strcasecmp(method, "DELETE") == 0) {
        *side = true;
        *cats |= SCAN_CAT_DELETION;
        reason(r, "HTTP DELETE (deletion)");
        where(r, SCAN_CAT_DELETION, SCAN_RISK_CRITICAL, "", NULL, 0, NULL);
    } else {
        *side = true;
        reason(r, "HTTP %s (changes state)", method);
        where(r, 0, SCAN_RISK_SIDE_EFFECT, "", NULL, 0, NULL);
    }
    if (path == NULL)
        return;
    char words[MAX_WORDS][32];
    size_t n = classify_words(path, strlen(path), words, MAX_WORDS);
    struct evidence ev;
    memset(&ev, 0, sizeof(ev));
    bool reading = !*side;
    for (size_t i = 0; i < n; i++) {
        const struct noun *nn = noun_find(words[i]);
        const struct verb *v = verb_find(words[i]);
        unsigned c = 0;
        if (nn != NULL && (nn->any_verb || !reading))
            c = nn->cat;
        else if (v != NULL && v->e == E_CRIT && !reading)
            c = v->cat;
        if (c == 0 || (*cats & c))
            continue;
        *cats |= c;
        char ct[64];
        reason(r, "path segment '%s' (%s)", words[i], cats_text(c, ct, sizeof(ct)));
        where(r, c, SCAN_RISK_CRITICAL, "", NULL, 0, NULL);
    }
}

static bool ann_bool(const json_t *ann, const char *key, bool *val)
{
    json_t *v = json_object_get(ann, key);
    if (!json_is_boolean(v))
        return false;
    *val = json_is_true(v);
    return true;
}

void classify_tool(const json_t *def, const char *http_method, const char *http_path,
                   struct classify_result *out)
{
    memset(out, 0, sizeof(*out));
    const char *name = json_string_value(json_object_get(def, "name"));
    if (name == NULL)
        name = "";
    size_t dlen = 0;
    const char *desc = json_get_str(def, "description", &dlen);
    if (desc == NULL) {
        desc = "";
        dlen = 0;
    }

    char words[MAX_WORDS][32];
    size_t nw = classify_words(name, strlen(name), words, MAX_WORDS);
    struct evidence ev;
    memset(&ev, 0, sizeof(ev));
    words_evidence(words, nw, &ev, false);

    bool read = ev.read, side = ev.side;
    unsigned cats = 0;
    char ct[96];
    for (unsigned i = 0; i < SCAN_CAT_COUNT; i++) {
        if (ev.cats & (1u << i)) {
            reason(out, "name word '%s' (%s)", ev.crit_w[i], cat_names[i]);
            where(out, 1u << i, SCAN_RISK_CRITICAL, "/name", name, strlen(name), ev.crit_w[i]);
            cats |= 1u << i;
        }
    }
    if (cats == 0 && ev.side)
        reason(out, "name word '%s' (changes state)", ev.side_w);
    if (cats == 0 && ev.side)
        where(out, 0, SCAN_RISK_SIDE_EFFECT, "/name", name, strlen(name), ev.side_w);
    if (cats == 0 && !ev.side && ev.read) {
        reason(out, "name word '%s' (read)", ev.read_w);
        where(out, 0, SCAN_RISK_READ_ONLY, "/name", name, strlen(name), ev.read_w);
    }

    method_path_evidence(http_method, http_path, out, &read, &side, &cats);

    /* the description's opening verb, when the name had none */
    char fw[32];
    const struct verb *dv = desc_first_verb(desc, dlen, fw);
    if (!read && !side && dv != NULL && dv->e != E_NONE) {
        if (dv->e == E_READ) {
            read = true;
            reason(out, "description opens with '%s' (read)", fw);
            where(out, 0, SCAN_RISK_READ_ONLY, "/description", desc, dlen, fw);
        } else {
            side = true;
            if (dv->e == E_CRIT && !(cats & dv->cat)) {
                cats |= dv->cat;
                reason(out, "description opens with '%s' (%s)", fw,
                       cats_text(dv->cat, ct, sizeof(ct)));
                where(out, dv->cat, SCAN_RISK_CRITICAL, "/description", desc, dlen, fw);
            } else {
                reason(out, "description opens with '%s' (changes state)", fw);
                where(out, 0, SCAN_RISK_SIDE_EFFECT, "/description", desc, dlen, fw);
            }
        }
    }
    for (const struct phrase *p = desc_phrases; p->p != NULL; p++) {
        if ((cats & p->cat) || !phrase_at(desc, dlen, p->p))
            continue;
        /* reading secrets is critical; other phrases only matter for actions */
        if (p->cat != SCAN_CAT_CREDENTIALS && p->cat != SCAN_CAT_CODE_EXEC && read && !side)
            continue;
        cats |= p->cat;
        reason(out, "description says \"%s\" (%s)", p->p, cats_text(p->cat, ct, sizeof(ct)));
        where(out, p->cat, SCAN_RISK_CRITICAL, "/description", desc, dlen, p->p);
    }
    bool exec_context = (cats & SCAN_CAT_CODE_EXEC) != 0 || phrase_at(desc, dlen, "execute") ||
                        phrase_at(desc, dlen, "run ") || phrase_at(desc, dlen, "runs ") ||
                        phrase_at(desc, dlen, "eval");
    schema_evidence(json_object_get(def, "inputSchema"), out, &cats, exec_context);

    enum scan_risk risk;
    if (cats != 0)
        risk = SCAN_RISK_CRITICAL;
    else if (side)
        risk = SCAN_RISK_SIDE_EFFECT;
    else if (read)
        risk = SCAN_RISK_READ_ONLY;
    else {
        risk = SCAN_RISK_SIDE_EFFECT;
        reason(out, "nothing shows it is read-only");
        where(out, 0, SCAN_RISK_SIDE_EFFECT, "", NULL, 0, NULL);
    }
    out->evidence_risk = risk;

    /* annotations: raise, never lower; contradictions are mismatches */
    json_t *ann = json_object_get(def, "annotations");
    bool ro = false, destr = false;
    bool has_ro = ann_bool(ann, "readOnlyHint", &ro);
    bool has_destr = ann_bool(ann, "destructiveHint", &destr);
    if (has_ro && !ro && risk == SCAN_RISK_READ_ONLY) {
        risk = SCAN_RISK_SIDE_EFFECT;
        reason(out, "annotations.readOnlyHint is false (the server says it changes state)");
        where(out, 0, SCAN_RISK_SIDE_EFFECT, "/annotations/readOnlyHint", NULL, 0, NULL);
    }
    if (has_destr && destr && !(has_ro && ro) && !(cats & SCAN_CAT_DELETION)) {
        cats |= SCAN_CAT_DELETION;
        risk = SCAN_RISK_CRITICAL;
        reason(out, "annotations.destructiveHint is true (the server says it may destroy data)");
        where(out, SCAN_CAT_DELETION, SCAN_RISK_CRITICAL, "/annotations/destructiveHint", NULL, 0,
              NULL);
    }
    if (has_ro && ro && out->evidence_risk != SCAN_RISK_READ_ONLY) {
        out->mismatch = true;
        str_copy(out->mismatch_hint, "readOnlyHint", sizeof(out->mismatch_hint));
    } else if (has_destr && !destr && (cats & SCAN_CAT_DELETION) &&
               out->evidence_risk == SCAN_RISK_CRITICAL) {
        out->mismatch = true;
        str_copy(out->mismatch_hint, "destructiveHint", sizeof(out->mismatch_hint));
    }
    out->risk = risk;
    out->cats = cats;
}
