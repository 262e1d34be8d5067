/* cmd_sandbox.c - `mcpwall sandbox-exec`: runs one command in the native
 * sandbox and exits with its status. See docs/sandbox.md (man page text). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "policy/config.h"
#include "sandbox/sandbox.h"
#include "util/log.h"

#define EXIT_SANDBOX 125 /* the sandbox could not be set up (as env(1) and container runners) */

static void sandbox_usage(FILE *f)
{
    fprintf(f,
            "usage: mcpwall sandbox-exec [--profile P | -c FILE [--server NAME]] [options] -- "
            "CMD [ARG...]\n"
            "\n"
            "Runs CMD in mcpwall's native sandbox and exits with its status.\n"
            "\n"
            "  --profile P        shipped profile: strict (default), node, python, "
            "network-client\n"
            "  -c, --config FILE  take the profile from a config: servers.NAME.sandbox with\n"
            "                     --server NAME, else the top-level sandbox: section\n"
            "  --server NAME      the server of FILE; without CMD, its command and args run,\n"
            "                     and its env: variables are passed in\n"
            "  --read PATH        also readable (repeatable)\n"
            "  --write PATH       also writable (repeatable)\n"
            "  --allow HOST:PORT  also reachable over TCP (repeatable)\n"
            "  --env NAME         also pass NAME from this environment (repeatable, globs)\n"
            "  --cwd DIR          working directory inside the sandbox\n"
            "  --explain          describe what the sandbox allows, then exit\n"
            "  -v, --verbose      more log output\n"
            "\n"
            "Exit status: the command's; 128+N when it was killed by signal N; 125 when the\n"
            "sandbox could not be set up; 2 for a usage error.\n");
}

static volatile pid_t sandbox_child;

static void sandbox_forward(int sig)
{
    if (sandbox_child > 0)
        kill(sandbox_child, sig);
}

struct extra {
    const char *path;
    int kind; /* 'r' 'w' 'a' 'e' */
};

/* Builds a NULL-terminated NAME=VALUE array from a config env mapping. */
static char **env_from_config(const struct cfg_doc *doc, const json_t *env,
                              struct cfg_errors *errs)
{
    size_t n = json_object_size(env), i = 0;
    char **out = calloc(n + 1, sizeof(char *));
    const char *k;
    const json_t *v;
    if (out == NULL)
        return NULL;
    json_object_foreach((json_t *)env, k, v) {
        if (!json_is_string(v)) {
            cfg_err(errs, doc, env, k, 0, "the value of %s must be a string", k);
            continue;
        }
        size_t len = strlen(k) + 1 + json_string_length(v) + 1;
        char *kv = malloc(len);
        if (kv == NULL)
            break;
        snprintf(kv, len, "%s=%s", k, json_string_value(v));
        out[i++] = kv;
    }
    out[i] = NULL;
    return out;
}

static void env_free(char **env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        explicit_bzero(env[i], strlen(env[i]));
        free(env[i]);
    }
    free(env);
}

