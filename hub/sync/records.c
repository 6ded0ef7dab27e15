/*
 * Golden records: identity resolution and the ownership policy (see records.h for the storage layout).
 *
 * The golden value of a field is derived from what its owners last said: every observation is kept per tool
 * object ("observed"), and the value of a field is the newest value of its first owner (in policy order) that has
 * a non-empty one. Everything that decides uses provider times (versions), never the wall clock, so applying the
 * same log twice, or after a crash, gives the same records and the same pushes.
 */
#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "codec.h"
#include "crypto.h"
#include "log.h"
#include "queue.h"

#define SEP "\x1f"
#define ID_PREFIX "cust_"
#define KEY_MAX 1024
/* LMDB refuses keys over 511 bytes (SY_ETOOBIG): an identity value too long for an index key is not indexed. */
#define INDEX_KEY_MAX 511

/* --- small storage helpers ---------------------------------------------------------------------------- */

/*
 * a, sep, b into buf (cap bytes, NUL-terminated), cut at cap - 1 bytes exactly as snprintf("%s<sep>%s") cuts it; the
 * length written. Keys are made several times per field of every event: snprintf was a tenth of the applier.
 */
static size_t join(char *buf, size_t cap, const char *a, char sep, const char *b)
{
    size_t n = strnlen(a, cap - 1);
    memcpy(buf, a, n);
    if (n != cap - 1)
        buf[n++] = sep;
    size_t m = strnlen(b, cap - 1 - n);
    memcpy(buf + n, b, m);
    buf[n + m] = '\0';
    return n + m;
}

static sy_slice_t key2(char *buf, const char *a, const char *b)
{
    return (sy_slice_t){buf, join(buf, KEY_MAX, a, SEP[0], b)};
}

/* snprintf(buf, cap, "%s", s) */
static void copy_str(char *buf, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
}

json_t *sy_doc_get(sy_txn_t *txn, sy_db_t db, sy_slice_t key)
{
    sy_slice_t v;
    if (sy_txn_get(txn, db, key, &v) != 0)
        return NULL;
    return sy_codec_doc_decode(v.base, v.len);
}

int sy_doc_put(sy_txn_t *txn, sy_db_t db, sy_slice_t key, const json_t *doc)
{
    sy_slice_t v;
    int rc = sy_codec_doc_encode_scratch(doc, &v); /* LMDB copies the value: the buffer is free again after */
    return rc != 0 ? rc : sy_txn_put(txn, db, key, v);
}

/* A record or queued push in the applying transaction: through ctx->cache when there is one. New reference. */
static json_t *ctx_doc_get(sy_apply_ctx_t *ctx, sy_db_t db, sy_slice_t key)
{
    return ctx->cache != NULL ? sy_doc_cache_get(ctx->cache, ctx->txn, db, key) : sy_doc_get(ctx->txn, db, key);
}

static int ctx_doc_put(sy_apply_ctx_t *ctx, sy_db_t db, sy_slice_t key, json_t *doc)
{
    return ctx->cache != NULL ? sy_doc_cache_put(ctx->cache, ctx->txn, db, key, doc) : sy_doc_put(ctx->txn, db, key, doc);
}

int sy_records_flush(sy_apply_ctx_t *ctx)
{
    return ctx->cache != NULL ? sy_doc_cache_flush(ctx->cache, ctx->txn) : 0;
}

/* A value stored as a plain string (xref, match). Malloc'd or NULL. */
static char *load_str(sy_txn_t *txn, sy_db_t db, sy_slice_t key)
{
    sy_slice_t v;
    if (sy_txn_get(txn, db, key, &v) != 0)
        return NULL;
    return strndup(v.base, v.len);
}

static int put_str(sy_txn_t *txn, sy_db_t db, sy_slice_t key, const char *s)
{
    return sy_txn_put(txn, db, key, sy_slice_cstr(s));
}

int sy_meta_get_u64(sy_txn_t *txn, const char *name, uint64_t *v)
{
    sy_slice_t val;
    *v = 0;
    int rc = sy_txn_get(txn, SY_DB_META, sy_slice_cstr(name), &val);
    if (rc == SY_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (val.len != 8)
        return SY_EIO;
    *v = sy_get_be64((const unsigned char *)val.base);
    return 0;
}

int sy_meta_put_u64(sy_txn_t *txn, const char *name, uint64_t v)
{
    unsigned char buf[8];
    sy_put_be64(buf, v);
    return sy_txn_put(txn, SY_DB_META, sy_slice_cstr(name), (sy_slice_t){(const char *)buf, 8});
}

static int next_counter(sy_txn_t *txn, const char *name, uint64_t *out)
{
    int rc = sy_meta_get_u64(txn, name, out);
    if (rc != 0)
        return rc;
    *out += 1;
    return sy_meta_put_u64(txn, name, *out);
}

int sy_records_instance_id(sy_txn_t *txn, char out[SY_INSTANCE_ID_LEN + 1])
{
    sy_slice_t v;
    int rc = sy_txn_get(txn, SY_DB_META, SY_SLICE_LIT("instance_id"), &v);
    if (rc == 0 && v.len == SY_INSTANCE_ID_LEN) {
        memcpy(out, v.base, SY_INSTANCE_ID_LEN);
        out[SY_INSTANCE_ID_LEN] = '\0';
        return 0;
    }
    if (rc != 0 && rc != SY_ENOTFOUND)
        return rc;
    unsigned char raw[SY_INSTANCE_ID_LEN / 2];
    if (sy_random_bytes(raw, sizeof(raw)) != 0)
        return SY_EIO;
    sy_hex_encode(raw, sizeof(raw), out);
    return sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("instance_id"), (sy_slice_t){out, SY_INSTANCE_ID_LEN});
}

/* The instance id through ctx: read once per ctx (one transaction), not at every push. */
static int ctx_instance_id(sy_apply_ctx_t *ctx, char out[SY_INSTANCE_ID_LEN + 1])
{
    if (ctx->instance_id[0] == '\0') {
        int rc = sy_records_instance_id(ctx->txn, ctx->instance_id);
        if (rc != 0) {
            ctx->instance_id[0] = '\0';
            return rc;
        }
    }
    memcpy(out, ctx->instance_id, SY_INSTANCE_ID_LEN + 1);
    return 0;
}

/*
 * "sy-<instance>-<digest>": the digest (24 hex digits of SHA-256) covers what the push sends and where: spoke,
 * record, the log seq of the last event folded into it, its fields and the salt. Every input is the same on every
 * hub of a cluster that applied the same log (its seqs are the stream's order, the instance id is the cluster's):
 * so a push that a new lease holder makes again carries the key the old holder sent it with, and the tool replays
 * instead of writing twice. It changes whenever what is sent changes (a provider refuses one key with other
 * parameters); the salt (a revision) gives a push a new key where the contents stay but the request must be new.
 */
static int format_idempotency_key(const char *inst, const json_t *push, long long salt, char *out, size_t len)
{
    char seq[24], saltbuf[24];
    unsigned char digest[SY_SHA256_LEN];
    char hex[SY_SHA256_LEN * 2 + 1];
    /* json_dumpb into our own memory: during a batch jansson allocates from the applier's arena (arena.h). */
    char stack[4096], *fields = stack;
    const json_t *fv = json_object_get(push, "fields");
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    size_t n = json_dumpb(fv, stack, sizeof(stack), flags);
    if (n >= sizeof(stack)) {
        if ((fields = malloc(n + 1)) == NULL)
            return SY_ENOMEM;
        n = json_dumpb(fv, fields, n, flags);
    }
    const char *spoke = json_string_value(json_object_get(push, "spoke"));
    const char *record = json_string_value(json_object_get(push, "record"));
    snprintf(seq, sizeof(seq), "%lld", (long long)json_integer_value(json_object_get(push, "seq")));
    snprintf(saltbuf, sizeof(saltbuf), "%lld", salt);
    sy_slice_t parts[] = {sy_slice_cstr(spoke != NULL ? spoke : ""), SY_SLICE_LIT("\x1f"),
                          sy_slice_cstr(record != NULL ? record : ""), SY_SLICE_LIT("\x1f"), sy_slice_cstr(seq),
                          SY_SLICE_LIT("\x1f"), (sy_slice_t){fields, n}, SY_SLICE_LIT("\x1f"), sy_slice_cstr(saltbuf)};
    int rc = sy_sha256(parts, SY_ARRAY_SIZE(parts), digest);
    if (fields != stack)
        free(fields);
    if (rc != 0)
        return SY_EIO;
    sy_hex_encode(digest, 12, hex);
    hex[24] = '\0';
    if (len != 0)
        snprintf(out, len, "sy-%s-%s", inst, hex);
    return 0;
}

