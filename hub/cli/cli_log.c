/*
 * `switchyard log tail|show|stats`: read the event log, also while `serve` runs on the same data dir
 * (LMDB readers in another process never block the writer).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_remote.h"
#include "compact.h"
#include "codec.h"
#include "records.h"
#include "store.h"
#include "yamldoc.h"

#define FOLLOW_POLL_US 200000
#define MAX_TRACKED_TYPES 4096

static int open_store(sy_cli_t *cli, sy_config_t *conf, sy_store_t **store)
{
    sy_error_t err = {0};
    char msg[900];
    if (sy_cli_load_config(cli, conf) != 0)
        return SY_EXIT_USAGE;
    if (sy_store_open(store, conf->data_dir, conf->map_size, conf->map_size_max, SY_STORE_READONLY, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        sy_config_dispose(conf);
        return SY_EXIT_FAIL;
    }
    return SY_EXIT_OK;
}

static void format_time(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char stamp[32];
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", stamp, (int)(ms % 1000));
}

static json_t *slice_json(sy_slice_t s)
{
    return json_stringn_nocheck(s.base, s.len);
}

/* The event as a JSON object; the body is embedded as JSON (it was validated at ingress). */
static json_t *event_json(const sy_event_t *ev)
{
    json_t *o = json_object(), *body = sy_event_body_json(ev, NULL);
    json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
    json_object_set_new(o, "source", slice_json(ev->source));
    json_object_set_new(o, "connector", slice_json(ev->connector));
    json_object_set_new(o, "event_id", slice_json(ev->event_id));
    json_object_set_new(o, "type", slice_json(ev->type));
    json_object_set_new(o, "received_at_ms", json_integer(ev->received_at_ms));
    json_object_set_new(o, "occurred_at_ms", json_integer(ev->occurred_at_ms));
    json_object_set_new(o, "signature", slice_json(ev->signature));
    json_object_set_new(o, "batch_index", json_integer(ev->batch_index));
    json_object_set_new(o, "batch_size", json_integer(ev->batch_size));
    json_object_set_new(o, "body_bytes", json_integer((json_int_t)ev->body.len));
    json_object_set_new(o, "body", body != NULL ? body : slice_json(ev->body));
    return o;
}

static void print_json_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s != NULL)
        puts(s);
    free(s);
}

static void print_event_line(const sy_event_t *ev, int as_json)
{
    if (as_json) {
        json_t *o = event_json(ev);
        print_json_line(o);
        json_decref(o);
        return;
    }
    char when[40];
    format_time(ev->received_at_ms, when, sizeof(when));
    printf("%8llu  %s  %-10.*s %-34.*s %.*s  (%zu bytes)\n", (unsigned long long)ev->seq, when, (int)ev->source.len,
           ev->source.base, (int)ev->type.len, ev->type.base, (int)ev->event_id.len, ev->event_id.base, ev->body.len);
}

static int cmd_show(sy_store_t *store, sy_cli_t *cli)
{
    sy_store_read_t *rd;
    sy_event_t ev;
    char *end;
    int rc;

    if (cli->num_args != 1) {
        fprintf(stderr, "usage: switchyard log show SEQ [--json|--raw]\n");
        return SY_EXIT_USAGE;
    }
    unsigned long long seq = strtoull(cli->args[0], &end, 10);
    if (*end != '\0' || end == cli->args[0]) {
        fprintf(stderr, "switchyard: SEQ must be a number, got \"%s\"\n", cli->args[0]);
        return SY_EXIT_USAGE;
    }
    if (sy_store_read_begin(store, &rd) != 0) {
        fprintf(stderr, "switchyard: cannot read the log\n");
        return SY_EXIT_FAIL;
    }
    if ((rc = sy_store_event_get(rd, seq, &ev)) != 0) {
        fprintf(stderr, "switchyard: no event with seq %llu%s\n", seq, rc == SY_ENOTFOUND ? "" : " (read error)");
        sy_store_read_end(rd);
        return SY_EXIT_FAIL;
    }
    if (cli->raw) {
        fwrite(ev.body.base, 1, ev.body.len, stdout);
    } else if (cli->json) {
        print_event_line(&ev, 1);
    } else {
        char rcv[40], occ[40];
        format_time(ev.received_at_ms, rcv, sizeof(rcv));
        format_time(ev.occurred_at_ms, occ, sizeof(occ));
        printf("seq          %llu\nsource       %.*s (connector %.*s)\nevent id     %.*s\ntype         %.*s\n"
               "received at  %s\noccurred at  %s\nsignature    %.*s\nbatch        %u of %u\nuser agent   %.*s\n"
               "body         %zu bytes\n\n",
               (unsigned long long)ev.seq, (int)ev.source.len, ev.source.base, (int)ev.connector.len, ev.connector.base,
               (int)ev.event_id.len, ev.event_id.base, (int)ev.type.len, ev.type.base, rcv,
               ev.occurred_at_ms != 0 ? occ : "-", (int)ev.signature.len, ev.signature.base, ev.batch_index + 1,
               ev.batch_size, (int)ev.user_agent.len, ev.user_agent.base, ev.body.len);
        json_t *body = sy_event_body_json(&ev, NULL);
        char *pretty = body != NULL ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (pretty != NULL)
            puts(pretty);
        else
            printf("%.*s\n", (int)ev.body.len, ev.body.base);
        free(pretty);
        json_decref(body);
    }
    sy_store_read_end(rd);
    return SY_EXIT_OK;
}

