/* cmd_pins.c - `mcpwall pins diff|approve`: compare servers' current tool
 * and prompt definitions with the lockfile, and accept changes into it. */
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
#include "proto/json.h"
#include "scan/detect_bridge.h"
#include "util/str.h"

#define PINS_MAX_TOOL_ARGS 256
#define DIFF_MAX_LINES     2000u

static void pins_usage(FILE *f)
{
    fprintf(f,
            "usage: mcpwall pins diff [options] [TARGET...] [-- COMMAND [ARGS...]]\n"
            "       mcpwall pins approve [options] [--tool NAME]... [TARGET...] [-- COMMAND...]\n"
            "\n"
            "Lists the servers' tools and prompts as `mcpwall scan` does (same targets) and\n"
            "compares them with the lockfile. diff prints what changed and exits 1 when\n"
            "something did; approve writes the current definitions into the lockfile (all\n"
            "of them, or only the --tool names).\n"
            "\n"
            "options:\n"
            "      --lock FILE      the lockfile (default mcpwall.lock)\n"
            "      --name NAME      server name for a single command or URL target\n"
            "  -H, --header 'K: V'  HTTP header for URL targets\n"
            "      --host-configs   the servers of the host configs (with --connect)\n"
            "      --connect        start/contact the servers the host configs name\n"
            "      --home DIR       home directory for --host-configs\n"
            "      --timeout DUR    time limit per request (default 30s)\n"
            "      --tool NAME      approve: only this tool or prompt (repeatable)\n");
}

/* Splits s into lines (pointers into a copy). */
static size_t split_lines(const char *s, char ***out, char **copy)
{
    *copy = strdup(s != NULL ? s : "");
    size_t n = 1;
    for (const char *p = *copy; *p != '\0'; p++)
        n += *p == '\n';
    *out = calloc(n, sizeof(**out));
    size_t k = 0;
    char *line = *copy;
    for (char *p = *copy;; p++) {
        if (*p == '\n' || *p == '\0') {
            bool end = *p == '\0';
            *p = '\0';
            (*out)[k++] = line;
            line = p + 1;
            if (end)
                break;
        }
    }
    return k;
}

/* Prints a line with control characters shown as escapes. */
static void print_line(char mark, const char *s)
{
    printf("      %c ", mark);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02X", *p);
        else
            putchar(*p);
    }
    putchar('\n');
}

/* A line diff by longest common subsequence (small texts; larger ones are
 * shown whole, old then new). */
static void diff_text(const char *a, const char *b)
{
    char **la, **lb, *ca, *cb;
    size_t na = split_lines(a, &la, &ca), nb = split_lines(b, &lb, &cb);
    if (la == NULL || lb == NULL || na > DIFF_MAX_LINES || nb > DIFF_MAX_LINES) {
        for (size_t i = 0; la != NULL && i < na; i++)
            print_line('-', la[i]);
        for (size_t i = 0; lb != NULL && i < nb; i++)
            print_line('+', lb[i]);
        goto out;
    }
    size_t *t = calloc((na + 1) * (nb + 1), sizeof(*t));
    if (t == NULL)
        goto out;
#define T(i, j) t[(i) * (nb + 1) + (j)]
    for (size_t i = na; i-- > 0;) {
        for (size_t j = nb; j-- > 0;)
            T(i, j) = strcmp(la[i], lb[j]) == 0
                          ? T(i + 1, j + 1) + 1
                          : (T(i + 1, j) > T(i, j + 1) ? T(i + 1, j) : T(i, j + 1));
    }
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        if (i < na && j < nb && strcmp(la[i], lb[j]) == 0) {
            print_line(' ', la[i]);
            i++;
            j++;
        } else if (j < nb && (i == na || T(i, j + 1) >= T(i + 1, j))) {
            print_line('+', lb[j++]);
        } else {
            print_line('-', la[i++]);
        }
    }
#undef T
    free(t);
out:
    free(la);
    free(lb);
    free(ca);
    free(cb);
}

