/* hostcfg.c - host configuration files (see hostcfg.h for hosts and formats). */
#include "scan/hostcfg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "policy/config.h"
#include "proto/json.h"
#include "scan/collect_http.h"
#include "scan/detect_bridge.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/str.h"

#define HOSTCFG_MAX_FILE (16u * 1024u * 1024u)
#define HOSTCFG_MAX_ARGS 4096u

static void herr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void herr(char *err, size_t errsz, const char *fmt, ...)
{
    if (err == NULL || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

/* ---- where configs live ------------------------------------------------------ */

struct location {
    const char *host;
    const char *rel; /* under $HOME, the current directory ("./"), or absolute */
};

static const struct location locations[] = {
    {"claude-desktop", ".config/Claude/claude_desktop_config.json"},
    {"claude-desktop", "Library/Application Support/Claude/claude_desktop_config.json"},
    {"claude-code", ".claude.json"},
    {"claude-code", "./.mcp.json"},
    {"claude-code", "/etc/claude-code/managed-mcp.json"},
    {"claude-code", "/Library/Application Support/ClaudeCode/managed-mcp.json"},
    {"cursor", ".cursor/mcp.json"},
    {"cursor", "./.cursor/mcp.json"},
    {"vscode", ".config/Code/User/mcp.json"},
    {"vscode", ".config/Code/User/settings.json"},
    {"vscode", ".config/Code - Insiders/User/mcp.json"},
    {"vscode", "Library/Application Support/Code/User/mcp.json"},
    {"vscode", "Library/Application Support/Code/User/settings.json"},
    {"vscode", "./.vscode/mcp.json"},
    {"windsurf", ".codeium/windsurf/mcp_config.json"},
    {"gemini-cli", ".gemini/settings.json"},
    {"gemini-cli", "./.gemini/settings.json"},
    {"gemini-cli", "/etc/gemini-cli/settings.json"},
    {"gemini-cli", "/Library/Application Support/GeminiCli/settings.json"},
    {NULL, NULL},
};

const char *hostcfg_host_from_path(const char *path)
{
    static const struct {
        const char *suffix;
        const char *host;
    } names[] = {
        {"claude_desktop_config.json", "claude-desktop"},
        {"/.claude.json", "claude-code"},
        {".mcp.json", "claude-code"},
        {"managed-mcp.json", "claude-code"},
        {".cursor/mcp.json", "cursor"},
        {".vscode/mcp.json", "vscode"},
        {"Code/User/mcp.json", "vscode"},
        {"Code - Insiders/User/mcp.json", "vscode"},
        {"Code/User/settings.json", "vscode"},
        {"windsurf/mcp_config.json", "windsurf"},
        {"mcp_config.json", "windsurf"},
        {".gemini/settings.json", "gemini-cli"},
        {"gemini-cli/settings.json", "gemini-cli"},
        {"GeminiCli/settings.json", "gemini-cli"},
        {NULL, NULL},
    };
    for (size_t i = 0; names[i].suffix != NULL; i++) {
        if (str_has_suffix(path, names[i].suffix))
            return names[i].host;
    }
    if (strcmp(path, ".claude.json") == 0)
        return "claude-code";
    return NULL;
}

/* ---- JSONC -------------------------------------------------------------------- */

void hostcfg_strip_jsonc(char *d, size_t n)
{
    size_t i = 0;
    size_t last_comma = SIZE_MAX; /* a comma that may turn out to be trailing */
    while (i < n) {
        char c = d[i];
        if (c == '"') {
            last_comma = SIZE_MAX;
            i++;
            while (i < n && d[i] != '"') {
                if (d[i] == '\\' && i + 1 < n)
                    i++;
                i++;
            }
            i++;
            continue;
        }
        if (c == '/' && i + 1 < n && d[i + 1] == '/') {
            while (i < n && d[i] != '\n')
                d[i++] = ' ';
            continue;
        }
        if (c == '/' && i + 1 < n && d[i + 1] == '*') {
            d[i] = d[i + 1] = ' ';
            i += 2;
            while (i < n && !(d[i] == '*' && i + 1 < n && d[i + 1] == '/')) {
                if (d[i] != '\n')
                    d[i] = ' ';
                i++;
            }
            if (i < n) {
                d[i] = ' ';
                if (i + 1 < n)
                    d[i + 1] = ' ';
                i += 2;
            }
            continue;
        }
        if (c == ',') {
            last_comma = i;
        } else if (c == '}' || c == ']') {
            if (last_comma != SIZE_MAX)
                d[last_comma] = ' ';
            last_comma = SIZE_MAX;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            last_comma = SIZE_MAX;
        }
        i++;
    }
}

/* ---- known-bad list ------------------------------------------------------------ */

static json_t *known_bad_list;
static bool known_bad_loaded;

static void known_bad_free(void)
{
    json_decref(known_bad_list);
    known_bad_list = NULL;
}

void hostcfg_set_known_bad(json_t *list)
{
    json_decref(known_bad_list);
    known_bad_list = json_incref(list);
    known_bad_loaded = list != NULL;
}

static json_t *load_known_bad(void)
{
    if (known_bad_loaded)
        return known_bad_list;
    known_bad_loaded = true;
    atexit(known_bad_free);
    const char *cands[3] = {getenv("MCPWALL_KNOWN_BAD"), MCPWALL_DATADIR "/known-bad.json",
                            MCPWALL_SOURCE_DATADIR "/known-bad.json"};
    for (int i = 0; i < 3; i++) {
        if (cands[i] == NULL || access(cands[i], R_OK) != 0)
            continue;
        json_error_t je;
        json_t *v = json_load_file(cands[i], JSON_REJECT_DUPLICATES, &je);
        if (json_is_array(json_object_get(v, "advisories"))) {
            known_bad_list = v;
            return v;
        }
        json_decref(v);
        fprintf(stderr, "mcpwall: %s: not a known-bad list\n", cands[i]);
    }
    return NULL;
}

/* One version component: a number, or a tag compared as text. */
int hostcfg_version_cmp(const char *a, const char *b)
{
    const char *pa = a, *pb = b;
    while (*pa != '\0' || *pb != '\0') {
        /* end of the numeric part: "-tag" or "+build" */
        bool ea = *pa == '\0' || *pa == '-' || *pa == '+';
        bool eb = *pb == '\0' || *pb == '-' || *pb == '+';
        if (ea || eb) {
            if (ea && eb) {
                /* pre-release: absent > present; else compare text */
                bool ra = *pa == '-', rb = *pb == '-';
                if (ra != rb)
                    return ra ? -1 : 1;
                return ra ? strcmp(pa, pb) : 0;
            }
            /* 1.0 vs 1.0.1: the shorter is lower unless the rest is a pre-release */
            return ea ? (*pa == '-' ? -1 : -1) : 1;
        }
        unsigned long long na = 0, nb = 0;
        bool da = isdigit((unsigned char)*pa), db = isdigit((unsigned char)*pb);
        if (da && db) {
            while (isdigit((unsigned char)*pa))
                na = na * 10 + (unsigned long long)(*pa++ - '0') % 10;
            while (isdigit((unsigned char)*pb))
                nb = nb * 10 + (unsigned long long)(*pb++ - '0') % 10;
            if (na != nb)
                return na < nb ? -1 : 1;
        } else {
            /* non-numeric components: text up to the next separator */
            size_t la = strcspn(pa, ".-+"), lb = strcspn(pb, ".-+");
            int c = strncmp(pa, pb, la < lb ? la : lb);
            if (c != 0 || la != lb)
                return c != 0 ? c : (la < lb ? -1 : 1);
            pa += la;
            pb += lb;
        }
        if (*pa == '.')
            pa++;
        if (*pb == '.')
            pb++;
    }
    return 0;
}

json_t *hostcfg_known_bad(const char *ecosystem, const char *package, const char *version)
{
    json_t *list = load_known_bad();
    json_t *hits = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(list, "advisories"), i, a)
    {
        const char *eco = json_string_value(json_object_get(a, "ecosystem"));
        const char *pkg = json_string_value(json_object_get(a, "package"));
        if (eco == NULL || pkg == NULL || strcmp(eco, ecosystem) != 0)
            continue;
        /* PyPI names compare case-insensitively with - and _ alike */
        bool same =
            strcmp(eco, "pypi") == 0 ? strcasecmp(pkg, package) == 0 : strcmp(pkg, package) == 0;
        if (strcmp(eco, "pypi") == 0 && !same) {
            size_t lp = strlen(pkg);
            same = lp == strlen(package);
            for (size_t k = 0; same && k < lp; k++) {
                char x = (char)tolower((unsigned char)pkg[k]),
                     y = (char)tolower((unsigned char)package[k]);
                if (x == '_' || x == '.')
                    x = '-';
                if (y == '_' || y == '.')
                    y = '-';
                same = x == y;
            }
        }
        if (!same)
            continue;
        const char *intro = json_string_value(json_object_get(a, "introduced"));
        const char *fixed = json_string_value(json_object_get(a, "fixed"));
        const char *last = json_string_value(json_object_get(a, "last_affected"));
        if (intro != NULL && hostcfg_version_cmp(version, intro) < 0)
            continue;
        if (fixed != NULL && hostcfg_version_cmp(version, fixed) >= 0)
            continue;
        if (last != NULL && hostcfg_version_cmp(version, last) > 0)
            continue;
        if (hits == NULL)
            hits = json_array();
        json_array_append(hits, a);
    }
    return hits;
}

/* ---- package references in a command line --------------------------------- */

struct pkgref {
    const char *ecosystem; /* "npm", "pypi", "docker" */
    char name[256];
    char version[128]; /* "" when none */
    size_t arg;        /* index in args of the package argument */
    bool floating;
    char why[96];
};

static const char *base_of(const char *p)
{
    const char *b = strrchr(p, '/');
    b = b != NULL ? b + 1 : p;
    const char *bs = strrchr(b, '\\');
    return bs != NULL ? bs + 1 : b;
}

static bool exact_semverish(const char *v)
{
    /* digits and dots, optionally a -prerelease/+build: "1.2.3", "2025.7.1", "1.0.0-rc.1" */
    if (!isdigit((unsigned char)*v))
        return false;
    bool dot = false;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '-' || *p == '+')
            return dot;
        if (*p == '.')
            dot = true;
        else if (!isdigit((unsigned char)*p))
            return false;
    }
    return dot;
}

