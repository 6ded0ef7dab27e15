#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempts.h"
#include "codec.h"
#include "queue.h"
#include "records.h"

typedef struct st_find_push_t {
    const char *id;
    unsigned char key[16];
    json_t *doc;
} find_push_t;

/* Push ids are decimal (records.c): the id index (queue.h) finds the push without reading the queue. */
static int find_push(sy_txn_t *txn, find_push_t *f)
{
    char *end;
    unsigned long long id;
    if (f->id == NULL || f->id[0] < '0' || f->id[0] > '9' || (id = strtoull(f->id, &end, 10), *end != '\0'))
        return 0; /* not an id we give out: no such push */
    int rc = sy_queue_find(txn, (uint64_t)id, f->key);
    if (rc == SY_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    f->doc = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)f->key, 16});
    return 0;
}

/* "spoke \x1f record": the coalescing (pending) key of a push. */
static sy_slice_t pending_key(char *buf, size_t size, json_t *doc)
{
    int n = snprintf(buf, size, "%s\x1f%s", json_string_value(json_object_get(doc, "spoke")),
                     json_string_value(json_object_get(doc, "record")));
    return (sy_slice_t){buf, n >= 0 && (size_t)n < size ? (size_t)n : size - 1};
}

/* A new revision and the idempotency key derived from it: a provider refuses one key with other parameters, and
 * keeps a refusal under the old key and would replay it. */
static int new_revision(sy_txn_t *txn, json_t *doc)
{
    char idem[128];
    json_int_t revision = json_integer_value(json_object_get(doc, "revision")) + 1;
    int rc = sy_records_idempotency_key(txn, doc, (long long)revision, idem, sizeof(idem));
    if (rc != 0)
        return rc;
    json_object_set_new(doc, "revision", json_integer(revision));
    json_object_set_new(doc, "idempotency_key", json_string(idem));
    return 0;
}

/*
 * Queues doc (a refreshed push) due now under push_id, keeping the coalescing invariant (one queued push per spoke
 * and record): when another push for the same spoke and record is queued already, doc folds into that one, which
 * becomes due now instead, with a new revision (so a copy of it on the wire is sent again when it settles). Its
 * attempts and max-age window start again: an admin asked for this retry. *folded says which happened.
 */
static int queue_now(sy_txn_t *txn, const sy_policy_t *p, json_t *doc, uint64_t push_id, int *folded)
{
    unsigned char key[16], okey[16];
    char pkey[600];
    int64_t now = sy_now_ms();
    json_t *other = NULL;
    sy_slice_t pk = pending_key(pkey, sizeof(pkey), doc), existing;
    int rc, changed;

    *folded = 0;
    if (sy_txn_get(txn, SY_DB_PENDING, pk, &existing) == 0 && existing.len == 16) {
        memcpy(okey, existing.base, 16);
        other = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)okey, 16});
    }
    if (other != NULL) {
        json_object_update(json_object_get(other, "fields"), json_object_get(doc, "fields"));
        json_array_extend(json_object_get(other, "reasons"), json_object_get(doc, "reasons"));
        /* Its own fields were current when the applier last coalesced into it; refreshed anyway, as one push. */
        /* Unindexed before its enqueued_at_ms changes below: the age entry is named by the stored one. */
        if ((rc = sy_records_refresh_push(txn, p, other, &changed)) != 0 || (rc = sy_queue_remove(txn, okey, other)) != 0)
            goto Exit;
        if ((rc = new_revision(txn, other)) != 0)
            goto Exit;
        json_object_set_new(other, "attempts", json_integer(0));
        json_object_set_new(other, "enqueued_at_ms", json_integer(now));
        json_object_set_new(other, "updated_at_ms", json_integer(now));
        /* This push id ends here (folded into the other one): its attempt log goes with it. */
        if (sy_get_be64(okey + 8) != push_id && (rc = sy_attempts_drop(txn, push_id)) != 0)
            goto Exit;
        push_id = sy_get_be64(okey + 8);
        doc = other;
        *folded = 1;
    }
    sy_put_be64(key, (uint64_t)now);
    sy_put_be64(key + 8, push_id);
    json_object_set_new(doc, "due_at_ms", json_integer(now));
    if ((rc = sy_queue_add(txn, key, doc)) == 0)
        rc = sy_txn_put(txn, SY_DB_PENDING, pending_key(pkey, sizeof(pkey), doc), (sy_slice_t){(const char *)key, 16});
