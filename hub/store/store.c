#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define SCHEMA_VERSION 1
#define KEY_SEP '\x1f' /* between source and event id: source names never contain it */
#define MAX_EVENT_KEY 511 /* LMDB's default maximum key size */

static const char *const db_names[SY_DB_COUNT] = {"events", "event_ids", "meta",    "records", "xref",  "match",
                                                  "outbox", "pending",   "suggest", "audit",   "alerts", "dead", "skipped",
                                                  "queue", "attempts", "shapes"};

struct st_sy_store_t {
    MDB_env *env;
    MDB_dbi dbi[SY_DB_COUNT];
    int have[SY_DB_COUNT]; /* a read-only open of an older data dir may lack some DBs */
    /* The lock order of these two (and of everything around them) is in locks.h. */
    pthread_mutex_t write_lock; /* one write transaction at a time in this process (writer, applier, delivery, ...) */
    uint64_t map_size, map_size_max; /* map_size: read and written with write_lock held */
    int readonly;
    /* LMDB lets the map grow only while this process has no transaction open: in-process readers hold
     * the read side for their transaction's life, a grow takes the write side (with write_lock held). */
    pthread_rwlock_t resize_lock;
    _Atomic uint64_t grows;                     /* times the map grew (or adopted another process's size) */
    /* sy_store_write's rides (a leaf lock, locks.h): the sink, and the rides using it now. */
    pthread_mutex_t ride_mutex;
    pthread_cond_t rides_done;
    int (*ride)(void *ctx, sy_rider_t *rider);
    void *ride_ctx;
    unsigned rides;
    _Atomic uint64_t errors[SY_STORE_OP_COUNT][2]; /* failed operations by op, [0] full, [1] other */
    char path[512];
};

struct st_sy_txn_t {
    sy_store_t *store;
    MDB_txn *txn;
    int write;
    int failed; /* first storage error of a write: LMDB has flagged the txn, only abort is left (see sy_txn_commit) */
    int nested; /* a rider's child transaction (sy_store_append_riding): no lock of its own, never committed here */
};

void sy_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; --i, v >>= 8)
        p[i] = (unsigned char)v;
}

uint64_t sy_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i != 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

static int map_error(int mrc)
{
    switch (mrc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return SY_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return SY_EFULL;
    case ENOMEM:
        return SY_ENOMEM;
    default:
        return SY_EIO;
    }
}

/* Maps an LMDB code and counts a storage failure (not "not found" or a caller's bad input) for /metrics. */
static int count_error(sy_store_t *s, sy_store_op_t op, int mrc)
{
    int rc = map_error(mrc);
    if (rc == SY_EFULL || rc == SY_EIO || rc == SY_ENOMEM)
        atomic_fetch_add_explicit(&s->errors[op][rc == SY_EFULL ? 0 : 1], 1, memory_order_relaxed);
    return rc;
}

static int open_dbs(sy_store_t *s, sy_error_t *err)
{
    MDB_txn *txn = NULL;
    int mrc;
    unsigned flags = s->readonly ? 0 : MDB_CREATE;

    if ((mrc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn)) != 0)
        goto Fail;
    for (int i = 0; i != SY_DB_COUNT; ++i) {
        if ((mrc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i])) == 0)
            s->have[i] = 1;
        else if (!(mrc == MDB_NOTFOUND && s->readonly && i > SY_DB_META))
            goto Fail;
    }
    if (!s->readonly) {
        MDB_val k = {sizeof("schema_version") - 1, "schema_version"}, v;
        if ((mrc = mdb_get(txn, s->dbi[SY_DB_META], &k, &v)) == MDB_NOTFOUND) {
            unsigned char buf[8];
            sy_put_be64(buf, SCHEMA_VERSION);
            v = (MDB_val){8, buf};
            if ((mrc = mdb_put(txn, s->dbi[SY_DB_META], &k, &v, 0)) != 0)
                goto Fail;
        } else if (mrc != 0) {
            goto Fail;
        } else if (v.mv_size != 8 || sy_get_be64(v.mv_data) != SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return sy_error_set(err, SY_EIO, s->path, 0, 0, "unsupported schema version (this build reads %d)",
                                SCHEMA_VERSION);
        }
    }
    /* Commit even a read-only transaction: DBI handles opened in an aborted transaction are closed with it. */
    if ((mrc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto Fail;
    }
    return 0;
Fail:
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (mrc == MDB_NOTFOUND && s->readonly)
        return sy_error_set(err, SY_ENOTFOUND, s->path, 0, 0, "no event log here yet (start `switchyard serve` once)");
    return sy_error_set(err, map_error(mrc), s->path, 0, 0, "cannot open the event log: %s", mdb_strerror(mrc));
}

