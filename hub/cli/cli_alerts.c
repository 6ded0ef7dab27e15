/*
 * `switchyard alerts [--all] [--json]` and `switchyard alerts ack ID` (alerts.h). The list reads the data dir (a
 * read transaction, also while a hub runs); an acknowledgement is a write, so it goes through the running hub's
 * admin API when there is one (cli_target.h), else to the data dir directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_alerts.h"
#include "alerts.h"
#include "cli.h"
#include "cli_remote.h"
#include "cli_target.h"

static void print_alert(json_t *a)
{
    char last[32], subject[300];
    size_t o = 0;
    subject[0] = '\0';
    const char *parts[][2] = {{"record", sy_cli_str(a, "record")}, {"tool", sy_cli_str(a, "source")}, {"field", sy_cli_str(a, "field")}};
    for (size_t i = 0; i != 3; ++i)
        if (parts[i][1][0] != '\0' && o < sizeof(subject))
            o += (size_t)snprintf(subject + o, sizeof(subject) - o, "%s%s %s", o != 0 ? ", " : "", parts[i][0], parts[i][1]);
    sy_cli_format_time((int64_t)json_integer_value(json_object_get(a, "last_seen_ms")), last, sizeof(last));
    printf("%-5lld %-12s %-18s %-40s %5lld  %s  %s\n", (long long)json_integer_value(json_object_get(a, "id")),
           sy_cli_str(a, "state"), sy_cli_str(a, "kind"), subject[0] != '\0' ? subject : "-",
           (long long)json_integer_value(json_object_get(a, "count")), last, sy_cli_str(a, "message"));
}

static int list(sy_cli_t *cli, sy_config_t *conf)
{
    sy_store_t *store;
    sy_error_t err = {0};
    sy_txn_t *txn;
    char msg[900];
    if (sy_store_open(&store, conf->data_dir, conf->map_size, conf->map_size_max, SY_STORE_READONLY, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        return SY_EXIT_FAIL;
    }
    json_t *alerts = NULL;
    if (sy_txn_begin(store, 0, &txn) == 0) {
        alerts = sy_alerts_list(txn, cli->all, cli->count > 0 ? (size_t)cli->count : 0);
        sy_txn_abort(txn);
    }
    sy_store_close(store);
    if (alerts == NULL) {
        fprintf(stderr, "switchyard: cannot read the alerts (storage error)\n");
        return SY_EXIT_FAIL;
    }
    if (json_array_size(alerts) == 0) {
        sy_cli_none(cli, cli->all ? "alerts" : "open alerts");
    } else {
        size_t i;
        json_t *a;
        if (!cli->json)
            printf("%zu alert(s)%s\n%-5s %-12s %-18s %-40s %5s  %-20s  %s\n", json_array_size(alerts),
                   cli->all ? "" : " not resolved (--all: resolved ones too)", "id", "state", "kind", "subject",
                   "count", "last seen", "message");
        json_array_foreach(alerts, i, a)
        {
            if (cli->json) {
                char *line = json_dumps(a, JSON_COMPACT);
                if (line != NULL)
                    puts(line);
                free(line);
            } else {
                print_alert(a);
            }
        }
    }
    json_decref(alerts);
    return SY_EXIT_OK;
}

typedef struct st_ack_t {
    uint64_t id;
    int64_t now;
} ack_t;

static int write_ack(void *arg, sy_txn_t *txn)
{
    ack_t *a = arg;
    return sy_alert_ack(txn, a->id, a->now);
}

static int ack(sy_cli_t *cli, sy_config_t *conf)
{
    sy_cli_target_t t;
    int rc;
    if (cli->num_args != 2) {
        fprintf(stderr, "usage: switchyard alerts ack ID\n");
        return SY_EXIT_USAGE;
    }
    ack_t a = {sy_alert_id_parse(cli->args[1]), sy_now_ms()};
    if (a.id == 0) {
        fprintf(stderr, "switchyard: the alert id must be a number (see switchyard alerts)\n");
        return SY_EXIT_USAGE;
    }
    if ((rc = sy_cli_target_open(cli, conf, "alerts ack", &t)) != SY_EXIT_OK)
        return rc;
    if (t.remote) {
        char path[80];
        long status = 0;
        json_t *doc = NULL;
        snprintf(path, sizeof(path), "/admin/api/alerts/%llu/ack", (unsigned long long)a.id);
        rc = sy_cli_remote_call(&t, "POST", path, NULL, &status, &doc);
        if (rc == 0)
            rc = status == 200 ? 0 : status == 404 ? SY_ENOTFOUND : status == 409 ? SY_EINVAL : SY_EIO;
        else
            rc = SY_CLI_REMOTE_FAILED;
        json_decref(doc);
    } else {
        sy_store_t *store;
        sy_error_t err = {0};
        char msg[900];
        if (sy_store_open(&store, conf->data_dir, conf->map_size, conf->map_size_max, 0, &err) != 0) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "switchyard: %s\n", msg);
            sy_cli_target_close(&t);
            return SY_EXIT_FAIL;
        }
        while ((rc = sy_store_write(store, write_ack, &a)) == SY_EFULL && sy_store_grow(store) == 1)
            ;
        sy_store_close(store);
    }
    sy_cli_target_close(&t);
    if (rc == SY_CLI_REMOTE_FAILED)
        return SY_EXIT_FAIL;
    if (rc == 0)
        printf("alert %llu acknowledged (no more notifications; it resolves itself when its cause goes away)\n",
               (unsigned long long)a.id);
    else if (rc == SY_ENOTFOUND)
        fprintf(stderr, "switchyard: no alert %llu (see switchyard alerts --all)\n", (unsigned long long)a.id);
    else if (rc == SY_EINVAL)
        fprintf(stderr, "switchyard: alert %llu is resolved already\n", (unsigned long long)a.id);
    else
        fprintf(stderr, "switchyard: %s\n", sy_strerror(rc));
    return rc == 0 ? SY_EXIT_OK : SY_EXIT_FAIL;
}

int sy_cli_alerts(sy_cli_t *cli)
{
    sy_config_t conf;
    int rc;
    if (cli->num_args > 0 && strcmp(cli->args[0], "ack") != 0) {
        fprintf(stderr, "switchyard: unknown command \"alerts %s\" (see switchyard alerts --help)\n", cli->args[0]);
        return SY_EXIT_USAGE;
    }
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    rc = cli->num_args > 0 ? ack(cli, &conf) : list(cli, &conf);
    sy_config_dispose(&conf);
    return rc;
}