Exit:
    json_decref(other);
    return rc;
}

static int queue_change(sy_txn_t *txn, const sy_policy_t *p, const char *push_id, int drop, sy_ops_retry_t *out)
{
    find_push_t f = {.id = push_id};
    char pkey[600];
    sy_slice_t pk, pv;
    int rc, changed, folded;
    int found = find_push(txn, &f);
    if (found < 0) { /* a storage error is not "no such push" */
        json_decref(f.doc);
        return found;
    }
    if (f.doc == NULL)
        return SY_ENOTFOUND;
    if ((rc = sy_queue_remove(txn, f.key, f.doc)) != 0) /* as stored, before any refresh */
        goto Exit;
    /* The coalescing entry goes only if it is this push's (under the record as stored, before any refresh). */
    pk = pending_key(pkey, sizeof(pkey), f.doc);
    if (sy_txn_get(txn, SY_DB_PENDING, pk, &pv) == 0 && pv.len == 16 && memcmp(pv.base, f.key, 16) == 0 &&
        (rc = sy_txn_del(txn, SY_DB_PENDING, pk)) != 0)
        goto Exit;
    if (drop) {
        rc = sy_attempts_drop(txn, sy_get_be64(f.key + 8));
        goto Exit;
    }
    /* Sent as the record is now, never as it was when queued (a stale value would overwrite the tool). */
    if ((rc = sy_records_refresh_push(txn, p, f.doc, &changed)) != 0)
        goto Exit;
    if (json_object_size(json_object_get(f.doc, "fields")) == 0) {
        /* Nothing it carries still has a golden value for that tool: left queued, it would send stale values. */
        ++out->empty;
        goto Exit;
    }
    if (changed && (rc = new_revision(txn, f.doc)) != 0)
        goto Exit;
    if ((rc = queue_now(txn, p, f.doc, sy_get_be64(f.key + 8), &folded)) == 0) {
        ++out->queued;
        out->folded += (size_t)folded;
    }
Exit:
    json_decref(f.doc);
    return rc;
}

int sy_ops_queue_retry(sy_txn_t *txn, const sy_policy_t *p, const char *push_id, sy_ops_retry_t *out)
{
    *out = (sy_ops_retry_t){0};
    return queue_change(txn, p, push_id, 0, out);
}

int sy_ops_queue_drop(sy_txn_t *txn, const char *push_id)
{
    sy_ops_retry_t ignored = {0};
    return queue_change(txn, NULL, push_id, 1, &ignored);
}

typedef struct st_revive_t {
    const char *id; /* NULL: all */
    json_t *found;  /* [[push id, doc], ...] collected first: no writes while the scan's cursor walks the DB */
} revive_t;

static int on_revive(void *arg, sy_slice_t key, sy_slice_t val)
{
    revive_t *r = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc == NULL || key.len != 8 || (r->id != NULL && strcmp(json_string_value(json_object_get(doc, "id")), r->id) != 0)) {
        json_decref(doc);
        return 0;
    }
    json_array_append_new(r->found, json_pack("[I, o]", (json_int_t)sy_get_be64((const unsigned char *)key.base), doc));
    return r->id != NULL;
}

