/* pipeline.h - the path of one message through the gateway.
 *
 * The order of the stages is written in exactly one place (pipeline.c):
 *
 *   era        requests of the stateless 2026-07-28 era get -32022
 *   match      a response finds the request it answers (else dropped, audited)
 *   lifecycle  initialize -> notifications/initialized; version negotiation
 *   authn      who is calling (stdio: the local user)
 *   route      the method exists, travels this way, exists in the negotiated
 *              revision; what it targets (tool, prompt, resource URI)
 *   authz      the policy decides on the target; denied calls get -32010
 *   validate   tools/call arguments against the tool's inputSchema (-32602)
 *              and the policy's argument constraints (-32010)
 *   limit      tools/call against rate_limits rules and budgets (-32013), keyed
 *              by identity, tool and server; the session's call-rate alert; a
 *              check the Redis store answers later holds the request
 *   pin        with pins: configured, a tool whose definition differs from
 *              the lockfile (or is not in it) is refused (-32010)
 *   track      requests are recorded: unique id, in-flight cap, timeout
 *   guard      responses: tools learned from lists (and checked against the
 *              pins), lists filtered by the same policy decision and pins,
 *              structured results checked against outputSchema; the result
 *              guard (results:) on what the server sends toward the model
 *   -> forward (original bytes when nothing changed) and audit
 *
 * Each stage has one signature and returns continue, refuse (answer the
 * sender with the error the stage filled in), drop, or hold (the limit stage
 * waits for Redis; the message runs again with the decision). Denials are JSON-RPC
 * errors with a sentence naming the rule and a stable data.reason; every
 * refusal and every completed request is audited.
 */
#ifndef MCPWALL_GATEWAY_PIPELINE_H
#define MCPWALL_GATEWAY_PIPELINE_H

#include <stddef.h>

#include "gateway/session.h"
#include "proto/frame.h"

/* One message from the client (host) / from the server. raw is borrowed for
 * the duration of the call. */
void gw_client_message(struct gw_session *s, const char *raw, size_t len);
void gw_server_message(struct gw_session *s, const char *raw, size_t len);
/* A message over the size budget was discarded by the framing layer. */
void gw_client_oversize(struct gw_session *s, const struct frame_item *it);
void gw_server_oversize(struct gw_session *s, const struct frame_item *it);
/* The server is gone: every request waiting for it is answered with an error
 * naming `why` (e.g. "the MCP server exited with status 1"). Further client
 * requests are answered with the same error. */
void gw_upstream_gone(struct gw_session *s, const char *why);
/* Asks the server for its tools on the gateway's own account (done by the
 * pipeline when the client's handshake completes; serve calls it for an
 * upstream whose handshake the HTTP client session did itself). */
void gw_fetch_tools(struct gw_session *s);
/* Audits one violation line reported by the sandbox (sandbox.h's event pipe). */
void gw_audit_sandbox_event(struct gw_session *s, const char *line, size_t len);
/* Writes a session start/stop event to the audit log. */
void gw_audit_event(struct gw_session *s, const char *event, const json_t *extra);

#endif
