/* mcpwall audit verify FILE | show FILE */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/cli.h"

static int audit_usage(FILE *f)
{
    fprintf(f, "usage: mcpwall audit verify FILE\n"
               "       mcpwall audit show FILE\n"
               "\n"
               "verify  checks the hash chain of an audit log (and its .head file): a modified,\n"
               "        deleted, inserted, reordered or truncated record is reported with the\n"
               "        first bad line; exit 0 intact, 1 tampered, 2 unreadable.\n"
               "show    prints the records one per line in a readable form.\n");
    return f == stdout ? 0 : 2;
}

static int audit_show(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *r = json_loadb(line, (size_t)n, 0, &je);
        if (r == NULL) {
            printf("(unreadable line)\n");
            continue;
        }
        const char *fields[] = {"ts", "event", "dir", "method", "tool", "prompt", "resource",
                                "decision", "rule", "reason", "outcome", NULL};
        printf("%lld", (long long)json_integer_value(json_object_get(r, "seq")));
        for (const char **k = fields; *k != NULL; k++) {
            const char *v = json_string_value(json_object_get(r, *k));
            if (v != NULL)
                printf(" %s=%s", *k, v);
        }
        json_t *lat = json_object_get(r, "latency_us");
        if (json_is_integer(lat))
            printf(" latency=%lldus", (long long)json_integer_value(lat));
        printf("\n");
        json_decref(r);
    }
    free(line);
    fclose(f);
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return audit_usage(argc < 2 ? stderr : stdout);
    if (argc != 3)
        return audit_usage(stderr);
    if (strcmp(argv[1], "verify") == 0) {
        struct audit_verify v;
        int rc = audit_verify_file(argv[2], &v);
        if (rc < 0) {
            fprintf(stderr, "mcpwall audit verify: %s\n", v.msg);
            return 2;
        }
        if (rc == 0) {
            printf("%s: ok: %s\n", argv[2], v.msg);
            return 0;
        }
        printf("%s:%llu: TAMPERED: %s (%llu intact records before it)\n", argv[2],
               (unsigned long long)v.bad_line, v.msg, (unsigned long long)v.records);
        return 1;
    }
    if (strcmp(argv[1], "show") == 0)
        return audit_show(argv[2]);
    return audit_usage(stderr);
}
