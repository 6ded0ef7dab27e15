/*
 * Delivery benchmark: how fast queued pushes reach a tool's API, and how much of a rate limit the hub uses.
 *
 *   bench_deliver [--fake PATH] [--pushes N] [--concurrency C] [--limit L] [--window-ms W] [--seconds D]
 *                 [--policy PATH] [--dir DIR] [--phases stripe,hubspot,limited]
 *
 * Runs the real applier and delivery thread in this process against fake spokes (sy_fake_spoke: --fake, else
 * $SY_FAKE) started on free loopback ports. For each phase it fills a fresh LMDB log with events that make N pushes,
 * lets the applier queue them (not timed), then starts delivery and times it:
 *
 *   stripe   N HubSpot email changes for N customers linked to HubSpot contacts → N POST /v1/customers/{id}, one
 *            request per push, to an unlimited Stripe fake (api.rate set far above what is reachable);
 *   hubspot  N Stripe subscription changes → N pushes to an unlimited HubSpot fake, batched (≤ 100 per request);
 *   limited  the stripe workload against a Stripe fake limited to L requests per W ms with api.rate the same, for
 *            D seconds: utilisation = requests accepted in the first D s after the first one / what the limit
 *            allows in that time (L per started window), plus the fake's max_in_window and 429 count.
 *
 * Prints figures and one RESULT line. Loopback only.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "applier.h"
#include "codec.h"
#include "config.h"
#include "delivery.h"
#include "event.h"
#include "metrics.h"
#include "records.h"
#include "store.h"

#define FILL_BATCH 2000
#define TOKEN "sk_bench_token"

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_deliver: %s\n", what);
    exit(2);
}

static double now_s(void)
{
    return (double)sy_mono_ns() / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- the fake ------------------------------------------------------------------------------------------------ */

typedef struct st_fake_t {
    pid_t pid;
    int out_fd;
    unsigned short port;
    CURL *curl;
} fake_t;

