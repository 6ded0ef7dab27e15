/*
 * A cluster of hubs on one NATS JetStream stream (issue 14). With a `cluster:` config section, ingress hands its
 * verified events here instead of to the log writer:
 *
 *   publish   every event goes to the stream (R = cluster.replicas) with Nats-Msg-Id = source + event id; the
 *             request is answered only after JetStream's acknowledgement (the event is then on a quorum of
 *             NATS nodes' disks) AND after this hub's consumer has put it in the local log (so the answer carries
 *             the local seq, and a read on this hub right after the 2xx sees the event).
 *   consume   one thread per hub reads the stream in stream-sequence order (an ordered consumer from the stream
 *             seq kept in the local log's meta) and appends through the log writer; the stream seq rides in the
 *             same commit, so a restart resumes exactly after the last event it kept. Every hub appends the same
 *             messages in the same order through the same dedupe index, so every hub's log has the same seqs.
 *   dedupe    JetStream's duplicate window (2 minutes) catches quick retries; the local event_ids index catches
 *             every later one, exactly, for ever: a duplicate that got into the stream is a duplicate in every
 *             hub's log, at the same point of the stream, so no hub diverges.
 *   status    each hub writes a heartbeat (its stream cursor, log seq, lease, admin URL) to the key-value bucket
 *             "<stream>_nodes"; `switchyard cluster status` and /metrics read them.
 *   lease     every hub applies its log to its own golden records; delivery runs only on the hub holding the
 *             sync lease, a revision-checked key in the bucket "<stream>_lease" that expires lease_ttl after its last
 *             renewal (cluster_lease.c). Idempotency keys and the instance id are cluster-wide (records.h), so a
 *             new holder resending what the old one had on the wire is replayed by the tool, not written twice.
 *   outcomes  what the holder's delivery settles (done, dead letter) is queued in its data dir in the settling
 *             transaction and published to "<stream>.outcomes" by a thread of every hub (cluster_outcome.c); every
 *             hub's consumer applies the outcomes it reads in the commit that moves its stream cursor (outcome.h):
 *             its queued push loses the fields delivered, the dead letter appears there too. So followers' outboxes
 *             and dead letters follow the holder's, and a new holder does not send again what was delivered.
 *   admin     admin writes (merge, split, queue and dead-letter actions, replays) are taken on the lease holder
 *             only; a follower answers 409 naming it and its admin URL (sy_cluster_lease_holder, from the
 *             heartbeats). Merges and splits travel: the holder publishes them to "<stream>.admin" and every hub
 *             makes them at the same log position (sy_cluster_change, change_shared.h). The other writes (queue
 *             and dead-letter actions, replays) change the holder alone.
 *   alerts    every hub queues the notifications of the alerts its applier raises; only the holder sends them, and
 *             a follower drops those older than notifications_keep (cluster_prune.c, on the heartbeat thread).
 *
 * Threads and locks: locks.h (cluster.c mutex, a leaf).
 */
#ifndef SY_CLUSTER_H
#define SY_CLUSTER_H

#include <stdio.h>

#include "change.h"
#include "cluster_config.h"
#include "store.h"
#include "writer.h"

typedef struct st_sy_cluster_t sy_cluster_t;

/*
 * Connects, creates (or checks) the stream and buckets, and starts the consumer, publisher and heartbeat threads.
 * The store must hold no events, or only events this cluster put there (its stream cursor in meta); a single hub's
 * log is refused with SY_EINVAL and err saying so. Returns 0, or a negative code with err set.
 */
int sy_cluster_start(sy_cluster_t **out, const sy_cluster_conf_t *conf, sy_store_t *store, sy_writer_t *writer,
                     sy_error_t *err);
/* What the lease holder runs (server.c: delivery). acquired starts it (nonzero: it could not, the lease is given
 * back); lost stops it and returns only once nothing more is sent. Both run on the cluster's lease thread. */
typedef struct st_sy_cluster_lease_cb_t {
    int (*acquired)(void *arg);
    void (*lost)(void *arg);
    void *arg;
} sy_cluster_lease_cb_t;

/* From now on this hub competes for the sync lease (a hub that never calls it never delivers). */
void sy_cluster_set_lease(sy_cluster_t *c, const sy_cluster_lease_cb_t *cb);

/* Takes an ingress job (writer.h): job->on_done runs on a cluster thread with result 0 (items' seq and duplicate
 * set, from the local log), SY_EIO (not acknowledged by the cluster in time: nothing is promised) or SY_ESHUTDOWN.
 * Returns 0, or SY_ESHUTDOWN (on_done is then not called). */
int sy_cluster_submit(sy_cluster_t *c, sy_log_job_t *job);
/* Prometheus lines: switchyard_cluster_*. */
void sy_cluster_render_metrics(sy_cluster_t *c, FILE *out);
/* Gives the lease back (delivery stopped first), stops the heartbeat, then the publishers (queued jobs answered SY_ESHUTDOWN), the consumer
 * and the connection. NULL is a no-op. */
void sy_cluster_stop(sy_cluster_t *c);

/* The admin API's URL (config.h sy_config_admin_url), said in this hub's heartbeat so that a follower can tell an
 * operator where admin writes go. */
void sy_cluster_set_admin_url(sy_cluster_t *c, const char *url);
/*
 * Whether this hub holds the sync lease (1). When it does not (0), node gets the holder's name ("" when none holds
 * it now) and admin its admin URL from its heartbeat ("" unknown): two key-value reads, at most lease_ttl/4 each, on
 * the calling thread. Admin writes are refused on a follower with these (admin_api.c).
 */
int sy_cluster_lease_holder(sy_cluster_t *c, char *node, size_t node_len, char *admin, size_t admin_len);

/*
 * The holder's admin API, for a merge or split (change.h): publishes it to "<stream>.admin" instead of making it
 * here, then waits until this hub's applier has made it at its log position (change_shared.h), at most
 * ack_timeout + 5 s on the calling thread. Returns what sy_change_run would (0 with *result, SY_ENOTFOUND or
 * SY_EINVAL with err: refused, alike on every hub), or SY_EIO with err saying which wait ran out: not acknowledged
 * by the stream (it may still be there) or not made here in time (it will be, on every hub, when the applier gets
 * there). Like a 503 for an event, SY_EIO promises nothing either way.
 */
int sy_cluster_change(sy_cluster_t *c, const sy_change_t *change, json_t **result, char *err, size_t len);

/* `switchyard cluster status [--json]`: reads the stream and the buckets (no hub needed); exit code. */
int sy_cluster_status_print(const sy_cluster_conf_t *conf, int json, FILE *out);

#endif