static int revive(sy_txn_t *txn, const sy_policy_t *p, json_t *entry, sy_ops_retry_t *out)
{
    uint64_t push_id = (uint64_t)json_integer_value(json_array_get(entry, 0));
    json_t *doc = json_array_get(entry, 1);
    unsigned char kb[8];
    int rc, changed, folded;
    /* The record may have changed while the push lay here: send its current values, never the stored ones. */
    if ((rc = sy_records_refresh_push(txn, p, doc, &changed)) != 0)
        return rc;
    if (json_object_size(json_object_get(doc, "fields")) == 0) {
        ++out->empty; /* nothing left to send: the dead letter stays, with the answer it got, for an admin to read */
        return 0;
    }
    json_object_del(doc, "died_at_ms");
    json_object_del(doc, "reason");
    json_object_del(doc, "response");
    json_object_set_new(doc, "attempts", json_integer(0));
    json_object_set_new(doc, "enqueued_at_ms", json_integer(sy_now_ms())); /* a fresh max-age window */
    if ((rc = new_revision(txn, doc)) != 0)
        return rc;
    sy_put_be64(kb, push_id);
    if ((rc = queue_now(txn, p, doc, push_id, &folded)) != 0)
        return rc;
    ++out->queued;
    out->folded += (size_t)folded;
    if ((rc = sy_txn_del(txn, SY_DB_DEAD, (sy_slice_t){(const char *)kb, 8})) != 0)
        return rc;
    return sy_queue_dead_add(txn, json_string_value(json_object_get(doc, "spoke")), -1);
}

int sy_ops_dead_retry(sy_txn_t *txn, const sy_policy_t *p, const char *push_id, sy_ops_retry_t *out)
{
    revive_t r = {.id = push_id, .found = json_array()};
    size_t i;
    json_t *entry;
    unsigned char kb[8];
    char *end;
    unsigned long long id = 0;
    int scanned = 0;
    if (push_id == NULL) {
        scanned = sy_txn_scan(txn, SY_DB_DEAD, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_revive, &r);
    } else if (push_id[0] >= '0' && push_id[0] <= '9' && (id = strtoull(push_id, &end, 10), *end == '\0')) {
        /* dead is keyed by the push id: one lookup, not a scan under the write lock */
        sy_slice_t v;
        sy_put_be64(kb, (uint64_t)id);
        if ((scanned = sy_txn_get(txn, SY_DB_DEAD, (sy_slice_t){(const char *)kb, 8}, &v)) == 0)
            on_revive(&r, (sy_slice_t){(const char *)kb, 8}, v);
        else if (scanned == SY_ENOTFOUND)
            scanned = 0;
    }
    int rc = scanned < 0 ? scanned : 0;
    size_t found = json_array_size(r.found);
    *out = (sy_ops_retry_t){0};
    json_array_foreach(r.found, i, entry)
    {
        if (rc == 0)
            rc = revive(txn, p, entry, out);
    }
    json_decref(r.found);
    return rc != 0 ? rc : found == 0 ? SY_ENOTFOUND : 0;
}

int sy_ops_dead_drop(sy_txn_t *txn, const char *push_id)
{
    unsigned char kb[8];
    char *end;
    unsigned long long id;
    if (push_id == NULL || push_id[0] < '0' || push_id[0] > '9' || (id = strtoull(push_id, &end, 10), *end != '\0'))
        return SY_ENOTFOUND; /* not an id we give out */
    sy_put_be64(kb, (uint64_t)id);
    sy_slice_t key = {(const char *)kb, 8};
    json_t *doc = sy_doc_get(txn, SY_DB_DEAD, key);
    if (doc == NULL) { /* absent, or unreadable: tell the two apart */
        sy_slice_t v;
        int rc = sy_txn_get(txn, SY_DB_DEAD, key, &v);
        if (rc != 0)
            return rc;
    }
    int rc = sy_txn_del(txn, SY_DB_DEAD, key);
    if (rc == 0 && doc != NULL)
        rc = sy_queue_dead_add(txn, json_string_value(json_object_get(doc, "spoke")), -1);
    if (rc == 0)
        rc = sy_attempts_drop(txn, (uint64_t)id);
    json_decref(doc);
    return rc;
}

typedef struct st_lister_t {
    json_t *list;
    size_t limit;
} lister_t;