int sy_store_open(sy_store_t **out, const char *dir, uint64_t map_size, uint64_t map_size_max, int flags,
                  sy_error_t *err)
{
    sy_store_t *s;
    int mrc, rc;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return SY_ENOMEM;
    snprintf(s->path, sizeof(s->path), "%s", dir);
    /* A waiting grow goes before new readers: otherwise overlapping short reads (admin polls, delivery scans) can
     * keep the read side taken forever and the writer, holding write_lock, never grows. locks.h: no nested txns. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->resize_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->write_lock, NULL);
    pthread_mutex_init(&s->ride_mutex, NULL);
    pthread_cond_init(&s->rides_done, NULL);
    s->readonly = (flags & SY_STORE_READONLY) != 0;
    s->map_size = map_size;
    s->map_size_max = map_size_max > map_size ? map_size_max : map_size;
    if ((flags & SY_STORE_CREATE) && !s->readonly && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = sy_error_set(err, SY_EIO, dir, 0, 0, "cannot create data directory: %s", strerror(errno));
        goto Fail;
    }
    if (!(flags & SY_STORE_CREATE)) {
        /* Only serve creates a log: a CLI command pointed at a wrong --data-dir would otherwise create an empty
         * one and report success (mdb_env_open creates data.mdb in any existing dir). */
        char file[600];
        snprintf(file, sizeof(file), "%s/data.mdb", dir);
        if (access(file, F_OK) != 0) {
            rc = sy_error_set(err, SY_ENOTFOUND, dir, 0, 0, "no event log here yet (%s): `switchyard serve` creates one",
                              errno == ENOENT ? "no such file: data.mdb" : strerror(errno));
            goto Fail;
        }
    }
    struct stat st;
    if (!s->readonly && stat(dir, &st) == 0 && (st.st_mode & 077) != 0)
        sy_log(SY_LOG_WARN, "data dir %s is open to other users (mode %03o): the log holds customer data; chmod 700 it",
               dir, (unsigned)(st.st_mode & 0777));
    if ((mrc = mdb_env_create(&s->env)) != 0 || (mrc = mdb_env_set_maxdbs(s->env, 32)) != 0 ||
        (mrc = mdb_env_set_maxreaders(s->env, 256)) != 0)
        goto FailMdb;
    if (!s->readonly && (mrc = mdb_env_set_mapsize(s->env, (size_t)map_size)) != 0)
        goto FailMdb;
    /* MDB_NOTLS: read transactions are not tied to threads (the admin thread and CLI open them freely). */
    if ((mrc = mdb_env_open(s->env, dir, (s->readonly ? MDB_RDONLY : 0) | MDB_NOTLS, 0600)) != 0)
        goto FailMdb;
    if (!s->readonly) {
        /* A file created by a larger configuration keeps its size: never shrink below it. */
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        if (info.me_mapsize > s->map_size)
            s->map_size = info.me_mapsize;
    }
    if ((rc = open_dbs(s, err)) != 0)
        goto Fail;
    *out = s;
    return 0;
FailMdb:
    rc = sy_error_set(err, mrc == ENOENT ? SY_ENOTFOUND : map_error(mrc), dir, 0, 0, "cannot open the event log: %s",
                      mrc == ENOENT ? "no event log here yet (start `switchyard serve` once)" : mdb_strerror(mrc));
