#include "compact.h"

#include "records.h"

int sy_compact_limit(sy_txn_t *txn, int has_policy, uint64_t *limit)
{
    uint64_t last = 0;
    int rc = sy_store_last_seq(txn, &last);
    *limit = 0;
    if (rc != 0)
        return rc;
    if (has_policy) {
        if ((rc = sy_meta_get_u64(txn, "applier_cursor", limit)) != 0) /* absent before the first batch: 0 */
            return rc;
    } else {
        *limit = last;
    }
    if (*limit >= last)
        *limit = last > 0 ? last - 1 : 0;
    return 0;
}

int sy_compact_remove(sy_store_t *store, int has_policy, uint64_t from_seq, uint64_t to_seq, int64_t before_ms,
                      uint64_t *removed)
{
    uint64_t seqs[SY_COMPACT_BATCH], limit, after = from_seq > 0 ? from_seq - 1 : 0;
    size_t n = 0;
    sy_txn_t *txn;
    sy_event_t ev;
    int rc;

    *removed = 0;
    if ((rc = sy_txn_begin(store, 1, &txn)) != 0)
        return rc;
    if ((rc = sy_compact_limit(txn, has_policy, &limit)) != 0)
        goto Abort;
    if (to_seq > limit)
        to_seq = limit;
    /* Seqs first, deletes after: ev is borrowed from the map, which a delete may change. */
    while (n != SY_COMPACT_BATCH && sy_store_event_next(txn, after, &ev) == 0 && ev.seq <= to_seq &&
           ev.received_at_ms < before_ms) {
        seqs[n++] = ev.seq;
        after = ev.seq;
    }
    for (size_t i = 0; i != n; ++i) {
        unsigned char key[8];
        sy_put_be64(key, seqs[i]);
        if ((rc = sy_txn_del(txn, SY_DB_EVENTS, (sy_slice_t){(const char *)key, 8})) != 0)
            goto Abort;
    }
    if ((rc = sy_txn_commit(txn)) == 0)
        *removed = n;
    return rc;
Abort:
    sy_txn_abort(txn);
    return rc;
}
