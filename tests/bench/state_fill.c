/*
 * Fills a data dir with state for tests/bench/run-state.sh: queued pushes, golden records, logged events.
 *
 *   bench_state_fill --dir DIR [--pushes N] [--spoke NAME] [--records N] [--events N]
 *
 * Writes LMDB directly through the hub's store and document API (much faster than through HTTP and the applier):
 *   pushes   N pushes for spoke NAME (default hubspot), all due an hour ago, each with its coalescing (pending)
 *            entry, in the outbox layout every version reads (due_ms + push id → document). Written without the
 *            per-spoke indexes of queue.h on purpose: the same helper fills data dirs for the code before them, and
 *            a version that has them indexes the dir at its first start (run-state.sh reports how long that takes).
 *   records  N golden records cust_1..N with an email and a HubSpot link (what the health report scans)
 *   events   N logged Stripe events (ids evt_fill_<n>, never one bench_ingest sends), appended in big batches
 * Uses only functions that exist on main too (store.h, records.h, codec.h), so it builds against either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "event.h"
#include "records.h"
#include "store.h"

#define PUSH_BATCH 20000
#define EVENT_BATCH 10000

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

/* Runs fill(i) for i in [0, n) in write transactions of batch items each, growing the map when it is full. */
static int in_batches(sy_store_t *store, uint64_t n, uint64_t batch, int (*fill)(sy_txn_t *, uint64_t, void *), void *arg)
{
    for (uint64_t done = 0; done < n;) {
        sy_txn_t *txn;
        uint64_t end = done + batch < n ? done + batch : n, i;
        int rc = sy_txn_begin(store, 1, &txn);
        if (rc != 0)
            return rc;
        for (i = done; i != end && rc == 0; ++i)
            rc = fill(txn, i, arg);
        if (rc != 0)
            sy_txn_abort(txn);
        else
            rc = sy_txn_commit(txn);
        if (rc == SY_EFULL && sy_store_grow(store) == 1)
            continue; /* the batch again in a bigger map */
        if (rc != 0)
            return rc;
        done = end;
    }
    return 0;
}

typedef struct st_fill_t {
    const char *spoke;
    int64_t now;
} fill_t;

static int put_push(sy_txn_t *txn, uint64_t i, void *arg)
{
    fill_t *f = arg;
    unsigned char key[16];
    char id[32], rec[32], pkey[300], idem[96];
    int rc;
    snprintf(id, sizeof(id), "%llu", (unsigned long long)(i + 1));
    snprintf(rec, sizeof(rec), "cust_%llu", (unsigned long long)(i + 1));
    snprintf(idem, sizeof(idem), "sy-bench-%llu-0", (unsigned long long)(i + 1));
    int64_t due = f->now - 3600000;
    sy_put_be64(key, (uint64_t)due);
    sy_put_be64(key + 8, i + 1);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:s}, s:[s], s:i, s:i, s:I, s:I, s:I, s:s, s:s, s:I}", "id", id, "spoke",
                            f->spoke, "record", rec, "fields", "email", "someone@bench.example", "reasons", "bench",
                            "revision", 0, "attempts", 0, "due_at_ms", (json_int_t)due, "enqueued_at_ms",
                            (json_int_t)due, "updated_at_ms", (json_int_t)due, "idempotency_key", idem, "policy",
                            "bench", "seq", (json_int_t)0);
    rc = sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16}, doc);
    json_decref(doc);
    int n = snprintf(pkey, sizeof(pkey), "%s\x1f%s", f->spoke, rec);
    if (rc == 0)
        rc = sy_txn_put(txn, SY_DB_PENDING, (sy_slice_t){pkey, (size_t)n}, (sy_slice_t){(const char *)key, 16});
    return rc;
}

static int put_record(sy_txn_t *txn, uint64_t i, void *arg)
{
    fill_t *f = arg;
    char id[32], ext[32], email[64];
    snprintf(id, sizeof(id), "cust_%llu", (unsigned long long)(i + 1));
    snprintf(ext, sizeof(ext), "%llu", (unsigned long long)(1000 + i));
    snprintf(email, sizeof(email), "u%llu@bench.example", (unsigned long long)(i + 1));
    json_t *doc = json_pack("{s:s, s:I, s:{s:{s:s, s:s, s:s, s:I, s:I, s:I, s:s}}, s:{}, s:{s:[s]}}", "id", id,
                            "created_at_ms", (json_int_t)f->now, "fields", "email", "value", email, "source", "hubspot",
                            "xref", ext, "version_ms", (json_int_t)f->now, "updated_at_ms", (json_int_t)f->now, "seq",
                            (json_int_t)0, "policy", "bench", "observed", "xrefs", "hubspot", ext);
    int rc = sy_doc_put(txn, SY_DB_RECORDS, sy_slice_cstr(id), doc);
    json_decref(doc);
    return rc;
}

