/*
 * Shared pieces of the fault-injection tests (tests/integration/test_faults_*.c): the knobs read from the
 * environment, a seeded random source, a mixed signed load generator running on its own threads, and checks
 * against the event log, the golden records and the fake spokes. Header-only (static inline) because CMake builds
 * every tests/integration/test_*.c as its own program linked with the harness.
 *
 * The load generator never touches the harness (which is not thread-safe) and never calls cmocka: its threads only
 * record what happened; the test thread reads that after fl_load_stop() and asserts.
 *
 * Knobs (see tests/faults/README.md):
 *   SY_FAULT_ROUNDS  how many fault rounds (kill -9 cycles, SIGHUP storms, spoke outages); default 3 (CI)
 *   SY_FAULT_SEED    seed of every random choice (kill delays, event mix); default: time and pid, always printed
 */
#ifndef SY_FAULT_COMMON_H
#define SY_FAULT_COMMON_H

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness_delivery.h"

#define FL_MAX_THREADS 8
#define FL_S0 1760000000LL          /* provider time base (Stripe `created`, seconds) */
#define FL_HS0 1760000000000LL      /* provider time base (HubSpot `occurredAt`, ms) */
#define FL_RETRY_FOR_S 90.0         /* one event is retried (hub down, 503) at most this long */
#define FL_CONTACT(k) (3000 + (k))  /* HubSpot contact id of customer k */

/* ---- knobs ---------------------------------------------------------------------------------------------------- */

static inline unsigned fl_env_uint(const char *name, unsigned dflt, unsigned lo, unsigned hi)
{
    const char *s = getenv(name);
    char *end;
    unsigned long v;
    if (s == NULL || s[0] == '\0')
        return dflt;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        fail_msg("%s=%s: expected an integer in [%u, %u]", name, s, lo, hi);
    return (unsigned)v;
}

static inline unsigned fl_rounds(void)
{
    return fl_env_uint("SY_FAULT_ROUNDS", 3, 1, 100000);
}

/* The seed of this run: SY_FAULT_SEED, else derived from the clock and the pid. Printed so a failure can be
 * replayed with SY_FAULT_SEED=<seed>. */
static inline unsigned fl_seed(const char *test)
{
    unsigned seed;
    const char *s = getenv("SY_FAULT_SEED");
    if (s != NULL && s[0] != '\0') {
        seed = fl_env_uint("SY_FAULT_SEED", 0, 0, 0xffffffffu);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (unsigned)(ts.tv_nsec ^ (ts.tv_sec << 8) ^ ((long)getpid() << 16));
    }
    print_message("[%s] SY_FAULT_SEED=%u SY_FAULT_ROUNDS=%u (replay: SY_FAULT_SEED=%u)\n", test, seed, fl_rounds(), seed);
    return seed;
}

/* A uniform integer in [lo, hi] from *state (rand_r is good enough to pick delays and event kinds). */
static inline long fl_rand(unsigned *state, long lo, long hi)
{
    unsigned long r = ((unsigned long)rand_r(state) << 16) ^ (unsigned long)rand_r(state);
    return lo + (long)(r % (unsigned long)(hi - lo + 1));
}

/* ---- small helpers -------------------------------------------------------------------------------------------- */