Fail:
    if (s->env != NULL)
        mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->resize_lock);
    pthread_mutex_destroy(&s->write_lock);
    free(s);
    return rc;
}

void sy_store_close(sy_store_t *store)
{
    if (store == NULL)
        return;
    mdb_env_close(store->env);
    pthread_rwlock_destroy(&store->resize_lock);
    pthread_mutex_destroy(&store->write_lock);
    pthread_cond_destroy(&store->rides_done);
    pthread_mutex_destroy(&store->ride_mutex);
    free(store);
}

static size_t make_id_key(unsigned char *buf, sy_slice_t source, sy_slice_t event_id)
{
    memcpy(buf, source.base, source.len);
    buf[source.len] = KEY_SEP;
    memcpy(buf + source.len + 1, event_id.base, event_id.len);
    return source.len + 1 + event_id.len;
}

/* Runs each rider in a child transaction of txn: a rider that fails is rolled back alone. */
static void run_riders(sy_store_t *s, MDB_txn *txn, sy_rider_t *riders)
{
    for (sy_rider_t *r = riders; r != NULL; r = r->next) {
        sy_txn_t child = {.store = s, .write = 1, .nested = 1};
        int mrc = mdb_txn_begin(s->env, txn, 0, &child.txn);
        if (mrc != 0) {
            r->result = count_error(s, SY_STORE_OP_BEGIN, mrc);
            continue;
        }
        r->result = r->fn(r->arg, &child);
        if (r->result == 0 && child.failed != 0)
            r->result = child.failed;
        if (r->result == 0)
            r->result = count_error(s, SY_STORE_OP_COMMIT, mdb_txn_commit(child.txn)); /* into txn, no sync */
        else
            mdb_txn_abort(child.txn);
    }
}

/* One attempt at the batch and its riders; returns an MDB code (0 on commit). */
static int append_once(sy_store_t *s, sy_append_t *items, size_t n, sy_rider_t *riders)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    uint64_t next_seq = 1;
    int mrc;

    if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        return mrc;
    if ((mrc = mdb_cursor_open(txn, s->dbi[SY_DB_EVENTS], &cur)) != 0)
        goto Abort;
    MDB_val k, v;
    if ((mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST)) == 0)
        next_seq = sy_get_be64(k.mv_data) + 1;
    else if (mrc != MDB_NOTFOUND)
        goto Abort;

    for (size_t i = 0; i != n; ++i) {
        sy_append_t *it = &items[i];
        unsigned char idkey[MAX_EVENT_KEY], seqbuf[8];
        if (it->source.len + 1 + it->event_id.len > MAX_EVENT_KEY) {
            mrc = MDB_BAD_VALSIZE;
            goto Abort;
        }
        MDB_val ik = {make_id_key(idkey, it->source, it->event_id), idkey}, iv = {8, seqbuf};
        sy_put_be64(seqbuf, next_seq);
        /* One descent does both: insert the id, or find it (a provider retry, or a repeat within this batch)
         * and answer with the first seq; MDB_NOOVERWRITE then points iv at the stored value. */
        if ((mrc = mdb_put(txn, s->dbi[SY_DB_EVENT_IDS], &ik, &iv, MDB_NOOVERWRITE)) == MDB_KEYEXIST) {
            if (iv.mv_size != 8) {
                mrc = MDB_CORRUPTED;
                goto Abort;
            }
            it->seq = sy_get_be64(iv.mv_data);
            it->duplicate = 1;
            continue;
        } else if (mrc != 0) {
            goto Abort;
        }
        MDB_val ek = {8, seqbuf}, ev = {it->value.len, (void *)it->value.base};
        if ((mrc = mdb_cursor_put(cur, &ek, &ev, MDB_APPEND)) != 0)
            goto Abort;
        it->seq = next_seq++;
        it->duplicate = 0;
    }
    mdb_cursor_close(cur);
    run_riders(s, txn, riders);
    return mdb_txn_commit(txn);
