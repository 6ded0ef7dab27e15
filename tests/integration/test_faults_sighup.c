/*
 * Fault injection 6: SIGHUP storms during load.
 *
 * The example policy and the mixed load generator (4 connections, strict: every request must be answered 200 at
 * once). Each round (SY_FAULT_ROUNDS, default 3) sends two storms, each 50 SIGHUPs in a row and then one every
 * 20 ms for a second: the first with the valid policy on disk (reloads happen, the hash stays since the file is
 * the same), the second with a broken policy on disk (a semantic error or a YAML syntax error, in turn): the old
 * policy stays (status hash unchanged, the log says why, POST /admin/api/policy/reload answers 422). Throughout,
 * the hub answers 200. Then a changed valid policy and one SIGHUP change the hash (the storms were not ignored:
 * reload works). Finally SIGTERM, sent right behind 50 more SIGHUPs, exits 0, and the log holds every acknowledged
 * event, each applied once.
 */
#include "../faults/fault_common.h"

#include <signal.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define BURST 50
#define PACED 50 /* one every 20 ms: a second */
#define PACE_MS 20

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static const char *policy_hash(sy_it_t *h, char *out, size_t outlen)
{
    json_t *st = sy_itr_status(h);
    const char *hash = json_string_value(json_object_get(json_object_get(st, "policy"), "hash"));
    if (hash == NULL)
        fail_msg("status has no policy.hash: %s", sy_itr_text(h, st));
    snprintf(out, outlen, "%s", hash);
    sy_it_release(h, st);
    return out;
}

/* Replaces the policy file atomically (the hub never reads half a file). */
static void write_policy(sy_it_t *h, const char *path, const char *text)
{
    char tmp[SY_IT_PATH_MAX + 8];
    FILE *fp;
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    if ((fp = fopen(tmp, "wb")) == NULL || fputs(text, fp) < 0 || fclose(fp) != 0 || rename(tmp, path) != 0)
        fail_msg("cannot write %s: %s", path, strerror(errno));
}

static void storm(sy_it_t *h)
{
    for (int i = 0; i != BURST; ++i)
        sy_it_signal(h, SIGHUP);
    for (int i = 0; i != PACED; ++i) {
        sy_it_signal(h, SIGHUP);
        sy_itd_nap(PACE_MS);
    }
}

/* How many lines of the server log contain needle. */
static size_t log_lines(sy_it_t *h, const char *needle)
{
    FILE *fp = fopen(h->log_path, "r");
    char line[2048];
    size_t n = 0;
    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(fp);
    return n;
}

static void assert_alive_and_loaded(sy_it_t *h, fl_load_t *load, const char *what)
{
    sy_it_response_t res;
    unsigned long acked = fl_acked(load);
    double deadline = fl_now_s() + 10;
    sy_it_admin_get(h, "/healthz", NULL, &res);
    assert_int_equal(res.status, 200);
    sy_it_response_dispose(&res);
    while (fl_acked(load) <= acked + 10) { /* the load keeps being acknowledged */
        for (unsigned i = 0; i != load->threads; ++i)
            if (load->th[i].error[0] != '\0')
                fail_msg("%s: load thread %u: %s", what, i, load->th[i].error);
        if (fl_now_s() > deadline)
            fail_msg("%s: the load stalled (%lu acknowledged)", what, fl_acked(load));
        sy_itd_nap(10);
    }
}

static void test_sighup_storms_under_load(void **state)
{
    unsigned seed = fl_seed("faults_sighup"), rounds = fl_rounds();
    sy_it_t *h = sy_it_create(state, NULL);
    const char *good = sy_itr_example_policy(h);
    const char *semantic = sy_itr_replace(h, good, "on_conflict: revert", "on_conflict: overwrite");
    char *syntax = sy_it_alloc(h, strlen(good) + 64), *path, hash0[64], hash[64];
    fl_load_t *load = fl_load_new(h);
    size_t reloaded0, refused0, events;
    sy_it_response_t res;
    json_t *health;

    snprintf(syntax, strlen(good) + 64, "%s\nfields: [unclosed\n", good);
    path = sy_it_write_file(h, "policy.yaml", good, strlen(good));
    sy_itr_set_policy(h, path);
    load->seed = seed;
    load->strict = 1;
    sy_it_start(h);
    policy_hash(h, hash0, sizeof(hash0));
    fl_load_start(h, load);
    assert_alive_and_loaded(h, load, "before the storms");

    for (unsigned r = 1; r <= rounds; ++r) {
        double t0 = fl_now_s();
        /* valid policy on disk */
        reloaded0 = log_lines(h, "policy reloaded from");
        storm(h);
        assert_alive_and_loaded(h, load, "after a storm with the valid policy");
        if (strcmp(policy_hash(h, hash, sizeof(hash)), hash0) != 0)
            fail_msg("round %u: the policy hash changed from %s to %s though the file did not", r, hash0, hash);
        if (log_lines(h, "policy reloaded from") <= reloaded0)
            fail_msg("round %u: %d SIGHUPs and not one reload in the log", r, BURST + PACED);

        /* broken policy on disk */
        refused0 = log_lines(h, "SIGHUP: policy not reloaded");
        write_policy(h, path, r % 2 ? semantic : syntax);
        storm(h);
        assert_alive_and_loaded(h, load, "after a storm with a broken policy");
        if (strcmp(policy_hash(h, hash, sizeof(hash)), hash0) != 0)
            fail_msg("round %u: a broken policy file replaced the running policy (hash %s, was %s)", r, hash, hash0);
        if (log_lines(h, "SIGHUP: policy not reloaded") <= refused0)
            fail_msg("round %u: a storm on a broken policy logged no \"policy not reloaded\"", r);
        sy_itr_admin_post(h, "/admin/api/policy/reload", &res);
        sy_it_assert_error(&res, 422, NULL);
        sy_it_response_dispose(&res);
        write_policy(h, path, good);
        print_message("round %u/%u: 2 × %d SIGHUPs (valid, then %s policy) in %.1f s; %lu events acknowledged so far\n", r,
                      rounds, BURST + PACED, r % 2 ? "semantically broken" : "syntactically broken", fl_now_s() - t0,
                      fl_acked(load));
    }

    /* positive control: a changed valid policy is picked up by one SIGHUP */
    write_policy(h, path, sy_itr_replace(h, good, "revert_budget: 3", "revert_budget: 4"));
    sy_it_signal(h, SIGHUP);
    for (double deadline = fl_now_s() + 10; strcmp(policy_hash(h, hash, sizeof(hash)), hash0) == 0;) {
        if (fl_now_s() > deadline)
            fail_msg("a changed valid policy was not loaded by SIGHUP within 10 s (hash still %s)", hash0);
        sy_itd_nap(20);
    }
    assert_alive_and_loaded(h, load, "after the reload of a changed policy");

    fl_load_stop(load);
    sy_itr_wait_applied(h);
    health = sy_itr_health(h);
    /* SIGTERM right behind a last burst of SIGHUPs: a clean exit 0 */
    sy_it_disconnect(h);
    for (int i = 0; i != BURST; ++i)
        sy_it_signal(h, SIGHUP);
    sy_it_signal(h, SIGTERM);
    assert_int_equal(sy_it_wait(h), 0);
    events = json_array_size(fl_assert_log_holds_acked(h, load));
    if (sy_itr_counter(health, "observations") != (json_int_t)events)
        fail_msg("counters.observations = %lld for %zu events", (long long)sy_itr_counter(health, "observations"), events);
    print_message("%zu events, all answered 200 and in the log; hash %s -> %s\n", events, hash0, hash);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sighup_storms_under_load, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
