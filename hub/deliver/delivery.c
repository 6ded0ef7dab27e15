/*
 * Delivery engine (see delivery.h). One thread owns the curl multi handle; other threads only wake it.
 *
 * Each round: refill transfer slots from the due part of the outbox (rate limiter, concurrency cap, pause and
 * breaker per spoke), let curl work, then commit the outcomes of finished transfers in one write transaction.
 * Locks (locks.h): the policy is taken before the outbox read transaction, never while one is open. A storage
 * error aborts the whole transaction it happened in and is logged (and counted by the store); a full map grows
 * after the abort. Outcomes lost that way leave their pushes due: they go again with the same idempotency key.
 */
#include "delivery.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempts.h"
#include "codec.h"
#include "crypto.h"
#include "alerts.h"
#include "cluster_config.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "outcome.h"
#include "records.h"

#define MAX_BATCH 100
#define MAX_CANDIDATES 512     /* pushes decoded per round, at most */
#define MAX_RESP_HEADERS 64
#define RESP_BODY_CAP (1 << 20)
#define DEAD_BODY_EXCERPT 4096
#define BREAKER_THRESHOLD 5    /* consecutive failures that open the breaker */
#define BREAKER_MIN_MS 5000
#define BREAKER_MAX_MS 300000
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 3600000
#define WINDOW_MARGIN_MS 50    /* our clock starts a request before the tool's clock sees it */
#define IDLE_POLL_MS 1000
#define RATE_LIMIT_PAUSE_MS 1000 /* a 429 that names no time */
#define AUTH_PAUSE_MS 60000      /* 401/403: credentials refused; pause the spoke, keep the pushes */

typedef enum en_breaker_t { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN } breaker_t;

typedef struct st_spoke_t {
    size_t conf_index; /* index in conf->sources and metrics */
    const sy_source_conf_t *conf;
    const sy_connector_t *connector;        /* NULL for a notifier */
    const sy_notifier_conf_t *notifier;     /* an alert notifier (notify.h), NULL for a tool */
    int stopped;                            /* a notifier whose receiver is gone for good: nothing more is sent */
    unsigned rate_count;
    int64_t rate_window_ms;
    int64_t *sent; /* ring of the send times of the last rate_count requests */
    size_t sent_head, sent_len;
    unsigned inflight;
    int64_t paused_until;
    unsigned failures;
    breaker_t breaker;
    int64_t breaker_until, breaker_ms;
    int64_t breaker_opened_at; /* when the breaker last went from closed to open */
} spoke_t;

typedef struct st_item_t {
    unsigned char key[16]; /* the outbox key when sent */
    json_int_t revision;
    int had_object; /* the push named the tool's object (an update), so an id in the answer is not a new link */
    int was_create; /* the request created the object */
    char record[64];
    char object_id[128]; /* the tool's object the request named ("" for a lookup or a create) */
    json_t *sent;        /* a cluster node only: the fields as sent, for the outcome the other hubs apply (outcome.h) */
    json_int_t seq;      /* the push's seq when sent */
} item_t;

typedef struct st_transfer_t {
    struct st_transfer_t *next;
    CURL *easy;
    struct curl_slist *headers;
    sy_http_request_t req;
    spoke_t *spoke;
    size_t n;
    item_t items[MAX_BATCH];
    char *body;
    size_t body_len;
    char *hdr_names[MAX_RESP_HEADERS], *hdr_values[MAX_RESP_HEADERS];
    size_t num_hdrs;
    uint64_t started_ns;
    char url[1100];
    char auth[600];
} transfer_t;

struct st_sy_delivery_t {
    const sy_config_t *conf;
    sy_store_t *store;
    sy_applier_t *applier;
    sy_metrics_t *metrics;
    spoke_t *spokes;
    size_t num_spokes;
    CURLM *multi;
    transfer_t *transfers; /* in flight */
    pthread_t tid;
    pthread_mutex_t mutex;
    int stopping;
    uint64_t rng;
    size_t first_spoke; /* the spoke a round reads first, in turn: none takes every candidate slot round after round */
    /* Outcomes counted while a round's write runs (maybe on the log writer's thread, maybe more than once), added
     * to the metrics once it committed: [source index][SY_PUSH_IDX_*]. */
    uint64_t (*deferred)[SY_PUSH_IDX_COUNT];
    int deferring;
    /* sy_delivery_set_recovery_listener, guarded by mutex */
    void (*on_recovered)(void *arg, const char *source, int64_t since_ms);
    void *on_recovered_arg;
};

/* --- small helpers ------------------------------------------------------------------------------------- */

static uint64_t next_random(sy_delivery_t *d)
{
    /* xorshift64*: jitter only, not security. */
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 2685821657736338717ull;
}

int64_t sy_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t random)
{
    int64_t ceiling = base_ms;
    for (unsigned i = 0; i < attempt && ceiling < cap_ms; ++i)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return (int64_t)(random % (uint64_t)(ceiling + 1));
}

static int transfer_has(sy_delivery_t *d, const unsigned char *key)
{
    for (transfer_t *t = d->transfers; t != NULL; t = t->next)
        for (size_t i = 0; i != t->n; ++i)
            if (memcmp(t->items[i].key + 8, key + 8, 8) == 0) /* the push id part */
                return 1;
    return 0;
}

static void count(sy_delivery_t *d, spoke_t *s, int idx, uint64_t n)
{
    if (s->notifier != NULL)
        return; /* per-source metrics only */
    if (d->deferring)
        d->deferred[s->conf_index][idx] += n;
    else
        atomic_fetch_add_explicit(&d->metrics->sources[s->conf_index].pushes[idx], n, memory_order_relaxed);
}

/* Counting inside a write that may be redone or fail: begin clears, commit adds to the metrics, abort forgets. */
static void deferred_begin(sy_delivery_t *d)
{
    memset(d->deferred, 0, d->conf->num_sources * sizeof(*d->deferred));
    d->deferring = 1;
}

static void deferred_end(sy_delivery_t *d, int committed)
{
    d->deferring = 0;
    for (size_t i = 0; committed && i != d->conf->num_sources; ++i)
        for (int k = 0; k != SY_PUSH_IDX_COUNT; ++k)
            if (d->deferred[i][k] != 0)
                atomic_fetch_add_explicit(&d->metrics->sources[i].pushes[k], d->deferred[i][k], memory_order_relaxed);
}

/* --- per-spoke admission: breaker, pause, concurrency, rolling window ------------------------------------ */

static int64_t window_free_at(const spoke_t *s)
{
    if (s->sent_len < s->rate_count)
        return 0;
    return s->sent[s->sent_head] + s->rate_window_ms + WINDOW_MARGIN_MS; /* the oldest send leaves the window */
}

/* Requests the rolling window still allows now. */
static unsigned window_room(const spoke_t *s, int64_t now)
{
    unsigned used = 0;
    for (size_t i = 0; i != s->sent_len; ++i)
        used += s->sent[(s->sent_head + i) % s->rate_count] + s->rate_window_ms + WINDOW_MARGIN_MS > now;
    return s->rate_count - used;
}

static int spoke_ready(spoke_t *s, int64_t now, int64_t *next_wake)
{
    int64_t at = 0;
    if (s->stopped)
        return 0;
    if (s->breaker == BREAKER_OPEN) {
        if (now < s->breaker_until)
            at = s->breaker_until;
        else
            s->breaker = BREAKER_HALF_OPEN; /* one probe may go */
    }
    if (s->breaker == BREAKER_HALF_OPEN && s->inflight != 0)
        return 0;
    if (now < s->paused_until && s->paused_until > at)
        at = s->paused_until;
    int64_t free_at = window_free_at(s);
    if (now < free_at && free_at > at)
        at = free_at;
    if (at != 0) {
        if (at < *next_wake)
            *next_wake = at;
        return 0;
    }
    return s->inflight < s->conf->api_concurrency;
}