/* Replaces the first occurrence of from by to in the harness's config file (fails the test if from is absent). */
static inline void fl_config_replace(sy_it_t *h, const char *from, const char *to)
{
    FILE *fp = fopen(h->config_path, "rb");
    char *text;
    long n;
    if (fp == NULL)
        fail_msg("cannot open %s: %s", h->config_path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    text = sy_it_alloc(h, (size_t)n + 1);
    if (fread(text, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        fail_msg("cannot read %s", h->config_path);
    }
    fclose(fp);
    char *edited = sy_itr_replace(h, text, from, to);
    if ((fp = fopen(h->config_path, "wb")) == NULL || fputs(edited, fp) < 0 || fclose(fp) != 0)
        fail_msg("cannot write %s", h->config_path);
    sy_it_release(h, edited);
    sy_it_release(h, text);
}

/* Asserts a Retry-After that a client can use: delta-seconds > 0, or an HTTP date. */
static inline void fl_assert_retry_after(const sy_it_response_t *res)
{
    const char *p = res->retry_after;
    int digits = *p != '\0';
    for (; *p != '\0'; ++p)
        digits &= isdigit((unsigned char)*p) != 0;
    if ((!digits || atol(res->retry_after) <= 0) && strstr(res->retry_after, "GMT") == NULL) {
        sy_it_dump_response("503 without a usable Retry-After", res);
        fail_msg("Retry-After must be delta-seconds > 0 or an HTTP date, got \"%s\"", res->retry_after);
    }
}

/* Removes wall-clock keys (when something happened on this machine) at every depth: they differ between runs. */
static inline void fl_strip_wall_clock(json_t *doc)
{
    static const char *const wall[] = {"created_at_ms", "updated_at_ms", "enqueued_at_ms", "due_at_ms",
                                       "merged_at_ms",  "at_ms",         "received_at_ms"};
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(doc)) {
        for (i = 0; i != SY_ARRAY_SIZE(wall); ++i)
            json_object_del(doc, wall[i]);
        json_object_foreach(doc, key, v) fl_strip_wall_clock(v);
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, v) fl_strip_wall_clock(v);
    }
}

/* `export events --format jsonl` (the whole log, one consistent snapshot) as an array, in seq order. */
static inline json_t *fl_export_events(sy_it_t *h)
{
    sy_it_output_t o;
    json_t *arr = sy_it_own_json(h, json_array());
    sy_it_cli(h, &o, "export", "events", "--format", "jsonl", NULL);
    if (o.status != 0)
        fail_msg("export events: exit %d\nstderr: %s", o.status, o.err);
    for (size_t off = 0; off < o.out_len;) {
        json_error_t jerr;
        json_t *doc;
        if (o.out[off] == '\n' || o.out[off] == ' ') {
            ++off;
            continue;
        }
        if ((doc = json_loadb(o.out + off, o.out_len - off, JSON_DISABLE_EOF_CHECK, &jerr)) == NULL)
            fail_msg("export events: not JSON lines (%s at byte %zu)", jerr.text, off);
        json_array_append_new(arr, doc);
        off += (size_t)jerr.position;
    }
    sy_it_output_dispose(&o);
    return arr;
}

/* A golden field value as the string a spoke stores (HubSpot keeps every property as a string); NULL if the
 * record has no value for the field. Owned by the harness. */
static inline const char *fl_golden_text(sy_it_t *h, json_t *rec, const char *field)
{
    json_t *v = json_object_get(json_object_get(json_object_get(rec, "fields"), field), "value");
    char buf[64];
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return sy_it_own(h, strdup(buf), free);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        return sy_it_own(h, strdup(buf), free);
    }
    return NULL;
}

/* ---- the load generator ----------------------------------------------------------------------------------------- */

/*
 * Each thread owns the customers k with k % threads == its index and sends their events one after the other, so
 * per customer the order (and the provider versions, taken from one global counter) is fixed, while the threads'
 * events interleave at the hub. An event that gets no 2xx (hub killed, restarting, 503) is signed again and resent
 * until it is acknowledged, like a provider's retry, so every event made is acknowledged in the end.
 *
 * Mix per event: 40 % a HubSpot contact.propertyChange (email, name, phone or lifecyclestage, each value unique),
 * 20 % a Stripe customer.updated (the whole object resent, HubSpot-owned values unchanged: no conflicts by design),
 * 25 % customer.subscription.updated, 15 % an invoice.
 * Customers are linked up front: the first event of each is a Stripe customer.created naming its HubSpot contact.
 */

typedef struct st_fl_event_t {
    char id[32];        /* provider event id (HubSpot: the decimal eventId) */
    int hubspot;        /* source: 1 hubspot, 0 stripe */
    char *body;         /* the exact bytes posted (HubSpot: a one-element array) */
    size_t len;
    long long seq;      /* acknowledged seq, 0 if never acknowledged */
    unsigned acks;      /* 2xx answers */
    unsigned fresh;     /* of which duplicate:false */
    unsigned attempts;  /* requests sent for it */
} fl_event_t;

