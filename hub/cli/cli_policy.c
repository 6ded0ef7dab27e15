/* `switchyard policy check|show [PATH]`. */
#include <stdio.h>
#include <string.h>

#include "cli_policy.h"
#include "policy.h"

#define DEFAULT_POLICY_PATH "policies"

int sy_cli_policy(sy_cli_t *cli, const char *verb)
{
    sy_policy_t *policy = NULL;
    sy_error_t err = {0};
    char msg[900];

    if (verb == NULL || (strcmp(verb, "check") != 0 && strcmp(verb, "show") != 0)) {
        fprintf(stderr, "switchyard: unknown command \"policy %s\" (check or show)\n", verb != NULL ? verb : "");
        return SY_EXIT_USAGE;
    }
    if (cli->num_args > 1) {
        fprintf(stderr, "switchyard: usage: switchyard policy %s [PATH]\n", verb);
        return SY_EXIT_USAGE;
    }
    const char *path = cli->num_args == 1 ? cli->args[0] : DEFAULT_POLICY_PATH;
    int rc = sy_policy_load(&policy, path, &err);
    if (rc != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        /* A policy that does not load is the operator's to fix, like a bad configuration. */
        return SY_EXIT_USAGE;
    }
    if (strcmp(verb, "check") == 0)
        printf("ok: %zu fields, %zu sources, hash %s\n", policy->num_fields, policy->num_sources, policy->hash);
    sy_policy_summary(policy, stdout);
    sy_policy_destroy(policy);
    return SY_EXIT_OK;
}
