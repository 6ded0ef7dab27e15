/*
 * The lock order of `switchyard serve`: every mutex, rwlock and LMDB transaction in the process, and the one order
 * in which a thread may hold them. Nothing to include for code; this header is the rule, and the files named below
 * point here.
 *
 * Outermost first; a thread may wait for a lock only if it holds nothing further down this list:
 *
 *   0. applier reload_mutex   (applier.c) one policy reload at a time, held across loading the file, recording its
 *                             hash in the data dir (a write transaction, policy_stamp.h) and the swap.
 *   1. applier policy_mutex   (applier.c) the running policy: held by delivery while it picks pushes
 *                             (sy_applier_policy_acquire) and briefly by admin handlers; a reload swaps the pointer
 *                             under it. The applier's batches and long readers (health report, record search, map)
 *                             take a reference instead (sy_applier_policy_ref: the mutex only around the count), so
 *                             neither a reload nor delivery waits for a batch, and a full scan never holds a lock
 *                             the applier needs.
 *   2. store write_lock       (store.c) one LMDB write transaction at a time in this process: held from
 *                             sy_txn_begin(write) to commit/abort, for a whole sy_store_append, and by a grow.
 *   3. store resize_lock      (store.c) an rwlock: a read transaction holds the read side for its whole life; a
 *                             grow (or adopting a size another process set) takes the write side, with write_lock
 *                             already held, because LMDB allows mdb_env_set_mapsize only while no transaction is
 *                             open in the process, and it moves the map: every pointer into the old one dies.
 *
 * Leaf locks, held for a few instructions: nothing else is taken and no transaction is begun while holding one:
 *   writer.c mutex (job queue, riders), applier.c mutex (notify, stop, listener, writer), store.c ride_mutex
 *   (sy_store_write's sink and count of rides), delivery.c mutex (stop flag), replay.c jobs mutex,
 *   reconcile_jobs.c mutex (the job table; the scheduler also sleeps on its cond), server.c ready_mutex,
 *   alert_watch.c mutex (stop flag and the wait between checks), fetch.c mutex (stop flag and the wait between
 *   polls); cluster.c mutex (publish queue, consumer cursor and waiters, lease callbacks), cluster_publish.c
 *   publisher mutex (its pending acks, shared with the library's ack thread), cluster_consume.c consume job mutex.
 *   LMDB's own locks (lock.mdb) are inside the library.
 * One lock above a leaf only: server.c delivery_mutex (cluster nodes) is held while waking the running delivery
 *   (sy_delivery_notify takes delivery.c's leaf mutex inside it) and while swapping the pointer; never across
 *   sy_delivery_start/stop, which the cluster's lease thread runs holding nothing. And delivery.c mutex is held
 *   across its recovery listener, which takes reconcile_jobs.c mutex to start a job (that order only), so clearing
 *   the listener guarantees no job starts after it.
 *
 * Waits that are not locks: a rider (the applier's batch step, writer.h sy_writer_ride; delivery's outcomes,
 * store.h sy_store_write) waits for the log writer's commit holding nothing (no transaction, no write_lock, no
 * policy_mutex; the applier a policy reference only); the writer runs the rider inside its transaction with
 * write_lock held and takes nothing else, so a rider's fn must take nothing either. sy_applier_set_writer and
 * sy_store_set_ride(NULL) wait for the rides in progress to end, holding nothing. A reconcile job waits for the
 * writer's commit of its events (a log job, reconcile_jobs.c) holding nothing: it reads the dedupe index in short
 * read transactions, one per page, and has none open when it appends. The fetcher (fetch.c) likewise: one short
 * read transaction per round, none open while it fetches or waits for the commit of its round (events and rider).
 * The cluster's outcome publisher (cluster_outcome.c) reads its queue in a short read transaction, publishes with
 * none open, and deletes what was acknowledged with sy_store_write holding nothing; the consumer applies outcomes in
 * its batch's rider (outcome.c), which takes nothing, like every rider. A cluster's merge or split on the lease
 * holder (cluster_admin.c) waits on the admin thread for JetStream's acknowledgement, then for its own applier to
 * make it, holding nothing but a policy reference (admin_api.c; the applier takes references too, so neither waits
 * for the other): it polls with short read transactions and removes the answer with sy_store_write. The consumer
 * records the change's marker in its batch's rider and the applier makes it inside its step (change_shared.c),
 * which take nothing either. No new lock, and the order above is unchanged.
 * A follower's prune of old notifications (cluster_prune.c) runs on the cluster's heartbeat thread with sy_store_write,
 * outside cluster.c's mutex, holding nothing (never on the lease thread: nothing may delay a renewal).
 * The applier's memory of learnt shapes (drift.h) has no lock: only its step uses it (on the writer's thread when
 * riding) and the applier thread after that ride's wait returned, one at a time, ordered by the ride's hand-off.
 *
 * The rules that follow from it:
 *   - Take the policy before any transaction, never the other way round. (The hang of issue #10: delivery held a
 *     read transaction and waited for the policy; the applier held the policy and waited for write_lock; the
 *     writer held write_lock and waited in a grow for delivery's read transaction to end.)
 *   - One transaction per thread at a time, read or write: no transaction is begun while the same thread has one
 *     open. resize_lock prefers a waiting grow over new readers (so a stream of short admin and delivery reads
 *     cannot starve the writer), which makes a nested read transaction a self-deadlock once a grow waits.
 *   - While a read transaction is open, wait for nothing: no policy_mutex, no write_lock, no second transaction.
 *   - Grow (sy_store_grow) only after the failed transaction has been aborted.
 *   - Anything read from LMDB (slices from sy_txn_get/scan, sy_event_t fields) is borrowed from the map until the
 *     transaction ends: decode or copy it first. After the end a grow may have moved the map.
 */
#ifndef SY_LOCKS_H
#define SY_LOCKS_H
#endif