typedef struct st_fl_customer_t {
    char email[64], name[64]; /* what the Stripe customer events carry */
} fl_customer_t;

typedef struct st_fl_load_t fl_load_t;

typedef struct st_fl_thread_t {
    fl_load_t *load;
    unsigned index;
    pthread_t tid;
    unsigned rng;
    CURL *curl;
    fl_event_t *events;
    size_t num, cap;
    char error[1024]; /* first violation seen by this thread */
} fl_thread_t;

struct st_fl_load_t {
    /* set before fl_load_start */
    unsigned short port;
    char hubspot_url[128];
    unsigned customers;
    unsigned threads;
    unsigned seed;
    int strict;         /* every request must get 200 at once (no kills expected): anything else is an error */
    long long hs_id_base;
    /* shared */
    atomic_int stop;           /* finish the current event, then stop */
    atomic_int abort_now;      /* stop at once (teardown after a failed assertion) */
    int joined;
    atomic_long seq_counter;   /* provider versions */
    atomic_ulong acked;        /* events acknowledged */
    atomic_ulong unanswered;   /* requests without a 2xx (transport error, 5xx) */
    atomic_ulong status_503;   /* of which 503 with Retry-After */
    fl_customer_t *state;      /* per customer, written only by its owning thread */
    fl_thread_t th[FL_MAX_THREADS];
};

typedef struct st_fl_buf_t {
    char *base;
    size_t len;
} fl_buf_t;

static inline size_t fl_on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    fl_buf_t *b = arg;
    size_t n = size * nmemb;
    char *grown = realloc(b->base, b->len + n + 1);
    if (grown == NULL)
        return 0;
    b->base = grown;
    memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
    return n;
}

static inline void fl_nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline double fl_now_s(void)
{
    return (double)sy_mono_ns() / 1e9;
}

/* Builds the next event of thread t for customer k (body malloc'd) and updates the customer's known values. */
static inline void fl_make_event(fl_thread_t *t, unsigned k, int first, fl_event_t *ev)
{
    fl_load_t *l = t->load;
    fl_customer_t *c = &l->state[k];
    long v = atomic_fetch_add(&l->seq_counter, 1) + 1; /* provider version, increasing per customer */
    long kind = first ? -1 : fl_rand(&t->rng, 0, 99);
    char cus[32], link[16];
    json_t *doc, *obj;

    memset(ev, 0, sizeof(*ev));
    snprintf(cus, sizeof(cus), "cus_f%03u", k);
    snprintf(link, sizeof(link), "%u", FL_CONTACT(k));
    if (kind >= 0 && kind < 40) { /* HubSpot property change */
        static const char *const props[] = {"email", "name", "phone", "lifecyclestage"};
        static const char *const stages[] = {"lead", "opportunity", "customer", "evangelist"};
        const char *prop = props[fl_rand(&t->rng, 0, 3)];
        char value[64];
        long long eid = l->hs_id_base + v;
        if (strcmp(prop, "email") == 0) {
            snprintf(value, sizeof(value), "c%u.v%ld@load.test", k, v);
        } else if (strcmp(prop, "name") == 0) {
            snprintf(value, sizeof(value), "Customer %u v%ld", k, v);
        } else if (strcmp(prop, "phone") == 0) {
            snprintf(value, sizeof(value), "+1555%03u%04ld", k, v % 10000);
        } else {
            snprintf(value, sizeof(value), "%s", stages[v % 4]);
        }
        doc = json_pack("[o]", sy_itr_hs_event(eid, "contact.propertyChange", FL_CONTACT(k), FL_HS0 + v * 1000, prop, value));
        snprintf(ev->id, sizeof(ev->id), "%lld", eid);
        ev->hubspot = 1;
    } else {
        const char *type;
        snprintf(ev->id, sizeof(ev->id), "evt_fl_%07ld", v);
        if (kind < 60) {
            /* customer.created (first), then customer.updated: Stripe resending the whole object after a change the
             * policy does not map (the description). Its email and name stay what the customer was created with:
             * the generator cannot know what the fake Stripe holds at the moment the hub reads the event, and a
             * Stripe event claiming a value the fake does not hold would (rightly) stop the hub from pushing it. */
            char desc[64];
            snprintf(desc, sizeof(desc), "updated at v%ld", v);
            type = first ? "customer.created" : "customer.updated";
            snprintf(c->email, sizeof(c->email), "c%u.v0@load.test", k);
            snprintf(c->name, sizeof(c->name), "Customer %u", k);
            obj = sy_itr_customer(cus, c->email, c->name, NULL, link);
            json_object_set_new(obj, "description", json_string(desc));
        } else if (kind < 85) {
            static const char *const statuses[] = {"active", "past_due", "trialing", "canceled"};
            char sub[32], price[32];
            snprintf(sub, sizeof(sub), "sub_f%03u", k);
            snprintf(price, sizeof(price), "price_p%ld", v % 5);
            type = "customer.subscription.updated";
            obj = sy_itr_subscription(sub, cus, statuses[v % 4], price, 1000 + v);
        } else {
            char inv[32], mail[64];
            snprintf(inv, sizeof(inv), "in_f%07ld", v);
            snprintf(mail, sizeof(mail), "billing%u@load.test", k);
            type = v % 2 ? "invoice.paid" : "invoice.payment_failed";
            obj = sy_itr_invoice(inv, cus, v % 2 ? "paid" : "open", mail);
        }
        doc = sy_itd_stripe_event(ev->id, type, FL_S0 + v, obj);
    }
    ev->body = json_dumps(doc, JSON_COMPACT);
    ev->len = ev->body != NULL ? strlen(ev->body) : 0;
    json_decref(doc);
}

