/*
 * Stream → local log: one thread reads the stream with an ordered consumer (in stream-sequence order, from the
 * cursor kept in meta) and appends each message through the log writer, with the cursor riding in the same commit.
 * So the local log holds exactly the stream's messages up to the cursor, once each (the event_ids index turns a
 * duplicate that got past JetStream's window into a duplicate, identically on every hub), and a restart resumes at
 * cursor + 1.
 *
 * The stream also carries delivery outcomes ("<stream>.outcomes", outcome.h): they are not log events; each is
 * applied to this hub's outbox in the commit of its batch, before the cursor moves past it. And admin changes
 * ("<stream>.admin", change_shared.h): a batch ends at each one, so that the marker its commit leaves is keyed by the
 * last log seq appended before it, the same on every hub, and no event after it is in the log before the marker.
 *
 * It also answers the ingress jobs the publishers acknowledged (sy_cluster_wait_add): once the cursor has passed a
 * job's stream seqs, each item gets the local seq and duplicate flag its message got here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_internal.h"
#include "change_shared.h"
#include "log.h"
#include "outcome.h"

#define CONSUME_BATCH 256

typedef struct st_consume_job_t {
    sy_log_job_t super;
    sy_rider_t rider;
    unsigned char cursor_be[8];
    json_t *outcomes[CONSUME_BATCH]; /* delivery outcomes among the batch's messages (outcome.h), in stream order */
    uint64_t outcome_seq[CONSUME_BATCH];
    size_t num_outcomes;
    json_t *change; /* an admin change: the batch's last message (change_shared.h), or NULL */
    uint64_t change_seq;
    int change_mine; /* published by this hub's admin API: its answer is kept for the request */
    int64_t now_ms;
    pthread_mutex_t mutex; /* leaf: the writer's on_done and this thread */
    pthread_cond_t cond;
    int done;
} consume_job_t;

static int read_cursor(sy_store_t *store, uint64_t *cursor, uint64_t *last_seq)
{
    sy_txn_t *txn;
    sy_slice_t v;
    int rc;
    *cursor = 0;
    if ((rc = sy_txn_begin(store, 0, &txn)) != 0)
        return rc;
    rc = sy_txn_get(txn, SY_DB_META, sy_slice_cstr(SY_CLUSTER_CURSOR_KEY), &v);
    if (rc == 0 && v.len == 8)
        *cursor = sy_get_be64((const unsigned char *)v.base);
    if (rc == 0 || rc == SY_ENOTFOUND)
        rc = sy_store_last_seq(txn, last_seq);
    sy_txn_abort(txn);
    return rc;
}

int sy_cluster_consumer_begin(sy_cluster_t *c, sy_error_t *err)
{
    uint64_t last_seq = 0;
    jsSubOptions so;
    jsErrCode jerr = 0;
    int rc;

    if ((rc = read_cursor(c->store, &c->cursor, &last_seq)) != 0)
        return sy_error_set(err, rc, NULL, 0, 0, "cluster: cannot read the stream cursor of the local log (%s)",
                            sy_strerror(rc));
    if (c->cursor == 0 && last_seq != 0)
        return sy_error_set(err, SY_EINVAL, NULL, 0, 0,
                            "cluster: the data dir holds %llu events of a single hub; a cluster node starts from an "
                            "empty data dir (or one it filled from the stream): give it a new data_dir",
                            (unsigned long long)last_seq);
    jsSubOptions_Init(&so);
    so.Stream = c->conf->stream;
    so.Ordered = true;
    /* The ordered consumer lives on one NATS node: when that node dies, the library notices the missing heartbeats
     * and recreates it from the last seq it got. 1 s instead of the library's 5 s, so that the events acknowledged
     * meanwhile reach this log (and their requests get their answer) well within the ingress wait. */
    so.Config.Heartbeat = (int64_t)1000 * 1000 * 1000;
    if (c->cursor != 0) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = c->cursor + 1;
    }
    natsStatus s = js_SubscribeSync(&c->sub, c->js, c->consume_subject, NULL, &so, &jerr);
    if (s != NATS_OK)
        return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot subscribe to stream %s: %s (%d)",
                            c->conf->stream, natsStatus_GetText(s), (int)jerr);
    sy_log(SY_LOG_INFO, "cluster: local log at stream seq %llu (log seq %llu); consuming from there",
           (unsigned long long)c->cursor, (unsigned long long)last_seq);
    return 0;
}

