/* findings.c - the catalogue of the scanner's own rules (id, category,
 * default severity, title, fix) and the run-time registry of detector rules.
 * docs/scan.md lists every rule; keep both in step. */
#include <stdlib.h>
#include <string.h>

#include "scan/scan.h"

const struct scan_rule scan_rules[] = {
    /* risk of what a tool does */
    {"tool.code-execution", "risk", SCAN_SEV_HIGH, "Tool runs shell commands or arbitrary code",
     "Do not expose raw command or code execution as a tool: offer specific operations with "
     "allow-listed arguments. If it must stay, run the server under `mcpwall sandbox-exec`, "
     "restrict who may call it in the gateway policy and require an approval for each call."},
    {"tool.annotation-mismatch", "risk", SCAN_SEV_MEDIUM,
     "Annotations claim less than the tool does",
     "Correct the tool's annotations (readOnlyHint/destructiveHint) or its name and description; "
     "clients and policies must not trust these hints, and mcpwall classifies the tool by what it "
     "does."},
    {"tool.credential-exposure", "risk", SCAN_SEV_MEDIUM, "Tool returns credentials to the model",
     "Do not return secrets, environment variables or keys to the model; if the tool is needed, "
     "redact its results in the gateway (guards.redact) and restrict who may call it."},
    /* the server as a whole */
    {"server.name-collision", "server", SCAN_SEV_MEDIUM, "Tool name used by several servers",
     "Rename one of the tools, or run the servers behind the mcpwall gateway, which namespaces "
     "tools as server__tool so that a call cannot reach the wrong server."},
    {"server.duplicate-tool", "server", SCAN_SEV_MEDIUM,
     "Two tools with the same description and different names",
     "A twin tool (e.g. send_email and send_email_v1) can capture calls meant for the original: "
     "remove the server that adds it, or deny the twin in the gateway policy."},
    {"server.unreachable", "server", SCAN_SEV_MEDIUM, "Server could not be scanned",
     "Check the command, URL or credentials; a server that cannot be inspected cannot be "
     "assessed. The message says what failed."},
    /* HTTP servers */
    {"http.unauthenticated", "http", SCAN_SEV_HIGH, "Server answers tools/list without credentials",
     "Require authentication on the MCP endpoint (OAuth 2.1 bearer tokens per the MCP "
     "authorization spec, or put the server behind `mcpwall serve` with API keys or JWT)."},
    {"http.plaintext", "http", SCAN_SEV_HIGH, "Plain HTTP to a host that is not loopback",
     "Serve the endpoint over HTTPS; plain HTTP exposes tokens and tool traffic to the network."},
    {"http.no-origin-check", "http", SCAN_SEV_MEDIUM, "Server accepts a foreign Origin",
     "Validate the Origin header on every request and refuse unknown origins with 403, as the "
     "MCP Streamable HTTP transport requires (DNS rebinding protection)."},
    {"http.weak-session-id", "http", SCAN_SEV_MEDIUM, "Guessable session ids",
     "Generate Mcp-Session-Id values from a CSPRNG with at least 128 bits (e.g. a random UUIDv4) "
     "and bind them to the authenticated user; never use sessions for authentication."},
    {"http.no-resource-metadata", "http", SCAN_SEV_LOW, "No OAuth Protected Resource Metadata",
     "Publish /.well-known/oauth-protected-resource (RFC 9728) naming the authorization server, "
     "and point to it from WWW-Authenticate on 401 responses, so clients can discover how to "
     "authenticate."},
    /* host configuration files */
    {"config.inline-secret", "config", SCAN_SEV_HIGH, "Secret written inline in a host config",
     "Move the secret out of the file: reference an environment variable (e.g. ${env:NAME} or "
     "${NAME}, as the host supports), a VS Code input, or a secret manager; rotate the exposed "
     "value."},
    {"config.floating-version", "supply-chain", SCAN_SEV_MEDIUM, "Package version not pinned",
     "Pin an exact version (npx -y pkg@1.2.3, uvx pkg==1.2.3, image@sha256:...) so that a "
     "compromised or changed release is not fetched and run on the next start."},
    {"config.shell-command", "config", SCAN_SEV_HIGH, "Server started through a shell with -c",
     "Start the server binary directly with its arguments; a shell string hides what runs and "
     "invites injection."},
    {"config.curl-pipe-shell", "config", SCAN_SEV_CRITICAL, "Downloads and runs a script",
     "Never pipe a download into a shell at server start: install a pinned, verified release "
     "instead."},
    {"config.bind-all-interfaces", "config", SCAN_SEV_MEDIUM,
     "Server listens on all network interfaces",
     "Bind local servers to 127.0.0.1 (or use stdio); 0.0.0.0 exposes the server to the "
     "network (NeighborJack)."},
    {"config.known-bad-package", "supply-chain", SCAN_SEV_CRITICAL,
     "Known malicious or vulnerable package version",
     "Upgrade to a fixed version (see the advisory), or remove the package if it is malicious; "
     "rotate credentials the server could reach."},
    {"config.auto-approve", "config", SCAN_SEV_MEDIUM, "Tool calls run without confirmation",
     "Remove trust/autoApprove settings for servers with side-effect or critical tools, so the "
     "host asks before each call (or route them through mcpwall approvals)."},
    {"config.unsupported-entry", "config", SCAN_SEV_INFO, "Server entry not understood",
     "Check the entry: it has neither a command nor a URL mcpwall recognises."},
    /* OpenAPI documents */
    {"openapi.no-auth", "openapi", SCAN_SEV_MEDIUM, "Operation with side effects and no security",
     "Declare a security requirement for operations that change state, and enforce it in the API "
     "and in the bridge that exposes it as MCP tools."},
    /* token cost */
    {"cost.tokens-server", "cost", SCAN_SEV_LOW, "Tool definitions of a server exceed the budget",
     "Expose fewer tools (gateway allow-lists, includeTools), shorten descriptions and schemas, "
     "or split the server; every definition is sent to the model on every turn."},
    {"cost.tokens-total", "cost", SCAN_SEV_LOW, "Tool definitions of all servers exceed the budget",
     "Reduce the number of servers or tools offered at once (per-identity tool views in the "
     "gateway)."},
    /* pins (rug pulls) */
    {"pins.changed", "pins", SCAN_SEV_HIGH, "Tool definition changed since it was pinned",
     "Review the change (`mcpwall pins diff`); approve it with `mcpwall pins approve` only if it "
     "is expected. An unexpected change is a rug pull: remove the server."},
    {"pins.new", "pins", SCAN_SEV_MEDIUM, "Tool not in the lockfile",
     "Review the new tool and pin it (`mcpwall pins approve` or `mcpwall scan --pin`)."},
    {"pins.removed", "pins", SCAN_SEV_LOW, "Pinned tool no longer offered",
     "Confirm the removal was expected and update the lockfile."},
    /* gateway policy (--policy) */
    {"policy.critical-without-approval", "policy", SCAN_SEV_HIGH,
     "Critical tool callable without approval",
     "Add an approval rule for the tool (or its risk class) in the gateway policy, or deny it."},
    {"policy.open-to-everyone", "policy", SCAN_SEV_MEDIUM,
     "Side-effect tool allowed to every identity",
     "Restrict the tool to the roles that need it (least privilege)."},
    {"policy.not-audited", "policy", SCAN_SEV_MEDIUM, "Tool calls not audited",
     "Enable the audit log for every server and tool in the gateway configuration."},
    {NULL, NULL, SCAN_SEV_INFO, NULL, NULL},
};