Abort:
    if (cur != NULL)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return mrc;
}

/*
 * Sets the map size (0: adopt the size another process wrote into the file). Called with write_lock held (so no
 * write transaction is open here) and no transaction of this thread open; the write side of resize_lock waits
 * until every in-process reader has ended, since mdb_env_set_mapsize unmaps and maps the file again. Returns an
 * MDB code.
 */
static int remap(sy_store_t *s, uint64_t size)
{
    MDB_envinfo info;
    pthread_rwlock_wrlock(&s->resize_lock);
    int mrc = mdb_env_set_mapsize(s->env, (size_t)size);
    if (mrc == 0 && mdb_env_info(s->env, &info) == 0)
        s->map_size = info.me_mapsize;
    pthread_rwlock_unlock(&s->resize_lock);
    if (mrc == 0)
        atomic_fetch_add_explicit(&s->grows, 1, memory_order_relaxed);
    return mrc;
}

/* Called with write_lock held and no transaction of ours open: doubles the map up to its maximum. */
static int grow_map(sy_store_t *s)
{
    if (s->map_size >= s->map_size_max)
        return 0;
    uint64_t grown = s->map_size * 2 < s->map_size_max ? s->map_size * 2 : s->map_size_max;
    int mrc = remap(s, grown);
    if (mrc != 0) {
        sy_log(SY_LOG_ERROR, "cannot grow the LMDB map to %llu bytes: %s", (unsigned long long)grown, mdb_strerror(mrc));
        return 0;
    }
    sy_log(SY_LOG_INFO, "LMDB map grown to %llu bytes (max %llu)", (unsigned long long)s->map_size,
           (unsigned long long)s->map_size_max);
    return 1;
}

/* Another process (a CLI write command) grew the file beyond our map: adopt its size. write_lock held. */
static int adopt_map(sy_store_t *s)
{
    int mrc = remap(s, 0);
    if (mrc != 0)
        sy_log(SY_LOG_ERROR, "cannot adopt the LMDB map size another process set: %s", mdb_strerror(mrc));
    return mrc;
}

int sy_store_append(sy_store_t *s, sy_append_t *items, size_t n)
{
    return sy_store_append_riding(s, items, n, NULL);
}

int sy_store_append_riding(sy_store_t *s, sy_append_t *items, size_t n, sy_rider_t *riders)
{
    int mrc;
    if (s->readonly)
        return SY_EINVAL;
    pthread_mutex_lock(&s->write_lock);
    /* Each failed attempt aborted its transaction before we grow: remap needs none open. A MAP_RESIZED is
     * retried a few times only, so a file that keeps changing under us cannot spin the writer. */
    for (int resized = 0;;) {
        mrc = append_once(s, items, n, riders);
        if (mrc == MDB_MAP_RESIZED && resized++ < 3 && adopt_map(s) == 0)
            continue;
        if (mrc == MDB_MAP_FULL && grow_map(s))
            continue;
        break;
    }
    pthread_mutex_unlock(&s->write_lock);
    int rc = mrc == MDB_BAD_VALSIZE ? SY_ETOOBIG : count_error(s, SY_STORE_OP_COMMIT, mrc);
    /* Nothing a rider wrote is there unless the whole transaction committed. */
    for (sy_rider_t *r = riders; r != NULL && rc != 0; r = r->next)
        r->result = rc;
    return rc;
}

void sy_store_set_ride(sy_store_t *s, int (*ride)(void *ctx, sy_rider_t *rider), void *ctx)
{
    pthread_mutex_lock(&s->ride_mutex);
    s->ride = ride;
    s->ride_ctx = ctx;
    while (s->rides != 0)
        pthread_cond_wait(&s->rides_done, &s->ride_mutex);
    pthread_mutex_unlock(&s->ride_mutex);
}

