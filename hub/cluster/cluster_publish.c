/*
 * Ingress → stream: publisher threads take the jobs ingress queued, publish each event asynchronously with
 * Nats-Msg-Id = source "/" event id, wait for every acknowledgement of the batch (at most ack_timeout), then hand
 * each job to the consumer side (cluster_consume.c), which answers it once the local log holds its events. A job with
 * one event not acknowledged in time is answered SY_EIO (503): the event may or may not be in the stream, and the
 * provider's retry is deduplicated either way.
 *
 * Each publisher has its own JetStream context, so js_PublishAsyncComplete waits for its own batch only.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "log.h"

#define BATCH_ITEMS 1024 /* events per publish round; above ingress.max_batch_events (1000) */
#define RETRY_PAUSE_MS 200 /* between publish rounds of a batch's refused events */

typedef struct st_pending_t {
    natsMsg *msg; /* freed by on_ack: compared, never dereferenced */
    sy_cluster_wait_t *w;
    size_t idx;
    int state;   /* 0 waiting, 1 acknowledged, -1 failed (retried while the batch has time) */
    int retried; /* published more than once: a "duplicate" acknowledgement may be our own earlier attempt */
} pending_t;

typedef struct st_publisher_t {
    sy_cluster_t *c;
    jsCtx *js;
    pthread_mutex_t mutex; /* leaf: the ack callback (a library thread) and this publisher */
    pending_t pending[BATCH_ITEMS];
    size_t num_pending;
    natsStatus last_err; /* the last refusal, for the log */
    jsErrCode last_err_code;
} publisher_t;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    publisher_t *p = closure;
    pthread_mutex_lock(&p->mutex);
    for (size_t i = 0; i != p->num_pending; ++i) {
        pending_t *e = &p->pending[i];
        if (e->msg != msg || e->state != 0)
            continue; /* an address can come back for a later message once the library freed the first one */
        if (pa != NULL && pae == NULL) {
            e->state = 1;
            e->w->stream_seq[e->idx] = pa->Sequence;
            e->w->acked_dup[e->idx] = pa->Duplicate && !e->retried;
        } else {
            e->state = -1;
            p->last_err = pae != NULL ? pae->Err : NATS_ERR;
            p->last_err_code = pae != NULL ? pae->ErrCode : 0;
        }
        break;
    }
    pthread_mutex_unlock(&p->mutex);
    natsMsg_Destroy(msg); /* the ack handler's to free (nats.h, jsPubAckHandler) */
}

/* Nats-Msg-Id: "source/event id", the id hex-encoded ("source/x<hex>") if it has a byte a header cannot carry. */
static char *msg_id(const sy_append_t *it)
{
    int plain = 1;
    for (size_t i = 0; i != it->event_id.len; ++i)
        plain &= (unsigned char)it->event_id.base[i] > 0x20 && (unsigned char)it->event_id.base[i] < 0x7f;
    size_t cap = it->source.len + 3 + it->event_id.len * 2 + 1;
    char *s = malloc(cap), *p = s;
    if (s == NULL)
        return NULL;
    memcpy(p, it->source.base, it->source.len);
    p += it->source.len;
    *p++ = '/';
    if (plain) {
        memcpy(p, it->event_id.base, it->event_id.len);
        p += it->event_id.len;
    } else {
        static const char hex[] = "0123456789abcdef";
        *p++ = 'x';
        for (size_t i = 0; i != it->event_id.len; ++i) {
            *p++ = hex[(unsigned char)it->event_id.base[i] >> 4];
            *p++ = hex[(unsigned char)it->event_id.base[i] & 15];
        }
    }
    *p = '\0';
    return s;
}

static sy_cluster_wait_t *wait_create(sy_log_job_t *job)
{
    sy_cluster_wait_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->job = job;
    w->stream_seq = calloc(job->num_items, sizeof(*w->stream_seq));
    w->acked_dup = calloc(job->num_items, 1);
    if (w->stream_seq == NULL || w->acked_dup == NULL) {
        sy_cluster_wait_free(w);
        return NULL;
    }
    return w;
}

void sy_cluster_wait_free(sy_cluster_wait_t *w)
{
    if (w == NULL)
        return;
    free(w->stream_seq);
    free(w->acked_dup);
    free(w);
}