/* "@scope/name@1.2.3" or "name@^1" -> name and version. */
static void split_npm(const char *spec, struct pkgref *p)
{
    const char *at = strchr(spec[0] == '@' ? spec + 1 : spec, '@');
    if (at == NULL) {
        str_copy(p->name, spec, sizeof(p->name));
        p->version[0] = '\0';
    } else {
        size_t nl = (size_t)(at - spec);
        if (nl >= sizeof(p->name))
            nl = sizeof(p->name) - 1;
        memcpy(p->name, spec, nl);
        p->name[nl] = '\0';
        str_copy(p->version, at + 1, sizeof(p->version));
    }
}

static void judge_npm(struct pkgref *p)
{
    if (p->version[0] == '\0') {
        p->floating = true;
        snprintf(p->why, sizeof(p->why), "no version: the newest release runs on every start");
    } else if (!exact_semverish(p->version)) {
        p->floating = true;
        snprintf(p->why, sizeof(p->why), "'%.40s' is a tag or range, not a version", p->version);
    }
}

/* "pkg==1.2", "pkg@1.2", "pkg>=1" -> name and version (exact only with == or @). */
static void split_py(const char *spec, struct pkgref *p)
{
    size_t nl = strcspn(spec, "=<>~!@[ ");
    if (nl >= sizeof(p->name))
        nl = sizeof(p->name) - 1;
    memcpy(p->name, spec, nl);
    p->name[nl] = '\0';
    const char *rest = spec + nl;
    if (*rest == '[') { /* extras */
        const char *close = strchr(rest, ']');
        rest = close != NULL ? close + 1 : rest + strlen(rest);
    }
    p->version[0] = '\0';
    if (strncmp(rest, "==", 2) == 0 && rest[2] != '=')
        str_copy(p->version, rest + 2, sizeof(p->version));
    else if (*rest == '@')
        str_copy(p->version, rest + 1, sizeof(p->version));
    if (p->version[0] == '\0' || strcmp(p->version, "latest") == 0 ||
        !isdigit((unsigned char)p->version[0])) {
        p->floating = true;
        snprintf(p->why, sizeof(p->why), "%s",
                 *rest != '\0' && p->version[0] == '\0' ? "a version range, not an exact version"
                                                        : "no exact version (==X.Y.Z)");
    }
}

