/*
 * Delivery outcomes → stream (outcome.h): one thread per hub publishes what this hub's delivery settled, from the
 * durable queue the settle wrote in its own transaction, to "<stream>.outcomes" with Nats-Msg-Id = the outcome's id,
 * and deletes each entry once JetStream acknowledged it. Delivery never waits for this: while NATS is away the queue
 * grows in the data dir and is published once it is back (also after a restart, and on a hub that has lost the
 * lease since: an outcome is a fact about a tool, whoever holds the lease now). A republish after a crash between
 * the acknowledgement and the delete is deduplicated by JetStream (2-minute window), and one later than that is
 * harmless: applying an outcome twice settles nothing the second time (outcome.c).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_internal.h"
#include "log.h"
#include "outcome.h"

#define OUTCOME_BATCH 64
#define IDLE_MS 50      /* how soon a settled push's outcome leaves: well within a lease ttl */
#define RETRY_MS 1000   /* after a refusal or while disconnected */

typedef struct st_delete_t {
    uint64_t n[OUTCOME_BATCH];
    size_t count;
} delete_t;

static int delete_published(void *arg, sy_txn_t *txn)
{
    delete_t *d = arg;
    return sy_outcome_queue_delete(txn, d->n, d->count);
}

static void nap(sy_cluster_t *c, int64_t ms)
{
    pthread_mutex_lock(&c->mutex);
    sy_cluster_nap_locked(c, ms);
    pthread_mutex_unlock(&c->mutex);
}

static int stopping(sy_cluster_t *c)
{
    pthread_mutex_lock(&c->mutex);
    int s = c->stopping;
    pthread_mutex_unlock(&c->mutex);
    return s;
}

/* Publishes one queued outcome and waits for its acknowledgement (at most ack_timeout). */
static int publish_one(sy_cluster_t *c, json_t *e)
{
    const char *id = json_string_value(json_object_get(e, "id"));
    json_t *oc = json_object_get(e, "outcome");
    if (id == NULL || !json_is_object(oc))
        return 0; /* unreadable (outcome.c logged it): deleted like a published one, never retried for ever */
    jsErrCode jerr = 0;
    natsStatus s = sy_cluster_publish_json(c, c->outcome_subject, id, oc, &jerr);
    if (s != NATS_OK) {
        atomic_fetch_add(&c->outcome_failures, 1);
        sy_log(SY_LOG_WARN, "cluster: outcome %s not acknowledged (%s, %d): kept queued, published again in %d ms", id,
               natsStatus_GetText(s), (int)jerr, RETRY_MS);
        return -1;
    }
    atomic_fetch_add(&c->outcomes_published, 1);
    return 0;
}

void *sy_cluster_outcome_main(void *arg)
{
    sy_cluster_t *c = arg;
    while (!stopping(c)) {
        int rc, failed = 0;
        json_t *list = atomic_load(&c->connected) ? sy_outcome_queue_peek(c->store, OUTCOME_BATCH, &rc) : NULL;
        size_t i;
        json_t *e;
        delete_t del = {.count = 0};
        json_array_foreach(list, i, e)
        {
            if (publish_one(c, e) != 0) {
                failed = 1;
                break; /* in queue order: the rest after the retry */
            }
            del.n[del.count++] = (uint64_t)json_integer_value(json_object_get(e, "n"));
        }
        size_t got = json_array_size(list);
        json_decref(list);
        if (del.count != 0 && (rc = sy_store_write(c->store, delete_published, &del)) != 0) {
            sy_log(SY_LOG_ERROR, "cluster: published outcomes not removed from the queue (%s): published again "
                                 "(deduplicated)", sy_strerror(rc));
            failed = 1;
        }
        if (failed)
            nap(c, RETRY_MS);
        else if (got < OUTCOME_BATCH)
            nap(c, IDLE_MS);
    }
    return NULL;
}
