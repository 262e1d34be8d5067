/* mcp-security-tools - a secure operations MCP server on mcpwall's kit:
 *   query_logs(log_path, pattern, max_lines)   bounded PCRE2 search of configured logs
 *   check_ip_reputation(ip)                    local CIDR reputation lists
 *   the configured log files as read-only resources
 * with per-tool rate limits, an audit record per call (secrets redacted) and
 * errors that leak no internals. See docs/security-tools.md.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "ipcheck.h"
#include "kit/kit.h"
#include "logsearch.h"
#include "redact.h"
#include "reputation.h"
#include "st_config.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#ifndef ST_DEFAULT_CONFIG
#define ST_DEFAULT_CONFIG "examples/demo/security-tools.yaml"
#endif

#define ST_DEFAULT_MAX_LINES 100
#define ST_SLICE_US          10000 /* search work per loop turn */

struct bucket {
    const char *tool;
    double tokens, cap, per_us_rate; /* tokens per microsecond */
    uint64_t last;
};

struct st_app {
    struct st_config cfg;
    struct logset logs;
    struct rep_db *rep;
    struct audit_log *audit;
    struct bucket *buckets;
    size_t nbuckets;
    struct kit_server *srv;
};

/* ---- rate limits ------------------------------------------------------- */

static struct bucket *bucket_for(struct st_app *a, const char *tool)
{
    for (size_t i = 0; i < a->nbuckets; i++)
        if (strcmp(a->buckets[i].tool, tool) == 0)
            return &a->buckets[i];
    return NULL;
}

/* 0 when a token was taken; otherwise the wait in ms until one is available. */
static uint64_t bucket_take(struct bucket *b)
{
    uint64_t now = mono_us();
    b->tokens += (double)(now - b->last) * b->per_us_rate;
    if (b->tokens > b->cap)
        b->tokens = b->cap;
    b->last = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    double wait_us = (1.0 - b->tokens) / b->per_us_rate;
    return (uint64_t)(wait_us / 1000.0) + 1;
}

static int gate(struct kit_call *c, const char *tool, const json_t *args, void *ud)
{
    (void)args;
    struct st_app *a = ud;
    struct bucket *b = bucket_for(a, tool);
    if (b == NULL)
        return 0;
    uint64_t wait_ms = bucket_take(b);
    if (wait_ms == 0)
        return 0;
    const struct st_rate *r = NULL;
    for (size_t i = 0; i < a->cfg.nrates; i++)
        if (strcmp(a->cfg.rates[i].tool, tool) == 0)
            r = &a->cfg.rates[i];
    const char *per = r == NULL                      ? "period"
                      : r->per_us == 1000000ull      ? "second"
                      : r->per_us == 60 * 1000000ull ? "minute"
                                                     : "hour";
    kit_call_fail_data(c, -32005, "rate_limited",
                       json_pack("{s:I}", "retryAfterMs", (json_int_t)wait_ms),
                       "Rate limit exceeded for tool %s: at most %u calls per %s; retry in %llu ms",
                       tool, r != NULL ? r->count : 0, per, (unsigned long long)wait_ms);
    return -1;
}

/* ---- audit ----------------------------------------------------------------- */

static bool reason_is_refusal(const char *r)
{
    static const char *const refusals[] = {"rate_limited", "invalid_arguments", "path_refused",
                                           "invalid_ip",   "reserved_ip",       "bad_pattern"};
    if (r == NULL)
        return false;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
        if (strcmp(r, refusals[i]) == 0)
            return true;
    return false;
}