int sy_store_write(sy_store_t *s, int (*fn)(void *arg, sy_txn_t *txn), void *arg)
{
    pthread_mutex_lock(&s->ride_mutex);
    int (*ride)(void *, sy_rider_t *) = s->ride;
    void *ctx = s->ride_ctx;
    s->rides += ride != NULL;
    pthread_mutex_unlock(&s->ride_mutex);
    if (ride != NULL) {
        sy_rider_t rider = {.fn = fn, .arg = arg};
        int rc = ride(ctx, &rider);
        pthread_mutex_lock(&s->ride_mutex);
        if (--s->rides == 0)
            pthread_cond_broadcast(&s->rides_done);
        pthread_mutex_unlock(&s->ride_mutex);
        if (rc == 0)
            return rider.result;
        if (rc != SY_ESHUTDOWN)
            return rc;
    }
    sy_txn_t *txn;
    int rc = sy_txn_begin(s, 1, &txn);
    if (rc != 0)
        return rc;
    if ((rc = fn(arg, txn)) != 0) {
        sy_txn_abort(txn);
        return rc;
    }
    return sy_txn_commit(txn);
}

/* Begins a read transaction holding the resize lock's read side; on error the lock is released. */
static int begin_read_txn(sy_store_t *s, MDB_txn **txn)
{
    int mrc;
    pthread_rwlock_rdlock(&s->resize_lock);
    if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn)) == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size and retry. This thread has no transaction open (it is
         * beginning one), so it may take write_lock, which keeps in-process write transactions out of the remap
         * (LMDB's own check for one is not thread-safe). Order: write_lock, then resize_lock (locks.h). */
        pthread_rwlock_unlock(&s->resize_lock);
        pthread_mutex_lock(&s->write_lock);
        adopt_map(s);
        pthread_mutex_unlock(&s->write_lock);
        pthread_rwlock_rdlock(&s->resize_lock);
        mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    }
    if (mrc != 0)
        pthread_rwlock_unlock(&s->resize_lock);
    return mrc;
}

int sy_txn_begin(sy_store_t *s, int write, sy_txn_t **out)
{
    sy_txn_t *t = calloc(1, sizeof(*t));
    int mrc;
    if (t == NULL)
        return SY_ENOMEM;
    t->store = s;
    t->write = write;
    if (write) {
        if (s->readonly) {
            free(t);
            return SY_EINVAL;
        }
        pthread_mutex_lock(&s->write_lock);
        if ((mrc = mdb_txn_begin(s->env, NULL, 0, &t->txn)) == MDB_MAP_RESIZED && adopt_map(s) == 0)
            mrc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
        if (mrc != 0)
            pthread_mutex_unlock(&s->write_lock);
    } else {
        mrc = begin_read_txn(s, &t->txn);
    }
    if (mrc != 0) {
        free(t);
        return count_error(s, SY_STORE_OP_BEGIN, mrc);
    }
    *out = t;
    return 0;
}

static void txn_release(sy_txn_t *t)
{
    if (t->write)
        pthread_mutex_unlock(&t->store->write_lock);
    else
        pthread_rwlock_unlock(&t->store->resize_lock);
    free(t);
}

int sy_txn_commit(sy_txn_t *t)
{
    sy_store_t *s = t->store;
    int rc;
    if (t->failed != 0) {
        /* LMDB refuses to commit a transaction a write failed in (MDB_BAD_TXN, which would read as an I/O error):
         * give the caller the real reason, so that a full map leads to a grow. */
        rc = t->failed;
        mdb_txn_abort(t->txn);
    } else {
        rc = count_error(s, SY_STORE_OP_COMMIT, mdb_txn_commit(t->txn));
    }
    txn_release(t);
    return rc;
}

void sy_txn_abort(sy_txn_t *t)
{
    if (t == NULL)
        return;
    mdb_txn_abort(t->txn);
    txn_release(t);
}

int sy_store_grow(sy_store_t *s)
{
    pthread_mutex_lock(&s->write_lock);
    int grown = grow_map(s);
    pthread_mutex_unlock(&s->write_lock);
    return grown;
}

static int have_db(sy_txn_t *t, sy_db_t db)
{
    return db < SY_DB_COUNT && t->store->have[db];
}

