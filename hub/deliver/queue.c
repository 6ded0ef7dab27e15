/*
 * The outbox's per-spoke indexes and counters (see queue.h for the layout and who must call what).
 */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempts.h"
#include "codec.h"
#include "log.h"
#include "records.h"

#define TAG_DUE 'd'
#define TAG_AGE 'a'
#define TAG_ID 'i'
#define INDEX_VERSION 1
#define SPOKE_MAX 256     /* names come from the config; a longer one would not fit a key */
#define CLEAR_BATCH 4096  /* index keys deleted per pass while rebuilding (no writes under a scan's cursor) */

/* tag spoke \x1f t (be64) id (be64), where key16 is the outbox key (due, id). */
static sy_slice_t index_key(char *buf, char tag, const char *spoke, uint64_t t, const unsigned char *key16)
{
    size_t n = strlen(spoke);
    if (n > SPOKE_MAX)
        n = SPOKE_MAX;
    buf[0] = tag;
    memcpy(buf + 1, spoke, n);
    buf[1 + n] = '\x1f';
    sy_put_be64((unsigned char *)buf + 2 + n, t);
    memcpy(buf + 10 + n, key16 + 8, 8);
    return (sy_slice_t){buf, n + 18};
}

/* 'i' push id (be64): the push's outbox key, so an admin action by id finds it without a scan. */
static sy_slice_t id_key(char *buf, const unsigned char *key16)
{
    buf[0] = TAG_ID;
    memcpy(buf + 1, key16 + 8, 8);
    return (sy_slice_t){buf, 9};
}

static const char *doc_spoke(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "spoke"));
    return s != NULL ? s : "";
}

static uint64_t doc_enqueued(const json_t *doc)
{
    json_int_t v = json_integer_value(json_object_get(doc, "enqueued_at_ms"));
    return v > 0 ? (uint64_t)v : 0;
}

/* meta "<what>:<spoke>" += delta, never below 0 (a count cannot go negative; drift is repaired at open). */
static int counter_add(sy_txn_t *txn, const char *what, const char *spoke, int delta)
{
    char name[SPOKE_MAX + 16];
    uint64_t v;
    int rc;
    snprintf(name, sizeof(name), "%s:%.*s", what, SPOKE_MAX, spoke);
    if ((rc = sy_meta_get_u64(txn, name, &v)) != 0)
        return rc;
    v = delta < 0 ? (v >= (uint64_t)-delta ? v - (uint64_t)-delta : 0) : v + (uint64_t)delta;
    return sy_meta_put_u64(txn, name, v);
}

static int del_absent_ok(sy_txn_t *txn, sy_db_t db, sy_slice_t key)
{
    int rc = sy_txn_del(txn, db, key);
    return rc == SY_ENOTFOUND ? 0 : rc;
}

static int index_put(sy_txn_t *txn, const unsigned char *key, const char *spoke, uint64_t enqueued)
{
    char buf[SPOKE_MAX + 18];
    int rc = sy_txn_put(txn, SY_DB_QUEUE, index_key(buf, TAG_DUE, spoke, sy_get_be64(key), key), (sy_slice_t){"", 0});
    if (rc == 0)
        rc = sy_txn_put(txn, SY_DB_QUEUE, index_key(buf, TAG_AGE, spoke, enqueued, key), (sy_slice_t){"", 0});
    if (rc == 0)
        rc = sy_txn_put(txn, SY_DB_QUEUE, id_key(buf, key), (sy_slice_t){(const char *)key, 16});
    return rc;
}

int sy_queue_remove(sy_txn_t *txn, const unsigned char key[16], const json_t *doc)
{
    char buf[SPOKE_MAX + 18];
    const char *spoke = doc_spoke(doc);
    int rc = sy_txn_del(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16});
    if (rc == SY_ENOTFOUND)
        return 0; /* gone already (an admin dropped it meanwhile): nothing to uncount */
    if (rc != 0 ||
        (rc = del_absent_ok(txn, SY_DB_QUEUE, index_key(buf, TAG_DUE, spoke, sy_get_be64(key), key))) != 0 ||
        (rc = del_absent_ok(txn, SY_DB_QUEUE, index_key(buf, TAG_AGE, spoke, doc_enqueued(doc), key))) != 0 ||
        (rc = del_absent_ok(txn, SY_DB_QUEUE, id_key(buf, key))) != 0)
        return rc;
    return counter_add(txn, "queued", spoke, -1);
}

