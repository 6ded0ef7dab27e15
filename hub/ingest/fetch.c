/*
 * The fetcher (see fetch.h).
 *
 * Locks: f->mutex is a leaf (hub/base/locks.h): it guards the stop flag and the wait between polls, and is never
 * held across a read transaction, a request or a wait for the writer. The thread reads the log in one short read
 * transaction per round and has none open while it fetches or waits for the writer's commit.
 *
 * Why poll: the writer has one commit listener (the applier's); a short read of the last seq every POLL_MS costs
 * next to nothing and keeps the writer untouched.
 */
#include "fetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_read.h"
#include "event.h"
#include "log.h"
#include "records.h"

#define POLL_MS 200            /* how often an idle fetcher looks for new events */
#define SCAN_MAX 4096          /* events read per round at most (most of them need no fetch) */
#define DECODE_ATTEMPTS 3      /* an answer that is not what was asked for is read again this often */
#define CURSOR_LAZY_MS 5000    /* a cursor that moved over events needing no fetch is written this late at most */
#define REASON_MAX 400

/* Request outcomes and skipped notifications, in label order. */
#define FETCH_OUTCOMES(X) X(ok) X(rate_limited) X(retried) X(failed) X(skipped) X(objects) X(duplicates)
enum {
#define FETCH_ENUM(name) OUT_##name,
    FETCH_OUTCOMES(FETCH_ENUM)
#undef FETCH_ENUM
        OUT_COUNT
};

typedef struct st_source_t {
    int active;             /* the connector fetches and the source has an api */
    sy_api_reader_t reader; /* set up on the first fetch */
    int reader_ready;
    _Atomic uint64_t counts[OUT_COUNT];
} source_t;

/* A logged notification of this round, copied out of the read transaction. */
typedef struct st_note_t {
    uint64_t seq;
    size_t src;
    char *event_id, *type, *body;
    size_t body_len;
    int done;
    char *skip_reason; /* malloc'd: recorded as skipped in the round's commit */
} note_t;

/* A fetched object to append: its encoded event and the id its item points at. */
typedef struct st_out_t {
    char *value, *id;
} out_t;

typedef struct st_round_t {
    note_t notes[SY_FETCH_ROUND];
    size_t num_notes;
    uint64_t last_seq; /* the last event the round looked at */
    out_t *outs;
    sy_append_t *items;
    size_t num_outs, cap;
} round_t;

struct st_sy_fetcher_t {
    const sy_config_t *conf;
    sy_store_t *store;
    sy_writer_t *writer;
    source_t *sources; /* indexed like conf->sources */
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int stopping;
    _Atomic int cancel;
    _Atomic uint64_t cursor; /* the events up to here are done (fetched or skipped); the durable one may lag */
    uint64_t durable;
    int64_t durable_at_ms;
};

static int source_fetches(const sy_source_conf_t *src)
{
    const sy_connector_t *c = src->connector;
    return c != NULL && c->needs_fetch != NULL && c->encode_fetch != NULL && c->decode_fetch != NULL &&
           (c->fetches == NULL || c->fetches(&src->verify));
}

int sy_fetcher_wanted(const sy_config_t *conf)
{
    int wanted = 0;
    for (size_t i = 0; i != conf->num_sources; ++i) {
        const sy_source_conf_t *src = &conf->sources[i];
        if (!source_fetches(src))
            continue;
        if (src->api_base_url == NULL)
            sy_log(SY_LOG_WARN, "fetch: source %s has no api: its notifications are logged but the objects they name "
                                "are not fetched (set sources.%s.api)", src->name, src->name);
        wanted |= src->api_base_url != NULL;
    }
    return wanted;
}

static char *dup_slice(sy_slice_t s)
{
    char *p = malloc(s.len + 1);
    if (p == NULL)
        abort();
    memcpy(p, s.base, s.len);
    p[s.len] = '\0';
    return p;
}