/* One POST of ev, signed now. Returns the HTTP status (0: transport error); fills *seq and *dup on 200. */
static inline long fl_post(fl_thread_t *t, fl_event_t *ev, long long *seq, int *dup, char *excerpt, size_t excerpt_len)
{
    fl_load_t *l = t->load;
    sy_it_headers_t hd = {0};
    struct curl_slist *list = NULL;
    fl_buf_t b = {NULL, 0};
    char url[160];
    long status = 0;
    CURLcode rc;

    if (ev->hubspot)
        sy_it_sign_hubspot(&hd, SY_IT_HUBSPOT_SECRET, l->hubspot_url, ev->body, ev->len, sy_now_ms());
    else
        sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_A, ev->body, ev->len, sy_now_ms() / 1000);
    for (size_t i = 0; i != hd.count; ++i)
        list = curl_slist_append(list, hd.lines[i]);
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hooks/%s", l->port, ev->hubspot ? "hubspot" : "stripe");
    curl_easy_reset(t->curl);
    curl_easy_setopt(t->curl, CURLOPT_URL, url);
    curl_easy_setopt(t->curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, ev->body);
    curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ev->len);
    curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, fl_on_data);
    curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &b);
    ++ev->attempts;
    rc = curl_easy_perform(t->curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(list);
    snprintf(excerpt, excerpt_len, "%s%s%.300s", rc != CURLE_OK ? curl_easy_strerror(rc) : "", rc != CURLE_OK ? "; " : "",
             b.base != NULL ? b.base : "");
    if (status == 200) {
        json_t *j = b.base != NULL ? json_loadb(b.base, b.len, 0, NULL) : NULL;
        json_t *s = json_object_get(j, "seq"), *d = json_object_get(j, "duplicate");
        if (!json_is_integer(s) || !json_is_boolean(d))
            status = -200; /* a 200 that is not an acknowledgement */
        else
            *seq = json_integer_value(s), *dup = json_is_true(d);
        json_decref(j);
    }
    free(b.base);
    return status;
}