/* meta queue_max_id: the highest push id indexed. Every version counts new push ids in next_push (records.c), so
 * next_push > queue_max_id at open means a version without this index queued pushes here since. */
static int note_id(sy_txn_t *txn, const unsigned char *key)
{
    uint64_t id = sy_get_be64(key + 8), max = 0;
    int rc = sy_meta_get_u64(txn, "queue_max_id", &max);
    return rc != 0 || id <= max ? rc : sy_meta_put_u64(txn, "queue_max_id", id);
}

int sy_queue_add(sy_txn_t *txn, const unsigned char key[16], const json_t *doc)
{
    sy_slice_t k = {(const char *)key, 16}, old;
    int rc;
    if (sy_txn_get(txn, SY_DB_OUTBOX, k, &old) == 0) {
        /* Not expected (keys carry a unique push id), but a second add must not count the push twice. */
        json_t *prev = sy_codec_doc_decode(old.base, old.len);
        rc = sy_queue_remove(txn, key, prev);
        json_decref(prev);
        if (rc != 0)
            return rc;
    }
    if ((rc = sy_doc_put(txn, SY_DB_OUTBOX, k, doc)) != 0)
        return rc;
    return sy_queue_index_add(txn, key, doc_spoke(doc), doc_enqueued(doc));
}

int sy_queue_index_add(sy_txn_t *txn, const unsigned char key[16], const char *spoke, uint64_t enqueued_at_ms)
{
    int rc;
    if ((rc = index_put(txn, key, spoke, enqueued_at_ms)) != 0 || (rc = note_id(txn, key)) != 0)
        return rc;
    return counter_add(txn, "queued", spoke, 1);
}

int sy_queue_move(sy_txn_t *txn, const unsigned char from[16], const unsigned char to[16], const json_t *doc)
{
    char buf[SPOKE_MAX + 18];
    const char *spoke = doc_spoke(doc);
    int rc;
    if (memcmp(from, to, 16) == 0)
        return sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)to, 16}, doc);
    if ((rc = sy_txn_del(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)from, 16})) != 0 ||
        (rc = sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)to, 16}, doc)) != 0 ||
        (rc = del_absent_ok(txn, SY_DB_QUEUE, index_key(buf, TAG_DUE, spoke, sy_get_be64(from), from))) != 0 ||
        (rc = sy_txn_put(txn, SY_DB_QUEUE, index_key(buf, TAG_DUE, spoke, sy_get_be64(to), to), (sy_slice_t){"", 0})) != 0)
        return rc;
    /* The age entry names the push id, which a move keeps; only a different id (not done today) needs a new one. */
    if (memcmp(from + 8, to + 8, 8) != 0 &&
        ((rc = del_absent_ok(txn, SY_DB_QUEUE, index_key(buf, TAG_AGE, spoke, doc_enqueued(doc), from))) != 0 ||
         (rc = sy_txn_put(txn, SY_DB_QUEUE, index_key(buf, TAG_AGE, spoke, doc_enqueued(doc), to), (sy_slice_t){"", 0})) != 0 ||
         (rc = del_absent_ok(txn, SY_DB_QUEUE, id_key(buf, from))) != 0))
        return rc;
    return sy_txn_put(txn, SY_DB_QUEUE, id_key(buf, to), (sy_slice_t){(const char *)to, 16});
}

typedef struct st_find_t {
    uint64_t id;
    unsigned char key[16];
    int found;
} find_t;

static int on_find(void *arg, sy_slice_t key, sy_slice_t val)
{
    find_t *f = arg;
    (void)val;
    if (key.len != 16 || sy_get_be64((const unsigned char *)key.base + 8) != f->id)
        return 0;
    memcpy(f->key, key.base, 16);
    f->found = 1;
    return 1;
}

