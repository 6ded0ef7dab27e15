/*
 * The alert model (alerts.h): deduplicated, stateful alerts and their notifications, inside the caller's write
 * transaction.
 */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "queue.h"
#include "records.h"

#define ALERT_KEY_MAX 700

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

static sy_slice_t id_key(unsigned char out[9], uint64_t id)
{
    out[0] = 'a';
    sy_put_be64(out + 1, id);
    return (sy_slice_t){(const char *)out, 9};
}

/* 'k' kind \x1f record \x1f source \x1f field; truncated subjects stay distinct enough (ids and names are short). */
static sy_slice_t subject_key(char out[ALERT_KEY_MAX], const char *kind, const sy_alert_subject_t *s)
{
    int n = snprintf(out, ALERT_KEY_MAX, "k%s\x1f%s\x1f%s\x1f%s", kind, nz(s->record), nz(s->source), nz(s->field));
    return (sy_slice_t){out, n < 0 ? 0 : (size_t)n < ALERT_KEY_MAX ? (size_t)n : ALERT_KEY_MAX - 1};
}

json_t *sy_alert_get(sy_txn_t *txn, uint64_t id)
{
    unsigned char k[9];
    return sy_doc_get(txn, SY_DB_ALERTS, id_key(k, id));
}

#define NOTIFIERS_MAX 512

/* The notifier spokes named in meta (sy_alerts_setup), newline-separated, into names ("" when none). Copied: the
 * caller's puts may move the map. Returns 0 or a storage error. */
static int notifier_names(sy_txn_t *txn, char names[NOTIFIERS_MAX])
{
    sy_slice_t v;
    int rc = sy_txn_get(txn, SY_DB_META, SY_SLICE_LIT("alert_notifiers"), &v);
    names[0] = '\0';
    if (rc == SY_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.len != 0 && v.len < NOTIFIERS_MAX) {
        memcpy(names, v.base, v.len);
        names[v.len] = '\0';
    }
    return 0;
}

