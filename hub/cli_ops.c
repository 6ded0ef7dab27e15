/*
 * `switchyard replay` and `switchyard export`: operations on the log and the golden records, also while `serve`
 * runs (LMDB serialises writers across processes; replay works in short transactions so ingest keeps flowing).
 */
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "map.h"
#include "observe.h"
#include "records.h"
#include "store.h"

#define REPLAY_BATCH 256

/* "2026-11-20T08:00Z", "2026-11-20T08:00:00Z", "2026-11-20" (UTC) → ms. */
static int parse_time(const char *s, int64_t *ms)
{
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(formats); ++i) {
        struct tm tm = {0};
        const char *end = strptime(s, formats[i], &tm);
        if (end != NULL && *end == '\0') {
            *ms = (int64_t)timegm(&tm) * 1000;
            return 0;
        }
    }
    return SY_EINVAL;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (s == NULL)
        return 0;
    *v = strtoull(s, &end, 10);
    return *end == '\0' && end != s ? 0 : SY_EINVAL;
}

typedef struct st_selection_t {
    uint64_t from_seq, to_seq;
    int64_t since_ms, until_ms;
    const char *source, *type;
} selection_t;

static int read_selection(const sy_cli_t *cli, selection_t *sel)
{
    memset(sel, 0, sizeof(*sel));
    sel->to_seq = UINT64_MAX;
    sel->until_ms = INT64_MAX;
    sel->source = cli->source;
    sel->type = cli->type;
    if (parse_u64(cli->from_seq, &sel->from_seq) != 0 || parse_u64(cli->to_seq, &sel->to_seq) != 0) {
        fprintf(stderr, "switchyard: --from-seq and --to-seq take a number\n");
        return SY_EXIT_USAGE;
    }
    if ((cli->since != NULL && parse_time(cli->since, &sel->since_ms) != 0) ||
        (cli->until != NULL && parse_time(cli->until, &sel->until_ms) != 0)) {
        fprintf(stderr, "switchyard: --since/--until take a UTC time like 2026-11-20T08:00Z or 2026-11-20\n");
        return SY_EXIT_USAGE;
    }
    return SY_EXIT_OK;
}

static int selected(const selection_t *sel, const sy_event_t *ev)
{
    char buf[256];
    if (ev->seq < sel->from_seq || ev->seq > sel->to_seq || ev->received_at_ms < sel->since_ms ||
        ev->received_at_ms > sel->until_ms)
        return 0;
    if (sel->source != NULL && !sy_slice_eq_cstr(ev->source, sel->source))
        return 0;
    if (sel->type != NULL) {
        snprintf(buf, sizeof(buf), "%.*s", (int)ev->type.len, ev->type.base);
        if (fnmatch(sel->type, buf, 0) != 0)
            return 0;
    }
    return 1;
}

/* --- replay -------------------------------------------------------------------------------------------------- */

typedef struct st_replay_t {
    sy_config_t conf;
    sy_store_t *store;
    sy_policy_t *policy;
    selection_t sel;
    int repush, dry_run;
    size_t spoke;
    uint64_t seen, matched;
    sy_apply_stats_t stats;
    json_t *before; /* dry run: record id → fields before the batch */
    json_t *repushed; /* repush: records already queued in this run */
} replay_t;

static const char *record_of(sy_txn_t *txn, const sy_policy_t *p, const sy_observation_t *o, char *buf, size_t len)
{
    char query[512];
    snprintf(query, sizeof(query), "%s:%s", p->sources[o->source].name, o->external_id);
    char *id = sy_records_find(txn, p, query);
    if (id == NULL)
        return NULL;
    snprintf(buf, len, "%s", id);
    free(id);
    return buf;
}

static void remember_before(replay_t *r, sy_txn_t *txn, const char *id)
{
    if (id == NULL || json_object_get(r->before, id) != NULL)
        return;
    json_t *rec = sy_records_load(txn, id);
    json_object_set_new(r->before, id, rec != NULL ? json_incref(json_object_get(rec, "fields")) : json_object());
    json_decref(rec);
}

