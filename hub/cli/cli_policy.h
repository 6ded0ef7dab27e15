/* `switchyard policy check|show [PATH]`: load a field-ownership policy, report mistakes or summarise it. */
#ifndef SY_CLI_POLICY_H
#define SY_CLI_POLICY_H

#include "cli.h"

/*
 * verb is "check" or "show"; cli->args[0] is the policy file or directory (default "policies").
 * check: prints "ok: N fields, M sources, hash H" and the summary; show: the summary only.
 * A policy error goes to stderr as file:line:column: message. Returns SY_EXIT_OK, or SY_EXIT_USAGE for bad usage
 * and for a policy that does not load (missing path, YAML or static-check error), like a bad configuration.
 */
int sy_cli_policy(sy_cli_t *cli, const char *verb);

#endif