/* Options of runners that take a value (so the value is not the package). */
static bool takes_value(const char *runner, const char *opt)
{
    static const char *const npx_opts[] = {"--registry", "--cache", "--userconfig", "-c", "--call",
                                           "--prefix",   "-w",      "--workspace",  NULL};
    static const char *const uv_opts[] = {
        "--python",          "-p",          "--index-url",   "--index",
        "--extra-index-url", "--directory", "--with",        "--python-preference",
        "--cache-dir",       "--env-file",  "--config-file", NULL};
    static const char *const docker_opts[] = {
        "-e",         "--env",          "-v",         "--volume", "-p",         "--publish",
        "--name",     "--network",      "--env-file", "-w",       "--workdir",  "-u",
        "--user",     "--entrypoint",   "--mount",    "-l",       "--label",    "--platform",
        "--pull",     "--memory",       "-m",         "--cpus",   "--add-host", "--cap-add",
        "--cap-drop", "--security-opt", NULL};
    const char *const *list = strcmp(runner, "docker") == 0 || strcmp(runner, "podman") == 0
                                  ? docker_opts
                              : (runner[0] == 'u' || strcmp(runner, "pipx") == 0) ? uv_opts
                                                                                  : npx_opts;
    if (strchr(opt, '=') != NULL)
        return false;
    for (const char *const *o = list; *o != NULL; o++) {
        if (strcmp(*o, opt) == 0)
            return true;
    }
    return false;
}

/* Finds the package a runner command starts. Returns false for commands
 * that are not package runners. */
static bool find_package(const char *cmd, char **args, size_t nargs, struct pkgref *p)
{
    memset(p, 0, sizeof(*p));
    const char *b = base_of(cmd);
    char runner[32];
    str_copy(runner, b, sizeof(runner));
    char *dot = strrchr(runner, '.');
    if (dot != NULL && (strcmp(dot, ".cmd") == 0 || strcmp(dot, ".exe") == 0))
        *dot = '\0';
    size_t i = 0;
    const char *eco = NULL;
    if (strcmp(runner, "npx") == 0 || strcmp(runner, "bunx") == 0) {
        eco = "npm";
    } else if ((strcmp(runner, "pnpm") == 0 || strcmp(runner, "yarn") == 0 ||
                strcmp(runner, "bun") == 0) &&
               nargs > 0 && (strcmp(args[0], "dlx") == 0 || strcmp(args[0], "x") == 0)) {
        eco = "npm";
        i = 1;
    } else if (strcmp(runner, "npm") == 0 && nargs > 0 &&
               (strcmp(args[0], "exec") == 0 || strcmp(args[0], "x") == 0)) {
        eco = "npm";
        i = 1;
    } else if (strcmp(runner, "uvx") == 0) {
        eco = "pypi";
    } else if (strcmp(runner, "uv") == 0 && nargs > 1 && strcmp(args[0], "tool") == 0 &&
               strcmp(args[1], "run") == 0) {
        eco = "pypi";
        i = 2;
    } else if (strcmp(runner, "pipx") == 0 && nargs > 0 && strcmp(args[0], "run") == 0) {
        eco = "pypi";
        i = 1;
    } else if ((strcmp(runner, "docker") == 0 || strcmp(runner, "podman") == 0) && nargs > 0 &&
               strcmp(args[0], "run") == 0) {
        eco = "docker";
        i = 1;
    } else {
        return false;
    }
    const char *explicit_pkg = NULL;
    size_t explicit_at = 0;
    for (; i < nargs; i++) {
        const char *a = args[i];
        if (a[0] != '-')
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        /* npx -p pkg / --package=pkg ; uvx --from pkg */
        if ((strcmp(a, "-p") == 0 || strcmp(a, "--package") == 0) && strcmp(eco, "npm") == 0 &&
            i + 1 < nargs) {
            explicit_pkg = args[++i];
            explicit_at = i;
            continue;
        }
        if (str_has_prefix(a, "--package=") && strcmp(eco, "npm") == 0) {
            explicit_pkg = a + 10;
            explicit_at = i;
            continue;
        }
        if (strcmp(a, "--from") == 0 && strcmp(eco, "pypi") == 0 && i + 1 < nargs) {
            explicit_pkg = args[++i];
            explicit_at = i;
            continue;
        }
        if (strcmp(a, "--spec") == 0 && i + 1 < nargs) {
            explicit_pkg = args[++i];
            explicit_at = i;
            continue;
        }
        if (takes_value(runner, a) && i + 1 < nargs)
            i++;
    }
    const char *spec = explicit_pkg;
    p->arg = explicit_at;
    if (spec == NULL) {
        if (i >= nargs)
            return false;
        spec = args[i];
        p->arg = i;
    }
    /* local paths are not packages */
    if (spec[0] == '.' || spec[0] == '/' || spec[0] == '~' || strchr(spec, '\\') != NULL ||
        (strcmp(eco, "docker") != 0 && strchr(spec, '/') != NULL && spec[0] != '@') ||
        str_has_prefix(spec, "git+") || str_has_prefix(spec, "http"))
        return false;
    p->ecosystem = eco;
    if (strcmp(eco, "npm") == 0) {
        split_npm(spec, p);
        judge_npm(p);
    } else if (strcmp(eco, "pypi") == 0) {
        split_py(spec, p);
    } else {
        /* docker: image[:tag][@sha256:digest] */
        const char *dig = strstr(spec, "@sha256:");
        const char *last_slash = strrchr(spec, '/');
        const char *colon = strrchr(last_slash != NULL ? last_slash : spec, ':');
        size_t nl = dig != NULL     ? (size_t)(dig - spec)
                    : colon != NULL ? (size_t)(colon - spec)
                                    : strlen(spec);
        if (nl >= sizeof(p->name))
            nl = sizeof(p->name) - 1;
        memcpy(p->name, spec, nl);
        p->name[nl] = '\0';
        if (colon != NULL && (dig == NULL || colon < dig))
            str_copy(p->version, colon + 1, sizeof(p->version));
        if (dig != NULL) {
            char *x = strchr(p->version, '@');
            if (x != NULL)
                *x = '\0';
        } else if (p->version[0] == '\0' || strcmp(p->version, "latest") == 0) {
            p->floating = true;
            snprintf(p->why, sizeof(p->why), "%s",
                     p->version[0] == '\0' ? "no tag: ':latest' "
                                             "is pulled"
                                           : "':latest' moves");
        }
    }
    return true;
}