static void diff_defs(const json_t *old, const json_t *cur)
{
    json_t *keys = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)old, k, v)
    {
        json_object_set_new(keys, k, json_true());
    }
    json_object_foreach((json_t *)cur, k, v)
    {
        json_object_set_new(keys, k, json_true());
    }
    json_object_foreach(keys, k, v)
    {
        const json_t *a = json_object_get(old, k), *b = json_object_get(cur, k);
        if (json_equal(a, b))
            continue;
        printf("    %s:\n", k);
        if ((a == NULL || json_is_string(a)) && (b == NULL || json_is_string(b))) {
            diff_text(json_string_value(a), json_string_value(b));
        } else {
            char *sa = a != NULL ? json_dumps(a, JSON_INDENT(2) | JSON_SORT_KEYS) : strdup("");
            char *sb = b != NULL ? json_dumps(b, JSON_INDENT(2) | JSON_SORT_KEYS) : strdup("");
            diff_text(sa, sb);
            free(sa);
            free(sb);
        }
    }
    json_decref(keys);
}

static json_t *defs_of(const struct scan_server *s, enum scan_kind kind)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nitems; i++) {
        if (s->items[i].kind == kind)
            json_array_append(a, s->items[i].def);
    }
    return a;
}

static const json_t *def_named(const struct scan_server *s, enum scan_kind kind, const char *name)
{
    for (size_t i = 0; i < s->nitems; i++) {
        if (s->items[i].kind == kind && strcmp(s->items[i].name, name) == 0)
            return s->items[i].def;
    }
    return NULL;
}

/* Prints the differences of one server; returns how many. */
static size_t diff_server(const struct pins *p, const struct scan_server *s, const char *lock)
{
    size_t changes = 0;
    if (!pins_has_server(p, s->name)) {
        printf("server %s: not in %s (%zu definitions)\n", s->name, lock, s->nitems);
        return s->nitems > 0 ? 1 : 0;
    }
    bool header = false;
    for (int k = 0; k < 2; k++) {
        enum pins_kind pk = k == 0 ? PINS_TOOL : PINS_PROMPT;
        enum scan_kind sk = k == 0 ? SCAN_KIND_TOOL : SCAN_KIND_PROMPT;
        if (!pins_has_kind(p, s->name, pk))
            continue;
        json_t *defs = defs_of(s, sk);
        struct pins_result res;
        if (pins_check(p, s->name, pk, defs, &res) < 0) {
            json_decref(defs);
            continue;
        }
        for (size_t i = 0; i < res.n; i++) {
            const struct pins_delta *d = &res.d[i];
            if (d->status == PINS_UNCHANGED)
                continue;
            if (!header) {
                printf("server %s (%s)\n", s->name, lock);
                header = true;
            }
            changes++;
            printf("  %-8s %s %s", pins_status_name(d->status), scan_kind_name(sk), d->name);
            if (d->status == PINS_CHANGED)
                printf("  sha256 %.12s... -> %.12s...", d->old_hash, d->new_hash);
            putchar('\n');
            if (d->status == PINS_CHANGED) {
                const json_t *old = pins_lookup_def(p, s->name, pk, d->name);
                if (old != NULL)
                    diff_defs(old, def_named(s, sk, d->name));
                else
                    printf("    (the lockfile keeps no definition to compare with)\n");
            }
        }
        pins_result_free(&res);
        json_decref(defs);
    }
    return changes;
}