static inline void *fl_thread_main(void *arg)
{
    fl_thread_t *t = arg;
    fl_load_t *l = t->load;
    unsigned mine[256], n_mine = 0;
    unsigned char linked[256] = {0};

    for (unsigned k = t->index; k < l->customers && n_mine < 256; k += l->threads)
        mine[n_mine++] = k;
    while (!atomic_load(&l->stop) && t->error[0] == '\0' && n_mine != 0) {
        unsigned slot = (unsigned)fl_rand(&t->rng, 0, (long)n_mine - 1), k = mine[slot];
        fl_event_t ev;
        double give_up = fl_now_s() + FL_RETRY_FOR_S;
        char excerpt[400];
        if (t->num == t->cap) {
            size_t cap = t->cap == 0 ? 1024 : t->cap * 2;
            fl_event_t *grown = realloc(t->events, cap * sizeof(*grown));
            if (grown == NULL) {
                snprintf(t->error, sizeof(t->error), "out of memory");
                break;
            }
            t->events = grown;
            t->cap = cap;
        }
        fl_make_event(t, k, !linked[slot], &ev);
        linked[slot] = 1;
        if (ev.body == NULL) {
            snprintf(t->error, sizeof(t->error), "cannot encode an event");
            break;
        }
        for (;;) { /* until acknowledged, like a provider's retries */
            long long seq = 0;
            int dup = 0;
            long status = fl_post(t, &ev, &seq, &dup, excerpt, sizeof(excerpt));
            if (status == 200) {
                if (ev.acks != 0 && ev.seq != seq)
                    snprintf(t->error, sizeof(t->error), "event %s acknowledged as seq %lld, then as seq %lld", ev.id,
                             ev.seq, seq);
                else if (!dup && ev.fresh != 0)
                    snprintf(t->error, sizeof(t->error), "event %s answered duplicate:false twice (stored twice)", ev.id);
                else if (dup && ev.acks == 0 && ev.attempts == 1)
                    snprintf(t->error, sizeof(t->error), "event %s: a first request answered duplicate:true", ev.id);
                ev.seq = seq;
                ++ev.acks;
                ev.fresh += !dup;
                atomic_fetch_add(&l->acked, 1);
                break;
            }
            atomic_fetch_add(&l->unanswered, 1);
            if (status == 503)
                atomic_fetch_add(&l->status_503, 1);
            if (l->strict || (status != 0 && status != 503)) {
                snprintf(t->error, sizeof(t->error), "event %s (attempt %u): HTTP %ld: %s", ev.id, ev.attempts, status,
                         excerpt);
                break;
            }
            if (atomic_load(&l->abort_now)) {
                snprintf(t->error, sizeof(t->error), "aborted");
                break;
            }
            if (fl_now_s() > give_up) {
                snprintf(t->error, sizeof(t->error), "event %s not acknowledged within %.0f s (%u attempts, last: %s)",
                         ev.id, FL_RETRY_FOR_S, ev.attempts, excerpt);
                break;
            }
            fl_nap_ms(20);
        }
        t->events[t->num++] = ev; /* also when unacknowledged (error): the checks report it */
    }
    return NULL;
}

static inline void fl_join(fl_load_t *l)
{
    if (l->joined)
        return;
    atomic_store(&l->stop, 1);
    for (unsigned i = 0; i != l->threads; ++i) {
        if (l->th[i].curl == NULL)
            continue; /* never started */
        pthread_join(l->th[i].tid, NULL);
        curl_easy_cleanup(l->th[i].curl);
        l->th[i].curl = NULL;
    }
    l->joined = 1;
}

static inline void fl_load_release(void *p)
{
    fl_load_t *l = p;
    atomic_store(&l->abort_now, 1);
    fl_join(l);
    for (unsigned i = 0; i != l->threads; ++i) {
        for (size_t j = 0; j != l->th[i].num; ++j)
            free(l->th[i].events[j].body);
        free(l->th[i].events);
    }
    free(l->state);
    free(l);
}