/* ---- checks of one entry ------------------------------------------------------- */

struct entry_ctx {
    struct scan_report *r;
    int si;
    const struct cfg_doc *doc;
    const json_t *entry;
    const char *host;
};

static struct scan_finding *efind(struct entry_ctx *e, const char *rule, int sev,
                                  const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static struct scan_finding *efind(struct entry_ctx *e, const char *rule, int sev,
                                  const char *pointer, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct scan_finding *f = scan_add_finding(e->r, rule, sev, e->si, -1, "%s", msg);
    if (f != NULL)
        scan_finding_pointer(e->r, f, pointer);
    return f;
}

static const json_t *arg_list(const json_t *entry)
{
    const json_t *a = json_object_get(entry, "args");
    return json_is_array(a) ? a : NULL;
}

/* The command of an entry: "command" (string), or Zed's {"command": {"path"}}. */
static const char *entry_command(const json_t *entry, const json_t **args_out)
{
    const json_t *c = json_object_get(entry, "command");
    *args_out = arg_list(entry);
    if (json_is_string(c))
        return json_string_value(c);
    if (json_is_object(c)) {
        const json_t *a = json_object_get(c, "args");
        if (json_is_array(a))
            *args_out = a;
        return json_string_value(json_object_get(c, "path"));
    }
    return NULL;
}

static const char *entry_url(const json_t *entry, const char **key)
{
    static const char *const keys[] = {"url", "serverUrl", "httpUrl", NULL};
    for (const char *const *k = keys; *k != NULL; k++) {
        const char *u = json_string_value(json_object_get(entry, *k));
        if (u != NULL) {
            *key = *k;
            return u;
        }
    }
    return NULL;
}

static bool is_reference(const char *v)
{
    /* ${env:X}, ${X}, $X, ${input:x}, {{x}}: the value comes from elsewhere */
    return strstr(v, "${") != NULL || (v[0] == '$' && isalpha((unsigned char)v[1])) ||
           strstr(v, "{{") != NULL;
}

static bool is_placeholder(const char *v)
{
    size_t n = strlen(v);
    if (n < 8)
        return true;
    if (v[0] == '<' || str_casestr_n(v, n, "your") != NULL || str_casestr_n(v, n, "xxxx") != NULL ||
        str_casestr_n(v, n, "changeme") != NULL || str_casestr_n(v, n, "placeholder") != NULL ||
        str_casestr_n(v, n, "example") != NULL || str_casestr_n(v, n, "replace") != NULL)
        return true;
    return false;
}

static bool secret_name(const char *name)
{
    static const char *const parts[] = {
        "token",      "secret",      "password",      "passwd", "api_key",    "apikey", "api-key",
        "access_key", "private_key", "client_secret", "auth",   "credential", "pat",    NULL};
    char low[128];
    size_t n = str_copy(low, name, sizeof(low));
    for (size_t i = 0; i < n && i < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)low[i]);
    for (const char *const *p = parts; *p != NULL; p++) {
        const char *hit = strstr(low, *p);
        if (hit == NULL)
            continue;
        /* "pat" and "auth" only as whole words: GITHUB_PAT, X_AUTH, not PATH/AUTHOR */
        if (strcmp(*p, "pat") == 0 || strcmp(*p, "auth") == 0) {
            size_t pl = strlen(*p);
            bool start = hit == low || !isalnum((unsigned char)hit[-1]);
            bool end = !isalnum((unsigned char)hit[pl]) ||
                       (strcmp(*p, "auth") == 0 && strncmp(hit, "authorization", 13) == 0);
            if (!(start && end))
                continue;
        }
        if (strcmp(*p, "token") == 0 && strstr(low, "max_token") != NULL)
            continue;
        return true;
    }
    return false;
}

static void check_secret_value(struct entry_ctx *e, const char *ptr, const char *name,
                               const char *value, const char *where, bool named)
{
    size_t vl = strlen(value);
    bool structural = named && !is_reference(value) && !is_placeholder(value);
    if (structural) {
        struct scan_finding *f = efind(e, "config.inline-secret", -1, ptr,
                                       "server '%s': %s '%s' holds a secret written inline",
                                       e->r->servers[e->si].name, where, name);
        if (f != NULL) {
            /* never show the secret: only its first characters and length */
            char shown[64];
            snprintf(shown, sizeof(shown), "%.4s... (%zu characters)", value, vl);
            scan_finding_evidence(f, shown, strlen(shown));
            scan_finding_span(f, 0, vl);
        }
        return;
    }
    if (!is_reference(value)) {
        struct scan_srcpos pos = {NULL, 0, 0};
        scan_detect_secrets(e->r, e->si, ptr, value, vl, pos);
    }
}

