/*
 * Applier benchmark: how fast logged events become golden records.
 *
 *   bench_apply [--events N] [--customers C] [--policy PATH] [--dir DIR] [--reapply 1] [--alone 1]
 *
 * Fills a fresh LMDB log with N mixed events (HubSpot property changes and Stripe customer, subscription and
 * invoice events over C customers, each object's versions increasing), then starts the real applier thread on it
 * and times it until its cursor reaches the end. As in `serve`, the applier's steps ride on a log writer's commits
 * (the writer has no events to log here), so decoding the next batch overlaps applying this one; --alone 1 runs
 * it without a writer, each batch in a transaction of its own (the figure before the riders). Also times loading (and checking) the policy. With --reapply 1 it
 * then reapplies the whole log once more (sy_replay_run, as `switchyard replay` does: every event is met again and
 * changes nothing) and times that too. Prints figures and a RESULT line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "applier.h"
#include "event.h"
#include "records.h"
#include "replay.h"
#include "store.h"
#include "writer.h"

#define FILL_BATCH 2000

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

/* Event i of the workload: body into buf, and the event's metadata. */
static void make_event(uint64_t i, unsigned customers, int64_t t0, char *buf, size_t cap, sy_event_t *ev, char *id,
                       char *type)
{
    unsigned c = (unsigned)((i / 4) % customers); /* every customer sees every kind of event */
    int64_t t = t0 + (int64_t)i; /* strictly increasing provider time */
    static const char *props[] = {"email", "phone", "company", "lifecyclestage"};
    int n;
    switch (i % 4) {
    case 0:
    case 1: /* HubSpot property change */
        snprintf(type, 64, "contact.propertyChange");
        snprintf(id, 64, "%llu", (unsigned long long)(i + 1));
        {
            const char *prop = props[(i / 4 / customers + i) % 4];
            char value[96];
            if (strcmp(prop, "email") == 0)
                snprintf(value, sizeof(value), "c%u.v%llu@acme.example", c, (unsigned long long)(i / 64));
            else if (strcmp(prop, "phone") == 0)
                snprintf(value, sizeof(value), "+49 30 %06u", c);
            else if (strcmp(prop, "company") == 0)
                snprintf(value, sizeof(value), "Company %u Inc.", c % 97);
            else
                snprintf(value, sizeof(value), "%s", (i / 8) % 2 ? "customer" : "lead");
            n = snprintf(buf, cap,
                         "{\"eventId\":%llu,\"subscriptionId\":1,\"portalId\":62515,\"appId\":54321,\"occurredAt\":%lld,"
                         "\"subscriptionType\":\"contact.propertyChange\",\"attemptNumber\":0,\"objectId\":%u,"
                         "\"propertyName\":\"%s\",\"propertyValue\":\"%s\",\"changeSource\":\"CRM\"}",
                         (unsigned long long)(i + 1), (long long)t, 1000 + c, prop, value);
        }
        ev->source = ev->connector = SY_SLICE_LIT("hubspot");
        break;
    case 2: /* Stripe customer, linked to the HubSpot contact */
        snprintf(type, 64, "customer.updated");
        snprintf(id, 64, "evt_c%llu", (unsigned long long)i);
        n = snprintf(buf, cap,
                     "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.updated\",\"data\":"
                     "{\"object\":{\"id\":\"cus_%u\",\"object\":\"customer\",\"email\":\"billing%u@acme.example\","
                     "\"name\":\"Customer %u\",\"phone\":\"+4930%06u\",\"metadata\":{\"hubspot_contact_id\":\"%u\"}}}}",
                     id, (long long)(t / 1000 + (int64_t)i), c, c, c, c, 1000 + c);
        ev->source = ev->connector = SY_SLICE_LIT("stripe");
        break;
    default: /* Stripe subscription */
        snprintf(type, 64, "customer.subscription.updated");
        snprintf(id, 64, "evt_s%llu", (unsigned long long)i);
        n = snprintf(buf, cap,
                     "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.subscription.updated\","
                     "\"data\":{\"object\":{\"id\":\"sub_%u\",\"customer\":\"cus_%u\",\"status\":\"%s\",\"items\":"
                     "{\"data\":[{\"price\":{\"id\":\"price_%llu\",\"unit_amount\":%llu}}]}}}}",
                     id, (long long)(t / 1000 + (int64_t)i), c, c, (i / 16) % 3 ? "active" : "past_due",
                     (unsigned long long)((i / 32) % 4), (unsigned long long)(1000 + (i / 32) % 4 * 1000));
        ev->source = ev->connector = SY_SLICE_LIT("stripe");
        break;
    }
    ev->event_id = sy_slice_cstr(id);
    ev->type = sy_slice_cstr(type);
    ev->occurred_at_ms = t;
    ev->received_at_ms = t;
    ev->batch_size = 1;
    ev->body = (sy_slice_t){buf, (size_t)n};
}

