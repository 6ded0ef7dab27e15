#include "replay.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "observe.h"
#include "policy_stamp.h"
#include "records.h"

#define REPLAY_BATCH 256

void sy_replay_spec_init(sy_replay_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->to_seq = UINT64_MAX;
    spec->until_ms = INT64_MAX;
}

int sy_parse_time_ms(const char *s, int64_t *ms)
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

int sy_replay_selects(const sy_replay_spec_t *spec, const sy_event_t *ev)
{
    char buf[256];
    if (ev->seq < spec->from_seq || ev->seq > spec->to_seq || ev->received_at_ms < spec->since_ms ||
        ev->received_at_ms > spec->until_ms)
        return 0;
    if (spec->source[0] != '\0' && !sy_slice_eq_cstr(ev->source, spec->source))
        return 0;
    if (spec->type[0] != '\0') {
        snprintf(buf, sizeof(buf), "%.*s", (int)ev->type.len, ev->type.base);
        if (fnmatch(spec->type, buf, 0) != 0)
            return 0;
    }
    return 1;
}

typedef struct st_run_t {
    sy_store_t *store;
    const sy_policy_t *policy;
    const sy_replay_spec_t *spec;
    sy_replay_progress_t *progress;
    size_t spoke;
    sy_apply_stats_t stats;
    json_t *before;   /* dry run: record id → fields before the batch */
    json_t *repushed; /* repush: records already queued in this run (committed batches) */
    json_t *batch_repushed; /* ... and in the batch being applied: kept apart, so an aborted batch forgets them */
    json_t *changes;
    size_t max_changes;
} run_t;

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

static void remember_before(run_t *r, sy_txn_t *txn, const char *id)
{
    if (id == NULL || json_object_get(r->before, id) != NULL)
        return;
    json_t *rec = sy_records_load(txn, id);
    json_object_set_new(r->before, id, rec != NULL ? json_incref(json_object_get(rec, "fields")) : json_object());
    json_decref(rec);
}

/* Dry run: what the batch would change, record by record and field by field (records it would create included). */
static void collect_diff(run_t *r, sy_txn_t *txn, uint64_t first_new_record)
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
        const char *field;
        json_t *state;
        json_object_foreach(rec != NULL ? json_object_get(rec, "fields") : NULL, field, state)
        {
            const char *was = json_string_value(json_object_get(json_object_get(before, field), "value"));
            const char *now = json_string_value(json_object_get(state, "value"));
            if ((was == NULL || strcmp(was, now) != 0) && r->changes != NULL && json_array_size(r->changes) < r->max_changes)
                json_array_append_new(r->changes,
                                      json_pack("{s:s, s:s, s:s?, s:s, s:O, s:O}", "record", id, "field", field, "from",
                                                was, "to", now, "source", json_object_get(state, "source"), "seq",
                                                json_object_get(state, "seq")));
        }
        json_decref(rec);
    }
    json_object_clear(r->before);
}

/* One batch in one transaction (aborted in a dry run). Returns events consumed, 0 at the end, or an error. */
#define REPLAY_MAX_GROWS 8 /* grows in a row for one batch before the replay gives up (map_size_max reached) */

