/* scan.h - the scanner's model: what was scanned (servers and their tools,
 * prompts and resources), the risk class of each, the findings, and the
 * summary and score the reports print.
 *
 * Flow (cli/cmd_scan.c): collectors (collect_*.c, openapi.c, hostcfg.c) fill a
 * struct scan_report with servers and items; scan_analyze() classifies every
 * item, runs the detectors, estimates token cost, looks for collisions and
 * computes the summary and score; report_*.c write it out.
 *
 * Ownership: the report owns everything reachable from it; strings are
 * malloc'd copies, JSON definitions are owned references. Nothing here does
 * I/O except the collectors.
 */
#ifndef MCPWALL_SCAN_SCAN_H
#define MCPWALL_SCAN_SCAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"
#include "util/hash.h"

/* Version of the JSON report schema (docs/scan.md, docs/scan-report.schema.json). */
#define SCAN_REPORT_SCHEMA  "mcpwall-scan-report/1"
#define SCAN_REPORT_VERSION 1

/* Budgets for what one server may make us hold. */
#define SCAN_MAX_ITEMS_PER_SERVER 10000u
#define SCAN_MAX_SERVERS          1000u
#define SCAN_MAX_FINDINGS         100000u
#define SCAN_MAX_EVIDENCE         160u /* bytes of an evidence excerpt */

enum scan_sev {
    SCAN_SEV_INFO = 0,
    SCAN_SEV_LOW,
    SCAN_SEV_MEDIUM,
    SCAN_SEV_HIGH,
    SCAN_SEV_CRITICAL,
};
#define SCAN_SEV_COUNT 5
const char *scan_sev_name(enum scan_sev s);
/* "info|low|medium|high|critical" (also "none" -> -1 meaning never). 0 / -1. */
int scan_sev_parse(const char *s, enum scan_sev *out);

enum scan_risk { SCAN_RISK_READ_ONLY = 0, SCAN_RISK_SIDE_EFFECT, SCAN_RISK_CRITICAL };
#define SCAN_RISK_COUNT 3
const char *scan_risk_name(enum scan_risk r); /* read-only, side-effect, critical */

/* What makes a side effect critical (bits of scan_item.cats). */
#define SCAN_CAT_MONEY       (1u << 0)
#define SCAN_CAT_DELETION    (1u << 1)
#define SCAN_CAT_PERMISSIONS (1u << 2)
#define SCAN_CAT_CREDENTIALS (1u << 3)
#define SCAN_CAT_CODE_EXEC   (1u << 4)
#define SCAN_CAT_OUTBOUND    (1u << 5)
#define SCAN_CAT_COUNT       6
/* Name of one category bit ("money", "deletion", "permissions", "credentials",
 * "code-execution", "outbound-message"); NULL for anything else. */
const char *scan_cat_name(unsigned bit);

enum scan_kind { SCAN_KIND_TOOL = 0, SCAN_KIND_PROMPT, SCAN_KIND_RESOURCE, SCAN_KIND_TEMPLATE };
const char *scan_kind_name(enum scan_kind k); /* tool, prompt, resource, resource-template */

enum scan_transport {
    SCAN_TR_NONE = 0, /* listed in a host config, not connected */
    SCAN_TR_STDIO,
    SCAN_TR_HTTP,
    SCAN_TR_FILE,    /* a saved tools/list result or capture */
    SCAN_TR_OPENAPI, /* tools derived from an OpenAPI document */
};
const char *scan_transport_name(enum scan_transport t);

/* A position in a file (1-based; line 0 = unknown). */
struct scan_srcpos {
    const char *file; /* interned in the report (scan_intern) */
    uint32_t line;
    uint32_t col;
};

struct scan_item {
    enum scan_kind kind;
    char *name;  /* tool/prompt name; resource uri; template uriTemplate */
    json_t *def; /* owned: the definition as received */
    enum scan_risk risk;
    unsigned cats;  /* SCAN_CAT_* */
    char **reasons; /* why this class, one sentence each */
    size_t nreasons;
    size_t tokens;                 /* estimated tokens of the definition */
    char hash[SHA256_HEX_LEN + 1]; /* pins_hash_def() of def ("" for resources) */
    char *http_method;             /* OpenAPI: "GET" ...; NULL otherwise */
    char *http_path;               /* OpenAPI: "/pets/{id}" */
    struct scan_srcpos pos;        /* where def sits in a file, when it came from one */
    bool def_in_doc;               /* def is a node of the server's document, so positions of
                                      its strings can be looked up (not so for OpenAPI tools) */
    size_t nfindings;              /* filled by scan_analyze */
    enum scan_sev worst;
    /* policy evaluation (scan_policy_eval), meaningful when report->policy_done */
    bool pol_allowed;  /* some identity may call it */
    bool pol_everyone; /* allowed to every identity (no restriction) */
    bool pol_approval; /* an approval rule covers it */
    bool pol_audited;  /* calls are audited */
};