int cmd_sandbox_exec(int argc, char **argv)
{
    static const struct option opts[] = {
        {"profile", required_argument, NULL, 'p'}, {"config", required_argument, NULL, 'c'},
        {"server", required_argument, NULL, 's'},  {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},   {"allow", required_argument, NULL, 'a'},
        {"env", required_argument, NULL, 'e'},     {"cwd", required_argument, NULL, 'C'},
        {"explain", no_argument, NULL, 'x'},       {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *profile = NULL, *config = NULL, *server = NULL, *cwd = NULL;
    bool explain = false;
    struct extra extras[256];
    size_t nextra = 0;
    int c, rc = EXIT_SANDBOX;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': profile = optarg; break;
        case 'c': config = optarg; break;
        case 's': server = optarg; break;
        case 'C': cwd = optarg; break;
        case 'x': explain = true; break;
        case 'v': log_set_level(LOG_LVL_DEBUG); break;
        case 'h': sandbox_usage(stdout); return 0;
        case 'r':
        case 'w':
        case 'a':
        case 'e':
            if (nextra == sizeof(extras) / sizeof(extras[0])) {
                fprintf(stderr, "mcpwall sandbox-exec: too many --read/--write/--allow/--env\n");
                return 2;
            }
            extras[nextra++] = (struct extra){optarg, c};
            break;
        default: sandbox_usage(stderr); return 2;
        }
    }
    if (profile != NULL && config != NULL) {
        fprintf(stderr, "mcpwall sandbox-exec: give --profile or -c FILE, not both\n");
        return 2;
    }
    if (server != NULL && config == NULL) {
        fprintf(stderr, "mcpwall sandbox-exec: --server needs -c FILE\n");
        return 2;
    }

    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc *doc = NULL;
    struct sandbox_profile *p = NULL;
    char **inject = NULL, **cmd = argv + optind, **cfg_argv = NULL;
    if (config != NULL) {
        doc = cfg_load_file(config, &errs);
        if (doc == NULL)
            goto cfgerr;
        const json_t *sec = NULL, *srv = NULL;
        if (server != NULL) {
            const json_t *servers = json_object_get(doc->root, "servers");
            srv = json_is_object(servers) ? json_object_get(servers, server) : NULL;
            if (!json_is_object(srv)) {
                fprintf(stderr, "mcpwall sandbox-exec: %s: no server '%s' under servers:\n",
                        config, server);
                goto out;
            }
            sec = json_object_get(srv, "sandbox");
            if (sec == NULL) {
                fprintf(stderr,
                        "mcpwall sandbox-exec: %s: server '%s' has no sandbox: section (add "
                        "one, e.g. sandbox: strict)\n",
                        config, server);
                goto out;
            }
        } else {
            sec = json_object_get(doc->root, "sandbox");
            if (sec == NULL) {
                fprintf(stderr,
                        "mcpwall sandbox-exec: %s has no top-level sandbox: section (use "
                        "--server NAME for servers.NAME.sandbox)\n",
                        config);
                goto out;
            }
        }
        p = sandbox_compile(doc, sec, &errs);
        if (srv != NULL) {
            const json_t *env = json_object_get(srv, "env");
            if (json_is_object(env))
                inject = env_from_config(doc, env, &errs);
            if (*cmd == NULL) {
                const json_t *command = json_object_get(srv, "command");
                const json_t *args = json_object_get(srv, "args");
                if (!json_is_string(command)) {
                    fprintf(stderr, "mcpwall sandbox-exec: no command given and server '%s' "
                                    "has no command:\n", server);
                    goto out;
                }
                size_t na = json_is_array(args) ? json_array_size(args) : 0;
                cfg_argv = calloc(na + 2, sizeof(char *));
                if (cfg_argv == NULL)
                    goto out;
                cfg_argv[0] = (char *)json_string_value(command);
                for (size_t i = 0; i < na; i++) {
                    const json_t *a = json_array_get(args, i);
                    if (!json_is_string(a)) {
                        cfg_err(&errs, doc, args, NULL, i, "each argument must be a string");
                        continue;
                    }
                    cfg_argv[i + 1] = (char *)json_string_value(a);
                }
                cmd = cfg_argv;
            }
        }
        if (errs.n > 0)
            goto cfgerr;
    } else {
        const struct sandbox_profile *b = sandbox_builtin(profile ? profile : "strict");
        if (b == NULL) {
            fprintf(stderr,
                    "mcpwall sandbox-exec: unknown profile '%s' (shipped: strict, node, python, "
                    "network-client)\n",
                    profile);
            rc = 2;
            goto out;
        }
        p = sandbox_derive(b);
        if (p == NULL)
            goto out;
    }
    for (size_t i = 0; i < nextra; i++) {
        char err[512];
        int r = 0;
        if (extras[i].kind == 'r' || extras[i].kind == 'w')
            r = sandbox_add_path(p, extras[i].path, extras[i].kind == 'w', err, sizeof(err));
        else if (extras[i].kind == 'a')
            r = sandbox_add_allow(p, extras[i].path, err, sizeof(err));
        else
            r = sandbox_add_env_pass(p, extras[i].path, err, sizeof(err));
        if (r < 0) {
            fprintf(stderr, "mcpwall sandbox-exec: %s\n", err);
            rc = 2;
            goto out;
        }
    }
    if (explain) {
        sandbox_explain(p, stdout);
        rc = 0;
        goto out;
    }
    if (*cmd == NULL) {
        fprintf(stderr, "mcpwall sandbox-exec: no command (put it after --)\n");
        rc = 2;
        goto out;
    }

    /* forward the usual signals to the sandbox */
    struct sigaction sa = {.sa_handler = sandbox_forward};
    sigemptyset(&sa.sa_mask);
    sigset_t block, old;
    sigemptyset(&block);
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaddset(&block, fwd[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);

    char err[1024];
    pid_t pid;
    struct sandbox_spawn_opts so = {.label = server};
    if (sandbox_spawn_ex(p, cmd, inject, cwd, 0, 1, 2, &so, &pid, err, sizeof(err)) < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        fprintf(stderr, "mcpwall sandbox-exec: %s\n", err);
        goto out;
    }
    sandbox_child = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "mcpwall sandbox-exec: waitpid: %s\n", strerror(errno));
            goto out;
        }
    }
    if (WIFEXITED(st))
        rc = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        rc = 128 + WTERMSIG(st);
    goto out;
cfgerr:
    cfg_errors_print(&errs, stderr);
out:
    cfg_errors_free(&errs);
    free(cfg_argv);
    env_free(inject);
    sandbox_free(p);
    cfg_doc_free(doc);
    return rc;
}
