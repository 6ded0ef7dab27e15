/*
 * Delivery outcomes shared across a cluster's hubs (outcome.h). Everything here runs in a caller's write
 * transaction: the settle (queue), the consumer's commit (consume) or the applier's step (apply_due).
 */
#include "outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "attempts.h"
#include "log.h"
#include "queue.h"
#include "records.h"

atomic_int sy_outcome_enabled;

#define QUEUE_PREFIX "cluster_oq:"
#define QUEUE_NEXT "cluster_oq_next"
#define SELF_PREFIX "cluster_ocself:"
#define WAIT_PREFIX "cluster_oc:"
#define KEY_MAX 600

static sy_slice_t prefixed(char *buf, size_t cap, const char *prefix, const unsigned char *bin, size_t binlen,
                           const char *text)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    if (bin != NULL) {
        memcpy(buf + n, bin, binlen);
        n += binlen;
    }
    if (text != NULL) {
        size_t t = strlen(text);
        if (n + t > cap)
            t = cap - n;
        memcpy(buf + n, text, t);
        n += t;
    }
    return (sy_slice_t){buf, n};
}

/* Meta values here are JSON text (small, and readable with `switchyard` tools as they are). */
static int put_json(sy_txn_t *txn, sy_slice_t key, const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        return SY_ENOMEM;
    int rc = sy_txn_put(txn, SY_DB_META, key, sy_slice_cstr(text));
    free(text);
    return rc;
}

int sy_outcome_queue(sy_txn_t *txn, const char *node, const char *kind, const char *spoke, const char *record,
                     const json_t *fields, int64_t seq, const char *object_id, const json_t *dead, int64_t now_ms)
{
    uint64_t n = 0;
    char id[200], key[KEY_MAX];
    unsigned char nb[8];
    int rc;
    if (spoke == NULL || record == NULL || record[0] == '\0' || !json_is_object(fields))
        return 0; /* not a push to a tool for a record (a notifier's message): nothing another hub settles */
    if ((rc = sy_meta_get_u64(txn, QUEUE_NEXT, &n)) != 0 || (rc = sy_meta_put_u64(txn, QUEUE_NEXT, n + 1)) != 0)
        return rc;
    ++n;
    /* The message id (Nats-Msg-Id): a republish of this entry is deduplicated by JetStream; the settle time keeps a
     * node whose data dir was replaced from reusing the id of an outcome still in the duplicate window. */
    snprintf(id, sizeof(id), "oc-%s-%lld-%llu", node, (long long)now_ms, (unsigned long long)n);
    json_t *oc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:O}", "v", 1, "id", id, "node", node, "kind", kind,
                           "spoke", spoke, "record", record, "seq", (json_int_t)seq, "fields", fields);
    if (oc == NULL)
        return SY_ENOMEM;
    if (object_id != NULL && object_id[0] != '\0')
        json_object_set_new(oc, "object_id", json_string(object_id));
    if (dead != NULL)
        json_object_set_new(oc, "dead", json_deep_copy(dead));
    sy_put_be64(nb, n);
    rc = put_json(txn, prefixed(key, sizeof(key), QUEUE_PREFIX, nb, 8, NULL), oc);
    if (rc == 0)
        rc = sy_txn_put(txn, SY_DB_META, prefixed(key, sizeof(key), SELF_PREFIX, NULL, 0, id), SY_SLICE_LIT(""));
    json_decref(oc);
    return rc;
}

typedef struct st_peek_t {
    json_t *list;
    size_t max;
    int bad;
} peek_t;

static int on_queued(void *arg, sy_slice_t key, sy_slice_t val)
{
    peek_t *p = arg;
    size_t plen = sizeof(QUEUE_PREFIX) - 1;
    if (key.len != plen + 8)
        return 0;
    json_t *oc = json_loadb(val.base, val.len, 0, NULL);
    uint64_t n = sy_get_be64((const unsigned char *)key.base + plen);
    if (oc == NULL) {
        p->bad = 1; /* cannot happen (we wrote it); logged by the caller, then deleted like a published one */
        oc = json_null();
    }
    json_array_append_new(p->list, json_pack("{s:I, s:s?, s:o}", "n", (json_int_t)n,
                                             "id", json_string_value(json_object_get(oc, "id")), "outcome", oc));
    return json_array_size(p->list) >= p->max;
}