int sy_queue_find(sy_txn_t *txn, uint64_t push_id, unsigned char key[16])
{
    char buf[9];
    unsigned char idb[16] = {0};
    uint64_t indexed = 0;
    sy_slice_t v;
    int rc = sy_meta_get_u64(txn, "queue_index", &indexed);
    if (rc != 0)
        return rc;
    if (indexed != INDEX_VERSION) {
        /* A data dir this version never opened for writing (the CLI on an old one): the outbox keys end with the id. */
        find_t f = {.id = push_id};
        if ((rc = sy_txn_scan(txn, SY_DB_OUTBOX, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_find, &f)) < 0)
            return rc;
        if (!f.found)
            return SY_ENOTFOUND;
        memcpy(key, f.key, 16);
        return 0;
    }
    sy_put_be64(idb + 8, push_id);
    if ((rc = sy_txn_get(txn, SY_DB_QUEUE, id_key(buf, idb), &v)) != 0)
        return rc;
    if (v.len != 16)
        return SY_ENOTFOUND;
    memcpy(key, v.base, 16);
    return 0;
}

#define PRUNE_MAX 256 /* pushes removed per call: collected first, no writes under the scan's cursor */

typedef struct st_prune_scan_t {
    size_t prefix_len, n, max;
    uint64_t before;
    uint64_t ids[PRUNE_MAX];
} prune_scan_t;

static int on_old(void *arg, sy_slice_t key, sy_slice_t val)
{
    prune_scan_t *p = arg;
    (void)val;
    if (key.len != p->prefix_len + 16)
        return 0; /* a longer spoke name sharing the prefix */
    const unsigned char *k = (const unsigned char *)key.base + p->prefix_len;
    if (sy_get_be64(k) >= p->before)
        return 1; /* age order: the rest is younger */
    p->ids[p->n++] = sy_get_be64(k + 8);
    return p->n == p->max;
}

int sy_queue_prune_older(sy_txn_t *txn, const char *spoke, int64_t before_ms, size_t max, size_t *pruned)
{
    char prefix[SPOKE_MAX + 2];
    size_t n = strlen(spoke);
    *pruned = 0;
    if (n > SPOKE_MAX || before_ms <= 0)
        return 0;
    prefix[0] = TAG_AGE;
    memcpy(prefix + 1, spoke, n);
    prefix[1 + n] = '\x1f';
    prune_scan_t p = {.prefix_len = n + 2, .max = max < PRUNE_MAX ? max : PRUNE_MAX, .before = (uint64_t)before_ms};
    sy_slice_t pre = {prefix, n + 2};
    int rc = sy_txn_scan(txn, SY_DB_QUEUE, pre, pre, on_old, &p);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i != p.n; ++i) {
        unsigned char key[16];
        if ((rc = sy_queue_find(txn, p.ids[i], key)) == SY_ENOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        json_t *doc = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16});
        if (doc == NULL)
            continue;
        rc = sy_queue_remove(txn, key, doc);
        json_decref(doc);
        if (rc == 0)
            rc = sy_attempts_drop(txn, p.ids[i]);
        if (rc != 0)
            return rc;
        ++*pruned;
    }
    return 0;
}

int sy_queue_dead_add(sy_txn_t *txn, const char *spoke, int delta)
{
    return counter_add(txn, "dead", spoke != NULL ? spoke : "", delta);
}

/* --- reading ------------------------------------------------------------------------------------------------- */

typedef struct st_due_scan_t {
    int64_t now, *next_due;
    size_t prefix_len;
    int (*cb)(void *arg, const unsigned char key[16]);
    void *arg;
} due_scan_t;

static int on_due(void *arg, sy_slice_t key, sy_slice_t val)
{
    due_scan_t *d = arg;
    (void)val;
    if (key.len != d->prefix_len + 16)
        return 0; /* a longer spoke name that shares this prefix: not ours (names never hold \x1f) */
    const unsigned char *k = (const unsigned char *)key.base + d->prefix_len;
    int64_t due = (int64_t)sy_get_be64(k);
    if (due > d->now) {
        if (d->next_due != NULL && due < *d->next_due)
            *d->next_due = due;
        return 1; /* due order: the rest is later */
    }
    unsigned char okey[16];
    memcpy(okey, k, 16);
    int rc = d->cb(d->arg, okey);
    return rc != 0 ? rc : 0;
}

