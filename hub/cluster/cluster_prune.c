/*
 * A follower's alert notifications (cluster.h). Every hub's applier raises the same alerts from the same log and
 * queues their notifications, but only the lease holder sends them, and their outcomes are not shared: a follower's
 * notification queue would grow for as long as it follows, and after a failover it would send everything it ever
 * queued. So a follower drops the notifications older than cluster.notifications_keep: after a failover the new
 * holder sends again at most the last notifications_keep of news (most of which the old holder had sent), and the
 * queue stays bounded by the alert rate times that window.
 *
 * Runs on the heartbeat thread (never the lease thread: a write transaction may wait behind a commit, and nothing
 * may delay a renewal), in short write transactions of at most PRUNE_BATCH notifications.
 */
#include "alerts.h"
#include "cluster_internal.h"
#include "log.h"

#define PRUNE_EVERY_MS 30000
#define PRUNE_BATCH 256
#define PRUNE_BATCHES 16 /* per step: the heartbeat's next beat is not delayed by a long backlog */

typedef struct st_prune_arg_t {
    int64_t before_ms;
    size_t pruned;
} prune_arg_t;

static int prune_batch(void *arg, sy_txn_t *txn)
{
    prune_arg_t *p = arg;
    return sy_alerts_prune_notifications(txn, p->before_ms, PRUNE_BATCH, &p->pruned);
}

void sy_cluster_prune_step(sy_cluster_t *c)
{
    int64_t keep = c->conf->notifications_keep_ms, every = keep / 2 < PRUNE_EVERY_MS ? keep / 2 : PRUNE_EVERY_MS;
    int64_t now = (int64_t)(sy_mono_ns() / 1000000);
    if (atomic_load(&c->lease_held) || (c->pruned_at_ms != 0 && now - c->pruned_at_ms < every))
        return;
    c->pruned_at_ms = now;
    prune_arg_t p = {.before_ms = sy_now_ms() - keep};
    size_t total = 0;
    for (int i = 0; i != PRUNE_BATCHES && !atomic_load(&c->lease_held); ++i) {
        p.pruned = 0;
        int rc = sy_store_write(c->store, prune_batch, &p);
        if (rc != 0) {
            sy_log(SY_LOG_ERROR, "cluster: dropping old notifications: %s", sy_strerror(rc));
            break;
        }
        total += p.pruned;
        if (p.pruned < PRUNE_BATCH)
            break;
    }
    if (total != 0) {
        atomic_fetch_add(&c->notifications_pruned, total);
        sy_log(SY_LOG_INFO, "cluster: dropped %zu queued notifications older than %lld s (only the lease holder sends "
                            "them)", total, (long long)(keep / 1000));
    }
}