static int run_batch(run_t *r, uint64_t *after)
{
    sy_txn_t *txn;
    sy_event_t ev;
    int rc, n = 0;
    uint64_t first_new = 0;
    sy_doc_cache_t cache = {0}; /* a plain reapply keeps the batch's records decoded (records.h) */
    if ((rc = sy_txn_begin(r->store, 1, &txn)) != 0)
        return rc;
    sy_meta_get_u64(txn, "next_record", &first_new);
    sy_apply_ctx_t ctx = {.txn = txn, .policy = r->policy, .now_ms = sy_now_ms(), .stats = &r->stats,
                          .cache = r->spec->dry_run || r->spec->repush ? NULL : &cache};
    if (ctx.cache != NULL)
        sy_json_arena_begin(); /* the run's own JSON (dry-run diffs, repushed ids) lives longer: not in those */
    while (n != REPLAY_BATCH && (rc = sy_store_event_next(txn, *after, &ev)) == 0 && ev.seq <= r->spec->to_seq) {
        ++n;
        atomic_fetch_add(&r->progress->read, 1);
        atomic_store(&r->progress->at_seq, ev.seq);
        *after = ev.seq;
        if (!sy_replay_selects(r->spec, &ev))
            continue;
        atomic_fetch_add(&r->progress->selected, 1);
        sy_observation_t *obs;
        size_t nobs;
        const char *why = NULL;
        ctx.seq = ev.seq;
        if ((rc = sy_observe(r->policy, &ev, &obs, &nobs, &why)) == SY_EPARSE) {
            rc = r->spec->dry_run ? 0 : sy_records_skip(&ctx, &ev, why);
            if (rc != 0)
                goto Abort;
            continue;
        } else if (rc != 0) {
            goto Abort;
        }
        for (size_t i = 0; i != nobs && rc == 0; ++i) {
            char idbuf[128];
            const char *id = r->spec->dry_run || r->spec->repush /* the only readers of id */
                                 ? record_of(txn, r->policy, &obs[i], idbuf, sizeof(idbuf))
                                 : NULL;
            if (r->spec->dry_run)
                remember_before(r, txn, id);
            if (!r->spec->repush) {
                rc = sy_records_apply(&ctx, &obs[i]);
            } else if (id != NULL && json_object_get(r->repushed, id) == NULL &&
                       json_object_get(r->batch_repushed, id) == NULL) {
                json_object_set_new(r->batch_repushed, id, json_true());
                rc = sy_records_repush(&ctx, id, r->spoke);
            }
        }
        sy_observations_free(obs, nobs);
        if (rc != 0)
            goto Abort;
    }
    if (rc != 0 && rc != SY_ENOTFOUND)
        goto Abort;
    if (r->spec->dry_run) {
        collect_diff(r, txn, first_new);
        sy_txn_abort(txn);
        json_object_update(r->repushed, r->batch_repushed);
        json_object_clear(r->batch_repushed);
        return n;
    }
    rc = sy_records_flush(&ctx);
    sy_doc_cache_dispose(&cache);
    if (rc != 0 || (rc = sy_records_add_stats(txn, &r->stats)) != 0)
        goto Abort;
    uint64_t pushes = r->stats.pushes_enqueued; /* new pushes; values folded into one already queued are not */
    memset(&r->stats, 0, sizeof(r->stats)); /* added: the next batch counts afresh */
    if ((rc = sy_txn_commit(txn)) != 0)
        goto Forget;
    atomic_fetch_add(&r->progress->pushes, pushes);
    json_object_update(r->repushed, r->batch_repushed);
    json_object_clear(r->batch_repushed);
    sy_json_arena_end();
    return n;
Abort:
    sy_doc_cache_dispose(&cache);
    sy_txn_abort(txn);
Forget:
    /* Nothing of the batch stays: neither its records marked as repushed nor its counters. */
    json_object_clear(r->batch_repushed);
    memset(&r->stats, 0, sizeof(r->stats));
    sy_json_arena_end();
    return rc;
}

