/* detect.h - content detectors shared by the result guard and the scanner.
 *
 * A detector set is compiled once (detect_set_new() or the process-wide
 * detect_set_shared()) and is immutable afterwards: any number of threads may
 * scan with it at the same time. A scan takes a string and a context and
 * appends findings to a caller-owned list; nothing else is shared or written.
 *
 * Families (the category of each rule):
 *   secret     private keys, cloud and SaaS tokens, JWTs, passwords in URLs,
 *              values of key=value pairs whose key names a secret;
 *   pii        e-mail addresses, card numbers (Luhn), phone numbers, IBANs,
 *              US social security numbers (only next to the words "SSN"/"social security");
 *   injection  text addressed to the model: overrides, role changes, fake
 *              system tags, concealment, exfiltration, threats, tool
 *              redirection, credential requests, sensitive paths, and (in
 *              tool definitions) parameters that harvest context;
 *   hidden     text a person does not see: Unicode tag characters, bidi
 *              controls, zero-width runs, variation-selector smuggling,
 *              confusable letters, control characters, ANSI/OSC escapes,
 *              long whitespace runs, base64/hex blobs that decode to text.
 *
 * Speed: one byte-level pass finds candidates (known token prefixes, '@',
 * "://", digit runs, ESC, non-ASCII bytes, key=value separators) and a hash
 * of trigger words; the PCRE2 (JIT, match-limited) injection patterns run only
 * in a bounded window around the trigger words they need. See
 * docs/guards-results.md for every rule id, what it catches and its known
 * false positives.
 *
 * Spans are byte offsets [start, end) into the scanned string and always fall
 * on UTF-8 code point boundaries of that string (invalid bytes count as one
 * unit each). Evidence excerpts are safe to log: secrets and PII are masked,
 * control and invisible characters are shown as \uXXXX escapes.
 */
#ifndef MCPWALL_GUARD_DETECT_H
#define MCPWALL_GUARD_DETECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum detect_category {
    DETECT_CAT_SECRET = 0,
    DETECT_CAT_PII,
    DETECT_CAT_INJECTION,
    DETECT_CAT_HIDDEN,
    DETECT_CAT__COUNT
};

/* Ordered: a threshold "medium" keeps medium, high and critical. NONE means
 * the rule does not run in that context. */
enum detect_severity {
    DETECT_SEV_NONE = 0,
    DETECT_SEV_INFO,
    DETECT_SEV_LOW,
    DETECT_SEV_MEDIUM,
    DETECT_SEV_HIGH,
    DETECT_SEV_CRITICAL,
};

/* Where a string comes from; rules weigh the same words differently. */
enum detect_context {
    DETECT_CTX_RESULT = 0, /* text a server returns or sends: tool results, resource
                              contents, prompts, sampling/elicitation requests */
    DETECT_CTX_DEFINITION, /* strings of a tool/prompt/resource definition */
    DETECT_CTX__COUNT
};