/* Detector rules, registered at run time. */
static struct scan_rule *dyn;
static size_t ndyn, capdyn;

static void dyn_free(void)
{
    for (size_t i = 0; i < ndyn; i++) {
        free((char *)dyn[i].id);
        free((char *)dyn[i].category);
        free((char *)dyn[i].title);
        free((char *)dyn[i].fix);
    }
    free(dyn);
    dyn = NULL;
    ndyn = capdyn = 0;
}

const struct scan_rule *scan_rule_find(const char *id)
{
    if (id == NULL)
        return NULL;
    for (const struct scan_rule *r = scan_rules; r->id != NULL; r++) {
        if (strcmp(r->id, id) == 0)
            return r;
    }
    for (size_t i = 0; i < ndyn; i++) {
        if (strcmp(dyn[i].id, id) == 0)
            return &dyn[i];
    }
    return NULL;
}

int scan_rule_register(const char *id, const char *category, enum scan_sev sev, const char *title,
                       const char *fix)
{
    if (scan_rule_find(id) != NULL)
        return 0;
    if (ndyn == capdyn) {
        size_t nc = capdyn ? capdyn * 2 : 32;
        struct scan_rule *n = realloc(dyn, nc * sizeof(*n));
        if (n == NULL)
            return -1;
        if (dyn == NULL)
            atexit(dyn_free);
        dyn = n;
        capdyn = nc;
    }
    struct scan_rule *r = &dyn[ndyn];
    r->id = strdup(id);
    r->category = strdup(category != NULL ? category : "poisoning");
    r->sev = sev;
    r->title = strdup(title != NULL ? title : id);
    r->fix = strdup(fix != NULL ? fix : "");
    if (r->id == NULL || r->category == NULL || r->title == NULL || r->fix == NULL) {
        free((char *)r->id);
        free((char *)r->category);
        free((char *)r->title);
        free((char *)r->fix);
        return -1;
    }
    ndyn++;
    return 0;
}

static int rule_ptr_cmp(const void *a, const void *b)
{
    const struct scan_rule *x = *(const struct scan_rule *const *)a;
    const struct scan_rule *y = *(const struct scan_rule *const *)b;
    return strcmp(x->id, y->id);
}

const struct scan_rule **scan_rules_used(const struct scan_report *r, size_t *n)
{
    const struct scan_rule **out = calloc(r->nfindings + 1, sizeof(*out));
    *n = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < r->nfindings; i++) {
        const struct scan_rule *rule = scan_rule_find(r->findings[i].rule);
        if (rule == NULL)
            continue;
        bool seen = false;
        for (size_t j = 0; j < *n && !seen; j++)
            seen = out[j] == rule;
        if (!seen)
            out[(*n)++] = rule;
    }
    qsort(out, *n, sizeof(*out), rule_ptr_cmp);
    return out;
}