static void spoke_sent(spoke_t *s, int64_t now)
{
    if (s->sent_len == s->rate_count) {
        s->sent[s->sent_head] = now;
        s->sent_head = (s->sent_head + 1) % s->rate_count;
    } else {
        s->sent[(s->sent_head + s->sent_len) % s->rate_count] = now;
        ++s->sent_len;
    }
    ++s->inflight;
}

/* Pushes one request of s carries at most. */
static size_t max_batch(const spoke_t *s)
{
    return s->notifier != NULL ? sy_notify_max_batch(s->notifier) : s->connector->max_batch;
}

/* Returns 1 when the breaker opened, -1 when it closed, else 0 (for the breaker_open alert). */
static int spoke_result(sy_delivery_t *d, spoke_t *s, int ok, int64_t now)
{
    int change = 0;
    if (ok) {
        if (s->breaker != BREAKER_CLOSED) {
            sy_log(SY_LOG_INFO, "delivery: %s answers again; circuit closed", s->conf->name);
            change = -1;
            int64_t long_outage = s->conf->reconcile_after_outage_ms;
            if (s->notifier == NULL && long_outage > 0 && now - s->breaker_opened_at >= long_outage) {
                pthread_mutex_lock(&d->mutex);
                if (d->on_recovered != NULL)
                    d->on_recovered(d->on_recovered_arg, s->conf->name, s->breaker_opened_at);
                pthread_mutex_unlock(&d->mutex);
            }
        }
        s->failures = 0;
        s->breaker = BREAKER_CLOSED;
        s->breaker_ms = BREAKER_MIN_MS;
    } else if (s->breaker == BREAKER_HALF_OPEN || ++s->failures >= BREAKER_THRESHOLD) {
        if (s->breaker == BREAKER_HALF_OPEN && s->breaker_ms < BREAKER_MAX_MS)
            s->breaker_ms *= 2;
        if (s->breaker_ms > BREAKER_MAX_MS)
            s->breaker_ms = BREAKER_MAX_MS;
        change = s->breaker == BREAKER_CLOSED;
        if (change)
            s->breaker_opened_at = now;
        s->breaker = BREAKER_OPEN;
        s->breaker_until = now + s->breaker_ms;
        sy_log(SY_LOG_WARN, "delivery: %s keeps failing; circuit open for %lld ms (other tools are not affected)",
               s->conf->name, (long long)s->breaker_ms);
    }
    if (s->notifier == NULL)
        atomic_store(&d->metrics->sources[s->conf_index].breaker_open, (int)s->breaker);
    return change;
}

/* --- curl callbacks --------------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    transfer_t *t = arg;
    size_t n = size * nmemb;
    if (t->body_len < RESP_BODY_CAP) {
        size_t take = n < RESP_BODY_CAP - t->body_len ? n : RESP_BODY_CAP - t->body_len;
        char *grown = realloc(t->body, t->body_len + take + 1);
        if (grown == NULL)
            return 0;
        t->body = grown;
        memcpy(t->body + t->body_len, p, take);
        t->body_len += take;
        t->body[t->body_len] = '\0';
    }
    return n; /* the rest is read and dropped: every buffer fed from the network has a cap */
}

static void clear_headers(transfer_t *t)
{
    for (size_t i = 0; i != t->num_hdrs; ++i) {
        free(t->hdr_names[i]);
        free(t->hdr_values[i]);
    }
    t->num_hdrs = 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    transfer_t *t = arg;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        clear_headers(t); /* a new response (e.g. after 100 Continue) */
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (colon == NULL || t->num_hdrs == MAX_RESP_HEADERS || n > 1024)
        return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        ++v;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        --end;
    char *name = strndup(p, nl), *value = strndup(v, (size_t)(end - v));
    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        return n;
    }
    for (char *c = name; *c != '\0'; ++c)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    t->hdr_names[t->num_hdrs] = name;
    t->hdr_values[t->num_hdrs++] = value;
    return n;
}

static void transfer_free(transfer_t *t)
{
    if (t == NULL)
        return;
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    for (size_t i = 0; i != t->n; ++i)
        json_decref(t->items[i].sent);
    sy_http_request_dispose(&t->req);
    clear_headers(t);
    free(t->body);
    explicit_bzero(t->auth, sizeof(t->auth));
    free(t);
}

/* --- candidates: due pushes read from the outbox ---------------------------------------------------------- */

typedef struct st_candidate_t {
    spoke_t *spoke;
    item_t item;
    json_t *doc;
    char *object_id, *email;
    const char *names[64], *values[64];
    size_t num_fields;
    int create;
    const char *problem; /* set: cannot be sent as it is → dead letter */
    int drop_index;      /* SY_PUSH_IDX_not_created / _tombstoned: not to be sent at all (removed, counted) */
    char create_key[200]; /* idempotency key of a create: stable per (instance, record, tool) */
    const char *drop;    /* why, for the log; NULL: keep */
} candidate_t;

typedef struct st_scan_t {
    sy_delivery_t *d;
    sy_txn_t *txn;
    const sy_policy_t *policy;
    int64_t now, *next_wake;
    candidate_t *c;
    size_t n;
    unsigned budget[64]; /* requests each spoke may still start this round */
    spoke_t *spoke;      /* the spoke whose due pushes are being read */
    size_t taken, cap;   /* its candidates so far, and how many it can use this round */
    uint64_t docs_read;  /* outbox documents decoded this round */
} scan_t;

static int batchable(const spoke_t *s, const candidate_t *c)
{
    if (json_is_true(json_object_get(c->doc, "solo")) || max_batch(s) <= 1)
        return 0;
    return s->notifier != NULL || c->object_id != NULL;
}

static void candidate_dispose(candidate_t *c)
{
    json_decref(c->doc);
    free(c->object_id);
    free(c->email);
}