int sy_records_idempotency_key(sy_txn_t *txn, const json_t *push, long long salt, char *out, size_t len)
{
    char inst[SY_INSTANCE_ID_LEN + 1];
    int rc = sy_records_instance_id(txn, inst);
    return rc != 0 ? rc : format_idempotency_key(inst, push, salt, out, len);
}

static int ctx_idempotency_key(sy_apply_ctx_t *ctx, const json_t *push, char *out, size_t len)
{
    char inst[SY_INSTANCE_ID_LEN + 1];
    int rc = ctx_instance_id(ctx, inst);
    return rc != 0 ? rc : format_idempotency_key(inst, push, 0, out, len);
}

/* Appends a document to a be64-keyed log DB (audit). */
static int append_log(sy_txn_t *txn, sy_db_t db, const char *counter, json_t *doc)
{
    uint64_t n;
    unsigned char key[8];
    int rc = next_counter(txn, counter, &n);
    if (rc == 0) {
        sy_put_be64(key, n);
        rc = sy_doc_put(txn, db, (sy_slice_t){(const char *)key, 8}, doc);
    }
    json_decref(doc);
    return rc;
}

/* --- records ------------------------------------------------------------------------------------------ */

static int save_record(sy_txn_t *txn, json_t *rec)
{
    return sy_doc_put(txn, SY_DB_RECORDS, sy_slice_cstr(json_string_value(json_object_get(rec, "id"))), rec);
}

static int ctx_save_record(sy_apply_ctx_t *ctx, json_t *rec)
{
    return ctx_doc_put(ctx, SY_DB_RECORDS, sy_slice_cstr(json_string_value(json_object_get(rec, "id"))), rec);
}

/* The record id names, following merges from one record to the next (bounded: a chain longer than this is
 * corrupt); load(arg, id) reads one record as stored (a new reference, NULL when absent). */
static json_t *follow_merges(const char *id, json_t *(*load)(void *arg, const char *id), void *arg)
{
    char cur[128];
    copy_str(cur, sizeof(cur), id);
    for (int hops = 0; hops != 16; ++hops) {
        json_t *rec = load(arg, cur);
        const char *next = json_string_value(json_object_get(rec, "merged_into"));
        if (rec == NULL || next == NULL)
            return rec;
        copy_str(cur, sizeof(cur), next);
        json_decref(rec);
    }
    return NULL;
}

static json_t *load_cached(void *arg, const char *id)
{
    return ctx_doc_get(arg, SY_DB_RECORDS, sy_slice_cstr(id));
}

/* sy_records_load through ctx (its cache, when it has one). */
static json_t *ctx_load_record(sy_apply_ctx_t *ctx, const char *id)
{
    return follow_merges(id, load_cached, ctx);
}

json_t *sy_records_load(sy_txn_t *txn, const char *id)
{
    sy_apply_ctx_t ctx = {.txn = txn};
    return ctx_load_record(&ctx, id);
}

typedef struct st_partial_t {
    sy_txn_t *txn;
    const char *const *const *paths;
    size_t num_paths;
} partial_t;

static json_t *load_partial(void *arg, const char *id)
{
    partial_t *p = arg;
    sy_slice_t v;
    if (sy_txn_get(p->txn, SY_DB_RECORDS, sy_slice_cstr(id), &v) != 0)
        return NULL;
    return sy_codec_doc_decode_paths(v.base, v.len, p->paths, p->num_paths);
}

json_t *sy_records_load_paths(sy_txn_t *txn, const char *id, const char *const *const *paths, size_t num_paths)
{
    static const char *const merged[] = {"merged_into", NULL};
    const char *const *all[8];
    if (num_paths + 1 > SY_ARRAY_SIZE(all))
        return NULL;
    memcpy(all, paths, num_paths * sizeof(*paths));
    all[num_paths] = merged; /* to follow merges */
    partial_t p = {txn, all, num_paths + 1};
    return follow_merges(id, load_partial, &p);
}

static json_t *new_record(sy_apply_ctx_t *ctx, int *rc)
{
    uint64_t n;
    char id[64];
    if ((*rc = next_counter(ctx->txn, "next_record", &n)) != 0)
        return NULL;
    snprintf(id, sizeof(id), ID_PREFIX "%llu", (unsigned long long)n);
    ++ctx->stats->records_created;
    return json_pack("{s:s, s:I, s:I, s:{}, s:{}, s:{}, s:{}, s:{}, s:{}}", "id", id, "created_at_ms",
                     (json_int_t)ctx->now_ms, "created_seq", (json_int_t)ctx->seq, "fields", "observed", "xrefs",
                     "subscriptions", "frozen", "reverts");
}

static const char *rec_id(json_t *rec)
{
    return json_string_value(json_object_get(rec, "id"));
}

/* Adds source:ext to the record's xrefs (no duplicates) and points the xref key at it. */
static int attach_xref(sy_txn_t *txn, json_t *rec, const char *source, const char *ext)
{
    char key[KEY_MAX];
    json_t *xrefs = json_object_get(rec, "xrefs"), *list = json_object_get(xrefs, source);
    if (list == NULL) {
        list = json_array();
        json_object_set_new(xrefs, source, list);
    }
    size_t i;
    json_t *v;
    int found = 0;
    json_array_foreach(list, i, v) found |= strcmp(json_string_value(v), ext) == 0;
    if (!found)
        json_array_append_new(list, json_string(ext));
    /* Every event of a known object comes here with the link it already has: rewriting the same value would only
     * dirty an LMDB page for the commit to write. */
    sy_slice_t k = key2(key, source, ext), cur;
    const char *id = rec_id(rec);
    if (sy_txn_get(txn, SY_DB_XREF, k, &cur) == 0 && cur.len == strlen(id) && memcmp(cur.base, id, cur.len) == 0)
        return 0;
    return put_str(txn, SY_DB_XREF, k, id);
}

/* --- the golden value ------------------------------------------------------------------------------------ */

/*
 * json_pack("[s, I, I]", value, a, b) and json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", ...) for a field's state,
 * built directly: they run for every field of every event, and parsing the format was most of their cost. The same
 * tree, and NULL where json_pack fails (a NULL or invalid UTF-8 string).
 */
static json_t *obs_entry(const char *value, int64_t version, int64_t seq)
{
    json_t *s = json_string(value), *a = s != NULL ? json_array() : NULL;
    if (a == NULL) {
        json_decref(s);
        return NULL;
    }
    json_array_append_new(a, s);
    json_array_append_new(a, json_integer((json_int_t)version));
    json_array_append_new(a, json_integer((json_int_t)seq));
    return a;
}

static json_t *field_state(const char *value, const char *source, const char *xref, int64_t version, int64_t updated,
                           int64_t seq, const char *policy)
{
    json_t *v = json_string(value), *s = json_string(source), *x = json_string(xref), *p = json_string(policy), *o = NULL;
    if (v != NULL && s != NULL && x != NULL && p != NULL && (o = json_object()) != NULL) {
        json_object_set_new_nocheck(o, "value", v);
        json_object_set_new_nocheck(o, "source", s);
        json_object_set_new_nocheck(o, "xref", x);
        json_object_set_new_nocheck(o, "version_ms", json_integer((json_int_t)version));
        json_object_set_new_nocheck(o, "updated_at_ms", json_integer((json_int_t)updated));
        json_object_set_new_nocheck(o, "seq", json_integer((json_int_t)seq));
        json_object_set_new_nocheck(o, "policy", p);
        return o;
    }
    json_decref(v);
    json_decref(s);
    json_decref(x);
    json_decref(p);
    return NULL;
}

typedef struct st_candidate_t {
    const char *value; /* borrowed from the record */
    const char *xref;
    size_t source;
    int64_t version;
    int64_t seq;
} candidate_t;

/*
 * Versions order totally: provider time, then log seq. Stripe's `created` has one-second resolution, so two
 * changes of one object often share a time; the log seq breaks the tie the same way on every pass, and an event
 * met again (a replay) compares equal to itself, so it changes nothing. Observations are [value, version_ms, seq]
 * (entries written before seq was kept have none: 0, older than any event of the same time).
 */
static int version_cmp(int64_t version_a, int64_t seq_a, int64_t version_b, int64_t seq_b)
{
    if (version_a != version_b)
        return version_a < version_b ? -1 : 1;
    return seq_a < seq_b ? -1 : seq_a > seq_b;
}

