/*
 * One hub per data dir, one policy in force (issue #10), on the real binary:
 * - while a hub runs, the CLI's write commands (records merge/split, queue retry, dead retry --all, replay, log
 *   compact) go through its admin API: the CLI says so on stderr, the hub logs each request with the CLI as client,
 *   the effect is visible through the hub, and the output is what the direct path prints;
 * - a wrong admin token or an unreachable admin API fails the command and changes nothing (no fallback to writing
 *   the data dir behind the hub's back);
 * - with the hub stopped the same commands work directly, under the data-dir lock, and a lock held by a CLI
 *   command makes `serve` refuse with that command's pid;
 * - the running policy's hash is kept in the data dir: a direct CLI run with another policy is refused with both
 *   hashes (unless --policy-mismatch-ok), and a replay job refuses a policy file edited since the hub loaded it.
 */
#include "harness_records.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* A hub with the example policy, two customers (two records) and a queued push. */
static sy_it_t *start(void **state, const char **policy_path)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *text = sy_itr_example_policy(h);
    const char *path = sy_it_write_file(h, "policy.yaml", text, strlen(text));
    sy_itr_set_policy(h, path);
    if (policy_path != NULL)
        *policy_path = path;
    sy_it_start(h);
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ana@acme.example", "Ana", NULL, "51"));
    sy_itr_stripe(h, "evt_b1", "customer.created", S0 + 1, sy_itr_customer("cus_B", "bo@nova.example", "Bo", NULL, "52"));
    sy_itr_hs_change(h, 1, 51, (S0 + 2) * 1000, "name", "Ana Silva"); /* HubSpot owns the name: a push to Stripe */
    sy_itr_wait_applied(h);
    return h;
}

/* Runs the CLI (args end with NULL); asserts the exit status; returns the output (owned by the harness). */
static sy_it_output_t *cli(sy_it_t *h, int status, ...)
{
    const char *argv[24];
    size_t n = 0;
    va_list ap;
    va_start(ap, status);
    for (const char *a; n < 20 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--config";
    argv[n++] = h->config_path;
    argv[n] = NULL;
    sy_it_output_t *o = sy_it_alloc(h, sizeof(*o)); /* its out and err are the harness's too */
    sy_it_run(h, argv, o);
    if (o->status != status)
        fail_msg("`%s %s ...`: exit %d, wanted %d\nstdout: %s\nstderr: %s", argv[0], n > 3 ? argv[1] : "", o->status,
                 status, o->out, o->err);
    return o;
}

static void assert_via_hub(sy_it_t *h, const sy_it_output_t *o, int via)
{
    char note[64];
    snprintf(note, sizeof(note), "via the running hub (pid %ld)", (long)h->pid);
    if ((strstr(o->err, note) != NULL) != via)
        fail_msg("stderr %s \"%s\": %s", via ? "lacks" : "has", note, o->err);
}

/* Whether the hub's log has a line with both a and b. */
static int log_has(sy_it_t *h, const char *a, const char *b)
{
    char *text = sy_it_slurp(h->log_path, NULL);
    int found = 0;
    for (char *line = text; line != NULL && *line != '\0' && !found;) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        found = strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
        line = end != NULL ? end + 1 : NULL;
    }
    free(text);
    return found;
}

static void assert_logged(sy_it_t *h, const char *path)
{
    if (!log_has(h, path, "from switchyard-cli/"))
        fail_msg("the hub did not log `%s` from the CLI", path);
}

static char *record_id(sy_it_t *h, const char *query)
{
    json_t *rec = sy_itr_record(h, query);
    if (rec == NULL)
        fail_msg("no record for %s", query);
    return sy_it_own(h, strdup(sy_itr_id(rec)), free);
}

/* The record the hub answers for query (GET /admin/api/records/QUERY), its id. */
static const char *hub_record_id(sy_it_t *h, const char *query)
{
    char path[256], auth[128];
    sy_it_response_t res;
    snprintf(path, sizeof(path), "/admin/api/records/%s", query);
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, path, auth, &res);
    assert_int_equal(res.status, 200);
    const char *id = sy_it_own(h, strdup(sy_itr_id(res.json)), free);
    sy_it_response_dispose(&res);
    return id;
}

