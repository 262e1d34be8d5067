/* mcpwall serve [-c FILE] [--listen HOST:PORT] [--admin HOST:PORT]
 *               [--upstream NAME=URL | --upstream NAME='CMD ARGS']... [-- CMD ARGS] */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gateway/serve.h"
#include "gateway/srvconfig.h"
#include "policy/authn.h"
#include "policy/secrets.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_CLI_UPSTREAMS 32

struct cli_serve {
    const char *listen;
    const char *admin;
    const char *upstreams[MAX_CLI_UPSTREAMS];
    size_t nupstreams;
    char **cmd; /* after -- */
};

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: mcpwall serve [-c FILE] [--listen HOST:PORT] [--admin HOST:PORT]\n"
            "                     [--upstream NAME=URL | --upstream NAME='CMD ARGS']...\n"
            "                     [--audit FILE] [--log-level LEVEL] [-- CMD ARGS]\n"
            "\n"
            "Serves MCP over Streamable HTTP at /mcp in front of one or more upstream servers\n"
            "(stdio commands or Streamable HTTP URLs), with the policy, audit and limits of the\n"
            "configuration. With several upstreams, tools and prompts are named\n"
            "<server>__<name> and resources <server>+<uri>.\n"
            "\n"
            "  -c, --config FILE     configuration (listen, admin, servers, policy, ...)\n"
            "      --listen H:P      MCP endpoint address (default 127.0.0.1:8080)\n"
            "      --admin H:P       separate listener for /metrics, /healthz, /readyz\n"
            "      --upstream N=...  add an upstream: a URL, or a command line (repeatable)\n"
            "      --audit FILE      audit log path (overrides audit.file)\n"
            "      --log-level L     error | warn | info | debug\n"
            "  -- CMD ARGS           quick start: front one stdio server\n"
            "\n"
            "Every request must authenticate (the auth: section: API keys, JWT, or explicit\n"
            "anonymous access; docs/auth.md). Without -c, a key for this run is generated\n"
            "and printed on standard output.\n"
            "\n"
            "SIGHUP reloads the configuration file (an invalid one is refused and the old\n"
            "one kept); SIGTERM or SIGINT stops.\n");
}

static void free_strv(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* Splits a command line on blanks, honouring '...' and "..." quoting and
 * backslash escapes outside single quotes. NULL-terminated; NULL on bad quoting. */
static char **split_command(const char *s)
{
    size_t cap = 8, n = 0;
    char **v = calloc(cap, sizeof(char *));
    struct buf cur;
    buf_init(&cur, 65536);
    bool in_word = false;
    char quote = 0;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '\0' || (!quote && isspace((unsigned char)c))) {
            if (quote && c == '\0') {
                buf_free(&cur);
                for (size_t i = 0; i < n; i++)
                    free(v[i]);
                free(v);
                return NULL;
            }
            if (in_word) {
                buf_cstr(&cur);
                if (n + 2 > cap) {
                    char **nv = realloc(v, cap * 2 * sizeof(char *));
                    if (nv == NULL) {
                        free_strv(v);
                        buf_free(&cur);
                        return NULL;
                    }
                    v = nv;
                    cap *= 2;
                }
                v[n++] = strdup(buf_head(&cur));
                buf_reset(&cur);
                in_word = false;
            }
            if (c == '\0')
                break;
            continue;
        }
        in_word = true;
        if (quote) {
            if (c == quote)
                quote = 0;
            else if (c == '\\' && quote == '"' && p[1] != '\0')
                buf_append_char(&cur, *++p);
            else
                buf_append_char(&cur, c);
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\' && p[1] != '\0') {
            buf_append_char(&cur, *++p);
        } else {
            buf_append_char(&cur, c);
        }
    }
    buf_free(&cur);
    v[n] = NULL;
    return v;
}