/* A generator (zeroed, owned by the harness: a failed test stops its threads in the teardown). */
static inline fl_load_t *fl_load_new(sy_it_t *h)
{
    fl_load_t *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    return sy_it_own(h, l, fl_load_release);
}

/* Starts the generator against h (customers, threads, seed, strict, hs_id_base set by the caller; 0 = default). */
static inline void fl_load_start(sy_it_t *h, fl_load_t *l)
{
    l->port = h->ingress_port;
    snprintf(l->hubspot_url, sizeof(l->hubspot_url), "%s", h->hubspot_url);
    if (l->threads == 0 || l->threads > FL_MAX_THREADS)
        l->threads = 4;
    if (l->customers == 0 || l->customers > 256)
        l->customers = 30;
    if (l->hs_id_base == 0)
        l->hs_id_base = 70000000;
    l->state = calloc(l->customers, sizeof(*l->state));
    assert_non_null(l->state);
    for (unsigned i = 0; i != l->threads; ++i) {
        fl_thread_t *t = &l->th[i];
        t->load = l;
        t->index = i;
        t->rng = l->seed * 2654435761u + i;
        if ((t->curl = curl_easy_init()) == NULL)
            fail_msg("curl_easy_init failed");
        if (pthread_create(&t->tid, NULL, fl_thread_main, t) != 0) {
            curl_easy_cleanup(t->curl);
            t->curl = NULL;
            fail_msg("pthread_create failed");
        }
    }
}

/* Stops the generator (each thread finishes the event it is on, retrying until acknowledged) and fails the test on
 * the first violation a thread saw. The events stay available for the checks. */
static inline void fl_load_stop(fl_load_t *l)
{
    fl_join(l);
    for (unsigned i = 0; i != l->threads; ++i)
        if (l->th[i].error[0] != '\0')
            fail_msg("load thread %u: %s", i, l->th[i].error);
}

/* How many events were acknowledged so far (any thread). */
static inline unsigned long fl_acked(fl_load_t *l)
{
    return atomic_load(&l->acked);
}

/* All events of the generator, sorted by acknowledged seq: an array of pointers (owned by the harness). */
static inline int fl_by_seq(const void *a, const void *b)
{
    long long x = (*(fl_event_t *const *)a)->seq, y = (*(fl_event_t *const *)b)->seq;
    return (x > y) - (x < y);
}

static inline fl_event_t **fl_events_sorted(sy_it_t *h, const fl_load_t *l, size_t *n)
{
    size_t total = 0, k = 0;
    for (unsigned i = 0; i != l->threads; ++i)
        total += l->th[i].num;
    fl_event_t **all = sy_it_alloc(h, (total + 1) * sizeof(*all));
    for (unsigned i = 0; i != l->threads; ++i)
        for (size_t j = 0; j != l->th[i].num; ++j)
            all[k++] = &l->th[i].events[j];
    qsort(all, total, sizeof(*all), fl_by_seq);
    *n = total;
    return all;
}

/*
 * The log against the acknowledgements: every acknowledged event is in the log at the seq it was acknowledged
 * with, with its event id and its exact content; no event id is stored twice; the log holds nothing else (every
 * event the generator made was acknowledged in the end). Returns the log (export, owned).
 */
