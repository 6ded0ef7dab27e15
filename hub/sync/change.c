#include "change.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "records.h"

static int merge(sy_txn_t *txn, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    char *keep = sy_records_find(txn, c->policy, c->a), *drop = sy_records_find(txn, c->policy, c->b);
    int rc;
    if (keep == NULL || drop == NULL) {
        snprintf(err, len, "no golden record for \"%s\"", keep == NULL ? c->a : c->b);
        rc = SY_ENOTFOUND;
    } else if ((rc = sy_records_merge(txn, c->policy, keep, drop, c->now_ms != 0 ? c->now_ms : sy_now_ms(), c->why,
                                      err, len)) == 0) {
        *result = json_pack("{s:s, s:s}", "kept", keep, "merged", drop);
    }
    free(keep);
    free(drop);
    return rc;
}

static int split(sy_txn_t *txn, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    char source[128], *id = sy_records_find(txn, c->policy, c->a), *fresh = NULL;
    const char *colon = strchr(c->b, ':');
    int rc;
    if (id == NULL || colon == NULL) {
        snprintf(err, len, id == NULL ? "no golden record for \"%s\"" : "name the object as SOURCE:EXTERNAL_ID", c->a);
        rc = id == NULL ? SY_ENOTFOUND : SY_EINVAL;
        free(id);
        return rc;
    }
    snprintf(source, sizeof(source), "%.*s", (int)(colon - c->b), c->b);
    if ((rc = sy_records_split(txn, c->policy, id, source, colon + 1, c->now_ms != 0 ? c->now_ms : sy_now_ms(), &fresh,
                                 err, len)) == 0)
        *result = json_pack("{s:s, s:s, s:s}", "record", id, "object", c->b, "new_record", fresh);
    free(id);
    free(fresh);
    return rc;
}

static int push(sy_txn_t *txn, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    sy_ops_retry_t r = {0};
    int drop = c->kind == SY_CHANGE_QUEUE_DROP || c->kind == SY_CHANGE_DEAD_DROP;
    if (!drop && c->policy == NULL) {
        snprintf(err, len, "a retry needs the policy (the record's current values are sent)");
        return SY_EINVAL;
    }
    int rc = c->kind == SY_CHANGE_QUEUE_RETRY  ? sy_ops_queue_retry(txn, c->policy, c->a, &r)
             : c->kind == SY_CHANGE_QUEUE_DROP ? sy_ops_queue_drop(txn, c->a)
             : c->kind == SY_CHANGE_DEAD_DROP  ? sy_ops_dead_drop(txn, c->a)
                                               : sy_ops_dead_retry(txn, c->policy, c->a, &r);
    if (rc == SY_ENOTFOUND)
        snprintf(err, len, "no %s %s", c->kind == SY_CHANGE_DEAD_RETRY || c->kind == SY_CHANGE_DEAD_DROP ? "dead letter" : "queued push",
                 c->a != NULL ? c->a : "");
    else if (rc == 0)
        /* "nothing_left": no field of the push has a golden value for its tool now (dropped, or kept dead). */
        *result = json_pack("{s:s?, s:s, s:I, s:I, s:I}", "id", c->a, "done",
                            drop ? "dropped"
                            : r.queued == 0 && r.empty != 0 ? "nothing_left"
                                                            : "queued",
                            "count", (json_int_t)(drop ? 1 : r.queued), "folded",
                            (json_int_t)r.folded, "nothing_left", (json_int_t)r.empty);
    return rc;
}

int sy_change_run_txn(sy_txn_t *txn, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    *result = NULL;
    err[0] = '\0';
    int rc = c->kind == SY_CHANGE_MERGE ? merge(txn, c, result, err, len)
             : c->kind == SY_CHANGE_SPLIT ? split(txn, c, result, err, len)
                                          : push(txn, c, result, err, len);
    if (rc != 0) {
        json_decref(*result);
        *result = NULL;
    }
    return rc;
}

int sy_change_run(sy_store_t *store, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    sy_txn_t *txn;
    int rc;
    *result = NULL;
    for (int attempt = 0;; ++attempt) {
        err[0] = '\0';
        if ((rc = sy_txn_begin(store, 1, &txn)) != 0)
            return rc;
        if ((rc = sy_change_run_txn(txn, c, result, err, len)) == 0)
            rc = sy_txn_commit(txn);
        else
            sy_txn_abort(txn);
        if (rc == 0)
            return 0;
        json_decref(*result);
        *result = NULL;
        /* Map full: nothing was written; grow (no transaction open now) and make the change once more. */
        if (rc != SY_EFULL || attempt != 0 || sy_store_grow(store) != 1)
            return rc;
    }
}