static int on_list(void *arg, sy_slice_t key, sy_slice_t val)
{
    lister_t *l = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc != NULL)
        json_array_append_new(l->list, doc);
    return l->limit != 0 && json_array_size(l->list) >= l->limit;
}

json_t *sy_ops_list(sy_txn_t *txn, sy_db_t db, size_t limit)
{
    lister_t l = {json_array(), limit};
    if (sy_txn_scan(txn, db, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_list, &l) < 0) {
        json_decref(l.list); /* part of a list would pass for all of it */
        return NULL;
    }
    return l.list;
}

/* --- health ------------------------------------------------------------------------------------------------ */

typedef struct st_health_t {
    const sy_policy_t *policy;
    const sy_config_t *conf; /* the tools' roles (connector->role), by source name */
    json_t *duplicates, *double_billing, *suggestions, *missing, *unmatched_invoices;
    uint64_t records, complete, connected, complete_and_connected, unmatched_billing;
    /* The founder's figures (revenue_doc): accounts whose golden subscription_status is paying, and the sum of their
     * golden mrr; SY_POLICY_NONE when the policy has no such field. */
    size_t status_field, mrr_field;
    uint64_t paying, paying_without_mrr;
    long long mrr_sum;
    char last_key[512];
    json_t *group; /* records sharing the current weak key */
} health_t;

static int is_billing(const char *status)
{
    return strcmp(status, "active") == 0 || strcmp(status, "trialing") == 0 || strcmp(status, "past_due") == 0;
}