/* A server name from a command: its program, or the package a runtime runs. */
static void name_from_command(char *const *argv, char *out, size_t outsz)
{
    static const char *const runtimes[] = {"node", "npx",   "python", "python3", "uvx", "uv",
                                           "deno", "bun",   "sh",     "bash",    "pnpm", "yarn",
                                           "env",  "docker", NULL};
    const char *pick = argv[0];
    const char *base = strrchr(pick, '/') ? strrchr(pick, '/') + 1 : pick;
    for (const char *const *r = runtimes; *r != NULL; r++) {
        if (strcmp(base, *r) == 0) {
            for (size_t i = 1; argv[i] != NULL; i++) {
                if (argv[i][0] != '-') {
                    pick = argv[i];
                    break;
                }
            }
            break;
        }
    }
    base = strrchr(pick, '/') ? strrchr(pick, '/') + 1 : pick;
    size_t o = 0;
    for (const char *p = base; *p && *p != '@' && o + 1 < outsz && o < 32; p++) {
        char c = (char)tolower((unsigned char)*p);
        if (c == '.' && strchr(p, '.') == p && strcmp(p, ".js") == 0)
            break;
        out[o++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '-';
    }
    out[o] = '\0';
    if (o == 0 || out[0] < 'a' || out[0] > 'z')
        str_copy(out, "server", outsz);
}

static int apply_cli(struct gw_config *cfg, void *ud, char *err, size_t errlen)
{
    struct cli_serve *cs = ud;
    if (cs->listen != NULL) {
        free(cfg->listen.host);
        cfg->listen.host = NULL;
        if (srvconfig_parse_hostport(cs->listen, &cfg->listen.host, &cfg->listen.port) < 0) {
            snprintf(err, errlen, "--listen needs HOST:PORT, such as 127.0.0.1:8080");
            return -1;
        }
        cfg->listen.set = true;
    } else if (!cfg->listen.set) {
        cfg->listen.port = 8080;
    }
    if (cs->admin != NULL) {
        free(cfg->admin.host);
        cfg->admin.host = NULL;
        if (srvconfig_parse_hostport(cs->admin, &cfg->admin.host, &cfg->admin.port) < 0) {
            snprintf(err, errlen, "--admin needs HOST:PORT, such as 127.0.0.1:9090");
            return -1;
        }
        cfg->admin.set = true;
    }
    for (size_t i = 0; i < cs->nupstreams; i++) {
        const char *u = cs->upstreams[i];
        const char *eq = strchr(u, '=');
        if (eq == NULL || eq == u) {
            snprintf(err, errlen, "--upstream needs NAME=URL or NAME='CMD ARGS', not '%.80s'", u);
            return -1;
        }
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - u < 63 ? eq - u : 63), u);
        const char *val = eq + 1;
        int rc;
        if (str_has_prefix(val, "http://") || str_has_prefix(val, "https://")) {
            rc = gwconfig_add_server(cfg, name, val, NULL, err, errlen);
        } else {
            char **argv = split_command(val);
            if (argv == NULL || argv[0] == NULL) {
                free_strv(argv);
                snprintf(err, errlen, "--upstream %s: empty command or unbalanced quotes", name);
                return -1;
            }
            rc = gwconfig_add_server(cfg, name, NULL, argv, err, errlen);
            free_strv(argv);
        }
        if (rc < 0)
            return -1;
    }
    if (cs->cmd != NULL) {
        char name[40];
        name_from_command(cs->cmd, name, sizeof(name));
        char unique[48];
        str_copy(unique, name, sizeof(unique));
        for (int n = 2; gwconfig_server(cfg, unique, strlen(unique)) != NULL && n < 100; n++)
            snprintf(unique, sizeof(unique), "%.32s-%d", name, n);
        if (gwconfig_add_server(cfg, unique, NULL, cs->cmd, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Without a configuration nobody would be let in (no auth: section): a key
 * for this run is made and shown once on standard output (not the log). */
static int quickstart_key(struct gw_config *cfg)
{
    char key[APIKEY_LEN + 1];
    struct authn *a = authn_new_single_key("quickstart", NULL, 0, key);
    if (a == NULL) {
        fprintf(stderr, "mcpwall serve: cannot create an API key\n");
        return -1;
    }
    authn_unref(cfg->authn);
    cfg->authn = a;
    printf("API key for this run of mcpwall serve (no configuration given; shown once):\n\n"
           "  %s\n\n"
           "Clients send it as: Authorization: Bearer <the key>\n"
           "For lasting keys, roles and JWT: an auth: section in a configuration file (mcpwall "
           "keygen; docs/auth.md).\n",
           key);
    fflush(stdout);
    secret_wipe(key, sizeof(key));
    log_info("quick start: clients need the API key printed on standard output");
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'L'},
        {"admin", required_argument, NULL, 'A'},
        {"upstream", required_argument, NULL, 'u'},
        {"audit", required_argument, NULL, 'a'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_serve cs = {0};
    const char *config = NULL, *audit = NULL, *level = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'L': cs.listen = optarg; break;
        case 'A': cs.admin = optarg; break;
        case 'u':
            if (cs.nupstreams == MAX_CLI_UPSTREAMS) {
                fprintf(stderr, "mcpwall serve: at most %d --upstream\n", MAX_CLI_UPSTREAMS);
                return 2;
            }
            cs.upstreams[cs.nupstreams++] = optarg;
            break;
        case 'a': audit = optarg; break;
        case 'l': level = optarg; break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind < argc)
        cs.cmd = argv + optind;
    struct gw_config *cfg = cli_load_config(config);
    if (cfg == NULL)
        return 2;
    char err[512];
    if (apply_cli(cfg, &cs, err, sizeof(err)) < 0) {
        fprintf(stderr, "mcpwall serve: %s\n", err);
        gwconfig_free(cfg);
        return 2;
    }
    enum log_level lv = cfg->log_level;
    if (level != NULL && log_level_parse(level, &lv) < 0) {
        fprintf(stderr, "mcpwall serve: unknown log level '%s'\n", level);
        gwconfig_free(cfg);
        return 2;
    }
    log_set_level(lv);
    if (config == NULL) {
        log_info("no configuration given (-c): default policy applies: allow everything, audit "
                 "everything");
        if (quickstart_key(cfg) < 0) {
            gwconfig_free(cfg);
            return 1;
        }
    }
    struct serve_opts so = {
        .cfg = cfg,
        .config_path = config,
        .audit_path = audit,
        .add_cli_upstreams = apply_cli,
        .cli_ud = &cs,
    };
    int rc = serve_run(&so);
    gwconfig_free(cfg);
    return rc;
}