static void on_record(const struct kit_call_record *r, void *ud)
{
    struct st_app *a = ud;
    if (a->audit == NULL)
        return;
    bool refused = reason_is_refusal(r->reason);
    const char *outcome = r->outcome == KIT_OK           ? "ok"
                          : r->outcome == KIT_CANCELLED ? "cancelled"
                          : refused                     ? "refused"
                                                        : "error";
    json_t *args = r->args != NULL ? redact_json(r->args) : NULL;
    json_t *result = r->result != NULL ? redact_json(r->result) : NULL;
    json_t *extra = json_object();
    const char *client = json_string_value(json_object_get(r->client_info, "name"));
    if (client != NULL)
        json_object_set_new(extra, "client", json_string(client));
    if (r->message != NULL) {
        json_t *m = json_string(r->message);
        json_t *rm = m != NULL ? redact_json(m) : NULL;
        json_decref(m);
        if (rm != NULL)
            json_object_set_new(extra, "message", rm);
    }
    const char *kind = strcmp(r->method, "tools/call") == 0      ? "tool"
                       : strcmp(r->method, "prompts/get") == 0   ? "prompt"
                       : strcmp(r->method, "resources/read") == 0 ? "resource"
                                                                  : NULL;
    struct audit_rec ar = {
        .event = "decision",
        .session = r->session,
        .dir = "c2s",
        .kind = "request",
        .method = r->method,
        .target_kind = kind,
        .target = r->name,
        .decision = refused ? "deny" : "allow",
        .reason = r->reason,
        .outcome = outcome,
        .error_code = r->outcome == KIT_RPC_ERROR ? r->code : 0,
        .latency_us = r->duration_us,
        .have_latency = true,
        .args = args,
        .result = result,
        .extra = extra,
    };
    if (audit_append(a->audit, &ar) < 0 || audit_flush(a->audit) < 0)
        log_warnx("audit: a record could not be written");
    json_decref(args);
    json_decref(result);
    json_decref(extra);
}

static void audit_event(struct st_app *a, const char *event)
{
    if (a->audit == NULL)
        return;
    struct audit_rec ar = {.event = event};
    audit_append(a->audit, &ar);
    audit_flush(a->audit);
}

/* ---- query_logs ------------------------------------------------------------- */

struct qjob {
    struct st_app *app;
    struct kit_call *call;
    struct logsearch *s;
    struct event *ev;
    char *path;
};

static void qjob_free(struct qjob *j)
{
    if (j->ev != NULL)
        event_free(j->ev);
    logsearch_free(j->s);
    free(j->path);
    free(j);
}

static void qjob_cancel(struct kit_call *c, void *ud)
{
    qjob_free(ud);
    kit_call_tool_text(c, "cancelled"); /* not sent: the kit drops it */
}