static int on_health_record(void *arg, sy_slice_t key, sy_slice_t val)
{
    health_t *h = arg;
    json_t *rec = sy_codec_doc_decode(val.base, val.len);
    const char *source, *sub;
    json_t *ids, *st;
    if (rec == NULL || json_object_get(rec, "merged_into") != NULL)
        goto Exit;
    const char *id = json_string_value(json_object_get(rec, "id"));
    ++h->records;
    json_object_foreach(json_object_get(rec, "xrefs"), source, ids)
    {
        if (json_array_size(ids) > 1)
            json_array_append_new(h->duplicates, json_pack("{s:s, s:s, s:O}", "record", id, "source", source, "ids", ids));
    }
    json_t *billing = json_array();
    json_object_foreach(json_object_get(rec, "subscriptions"), sub, st)
    {
        if (is_billing(json_string_value(json_array_get(st, 0))))
            json_array_append_new(billing, json_string(sub));
    }
    /* Open invoices of an accounting tool (QuickBooks): on a record no billing tool knows, they are unmatched; on a
     * record that also pays a subscription, the customer is billed by two tools. */
    json_t *open_invoices = json_array(), *inv;
    const char *ikey;
    int has_billing_tool = 0;
    json_object_foreach(json_object_get(rec, "xrefs"), source, ids)
        has_billing_tool |= json_array_size(ids) != 0 && sy_config_source_role(h->conf, source) == SY_ROLE_BILLING;
    json_object_foreach(json_object_get(rec, "invoices"), ikey, inv)
    {
        const char *colon = strchr(ikey, ':');
        char tool[80];
        snprintf(tool, sizeof(tool), "%.*s", colon != NULL ? (int)(colon - ikey) : 0, ikey);
        if (strcmp(json_string_value(json_array_get(inv, 0)) != NULL ? json_string_value(json_array_get(inv, 0)) : "",
                   "open") == 0 && sy_config_source_role(h->conf, tool) == SY_ROLE_ACCOUNTING)
            json_array_append_new(open_invoices, json_string(ikey));
    }
    if (json_array_size(billing) > 1)
        json_array_append_new(h->double_billing, json_pack("{s:s, s:O, s:s}", "record", id, "subscriptions", billing,
                                                           "reason", "two active subscriptions"));
    else if (json_array_size(billing) == 1 && json_array_size(open_invoices) != 0)
        json_array_append_new(h->double_billing, json_pack("{s:s, s:O, s:O, s:s}", "record", id, "subscriptions", billing,
                                                           "invoices", open_invoices, "reason",
                                                           "a subscription and open invoices of another tool"));
    if (json_array_size(open_invoices) != 0 && !has_billing_tool)
        json_array_append_new(h->unmatched_invoices, json_pack("{s:s, s:O}", "record", id, "invoices", open_invoices));
    json_decref(open_invoices);
    json_decref(billing);
    int complete = 1;
    for (size_t i = 0; h->policy != NULL && i != h->policy->num_fields; ++i) {
        const sy_policy_field_t *f = &h->policy->fields[i];
        const char *v = json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), f->name), "value"));
        if (f->required && (v == NULL || v[0] == '\0')) {
            complete = 0;
            json_t *n = json_object_get(h->missing, f->name);
            json_object_set_new(h->missing, f->name, json_integer(json_integer_value(n) + 1));
        }
    }
    h->complete += complete;
    if (h->status_field != SY_POLICY_NONE) {
        json_t *fields = json_object_get(rec, "fields");
        const char *status = json_string_value(json_object_get(json_object_get(fields, "subscription_status"), "value"));
        if (status != NULL && (strcmp(status, "active") == 0 || strcmp(status, "past_due") == 0)) {
            const char *mrr = json_string_value(json_object_get(json_object_get(fields, "mrr"), "value"));
            char *end = NULL;
            long long v = mrr != NULL && mrr[0] != '\0' ? strtoll(mrr, &end, 10) : 0;
            ++h->paying;
            if (h->mrr_field != SY_POLICY_NONE && end != NULL && *end == '\0' && v >= 0)
                h->mrr_sum += v;
            else
                ++h->paying_without_mrr; /* no value, or not a whole number of minor units */
        }
    }
    /* Connected: the customer is known to two tools or more (e.g. CRM and billing), so values can flow. */
    size_t tools = 0;
    int has_billing = json_object_size(json_object_get(rec, "subscriptions")) != 0, has_crm = 0;
    json_object_foreach(json_object_get(rec, "xrefs"), source, ids)
    {
        if (json_array_size(ids) == 0)
            continue;
        ++tools;
        has_crm |= sy_config_source_role(h->conf, source) != SY_ROLE_BILLING;
    }
    if (json_object_get(json_object_get(rec, "fields"), "payment_state") != NULL)
        has_billing = 1;
    h->connected += tools >= 2;
    h->complete_and_connected += complete && tools >= 2;
    /* Unmatched billing: invoices or subscriptions on a customer no CRM object is linked to. */
    h->unmatched_billing += has_billing && !has_crm;
Exit:
    json_decref(rec);
    return 0;
}

/* suggest keys are K \x1f value \x1f record: consecutive keys with the same K \x1f value form a group. */
static void flush_group(health_t *h)
{
    if (json_array_size(h->group) > 1) {
        const char *sep = strchr(h->last_key, '\x1f');
        json_array_append_new(h->suggestions, json_pack("{s:s#, s:s, s:O}", "key", h->last_key, (int)(sep - h->last_key),
                                                        "value", sep + 1, "records", h->group));
    }
    /* The report holds a reference to this group: start a new one rather than clearing it. */
    json_decref(h->group);
    h->group = json_array();
}

static int on_suggest(void *arg, sy_slice_t key, sy_slice_t val)
{
    health_t *h = arg;
    const char *last = NULL;
    for (size_t i = 0; i != key.len; ++i)
        if (key.base[i] == '\x1f')
            last = key.base + i;
    if (last == NULL || (size_t)(last - key.base) >= sizeof(h->last_key))
        return 0;
    size_t plen = (size_t)(last - key.base);
    if (strlen(h->last_key) != plen || memcmp(h->last_key, key.base, plen) != 0) {
        flush_group(h);
        memcpy(h->last_key, key.base, plen);
        h->last_key[plen] = '\0';
    }
    json_array_append_new(h->group, json_stringn(last + 1, key.len - plen - 1));
    return 0;
}