/* Dry run: what the batch would change, record by record and field by field. */
static void print_diff(replay_t *r, sy_txn_t *txn, uint64_t first_new_record)
{
    const char *id;
    json_t *before;
    uint64_t next = 0;
    sy_meta_get_u64(txn, "next_record", &next);
    for (uint64_t n = first_new_record + 1; n <= next; ++n) {
        char nid[64];
        snprintf(nid, sizeof(nid), "cust_%llu", (unsigned long long)n);
        if (json_object_get(r->before, nid) == NULL)
            json_object_set_new(r->before, nid, json_object());
    }
    json_object_foreach(r->before, id, before)
    {
        json_t *rec = sy_records_load(txn, id);
        json_t *after = rec != NULL ? json_object_get(rec, "fields") : NULL;
        const char *field;
        json_t *state;
        json_object_foreach(after, field, state)
        {
            const char *was = json_string_value(json_object_get(json_object_get(before, field), "value"));
            const char *now = json_string_value(json_object_get(state, "value"));
            if (was == NULL || strcmp(was, now) != 0)
                printf("%-12s %-20s %s -> %s   (%s, seq %lld)\n", id, field, was != NULL ? was : "(none)", now,
                       json_string_value(json_object_get(state, "source")),
                       (long long)json_integer_value(json_object_get(state, "seq")));
        }
        json_decref(rec);
    }
    json_object_clear(r->before);
}

/* One batch in one transaction (aborted in a dry run). Returns events consumed, 0 at the end, or an error. */
static int replay_batch(replay_t *r, uint64_t *after)
{
    sy_txn_t *txn;
    sy_event_t ev;
    int rc, n = 0;
    uint64_t first_new = 0;
    if ((rc = sy_txn_begin(r->store, 1, &txn)) != 0)
        return rc;
    sy_meta_get_u64(txn, "next_record", &first_new);
    sy_apply_ctx_t ctx = {.txn = txn, .policy = r->policy, .now_ms = sy_now_ms(), .stats = &r->stats};
    while (n != REPLAY_BATCH && (rc = sy_store_event_next(txn, *after, &ev)) == 0 && ev.seq <= r->sel.to_seq) {
        ++n;
        ++r->seen;
        *after = ev.seq;
        if (!selected(&r->sel, &ev))
            continue;
        ++r->matched;
        sy_observation_t *obs;
        size_t nobs;
        if (sy_observe(r->policy, &ev, &obs, &nobs) != 0)
            continue;
        ctx.seq = ev.seq;
        for (size_t i = 0; i != nobs && rc == 0; ++i) {
            char idbuf[128];
            const char *id = record_of(txn, r->policy, &obs[i], idbuf, sizeof(idbuf));
            if (r->dry_run)
                remember_before(r, txn, id);
            if (!r->repush) {
                rc = sy_records_apply(&ctx, &obs[i]);
            } else if (id != NULL && json_object_get(r->repushed, id) == NULL) {
                json_object_set_new(r->repushed, id, json_true());
                rc = sy_records_repush(&ctx, id, r->spoke);
            }
        }
        sy_observations_free(obs, nobs);
        if (rc != 0)
            goto Abort;
    }
    if (rc != 0 && rc != SY_ENOTFOUND)
        goto Abort;
    if (r->dry_run) {
        print_diff(r, txn, first_new);
        sy_txn_abort(txn);
        return n;
    }
    if ((rc = sy_records_add_stats(txn, &r->stats)) != 0)
        goto Abort;
    memset(&r->stats, 0, sizeof(r->stats)); /* added: the next batch counts afresh */
    return (rc = sy_txn_commit(txn)) != 0 ? rc : n;
Abort:
    sy_txn_abort(txn);
    return rc;
}

