/*
 * One hub per data dir, and no CLI command invents a data dir (issue #10, "One hub per data dir").
 *
 * - A second `switchyard serve` on a data dir a running serve holds fails at once, non-zero, naming the pid of the
 *   one running; the first keeps serving; once it stops, the lock is free again.
 * - CLI commands (read-only and write ones) given a data dir without a log refuse with a clear error and exit 1
 *   instead of creating an empty log and reporting success; nothing is created.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "harness_delivery.h"

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void test_second_serve_refused(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_output_t o;
    sy_it_response_t res;
    char pid[32];

    sy_it_start(h);
    snprintf(pid, sizeof(pid), "pid %ld", (long)h->pid);
    sy_it_cli(h, &o, "serve", NULL);
    if (o.status == 0 || strstr(o.err, pid) == NULL || strstr(o.err, "in use") == NULL)
        fail_msg("a second serve on the same data dir: exit %d, stderr: %s (wanted non-zero and \"%s\")", o.status, o.err,
                 pid);
    sy_it_output_dispose(&o);

    /* the first one is untouched and still answers */
    sy_it_admin_get(h, "/healthz", NULL, &res);
    assert_int_equal(res.status, 200);
    sy_it_response_dispose(&res);

    /* the lock goes with the process: a new serve starts on the same dir */
    assert_int_equal(sy_it_stop(h), 0);
    sy_it_start(h);
    assert_int_equal(sy_it_stop(h), 0);
    sy_it_pass(h);
}

static void test_cli_refuses_missing_data_dir(void **state)
{
    static const char *const commands[][3] = {
        {"replay", NULL, NULL},       {"log", "stats", NULL}, {"log", "tail", NULL}, {"records", "list", NULL},
        {"queue", "ls", NULL},        {"health", NULL, NULL}, {"export", "events", NULL},
        {"log", "compact", NULL},
    };
    sy_it_t *h = sy_it_create(state, NULL);
    char missing[SY_IT_PATH_MAX + 16], empty[SY_IT_PATH_MAX + 16];
    struct stat st;

    snprintf(missing, sizeof(missing), "%s/no-such-dir", h->dir);
    snprintf(empty, sizeof(empty), "%s/empty-dir", h->dir);
    assert_int_equal(mkdir(empty, 0700), 0);
    sy_itd_use_example_policy(h); /* replay and health need one */
    for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i) {
        for (int which = 0; which != 2; ++which) {
            const char *dir = which == 0 ? missing : empty;
            sy_it_output_t o;
            if (strcmp(commands[i][0], "log") == 0 && strcmp(commands[i][1], "compact") == 0) {
                char archive[SY_IT_PATH_MAX + 16];
                snprintf(archive, sizeof(archive), "%s/archive.jsonl", h->dir);
                sy_it_cli(h, &o, "log", "compact", "--older-than", "30d", "--archive", archive, "--data-dir", dir, NULL);
            } else if (commands[i][1] == NULL) {
                sy_it_cli(h, &o, commands[i][0], "--data-dir", dir, NULL);
            } else {
                sy_it_cli(h, &o, commands[i][0], commands[i][1], "--data-dir", dir, NULL);
            }
            if (o.status != 1 || strstr(o.err, "no event log here") == NULL)
                fail_msg("`%s %s --data-dir %s`: exit %d, stderr: %s (wanted exit 1 and \"no event log here\")",
                         commands[i][0], commands[i][1] != NULL ? commands[i][1] : "", dir, o.status, o.err);
            sy_it_output_dispose(&o);
        }
    }
    /* nothing was created on the way */
    assert_int_not_equal(stat(missing, &st), 0);
    char file[SY_IT_PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/data.mdb", empty);
    assert_int_not_equal(stat(file, &st), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_second_serve_refused, teardown),
        cmocka_unit_test_teardown(test_cli_refuses_missing_data_dir, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