int sy_queue_due(sy_txn_t *txn, const char *spoke, int64_t now, int64_t *next_due,
                 int (*cb)(void *arg, const unsigned char key[16]), void *arg)
{
    char prefix[SPOKE_MAX + 2];
    size_t n = strlen(spoke);
    if (n > SPOKE_MAX)
        return 0;
    prefix[0] = TAG_DUE;
    memcpy(prefix + 1, spoke, n);
    prefix[1 + n] = '\x1f';
    due_scan_t d = {.now = now, .next_due = next_due, .prefix_len = n + 2, .cb = cb, .arg = arg};
    sy_slice_t p = {prefix, n + 2};
    int rc = sy_txn_scan(txn, SY_DB_QUEUE, p, p, on_due, &d);
    return rc > 0 ? 0 : rc; /* stopped at the first push not due yet, or by cb */
}

static int on_first(void *arg, sy_slice_t key, sy_slice_t val)
{
    (void)val;
    *(uint64_t *)arg = key.len >= 16 ? sy_get_be64((const unsigned char *)key.base + key.len - 16) : 0;
    return 2;
}

/* Sets e.queued/dead from meta and e.oldest_enqueued_ms from the first age entry. */
static int summary_entry(sy_txn_t *txn, json_t *out, const char *spoke, const char *field, uint64_t n)
{
    json_t *e = json_object_get(out, spoke);
    if (e == NULL) {
        char prefix[SPOKE_MAX + 2];
        size_t len = strlen(spoke);
        uint64_t oldest = 0;
        if (len > SPOKE_MAX)
            return 0;
        prefix[0] = TAG_AGE;
        memcpy(prefix + 1, spoke, len);
        prefix[1 + len] = '\x1f';
        sy_slice_t p = {prefix, len + 2};
        int rc = sy_txn_scan(txn, SY_DB_QUEUE, p, p, on_first, &oldest);
        if (rc < 0)
            return rc;
        e = json_pack("{s:I, s:I, s:I}", "queued", (json_int_t)0, "dead", (json_int_t)0, "oldest_enqueued_ms",
                      (json_int_t)oldest);
        json_object_set_new(out, spoke, e);
    }
    json_object_set_new(e, field, json_integer((json_int_t)n));
    return 0;
}

typedef struct st_summary_t {
    sy_txn_t *txn;
    json_t *out;
    const char *field;
    size_t prefix_len;
    int rc;
} summary_t;

static int on_counter(void *arg, sy_slice_t key, sy_slice_t val)
{
    summary_t *s = arg;
    char spoke[SPOKE_MAX + 1];
    size_t n = key.len - s->prefix_len;
    if (val.len != 8 || n > SPOKE_MAX)
        return 0;
    memcpy(spoke, key.base + s->prefix_len, n);
    spoke[n] = '\0';
    uint64_t v = sy_get_be64((const unsigned char *)val.base);
    if (v == 0)
        return 0;
    if ((s->rc = summary_entry(s->txn, s->out, spoke, s->field, v)) != 0)
        return s->rc;
    return 0;
}

/* Counting by a scan: a data dir this version never opened for writing (read-only CLI on an old data dir). */
static int on_scan_push(void *arg, sy_slice_t key, sy_slice_t val)
{
    summary_t *s = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    (void)key;
    if (doc != NULL) {
        const char *spoke = doc_spoke(doc);
        json_t *e = json_object_get(s->out, spoke);
        if (e == NULL) {
            e = json_pack("{s:I, s:I, s:I}", "queued", (json_int_t)0, "dead", (json_int_t)0, "oldest_enqueued_ms",
                          (json_int_t)0);
            json_object_set_new(s->out, spoke, e);
        }
        json_t *f = json_object_get(e, s->field);
        json_object_set_new(e, s->field, json_integer(json_integer_value(f) + 1));
        json_int_t at = (json_int_t)doc_enqueued(doc), old = json_integer_value(json_object_get(e, "oldest_enqueued_ms"));
        if (strcmp(s->field, "queued") == 0 && (old == 0 || at < old))
            json_object_set_new(e, "oldest_enqueued_ms", json_integer(at));
    }
    json_decref(doc);
    return 0;
}

