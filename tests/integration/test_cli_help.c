/*
 * The CLI explains itself, on the real binary (issue 13's "a CLI that explains itself"):
 * - `switchyard` with no command prints the usage on stderr and exits 2 (a usage error, not success);
 * - `switchyard help` / `--help` print every command on stdout and exit 0;
 * - `switchyard COMMAND [VERB] ... --help` (or -h, anywhere) prints that command's usage with an example and runs
 *   nothing: no configuration or data dir is read, so it works on a machine with neither;
 * - an unknown command asking for help is a usage error;
 * - every listing command says an empty list the same way: one line "no <things>" (nothing with --json).
 */
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void run(sy_it_t *h, sy_it_output_t *o, const char *a, const char *b, const char *c, const char *d)
{
    const char *argv[] = {a, b, c, d, NULL};
    sy_it_run(h, argv, o);
}

static void test_usage_on_no_command_help_and_per_command(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_output_t o;

    run(h, &o, NULL, NULL, NULL, NULL);
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "usage: switchyard COMMAND"));
    assert_non_null(strstr(o.err, "records merge KEEP DROP"));
    sy_it_output_dispose(&o);

    run(h, &o, "help", NULL, NULL, NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "queue ls [--json]"));
    assert_non_null(strstr(o.out, "exit codes: 0 ok, 1 failure, 2 usage or configuration error"));
    sy_it_output_dispose(&o);

    /* One command: its verbs, each with an example, and the common options; nothing else. */
    run(h, &o, "queue", "--help", NULL, NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "example: switchyard queue ls"));
    assert_non_null(strstr(o.out, "example: switchyard queue retry"));
    assert_non_null(strstr(o.out, "--data-dir DIR"));
    assert_null(strstr(o.out, "records merge KEEP"));
    sy_it_output_dispose(&o);

    /* One verb, -h after other options: the verb's usage only, and the command is not run (no config given, no
     * data dir: running it would fail). */
    run(h, &o, "records", "merge", "cust_1", "-h");
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "records merge KEEP DROP"));
    assert_non_null(strstr(o.out, "example: switchyard records merge"));
    assert_null(strstr(o.out, "records split ID"));
    sy_it_output_dispose(&o);

    run(h, &o, "replay", "--since", "2026-01-01T00:00:00Z", "--help");
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "--mode reapply|repush"));
    sy_it_output_dispose(&o);

    /* `help COMMAND VERB` is the same as `COMMAND VERB --help`; a verb listed with another is found too. */
    run(h, &o, "help", "queue", "drop", NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "queue retry ID | queue drop ID"));
    sy_it_output_dispose(&o);

    /* A group without its verb is a usage error that lists the verbs. */
    run(h, &o, "dead", NULL, NULL, NULL);
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "dead needs a verb"));
    assert_non_null(strstr(o.err, "dead retry ID | --all"));
    sy_it_output_dispose(&o);

    run(h, &o, "frobnicate", "--help", NULL, NULL);
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "unknown command \"frobnicate\""));
    sy_it_output_dispose(&o);
}

static void expect_none(sy_it_t *h, const char *cmd, const char *verb, const char *line)
{
    sy_it_output_t o;
    sy_it_cli(h, &o, cmd, verb, NULL);
    if (o.status != 0 || strcmp(o.out, line) != 0)
        fail_msg("%s %s on an empty hub: exit %d, stdout \"%s\" (expected \"%s\"), stderr %s", cmd, verb, o.status,
                 o.out, line, o.err);
    sy_it_output_dispose(&o);
    sy_it_cli(h, &o, cmd, verb, "--json", NULL);
    if (o.status != 0 || o.out_len != 0)
        fail_msg("%s %s --json on an empty hub: exit %d, stdout \"%s\" (expected nothing)", cmd, verb, o.status, o.out);
    sy_it_output_dispose(&o);
}

static void test_empty_lists_say_so_the_same_way(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *text = sy_itr_example_policy(h);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
    sy_it_start(h);
    expect_none(h, "queue", "ls", "no queued pushes\n");
    expect_none(h, "dead", "ls", "no dead letters\n");
    expect_none(h, "records", "list", "no golden records\n");
    expect_none(h, "log", "tail", "no events in the log\n");
    expect_none(h, "log", "skipped", "no skipped events\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_usage_on_no_command_help_and_per_command, teardown),
        cmocka_unit_test_teardown(test_empty_lists_say_so_the_same_way, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