static inline json_t *fl_assert_log_holds_acked(sy_it_t *h, const fl_load_t *l)
{
    json_t *log = fl_export_events(h), *by_id = sy_it_own_json(h, json_object()), *e;
    size_t n, i;
    fl_event_t **all = fl_events_sorted(h, l, &n);
    char key[64];

    json_array_foreach(log, i, e)
    {
        snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(e, "source")),
                 json_string_value(json_object_get(e, "event_id")));
        if (json_object_get(by_id, key) != NULL)
            fail_msg("event %s is in the log twice (seqs %lld and %lld): applied or stored twice", key,
                     (long long)json_integer_value(json_object_get(json_object_get(by_id, key), "seq")),
                     (long long)json_integer_value(json_object_get(e, "seq")));
        json_object_set(by_id, key, e);
    }
    for (i = 0; i != n; ++i) {
        fl_event_t *ev = all[i];
        if (ev->acks == 0)
            fail_msg("event %s was never acknowledged (%u attempts)", ev->id, ev->attempts);
        snprintf(key, sizeof(key), "%s/%s", ev->hubspot ? "hubspot" : "stripe", ev->id);
        json_t *got = json_object_get(by_id, key);
        if (got == NULL)
            fail_msg("LOST: event %s was acknowledged with seq %lld (%u acks, %u fresh) but is not in the log", key, ev->seq,
                     ev->acks, ev->fresh);
        if (json_integer_value(json_object_get(got, "seq")) != ev->seq)
            fail_msg("event %s acknowledged with seq %lld is in the log at seq %lld", key, ev->seq,
                     (long long)json_integer_value(json_object_get(got, "seq")));
        json_t *sent = json_loads(ev->body, 0, NULL);
        json_t *want = ev->hubspot ? json_array_get(sent, 0) : sent;
        int same = json_equal(want, json_object_get(got, "body"));
        json_decref(sent);
        if (!same)
            fail_msg("event %s at seq %lld: the stored body differs from what was sent", key, ev->seq);
    }
    if (json_array_size(log) != n)
        fail_msg("the log holds %zu events, the load generator had %zu acknowledged", json_array_size(log), n);
    sy_it_release(h, by_id);
    return log;
}

/* Posts the generator's events to h (a fresh hub) one by one in their seq order: the same log, without faults. */
static inline void fl_repost_in_order(sy_it_t *h, const fl_load_t *l)
{
    size_t n;
    fl_event_t **all = fl_events_sorted(h, l, &n);
    for (size_t i = 0; i != n; ++i) {
        sy_it_headers_t hd = {0};
        sy_it_response_t res;
        if (all[i]->hubspot)
            sy_it_sign_hubspot(&hd, SY_IT_HUBSPOT_SECRET, h->hubspot_url, all[i]->body, all[i]->len, sy_now_ms());
        else
            sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_A, all[i]->body, all[i]->len, sy_now_ms() / 1000);
        sy_it_post(h, all[i]->hubspot ? "/hooks/hubspot" : "/hooks/stripe", &hd, all[i]->body, all[i]->len, &res);
        sy_it_headers_dispose(&hd);
        if (sy_it_assert_stored(&res, 0) != all[i]->seq)
            fail_msg("clean run: event %s got seq %lld, the faulted run %lld", all[i]->id,
                     (long long)json_integer_value(json_object_get(res.json, "seq")), all[i]->seq);
        sy_it_response_dispose(&res);
    }
    sy_it_release(h, all);
}

/* Seeds the fakes with the generator's customers: Stripe cus_fNNN and HubSpot contact 3000+N (the links). */
static inline void fl_seed_fakes(const fl_load_t *l, sy_itd_fake_t *stripe, sy_itd_fake_t *hubspot)
{
    json_t *s = json_object(), *hs = json_object();
    char cus[32], link[16], email[64];
    for (unsigned k = 0; k != l->customers; ++k) {
        snprintf(cus, sizeof(cus), "cus_f%03u", k);
        snprintf(link, sizeof(link), "%u", FL_CONTACT(k));
        snprintf(email, sizeof(email), "c%u.v0@load.test", k);
        json_object_set_new(s, cus, json_pack("{s:s, s:s, s:{s:s}}", "email", email, "name", "Seeded", "metadata",
                                              "hubspot_contact_id", link));
        json_object_set_new(hs, link, json_pack("{s:s}", "email", email));
    }
    if (stripe != NULL)
        sy_itd_fake_seed(stripe, s);
    else
        json_decref(s);
    if (hubspot != NULL)
        sy_itd_fake_seed(hubspot, hs);
    else
        json_decref(hs);
}