/* Queues doc's news (event "alert.raised" / "alert.resolved") for every notifier spoke named in meta. */
static int notify(sy_txn_t *txn, const json_t *alert, const char *event, int64_t now_ms)
{
    char names[NOTIFIERS_MAX];
    int rc = notifier_names(txn, names);
    if (rc != 0 || names[0] == '\0')
        return rc;
    char inst[SY_INSTANCE_ID_LEN + 1];
    if ((rc = sy_records_instance_id(txn, inst)) != 0)
        return rc;
    for (char *save = NULL, *spoke = strtok_r(names, "\n", &save); spoke != NULL; spoke = strtok_r(NULL, "\n", &save)) {
        uint64_t id;
        unsigned char key[16];
        char sid[24], msg_id[80];
        if ((rc = sy_meta_get_u64(txn, "next_push", &id)) != 0 || (rc = sy_meta_put_u64(txn, "next_push", id + 1)) != 0)
            return rc;
        ++id;
        snprintf(sid, sizeof(sid), "%llu", (unsigned long long)id);
        /* The Standard Webhooks message id: the same on every retry of this notification, unique per data dir. */
        snprintf(msg_id, sizeof(msg_id), "msg_%s_%llu", inst, (unsigned long long)id);
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:O, s:I, s:I, s:I, s:i, s:i, s:s}", "id", sid, "spoke", spoke,
                                "record", "", "event", event, "alert", alert, "enqueued_at_ms", (json_int_t)now_ms,
                                "updated_at_ms", (json_int_t)now_ms, "due_at_ms", (json_int_t)now_ms, "attempts", 0,
                                "revision", 0, "idempotency_key", msg_id);
        if (doc == NULL)
            return SY_ENOMEM;
        json_object_set_new(doc, "fields", json_object());
        sy_put_be64(key, (uint64_t)now_ms);
        sy_put_be64(key + 8, id);
        rc = sy_queue_add(txn, key, doc);
        json_decref(doc);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sy_alert_raise(sy_txn_t *txn, const char *kind, const sy_alert_subject_t *subj, const char *message, uint64_t seq,
                   uint64_t n, int64_t now_ms, int *opened)
{
    char kbuf[ALERT_KEY_MAX];
    unsigned char ik[9];
    sy_slice_t k = subject_key(kbuf, kind, subj), v;
    json_t *doc = NULL;
    uint64_t id = 0;
    int rc = sy_txn_get(txn, SY_DB_ALERTS, k, &v);
    if (opened != NULL)
        *opened = 0;
    if (rc == 0 && v.len == 8) {
        id = sy_get_be64((const unsigned char *)v.base);
        doc = sy_alert_get(txn, id);
    } else if (rc != SY_ENOTFOUND && rc != 0) {
        return rc;
    }
    if (doc != NULL) {
        json_object_set_new(doc, "count", json_integer(json_integer_value(json_object_get(doc, "count")) + (json_int_t)n));
        json_object_set_new(doc, "last_seen_ms", json_integer(now_ms));
        json_object_set_new(doc, "message", json_string(message));
        if (seq != 0)
            json_object_set_new(doc, "last_seq", json_integer((json_int_t)seq));
        rc = sy_doc_put(txn, SY_DB_ALERTS, id_key(ik, id), doc);
        json_decref(doc);
        return rc;
    }
    if ((rc = sy_meta_get_u64(txn, "next_alert", &id)) != 0 || (rc = sy_meta_put_u64(txn, "next_alert", id + 1)) != 0)
        return rc;
    ++id;
    doc = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "id", (json_int_t)id, "kind", kind,
                    "record", nz(subj->record), "source", nz(subj->source), "field", nz(subj->field), "message", message,
                    "seq", (json_int_t)seq, "first_seen_ms", (json_int_t)now_ms, "last_seen_ms", (json_int_t)now_ms,
                    "count", (json_int_t)(n != 0 ? n : 1), "state", "open");
    if (doc == NULL)
        return SY_ENOMEM;
    unsigned char idv[8];
    sy_put_be64(idv, id);
    if ((rc = sy_doc_put(txn, SY_DB_ALERTS, id_key(ik, id), doc)) == 0 &&
        (rc = sy_txn_put(txn, SY_DB_ALERTS, k, (sy_slice_t){(const char *)idv, 8})) == 0)
        rc = notify(txn, doc, "alert.raised", now_ms);
    json_decref(doc);
    if (rc == 0 && opened != NULL)
        *opened = 1;
    return rc;
}

