/*
 * `switchyard reconcile SOURCE [--since T] [--dry-run] [--json]`: heals gaps in the log from the tool's API
 * (hub/ingest/reconcile.h). While `serve` runs it is a job of the hub (POST /admin/api/reconcile), whose writer
 * appends and whose applier heals the records at once; otherwise it runs here under the data-dir lock, and the
 * records heal when serve next starts (its applier takes the log from its cursor).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_remote.h"
#include "cli_target.h"
#include "reconcile.h"
#include "replay.h"

#define JOB_POLL_US 200000

#define JINT(doc, k) ((unsigned long long)json_integer_value(json_object_get(doc, k)))

/* What a reconcile found, the same whether it ran here or in the hub. Returns the exit code. */
static int report(const sy_cli_t *cli, json_t *doc, int remote)
{
    const char *error = json_string_value(json_object_get(doc, "error"));
    if (cli->json) {
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL)
            puts(text);
        free(text);
    } else {
        int dry = json_is_true(json_object_get(doc, "dry_run"));
        printf("reconcile %s%s: %llu events listed by the tool in %llu pages, %llu already in the log, %llu missing",
               json_string_value(json_object_get(doc, "source")), dry ? " (dry run)" : "", JINT(doc, "listed"),
               JINT(doc, "pages"), JINT(doc, "in_log"), JINT(doc, "missing"));
        if (!dry)
            printf(", %llu appended", JINT(doc, "appended"));
        putchar('\n');
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(doc, "missing_events"), i, m)
            printf("  %s missing: %s %s\n", dry ? "would append" : "appended",
                   json_string_value(json_object_get(m, "id")), json_string_value(json_object_get(m, "type")));
        if (JINT(doc, "missing") > json_array_size(json_object_get(doc, "missing_events")))
            printf("  (and %llu more)\n", JINT(doc, "missing") - json_array_size(json_object_get(doc, "missing_events")));
        if (!dry && JINT(doc, "appended") != 0)
            printf("%s\n", remote ? "the hub's applier heals the records from them now"
                                  : "the records heal from them when `switchyard serve` runs (its applier reads on from "
                                    "its cursor)");
    }
    if (error != NULL) {
        fprintf(stderr, "switchyard: reconcile stopped: %s (what was appended stays; run it again)\n", error);
        return SY_EXIT_FAIL;
    }
    return SY_EXIT_OK;
}

static int run_remote(const sy_cli_t *cli, const sy_cli_target_t *t, const sy_reconcile_spec_t *spec)
{
    char path[128];
    long status;
    json_t *job = NULL, *body = json_pack("{s:s, s:b}", "source", spec->source, "dry_run", spec->dry_run);
    if (cli->since != NULL)
        json_object_set_new(body, "since", json_string(cli->since));
    int rc = sy_cli_remote_call(t, "POST", "/admin/api/reconcile", body, &status, &job);
    json_decref(body);
    if (rc != 0)
        return SY_EXIT_FAIL;
    if (status != 202) {
        fprintf(stderr, "switchyard: %s\n", sy_cli_remote_message(job));
        json_decref(job);
        return status == 400 ? SY_EXIT_USAGE : SY_EXIT_FAIL;
    }
    snprintf(path, sizeof(path), "/admin/api/reconcile/%s", json_string_value(json_object_get(job, "id")));
    if (sy_cli_remote_follow(t, path, JOB_POLL_US, &job, NULL, NULL) != 0) {
        json_decref(job);
        return SY_EXIT_FAIL;
    }
    rc = report(cli, job, 1);
    json_decref(job);
    return rc;
}

/* sy_reconcile_append_fn of a CLI run: the store, under the data-dir lock the target holds. */
static int append_to_store(void *arg, sy_append_t *items, size_t n)
{
    return sy_store_append(arg, items, n);
}

int sy_cli_reconcile(sy_cli_t *cli)
{
    sy_config_t conf;
    sy_cli_target_t target = {.lock_fd = -1};
    sy_store_t *store = NULL;
    sy_error_t err = {0};
    sy_reconcile_spec_t spec = {.dry_run = cli->dry_run};
    sy_reconcile_result_t result = {0};
    char msg[900];
    int rc;

    if (cli->num_args != 1) {
        fprintf(stderr, "usage: switchyard reconcile SOURCE [--since TIME] [--dry-run] [--json]\n");
        return SY_EXIT_USAGE;
    }
    if (strlen(cli->args[0]) >= sizeof(spec.source)) {
        fprintf(stderr, "switchyard: no source \"%s\"\n", cli->args[0]);
        return SY_EXIT_USAGE;
    }
    snprintf(spec.source, sizeof(spec.source), "%s", cli->args[0]);
    if (cli->since != NULL && sy_parse_time_ms(cli->since, &spec.since_ms) != 0) {
        fprintf(stderr, "switchyard: --since takes a UTC time: 2026-11-20, 2026-11-20T08:00Z or 2026-11-20T08:00:00Z\n");
        return SY_EXIT_USAGE;
    }
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    if (sy_reconcile_check(&conf, &spec, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "switchyard: %s\n", msg);
        rc = SY_EXIT_USAGE;
        goto Exit;
    }
    if ((rc = sy_cli_target_open(cli, &conf, "reconcile", &target)) != SY_EXIT_OK)
        goto Exit;
    if (target.remote) {
        rc = run_remote(cli, &target, &spec);
        goto Exit;
    }
    rc = SY_EXIT_FAIL;
    if (sy_store_open(&store, conf.data_dir, conf.map_size, conf.map_size_max, 0, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        goto Exit;
    }
    if ((result.missing_events = json_array()) == NULL)
        goto Exit;
    sy_reconcile_run(&conf, store, &spec, append_to_store, store, NULL, &result);
    json_t *doc = sy_reconcile_result_json(&spec, &result);
    rc = doc != NULL ? report(cli, doc, 0) : SY_EXIT_FAIL;
    json_decref(doc);
Exit:
    json_decref(result.missing_events);
    sy_store_close(store);
    sy_cli_target_close(&target);
    sy_config_dispose(&conf);
    return rc;
}
