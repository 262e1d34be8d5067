/* mcpwall keygen: a new API key and the salted hash the configuration keeps.
 *
 *   mcpwall keygen [--name NAME] [--role ROLE]... [--json]
 *   mcpwall keygen --rehash [--name NAME] [--role ROLE]... < KEYFILE
 *
 * The key is printed once; only its hash goes in the configuration
 * (auth.api_keys). --rehash reads an existing key on stdin and prints a new
 * stored hash for it (a fresh salt). Exit 0, or 2 on a usage error, 1 when
 * the key cannot be made. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "policy/apikey.h"
#include "policy/secrets.h"

#define KEYGEN_MAX_ROLES 32

static int keygen_usage(FILE *f)
{
    fprintf(f, "usage: mcpwall keygen [--name NAME] [--role ROLE]... [--json]\n"
               "       mcpwall keygen --rehash [--name NAME] [--role ROLE]... < KEYFILE\n"
               "\n"
               "Prints a new API key (shown once, give it to the client) and the entry for\n"
               "auth.api_keys in the configuration, which holds only its salted hash.\n"
               "\n"
               "  -n, --name NAME   the key's name; the caller's principal is apikey:NAME\n"
               "                    (default: key-<key id>)\n"
               "  -r, --role ROLE   a role for the entry (repeatable)\n"
               "  -j, --json        print one JSON object {name, key, hash, roles}\n"
               "      --rehash      read an existing key from stdin, print a new hash for it\n"
               "\n"
               "Clients send the key as: Authorization: Bearer mcpw_...\n");
    return f == stdout ? 0 : 2;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

static bool role_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == ',' || *p == '[' ||
            *p == ']')
            return false;
    return true;
}

/* Reads one key from stdin (surrounding whitespace ignored). */
static int read_key(char key[APIKEY_LEN + 1])
{
    char line[256];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return -1;
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    const char *p = line;
    while (*p == ' ' && n > 0) {
        p++;
        n--;
    }
    int rc = -1;
    if (apikey_well_formed(p, n)) {
        memcpy(key, p, n);
        key[n] = '\0';
        rc = 0;
    }
    secret_wipe(line, sizeof(line));
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'}, {"role", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},       {"rehash", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    const char *roles[KEYGEN_MAX_ROLES];
    size_t nroles = 0;
    bool json = false, rehash = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:r:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!name_ok(optarg)) {
                fprintf(stderr, "mcpwall keygen: a name is 1 to 64 of [A-Za-z0-9._@-]\n");
                return 2;
            }
            name = optarg;
            break;
        case 'r':
            if (!role_ok(optarg) || nroles == KEYGEN_MAX_ROLES) {
                fprintf(stderr,
                        "mcpwall keygen: a role is 1 to 256 printable characters "
                        "without spaces, quotes, commas or brackets (at most %d roles)\n",
                        KEYGEN_MAX_ROLES);
                return 2;
            }
            roles[nroles++] = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'R':
            rehash = true;
            break;
        case 'h':
            return keygen_usage(stdout);
        default:
            return keygen_usage(stderr);
        }
    }
    if (optind < argc)
        return keygen_usage(stderr);

    char key[APIKEY_LEN + 1];
    char stored[APIKEY_HASH_MAX];
    if (rehash) {
        if (read_key(key) < 0) {
            fprintf(stderr, "mcpwall keygen: stdin does not hold a well-formed mcpwall key\n");
            return 1;
        }
        if (apikey_hash(key, APIKEY_LEN, stored) < 0) {
            secret_wipe(key, sizeof(key));
            fprintf(stderr, "mcpwall keygen: cannot hash the key\n");
            return 1;
        }
    } else if (apikey_generate(key, stored) < 0) {
        fprintf(stderr, "mcpwall keygen: the random number generator failed\n");
        return 1;
    }
    char defname[32];
    if (name == NULL) {
        char id[APIKEY_ID_LEN + 1];
        apikey_id(key, id);
        snprintf(defname, sizeof(defname), "key-%s", id);
        name = defname;
    }
    if (json) {
        /* Every value is from a restricted alphabet: no escaping needed. */
        printf("{\"name\":\"%s\",", name);
        if (!rehash)
            printf("\"key\":\"%s\",", key);
        printf("\"hash\":\"%s\",\"roles\":[", stored);
        for (size_t i = 0; i < nroles; i++)
            printf("%s\"%s\"", i ? "," : "", roles[i]);
        printf("]}\n");
    } else {
        if (!rehash)
            printf("API key for apikey:%s (shown once; the configuration keeps only its hash):\n"
                   "\n  %s\n\n",
                   name, key);
        printf("Entry for auth.api_keys in the configuration:\n\n"
               "  - name: %s\n"
               "    hash: \"%s\"\n"
               "    roles: [",
               name, stored);
        for (size_t i = 0; i < nroles; i++)
            printf("%s\"%s\"", i ? ", " : "", roles[i]);
        printf("]\n");
        if (!rehash)
            printf("\nClients send it as: Authorization: Bearer <the key>\n");
    }
    fflush(stdout);
    secret_wipe(key, sizeof(key));
    return 0;
}
