/*
 * The LMDB store: the only file that includes lmdb.h.
 *
 * One environment (directory data_dir: data.mdb + lock.mdb), named databases:
 *   events     key: seq, u64 big-endian (byte order = numeric order, so appends use MDB_APPEND)
 *              value: msgpack event (see event.h / codec.c)
 *   event_ids  key: source "\x1f" provider event id   value: seq (u64 big-endian)   -- dedupe index
 *   meta       key: name                              value: schema_version, ...
 *
 * Writers: in `serve`, the log writer (sy_store_append) and, through sy_txn_begin(write), the applier, delivery, the
 * admin API and replay jobs, one write transaction at a time (write_lock). CLI write commands (replay, records
 * merge/split, queue/dead actions, log compact) go through serve's admin API while it runs; otherwise they write
 * from their own process, holding the data-dir lock (datadir.h).
 * Readers may be other threads or other processes (the CLI). Locks and the order they are taken in: locks.h.
 * Durability: default LMDB sync (fdatasync at every commit); no MDB_NOSYNC / MDB_NOMETASYNC, so a commit
 * that returned is on disk.
 */
#ifndef SY_STORE_H
#define SY_STORE_H

#include "common.h"
#include "event.h"

typedef struct st_sy_store_t sy_store_t;
typedef struct st_sy_txn_t sy_txn_t;
typedef sy_txn_t sy_store_read_t; /* a read-only transaction */

/* The named databases. Keys and values of the golden-record DBs are documented in records.h. */
typedef enum en_sy_db_t {
    SY_DB_EVENTS,
    SY_DB_EVENT_IDS,
    SY_DB_META,
    SY_DB_RECORDS,
    SY_DB_XREF,
    SY_DB_MATCH,
    SY_DB_OUTBOX,
    SY_DB_PENDING,
    SY_DB_SUGGEST,
    SY_DB_AUDIT,
    SY_DB_ALERTS,
    SY_DB_DEAD,
    SY_DB_SKIPPED,
    SY_DB_QUEUE, /* the outbox's per-spoke due and age indexes (queue.h) */
    SY_DB_ATTEMPTS, /* the delivery attempt log (attempts.h) */
    SY_DB_SHAPES,   /* learnt payload shapes per source and event type (drift.h) */
    SY_DB_COUNT
} sy_db_t;

#define SY_STORE_READONLY 0x1
#define SY_STORE_CREATE 0x2 /* create dir and an empty log if there is none (only `serve` and tests) */

/*
 * Opens the environment in dir. Without SY_STORE_CREATE a dir without a log (no data.mdb) is refused with
 * SY_ENOTFOUND, so that a CLI command given a wrong --data-dir fails instead of answering from a new empty log;
 * with it the dir (0700) and files (0600) are created as needed. map_size is the initial map, map_size_max the
 * most it may grow to on MDB_MAP_FULL. Read-only opens take the map size from the file.
 * Returns 0 or a negative code with err set.
 */
int sy_store_open(sy_store_t **out, const char *dir, uint64_t map_size, uint64_t map_size_max, int flags,
                  sy_error_t *err);
void sy_store_close(sy_store_t *store);

/* One event to append: ev is the metadata, value its pre-encoded msgpack (sy_codec_event_encode). */
typedef struct st_sy_append_t {
    sy_slice_t source;
    sy_slice_t event_id;
    sy_slice_t value;
    uint64_t seq;  /* out: the event's seq (the first one's for a duplicate) */
    int duplicate; /* out: 1 if source+event_id was already in the log (or earlier in this batch) */
} sy_append_t;

/*
 * Appends a batch in ONE write transaction and commits it (fsync). For each item either a new seq
 * is assigned or the existing seq of the same source+event id is returned with duplicate=1.
 * On MDB_MAP_FULL the map grows (doubling, up to map_size_max) and the batch is retried; past the maximum,
 * or on ENOSPC/EIO, nothing of the batch is written and SY_EFULL / SY_EIO is returned.
 * Call from one thread at a time.
 */
int sy_store_append(sy_store_t *store, sy_append_t *items, size_t n);

/*
 * Work that rides on a log append's commit: each rider runs after the batch's events are written, in a nested
 * transaction of the same LMDB transaction, so the events and the riders' writes share one commit and one fsync
 * (the applier's record updates, instead of a write transaction and an fsync of their own that the log writer
 * would wait behind). A rider whose fn fails (or whose writes fail) is rolled back alone: the events still commit.
 * fn may run more than once for one commit (after a map grow the whole transaction is redone): it must start from
 * what the transaction shows each time. result: fn's result, or the commit's error if the commit failed.
 */
typedef struct st_sy_rider_t sy_rider_t;
struct st_sy_rider_t {
    int (*fn)(void *arg, sy_txn_t *txn);
    void *arg;
    int result;
    sy_rider_t *next; /* the caller's list; read only by sy_store_append_riding */
    int done;         /* for the caller (the log writer): set once the commit that carried it is over */
};
/* sy_store_append, with the riders (a NULL-terminated list, may be NULL) in the same commit; n may be 0. Returns
 * the commit's result, as sy_store_append does. */
int sy_store_append_riding(sy_store_t *store, sy_append_t *items, size_t n, sy_rider_t *riders);