static void qjob_finish(struct qjob *j)
{
    struct kit_call *c = j->call;
    json_t *res = logsearch_result(j->s);
    if (res == NULL) {
        qjob_free(j);
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    json_object_set_new(res, "log_path", json_string(j->path));
    struct buf t;
    buf_init(&t, 8u * 1024u * 1024u);
    const json_t *m = json_object_get(res, "matches");
    buf_printf(&t, "%zu matching line%s in %s (%lld lines scanned, stopped by %s)", json_array_size(m),
               json_array_size(m) == 1 ? "" : "s", j->path,
               json_integer_value(json_object_get(res, "lines_scanned")),
               json_string_value(json_object_get(res, "stopped_by")));
    size_t i;
    const json_t *x;
    json_array_foreach(m, i, x) {
        buf_printf(&t, "\n%lld: %s", json_integer_value(json_object_get(x, "line")),
                   json_string_value(json_object_get(x, "text")));
    }
    buf_cstr(&t);
    qjob_free(j);
    kit_call_tool_structured(c, res, buf_used(&t) > 0 ? buf_head(&t) : "");
    buf_free(&t);
}

static void qjob_run(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct qjob *j = arg;
    char err[300];
    enum logsearch_status st = logsearch_step(j->s, ST_SLICE_US, err, sizeof(err));
    if (st == LS_MORE) {
        struct timeval tv = {0, 0};
        evtimer_add(j->ev, &tv); /* let other events run, then go on */
        return;
    }
    if (st == LS_FAILED) {
        struct kit_call *c = j->call;
        qjob_free(j);
        kit_call_set_reason(c, "pattern_limit");
        kit_call_tool_error(c, "%s", err);
        return;
    }
    qjob_finish(j);
}

static void tool_query_logs(struct kit_call *c, const json_t *args, void *ud)
{
    struct st_app *a = ud;
    const json_t *jp = json_object_get(args, "log_path");
    const json_t *jpat = json_object_get(args, "pattern");
    const json_t *jmax = json_object_get(args, "max_lines");
    unsigned max_lines = ST_DEFAULT_MAX_LINES;
    if (jmax != NULL)
        max_lines = (unsigned)json_integer_value(jmax);
    if (max_lines > a->cfg.max_lines)
        max_lines = a->cfg.max_lines;
    if (max_lines == 0)
        max_lines = 1;
    char msg[300];
    int idx = logset_resolve(&a->logs, json_string_value(jp), json_string_length(jp), msg,
                             sizeof(msg));
    if (idx < 0) {
        kit_call_set_reason(c, "path_refused");
        kit_call_tool_error(c, "%s", msg);
        return;
    }
    int fd = logset_open(&a->logs, (size_t)idx);
    if (fd < 0) {
        log_warn("query_logs: cannot open %s", a->logs.f[idx].path);
        kit_call_tool_error(c, "The log file cannot be read right now");
        return;
    }
    const struct logsearch_opts o = {
        .match_limit = a->cfg.match_limit,
        .depth_limit = a->cfg.depth_limit,
        .heap_limit_kib = (uint32_t)(a->cfg.heap_limit / 1024 > 0 ? a->cfg.heap_limit / 1024 : 1),
        .timeout_us = a->cfg.search_timeout_us,
        .max_output = a->cfg.max_output,
        .max_line_len = a->cfg.max_line_len,
        .max_pattern = a->cfg.max_pattern,
        .max_scan_line = a->cfg.max_scan_line,
        .redact = a->cfg.redact_output,
    };
    struct qjob *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        close(fd);
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    j->app = a;
    j->call = c;
    j->path = strdup(a->logs.f[idx].path);
    j->s = logsearch_new(fd, json_string_value(jpat), json_string_length(jpat), max_lines, &o, msg,
                         sizeof(msg));
    j->ev = evtimer_new(kit_call_base(c), qjob_run, j);
    if (j->s == NULL || j->ev == NULL || j->path == NULL) {
        bool bad_pattern = j->s == NULL;
        qjob_free(j);
        if (bad_pattern) {
            kit_call_set_reason(c, "bad_pattern");
            kit_call_tool_error(c, "%s", msg);
        } else {
            kit_call_fail(c, -32603, "Internal error");
        }
        return;
    }
    kit_call_on_cancel(c, qjob_cancel, j);
    qjob_run(-1, 0, j);
}

/* ---- check_ip_reputation ---------------------------------------------------- */

static void tool_check_ip(struct kit_call *c, const json_t *args, void *ud)
{
    struct st_app *a = ud;
    const json_t *jip = json_object_get(args, "ip");
    struct ip_check chk;
    ip_check(json_string_value(jip), json_string_length(jip), &chk);
    if (chk.verdict != IP_PUBLIC) {
        kit_call_set_reason(c, chk.verdict == IP_INVALID ? "invalid_ip" : "reserved_ip");
        kit_call_tool_error(c, "%s", chk.msg);
        return;
    }
    char shown[64];
    ip_format(&chk.addr, shown, sizeof(shown));
    struct rep_match m[REP_MAX_LISTS];
    size_t n = rep_db_lookup(a->rep, &chk.addr, m, REP_MAX_LISTS);
    json_t *matches = json_array();
    struct buf t;
    buf_init(&t, 64 * 1024);
    if (n == 0)
        buf_printf(&t, "%s is not listed in any of the %zu reputation list%s", shown,
                   a->cfg.nlists, a->cfg.nlists == 1 ? "" : "s");
    else
        buf_printf(&t, "%s is listed:", shown);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(matches, json_pack("{s:s, s:s, s:s}", "list", m[i].list,
                                                 "category", m[i].category, "network",
                                                 m[i].network));
        buf_printf(&t, "\n- %s: %s (%s)", m[i].list, m[i].category, m[i].network);
    }
    buf_cstr(&t);
    json_t *res = json_pack("{s:s, s:b, s:o, s:I}", "ip", chk.text, "listed", n > 0, "matches",
                            matches, "lists_checked", (json_int_t)a->cfg.nlists);
    if (chk.embedded_v4 && res != NULL)
        json_object_set_new(res, "ipv4", json_string(shown));
    kit_call_tool_structured(c, res, buf_head(&t));
    buf_free(&t);
}