/* Prints events after *after (at most limit, 0 = all) and advances *after. */
static int print_after(sy_store_t *store, uint64_t *after, long limit, int as_json)
{
    sy_store_read_t *rd;
    sy_event_t ev;
    long printed = 0;
    if (sy_store_read_begin(store, &rd) != 0)
        return SY_EXIT_FAIL;
    while ((limit == 0 || printed < limit) && sy_store_event_next(rd, *after, &ev) == 0) {
        print_event_line(&ev, as_json);
        *after = ev.seq;
        ++printed;
    }
    sy_store_read_end(rd);
    fflush(stdout);
    return SY_EXIT_OK;
}

static int cmd_tail(sy_store_t *store, sy_cli_t *cli)
{
    long n = cli->count >= 0 ? cli->count : 10;
    uint64_t last = 0, after;
    sy_store_read_t *rd;

    if (sy_store_read_begin(store, &rd) != 0)
        return SY_EXIT_FAIL;
    sy_store_last_seq(rd, &last);
    sy_store_read_end(rd);
    if (last == 0 && !cli->follow)
        sy_cli_none(cli, "events in the log");
    after = last > (uint64_t)n ? last - (uint64_t)n : 0;
    if (print_after(store, &after, 0, cli->json) != 0)
        return SY_EXIT_FAIL;
    while (cli->follow) {
        usleep(FOLLOW_POLL_US);
        if (print_after(store, &after, 0, cli->json) != 0)
            return SY_EXIT_FAIL;
    }
    return SY_EXIT_OK;
}

static json_t *child(json_t *parent, const char *key)
{
    json_t *c = json_object_get(parent, key);
    if (c == NULL) {
        c = json_object();
        json_object_set_new(parent, key, c);
    }
    return c;
}

static void bump(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v != NULL ? json_integer_value(v) + 1 : 1));
}

static int cmd_stats(sy_store_t *store, sy_cli_t *cli)
{
    sy_store_stats_t st;
    sy_store_read_t *rd;
    sy_event_t ev;
    uint64_t after = 0, last = 0, count = 0;
    json_t *by_source = json_object();
    char key[256];

    if (sy_store_stats(store, &st) != 0 || sy_store_read_begin(store, &rd) != 0) {
        json_decref(by_source);
        fprintf(stderr, "switchyard: cannot read the log\n");
        return SY_EXIT_FAIL;
    }
    sy_store_last_seq(rd, &last);
    /* One snapshot: a running writer's later commits are not half-counted. */
    while (sy_store_event_next(rd, after, &ev) == 0) {
        snprintf(key, sizeof(key), "%.*s", (int)ev.source.len, ev.source.base);
        json_t *src = child(by_source, key);
        bump(src, "events");
        json_t *types = child(src, "types");
        if (json_object_size(types) < MAX_TRACKED_TYPES || json_object_getn(types, ev.type.base, ev.type.len) != NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)ev.type.len, ev.type.base);
            bump(types, key);
        }
        after = ev.seq;
        ++count;
    }
    sy_store_read_end(rd);
    if (cli->json) {
        json_t *o = json_object();
        json_object_set_new(o, "events", json_integer((json_int_t)count));
        json_object_set_new(o, "last_seq", json_integer((json_int_t)last));
        json_object_set_new(o, "size_bytes", json_integer((json_int_t)st.file_bytes));
        json_object_set_new(o, "used_bytes", json_integer((json_int_t)st.used_bytes));
        json_object_set_new(o, "map_size_bytes", json_integer((json_int_t)st.map_size));
        json_object_set_new(o, "by_source", by_source);
        print_json_line(o);
        json_decref(o);
        return SY_EXIT_OK;
    }
    printf("events      %llu (last seq %llu)\non disk     %.1f MiB (in use %.1f MiB of a %.0f MiB map)\n\n",
           (unsigned long long)count, (unsigned long long)last, st.file_bytes / 1048576.0, st.used_bytes / 1048576.0,
           st.map_size / 1048576.0);
    const char *sname, *tname;
    json_t *src, *n;
    json_object_foreach(by_source, sname, src)
    {
        printf("%-12s %8lld events\n", sname, (long long)json_integer_value(json_object_get(src, "events")));
        json_object_foreach(json_object_get(src, "types"), tname, n)
            printf("  %-40s %8lld\n", tname, (long long)json_integer_value(n));
    }
    json_decref(by_source);
    return SY_EXIT_OK;
}

