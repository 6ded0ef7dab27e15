/*
 * The connectors compiled into this build, listed by registry.c. Include this only where the table is built
 * (registry.c) or where a test needs one connector directly; everything else goes through sy_connector_find().
 */
#ifndef SY_CONNECTORS_BUILTIN_H
#define SY_CONNECTORS_BUILTIN_H

#include "connector.h"

extern const sy_connector_t sy_connector_stripe;
extern const sy_connector_t sy_connector_hubspot;

/* Helpers shared by the connectors (registry.c); not part of the connector contract. */

/* s without leading and trailing spaces and tabs (HTTP optional whitespace). */
sy_slice_t sy_connector_trim(sy_slice_t s);
/* Parses body into json and checks the root's type; on error sets *errmsg (not_type_msg for a wrong root). */
int sy_connector_parse_root(sy_json_t *json, sy_slice_t body, sy_json_type_t type, const char *not_type_msg,
                            const char **errmsg);
/* Parses 1..max_digits decimal digits (no sign, nothing else; max_digits <= 18). Returns 0 or SY_EPARSE. */
int sy_connector_parse_uint(sy_slice_t s, size_t max_digits, int64_t *out);

/* Output of sign(): header text is laid out in a caller-supplied buffer. */
typedef struct st_sy_connector_out_t {
    char *base;
    size_t size;
    size_t used;
} sy_connector_out_t;
/* Reserves n bytes; returns them, or NULL if the buffer is too small. */
char *sy_connector_out_reserve(sy_connector_out_t *out, size_t n);
/* Appends decimal v (v >= 0); returns the written text, or a NULL slice if the buffer is too small. */
sy_slice_t sy_connector_out_uint(sy_connector_out_t *out, int64_t v);

#endif
