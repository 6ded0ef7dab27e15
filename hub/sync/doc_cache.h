/*
 * Stored documents of one write transaction kept decoded (records.c's per-batch cache).
 *
 * An apply batch touches the same golden record and the same queued push several times (a customer's events come
 * together); without this each touch decodes the msgpack document into a jansson tree and encodes it back. With it
 * a document is decoded at its first read, changed in memory by every later event, and encoded once by
 * sy_doc_cache_flush before the commit. A document that is cached reads exactly as it would after a store and a
 * load (see sy_doc_cache_put for the one case where that is not so), so the stored bytes are those of the path
 * without the cache.
 *
 * A cache serves one transaction: flush it before the commit (an abort just forgets it) and dispose it once the
 * transaction has ended (it holds decoded copies, never LMDB memory). A zero-initialised sy_doc_cache_t is an
 * empty cache.
 */
#ifndef SY_DOC_CACHE_H
#define SY_DOC_CACHE_H

#include <jansson.h>

#include "store.h"

typedef struct st_sy_doc_cache_entry_t sy_doc_cache_entry_t;

typedef struct st_sy_doc_cache_t {
    sy_doc_cache_entry_t *slots; /* open addressing, capacity a power of two */
    size_t capacity;
    size_t used;
} sy_doc_cache_t;

/*
 * The document at key of db: from the cache, else decoded from txn (and kept). New reference, or NULL when the
 * document is absent or unreadable (as sy_doc_get). The tree is the cached one: a change made to it must be followed
 * by sy_doc_cache_put (or the transaction must abort), exactly as a change to a loaded document must be stored.
 */
json_t *sy_doc_cache_get(sy_doc_cache_t *c, sy_txn_t *txn, sy_db_t db, sy_slice_t key);

/*
 * Stores doc (a reference is taken) at key of db, written to txn at the next flush. When the round trip through
 * msgpack would change doc (codec.c truncates object keys of 256 bytes and more), it is written to txn now and
 * not kept, so the next read decodes what was stored, as without the cache. Returns 0 or a storage error.
 */
int sy_doc_cache_put(sy_doc_cache_t *c, sy_txn_t *txn, sy_db_t db, sy_slice_t key, json_t *doc);

/* Writes every document stored since the last flush to txn. Returns 0 or the first storage error (then abort). */
int sy_doc_cache_flush(sy_doc_cache_t *c, sy_txn_t *txn);

/* Forgets every document (without writing). The cache stays usable. */
void sy_doc_cache_clear(sy_doc_cache_t *c);

/* Releases everything; the cache is then empty (and usable again). */
void sy_doc_cache_dispose(sy_doc_cache_t *c);

#endif