/* ---- log files as resources ---------------------------------------------------- */

static void read_log(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)vars;
    struct st_app *a = ud;
    size_t idx = a->logs.n;
    for (size_t i = 0; i < a->logs.n; i++)
        if (strcmp(a->logs.f[i].uri, uri) == 0)
            idx = i;
    int fd = idx < a->logs.n ? logset_open(&a->logs, idx) : -1;
    if (fd < 0) {
        if (idx < a->logs.n)
            log_warn("resources/read: cannot open %s", a->logs.f[idx].path);
        kit_call_fail(c, -32603, "The log file cannot be read right now");
        return;
    }
    struct stat sb;
    size_t want = (size_t)a->cfg.resource_max;
    off_t start = 0;
    if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > want)
        start = sb.st_size - (off_t)want;
    char *data = malloc(want + 1);
    size_t got = 0;
    if (data != NULL) {
        while (got < want) {
            ssize_t r = pread(fd, data + got, want - got, start + (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
    }
    close(fd);
    if (data == NULL) {
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    /* Serving the end of a long file: begin at a line boundary. */
    size_t from = 0;
    if (start > 0) {
        char *nl = memchr(data, '\n', got);
        from = nl != NULL ? (size_t)(nl - data) + 1 : got;
    }
    struct buf red, out;
    buf_init(&red, (got - from) * 11 + 64);
    buf_init(&out, (got - from) * 3 + 64);
    const char *text = data + from;
    size_t tl = got - from;
    if (a->cfg.redact_output && redact_text(text, tl, &red) >= 0) {
        text = buf_head(&red);
        tl = buf_used(&red);
    }
    logsearch_sanitize(text, tl, (size_t)-1, true, &out);
    kit_call_resource_text(c, uri, "text/plain", buf_used(&out) > 0 ? buf_head(&out) : "",
                           buf_used(&out));
    buf_free(&red);
    buf_free(&out);
    free(data);
}

/* ---- setup ------------------------------------------------------------------------ */

static int register_all(struct st_app *a)
{
    char err[300], in[1200];
    snprintf(in, sizeof(in),
             "{\"type\":\"object\",\"properties\":{"
             "\"log_path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
             "\"description\":\"Absolute path of one of the configured log files (exactly as "
             "listed in resources/list)\"},"
             "\"pattern\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":%llu,"
             "\"description\":\"PCRE2 regular expression matched against each line\"},"
             "\"max_lines\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":%u,\"default\":%u,"
             "\"description\":\"Most matching lines to return\"}},"
             "\"required\":[\"log_path\",\"pattern\"],\"additionalProperties\":false}",
             (unsigned long long)a->cfg.max_pattern, a->cfg.max_lines,
             ST_DEFAULT_MAX_LINES < a->cfg.max_lines ? ST_DEFAULT_MAX_LINES : a->cfg.max_lines);
    const struct kit_tool q = {
        .name = "query_logs",
        .title = "Search a log file",
        .description = "Searches one of the configured log files with a regular expression and "
                       "returns the matching lines with their line numbers. Secrets in the "
                       "returned lines are redacted; the search is bounded in time and size.",
        .input_schema = in,
        .output_schema =
            "{\"type\":\"object\",\"properties\":{\"log_path\":{\"type\":\"string\"},"
            "\"matches\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
            "\"line\":{\"type\":\"integer\"},\"text\":{\"type\":\"string\"}},"
            "\"required\":[\"line\",\"text\"]}},"
            "\"lines_scanned\":{\"type\":\"integer\"},\"truncated\":{\"type\":\"boolean\"},"
            "\"stopped_by\":{\"type\":\"string\",\"enum\":[\"end_of_file\",\"max_lines\","
            "\"output_limit\",\"time_limit\"]}},"
            "\"required\":[\"log_path\",\"matches\",\"lines_scanned\",\"truncated\","
            "\"stopped_by\"]}",
        .annotations = "{\"readOnlyHint\":true,\"destructiveHint\":false,"
                       "\"idempotentHint\":true,\"openWorldHint\":false}",
        .handler = tool_query_logs,
        .ud = a,
    };
    const struct kit_tool ip = {
        .name = "check_ip_reputation",
        .title = "Check an IP address's reputation",
        .description = "Looks a public IPv4 or IPv6 address up in the local reputation lists and "
                       "returns the categories it is listed under and the list each came from. "
                       "Private, loopback, link-local and other reserved addresses are refused.",
        .input_schema = "{\"type\":\"object\",\"properties\":{\"ip\":{\"type\":\"string\","
                        "\"minLength\":1,\"maxLength\":64,"
                        "\"description\":\"A single public IPv4 or IPv6 address\"}},"
                        "\"required\":[\"ip\"],\"additionalProperties\":false}",
        .output_schema =
            "{\"type\":\"object\",\"properties\":{\"ip\":{\"type\":\"string\"},"
            "\"ipv4\":{\"type\":\"string\"},\"listed\":{\"type\":\"boolean\"},"
            "\"matches\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
            "\"list\":{\"type\":\"string\"},\"category\":{\"type\":\"string\"},"
            "\"network\":{\"type\":\"string\"}},\"required\":[\"list\",\"category\","
            "\"network\"]}},\"lists_checked\":{\"type\":\"integer\"}},"
            "\"required\":[\"ip\",\"listed\",\"matches\",\"lists_checked\"]}",
        .annotations = "{\"readOnlyHint\":true,\"destructiveHint\":false,"
                       "\"idempotentHint\":true,\"openWorldHint\":false}",
        .handler = tool_check_ip,
        .ud = a,
    };
    if (kit_add_tool(a->srv, &q, err, sizeof(err)) < 0 ||
        kit_add_tool(a->srv, &ip, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        return -1;
    }
    for (size_t i = 0; i < a->logs.n; i++) {
        char desc[256];
        snprintf(desc, sizeof(desc), "Log file %s (read-only; the last %llu bytes)",
                 a->logs.f[i].path, (unsigned long long)a->cfg.resource_max);
        const struct kit_resource r = {
            .uri = a->logs.f[i].uri,
            .name = a->logs.f[i].name,
            .title = a->logs.f[i].path,
            .description = desc,
            .mime_type = "text/plain",
            .read = read_log,
            .ud = a,
        };
        if (kit_add_resource(a->srv, &r, err, sizeof(err)) < 0) {
            log_warnx("%s", err);
            return -1;
        }
    }
    a->buckets = calloc(a->cfg.nrates + 1, sizeof(*a->buckets));
    if (a->buckets == NULL)
        return -1;
    for (size_t i = 0; i < a->cfg.nrates; i++) {
        struct bucket *b = &a->buckets[a->nbuckets++];
        b->tool = a->cfg.rates[i].tool;
        b->cap = a->cfg.rates[i].count;
        b->tokens = b->cap;
        b->per_us_rate = (double)a->cfg.rates[i].count / (double)a->cfg.rates[i].per_us;
        b->last = mono_us();
    }
    kit_server_set_gate(a->srv, gate, a);
    kit_server_set_recorder(a->srv, on_record, a);
    return 0;
}

static int default_audit_path(char *out, size_t outsz)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char dir[4096];
    if (state != NULL && state[0] == '/')
        snprintf(dir, sizeof(dir), "%s/mcpwall", state);
    else if (home != NULL && home[0] == '/')
        snprintf(dir, sizeof(dir), "%s/.local/state/mcpwall", home);
    else
        return -1;
    /* mkdir -p of the last two levels is enough for these layouts. */
    char parent[4096];
    str_copy(parent, dir, sizeof(parent));
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        char *s2 = strrchr(parent, '/');
        if (s2 != NULL && s2 != parent) {
            *s2 = '\0';
            mkdir(parent, 0700);
            *s2 = '/';
        }
        mkdir(parent, 0700);
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    int n = snprintf(out, outsz, "%s/security-tools-audit.jsonl", dir);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mcp-security-tools [-c FILE] [--log-file PATH]... [--reputation-list NAME=PATH]...\n"
            "                          [--rate TOOL=N/UNIT]... [--audit FILE | --no-audit]\n"
            "                          [--listen HOST:PORT] [--check] [-v]\n"
            "\n"
            "Serves query_logs and check_ip_reputation over stdio (or Streamable HTTP with\n"
            "--listen). Without -c and without --log-file/--reputation-list it uses the demo\n"
            "configuration %s.\n"
            "\n"
            "  -c, --config FILE          YAML or JSON configuration (docs/security-tools.md)\n"
            "      --log-file PATH        add a log file (repeatable)\n"
            "      --reputation-list N=P  add a reputation list named N from file P\n"
            "      --rate TOOL=N/UNIT     rate limit, e.g. query_logs=10/min\n"
            "      --audit FILE           audit log (default: $XDG_STATE_HOME/mcpwall/"
            "security-tools-audit.jsonl)\n"
            "      --no-audit             write no audit log\n"
            "      --check                validate the configuration and exit\n"
            "  -v, --verbose              diagnostics on stderr\n",
            ST_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-file", required_argument, NULL, 'L'},
        {"reputation-list", required_argument, NULL, 'R'},
        {"rate", required_argument, NULL, 'r'},
        {"audit", required_argument, NULL, 'a'},
        {"no-audit", no_argument, NULL, 'A'},
        {"listen", required_argument, NULL, 'l'},
        {"check", no_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *audit = NULL, *listen = NULL;
    bool no_audit = false, check = false, verbose = false;
    const char *logs[64], *lists[64], *rates[16];
    size_t nlogs = 0, nlists = 0, nrates = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'L':
            if (nlogs < 64)
                logs[nlogs++] = optarg;
            break;
        case 'R':
            if (nlists < 64)
                lists[nlists++] = optarg;
            break;
        case 'r':
            if (nrates < 16)
                rates[nrates++] = optarg;
            break;
        case 'a': audit = optarg; break;
        case 'A': no_audit = true; break;
        case 'l': listen = optarg; break;
        case 'k': check = true; break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("mcp-security-tools", verbose ? LOG_LVL_DEBUG : LOG_LVL_WARN, 2);

    struct st_app app;
    memset(&app, 0, sizeof(app));
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    st_config_defaults(&app.cfg);
    if (config == NULL && nlogs == 0 && nlists == 0)
        config = ST_DEFAULT_CONFIG;
    int rc = 2;
    if (config != NULL)
        st_config_load(config, &app.cfg, &errs);
    for (size_t i = 0; i < nlogs; i++) {
        char **nl = realloc(app.cfg.log_files, (app.cfg.nlog + 1) * sizeof(char *));
        if (nl != NULL) {
            app.cfg.log_files = nl;
            nl[app.cfg.nlog++] = strdup(logs[i]);
        }
    }
    for (size_t i = 0; i < nlists; i++) {
        const char *eq = strchr(lists[i], '=');
        if (eq == NULL || eq == lists[i] || eq[1] == '\0') {
            cfg_errors_add(&errs, "--reputation-list %s: expected NAME=PATH", lists[i]);
            continue;
        }
        struct st_list *nl = realloc(app.cfg.lists, (app.cfg.nlists + 1) * sizeof(*nl));
        if (nl == NULL)
            continue;
        app.cfg.lists = nl;
        nl[app.cfg.nlists].name = strndup(lists[i], (size_t)(eq - lists[i]));
        nl[app.cfg.nlists].path = strdup(eq + 1);
        nl[app.cfg.nlists].category = NULL;
        app.cfg.nlists++;
    }
    for (size_t i = 0; i < nrates; i++) {
        const char *eq = strchr(rates[i], '=');
        uint32_t n;
        uint64_t per;
        char tool[64];
        if (eq == NULL || (size_t)(eq - rates[i]) >= sizeof(tool) ||
            st_parse_rate(eq + 1, &n, &per) < 0) {
            cfg_errors_add(&errs, "--rate %s: expected TOOL=N/UNIT (UNIT s, min or hour)",
                           rates[i]);
            continue;
        }
        memcpy(tool, rates[i], (size_t)(eq - rates[i]));
        tool[eq - rates[i]] = '\0';
        if (strcmp(tool, "query_logs") != 0 && strcmp(tool, "check_ip_reputation") != 0) {
            cfg_errors_add(&errs, "--rate %s: no tool named %s", rates[i], tool);
            continue;
        }
        st_config_set_rate(&app.cfg, tool, n, per);
    }
    if (audit != NULL) {
        free(app.cfg.audit_path);
        app.cfg.audit_path = strdup(audit);
    }
    if (no_audit)
        app.cfg.audit_enabled = false;
    for (size_t i = 0; i < app.cfg.nlog; i++)
        logset_add(&app.logs, app.cfg.log_files[i], &errs);
    app.rep = rep_db_new();
    for (size_t i = 0; app.rep != NULL && i < app.cfg.nlists; i++)
        rep_db_load_file(app.rep, app.cfg.lists[i].name, app.cfg.lists[i].path,
                         app.cfg.lists[i].category, &errs);
    if (app.rep != NULL)
        rep_db_finish(app.rep);
    if (app.cfg.nlog == 0 && app.cfg.nlists == 0 && errs.n == 0)
        cfg_errors_add(&errs, "nothing to serve: configure log_files and/or reputation_lists");
    if (errs.n > 0) {
        cfg_errors_print(&errs, stderr);
        goto out;
    }
    if (check) {
        printf("configuration ok: %zu log file%s, %zu reputation list%s (%zu entries)\n",
               app.logs.n, app.logs.n == 1 ? "" : "s", app.cfg.nlists,
               app.cfg.nlists == 1 ? "" : "s", rep_db_entries(app.rep));
        rc = 0;
        goto out;
    }
    if (redact_init() < 0) {
        log_warnx("cannot compile the redaction patterns");
        rc = 1;
        goto out;
    }
    if (app.cfg.audit_enabled) {
        char path[4200];
        bool dflt = app.cfg.audit_path == NULL;
        if (dflt && default_audit_path(path, sizeof(path)) < 0) {
            log_warnx("no place for the audit log: set --audit FILE or audit.file");
            rc = 1;
            goto out;
        }
        char err[300];
        const struct audit_opts ao = {
            .path = dflt ? path : app.cfg.audit_path,
            .fsync = false,
            .pick_free_name = dflt,
        };
        app.audit = audit_open(&ao, err, sizeof(err));
        if (app.audit == NULL) {
            log_warnx("audit log: %s", err);
            rc = 1;
            goto out;
        }
    }
    struct event_base *base = event_base_new();
    if (base == NULL)
        fatalx("cannot create the event loop");
    const struct kit_info info = {
        .name = "mcp-security-tools",
        .version = "0.1.0",
        .title = "mcpwall security tools",
        .instructions = "query_logs searches the configured log files (list them with "
                        "resources/list); check_ip_reputation answers from local lists. Both "
                        "are read-only and rate limited.",
    };
    app.srv = kit_server_new(base, &info, NULL);
    if (app.srv == NULL || register_all(&app) < 0) {
        rc = 1;
    } else {
        audit_event(&app, "start");
        if (listen != NULL) {
            char host[256];
            uint16_t port;
            if (kit_parse_listen(listen, host, sizeof(host), &port) < 0) {
                log_warnx("--listen wants HOST:PORT, not '%s'", listen);
                rc = 2;
            } else {
                const struct kit_http_opts ho = {.host = host, .port = port};
                rc = kit_serve_http(app.srv, &ho) < 0 ? 1 : 0;
            }
        } else {
            rc = kit_serve_stdio(app.srv, 0, 1) < 0 ? 1 : 0;
        }
        audit_event(&app, "stop");
    }
    kit_server_free(app.srv);
    event_base_free(base);
out:
    audit_close(app.audit);
    redact_fini();
    free(app.buckets);
    rep_db_free(app.rep);
    logset_free(&app.logs);
    st_config_free(&app.cfg);
    cfg_errors_free(&errs);
    return rc;
}