/* The newest observation of field by any object of source; 1 if there is one. */
static int newest_of_source(const sy_policy_t *p, json_t *rec, size_t source, const char *field, candidate_t *out)
{
    const char *xref;
    json_t *fields;
    size_t nl = strlen(p->sources[source].name);
    int found = 0;
    json_object_foreach(json_object_get(rec, "observed"), xref, fields)
    {
        if (strncmp(xref, p->sources[source].name, nl) != 0 || xref[nl] != ':')
            continue;
        json_t *obs = json_object_get(fields, field);
        if (!json_is_array(obs))
            continue;
        int64_t version = json_integer_value(json_array_get(obs, 1)), seq = json_integer_value(json_array_get(obs, 2));
        if (!found || version_cmp(version, seq, out->version, out->seq) > 0) {
            *out = (candidate_t){json_string_value(json_array_get(obs, 0)), xref, source, version, seq};
            found = 1;
        }
    }
    return found;
}

/* First owner (policy order) with a non-empty newest value; else the first owner that said anything (a clear). */
static int golden_candidate(const sy_policy_t *p, json_t *rec, size_t field, candidate_t *out)
{
    const sy_policy_field_t *f = &p->fields[field];
    candidate_t c, empty = {0};
    int have_empty = 0;
    for (size_t r = 0; r != f->num_owners; ++r) {
        if (!newest_of_source(p, rec, f->owners[r], f->name, &c))
            continue;
        if (c.value != NULL && c.value[0] != '\0') {
            *out = c;
            return 1;
        }
        if (!have_empty) {
            empty = c;
            have_empty = 1;
        }
    }
    if (have_empty)
        *out = empty;
    return have_empty;
}

static const char *golden_value(json_t *rec, const char *field)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), field), "value"));
}

static int is_frozen(json_t *rec, const char *source, const char *field)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(rec, "frozen"), source), i, v)
    {
        if (strcmp(json_string_value(v), field) == 0)
            return 1;
    }
    return 0;
}

/*
 * Values in flight to a tool: every value queued for (tool, field) since the tool last showed the golden value.
 * A tool's webhook for an older push can arrive after a newer push was queued or sent (a late echo); its value is
 * one of these, so it is recognised as ours instead of a conflict (never reverted, never counted toward a freeze).
 * Cleared when the tool shows the golden value: from then on an older value from it is a genuine change (a really
 * late echo is older than that confirmation, hence stale). Bounded: the oldest are forgotten first.
 */
#define SENT_MAX 16

static json_t *sent_list(json_t *rec, const char *source, const char *field, int create)
{
    char key[256];
    json_t *sent = json_object_get(rec, "sent");
    if (sent == NULL) {
        if (!create)
            return NULL;
        sent = json_object();
        json_object_set_new(rec, "sent", sent);
    }
    join(key, sizeof(key), source, '|', field);
    json_t *list = json_object_get(sent, key);
    if (list == NULL && create) {
        list = json_array();
        json_object_set_new(sent, key, list);
    }
    return list;
}

static void sent_add(json_t *rec, const char *source, const char *field, const char *value)
{
    json_t *list = sent_list(rec, source, field, 1);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), value) == 0)
            return;
    }
    if (json_array_size(list) == SENT_MAX)
        json_array_remove(list, 0);
    json_array_append_new(list, json_string(value));
}

static int sent_has(json_t *rec, const char *source, const char *field, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(sent_list(rec, source, field, 0), i, v)
    {
        if (strcmp(json_string_value(v), value) == 0)
            return 1;
    }
    return 0;
}

static void sent_clear(json_t *rec, const char *source, const char *field)
{
    char key[256];
    join(key, sizeof(key), source, '|', field);
    json_object_del(json_object_get(rec, "sent"), key);
}

/*
 * A genuine new value of the owner lifts a freeze of the field for a tool and re-arms its revert budget: the freeze
 * only ends a revert war over one value, it must never keep the tool on an old value silently.
 */
static int unfreeze(json_t *rec, const char *source, const char *field)
{
    char rkey[256];
    size_t i;
    json_t *v, *list = json_object_get(json_object_get(rec, "frozen"), source);
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), field) == 0) {
            json_array_remove(list, i);
            join(rkey, sizeof(rkey), source, '|', field);
            json_object_del(json_object_get(rec, "reverts"), rkey);
            return 1;
        }
    }
    return 0;
}

/* Whether the tool says the event was caused by one of our writes (its idempotency key is one of this hub's). */
static int is_our_write(sy_apply_ctx_t *ctx, const sy_observation_t *obs)
{
    char inst[SY_INSTANCE_ID_LEN + 1], prefix[SY_INSTANCE_ID_LEN + 8];
    if (obs->write_key == NULL || ctx_instance_id(ctx, inst) != 0)
        return 0;
    int n = snprintf(prefix, sizeof(prefix), "sy-%s-", inst);
    return strncmp(obs->write_key, prefix, (size_t)n) == 0;
}

/* --- outbox ---------------------------------------------------------------------------------------------- */

/* Whether a push queued for spoke and rec carries field with a value other than value. */
static int queued_differs(sy_apply_ctx_t *ctx, json_t *rec, size_t spoke, const char *field, const char *value)
{
    char pkey[KEY_MAX];
    sy_slice_t okey;
    if (sy_txn_get(ctx->txn, SY_DB_PENDING, key2(pkey, ctx->policy->sources[spoke].name, rec_id(rec)), &okey) != 0 ||
        okey.len != 16)
        return 0;
    unsigned char kb[16];
    memcpy(kb, okey.base, 16); /* the slice is the txn's: a cache miss below reads into the txn */
    json_t *push = ctx_doc_get(ctx, SY_DB_OUTBOX, (sy_slice_t){(const char *)kb, 16});
    const char *queued = json_string_value(json_object_get(json_object_get(push, "fields"), field));
    int differs = queued != NULL && strcmp(queued, value) != 0;
    json_decref(push);
    return differs;
}

/*
 * json_pack("{s:s, s:s, s:s, s:{s:s}, s:[s], s:i, s:i, s:I, s:I, s:I, s:s, s:s, s:I}", "id", ..., "seq", ...) built
 * directly (parsing that format cost more than the rest of a new push): the same tree, NULL where json_pack failed.
 */
static json_t *new_push(const char *id, const char *spoke, const char *record, const char *field, const char *value,
                        const char *reason, int64_t now_ms, const char *idem, const char *policy, int64_t seq)
{
    enum { ID, SPOKE, RECORD, VALUE, REASON, IDEM, POLICY, NUM };
    const char *text[NUM] = {id, spoke, record, value, reason, idem, policy};
    json_t *v[NUM], *o = json_object(), *fields = json_object(), *reasons = json_array();
    int ok = o != NULL && fields != NULL && reasons != NULL;
    for (size_t i = 0; i != NUM; ++i)
        ok &= (v[i] = json_string(text[i])) != NULL; /* NULL for a NULL or invalid string, as json_pack refuses */
    if (ok) {
        ok = json_object_set_new(fields, field, v[VALUE]) == 0; /* the key is checked as json_pack checks it */
        v[VALUE] = NULL;
    }
    if (!ok) {
        for (size_t i = 0; i != NUM; ++i)
            json_decref(v[i]);
        json_decref(o);
        json_decref(fields);
        json_decref(reasons);
        return NULL;
    }
    json_array_append_new(reasons, v[REASON]);
    json_object_set_new_nocheck(o, "id", v[ID]);
    json_object_set_new_nocheck(o, "spoke", v[SPOKE]);
    json_object_set_new_nocheck(o, "record", v[RECORD]);
    json_object_set_new_nocheck(o, "fields", fields);
    json_object_set_new_nocheck(o, "reasons", reasons);
    json_object_set_new_nocheck(o, "revision", json_integer(0));
    json_object_set_new_nocheck(o, "attempts", json_integer(0));
    json_object_set_new_nocheck(o, "due_at_ms", json_integer((json_int_t)now_ms));
    json_object_set_new_nocheck(o, "enqueued_at_ms", json_integer((json_int_t)now_ms));
    json_object_set_new_nocheck(o, "updated_at_ms", json_integer((json_int_t)now_ms));
    json_object_set_new_nocheck(o, "idempotency_key", v[IDEM]);
    json_object_set_new_nocheck(o, "policy", v[POLICY]);
    json_object_set_new_nocheck(o, "seq", json_integer((json_int_t)seq));
    return o;
}

/* The log seq each field of a push was last folded in at ("fseq"): a cluster's delivery outcome (outcome.h) settles
 * only the fields queued at or before the seq of what was sent, never a value queued again since. */
