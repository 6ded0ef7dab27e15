/*
 * What the cluster's files share (cluster.c: lifecycle, heartbeat; cluster_lease.c: the sync lease and the instance
 * id; cluster_publish.c: ingress → stream; cluster_consume.c: stream → local log, and delivery outcomes → this hub's
 * outbox; cluster_outcome.c: the outcomes this hub settled → stream). Only these files include nats.h.
 */
#ifndef SY_CLUSTER_INTERNAL_H
#define SY_CLUSTER_INTERNAL_H

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cluster.h"

#define SY_CLUSTER_RING 65536u         /* recent consume results by stream seq, for answering ingress */
#define SY_CLUSTER_CURSOR_KEY "cluster_stream_seq" /* meta: the last stream seq this log has taken */
#define SY_CLUSTER_LEASE_KEY "sync"
#define SY_CLUSTER_PUBLISHERS 2

/* One ingress job between its acknowledgement and the local log catching up with it. */
typedef struct st_sy_cluster_wait_t {
    struct st_sy_cluster_wait_t *next;
    sy_log_job_t *job;
    uint64_t *stream_seq; /* per item: the seq JetStream acknowledged (the first one's for a duplicate) */
    unsigned char *acked_dup;
    uint64_t max_seq;
    int64_t deadline_ms;
} sy_cluster_wait_t;

typedef struct st_sy_cluster_result_t {
    uint64_t stream_seq; /* tag: which stream seq this slot holds */
    uint64_t seq;        /* local log seq */
    int duplicate;
} sy_cluster_result_t;

struct st_sy_cluster_t {
    const sy_cluster_conf_t *conf;
    sy_store_t *store;
    sy_writer_t *writer;
    natsConnection *nc;
    jsCtx *js;
    jsCtx *lease_js; /* for the lease bucket: requests wait at most lease_ttl/4 */
    kvStore *nodes_kv, *lease_kv, *meta_kv;
    char subject[96];         /* "<stream>.events": what ingress publishes */
    char outcome_subject[96]; /* "<stream>.outcomes": what the lease holder's delivery settled (outcome.h) */
    char admin_subject[96];   /* "<stream>.admin": merges and splits taken by the holder (change_shared.h) */
    char consume_subject[96]; /* "<stream>.*": all three, in stream order */

    /* publish queue (mutex: leaf) */
    pthread_mutex_t mutex;
    pthread_cond_t cond;      /* publishers: jobs queued, or stopping */
    pthread_cond_t lease_cond; /* lease and heartbeat threads: stopping */
    sy_log_job_t *head, **tail;
    int stopping;
    pthread_t publishers[SY_CLUSTER_PUBLISHERS];
    unsigned num_publishers;

    /* consumer state (under mutex): what the local log holds */
    uint64_t cursor;          /* last stream seq committed to the local log */
    sy_cluster_wait_t *waiters;
    sy_cluster_result_t *ring;
    natsSubscription *sub; /* the ordered consumer, from cursor + 1 */
    pthread_t consumer;
    int consumer_started;
    atomic_int consumer_stop;

    /* heartbeat and lease (cluster_lease.c) */
    pthread_t lease_thread, beat_thread, outcome_thread;
    int lease_started, beat_started, outcome_started;
    sy_cluster_lease_cb_t lease_cb; /* under mutex */
    int lease_wanted;               /* under mutex: sy_cluster_set_lease was called */
    int64_t lease_sent_ms;          /* lease thread only: when (monotonic) our last acknowledged write was sent */
    atomic_int lease_held;
    atomic_uint_fast64_t lease_revision;

    /* figures for /metrics */
    atomic_uint_fast64_t published, publish_failures, publish_retries, duplicates_acked, consumed, stream_last_seq,
        lease_changes, outcomes_published, outcome_failures, outcomes_consumed, changes_published, change_failures,
        changes_consumed, notifications_pruned;
    atomic_int connected;
    int64_t pruned_at_ms; /* heartbeat thread only: the follower's last notification prune (monotonic) */
    char admin_url[256]; /* under mutex: sy_cluster_set_admin_url, said in the heartbeat */
};

/* cluster_lease.c: the lease thread's step (take or renew; gives up in time), the graceful give-back, and the
 * cluster-wide instance id (at start, before the consumer and the applier run). */
void sy_cluster_lease_step(sy_cluster_t *c);
void sy_cluster_lease_release(sy_cluster_t *c);
int sy_cluster_instance_id_ensure(sy_cluster_t *c, sy_error_t *err);
/* cluster_prune.c: on a follower, drops queued alert notifications older than notifications_keep (the heartbeat
 * thread's step). */
void sy_cluster_prune_step(sy_cluster_t *c);
/* cluster_publish.c */
void *sy_cluster_publisher_main(void *arg);
/* Publishes doc (compact JSON) to subject with Nats-Msg-Id = id and waits for JetStream's acknowledgement, at most
 * ack_timeout: NATS_OK, or why not (jerr: JetStream's error code, 0 if none). The outcome and admin publishers. */
natsStatus sy_cluster_publish_json(sy_cluster_t *c, const char *subject, const char *id, const json_t *doc,
                                   jsErrCode *jerr);
/* cluster_outcome.c: publishes the queue of settled outcomes (outcome.h) */
void *sy_cluster_outcome_main(void *arg);
/* cluster_consume.c */
int sy_cluster_consumer_begin(sy_cluster_t *c, sy_error_t *err);
void *sy_cluster_consumer_main(void *arg);
/* Registers w; resolves it at once if the log already holds its events. Called without the mutex. */
/* Waits until the cluster is stopping or ms have passed, with c->mutex held (the stop broadcasts lease_cond, so
 * every background thread leaves its nap at once). */
void sy_cluster_nap_locked(sy_cluster_t *c, int64_t ms);
void sy_cluster_wait_add(sy_cluster_t *c, sy_cluster_wait_t *w);
void sy_cluster_wait_free(sy_cluster_wait_t *w);

/* Connects with the config's servers; name: the connection's name on the NATS side; c (NULL for the CLI) hears of
 * disconnections. */
int sy_cluster_connect(const sy_cluster_conf_t *conf, const char *name, sy_cluster_t *c, natsConnection **nc,
                       sy_error_t *err);

#endif