int sy_alert_resolve(sy_txn_t *txn, const char *kind, const sy_alert_subject_t *subj, int64_t now_ms)
{
    char kbuf[ALERT_KEY_MAX];
    unsigned char ik[9];
    sy_slice_t k = subject_key(kbuf, kind, subj), v;
    int rc = sy_txn_get(txn, SY_DB_ALERTS, k, &v);
    if (rc == SY_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    uint64_t id = v.len == 8 ? sy_get_be64((const unsigned char *)v.base) : 0;
    if ((rc = sy_txn_del(txn, SY_DB_ALERTS, k)) != 0)
        return rc;
    json_t *doc = sy_alert_get(txn, id);
    if (doc == NULL)
        return 0;
    json_object_set_new(doc, "state", json_string("resolved"));
    json_object_set_new(doc, "resolved_at_ms", json_integer(now_ms));
    if ((rc = sy_doc_put(txn, SY_DB_ALERTS, id_key(ik, id), doc)) == 0)
        rc = notify(txn, doc, "alert.resolved", now_ms);
    json_decref(doc);
    return rc;
}

int sy_alert_ack(sy_txn_t *txn, uint64_t id, int64_t now_ms)
{
    unsigned char ik[9];
    json_t *doc = sy_alert_get(txn, id);
    int rc;
    if (doc == NULL)
        return SY_ENOTFOUND;
    const char *state = json_string_value(json_object_get(doc, "state"));
    if (state != NULL && strcmp(state, "resolved") == 0) {
        json_decref(doc);
        return SY_EINVAL;
    }
    json_object_set_new(doc, "state", json_string("acknowledged"));
    json_object_set_new(doc, "acknowledged_at_ms", json_integer(now_ms));
    rc = sy_doc_put(txn, SY_DB_ALERTS, id_key(ik, id), doc);
    json_decref(doc);
    return rc;
}

typedef struct st_list_t {
    json_t *out;
    int all;
    const char *kind;
} list_t;

static int on_alert(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_t *l = arg;
    if (key.len != 9)
        return 0;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    const char *state = json_string_value(json_object_get(doc, "state"));
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    if (doc == NULL || state == NULL || kind == NULL || (!l->all && strcmp(state, "resolved") == 0) ||
        (l->kind != NULL && strcmp(kind, l->kind) != 0)) {
        json_decref(doc);
        return 0;
    }
    json_array_append_new(l->out, doc);
    return 0;
}

static json_t *scan(sy_txn_t *txn, int all, const char *kind)
{
    list_t l = {json_array(), all, kind};
    int rc = sy_txn_scan(txn, SY_DB_ALERTS, SY_SLICE_LIT("a"), SY_SLICE_LIT("a"), on_alert, &l);
    if (rc < 0) {
        json_decref(l.out);
        return NULL;
    }
    return l.out;
}

json_t *sy_alerts_list(sy_txn_t *txn, int all, size_t limit)
{
    json_t *asc = scan(txn, all, NULL), *out;
    if (asc == NULL)
        return NULL;
    out = json_array();
    for (size_t i = json_array_size(asc); i-- != 0 && (limit == 0 || json_array_size(out) < limit);)
        json_array_append(out, json_array_get(asc, i));
    json_decref(asc);
    return out;
}

json_t *sy_alerts_unresolved(sy_txn_t *txn, const char *kind)
{
    return scan(txn, 0, kind);
}

typedef struct st_prune_t {
    int64_t before_ms;
    size_t max;
    uint64_t ids[256];
    size_t n;
} prune_t;

static int on_prunable(void *arg, sy_slice_t key, sy_slice_t val)
{
    prune_t *p = arg;
    if (key.len != 9)
        return 0;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    const char *state = json_string_value(json_object_get(doc, "state"));
    json_int_t resolved = json_integer_value(json_object_get(doc, "resolved_at_ms"));
    if (state != NULL && strcmp(state, "resolved") == 0 && resolved != 0 && resolved < p->before_ms)
        p->ids[p->n++] = sy_get_be64((const unsigned char *)key.base + 1);
    json_decref(doc);
    return p->n == p->max || p->n == SY_ARRAY_SIZE(p->ids); /* 1 stops the scan */
}

int sy_alerts_prune(sy_txn_t *txn, int64_t before_ms, size_t max, size_t *pruned)
{
    prune_t p = {.before_ms = before_ms, .max = max};
    *pruned = 0;
    if (max == 0)
        return 0;
    int rc = sy_txn_scan(txn, SY_DB_ALERTS, SY_SLICE_LIT("a"), SY_SLICE_LIT("a"), on_prunable, &p);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i != p.n; ++i) {
        unsigned char k[9];
        /* a resolved alert has no 'k' entry any more (sy_alert_resolve removed it): its 'a' entry is all there is */
        if ((rc = sy_txn_del(txn, SY_DB_ALERTS, id_key(k, p.ids[i]))) != 0 && rc != SY_ENOTFOUND)
            return rc;
    }
    *pruned = p.n;
    return 0;
}

