/* cmd_scan.c - `mcpwall scan`: inventory, risk classes, findings, reports,
 * pins. See docs/scan.md and mcpwall-scan(1). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/scan_cli.h"
#include "config.h"
#include "policy/pins.h"
#include "scan/collect.h"
#include "scan/collect_http.h"
#include "scan/detect_bridge.h"
#include "scan/hostcfg.h"
#include "scan/openapi.h"
#include "scan/pinscheck.h"
#include "scan/policy_eval.h"
#include "scan/report.h"
#include "scan/scan.h"
#include "util/str.h"

static void scan_usage(FILE *f)
{
    fprintf(f,
            "usage: mcpwall scan [options] [TARGET...] [-- COMMAND [ARGS...]]\n"
            "\n"
            "targets:\n"
            "  -- COMMAND ARGS       a stdio MCP server, spawned and inspected\n"
            "  URL                   a Streamable HTTP MCP server (http:// or https://)\n"
            "  FILE                  a saved tools/list result, an mcpwall capture, a JSON-RPC\n"
            "                        wire log, an OpenAPI 3 document, or a host config file\n"
            "  --host-configs        the host configs found in their usual places (Claude\n"
            "                        Desktop, Claude Code, Cursor, VS Code, Windsurf, Gemini CLI)\n"
            "  --connect             also start/contact every server the configs name (this\n"
            "                        RUNS the configured commands; see docs/scan.md)\n"
            "\n"
            "options:\n"
            "  -f, --format FMT      text (default), json, sarif or html\n"
            "  -o, --output FILE     write the report to FILE (default: standard output)\n"
            "      --fail-on SEV     exit 1 when a finding at or above SEV exists\n"
            "                        (info, low, medium, high, critical; default: never)\n"
            "      --policy FILE     evaluate a gateway policy against the inventory\n"
            "      --pin             write the lockfile (pins of every tool and prompt)\n"
            "      --lock FILE       lockfile to compare with (and --pin to write);\n"
            "                        default mcpwall.lock\n"
            "  -H, --header 'K: V'   HTTP header for URL targets (repeatable)\n"
            "      --name NAME       server name for a single command or URL target\n"
            "      --home DIR        home directory for --host-configs (default $HOME)\n"
            "      --token-budget N[,TOTAL]  token budget per server and in total\n"
            "                        (default %u,%u; 0 disables)\n"
            "      --timeout DUR     time limit per request (default 30s)\n"
            "      --no-probe        HTTP: skip the active probes (Origin, sessions, auth)\n"
            "      --save-capture FILE  save what was listed (re-scannable)\n"
            "      --sandbox PROFILE run stdio servers under mcpwall sandbox-exec (strict,\n"
            "                        node, python, network-client)\n"
            "      --sandbox-read PATH, --sandbox-write PATH, --sandbox-allow HOST:PORT\n"
            "                        widen that sandbox (repeatable)\n"
            "      --server-stderr   show the servers' stderr\n"
            "      --color, --no-color\n"
            "\n"
            "exit status: 0 done (no finding at or above --fail-on), 1 such a finding,\n"
            "2 usage error, 3 a target could not be read.\n",
            SCAN_DEFAULT_TOKEN_BUDGET_SERVER, SCAN_DEFAULT_TOKEN_BUDGET_TOTAL);
}

static int parse_budget(const char *s, struct scan_options *o)
{
    char a[32];
    str_copy(a, s, sizeof(a));
    char *comma = strchr(a, ',');
    uint64_t v1, v2;
    if (comma != NULL)
        *comma = '\0';
    if (parse_u64(a, 100000000u, &v1) < 0)
        return -1;
    o->token_budget_server = (size_t)v1;
    if (comma != NULL) {
        if (parse_u64(comma + 1, 1000000000u, &v2) < 0)
            return -1;
        o->token_budget_total = (size_t)v2;
    }
    return 0;
}

static bool is_url(const char *s)
{
    return str_has_prefix(s, "http://") || str_has_prefix(s, "https://");
}

/* Name of a command-line target: the package or program it runs. */
static void command_name(char *const argv[], char *out, size_t outsz)
{
    pins_name_of_command(argv, out, outsz);
}

static char *join_argv(char *const argv[])
{
    size_t len = 1;
    for (size_t i = 0; argv[i] != NULL; i++)
        len += strlen(argv[i]) + 3;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; argv[i] != NULL; i++) {
        bool q = strchr(argv[i], ' ') != NULL || argv[i][0] == '\0';
        o += (size_t)snprintf(s + o, len - o, "%s%s%s%s", i ? " " : "", q ? "'" : "", argv[i],
                              q ? "'" : "");
    }
    return s;
}

