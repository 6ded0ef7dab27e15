/*
 * Where a CLI write command (replay, records merge/split, queue retry/drop, dead retry, log compact) runs
 * (cli_target.c): through the running hub's admin API when a hub holds the data dir's lock (datadir.h), otherwise
 * directly on the data dir, holding that lock while it writes so that a `serve` started meanwhile refuses. Never
 * directly while a hub runs: when its admin API cannot be reached the command fails. On a cluster node's data dir
 * (a `cluster:` section) the commands that change records, outbox or dead letters never run directly: they are
 * refused with the reason (the stream's log must stay what every node's records are made of).
 */
#ifndef SY_CLI_TARGET_H
#define SY_CLI_TARGET_H

#include "cli.h"
#include "policy.h"
#include "store.h"

typedef struct st_sy_cli_target_t {
    int remote;         /* 1: send the change to the hub (cli_remote.h) */
    long hub_pid;       /* remote: the hub's pid */
    char url[300];      /* remote: the admin API's base URL (from the lock file, else from the config) */
    const char *token;  /* remote: the admin token of the CLI's config (borrowed) */
    const char *cacert; /* remote: --cacert, for an https admin listener with a private CA (borrowed) */
    const char *config; /* the config's path, for messages (borrowed) */
    int lock_fd;        /* direct: the data-dir lock we hold, -1 when none (no such data dir) */
} sy_cli_target_t;

/*
 * Decides where the command what ("records merge") runs, for the data dir of conf. Remote: says so on stderr
 * ("via the running hub (pid N)"). Returns SY_EXIT_OK, or an exit code after printing why (another CLI command is
 * writing; a lock error). conf must outlive t.
 */
int sy_cli_target_open(const sy_cli_t *cli, const sy_config_t *conf, const char *what, sy_cli_target_t *t);
/* Releases the lock (direct). */
void sy_cli_target_close(sy_cli_target_t *t);

/*
 * Direct only: p (loaded from path) must be the policy the hub runs or last ran on this data dir (policy_stamp.h),
 * unless --policy-mismatch-ok. Returns SY_EXIT_OK, or SY_EXIT_USAGE after printing both hashes and what to do.
 */
int sy_cli_policy_check(const sy_cli_t *cli, sy_store_t *store, const sy_policy_t *p, const char *path);

#endif
