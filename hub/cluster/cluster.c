/*
 * The cluster's lifecycle (cluster.h): connection, the stream and buckets, the threads, the heartbeat, metrics.
 * Only compiled when libnats was found (cluster_stub.c otherwise).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_internal.h"
#include "log.h"
#include "change_shared.h"
#include "outcome.h"

#define NODES_TTL_MS 30000    /* a node that stopped beating leaves `cluster status` after this */
#define HEARTBEAT_MS 1000
#define START_WAIT_MS 30000 /* for the stream at start (JetStream electing its leaders) */

int sy_cluster_supported(void)
{
    return 1;
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    sy_cluster_t *c = arg;
    if (c != NULL)
        atomic_store(&c->connected, 0);
    sy_log(SY_LOG_WARN, "cluster: disconnected from NATS; events are not acknowledged until it is back");
}

static void on_reconnected(natsConnection *nc, void *arg)
{
    sy_cluster_t *c = arg;
    if (c != NULL)
        atomic_store(&c->connected, 1);
    sy_log(SY_LOG_INFO, "cluster: reconnected to NATS");
}

/* Only the servers in the config: a hub does not follow the NATS nodes the cluster gossips about, so an operator
 * decides which nodes a hub may use, and a hub cut off from its listed nodes is partitioned (it answers 503) rather
 * than quietly moving to a node it was not meant to reach. */
int sy_cluster_connect(const sy_cluster_conf_t *conf, const char *name, sy_cluster_t *c, natsConnection **nc,
                       sy_error_t *err)
{
    natsOptions *o = NULL;
    natsStatus s;
    const char *servers[SY_CLUSTER_MAX_SERVERS];

    for (size_t i = 0; i != conf->num_servers; ++i)
        servers[i] = conf->servers[i];
    if ((s = natsOptions_Create(&o)) != NATS_OK || (s = natsOptions_SetServers(o, servers, (int)conf->num_servers)) ||
        (s = natsOptions_SetName(o, name)) != NATS_OK || (s = natsOptions_SetTimeout(o, 2000)) != NATS_OK ||
        (s = natsOptions_SetMaxReconnect(o, -1)) != NATS_OK || (s = natsOptions_SetReconnectWait(o, 250)) != NATS_OK ||
        (s = natsOptions_SetIgnoreDiscoveredServers(o, true)) != NATS_OK ||
        (s = natsOptions_SetPingInterval(o, 1000)) != NATS_OK || (s = natsOptions_SetMaxPingsOut(o, 2)) != NATS_OK ||
        (c != NULL && ((s = natsOptions_SetDisconnectedCB(o, on_disconnected, c)) != NATS_OK ||
                       (s = natsOptions_SetReconnectedCB(o, on_reconnected, c)) != NATS_OK))) {
        natsOptions_Destroy(o);
        return sy_error_set(err, SY_ENOMEM, NULL, 0, 0, "cluster: NATS options: %s", natsStatus_GetText(s));
    }
    s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot connect to NATS at %s%s: %s", conf->servers[0],
                            conf->num_servers > 1 ? " (and the others listed)" : "", natsStatus_GetText(s));
    return 0;
}

