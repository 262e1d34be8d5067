/* collect_http.h - scanning a Streamable HTTP MCP server: the client session
 * over HTTP POST (JSON or SSE answers, Mcp-Session-Id), then active probes:
 *   - tools/list without the user's credentials (http.unauthenticated),
 *   - plain http:// to a host that is not loopback (http.plaintext),
 *   - initialize with a foreign Origin (http.no-origin-check),
 *   - several sessions to judge the ids' entropy (http.weak-session-id),
 *   - RFC 9728 Protected Resource Metadata (http.no-resource-metadata).
 * Probes send only initialize, tools/list and GETs of well-known metadata;
 * they never call a tool. */
#ifndef MCPWALL_SCAN_COLLECT_HTTP_H
#define MCPWALL_SCAN_COLLECT_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scan/collect.h"
#include "scan/scan.h"

#define HTTP_SESSION_SAMPLES 4u

struct http_target {
    const char *url;
    const char *const *headers; /* "Name: value" from -H */
    size_t nheaders;
    const json_t *cfg_headers; /* {"Name": "value"} from a host config, or NULL */
    bool probe;                /* run the active probes */
};

/* Lists the server and runs the probes; findings are added to the report.
 * 0, or -1 when the server could not be listed (its error says why). */
int collect_http(struct scan_report *r, int server, const struct http_target *t,
                 const struct collect_opts *o);

/* Estimated entropy in bits of a set of session ids: per position, the
 * alphabet the samples use (hex 4, base64url 6, decimal 3.3, alnum 5.95 bits),
 * positions that never vary count nothing; identical ids give 0. Exposed for
 * tests. */
double http_session_entropy(const char *const *ids, size_t n);
/* True when the host of the URL is a loopback name or address. */
bool http_url_is_loopback(const char *url);

#endif