static void round_clear(round_t *r)
{
    for (size_t i = 0; i != r->num_notes; ++i) {
        note_t *n = &r->notes[i];
        free(n->event_id);
        free(n->type);
        free(n->body);
        free(n->skip_reason);
    }
    for (size_t i = 0; i != r->num_outs; ++i) {
        free(r->outs[i].value);
        free(r->outs[i].id);
    }
    r->num_notes = r->num_outs = 0;
}

/* Reads the events after the cursor: the notifications to fetch, and how far the round looked. Returns 0 or a
 * storage error. */
static int scan(sy_fetcher_t *f, round_t *r)
{
    sy_store_read_t *rd;
    sy_event_t ev;
    int rc = sy_store_read_begin(f->store, &rd);
    if (rc != 0)
        return rc;
    r->last_seq = atomic_load(&f->cursor);
    for (unsigned seen = 0; seen != SCAN_MAX && r->num_notes != SY_FETCH_ROUND; ++seen) {
        if ((rc = sy_store_event_next(rd, r->last_seq, &ev)) != 0)
            break;
        r->last_seq = ev.seq;
        const sy_source_conf_t *src = sy_config_find_source(f->conf, ev.source.base, ev.source.len);
        if (src == NULL || !f->sources[src - f->conf->sources].active || !src->connector->needs_fetch(&src->verify, ev.type))
            continue;
        note_t *n = &r->notes[r->num_notes++];
        *n = (note_t){.seq = ev.seq, .src = (size_t)(src - f->conf->sources), .event_id = dup_slice(ev.event_id),
                      .type = dup_slice(ev.type), .body = dup_slice(ev.body), .body_len = ev.body.len};
    }
    sy_store_read_end(rd);
    return rc == SY_ENOTFOUND ? 0 : rc;
}

static void skip(note_t *n, const char *reason)
{
    n->done = 1;
    free(n->skip_reason);
    n->skip_reason = dup_slice(sy_slice_cstr(reason));
}

/* Keeps the fetched objects as events to append under the notifications' source. */
static void keep_fetched(round_t *r, const sy_source_conf_t *src, const sy_fetched_t *fetched, size_t n)
{
    int64_t now = sy_now_ms();
    for (size_t i = 0; i != n; ++i) {
        if (r->num_outs == r->cap) {
            r->cap = r->cap != 0 ? 2 * r->cap : 64;
            if ((r->outs = realloc(r->outs, r->cap * sizeof(*r->outs))) == NULL ||
                (r->items = realloc(r->items, r->cap * sizeof(*r->items))) == NULL)
                abort();
        }
        const sy_fetched_t *o = &fetched[i];
        sy_event_t e = {.received_at_ms = now,
                        .occurred_at_ms = o->occurred_at_ms,
                        .source = sy_slice_cstr(src->name),
                        .connector = sy_slice_cstr(src->connector->name),
                        .event_id = sy_slice_cstr(o->id),
                        .type = sy_slice_cstr(o->type),
                        .signature = SY_SLICE_LIT(SY_FETCHED_SIGNATURE),
                        .user_agent = SY_SLICE_LIT("switchyard-fetch/" SY_VERSION),
                        .batch_size = 1,
                        .body = {o->body, o->body_len}};
        out_t *out = &r->outs[r->num_outs];
        size_t len;
        if (sy_codec_event_encode(&e, &out->value, &len) != 0)
            abort();
        out->id = dup_slice(e.event_id);
        r->items[r->num_outs++] = (sy_append_t){.source = e.source, .event_id = sy_slice_cstr(out->id),
                                                .value = {out->value, len}};
    }
}

/* One request for the first notification of source si not done yet and every other one it covers. Returns 0, or
 * SY_ESHUTDOWN when the fetcher is stopping (the round is then abandoned: nothing of it is recorded). */