static void prepare(scan_t *sc, candidate_t *c)
{
    const sy_policy_t *p = sc->policy;
    size_t psource = sy_policy_source_index(p, c->spoke->conf->name);
    const char *field;
    json_t *value;
    json_object_foreach(json_object_get(c->doc, "fields"), field, value)
    {
        size_t fi = sy_policy_field_index(p, field);
        const char *name = fi != SY_POLICY_NONE && psource != SY_POLICY_NONE ? sy_policy_push_name(p, psource, fi) : NULL;
        if (name == NULL) {
            c->problem = "the policy has no push_as name for a field of this push";
            return;
        }
        if (c->num_fields == SY_ARRAY_SIZE(c->names)) {
            c->problem = "too many fields in one push";
            return;
        }
        c->names[c->num_fields] = name;
        c->values[c->num_fields++] = json_string_value(value);
    }
    c->create = json_is_true(json_object_get(c->doc, "create"));
    const char *known = json_string_value(json_object_get(c->doc, "object_id"));
    /* Only the three members read below are decoded, not the whole record (~2 KB), for every push of a round. */
    const char *const xref_path[] = {"xrefs", c->spoke->conf->name, NULL}, *const email_path[] = {"fields", "email", NULL},
                      *const tomb_path[] = {"tombstones", c->spoke->conf->name, NULL};
    const char *const *const paths[] = {xref_path, email_path, tomb_path};
    json_t *rec = sy_records_load_paths(sc->txn, c->item.record, paths, SY_ARRAY_SIZE(paths));
    if (known == NULL && rec != NULL && !json_is_true(json_object_get(c->doc, "rebuild")))
        known = json_string_value(json_array_get(json_object_get(json_object_get(rec, "xrefs"), c->spoke->conf->name), 0));
    const char *email = rec != NULL ? json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), "email"), "value")) : NULL;
    c->object_id = known != NULL ? strdup(known) : NULL;
    c->email = email != NULL && email[0] != '\0' ? strdup(email) : NULL;
    /* A create is keyed by the record, not by the push's revision: however often the push is coalesced, retried or
     * rebuilt, and on whichever round, the tool makes at most one object per record for this hub (within its
     * idempotency window). A create with other values under that key is refused: the object exists, and the retry
     * looks it up. */
    sy_slice_t inst;
    if (sy_txn_get(sc->txn, SY_DB_META, SY_SLICE_LIT("instance_id"), &inst) == 0 && inst.len == SY_INSTANCE_ID_LEN)
        snprintf(c->create_key, sizeof(c->create_key), "sy-%.*s-create-%s%s", (int)inst.len, inst.base, c->item.record,
                 /* a rebuild recreates what the tool lost: not the earlier create's answer replayed */
                 json_is_true(json_object_get(c->doc, "rebuild")) ? "-rebuild" : "");
    if (rec != NULL && json_object_get(json_object_get(rec, "tombstones"), c->spoke->conf->name) != NULL) {
        /* The tool deleted the record's object: nothing deleted comes back unless the tool makes a new one. */
        c->drop = "the record's object was deleted in the tool (tombstone)";
        c->drop_index = SY_PUSH_IDX_tombstoned;
    } else if (c->object_id == NULL && psource != SY_POLICY_NONE && p->sources[psource].create == SY_CREATE_NEVER && (c->email == NULL || c->create)) {
        /* Looked up and not found (or nothing to look it up by), and the policy says never to create it here. */
        c->drop = c->email == NULL ? "the tool has no object for the record, nothing to look one up by, and its "
                                     "policy says create: never"
                                   : "no object with the record's email at the tool, and its policy says create: never";
        c->drop_index = SY_PUSH_IDX_not_created;
    }
    json_decref(rec);
}

/* One due push of sc->spoke (from its due index, queue.h): decoded into a candidate while the round can use it. */
static int on_due_key(void *arg, const unsigned char key[16])
{
    scan_t *sc = arg;
    spoke_t *s = sc->spoke;
    size_t si = (size_t)(s - sc->d->spokes);
    sy_slice_t val;
    if (sc->n == MAX_CANDIDATES) {
        *sc->next_wake = sc->now; /* more may be due: the next round comes at once */
        return 1;
    }
    if (sc->budget[si] == 0 || sc->taken >= sc->cap)
        return 1; /* enough for this round */
    if (transfer_has(sc->d, key))
        return 0; /* on the wire: at most concurrency x batch of them, so skipping them costs no more than that */
    if (sy_txn_get(sc->txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16}, &val) != 0)
        return 0;
    ++sc->docs_read;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    const char *spoke = json_string_value(json_object_get(doc, "spoke"));
    if (doc == NULL || spoke == NULL || strcmp(spoke, s->conf->name) != 0) {
        json_decref(doc);
        return 0;
    }
    candidate_t *c = &sc->c[sc->n++];
    memset(c, 0, sizeof(*c));
    c->spoke = s;
    c->doc = doc;
    memcpy(c->item.key, key, 16);
    c->item.revision = json_integer_value(json_object_get(doc, "revision"));
    snprintf(c->item.record, sizeof(c->item.record), "%s", json_string_value(json_object_get(doc, "record")));
    if (s->notifier == NULL)
        prepare(sc, c); /* a notification needs no record nor policy: its body is the alert */
    if (c->problem != NULL || c->drop != NULL)
        return 0; /* settled without a request (dead letter, or dropped): no share of the round's requests */
    ++sc->taken;
    /* A batchable spoke takes many pushes per request; count requests, not pushes, against its budget. */
    if (!batchable(s, c))
        --sc->budget[si];
    return 0;
}

/* --- sending ------------------------------------------------------------------------------------------------ */

static void start_transfer(sy_delivery_t *d, spoke_t *s, candidate_t **cs, size_t n, int64_t now)
{
    sy_push_t pushes[MAX_BATCH] = {{0}};
    transfer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return;
    for (size_t i = 0; i != n; ++i) {
        candidate_t *c = cs[i];
        pushes[i] = (sy_push_t){.object_id = c->object_id, .email = c->email, .names = c->names, .values = c->values,
                                .num_fields = c->num_fields,
                                .idempotency_key = c->object_id == NULL && c->create_key[0] != '\0'
                                                       ? c->create_key
                                                       : json_string_value(json_object_get(c->doc, "idempotency_key")),
                                .create = c->create,
                                .version = json_string_value(json_object_get(c->doc, "object_version"))};
        t->items[i] = c->item;
        t->items[i].had_object = c->object_id != NULL;
        snprintf(t->items[i].object_id, sizeof(t->items[i].object_id), "%s", c->object_id != NULL ? c->object_id : "");
        t->items[i].was_create = c->object_id == NULL && (c->create || c->email == NULL);
        t->items[i].sent = d->conf->cluster != NULL ? json_deep_copy(json_object_get(c->doc, "fields")) : NULL;
        t->items[i].seq = json_integer_value(json_object_get(c->doc, "seq"));
    }
    t->n = n;
    t->spoke = s;
    char notify_headers[SY_NOTIFY_MAX_HEADERS][SY_NOTIFY_HEADER_MAX];
    size_t num_notify_headers = 0;
    int enc;
    if (s->notifier != NULL) {
        json_t *docs[MAX_BATCH];
        for (size_t i = 0; i != n; ++i)
            docs[i] = cs[i]->doc;
        enc = sy_notify_encode(s->notifier, docs, n, sy_now_ms(), &t->req, notify_headers, &num_notify_headers);
    } else {
        enc = s->connector->encode_push(&s->conf->verify, pushes, n, &t->req);
    }
    if (enc != 0) {
        transfer_free(t);
        if (n == 1) {
            cs[0]->problem = "the push cannot be expressed in the tool's API";
            return;
        }
        /* One bad push must not sink the batch: send them one by one, so only the bad one dies. */
        for (size_t i = 0; i != n; ++i)
            if (spoke_ready(s, sy_now_ms(), &(int64_t){INT64_MAX}))
                start_transfer(d, s, &cs[i], 1, sy_now_ms());
        return;
    }
    snprintf(t->url, sizeof(t->url), "%s%s", s->conf->api_base_url, t->req.path);
    snprintf(t->auth, sizeof(t->auth), "Authorization: Bearer %s", s->conf->api_token);
    char line[320];
    if (s->notifier == NULL)
        t->headers = curl_slist_append(t->headers, t->auth);
    for (size_t i = 0; i != num_notify_headers; ++i)
        t->headers = curl_slist_append(t->headers, notify_headers[i]);
    t->headers = curl_slist_append(t->headers, "Expect:");
    t->headers = curl_slist_append(t->headers, "Accept: application/json");
    if (t->req.content_type[0] != '\0') {
        snprintf(line, sizeof(line), "Content-Type: %s", t->req.content_type);
        t->headers = curl_slist_append(t->headers, line);
    }
    if (t->req.idempotency_key[0] != '\0') {
        snprintf(line, sizeof(line), "Idempotency-Key: %s", t->req.idempotency_key);
        t->headers = curl_slist_append(t->headers, line);
    }
    if (t->req.extra_header[0] != '\0')
        t->headers = curl_slist_append(t->headers, t->req.extra_header); /* a connector's own header (connector.h) */
    if ((t->easy = curl_easy_init()) == NULL) {
        transfer_free(t);
        return;
    }
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
    curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, t->req.method);
    if (t->req.body != NULL) {
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->req.body);
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.body_len);
    } else if (strcmp(t->req.method, "GET") == 0) {
        curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)s->conf->api_timeout_ms);
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->conf->api_timeout_ms < 5000 ? s->conf->api_timeout_ms : 5000));
    curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "switchyard/" SY_VERSION);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    /* Only http(s), never redirects: a push goes where the config says and nowhere else. */
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* Proxies from the environment apply to real tools, never to loopback (local fakes, sidecars). */
    curl_easy_setopt(t->easy, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    t->started_ns = sy_mono_ns();
    if (curl_multi_add_handle(d->multi, t->easy) != CURLM_OK) {
        transfer_free(t);
        return;
    }
    t->next = d->transfers;
    d->transfers = t;
    spoke_sent(s, now);
}