int main(int argc, char **argv)
{
    uint64_t total = strtoull(arg(argc, argv, "--events", "1000000"), NULL, 10);
    unsigned customers = (unsigned)strtoul(arg(argc, argv, "--customers", "20000"), NULL, 10);
    const char *policy_path = arg(argc, argv, "--policy", "policies");
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", arg(argc, argv, "--dir", "/tmp/sy-bench-apply-XXXXXX"));
    if (strstr(dir, "XXXXXX") != NULL && mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }

    sy_error_t err = {0};
    char msg[900];
    sy_policy_t *policy;
    const int loads = 200;
    uint64_t t = sy_mono_ns();
    for (int i = 0; i != loads; ++i) {
        if (sy_policy_load(&policy, policy_path, &err) != 0) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "%s\n", msg);
            return 2;
        }
        if (i != loads - 1)
            sy_policy_destroy(policy);
    }
    double load_ms = (double)(sy_mono_ns() - t) / 1e6 / loads;

    sy_store_t *store;
    if (sy_store_open(&store, dir, 1ull << 30, 64ull << 30, SY_STORE_CREATE, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    /* Fill the log (not timed as applying). */
    sy_append_t *items = calloc(FILL_BATCH, sizeof(*items));
    char **values = calloc(FILL_BATCH, sizeof(*values)), body[1024], id[FILL_BATCH][64], type[64];
    int64_t t0 = 1795000000000;
    t = sy_mono_ns();
    for (uint64_t done = 0; done < total;) {
        size_t n = 0;
        for (; n != FILL_BATCH && done < total; ++n, ++done) {
            sy_event_t ev = {0};
            size_t len;
            make_event(done, customers, t0, body, sizeof(body), &ev, id[n], type);
            sy_codec_event_encode(&ev, &values[n], &len);
            items[n] = (sy_append_t){.source = ev.source, .event_id = ev.event_id, .value = {values[n], len}};
        }
        if (sy_store_append(store, items, n) != 0) {
            fprintf(stderr, "fill failed\n");
            return 2;
        }
        for (size_t k = 0; k != n; ++k)
            free(values[k]);
    }
    double fill_s = (double)(sy_mono_ns() - t) / 1e9;
    free(items);
    free(values);

    /* Apply with the real applier thread; poll its cursor. */
    sy_applier_t *applier;
    sy_writer_t *writer = NULL;
    sy_metrics_t metrics;
    int alone = atoi(arg(argc, argv, "--alone", "0")) != 0;
    if (sy_metrics_init(&metrics, 0) != 0 || (!alone && sy_writer_start(&writer, store, &metrics, 4096) != 0))
        return 2;
    t = sy_mono_ns();
    if (sy_applier_start(&applier, store, policy, policy_path) != 0)
        return 2;
    if (writer != NULL)
        sy_applier_set_writer(applier, writer);
    uint64_t cursor = 0;
    while (cursor < total) {
        usleep(20000);
        sy_txn_t *txn;
        if (sy_txn_begin(store, 0, &txn) == 0) {
            sy_meta_get_u64(txn, "applier_cursor", &cursor);
            sy_txn_abort(txn);
        }
    }
    double apply_s = (double)(sy_mono_ns() - t) / 1e9;
    sy_applier_set_writer(applier, NULL); /* serve's order: detach, stop the writer, then the applier */
    sy_writer_stop(writer);
    sy_applier_stop(applier);
    sy_metrics_dispose(&metrics);
    policy = NULL; /* the applier freed it */

    double reapply_s = 0;
    if (atoi(arg(argc, argv, "--reapply", "0")) != 0) {
        sy_replay_spec_t spec;
        sy_replay_progress_t progress = {0};
        sy_replay_spec_init(&spec);
        if (sy_policy_load(&policy, policy_path, &err) != 0)
            return 2;
        t = sy_mono_ns();
        int rc = sy_replay_run(store, policy, &spec, &progress, NULL, 0, NULL, NULL);
        reapply_s = (double)(sy_mono_ns() - t) / 1e9;
        sy_policy_destroy(policy);
        if (rc != 0) {
            fprintf(stderr, "reapply: %s\n", sy_strerror(rc));
            return 2;
        }
    }

    sy_txn_t *txn;
    uint64_t records = 0, queued = 0;
    json_t *stats = NULL;
    if (sy_txn_begin(store, 0, &txn) == 0) {
        sy_txn_count(txn, SY_DB_RECORDS, &records);
        sy_txn_count(txn, SY_DB_OUTBOX, &queued);
        stats = sy_records_stats(txn);
        sy_txn_abort(txn);
    }
    sy_store_stats_t st;
    sy_store_stats(store, &st);
    char *s = json_dumps(stats, JSON_COMPACT);
    printf("policy load+check: %.3f ms (%s)\n", load_ms, policy_path);
    printf("log fill:          %llu events in %.1f s\n", (unsigned long long)total, fill_s);
    printf("apply:             %llu events in %.1f s = %.0f events/s -> %llu records, %llu queued pushes\n",
           (unsigned long long)total, apply_s, (double)total / apply_s, (unsigned long long)records,
           (unsigned long long)queued);
    if (reapply_s != 0)
        printf("reapply:           %llu events in %.1f s = %.0f events/s\n", (unsigned long long)total, reapply_s,
               (double)total / reapply_s);
    printf("counters:          %s\ndata file:         %.0f MiB (%s)\n", s != NULL ? s : "", st.file_bytes / 1048576.0,
           dir);
    printf("RESULT events=%llu apply_eps=%.0f policy_load_ms=%.3f", (unsigned long long)total, (double)total / apply_s,
           load_ms);
    if (reapply_s != 0)
        printf(" reapply_s=%.2f", reapply_s);
    printf("\n");
    free(s);
    json_decref(stats);
    sy_store_close(store);
    return 0;
}
