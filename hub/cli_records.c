/*
 * `switchyard records get|list|merge|split`, `queue ls` and `health`: golden records, queued pushes and the
 * data-health figures, read straight from the LMDB file (also while `serve` runs).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "codec.h"
#include "records.h"
#include "store.h"

typedef struct st_session_t {
    sy_config_t conf;
    sy_store_t *store;
    sy_policy_t *policy;
} session_t;

static void session_close(session_t *s)
{
    sy_policy_destroy(s->policy);
    sy_store_close(s->store);
    sy_config_dispose(&s->conf);
}

/* Loads config, opens the store (read-only unless write) and, when need_policy, the configured policy. */
static int session_open(sy_cli_t *cli, session_t *s, int write, int need_policy)
{
    sy_error_t err = {0};
    char msg[900];
    memset(s, 0, sizeof(*s));
    if (sy_cli_load_config(cli, &s->conf) != 0)
        return SY_EXIT_USAGE;
    if (sy_store_open(&s->store, s->conf.data_dir, s->conf.map_size, s->conf.map_size_max,
                      write ? 0 : SY_STORE_READONLY, &err) != 0)
        goto Fail;
    if (need_policy) {
        if (s->conf.policy_path == NULL) {
            fprintf(stderr, "switchyard: %s names no policy (key \"policy\")\n", s->conf.path);
            session_close(s);
            return SY_EXIT_USAGE;
        }
        if (sy_policy_load(&s->policy, s->conf.policy_path, &err) != 0) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "%s\n", msg);
            session_close(s);
            return SY_EXIT_USAGE;
        }
    }
    return SY_EXIT_OK;
Fail:
    sy_error_format(&err, msg, sizeof(msg));
    fprintf(stderr, "switchyard: %s\n", msg);
    session_close(s);
    return SY_EXIT_FAIL;
}

static void print_json(json_t *doc, int pretty)
{
    char *s = json_dumps(doc, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s != NULL)
        puts(s);
    free(s);
}

static void format_time(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_record(json_t *rec)
{
    const char *name, *source;
    json_t *f, *ids, *id;
    size_t i;
    char when[32];
    format_time(json_integer_value(json_object_get(rec, "created_at_ms")), when, sizeof(when));
    printf("%s  (created %s)\n  tool objects:", json_string_value(json_object_get(rec, "id")), when);
    json_object_foreach(json_object_get(rec, "xrefs"), source, ids) json_array_foreach(ids, i, id)
        printf(" %s:%s", source, json_string_value(id));
    printf("\n\n  %-20s %-32s %-10s %-21s %8s  %s\n", "field", "value", "owner", "version", "seq", "policy");
    json_object_foreach(json_object_get(rec, "fields"), name, f)
    {
        format_time(json_integer_value(json_object_get(f, "version_ms")), when, sizeof(when));
        printf("  %-20s %-32s %-10s %-21s %8lld  %s\n", name, json_string_value(json_object_get(f, "value")),
               json_string_value(json_object_get(f, "source")), when,
               (long long)json_integer_value(json_object_get(f, "seq")),
               json_string_value(json_object_get(f, "policy")));
    }
    json_t *frozen = json_object_get(rec, "frozen");
    if (json_object_size(frozen) != 0) {
        printf("\n  frozen (reverts stopped):");
        json_object_foreach(frozen, source, ids) json_array_foreach(ids, i, id)
            printf(" %s.%s", source, json_string_value(id));
        printf("\n");
    }
}

static int cmd_get(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    int rc = SY_EXIT_FAIL;
    if (cli->num_args != 1) {
        fprintf(stderr, "usage: switchyard records get <cust_N | email | source:external_id> [--json]\n");
        return SY_EXIT_USAGE;
    }
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    char *id = sy_records_find(txn, s->policy, cli->args[0]);
    json_t *rec = id != NULL ? sy_records_load(txn, id) : NULL;
    if (rec == NULL) {
        fprintf(stderr, "switchyard: no golden record for \"%s\"\n", cli->args[0]);
    } else {
        if (cli->json)
            print_json(rec, 0);
        else
            print_record(rec);
        rc = SY_EXIT_OK;
    }
    json_decref(rec);
    free(id);
    sy_txn_abort(txn);
    return rc;
}

typedef struct st_list_ctx_t {
    int json;
    long left;
} list_ctx_t;

static int on_record(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_ctx_t *c = arg;
    json_t *rec = sy_codec_doc_decode(val.base, val.len);
    if (rec != NULL && json_object_get(rec, "merged_into") == NULL) {
        if (c->json) {
            print_json(rec, 0);
        } else {
            const char *email = json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), "email"), "value"));
            const char *name = json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), "name"), "value"));
            printf("%-12s %-32s %s\n", json_string_value(json_object_get(rec, "id")), email != NULL ? email : "-",
                   name != NULL ? name : "-");
        }
        --c->left;
    }
    json_decref(rec);
    return c->left == 0;
}