/* The stream: created with this config if missing; an existing one is used as it is (its replicas are said). */
static int ensure_stream(sy_cluster_t *c, sy_error_t *err)
{
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *subjects[] = {c->subject, c->outcome_subject, c->admin_subject};
    natsStatus s;

    if (js_GetStreamInfo(&si, c->js, c->conf->stream, NULL, &jerr) == NATS_OK) {
        if (si->Config->Replicas != (int64_t)c->conf->replicas)
            sy_log(SY_LOG_WARN, "cluster: stream %s has %lld replicas, the config says %u: the stream's stays",
                   c->conf->stream, (long long)si->Config->Replicas, c->conf->replicas);
        const char *missing[SY_ARRAY_SIZE(subjects)];
        int num_missing = 0;
        for (size_t k = 1; k != SY_ARRAY_SIZE(subjects); ++k) {
            int has = 0;
            for (int i = 0; i != si->Config->SubjectsLen; ++i)
                has |= strcmp(si->Config->Subjects[i], subjects[k]) == 0;
            if (!has)
                missing[num_missing++] = subjects[k];
        }
        if (num_missing != 0) {
            /* A stream made before delivery outcomes or admin changes were shared: their subjects are added (the
             * events' stays). */
            const char **was = si->Config->Subjects;
            int was_len = si->Config->SubjectsLen;
            const char **now = calloc((size_t)was_len + (size_t)num_missing, sizeof(*now));
            jsStreamInfo *updated = NULL;
            if (now == NULL) {
                jsStreamInfo_Destroy(si);
                return sy_error_set(err, SY_ENOMEM, NULL, 0, 0, "cluster: out of memory");
            }
            memcpy(now, was, (size_t)was_len * sizeof(*now));
            memcpy(now + was_len, missing, (size_t)num_missing * sizeof(*now));
            si->Config->Subjects = now;
            si->Config->SubjectsLen = was_len + num_missing;
            s = js_UpdateStream(&updated, c->js, si->Config, NULL, &jerr);
            si->Config->Subjects = was; /* the library frees its own array */
            si->Config->SubjectsLen = was_len;
            free(now);
            jsStreamInfo_Destroy(updated);
            if (s != NATS_OK) {
                jsStreamInfo_Destroy(si);
                return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot add subject %s to stream %s: %s (%d)",
                                    missing[0], c->conf->stream, natsStatus_GetText(s), (int)jerr);
            }
            for (int k = 0; k != num_missing; ++k)
                sy_log(SY_LOG_INFO, "cluster: stream %s takes %s now", c->conf->stream, missing[k]);
        }
        jsStreamInfo_Destroy(si);
        return 0;
    }
    jsStreamConfig_Init(&sc);
    sc.Name = c->conf->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = (int)SY_ARRAY_SIZE(subjects);
    sc.Storage = js_FileStorage;
    sc.Replicas = c->conf->replicas;
    sc.Duplicates = (int64_t)120 * 1000 * 1000 * 1000; /* JetStream's default window, said out loud */
    if ((s = js_AddStream(&si, c->js, &sc, NULL, &jerr)) != NATS_OK)
        return sy_error_set(err, SY_EIO, NULL, 0, 0,
                            "cluster: cannot create stream %s with %u replicas: %s (JetStream error %d; are %u NATS "
                            "nodes with JetStream up and routed?)",
                            c->conf->stream, c->conf->replicas, natsStatus_GetText(s), (int)jerr, c->conf->replicas);
    jsStreamInfo_Destroy(si);
    sy_log(SY_LOG_INFO, "cluster: created stream %s (%u replicas)", c->conf->stream, c->conf->replicas);
    return 0;
}

static int ensure_bucket(sy_cluster_t *c, jsCtx *js, const char *suffix, int64_t ttl_ms, kvStore **kv, sy_error_t *err)
{
    char name[96];
    kvConfig kc;
    natsStatus s;
    snprintf(name, sizeof(name), "%s_%s", c->conf->stream, suffix);
    if (js_KeyValue(kv, js, name) == NATS_OK)
        return 0;
    kvConfig_Init(&kc);
    kc.Bucket = name;
    kc.History = 1;
    kc.TTL = ttl_ms * 1000000; /* nanoseconds in libnats 3.4 (stream MaxAge) */
    kc.Replicas = (int)c->conf->replicas;
    if ((s = js_CreateKeyValue(kv, js, &kc)) != NATS_OK)
        return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot create key-value bucket %s: %s (%s)", name,
                            natsStatus_GetText(s), nats_GetLastError(NULL));
    return 0;
}

/* ensure_bucket, again every half second until `until`: a cluster that is forming (or a connection that was just
 * lost and is being re-established) answers bucket requests with timeouts for a few seconds. */
