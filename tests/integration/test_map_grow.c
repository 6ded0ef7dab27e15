/*
 * The LMDB map grows many times under full load without a hang or a crash (issue #10, "Locks and errors").
 *
 * A 1 MiB initial map, the example policy, both fake spokes (applier and delivery on), a signed mixed load on
 * several threads (the fault tests' generator, strict: every request must get 200 at once), and a thread polling
 * /metrics and /admin/api/status without pause. Growing the map needs every in-process transaction closed, so it
 * is the moment a wrong lock order shows: before the fix, the writer waited for readers to leave while delivery
 * held a read transaction and waited for the policy mutex, which the applier held while waiting for the write lock.
 *
 * Deterministic: the load stops after a fixed number of acknowledged events, not after a time; waits are bounded
 * only so a hang fails the test instead of blocking CTest (a request gets 20 s, far beyond any healthy answer).
 * Asserts: every event acknowledged (200 at the first attempt) and in the log at its seq; every poll answered 200;
 * the applier catches up and the queue empties; the map grew at least 3 times (metric and data.mdb on disk).
 */
#include "../faults/fault_common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <cmocka.h>

#define EVENTS 10000         /* acknowledged events to send: about 8 MiB of log and records */
#define LOAD_THREADS 6
#define INITIAL_MAP (1u << 20)
#define MIN_GROWS 3          /* the map must have doubled at least this often */
#define POLL_TIMEOUT_MS 20000L

typedef struct st_poller_t {
    unsigned short port;
    char auth[128];
    pthread_t tid;
    int started;
    atomic_int stop;
    atomic_ulong answered;
    char error[512]; /* first failure; read after the join */
} poller_t;

static void *poller_main(void *arg)
{
    static const char *const paths[] = {"/metrics", "/admin/api/status"};
    poller_t *p = arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, p->auth);
    for (unsigned i = 0; curl != NULL && hd != NULL && !atomic_load(&p->stop); ++i) {
        char url[128];
        fl_buf_t b = {NULL, 0};
        long status = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", p->port, paths[i % 2]);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, POLL_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fl_on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
        CURLcode rc = curl_easy_perform(curl);
        if (rc == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        free(b.base);
        if (status != 200) {
            snprintf(p->error, sizeof(p->error), "GET %s: %s, HTTP %ld (the admin listener stopped answering?)",
                     paths[i % 2], rc != CURLE_OK ? curl_easy_strerror(rc) : "answered", status);
            break;
        }
        atomic_fetch_add(&p->answered, 1);
    }
    if (curl == NULL || hd == NULL)
        snprintf(p->error, sizeof(p->error), "cannot set up curl");
    curl_slist_free_all(hd);
    curl_easy_cleanup(curl);
    return NULL;
}

/* Joins the poller (also from the teardown, through the harness, when an assertion failed first). */
static void poller_release(void *arg)
{
    poller_t *p = arg;
    atomic_store(&p->stop, 1);
    if (p->started)
        pthread_join(p->tid, NULL);
    p->started = 0;
}

static void poller_free(void *arg)
{
    poller_release(arg);
    free(arg);
}

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void test_map_grows_under_load(void **state)
{
    static const sy_it_options_t opts = {.storage = "{map_size: 1MiB, map_size_max: 1GiB, max_batch: 4096}"};
    static const sy_itd_api_t api = {.timeout = "5s"};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    fl_load_t *load = fl_load_new(h);
    poller_t *poller = sy_it_own(h, calloc(1, sizeof(*poller)), poller_free);
    double t0 = fl_now_s();
    char path[SY_IT_PATH_MAX + 16];
    struct stat st;

    sy_itd_set_api(h, "stripe", stripe, &api);
    sy_itd_set_api(h, "hubspot", hubspot, &api);
    sy_itd_use_example_policy(h);
    load->customers = 60;
    load->threads = LOAD_THREADS;
    load->seed = fl_seed("map_grow");
    load->strict = 1; /* no faults here: anything but an immediate 200 is a failure */
    fl_seed_fakes(load, stripe, hubspot);
    sy_it_start(h);

    poller->port = h->admin_port;
    snprintf(poller->auth, sizeof(poller->auth), "Authorization: Bearer %s", h->admin_token);
    assert_int_equal(pthread_create(&poller->tid, NULL, poller_main, poller), 0);
    poller->started = 1;
    fl_load_start(h, load);

    /* Counted, not timed: the load runs until EVENTS are acknowledged (or a thread fails: it stops on error). */
    for (;;) {
        int failed = 0;
        for (unsigned i = 0; i != load->threads; ++i)
            failed |= load->th[i].error[0] != '\0';
        if (fl_acked(load) >= EVENTS || failed || poller->error[0] != '\0')
            break;
        sy_itd_nap(50);
    }
    fl_load_stop(load); /* fails the test with the first violation of a load thread */
    poller_release(poller);
    if (poller->error[0] != '\0')
        fail_msg("poller: %s", poller->error);
    print_message("%lu events acknowledged, %lu admin polls answered in %.1f s\n", fl_acked(load),
                  (unsigned long)atomic_load(&poller->answered), fl_now_s() - t0);
    assert_true(atomic_load(&poller->answered) > 0);
    assert_int_equal(atomic_load(&load->unanswered), 0);

    /* every acknowledged event is there, once, at its seq */
    fl_assert_log_holds_acked(h, load);
    /* the applier and delivery worked through it all and still answer */
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, 120.0);
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("dead letters: %s", sy_itr_text(h, dead));

    double map = sy_itd_metric(h, "switchyard_log_map_size_bytes");
    double grows = sy_itd_metric(h, "switchyard_log_map_grows_total");
    snprintf(path, sizeof(path), "%s/data.mdb", h->data_dir);
    assert_int_equal(stat(path, &st), 0);
    print_message("map %.0f bytes after %.0f grows; data.mdb %lld bytes\n", map, grows, (long long)st.st_size);
    if (map < (double)(INITIAL_MAP << MIN_GROWS) || grows < MIN_GROWS)
        fail_msg("the map grew only to %.0f bytes (%.0f grows): the test did not exercise growing", map, grows);
    if (st.st_size <= (off_t)INITIAL_MAP << (MIN_GROWS - 1))
        fail_msg("data.mdb is only %lld bytes", (long long)st.st_size);
    assert_int_equal(sy_it_stop(h), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_map_grows_under_load, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