int cmd_pins(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        pins_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    bool approve = strcmp(verb, "approve") == 0;
    if (!approve && strcmp(verb, "diff") != 0) {
        fprintf(stderr, "mcpwall pins: unknown action '%s' (diff, approve)\n", verb);
        return 2;
    }
    argc--;
    argv++;
    struct scan_cli c;
    memset(&c, 0, sizeof(c));
    c.probe = false;
    const char *tools[PINS_MAX_TOOL_ARGS];
    size_t ntools = 0;
    int cmd_at = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            cmd_at = i;
            break;
        }
    }
    int oargc = cmd_at >= 0 ? cmd_at : argc;
    enum { O_LOCK = 256, O_NAME, O_HOSTCFG, O_CONNECT, O_HOME, O_TIMEOUT, O_TOOL };
    static const struct option longopts[] = {
        {"lock", required_argument, NULL, O_LOCK},
        {"name", required_argument, NULL, O_NAME},
        {"header", required_argument, NULL, 'H'},
        {"host-configs", no_argument, NULL, O_HOSTCFG},
        {"connect", no_argument, NULL, O_CONNECT},
        {"home", required_argument, NULL, O_HOME},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"tool", required_argument, NULL, O_TOOL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int ch;
    while ((ch = getopt_long(oargc, argv, "H:h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_LOCK:
            c.lock = optarg;
            break;
        case O_NAME:
            c.name = optarg;
            break;
        case 'H':
            if (c.nheaders >= SCAN_MAX_HEADERS || strchr(optarg, ':') == NULL) {
                fprintf(stderr, "mcpwall pins: -H takes 'Name: value'\n");
                return 2;
            }
            c.headers[c.nheaders++] = optarg;
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
        case O_TIMEOUT:
            if (parse_duration_us(optarg, &c.co.timeout_us) < 0 || c.co.timeout_us == 0) {
                fprintf(stderr, "mcpwall pins: bad --timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case O_TOOL:
            if (!approve || ntools >= PINS_MAX_TOOL_ARGS) {
                fprintf(stderr, "mcpwall pins: --tool is for approve (at most %d)\n",
                        PINS_MAX_TOOL_ARGS);
                return 2;
            }
            tools[ntools++] = optarg;
            break;
        case 'h':
            pins_usage(stdout);
            return 0;
        default:
            pins_usage(stderr);
            return 2;
        }
    }
    bool have_cmd = cmd_at >= 0 && cmd_at + 1 < argc;
    if (oargc - optind == 0 && !have_cmd && !c.host_configs) {
        pins_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *lock = c.lock != NULL ? c.lock : "mcpwall.lock";
    struct pins_err pe;
    struct pins *p = NULL;
    if (access(lock, F_OK) == 0) {
        p = pins_load(lock, &pe);
        if (p == NULL) {
            fprintf(stderr, "mcpwall pins: %s\n", pe.msg);
            return 3;
        }
    } else if (!approve) {
        fprintf(stderr, "mcpwall pins: %s: no such lockfile (create it with mcpwall scan --pin)\n",
                lock);
        return 3;
    } else {
        p = pins_new("mcpwall " MCPWALL_VERSION);
    }
    struct scan_report r;
    scan_report_init(&r);
    int status = scan_cli_collect(&r, &c, argv + optind, oargc - optind,
                                  have_cmd ? argv + cmd_at + 1 : NULL);
    size_t changes = 0, approved = 0;
    for (size_t s = 0; s < r.nservers; s++) {
        const struct scan_server *sv = &r.servers[s];
        if (sv->transport == SCAN_TR_NONE)
            continue;
        if (sv->error != NULL) {
            fprintf(stderr, "mcpwall pins: %s: %s\n", sv->name, sv->error);
            status = 3;
            continue;
        }
        if (!approve) {
            changes += diff_server(p, sv, lock);
            continue;
        }
        if (ntools == 0) {
            json_t *t = defs_of(sv, SCAN_KIND_TOOL), *pr = defs_of(sv, SCAN_KIND_PROMPT);
            if (pins_set(p, sv->name, sv->target, PINS_TOOL, t) == 0 &&
                pins_set(p, sv->name, sv->target, PINS_PROMPT, pr) == 0)
                approved += json_array_size(t) + json_array_size(pr);
            json_decref(t);
            json_decref(pr);
            continue;
        }
        for (size_t k = 0; k < ntools; k++) {
            const json_t *d = def_named(sv, SCAN_KIND_TOOL, tools[k]);
            enum pins_kind pk = PINS_TOOL;
            if (d == NULL) {
                d = def_named(sv, SCAN_KIND_PROMPT, tools[k]);
                pk = PINS_PROMPT;
            }
            if (d != NULL) {
                if (pins_set_one(p, sv->name, pk, d) == 0)
                    approved++;
            } else if (pins_remove_one(p, sv->name, PINS_TOOL, tools[k]) == 0 ||
                       pins_remove_one(p, sv->name, PINS_PROMPT, tools[k]) == 0) {
                approved++; /* a removal is approved by dropping the pin */
            }
        }
    }
    if (approve && status == 0) {
        if (pins_save(p, lock, &pe) < 0) {
            fprintf(stderr, "mcpwall pins: %s\n", pe.msg);
            status = 3;
        } else {
            printf("approved %zu definitions into %s\n", approved, lock);
        }
    }
    if (!approve && changes == 0 && status == 0)
        printf("no changes against %s\n", lock);
    pins_free(p);
    scan_report_free(&r);
    scan_detect_cleanup();
    if (status != 0)
        return status;
    return !approve && changes > 0 ? 1 : 0;
}