static int ensure_bucket_until(sy_cluster_t *c, jsCtx *js, const char *suffix, int64_t ttl_ms, kvStore **kv,
                               int64_t until, sy_error_t *err)
{
    int rc;
    while ((rc = ensure_bucket(c, js, suffix, ttl_ms, kv, err)) != 0 && sy_now_ms() < until) {
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

static void heartbeat(sy_cluster_t *c)
{
    sy_store_stats_t st;
    uint64_t cursor;
    char admin[sizeof(c->admin_url)];
    pthread_mutex_lock(&c->mutex);
    cursor = c->cursor;
    memcpy(admin, c->admin_url, sizeof(admin));
    pthread_mutex_unlock(&c->mutex);
    if (sy_store_stats(c->store, &st) != 0)
        st.events = 0;
    json_t *doc = json_pack("{s:s, s:I, s:I, s:I, s:b, s:I, s:I, s:s}", "node", c->conf->node, "stream_seq",
                            (json_int_t)cursor, "events", (json_int_t)st.events, "at_ms", (json_int_t)sy_now_ms(),
                            "sync", atomic_load(&c->lease_held), "published", (json_int_t)atomic_load(&c->published),
                            "publish_failures", (json_int_t)atomic_load(&c->publish_failures), "admin", admin);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text != NULL) {
        uint64_t rev;
        kvStore_PutString(&rev, c->nodes_kv, c->conf->node, text);
    }
    free(text);
    json_decref(doc);
    jsStreamInfo *si = NULL;
    if (js_GetStreamInfo(&si, c->js, c->conf->stream, NULL, NULL) == NATS_OK) {
        atomic_store(&c->stream_last_seq, si->State.LastSeq);
        jsStreamInfo_Destroy(si);
    }
}

void sy_cluster_nap_locked(sy_cluster_t *c, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    while (!c->stopping && pthread_cond_timedwait(&c->lease_cond, &c->mutex, &ts) == 0)
        ;
}

/* The lease has a thread of its own: nothing else it does (the heartbeat's requests) may delay a renewal or the
 * decision to give up in time. */
static void *lease_main(void *arg)
{
    sy_cluster_t *c = arg;
    /* The lease is renewed every ttl/4: tick at least that often. */
    int64_t tick_ms = c->conf->lease_ttl_ms / 4 < HEARTBEAT_MS ? c->conf->lease_ttl_ms / 4 : HEARTBEAT_MS;
    pthread_mutex_lock(&c->mutex);
    while (!c->stopping) {
        pthread_mutex_unlock(&c->mutex);
        sy_cluster_lease_step(c);
        pthread_mutex_lock(&c->mutex);
        sy_cluster_nap_locked(c, tick_ms);
    }
    pthread_mutex_unlock(&c->mutex);
    sy_cluster_lease_release(c); /* delivery stops before another hub may take over */
    return NULL;
}

static void *beat_main(void *arg)
{
    sy_cluster_t *c = arg;
    pthread_mutex_lock(&c->mutex);
    while (!c->stopping) {
        pthread_mutex_unlock(&c->mutex);
        if (atomic_load(&c->connected))
            heartbeat(c);
        sy_cluster_prune_step(c);
        pthread_mutex_lock(&c->mutex);
        sy_cluster_nap_locked(c, HEARTBEAT_MS);
    }
    pthread_mutex_unlock(&c->mutex);
    return NULL;
}

int sy_cluster_start(sy_cluster_t **out, const sy_cluster_conf_t *conf, sy_store_t *store, sy_writer_t *writer,
                     sy_error_t *err)
{
    sy_cluster_t *c = calloc(1, sizeof(*c));
    int rc;
    natsStatus s;

    *out = NULL;
    if (c == NULL || (c->ring = calloc(SY_CLUSTER_RING, sizeof(*c->ring))) == NULL) {
        free(c);
        return sy_error_set(err, SY_ENOMEM, NULL, 0, 0, "cluster: out of memory");
    }
    c->conf = conf;
    c->store = store;
    c->writer = writer;
    c->tail = &c->head;
    snprintf(c->subject, sizeof(c->subject), "%s.events", conf->stream);
    snprintf(c->outcome_subject, sizeof(c->outcome_subject), "%s.outcomes", conf->stream);
    snprintf(c->admin_subject, sizeof(c->admin_subject), "%s.admin", conf->stream);
    snprintf(c->consume_subject, sizeof(c->consume_subject), "%s.*", conf->stream);
    atomic_store(&sy_outcome_enabled, 1); /* the applier looks for outcomes waiting for it (outcome.h) */
    atomic_store(&sy_change_shared_enabled, 1); /* and for admin changes (change_shared.h) */
    pthread_mutex_init(&c->mutex, NULL);
    pthread_cond_init(&c->cond, NULL);
    pthread_cond_init(&c->lease_cond, NULL);
    /* A hub started together with its NATS node (systemd, a test) may be a moment early: retry for a while. */
    for (int64_t until = sy_now_ms() + START_WAIT_MS; (rc = sy_cluster_connect(conf, conf->node, c, &c->nc, err)) != 0;) {
        if (sy_now_ms() >= until)
            goto Fail;
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&c->connected, 1);
    if ((s = natsConnection_JetStream(&c->js, c->nc, NULL)) != NATS_OK) {
        rc = sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: JetStream: %s", natsStatus_GetText(s));
        goto Fail;
    }
    /* NATS nodes started together need a few seconds to elect JetStream's meta leader: wait for it a while. */
    for (int64_t until = sy_now_ms() + START_WAIT_MS; (rc = ensure_stream(c, err)) != 0 && sy_now_ms() < until;) {
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* The lease's requests wait at most lease_ttl/4 (the library's default is 5 s): a holder cut off from NATS must
     * notice in time to stop delivering before its lease can expire and be taken elsewhere (cluster_lease.c). */
    jsOptions lo;
    jsOptions_Init(&lo);
    lo.Wait = conf->lease_ttl_ms / 4;
    if (rc == 0 && (s = natsConnection_JetStream(&c->lease_js, c->nc, &lo)) != NATS_OK) {
        rc = sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: JetStream: %s", natsStatus_GetText(s));
        goto Fail;
    }
    int64_t buckets_until = sy_now_ms() + START_WAIT_MS;
    if (rc != 0 || (rc = ensure_bucket_until(c, c->js, "nodes", NODES_TTL_MS, &c->nodes_kv, buckets_until, err)) != 0 ||
        (rc = ensure_bucket_until(c, c->lease_js, "lease", conf->lease_ttl_ms, &c->lease_kv, buckets_until, err)) != 0 ||
        (rc = ensure_bucket_until(c, c->js, "meta", 0, &c->meta_kv, buckets_until, err)) != 0 ||
        (rc = sy_cluster_instance_id_ensure(c, err)) != 0 ||
        (rc = sy_cluster_consumer_begin(c, err)) != 0)
        goto Fail;
    if (pthread_create(&c->consumer, NULL, sy_cluster_consumer_main, c) != 0)
        goto Threads;
    c->consumer_started = 1;
    for (; c->num_publishers != SY_CLUSTER_PUBLISHERS; ++c->num_publishers)
        if (pthread_create(&c->publishers[c->num_publishers], NULL, sy_cluster_publisher_main, c) != 0)
            goto Threads;
    if (pthread_create(&c->outcome_thread, NULL, sy_cluster_outcome_main, c) != 0)
        goto Threads;
    c->outcome_started = 1;
    if (pthread_create(&c->lease_thread, NULL, lease_main, c) != 0)
        goto Threads;
    c->lease_started = 1;
    if (pthread_create(&c->beat_thread, NULL, beat_main, c) != 0)
        goto Threads;
    c->beat_started = 1;
    sy_log(SY_LOG_INFO, "cluster: node %s on stream %s (%u replicas) via %s", conf->node, conf->stream,
           conf->replicas, conf->servers[0]);
    *out = c;
    return 0;
Threads:
    rc = sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot start threads");
Fail:
    sy_cluster_stop(c);
    return rc;
}

void sy_cluster_stop(sy_cluster_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mutex);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_cond_broadcast(&c->lease_cond);
    pthread_mutex_unlock(&c->mutex);
    if (c->lease_started)
        pthread_join(c->lease_thread, NULL);
    if (c->beat_started)
        pthread_join(c->beat_thread, NULL);
    if (c->outcome_started)
        pthread_join(c->outcome_thread, NULL); /* after delivery stopped: what is left stays queued for the restart */
    for (unsigned i = 0; i != c->num_publishers; ++i)
        pthread_join(c->publishers[i], NULL); /* each drains the queue first */
    /* Publishers are gone: no waiter is added any more. The consumer answers those left, then stops. */
    atomic_store(&c->consumer_stop, 1);
    if (c->consumer_started)
        pthread_join(c->consumer, NULL);
    if (c->sub != NULL)
        natsSubscription_Destroy(c->sub);
    kvStore_Destroy(c->nodes_kv);
    kvStore_Destroy(c->lease_kv);
    kvStore_Destroy(c->meta_kv);
    jsCtx_Destroy(c->lease_js);
    jsCtx_Destroy(c->js);
    if (c->nc != NULL) {
        natsConnection_Close(c->nc);
        natsConnection_Destroy(c->nc);
    }
    nats_Close();
    pthread_cond_destroy(&c->lease_cond);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mutex);
    free(c->ring);
    free(c);
}