/* In the commit of the batch's events: its outcomes applied (they need only what the applier did, never the
 * events of this batch: outcome.c waits for the applier when they do), then the stream cursor past them all. */
static int put_cursor(void *arg, sy_txn_t *txn)
{
    consume_job_t *cj = arg;
    for (size_t i = 0; i != cj->num_outcomes; ++i) {
        int rc = sy_outcome_consume(txn, cj->outcomes[i], cj->outcome_seq[i], cj->now_ms);
        if (rc != 0)
            return rc;
    }
    int rc = cj->change != NULL ? sy_change_shared_consume(txn, cj->change, cj->change_seq, cj->change_mine) : 0;
    if (rc != 0)
        return rc;
    return sy_txn_put(txn, SY_DB_META, sy_slice_cstr(SY_CLUSTER_CURSOR_KEY),
                      (sy_slice_t){(const char *)cj->cursor_be, 8});
}

static void on_consumed(sy_log_job_t *job)
{
    consume_job_t *cj = (consume_job_t *)job;
    pthread_mutex_lock(&cj->mutex);
    cj->done = 1;
    pthread_cond_signal(&cj->cond);
    pthread_mutex_unlock(&cj->mutex);
}

/* Answers w from the ring (under c->mutex, held by the caller); returns 0 when every item was found there. */
static int fill_from_ring(sy_cluster_t *c, sy_cluster_wait_t *w)
{
    int missing = 0;
    for (size_t i = 0; i != w->job->num_items; ++i) {
        const sy_cluster_result_t *r = &c->ring[w->stream_seq[i] % SY_CLUSTER_RING];
        if (r->stream_seq == w->stream_seq[i]) {
            w->job->items[i].seq = r->seq;
            w->job->items[i].duplicate = r->duplicate || w->acked_dup[i];
        } else {
            w->job->items[i].seq = 0;
            missing = 1;
        }
    }
    return missing;
}

/* Completes resolved waiters (held nothing): items missing from the ring are looked up in the log's index. */
static void finish(sy_cluster_t *c, sy_cluster_wait_t *list, int result)
{
    for (sy_cluster_wait_t *w = list, *next; w != NULL; w = next) {
        next = w->next;
        int rc = result;
        for (size_t i = 0; rc == 0 && i != w->job->num_items; ++i) {
            sy_append_t *it = &w->job->items[i];
            if (it->seq != 0)
                continue;
            /* Older than the ring: the event is in the log since long ago, so this request repeats it. */
            sy_store_read_t *rd;
            if ((rc = sy_store_read_begin(c->store, &rd)) == 0) {
                rc = sy_store_lookup_event_id(rd, it->source, it->event_id, &it->seq);
                sy_store_read_end(rd);
                it->duplicate = 1;
            }
            if (rc != 0)
                rc = SY_EIO;
        }
        w->job->result = rc;
        w->job->on_done(w->job);
        sy_cluster_wait_free(w);
    }
}

void sy_cluster_wait_add(sy_cluster_t *c, sy_cluster_wait_t *w)
{
    pthread_mutex_lock(&c->mutex);
    if (w->max_seq <= c->cursor) {
        fill_from_ring(c, w);
        pthread_mutex_unlock(&c->mutex);
        w->next = NULL;
        finish(c, w, 0);
        return;
    }
    w->next = c->waiters;
    c->waiters = w;
    pthread_mutex_unlock(&c->mutex);
}

