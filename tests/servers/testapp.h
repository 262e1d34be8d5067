/* testapp.h - a small MCP server on shttp_server, for the transport tests.
 *
 * It speaks just enough MCP to be driven by a real client (the official
 * TypeScript SDK) and by raw-socket tests:
 *   initialize, ping, tools/list, tools/call, notifications, and responses
 *   to its own server->client requests.
 * Tools:
 *   echo {text}        -> the text
 *   progress {steps}   -> `steps` progress notifications (when the request has a
 *                         progressToken) and one log message on the request's
 *                         stream, then "done <steps>"
 *   ask {message}      -> an elicitation/create request to the client on the
 *                         request's stream; answers with the client's content
 *   notify {text}      -> a notifications/message on the standalone (GET)
 *                         stream, then "queued"
 *   slow {}            -> never answers; it ends when cancelled or abandoned
 *   big {bytes}        -> a text of that many 'x'
 *   poll {}            -> one progress message, then the server closes the
 *                         connection (the stream stays resumable) and answers
 *                         "polled" 100 ms later, while the client is away
 * Every transport event the tests watch (session open/close, abandon,
 * cancel) is counted and, when `log` is set, printed as a line
 * "EVENT <what> <detail>" on it.
 */
#ifndef MCPWALL_TESTS_TESTAPP_H
#define MCPWALL_TESTS_TESTAPP_H

#include <stdio.h>

#include "transport/shttp_server.h"

struct testapp;

struct testapp_counts {
    unsigned sessions_opened;
    unsigned sessions_closed;
    unsigned abandoned;
    unsigned cancelled;
    unsigned messages;
    char last_close_reason[32];
    char last_abandoned_id[96];
};

struct testapp *testapp_new(struct http_listener *l, const struct shttp_opts *o, FILE *log,
                            char *err, size_t errlen);
void testapp_free(struct testapp *a);
/* A copy of the counters (thread-safe: the tests read them from another thread). */
void testapp_counts(struct testapp *a, struct testapp_counts *out);
struct shttp_server *testapp_server(struct testapp *a);

#endif
