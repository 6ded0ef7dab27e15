/*
 * The sync lease (cluster.h): which hub of the cluster delivers pushes. Every hub appends the same log and applies it
 * to its own golden records; only the holder of the lease runs delivery, so a push goes out from one hub at a time.
 *
 * The lease is the key "sync" of the bucket "<stream>_lease", whose values expire lease_ttl after their last write
 * (the bucket's MaxAge). Every write is checked against a revision, so two hubs can never both believe they took it:
 *
 *   take     the key is absent (expired, or never written) → kvStore_Create; it holds "" (given back) → kvStore_Update
 *            at that revision. The loser of a race gets "wrong last sequence" and stays a follower.
 *   renew    every ttl/4: kvStore_Update at the revision of our last write. A refusal means another hub holds it.
 *   give up  when a renewal was not acknowledged for ttl/2 (measured from when the last successful one was SENT, so
 *            before the server's clock for the value can run out), or refused: delivery is stopped first (the
 *            callback returns once nothing more is sent), so the next holder starts only after ttl, when this one
 *            has long stopped. A graceful stop writes "" at our revision, so a follower takes over at once.
 *
 * The new holder's delivery starts from its own outbox, filled by its applier from the same log; the pushes the old
 * holder already sent carry the same idempotency keys there (records.c), and the tool replays them.
 *
 * The instance id (part of every idempotency key and of echo detection) is the cluster's, not the data dir's: the key
 * "instance_id" of the bucket "<stream>_meta" (no TTL), made by the first hub, copied into each hub's meta.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "crypto.h"
#include "log.h"
#include "records.h"

int sy_cluster_instance_id_ensure(sy_cluster_t *c, sy_error_t *err)
{
    char id[SY_INSTANCE_ID_LEN + 1] = "";
    kvEntry *e = NULL;
    natsStatus s;
    sy_txn_t *txn;
    sy_slice_t v;
    int rc;

    for (int attempt = 0; id[0] == '\0' && attempt != 3; ++attempt) {
        if ((s = kvStore_Get(&e, c->meta_kv, "instance_id")) == NATS_OK) {
            const char *text = kvEntry_ValueString(e);
            if (text != NULL && strlen(text) == SY_INSTANCE_ID_LEN)
                memcpy(id, text, SY_INSTANCE_ID_LEN + 1);
            kvEntry_Destroy(e);
            if (id[0] == '\0')
                return sy_error_set(err, SY_EINVAL, NULL, 0, 0, "cluster: the key instance_id of %s_meta is not %d "
                                    "hex digits", c->conf->stream, SY_INSTANCE_ID_LEN);
        } else if (s == NATS_NOT_FOUND) {
            unsigned char raw[SY_INSTANCE_ID_LEN / 2];
            char fresh[SY_INSTANCE_ID_LEN + 1];
            uint64_t rev;
            if (sy_random_bytes(raw, sizeof(raw)) != 0)
                return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: no random bytes for the instance id");
            sy_hex_encode(raw, sizeof(raw), fresh);
            if (kvStore_CreateString(&rev, c->meta_kv, "instance_id", fresh) == NATS_OK)
                memcpy(id, fresh, sizeof(fresh));
            /* else another hub made it first: read it on the next round */
        } else {
            return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot read the cluster's instance id: %s",
                                natsStatus_GetText(s));
        }
    }
    if (id[0] == '\0')
        return sy_error_set(err, SY_EIO, NULL, 0, 0, "cluster: cannot agree on the cluster's instance id");
    if ((rc = sy_txn_begin(c->store, 1, &txn)) != 0)
        return sy_error_set(err, rc, NULL, 0, 0, "cluster: cannot write the instance id (%s)", sy_strerror(rc));
    rc = sy_txn_get(txn, SY_DB_META, SY_SLICE_LIT("instance_id"), &v);
    if (rc == 0 && v.len == SY_INSTANCE_ID_LEN && memcmp(v.base, id, SY_INSTANCE_ID_LEN) == 0) {
        sy_txn_abort(txn);
        return 0;
    }
    if (rc == 0)
        sy_log(SY_LOG_WARN, "cluster: this data dir had its own instance id; it takes the cluster's (%s)", id);
    if ((rc = sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("instance_id"), (sy_slice_t){id, SY_INSTANCE_ID_LEN})) != 0) {
        sy_txn_abort(txn);
        return sy_error_set(err, rc, NULL, 0, 0, "cluster: cannot write the instance id (%s)", sy_strerror(rc));
    }
    if ((rc = sy_txn_commit(txn)) != 0)
        return sy_error_set(err, rc, NULL, 0, 0, "cluster: cannot write the instance id (%s)", sy_strerror(rc));
    return 0;
}