static int fill_events(sy_store_t *store, uint64_t total, int64_t now)
{
    sy_append_t *items = calloc(EVENT_BATCH, sizeof(*items));
    char **values = calloc(EVENT_BATCH, sizeof(*values)), (*ids)[32] = calloc(EVENT_BATCH, 32), body[512];
    int rc = items != NULL && values != NULL && ids != NULL ? 0 : SY_ENOMEM;
    for (uint64_t done = 0; done < total && rc == 0;) {
        size_t n = 0;
        for (; n != EVENT_BATCH && done + n < total; ++n) {
            uint64_t i = done + n;
            size_t len;
            snprintf(ids[n], 32, "evt_fill_%llu", (unsigned long long)i);
            int blen = snprintf(body, sizeof(body),
                                "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.updated\","
                                "\"data\":{\"object\":{\"id\":\"cus_%llu\",\"object\":\"customer\",\"email\":"
                                "\"c%llu@bench.example\"}}}",
                                ids[n], (long long)(now / 1000), (unsigned long long)(i % 100000),
                                (unsigned long long)(i % 100000));
            sy_event_t ev = {.received_at_ms = now, .occurred_at_ms = now, .source = SY_SLICE_LIT("stripe"),
                             .connector = SY_SLICE_LIT("stripe"), .event_id = sy_slice_cstr(ids[n]),
                             .type = SY_SLICE_LIT("customer.updated"), .signature = SY_SLICE_LIT("stripe-v1"),
                             .batch_size = 1, .body = {body, (size_t)blen}};
            if ((rc = sy_codec_event_encode(&ev, &values[n], &len)) != 0)
                break;
            items[n] = (sy_append_t){.source = ev.source, .event_id = ev.event_id, .value = {values[n], len}};
        }
        if (rc == 0)
            rc = sy_store_append(store, items, n); /* grows the map itself */
        for (size_t k = 0; k != n; ++k) {
            free(values[k]);
            values[k] = NULL;
        }
        done += n;
    }
    free(items);
    free(values);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = arg(argc, argv, "--dir", NULL);
    uint64_t pushes = strtoull(arg(argc, argv, "--pushes", "0"), NULL, 10);
    uint64_t records = strtoull(arg(argc, argv, "--records", "0"), NULL, 10);
    uint64_t events = strtoull(arg(argc, argv, "--events", "0"), NULL, 10);
    fill_t f = {.spoke = arg(argc, argv, "--spoke", "hubspot"), .now = sy_now_ms()};
    sy_error_t err = {0};
    sy_store_t *store;
    sy_txn_t *txn;
    int rc;
    if (dir == NULL) {
        fprintf(stderr, "usage: bench_state_fill --dir DIR [--pushes N] [--spoke NAME] [--records N] [--events N]\n");
        return 2;
    }
    if (sy_store_open(&store, dir, 1ull << 30, 64ull << 30, SY_STORE_CREATE, &err) != 0) {
        fprintf(stderr, "bench_state_fill: %s\n", err.msg);
        return 2;
    }
    uint64_t t0 = sy_mono_ns();
    if ((rc = in_batches(store, pushes, PUSH_BATCH, put_push, &f)) == 0 &&
        (rc = in_batches(store, records, PUSH_BATCH, put_record, &f)) == 0 && (rc = fill_events(store, events, f.now)) == 0 &&
        (rc = sy_txn_begin(store, 1, &txn)) == 0) {
        /* The hub's own counters continue after what was filled: its next push or record gets a new id. */
        if ((rc = sy_meta_put_u64(txn, "next_push", pushes)) == 0 && (rc = sy_meta_put_u64(txn, "next_record", records)) == 0)
            rc = sy_txn_commit(txn);
        else
            sy_txn_abort(txn);
    }
    sy_store_close(store);
    if (rc != 0) {
        fprintf(stderr, "bench_state_fill: %s\n", sy_strerror(rc));
        return 1;
    }
    printf("RESULT pushes=%llu records=%llu events=%llu seconds=%.2f\n", (unsigned long long)pushes,
           (unsigned long long)records, (unsigned long long)events, (double)(sy_mono_ns() - t0) / 1e9);
    return 0;
}