static void ptr_escape(const char *key, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = key; *p != '\0' && o + 3 < outsz; p++) {
        if (*p == '~') {
            out[o++] = '~';
            out[o++] = '0';
        } else if (*p == '/') {
            out[o++] = '~';
            out[o++] = '1';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void check_secrets(struct entry_ctx *e)
{
    static const char *const maps[] = {"env", "headers", "requestInit", NULL};
    char ptr[600], ek[256];
    for (const char *const *m = maps; *m != NULL; m++) {
        json_t *obj = json_object_get(e->entry, *m);
        if (strcmp(*m, "requestInit") == 0)
            obj = json_object_get(obj, "headers");
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v)
        {
            if (!json_is_string(v))
                continue;
            ptr_escape(k, ek, sizeof(ek));
            snprintf(ptr, sizeof(ptr), "/%s%s/%s", *m,
                     strcmp(*m, "requestInit") == 0 ? "/headers" : "", ek);
            bool named = secret_name(k) || strcasecmp(k, "authorization") == 0 ||
                         strcasecmp(k, "cookie") == 0;
            check_secret_value(e, ptr, k, json_string_value(v),
                               strcmp(*m, "env") == 0 ? "environment variable" : "header", named);
        }
    }
    /* arguments: --api-key=VALUE, --token VALUE, Authorization:Bearer x (mcp-remote --header) */
    const json_t *args;
    entry_command(e->entry, &args);
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a)
    {
        const char *s = json_string_value(a);
        if (s == NULL)
            continue;
        snprintf(ptr, sizeof(ptr), "/args/%zu", i);
        if (s[0] == '-') {
            const char *eq = strchr(s, '=');
            char opt[128];
            size_t ol = eq != NULL ? (size_t)(eq - s) : strlen(s);
            if (ol >= sizeof(opt))
                ol = sizeof(opt) - 1;
            memcpy(opt, s, ol);
            opt[ol] = '\0';
            const char *name = opt;
            while (*name == '-')
                name++;
            if (secret_name(name)) {
                const char *val =
                    eq != NULL ? eq + 1 : json_string_value(json_array_get(args, i + 1));
                if (val != NULL && val[0] != '-') {
                    if (eq == NULL)
                        snprintf(ptr, sizeof(ptr), "/args/%zu", i + 1);
                    check_secret_value(e, ptr, opt, val, "argument", true);
                }
                continue;
            }
        }
        if (str_casestr_n(s, strlen(s), "authorization:") != NULL) {
            const char *colon = strchr(s, ':');
            const char *val = colon + 1;
            while (*val == ' ')
                val++;
            check_secret_value(e, ptr, "Authorization", val, "argument", true);
            continue;
        }
        check_secret_value(e, ptr, "", s, "argument", false);
    }
}

static void check_package(struct entry_ctx *e, const char *cmd, const json_t *args)
{
    size_t n = json_array_size(args);
    if (n > HOSTCFG_MAX_ARGS)
        n = HOSTCFG_MAX_ARGS;
    char **av = calloc(n + 1, sizeof(*av));
    if (av == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(args, i));
        av[i] = (char *)(s != NULL ? s : "");
    }
    struct pkgref p;
    if (find_package(cmd, av, n, &p)) {
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/args/%zu", p.arg);
        const char *name = e->r->servers[e->si].name;
        if (p.floating) {
            struct scan_finding *f = efind(e, "config.floating-version", -1, ptr,
                                           "server '%s' runs %s package '%s' unpinned: %s", name,
                                           p.ecosystem, p.name, p.why);
            const char *s = av[p.arg];
            scan_finding_evidence(f, s, strlen(s));
        } else if (strcmp(p.ecosystem, "docker") != 0) {
            json_t *advs = hostcfg_known_bad(p.ecosystem, p.name, p.version);
            size_t k;
            json_t *adv;
            json_array_foreach(advs, k, adv)
            {
                enum scan_sev sev;
                const char *sv = json_string_value(json_object_get(adv, "severity"));
                int isev = sv != NULL && scan_sev_parse(sv, &sev) == 0 ? (int)sev : -1;
                struct scan_finding *f =
                    efind(e, "config.known-bad-package", isev, ptr,
                          "server '%s' runs %s %s@%s: %s %s", name, p.ecosystem, p.name, p.version,
                          json_string_value(json_object_get(adv, "id")),
                          json_string_value(json_object_get(adv, "summary")));
                const char *s = av[p.arg];
                scan_finding_evidence(f, s, strlen(s));
            }
            json_decref(advs);
        }
    }
    free(av);
}

static bool is_shell(const char *b)
{
    static const char *const shells[] = {"sh",   "bash", "zsh",     "dash", "ksh",
                                         "fish", "ash",  "busybox", NULL};
    for (const char *const *s = shells; *s != NULL; s++) {
        if (strcmp(b, *s) == 0)
            return true;
    }
    return false;
}

/* A whole command line as one string (for curl | sh). */
static void join_cmdline(const char *cmd, const json_t *args, struct buf *b)
{
    buf_append_str(b, cmd);
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a)
    {
        if (json_is_string(a)) {
            buf_append_char(b, ' ');
            buf_append_str(b, json_string_value(a));
        }
    }
    buf_cstr(b);
}

/* "curl ... | sh", "wget -O- ... | bash", "iwr ... | iex": a download piped to an interpreter. */
static bool pipe_to_shell(const char *s, size_t *at)
{
    static const char *const fetchers[] = {
        "curl ", "wget ", "iwr ", "irm ", "invoke-webrequest", "invoke-restmethod", NULL};
    static const char *const sinks[] = {"sh",
                                        "bash",
                                        "zsh",
                                        "dash",
                                        "python",
                                        "python3",
                                        "node",
                                        "perl",
                                        "ruby",
                                        "iex",
                                        "invoke-expression",
                                        "sudo",
                                        NULL};
    size_t n = strlen(s);
    for (const char *const *f = fetchers; *f != NULL; f++) {
        const char *hit = str_casestr_n(s, n, *f);
        if (hit == NULL)
            continue;
        const char *pipe = strchr(hit, '|');
        while (pipe != NULL) {
            const char *q = pipe + 1;
            while (*q == ' ')
                q++;
            for (const char *const *k = sinks; *k != NULL; k++) {
                size_t kl = strlen(*k);
                if (strncasecmp(q, *k, kl) == 0 && !isalnum((unsigned char)q[kl])) {
                    *at = (size_t)(hit - s);
                    return true;
                }
            }
            pipe = strchr(pipe + 1, '|');
        }
    }
    return false;
}