/* --- outcomes ------------------------------------------------------------------------------------------------ */

static sy_slice_t key_slice(const unsigned char *k)
{
    return (sy_slice_t){(const char *)k, 16};
}

static int remove_push(sy_txn_t *txn, const unsigned char *key, json_t *doc)
{
    char pkey[600];
    sy_slice_t pv;
    int rc = sy_queue_remove(txn, key, doc); /* doc as stored: its spoke and age name the index entries */
    if (rc != 0)
        return rc;
    snprintf(pkey, sizeof(pkey), "%s\x1f%s", json_string_value(json_object_get(doc, "spoke")),
             json_string_value(json_object_get(doc, "record")));
    if (sy_txn_get(txn, SY_DB_PENDING, sy_slice_cstr(pkey), &pv) == 0 && pv.len == 16 && memcmp(pv.base, key, 16) == 0)
        rc = sy_txn_del(txn, SY_DB_PENDING, sy_slice_cstr(pkey));
    return rc == SY_ENOTFOUND ? 0 : rc;
}

/* Moves a push to a new due time (its key changes; the coalescing index follows). */
static int reschedule(sy_txn_t *txn, const unsigned char *key, json_t *doc, int64_t due)
{
    unsigned char nk[16];
    char pkey[600];
    sy_slice_t pv;
    int rc;
    memcpy(nk, key, 16);
    sy_put_be64(nk, (uint64_t)due);
    json_object_set_new(doc, "due_at_ms", json_integer(due));
    if ((rc = sy_queue_move(txn, key, nk, doc)) != 0)
        return rc;
    snprintf(pkey, sizeof(pkey), "%s\x1f%s", json_string_value(json_object_get(doc, "spoke")),
             json_string_value(json_object_get(doc, "record")));
    if (rc == 0 && sy_txn_get(txn, SY_DB_PENDING, sy_slice_cstr(pkey), &pv) == 0 && pv.len == 16 &&
        memcmp(pv.base, key, 16) == 0)
        rc = sy_txn_put(txn, SY_DB_PENDING, sy_slice_cstr(pkey), key_slice(nk));
    return rc;
}

static int put_in_place(sy_txn_t *txn, const unsigned char *key, json_t *doc)
{
    return sy_doc_put(txn, SY_DB_OUTBOX, key_slice(key), doc);
}

/* The response as kept with a dead letter: status, headers, the first 4 KiB of the body. */
static json_t *response_doc(const transfer_t *t, long status, const char *error)
{
    json_t *headers = json_object();
    for (size_t i = 0; t != NULL && i != t->num_hdrs; ++i)
        json_object_set_new(headers, t->hdr_names[i], json_string(t->hdr_values[i]));
    size_t n = t != NULL && t->body != NULL ? (t->body_len < DEAD_BODY_EXCERPT ? t->body_len : DEAD_BODY_EXCERPT) : 0;
    json_t *body = json_stringn(n != 0 ? t->body : "", n);
    return json_pack("{s:i, s:o, s:o, s:s?}", "status", (int)status, "headers", headers, "body",
                     body != NULL ? body : json_string("(not UTF-8)"), "error", error);
}

static int has_reason(json_t *doc, const char *reason)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "reasons"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), reason) == 0)
            return 1;
    }
    return 0;
}

static int bury(sy_txn_t *txn, const unsigned char *key, json_t *doc, const char *reason, json_t *response, int64_t now)
{
    json_t *dead = json_deep_copy(doc);
    sy_slice_t dkey = {(const char *)key + 8, 8}, existing;
    int had = sy_txn_get(txn, SY_DB_DEAD, dkey, &existing) == 0; /* counted once, however often it is buried */
    json_object_set_new(dead, "died_at_ms", json_integer(now));
    json_object_set_new(dead, "reason", json_string(reason));
    json_object_set_new(dead, "response", response != NULL ? response : json_null());
    int rc = sy_doc_put(txn, SY_DB_DEAD, dkey, dead);
    json_decref(dead);
    if (rc == 0 && !had)
        rc = sy_queue_dead_add(txn, json_string_value(json_object_get(doc, "spoke")), 1);
    if (rc == 0 && !had) {
        /* One dead_letter alert per tool, counting its dead letters; the watcher resolves it once none is left
         * (retried or dropped: alert_watch.c). */
        char msg[600];
        sy_alert_subject_t subj = {NULL, json_string_value(json_object_get(doc, "spoke")), NULL};
        snprintf(msg, sizeof(msg), "push %s (record %s) is a dead letter: %s (switchyard dead ls)",
                 json_string_value(json_object_get(doc, "id")), json_string_value(json_object_get(doc, "record")), reason);
        rc = sy_alert_raise(txn, "dead_letter", &subj, msg, 0, 1, now, NULL);
    }
    return rc == 0 ? remove_push(txn, key, doc) : rc;
}

/* Versioned objects (QuickBooks SyncToken, connector.h): the version an answer reported goes with the push to its
 * next request; a stale one is forgotten, so that request reads the object again. */
static void keep_version(json_t *doc, const sy_push_result_t *r)
{
    if (r->stale_version)
        json_object_del(doc, "object_version");
    else if (r->version[0] != '\0')
        json_object_set_new(doc, "object_version", json_string(r->version));
}

/* A cluster node (the lease holder): what it settled goes to the other hubs (outcome.h), from this transaction. */
static int share_done(sy_delivery_t *d, sy_txn_t *txn, const item_t *it, json_t *doc, int64_t now)
{
    if (d->conf->cluster == NULL || it->sent == NULL)
        return 0;
    const char *object_id = json_string_value(json_object_get(doc, "object_id"));
    return sy_outcome_queue(txn, d->conf->cluster->node, "done", json_string_value(json_object_get(doc, "spoke")),
                            it->record, it->sent, it->seq, object_id != NULL ? object_id : it->object_id, NULL, now);
}

static int share_dead(sy_delivery_t *d, sy_txn_t *txn, const unsigned char *key, json_t *doc, int64_t now)
{
    if (d->conf->cluster == NULL)
        return 0;
    json_t *dead = sy_doc_get(txn, SY_DB_DEAD, (sy_slice_t){(const char *)key + 8, 8});
    int rc = sy_outcome_queue(txn, d->conf->cluster->node, "dead", json_string_value(json_object_get(doc, "spoke")),
                              json_string_value(json_object_get(doc, "record")), json_object_get(doc, "fields"),
                              json_integer_value(json_object_get(doc, "seq")),
                              json_string_value(json_object_get(doc, "object_id")), dead, now);
    json_decref(dead);
    return rc;
}

/* Applies one push's outcome inside txn. Returns 0 or a storage error (the caller aborts txn). *log says what
 * becomes of the push's attempt log: 1 add this attempt, -1 drop the log (the push is done), 0 nothing (gone). */