static int cmd_list(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    list_ctx_t c = {cli->json, cli->count > 0 ? cli->count : -1};
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    sy_txn_scan(txn, SY_DB_RECORDS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_record, &c);
    sy_txn_abort(txn);
    return SY_EXIT_OK;
}

/* merge A B / split ID SOURCE:EXT: one write transaction each, logged in the audit DB. */
static int cmd_change(session_t *s, sy_cli_t *cli, int merge)
{
    sy_txn_t *txn;
    char err[512] = "", *new_id = NULL;
    int rc;
    if (cli->num_args != 2) {
        fprintf(stderr, merge ? "usage: switchyard records merge KEEP DROP\n"
                              : "usage: switchyard records split RECORD SOURCE:EXTERNAL_ID\n");
        return SY_EXIT_USAGE;
    }
    const char *colon = strchr(cli->args[1], ':');
    if (!merge && colon == NULL) {
        fprintf(stderr, "switchyard: name the tool object as SOURCE:EXTERNAL_ID, e.g. stripe:cus_123\n");
        return SY_EXIT_USAGE;
    }
    if ((rc = sy_txn_begin(s->store, 1, &txn)) != 0) {
        fprintf(stderr, "switchyard: %s\n", sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    char *a = sy_records_find(txn, s->policy, cli->args[0]), *b = merge ? sy_records_find(txn, s->policy, cli->args[1]) : NULL;
    if (a == NULL || (merge && b == NULL)) {
        snprintf(err, sizeof(err), "no golden record for \"%s\"", a == NULL ? cli->args[0] : cli->args[1]);
        rc = SY_ENOTFOUND;
    } else if (merge) {
        rc = sy_records_merge(txn, s->policy, a, b, sy_now_ms(), "admin", err, sizeof(err));
    } else {
        char source[128];
        snprintf(source, sizeof(source), "%.*s", (int)(colon - cli->args[1]), cli->args[1]);
        rc = sy_records_split(txn, s->policy, a, source, colon + 1, sy_now_ms(), &new_id, err, sizeof(err));
    }
    if (rc == 0)
        rc = sy_txn_commit(txn);
    else
        sy_txn_abort(txn);
    if (rc == 0 && merge)
        printf("merged %s into %s (undo: switchyard records split %s SOURCE:ID for each object of %s)\n", b, a, a, b);
    else if (rc == 0)
        printf("split %s out of %s into %s (undo: switchyard records merge %s %s)\n", cli->args[1], a, new_id, a, new_id);
    else
        fprintf(stderr, "switchyard: %s\n", err[0] != '\0' ? err : sy_strerror(rc));
    free(a);
    free(b);
    free(new_id);
    return rc == 0 ? SY_EXIT_OK : SY_EXIT_FAIL;
}

static int on_push(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_ctx_t *c = arg;
    json_t *push = sy_codec_doc_decode(val.base, val.len);
    if (push == NULL)
        return 0;
    if (c->json) {
        print_json(push, 0);
    } else {
        char when[32];
        format_time(json_integer_value(json_object_get(push, "due_at_ms")), when, sizeof(when));
        char *fields = json_dumps(json_object_get(push, "fields"), JSON_COMPACT);
        printf("%-6s %-10s %-12s %-21s %2lld  %s\n", json_string_value(json_object_get(push, "id")),
               json_string_value(json_object_get(push, "spoke")), json_string_value(json_object_get(push, "record")),
               when, (long long)json_integer_value(json_object_get(push, "attempts")), fields != NULL ? fields : "");
        free(fields);
    }
    json_decref(push);
    return 0;
}

static int cmd_queue_ls(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    list_ctx_t c = {cli->json, -1};
    uint64_t n = 0;
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    sy_txn_count(txn, SY_DB_OUTBOX, &n);
    if (!cli->json)
        printf("%llu queued push(es)\n%-6s %-10s %-12s %-21s %2s  %s\n", (unsigned long long)n, "id", "spoke",
               "record", "due", "tr", "fields");
    sy_txn_scan(txn, SY_DB_OUTBOX, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_push, &c);
    sy_txn_abort(txn);
    return SY_EXIT_OK;
}

/* --- queue retry/drop, dead ls/retry ------------------------------------------------------------------------ */

typedef struct st_find_push_t {
    const char *id;
    unsigned char key[16];
    json_t *doc;
} find_push_t;

static int on_find_push(void *arg, sy_slice_t key, sy_slice_t val)
{
    find_push_t *f = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc != NULL && key.len == 16 && strcmp(json_string_value(json_object_get(doc, "id")), f->id) == 0) {
        memcpy(f->key, key.base, 16);
        f->doc = doc;
        return 1;
    }
    json_decref(doc);
    return 0;
}

/* Queues doc (a push) due now under a fresh key and points the coalescing index at it. */
static int queue_now(sy_txn_t *txn, json_t *doc, uint64_t push_id)
{
    unsigned char key[16];
    char pkey[600];
    int64_t now = sy_now_ms();
    sy_put_be64(key, (uint64_t)now);
    sy_put_be64(key + 8, push_id);
    json_object_set_new(doc, "due_at_ms", json_integer(now));
    snprintf(pkey, sizeof(pkey), "%s\x1f%s", json_string_value(json_object_get(doc, "spoke")),
             json_string_value(json_object_get(doc, "record")));
    int rc = sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16}, doc);
    sy_slice_t existing;
    if (rc == 0 && sy_txn_get(txn, SY_DB_PENDING, sy_slice_cstr(pkey), &existing) == SY_ENOTFOUND)
        rc = sy_txn_put(txn, SY_DB_PENDING, sy_slice_cstr(pkey), (sy_slice_t){(const char *)key, 16});
    return rc;
}

