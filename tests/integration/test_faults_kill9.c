/*
 * Fault injection 1: kill -9 at random moments under mixed load (ingress + apply + deliver).
 *
 * The example policy, fake Stripe and HubSpot, and a load generator on 4 connections posting signed events without
 * pause (HubSpot property changes, Stripe customer / subscription / invoice events over 30 linked customers, with
 * increasing provider versions; an unanswered event is resent until acknowledged, like a provider). The hub is
 * killed with SIGKILL after a random delay (seeded, printed: SY_FAULT_SEED replays it) and restarted, ROUNDS times
 * (SY_FAULT_ROUNDS, default 3). Then the load stops, everything settles, and:
 *   - no acknowledged event is lost: each is in the log at the seq it was acknowledged with, with its id and body;
 *     no id is stored twice, and the log holds nothing else;
 *   - no event is applied twice: counters.observations equals the number of events, and a clean run (a fresh hub
 *     fed the same events in the same order, without faults) ends with the same golden records and counters;
 *   - no push is lost: every pushed golden value is at the fake that should hold it, nothing is dead-lettered,
 *     and no Stripe Idempotency-Key ran twice.
 */
#include "../faults/fault_common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CUSTOMERS 30
#define KILL_MIN_MS 50
#define KILL_MAX_MS 1500
#define SETTLE_TIMEOUT_S 120.0

typedef struct st_runs_t {
    sy_it_t *h;     /* the faulted run */
    sy_it_t *clean; /* the same events without faults */
} runs_t;

static int setup(void **state)
{
    *state = calloc(1, sizeof(runs_t));
    return *state == NULL;
}

static int teardown(void **state)
{
    runs_t *r = *state;
    if (r != NULL) {
        sy_it_destroy(r->clean);
        sy_it_destroy(r->h);
        free(r);
    }
    *state = NULL;
    return 0;
}

/* Golden records without wall-clock keys, and the counters that do not depend on delivery timing. */
static void outcome(sy_it_t *h, json_t **records, json_t **counters)
{
    json_t *list = sy_itr_records(h), *health = sy_itr_health(h);
    *records = sy_it_own_json(h, json_deep_copy(list));
    fl_strip_wall_clock(*records);
    *counters = sy_it_own_json(h, json_deep_copy(json_object_get(health, "counters")));
    /* whether a newer value coalesces into a queued push or makes a new one depends on whether the older one was
     * already delivered: timing, not application */
    json_object_del(*counters, "pushes_enqueued");
    json_object_del(*counters, "pushes_coalesced");
    sy_it_release(h, list);
    sy_it_release(h, health);
}

static void test_kill9_under_mixed_load(void **state)
{
    runs_t *runs = *state;
    unsigned seed = fl_seed("faults_kill9"), rounds = fl_rounds(), rng = seed;
    static const sy_itd_api_t api = {.timeout = "5s"};
    sy_it_t *h = sy_it_create((void **)&runs->h, NULL);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    fl_load_t *load = fl_load_new(h);
    json_t *log, *health, *dead, *rec_a, *cnt_a, *rec_b, *cnt_b, *v;
    double t0 = fl_now_s();
    size_t i, compared, events;

    sy_itd_set_api(h, "stripe", stripe, &api);
    sy_itd_set_api(h, "hubspot", hubspot, &api);
    sy_itd_use_example_policy(h);
    load->customers = CUSTOMERS;
    load->threads = 4;
    load->seed = seed;
    fl_seed_fakes(load, stripe, hubspot);
    sy_it_start(h);
    fl_load_start(h, load);

    for (unsigned r = 1; r <= rounds; ++r) {
        long delay = fl_rand(&rng, KILL_MIN_MS, KILL_MAX_MS), down = fl_rand(&rng, 0, 300);
        sy_itd_nap(delay);
        print_message("round %u/%u: kill -9 after %ld ms up (%lu events acknowledged so far), down %ld ms\n", r, rounds,
                      delay, fl_acked(load), down);
        sy_it_kill(h);
        sy_itd_nap(down);
        sy_it_start(h);
    }
    sy_itd_nap(fl_rand(&rng, 200, 800)); /* some load on the last incarnation too */
    fl_load_stop(load);
    print_message("load stopped after %.1f s: %lu events acknowledged, %lu requests unanswered (kills)\n",
                  fl_now_s() - t0, fl_acked(load), (unsigned long)atomic_load(&load->unanswered));

    /* settle: everything applied and delivered */
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, SETTLE_TIMEOUT_S);
    dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("dead letters after the kills: %s", sy_itr_text(h, dead));

    /* 1. nothing acknowledged lost, nothing stored twice */
    log = fl_assert_log_holds_acked(h, load);
    events = json_array_size(log);
    assert_true(events > (size_t)CUSTOMERS);

    /* 2. nothing applied twice (and the workload did what it should: links, pushes, no conflicts by design) */
    health = sy_itr_health(h);
    if (sy_itr_counter(health, "observations") != (json_int_t)events)
        fail_msg("APPLIED TWICE (or skipped): counters.observations = %lld for %zu events in the log; counters %s",
                 (long long)sy_itr_counter(health, "observations"), events,
                 sy_itr_text(h, json_object_get(health, "counters")));
    if (sy_itr_counter(health, "records_created") != CUSTOMERS || sy_itr_counter(health, "conflicts") != 0 ||
        sy_itr_counter(health, "pushes_enqueued") == 0)
        fail_msg("the workload did not run as designed (30 linked customers, no conflicts, pushes): %s",
                 sy_itr_text(h, json_object_get(health, "counters")));

    /* 3. no push lost */
    compared = fl_assert_spokes_hold_golden(h, stripe, hubspot);
    print_message("%zu pushed golden values found at the fakes\n", compared);
    if (compared < 2 * CUSTOMERS)
        fail_msg("only %zu pushed values compared: the check is too weak", compared);
    sy_itd_assert_once_per_key(h, sy_itd_fake_requests(stripe));
    outcome(h, &rec_a, &cnt_a);
    assert_int_equal(sy_it_stop(h), 0);

    /* the clean run: same events, same order, fresh data dir, no faults, no spokes */
    {
        sy_it_t *c = sy_it_create((void **)&runs->clean, NULL);
        double t1 = fl_now_s();
        sy_itd_use_example_policy(c);
        sy_it_start(c);
        fl_repost_in_order(c, load);
        sy_itr_wait_applied(c);
        outcome(c, &rec_b, &cnt_b);
        print_message("clean run of %zu events: %.1f s\n", events, fl_now_s() - t1);
        if (!json_equal(cnt_a, cnt_b))
            fail_msg("counters differ from the clean run (something was applied twice or lost)\nkill -9 run: %s\nclean run:   %s",
                     sy_itr_text(h, cnt_a), sy_itr_text(h, cnt_b));
        if (json_array_size(rec_a) != json_array_size(rec_b))
            fail_msg("%zu records after the kills, %zu in the clean run", json_array_size(rec_a), json_array_size(rec_b));
        json_array_foreach(rec_a, i, v)
        {
            if (!json_equal(v, json_array_get(rec_b, i)))
                fail_msg("record #%zu differs from the clean run\nkill -9 run: %s\nclean run:   %s", i, sy_itr_text(h, v),
                         sy_itr_text(h, json_array_get(rec_b, i)));
        }
        assert_int_equal(sy_it_stop(c), 0);
        sy_it_pass(c);
    }
    print_message("seed %u, %u rounds: %zu events, %.1f s in all\n", seed, rounds, events, fl_now_s() - t0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_under_mixed_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
