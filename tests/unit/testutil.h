/* testutil.h - helpers shared by the cmocka unit tests. */
#ifndef MCPWALL_TESTUTIL_H
#define MCPWALL_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>

/* Path under the source tree ($MCPWALL_SRCDIR or "."); returns a static buffer. */
const char *tu_src_path(const char *rel);
/* Reads a whole file; returns malloc'd bytes (NUL-terminated) or NULL. */
char *tu_read_file(const char *path, size_t *len);

/* Loads a table of cases: a JSON Lines file where each line is an object.
 * Lines that are blank or start with '#' are skipped. Returns a JSON array
 * (new reference); fails the test when the file is missing or malformed. */
json_t *tu_load_cases(const char *rel);

/* Input bytes of a case: "input" (a JSON string, taken as UTF-8 bytes),
 * "input_hex" (hex digits, spaces ignored) or "input_repeat" ({"prefix":..,
 * "unit":.., "count":N, "suffix":..}) for large inputs. Returns malloc'd bytes. */
char *tu_case_input(const json_t *c, size_t *len);

/* Runs `fn` for every case in the table, printing the case name on failure. */
#define TU_CASE_NAME(c) (json_string_value(json_object_get((c), "name")))

#endif