int sy_cli_replay(sy_cli_t *cli)
{
    replay_t r = {0};
    sy_error_t err = {0};
    char msg[900];
    int rc = SY_EXIT_FAIL;
    uint64_t after, last = 0;

    if ((rc = read_selection(cli, &r.sel)) != SY_EXIT_OK)
        return rc;
    const char *mode = cli->mode != NULL ? cli->mode : "reapply";
    r.repush = strcmp(mode, "repush") == 0;
    r.dry_run = cli->dry_run;
    if ((!r.repush && strcmp(mode, "reapply") != 0) || (r.repush && cli->spoke == NULL)) {
        fprintf(stderr, "usage: switchyard replay ... --mode reapply | --mode repush --spoke NAME [--dry-run]\n");
        return SY_EXIT_USAGE;
    }
    if (sy_cli_load_config(cli, &r.conf) != 0)
        return SY_EXIT_USAGE;
    rc = SY_EXIT_USAGE;
    if (r.conf.policy_path == NULL) {
        fprintf(stderr, "switchyard: %s names no policy: nothing to replay into\n", r.conf.path);
        goto Exit;
    }
    if (sy_policy_load(&r.policy, r.conf.policy_path, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        goto Exit;
    }
    if (r.repush && (r.spoke = sy_policy_source_index(r.policy, cli->spoke)) == SY_POLICY_NONE) {
        fprintf(stderr, "switchyard: the policy has no source \"%s\"\n", cli->spoke);
        goto Exit;
    }
    rc = SY_EXIT_FAIL;
    if (sy_store_open(&r.store, r.conf.data_dir, r.conf.map_size, r.conf.map_size_max, 0, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        goto Exit;
    }
    sy_txn_t *txn;
    if (sy_txn_begin(r.store, 0, &txn) == 0) {
        sy_store_last_seq(txn, &last);
        sy_txn_abort(txn);
    }
    r.before = json_object();
    r.repushed = json_object();
    after = r.sel.from_seq > 0 ? r.sel.from_seq - 1 : 0;
    int tty = isatty(STDERR_FILENO);
    int n;
    while ((n = replay_batch(&r, &after)) > 0) {
        if (tty)
            fprintf(stderr, "\r%s: %llu of %llu events read, %llu selected", r.dry_run ? "dry run" : "replay",
                    (unsigned long long)after, (unsigned long long)last, (unsigned long long)r.matched);
    }
    if (tty)
        fputc('\n', stderr);
    if (n < 0) {
        fprintf(stderr, "switchyard: replay stopped at seq %llu: %s (what was committed stays; run it again)\n",
                (unsigned long long)after, sy_strerror(n));
        goto Exit;
    }
    printf("%s %s: %llu events read, %llu selected%s\n", r.dry_run ? "dry run of" : "done:", mode,
           (unsigned long long)r.seen, (unsigned long long)r.matched,
           r.dry_run ? " (nothing written; each batch of 256 is judged against the records as they are)" : "");
    rc = SY_EXIT_OK;
Exit:
    json_decref(r.before);
    json_decref(r.repushed);
    sy_store_close(r.store);
    sy_policy_destroy(r.policy);
    sy_config_dispose(&r.conf);
    return rc;
}

/* --- export --------------------------------------------------------------------------------------------------- */

/* RFC 4180: quote when needed, double the quotes. */
static void csv_cell(const char *s, int last)
{
    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\r\n") != NULL) {
        putchar('"');
        for (; *s != '\0'; ++s) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

typedef struct st_export_t {
    const sy_policy_t *policy;
    int csv;
    const selection_t *sel;
} export_t;

static int on_export_record(void *arg, sy_slice_t key, sy_slice_t val)
{
    export_t *x = arg;
    json_t *rec = sy_codec_doc_decode(val.base, val.len);
    if (rec == NULL || json_object_get(rec, "merged_into") != NULL) {
        json_decref(rec);
        return 0;
    }
    if (!x->csv) {
        char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s != NULL)
            puts(s);
        free(s);
    } else {
        char xrefs[2048] = "";
        size_t off = 0;
        const char *source;
        json_t *ids, *id;
        size_t i;
        json_object_foreach(json_object_get(rec, "xrefs"), source, ids) json_array_foreach(ids, i, id)
        {
            int w = snprintf(xrefs + off, sizeof(xrefs) - off, "%s%s:%s", off != 0 ? " " : "", source, json_string_value(id));
            if (w > 0 && (size_t)w < sizeof(xrefs) - off)
                off += (size_t)w;
        }
        csv_cell(json_string_value(json_object_get(rec, "id")), 0);
        for (size_t fi = 0; fi != x->policy->num_fields; ++fi)
            csv_cell(json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), x->policy->fields[fi].name), "value")), 0);
        csv_cell(xrefs, 1);
    }
    json_decref(rec);
    return 0;
}

static int export_records(sy_txn_t *txn, const sy_policy_t *p, int csv)
{
    export_t x = {.policy = p, .csv = csv};
    if (csv) {
        csv_cell("id", 0);
        for (size_t fi = 0; fi != p->num_fields; ++fi)
            csv_cell(p->fields[fi].name, 0);
        csv_cell("tool_objects", 1);
    }
    return sy_txn_scan(txn, SY_DB_RECORDS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_export_record, &x);
}