/* Runs argv, under `mcpwall sandbox-exec --profile P [--read/--write/--allow
 * ...] [--env NAME ...] --` when asked. The config entry's environment
 * variables are named with --env so that the sandbox passes them in. */
static int scan_stdio(struct scan_report *r, int si, char *const argv[], const struct scan_cli *c)
{
    if (c->sandbox == NULL)
        return collect_stdio(r, si, argv, &c->co);
    size_t n = 0, ne = 0;
    while (argv[n] != NULL)
        n++;
    while (c->co.env != NULL && c->co.env[ne] != NULL)
        ne++;
    char **wrapped = calloc(n + 2 * c->nsandbox_opts + 2 * ne + 8, sizeof(*wrapped));
    char **names = calloc(ne + 1, sizeof(*names));
    if (wrapped == NULL || names == NULL) {
        free(wrapped);
        free(names);
        return -1;
    }
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) {
        free(wrapped);
        free(names);
        scan_server_fail(r, si, "cannot find the mcpwall binary for --sandbox");
        return -1;
    }
    self[sl] = '\0';
    size_t k = 0;
    wrapped[k++] = self;
    wrapped[k++] = (char *)"sandbox-exec";
    wrapped[k++] = (char *)"--profile";
    wrapped[k++] = (char *)c->sandbox;
    for (size_t i = 0; i < c->nsandbox_opts; i++) {
        wrapped[k++] = (char *)c->sandbox_opts[i].flag;
        wrapped[k++] = (char *)c->sandbox_opts[i].value;
    }
    for (size_t i = 0; i < ne; i++) {
        names[i] = strndup(c->co.env[i], strcspn(c->co.env[i], "="));
        if (names[i] == NULL)
            continue;
        wrapped[k++] = (char *)"--env";
        wrapped[k++] = names[i];
    }
    wrapped[k++] = (char *)"--";
    for (size_t i = 0; i < n; i++)
        wrapped[k++] = argv[i];
    int rc = collect_stdio(r, si, wrapped, &c->co);
    for (size_t i = 0; i < ne; i++)
        free(names[i]);
    free(names);
    free(wrapped);
    return rc;
}

#define SCAN_MAX_FILE (64u * 1024u * 1024u)

/* Reads a whole file (at most SCAN_MAX_FILE bytes); NULL with err filled. */
static char *read_file(const char *path, size_t *len, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0, got;
    char *data = malloc(cap + 1);
    while (data != NULL && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nd = cap < SCAN_MAX_FILE ? realloc(data, cap * 2 + 1) : NULL;
            if (nd == NULL) {
                free(data);
                data = NULL;
                snprintf(err, errsz, "%s: larger than %u bytes", path, SCAN_MAX_FILE);
                break;
            }
            data = nd;
            cap *= 2;
        }
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (data != NULL && bad) {
        free(data);
        data = NULL;
        snprintf(err, errsz, "%s: cannot read", path);
    }
    if (data != NULL) {
        data[n] = '\0';
        *len = n;
    }
    return data;
}

static int scan_file_target(struct scan_report *r, const char *path, const struct scan_cli *c)
{
    char err[512] = "";
    size_t n = 0;
    char *data = read_file(path, &n, err, sizeof(err));
    if (data == NULL) {
        fprintf(stderr, "mcpwall scan: %s\n", err);
        return -1;
    }
    int rc;
    switch (collect_sniff(data, n)) {
    case COLLECT_FT_OPENAPI:
        rc = openapi_load_mem(r, path, data, n, c->name, err, sizeof(err));
        break;
    case COLLECT_FT_HOSTCFG:
        rc = hostcfg_load_mem(r, path, NULL, data, n, err, sizeof(err));
        break;
    case COLLECT_FT_TOOLS:
        rc = collect_file_mem(r, path, data, n, c->name, err, sizeof(err));
        break;
    default:
        /* host configs with comments or unusual shapes are recognised by name */
        if (hostcfg_host_from_path(path) != NULL) {
            rc = hostcfg_load_mem(r, path, NULL, data, n, err, sizeof(err));
        } else {
            snprintf(err, sizeof(err),
                     "%s: not a tools/list result, capture, wire log, OpenAPI "
                     "document or host config",
                     path);
            rc = -1;
        }
    }
    free(data);
    if (rc < 0)
        fprintf(stderr, "mcpwall scan: %s\n", err);
    return rc;
}

