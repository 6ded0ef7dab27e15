/* Configuration loading: the example file, overrides, secrets, and each kind of mistake with file:line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define GOOD_SOURCES                                                                                                   \
    "sources:\n"                                                                                                       \
    "  stripe:\n"                                                                                                      \
    "    connector: stripe\n"                                                                                          \
    "    secrets: [{value: whsec_a}, {value: whsec_b}]\n"
#define GOOD_ADMIN "admin:\n  token: {value: t0k}\n"

static int load(const char *text, sy_config_t *conf, sy_error_t *err, const sy_config_overrides_t *ov)
{
    memset(err, 0, sizeof(*err));
    return sy_config_load_text(conf, "test.yaml", text, strlen(text), NULL, ov, err);
}

/* Loads text expecting an error at line:column whose message contains needle. */
static void expect_error(const char *text, unsigned line, unsigned column, const char *needle)
{
    sy_config_t conf;
    sy_error_t err;
    int rc = load(text, &conf, &err, NULL);
    sy_config_dispose(&conf);
    if (rc == 0 || err.line != line || err.column != column || strstr(err.msg, needle) == NULL)
        fail_msg("expected test.yaml:%u:%u with \"%s\", got rc=%d %s:%u:%u: %s", line, column, needle, rc, err.file,
                 err.line, err.column, err.msg);
}

static void test_example_config_loads_with_demo_defaults(void **state)
{
    char path[1024];
    sy_config_t conf;
    sy_error_t err = {0};
    unsetenv("STRIPE_WEBHOOK_SECRET");
    setenv("HUBSPOT_CLIENT_SECRET", "from-env", 1);
    snprintf(path, sizeof(path), "%s/../../deploy/switchyard.example.yaml", getenv("SY_TEST_DATA"));
    assert_int_equal(sy_config_load(&conf, path, NULL, &err), 0);
    char want[1100];
    snprintf(want, sizeof(want), "%s/../../var", getenv("SY_TEST_DATA")); /* its ../var, read from deploy/ */
    assert_string_equal(conf.data_dir, want);
    assert_string_equal(conf.ingress_listen, "127.0.0.1:8080");
    assert_string_equal(conf.admin_listen, "127.0.0.1:8081");
    assert_int_equal(conf.num_sources, 5); /* the five-tool stack of deploy/run */
    const sy_source_conf_t *stripe = sy_config_find_source(&conf, "stripe", 6);
    const sy_source_conf_t *hubspot = sy_config_find_source(&conf, "hubspot", 7);
    assert_non_null(stripe);
    assert_non_null(hubspot);
    assert_non_null(stripe->demo_env);
    assert_string_equal(stripe->demo_env, "STRIPE_WEBHOOK_SECRET");
    assert_null(hubspot->demo_env);
    assert_true(sy_slice_eq_cstr(hubspot->verify.secrets[0], "from-env"));
    assert_int_equal(stripe->verify.tolerance_ms, 300000);
    assert_int_equal(hubspot->verify.signature_version, 3);
    assert_int_equal(conf.max_body, 1u << 20);
    sy_config_dispose(&conf);
    unsetenv("HUBSPOT_CLIENT_SECRET");
}

static void test_overrides_win_over_the_file(void **state)
{
    sy_config_t conf;
    sy_error_t err;
    sy_config_overrides_t ov = {.data_dir = "/tmp/elsewhere", .listen = "127.0.0.1:9999", .admin_listen = "[::1]:9998"};
    assert_int_equal(load("data_dir: ./var\ningress: {listen: 127.0.0.1:1}\n" GOOD_ADMIN GOOD_SOURCES, &conf, &err, &ov), 0);
    assert_string_equal(conf.data_dir, "/tmp/elsewhere");
    assert_string_equal(conf.ingress_listen, "127.0.0.1:9999");
    assert_string_equal(conf.admin_listen, "[::1]:9998");
    assert_int_equal(conf.sources[0].verify.num_secrets, 2);
    sy_config_dispose(&conf);
}

static void test_secret_from_file_strips_newline(void **state)
{
    char path[] = "/tmp/sy-secret-XXXXXX", text[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "whsec_file\n", 11), 11);
    close(fd);
    snprintf(text, sizeof(text), GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    secrets: [{file: %s}]\n", path);
    sy_config_t conf;
    sy_error_t err;
    assert_int_equal(load(text, &conf, &err, NULL), 0);
    assert_true(sy_slice_eq_cstr(conf.sources[0].verify.secrets[0], "whsec_file"));
    sy_config_dispose(&conf);
    unlink(path);
}