static int export_events(sy_txn_t *txn, const selection_t *sel, int csv)
{
    sy_event_t ev;
    uint64_t after = sel->from_seq > 0 ? sel->from_seq - 1 : 0;
    char buf[600];
    if (csv)
        puts("seq,received_at_ms,occurred_at_ms,source,event_id,type,body_bytes");
    while (sy_store_event_next(txn, after, &ev) == 0 && ev.seq <= sel->to_seq) {
        after = ev.seq;
        if (!selected(sel, &ev))
            continue;
        if (csv) {
            printf("%llu,%lld,%lld,", (unsigned long long)ev.seq, (long long)ev.received_at_ms, (long long)ev.occurred_at_ms);
            snprintf(buf, sizeof(buf), "%.*s", (int)ev.source.len, ev.source.base);
            csv_cell(buf, 0);
            snprintf(buf, sizeof(buf), "%.*s", (int)ev.event_id.len, ev.event_id.base);
            csv_cell(buf, 0);
            snprintf(buf, sizeof(buf), "%.*s", (int)ev.type.len, ev.type.base);
            csv_cell(buf, 0);
            printf("%zu\n", ev.body.len);
        } else {
            json_t *body = json_loadb(ev.body.base, ev.body.len, JSON_DECODE_ANY, NULL);
            json_t *o = json_pack("{s:I, s:s%, s:s%, s:s%, s:I, s:I, s:o}", "seq", (json_int_t)ev.seq, "source",
                                  ev.source.base, ev.source.len, "event_id", ev.event_id.base, ev.event_id.len, "type",
                                  ev.type.base, ev.type.len, "received_at_ms", (json_int_t)ev.received_at_ms,
                                  "occurred_at_ms", (json_int_t)ev.occurred_at_ms, "body",
                                  body != NULL ? body : json_null());
            char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            if (s != NULL)
                puts(s);
            free(s);
            json_decref(o);
        }
    }
    return 0;
}

int sy_cli_export(sy_cli_t *cli, const char *what)
{
    sy_config_t conf;
    sy_store_t *store = NULL;
    sy_policy_t *policy = NULL;
    sy_error_t err = {0};
    selection_t sel;
    char msg[900];
    int rc;
    const char *format = cli->format != NULL ? cli->format : "jsonl";
    int csv = strcmp(format, "csv") == 0;

    if ((strcmp(what, "records") != 0 && strcmp(what, "events") != 0) || (!csv && strcmp(format, "jsonl") != 0)) {
        fprintf(stderr, "usage: switchyard export records|events [--format csv|jsonl] (events: the replay filters)\n");
        return SY_EXIT_USAGE;
    }
    if ((rc = read_selection(cli, &sel)) != SY_EXIT_OK)
        return rc;
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    rc = SY_EXIT_FAIL;
    if (strcmp(what, "records") == 0) {
        if (conf.policy_path == NULL || sy_policy_load(&policy, conf.policy_path, &err) != 0) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "switchyard: the records' columns come from the policy: %s\n",
                    conf.policy_path == NULL ? "the config names none" : msg);
            rc = SY_EXIT_USAGE;
            goto Exit;
        }
    }
    if (sy_store_open(&store, conf.data_dir, conf.map_size, conf.map_size_max, SY_STORE_READONLY, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        goto Exit;
    }
    sy_txn_t *txn;
    if (sy_txn_begin(store, 0, &txn) != 0)
        goto Exit;
    /* One read transaction: a consistent snapshot even while the hub writes. */
    int erc = policy != NULL ? export_records(txn, policy, csv) : export_events(txn, &sel, csv);
    sy_txn_abort(txn);
    rc = erc == 0 ? SY_EXIT_OK : SY_EXIT_FAIL;
Exit:
    sy_store_close(store);
    sy_policy_destroy(policy);
    sy_config_dispose(&conf);
    return rc;
}

/* --- map ---------------------------------------------------------------------------------------------------------- */

int sy_cli_map(sy_cli_t *cli)
{
    sy_config_t conf;
    sy_policy_t *policy;
    sy_error_t err = {0};
    char msg[900];
    const char *path = cli->num_args == 1 ? cli->args[0] : NULL;
    int loaded_conf = 0;
    if (path == NULL) {
        if (sy_cli_load_config(cli, &conf) != 0)
            return SY_EXIT_USAGE;
        loaded_conf = 1;
        path = conf.policy_path != NULL ? conf.policy_path : "policies";
    }
    int rc = sy_policy_load(&policy, path, &err);
    if (rc != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
    } else {
        if ((rc = sy_map_write(policy, cli->format != NULL ? cli->format : "mermaid", stdout)) != 0)
            fprintf(stderr, "usage: switchyard map [POLICY] [--format mermaid|dot]\n");
        sy_policy_destroy(policy);
    }
    if (loaded_conf)
        sy_config_dispose(&conf);
    return rc == 0 ? SY_EXIT_OK : SY_EXIT_USAGE;
}