static void set_fseq(json_t *push, const char *field, uint64_t seq)
{
    json_t *fseq = json_object_get(push, "fseq");
    if (fseq == NULL) {
        fseq = json_object();
        json_object_set_new_nocheck(push, "fseq", fseq);
    }
    json_object_set_new(fseq, field, json_integer((json_int_t)seq));
}

/* Queues field=value for spoke on record, coalescing with a push already waiting for the same spoke and record. */
static int enqueue(sy_apply_ctx_t *ctx, json_t *rec, size_t spoke, const char *field, const char *value,
                   const char *reason)
{
    const char *spoke_name = ctx->policy->sources[spoke].name;
    char pkey[KEY_MAX], idem[96];
    sy_slice_t pk = key2(pkey, spoke_name, rec_id(rec)), okey;
    json_t *push = NULL;
    int rc;

    if (json_object_get(json_object_get(rec, "tombstones"), spoke_name) != NULL) {
        ++ctx->stats->tombstoned; /* deleted at that tool: nothing is pushed there (see sy_records_apply) */
        return 0;
    }
    sent_add(rec, spoke_name, field, value);
    unsigned char kb[16];
    if (sy_txn_get(ctx->txn, SY_DB_PENDING, pk, &okey) == 0 && okey.len == 16) {
        memcpy(kb, okey.base, 16);
        push = ctx_doc_get(ctx, SY_DB_OUTBOX, (sy_slice_t){(const char *)kb, 16});
    }
    if (push != NULL) {
        /* Coalesce: the newer value replaces the queued one; the revision changes the idempotency key, because
         * a provider refuses one key with other parameters. */
        json_int_t revision = json_integer_value(json_object_get(push, "revision")) + 1;
        json_object_set_new(json_object_get(push, "fields"), field, json_string(value));
        set_fseq(push, field, ctx->seq);
        json_array_append_new(json_object_get(push, "reasons"), json_string(reason));
        json_object_set_new(push, "revision", json_integer(revision));
        json_object_set_new(push, "updated_at_ms", json_integer(ctx->now_ms));
        json_object_set_new(push, "seq", json_integer((json_int_t)ctx->seq));
        json_object_set_new(push, "policy", json_string(ctx->policy->hash));
        if ((rc = ctx_idempotency_key(ctx, push, idem, sizeof(idem))) != 0) {
            json_decref(push);
            return rc;
        }
        json_object_set_new(push, "idempotency_key", json_string(idem));
        rc = ctx_doc_put(ctx, SY_DB_OUTBOX, (sy_slice_t){(const char *)kb, 16}, push);
        ++ctx->stats->pushes_coalesced;
        json_decref(push);
        return rc;
    }
    json_decref(push);

    uint64_t id;
    char idtext[32];
    if ((rc = next_counter(ctx->txn, "next_push", &id)) != 0)
        return rc;
    snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
    sy_put_be64(kb, (uint64_t)ctx->now_ms);
    sy_put_be64(kb + 8, id);
    push = new_push(idtext, spoke_name, rec_id(rec), field, value, reason, ctx->now_ms, "", ctx->policy->hash,
                    (int64_t)ctx->seq);
    if (push == NULL)
        return SY_ENOMEM;
    set_fseq(push, field, ctx->seq);
    if ((rc = ctx_idempotency_key(ctx, push, idem, sizeof(idem))) != 0) {
        json_decref(push);
        return rc;
    }
    json_object_set_new(push, "idempotency_key", json_string(idem));
    /* The document through the batch's cache, its index entries and counter now (queue.h). */
    if ((rc = ctx_doc_put(ctx, SY_DB_OUTBOX, (sy_slice_t){(const char *)kb, 16}, push)) == 0 &&
        (rc = sy_queue_index_add(ctx->txn, kb, spoke_name, (uint64_t)ctx->now_ms)) == 0)
        rc = sy_txn_put(ctx->txn, SY_DB_PENDING, pk, (sy_slice_t){(const char *)kb, 16});
    json_decref(push);
    ++ctx->stats->pushes_enqueued;
    return rc;
}

/* Whether every object the spoke has for this record already holds value (no push needed). */
static int spoke_has_value(const sy_policy_t *p, json_t *rec, size_t spoke, const char *field, const char *value)
{
    json_t *ids = json_object_get(json_object_get(rec, "xrefs"), p->sources[spoke].name);
    size_t i;
    json_t *id;
    char xref[512];
    if (json_array_size(ids) == 0)
        return 0;
    json_array_foreach(ids, i, id)
    {
        join(xref, sizeof(xref), p->sources[spoke].name, ':', json_string_value(id));
        json_t *obs = json_object_get(json_object_get(json_object_get(rec, "observed"), xref), field);
        const char *seen = json_string_value(json_array_get(obs, 0));
        if (seen == NULL || strcmp(seen, value) != 0)
            return 0;
    }
    return 1;
}

/* An alert (alerts.h) about a record's field: one per kind, record, tool and field, counted while it stays. */
static int alert(sy_apply_ctx_t *ctx, const char *kind, json_t *rec, const char *source, const char *field,
                 const char *message)
{
    ++ctx->stats->alerts;
    sy_log(SY_LOG_WARN, "alert %s: record %s, source %s, field %s: %s", kind, rec_id(rec), source, field, message);
    sy_alert_subject_t subj = {rec_id(rec), source, field};
    return sy_alert_raise(ctx->txn, kind, &subj, message, ctx->seq, 1, ctx->now_ms, NULL);
}

int sy_records_skip(sy_apply_ctx_t *ctx, const sy_event_t *ev, const char *reason)
{
    unsigned char key[8];
    sy_slice_t ignored;
    int rc;
    sy_put_be64(key, ev->seq);
    sy_slice_t k = {(const char *)key, 8};
    if ((rc = sy_txn_get(ctx->txn, SY_DB_SKIPPED, k, &ignored)) != SY_ENOTFOUND)
        return rc; /* 0: already recorded by an earlier pass */
    json_t *doc = json_pack("{s:I, s:I, s:s%, s:s%, s:s%, s:s}", "seq", (json_int_t)ev->seq, "at_ms",
                            (json_int_t)ctx->now_ms, "source", ev->source.base, ev->source.len, "event_id",
                            ev->event_id.base, ev->event_id.len, "type", ev->type.base, ev->type.len, "reason", reason);
    if (doc == NULL)
        return SY_ENOMEM;
    rc = sy_doc_put(ctx->txn, SY_DB_SKIPPED, k, doc);
    json_decref(doc);
    if (rc != 0)
        return rc;
    ++ctx->stats->skipped;
    ++ctx->stats->alerts;
    char message[512];
    snprintf(message, sizeof(message), "logged event %llu (%.*s %.*s) was not applied: %s", (unsigned long long)ev->seq,
             (int)ev->source.len, ev->source.base, (int)ev->event_id.len, ev->event_id.base, reason);
    sy_log(SY_LOG_ERROR, "alert event_skipped: %s", message);
    char source[128];
    snprintf(source, sizeof(source), "%.*s", (int)ev->source.len, ev->source.base);
    /* One alert per source: each skipped event counts on it (`switchyard log skipped` lists them). Acknowledged by
     * a person; nothing resolves it by itself, because a skipped event stays skipped. */
    sy_alert_subject_t subj = {NULL, source, NULL};
    return sy_alert_raise(ctx->txn, "event_skipped", &subj, message, ctx->seq, 1, ctx->now_ms, NULL);
}

/* --- policy applied to one field ------------------------------------------------------------------------- */

/* Per-field counters for the health report (stat:<what>:<field>), in the applying transaction. */
static int bump_field_stat(sy_txn_t *txn, const char *what, const char *field)
{
    char name[300];
    uint64_t v;
    int rc;
    snprintf(name, sizeof(name), "stat:%s:%s", what, field);
    if ((rc = sy_meta_get_u64(txn, name, &v)) != 0)
        return rc;
    return sy_meta_put_u64(txn, name, v + 1);
}