static void test_write_commands_go_through_the_running_hub(void **state)
{
    sy_it_t *h = start(state, NULL);
    char *a = record_id(h, "stripe:cus_A"), *b = record_id(h, "stripe:cus_B");
    char expect[256];
    sy_it_output_t *o;

    o = cli(h, 0, "records", "merge", a, b, NULL);
    assert_via_hub(h, o, 1);
    snprintf(expect, sizeof(expect), "merged %s into %s (undo: switchyard records split %s SOURCE:ID for each object of %s)\n",
             b, a, a, b);
    assert_string_equal(o->out, expect);
    assert_logged(h, "POST /admin/api/records/merge");
    assert_string_equal(hub_record_id(h, "stripe:cus_B"), a); /* the hub sees it at once */

    o = cli(h, 0, "records", "split", a, "stripe:cus_B", NULL);
    assert_via_hub(h, o, 1);
    assert_non_null(strstr(o->out, "split stripe:cus_B out of "));
    assert_logged(h, "POST /admin/api/records/split");
    assert_string_not_equal(hub_record_id(h, "stripe:cus_B"), a);

    /* Errors come back the way the direct path words them, with its exit code. */
    o = cli(h, 1, "records", "merge", a, "nobody@nowhere.example", NULL);
    assert_non_null(strstr(o->err, "switchyard: no golden record for \"nobody@nowhere.example\""));
    o = cli(h, 1, "queue", "retry", "999999", NULL);
    assert_non_null(strstr(o->err, "switchyard: no queued push 999999 (see switchyard queue ls)"));

    json_t *queue = sy_itr_queue(h);
    if (json_array_size(queue) == 0)
        fail_msg("no queued push to retry");
    const char *push = sy_itr_id(json_array_get(queue, 0));
    o = cli(h, 0, "queue", "retry", push, NULL);
    assert_via_hub(h, o, 1);
    snprintf(expect, sizeof(expect), "push %s is due now, with the record's current values\n", push);
    assert_string_equal(o->out, expect);
    snprintf(expect, sizeof(expect), "POST /admin/api/queue/%s/retry", push);
    assert_logged(h, expect);

    /* No dead letter here: the hub's answer is the direct path's (exit 1, same words). */
    o = cli(h, 1, "dead", "retry", "--all", NULL);
    assert_via_hub(h, o, 1);
    assert_non_null(strstr(o->err, "\nswitchyard: no dead letter \n"));
    assert_logged(h, "POST /admin/api/dead/retry");

    /* replay: a job of the hub, followed to its end */
    o = cli(h, 0, "replay", "--mode", "reapply", NULL);
    assert_via_hub(h, o, 1);
    assert_non_null(strstr(o->out, "done: reapply: 3 events read, 3 selected"));
    char auth[128];
    sy_it_response_t res;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, "/admin/api/replay", auth, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(json_array_size(json_object_get(res.json, "jobs")), 1);
    sy_it_response_dispose(&res);

    /* log compact: archived here, removed by the hub (never the newest event) */
    char archive[SY_IT_PATH_MAX + 32];
    snprintf(archive, sizeof(archive), "%s/archive.jsonl", h->dir);
    o = cli(h, 0, "log", "compact", "--older-than", "0s", "--archive", archive, NULL);
    assert_via_hub(h, o, 1);
    assert_non_null(strstr(o->out, "archived and removed 2 event(s)"));
    if (!log_has(h, "admin: log compact removed 2 archived event(s)", NULL))
        fail_msg("the hub did not remove the archived event");
    assert_int_equal(sy_it_log_count(h), 1);
    sy_it_pass(h);
}

static void test_no_fallback_when_the_hub_cannot_be_asked(void **state)
{
    sy_it_t *h = start(state, NULL);
    char *a = record_id(h, "stripe:cus_A"), *b = record_id(h, "stripe:cus_B");
    sy_it_output_t *o;

    /* a config with another admin token: refused, and nothing written behind the hub's back */
    assert_int_equal(setenv(SY_IT_TOKEN_ENV, "it-not-the-token", 1), 0);
    o = cli(h, 1, "records", "merge", a, b, NULL);
    assert_int_equal(setenv(SY_IT_TOKEN_ENV, h->admin_token, 1), 0);
    assert_non_null(strstr(o->err, "refused the admin token"));
    assert_string_equal(o->out, "");
    assert_string_equal(hub_record_id(h, "stripe:cus_B"), b);

    /* an admin API that does not answer: the lock file names a port nobody listens on */
    char lock[SY_IT_PATH_MAX + 32], text[128];
    snprintf(lock, sizeof(lock), "%s/switchyard.lock", h->data_dir);
    char *saved = sy_it_slurp(lock, NULL);
    assert_non_null(saved);
    snprintf(text, sizeof(text), "%ld\nserve\nhttp://127.0.0.1:1\n", (long)h->pid);
    FILE *f = fopen(lock, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    o = cli(h, 1, "queue", "drop", sy_itr_id(json_array_get(sy_itr_queue(h), 0)), NULL);
    assert_non_null(strstr(o->err, "cannot be reached"));
    assert_non_null(strstr(o->err, "nothing was changed"));
    f = fopen(lock, "w");
    assert_non_null(f);
    fputs(saved, f);
    fclose(f);
    free(saved);
    assert_int_equal(sy_it_stop(h), 0);
    assert_string_equal(sy_itr_id(sy_itr_record(h, "stripe:cus_B")), b);
    sy_it_pass(h);
}

static void test_without_a_hub_the_same_commands_work_directly(void **state)
{
    sy_it_t *h = start(state, NULL);
    char *a = record_id(h, "stripe:cus_A"), *b = record_id(h, "stripe:cus_B");
    char expect[256];
    sy_it_output_t *o;
    assert_int_equal(sy_it_stop(h), 0);

    o = cli(h, 0, "records", "merge", a, b, NULL);
    assert_via_hub(h, o, 0);
    snprintf(expect, sizeof(expect), "merged %s into %s (undo: switchyard records split %s SOURCE:ID for each object of %s)\n",
             b, a, a, b);
    assert_string_equal(o->out, expect);
    assert_string_equal(sy_itr_id(sy_itr_record(h, "stripe:cus_B")), a);
    const char *push = sy_itr_id(json_array_get(sy_itr_queue(h), 0));
    o = cli(h, 0, "queue", "retry", push, NULL);
    snprintf(expect, sizeof(expect), "push %s is due now, with the record's current values\n", push);
    assert_string_equal(o->out, expect);
    o = cli(h, 1, "dead", "retry", "--all", NULL);
    assert_string_equal(o->err, "switchyard: no dead letter \n");
    o = cli(h, 0, "replay", "--mode", "reapply", NULL);
    assert_via_hub(h, o, 0);
    assert_non_null(strstr(o->out, "done: reapply: 3 events read, 3 selected"));

    /* A CLI command holding the lock (this test, in its place): serve refuses, naming it and its pid; another write
     * command waits its turn instead of writing at the same time. */
    char lock[SY_IT_PATH_MAX + 32], text[64], pid[32];
    snprintf(lock, sizeof(lock), "%s/switchyard.lock", h->data_dir);
    int fd = open(lock, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    int n = snprintf(text, sizeof(text), "%ld\nreplay\n\n", (long)getpid());
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, text, (size_t)n, 0), n);
    snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
    const char *serve[] = {"serve", "--config", h->config_path, NULL};
    sy_it_output_t so;
    sy_it_run(h, serve, &so);
    if (so.status == 0 || strstr(so.err, "in use by `switchyard replay`") == NULL || strstr(so.err, pid) == NULL)
        fail_msg("serve beside a CLI write: exit %d, stderr %s", so.status, so.err);
    sy_it_output_dispose(&so);
    o = cli(h, 1, "records", "split", a, "stripe:cus_B", NULL);
    assert_non_null(strstr(o->err, "wait for it to finish"));
    close(fd);
    sy_it_pass(h);
}

