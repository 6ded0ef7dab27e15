/*
 * A cluster's merges and splits at the same log position on every hub (change_shared.h). Everything but the
 * encoding and the answer's collection runs in a caller's write transaction: the consumer's commit (consume) or
 * the applier's step (apply_due).
 */
#include "change_shared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"

atomic_int sy_change_shared_enabled;

#define MARK_PREFIX "cluster_ch:"
#define ANSWER_PREFIX "cluster_chr:"
#define MARK_KEY_LEN (sizeof(MARK_PREFIX) - 1 + 16)
#define ID_MAX 200

static atomic_uint_fast64_t encoded; /* makes ids unique within a millisecond of one process */

json_t *sy_change_shared_encode(const sy_change_t *c, const char *node, int64_t now_ms, char *id, size_t id_len)
{
    if ((c->kind != SY_CHANGE_MERGE && c->kind != SY_CHANGE_SPLIT) || c->a == NULL || c->b == NULL)
        return NULL;
    /* Unique per request: the node, its clock and a counter (a node whose data dir was replaced restarts the
     * counter, not the clock). A republish of the same message is deduplicated by JetStream under it. */
    snprintf(id, id_len, "ch-%s-%lld-%llu", node, (long long)now_ms,
             (unsigned long long)atomic_fetch_add(&encoded, 1) + 1);
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s?, s:I}", "v", 1, "id", id, "node", node, "kind",
                     c->kind == SY_CHANGE_MERGE ? "merge" : "split", "a", c->a, "b", c->b, "why", c->why, "at_ms",
                     (json_int_t)now_ms);
}

/* The change a message describes, borrowing its strings (policy: the applier's). Returns 0, or -1 if unreadable. */
static int decode(const json_t *msg, const sy_policy_t *policy, sy_change_t *c)
{
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    *c = (sy_change_t){.policy = policy,
                       .a = json_string_value(json_object_get(msg, "a")),
                       .b = json_string_value(json_object_get(msg, "b")),
                       .why = json_string_value(json_object_get(msg, "why")),
                       .now_ms = json_integer_value(json_object_get(msg, "at_ms"))};
    if (kind == NULL || c->a == NULL || c->b == NULL || c->now_ms <= 0)
        return -1;
    if (strcmp(kind, "merge") == 0)
        c->kind = SY_CHANGE_MERGE;
    else if (strcmp(kind, "split") == 0)
        c->kind = SY_CHANGE_SPLIT;
    else
        return -1;
    if (c->why == NULL)
        c->why = "admin api";
    return 0;
}

static sy_slice_t mark_key(unsigned char *buf, uint64_t at, uint64_t stream_seq)
{
    memcpy(buf, MARK_PREFIX, sizeof(MARK_PREFIX) - 1);
    sy_put_be64(buf + sizeof(MARK_PREFIX) - 1, at);
    sy_put_be64(buf + sizeof(MARK_PREFIX) - 1 + 8, stream_seq);
    return (sy_slice_t){(const char *)buf, MARK_KEY_LEN};
}

static sy_slice_t answer_key(char *buf, size_t cap, const char *id)
{
    int n = snprintf(buf, cap, "%s%s", ANSWER_PREFIX, id);
    return (sy_slice_t){buf, n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1};
}

int sy_change_shared_consume(sy_txn_t *txn, const json_t *msg, uint64_t stream_seq, int mine)
{
    unsigned char key[MARK_KEY_LEN];
    uint64_t at = 0;
    int rc;
    if ((rc = sy_store_last_seq(txn, &at)) != 0)
        return rc;
    json_t *mark = json_pack("{s:O, s:b}", "change", msg, "mine", mine);
    if (mark == NULL)
        return SY_ENOMEM;
    rc = sy_doc_put(txn, SY_DB_META, mark_key(key, at, stream_seq), mark);
    json_decref(mark);
    return rc;
}

typedef struct st_marks_t {
    uint64_t before; /* take the markers with L < before ... */
    size_t max;      /* ... at most this many */
    json_t *list;    /* [L, stream seq]: their keys' halves */
    uint64_t next;   /* the L of the first marker not taken */
} marks_t;

static int on_mark(void *arg, sy_slice_t key, sy_slice_t val)
{
    marks_t *m = arg;
    (void)val;
    if (key.len != MARK_KEY_LEN)
        return 0;
    const unsigned char *k = (const unsigned char *)key.base + sizeof(MARK_PREFIX) - 1;
    uint64_t at = sy_get_be64(k);
    if (at >= m->before || json_array_size(m->list) >= m->max) {
        m->next = at; /* in L order: the rest waits for a later step */
        return 1;
    }
    json_array_append_new(m->list, json_pack("[I, I]", (json_int_t)at, (json_int_t)sy_get_be64(k + 8)));
    return 0;
}

static int scan_marks(sy_txn_t *txn, marks_t *m)
{
    m->next = UINT64_MAX;
    int rc = sy_txn_scan(txn, SY_DB_META, SY_SLICE_LIT(MARK_PREFIX), SY_SLICE_LIT(MARK_PREFIX), on_mark, m);
    return rc < 0 ? rc : 0;
}

