/* openapi.h - tools from an OpenAPI 3.x document, as an OpenAPI-to-MCP bridge
 * would expose them: one tool per operation, named by operationId (or
 * method_path), described by summary and description, with an inputSchema of
 * type object whose properties are the parameters (path, query, header,
 * cookie; required when the parameter is) and, when there is a JSON request
 * body, a property "body" holding its schema. Local $refs
 * (#/components/...) are resolved up to OPENAPI_MAX_REF_DEPTH levels; cycles
 * stay as {"$ref": ...}. The risk class also uses the method and path.
 * Swagger 2.0 documents are refused with a message. */
#ifndef MCPWALL_SCAN_OPENAPI_H
#define MCPWALL_SCAN_OPENAPI_H

#include <stddef.h>

#include "scan/scan.h"

#define OPENAPI_MAX_OPERATIONS   5000u
#define OPENAPI_MAX_REF_DEPTH    16u
#define OPENAPI_MAX_SCHEMA_NODES 20000u

/* Reads a JSON or YAML OpenAPI document into one server (named `name`, else
 * info.title). 0 / -1 with err filled. */
int openapi_load(struct scan_report *r, const char *path, const char *name, char *err,
                 size_t errsz);
int openapi_load_mem(struct scan_report *r, const char *path, const char *data, size_t len,
                     const char *name, char *err, size_t errsz);

/* The tool name a bridge derives for an operation without operationId:
 * lowercase method, '_', path with every run of characters outside
 * [A-Za-z0-9] as one '_', trimmed, at most 64 bytes. */
void openapi_tool_name(const char *method, const char *path, char *out, size_t outsz);

#endif