typedef struct st_skipped_list_t {
    int as_json;
    uint64_t count;
} skipped_list_t;

static int on_skipped(void *arg, sy_slice_t key, sy_slice_t val)
{
    skipped_list_t *l = arg;
    (void)key;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc == NULL)
        return SY_EPARSE;
    if (l->as_json) {
        print_json_line(doc);
    } else {
        if (l->count == 0) /* the header above the first row only: an empty list is one line (sy_cli_none) */
            printf("%-8s %-24s  %-10s %-32s %s\n", "SEQ", "SKIPPED AT", "SOURCE", "EVENT ID", "TYPE / REASON");
        char when[40];
        format_time(json_integer_value(json_object_get(doc, "at_ms")), when, sizeof(when));
        printf("%-8lld %s  %-10s %-32s %s\n    %s\n", (long long)json_integer_value(json_object_get(doc, "seq")), when,
               json_string_value(json_object_get(doc, "source")), json_string_value(json_object_get(doc, "event_id")),
               json_string_value(json_object_get(doc, "type")), json_string_value(json_object_get(doc, "reason")));
    }
    ++l->count;
    json_decref(doc);
    return 0;
}

/* `log skipped`: logged events the applier could not apply, with the reason (never skipped without a trace). */
static int cmd_skipped(sy_store_t *store, sy_cli_t *cli)
{
    sy_store_read_t *rd;
    skipped_list_t l = {.as_json = cli->json};
    if (sy_store_read_begin(store, &rd) != 0) {
        fprintf(stderr, "switchyard: cannot read the log\n");
        return SY_EXIT_FAIL;
    }
    int rc = sy_txn_scan(rd, SY_DB_SKIPPED, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_skipped, &l);
    sy_store_read_end(rd);
    if (rc != 0 && rc != SY_ENOTFOUND) {
        fprintf(stderr, "switchyard: cannot read the skipped events: %s\n", sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    if (l.count == 0)
        sy_cli_none(cli, "skipped events");
    else if (!cli->json)
        printf("%llu skipped event(s)\n", (unsigned long long)l.count);
    return SY_EXIT_OK;
}

/* Removes the archived events from..to: through the hub when one runs, else here (compact.c either way). */
static int compact_remove(const sy_cli_target_t *t, sy_store_t *store, int has_policy, uint64_t from, uint64_t to,
                          int64_t cut, uint64_t *removed)
{
    if (!t->remote) {
        int rc = sy_compact_remove(store, has_policy, from, to, cut, removed);
        if (rc != 0)
            fprintf(stderr, "switchyard: removing archived events failed: %s\n", sy_strerror(rc));
        return rc;
    }
    long status;
    json_t *doc, *body = json_pack("{s:I, s:I, s:I}", "from_seq", (json_int_t)from, "to_seq", (json_int_t)to,
                                   "before_ms", (json_int_t)cut);
    int rc = sy_cli_remote_call(t, "POST", "/admin/api/log/compact", body, &status, &doc);
    json_decref(body);
    if (rc != 0)
        return rc;
    if ((rc = sy_cli_remote_rc(status)) != 0)
        fprintf(stderr, "switchyard: removing archived events failed: %s\n", sy_cli_remote_message(doc));
    *removed = (uint64_t)json_integer_value(json_object_get(doc, "removed"));
    json_decref(doc);
    return rc;
}

/*
 * Archives events received before the cut-off that the applier has passed (all of them without a policy) to a JSONL
 * file, fsyncs it, and only then removes them from the log, batch by batch: a crash leaves at worst an event both
 * archived and still logged. The archive is always written here, by the CLI; while a hub runs, it removes the
 * events (the data dir is only read here).
 */
static int cmd_compact(sy_cli_t *cli, sy_config_t *conf)
{
    sy_store_t *store = NULL;
    sy_cli_target_t target = {.lock_fd = -1};
    sy_error_t err = {0};
    char msg[900];
    int64_t older_ms;
    uint64_t limit = 0, removed = 0, after = 0;
    int rc = SY_EXIT_FAIL, has_policy = conf->policy_path != NULL;
    FILE *archive = NULL;

    if (cli->older_than == NULL || cli->archive == NULL || sy_parse_duration_ms(cli->older_than, &older_ms) != 0) {
        fprintf(stderr, "usage: switchyard log compact --older-than 30d --archive FILE.jsonl\n");
        return SY_EXIT_USAGE;
    }
    if ((rc = sy_cli_target_open(cli, conf, "log compact", &target)) != SY_EXIT_OK)
        return rc;
    rc = SY_EXIT_FAIL;
    if (sy_store_open(&store, conf->data_dir, conf->map_size, conf->map_size_max, target.remote ? SY_STORE_READONLY : 0,
                      &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        goto Exit;
    }
    if ((archive = fopen(cli->archive, "a")) == NULL) {
        fprintf(stderr, "switchyard: cannot open %s for appending\n", cli->archive);
        goto Exit;
    }
    int64_t cut = sy_now_ms() - older_ms;
    sy_txn_t *txn;
    if (sy_txn_begin(store, 0, &txn) != 0)
        goto Exit;
    int lrc = sy_compact_limit(txn, has_policy, &limit); /* never remove what the applier still has to read */
    sy_txn_abort(txn);
    if (lrc != 0)
        goto Exit;

    for (;;) {
        uint64_t first = 0, n = 0, gone = 0;
        sy_event_t ev;
        if (sy_txn_begin(store, 0, &txn) != 0)
            goto Exit;
        while (n != SY_COMPACT_BATCH && sy_store_event_next(txn, after, &ev) == 0 && ev.seq <= limit &&
               ev.received_at_ms < cut) {
            json_t *o = event_json(&ev);
            char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(o);
            if (line == NULL || fprintf(archive, "%s\n", line) < 0) {
                free(line);
                sy_txn_abort(txn);
                fprintf(stderr, "switchyard: writing %s failed; nothing more removed\n", cli->archive);
                goto Exit;
            }
            free(line);
            if (n++ == 0)
                first = ev.seq;
            after = ev.seq;
        }
        sy_txn_abort(txn);
        if (n == 0)
            break;
        /* Durable in the archive before it leaves the log. */
        if (fflush(archive) != 0 || fsync(fileno(archive)) != 0) {
            fprintf(stderr, "switchyard: cannot sync %s; nothing more removed\n", cli->archive);
            goto Exit;
        }
        if (compact_remove(&target, store, has_policy, first, after, cut, &gone) != 0)
            goto Exit;
        removed += gone;
    }
    printf("archived and removed %llu event(s) received before %s ago (up to seq %llu) into %s\n",
           (unsigned long long)removed, cli->older_than, (unsigned long long)after, cli->archive);
    rc = SY_EXIT_OK;
Exit:
    if (archive != NULL)
        fclose(archive);
    sy_store_close(store);
    sy_cli_target_close(&target);
    return rc;
}

int sy_cli_log(sy_cli_t *cli, const char *verb)
{
    sy_config_t conf;
    sy_store_t *store;
    int rc;

    if (strcmp(verb, "compact") == 0) {
        if (sy_cli_load_config(cli, &conf) != 0)
            return SY_EXIT_USAGE;
        rc = cmd_compact(cli, &conf);
        sy_config_dispose(&conf);
        return rc;
    }
    if (strcmp(verb, "tail") != 0 && strcmp(verb, "show") != 0 && strcmp(verb, "stats") != 0 &&
        strcmp(verb, "skipped") != 0) {
        fprintf(stderr, "switchyard: unknown command \"log %s\" (tail, show, stats, skipped or compact)\n", verb);
        return SY_EXIT_USAGE;
    }
    if ((rc = open_store(cli, &conf, &store)) != SY_EXIT_OK)
        return rc;
    if (strcmp(verb, "tail") == 0)
        rc = cmd_tail(store, cli);
    else if (strcmp(verb, "show") == 0)
        rc = cmd_show(store, cli);
    else if (strcmp(verb, "skipped") == 0)
        rc = cmd_skipped(store, cli);
    else
        rc = cmd_stats(store, cli);
    sy_store_close(store);
    sy_config_dispose(&conf);
    return rc;
}