json_t *sy_queue_summary(sy_txn_t *txn)
{
    uint64_t indexed = 0;
    summary_t s = {.txn = txn, .out = json_object()};
    int rc = sy_meta_get_u64(txn, "queue_index", &indexed);
    if (rc == 0 && indexed != INDEX_VERSION) {
        s.field = "queued";
        if ((rc = sy_txn_scan(txn, SY_DB_OUTBOX, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_scan_push, &s)) >= 0) {
            s.field = "dead";
            rc = sy_txn_scan(txn, SY_DB_DEAD, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_scan_push, &s);
        }
    } else if (rc == 0) {
        static const char *const fields[] = {"queued", "dead"};
        for (size_t i = 0; i != 2 && rc >= 0; ++i) {
            char prefix[16];
            s.field = fields[i];
            s.prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "%s:", fields[i]);
            sy_slice_t p = {prefix, s.prefix_len};
            rc = sy_txn_scan(txn, SY_DB_META, p, p, on_counter, &s);
        }
    }
    if (rc < 0) {
        json_decref(s.out);
        return NULL;
    }
    return s.out;
}

/* --- building the indexes ---------------------------------------------------------------------------------- */

typedef struct st_rebuild_t {
    sy_txn_t *txn;
    json_t *counts; /* {"queued:<spoke>": n, "dead:<spoke>": n} */
    json_t *keys;   /* keys to delete, collected under a scan and deleted after it */
    size_t limit;
    int rc;
} rebuild_t;

static int on_collect(void *arg, sy_slice_t key, sy_slice_t val)
{
    rebuild_t *r = arg;
    (void)val;
    json_array_append_new(r->keys, json_stringn_nocheck(key.base, key.len));
    return json_array_size(r->keys) >= r->limit;
}

/* Deletes every key of db under prefix, CLEAR_BATCH at a time (a cursor must not see its DB change under it). */
static int clear(sy_txn_t *txn, sy_db_t db, sy_slice_t prefix)
{
    for (;;) {
        rebuild_t r = {.keys = json_array(), .limit = CLEAR_BATCH};
        int rc = sy_txn_scan(txn, db, prefix, prefix, on_collect, &r);
        size_t i, n = json_array_size(r.keys);
        json_t *k;
        json_array_foreach(r.keys, i, k)
        {
            if (rc >= 0)
                rc = sy_txn_del(txn, db, (sy_slice_t){json_string_value(k), json_string_length(k)});
        }
        json_decref(r.keys);
        if (rc < 0)
            return rc;
        if (n < CLEAR_BATCH)
            return 0;
    }
}

static void count_in(json_t *counts, const char *what, const char *spoke)
{
    char name[SPOKE_MAX + 16];
    snprintf(name, sizeof(name), "%s:%.*s", what, SPOKE_MAX, spoke);
    json_object_set_new(counts, name, json_integer(json_integer_value(json_object_get(counts, name)) + 1));
}

static int on_index_push(void *arg, sy_slice_t key, sy_slice_t val)
{
    rebuild_t *r = arg;
    if (key.len != 16)
        return 0;
    /* An unreadable push is indexed and counted under spoke "": no round reads it (none did before either), and
     * the counts still match the outbox's entries, so the next open does not index again. */
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    r->rc = index_put(r->txn, (const unsigned char *)key.base, doc_spoke(doc), doc_enqueued(doc));
    count_in(r->counts, "queued", doc_spoke(doc));
    json_decref(doc);
    return r->rc != 0 ? -1 : 0;
}

static int on_index_dead(void *arg, sy_slice_t key, sy_slice_t val)
{
    rebuild_t *r = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    (void)key;
    count_in(r->counts, "dead", doc_spoke(doc));
    json_decref(doc);
    return 0;
}

static int sum_counter(void *arg, sy_slice_t key, sy_slice_t val)
{
    (void)key;
    if (val.len == 8)
        *(uint64_t *)arg += sy_get_be64((const unsigned char *)val.base);
    return 0;
}