/* A change from a tool that does not own the field. */
static int on_conflict(sy_apply_ctx_t *ctx, json_t *rec, const sy_observation_t *obs, size_t fi, const char *value,
                       int64_t version)
{
    const sy_policy_t *p = ctx->policy;
    const sy_policy_field_t *f = &p->fields[fi];
    const char *source = p->sources[obs->source].name, *golden = golden_value(rec, f->name);

    if (is_frozen(rec, source, f->name)) {
        ++ctx->stats->frozen;
        return 0;
    }
    ++ctx->stats->conflicts;
    int rc = bump_field_stat(ctx->txn, "conflicts", f->name);
    if (rc != 0)
        return rc;
    if (f->on_conflict == SY_CONFLICT_ALERT)
        return alert(ctx, "conflict", rec, source, f->name, "a tool that does not own the field changed it");
    if (f->on_conflict != SY_CONFLICT_REVERT || golden == NULL || sy_policy_push_name(p, obs->source, fi) == NULL)
        return 0;

    /* Revert budget per (tool, record, field) within a window of provider time. */
    char rkey[256];
    join(rkey, sizeof(rkey), source, '|', f->name);
    json_t *reverts = json_object_get(rec, "reverts"), *entry = json_object_get(reverts, rkey);
    json_int_t count = json_integer_value(json_array_get(entry, 0)), since = json_integer_value(json_array_get(entry, 1));
    if (entry == NULL || version - since > p->revert_window_ms) {
        count = 0;
        since = version;
    }
    if (count >= (json_int_t)p->revert_budget) {
        json_t *frozen = json_object_get(rec, "frozen"), *list = json_object_get(frozen, source);
        if (list == NULL) {
            list = json_array();
            json_object_set_new(frozen, source, list);
        }
        json_array_append_new(list, json_string(f->name));
        ++ctx->stats->frozen;
        return alert(ctx, "frozen_field", rec, source, f->name,
                     "the tool kept rewriting a field it does not own; reverts to it stopped (revert budget spent)");
    }
    json_object_set_new(reverts, rkey, json_pack("[I, I]", count + 1, since));
    ++ctx->stats->reverts;
    if ((rc = bump_field_stat(ctx->txn, "reverts", f->name)) != 0)
        return rc;
    return enqueue(ctx, rec, obs->source, f->name, golden, "revert");
}

static int apply_field(sy_apply_ctx_t *ctx, json_t *rec, const sy_observation_t *obs, const char *xref,
                       const sy_obs_field_t *of)
{
    const sy_policy_t *p = ctx->policy;
    const sy_policy_field_t *f = &p->fields[of->field];
    json_t *observed = json_object_get(rec, "observed"), *mine = json_object_get(observed, xref);
    if (mine == NULL) {
        mine = json_object();
        json_object_set_new(observed, xref, mine);
    }
    json_t *prev = json_object_get(mine, f->name);
    const char *prev_value = json_string_value(json_array_get(prev, 0));
    int64_t prev_version = json_integer_value(json_array_get(prev, 1)), prev_seq = json_integer_value(json_array_get(prev, 2));

    /* An older event (out of order) never overwrites what this object said later; the same event met again (a
     * replay) changes nothing. */
    int order = prev != NULL ? version_cmp(obs->version_ms, (int64_t)ctx->seq, prev_version, prev_seq) : 1;
    if (order < 0) {
        ++ctx->stats->stale;
        return 0;
    }
    if (order == 0) {
        ++ctx->stats->replayed;
        return 0;
    }
    int changed_at_tool = prev_value == NULL || strcmp(prev_value, of->value) != 0;
    json_object_set_new(mine, f->name, obs_entry(of->value, obs->version_ms, (int64_t)ctx->seq));

    size_t rank;
    const char *golden = golden_value(rec, f->name);
    if (!sy_policy_is_owner(p, of->field, obs->source, &rank)) {
        /* Equal to the golden value: an echo of our own push, or agreement. Unchanged at the tool: it is only
         * repeating an old value in an event about something else (Stripe sends whole objects). No golden value
         * yet: nothing to disagree with (the owner has not spoken). */
        if (golden == NULL || strcmp(golden, of->value) == 0 || !changed_at_tool) {
            if (golden != NULL && strcmp(golden, of->value) == 0)
                sent_clear(rec, p->sources[obs->source].name, f->name); /* the tool holds the golden value */
            ++ctx->stats->echoes;
            return 0;
        }
        if (sent_has(rec, p->sources[obs->source].name, f->name, of->value) || is_our_write(ctx, obs)) {
            ++ctx->stats->echoes; /* a late echo of an older push of ours; the newer one is queued or sent */
            ++ctx->stats->late_echoes;
            return 0;
        }
        return on_conflict(ctx, rec, obs, of->field, of->value, obs->version_ms);
    }

    candidate_t c;
    if (!golden_candidate(p, rec, of->field, &c) || (golden != NULL && strcmp(golden, c.value) == 0)) {
        ++ctx->stats->echoes; /* nothing changes: swallowed here, so nothing loops */
        return 0;
    }
    json_t *state = field_state(c.value, p->sources[c.source].name, c.xref, c.version, ctx->now_ms, (int64_t)ctx->seq,
                                p->hash);
    char *value = strdup(c.value);
    size_t from = c.source;
    json_object_set_new(json_object_get(rec, "fields"), f->name, state); /* c.* may dangle from here */
    ++ctx->stats->fields_updated;

    int rc = 0;
    for (size_t i = 0; i != f->num_push && rc == 0; ++i) {
        size_t spoke = f->push[i];
        /* Never back to the tool the change came from. A new owner value reaches a tool frozen for the field too. */
        if (spoke == from || spoke == obs->source)
            continue;
        if (unfreeze(rec, p->sources[spoke].name, f->name)) {
            ++ctx->stats->unfrozen;
            sy_alert_subject_t subj = {rec_id(rec), p->sources[spoke].name, f->name};
            if ((rc = sy_alert_resolve(ctx->txn, "frozen_field", &subj, ctx->now_ms)) != 0)
                break;
        }
        /* The tool holds the value already: nothing to send, unless a queued push would overwrite it with an older
         * value of the field (the owner went back to what the tool has): then that push gets this value. */
        if (spoke_has_value(p, rec, spoke, f->name, value) && !queued_differs(ctx, rec, spoke, f->name, value))
            continue;
        rc = enqueue(ctx, rec, spoke, f->name, value, "owner_change");
    }
    free(value);
    return rc;
}

/* --- identity ---------------------------------------------------------------------------------------------- */

static const char *obs_value(const sy_observation_t *obs, size_t field)
{
    for (size_t i = 0; i != obs->num_fields; ++i)
        if (obs->fields[i].field == field)
            return obs->fields[i].value;
    return NULL;
}

static int merge_into(sy_txn_t *txn, const sy_policy_t *p, json_t *keep, json_t *drop, int64_t now_ms, const char *why,
                      uint64_t seq);

/*
 * Finds (or creates) the record of obs: its own xref, then its cross-id links, then strong keys. Two different
 * records found by strong evidence are the same customer: merged automatically (logged in audit).
 */
static json_t *resolve(sy_apply_ctx_t *ctx, const sy_observation_t *obs, int *rc)
{
    const sy_policy_t *p = ctx->policy;
    char key[KEY_MAX];
    json_t *rec = NULL;
    char *found[2 + SY_OBS_MAX_LINKS + 8] = {0};
    size_t nfound = 0;

    *rc = 0;
    found[nfound++] = load_str(ctx->txn, SY_DB_XREF, key2(key, p->sources[obs->source].name, obs->external_id));
    for (size_t i = 0; i != obs->num_links; ++i)
        found[nfound++] = load_str(ctx->txn, SY_DB_XREF, key2(key, p->sources[obs->links[i].source].name, obs->links[i].id));
    for (size_t i = 0; i != p->num_strong_keys; ++i) {
        const char *v = obs_value(obs, p->strong_keys[i]);
        if (v != NULL && v[0] != '\0')
            found[nfound++] = load_str(ctx->txn, SY_DB_MATCH, key2(key, p->fields[p->strong_keys[i]].name, v));
    }
    for (size_t i = 0; i != nfound; ++i) {
        if (found[i] == NULL)
            continue;
        json_t *r = ctx_load_record(ctx, found[i]);
        if (r == NULL)
            continue;
        if (rec == NULL) {
            rec = r;
        } else if (strcmp(rec_id(rec), rec_id(r)) != 0) {
            /* Strong evidence ties two records together: the one found first (the object's own) absorbs the other. */
            ++ctx->stats->auto_merges;
            /* merge_into reads and writes records and queued pushes in the transaction itself (it also serves the
             * admin merge): everything cached goes there first, and is read from there afterwards. */
            if (ctx->cache != NULL) {
                if ((*rc = sy_doc_cache_flush(ctx->cache, ctx->txn)) != 0) {
                    json_decref(r);
                    goto Exit;
                }
                sy_doc_cache_clear(ctx->cache);
            }
            *rc = merge_into(ctx->txn, p, rec, r, ctx->now_ms, "strong identity key", ctx->seq);
            json_decref(r);
            if (*rc != 0)
                goto Exit;
        } else {
            json_decref(r);
        }
    }
    if (rec == NULL && (rec = new_record(ctx, rc)) == NULL)
        goto Exit;
Exit:
    for (size_t i = 0; i != nfound; ++i)
        free(found[i]);
    if (*rc != 0) {
        json_decref(rec);
        rec = NULL;
    }
    return rec;
}