static int fetch_one(sy_fetcher_t *f, round_t *r, size_t si)
{
    const sy_source_conf_t *src = &f->conf->sources[si];
    source_t *s = &f->sources[si];
    sy_slice_t bodies[SY_FETCH_ROUND];
    note_t *which[SY_FETCH_ROUND];
    unsigned char covered[SY_FETCH_ROUND];
    size_t m = 0;
    for (size_t i = 0; i != r->num_notes; ++i) {
        if (r->notes[i].src == si && !r->notes[i].done) {
            which[m] = &r->notes[i];
            bodies[m++] = (sy_slice_t){r->notes[i].body, r->notes[i].body_len};
        }
    }
    if (m == 0)
        return 0;
    sy_http_request_t req;
    char reason[REASON_MAX], err[300];
    if (src->connector->encode_fetch(&src->verify, bodies, m, covered, &req) != 0) {
        snprintf(reason, sizeof(reason), "not fetched: the %s connector cannot read what this notification names",
                 src->connector->name);
        skip(which[0], reason);
        atomic_fetch_add(&s->counts[OUT_skipped], 1);
        return 0;
    }
    if (!s->reader_ready && sy_api_reader_init(&s->reader, src, "fetch", &f->cancel) != 0)
        abort();
    s->reader_ready = 1;
    sy_api_page_t page = {NULL, 0, 0};
    sy_fetched_t *fetched = NULL;
    size_t num_fetched = 0;
    int rc = 0, decoded = 0;
    reason[0] = '\0';
    for (int attempt = 0; attempt != DECODE_ATTEMPTS && !decoded; ++attempt) {
        uint64_t limited = s->reader.rate_limited, failures = s->reader.failures;
        long status = sy_api_read(&s->reader, &req, &page, err, sizeof(err));
        atomic_fetch_add(&s->counts[OUT_rate_limited], s->reader.rate_limited - limited);
        atomic_fetch_add(&s->counts[OUT_retried], s->reader.failures - failures);
        if (atomic_load(&f->cancel)) {
            rc = SY_ESHUTDOWN;
            goto Exit;
        }
        if (status < 0) {
            snprintf(reason, sizeof(reason), "not fetched: %s", err);
            break;
        }
        const char *errmsg = "unreadable";
        if (src->connector->decode_fetch(&req, (sy_slice_t){page.base != NULL ? page.base : "", page.len}, &fetched,
                                         &num_fetched, &errmsg) == 0) {
            decoded = 1;
            break;
        }
        snprintf(reason, sizeof(reason), "not fetched: %s answered what is not a fetch (%s)", src->name, errmsg);
        if (attempt + 1 != DECODE_ATTEMPTS) {
            sy_log(SY_LOG_WARN, "fetch %s: %s; again in %d s", src->name, errmsg, 1 << attempt);
            atomic_fetch_add(&s->counts[OUT_retried], 1);
            sy_api_sleep_ms(1000LL << attempt, &f->cancel);
        }
    }
    atomic_fetch_add(&s->counts[decoded ? OUT_ok : OUT_failed], 1);
    if (decoded)
        keep_fetched(r, src, fetched, num_fetched);
    for (size_t k = 0; k != m; ++k) {
        if (!covered[k])
            continue;
        if (decoded) {
            which[k]->done = 1;
        } else {
            skip(which[k], reason);
            atomic_fetch_add(&s->counts[OUT_skipped], 1);
        }
    }
    if (!decoded)
        sy_log(SY_LOG_ERROR, "fetch %s: %zu notification(s) skipped: %s", src->name, req.num_pushes, reason);
Exit:
    sy_fetched_dispose(fetched, num_fetched);
    free(page.base);
    sy_http_request_dispose(&req);
    return rc;
}

typedef struct st_commit_t {
    sy_fetcher_t *f;
    round_t *r;
    int64_t now_ms;
} commit_t;

/* The round's rider: the cursor, and every skipped notification recorded as the applier records an event it cannot
 * use (`skipped`, stat:skipped, an event_skipped alert of the source). Starts from what txn shows: it may run twice
 * for one commit (after a map grow), and a notification recorded already is not counted again. */