/* A config file's relative paths are read from its directory, whatever the current one; --data-dir is not. */
static void test_relative_paths_are_read_from_the_config_files_directory(void **state)
{
    char dir[] = "/tmp/sy-config-XXXXXX", path[256], secret[256];
    assert_non_null(mkdtemp(dir));
    snprintf(secret, sizeof(secret), "%s/stripe.secret", dir);
    FILE *fp = fopen(secret, "w");
    assert_non_null(fp);
    fputs("whsec_relative\n", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/hub.yaml", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("data_dir: ./data\npolicy: ../policies\n" GOOD_ADMIN
          "sources:\n  s:\n    connector: stripe\n    secrets: [{file: stripe.secret}]\n",
          fp);
    fclose(fp);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir("/"), 0); /* somewhere else than the file */
    sy_config_t conf;
    sy_error_t err = {0};
    int rc = sy_config_load(&conf, path, NULL, &err);
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.msg);
    char want[300];
    snprintf(want, sizeof(want), "%s/data", dir);
    assert_string_equal(conf.data_dir, want);
    assert_string_equal(conf.policy_path, "/tmp/policies"); /* ../ folded into the file's directory */
    assert_true(sy_slice_eq_cstr(conf.sources[0].verify.secrets[0], "whsec_relative"));
    sy_config_dispose(&conf);

    /* The command line's --data-dir is the shell's, not the file's. */
    sy_config_overrides_t ov = {.data_dir = "elsewhere"};
    assert_int_equal(sy_config_load(&conf, path, &ov, &err), 0);
    assert_string_equal(conf.data_dir, "elsewhere");
    sy_config_dispose(&conf);

    /* Text with a base directory (the built-in example's "deploy"): its ../var is ./var. */
    const char *text = "data_dir: ../var\npolicy: ../policies\n" GOOD_ADMIN GOOD_SOURCES;
    assert_int_equal(sy_config_load_text(&conf, "built-in", text, strlen(text), "deploy", NULL, &err), 0);
    assert_string_equal(conf.data_dir, "var");
    assert_string_equal(conf.policy_path, "policies");
    sy_config_dispose(&conf);
    unlink(secret);
    unlink(path);
    rmdir(dir);
}

static void test_mistakes_point_at_line_and_column(void **state)
{
    expect_error("data_dir: ./var\nstorage:\n  map_sise: 1GiB\n", 3, 3, "unknown key \"map_sise\"");
    expect_error("storage:\n  map_size: lots\n", 2, 13, "expected a size");
    expect_error("ingress:\n  threads: two\n", 2, 12, "expected a whole number");
    expect_error("ingress:\n  http2: maybe\n", 2, 10, "expected true or false");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: paypal\n    secrets: [{value: x}]\n", 5, 16,
                 "unknown connector \"paypal\""); /* at the value */
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    secrets: [{env: SY_TEST_SURELY_UNSET}]\n", 6, 15,
                 "SY_TEST_SURELY_UNSET is not set");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    secrets: [{env: A, value: b}]\n", 6, 15,
                 "exactly one of env, file or value");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    secrets: []\n", 6, 14, "non-empty list");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    tolerance: 5 minutes\n", 6, 16,
                 "expected a duration");
    expect_error(GOOD_ADMIN "sources:\n  Bad Name:\n    connector: stripe\n", 4, 3, "names use a-z");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: hubspot\n    signature_version: 4\n    secrets: [{value: x}]\n",
                 6, 24, "signature_version must be 1, 2 or 3"); /* the connector's own key, at its value */
    /* A connector's key is that connector's: on another one it is unknown, not silently ignored. */
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    signature_version: 3\n", 6, 5,
                 "unknown key \"signature_version\"");
    /* reconcile: scheduled only where it can run, never more often than a minute */
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    secrets: [{value: x}]\n"
                            "    api: {base_url: http://127.0.0.1:1, token: {value: t}}\n    reconcile: {every: 30s}\n",
                 8, 16, "reconcile.every must be at least 1m");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: stripe\n    secrets: [{value: x}]\n    reconcile: {every: 1h}\n",
                 7, 16, "reconcile needs the source's api");
    expect_error(GOOD_ADMIN "sources:\n  s:\n    connector: intercom\n    secrets: [{value: x}]\n"
                            "    api: {base_url: http://127.0.0.1:1, token: {value: t}}\n    reconcile: {every: 1h}\n",
                 8, 16, "cannot list past events");
    expect_error("data_dir: a\ndata_dir: b\n", 2, 1, "given twice");
    expect_error("storage: [1, 2\n", 2, 1, "");             /* YAML syntax error: position from libyaml */
    expect_error("storage: 5\n", 1, 10, "expected a mapping"); /* a section that is not a mapping */
}