/* The fake's requests whose path or body mentions needle (for failure messages; owned). */
static inline const char *fl_requests_about(sy_itd_fake_t *f, const char *needle)
{
    json_t *reqs = sy_itd_fake_requests(f), *r, *out = sy_it_own_json(f->h, json_array());
    size_t i;
    json_array_foreach(reqs, i, r)
    {
        const char *p = json_string_value(json_object_get(r, "path")), *b = json_string_value(json_object_get(r, "body"));
        if ((p != NULL && strstr(p, needle) != NULL) || (b != NULL && strstr(b, needle) != NULL))
            json_array_append(out, r);
    }
    return sy_itr_text(f->h, out);
}

/*
 * Every pushed golden value is at the spoke: for each record linked to a Stripe customer / HubSpot contact, the
 * fields the example policy pushes there hold the golden value. Returns how many values were compared.
 */
static inline size_t fl_assert_spokes_hold_golden(sy_it_t *h, sy_itd_fake_t *stripe, sy_itd_fake_t *hubspot)
{
    static const char *const to_stripe[][2] = {
        {"email", "email"}, {"name", "name"}, {"phone", "phone"}, {"lifecycle_stage", "metadata.lifecycle_stage"}};
    static const char *const to_hubspot[] = {"subscription_status", "plan", "mrr", "payment_state"};
    json_t *records = sy_itr_records(h), *rec;
    json_t *s_objects = stripe != NULL ? json_object_get(sy_itd_fake_state(stripe), "objects") : NULL;
    json_t *h_objects = hubspot != NULL ? json_object_get(sy_itd_fake_state(hubspot), "objects") : NULL;
    size_t i, compared = 0;

    json_array_foreach(records, i, rec)
    {
        json_t *xrefs = json_object_get(rec, "xrefs");
        const char *sid = json_string_value(json_array_get(json_object_get(xrefs, "stripe"), 0));
        const char *hid = json_string_value(json_array_get(json_object_get(xrefs, "hubspot"), 0));
        if (s_objects != NULL && sid != NULL) {
            json_t *obj = json_object_get(s_objects, sid);
            for (size_t f = 0; f != SY_ARRAY_SIZE(to_stripe); ++f) {
                const char *golden = fl_golden_text(h, rec, to_stripe[f][0]), *at;
                if (golden == NULL)
                    continue;
                if (strncmp(to_stripe[f][1], "metadata.", 9) == 0)
                    at = json_string_value(json_object_get(json_object_get(obj, "metadata"), to_stripe[f][1] + 9));
                else
                    at = json_string_value(json_object_get(obj, to_stripe[f][1]));
                if (at == NULL || strcmp(at, golden) != 0) {
                    fprintf(stderr, "record: %s\nStripe requests about %s: %s\n", sy_itr_text(h, rec), sid,
                                fl_requests_about(stripe, sid));
                    fail_msg("PUSH LOST: %s.%s is \"%s\" (golden), Stripe %s has %s%s%s (details above)", sy_itr_id(rec),
                             to_stripe[f][0], golden, sid, at != NULL ? "\"" : "", at != NULL ? at : "nothing",
                             at != NULL ? "\"" : "");
                }
                ++compared;
            }
        }
        if (h_objects != NULL && hid != NULL) {
            json_t *obj = json_object_get(h_objects, hid);
            for (size_t f = 0; f != SY_ARRAY_SIZE(to_hubspot); ++f) {
                const char *golden = fl_golden_text(h, rec, to_hubspot[f]);
                const char *at = json_string_value(json_object_get(obj, to_hubspot[f]));
                if (golden == NULL)
                    continue;
                if (at == NULL || strcmp(at, golden) != 0) {
                    fprintf(stderr, "record: %s\nHubSpot requests about %s: %s\n", sy_itr_text(h, rec), hid,
                                fl_requests_about(hubspot, hid));
                    fail_msg("PUSH LOST: %s.%s is \"%s\" (golden), HubSpot contact %s has %s%s%s (details above)",
                             sy_itr_id(rec), to_hubspot[f], golden, hid, at != NULL ? "\"" : "",
                             at != NULL ? at : "nothing", at != NULL ? "\"" : "");
                }
                ++compared;
            }
        }
    }
    sy_it_release(h, records);
    return compared;
}

#endif
