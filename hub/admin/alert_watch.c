/*
 * The alert watcher (alert_watch.h).
 */
#include "alert_watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "health_cache.h"
#include "log.h"
#include "queue.h"
#include "records.h"

struct st_sy_alert_watch_t {
    const sy_config_t *conf;
    sy_store_t *store;
    sy_health_cache_t *health;
    pthread_t tid;
    pthread_mutex_t mutex; /* leaf: stop flag */
    pthread_cond_t cond;
    int stopping;
    int64_t pruned_at_ms; /* the last pruning of resolved alerts (only the watcher's thread touches it) */
};

#define PRUNE_EVERY_MS (10 * 60 * 1000) /* resolved alerts are looked at for pruning this often */
#define PRUNE_MAX 256                    /* and at most this many forgotten at a time */

typedef struct st_prune_arg_t {
    int64_t before_ms;
    size_t pruned;
} prune_arg_t;

static int prune_resolved(void *arg, sy_txn_t *txn)
{
    prune_arg_t *a = arg;
    return sy_alerts_prune(txn, a->before_ms, PRUNE_MAX, &a->pruned);
}

/* Forgets resolved alerts older than alerts.keep_resolved, now and then: the list stays what a person reads. */
static void prune(sy_alert_watch_t *w, int64_t now)
{
    if (w->conf->alerts_keep_resolved_ms <= 0 || now - w->pruned_at_ms < PRUNE_EVERY_MS)
        return;
    w->pruned_at_ms = now;
    prune_arg_t a = {.before_ms = now - w->conf->alerts_keep_resolved_ms};
    int rc = sy_store_write(w->store, prune_resolved, &a);
    if (rc != 0)
        sy_log(SY_LOG_WARN, "alerts: resolved alerts not pruned (%s); tried again later", sy_strerror(rc));
    else if (a.pruned != 0)
        sy_log(SY_LOG_INFO, "alerts: %zu resolved alert(s) older than alerts.keep_resolved forgotten", a.pruned);
}

/* One change to make: raise (message set) or resolve (message NULL). */
typedef struct st_change_t {
    char kind[32];
    char record[64], source[96];
    char message[400];
    int raise;
} change_t;

typedef struct st_plan_t {
    change_t *c;
    size_t n, cap;
    int64_t now;
} plan_t;