static int on_commit(void *arg, sy_txn_t *txn)
{
    commit_t *c = arg;
    sy_apply_stats_t stats = {0};
    sy_apply_ctx_t ctx = {.txn = txn, .now_ms = c->now_ms, .stats = &stats};
    int rc = sy_meta_put_u64(txn, SY_FETCH_CURSOR, c->r->last_seq);
    for (size_t i = 0; rc == 0 && i != c->r->num_notes; ++i) {
        const note_t *n = &c->r->notes[i];
        if (n->skip_reason == NULL)
            continue;
        sy_event_t ev = {.seq = n->seq,
                         .source = sy_slice_cstr(c->f->conf->sources[n->src].name),
                         .event_id = sy_slice_cstr(n->event_id),
                         .type = sy_slice_cstr(n->type)};
        ctx.seq = n->seq;
        rc = sy_records_skip(&ctx, &ev, n->skip_reason);
    }
    return rc == 0 ? sy_records_add_stats(txn, &stats) : rc;
}

/* The fetched events, the skips and the cursor in one commit. Returns 0 or the commit's error. */
static int commit_round(sy_fetcher_t *f, round_t *r)
{
    commit_t c = {f, r, sy_now_ms()};
    sy_rider_t rider = {.fn = on_commit, .arg = &c};
    int rc = r->num_outs != 0 ? sy_writer_append(f->writer, r->items, r->num_outs, &rider)
                              : sy_writer_ride(f->writer, &rider);
    if (rc == 0)
        rc = rider.result;
    if (rc != 0)
        return rc;
    for (size_t i = 0; i != r->num_outs; ++i) {
        const sy_append_t *it = &r->items[i];
        const sy_source_conf_t *src = sy_config_find_source(f->conf, it->source.base, it->source.len);
        atomic_fetch_add(&f->sources[src - f->conf->sources].counts[it->duplicate ? OUT_duplicates : OUT_objects], 1);
    }
    f->durable = r->last_seq;
    f->durable_at_ms = c.now_ms;
    atomic_store(&f->cursor, r->last_seq);
    return 0;
}

/* Waits ms or until stopped; returns 1 when stopping. */
static int pause_ms(sy_fetcher_t *f, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ++ts.tv_sec;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mutex);
    if (!f->stopping)
        pthread_cond_timedwait(&f->cond, &f->mutex, &ts);
    int stopping = f->stopping;
    pthread_mutex_unlock(&f->mutex);
    return stopping;
}

static void *fetch_main(void *arg)
{
    sy_thread_name("sy-fetch");
    sy_fetcher_t *f = arg;
    round_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    while (!atomic_load(&f->cancel)) {
        uint64_t before = atomic_load(&f->cursor);
        int rc = scan(f, r);
        if (rc == 0 && r->num_notes == 0) {
            /* Nothing to fetch: the cursor moves in memory; written now and then, or when a round commits (a
             * durable cursor behind costs a scan after a restart, never a fetch). */
            atomic_store(&f->cursor, r->last_seq);
            if (r->last_seq != f->durable && sy_now_ms() - f->durable_at_ms >= CURSOR_LAZY_MS)
                rc = commit_round(f, r);
            round_clear(r);
            if (rc != 0)
                sy_log(SY_LOG_ERROR, "fetch: cannot keep the cursor (%s)", sy_strerror(rc));
            if ((rc != 0 || r->last_seq == before) && pause_ms(f, POLL_MS))
                break;
            continue;
        }
        for (size_t si = 0; rc == 0 && si != f->conf->num_sources; ++si) {
            for (;;) {
                size_t left = 0;
                for (size_t i = 0; i != r->num_notes; ++i)
                    left += r->notes[i].src == si && !r->notes[i].done;
                if (left == 0 || (rc = fetch_one(f, r, si)) != 0)
                    break;
            }
        }
        if (rc == 0)
            rc = commit_round(f, r);
        round_clear(r);
        if (rc == SY_ESHUTDOWN)
            break;
        if (rc != 0) {
            /* Nothing of the round was recorded: it is done again (its fetches too) after a pause. */
            sy_log(SY_LOG_ERROR, "fetch: the round after seq %llu was not committed (%s); again in 1 s",
                   (unsigned long long)atomic_load(&f->cursor), sy_strerror(rc));
            if (pause_ms(f, 1000))
                break;
        }
    }
    round_clear(r);
    /* Stopping (the writer still runs): keep how far the scans got, so the next start does not read it again. The
     * cursor in memory never passes a notification that is not committed, fetched or skipped. */
    r->last_seq = atomic_load(&f->cursor);
    if (r->last_seq != f->durable && commit_round(f, r) != 0)
        sy_log(SY_LOG_WARN, "fetch: the cursor was not kept at the stop: the next start reads from seq %llu again",
               (unsigned long long)f->durable);
    free(r->outs);
    free(r->items);
    free(r);
    return NULL;
}