/* Per-field conflict and revert counters: stat:conflicts:<field>, stat:reverts:<field>. */
static json_t *per_field(sy_txn_t *txn, const sy_policy_t *p)
{
    json_t *o = json_object();
    char name[300];
    uint64_t v;
    for (size_t fi = 0; p != NULL && fi != p->num_fields; ++fi) {
        json_t *f = json_object();
        snprintf(name, sizeof(name), "stat:conflicts:%s", p->fields[fi].name);
        sy_meta_get_u64(txn, name, &v);
        json_object_set_new(f, "conflicts", json_integer((json_int_t)v));
        snprintf(name, sizeof(name), "stat:reverts:%s", p->fields[fi].name);
        sy_meta_get_u64(txn, name, &v);
        json_object_set_new(f, "reverts", json_integer((json_int_t)v));
        json_object_set_new(o, p->fields[fi].name, f);
    }
    return o;
}

static void health_dispose(health_t *h)
{
    json_decref(h->duplicates);
    json_decref(h->double_billing);
    json_decref(h->unmatched_invoices);
    json_decref(h->suggestions);
    json_decref(h->missing);
    json_decref(h->group);
}

/*
 * "revenue": what a founder asks first. Paying accounts are golden records whose subscription_status is active or
 * past_due (still billed; trialing is not paying yet); MRR is the sum of their golden mrr, in the currency's minor
 * unit as the policy maps it (the example: Stripe's price unit_amount of the subscription's first item, so a yearly
 * price or a quantity above 1 is not turned into a monthly figure, and currencies are not told apart). A policy
 * without those fields gets "mapped": false and null figures rather than a made-up zero.
 */
static json_t *revenue_doc(const health_t *h)
{
    int status = h->status_field != SY_POLICY_NONE, mrr = status && h->mrr_field != SY_POLICY_NONE;
    return json_pack("{s:{s:b, s:b}, s:o, s:o, s:o, s:s, s:s}", "mapped", "subscription_status", status, "mrr",
                     h->mrr_field != SY_POLICY_NONE, "paying_accounts",
                     status ? json_integer((json_int_t)h->paying) : json_null(), "mrr_minor",
                     mrr ? json_integer((json_int_t)h->mrr_sum) : json_null(), "paying_without_mrr",
                     mrr ? json_integer((json_int_t)h->paying_without_mrr) : json_null(), "paying_statuses",
                     "active, past_due", "mrr_unit", "minor currency unit (cents), as the policy maps mrr");
}

static void health_fields(health_t *h, const sy_policy_t *p)
{
    h->status_field = p != NULL ? sy_policy_field_index(p, "subscription_status") : SY_POLICY_NONE;
    h->mrr_field = p != NULL ? sy_policy_field_index(p, "mrr") : SY_POLICY_NONE;
}

/* The report from what the scans gathered plus the small figures read in txn. Takes h's arrays. */
static json_t *health_doc(sy_txn_t *txn, const sy_policy_t *p, health_t *h)
{
    uint64_t cursor = 0, last = 0, queued = 0, dead = 0;
    sy_meta_get_u64(txn, "applier_cursor", &cursor);
    sy_store_last_seq(txn, &last);
    sy_txn_count(txn, SY_DB_OUTBOX, &queued);
    sy_txn_count(txn, SY_DB_DEAD, &dead);
    json_decref(h->group);
    double score = h->records != 0 ? (double)h->complete_and_connected / (double)h->records : 1.0;
    json_t *doc = json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:{s:I, s:I}, s:I, s:I}",
                     "records", (json_int_t)h->records, "complete_records", (json_int_t)h->complete, "connected_records",
                     (json_int_t)h->connected, "complete_share",
                     h->records != 0 ? (double)h->complete / (double)h->records : 1.0, "score", score, "target", 0.95,
                     "duplicates", h->duplicates, "double_billing", h->double_billing, "merge_suggestions",
                     h->suggestions, "missing_fields", h->missing, "unmatched_billing", (json_int_t)h->unmatched_billing,
                     "unmatched_invoices", h->unmatched_invoices,
                     "counters", sy_records_stats(txn), "per_field", per_field(txn, p), "applier", "cursor",
                     (json_int_t)cursor, "lag", (json_int_t)(last - cursor), "queued_pushes", (json_int_t)queued,
                     "dead_letters", (json_int_t)dead);
    if (doc != NULL)
        json_object_set_new(doc, "revenue", revenue_doc(h));
    return doc;
}