static int scan_url_target(struct scan_report *r, const char *url, const char *name,
                           const struct scan_cli *c, const json_t *cfg_headers, int si)
{
    if (si < 0) {
        si = scan_add_server(r, name, url, SCAN_TR_HTTP);
        if (si < 0)
            return -1;
    } else {
        r->servers[si].transport = SCAN_TR_HTTP;
    }
    struct http_target t;
    memset(&t, 0, sizeof(t));
    t.url = url;
    t.headers = c->headers;
    t.nheaders = c->nheaders;
    t.cfg_headers = cfg_headers;
    t.probe = c->probe;
    return collect_http(r, si, &t, &c->co);
}

/* Connects to every server a host config named (transport NONE). */
static void connect_configured(struct scan_report *r, const struct scan_cli *c)
{
    size_t n = r->nservers;
    for (size_t i = 0; i < n; i++) {
        struct scan_server *sv = &r->servers[i];
        if (sv->transport != SCAN_TR_NONE || sv->cfg == NULL || sv->error != NULL)
            continue;
        struct hostcfg_launch l;
        if (hostcfg_launch_of(sv, &l) < 0) {
            scan_server_fail(r, (int)i, "not connected: %s", l.why_not);
            hostcfg_launch_free(&l);
            continue;
        }
        if (l.url != NULL) {
            scan_url_target(r, l.url, sv->name, c, l.headers, (int)i);
        } else {
            sv->transport = SCAN_TR_STDIO;
            struct scan_cli cc = *c;
            cc.co.env = l.env;
            cc.co.cwd = l.cwd;
            fprintf(stderr, "mcpwall scan: starting '%s' from %s\n", sv->name,
                    sv->cfgpos.file != NULL ? sv->cfgpos.file : "a host config");
            scan_stdio(r, (int)i, l.argv, &cc);
        }
        hostcfg_launch_free(&l);
    }
}

static int write_report(const struct scan_report *r, const struct scan_cli *c)
{
    FILE *out = stdout;
    if (c->output != NULL && strcmp(c->output, "-") != 0) {
        out = fopen(c->output, "w");
        if (out == NULL) {
            fprintf(stderr, "mcpwall scan: %s: %s\n", c->output, strerror(errno));
            return -1;
        }
    }
    bool color = c->color == 1 || (c->color < 0 && out == stdout && isatty(fileno(stdout)) &&
                                   getenv("NO_COLOR") == NULL);
    int rc;
    switch (c->format) {
    case FMT_JSON:
        rc = report_json(r, out);
        break;
    case FMT_SARIF:
        rc = report_sarif(r, out);
        break;
    case FMT_HTML:
        rc = report_html(r, out);
        break;
    default:
        rc = report_text(r, out, color);
        break;
    }
    if (out != stdout) {
        if (fclose(out) != 0)
            rc = -1;
    } else if (fflush(out) != 0) {
        rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "mcpwall scan: cannot write the report\n");
    return rc;
}

int scan_cli_collect(struct scan_report *r, const struct scan_cli *c, char **targets, int ntargets,
                     char **cmd)
{
    int status = 0;
    for (int i = 0; i < ntargets; i++) {
        json_array_append_new(r->targets, json_string(targets[i]));
        if (is_url(targets[i])) {
            scan_url_target(r, targets[i], c->name != NULL ? c->name : targets[i], c, NULL, -1);
        } else if (scan_file_target(r, targets[i], c) < 0) {
            status = 3;
        }
    }
    if (cmd != NULL) {
        char *line = join_argv(cmd);
        char nm[128];
        command_name(cmd, nm, sizeof(nm));
        int si = scan_add_server(r, c->name != NULL ? c->name : nm, line != NULL ? line : cmd[0],
                                 SCAN_TR_STDIO);
        json_array_append_new(r->targets, json_string(line != NULL ? line : cmd[0]));
        free(line);
        if (si >= 0)
            scan_stdio(r, si, cmd, c);
    }
    if (c->host_configs) {
        const char *home = c->home != NULL ? c->home : getenv("HOME");
        json_array_append_new(r->targets, json_string("--host-configs"));
        size_t found = hostcfg_discover(r, home);
        if (found == 0)
            fprintf(stderr, "mcpwall: no host configuration files found under %s\n",
                    home != NULL ? home : "(no home)");
    }
    if (c->connect)
        connect_configured(r, c);
    return status;
}

