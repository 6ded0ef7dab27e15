#include "policy_stamp.h"

#include <stdio.h>
#include <string.h>

static sy_slice_t key(void)
{
    return (sy_slice_t){SY_POLICY_STAMP_KEY, sizeof(SY_POLICY_STAMP_KEY) - 1};
}

int sy_policy_stamp_put(sy_txn_t *txn, const char *hash)
{
    return sy_txn_put(txn, SY_DB_META, key(), (sy_slice_t){hash, strlen(hash)});
}

int sy_policy_stamp_get(sy_txn_t *txn, char *buf, size_t len)
{
    sy_slice_t v;
    int rc = sy_txn_get(txn, SY_DB_META, key(), &v);
    if (rc != 0)
        return rc;
    snprintf(buf, len, "%.*s", (int)v.len, v.base); /* copied: v is borrowed from the map */
    return 0;
}

int sy_policy_stamp_write(sy_store_t *store, const char *hash)
{
    sy_txn_t *txn;
    int rc;
    for (int attempt = 0;; ++attempt) {
        if ((rc = sy_txn_begin(store, 1, &txn)) != 0)
            return rc;
        if ((rc = sy_policy_stamp_put(txn, hash)) == 0)
            return sy_txn_commit(txn);
        sy_txn_abort(txn);
        if (rc != SY_EFULL || attempt != 0 || sy_store_grow(store) != 1)
            return rc;
    }
}

int sy_policy_stamp_check(sy_store_t *store, const sy_policy_t *p, char *stored, size_t len)
{
    sy_txn_t *txn;
    int rc = sy_txn_begin(store, 0, &txn);
    if (rc != 0)
        return rc;
    rc = sy_policy_stamp_get(txn, stored, len);
    sy_txn_abort(txn);
    if (rc == SY_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    return strcmp(stored, p->hash) == 0 ? 0 : SY_EINVAL;
}