static int cmd_queue_change(session_t *s, sy_cli_t *cli, int drop)
{
    sy_txn_t *txn;
    find_push_t f = {0};
    char pkey[600];
    int rc;
    if (cli->num_args != 1) {
        fprintf(stderr, "usage: switchyard queue %s ID\n", drop ? "drop" : "retry");
        return SY_EXIT_USAGE;
    }
    f.id = cli->args[0];
    if ((rc = sy_txn_begin(s->store, 1, &txn)) != 0) {
        fprintf(stderr, "switchyard: %s\n", sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    sy_txn_scan(txn, SY_DB_OUTBOX, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_find_push, &f);
    if (f.doc == NULL) {
        sy_txn_abort(txn);
        fprintf(stderr, "switchyard: no queued push %s (see switchyard queue ls)\n", f.id);
        return SY_EXIT_FAIL;
    }
    rc = sy_txn_del(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)f.key, 16});
    snprintf(pkey, sizeof(pkey), "%s\x1f%s", json_string_value(json_object_get(f.doc, "spoke")),
             json_string_value(json_object_get(f.doc, "record")));
    if (rc == 0)
        sy_txn_del(txn, SY_DB_PENDING, sy_slice_cstr(pkey));
    if (rc == 0 && !drop)
        rc = queue_now(txn, f.doc, sy_get_be64(f.key + 8));
    rc = rc == 0 ? sy_txn_commit(txn) : (sy_txn_abort(txn), rc);
    if (rc == 0)
        printf(drop ? "dropped push %s\n" : "push %s is due now\n", f.id);
    else
        fprintf(stderr, "switchyard: %s\n", sy_strerror(rc));
    json_decref(f.doc);
    return rc == 0 ? SY_EXIT_OK : SY_EXIT_FAIL;
}

static int on_dead(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_ctx_t *c = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc == NULL)
        return 0;
    if (c->json) {
        print_json(doc, 0);
    } else {
        json_t *resp = json_object_get(doc, "response");
        const char *body = json_string_value(json_object_get(resp, "body"));
        printf("%-6s %-10s %-12s %3lld  %s: %.80s\n", json_string_value(json_object_get(doc, "id")),
               json_string_value(json_object_get(doc, "spoke")), json_string_value(json_object_get(doc, "record")),
               (long long)json_integer_value(json_object_get(resp, "status")),
               json_string_value(json_object_get(doc, "reason")), body != NULL ? body : "");
    }
    json_decref(doc);
    return 0;
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

