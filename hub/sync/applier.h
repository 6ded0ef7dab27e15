/*
 * The applier: one thread that turns logged events into golden-record changes and queued pushes.
 *
 * It reads the log after its cursor, decodes a batch of events outside any write transaction, then writes the
 * records, the outbox entries and the new cursor together in one LMDB transaction per step (riding on the log
 * writer's commits when it has one): after a crash it resumes at the cursor, so every event is applied exactly
 * once.
 * The policy it applies can be swapped at run time (SIGHUP, admin API); a bad policy keeps the old one.
 */
#ifndef SY_APPLIER_H
#define SY_APPLIER_H

#include <jansson.h>

#include "policy.h"
#include "store.h"

typedef struct st_sy_applier_t sy_applier_t;
struct st_sy_writer_t; /* writer.h */

/* Starts the thread with policy (ownership moves to the applier). */
int sy_applier_start(sy_applier_t **out, sy_store_t *store, sy_policy_t *policy, const char *policy_path);
/* Calls fn(arg) on the applier thread after each committed batch (e.g. to wake delivery). Set before events flow. */
void sy_applier_set_listener(sy_applier_t *a, void (*fn)(void *arg), void *arg);
/*
 * Lets the batches ride on w's commits (writer.h), so the log's events and the records they change share commits
 * and fsyncs; NULL: the applier commits on its own again. Waits for the batch in progress; detach before the
 * writer stops; hold nothing meanwhile (locks.h).
 */
void sy_applier_set_writer(sy_applier_t *a, struct st_sy_writer_t *w);
/* Wakes the applier: new events were committed. Thread-safe, never blocks for long. */
void sy_applier_notify(sy_applier_t *a);
/*
 * Pauses (paused 1) or resumes (0) applying: the batch in progress ends, then nothing more is applied until a resume;
 * the log goes on taking events (nothing is lost, the lag grows and the applier_lag alert says so). For an operator
 * who fixes a policy or a tool's data before the records follow. Not kept across a restart. Thread-safe.
 */
void sy_applier_pause(sy_applier_t *a, int paused);
int sy_applier_paused(sy_applier_t *a);
/* Finishes the batch in progress, stops the thread, frees the applier and its policy. */
void sy_applier_stop(sy_applier_t *a);

/* Loads the policy again from its path; on success swaps it in. Returns 0, or the error (old policy kept). */
int sy_applier_reload(sy_applier_t *a, sy_error_t *err);
/* The running policy, locked against reloads until released (briefly: the applier waits meanwhile). */
const sy_policy_t *sy_applier_policy_acquire(sy_applier_t *a);
void sy_applier_policy_release(sy_applier_t *a);
/*
 * The running policy, kept alive (a reload swaps it out but frees it only at the last unref) without holding the
 * mutex: for long readers (the health report, record searches, the map) that must not stall the applier.
 * Take it before any transaction, like the mutex (locks.h); every ref is matched by one unref.
 */
const sy_policy_t *sy_applier_policy_ref(sy_applier_t *a);
void sy_applier_policy_unref(sy_applier_t *a, const sy_policy_t *p);
/* {"hash", "files", "fields", "sources", "loaded_at_ms"} of the running policy. New reference. */
json_t *sy_applier_policy_info(sy_applier_t *a);

#endif