int cmd_scan(int argc, char **argv)
{
    struct scan_cli c;
    memset(&c, 0, sizeof(c));
    c.fail_on = -1;
    c.color = -1;
    c.probe = true;
    struct scan_options opt = {SCAN_DEFAULT_TOKEN_BUDGET_SERVER, SCAN_DEFAULT_TOKEN_BUDGET_TOTAL};

    /* split at "--": what follows is the stdio server's command line */
    int cmd_at = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            cmd_at = i;
            break;
        }
    }
    int oargc = cmd_at >= 0 ? cmd_at : argc;

    enum {
        O_FAIL_ON = 256,
        O_POLICY,
        O_PIN,
        O_LOCK,
        O_NAME,
        O_HOSTCFG,
        O_CONNECT,
        O_HOME,
        O_BUDGET,
        O_TIMEOUT,
        O_NOPROBE,
        O_SAVE,
        O_COLOR,
        O_NOCOLOR,
        O_SERR,
        O_SANDBOX,
        O_SB_READ,
        O_SB_WRITE,
        O_SB_ALLOW
    };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"header", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {"fail-on", required_argument, NULL, O_FAIL_ON},
        {"policy", required_argument, NULL, O_POLICY},
        {"pin", no_argument, NULL, O_PIN},
        {"lock", required_argument, NULL, O_LOCK},
        {"name", required_argument, NULL, O_NAME},
        {"host-configs", no_argument, NULL, O_HOSTCFG},
        {"connect", no_argument, NULL, O_CONNECT},
        {"home", required_argument, NULL, O_HOME},
        {"token-budget", required_argument, NULL, O_BUDGET},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"no-probe", no_argument, NULL, O_NOPROBE},
        {"save-capture", required_argument, NULL, O_SAVE},
        {"color", no_argument, NULL, O_COLOR},
        {"no-color", no_argument, NULL, O_NOCOLOR},
        {"server-stderr", no_argument, NULL, O_SERR},
        {"sandbox", required_argument, NULL, O_SANDBOX},
        {"sandbox-read", required_argument, NULL, O_SB_READ},
        {"sandbox-write", required_argument, NULL, O_SB_WRITE},
        {"sandbox-allow", required_argument, NULL, O_SB_ALLOW},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 1;
    int ch;
    while ((ch = getopt_long(oargc, argv, "f:o:H:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "text") == 0)
                c.format = FMT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                c.format = FMT_JSON;
            else if (strcmp(optarg, "sarif") == 0)
                c.format = FMT_SARIF;
            else if (strcmp(optarg, "html") == 0)
                c.format = FMT_HTML;
            else {
                fprintf(stderr, "mcpwall scan: unknown format '%s' (text, json, sarif, html)\n",
                        optarg);
                return 2;
            }
            break;
        case 'o':
            c.output = optarg;
            break;
        case 'H':
            if (c.nheaders >= SCAN_MAX_HEADERS || strchr(optarg, ':') == NULL) {
                fprintf(stderr, "mcpwall scan: -H takes 'Name: value' (at most %d)\n",
                        SCAN_MAX_HEADERS);
                return 2;
            }
            c.headers[c.nheaders++] = optarg;
            break;
        case 'h':
            scan_usage(stdout);
            return 0;
        case O_FAIL_ON: {
            enum scan_sev s;
            if (strcmp(optarg, "none") == 0) {
                c.fail_on = -1;
            } else if (scan_sev_parse(optarg, &s) == 0) {
                c.fail_on = (int)s;
            } else {
                fprintf(stderr, "mcpwall scan: --fail-on takes info, low, medium, high, "
                                "critical or none\n");
                return 2;
            }
            break;
        }
        case O_POLICY:
            c.policy = optarg;
            break;
        case O_PIN:
            c.pin = true;
            break;
        case O_LOCK:
            c.lock = optarg;
            break;
        case O_NAME:
            c.name = optarg;
            break;
        case O_HOSTCFG:
            c.host_configs = true;
            break;
        case O_CONNECT:
            c.connect = true;
            break;
        case O_HOME:
            c.home = optarg;
            break;
        case O_BUDGET:
            if (parse_budget(optarg, &opt) < 0) {
                fprintf(stderr, "mcpwall scan: --token-budget takes N or N,TOTAL\n");
                return 2;
            }
            break;
        case O_TIMEOUT:
            if (parse_duration_us(optarg, &c.co.timeout_us) < 0 || c.co.timeout_us == 0) {
                fprintf(stderr, "mcpwall scan: bad --timeout '%s' (e.g. 30s, 500ms)\n", optarg);
                return 2;
            }
            break;
        case O_NOPROBE:
            c.probe = false;
            break;
        case O_SAVE:
            c.save_capture = optarg;
            break;
        case O_COLOR:
            c.color = 1;
            break;
        case O_NOCOLOR:
            c.color = 0;
            break;
        case O_SERR:
            c.server_stderr = true;
            break;
        case O_SANDBOX: {
            bool have = false;
            for (const struct cli_cmd *k = cli_cmds; k->name != NULL && !have; k++)
                have = strcmp(k->name, "sandbox-exec") == 0;
            if (!have) {
                fprintf(stderr, "mcpwall scan: --sandbox needs the sandbox-exec command, which "
                                "this build does not have\n");
                return 2;
            }
            c.sandbox = optarg;
            break;
        }
        case O_SB_READ:
        case O_SB_WRITE:
        case O_SB_ALLOW:
            if (c.nsandbox_opts >= SCAN_MAX_SANDBOX_OPTS) {
                fprintf(stderr, "mcpwall scan: at most %d --sandbox-* options\n",
                        SCAN_MAX_SANDBOX_OPTS);
                return 2;
            }
            c.sandbox_opts[c.nsandbox_opts].flag = ch == O_SB_READ    ? "--read"
                                                   : ch == O_SB_WRITE ? "--write"
                                                                      : "--allow";
            c.sandbox_opts[c.nsandbox_opts++].value = optarg;
            break;
        default:
            scan_usage(stderr);
            return 2;
        }
    }
    c.co.server_stderr = c.server_stderr;
    if (c.nsandbox_opts > 0 && c.sandbox == NULL) {
        fprintf(stderr, "mcpwall scan: --sandbox-read/-write/-allow need --sandbox PROFILE\n");
        return 2;
    }
    int ntargets = oargc - optind;
    bool have_cmd = cmd_at >= 0 && cmd_at + 1 < argc;
    if (cmd_at >= 0 && !have_cmd) {
        fprintf(stderr, "mcpwall scan: '--' must be followed by the server's command\n");
        return 2;
    }
    if (ntargets == 0 && !have_cmd && !c.host_configs) {
        scan_usage(stderr);
        return 2;
    }
    if (c.name != NULL && ntargets + (have_cmd ? 1 : 0) > 1) {
        fprintf(stderr, "mcpwall scan: --name applies to a single target\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    struct scan_report r;
    scan_report_init(&r);
    r.opt = opt;
    int status = 0;

    status = scan_cli_collect(&r, &c, argv + optind, oargc - optind,
                              have_cmd ? argv + cmd_at + 1 : NULL);

    scan_analyze(&r);

    /* pins: compare with the lockfile when there is one (./mcpwall.lock by default);
     * with --pin, load it so that servers not scanned now keep their pins */
    const char *lock = c.lock != NULL ? c.lock : "mcpwall.lock";
    struct pins *pins = NULL;
    if (access(lock, F_OK) == 0) {
        struct pins_err pe;
        pins = pins_load(lock, &pe);
        if (pins == NULL) {
            fprintf(stderr, "mcpwall scan: %s\n", pe.msg);
            status = 3;
        }
    } else if (c.lock != NULL && !c.pin) {
        fprintf(stderr, "mcpwall scan: %s: no such lockfile\n", lock);
        status = 3;
    }
    if (pins != NULL && !c.pin)
        scan_pins_check(&r, pins, lock);
    if (c.policy != NULL && scan_policy_eval(&r, c.policy) < 0)
        status = 3;
    scan_resolve_positions(&r);
    scan_summarize(&r);

    if (c.save_capture != NULL && collect_save_capture(&r, c.save_capture) < 0) {
        fprintf(stderr, "mcpwall scan: cannot write %s\n", c.save_capture);
        status = 3;
    }
    if (write_report(&r, &c) < 0)
        status = 3;
    if (c.pin) {
        struct pins_err pe;
        if (pins == NULL && status == 0)
            pins = pins_new("mcpwall " MCPWALL_VERSION);
        if (pins == NULL || scan_pins_write(&r, pins) < 0 || pins_save(pins, lock, &pe) < 0) {
            fprintf(stderr, "mcpwall scan: cannot write the lockfile %s\n", lock);
            status = 3;
        } else {
            fprintf(stderr, "mcpwall scan: pinned %zu tools in %s\n", r.sum.tools, lock);
        }
    }
    pins_free(pins);
    int fail = scan_exit_status(&r, c.fail_on);
    scan_report_free(&r);
    scan_detect_cleanup();
    if (status != 0)
        return status;
    return fail;
}