static void check_command(struct entry_ctx *e)
{
    const json_t *args;
    const char *cmd = entry_command(e->entry, &args);
    if (cmd == NULL)
        return;
    const char *b = base_of(cmd);
    const char *name = e->r->servers[e->si].name;
    /* shells with -c, cmd /c, powershell -Command */
    size_t n = json_array_size(args);
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(args, i));
        if (a == NULL)
            continue;
        bool shc = is_shell(b) && a[0] == '-' && a[1] != '-' && strchr(a, 'c') != NULL;
        bool cmdc = (strcasecmp(b, "cmd") == 0 || strcasecmp(b, "cmd.exe") == 0) &&
                    (strcasecmp(a, "/c") == 0 || strcasecmp(a, "/k") == 0);
        bool psc = (strncasecmp(b, "powershell", 10) == 0 || strncasecmp(b, "pwsh", 4) == 0) &&
                   (strcasecmp(a, "-command") == 0 || strcasecmp(a, "-c") == 0 ||
                    strcasecmp(a, "-encodedcommand") == 0 || strcasecmp(a, "-e") == 0);
        if (shc || cmdc || psc) {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/args/%zu", i);
            const char *script = json_string_value(json_array_get(args, i + 1));
            struct scan_finding *f = efind(e, "config.shell-command", -1, ptr,
                                           "server '%s' is started through %s %s", name, b, a);
            if (script != NULL)
                scan_finding_evidence(f, script, strlen(script));
            break;
        }
    }
    struct buf line;
    buf_init(&line, 1u << 20);
    join_cmdline(cmd, args, &line);
    size_t at;
    if (line.data != NULL && pipe_to_shell(buf_head(&line), &at)) {
        /* which argument holds the download (the line is command + ' ' + args) */
        char ptr[64] = "/command";
        size_t off = strlen(cmd);
        for (size_t i = 0; i < n; i++) {
            const char *a = json_string_value(json_array_get(args, i));
            if (a == NULL)
                continue;
            size_t al = strlen(a);
            if (at >= off + 1 && at < off + 1 + al) {
                snprintf(ptr, sizeof(ptr), "/args/%zu", i);
                break;
            }
            off += 1 + al;
        }
        struct scan_finding *f = efind(e, "config.curl-pipe-shell", -1, ptr,
                                       "server '%s' downloads a script and runs it", name);
        scan_finding_evidence(f, buf_head(&line) + at, buf_used(&line) - at);
    }
    buf_free(&line);
    check_package(e, cmd, args);

    /* listening on every interface */
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(args, i));
        if (a == NULL)
            continue;
        bool all = strstr(a, "0.0.0.0") != NULL || strcmp(a, "::") == 0 ||
                   strstr(a, "=::") != NULL || strstr(a, "[::]") != NULL;
        /* docker -p 8080:8080 publishes on every interface */
        const char *prev = i > 0 ? json_string_value(json_array_get(args, i - 1)) : NULL;
        bool publish = prev != NULL &&
                       (strcmp(prev, "-p") == 0 || strcmp(prev, "--publish") == 0) &&
                       (strchr(a, ':') == strrchr(a, ':')) && strchr(a, ':') != NULL &&
                       (strcmp(b, "docker") == 0 || strcmp(b, "podman") == 0);
        if (all || publish) {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/args/%zu", i);
            struct scan_finding *f = efind(e, "config.bind-all-interfaces", -1, ptr,
                                           "server '%s' listens on all interfaces (%s)", name,
                                           publish ? "docker -p without an address" : a);
            scan_finding_evidence(f, a, strlen(a));
            break;
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(e->entry, "env"), k, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && (strcmp(s, "0.0.0.0") == 0 || strcmp(s, "::") == 0) &&
            (str_casestr_n(k, strlen(k), "host") != NULL ||
             str_casestr_n(k, strlen(k), "bind") != NULL ||
             str_casestr_n(k, strlen(k), "listen") != NULL)) {
            char ptr[300], ek[256];
            ptr_escape(k, ek, sizeof(ek));
            snprintf(ptr, sizeof(ptr), "/env/%s", ek);
            struct scan_finding *f =
                efind(e, "config.bind-all-interfaces", -1, ptr,
                      "server '%s' listens on all interfaces (%s=%s)", name, k, s);
            scan_finding_evidence(f, s, strlen(s));
        }
    }
}

static void check_url(struct entry_ctx *e)
{
    const char *key;
    const char *url = entry_url(e->entry, &key);
    if (url == NULL)
        return;
    char ptr[32];
    snprintf(ptr, sizeof(ptr), "/%s", key);
    if (str_has_prefix(url, "http://") && !is_reference(url) && !http_url_is_loopback(url)) {
        struct scan_finding *f =
            efind(e, "http.plaintext", -1, ptr, "server '%s' is reached over plain HTTP",
                  e->r->servers[e->si].name);
        scan_finding_evidence(f, url, strlen(url));
    }
    if (strstr(url, "0.0.0.0") != NULL) {
        struct scan_finding *f = efind(e, "config.bind-all-interfaces", SCAN_SEV_LOW, ptr,
                                       "server '%s' is addressed as 0.0.0.0 (it listens on every "
                                       "interface)",
                                       e->r->servers[e->si].name);
        scan_finding_evidence(f, url, strlen(url));
    }
    /* tokens in the query string end up in logs */
    const char *q = strchr(url, '?');
    if (q != NULL) {
        static const char *const keys[] = {
            "token=", "key=", "apikey=", "api_key=", "secret=", "access_token=", "password=", NULL};
        for (const char *const *kk = keys; *kk != NULL; kk++) {
            const char *hit = str_casestr_n(q, strlen(q), *kk);
            if (hit != NULL && (hit[-1] == '?' || hit[-1] == '&')) {
                const char *val = hit + strlen(*kk);
                size_t vl = strcspn(val, "&#");
                char v[512];
                size_t cl = vl < sizeof(v) - 1 ? vl : sizeof(v) - 1;
                memcpy(v, val, cl);
                v[cl] = '\0';
                if (!is_reference(v) && !is_placeholder(v))
                    check_secret_value(e, ptr, *kk, v, "URL parameter", true);
                break;
            }
        }
    }
}

static void check_auto_approve(struct entry_ctx *e)
{
    const char *name = e->r->servers[e->si].name;
    if (json_is_true(json_object_get(e->entry, "trust")))
        efind(e, "config.auto-approve", -1, "/trust",
              "server '%s': trust is true, so every tool call runs without confirmation", name);
    static const char *const lists[] = {"autoApprove", "alwaysAllow", NULL};
    for (const char *const *l = lists; *l != NULL; l++) {
        json_t *a = json_object_get(e->entry, *l);
        if (json_is_array(a) && json_array_size(a) > 0) {
            char ptr[32];
            snprintf(ptr, sizeof(ptr), "/%s", *l);
            efind(e, "config.auto-approve", SCAN_SEV_LOW, ptr,
                  "server '%s': %zu tools run without confirmation (%s)", name, json_array_size(a),
                  *l);
        }
    }
}

