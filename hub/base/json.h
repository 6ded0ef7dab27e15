/*
 * JSON at ingress: validate a body and pull out a few fields without building a tree.
 * Wraps jsmn (Debian libjsmn-dev, a zero-allocation tokenizer) in strict mode and adds the checks it
 * lacks: exactly one root value, valid primitives (true/false/null/JSON numbers), valid UTF-8, a depth cap
 * and a token cap. The only file that includes jsmn.h is json.c.
 *
 * One reading of every event: the applier decodes the same bytes with jansson (JSON_REJECT_DUPLICATES), so this
 * parser accepts exactly what jansson accepts (within the depth and token caps): it also refuses duplicate keys
 * (compared decoded), invalid escapes, \u0000, lone surrogates, integers outside int64 and reals that overflow a
 * double. tests/unit/test_json.c checks the two parsers agree on a table of edge cases; fuzz_json checks it on
 * every input it generates.
 *
 * Tokens are addressed by index; index 0 is the root. A sy_json_t is scratch owned by one thread and reused.
 */
#ifndef SY_JSON_H
#define SY_JSON_H

#include "common.h"

typedef enum en_sy_json_type_t {
    SY_JSON_UNDEFINED = 0,
    SY_JSON_OBJECT,
    SY_JSON_ARRAY,
    SY_JSON_STRING,
    SY_JSON_PRIMITIVE, /* number, true, false, null */
} sy_json_type_t;

typedef struct st_sy_json_t {
    void *tokens;      /* jsmntok_t[], grown on demand up to max_tokens */
    size_t capacity;   /* tokens allocated */
    size_t max_tokens; /* cap: bodies needing more are refused */
    unsigned max_depth;
    int count; /* tokens of the last successful parse */
    const char *text;
    size_t len;
} sy_json_t;

void sy_json_init(sy_json_t *json, size_t max_tokens, unsigned max_depth);
void sy_json_dispose(sy_json_t *json);

/* Returns 0, or SY_EPARSE / SY_ETOOBIG with *errmsg a static sentence ("body is not valid JSON", ...). */
int sy_json_parse(sy_json_t *json, const char *text, size_t len, const char **errmsg);

sy_json_type_t sy_json_type(const sy_json_t *json, int tok);
/* Raw text of a token: a string's contents without quotes (escapes not decoded), or the primitive's text. */
sy_slice_t sy_json_text(const sy_json_t *json, int tok);
/* Full source range of a token including quotes/braces (for slicing array elements out of a body). */
sy_slice_t sy_json_span(const sy_json_t *json, int tok);
/* Number of children: members of an object, elements of an array. */
int sy_json_size(const sy_json_t *json, int tok);
/* Index of the token following tok's whole subtree. */
int sy_json_skip(const sy_json_t *json, int tok);
/* Value token of member `key` in object tok, or -1. */
int sy_json_get(const sy_json_t *json, int obj, const char *key);
/* Element i of array tok, or -1. */
int sy_json_at(const sy_json_t *json, int arr, int i);
/* Integer value of a primitive token; returns 0 or SY_EPARSE if it is not an integer. */
int sy_json_int64(const sy_json_t *json, int tok, int64_t *out);
/* 1 if string tok, its escapes decoded, equals s, else 0. */
int sy_json_str_eq(const sy_json_t *json, int tok, const char *s);
/* The value of string tok, its escapes decoded, as a malloc'd NUL-terminated copy (a validated string never holds
 * \u0000). NULL if tok is not a string. Out of memory aborts. */
char *sy_json_strdup(const sy_json_t *json, int tok);
/* 1 if string tok contains an escape (its raw text differs from its value). */
int sy_json_has_escape(const sy_json_t *json, int tok);

/* UTF-8 validity (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
int sy_utf8_valid(const char *s, size_t len);

#endif