json_t *sy_outcome_queue_peek(sy_store_t *store, size_t max, int *rc)
{
    sy_store_read_t *rd;
    peek_t p = {.list = json_array(), .max = max};
    if ((*rc = sy_store_read_begin(store, &rd)) != 0) {
        json_decref(p.list);
        return NULL;
    }
    int s = sy_txn_scan(rd, SY_DB_META, SY_SLICE_LIT(QUEUE_PREFIX), SY_SLICE_LIT(QUEUE_PREFIX), on_queued, &p);
    sy_store_read_end(rd);
    *rc = s < 0 ? s : 0;
    if (*rc != 0) {
        json_decref(p.list);
        return NULL;
    }
    if (p.bad)
        sy_log(SY_LOG_ERROR, "cluster: an unreadable outcome in the publish queue: dropped");
    return p.list;
}

int sy_outcome_queue_delete(sy_txn_t *txn, const uint64_t *n, size_t count)
{
    char key[KEY_MAX];
    unsigned char nb[8];
    for (size_t i = 0; i != count; ++i) {
        sy_put_be64(nb, n[i]);
        int rc = sy_txn_del(txn, SY_DB_META, prefixed(key, sizeof(key), QUEUE_PREFIX, nb, 8, NULL));
        if (rc != 0 && rc != SY_ENOTFOUND)
            return rc;
    }
    return 0;
}

/* --- applying ------------------------------------------------------------------------------------------------- */

/* The dead letter on this hub: the holder's, under this hub's push id, with the fields this hub's push had. */
static int make_dead(sy_txn_t *txn, const json_t *oc, json_t *push, uint64_t id, json_t *fields, int64_t now_ms)
{
    unsigned char dk[8];
    sy_slice_t existing;
    char idtext[32];
    const char *spoke = json_string_value(json_object_get(push, "spoke"));
    json_t *dead = json_deep_copy(push);
    json_t *theirs = json_object_get(oc, "dead");
    const char *reason = json_string_value(json_object_get(theirs, "reason"));
    sy_put_be64(dk, id);
    sy_slice_t key = {(const char *)dk, 8};
    int had = sy_txn_get(txn, SY_DB_DEAD, key, &existing) == 0, rc;
    snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
    json_object_set_new(dead, "id", json_string(idtext));
    json_object_set(dead, "fields", fields);
    json_object_del(dead, "fseq");
    /* what the holder learnt by trying: its attempts, last answer, reason, time of death */
    static const char *const keep[] = {"attempts", "last_status", "last_error", "died_at_ms", "response"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(keep); ++i)
        if (json_object_get(theirs, keep[i]) != NULL)
            json_object_set(dead, keep[i], json_object_get(theirs, keep[i]));
    json_object_set_new(dead, "reason", json_string(reason != NULL ? reason : "dead letter at the lease holder"));
    json_object_set_new(dead, "dead_at_node", json_string(json_string_value(json_object_get(oc, "node"))));
    rc = sy_doc_put(txn, SY_DB_DEAD, key, dead);
    json_decref(dead);
    if (rc == 0 && !had)
        rc = sy_queue_dead_add(txn, spoke, 1);
    if (rc == 0 && !had) {
        char msg[600]; /* the same alert as a local dead letter (delivery.c bury) */
        sy_alert_subject_t subj = {NULL, spoke, NULL};
        snprintf(msg, sizeof(msg), "push %s (record %s) is a dead letter: %s (switchyard dead ls)", idtext,
                 json_string_value(json_object_get(push, "record")), reason != NULL ? reason : "");
        rc = sy_alert_raise(txn, "dead_letter", &subj, msg, 0, 1, now_ms, NULL);
    }
    return rc;
}