/* Records the identity keys of obs for rec: its xref, its links, strong keys and weak-key suggestions. */
static int index_keys(sy_apply_ctx_t *ctx, json_t *rec, const sy_observation_t *obs)
{
    const sy_policy_t *p = ctx->policy;
    char key[KEY_MAX];
    int rc;
    if ((rc = attach_xref(ctx->txn, rec, p->sources[obs->source].name, obs->external_id)) != 0)
        return rc;
    for (size_t i = 0; i != obs->num_links; ++i) {
        sy_slice_t k = key2(key, p->sources[obs->links[i].source].name, obs->links[i].id);
        sy_slice_t v;
        if (k.len <= INDEX_KEY_MAX && sy_txn_get(ctx->txn, SY_DB_XREF, k, &v) == SY_ENOTFOUND &&
            (rc = attach_xref(ctx->txn, rec, p->sources[obs->links[i].source].name, obs->links[i].id)) != 0)
            return rc;
    }
    for (size_t i = 0; i != p->num_strong_keys; ++i) {
        const char *v = obs_value(obs, p->strong_keys[i]);
        sy_slice_t existing;
        if (v == NULL || v[0] == '\0')
            continue;
        sy_slice_t k = key2(key, p->fields[p->strong_keys[i]].name, v);
        if (k.len <= INDEX_KEY_MAX && sy_txn_get(ctx->txn, SY_DB_MATCH, k, &existing) == SY_ENOTFOUND &&
            (rc = put_str(ctx->txn, SY_DB_MATCH, k, rec_id(rec))) != 0)
            return rc;
    }
    for (size_t i = 0; i != p->num_weak_keys; ++i) {
        const sy_policy_field_t *f = &p->fields[p->weak_keys[i]];
        const char *v = obs_value(obs, p->weak_keys[i]);
        if (v == NULL || v[0] == '\0')
            continue;
        /* The weak key compares company names the forgiving way, whatever the field's own normaliser. */
        static const sy_normalizer_t company = SY_NORM_COMPANY_NAME;
        char *norm = sy_normalize(&company, 1, v), wkey[KEY_MAX];
        if (norm == NULL)
            return SY_ENOMEM;
        snprintf(wkey, sizeof(wkey), "%s" SEP "%s" SEP "%s", f->name, norm, rec_id(rec));
        sy_slice_t existing;
        if (norm[0] != '\0' && strlen(wkey) <= INDEX_KEY_MAX &&
            sy_txn_get(ctx->txn, SY_DB_SUGGEST, sy_slice_cstr(wkey), &existing) == SY_ENOTFOUND) {
            rc = sy_txn_put(ctx->txn, SY_DB_SUGGEST, sy_slice_cstr(wkey), sy_slice_cstr(""));
            ++ctx->stats->suggestions;
        }
        free(norm);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int detach_xref(sy_txn_t *txn, json_t *rec, const char *source, const char *ext)
{
    char key[KEY_MAX];
    json_t *list = json_object_get(json_object_get(rec, "xrefs"), source);
    for (size_t i = 0; i < json_array_size(list); ++i) {
        if (strcmp(json_string_value(json_array_get(list, i)), ext) == 0)
            json_array_remove(list, i--);
    }
    int rc = sy_txn_del(txn, SY_DB_XREF, key2(key, source, ext));
    return rc == SY_ENOTFOUND ? 0 : rc;
}

int sy_records_apply(sy_apply_ctx_t *ctx, const sy_observation_t *obs)
{
    const sy_policy_t *p = ctx->policy;
    char xref[512], key[KEY_MAX];
    int rc;

    ++ctx->stats->observations;
    /* An object whose id is too long to index could never be found again: not tracked (an error stalls the applier). */
    if (key2(key, p->sources[obs->source].name, obs->external_id).len > INDEX_KEY_MAX) {
        ++ctx->stats->excluded;
        return 0;
    }
    /* Exclusion rules read the observation's values by field index. */
    const char **values = calloc(p->num_fields + 1, sizeof(*values));
    if (values == NULL)
        return SY_ENOMEM;
    for (size_t i = 0; i != obs->num_fields; ++i)
        values[obs->fields[i].field] = obs->fields[i].value;
    int excluded = sy_policy_excluded(p, obs->source, obs->external_id, values);
    free(values);
    if (excluded) {
        ++ctx->stats->excluded;
        return 0;
    }
    json_t *rec = resolve(ctx, obs, &rc);
    if (rec == NULL)
        return rc != 0 ? rc : SY_ENOMEM;
    const char *source = p->sources[obs->source].name;
    json_t *tombstones = json_object_get(rec, "tombstones"), *tomb = json_object_get(tombstones, source);
    if (tomb != NULL && !obs->deleted) {
        if (strcmp(json_string_value(json_object_get(tomb, "id")), obs->external_id) == 0) {
            ++ctx->stats->stale; /* a late event of the deleted object itself: it does not come back */
            rc = ctx_save_record(ctx, rec); /* resolving may have changed the record (an automatic merge) */
            goto Exit;
        }
        json_object_del(tombstones, source); /* a new object at the tool: someone made it, the record is back there */
    }
    if ((rc = index_keys(ctx, rec, obs)) != 0)
        goto Exit;
    join(xref, sizeof(xref), p->sources[obs->source].name, ':', obs->external_id);
    for (size_t i = 0; i != obs->num_fields && rc == 0; ++i)
        rc = apply_field(ctx, rec, obs, xref, &obs->fields[i]);
    if (rc == 0 && obs->subscription_id != NULL && obs->subscription_status != NULL) {
        json_t *subs = json_object_get(rec, "subscriptions"), *prev = json_object_get(subs, obs->subscription_id);
        if (prev == NULL || version_cmp(obs->version_ms, (int64_t)ctx->seq, json_integer_value(json_array_get(prev, 1)),
                                        json_integer_value(json_array_get(prev, 2))) > 0)
            json_object_set_new(subs, obs->subscription_id,
                                obs_entry(obs->subscription_status, obs->version_ms, (int64_t)ctx->seq));
    }
    if (rc == 0 && obs->invoice_id != NULL && obs->invoice_status != NULL && obs->invoice_id[0] != '\0') {
        /* Created on first use: records written before invoices were kept have none. */
        json_t *invs = json_object_get(rec, "invoices"), *prev;
        char inv[320];
        if (invs == NULL)
            json_object_set_new(rec, "invoices", invs = json_object());
        join(inv, sizeof(inv), source, ':', obs->invoice_id);
        prev = json_object_get(invs, inv);
        if (prev == NULL || version_cmp(obs->version_ms, (int64_t)ctx->seq, json_integer_value(json_array_get(prev, 1)),
                                        json_integer_value(json_array_get(prev, 2))) > 0)
            json_object_set_new(invs, inv, obs_entry(obs->invoice_status, obs->version_ms, (int64_t)ctx->seq));
    }
    if (rc == 0 && obs->deleted) {
        ++ctx->stats->deletions;
        rc = detach_xref(ctx->txn, rec, source, obs->external_id);
        /* The record's last object at that tool is gone: a tombstone, so no push (create: if_missing included)
         * brings it back. A new object of that tool for the record lifts it (above). */
        if (rc == 0 && json_array_size(json_object_get(json_object_get(rec, "xrefs"), source)) == 0) {
            if (tombstones == NULL) {
                tombstones = json_object();
                json_object_set_new(rec, "tombstones", tombstones);
            }
            json_object_set_new(tombstones, source,
                                json_pack("{s:s, s:I, s:I}", "id", obs->external_id, "version_ms",
                                          (json_int_t)obs->version_ms, "seq", (json_int_t)ctx->seq));
        }
    }
    if (rc == 0)
        rc = ctx_save_record(ctx, rec);
Exit:
    json_decref(rec);
    return rc;
}

/* The golden value of field fi that the policy would push to spoke now: NULL when the record has none, the policy
 * does not push the field there, or the field is frozen for that tool. Borrowed from rec. Repush and refresh both
 * decide with this, so a retried push carries exactly what a repush would. */
static const char *value_for_spoke(const sy_policy_t *p, json_t *rec, size_t spoke, size_t fi)
{
    const sy_policy_field_t *f = &p->fields[fi];
    const char *value = golden_value(rec, f->name);
    int pushed_there = 0;
    for (size_t k = 0; k != f->num_push; ++k)
        pushed_there |= f->push[k] == spoke;
    return value != NULL && pushed_there && !is_frozen(rec, p->sources[spoke].name, f->name) ? value : NULL;
}

int sy_records_repush(sy_apply_ctx_t *ctx, const char *id, size_t spoke)
{
    const sy_policy_t *p = ctx->policy;
    json_t *rec = ctx_load_record(ctx, id);
    int rc = 0;
    if (rec == NULL)
        return SY_ENOTFOUND;
    if (ctx->cache != NULL) {
        /* enqueue notes what it sends in the record, which a repush never stores: not in the cached one either. */
        json_t *copy = json_deep_copy(rec);
        json_decref(rec);
        if ((rec = copy) == NULL)
            return SY_ENOMEM;
    }
    for (size_t fi = 0; fi != p->num_fields && rc == 0; ++fi) {
        const char *value = value_for_spoke(p, rec, spoke, fi);
        if (value != NULL)
            rc = enqueue(ctx, rec, spoke, p->fields[fi].name, value, "repush");
    }
    json_decref(rec);
    return rc;
}

int sy_records_refresh_push(sy_txn_t *txn, const sy_policy_t *p, json_t *push, int *changed)
{
    const char *spoke_name = json_string_value(json_object_get(push, "spoke"));
    const char *record = json_string_value(json_object_get(push, "record"));
    size_t spoke = spoke_name != NULL ? sy_policy_source_index(p, spoke_name) : SY_POLICY_NONE;
    json_t *old = json_object_get(push, "fields"), *fresh = json_object(), *rec = NULL, *v;
    const char *name;
    *changed = 0;
    if (fresh == NULL)
        return SY_ENOMEM;
    /* A record merged since follows its merge: the push belongs to the surviving record (and its pending entry). */
    if (record != NULL && spoke != SY_POLICY_NONE && (rec = sy_records_load(txn, record)) != NULL) {
        json_object_foreach(old, name, v)
        {
            size_t fi = sy_policy_field_index(p, name);
            const char *value = fi != SY_POLICY_NONE ? value_for_spoke(p, rec, spoke, fi) : NULL;
            if (value != NULL)
                json_object_set_new(fresh, name, json_string(value));
        }
        if (strcmp(rec_id(rec), record) != 0) {
            json_object_set_new(push, "record", json_string(rec_id(rec)));
            *changed = 1;
        }
    }
    *changed |= !json_equal(old, fresh);
    json_object_set_new(push, "fields", fresh);
    json_object_set_new(push, "policy", json_string(p->hash));
    json_decref(rec);
    return 0;
}

/* --- merge and split ------------------------------------------------------------------------------------- */

/* Re-derives every field of rec from its observations (after a merge or a split). */
static void recompute_fields(const sy_policy_t *p, json_t *rec, int64_t now_ms, uint64_t seq)
{
    json_t *fields = json_object();
    for (size_t fi = 0; fi != p->num_fields; ++fi) {
        candidate_t c;
        if (!golden_candidate(p, rec, fi, &c))
            continue;
        json_object_set_new(fields, p->fields[fi].name,
                            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "value", c.value, "source",
                                      p->sources[c.source].name, "xref", c.xref, "version_ms", (json_int_t)c.version,
                                      "updated_at_ms", (json_int_t)now_ms, "seq", (json_int_t)seq, "policy", p->hash));
    }
    json_object_set_new(rec, "fields", fields);
}

/*
 * The dropped record's queued pushes become the kept record's: a push still waiting to create the dropped record's
 * object at a tool would otherwise make a second object for the one customer. Each is folded into the kept record's
 * push for that tool (one push per tool and record), or re-pointed at the kept record; its values are the kept
 * record's golden values, so nothing stale is sent. Delivery then finds the kept record's object and updates it.
 */
static int fold_pending(sy_txn_t *txn, const sy_policy_t *p, json_t *keep, json_t *drop)
{
    char dkey[KEY_MAX], kkey[KEY_MAX];
    int rc = 0;
    for (size_t si = 0; si != p->num_sources && rc == 0; ++si) {
        const char *spoke = p->sources[si].name;
        sy_slice_t dk = key2(dkey, spoke, rec_id(drop)), ok, kk;
        unsigned char dob[16], kob[16];
        if (sy_txn_get(txn, SY_DB_PENDING, dk, &ok) != 0 || ok.len != 16)
            continue;
        memcpy(dob, ok.base, 16);
        json_t *dpush = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)dob, 16}), *kpush = NULL;
        if (dpush == NULL)
            continue;
        const char *field;
        json_t *value, *fields = json_object_get(dpush, "fields");
        json_object_foreach(fields, field, value)
        {
            const char *golden = golden_value(keep, field);
            json_object_set_new(fields, field, json_string(golden != NULL ? golden : json_string_value(value)));
        }
        if ((rc = sy_txn_del(txn, SY_DB_PENDING, dk)) != 0)
            goto Next;
        kk = key2(kkey, spoke, rec_id(keep));
        if (sy_txn_get(txn, SY_DB_PENDING, kk, &ok) == 0 && ok.len == 16) {
            memcpy(kob, ok.base, 16);
            kpush = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)kob, 16});
        }
        if (kpush != NULL) {
            json_object_foreach(fields, field, value)
            {
                if (json_object_get(json_object_get(kpush, "fields"), field) == NULL)
                    json_object_set(json_object_get(kpush, "fields"), field, value);
            }
            json_array_append_new(json_object_get(kpush, "reasons"), json_string("merge"));
            if ((rc = sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)kob, 16}, kpush)) == 0)
                rc = sy_queue_remove(txn, dob, dpush); /* folded: one push fewer (queue.h) */
        } else {
            json_object_set_new(dpush, "record", json_string(rec_id(keep)));
            json_object_del(dpush, "object_id"); /* the kept record's own object is the one to write */
            json_object_del(dpush, "create");
            json_array_append_new(json_object_get(dpush, "reasons"), json_string("merge"));
            if ((rc = sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)dob, 16}, dpush)) == 0)
                rc = sy_txn_put(txn, SY_DB_PENDING, kk, (sy_slice_t){(const char *)dob, 16});
        }
    Next:
        json_decref(kpush);
        json_decref(dpush);
    }
    return rc;
}