static char *entry_target(const json_t *entry)
{
    const char *key;
    const char *url = entry_url(entry, &key);
    if (url != NULL)
        return strdup(url);
    const json_t *args;
    const char *cmd = entry_command(entry, &args);
    if (cmd == NULL)
        return strdup("(no command or url)");
    struct buf b;
    buf_init(&b, 65536);
    join_cmdline(cmd, args, &b);
    char *s = b.data != NULL ? strdup(buf_head(&b)) : strdup(cmd);
    buf_free(&b);
    return s;
}

static void add_entry(struct scan_report *r, const struct cfg_doc *doc, const char *host,
                      const json_t *servers, const char *name, const json_t *entry)
{
    char *target = entry_target(entry);
    int si = scan_add_server(r, name, target != NULL ? target : "", SCAN_TR_NONE);
    free(target);
    if (si < 0)
        return;
    struct scan_server *s = &r->servers[si];
    s->host = strdup(host);
    s->cfg = json_incref((json_t *)entry);
    s->doc = doc;
    struct cfg_pos p = cfg_key_pos_of(doc, servers, name);
    s->cfgpos.file = scan_intern(r, doc->path);
    s->cfgpos.line = p.line;
    s->cfgpos.col = p.col;
    if (!json_is_object(entry)) {
        struct scan_finding *f = scan_add_finding(r, "config.unsupported-entry", -1, si, -1,
                                                  "server '%s': the entry is not an object", name);
        (void)f;
        return;
    }
    struct entry_ctx e = {r, si, doc, entry, host};
    const json_t *args;
    const char *key;
    if (entry_command(entry, &args) == NULL && entry_url(entry, &key) == NULL) {
        scan_add_finding(r, "config.unsupported-entry", -1, si, -1,
                         "server '%s' has neither a command nor a url", name);
        return;
    }
    check_secrets(&e);
    check_command(&e);
    check_url(&e);
    check_auto_approve(&e);
}

static size_t add_servers(struct scan_report *r, const struct cfg_doc *doc, const char *host,
                          const json_t *servers, json_t *names)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)servers, k, v)
    {
        add_entry(r, doc, host, servers, k, v);
        json_array_append_new(names, json_string(k));
        n++;
    }
    return n;
}

int hostcfg_load_mem(struct scan_report *r, const char *path, const char *host, const char *data,
                     size_t len, char *err, size_t errsz)
{
    if (len > HOSTCFG_MAX_FILE) {
        herr(err, errsz, "%s: larger than %u bytes", path, HOSTCFG_MAX_FILE);
        return -1;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        herr(err, errsz, "out of memory");
        return -1;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    hostcfg_strip_jsonc(copy, len);
    size_t lead = 0;
    if (len >= 3 && (unsigned char)copy[0] == 0xef && (unsigned char)copy[1] == 0xbb &&
        (unsigned char)copy[2] == 0xbf)
        copy[0] = copy[1] = copy[2] = ' ';
    struct cfg_errors ce;
    cfg_errors_init(&ce);
    struct cfg_doc *doc = cfg_load_mem(path, copy + lead, len - lead, true, &ce);
    free(copy);
    if (doc == NULL) {
        herr(err, errsz, "%s", ce.n > 0 ? ce.msgs[0] : "cannot parse");
        cfg_errors_free(&ce);
        return -1;
    }
    cfg_errors_free(&ce);
    const struct cfg_doc *kept = scan_keep_doc(r, doc);
    if (kept == NULL) {
        herr(err, errsz, "out of memory");
        return -1;
    }
    if (host == NULL)
        host = hostcfg_host_from_path(path);
    if (host == NULL)
        host = "generic";
    const json_t *root = kept->root;
    if (!json_is_object(root)) {
        herr(err, errsz, "%s: not a JSON object", path);
        return -1;
    }
    json_t *names = json_array();
    size_t n = 0;
    json_t *ms = json_object_get(root, "mcpServers");
    if (json_is_object(ms))
        n += add_servers(r, kept, host, ms, names);
    json_t *vs = json_object_get(root, "servers");
    if (json_is_object(vs))
        n += add_servers(r, kept, host, vs, names);
    json_t *mvs = json_object_get(json_object_get(root, "mcp"), "servers");
    if (json_is_object(mvs))
        n += add_servers(r, kept, host, mvs, names);
    json_t *zed = json_object_get(root, "context_servers");
    if (json_is_object(zed))
        n += add_servers(r, kept, host, zed, names);
    json_t *projects = json_object_get(root, "projects");
    const char *pk;
    json_t *pv;
    json_object_foreach(projects, pk, pv)
    {
        json_t *pms = json_object_get(pv, "mcpServers");
        if (json_is_object(pms))
            n += add_servers(r, kept, host, pms, names);
    }
    json_array_append_new(
        r->configs, json_pack("{s:s, s:s, s:o}", "host", host, "file", path, "servers", names));
    (void)n;
    return 0;
}

int hostcfg_load(struct scan_report *r, const char *path, const char *host, char *err, size_t errsz)
{
    size_t len;
    enum file_status fs;
    char *data = file_read_all(path, HOSTCFG_MAX_FILE, &len, &fs);
    if (data == NULL) {
        file_read_error(err, errsz, path, HOSTCFG_MAX_FILE, fs);
        return -1;
    }
    int rc = hostcfg_load_mem(r, path, host, data, len, err, errsz);
    free(data);
    return rc;
}

size_t hostcfg_discover(struct scan_report *r, const char *home)
{
    size_t found = 0;
    char path[4096];
    json_t *seen = json_object();
    for (const struct location *l = locations; l->host != NULL; l++) {
        if (l->rel[0] == '/')
            str_copy(path, l->rel, sizeof(path));
        else if (str_has_prefix(l->rel, "./"))
            str_copy(path, l->rel + 2, sizeof(path));
        else if (home != NULL)
            snprintf(path, sizeof(path), "%s/%s", home, l->rel);
        else
            continue;
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        char real[4096];
        const char *key = realpath(path, real) != NULL ? real : path;
        if (json_object_get(seen, key) != NULL)
            continue;
        json_object_set_new(seen, key, json_true());
        char err[512];
        if (hostcfg_load(r, path, l->host, err, sizeof(err)) < 0)
            fprintf(stderr, "mcpwall scan: %s\n", err);
        else
            found++;
    }
    json_decref(seen);
    return found;
}

/* ---- --connect ------------------------------------------------------------------- */

/* Expands ${env:X}, ${X}, ${X:-default}, $X, ${userHome}. -1 for what only the
 * host can answer (${input:...}, ${workspaceFolder} ...). */
static int expand(const char *in, struct buf *out, char *why, size_t whysz)
{
    for (const char *p = in; *p != '\0';) {
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL) {
                buf_append_str(out, p);
                break;
            }
            char var[256];
            size_t vl = (size_t)(close - p - 2);
            if (vl >= sizeof(var)) {
                snprintf(why, whysz, "variable name too long");
                return -1;
            }
            memcpy(var, p + 2, vl);
            var[vl] = '\0';
            const char *name = var;
            const char *dflt = NULL;
            if (str_has_prefix(var, "env:")) {
                name = var + 4;
            } else if (strcmp(var, "userHome") == 0) {
                name = "HOME";
            } else if (strchr(var, ':') != NULL && strstr(var, ":-") == NULL) {
                snprintf(why, whysz, "needs ${%.100s}, which only the host can provide", var);
                return -1;
            } else if (strcmp(var, "workspaceFolder") == 0 || strcmp(var, "pathSeparator") == 0) {
                snprintf(why, whysz, "needs ${%.100s}, which only the host can provide", var);
                return -1;
            }
            char *dash = strstr(var, ":-");
            if (dash != NULL) {
                *dash = '\0';
                dflt = dash + 2;
            }
            const char *val = getenv(name);
            if (val == NULL || *val == '\0')
                val = dflt;
            if (val == NULL) {
                snprintf(why, whysz, "environment variable %.100s is not set", name);
                return -1;
            }
            buf_append_str(out, val);
            p = close + 1;
        } else if (p[0] == '$' && (isalpha((unsigned char)p[1]) || p[1] == '_')) {
            const char *q = p + 1;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            char var[256];
            size_t vl = (size_t)(q - p - 1);
            if (vl >= sizeof(var))
                vl = sizeof(var) - 1;
            memcpy(var, p + 1, vl);
            var[vl] = '\0';
            const char *val = getenv(var);
            if (val == NULL) {
                snprintf(why, whysz, "environment variable %.100s is not set", var);
                return -1;
            }
            buf_append_str(out, val);
            p = q;
        } else {
            buf_append_char(out, *p++);
        }
    }
    return buf_cstr(out);
}