/* A write that failed leaves the txn unusable: remember why (sy_txn_commit returns it). */
static int write_result(sy_txn_t *t, int mrc)
{
    if (mrc == MDB_BAD_VALSIZE)
        return SY_ETOOBIG; /* refused before anything changed: the txn stays usable */
    int rc = count_error(t->store, SY_STORE_OP_WRITE, mrc);
    if ((rc == SY_EFULL || rc == SY_EIO || rc == SY_ENOMEM) && t->failed == 0)
        t->failed = rc;
    return rc;
}

int sy_txn_get(sy_txn_t *t, sy_db_t db, sy_slice_t key, sy_slice_t *val)
{
    if (t->failed != 0)
        return t->failed;
    if (!have_db(t, db))
        return SY_ENOTFOUND;
    MDB_val k = {key.len, (void *)key.base}, v;
    int mrc = mdb_get(t->txn, t->store->dbi[db], &k, &v);
    if (mrc != 0)
        return count_error(t->store, SY_STORE_OP_READ, mrc);
    *val = (sy_slice_t){v.mv_data, v.mv_size};
    return 0;
}

int sy_txn_put(sy_txn_t *t, sy_db_t db, sy_slice_t key, sy_slice_t val)
{
    if (t->failed != 0)
        return t->failed;
    if (!have_db(t, db))
        return SY_EINVAL;
    MDB_val k = {key.len, (void *)key.base}, v = {val.len, (void *)val.base};
    return write_result(t, mdb_put(t->txn, t->store->dbi[db], &k, &v, 0));
}

int sy_txn_del(sy_txn_t *t, sy_db_t db, sy_slice_t key)
{
    if (t->failed != 0)
        return t->failed;
    if (!have_db(t, db))
        return SY_ENOTFOUND;
    MDB_val k = {key.len, (void *)key.base};
    int mrc = mdb_del(t->txn, t->store->dbi[db], &k, NULL);
    return mrc == MDB_NOTFOUND ? SY_ENOTFOUND : write_result(t, mrc);
}

int sy_txn_scan(sy_txn_t *t, sy_db_t db, sy_slice_t from, sy_slice_t prefix,
                int (*cb)(void *arg, sy_slice_t key, sy_slice_t val), void *arg)
{
    MDB_cursor *cur;
    int mrc, rc = 0;
    if (t->failed != 0)
        return t->failed;
    if (!have_db(t, db))
        return 0;
    if ((mrc = mdb_cursor_open(t->txn, t->store->dbi[db], &cur)) != 0)
        return count_error(t->store, SY_STORE_OP_READ, mrc);
    MDB_val k = {from.len, (void *)from.base}, v;
    mrc = from.len != 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (mrc == 0) {
        if (k.mv_size < prefix.len || memcmp(k.mv_data, prefix.base, prefix.len) != 0)
            break;
        if ((rc = cb(arg, (sy_slice_t){k.mv_data, k.mv_size}, (sy_slice_t){v.mv_data, v.mv_size})) != 0)
            break;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != 0)
        return rc;
    return mrc == MDB_NOTFOUND ? 0 : count_error(t->store, SY_STORE_OP_READ, mrc);
}

int sy_txn_count(sy_txn_t *t, sy_db_t db, uint64_t *count)
{
    MDB_stat st;
    *count = 0;
    if (!have_db(t, db))
        return 0;
    int mrc = mdb_stat(t->txn, t->store->dbi[db], &st);
    if (mrc == 0)
        *count = st.ms_entries;
    return map_error(mrc);
}

int sy_store_read_begin(sy_store_t *s, sy_store_read_t **out)
{
    return sy_txn_begin(s, 0, out);
}

void sy_store_read_end(sy_store_read_t *rd)
{
    sy_txn_abort(rd);
}

static int decode_at(MDB_val *k, MDB_val *v, sy_event_t *ev)
{
    if (k->mv_size != 8 || sy_codec_event_decode(v->mv_data, v->mv_size, ev) != 0)
        return SY_EIO;
    ev->seq = sy_get_be64(k->mv_data);
    return 0;
}