/* Publishes entry e (again, on a retry) with what is left of the batch's deadline as its MaxWait. */
static void publish_entry(publisher_t *p, pending_t *e, int retried, int64_t max_wait_ms)
{
    sy_cluster_t *c = p->c;
    const sy_append_t *it = &e->w->job->items[e->idx];
    natsMsg *msg = NULL;
    char *id = msg_id(it);
    jsPubOptions po;

    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = max_wait_ms;
    po.ExpectStream = c->conf->stream;
    if (!atomic_load(&c->connected)) {
        /* Not into the library's reconnect buffer: a 503 answered meanwhile should leave nothing behind that
         * reaches the stream minutes later when the link is back. */
        pthread_mutex_lock(&p->mutex);
        p->last_err = NATS_CONNECTION_DISCONNECTED;
        pthread_mutex_unlock(&p->mutex);
        goto Exit;
    }
    if (id == NULL || natsMsg_Create(&msg, c->subject, NULL, it->value.base, (int)it->value.len) != NATS_OK)
        goto Exit;
    pthread_mutex_lock(&p->mutex);
    e->msg = msg;
    e->state = 0;
    e->retried = retried;
    pthread_mutex_unlock(&p->mutex);
    if (js_PublishMsgAsync(p->js, &msg, &po) != NATS_OK) {
        /* Not taken by the library: still ours. */
        pthread_mutex_lock(&p->mutex);
        e->state = -1;
        e->msg = NULL;
        pthread_mutex_unlock(&p->mutex);
        natsMsg_Destroy(msg);
    }
Exit:
    free(id);
}

static void fail_job(sy_log_job_t *job, int rc)
{
    job->result = rc;
    job->on_done(job);
}

static void publish_batch(publisher_t *p, sy_log_job_t *jobs)
{
    sy_cluster_t *c = p->c;
    sy_log_job_t *j, *next;
    jsPubOptions po;

    /* The wait records ride in the job list's order; a job whose record cannot be allocated fails alone. */
    sy_cluster_wait_t *waits[BATCH_ITEMS], *w;
    size_t nw = 0;
    int64_t deadline = sy_now_ms() + c->conf->ack_timeout_ms;
    for (j = jobs; j != NULL; j = next) {
        next = j->next;
        if ((w = wait_create(j)) == NULL) {
            fail_job(j, SY_ENOMEM);
            continue;
        }
        waits[nw++] = w;
        pthread_mutex_lock(&p->mutex); /* a late callback of the last batch may still look */
        for (size_t i = 0; i != j->num_items; ++i)
            p->pending[p->num_pending++] = (pending_t){.w = w, .idx = i, .state = -1};
        pthread_mutex_unlock(&p->mutex);
    }
    /* Publish, wait for every acknowledgement, and publish again what JetStream refused while the deadline allows:
     * while a stream leader is being elected (a NATS node died) a publish fails at once with "no responders" or
     * times out, and a second try a moment later is acknowledged. The same Nats-Msg-Id makes a retry of a message
     * that was in fact stored a duplicate with the first seq. */
    for (int round = 0;; ++round) {
        size_t failed = 0;
        int64_t left = deadline - sy_now_ms();
        for (size_t i = 0; i != p->num_pending; ++i) {
            pending_t *e = &p->pending[i];
            if (e->state != -1)
                continue;
            publish_entry(p, e, round != 0, left > 100 ? left : 100);
        }
        jsPubOptions_Init(&po);
        po.MaxWait = (left > 100 ? left : 100) + 1000; /* each publish has its own MaxWait: this is a safety net */
        js_PublishAsyncComplete(p->js, &po);
        pthread_mutex_lock(&p->mutex);
        for (size_t i = 0; i != p->num_pending; ++i)
            failed += p->pending[i].state != 1;
        pthread_mutex_unlock(&p->mutex);
        if (failed == 0 || sy_now_ms() + RETRY_PAUSE_MS >= deadline)
            break;
        atomic_fetch_add(&c->publish_retries, failed);
        struct timespec ts = {0, RETRY_PAUSE_MS * 1000 * 1000};
        nanosleep(&ts, NULL);
    }

    pthread_mutex_lock(&p->mutex);
    for (size_t i = 0; i != p->num_pending; ++i) {
        pending_t *e = &p->pending[i];
        if (e->state != 1)
            e->w->max_seq = UINT64_MAX; /* marks the job failed */
        else if (e->w->max_seq != UINT64_MAX && e->w->stream_seq[e->idx] > e->w->max_seq)
            e->w->max_seq = e->w->stream_seq[e->idx];
    }
    p->num_pending = 0; /* a late callback finds nothing to update */
    pthread_mutex_unlock(&p->mutex);

    for (size_t i = 0; i != nw; ++i) {
        w = waits[i];
        size_t n = w->job->num_items;
        if (w->max_seq == UINT64_MAX) {
            atomic_fetch_add(&c->publish_failures, n);
            sy_log(SY_LOG_WARN,
                   "cluster: %zu event(s) not acknowledged by JetStream within %lld ms (last refusal: %s, JetStream "
                   "error %d): answered 503",
                   n, (long long)c->conf->ack_timeout_ms, natsStatus_GetText(p->last_err), (int)p->last_err_code);
            fail_job(w->job, SY_EIO);
            sy_cluster_wait_free(w);
            continue;
        }
        atomic_fetch_add(&c->published, n);
        for (size_t k = 0; k != n; ++k)
            if (w->acked_dup[k])
                atomic_fetch_add(&c->duplicates_acked, 1);
        w->deadline_ms = sy_now_ms() + 2 * c->conf->ack_timeout_ms;
        sy_cluster_wait_add(c, w);
    }
}