static char *expand_dup(const char *in, char *why, size_t whysz)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    if (expand(in, &b, why, whysz) < 0) {
        buf_free(&b);
        return NULL;
    }
    char *s = strdup(b.data != NULL ? buf_head(&b) : "");
    buf_free(&b);
    return s;
}

int hostcfg_launch_of(const struct scan_server *s, struct hostcfg_launch *out)
{
    memset(out, 0, sizeof(*out));
    const json_t *entry = s->cfg;
    if (json_is_true(json_object_get(entry, "disabled"))) {
        snprintf(out->why_not, sizeof(out->why_not), "disabled in the config");
        return -1;
    }
    const char *key;
    const char *url = entry_url(entry, &key);
    if (url != NULL) {
        out->url = expand_dup(url, out->why_not, sizeof(out->why_not));
        if (out->url == NULL)
            return -1;
        json_t *h = json_object_get(entry, "headers");
        if (json_is_object(h)) {
            out->headers = json_object();
            const char *k;
            json_t *v;
            json_object_foreach(h, k, v)
            {
                if (!json_is_string(v))
                    continue;
                char *ev = expand_dup(json_string_value(v), out->why_not, sizeof(out->why_not));
                if (ev == NULL)
                    return -1;
                json_object_set_new(out->headers, k, json_string(ev));
                free(ev);
            }
        }
        return 0;
    }
    const json_t *args;
    const char *cmd = entry_command(entry, &args);
    if (cmd == NULL) {
        snprintf(out->why_not, sizeof(out->why_not), "no command or url");
        return -1;
    }
    size_t n = json_array_size(args);
    if (n > HOSTCFG_MAX_ARGS) {
        snprintf(out->why_not, sizeof(out->why_not), "too many arguments");
        return -1;
    }
    out->argv = calloc(n + 2, sizeof(*out->argv));
    if (out->argv == NULL)
        return -1;
    out->argv[0] = expand_dup(cmd, out->why_not, sizeof(out->why_not));
    if (out->argv[0] == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(args, i));
        out->argv[i + 1] = expand_dup(a != NULL ? a : "", out->why_not, sizeof(out->why_not));
        if (out->argv[i + 1] == NULL)
            return -1;
    }
    json_t *env = json_object_get(entry, "env");
    if (json_is_object(json_object_get(entry, "command")))
        env = json_object_get(json_object_get(entry, "command"), "env");
    out->env = calloc(json_object_size(env) + 1, sizeof(*out->env));
    if (out->env == NULL)
        return -1;
    size_t k = 0;
    const char *ek;
    json_t *ev;
    json_object_foreach(env, ek, ev)
    {
        if (!json_is_string(ev))
            continue;
        char *val = expand_dup(json_string_value(ev), out->why_not, sizeof(out->why_not));
        if (val == NULL)
            return -1;
        size_t l = strlen(ek) + strlen(val) + 2;
        out->env[k] = malloc(l);
        if (out->env[k] != NULL)
            snprintf(out->env[k++], l, "%s=%s", ek, val);
        free(val);
    }
    const char *cwd = json_string_value(json_object_get(entry, "cwd"));
    if (cwd != NULL) {
        out->cwd = expand_dup(cwd, out->why_not, sizeof(out->why_not));
        if (out->cwd == NULL)
            return -1;
    }
    return 0;
}

void hostcfg_launch_free(struct hostcfg_launch *l)
{
    if (l->argv != NULL) {
        for (size_t i = 0; l->argv[i] != NULL; i++)
            free(l->argv[i]);
        free(l->argv);
    }
    if (l->env != NULL) {
        for (size_t i = 0; l->env[i] != NULL; i++)
            free(l->env[i]);
        free(l->env);
    }
    free(l->cwd);
    free(l->url);
    json_decref(l->headers);
    memset(l, 0, sizeof(*l));
}
