/*
 * `switchyard replay` and `switchyard export`: operations on the log and the golden records. While `serve` runs,
 * replay is a job of the hub (its admin API, with the policy it runs); otherwise it runs here, under the data-dir
 * lock, in short transactions. Export only reads, so it reads the LMDB file directly either way.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_remote.h"
#include "codec.h"
#include "map.h"
#include "observe.h"
#include "records.h"
#include "replay.h"
#include "store.h"


static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (s == NULL)
        return 0;
    *v = strtoull(s, &end, 10);
    return *end == '\0' && end != s ? 0 : SY_EINVAL;
}

/* The selection options shared by replay and export. */
static int read_selection(const sy_cli_t *cli, sy_replay_spec_t *spec)
{
    sy_replay_spec_init(spec);
    snprintf(spec->source, sizeof(spec->source), "%s", cli->source != NULL ? cli->source : "");
    snprintf(spec->type, sizeof(spec->type), "%s", cli->type != NULL ? cli->type : "");
    if (parse_u64(cli->from_seq, &spec->from_seq) != 0 || parse_u64(cli->to_seq, &spec->to_seq) != 0) {
        fprintf(stderr, "switchyard: --from-seq and --to-seq take a number\n");
        return SY_EXIT_USAGE;
    }
    if ((cli->since != NULL && sy_parse_time_ms(cli->since, &spec->since_ms) != 0) ||
        (cli->until != NULL && sy_parse_time_ms(cli->until, &spec->until_ms) != 0)) {
        fprintf(stderr, "switchyard: --since/--until take a UTC time like 2026-11-20T08:00Z or 2026-11-20\n");
        return SY_EXIT_USAGE;
    }
    return SY_EXIT_OK;
}

/* --- replay -------------------------------------------------------------------------------------------------- */

static void show_progress(const char *what, uint64_t at_seq, uint64_t last_seq, uint64_t selected)
{
    fprintf(stderr, "\r%s: %llu of %llu events read, %llu selected", what, (unsigned long long)at_seq,
            (unsigned long long)last_seq, (unsigned long long)selected);
}

static void on_progress(void *arg, const sy_replay_progress_t *p)
{
    show_progress(arg, atomic_load(&p->at_seq), atomic_load(&p->last_seq), atomic_load(&p->selected));
}

/* What a replay did, the same whether it ran here or as a job of the hub. error: NULL when it finished. */
static int report_replay(const sy_replay_spec_t *spec, const char *mode, json_t *changes, uint64_t read,
                         uint64_t selected, uint64_t pushes, uint64_t at_seq, const char *error)
{
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        const char *from = json_string_value(json_object_get(c, "from"));
        printf("%-12s %-20s %s -> %s   (%s, seq %lld)\n", json_string_value(json_object_get(c, "record")),
               json_string_value(json_object_get(c, "field")), from != NULL ? from : "(none)",
               json_string_value(json_object_get(c, "to")), json_string_value(json_object_get(c, "source")),
               (long long)json_integer_value(json_object_get(c, "seq")));
    }
    if (error != NULL) {
        fflush(stdout);
        fprintf(stderr, "switchyard: replay stopped at seq %llu: %s\n", (unsigned long long)at_seq, error);
        return SY_EXIT_FAIL;
    }
    printf("%s %s: %llu events read, %llu selected, %llu pushes queued%s\n", spec->dry_run ? "dry run of" : "done:",
           mode, (unsigned long long)read, (unsigned long long)selected, (unsigned long long)pushes,
           spec->dry_run ? " (nothing written; each batch of 256 is judged against the records as they are)" : "");
    return SY_EXIT_OK;
}

#define JOB_POLL_US 100000

#define JOB_INT(doc, k) ((uint64_t)json_integer_value(json_object_get(doc, k)))

/* sy_cli_remote_follow's tick: the replay job's progress line. */
static void show_job_progress(json_t *job, void *arg)
{
    const sy_replay_spec_t *spec = arg;
    show_progress(spec->dry_run ? "dry run" : "replay", JOB_INT(job, "at_seq"), JOB_INT(job, "last_seq"),
                  JOB_INT(job, "selected"));
}