/* Takes the waiters the cursor has passed (filled from the ring) and those past their deadline (failed). */
static void settle_waiters(sy_cluster_t *c)
{
    sy_cluster_wait_t *done = NULL, *late = NULL, **pw;
    int64_t now = sy_now_ms();
    pthread_mutex_lock(&c->mutex);
    for (pw = &c->waiters; *pw != NULL;) {
        sy_cluster_wait_t *w = *pw;
        if (w->max_seq <= c->cursor) {
            *pw = w->next;
            fill_from_ring(c, w);
            w->next = done;
            done = w;
        } else if (now > w->deadline_ms || atomic_load(&c->consumer_stop)) {
            *pw = w->next;
            w->next = late;
            late = w;
        } else {
            pw = &w->next;
        }
    }
    pthread_mutex_unlock(&c->mutex);
    finish(c, done, 0);
    if (late != NULL)
        sy_log(SY_LOG_WARN, "cluster: acknowledged events not yet in this hub's log in time: answered 503 (the "
                            "stream has them; the provider's retry is deduplicated)");
    finish(c, late, SY_EIO);
}

/* Appends msgs[0..n) (stream seqs > cursor, in order) with the cursor; retries while the log refuses. */
static void append_batch(sy_cluster_t *c, natsMsg **msgs, uint64_t *sseq, size_t n)
{
    sy_append_t items[CONSUME_BATCH];
    unsigned char is_event[CONSUME_BATCH];
    json_t *outcomes[CONSUME_BATCH];
    uint64_t outcome_seq[CONSUME_BATCH];
    size_t k = 0, num_outcomes = 0;
    json_t *change = NULL;
    uint64_t change_seq = 0;
    int change_mine = 0;
    for (size_t i = 0; i != n; ++i) {
        sy_event_t ev;
        const char *data = natsMsg_GetData(msgs[i]);
        int len = natsMsg_GetDataLength(msgs[i]);
        const char *subject = natsMsg_GetSubject(msgs[i]);
        is_event[i] = 0;
        if (subject != NULL && strcmp(subject, c->outcome_subject) == 0) {
            json_t *oc = data != NULL ? json_loadb(data, (size_t)len, 0, NULL) : NULL;
            if (!json_is_object(oc)) {
                sy_log(SY_LOG_ERROR, "cluster: stream seq %llu is not a delivery outcome: skipped",
                       (unsigned long long)sseq[i]);
                json_decref(oc);
                continue;
            }
            outcome_seq[num_outcomes] = sseq[i];
            outcomes[num_outcomes++] = oc;
            continue;
        }
        if (subject != NULL && strcmp(subject, c->admin_subject) == 0) {
            json_t *ch = data != NULL ? json_loadb(data, (size_t)len, 0, NULL) : NULL;
            if (!json_is_object(ch) || i + 1 != n) { /* the consumer ends a batch at one */
                sy_log(SY_LOG_ERROR, "cluster: stream seq %llu is not an admin change: skipped",
                       (unsigned long long)sseq[i]);
                json_decref(ch);
                continue;
            }
            const char *node = json_string_value(json_object_get(ch, "node"));
            change = ch;
            change_seq = sseq[i];
            change_mine = node != NULL && strcmp(node, c->conf->node) == 0;
            continue;
        }
        if (data == NULL || sy_codec_event_decode(data, (size_t)len, &ev) != 0) {
            /* Not ours (another publisher on the subject): skipped the same way on every hub. */
            sy_log(SY_LOG_ERROR, "cluster: stream seq %llu is not a Switchyard event: skipped",
                   (unsigned long long)sseq[i]);
            sseq[i] = 0;
            continue;
        }
        is_event[i] = 1;
        items[k++] = (sy_append_t){.source = ev.source, .event_id = ev.event_id, .value = {data, (size_t)len}};
    }
    consume_job_t cj = {.super = {.items = items, .num_items = k, .on_done = on_consumed, .rider = &cj.rider},
                        .rider = {.fn = put_cursor, .arg = &cj}, .num_outcomes = num_outcomes, .change = change,
                        .change_seq = change_seq, .change_mine = change_mine, .now_ms = sy_now_ms()};
    memcpy(cj.outcomes, outcomes, num_outcomes * sizeof(*outcomes));
    memcpy(cj.outcome_seq, outcome_seq, num_outcomes * sizeof(*outcome_seq));
    pthread_mutex_init(&cj.mutex, NULL);
    pthread_cond_init(&cj.cond, NULL);
    uint64_t last = 0;
    for (size_t i = 0; i != n; ++i)
        last = sseq[i] > last ? sseq[i] : last;
    if (last == 0)
        last = c->cursor;
    sy_put_be64(cj.cursor_be, last);
    for (;;) {
        cj.done = 0;
        cj.super.result = 0;
        if (sy_writer_submit(c->writer, &cj.super) != 0)
            break; /* stopping: the cursor stays, the next start takes these again */
        pthread_mutex_lock(&cj.mutex);
        while (!cj.done)
            pthread_cond_wait(&cj.cond, &cj.mutex);
        pthread_mutex_unlock(&cj.mutex);
        /* The rider (outcomes, admin change marker, cursor) is rolled back alone when it fails: the events are in
         * the log then, but the cursor is not past them. Taken again: the events are duplicates now, and the
         * marker's log seq is the same, since this consumer is the log's only appender. */
        if (cj.super.result == 0 && cj.rider.result != 0)
            cj.super.result = cj.rider.result;
        if (cj.super.result == 0)
            break;
        sy_log(SY_LOG_ERROR, "cluster: the local log refused stream events (%s); retrying in 1 s",
               sy_strerror(cj.super.result));
        if (atomic_load(&c->consumer_stop))
            break;
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    if (cj.done && cj.super.result == 0) {
        pthread_mutex_lock(&c->mutex);
        k = 0;
        for (size_t i = 0; i != n; ++i) {
            if (!is_event[i])
                continue;
            c->ring[sseq[i] % SY_CLUSTER_RING] =
                (sy_cluster_result_t){.stream_seq = sseq[i], .seq = items[k].seq, .duplicate = items[k].duplicate};
            ++k;
        }
        c->cursor = last;
        pthread_mutex_unlock(&c->mutex);
        atomic_fetch_add(&c->consumed, n - num_outcomes - (change != NULL));
        atomic_fetch_add(&c->outcomes_consumed, num_outcomes);
        atomic_fetch_add(&c->changes_consumed, change != NULL);
    }
    for (size_t i = 0; i != num_outcomes; ++i)
        json_decref(outcomes[i]);
    json_decref(change);
    pthread_cond_destroy(&cj.cond);
    pthread_mutex_destroy(&cj.mutex);
}

void *sy_cluster_consumer_main(void *arg)
{
    sy_cluster_t *c = arg;
    natsMsg *msgs[CONSUME_BATCH];
    uint64_t sseq[CONSUME_BATCH];

    while (!atomic_load(&c->consumer_stop)) {
        size_t n = 0;
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, c->sub, 100);
        while (s == NATS_OK) {
            jsMsgMetaData *meta = NULL;
            int ends_batch = 0;
            if (natsMsg_GetMetaData(&meta, m) == NATS_OK && meta->Sequence.Stream > c->cursor) {
                const char *subject = natsMsg_GetSubject(m);
                ends_batch = subject != NULL && strcmp(subject, c->admin_subject) == 0; /* change_shared.h */
                sseq[n] = meta->Sequence.Stream;
                msgs[n++] = m;
            } else {
                natsMsg_Destroy(m); /* seen already (the ordered consumer restarted behind us) */
            }
            jsMsgMetaData_Destroy(meta);
            if (n == CONSUME_BATCH || ends_batch)
                break;
            m = NULL;
            s = natsSubscription_NextMsg(&m, c->sub, 1);
        }
        if (n != 0)
            append_batch(c, msgs, sseq, n);
        for (size_t i = 0; i != n; ++i)
            natsMsg_Destroy(msgs[i]);
        settle_waiters(c);
        if (s != NATS_OK && s != NATS_TIMEOUT && n == 0) {
            struct timespec ts = {0, 100 * 1000 * 1000}; /* disconnected: the library reconnects meanwhile */
            nanosleep(&ts, NULL);
        }
    }
    settle_waiters(c); /* consumer_stop: every waiter left is answered 503 */
    return NULL;
}