static int settle_push(sy_delivery_t *d, sy_txn_t *txn, transfer_t *t, const item_t *it, const sy_push_result_t *r,
                       long status, const char *curl_error, int64_t now, int *log)
{
    spoke_t *s = t->spoke;
    json_t *doc = NULL;
    int rc = 0;
    *log = 0;
    if ((doc = sy_doc_get(txn, SY_DB_OUTBOX, key_slice(it->key))) == NULL)
        return 0; /* dropped by an admin meanwhile */
    *log = 1;
    int coalesced = json_integer_value(json_object_get(doc, "revision")) != it->revision;
    keep_version(doc, r);
    if (!it->had_object && r->created_id[0] != '\0' && (r->outcome == SY_PUSH_DONE || r->outcome == SY_PUSH_FOUND)) {
        count(d, s, r->outcome == SY_PUSH_FOUND ? SY_PUSH_IDX_found : SY_PUSH_IDX_created, 1);
        /* Links are checked again here, in the settling transaction: the record may have got an object at this tool
         * since the lookup was sent (then a found one is ignored and the linked one updated). */
        json_t *rec = sy_records_load(txn, it->record);
        const char *linked = json_string_value(
            json_array_get(json_object_get(json_object_get(rec, "xrefs"), s->conf->name), 0));
        if (r->outcome == SY_PUSH_FOUND && linked != NULL && strcmp(linked, r->created_id) != 0) {
            json_object_set_new(doc, "object_id", json_string(linked));
            json_decref(rec);
        } else {
            json_decref(rec);
            /* A record merged away (ENOTFOUND) is logged, not fatal; a storage error is. */
            rc = sy_records_link(txn, it->record, s->conf->name, r->created_id);
            if (rc == SY_EINVAL) {
                /* The object belongs to another record: never written to on this one's behalf. */
                char why[400];
                snprintf(why, sizeof(why),
                         "the tool's object %s (%s by the record's email) is linked to another record already: an "
                         "identity conflict for an admin (switchyard records merge)",
                         r->created_id, r->outcome == SY_PUSH_FOUND ? "found" : "returned");
                count(d, s, SY_PUSH_IDX_dead, 1);
                rc = bury(txn, it->key, doc, why, response_doc(t, status, curl_error), now);
                if (rc == 0)
                    rc = share_dead(d, txn, it->key, doc, now);
                json_decref(doc);
                return rc;
            }
            if (rc != 0 && rc != SY_ENOTFOUND) {
                json_decref(doc);
                return rc;
            }
            rc = 0;
            json_object_set_new(doc, "object_id", json_string(r->created_id));
        }
    }
    if (r->outcome == SY_PUSH_PERMANENT && status == 404 && it->had_object && !json_is_true(json_object_get(doc, "rebuild")) &&
        has_reason(doc, "repush")) {
        /* A repush rebuilds a tool that lost data: its object for the record is gone. Unlinked, then looked up by
         * the record's email and, where the policy's create allows, created again (once: a second 404 is a dead
         * letter as usual). */
        if ((rc = sy_records_unlink(txn, it->record, s->conf->name, it->object_id)) != 0 && rc != SY_ENOTFOUND) {
            json_decref(doc);
            return rc;
        }
        json_object_del(doc, "object_id");
        json_object_set_new(doc, "rebuild", json_true());
        json_object_set_new(doc, "create", json_false());
        /* The next request is another one (a lookup, then maybe a create): another idempotency key. */
        char key[128];
        json_int_t revision = json_integer_value(json_object_get(doc, "revision")) + 1;
        if ((rc = sy_records_idempotency_key(txn, doc, (long long)revision, key, sizeof(key))) != 0) {
            json_decref(doc);
            return rc;
        }
        json_object_set_new(doc, "revision", json_integer(revision));
        json_object_set_new(doc, "idempotency_key", json_string(key));
        rc = put_in_place(txn, it->key, doc);
        json_decref(doc);
        return rc;
    }
    if (r->outcome == SY_PUSH_PERMANENT && t->n > 1) {
        /* A batch was refused: retry each push alone, so a bad one cannot take good ones with it. */
        json_object_set_new(doc, "solo", json_true());
        rc = put_in_place(txn, it->key, doc);
        json_decref(doc);
        return rc;
    }
    switch (r->outcome) {
    case SY_PUSH_DONE:
        count(d, s, SY_PUSH_IDX_done, 1);
        /* A newer value coalesced in while this one was on the wire: keep it queued (it is due) and send again. */
        rc = coalesced ? put_in_place(txn, it->key, doc) : remove_push(txn, it->key, doc);
        *log = coalesced ? 1 : -1;
        if (rc == 0)
            rc = share_done(d, txn, it, doc, now);
        break;
    case SY_PUSH_FOUND:
        rc = put_in_place(txn, it->key, doc);
        break;
    case SY_PUSH_NOT_FOUND:
        json_object_set_new(doc, "create", json_true());
        rc = put_in_place(txn, it->key, doc);
        break;
    case SY_PUSH_RETRY: {
        json_int_t attempts = json_integer_value(json_object_get(doc, "attempts")) + 1;
        json_int_t enqueued = json_integer_value(json_object_get(doc, "enqueued_at_ms"));
        json_object_set_new(doc, "attempts", json_integer(attempts));
        json_object_set_new(doc, "last_status", json_integer(status));
        if (curl_error != NULL)
            json_object_set_new(doc, "last_error", json_string(curl_error));
        /* A create that may have happened (timeout, 5xx) is not repeated blindly: look the object up first. */
        if (it->was_create)
            json_object_set_new(doc, "create", json_false());
        count(d, s, curl_error != NULL ? SY_PUSH_IDX_network_error : SY_PUSH_IDX_retry, 1);
        if ((unsigned)attempts >= s->conf->api_max_attempts || now - enqueued >= s->conf->api_max_age_ms) {
            count(d, s, SY_PUSH_IDX_dead, 1);
            rc = bury(txn, it->key, doc, (unsigned)attempts >= s->conf->api_max_attempts ? "too many attempts" : "too old",
                      response_doc(t, status, curl_error), now);
            if (rc == 0)
                rc = share_dead(d, txn, it->key, doc, now);
        } else {
            int64_t wait = r->retry_after_ms >= 0 ? (r->retry_after_ms < BACKOFF_CAP_MS ? r->retry_after_ms : BACKOFF_CAP_MS)
                                                  : sy_backoff_ms((unsigned)attempts - 1, BACKOFF_BASE_MS, BACKOFF_CAP_MS,
                                                                  next_random(d));
            rc = reschedule(txn, it->key, doc, now + wait);
        }
        break;
    }
    case SY_PUSH_PERMANENT:
        count(d, s, SY_PUSH_IDX_dead, 1);
        rc = bury(txn, it->key, doc, "the tool refused it", response_doc(t, status, curl_error), now);
        if (rc == 0)
            rc = share_dead(d, txn, it->key, doc, now);
        break;
    }
    json_decref(doc);
    return rc;
}

/* A finished transfer as its pushes' settling needs it. */
typedef struct st_outcome_t {
    transfer_t *t;
    sy_push_result_t r;
    long status;
    const char *curl_error;
    int auth;    /* 1: credentials refused (auth_failure alert), -1: the tool took a request (resolves it) */
    int breaker; /* 1: the breaker opened (breaker_open alert), -1: it closed */
    int stop;    /* a notifier's receiver is gone for good (notifier_failed alert); -1: it took one */
    json_t *attempt; /* the request and its answer for the attempt log (attempts.h), built once per transfer */
} outcome_t;

/* settle_push, then the push's attempt log in the same transaction: a done push needs only a delete (usually of
 * nothing), so the common case costs one lookup in a small DB. */