/* The replay as a job of the running hub (POST /admin/api/replay), followed until it ends. */
static int replay_remote(const sy_cli_t *cli, const sy_cli_target_t *t, const sy_replay_spec_t *spec, const char *mode)
{
    char path[128];
    long status;
    json_t *job = NULL;
    int tty = isatty(STDERR_FILENO), rc;
    json_t *body = json_pack("{s:s, s:b, s:s, s:s}", "mode", mode, "dry_run", spec->dry_run, "source", spec->source,
                             "type", spec->type);
    if (spec->repush)
        json_object_set_new(body, "spoke", json_string(spec->spoke));
    if (cli->from_seq != NULL)
        json_object_set_new(body, "from_seq", json_integer((json_int_t)spec->from_seq));
    if (cli->to_seq != NULL)
        json_object_set_new(body, "to_seq", json_integer((json_int_t)spec->to_seq));
    if (cli->since != NULL)
        json_object_set_new(body, "since", json_string(cli->since)); /* the hub parses it as we did */
    if (cli->until != NULL)
        json_object_set_new(body, "until", json_string(cli->until));
    rc = sy_cli_remote_call(t, "POST", "/admin/api/replay", body, &status, &job);
    json_decref(body);
    if (rc != 0)
        return SY_EXIT_FAIL;
    if (status != 202) {
        fprintf(stderr, "switchyard: %s\n", sy_cli_remote_message(job));
        json_decref(job);
        return status == 400 ? SY_EXIT_USAGE : SY_EXIT_FAIL;
    }
    snprintf(path, sizeof(path), "/admin/api/replay/%s", json_string_value(json_object_get(job, "id")));
    if (sy_cli_remote_follow(t, path, JOB_POLL_US, &job, tty ? show_job_progress : NULL, (void *)spec) != 0) {
        json_decref(job);
        return SY_EXIT_FAIL;
    }
    if (tty)
        fputc('\n', stderr);
    const char *state = json_string_value(json_object_get(job, "state"));
    const char *error = json_string_value(json_object_get(job, "error"));
    rc = report_replay(spec, mode, json_object_get(job, "changes"), JOB_INT(job, "read"), JOB_INT(job, "selected"), JOB_INT(job, "pushes"),
                       JOB_INT(job, "at_seq"), strcmp(state, "done") == 0 ? NULL : error != NULL ? error : state);
    json_decref(job);
    return rc;
}

int sy_cli_replay(sy_cli_t *cli)
{
    sy_config_t conf;
    sy_cli_target_t target = {.lock_fd = -1};
    sy_store_t *store = NULL;
    sy_policy_t *policy = NULL;
    sy_error_t err = {0};
    sy_replay_spec_t spec;
    sy_replay_progress_t progress = {0};
    json_t *changes = NULL;
    char msg[900];
    int rc;

    if ((rc = read_selection(cli, &spec)) != SY_EXIT_OK)
        return rc;
    const char *mode = cli->mode != NULL ? cli->mode : "reapply";
    spec.repush = strcmp(mode, "repush") == 0;
    spec.dry_run = cli->dry_run;
    if ((!spec.repush && strcmp(mode, "reapply") != 0) || (spec.repush && cli->spoke == NULL)) {
        fprintf(stderr, "usage: switchyard replay ... --mode reapply | --mode repush --spoke NAME [--dry-run]\n");
        return SY_EXIT_USAGE;
    }
    snprintf(spec.spoke, sizeof(spec.spoke), "%s", spec.repush ? cli->spoke : "");
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    rc = SY_EXIT_USAGE;
    if (conf.policy_path == NULL) {
        fprintf(stderr, "switchyard: %s names no policy: nothing to replay into\n", conf.path);
        goto Exit;
    }
    /* A dry run writes nothing, but it judges by the policy in force all the same: the hub's, when one runs. */
    if ((rc = sy_cli_target_open(cli, &conf, "replay", &target)) != SY_EXIT_OK)
        goto Exit;
    if (target.remote) {
        rc = replay_remote(cli, &target, &spec, mode);
        goto Exit;
    }
    rc = SY_EXIT_USAGE;
    if (sy_policy_load(&policy, conf.policy_path, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        goto Exit;
    }
    if (spec.repush && sy_policy_source_index(policy, cli->spoke) == SY_POLICY_NONE) {
        fprintf(stderr, "switchyard: the policy has no source \"%s\"\n", cli->spoke);
        goto Exit;
    }
    rc = SY_EXIT_FAIL;
    if (sy_store_open(&store, conf.data_dir, conf.map_size, conf.map_size_max, 0, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        goto Exit;
    }
    if ((rc = sy_cli_policy_check(cli, store, policy, conf.policy_path)) != SY_EXIT_OK)
        goto Exit;
    changes = json_array();
    int tty = isatty(STDERR_FILENO);
    int run = sy_replay_run(store, policy, &spec, &progress, changes, 100000, tty ? on_progress : NULL,
                            (void *)(spec.dry_run ? "dry run" : "replay"));
    if (tty)
        fputc('\n', stderr);
    snprintf(msg, sizeof(msg), "%s (what was committed stays; run it again)", sy_strerror(run));
    rc = report_replay(&spec, mode, changes, atomic_load(&progress.read), atomic_load(&progress.selected),
                       atomic_load(&progress.pushes), atomic_load(&progress.at_seq), run != 0 ? msg : NULL);
Exit:
    json_decref(changes);
    sy_store_close(store);
    sy_cli_target_close(&target);
    sy_policy_destroy(policy);
    sy_config_dispose(&conf);
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
    const sy_replay_spec_t *sel;
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

static int export_events(sy_txn_t *txn, const sy_replay_spec_t *sel, int csv)
{
    sy_event_t ev;
    uint64_t after = sel->from_seq > 0 ? sel->from_seq - 1 : 0;
    char buf[600];
    if (csv)
        puts("seq,received_at_ms,occurred_at_ms,source,event_id,type,body_bytes");
    while (sy_store_event_next(txn, after, &ev) == 0 && ev.seq <= sel->to_seq) {
        after = ev.seq;
        if (!sy_replay_selects(sel, &ev))
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
            json_t *body = sy_event_body_json(&ev, NULL);
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
    sy_replay_spec_t sel;
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