static change_t *plan_add(plan_t *p, const char *kind, const char *record, const char *source, int raise)
{
    if (p->n == p->cap) {
        size_t cap = p->cap != 0 ? p->cap * 2 : 16;
        change_t *grown = realloc(p->c, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        p->c = grown;
        p->cap = cap;
    }
    change_t *c = &p->c[p->n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->kind, sizeof(c->kind), "%s", kind);
    snprintf(c->record, sizeof(c->record), "%s", record != NULL ? record : "");
    snprintf(c->source, sizeof(c->source), "%s", source != NULL ? source : "");
    c->raise = raise;
    return c;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

/* The unresolved alert of kind on (record, source) in list, or NULL. */
static json_t *find(json_t *list, const char *record, const char *source)
{
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        if (strcmp(str(a, "record"), record != NULL ? record : "") == 0 &&
            strcmp(str(a, "source"), source != NULL ? source : "") == 0)
            return a;
    }
    return NULL;
}

/* A condition without a subject (storage, lag): raised while it holds, resolved when it stops. */
static void plan_flag(plan_t *p, sy_txn_t *txn, const char *kind, int holds, const char *message)
{
    json_t *open = sy_alerts_unresolved(txn, kind);
    int is_open = json_array_size(open) != 0;
    json_decref(open);
    if (holds && !is_open) {
        change_t *c = plan_add(p, kind, NULL, NULL, 1);
        if (c != NULL)
            snprintf(c->message, sizeof(c->message), "%s", message);
    } else if (!holds && is_open) {
        plan_add(p, kind, NULL, NULL, 0);
    }
}

/* Per-record findings of the health report (key: "duplicates" or "double_billing") against the open alerts. */
static void plan_health(plan_t *p, sy_txn_t *txn, json_t *report, const char *key, const char *kind)
{
    json_t *found = json_object_get(report, key), *open = sy_alerts_unresolved(txn, kind), *e;
    size_t i;
    if (found == NULL || open == NULL) {
        json_decref(open);
        return;
    }
    json_array_foreach(found, i, e)
    {
        const char *source = json_object_get(e, "source") != NULL ? str(e, "source") : NULL;
        if (find(open, str(e, "record"), source) != NULL)
            continue;
        change_t *c = plan_add(p, kind, str(e, "record"), source, 1);
        char *ids = json_dumps(json_object_get(e, json_object_get(e, "ids") != NULL ? "ids" : "subscriptions"),
                               JSON_COMPACT);
        if (c != NULL && strcmp(kind, "duplicate") == 0)
            snprintf(c->message, sizeof(c->message),
                     "record %s has %s objects %s in %s: a duplicate (switchyard health; merge them in the tool)",
                     c->record, "several", ids != NULL ? ids : "", c->source);
        else if (c != NULL && json_object_get(e, "invoices") != NULL) {
            char *invs = json_dumps(json_object_get(e, "invoices"), JSON_COMPACT);
            snprintf(c->message, sizeof(c->message),
                     "record %s pays subscription %s and has open invoices %s in another tool: possible double billing",
                     c->record, ids != NULL ? ids : "", invs != NULL ? invs : "");
            free(invs);
        } else if (c != NULL)
            snprintf(c->message, sizeof(c->message),
                     "record %s has more than one active subscription %s: possible double billing", c->record,
                     ids != NULL ? ids : "");
        free(ids);
    }
    json_array_foreach(open, i, e)
    {
        int still = 0;
        size_t j;
        json_t *f;
        json_array_foreach(found, j, f)
        {
            still |= strcmp(str(f, "record"), str(e, "record")) == 0 && strcmp(str(f, "source"), str(e, "source")) == 0;
        }
        if (!still)
            plan_add(p, kind, str(e, "record"), str(e, "source"), 0);
    }
    json_decref(open);
}

static void plan_checks(sy_alert_watch_t *w, plan_t *p, json_t *report)
{
    sy_store_stats_t st;
    sy_txn_t *txn;
    char msg[400];
    uint64_t used = 0, max = w->conf->map_size_max;
    if (sy_store_stats(w->store, &st) == 0)
        used = st.used_bytes;
    if (sy_txn_begin(w->store, 0, &txn) != 0)
        return;
    if (w->conf->alerts_storage_pct != 0 && max != 0) {
        unsigned pct = (unsigned)(used * 100 / max);
        snprintf(msg, sizeof(msg), "storage is %u%% full (%llu of %llu bytes, storage.map_size_max): compact the log "
                                   "(switchyard log compact) or raise the maximum", pct, (unsigned long long)used,
                 (unsigned long long)max);
        plan_flag(p, txn, "storage_near_full", pct >= w->conf->alerts_storage_pct, msg);
    }
    if (w->conf->alerts_applier_lag != 0 && w->health != NULL) {
        uint64_t last = 0, cursor = 0;
        if (sy_store_last_seq(txn, &last) == 0 && sy_meta_get_u64(txn, "applier_cursor", &cursor) == 0) {
            uint64_t lag = last > cursor ? last - cursor : 0;
            snprintf(msg, sizeof(msg), "the applier is %llu events behind the log (cursor %llu, last seq %llu)",
                     (unsigned long long)lag, (unsigned long long)cursor, (unsigned long long)last);
            plan_flag(p, txn, "applier_lag", lag >= w->conf->alerts_applier_lag, msg);
        }
    }
    /* dead letters: an open dead_letter alert of a tool without any is resolved (retried or dropped). */
    json_t *open = sy_alerts_unresolved(txn, "dead_letter"), *summary = sy_queue_summary(txn), *a;
    size_t i;
    if (summary != NULL)
        json_array_foreach(open, i, a)
        {
            json_int_t dead = json_integer_value(json_object_get(json_object_get(summary, str(a, "source")), "dead"));
            if (dead == 0)
                plan_add(p, "dead_letter", NULL, str(a, "source"), 0);
        }
    json_decref(open);
    json_decref(summary);
    if (report != NULL) {
        plan_health(p, txn, report, "duplicates", "duplicate");
        plan_health(p, txn, report, "double_billing", "double_billing");
    }
    sy_txn_abort(txn);
}

static int apply_plan(void *arg, sy_txn_t *txn)
{
    plan_t *p = arg;
    int rc = 0;
    for (size_t i = 0; i != p->n && rc == 0; ++i) {
        change_t *c = &p->c[i];
        sy_alert_subject_t subj = {c->record, c->source, NULL};
        rc = c->raise ? sy_alert_raise(txn, c->kind, &subj, c->message, 0, 1, p->now, NULL)
                      : sy_alert_resolve(txn, c->kind, &subj, p->now);
    }
    return rc;
}

static void check(sy_alert_watch_t *w)
{
    plan_t p = {.now = sy_now_ms()};
    json_t *report = w->health != NULL ? sy_health_cache_get(w->health, -1) : NULL;
    plan_checks(w, &p, report);
    json_decref(report);
    if (p.n != 0) {
        int rc = sy_store_write(w->store, apply_plan, &p);
        if (rc == SY_EFULL)
            sy_store_grow(w->store);
        if (rc != 0)
            sy_log(SY_LOG_ERROR, "alerts: cannot record %zu alert change(s) (%s); next check tries again", p.n,
                   sy_strerror(rc));
        for (size_t i = 0; rc == 0 && i != p.n; ++i)
            sy_log(p.c[i].raise ? SY_LOG_WARN : SY_LOG_INFO, "alert %s %s%s%s%s%s", p.c[i].kind,
                   p.c[i].raise ? "raised" : "resolved", p.c[i].record[0] ? ": record " : "", p.c[i].record,
                   p.c[i].source[0] ? ", " : "", p.c[i].source);
    }
    prune(w, p.now);
    free(p.c);
}

static void *watch_main(void *arg)
{
    sy_thread_name("sy-alerts");
    sy_alert_watch_t *w = arg;
    pthread_mutex_lock(&w->mutex);
    while (!w->stopping) {
        pthread_mutex_unlock(&w->mutex);
        check(w);
        pthread_mutex_lock(&w->mutex);
        if (w->stopping)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = until.tv_nsec + (w->conf->alerts_check_ms % 1000) * 1000000;
        until.tv_sec += w->conf->alerts_check_ms / 1000 + ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->cond, &w->mutex, &until);
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

sy_alert_watch_t *sy_alert_watch_start(const sy_config_t *conf, sy_store_t *store, sy_health_cache_t *health)
{
    sy_alert_watch_t *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;
    if (w == NULL)
        return NULL;
    w->conf = conf;
    w->store = store;
    w->health = health;
    pthread_mutex_init(&w->mutex, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->tid, NULL, watch_main, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        free(w);
        return NULL;
    }
    return w;
}

void sy_alert_watch_stop(sy_alert_watch_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mutex);
    w->stopping = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    pthread_join(w->tid, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    free(w);
}