/* Stable rule ids (detect_rule_id() gives the string, e.g. "secret.github_token"). */
enum detect_rule {
    /* secrets */
    DR_SECRET_PRIVATE_KEY = 0,
    DR_SECRET_AWS_KEY_ID,
    DR_SECRET_AWS_SECRET_KEY,
    DR_SECRET_GCP_API_KEY,
    DR_SECRET_GOOGLE_OAUTH,
    DR_SECRET_AZURE_KEY,
    DR_SECRET_GITHUB_TOKEN,
    DR_SECRET_GITLAB_TOKEN,
    DR_SECRET_SLACK_TOKEN,
    DR_SECRET_SLACK_WEBHOOK,
    DR_SECRET_STRIPE_KEY,
    DR_SECRET_OPENAI_KEY,
    DR_SECRET_ANTHROPIC_KEY,
    DR_SECRET_VENDOR_TOKEN,
    DR_SECRET_JWT,
    DR_SECRET_URL_PASSWORD,
    DR_SECRET_BEARER,
    DR_SECRET_KEY_VALUE,
    /* PII */
    DR_PII_EMAIL,
    DR_PII_CARD,
    DR_PII_PHONE,
    DR_PII_IBAN,
    DR_PII_SSN,
    /* injected instructions */
    DR_INJ_OVERRIDE,
    DR_INJ_ROLE_CHANGE,
    DR_INJ_SAFETY_BYPASS,
    DR_INJ_PRIVILEGE,
    DR_INJ_SYSTEM_TAG,
    DR_INJ_ADDRESSED_TO_AI,
    DR_INJ_IMPERSONATION,
    DR_INJ_CONCEALMENT,
    DR_INJ_EXFILTRATION,
    DR_INJ_TOOL_CALL,
    DR_INJ_TOOL_SHADOWING,
    DR_INJ_TOOL_REDIRECT,
    DR_INJ_TOOL_REFERENCE,
    DR_INJ_THREAT,
    DR_INJ_PREFERENCE,
    DR_INJ_CREDENTIAL_REQUEST,
    DR_INJ_PRE_TASK,
    DR_INJ_SENSITIVE_PATH,
    DR_INJ_SENSITIVE_READ,
    DR_INJ_EXFIL_PARAM,
    DR_INJ_HIDDEN_COMMENT,
    /* hidden content */
    DR_UNI_TAG_CHARS,
    DR_UNI_BIDI,
    DR_UNI_ZERO_WIDTH,
    DR_UNI_VARIATION_SELECTOR,
    DR_UNI_CONFUSABLE,
    DR_UNI_CONTROL,
    DR_ANSI_CSI,
    DR_ANSI_OSC,
    DR_ANSI_ESCAPE,
    DR_HIDDEN_WHITESPACE,
    DR_HIDDEN_ENCODED_TEXT,
    DR_HIDDEN_ENCODED_INSTRUCTIONS,
    DR__COUNT
};

struct detect_rule_info {
    const char *id;                 /* "secret.github_token" */
    enum detect_category category;
    enum detect_severity severity[DETECT_CTX__COUNT]; /* default per context */
    const char *summary;            /* one line for reports and docs */
};

const struct detect_rule_info *detect_rule_info(enum detect_rule r);
const char *detect_rule_id(enum detect_rule r);
/* Finds a rule by its id; -1 when unknown. */
int detect_rule_lookup(const char *id, enum detect_rule *out);
const char *detect_category_name(enum detect_category c); /* "secret" ... */
int detect_category_lookup(const char *name, enum detect_category *out);
const char *detect_severity_name(enum detect_severity s); /* "none" ... "critical" */
int detect_severity_lookup(const char *name, enum detect_severity *out);

#define DETECT_EVIDENCE_MAX 120

/* finding flags */
#define DETECT_F_QUOTED 0x1u /* the phrase is quoted or discussed ("such as ..."): severity lowered */
#define DETECT_F_KEY    0x2u /* found in an object key or a parameter name, not a value */

struct detect_finding {
    enum detect_rule rule;
    enum detect_category category;
    enum detect_severity severity; /* for this context, after downgrades */
    size_t start, end;             /* byte span in the scanned string */
    unsigned flags;                /* DETECT_F_* */
    char *pointer;                 /* RFC 6901 pointer of the string (walkers), else NULL;
                                      owned by the list */
    char evidence[DETECT_EVIDENCE_MAX]; /* NUL-terminated, safe to log */
};

/* A growable list of findings with a budget: past `max` findings are counted
 * in `dropped` instead of stored. */
struct detect_list {
    struct detect_finding *v;
    size_t n, cap, max;
    size_t dropped;
};

#define DETECT_LIST_DEFAULT_MAX 512

void detect_list_init(struct detect_list *l, size_t max);
void detect_list_free(struct detect_list *l);
void detect_list_clear(struct detect_list *l);
/* Highest severity in the list (NONE when empty). */
enum detect_severity detect_list_max_severity(const struct detect_list *l);
/* Number of findings of rule r. */
size_t detect_list_count(const struct detect_list *l, enum detect_rule r);

struct detect_set;

/* Compiles every pattern (PCRE2; a pattern's JIT code, where PCRE2 has JIT,
 * is made when it first runs, so a process carries only the code of the
 * patterns its texts reached). Returns NULL and a message in err on failure
 * (a build defect, not bad input). */