/* `policy check PATH` → its hash. */
static const char *policy_hash(sy_it_t *h, const char *path)
{
    sy_it_output_t *o = cli(h, 0, "policy", "check", path, NULL);
    const char *at = strstr(o->out, "hash ");
    if (at == NULL)
        fail_msg("no hash in `policy check`: %s", o->out);
    char *hash = sy_it_own(h, strndup(at + 5, strcspn(at + 5, " \n")), free);
    return hash;
}

static void test_one_policy_in_force(void **state)
{
    const char *path_a;
    sy_it_t *h = start(state, &path_a);
    char *a = record_id(h, "stripe:cus_A"), *b = record_id(h, "stripe:cus_B");
    const char *hash_a = policy_hash(h, path_a);
    /* The same policy with one more excluded name: another hash. */
    const char *text = sy_itr_example_policy(h);
    const char *text_b = sy_itr_replace(h, text, "\nfields:", "\n# edited\nfields:");
    const char *path_b = sy_it_write_file(h, "policy-b.yaml", text_b, strlen(text_b));
    const char *hash_b = policy_hash(h, path_b);
    assert_string_not_equal(hash_a, hash_b);

    /* A replay job refuses a policy file edited since the hub loaded it. */
    sy_it_write_file(h, "policy.yaml", text_b, strlen(text_b));
    sy_it_output_t *o = cli(h, 1, "replay", NULL);
    assert_non_null(strstr(o->err, "has changed since the hub loaded it"));
    sy_it_write_file(h, "policy.yaml", text, strlen(text));
    assert_int_equal(sy_it_stop(h), 0);

    /* Directly on the data dir with another policy: refused, both hashes named. */
    sy_itr_set_policy(h, path_b);
    sy_it_output_t *refused[3] = {cli(h, 2, "records", "merge", a, b, NULL), cli(h, 2, "replay", "--dry-run", NULL),
                                  cli(h, 2, "health", NULL)};
    for (size_t i = 0; i != 3; ++i)
        if (strstr(refused[i]->err, hash_a) == NULL || strstr(refused[i]->err, hash_b) == NULL ||
            strstr(refused[i]->err, "--policy-mismatch-ok") == NULL)
            fail_msg("stderr lacks both hashes (%s, %s) or the way out: %s", hash_a, hash_b, refused[i]->err);
    assert_string_equal(sy_itr_id(sy_itr_record(h, "stripe:cus_B")), b); /* nothing merged */
    o = cli(h, 0, "records", "merge", a, b, "--policy-mismatch-ok", NULL);
    assert_non_null(strstr(o->out, "merged "));

    /* A hub started with policy B makes it the one in force. */
    sy_it_start(h);
    assert_int_equal(sy_it_stop(h), 0);
    cli(h, 0, "health", NULL);
    sy_itr_set_policy(h, path_a);
    cli(h, 2, "health", NULL);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_write_commands_go_through_the_running_hub, teardown),
        cmocka_unit_test_teardown(test_no_fallback_when_the_hub_cannot_be_asked, teardown),
        cmocka_unit_test_teardown(test_without_a_hub_the_same_commands_work_directly, teardown),
        cmocka_unit_test_teardown(test_one_policy_in_force, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
