/* schema_format.h - the JSON Schema "format" checkers the validator asserts.
 *
 * Each checker takes a length-delimited UTF-8 string and returns true when it
 * is in the format, following the RFC the JSON Schema specification names:
 *   date-time, date, time   RFC 3339 section 5.6 (leap second only at 23:59:60 UTC)
 *   email                   RFC 5321 Mailbox (dot-string or quoted local part,
 *                           domain or address literal), ASCII only
 *   hostname                RFC 1123 (labels 1-63 of letters, digits, '-', total <= 253)
 *   ipv4                    dotted quad without leading zeros
 *   ipv6                    RFC 4291 text forms, no zone identifier
 *   uri, uri-reference      RFC 3986 (ASCII; IRIs are not URIs)
 *   uuid                    RFC 9562 8-4-4-4-12 hex form, any version
 * Other format names are annotations and are not checked.
 */
#ifndef MCPWALL_GUARD_SCHEMA_FORMAT_H
#define MCPWALL_GUARD_SCHEMA_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

enum sfmt {
    SFMT_NONE = 0,
    SFMT_DATE_TIME,
    SFMT_DATE,
    SFMT_TIME,
    SFMT_EMAIL,
    SFMT_HOSTNAME,
    SFMT_IPV4,
    SFMT_IPV6,
    SFMT_URI,
    SFMT_URI_REFERENCE,
    SFMT_UUID,
};

/* Maps a format name to its checker; SFMT_NONE for names we do not assert. */
enum sfmt sfmt_lookup(const char *name);
const char *sfmt_name(enum sfmt f);
bool sfmt_check(enum sfmt f, const char *s, size_t n);

#endif
