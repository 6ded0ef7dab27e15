/*
 * Admin changes → stream (change_shared.h): the lease holder's admin API publishes a merge or split to
 * "<stream>.admin" rather than making it, and waits until its own applier has made it where the stream put it, so
 * that the answer is the change's result here, the same as every other hub's.
 */
#include <stdio.h>
#include <time.h>

#include "change_shared.h"
#include "cluster_internal.h"
#include "log.h"

#define WAIT_EXTRA_MS 5000 /* after the acknowledgement: the consumer's commit, then the applier's step */
#define POLL_MS 20

int sy_cluster_change(sy_cluster_t *c, const sy_change_t *change, json_t **result, char *err, size_t len)
{
    char id[256];
    int64_t now = sy_now_ms(), deadline = now + c->conf->ack_timeout_ms + WAIT_EXTRA_MS;
    jsErrCode jerr = 0;
    int rc;

    *result = NULL;
    json_t *msg = sy_change_shared_encode(change, c->conf->node, now, id, sizeof(id));
    if (msg == NULL) {
        snprintf(err, len, "out of memory");
        return SY_ENOMEM;
    }
    natsStatus s = atomic_load(&c->connected) ? sy_cluster_publish_json(c, c->admin_subject, id, msg, &jerr)
                                              : NATS_CONNECTION_DISCONNECTED;
    json_decref(msg);
    if (s != NATS_OK) {
        atomic_fetch_add(&c->change_failures, 1);
        snprintf(err, len,
                 "the stream did not acknowledge the change within %lld ms (%s, JetStream error %d): it may or may "
                 "not be made (on every hub alike); look at the records before asking again",
                 (long long)c->conf->ack_timeout_ms, natsStatus_GetText(s), (int)jerr);
        return SY_EIO;
    }
    atomic_fetch_add(&c->changes_published, 1);
    for (;;) {
        if ((rc = sy_change_shared_result(c->store, id, result, err, len)) != 1)
            return rc;
        if (sy_now_ms() >= deadline)
            break;
        struct timespec ts = {0, POLL_MS * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    sy_log(SY_LOG_WARN, "cluster: admin change %s acknowledged by the stream but not made here in time", id);
    snprintf(err, len,
             "the stream took the change (%s) but this hub's applier has not made it within %lld ms: every hub makes "
             "it when its applier gets there; look at the records before asking again",
             id, (long long)(c->conf->ack_timeout_ms + WAIT_EXTRA_MS));
    return SY_EIO;
}