/* The lease's clock: monotonic, so a wall-clock step (NTP) can neither stretch nor cut a lease short here. */
static int64_t mono_ms(void)
{
    return (int64_t)(sy_mono_ns() / 1000000u);
}

void sy_cluster_set_lease(sy_cluster_t *c, const sy_cluster_lease_cb_t *cb)
{
    pthread_mutex_lock(&c->mutex);
    c->lease_cb = *cb;
    c->lease_wanted = 1;
    pthread_mutex_unlock(&c->mutex);
}

static void lose(sy_cluster_t *c, const sy_cluster_lease_cb_t *cb, const char *why)
{
    sy_log(SY_LOG_WARN, "cluster: sync lease lost (%s): stopping delivery", why);
    cb->lost(cb->arg); /* returns once delivery has stopped */
    atomic_store(&c->lease_held, 0);
    atomic_fetch_add(&c->lease_changes, 1);
}

/* One try to take the lease; 1 when taken. */
static int take(sy_cluster_t *c, int64_t sent_ms)
{
    kvEntry *e = NULL;
    uint64_t rev = 0;
    natsStatus s = kvStore_Get(&e, c->lease_kv, SY_CLUSTER_LEASE_KEY);
    if (s == NATS_NOT_FOUND) {
        s = kvStore_CreateString(&rev, c->lease_kv, SY_CLUSTER_LEASE_KEY, c->conf->node);
    } else if (s == NATS_OK) {
        const char *holder = kvEntry_ValueString(e);
        uint64_t at = kvEntry_Revision(e);
        int free_ = holder == NULL || holder[0] == '\0' || kvEntry_Operation(e) != kvOp_Put;
        kvEntry_Destroy(e);
        if (!free_)
            return 0;
        s = kvStore_UpdateString(&rev, c->lease_kv, SY_CLUSTER_LEASE_KEY, c->conf->node, at);
    }
    if (s != NATS_OK)
        return 0;
    atomic_store(&c->lease_revision, rev);
    c->lease_sent_ms = sent_ms;
    return 1;
}

void sy_cluster_lease_step(sy_cluster_t *c)
{
    sy_cluster_lease_cb_t cb;
    int wanted;
    int64_t ttl = c->conf->lease_ttl_ms, now = mono_ms();

    pthread_mutex_lock(&c->mutex);
    cb = c->lease_cb;
    wanted = c->lease_wanted && !c->stopping;
    pthread_mutex_unlock(&c->mutex);
    if (!wanted)
        return;
    if (!atomic_load(&c->lease_held)) {
        if (!atomic_load(&c->connected) || !take(c, now))
            return;
        sy_log(SY_LOG_INFO, "cluster: this hub (%s) holds the sync lease (revision %llu): delivering",
               c->conf->node, (unsigned long long)atomic_load(&c->lease_revision));
        atomic_store(&c->lease_held, 1);
        atomic_fetch_add(&c->lease_changes, 1);
        if (cb.acquired(cb.arg) != 0) {
            sy_log(SY_LOG_ERROR, "cluster: cannot start delivery: giving the lease back");
            atomic_store(&c->lease_held, 0);
            uint64_t rev;
            kvStore_UpdateString(&rev, c->lease_kv, SY_CLUSTER_LEASE_KEY, "", atomic_load(&c->lease_revision));
        }
        return;
    }
    if (now - c->lease_sent_ms >= ttl / 4 && atomic_load(&c->connected)) {
        uint64_t rev = 0;
        natsStatus s = kvStore_UpdateString(&rev, c->lease_kv, SY_CLUSTER_LEASE_KEY, c->conf->node,
                                            atomic_load(&c->lease_revision));
        if (s == NATS_OK) {
            atomic_store(&c->lease_revision, rev);
            c->lease_sent_ms = now;
        } else if (s == NATS_ERR && strstr(nats_GetLastError(NULL) != NULL ? nats_GetLastError(NULL) : "",
                                           "wrong last sequence") != NULL) {
            lose(c, &cb, "another hub holds it");
            return;
        }
    }
    if (mono_ms() - c->lease_sent_ms >= ttl / 2)
        lose(c, &cb, "not renewed in time");
}

void sy_cluster_lease_release(sy_cluster_t *c)
{
    sy_cluster_lease_cb_t cb;
    pthread_mutex_lock(&c->mutex);
    cb = c->lease_cb;
    pthread_mutex_unlock(&c->mutex);
    if (!atomic_load(&c->lease_held))
        return;
    cb.lost(cb.arg);
    atomic_store(&c->lease_held, 0);
    uint64_t rev;
    /* At our revision: if another hub took it meanwhile, its lease stays. */
    if (kvStore_UpdateString(&rev, c->lease_kv, SY_CLUSTER_LEASE_KEY, "", atomic_load(&c->lease_revision)) == NATS_OK)
        sy_log(SY_LOG_INFO, "cluster: sync lease given back");
}