static void fake_start(fake_t *f, const char *bin, const char *api, const char *rate, const char *log_path)
{
    int out[2];
    char line[128];
    size_t n = 0;
    if (pipe(out) != 0)
        die("pipe");
    fflush(stdout);
    if ((f->pid = fork()) < 0)
        die("fork");
    if (f->pid == 0) {
        const char *argv[12] = {bin, "--api", api, "--listen", "127.0.0.1:0", "--token", TOKEN};
        size_t argc = 7;
        int err = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (rate != NULL) {
            argv[argc++] = "--rate";
            argv[argc++] = rate;
        }
        argv[argc] = NULL;
        if (err < 0 || dup2(out[1], 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        close(out[0]);
        close(out[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    f->out_fd = out[0];
    double deadline = now_s() + 15;
    while (n < sizeof(line) - 1 && (n == 0 || line[n - 1] != '\n')) {
        struct pollfd p = {.fd = f->out_fd, .events = POLLIN};
        if (now_s() > deadline || poll(&p, 1, 1000) < 0)
            break;
        if (p.revents == 0)
            continue;
        if (read(f->out_fd, line + n, 1) != 1)
            break;
        ++n;
    }
    line[n] = '\0';
    unsigned port = 0;
    if (sscanf(line, "listening on %u", &port) != 1 || port == 0 || port > 65535) {
        fprintf(stderr, "bench_deliver: the %s fake (%s) did not start: \"%s\" (log %s)\n", api, bin, line, log_path);
        exit(2);
    }
    f->port = (unsigned short)port;
    f->curl = curl_easy_init();
}

static void fake_stop(fake_t *f)
{
    if (f->curl != NULL)
        curl_easy_cleanup(f->curl);
    f->curl = NULL;
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
    close(f->out_fd);
}

typedef struct st_buf_t {
    char *base;
    size_t len;
} buf_t;

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    buf_t *b = arg;
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

/* A control call; body (taken over) may be NULL (GET). Returns the answer as JSON (new reference). */
static json_t *fake_call(fake_t *f, const char *path, json_t *body)
{
    char url[128], *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    buf_t b = {NULL, 0};
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &b);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hd);
    if (text != NULL) {
        curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    }
    CURLcode rc = curl_easy_perform(f->curl);
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    free(text);
    json_decref(body);
    json_t *doc = rc == CURLE_OK && status == 200 && b.base != NULL ? json_loadb(b.base, b.len, 0, NULL) : NULL;
    free(b.base);
    if (doc == NULL) {
        fprintf(stderr, "bench_deliver: %s on the fake failed (%s, status %ld)\n", path, curl_easy_strerror(rc), status);
        exit(2);
    }
    return doc;
}

/* --- the workload ---------------------------------------------------------------------------------------------- */

typedef enum en_kind_t { KIND_STRIPE, KIND_HUBSPOT } kind_t;

/* Event i of a workload of n records: first n Stripe customers linked to HubSpot contacts, then n owner changes
 * (HubSpot emails, pushed to Stripe; or Stripe subscriptions, pushed to HubSpot). */
static void make_event(kind_t kind, uint64_t i, uint64_t n, char *buf, size_t cap, sy_event_t *ev, char *id, char *type)
{
    int64_t t0 = 1795000000000;
    uint64_t c = i % n;
    int len;
    memset(ev, 0, sizeof(*ev));
    if (i < n) {
        snprintf(type, 64, "customer.created");
        snprintf(id, 64, "evt_c%llu", (unsigned long long)i);
        len = snprintf(buf, cap,
                       "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.created\",\"data\":"
                       "{\"object\":{\"id\":\"cus_%llu\",\"object\":\"customer\",\"email\":\"c%llu@bench.example\","
                       "\"name\":\"Customer %llu\",\"phone\":null,\"metadata\":{\"hubspot_contact_id\":\"%llu\"}}}}",
                       id, (long long)(t0 / 1000), (unsigned long long)c, (unsigned long long)c, (unsigned long long)c,
                       (unsigned long long)(100000 + c));
        ev->source = ev->connector = SY_SLICE_LIT("stripe");
    } else if (kind == KIND_STRIPE) {
        snprintf(type, 64, "contact.propertyChange");
        snprintf(id, 64, "%llu", (unsigned long long)(i + 1));
        len = snprintf(buf, cap,
                       "{\"eventId\":%llu,\"subscriptionId\":1,\"portalId\":62515,\"appId\":54321,\"occurredAt\":%lld,"
                       "\"subscriptionType\":\"contact.propertyChange\",\"attemptNumber\":0,\"objectId\":%llu,"
                       "\"propertyName\":\"email\",\"propertyValue\":\"c%llu.new@bench.example\",\"changeSource\":\"CRM\"}",
                       (unsigned long long)(i + 1), (long long)(t0 + 1000), (unsigned long long)(100000 + c),
                       (unsigned long long)c);
        ev->source = ev->connector = SY_SLICE_LIT("hubspot");
    } else {
        snprintf(type, 64, "customer.subscription.updated");
        snprintf(id, 64, "evt_s%llu", (unsigned long long)i);
        len = snprintf(buf, cap,
                       "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.subscription.updated\","
                       "\"data\":{\"object\":{\"id\":\"sub_%llu\",\"customer\":\"cus_%llu\",\"status\":\"active\",\"items\":"
                       "{\"data\":[{\"price\":{\"id\":\"price_%llu\",\"unit_amount\":%llu}}]}}}}",
                       id, (long long)(t0 / 1000 + 10), (unsigned long long)c, (unsigned long long)c,
                       (unsigned long long)(c % 5), (unsigned long long)(1000 + c));
        ev->source = ev->connector = SY_SLICE_LIT("stripe");
    }
    ev->event_id = sy_slice_cstr(id);
    ev->type = sy_slice_cstr(type);
    ev->occurred_at_ms = ev->received_at_ms = t0;
    ev->batch_size = 1;
    ev->body = (sy_slice_t){buf, (size_t)len};
}

static void fill(sy_store_t *store, kind_t kind, uint64_t n)
{
    sy_append_t *items = calloc(FILL_BATCH, sizeof(*items));
    char **values = calloc(FILL_BATCH, sizeof(*values)), body[1024], type[64];
    char(*ids)[64] = calloc(FILL_BATCH, 64);
    for (uint64_t done = 0; done < 2 * n;) {
        size_t k = 0;
        for (; k != FILL_BATCH && done < 2 * n; ++k, ++done) {
            sy_event_t ev;
            size_t len;
            make_event(kind, done, n, body, sizeof(body), &ev, ids[k], type);
            if (sy_codec_event_encode(&ev, &values[k], &len) != 0)
                die("encode");
            items[k] = (sy_append_t){.source = ev.source, .event_id = ev.event_id, .value = {values[k], len}};
        }
        if (sy_store_append(store, items, k) != 0)
            die("filling the log failed");
        for (size_t j = 0; j != k; ++j)
            free(values[j]);
    }
    free(items);
    free(values);
    free(ids);
}

static uint64_t count_db(sy_store_t *store, sy_db_t db)
{
    sy_txn_t *txn;
    uint64_t n = 0;
    if (sy_txn_begin(store, 0, &txn) == 0) {
        sy_txn_count(txn, db, &n);
        sy_txn_abort(txn);
    }
    return n;
}

/* "2026-11-22T02:41:11.809Z" → ms since the epoch. */
static int64_t parse_at(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (s == NULL || sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                            &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

typedef struct st_phase_t {
    const char *name;
    kind_t kind;
    const char *fake_rate; /* NULL: none */
    const char *api_rate;
    double seconds; /* 0: until the queue is empty */
    /* results */
    double elapsed_s, pushes_per_s;
    uint64_t delivered, requests, accepted, rate_limited, max_in_window, in_window;
    double allowed, utilisation;
} phase_t;

static void run_phase(phase_t *ph, const char *fake_bin, const char *policy, const char *base_dir, uint64_t n,
                      unsigned concurrency, unsigned limit, long window_ms)
{
    char dir[512], path[600], yaml[4096], log_path[600];
    const char *spoke = ph->kind == KIND_STRIPE ? "stripe" : "hubspot";
    fake_t fake = {0};
    sy_error_t err = {0};

    snprintf(dir, sizeof(dir), "%s/%s", base_dir, ph->name);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        die("mkdir");
    snprintf(log_path, sizeof(log_path), "%s/fake.log", dir);
    fake_start(&fake, fake_bin, spoke, ph->fake_rate, log_path);

    /* the objects the pushes address */
    json_t *objects = json_object();
    char id[32], email[64];
    for (uint64_t c = 0; c != n; ++c) {
        snprintf(email, sizeof(email), "c%llu@bench.example", (unsigned long long)c);
        if (ph->kind == KIND_STRIPE) {
            snprintf(id, sizeof(id), "cus_%llu", (unsigned long long)c);
            json_object_set_new(objects, id, json_pack("{s:s}", "email", email));
        } else {
            snprintf(id, sizeof(id), "%llu", (unsigned long long)(100000 + c));
            json_object_set_new(objects, id, json_pack("{s:s}", "email", email));
        }
    }
    json_decref(fake_call(&fake, "/_fake/seed", json_pack("{s:o}", "objects", objects)));

    /* only the spoke under test has api settings */
    {
        char api_line[512];
        snprintf(api_line, sizeof(api_line),
                 "    api: {base_url: \"http://127.0.0.1:%u\", token: {value: " TOKEN "}, timeout: 30s, "
                 "concurrency: %u, rate: \"%s\", max_attempts: 25}\n",
                 fake.port, concurrency, ph->api_rate);
        snprintf(yaml, sizeof(yaml),
                 "data_dir: %s/data\npolicy: %s\nstorage: {map_size: 1GiB}\n"
                 "admin: {listen: 127.0.0.1:1, token: {value: bench-admin}}\n"
                 "sources:\n"
                 "  stripe:\n    connector: stripe\n    secrets: [{value: whsec_bench}]\n%s"
                 "  hubspot:\n    connector: hubspot\n    secrets: [{value: hs-bench}]\n%s",
                 dir, policy, ph->kind == KIND_STRIPE ? api_line : "", ph->kind == KIND_HUBSPOT ? api_line : "");
    }
    snprintf(path, sizeof(path), "%s/switchyard.yaml", dir);
    FILE *fp = fopen(path, "w");
    if (fp == NULL || fputs(yaml, fp) < 0 || fclose(fp) != 0)
        die("cannot write the config");
    sy_config_t conf;
    char msg[900];
    if (sy_config_load(&conf, path, NULL, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        exit(2);
    }
    sy_policy_t *pol;
    if (sy_policy_load(&pol, conf.policy_path, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        exit(2);
    }
    sy_store_t *store;
    if (sy_store_open(&store, conf.data_dir, conf.map_size, conf.map_size_max, SY_STORE_CREATE, &err) != 0)
        die(err.msg);
    fill(store, ph->kind, n);
    sy_applier_t *applier;
    if (sy_applier_start(&applier, store, pol, conf.policy_path) != 0)
        die("applier");
    for (uint64_t cursor = 0; cursor < 2 * n;) {
        nap_ms(20);
        sy_txn_t *txn;
        if (sy_txn_begin(store, 0, &txn) == 0) {
            sy_meta_get_u64(txn, "applier_cursor", &cursor);
            sy_txn_abort(txn);
        }
    }
    uint64_t queued = count_db(store, SY_DB_OUTBOX);
    fprintf(stderr, "[%s] %llu pushes queued for %s; delivering\n", ph->name, (unsigned long long)queued, spoke);

    sy_metrics_t metrics;
    if (sy_metrics_init(&metrics, conf.num_sources) != 0)
        die("metrics");
    sy_delivery_t *d;
    double t0 = now_s(), t1;
    if (sy_delivery_start(&d, &conf, store, applier, &metrics) != 0)
        die("delivery");
    for (;;) {
        nap_ms(ph->seconds > 0 ? 100 : 5);
        t1 = now_s();
        if (ph->seconds > 0 ? t1 - t0 >= ph->seconds + 1 : count_db(store, SY_DB_OUTBOX) == 0)
            break;
        if (t1 - t0 > 600)
            die("delivery did not finish within 600 s");
    }
    sy_delivery_stop(d);
    uint64_t left = count_db(store, SY_DB_OUTBOX), dead = count_db(store, SY_DB_DEAD);
    ph->elapsed_s = t1 - t0;
    ph->delivered = queued - left - dead;
    ph->pushes_per_s = (double)ph->delivered / ph->elapsed_s;

    json_t *st = fake_call(&fake, "/_fake/state", NULL);
    ph->requests = (uint64_t)json_integer_value(json_object_get(st, "requests"));
    ph->accepted = (uint64_t)json_integer_value(json_object_get(st, "accepted"));
    ph->rate_limited = (uint64_t)json_integer_value(json_object_get(st, "rate_limited"));
    ph->max_in_window = (uint64_t)json_integer_value(json_object_get(st, "max_in_window"));
    json_decref(st);
    if (ph->seconds > 0) {
        /* accepted requests within D s of the first, against what the limit allows then: L per started window */
        json_t *reqs = fake_call(&fake, "/_fake/requests", NULL), *r;
        size_t i;
        int64_t first = -1;
        json_array_foreach(reqs, i, r)
        {
            int64_t at = parse_at(json_string_value(json_object_get(r, "at")));
            long status = (long)json_integer_value(json_object_get(r, "status"));
            if (status == 429)
                continue;
            if (first < 0)
                first = at;
            ph->in_window += at - first < (int64_t)(ph->seconds * 1000);
        }
        json_decref(reqs);
        double windows = ph->seconds * 1000.0 / (double)window_ms;
        double started = (double)(long long)windows;
        if (started < windows)
            started += 1;
        ph->allowed = (double)limit * started;
        ph->utilisation = ph->allowed > 0 ? (double)ph->in_window / ph->allowed : 0;
    }
    fprintf(stderr,
            "[%s] %llu delivered in %.2f s = %.0f pushes/s; %llu requests (%llu accepted, %llu answered 429), "
            "max_in_window %llu, %llu left queued, %llu dead\n",
            ph->name, (unsigned long long)ph->delivered, ph->elapsed_s, ph->pushes_per_s, (unsigned long long)ph->requests,
            (unsigned long long)ph->accepted, (unsigned long long)ph->rate_limited,
            (unsigned long long)ph->max_in_window, (unsigned long long)left, (unsigned long long)dead);
    sy_applier_stop(applier);
    sy_metrics_dispose(&metrics);
    sy_store_close(store);
    sy_config_dispose(&conf);
    fake_stop(&fake);
}

int main(int argc, char **argv)
{
    const char *fake_bin = arg(argc, argv, "--fake", getenv("SY_FAKE"));
    uint64_t n = strtoull(arg(argc, argv, "--pushes", "5000"), NULL, 10);
    unsigned concurrency = (unsigned)strtoul(arg(argc, argv, "--concurrency", "16"), NULL, 10);
    unsigned limit = (unsigned)strtoul(arg(argc, argv, "--limit", "100"), NULL, 10);
    long window_ms = strtol(arg(argc, argv, "--window-ms", "10000"), NULL, 10);
    double seconds = strtod(arg(argc, argv, "--seconds", "30"), NULL);
    /* Absolute: the config is written to a temp dir, and a config's relative paths are read from its directory. */
    static char policy_abs[PATH_MAX];
    const char *policy = realpath(arg(argc, argv, "--policy", "policies"), policy_abs);
    const char *phases = arg(argc, argv, "--phases", "stripe,hubspot,limited");
    char dir[256], fake_rate[64], api_rate[64];

    if (policy == NULL)
        die("cannot find the policy (--policy PATH, default policies/ of the current directory)");
    if (fake_bin == NULL || access(fake_bin, X_OK) != 0)
        die("give the fake spoke binary with --fake PATH or $SY_FAKE (build/tests/fakes/sy_fake_spoke)");
    if (n == 0 || concurrency == 0 || limit == 0 || window_ms <= 0 || seconds <= 0)
        die("usage: bench_deliver [--fake PATH] [--pushes N] [--concurrency C] [--limit L] [--window-ms W] "
            "[--seconds D] [--policy PATH] [--dir DIR] [--phases stripe,hubspot,limited]");
    snprintf(dir, sizeof(dir), "%s", arg(argc, argv, "--dir", "/tmp/sy-bench-deliver-XXXXXX"));
    if (strstr(dir, "XXXXXX") != NULL && mkdtemp(dir) == NULL)
        die("mkdtemp");
    snprintf(fake_rate, sizeof(fake_rate), "%u/%ld", limit, window_ms);
    snprintf(api_rate, sizeof(api_rate), "%u/%ldms", limit, window_ms);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);

    phase_t all[] = {
        {.name = "stripe", .kind = KIND_STRIPE, .api_rate = "1000000/1s"},
        {.name = "hubspot", .kind = KIND_HUBSPOT, .api_rate = "1000000/1s"},
        {.name = "limited", .kind = KIND_STRIPE, .fake_rate = fake_rate, .api_rate = api_rate, .seconds = seconds},
    };
    for (size_t i = 0; i != sizeof(all) / sizeof(all[0]); ++i)
        if (strstr(phases, all[i].name) != NULL)
            run_phase(&all[i], fake_bin, policy, dir, n, concurrency, limit, window_ms);

    printf("delivery benchmark: %llu pushes per phase, concurrency %u, data in %s\n", (unsigned long long)n, concurrency,
           dir);
    if (strstr(phases, "stripe") != NULL)
        printf("  stripe  (1 push per request, unlimited fake):  %.0f pushes/s (%llu in %.2f s, %llu requests)\n",
               all[0].pushes_per_s, (unsigned long long)all[0].delivered, all[0].elapsed_s,
               (unsigned long long)all[0].requests);
    if (strstr(phases, "hubspot") != NULL)
        printf("  hubspot (batched, unlimited fake):             %.0f pushes/s (%llu in %.2f s, %llu requests)\n",
               all[1].pushes_per_s, (unsigned long long)all[1].delivered, all[1].elapsed_s,
               (unsigned long long)all[1].requests);
    if (strstr(phases, "limited") != NULL)
        printf("  limited (stripe, %s for %.0f s): %llu of %.0f allowed requests = %.1f %% utilisation; "
               "max_in_window %llu, 429s %llu\n",
               fake_rate, seconds, (unsigned long long)all[2].in_window, all[2].allowed, all[2].utilisation * 100,
               (unsigned long long)all[2].max_in_window, (unsigned long long)all[2].rate_limited);
    printf("RESULT pushes=%llu stripe_pps=%.0f hubspot_pps=%.0f hubspot_requests=%llu limited_rate=%s limited_s=%.0f "
           "limited_accepted=%llu limited_allowed=%.0f utilisation=%.3f max_in_window=%llu rate_limited=%llu\n",
           (unsigned long long)n, all[0].pushes_per_s, all[1].pushes_per_s, (unsigned long long)all[1].requests,
           fake_rate, seconds, (unsigned long long)all[2].in_window, all[2].allowed, all[2].utilisation,
           (unsigned long long)all[2].max_in_window, (unsigned long long)all[2].rate_limited);
    curl_global_cleanup();
    return 0;
}