struct scan_server {
    char *name;
    char *target; /* command line, URL or file as given */
    enum scan_transport transport;
    json_t *init; /* owned: the initialize result, or NULL */
    char *error;  /* why collection failed (NULL when it worked) */
    struct scan_item *items;
    size_t nitems, cap;
    size_t tokens; /* sum of the tools' estimates */
    /* host configuration this server came from (NULL when none) */
    char *host;                /* "claude-desktop", "cursor", ... */
    struct scan_srcpos cfgpos; /* its entry in that file */
    json_t *cfg;               /* owned: the config entry ({command,args,env,url,...}) */
    const struct cfg_doc *doc; /* borrowed from report->docs: the file the items or the
                                  config entry came from (positions), or NULL */
    bool pinned;               /* scan_pins_check found it in the lockfile */
};

struct scan_loc {
    int server;    /* index in report->servers, -1 when none */
    int item;      /* index in that server's items, -1 when none */
    char *pointer; /* RFC 6901 pointer inside the item's definition or
                      the config entry; NULL when none */
    bool has_span;
    size_t start, end;      /* byte span [start, end) of the evidence inside the
                               string at `pointer` */
    struct scan_srcpos pos; /* physical location (config file, capture file) */
    char *uri;              /* target URL or command for findings about a server */
};

struct scan_finding {
    const char *rule; /* interned rule id */
    enum scan_sev sev;
    char *message;        /* one sentence about this occurrence */
    char *evidence;       /* safe excerpt (control characters escaped), or NULL */
    const char *fix;      /* interned */
    const char *category; /* interned, e.g. "poisoning", "config", "http" */
    struct scan_loc loc;
};

/* One deduction of the score. */
struct scan_deduction {
    const char *rule;
    enum scan_sev sev;
    size_t count;
    int points;
    char *why;
};

struct scan_summary {
    size_t servers, servers_failed;
    size_t tools, prompts, resources, templates;
    size_t by_risk[SCAN_RISK_COUNT]; /* tools only */
    size_t by_cat[SCAN_CAT_COUNT];   /* tools only */
    size_t findings_by_sev[SCAN_SEV_COUNT];
    size_t tokens;
    /* with a policy (otherwise the counts below are 0 and policy_done false) */
    size_t missing_permissions; /* tools allowed to every identity */
    size_t audited;             /* tools whose calls are audited */
    size_t critical_with_approval;
    size_t with_approval;
};

struct scan_options {
    size_t token_budget_server; /* 0 = no check */
    size_t token_budget_total;
};
#define SCAN_DEFAULT_TOKEN_BUDGET_SERVER 10000u
#define SCAN_DEFAULT_TOKEN_BUDGET_TOTAL  30000u

struct scan_report {
    struct scan_server *servers;
    size_t nservers, cap;
    struct scan_finding *findings;
    size_t nfindings, fcap;
    size_t dropped_findings; /* beyond SCAN_MAX_FINDINGS */
    char **interned;         /* owned strings referenced by const char * */
    size_t ninterned, icap;
    struct cfg_doc **docs; /* owned: files read, kept for positions */
    size_t ndocs, dcap;
    json_t *targets; /* array of strings: what the user asked to scan */
    json_t *configs; /* array of {host, file, servers} host configs read */
    struct scan_options opt;
    struct scan_summary sum;
    int score;
    struct scan_deduction *ded;
    size_t nded;
    bool policy_done; /* a policy was evaluated */
    char *policy_file;
    json_t *policy_notes; /* array of strings: what the policy evaluation could not tell */
    char started[32];     /* RFC 3339 */
};

void scan_report_init(struct scan_report *r);
void scan_report_free(struct scan_report *r);

/* Keeps a copy of s for the life of the report and returns it (NULL on OOM). */
const char *scan_intern(struct scan_report *r, const char *s);