void sy_cluster_set_admin_url(sy_cluster_t *c, const char *url)
{
    pthread_mutex_lock(&c->mutex);
    snprintf(c->admin_url, sizeof(c->admin_url), "%s", url);
    pthread_mutex_unlock(&c->mutex);
}

int sy_cluster_lease_holder(sy_cluster_t *c, char *node, size_t node_len, char *admin, size_t admin_len)
{
    kvEntry *e = NULL;
    if (node_len != 0)
        node[0] = '\0';
    if (admin_len != 0)
        admin[0] = '\0';
    if (atomic_load(&c->lease_held))
        return 1;
    if (kvStore_Get(&e, c->lease_kv, SY_CLUSTER_LEASE_KEY) == NATS_OK) {
        if (kvEntry_Operation(e) == kvOp_Put && kvEntry_ValueString(e) != NULL)
            snprintf(node, node_len, "%s", kvEntry_ValueString(e));
        kvEntry_Destroy(e);
    }
    if (node[0] != '\0' && kvStore_Get(&e, c->nodes_kv, node) == NATS_OK) {
        json_t *beat = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, NULL);
        const char *url = json_string_value(json_object_get(beat, "admin"));
        if (url != NULL)
            snprintf(admin, admin_len, "%s", url);
        json_decref(beat);
        kvEntry_Destroy(e);
    }
    return 0;
}