/* Whether the counters agree with the DBs' entry counts: O(spokes). */
static int consistent(sy_txn_t *txn, int *ok)
{
    uint64_t indexed = 0, queued = 0, dead = 0, sq = 0, sd = 0;
    int rc;
    *ok = 0;
    if ((rc = sy_meta_get_u64(txn, "queue_index", &indexed)) != 0 || indexed != INDEX_VERSION)
        return rc;
    if ((rc = sy_txn_count(txn, SY_DB_OUTBOX, &queued)) != 0 || (rc = sy_txn_count(txn, SY_DB_DEAD, &dead)) != 0)
        return rc;
    if ((rc = sy_txn_scan(txn, SY_DB_META, SY_SLICE_LIT("queued:"), SY_SLICE_LIT("queued:"), sum_counter, &sq)) < 0 ||
        (rc = sy_txn_scan(txn, SY_DB_META, SY_SLICE_LIT("dead:"), SY_SLICE_LIT("dead:"), sum_counter, &sd)) < 0)
        return rc;
    uint64_t entries = 0, next_push = 0, max_id = 0;
    if ((rc = sy_txn_count(txn, SY_DB_QUEUE, &entries)) != 0 || (rc = sy_meta_get_u64(txn, "next_push", &next_push)) != 0 ||
        (rc = sy_meta_get_u64(txn, "queue_max_id", &max_id)) != 0)
        return rc;
    /* Counts catch pushes removed behind the index's back; next_push catches pushes added (even when as many were
     * removed: the counts would agree then). */
    *ok = sq == queued && sd == dead && entries == 3 * queued && next_push <= max_id;
    return 0;
}

static int rebuild(sy_txn_t *txn)
{
    rebuild_t r = {.txn = txn, .counts = json_object()};
    const char *name;
    json_t *n;
    int rc;
    if ((rc = clear(txn, SY_DB_QUEUE, (sy_slice_t){"", 0})) != 0 || (rc = clear(txn, SY_DB_META, SY_SLICE_LIT("queued:"))) != 0 ||
        (rc = clear(txn, SY_DB_META, SY_SLICE_LIT("dead:"))) != 0)
        goto Exit;
    /* The scan's cursor is on outbox; the index puts go to another DB, which LMDB allows under it. */
    if ((rc = sy_txn_scan(txn, SY_DB_OUTBOX, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_index_push, &r)) < 0) {
        rc = r.rc != 0 ? r.rc : rc;
        goto Exit;
    }
    if ((rc = sy_txn_scan(txn, SY_DB_DEAD, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_index_dead, &r)) < 0)
        goto Exit;
    json_object_foreach(r.counts, name, n)
    {
        if ((rc = sy_meta_put_u64(txn, name, (uint64_t)json_integer_value(n))) != 0)
            goto Exit;
    }
    uint64_t next_push = 0;
    if ((rc = sy_meta_get_u64(txn, "next_push", &next_push)) != 0 || (rc = sy_meta_put_u64(txn, "queue_max_id", next_push)) != 0)
        goto Exit;
    rc = sy_meta_put_u64(txn, "queue_index", INDEX_VERSION);
Exit:
    json_decref(r.counts);
    return rc;
}

int sy_queue_index_ensure(sy_store_t *store, int *rebuilt)
{
    sy_txn_t *txn;
    int rc, ok;
    if (rebuilt != NULL)
        *rebuilt = 0;
    for (;;) {
        if ((rc = sy_txn_begin(store, 1, &txn)) != 0)
            return rc;
        if ((rc = consistent(txn, &ok)) != 0 || ok) {
            sy_txn_abort(txn);
            return rc;
        }
        if ((rc = rebuild(txn)) != 0)
            sy_txn_abort(txn);
        else
            rc = sy_txn_commit(txn); /* frees txn whatever the outcome */
        if (rc == SY_EFULL && sy_store_grow(store) == 1)
            continue; /* the whole rebuild again in a bigger map: nothing of the failed one was written */
        if (rc == 0 && rebuilt != NULL)
            *rebuilt = 1;
        return rc;
    }
}
