/* collect.h - getting definitions out of servers and files.
 *
 * A live server is inspected as an MCP client would: initialize (offering
 * protocol version 2025-11-25, accepting any version the server answers),
 * notifications/initialized, then tools/list, prompts/list, resources/list and
 * resources/templates/list for each capability the server declared, following
 * nextCursor up to COLLECT_MAX_PAGES pages. Requests the server sends
 * meanwhile are answered (ping: {}, roots/list: no roots, anything else:
 * method not found); notifications are ignored. Every request has a deadline.
 *
 * The session logic runs over a small transport interface so that stdio and
 * Streamable HTTP share it.
 */
#ifndef MCPWALL_SCAN_COLLECT_H
#define MCPWALL_SCAN_COLLECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan/scan.h"

#define COLLECT_MAX_PAGES           100u
#define COLLECT_DEFAULT_TIMEOUT_US  (30u * 1000u * 1000u)
#define COLLECT_DEFAULT_MAX_MESSAGE (16u * 1024u * 1024u)

struct collect_opts {
    uint64_t timeout_us; /* per request (initialize included); 0 = default */
    size_t max_message;  /* bytes of one message; 0 = default */
    bool server_stderr;  /* pass the server's stderr through (else keep its tail) */
    char **env;          /* extra "NAME=value" entries for a spawned server; NULL-terminated */
    const char *cwd;     /* working directory of a spawned server, or NULL */
    bool init_only;      /* stop after initialize (probes) */
};

/* A client transport: send one JSON-RPC message, receive the next one. */
struct collect_tr {
    void *ctx;
    /* Sends msg[0,len) (one JSON text, no newline). 0 / -1 with err filled. */
    int (*send)(void *ctx, const char *msg, size_t len, char *err, size_t errsz);
    /* Waits until deadline (mono_us) for the next message. Returns 1 with *msg
     * (new reference), 0 on timeout, -1 on EOF or error with err filled. */
    int (*recv)(void *ctx, uint64_t deadline_us, json_t **msg, char *err, size_t errsz);
    /* Optional: told the initialize result before anything else is sent
     * (HTTP then sends MCP-Protocol-Version). May be NULL. */
    void (*on_init)(void *ctx, const json_t *init);
};

/* Runs the client session over tr and stores what it lists in server `server`
 * of the report (init result, items). On failure sets the server's error and
 * returns -1; what was listed before the failure is kept. */
int collect_session(struct scan_report *r, int server, struct collect_tr *tr,
                    const struct collect_opts *o);

/* Spawns argv (argv[0] looked up in PATH) with pipes, runs the session, and
 * shuts the server down: stdin closed, then SIGTERM, then SIGKILL to its
 * process group. 0 / -1 (the server's error says why). */
int collect_stdio(struct scan_report *r, int server, char *const argv[],
                  const struct collect_opts *o);

/* Reads a saved result: a tools/list result ({"tools": [...]}), a JSON-RPC
 * response carrying one, a bare array of tools, an mcpwall capture
 * ({"format": "mcpwall-capture/1", "servers": [...]}) or a JSON Lines wire
 * log of JSON-RPC messages. Adds one server per server in the file (named
 * after the file, or as the capture says). Positions of the definitions in
 * the file are kept for the reports. Returns 0, or -1 with err filled when
 * the file is none of these. */
int collect_file(struct scan_report *r, const char *path, const char *name, char *err,
                 size_t errsz);
/* Same, from memory (tests, fuzzing). */
int collect_file_mem(struct scan_report *r, const char *path, const char *data, size_t len,
                     const char *name, char *err, size_t errsz);

/* What a file holds, judged from its content. */
enum collect_filetype {
    COLLECT_FT_UNKNOWN = 0,
    COLLECT_FT_TOOLS, /* tools/list result, capture or wire log */
    COLLECT_FT_OPENAPI,
    COLLECT_FT_HOSTCFG,
};
enum collect_filetype collect_sniff(const char *data, size_t len);

/* Writes what was collected as an mcpwall capture (re-scannable with
 * `mcpwall scan FILE`). 0 / -1. */
int collect_save_capture(const struct scan_report *r, const char *path);

#endif