sy_fetcher_t *sy_fetcher_create(const sy_config_t *conf, sy_store_t *store, sy_writer_t *writer)
{
    sy_fetcher_t *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->sources = calloc(conf->num_sources + 1, sizeof(*f->sources))) == NULL) {
        free(f);
        return NULL;
    }
    f->conf = conf;
    f->store = store;
    f->writer = writer;
    for (size_t i = 0; i != conf->num_sources; ++i)
        f->sources[i].active = source_fetches(&conf->sources[i]) && conf->sources[i].api_base_url != NULL;
    sy_txn_t *txn;
    uint64_t cursor = 0;
    if (sy_txn_begin(store, 0, &txn) == 0) {
        sy_meta_get_u64(txn, SY_FETCH_CURSOR, &cursor);
        sy_txn_abort(txn);
    }
    atomic_store(&f->cursor, cursor);
    f->durable = cursor;
    f->durable_at_ms = sy_now_ms();
    pthread_mutex_init(&f->mutex, NULL);
    pthread_cond_init(&f->cond, NULL);
    if (pthread_create(&f->thread, NULL, fetch_main, f) != 0) {
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->mutex);
        free(f->sources);
        free(f);
        return NULL;
    }
    sy_log(SY_LOG_INFO, "fetch: following the log from seq %llu", (unsigned long long)cursor);
    return f;
}

void sy_fetcher_destroy(sy_fetcher_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mutex);
    f->stopping = 1;
    atomic_store(&f->cancel, 1);
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mutex);
    pthread_join(f->thread, NULL);
    for (size_t i = 0; i != f->conf->num_sources; ++i)
        if (f->sources[i].reader_ready)
            sy_api_reader_dispose(&f->sources[i].reader);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mutex);
    free(f->sources);
    free(f);
}

void sy_fetcher_render_metrics(sy_fetcher_t *f, FILE *out)
{
    static const char *const outcomes[] = {
#define FETCH_NAME(name) #name,
        FETCH_OUTCOMES(FETCH_NAME)
#undef FETCH_NAME
    };
    if (f == NULL)
        return;
    fprintf(out, "# HELP switchyard_fetches_total Fetches of what notifications name without values, by source and "
                 "outcome: requests ok, rate_limited (429), retried (5xx, transport, unreadable), failed; "
                 "notifications skipped; objects appended and duplicates (already logged).\n"
                 "# TYPE switchyard_fetches_total counter\n");
    for (size_t i = 0; i != f->conf->num_sources; ++i)
        for (size_t k = 0; f->sources[i].active && k != OUT_COUNT; ++k)
            fprintf(out, "switchyard_fetches_total{source=\"%s\",outcome=\"%s\"} %llu\n", f->conf->sources[i].name,
                    outcomes[k], (unsigned long long)atomic_load(&f->sources[i].counts[k]));
    fprintf(out, "# HELP switchyard_fetch_cursor Seq of the last logged event the fetcher is done with.\n"
                 "# TYPE switchyard_fetch_cursor gauge\nswitchyard_fetch_cursor %llu\n",
            (unsigned long long)atomic_load(&f->cursor));
}