static int settle(sy_delivery_t *d, sy_txn_t *txn, const outcome_t *o, const item_t *it, const sy_push_result_t *r,
                  int64_t now)
{
    int log = 0, rc = settle_push(d, txn, o->t, it, r, o->status, o->curl_error, now, &log);
    uint64_t push_id = sy_get_be64(it->key + 8);
    if (rc != 0 || log == 0)
        return rc;
    if (log < 0)
        return sy_attempts_drop(txn, push_id);
    return o->attempt != NULL ? sy_attempts_add(txn, push_id, o->attempt) : 0;
}

/* Books a finished transfer in memory (spoke state, metrics, logs) and classifies its answer into o: done once,
 * before the write that settles its pushes (which may run more than once). */
static void classify(sy_delivery_t *d, transfer_t *t, CURLcode cc, int64_t now, outcome_t *o)
{
    sy_push_result_t r = {.retry_after_ms = -1};
    long status = 0;
    const char *curl_error = NULL;
    spoke_t *s = t->spoke;
    --s->inflight;
    uint64_t took_us = (sy_mono_ns() - t->started_ns) / 1000;
    sy_histogram_observe(&d->metrics->delivery_seconds, took_us);
    if (cc != CURLE_OK) {
        curl_error = curl_easy_strerror(cc);
        r.outcome = SY_PUSH_RETRY;
    } else {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    }
    int auth = 0, breaker = 0, stop = 0;
    if (s->notifier != NULL) {
        const char *retry_after = NULL;
        for (size_t i = 0; i != t->num_hdrs; ++i)
            if (strcmp(t->hdr_names[i], "retry-after") == 0)
                retry_after = t->hdr_values[i];
        if (cc == CURLE_OK)
            sy_notify_classify(s->notifier, status, retry_after,
                               (sy_slice_t){t->body != NULL ? t->body : "", t->body_len}, &r, &stop);
        if (stop) {
            /* Kept queued, not dead-lettered: they go once a working receiver is configured. */
            r.outcome = SY_PUSH_RETRY;
            r.retry_after_ms = BACKOFF_CAP_MS;
            s->stopped = 1;
            sy_log(SY_LOG_ERROR, "alerts: notifier %s answered %ld (%.200s): it will never take a message again; "
                                 "stopped (its notifications stay queued; fix the config and restart)",
                   s->conf->name, status, t->body != NULL ? t->body : "");
        } else if (r.outcome == SY_PUSH_DONE) {
            stop = -1;
        }
    } else if (cc == CURLE_OK) {
        sy_header_t headers[MAX_RESP_HEADERS];
        for (size_t i = 0; i != t->num_hdrs; ++i)
            headers[i] = (sy_header_t){sy_slice_cstr(t->hdr_names[i]), sy_slice_cstr(t->hdr_values[i])};
        s->connector->classify(status, headers, t->num_hdrs, (sy_slice_t){t->body != NULL ? t->body : "", t->body_len},
                               t->n, &r);
        if (t->n > 1 && s->connector->classify_each != NULL)
            s->connector->classify_each(&t->req, status, (sy_slice_t){t->body != NULL ? t->body : "", t->body_len}, t->n, &r);
    }
    if (s->notifier == NULL && (status == 401 || status == 403)) {
        /* Credentials refused: every push would fail the same way. Keep them queued and pause the spoke. */
        auth = 1;
        r.outcome = SY_PUSH_RETRY;
        r.retry_after_ms = AUTH_PAUSE_MS;
        s->paused_until = now + AUTH_PAUSE_MS;
        sy_log(SY_LOG_ERROR, "delivery: %s refused our credentials (%ld); paused for %d s — check its api.token",
               s->conf->name, status, AUTH_PAUSE_MS / 1000);
    } else if (r.rate_limited) {
        count(d, s, SY_PUSH_IDX_rate_limited, 1);
        int64_t pause = r.retry_after_ms >= 0 ? (r.retry_after_ms < BACKOFF_CAP_MS ? r.retry_after_ms : BACKOFF_CAP_MS)
                                              : RATE_LIMIT_PAUSE_MS;
        if (now + pause > s->paused_until)
            s->paused_until = now + pause;
    } else {
        /* a batch written in part: the tool works */
        breaker = spoke_result(d, s, r.outcome != SY_PUSH_RETRY || r.partial, now);
    }
    if (auth == 0 && status >= 200 && status < 300)
        auth = -1;
    if (r.outcome == SY_PUSH_PERMANENT || (r.outcome == SY_PUSH_RETRY && !r.rate_limited))
        sy_log(SY_LOG_WARN, "delivery: %s %s %s → %ld%s%s", s->conf->name, t->req.method, t->req.path, status,
               curl_error != NULL ? " " : "", curl_error != NULL ? curl_error : "");
    /* Method, path and the answer only: never a request header (the token) nor the body (its values are in the push). */
    json_t *attempt = sy_attempt_doc(now - (int64_t)(took_us / 1000), t->req.method, t->req.path, status, curl_error,
                                     (int64_t)(took_us / 1000), t->body, t->body_len, t->req.body_len, t->n);
    *o = (outcome_t){.t = t, .r = r, .status = status, .curl_error = curl_error, .auth = auth, .breaker = breaker,
                     .stop = stop, .attempt = attempt};
}