static int revive(sy_txn_t *txn, json_t *entry)
{
    uint64_t push_id = (uint64_t)json_integer_value(json_array_get(entry, 0));
    json_t *doc = json_array_get(entry, 1);
    unsigned char kb[8];
    json_object_del(doc, "died_at_ms");
    json_object_del(doc, "reason");
    json_object_del(doc, "response");
    json_object_set_new(doc, "attempts", json_integer(0));
    json_object_set_new(doc, "enqueued_at_ms", json_integer(sy_now_ms())); /* a fresh max-age window */
    sy_put_be64(kb, push_id);
    int rc = queue_now(txn, doc, push_id);
    return rc == 0 ? sy_txn_del(txn, SY_DB_DEAD, (sy_slice_t){(const char *)kb, 8}) : rc;
}

static int cmd_dead(session_t *s, sy_cli_t *cli, int retry)
{
    sy_txn_t *txn;
    int rc;
    if (!retry) {
        list_ctx_t c = {cli->json, -1};
        if (sy_txn_begin(s->store, 0, &txn) != 0)
            return SY_EXIT_FAIL;
        sy_txn_scan(txn, SY_DB_DEAD, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_dead, &c);
        sy_txn_abort(txn);
        return SY_EXIT_OK;
    }
    if ((cli->num_args != 1) == !cli->all) {
        fprintf(stderr, "usage: switchyard dead retry ID | --all\n");
        return SY_EXIT_USAGE;
    }
    if ((rc = sy_txn_begin(s->store, 1, &txn)) != 0) {
        fprintf(stderr, "switchyard: %s\n", sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    revive_t r = {.id = cli->all ? NULL : cli->args[0], .found = json_array()};
    size_t i;
    json_t *entry;
    int scanned = sy_txn_scan(txn, SY_DB_DEAD, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_revive, &r);
    size_t revived = json_array_size(r.found);
    rc = scanned < 0 ? scanned : 0;
    json_array_foreach(r.found, i, entry)
    {
        if (rc == 0)
            rc = revive(txn, entry);
    }
    json_decref(r.found);
    if (rc != 0)
        sy_txn_abort(txn);
    else
        rc = sy_txn_commit(txn);
    if (rc != 0) {
        fprintf(stderr, "switchyard: %s\n", sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    if (revived == 0) {
        fprintf(stderr, "switchyard: no dead letter %s\n", cli->all ? "" : cli->args[0]);
        return SY_EXIT_FAIL;
    }
    printf("%zu dead letter(s) queued again\n", revived);
    return SY_EXIT_OK;
}

/* --- health ------------------------------------------------------------------------------------------------ */

typedef struct st_health_t {
    const sy_policy_t *policy;
    json_t *duplicates, *double_billing, *suggestions, *missing;
    uint64_t records, complete;
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
    if (json_array_size(billing) > 1)
        json_array_append_new(h->double_billing, json_pack("{s:s, s:O}", "record", id, "subscriptions", billing));
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

static int cmd_health(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    health_t h = {.policy = s->policy, .duplicates = json_array(), .double_billing = json_array(),
                  .suggestions = json_array(), .missing = json_object(), .group = json_array()};
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    sy_txn_scan(txn, SY_DB_RECORDS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_health_record, &h);
    sy_txn_scan(txn, SY_DB_SUGGEST, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_suggest, &h);
    flush_group(&h);
    json_t *stats = sy_records_stats(txn);
    uint64_t cursor = 0, last = 0, queued = 0;
    sy_meta_get_u64(txn, "applier_cursor", &cursor);
    sy_store_last_seq(txn, &last);
    sy_txn_count(txn, SY_DB_OUTBOX, &queued);
    sy_txn_abort(txn);
    json_decref(h.group);

    json_t *report = json_pack("{s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I}, s:I}", "records",
                               (json_int_t)h.records, "complete_records", (json_int_t)h.complete, "complete_share",
                               h.records != 0 ? (double)h.complete / (double)h.records : 1.0, "duplicates", h.duplicates,
                               "double_billing", h.double_billing, "merge_suggestions", h.suggestions, "missing_fields",
                               h.missing, "counters", stats, "applier", "cursor", (json_int_t)cursor, "lag",
                               (json_int_t)(last - cursor), "queued_pushes", (json_int_t)queued);
    if (cli->json) {
        print_json(report, 0);
    } else {
        printf("golden records       %llu (%llu complete)\n", (unsigned long long)h.records,
               (unsigned long long)h.complete);
        printf("duplicates           %zu (two objects of one tool on one customer)\n", json_array_size(h.duplicates));
        size_t i;
        json_t *d;
        json_array_foreach(h.duplicates, i, d)
        {
            char *ids = json_dumps(json_object_get(d, "ids"), JSON_COMPACT);
            printf("  %s: %s %s\n", json_string_value(json_object_get(d, "record")),
                   json_string_value(json_object_get(d, "source")), ids);
            free(ids);
        }
        printf("double billing       %zu (two active subscriptions on one customer)\n", json_array_size(h.double_billing));
        json_array_foreach(h.double_billing, i, d) printf("  %s\n", json_string_value(json_object_get(d, "record")));
        printf("merge suggestions    %zu (same weak key, e.g. company name)\n", json_array_size(h.suggestions));
        json_array_foreach(h.suggestions, i, d)
        {
            char *recs = json_dumps(json_object_get(d, "records"), JSON_COMPACT);
            printf("  %s \"%s\": %s\n", json_string_value(json_object_get(d, "key")),
                   json_string_value(json_object_get(d, "value")), recs);
            free(recs);
        }
        printf("applier              cursor %llu, lag %llu; %llu queued push(es)\ncounters            ",
               (unsigned long long)cursor, (unsigned long long)(last - cursor), (unsigned long long)queued);
        const char *name;
        json_t *n;
        json_object_foreach(stats, name, n) printf(" %s=%lld", name, (long long)json_integer_value(n));
        printf("\n");
    }
    json_decref(report);
    return SY_EXIT_OK;
}

int sy_cli_records(sy_cli_t *cli, const char *group, const char *verb)
{
    session_t s;
    int rc, write = 0, need_policy = 1;
    enum { GET, LIST, MERGE, SPLIT, QUEUE_LS, QUEUE_RETRY, QUEUE_DROP, DEAD_LS, DEAD_RETRY, HEALTH } cmd;

    if (strcmp(group, "health") == 0)
        cmd = HEALTH;
    else if (strcmp(group, "queue") == 0 && verb != NULL && strcmp(verb, "ls") == 0)
        cmd = QUEUE_LS, need_policy = 0;
    else if (strcmp(group, "queue") == 0 && verb != NULL && strcmp(verb, "retry") == 0)
        cmd = QUEUE_RETRY, need_policy = 0, write = 1;
    else if (strcmp(group, "queue") == 0 && verb != NULL && strcmp(verb, "drop") == 0)
        cmd = QUEUE_DROP, need_policy = 0, write = 1;
    else if (strcmp(group, "dead") == 0 && verb != NULL && strcmp(verb, "ls") == 0)
        cmd = DEAD_LS, need_policy = 0;
    else if (strcmp(group, "dead") == 0 && verb != NULL && strcmp(verb, "retry") == 0)
        cmd = DEAD_RETRY, need_policy = 0, write = 1;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "get") == 0)
        cmd = GET;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "list") == 0)
        cmd = LIST, need_policy = 0;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "merge") == 0)
        cmd = MERGE, write = 1;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "split") == 0)
        cmd = SPLIT, write = 1;
    else {
        fprintf(stderr, "switchyard: unknown command \"%s %s\" (see switchyard help)\n", group, verb != NULL ? verb : "");
        return SY_EXIT_USAGE;
    }
    if ((rc = session_open(cli, &s, write, need_policy)) != SY_EXIT_OK)
        return rc;
    switch (cmd) {
    case GET:
        rc = cmd_get(&s, cli);
        break;
    case LIST:
        rc = cmd_list(&s, cli);
        break;
    case MERGE:
    case SPLIT:
        rc = cmd_change(&s, cli, cmd == MERGE);
        break;
    case QUEUE_LS:
        rc = cmd_queue_ls(&s, cli);
        break;
    case QUEUE_RETRY:
    case QUEUE_DROP:
        rc = cmd_queue_change(&s, cli, cmd == QUEUE_DROP);
        break;
    case DEAD_LS:
    case DEAD_RETRY:
        rc = cmd_dead(&s, cli, cmd == DEAD_RETRY);
        break;
    case HEALTH:
        rc = cmd_health(&s, cli);
        break;
    }
    session_close(&s);
    return rc;
}
