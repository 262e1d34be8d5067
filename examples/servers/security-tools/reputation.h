/* reputation.h - the local IP reputation database: plain-text CIDR lists
 * loaded at start, answered by longest-prefix match.
 *
 * List format, one entry per line:
 *     203.0.113.0/24   scanner        # optional comment
 *     198.51.100.7                    (a single address: /32 or /128)
 *     2001:db8:1::/48  botnet-c2
 * Blank lines and lines starting with '#' or ';' are ignored. The category is
 * 1-64 characters of A-Z a-z 0-9 _ . : - and may be omitted when the list has
 * a default category. Networks must have no host bits set; IPv4-mapped IPv6
 * networks must be written as IPv4. Every problem is reported as
 * "file:line: message" and the list is refused.
 *
 * A lookup returns, for every list that contains the address, the categories
 * of that list's most specific matching network, most specific first.
 */
#ifndef MCPWALL_ST_REPUTATION_H
#define MCPWALL_ST_REPUTATION_H

#include <stddef.h>
#include <stdint.h>

#include "ipcheck.h"
#include "policy/config.h"

#define REP_MAX_ENTRIES   (4u * 1024u * 1024u) /* over all lists */
#define REP_MAX_FILE      (256u * 1024u * 1024u)
#define REP_MAX_LINE      1024u
#define REP_MAX_LISTS     256u
#define REP_MAX_CATEGORY  64u

struct rep_db;

struct rep_match {
    const char *list;      /* list name (owned by the db) */
    const char *category;  /* owned by the db */
    char network[52];      /* e.g. "203.0.113.0/24" */
    unsigned prefix_len;
};

struct rep_db *rep_db_new(void);
void rep_db_free(struct rep_db *db);
/* Loads one list from memory. `src` names it in messages (file path).
 * `default_category` may be NULL. Returns the number of entries added, or -1
 * after recording every problem in errs (nothing of the list is kept). */
long rep_db_load_mem(struct rep_db *db, const char *list_name, const char *src,
                     const char *data, size_t len, const char *default_category,
                     struct cfg_errors *errs);
/* Same from a file (at most REP_MAX_FILE bytes). */
long rep_db_load_file(struct rep_db *db, const char *list_name, const char *path,
                      const char *default_category, struct cfg_errors *errs);
/* Sorts and indexes; call once after loading, before lookups. */
void rep_db_finish(struct rep_db *db);
size_t rep_db_entries(const struct rep_db *db);
/* Fills up to max matches; returns how many. */
size_t rep_db_lookup(const struct rep_db *db, const struct ip_addr *a, struct rep_match *out,
                     size_t max);

#endif