int sy_alerts_prune_notifications(sy_txn_t *txn, int64_t before_ms, size_t max, size_t *pruned)
{
    char names[NOTIFIERS_MAX];
    int rc = notifier_names(txn, names);
    *pruned = 0;
    for (char *save = NULL, *spoke = strtok_r(names, "\n", &save); rc == 0 && spoke != NULL && *pruned < max;
         spoke = strtok_r(NULL, "\n", &save)) {
        size_t n = 0;
        rc = sy_queue_prune_older(txn, spoke, before_ms, max - *pruned, &n);
        *pruned += n;
    }
    return rc;
}

/* --- setup and migration of the pre-issue-13 log ------------------------------------------------------------ */

typedef struct st_legacy_t {
    json_t *entries; /* [[key bytes as string, doc]...] */
} legacy_t;

static int on_legacy(void *arg, sy_slice_t key, sy_slice_t val)
{
    legacy_t *l = arg;
    if (key.len != 8)
        return 0;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    json_array_append_new(l->entries, json_pack("[I, o?]", (json_int_t)sy_get_be64((const unsigned char *)key.base), doc));
    return 0;
}

typedef struct st_setup_t {
    const char *const *names;
    size_t n;
    size_t migrated;
} setup_t;

static int setup_txn(sy_txn_t *txn, setup_t *s)
{
    char names[512];
    size_t len = 0;
    int rc = 0;
    s->migrated = 0;
    for (size_t i = 0; i != s->n; ++i) {
        int w = snprintf(names + len, sizeof(names) - len, "%s%s", i != 0 ? "\n" : "", s->names[i]);
        if (w < 0 || (size_t)w >= sizeof(names) - len)
            return SY_EINVAL;
        len += (size_t)w;
    }
    /* The legacy entries sort before every 'a'/'k' key (their first byte is that of a small be64: 0). */
    legacy_t l = {json_array()};
    rc = sy_txn_scan(txn, SY_DB_ALERTS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_legacy, &l);
    size_t i;
    json_t *e;
    json_array_foreach(l.entries, i, e)
    {
        if (rc < 0)
            break;
        json_t *doc = json_array_get(e, 1);
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        sy_alert_subject_t subj = {json_string_value(json_object_get(doc, "record")),
                                   json_string_value(json_object_get(doc, "source")),
                                   json_string_value(json_object_get(doc, "field"))};
        const char *message = json_string_value(json_object_get(doc, "message"));
        int64_t at = (int64_t)json_integer_value(json_object_get(doc, "at_ms"));
        if (kind != NULL) {
            int opened;
            rc = sy_alert_raise(txn, strcmp(kind, "frozen") == 0 ? "frozen_field" : kind, &subj,
                                message != NULL ? message : "", (uint64_t)json_integer_value(json_object_get(doc, "seq")),
                                1, at, &opened);
        }
        unsigned char lk[8];
        sy_put_be64(lk, (uint64_t)json_integer_value(json_array_get(e, 0)));
        if (rc == 0)
            rc = sy_txn_del(txn, SY_DB_ALERTS, (sy_slice_t){(const char *)lk, 8});
        if (rc == 0)
            ++s->migrated;
    }
    json_decref(l.entries);
    if (rc < 0)
        return rc;
    /* After the migration: the migrated alerts are old news, not sent to the notifiers. */
    return sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("alert_notifiers"), (sy_slice_t){names, len});
}

int sy_alerts_setup(sy_store_t *store, const char *const *notifiers, size_t n, size_t *migrated)
{
    setup_t s = {notifiers, n, 0};
    for (;;) {
        sy_txn_t *txn;
        int rc = sy_txn_begin(store, 1, &txn);
        if (rc != 0)
            return rc;
        if ((rc = setup_txn(txn, &s)) != 0) {
            sy_txn_abort(txn);
        } else {
            rc = sy_txn_commit(txn);
        }
        if (rc == SY_EFULL && sy_store_grow(store) == 1)
            continue;
        if (rc == 0 && migrated != NULL)
            *migrated = s.migrated;
        return rc;
    }
}