int sy_replay_run(sy_store_t *store, const sy_policy_t *p, const sy_replay_spec_t *spec, sy_replay_progress_t *progress,
                  json_t *changes, size_t max_changes, void (*on_batch)(void *arg, const sy_replay_progress_t *), void *arg)
{
    run_t r = {.store = store, .policy = p, .spec = spec, .progress = progress, .changes = changes,
               .max_changes = max_changes, .before = json_object(), .repushed = json_object(),
               .batch_repushed = json_object()};
    uint64_t after = spec->from_seq > 0 ? spec->from_seq - 1 : 0, last = 0;
    sy_txn_t *txn;
    int n = 0;
    if (spec->repush && (r.spoke = sy_policy_source_index(p, spec->spoke)) == SY_POLICY_NONE) {
        n = SY_EINVAL;
        goto Exit;
    }
    if (sy_txn_begin(store, 0, &txn) == 0) {
        sy_store_last_seq(txn, &last);
        sy_txn_abort(txn);
    }
    atomic_store(&progress->last_seq, last);
    for (int grows = 0; !atomic_load(&progress->cancel);) {
        uint64_t from = after, read = atomic_load(&progress->read), selected = atomic_load(&progress->selected);
        if ((n = run_batch(&r, &after)) == SY_EFULL && grows < REPLAY_MAX_GROWS && sy_store_grow(store) == 1) {
            /* The map was full: nothing of the batch was written. Grown (no transaction open), it runs again. */
            ++grows;
            after = from;
            atomic_store(&progress->read, read);
            atomic_store(&progress->selected, selected);
            continue;
        }
        if (n <= 0)
            break;
        grows = 0;
        if (on_batch != NULL)
            on_batch(arg, progress);
    }
    if (atomic_load(&progress->cancel))
        n = SY_ESHUTDOWN;
Exit:
    json_decref(r.before);
    json_decref(r.repushed);
    json_decref(r.batch_repushed);
    return n < 0 ? n : 0;
}

/* --- jobs ------------------------------------------------------------------------------------------------------- */

#define MAX_JOBS 16
#define MAX_JOB_CHANGES 1000

typedef struct st_job_t {
    char id[32];
    sy_replay_spec_t spec;
    sy_replay_progress_t progress;
    json_t *changes;
    int state; /* 0 running, 1 done, 2 failed, 3 cancelled */
    char error[256];
    int64_t started_at_ms, finished_at_ms;
    pthread_t tid;
    int joined;
    struct st_sy_replay_jobs_t *jobs;
} job_t;

struct st_sy_replay_jobs_t {
    sy_store_t *store;
    char *policy_path;
    pthread_mutex_t mutex;
    job_t *jobs[MAX_JOBS]; /* newest last; the oldest finished ones make room */
    size_t count;
    unsigned next_id;
};

static void *job_main(void *arg)
{
    sy_thread_name("sy-replay");
    job_t *j = arg;
    sy_policy_t *p = NULL;
    sy_error_t err = {0};
    json_t *changes = json_array();
    char running[SY_POLICY_HASH_LEN + 1] = "";
    /* Its own copy of the policy (a long replay must not hold the applier's), so make sure it is the running one:
     * the file may have been edited since the hub loaded it. */
    int rc = sy_policy_load(&p, j->jobs->policy_path, &err);
    if (rc != 0)
        sy_error_format(&err, j->error, sizeof(j->error));
    else if ((rc = sy_policy_stamp_check(j->jobs->store, p, running, sizeof(running))) == SY_EINVAL)
        snprintf(j->error, sizeof(j->error),
                 "%s has changed since the hub loaded it (file: policy hash %s, running: %s): reload the policy "
                 "(POST /admin/api/policy/reload or SIGHUP) or put the file back, then replay",
                 j->jobs->policy_path, p->hash, running);
    if (rc == 0)
        rc = sy_replay_run(j->jobs->store, p, &j->spec, &j->progress, changes, MAX_JOB_CHANGES, NULL, NULL);
    sy_policy_destroy(p);
    pthread_mutex_lock(&j->jobs->mutex);
    j->changes = changes;
    j->state = rc == 0 ? 1 : rc == SY_ESHUTDOWN ? 3 : 2;
    if (rc != 0 && j->error[0] == '\0')
        snprintf(j->error, sizeof(j->error), "%s (what was committed stays; run it again)", sy_strerror(rc));
    j->finished_at_ms = sy_now_ms();
    pthread_mutex_unlock(&j->jobs->mutex);
    return NULL;
}

sy_replay_jobs_t *sy_replay_jobs_create(sy_store_t *store, const char *policy_path)
{
    sy_replay_jobs_t *jobs = calloc(1, sizeof(*jobs));
    if (jobs == NULL || (jobs->policy_path = strdup(policy_path)) == NULL) {
        free(jobs);
        return NULL;
    }
    jobs->store = store;
    pthread_mutex_init(&jobs->mutex, NULL);
    return jobs;
}