/* Every push of a classified transfer settled in txn. Returns 0 or the first storage error. */
static int settle_outcome(sy_delivery_t *d, sy_txn_t *txn, const outcome_t *o, int64_t now)
{
    /* A batch answered in part: the inputs the tool wrote are settled as done, only the others take the outcome. */
    sy_push_result_t written = {.outcome = SY_PUSH_DONE, .retry_after_ms = -1};
    for (size_t i = 0; i != o->t->n; ++i) {
        const sy_push_result_t *r = o->r.partial && i < SY_PUSH_MAX_BATCH && o->r.written[i] ? &written : &o->r;
        int rc = settle(d, txn, o, &o->t->items[i], r, now);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One place that says what a failed delivery transaction means; after a full map, grows (no txn may be open). */
static void storage_failed(sy_delivery_t *d, const char *what, int rc)
{
    sy_log(SY_LOG_ERROR, "delivery: %s failed (%s); nothing of it was recorded, the pushes stay due", what,
           sy_strerror(rc));
    if (rc == SY_EFULL)
        sy_store_grow(d->store);
}

/* --- the loop ------------------------------------------------------------------------------------------------ */

/* The candidates of a round that are not sent, written in one write. */
typedef struct st_unsendable_t {
    sy_delivery_t *d;
    candidate_t *c;
    size_t n;
    int64_t now;
} unsendable_t;

static int write_unsendable(void *arg, sy_txn_t *txn)
{
    unsendable_t *u = arg;
    candidate_t *c = u->c;
    int rc = 0;
    for (size_t i = 0; i != u->n && rc == 0; ++i) {
        if (c[i].problem != NULL && (rc = bury(txn, c[i].item.key, c[i].doc, c[i].problem, NULL, u->now)) == 0)
            rc = share_dead(u->d, txn, c[i].item.key, c[i].doc, u->now);
        else if (c[i].drop != NULL && (rc = remove_push(txn, c[i].item.key, c[i].doc)) == 0)
            rc = sy_attempts_drop(txn, sy_get_be64(c[i].item.key + 8));
    }
    return rc;
}

/* Pushes that are not sent: the unsendable become dead letters, the dropped (create: never, tombstone) leave the
 * queue. One write (riding on the log's commit); logged and counted once it committed. Returns 0 or the storage
 * error (then none is buried, and they are looked at again next round). */
static int bury_unsendable(sy_delivery_t *d, candidate_t *c, size_t n, int64_t now)
{
    int any = 0, rc;
    for (size_t i = 0; i != n; ++i)
        any |= c[i].problem != NULL || c[i].drop != NULL;
    if (!any)
        return 0;
    unsendable_t u = {d, c, n, now};
    if ((rc = sy_store_write(d->store, write_unsendable, &u)) != 0)
        return rc;
    for (size_t i = 0; i != n; ++i) {
        const char *push = json_string_value(json_object_get(c[i].doc, "id")), *spoke = c[i].spoke->conf->name;
        if (c[i].problem != NULL) {
            sy_log(SY_LOG_WARN, "delivery: push %s to %s is a dead letter: %s", push, spoke, c[i].problem);
            count(d, c[i].spoke, SY_PUSH_IDX_dead, 1);
        } else if (c[i].drop != NULL) {
            sy_log(SY_LOG_INFO, "delivery: push %s to %s not sent (record %s): %s", push, spoke, c[i].item.record,
                   c[i].drop);
            count(d, c[i].spoke, c[i].drop_index, 1);
        }
    }
    return 0;
}

static void dispatch(sy_delivery_t *d, int64_t now, int64_t *next_wake)
{
    candidate_t *cands = calloc(MAX_CANDIDATES, sizeof(*cands));
    scan_t sc = {.d = d, .now = now, .next_wake = next_wake, .c = cands};
    size_t ready = 0;
    if (cands == NULL)
        return;
    for (size_t i = 0; i != d->num_spokes && i != SY_ARRAY_SIZE(sc.budget); ++i) {
        spoke_t *s = &d->spokes[i];
        if (spoke_ready(s, now, next_wake)) {
            unsigned by_window = window_room(s, now);
            unsigned by_slots = s->conf->api_concurrency - s->inflight;
            sc.budget[i] = s->breaker == BREAKER_HALF_OPEN ? 1 : (by_window < by_slots ? by_window : by_slots);
            ready += sc.budget[i] != 0;
        }
    }
    if (ready == 0) {
        free(cands);
        return;
    }
    /* Policy first, then the read transaction (locks.h): waiting for the policy with the transaction open let a
     * grow wait for us while the applier, holding the policy, waited for the grower's write lock. */
    sc.policy = sy_applier_policy_acquire(d->applier);
    int rc = sy_txn_begin(d->store, 0, &sc.txn);
    if (rc == 0) {
        /* Only the spokes that may send, only their pushes due now, only as many as the round can start: the cost
         * of a round does not grow with the queue (issue #11). Spokes take turns at going first. */
        for (size_t k = 0; k != d->num_spokes && k != SY_ARRAY_SIZE(sc.budget) && rc >= 0; ++k) {
            size_t i = (d->first_spoke + k) % (d->num_spokes < SY_ARRAY_SIZE(sc.budget) ? d->num_spokes : SY_ARRAY_SIZE(sc.budget));
            spoke_t *s = &d->spokes[i];
            if (sc.budget[i] == 0 || sc.n == MAX_CANDIDATES)
                continue;
            size_t per_request = max_batch(s) > 1 ? max_batch(s) : 1;
            sc.spoke = s;
            sc.taken = 0;
            sc.cap = (size_t)sc.budget[i] * per_request;
            rc = sy_queue_due(sc.txn, s->conf->name, now, next_wake, on_due_key, &sc);
        }
        d->first_spoke = d->num_spokes != 0 ? (d->first_spoke + 1) % d->num_spokes : 0;
        sy_txn_abort(sc.txn);
        atomic_fetch_add_explicit(&d->metrics->delivery_docs_read, sc.docs_read, memory_order_relaxed);
        atomic_fetch_add_explicit(&d->metrics->delivery_rounds, 1, memory_order_relaxed);
    }
    if (rc < 0) {
        /* Nothing is sent from a scan that failed halfway: the next round reads the outbox again. */
        sy_applier_policy_release(d->applier);
        sy_log(SY_LOG_ERROR, "delivery: cannot read the outbox (%s); retrying next round", sy_strerror(rc));
        for (size_t i = 0; i != sc.n; ++i)
            candidate_dispose(&cands[i]);
        free(cands);
        return;
    }

    /* Requests: batchable spokes take all their pushes that have an object id in one request. */
    for (size_t si = 0; si != d->num_spokes; ++si) {
        spoke_t *s = &d->spokes[si];
        candidate_t *batch[MAX_BATCH];
        size_t nb = 0;
        for (size_t i = 0; i != sc.n; ++i) {
            candidate_t *c = &cands[i];
            if (c->spoke != s || c->problem != NULL || c->drop != NULL)
                continue;
            if (batchable(s, c)) {
                batch[nb++] = c;
                if (nb == max_batch(s) || nb == MAX_BATCH) {
                    if (spoke_ready(s, sy_now_ms(), next_wake))
                        start_transfer(d, s, batch, nb, sy_now_ms());
                    nb = 0;
                }
            } else if (spoke_ready(s, sy_now_ms(), next_wake)) {
                candidate_t *one = c;
                start_transfer(d, s, &one, 1, sy_now_ms());
            }
        }
        if (nb != 0 && spoke_ready(s, sy_now_ms(), next_wake))
            start_transfer(d, s, batch, nb, sy_now_ms());
    }
    sy_applier_policy_release(d->applier);
    if ((rc = bury_unsendable(d, cands, sc.n, now)) != 0)
        storage_failed(d, "dead-lettering unsendable pushes", rc);
    for (size_t i = 0; i != sc.n; ++i)
        candidate_dispose(&cands[i]);
    free(cands);
}

/* The alerts an outcome raises or resolves (alerts.h), in the write that settles it. */
static int outcome_alerts(sy_txn_t *txn, const outcome_t *o, int64_t now)
{
    const spoke_t *s = o->t->spoke;
    sy_alert_subject_t subj = {NULL, s->conf->name, NULL};
    char msg[600];
    int rc = 0;
    if (o->auth > 0) {
        snprintf(msg, sizeof(msg), "%s refused our credentials (HTTP %ld): pushes are paused and stay queued; check "
                                   "sources.%s.api.token", s->conf->name, o->status, s->conf->name);
        rc = sy_alert_raise(txn, "auth_failure", &subj, msg, 0, 1, now, NULL);
    } else if (o->auth < 0) {
        rc = sy_alert_resolve(txn, "auth_failure", &subj, now);
    }
    if (rc == 0 && o->breaker > 0) {
        snprintf(msg, sizeof(msg), "%s keeps failing (last: HTTP %ld%s%s): circuit open, pushes wait", s->conf->name,
                 o->status, o->curl_error != NULL ? ", " : "", o->curl_error != NULL ? o->curl_error : "");
        rc = sy_alert_raise(txn, "breaker_open", &subj, msg, 0, 1, now, NULL);
    } else if (rc == 0 && o->breaker < 0) {
        rc = sy_alert_resolve(txn, "breaker_open", &subj, now);
    }
    if (rc == 0 && o->stop > 0) {
        snprintf(msg, sizeof(msg), "notifier %s answered HTTP %ld (%.200s): stopped; its notifications stay queued "
                                   "until the config names a working receiver and the hub restarts",
                 s->conf->name, o->status, o->t->body != NULL ? o->t->body : "");
        rc = sy_alert_raise(txn, "notifier_failed", &subj, msg, 0, 1, now, NULL);
    } else if (rc == 0 && o->stop < 0) {
        rc = sy_alert_resolve(txn, "notifier_failed", &subj, now);
    }
    return rc;
}

/* The outcomes of a round, settled in one write. */
typedef struct st_round_t {
    sy_delivery_t *d;
    outcome_t *o;
    size_t n;
    int64_t now;
} round_t;

static int write_round(void *arg, sy_txn_t *txn)
{
    round_t *rd = arg;
    int rc = 0;
    deferred_begin(rd->d); /* a redone write counts afresh */
    for (size_t i = 0; i != rd->n && rc == 0; ++i)
        if ((rc = settle_outcome(rd->d, txn, &rd->o[i], rd->now)) == 0)
            rc = outcome_alerts(txn, &rd->o[i], rd->now);
    rd->d->deferring = 0;
    return rc;
}

/* Settles the transfers that finished; returns how many (each one freed a slot). */
static size_t collect(sy_delivery_t *d)
{
    CURLMsg *msg;
    int left;
    round_t rd = {.d = d, .now = sy_now_ms()};
    size_t cap = 0;
    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        transfer_t *t;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode cc = msg->data.result;
        curl_multi_remove_handle(d->multi, t->easy);
        for (transfer_t **pp = &d->transfers; *pp != NULL; pp = &(*pp)->next)
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        if (rd.n == cap) {
            outcome_t *grown = realloc(rd.o, (cap = cap != 0 ? cap * 2 : 8) * sizeof(*grown));
            if (grown == NULL) { /* not recorded: the push stays due and is sent again, same key */
                --t->spoke->inflight;
                storage_failed(d, "recording push outcomes", SY_ENOMEM);
                transfer_free(t);
                cap = rd.n;
                continue;
            }
            rd.o = grown;
        }
        classify(d, t, cc, rd.now, &rd.o[rd.n++]);
    }
    if (rd.n != 0) {
        /* All outcomes of this round in one write (riding on the log's next commit): results and outbox changes
         * commit together, or none of them and the pushes stay due (sent again with the same keys). */
        int rc = sy_store_write(d->store, write_round, &rd);
        deferred_end(d, rc == 0);
        if (rc != 0)
            storage_failed(d, "recording push outcomes", rc);
    }
    for (size_t i = 0; i != rd.n; ++i) {
        json_decref(rd.o[i].attempt);
        transfer_free(rd.o[i].t);
    }
    free(rd.o);
    return rd.n;
}

static int is_stopping(sy_delivery_t *d)
{
    pthread_mutex_lock(&d->mutex);
    int s = d->stopping;
    pthread_mutex_unlock(&d->mutex);
    return s;
}

static void *delivery_main(void *arg)
{
    sy_thread_name("sy-delivery");
    sy_delivery_t *d = arg;
    while (!is_stopping(d)) {
        int64_t now = sy_now_ms(), next_wake = now + IDLE_POLL_MS;
        dispatch(d, now, &next_wake); /* refill slots before sleeping, or we would sleep with nothing in flight */
        int running;
        curl_multi_perform(d->multi, &running);
        /* A fast tool answers within that perform: its slots are free and its pushes may be due again (a lookup
         * that found nothing), so the next round comes at once instead of after a poll that nothing would end. */
        if (collect(d) != 0)
            continue;
        now = sy_now_ms();
        int timeout = next_wake <= now ? 0 : (int)(next_wake - now < IDLE_POLL_MS ? next_wake - now : IDLE_POLL_MS);
        curl_multi_poll(d->multi, NULL, 0, timeout, NULL);
        curl_multi_perform(d->multi, &running);
        collect(d);
    }
    /* Transfers still in flight are abandoned: their pushes stay queued and go again (same key) next start. */
    while (d->transfers != NULL) {
        transfer_t *t = d->transfers;
        d->transfers = t->next;
        curl_multi_remove_handle(d->multi, t->easy);
        transfer_free(t);
    }
    return NULL;
}

static void delivery_free(sy_delivery_t *d)
{
    if (d->multi != NULL)
        curl_multi_cleanup(d->multi);
    for (size_t i = 0; i != d->num_spokes; ++i)
        free(d->spokes[i].sent);
    free(d->spokes);
    free(d->deferred);
    pthread_mutex_destroy(&d->mutex);
    free(d);
}

void sy_delivery_set_recovery_listener(sy_delivery_t *d, void (*fn)(void *arg, const char *source, int64_t since_ms),
                                       void *arg)
{
    pthread_mutex_lock(&d->mutex);
    d->on_recovered = fn;
    d->on_recovered_arg = arg;
    pthread_mutex_unlock(&d->mutex);
}

int sy_delivery_start(sy_delivery_t **out, const sy_config_t *conf, sy_store_t *store, sy_applier_t *applier,
                      sy_metrics_t *metrics)
{
    sy_delivery_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return SY_ENOMEM;
    d->conf = conf;
    d->store = store;
    d->applier = applier;
    d->metrics = metrics;
    sy_random_bytes(&d->rng, sizeof(d->rng));
    d->rng |= 1;
    pthread_mutex_init(&d->mutex, NULL);
    if ((d->spokes = calloc(conf->num_sources + conf->num_notifiers + 1, sizeof(*d->spokes))) == NULL ||
        (d->deferred = calloc(conf->num_sources + 1, sizeof(*d->deferred))) == NULL)
        goto Fail;
    const sy_policy_t *p = sy_applier_policy_acquire(applier);
    for (size_t i = 0; i != conf->num_sources; ++i) {
        const sy_source_conf_t *src = &conf->sources[i];
        if (src->api_base_url == NULL || src->connector->encode_push == NULL)
            continue;
        spoke_t *s = &d->spokes[d->num_spokes++];
        s->conf_index = i;
        s->conf = src;
        s->connector = src->connector;
        size_t pi = sy_policy_source_index(p, src->name);
        if (src->api_rate_count != 0) {
            s->rate_count = src->api_rate_count;
            s->rate_window_ms = src->api_rate_window_ms;
        } else if (pi != SY_POLICY_NONE && p->sources[pi].rate_count != 0) {
            s->rate_count = p->sources[pi].rate_count;
            s->rate_window_ms = p->sources[pi].rate_window_ms;
        } else {
            s->rate_count = src->connector->default_rate_count;
            s->rate_window_ms = src->connector->default_rate_window_ms;
        }
        s->breaker_ms = BREAKER_MIN_MS;
        if ((s->sent = calloc(s->rate_count + 1, sizeof(*s->sent))) == NULL) {
            sy_applier_policy_release(applier);
            goto Fail;
        }
        sy_log(SY_LOG_INFO, "delivery: %s via %s, at most %u requests per %lld ms, %u at a time", src->name,
               src->api_base_url, s->rate_count, (long long)s->rate_window_ms, src->api_concurrency);
    }
    sy_applier_policy_release(applier);
    for (size_t i = 0; i != conf->num_notifiers; ++i) {
        /* A notifier is a spoke of its own kind (notify.h): its outbox entries, paced and retried like pushes. */
        spoke_t *s = &d->spokes[d->num_spokes++];
        s->conf_index = SIZE_MAX;
        s->conf = &conf->notifiers[i].spoke;
        s->notifier = &conf->notifiers[i];
        s->rate_count = s->conf->api_rate_count;
        s->rate_window_ms = s->conf->api_rate_window_ms;
        s->breaker_ms = BREAKER_MIN_MS;
        if ((s->sent = calloc(s->rate_count + 1, sizeof(*s->sent))) == NULL)
            goto Fail;
        sy_log(SY_LOG_INFO, "alerts: notifier %s, at most %u messages per %lld ms", s->conf->name, s->rate_count,
               (long long)s->rate_window_ms);
    }
    if ((d->multi = curl_multi_init()) == NULL)
        goto Fail;
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    if (pthread_create(&d->tid, NULL, delivery_main, d) != 0)
        goto Fail;
    *out = d;
    return 0;
Fail:
    delivery_free(d);
    return SY_ENOMEM;
}

void sy_delivery_notify(sy_delivery_t *d)
{
    curl_multi_wakeup(d->multi);
}

void sy_delivery_stop(sy_delivery_t *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mutex);
    d->stopping = 1;
    pthread_mutex_unlock(&d->mutex);
    curl_multi_wakeup(d->multi);
    pthread_join(d->tid, NULL);
    delivery_free(d);
}