json_t *sy_health_report(sy_txn_t *txn, const sy_policy_t *p, const sy_config_t *conf)
{
    health_t h = {.policy = p, .conf = conf, .duplicates = json_array(), .double_billing = json_array(), .unmatched_invoices = json_array(), .suggestions = json_array(),
                  .missing = json_object(), .group = json_array()};
    health_fields(&h, p);
    int rc = sy_txn_scan(txn, SY_DB_RECORDS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_health_record, &h);
    if (rc >= 0)
        rc = sy_txn_scan(txn, SY_DB_SUGGEST, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_suggest, &h);
    flush_group(&h);
    if (rc < 0) { /* figures from part of the records would be wrong, not just incomplete */
        health_dispose(&h);
        return NULL;
    }
    return health_doc(txn, p, &h);
}

/* --- the same report in short read transactions (health_cache.c) ------------------------------------------- */

#define HEALTH_CHUNK 2000 /* entries per read transaction */

typedef struct st_chunk_t {
    health_t *h;
    int (*cb)(void *arg, sy_slice_t key, sy_slice_t val);
    size_t n;
    int more;            /* stopped at next[]: the first entry of the next chunk */
    char next[512];      /* LMDB keys are at most 511 bytes */
    size_t next_len;
} chunk_t;

static int on_chunk(void *arg, sy_slice_t key, sy_slice_t val)
{
    chunk_t *c = arg;
    if (c->n == HEALTH_CHUNK && key.len <= sizeof(c->next)) {
        memcpy(c->next, key.base, key.len);
        c->next_len = key.len;
        c->more = 1;
        return 1;
    }
    ++c->n;
    return c->cb(c->h, key, val);
}

json_t *sy_health_report_chunked(sy_store_t *store, const sy_policy_t *p, const sy_config_t *conf)
{
    health_t h = {.policy = p, .conf = conf, .duplicates = json_array(), .double_billing = json_array(), .unmatched_invoices = json_array(), .suggestions = json_array(),
                  .missing = json_object(), .group = json_array()};
    health_fields(&h, p);
    static const sy_db_t dbs[] = {SY_DB_RECORDS, SY_DB_SUGGEST};
    int (*const cbs[])(void *, sy_slice_t, sy_slice_t) = {on_health_record, on_suggest};
    sy_txn_t *txn;
    int rc = 0;
    chunk_t c = {.h = &h};
    for (size_t d = 0; d != 2 && rc >= 0; ++d) {
        c.cb = cbs[d];
        c.next_len = 0;
        do {
            /* A fresh read transaction per chunk: a grow (which waits for every reader) waits for one chunk at
             * most, never for the whole scan. The price: a record changed between chunks is seen as it was or as it
             * is, not both at one instant; a health report is a picture over the scan's duration. */
            if ((rc = sy_txn_begin(store, 0, &txn)) != 0)
                break;
            c.n = 0;
            c.more = 0;
            char from[512];
            size_t from_len = c.next_len;
            memcpy(from, c.next, from_len);
            rc = sy_txn_scan(txn, dbs[d], (sy_slice_t){from, from_len}, (sy_slice_t){"", 0}, on_chunk, &c);
            sy_txn_abort(txn);
        } while (rc >= 0 && c.more);
    }
    flush_group(&h);
    if (rc < 0 || (rc = sy_txn_begin(store, 0, &txn)) != 0) {
        health_dispose(&h);
        return NULL;
    }
    json_t *doc = health_doc(txn, p, &h);
    sy_txn_abort(txn);
    return doc;
}
