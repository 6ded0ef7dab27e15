/*
 * `switchyard applier pause|resume`: stops or restarts applying logged events to the golden records in the running
 * hub (POST /admin/api/applier/pause|resume). Webhooks are still taken and logged meanwhile; the applier catches up
 * from its cursor once resumed. Only a running hub has an applier: without one there is nothing to pause.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_remote.h"
#include "cli_target.h"

int sy_cli_applier(sy_cli_t *cli, const char *verb)
{
    sy_config_t conf;
    sy_cli_target_t target = {.lock_fd = -1};
    char path[64], what[32];
    long status = 0;
    json_t *answer = NULL;
    int rc;

    if (strcmp(verb, "pause") != 0 && strcmp(verb, "resume") != 0) {
        fprintf(stderr, "usage: switchyard applier pause|resume\n");
        return SY_EXIT_USAGE;
    }
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    snprintf(what, sizeof(what), "applier %s", verb);
    if ((rc = sy_cli_target_open(cli, &conf, what, &target)) != SY_EXIT_OK)
        goto Exit;
    rc = SY_EXIT_FAIL;
    if (!target.remote) {
        fprintf(stderr, "switchyard: no hub runs on %s: the applier runs inside `switchyard serve`\n", conf.data_dir);
        goto Exit;
    }
    snprintf(path, sizeof(path), "/admin/api/applier/%s", verb);
    if (sy_cli_remote_call(&target, "POST", path, NULL, &status, &answer) != 0)
        goto Exit;
    if (status != 200) {
        fprintf(stderr, "switchyard: %s\n", sy_cli_remote_message(answer));
        goto Exit;
    }
    printf("applier %s\n", json_is_true(json_object_get(answer, "paused"))
                               ? "paused: webhooks are logged, not applied, until `switchyard applier resume`"
                               : "running: it catches up from its cursor");
    rc = SY_EXIT_OK;
Exit:
    json_decref(answer);
    sy_cli_target_close(&target);
    sy_config_dispose(&conf);
    return rc;
}