struct detect_set *detect_set_new(char *err, size_t errlen);
void detect_set_free(struct detect_set *ds);
/* A process-wide set built on first use (thread-safe); never freed. Aborts
 * with fatalx() if the built-in patterns fail to compile. */
const struct detect_set *detect_set_shared(void);

/* Largest string a scan looks at; longer input is scanned up to this many
 * bytes (the caller caps result sizes before scanning). */
#define DETECT_MAX_SCAN (16u * 1024u * 1024u)

/* Scans text[0, len) (any bytes; invalid UTF-8 is tolerated) and appends
 * findings, sorted by start, to out. `pointer` (may be NULL) is copied into
 * each finding. Returns 0, or -1 when memory ran out (what was found so far
 * stays in the list). */
int detect_scan_text(const struct detect_set *ds, enum detect_context ctx, const char *text,
                     size_t len, const char *pointer, struct detect_list *out);

/* Options for tool definitions. other_tools: names of tools served by OTHER
 * servers (the scanner knows them); a description that names one of them is
 * reported as inject.tool_reference. May be NULL. */
struct detect_tool_opts {
    const char *const *other_tools;
    size_t n_other_tools;
};

/* Scans a whole tool definition (a tools/list entry) in the definition
 * context: name, title, description, every string and key of inputSchema,
 * outputSchema, annotations, _meta and any other member. Parameter names are
 * checked for context harvesting (inject.exfil_param). Each finding carries
 * the JSON pointer of the string it was found in (for a key: the pointer of
 * the member, with DETECT_F_KEY). Works for prompt and resource definitions
 * too. Returns 0 or -1 (memory). */
int detect_scan_tool(const struct detect_set *ds, const json_t *tool,
                     const struct detect_tool_opts *opt, struct detect_list *out);

/* The kinds of server-originated payloads the guard inspects. */
enum detect_payload {
    DETECT_P_TOOL_RESULT = 0, /* tools/call result: content[], structuredContent */
    DETECT_P_RESOURCE_READ,   /* resources/read result: contents[].text */
    DETECT_P_PROMPT_GET,      /* prompts/get result: description, messages[] */
    DETECT_P_SAMPLING,        /* sampling/createMessage request params */
    DETECT_P_ELICITATION,     /* elicitation/create request params */
    DETECT_P_INITIALIZE,      /* initialize result: instructions */
    DETECT_P_ERROR,           /* a JSON-RPC error object: message, data */
    DETECT_P_ANY,             /* every string value of the object */
    DETECT_P__COUNT
};

/* Maps a method to the payload kind: request=false for a result of that
 * method, true for a server->client request's params. Unknown -> DETECT_P_ANY. */
enum detect_payload detect_payload_of(const char *method, bool request);
const char *detect_payload_name(enum detect_payload k);

/* One string of a payload that the walker visits. */
struct detect_slot {
    json_t *parent;       /* object or array holding the string */
    const char *key;      /* member name when parent is an object, else NULL */
    size_t index;         /* element index when parent is an array */
    json_t *value;        /* the string */
    const char *pointer;  /* RFC 6901 pointer from the payload root */
    bool text;            /* model-visible text (content text, message text,
                             resource text, instructions); false for
                             structuredContent and other data strings */
};

/* Returns 0 to continue, non-zero to stop the walk (returned by the walker). */
typedef int (*detect_slot_fn)(void *ud, const struct detect_slot *slot);

/* Visits every string of `payload` (the "result" object, the request's
 * "params", or the "error" object) that the model or the user will read, in
 * document order. Depth is capped at 64. Strings may be replaced by the
 * callback through slot->parent (json_object_set / json_array_set) - the walk
 * does not revisit them. Returns 0, the callback's non-zero value, or -1 on
 * memory failure. */
int detect_walk_payload(json_t *payload, enum detect_payload kind, detect_slot_fn fn, void *ud);

/* Scans every slot of a payload in the result context; findings carry the
 * slot pointers. Returns 0 or -1 (memory). */
int detect_scan_payload(const struct detect_set *ds, const json_t *payload,
                        enum detect_payload kind, struct detect_list *out);

#endif