static int merge_into(sy_txn_t *txn, const sy_policy_t *p, json_t *keep, json_t *drop, int64_t now_ms, const char *why,
                      uint64_t seq)
{
    const char *source, *key;
    json_t *ids, *v;
    size_t i;
    int rc = 0;
    char mkey[KEY_MAX];
    json_t *audit = json_pack("{s:I, s:s, s:s, s:s, s:s, s:O, s:O}", "at_ms", (json_int_t)now_ms, "action", "merge",
                              "why", why, "keep", rec_id(keep), "drop", rec_id(drop), "keep_before", keep,
                              "drop_before", drop);

    json_object_foreach(json_object_get(drop, "xrefs"), source, ids)
    {
        json_array_foreach(ids, i, v)
        {
            if ((rc = attach_xref(txn, keep, source, json_string_value(v))) != 0)
                goto Exit;
        }
    }
    /* Observations, subscriptions, frozen fields and budgets travel with the objects they came from. */
    json_object_foreach(json_object_get(drop, "observed"), key, v) json_object_set(json_object_get(keep, "observed"), key, v);
    json_object_foreach(json_object_get(drop, "subscriptions"), key, v)
        json_object_set(json_object_get(keep, "subscriptions"), key, v);
    if (json_object_size(json_object_get(drop, "invoices")) != 0) {
        if (json_object_get(keep, "invoices") == NULL)
            json_object_set_new(keep, "invoices", json_object());
        json_object_foreach(json_object_get(drop, "invoices"), key, v)
            json_object_set(json_object_get(keep, "invoices"), key, v);
    }
    json_object_foreach(json_object_get(drop, "frozen"), key, v)
    {
        json_t *list = json_object_get(json_object_get(keep, "frozen"), key);
        if (list == NULL)
            json_object_set(json_object_get(keep, "frozen"), key, v);
        else
            json_array_extend(list, v);
    }
    recompute_fields(p, keep, now_ms, seq);
    if ((rc = fold_pending(txn, p, keep, drop)) != 0)
        goto Exit;
    /* Strong keys of the dropped record now find the kept one. */
    json_object_foreach(json_object_get(drop, "fields"), key, v)
    {
        size_t fi = sy_policy_field_index(p, key);
        for (size_t k = 0; fi != SY_POLICY_NONE && k != p->num_strong_keys; ++k) {
            const char *val = json_string_value(json_object_get(v, "value"));
            if (p->strong_keys[k] == fi && val != NULL && val[0] != '\0' &&
                (rc = put_str(txn, SY_DB_MATCH, key2(mkey, key, val), rec_id(keep))) != 0)
                goto Exit;
        }
    }
    json_t *tomb = json_pack("{s:s, s:s, s:I}", "id", rec_id(drop), "merged_into", rec_id(keep), "merged_at_ms",
                             (json_int_t)now_ms);
    rc = save_record(txn, tomb);
    json_decref(tomb);
    if (rc == 0)
        rc = save_record(txn, keep);
    if (rc == 0) {
        rc = append_log(txn, SY_DB_AUDIT, "next_audit", audit);
        audit = NULL;
    }
Exit:
    json_decref(audit);
    return rc;
}

