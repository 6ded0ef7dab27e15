/*
 * Replay: apply logged events again (reapply: idempotent, versions keep it from regressing anything) or queue the
 * current golden values of the records they touch for one tool (repush), over a selection of the log. Works in
 * transactions of 256 events so ingest keeps flowing; a dry run aborts each one and reports what would change.
 * Used by `switchyard replay` and by replay jobs of the admin API.
 */
#ifndef SY_REPLAY_H
#define SY_REPLAY_H

#include <jansson.h>
#include <stdatomic.h>

#include "event.h"
#include "policy.h"
#include "store.h"

typedef struct st_sy_replay_spec_t {
    uint64_t from_seq, to_seq; /* inclusive; to_seq UINT64_MAX = the end */
    int64_t since_ms, until_ms; /* received time, inclusive; until INT64_MAX = no bound */
    char source[65];            /* "" = any */
    char type[128];             /* fnmatch pattern, "" = any */
    int repush;                 /* 0 reapply, 1 repush to spoke */
    char spoke[65];
    int dry_run;
} sy_replay_spec_t;

typedef struct st_sy_replay_progress_t {
    _Atomic uint64_t read, selected, at_seq, last_seq; /* readable from other threads while it runs */
    _Atomic uint64_t pushes; /* new pushes queued by committed batches */
    _Atomic int cancel;                                /* set by another thread: stop after the current batch */
} sy_replay_progress_t;

/* A spec that selects the whole log, reapply, not a dry run. */
void sy_replay_spec_init(sy_replay_spec_t *spec);
/* Whether ev is in spec's selection (seq range, received time, source, type pattern). */
int sy_replay_selects(const sy_replay_spec_t *spec, const sy_event_t *ev);
/* "2026-11-20T08:00Z", "2026-11-20T08:00:00Z", "2026-11-20" (UTC) → ms; 0 or SY_EINVAL. */
int sy_parse_time_ms(const char *s, int64_t *ms);

/*
 * Runs spec. changes (may be NULL) receives, for a dry run, one {record, field, from, to, source, seq} per value that
 * would change, at most max_changes. on_batch (may be NULL) is called after each batch. Returns 0 or an error
 * (what was committed stays; running it again is safe).
 */
int sy_replay_run(sy_store_t *store, const sy_policy_t *p, const sy_replay_spec_t *spec, sy_replay_progress_t *progress,
                  json_t *changes, size_t max_changes, void (*on_batch)(void *arg, const sy_replay_progress_t *), void *arg);

/* Replay jobs of the admin API: one runs at a time, in its own thread, on its own copy of the policy. */
typedef struct st_sy_replay_jobs_t sy_replay_jobs_t;

sy_replay_jobs_t *sy_replay_jobs_create(sy_store_t *store, const char *policy_path);
/* Cancels a running job after its current batch, waits for it, frees everything. */
void sy_replay_jobs_destroy(sy_replay_jobs_t *jobs);
/* Starts spec; fills id. SY_EINVAL (unknown spoke, bad policy: err says why) or SY_EFULL (one already runs). */
int sy_replay_jobs_start(sy_replay_jobs_t *jobs, const sy_replay_spec_t *spec, char *id, size_t idlen, char *err,
                         size_t errlen);
/* One job as {"id","state","spec","read","selected","at_seq","last_seq","changes","error",...}; NULL if unknown. */
json_t *sy_replay_jobs_get(sy_replay_jobs_t *jobs, const char *id);
json_t *sy_replay_jobs_list(sy_replay_jobs_t *jobs);

#endif