int sy_store_event_get(sy_store_read_t *rd, uint64_t seq, sy_event_t *ev)
{
    unsigned char kb[8];
    sy_put_be64(kb, seq);
    MDB_val k = {8, kb}, v;
    int mrc = mdb_get(rd->txn, rd->store->dbi[SY_DB_EVENTS], &k, &v);
    if (mrc != 0)
        return map_error(mrc);
    return decode_at(&k, &v, ev);
}

int sy_store_event_next(sy_store_read_t *rd, uint64_t after, sy_event_t *ev)
{
    MDB_cursor *cur;
    unsigned char kb[8];
    int mrc;
    if (after == UINT64_MAX)
        return SY_ENOTFOUND;
    sy_put_be64(kb, after + 1);
    MDB_val k = {8, kb}, v;
    if ((mrc = mdb_cursor_open(rd->txn, rd->store->dbi[SY_DB_EVENTS], &cur)) != 0)
        return map_error(mrc);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (mrc != 0)
        return map_error(mrc);
    return decode_at(&k, &v, ev);
}

int sy_store_last_seq(sy_store_read_t *rd, uint64_t *seq)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int mrc;
    *seq = 0;
    if ((mrc = mdb_cursor_open(rd->txn, rd->store->dbi[SY_DB_EVENTS], &cur)) != 0)
        return map_error(mrc);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return map_error(mrc);
    *seq = k.mv_size == 8 ? sy_get_be64(k.mv_data) : 0;
    return 0;
}

int sy_store_lookup_event_id(sy_store_read_t *rd, sy_slice_t source, sy_slice_t event_id, uint64_t *seq)
{
    unsigned char idkey[MAX_EVENT_KEY];
    if (source.len + 1 + event_id.len > MAX_EVENT_KEY)
        return SY_ENOTFOUND;
    MDB_val k = {make_id_key(idkey, source, event_id), idkey}, v;
    int mrc = mdb_get(rd->txn, rd->store->dbi[SY_DB_EVENT_IDS], &k, &v);
    if (mrc != 0)
        return map_error(mrc);
    if (v.mv_size != 8)
        return SY_EIO;
    *seq = sy_get_be64(v.mv_data);
    return 0;
}

int sy_store_stats(sy_store_t *s, sy_store_stats_t *st)
{
    MDB_envinfo info;
    MDB_stat envst, dbst;
    MDB_txn *txn;
    char file[600];
    struct stat sb;
    int mrc;

    memset(st, 0, sizeof(*st));
    st->map_grows = atomic_load_explicit(&s->grows, memory_order_relaxed);
    for (int op = 0; op != SY_STORE_OP_COUNT; ++op)
        for (int k = 0; k != 2; ++k)
            st->errors[op][k] = atomic_load_explicit(&s->errors[op][k], memory_order_relaxed);
    snprintf(file, sizeof(file), "%s/data.mdb", s->path);
    if (stat(file, &sb) == 0)
        st->file_bytes = (uint64_t)sb.st_blocks * 512;
    /* mdb_env_info and mdb_env_stat read the meta pages inside the map: a concurrent grow unmaps them (this was
     * the Release build's segfault under /metrics polling). So they run under the read side of resize_lock too,
     * in a read transaction only long enough to read the figures (O(1)). */
    if ((mrc = begin_read_txn(s, &txn)) != 0)
        return count_error(s, SY_STORE_OP_BEGIN, mrc);
    if ((mrc = mdb_env_info(s->env, &info)) == 0 && (mrc = mdb_env_stat(s->env, &envst)) == 0) {
        st->map_size = info.me_mapsize;
        st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * envst.ms_psize;
        if ((mrc = mdb_stat(txn, s->dbi[SY_DB_EVENTS], &dbst)) == 0)
            st->events = dbst.ms_entries;
    }
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize_lock);
    return count_error(s, SY_STORE_OP_READ, mrc);
}
