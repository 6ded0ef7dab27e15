#include "doc_cache.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "codec.h"
#include "records.h"

/* codec.c's unpack_doc keeps at most this many bytes of an object key; containers nest at most this deep. */
#define CODEC_KEY_MAX 255
#define CODEC_MAX_DEPTH 32
#define MIN_CAPACITY 64

struct st_sy_doc_cache_entry_t {
    char *key; /* malloc'd: the db byte, then the key bytes; NULL: free slot */
    size_t keylen;
    uint64_t hash;
    json_t *doc; /* owned reference */
    int dirty;   /* stored since the last flush */
};

static uint64_t hash_key(sy_db_t db, sy_slice_t key)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)db; /* FNV-1a */
    for (size_t i = 0; i != key.len; ++i) {
        h ^= (unsigned char)key.base[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int same_key(const sy_doc_cache_entry_t *e, uint64_t h, sy_db_t db, sy_slice_t key)
{
    return e->hash == h && e->keylen == key.len + 1 && (unsigned char)e->key[0] == (unsigned char)db &&
           memcmp(e->key + 1, key.base, key.len) == 0;
}

/* The slot holding key, or the free slot where it belongs. */
static sy_doc_cache_entry_t *find(sy_doc_cache_t *c, uint64_t h, sy_db_t db, sy_slice_t key)
{
    size_t mask = c->capacity - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        sy_doc_cache_entry_t *e = &c->slots[i];
        if (e->key == NULL || same_key(e, h, db, key))
            return e;
    }
}

/* Drops the cache's reference. A tree the thread's arena made goes with the arena, without a walk over its nodes
 * (a tenth of the applier's time): the cache holds only trees decoded or built while the batch's arena is active. */
static void release(json_t *doc)
{
    if (!sy_json_arena_owns(doc))
        json_decref(doc);
}

/* Room for one more entry (load factor at most 1/2). Aborts when out of memory, like the rest of the hub. */
static void reserve(sy_doc_cache_t *c)
{
    if (c->capacity != 0 && (c->used + 1) * 2 <= c->capacity)
        return;
    size_t cap = c->capacity != 0 ? c->capacity * 2 : MIN_CAPACITY;
    sy_doc_cache_entry_t *old = c->slots, *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        abort();
    for (size_t i = 0; i != c->capacity; ++i) {
        if (old[i].key == NULL)
            continue;
        size_t j = (size_t)old[i].hash & (cap - 1);
        while (slots[j].key != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free(old);
    c->slots = slots;
    c->capacity = cap;
}

static sy_doc_cache_entry_t *insert(sy_doc_cache_t *c, uint64_t h, sy_db_t db, sy_slice_t key)
{
    reserve(c);
    sy_doc_cache_entry_t *e = find(c, h, db, key);
    if (e->key == NULL) {
        if ((e->key = malloc(key.len + 1)) == NULL)
            abort();
        e->key[0] = (char)db;
        memcpy(e->key + 1, key.base, key.len);
        e->keylen = key.len + 1;
        e->hash = h;
        e->doc = NULL;
        e->dirty = 0;
        ++c->used;
    }
    return e;
}

json_t *sy_doc_cache_get(sy_doc_cache_t *c, sy_txn_t *txn, sy_db_t db, sy_slice_t key)
{
    uint64_t h = hash_key(db, key);
    if (c->capacity != 0) {
        sy_doc_cache_entry_t *e = find(c, h, db, key);
        if (e->key != NULL && e->doc != NULL)
            return json_incref(e->doc);
    }
    json_t *doc = sy_doc_get(txn, db, key);
    if (doc == NULL)
        return NULL; /* absent documents are not remembered: a put makes them */
    sy_doc_cache_entry_t *e = insert(c, h, db, key);
    e->doc = json_incref(doc);
    return doc;
}

/* Whether doc encodes and reads back unchanged: no object key longer than codec.c keeps, no container as deep as
 * msgpack-c refuses. Runs at every put, so it only visits containers. */
static int round_trips(json_t *doc, int depth)
{
    /* msgpack-c's unpacker holds at most 32 open containers (MSGPACK_EMBED_STACK_SIZE): one at depth 32 does not
     * decode, even empty. Written now, a tree that deep fails now (or reads back NULL), as without the cache. */
    if ((json_is_object(doc) || json_is_array(doc)) && depth >= CODEC_MAX_DEPTH)
        return 0;
    if (json_is_object(doc)) {
        for (void *it = json_object_iter(doc); it != NULL; it = json_object_iter_next(doc, it)) {
            json_t *v = json_object_iter_value(it);
            if (json_object_iter_key_len(it) > CODEC_KEY_MAX ||
                ((json_is_object(v) || json_is_array(v)) && !round_trips(v, depth + 1)))
                return 0;
        }
    } else if (json_is_array(doc)) {
        size_t n = json_array_size(doc);
        for (size_t i = 0; i != n; ++i) {
            json_t *v = json_array_get(doc, i);
            if ((json_is_object(v) || json_is_array(v)) && !round_trips(v, depth + 1))
                return 0;
        }
    }
    return 1;
}

/* msgpack-c gives a zero-length string met before any other payload a NULL pointer, which unpack_doc cannot make a
 * string of: only a document that starts with a non-empty key (all of ours) is sure to read back. */
static int starts_well(json_t *doc)
{
    void *it = json_object_iter(doc);
    return it != NULL && json_object_iter_key_len(it) != 0;
}

int sy_doc_cache_put(sy_doc_cache_t *c, sy_txn_t *txn, sy_db_t db, sy_slice_t key, json_t *doc)
{
    uint64_t h = hash_key(db, key);
    if (!json_is_object(doc) || !starts_well(doc) || !round_trips(doc, 0)) {
        if (c->capacity != 0) {
            sy_doc_cache_entry_t *e = find(c, h, db, key);
            if (e->key != NULL) {
                release(e->doc);
                e->doc = NULL; /* read from txn from now on */
                e->dirty = 0;
            }
        }
        return sy_doc_put(txn, db, key, doc);
    }
    sy_doc_cache_entry_t *e = insert(c, h, db, key);
    json_incref(doc);
    if (e->doc != doc)
        release(e->doc);
    else
        json_decref(doc);
    e->doc = doc;
    e->dirty = 1;
    return 0;
}

int sy_doc_cache_flush(sy_doc_cache_t *c, sy_txn_t *txn)
{
    for (size_t i = 0; i != c->capacity; ++i) {
        sy_doc_cache_entry_t *e = &c->slots[i];
        if (e->key == NULL || !e->dirty)
            continue;
        sy_db_t db = (sy_db_t)(unsigned char)e->key[0];
        sy_slice_t key = {e->key + 1, e->keylen - 1}, bytes, stored;
        int rc = sy_codec_doc_encode_scratch(e->doc, &bytes);
        if (rc != 0)
            return rc;
        /* A document stored unchanged (every event of a reapply is stale or met again) is not written: the put
         * would only dirty pages for the commit to write and sync. */
        if (sy_txn_get(txn, db, key, &stored) != 0 || stored.len != bytes.len ||
            memcmp(stored.base, bytes.base, bytes.len) != 0) {
            if ((rc = sy_txn_put(txn, db, key, bytes)) != 0)
                return rc;
        }
        e->dirty = 0;
    }
    return 0;
}

void sy_doc_cache_clear(sy_doc_cache_t *c)
{
    for (size_t i = 0; i != c->capacity; ++i) {
        sy_doc_cache_entry_t *e = &c->slots[i];
        if (e->key == NULL)
            continue;
        free(e->key);
        release(e->doc);
        memset(e, 0, sizeof(*e));
    }
    c->used = 0;
}

void sy_doc_cache_dispose(sy_doc_cache_t *c)
{
    sy_doc_cache_clear(c);
    free(c->slots);
    memset(c, 0, sizeof(*c));
}