void sy_cluster_render_metrics(sy_cluster_t *c, FILE *out)
{
    if (c == NULL)
        return;
    uint64_t cursor, last = atomic_load(&c->stream_last_seq);
    pthread_mutex_lock(&c->mutex);
    cursor = c->cursor;
    pthread_mutex_unlock(&c->mutex);
    fprintf(out, "# HELP switchyard_cluster_connected 1 while this hub is connected to NATS\n"
                 "# TYPE switchyard_cluster_connected gauge\nswitchyard_cluster_connected %d\n",
            atomic_load(&c->connected));
    fprintf(out, "# HELP switchyard_cluster_stream_seq Last stream seq in this hub's log, and the stream's last\n"
                 "# TYPE switchyard_cluster_stream_seq gauge\n"
                 "switchyard_cluster_stream_seq{of=\"local\"} %llu\nswitchyard_cluster_stream_seq{of=\"stream\"} %llu\n",
            (unsigned long long)cursor, (unsigned long long)last);
    fprintf(out, "# HELP switchyard_cluster_stream_lag Stream messages not yet in this hub's log (as of the last "
                 "heartbeat)\n# TYPE switchyard_cluster_stream_lag gauge\nswitchyard_cluster_stream_lag %llu\n",
            (unsigned long long)(last > cursor ? last - cursor : 0));
    fprintf(out, "# HELP switchyard_cluster_events_total Events published by this hub, by outcome; consumed into its log\n"
                 "# TYPE switchyard_cluster_events_total counter\n"
                 "switchyard_cluster_events_total{outcome=\"acknowledged\"} %llu\n"
                 "switchyard_cluster_events_total{outcome=\"duplicate_in_window\"} %llu\n"
                 "switchyard_cluster_events_total{outcome=\"not_acknowledged\"} %llu\n"
                 "switchyard_cluster_events_total{outcome=\"consumed\"} %llu\n",
            (unsigned long long)atomic_load(&c->published), (unsigned long long)atomic_load(&c->duplicates_acked),
            (unsigned long long)atomic_load(&c->publish_failures), (unsigned long long)atomic_load(&c->consumed));
    fprintf(out, "# HELP switchyard_cluster_publish_retries_total Events published again after JetStream refused them "
                 "(a stream leader being elected)\n# TYPE switchyard_cluster_publish_retries_total counter\n"
                 "switchyard_cluster_publish_retries_total %llu\n",
            (unsigned long long)atomic_load(&c->publish_retries));
    fprintf(out, "# HELP switchyard_cluster_lease_changes_total Times this hub took or lost the sync lease\n"
                 "# TYPE switchyard_cluster_lease_changes_total counter\nswitchyard_cluster_lease_changes_total %llu\n",
            (unsigned long long)atomic_load(&c->lease_changes));
    fprintf(out, "# HELP switchyard_cluster_outcomes_total Delivery outcomes this hub published (settled here) or "
                 "read from the stream (outcome.h)\n# TYPE switchyard_cluster_outcomes_total counter\n"
                 "switchyard_cluster_outcomes_total{outcome=\"published\"} %llu\n"
                 "switchyard_cluster_outcomes_total{outcome=\"not_acknowledged\"} %llu\n"
                 "switchyard_cluster_outcomes_total{outcome=\"consumed\"} %llu\n",
            (unsigned long long)atomic_load(&c->outcomes_published), (unsigned long long)atomic_load(&c->outcome_failures),
            (unsigned long long)atomic_load(&c->outcomes_consumed));
    fprintf(out, "# HELP switchyard_cluster_admin_changes_total Merges and splits this hub's admin API published, "
                 "or read from the stream (change_shared.h)\n# TYPE switchyard_cluster_admin_changes_total counter\n"
                 "switchyard_cluster_admin_changes_total{outcome=\"published\"} %llu\n"
                 "switchyard_cluster_admin_changes_total{outcome=\"not_acknowledged\"} %llu\n"
                 "switchyard_cluster_admin_changes_total{outcome=\"consumed\"} %llu\n",
            (unsigned long long)atomic_load(&c->changes_published),
            (unsigned long long)atomic_load(&c->change_failures), (unsigned long long)atomic_load(&c->changes_consumed));
    fprintf(out, "# HELP switchyard_cluster_notifications_pruned_total Alert notifications this hub dropped from its "
                 "queue as a follower, older than cluster.notifications_keep (cluster_prune.c)\n"
                 "# TYPE switchyard_cluster_notifications_pruned_total counter\n"
                 "switchyard_cluster_notifications_pruned_total %llu\n",
            (unsigned long long)atomic_load(&c->notifications_pruned));
    fprintf(out, "# HELP switchyard_cluster_lease_held 1 while this hub holds the applier/delivery lease\n"
                 "# TYPE switchyard_cluster_lease_held gauge\nswitchyard_cluster_lease_held %d\n",
            atomic_load(&c->lease_held));
}