static void test_alerts_section(void **state)
{
    (void)state;
    sy_config_t conf;
    sy_error_t err;
    int rc = load(GOOD_ADMIN "alerts:\n  check_interval: 250ms\n  applier_lag: 50\n  storage_near_full: 80\n  notify:\n"
                  "    slack: {url: \"http://127.0.0.1:9/services/x\"}\n"
                  "    webhook: {url: \"http://127.0.0.1:9/h\", secret: {value: whsec_abc=}, rate: 2/1s}\n" GOOD_SOURCES,
                  &conf, &err, NULL);
    if (rc != 0)
        fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.msg);
    assert_int_equal(conf.num_notifiers, 2);
    assert_int_equal(conf.alerts_check_ms, 250);
    assert_int_equal(conf.alerts_applier_lag, 50);
    assert_int_equal(conf.alerts_storage_pct, 80);
    assert_string_equal(conf.notifiers[0].spoke.name, "alert:slack");
    assert_int_equal(conf.notifiers[0].spoke.api_rate_count, 1); /* Slack: one message per second */
    assert_string_equal(conf.notifiers[1].spoke.api_base_url, "http://127.0.0.1:9/h");
    assert_string_equal(conf.notifiers[1].secret, "whsec_abc=");
    assert_int_equal(conf.notifiers[1].spoke.api_rate_count, 2);
    sy_config_dispose(&conf);
    expect_error("alerts:\n  notify:\n    webhook: {url: \"http://127.0.0.1:9/h\"}\n", 3, 14, "secret is missing");
    expect_error("alerts:\n  notify:\n    slack: {url: \"ftp://x\"}\n", 3, 12, "url must be given");
    expect_error("alerts:\n  storage_near_full: 150\n", 2, 22, "a percentage");
    expect_error("alerts:\n  notify:\n    pager: {url: x}\n", 3, 5, "unknown key \"pager\"");
    expect_error("alerts:\n  check_interval: 0s\n", 2, 3, "positive duration");
}

static void test_whole_file_checks_name_the_setting(void **state)
{
    sy_config_t conf;
    sy_error_t err;
    assert_int_not_equal(load(GOOD_SOURCES, &conf, &err, NULL), 0);
    assert_non_null(strstr(err.msg, "admin.token"));
    sy_config_dispose(&conf);
    assert_int_not_equal(load(GOOD_ADMIN "ingress: {listen: localhost}\n" GOOD_SOURCES, &conf, &err, NULL), 0);
    assert_non_null(strstr(err.msg, "ingress.listen"));
    sy_config_dispose(&conf);
    assert_int_not_equal(load(GOOD_ADMIN, &conf, &err, NULL), 0);
    assert_non_null(strstr(err.msg, "at least one source"));
    sy_config_dispose(&conf);
    char line[1200];
    assert_int_not_equal(load("storage: {map_size: 4KiB}\n" GOOD_ADMIN GOOD_SOURCES, &conf, &err, NULL), 0);
    sy_error_format(&err, line, sizeof(line));
    assert_non_null(strstr(line, "test.yaml: storage.map_size"));
    sy_config_dispose(&conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_config_loads_with_demo_defaults),
        cmocka_unit_test(test_overrides_win_over_the_file),
        cmocka_unit_test(test_secret_from_file_strips_newline),
        cmocka_unit_test(test_relative_paths_are_read_from_the_config_files_directory),
        cmocka_unit_test(test_mistakes_point_at_line_and_column),
        cmocka_unit_test(test_whole_file_checks_name_the_setting),
        cmocka_unit_test(test_alerts_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
