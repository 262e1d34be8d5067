/* audit.h - the tamper-evident audit log.
 *
 * One JSON object per line, one line per decision. Each record carries the
 * previous record's hash ("prev") and its own ("hash" = SHA-256 of the line's
 * bytes up to and including the "prev" member), so changing, deleting,
 * inserting or reordering a record breaks the chain at that point. A head file
 * (<log>.head) holds the sequence number and hash of the last record written,
 * so cutting records off the end is detected too.
 *
 * Records are built into a buffer and written with one write() per batch on an
 * O_APPEND descriptor, and the head file is updated after the batch is
 * written: a batch is committed when the head counts it. A crash (SIGKILL can
 * cut a write between pages; power loss) can leave the batch being written
 * incomplete: that fragment was never committed, verify says so instead of
 * calling it tampering, and the next start removes it and writes a
 * "recovered" record. Committed records are never torn. With `fsync`, each
 * batch is also fdatasync'd before the head moves (survives power loss). The
 * log is locked (flock) by its writer.
 *
 * Record fields (absent when not applicable):
 *   v, seq, ts, event ("start"|"decision"|"stop"), session, identity, dir
 *   ("c2s"|"s2c"), kind ("request"|"notification"|"response"), method, tool |
 *   prompt | resource, decision ("allow"|"deny"), rule, reason, outcome ("ok" |
 *   "error" | "timeout" | "cancelled" | "upstream_exit" | "refused"),
 *   error_code, latency_us, gw_us, args_sha256 (SHA-256 of the arguments: the
 *   gateway hashes the bytes the client sent (args_sha256 below); a tree given
 *   as `args` is hashed in canonical JSON, compact with keys sorted), args (a
 *   bounded structured preview:
 *   strings cut to 80 bytes, 16 members per level, depth 4, values of
 *   secret-looking keys "[REDACTED]"), result_preview (the first text of the
 *   result, 240 bytes at most), findings, prev, hash.
 */
#ifndef MCPWALL_AUDIT_AUDIT_H
#define MCPWALL_AUDIT_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define AUDIT_PREVIEW_MAX 240

struct audit_log {
    int fd;
    int head_fd;
    char *path;
    bool fsync;
    uint64_t seq;               /* of the last record appended */
    char prev[65];              /* hash of the last record appended */
    struct buf pending;         /* records not yet written */
    uint64_t records_written;
    bool failed;                /* a write failed: reported once */
    size_t recovered_bytes;     /* fragment of a crashed write removed at open */
    uint64_t flush_interval_us; /* batch records for this long (0: every call) */
    uint64_t oldest_pending_us; /* when the oldest unwritten record was added */
};

struct audit_opts {
    const char *path;
    bool fsync;
    uint64_t flush_interval_us; /* 0: write at every audit_flush_due() */
    /* When the log is locked by another process, try <stem>-2.jsonl, -3 ...
     * instead of failing (used for the default per-user path). */
    bool pick_free_name;
};

/* Opens (creating with mode 0600) or continues a log. A torn last line left by
 * a power loss is terminated, and the chain continues from the last intact
 * record. Returns NULL with a sentence in err. */
struct audit_log *audit_open(const struct audit_opts *o, char *err, size_t errlen);
/* Flushes and closes. NULL-safe. */
void audit_close(struct audit_log *a);

struct audit_rec {
    const char *event;     /* default "decision" */
    const char *session;
    const char *identity;
    const char *server;    /* upstream name (serve) */
    const char *dir;
    const char *kind;
    const char *method;
    size_t method_len;     /* 0: strlen */
    const char *target_kind; /* "tool", "prompt", "resource" */
    const char *target;
    size_t target_len;
    const char *decision;
    const char *rule;
    const char *reason;
    const char *outcome;
    int error_code;        /* 0: none */
    uint64_t latency_us;
    uint64_t gw_us;
    bool have_latency;
    const json_t *args;    /* hashed and previewed with secrets redacted */
    const json_t *result;  /* previewed with secrets redacted */
    /* Precomputed forms (the gateway computes them from the token tape once):
     * used instead of args/result when set. */
    const char *args_sha256;   /* 64 hex digits */
    const char *args_preview;  /* a JSON value from audit_preview_tape() */
    const char *result_raw;    /* escaped JSON string content of the first text */
    size_t result_raw_len;
    const json_t *extra;   /* object: members copied into the record (e.g. findings) */
};

/* Appends a record to the pending batch. Never blocks. -1 if it cannot be built. */
int audit_append(struct audit_log *a, const struct audit_rec *r);
/* Writes the pending batch (one write) and updates the head file. */
int audit_flush(struct audit_log *a);
/* Writes the batch if it is due: fsync mode, no interval, 64 KiB pending, or
 * the oldest record waited flush_interval. Otherwise returns the microseconds
 * until it will be due in *wait_us (0 when nothing is pending). */
int audit_flush_due(struct audit_log *a, uint64_t *wait_us);

/* SHA-256 (hex) of a JSON value in canonical form (compact, keys sorted). */
int audit_json_sha256(const json_t *v, char out[65]);
/* A preview of v: compact JSON with the values of secret-looking keys replaced
 * by "[REDACTED]", cut to at most max bytes on a UTF-8 boundary ("..." added). */
void audit_preview(const json_t *v, size_t max, struct buf *out);
/* True when a key name looks like it holds a secret (password, token, ...). */
bool audit_key_is_secret(const char *key);

struct jtape;
/* The bounded structured preview of tape value `tok`, appended to out as JSON
 * (the same rules as for `args`), copying the input's bytes where it can. */
void audit_preview_tape(struct buf *out, const struct jtape *t, size_t tok);
/* The first text a result carries, as raw (still escaped) string content:
 * returns the token index or JT_NONE. */
size_t audit_first_text_tape(const struct jtape *t, size_t tok);

struct audit_verify {
    bool ok;
    uint64_t records;       /* intact records read */
    uint64_t bad_line;      /* 1-based line of the first problem (0 if none) */
    uint64_t bad_seq;       /* its sequence number when readable */
    char msg[300];
    bool head_checked;
    bool torn_tail;         /* the final line is incomplete */
    uint64_t torn_line;
};

/* Verifies a log file (and its head file when present). Returns 0 when the
 * log is intact, 1 when it is not, -1 when it cannot be read. */
int audit_verify_file(const char *path, struct audit_verify *v);

#endif