void *sy_cluster_publisher_main(void *arg)
{
    publisher_t p = {.c = arg};
    sy_cluster_t *c = p.c;
    jsOptions jo;

    pthread_mutex_init(&p.mutex, NULL);
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = &p;
    jo.PublishAsync.MaxPending = BATCH_ITEMS;
    if (natsConnection_JetStream(&p.js, c->nc, &jo) != NATS_OK)
        p.js = NULL;
    pthread_mutex_lock(&c->mutex);
    for (;;) {
        while (c->head == NULL && !c->stopping)
            pthread_cond_wait(&c->cond, &c->mutex);
        if (c->head == NULL)
            break; /* stopping with nothing queued: every job taken was answered */
        sy_log_job_t *first = c->head, *last = NULL, *j;
        size_t n = 0;
        for (j = c->head; j != NULL && (n == 0 || n + j->num_items <= BATCH_ITEMS); j = j->next) {
            n += j->num_items;
            last = j;
        }
        c->head = last->next;
        if (c->head == NULL)
            c->tail = &c->head;
        last->next = NULL;
        pthread_mutex_unlock(&c->mutex);
        if (p.js == NULL || n > BATCH_ITEMS) {
            for (j = first; j != NULL; j = last) {
                last = j->next;
                fail_job(j, SY_EIO);
            }
        } else {
            publish_batch(&p, first);
        }
        pthread_mutex_lock(&c->mutex);
    }
    pthread_mutex_unlock(&c->mutex);
    if (p.js != NULL)
        jsCtx_Destroy(p.js);
    pthread_mutex_destroy(&p.mutex);
    return NULL;
}

natsStatus sy_cluster_publish_json(sy_cluster_t *c, const char *subject, const char *id, const json_t *doc,
                                   jsErrCode *jerr)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    natsMsg *m = NULL;
    jsPubAck *ack = NULL;
    jsPubOptions po;
    *jerr = 0;
    natsStatus s = text != NULL ? natsMsg_Create(&m, subject, NULL, text, (int)strlen(text)) : NATS_NO_MEMORY;
    free(text);
    if (s == NATS_OK) {
        jsPubOptions_Init(&po);
        po.MsgId = id;
        po.MaxWait = c->conf->ack_timeout_ms;
        s = js_PublishMsg(&ack, c->js, m, &po, jerr);
    }
    natsMsg_Destroy(m);
    jsPubAck_Destroy(ack);
    return s;
}

int sy_cluster_submit(sy_cluster_t *c, sy_log_job_t *job)
{
    int wake;
    job->next = NULL;
    pthread_mutex_lock(&c->mutex);
    if (c->stopping) {
        pthread_mutex_unlock(&c->mutex);
        return SY_ESHUTDOWN;
    }
    wake = c->head == NULL;
    *c->tail = job;
    c->tail = &job->next;
    pthread_mutex_unlock(&c->mutex);
    if (wake)
        pthread_cond_broadcast(&c->cond);
    return 0;
}