/*
 * A short write (delivery's outcomes, say) in one transaction: riding on the log writer's next commit when one is
 * set (sy_store_set_ride: serve's writer), else in a write transaction of its own. fn as for a rider: it may run
 * more than once, and a failing fn (or a failed write) leaves nothing. Returns fn's result or the commit's
 * (SY_EFULL: grow, then call again). Hold no transaction and no lock of locks.h meanwhile.
 */
int sy_store_write(sy_store_t *store, int (*fn)(void *arg, sy_txn_t *txn), void *arg);
/* Where sy_store_write's riders go: ride(ctx, rider) runs rider in a commit and returns 0 once it did, or
 * SY_ESHUTDOWN (then the write runs alone). NULL: alone from now on; waits for the rides in progress, so the
 * previous ctx may be freed once this returns. */
void sy_store_set_ride(sy_store_t *store, int (*ride)(void *ctx, sy_rider_t *rider), void *ctx);

/* Read transactions: slices returned are valid until sy_store_read_end. */
int sy_store_read_begin(sy_store_t *store, sy_store_read_t **out);
void sy_store_read_end(sy_store_read_t *rd);
/* The event at seq (SY_ENOTFOUND if none). */
int sy_store_event_get(sy_store_read_t *rd, uint64_t seq, sy_event_t *ev);
/* The first event with seq > after (SY_ENOTFOUND at the end). */
int sy_store_event_next(sy_store_read_t *rd, uint64_t after, sy_event_t *ev);
/* Highest seq in the log, 0 if empty. */
int sy_store_last_seq(sy_store_read_t *rd, uint64_t *seq);
/* Seq stored for source+event id (SY_ENOTFOUND if none). */
int sy_store_lookup_event_id(sy_store_read_t *rd, sy_slice_t source, sy_slice_t event_id, uint64_t *seq);

/* Operations whose storage failures are counted (sy_store_stats), in label order. */
typedef enum en_sy_store_op_t {
    SY_STORE_OP_BEGIN,  /* beginning a transaction */
    SY_STORE_OP_READ,   /* get, scan, stats */
    SY_STORE_OP_WRITE,  /* put, delete */
    SY_STORE_OP_COMMIT, /* commit, and a whole sy_store_append */
    SY_STORE_OP_COUNT
} sy_store_op_t;
#define SY_STORE_OP_NAMES {"begin", "read", "write", "commit"}

typedef struct st_sy_store_stats_t {
    uint64_t events;        /* entries in the events DB */
    uint64_t map_size;      /* current map size */
    uint64_t used_bytes;    /* pages in use * page size */
    uint64_t file_bytes;    /* data.mdb on disk (st_blocks) */
    uint64_t map_grows;     /* times this process grew the map (or adopted a size another process set) */
    uint64_t errors[SY_STORE_OP_COUNT][2]; /* storage failures since start: [op][0] map/disk full, [op][1] other */
} sy_store_stats_t;

/*
 * Generic transactions (golden records, outbox, meta). A write transaction excludes the log writer and any other
 * in-process writer until it commits or aborts; keep them short. Slices returned are valid until the transaction
 * ends. One transaction per thread at a time, and none begun while waiting for the policy (locks.h).
 * A put that finds the map full returns SY_EFULL: abort, call sy_store_grow, redo the work. After a failed write
 * (SY_EFULL, SY_EIO, SY_ENOMEM) every further call on the transaction returns that error, commit included (it then
 * aborts): LMDB cannot continue such a transaction. Every storage failure is counted (sy_store_stats.errors).
 */
int sy_txn_begin(sy_store_t *store, int write, sy_txn_t **out);
int sy_txn_commit(sy_txn_t *txn); /* frees txn whatever the outcome */
void sy_txn_abort(sy_txn_t *txn);
int sy_txn_get(sy_txn_t *txn, sy_db_t db, sy_slice_t key, sy_slice_t *val);
int sy_txn_put(sy_txn_t *txn, sy_db_t db, sy_slice_t key, sy_slice_t val);
int sy_txn_del(sy_txn_t *txn, sy_db_t db, sy_slice_t key); /* SY_ENOTFOUND if absent */
/* Calls cb for each entry with key >= from whose key starts with prefix, in key order, until cb returns non-zero
 * (that value is returned). A storage error returns a negative code: the entries seen so far are not all there
 * are, so callers must not present them as the whole. */
int sy_txn_scan(sy_txn_t *txn, sy_db_t db, sy_slice_t from, sy_slice_t prefix,
                int (*cb)(void *arg, sy_slice_t key, sy_slice_t val), void *arg);
/* Entries in db. */
int sy_txn_count(sy_txn_t *txn, sy_db_t db, uint64_t *count);
/* Grows the map after SY_EFULL (no transaction of this thread may be open: it waits until every in-process read
 * transaction has ended). Returns 1 if it grew, 0 at the max. */
int sy_store_grow(sy_store_t *store);

/* u64 <-> 8 bytes big-endian (keys that sort numerically). */
void sy_put_be64(unsigned char *p, uint64_t v);
uint64_t sy_get_be64(const unsigned char *p);

/* Cheap figures for /metrics and `log stats`: no long transaction (a short read one; not inside another). */
int sy_store_stats(sy_store_t *store, sy_store_stats_t *st);

#endif
