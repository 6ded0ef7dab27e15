/*
 * Stored documents: golden records, outbox entries, audit and alert entries are JSON-shaped trees (jansson)
 * kept in LMDB as msgpack. codec.c is the only file that includes msgpack.h.
 */
#ifndef SY_CODEC_H
#define SY_CODEC_H

#include <jansson.h>

#include "common.h"

/* Encodes doc (objects, arrays, strings, integers, reals, booleans, null) into a malloc'd buffer. */
int sy_codec_doc_encode(const json_t *doc, char **out, size_t *outlen);
/* The same bytes, in a buffer of the calling thread's: valid until its next call on this thread (store them first). */
int sy_codec_doc_encode_scratch(const json_t *doc, sy_slice_t *out);
/* Decodes a stored document; returns a new reference or NULL if the bytes are not one msgpack value. */
json_t *sy_codec_doc_decode(const void *data, size_t len);
/*
 * Decodes only what lies on the given paths: each path is a NULL-terminated list of member names from the top
 * (e.g. {"xrefs", "stripe", NULL}); the member a path ends at is decoded whole, members no path names are left out,
 * and what is decoded keeps its place (the result reads like the whole document with the rest missing). For
 * readers that need three values of a golden record: a record is ~2 KB of msgpack, and decoding all of it into
 * jansson nodes for each push dominated delivery's rounds (issue #11). Returns NULL as sy_codec_doc_decode does.
 */
json_t *sy_codec_doc_decode_paths(const void *data, size_t len, const char *const *const *paths, size_t num_paths);

#endif