/* A new push id for a dead letter split off a push that keeps other fields queued (records.c next_push, and the
 * queue index's high mark with it: queue.h). */
static int new_push_id(sy_txn_t *txn, uint64_t *id)
{
    uint64_t max = 0;
    int rc = sy_meta_get_u64(txn, "next_push", id);
    if (rc == 0)
        rc = sy_meta_put_u64(txn, "next_push", ++*id);
    if (rc == 0)
        rc = sy_meta_get_u64(txn, "queue_max_id", &max);
    if (rc == 0 && *id > max)
        rc = sy_meta_put_u64(txn, "queue_max_id", *id);
    return rc;
}

static int apply(sy_txn_t *txn, const json_t *oc, int64_t now_ms)
{
    const char *spoke = json_string_value(json_object_get(oc, "spoke"));
    const char *record = json_string_value(json_object_get(oc, "record"));
    const char *kind = json_string_value(json_object_get(oc, "kind"));
    const char *object_id = json_string_value(json_object_get(oc, "object_id"));
    json_int_t upto = json_integer_value(json_object_get(oc, "seq"));
    json_t *sent = json_object_get(oc, "fields");
    char pkey[KEY_MAX];
    unsigned char okey[16];
    sy_slice_t pv;
    int rc = 0;

    if (spoke == NULL || record == NULL || kind == NULL || !json_is_object(sent)) {
        sy_log(SY_LOG_ERROR, "cluster: an outcome without spoke, record, kind or fields: ignored");
        return 0;
    }
    if (object_id != NULL) {
        /* The holder created (or found) the tool's object: linked here too, so no later holder creates another. */
        json_t *rec = sy_records_load(txn, record);
        json_t *ids = json_object_get(json_object_get(rec, "xrefs"), spoke);
        int linked = json_array_size(ids) != 0;
        json_decref(rec);
        if (rec != NULL && !linked && (rc = sy_records_link(txn, record, spoke, object_id)) != 0 && rc != SY_EINVAL &&
            rc != SY_ENOTFOUND)
            return rc;
        rc = 0;
    }
    snprintf(pkey, sizeof(pkey), "%s\x1f%s", spoke, record);
    if (sy_txn_get(txn, SY_DB_PENDING, sy_slice_cstr(pkey), &pv) != 0 || pv.len != 16)
        return 0; /* nothing queued here for that tool and record: nothing to settle */
    memcpy(okey, pv.base, 16);
    json_t *push = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)okey, 16});
    if (push == NULL)
        return 0;
    json_t *fields = json_object_get(push, "fields"), *fseq = json_object_get(push, "fseq");
    json_int_t push_seq = json_integer_value(json_object_get(push, "seq"));
    json_t *settled = json_object();
    const char *field;
    json_t *value;
    json_object_foreach(sent, field, value)
    {
        const char *queued = json_string_value(json_object_get(fields, field));
        json_t *fs = json_object_get(fseq, field);
        json_int_t at = fs != NULL ? json_integer_value(fs) : push_seq;
        /* Queued again after what was sent (a newer change, maybe back to the same value): it stays. */
        if (queued != NULL && json_is_string(value) && strcmp(queued, json_string_value(value)) == 0 && at <= upto)
            json_object_set(settled, field, value);
    }
    if (json_object_size(settled) == 0)
        goto Exit;
    uint64_t id = sy_get_be64(okey + 8);
    int emptied = json_object_size(settled) == json_object_size(fields);
    if (emptied) {
        if ((rc = sy_queue_remove(txn, okey, push)) == 0 && (rc = sy_txn_del(txn, SY_DB_PENDING, sy_slice_cstr(pkey))) == 0)
            rc = sy_attempts_drop(txn, id);
        if (rc == SY_ENOTFOUND)
            rc = 0;
    } else {
        char idem[128];
        json_object_foreach(settled, field, value)
        {
            json_object_del(fields, field);
            json_object_del(fseq, field);
        }
        /* What stays was folded in after the settled fields, so the push's seq (its newest field's) stands. */
        if ((rc = sy_records_idempotency_key(txn, push, 0, idem, sizeof(idem))) == 0) {
            json_object_set_new(push, "idempotency_key", json_string(idem));
            rc = sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)okey, 16}, push);
        }
    }
    if (rc == 0 && strcmp(kind, "dead") == 0) {
        if (!emptied)
            rc = new_push_id(txn, &id);
        if (rc == 0)
            rc = make_dead(txn, oc, push, id, settled, now_ms);
    }