/* Keeps a loaded document for the life of the report (takes ownership).
 * Returns it, or NULL (and frees it) on OOM. */
const struct cfg_doc *scan_keep_doc(struct scan_report *r, struct cfg_doc *doc);
/* Fills the file positions of findings that have a server and a pointer but
 * no position, from the server's document (definitions read from a file, or
 * the host config entry). */
void scan_resolve_positions(struct scan_report *r);
/* Resolves an RFC 6901 pointer inside v; NULL when it does not exist. Sets
 * *parent and *key or *index to where the value sits (key NULL for arrays). */
const json_t *scan_pointer_get(const json_t *v, const char *pointer, const json_t **parent,
                               char *key, size_t keysz, size_t *index);

/* Adds a server; returns its index or -1 (OOM, or SCAN_MAX_SERVERS reached).
 * name/target are copied. */
int scan_add_server(struct scan_report *r, const char *name, const char *target,
                    enum scan_transport tr);
/* Sets a server's collection error (formatted). */
void scan_server_fail(struct scan_report *r, int server, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds an item to a server; takes a new reference to def. Returns the item or
 * NULL (OOM, budget, or a def without the member that names it). */
struct scan_item *scan_add_item(struct scan_report *r, int server, enum scan_kind kind,
                                json_t *def);
/* Adds every element of a list result (tools, prompts, resources or
 * resourceTemplates array) to the server. Returns the number added. */
size_t scan_add_items(struct scan_report *r, int server, enum scan_kind kind, const json_t *arr);

/* Records a finding. `rule` must be in the catalogue (findings.c) or be a
 * detector rule registered with scan_rule_register(); sev < 0 takes the
 * rule's default. Returns the finding (to add a location) or NULL when the
 * budget is exhausted. The message is formatted. */
struct scan_finding *scan_add_finding(struct scan_report *r, const char *rule, int sev, int server,
                                      int item, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Location helpers for the finding just added. */
void scan_finding_pointer(struct scan_report *r, struct scan_finding *f, const char *pointer);
void scan_finding_span(struct scan_finding *f, size_t start, size_t end);
/* Copies an excerpt of s[0,n) into the evidence, escaping control characters,
 * invisible and bidi characters as \u{XXXX}, and cutting at SCAN_MAX_EVIDENCE
 * bytes on a character boundary ("…" marks the cut). */
void scan_finding_evidence(struct scan_finding *f, const char *s, size_t n);
/* True for code points a report must not print raw: C0/C1 controls, DEL,
 * zero-width and invisible characters, bidi controls, tag characters,
 * variation selectors. */
bool scan_cp_hidden(uint32_t cp);
void scan_finding_pos(struct scan_report *r, struct scan_finding *f, const char *file,
                      uint32_t line, uint32_t col);

/* ---- the rule catalogue (findings.c) -------------------------------------- */

struct scan_rule {
    const char *id;       /* e.g. "tool.code-execution" */
    const char *category; /* poisoning, risk, server, http, config, supply-chain, cost, pins */
    enum scan_sev sev;    /* default severity */
    const char *title;    /* short name */
    const char *fix;      /* what to do about it */
};

/* Looks a rule up (scanner rules and registered detector rules). */
const struct scan_rule *scan_rule_find(const char *id);
/* The scanner's own rules, terminated by a NULL id. */
extern const struct scan_rule scan_rules[];
/* Registers a detector rule at run time (copied). 0 / -1. */
int scan_rule_register(const char *id, const char *category, enum scan_sev sev, const char *title,
                       const char *fix);
/* Rules used by the report's findings, in a stable order (for SARIF). Returns
 * a malloc'd array of n pointers. */
const struct scan_rule **scan_rules_used(const struct scan_report *r, size_t *n);

/* ---- analysis (analyze.c) ------------------------------------------------- */

/* Classifies every item, runs the detectors over every definition, estimates
 * tokens, finds cross-server collisions, then computes summary and score.
 * Idempotent per item (call once after collection). */
void scan_analyze(struct scan_report *r);
/* Recomputes summary and score (after findings were added later, e.g. pins). */
void scan_summarize(struct scan_report *r);

/* The exit status for CI: 1 when a finding at or above `fail_on` exists,
 * else 0. fail_on < 0 never fails. */
int scan_exit_status(const struct scan_report *r, int fail_on);

#endif