int sy_records_merge(sy_txn_t *txn, const sy_policy_t *p, const char *keep_id, const char *drop_id, int64_t now_ms,
                     const char *why, char *errbuf, size_t errlen)
{
    json_t *keep = sy_records_load(txn, keep_id), *drop = sy_records_load(txn, drop_id);
    int rc = SY_ENOTFOUND;
    if (keep == NULL || drop == NULL) {
        snprintf(errbuf, errlen, "no record %s", keep == NULL ? keep_id : drop_id);
    } else if (strcmp(rec_id(keep), rec_id(drop)) == 0) {
        snprintf(errbuf, errlen, "%s and %s are already one record (%s)", keep_id, drop_id, rec_id(keep));
        rc = SY_EINVAL;
    } else {
        rc = merge_into(txn, p, keep, drop, now_ms, why, 0);
    }
    json_decref(keep);
    json_decref(drop);
    return rc;
}

int sy_records_split(sy_txn_t *txn, const sy_policy_t *p, const char *id, const char *source, const char *ext,
                     int64_t now_ms, char **new_id, char *errbuf, size_t errlen)
{
    char xref[512];
    int rc;
    sy_apply_stats_t stats = {0};
    sy_apply_ctx_t ctx = {.txn = txn, .policy = p, .now_ms = now_ms, .stats = &stats};
    json_t *rec = sy_records_load(txn, id), *fresh = NULL, *before = NULL;

    *new_id = NULL;
    snprintf(xref, sizeof(xref), "%s:%s", source, ext);
    if (rec == NULL) {
        snprintf(errbuf, errlen, "no record %s", id);
        return SY_ENOTFOUND;
    }
    json_t *observed = json_object_get(rec, "observed"), *mine = json_object_get(observed, xref);
    size_t total = 0;
    const char *s;
    json_t *ids;
    json_object_foreach(json_object_get(rec, "xrefs"), s, ids) total += json_array_size(ids);
    char key[KEY_MAX];
    char *owner = load_str(txn, SY_DB_XREF, key2(key, source, ext));
    if (owner == NULL || strcmp(owner, rec_id(rec)) != 0) {
        snprintf(errbuf, errlen, "%s is not linked to %s", xref, rec_id(rec));
        rc = SY_EINVAL;
        goto Exit;
    }
    if (total < 2) {
        snprintf(errbuf, errlen, "%s is the only tool object of %s: nothing to split", xref, rec_id(rec));
        rc = SY_EINVAL;
        goto Exit;
    }
    before = json_deep_copy(rec);
    if ((fresh = new_record(&ctx, &rc)) == NULL)
        goto Exit;
    if ((rc = detach_xref(txn, rec, source, ext)) != 0 || (rc = attach_xref(txn, fresh, source, ext)) != 0)
        goto Exit;
    if (mine != NULL) {
        json_object_set(json_object_get(fresh, "observed"), xref, mine);
        json_object_del(observed, xref);
    }
    recompute_fields(p, rec, now_ms, 0);
    recompute_fields(p, fresh, now_ms, 0);
    /* Strong keys of the split object's own values point at its new record. */
    for (size_t k = 0; k != p->num_strong_keys; ++k) {
        const char *val = json_string_value(json_array_get(json_object_get(mine, p->fields[p->strong_keys[k]].name), 0));
        if (val != NULL && val[0] != '\0' &&
            (rc = put_str(txn, SY_DB_MATCH, key2(key, p->fields[p->strong_keys[k]].name, val), rec_id(fresh))) != 0)
            goto Exit;
    }
    if ((rc = save_record(txn, rec)) != 0 || (rc = save_record(txn, fresh)) != 0)
        goto Exit;
    rc = append_log(txn, SY_DB_AUDIT, "next_audit",
                    json_pack("{s:I, s:s, s:s, s:s, s:s, s:O}", "at_ms", (json_int_t)now_ms, "action", "split", "record",
                              rec_id(rec), "object", xref, "new_record", rec_id(fresh), "record_before", before));
    if (rc == 0)
        *new_id = strdup(rec_id(fresh));
Exit:
    free(owner);
    json_decref(before);
    json_decref(fresh);
    json_decref(rec);
    return rc;
}

int sy_records_link(sy_txn_t *txn, const char *id, const char *source, const char *ext)
{
    char key[KEY_MAX];
    char *owner = load_str(txn, SY_DB_XREF, key2(key, source, ext));
    json_t *rec = sy_records_load(txn, id);
    int rc = 0;
    if (rec == NULL) {
        rc = SY_ENOTFOUND;
    } else if (owner != NULL && strcmp(owner, rec_id(rec)) != 0) {
        sy_log(SY_LOG_WARN, "%s:%s is linked to %s already; not linking it to %s as well", source, ext, owner, rec_id(rec));
        rc = SY_EINVAL;
    } else if ((rc = attach_xref(txn, rec, source, ext)) == 0) {
        rc = save_record(txn, rec);
    }
    free(owner);
    json_decref(rec);
    return rc;
}

int sy_records_unlink(sy_txn_t *txn, const char *id, const char *source, const char *ext)
{
    json_t *rec = sy_records_load(txn, id);
    if (rec == NULL)
        return SY_ENOTFOUND;
    int rc = detach_xref(txn, rec, source, ext);
    if (rc == 0)
        rc = save_record(txn, rec);
    json_decref(rec);
    return rc;
}

/* --- lookups and counters -------------------------------------------------------------------------------- */

char *sy_records_find(sy_txn_t *txn, const sy_policy_t *p, const char *query)
{
    char key[KEY_MAX];
    if (strncmp(query, ID_PREFIX, sizeof(ID_PREFIX) - 1) == 0) {
        json_t *rec = sy_records_load(txn, query);
        char *id = rec != NULL ? strdup(rec_id(rec)) : NULL;
        json_decref(rec);
        return id;
    }
    const char *colon = strchr(query, ':'), *at = strchr(query, '@');
    if (colon != NULL && (at == NULL || colon < at)) {
        char source[128];
        snprintf(source, sizeof(source), "%.*s", (int)(colon - query), query);
        return load_str(txn, SY_DB_XREF, key2(key, source, colon + 1));
    }
    static const sy_normalizer_t email = SY_NORM_EMAIL;
    char *norm = sy_normalize(&email, 1, query), *id = NULL;
    for (size_t k = 0; norm != NULL && k != p->num_strong_keys && id == NULL; ++k)
        id = load_str(txn, SY_DB_MATCH, key2(key, p->fields[p->strong_keys[k]].name, norm));
    free(norm);
    return id;
}

int sy_records_add_stats(sy_txn_t *txn, const sy_apply_stats_t *stats)
{
    uint64_t v;
    int rc = 0;
#define SY_STATS_ADD(name)                                                                                             \
    if (rc == 0 && stats->name != 0 && (rc = sy_meta_get_u64(txn, "stat:" #name, &v)) == 0)                            \
        rc = sy_meta_put_u64(txn, "stat:" #name, v + stats->name);
    SY_STATS(SY_STATS_ADD)
#undef SY_STATS_ADD
    return rc;
}

json_t *sy_records_stats(sy_txn_t *txn)
{
    json_t *o = json_object();
    uint64_t v;
#define SY_STATS_READ(name)                                                                                            \
    if (sy_meta_get_u64(txn, "stat:" #name, &v) == 0)                                                                  \
        json_object_set_new(o, #name, json_integer((json_int_t)v));
    SY_STATS(SY_STATS_READ)
#undef SY_STATS_READ
    return o;
}