Exit:
    json_decref(settled);
    json_decref(push);
    return rc;
}

int sy_outcome_consume(sy_txn_t *txn, const json_t *oc, uint64_t stream_seq, int64_t now_ms)
{
    char key[KEY_MAX];
    sy_slice_t v;
    uint64_t cursor = 0;
    unsigned char kb[16];
    const char *id = json_string_value(json_object_get(oc, "id"));
    int rc;
    if (id == NULL) {
        sy_log(SY_LOG_ERROR, "cluster: an outcome without id at stream seq %llu: ignored", (unsigned long long)stream_seq);
        return 0;
    }
    sy_slice_t self = prefixed(key, sizeof(key), SELF_PREFIX, NULL, 0, id);
    if (sy_txn_get(txn, SY_DB_META, self, &v) == 0)
        return sy_txn_del(txn, SY_DB_META, self); /* settled here: the settle did it all already */
    if ((rc = sy_meta_get_u64(txn, "applier_cursor", &cursor)) != 0)
        return rc;
    json_int_t upto = json_integer_value(json_object_get(oc, "seq"));
    if ((uint64_t)upto <= cursor)
        return apply(txn, oc, now_ms);
    /* This hub has not applied the events the push was made of yet: the applier applies it once it has. */
    sy_put_be64(kb, (uint64_t)upto);
    sy_put_be64(kb + 8, stream_seq);
    return put_json(txn, prefixed(key, sizeof(key), WAIT_PREFIX, kb, 16, NULL), oc);
}

typedef struct st_due_t {
    uint64_t upto;
    json_t *list; /* [seq, stream seq, outcome]: the key's two halves, and what waited under it */
} due_t;

static int on_waiting(void *arg, sy_slice_t key, sy_slice_t val)
{
    due_t *d = arg;
    size_t plen = sizeof(WAIT_PREFIX) - 1;
    if (key.len != plen + 16)
        return 0;
    uint64_t seq = sy_get_be64((const unsigned char *)key.base + plen);
    if (seq > d->upto)
        return 1; /* in seq order: the rest waits too */
    json_t *oc = json_loadb(val.base, val.len, 0, NULL);
    json_array_append_new(d->list, json_pack("[I, I, o]", (json_int_t)seq,
                                             (json_int_t)sy_get_be64((const unsigned char *)key.base + plen + 8),
                                             oc != NULL ? oc : json_null()));
    return json_array_size(d->list) >= 256; /* the rest in the next step */
}

int sy_outcome_apply_due(sy_txn_t *txn, uint64_t cursor, int64_t now_ms)
{
    due_t d = {.upto = cursor, .list = json_array()};
    char key[KEY_MAX];
    unsigned char kb[16];
    size_t i;
    json_t *e;
    int rc = sy_txn_scan(txn, SY_DB_META, SY_SLICE_LIT(WAIT_PREFIX), SY_SLICE_LIT(WAIT_PREFIX), on_waiting, &d);
    rc = rc < 0 ? rc : 0;
    json_array_foreach(d.list, i, e)
    {
        if (rc != 0)
            break;
        json_t *oc = json_array_get(e, 2);
        if (json_is_object(oc))
            rc = apply(txn, oc, now_ms);
        sy_put_be64(kb, (uint64_t)json_integer_value(json_array_get(e, 0)));
        sy_put_be64(kb + 8, (uint64_t)json_integer_value(json_array_get(e, 1)));
        if (rc == 0)
            rc = sy_txn_del(txn, SY_DB_META, prefixed(key, sizeof(key), WAIT_PREFIX, kb, 16, NULL));
    }
    json_decref(d.list);
    return rc;
}