/* Makes one marker's change and keeps its answer if the request waits on this hub; a refusal is an answer too. */
static int make(sy_txn_t *txn, const sy_policy_t *policy, const json_t *mark, uint64_t at)
{
    const json_t *msg = json_object_get(mark, "change");
    const char *id = json_string_value(json_object_get(msg, "id"));
    char err[512] = "", key[ID_MAX + sizeof(ANSWER_PREFIX)];
    json_t *result = NULL, *answer;
    sy_change_t c;
    int rc;
    if (decode(msg, policy, &c) != 0 || id == NULL || strlen(id) > ID_MAX) {
        /* Cannot happen (a hub wrote it); skipped alike on every hub, and never retried for ever. */
        sy_log(SY_LOG_ERROR, "cluster: an unreadable admin change after log seq %llu: skipped", (unsigned long long)at);
        return 0;
    }
    if (policy == NULL) {
        snprintf(err, sizeof(err), "the config names no policy: no records to change");
        rc = SY_EINVAL;
    } else {
        rc = sy_change_run_txn(txn, &c, &result, err, sizeof(err));
    }
    if (rc != 0 && rc != SY_ENOTFOUND && rc != SY_EINVAL)
        return rc; /* storage: the step is aborted and made again */
    sy_log(SY_LOG_INFO, "cluster: admin %s %s %s (from %s) after log seq %llu: %s",
           c.kind == SY_CHANGE_MERGE ? "merge" : "split", c.a, c.b,
           json_string_value(json_object_get(msg, "node")), (unsigned long long)at, rc == 0 ? "done" : err);
    if (!json_is_true(json_object_get(mark, "mine"))) {
        json_decref(result);
        return 0;
    }
    answer = rc == 0 ? json_pack("{s:i, s:o}", "rc", rc, "result", result)
                     : json_pack("{s:i, s:s}", "rc", rc, "error", err);
    if (answer == NULL)
        return SY_ENOMEM;
    rc = sy_doc_put(txn, SY_DB_META, answer_key(key, sizeof(key), id), answer);
    json_decref(answer);
    return rc;
}

int sy_change_shared_apply_due(sy_txn_t *txn, const sy_policy_t *policy, uint64_t before, size_t max, size_t *done,
                               uint64_t *next)
{
    marks_t m = {.before = before, .max = max, .list = json_array()};
    unsigned char key[MARK_KEY_LEN];
    size_t i;
    json_t *e;
    int rc = m.list != NULL ? scan_marks(txn, &m) : SY_ENOMEM;
    *done = 0;
    json_array_foreach(m.list, i, e)
    {
        if (rc != 0)
            break;
        sy_slice_t k = mark_key(key, (uint64_t)json_integer_value(json_array_get(e, 0)),
                                (uint64_t)json_integer_value(json_array_get(e, 1)));
        json_t *mark = sy_doc_get(txn, SY_DB_META, k);
        rc = make(txn, policy, mark, (uint64_t)json_integer_value(json_array_get(e, 0)));
        json_decref(mark);
        if (rc == 0)
            rc = sy_txn_del(txn, SY_DB_META, k);
        *done += rc == 0;
    }
    json_decref(m.list);
    *next = m.next;
    return rc;
}

int sy_change_shared_due(sy_txn_t *txn, uint64_t cursor)
{
    marks_t m = {.before = cursor + 1, .max = 1, .list = json_array()};
    int rc = m.list != NULL ? scan_marks(txn, &m) : SY_ENOMEM;
    int due = rc == 0 && json_array_size(m.list) != 0;
    json_decref(m.list);
    return due;
}

typedef struct st_take_t {
    sy_slice_t key;
} take_t;

static int take_answer(void *arg, sy_txn_t *txn)
{
    take_t *t = arg;
    int rc = sy_txn_del(txn, SY_DB_META, t->key);
    return rc == SY_ENOTFOUND ? 0 : rc;
}

int sy_change_shared_result(sy_store_t *store, const char *id, json_t **result, char *err, size_t len)
{
    char key[ID_MAX + sizeof(ANSWER_PREFIX)];
    sy_store_read_t *rd;
    take_t t = {answer_key(key, sizeof(key), id)};
    int rc;
    *result = NULL;
    if ((rc = sy_store_read_begin(store, &rd)) != 0)
        return rc;
    json_t *answer = sy_doc_get(rd, SY_DB_META, t.key);
    sy_store_read_end(rd);
    if (answer == NULL)
        return 1;
    rc = (int)json_integer_value(json_object_get(answer, "rc"));
    if (rc == 0)
        *result = json_incref(json_object_get(answer, "result"));
    else
        snprintf(err, len, "%s", json_string_value(json_object_get(answer, "error")) != NULL
                                      ? json_string_value(json_object_get(answer, "error"))
                                      : "refused");
    json_decref(answer);
    /* Collected: removed (a failure to remove leaves a few bytes behind; the answer stands). */
    if (sy_store_write(store, take_answer, &t) != 0)
        sy_log(SY_LOG_WARN, "cluster: the answer of admin change %s stays in meta", id);
    return rc;
}
