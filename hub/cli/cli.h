/* Command-line front end: option parsing shared by every subcommand, and the subcommands themselves. */
#ifndef SY_CLI_H
#define SY_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "config.h"

#define SY_CLI_MAX_ARGS 16

typedef struct st_sy_cli_t {
    const char *config_path; /* --config; NULL = $SWITCHYARD_CONFIG or the embedded example */
    sy_config_overrides_t ov;
    const char *url;        /* --url */
    const char *secret_env; /* --secret-env */
    long count;             /* -n */
    int follow;             /* -f / --follow */
    int json;               /* --json */
    int raw;                /* --raw */
    int all;                /* --all */
    int dry_run;            /* --dry-run */
    int policy_mismatch_ok; /* --policy-mismatch-ok: apply the configured policy though the hub runs another */
    const char *since, *until;     /* --since / --until: ISO 8601 UTC times */
    const char *from_seq, *to_seq; /* --from-seq / --to-seq */
    const char *source, *type;     /* --source NAME / --type PATTERN */
    const char *mode, *spoke;      /* --mode reapply|repush / --spoke NAME */
    const char *format;            /* --format csv|jsonl|mermaid|dot */
    const char *older_than;        /* --older-than DURATION (log compact) */
    const char *archive;           /* --archive FILE.jsonl (log compact) */
    const char *cacert;            /* --cacert PEM (trigger against a TLS listener with a private CA) */
    const char *args[SY_CLI_MAX_ARGS]; /* positional arguments after the subcommand words */
    int num_args;
} sy_cli_t;

/* Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
#define SY_EXIT_OK 0
#define SY_EXIT_FAIL 1
#define SY_EXIT_USAGE 2

/* Loads the configuration named by cli (or the embedded default); prints file:line:column on error. */
int sy_cli_load_config(const sy_cli_t *cli, sy_config_t *conf);

/* Usage (cli_usage.c): every command; or one command's (every verb when verb is NULL or unknown) with an example
 * and the common options. sy_cli_usage_of returns SY_EXIT_OK, or SY_EXIT_USAGE for an unknown command. */
void sy_cli_usage(FILE *out);
/* An empty list, said the same way by every listing command: "no <what>" on stdout (nothing with --json, where an
 * empty list is no line at all). */
void sy_cli_none(const sy_cli_t *cli, const char *what);
int sy_cli_usage_of(FILE *out, const char *cmd, const char *verb);

int sy_cli_log(sy_cli_t *cli, const char *verb);
int sy_cli_trigger(sy_cli_t *cli);
/* records get|list|merge|split, queue ls, health (cli_records.c). */
int sy_cli_records(sy_cli_t *cli, const char *group, const char *verb);

/* replay and export (cli_ops.c). */
int sy_cli_replay(sy_cli_t *cli);
/* reconcile (cli_reconcile.c). */
int sy_cli_reconcile(sy_cli_t *cli);
/* applier pause|resume (cli_applier.c). */
int sy_cli_applier(sy_cli_t *cli, const char *verb);
int sy_cli_export(sy_cli_t *cli, const char *what);
int sy_cli_map(sy_cli_t *cli);
/* alerts [--all] [--json], alerts ack ID (cli_alerts.c). */
int sy_cli_alerts(sy_cli_t *cli);
/* drift [--json] (cli_drift.c). */
int sy_cli_drift(sy_cli_t *cli);
/* After `policy check [PATH]` passed, with a data dir (--config, $SWITCHYARD_CONFIG or --data-dir): a warning for
 * each mapped path that no learnt event of its types carried. Never fails. */
void sy_cli_drift_policy_check(const sy_cli_t *cli);


/* Text helpers of the listings (cli_text.c): ms as "2026-12-07T01:02:03Z" (UTC); o's string member key, "" when
 * absent (borrowed from o). */
void sy_cli_format_time(int64_t ms, char *out, size_t len);
const char *sy_cli_str(json_t *o, const char *key);

/* The example configuration compiled into the binary (generated from deploy/switchyard.example.yaml). */
extern const unsigned char sy_embedded_config[];
extern const size_t sy_embedded_config_len;

#endif