static void job_free(job_t *j)
{
    if (!j->joined)
        pthread_join(j->tid, NULL);
    json_decref(j->changes);
    free(j);
}

void sy_replay_jobs_destroy(sy_replay_jobs_t *jobs)
{
    if (jobs == NULL)
        return;
    for (size_t i = 0; i != jobs->count; ++i)
        atomic_store(&jobs->jobs[i]->progress.cancel, 1);
    for (size_t i = 0; i != jobs->count; ++i)
        job_free(jobs->jobs[i]);
    pthread_mutex_destroy(&jobs->mutex);
    free(jobs->policy_path);
    free(jobs);
}

int sy_replay_jobs_start(sy_replay_jobs_t *jobs, const sy_replay_spec_t *spec, char *id, size_t idlen, char *err,
                         size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&jobs->mutex);
    for (size_t i = 0; i != jobs->count; ++i) {
        if (jobs->jobs[i]->state == 0) {
            snprintf(err, errlen, "replay %s is still running: one at a time", jobs->jobs[i]->id);
            rc = SY_EFULL;
            goto Exit;
        }
    }
    if (jobs->count == MAX_JOBS) {
        job_free(jobs->jobs[0]); /* finished (none runs): its thread is done */
        memmove(jobs->jobs, jobs->jobs + 1, (MAX_JOBS - 1) * sizeof(jobs->jobs[0]));
        --jobs->count;
    }
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        rc = SY_ENOMEM;
        goto Exit;
    }
    j->jobs = jobs;
    j->spec = *spec;
    j->started_at_ms = sy_now_ms();
    snprintf(j->id, sizeof(j->id), "replay-%u", ++jobs->next_id);
    if (pthread_create(&j->tid, NULL, job_main, j) != 0) {
        free(j);
        snprintf(err, errlen, "cannot start a thread");
        rc = SY_EIO;
        goto Exit;
    }
    jobs->jobs[jobs->count++] = j;
    snprintf(id, idlen, "%s", j->id);
Exit:
    pthread_mutex_unlock(&jobs->mutex);
    return rc;
}

static json_t *job_doc(job_t *j)
{
    static const char *const states[] = {"running", "done", "failed", "cancelled"};
    const sy_replay_spec_t *s = &j->spec;
    json_t *spec = json_pack("{s:s, s:s, s:b, s:I, s:s, s:s}", "mode", s->repush ? "repush" : "reapply", "spoke",
                             s->spoke, "dry_run", s->dry_run, "from_seq", (json_int_t)s->from_seq, "source", s->source,
                             "type", s->type);
    return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O?, s:s?}", "id", j->id, "state",
                     states[j->state], "spec", spec, "read", (json_int_t)atomic_load(&j->progress.read), "selected",
                     (json_int_t)atomic_load(&j->progress.selected), "pushes",
                     (json_int_t)atomic_load(&j->progress.pushes), "at_seq",
                     (json_int_t)atomic_load(&j->progress.at_seq), "last_seq",
                     (json_int_t)atomic_load(&j->progress.last_seq), "started_at_ms", (json_int_t)j->started_at_ms,
                     "finished_at_ms", (json_int_t)j->finished_at_ms, "changes", j->changes, "error",
                     j->error[0] != '\0' ? j->error : NULL);
}

json_t *sy_replay_jobs_get(sy_replay_jobs_t *jobs, const char *id)
{
    json_t *doc = NULL;
    pthread_mutex_lock(&jobs->mutex);
    for (size_t i = 0; i != jobs->count && doc == NULL; ++i)
        if (strcmp(jobs->jobs[i]->id, id) == 0)
            doc = job_doc(jobs->jobs[i]);
    pthread_mutex_unlock(&jobs->mutex);
    return doc;
}

json_t *sy_replay_jobs_list(sy_replay_jobs_t *jobs)
{
    json_t *list = json_array();
    pthread_mutex_lock(&jobs->mutex);
    for (size_t i = 0; i != jobs->count; ++i)
        json_array_append_new(list, job_doc(jobs->jobs[i]));
    pthread_mutex_unlock(&jobs->mutex);
    return list;
}
