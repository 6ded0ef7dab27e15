#include "cli_target.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster_config.h"
#include "datadir.h"
#include "policy_stamp.h"

#define HOLDER_WAIT_TRIES 40 /* x 25 ms: a holder writes its pid right after locking */

/* The write commands that change a node's records, outbox or dead letters (not log compaction, applier pause, ...). */
static int changes_records(const char *what)
{
    return strncmp(what, "records ", 8) == 0 || strncmp(what, "queue ", 6) == 0 || strncmp(what, "dead ", 5) == 0 ||
           strcmp(what, "replay") == 0;
}

int sy_cli_target_open(const sy_cli_t *cli, const sy_config_t *conf, const char *what, sy_cli_target_t *t)
{
    sy_datadir_holder_t h;
    sy_error_t err = {0};
    char msg[900];

    memset(t, 0, sizeof(*t));
    t->lock_fd = -1;
    t->config = conf->path;
    /* Not a data dir (no log): opening the store refuses it, as it always did; leave no lock file in it. */
    char log[600];
    struct stat st;
    snprintf(log, sizeof(log), "%s/data.mdb", conf->data_dir);
    if (stat(log, &st) != 0)
        return SY_EXIT_OK;
    for (int tries = 0;; ++tries) {
        int rc = sy_datadir_lock(conf->data_dir, 0, what, NULL, &t->lock_fd, &h, &err);
        if (rc == 0 && conf->cluster != NULL && changes_records(what)) {
            /* The stream's log is every node's; records, outbox and dead letters must stay what the stream made them
             * (admin writes go to the lease holder: admin_api.c). */
            fprintf(stderr,
                    "switchyard: %s is the data dir of cluster node %s and no hub runs on it: %s would change this "
                    "node's records or outbox alone; start the hub and send it to the lease holder (switchyard "
                    "cluster status names it)\n",
                    conf->data_dir, conf->cluster->node, what);
            sy_datadir_unlock(t->lock_fd);
            t->lock_fd = -1;
            return SY_EXIT_FAIL;
        }
        if (rc == 0)
            return SY_EXIT_OK; /* no hub: we write, holding the lock */
        if (rc == SY_ENOTFOUND)
            return SY_EXIT_OK; /* no data dir: opening the store says so, as it always did */
        if (rc == SY_EINVAL && h.pid == 0 && tries != HOLDER_WAIT_TRIES) {
            usleep(25000);
            continue;
        }
        if (rc != SY_EINVAL || (h.what[0] != '\0' && strcmp(h.what, "serve") != 0)) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "switchyard: %s\n", msg);
            return SY_EXIT_FAIL;
        }
        break;
    }
    /* The lock is held, so its holder is alive; but a pid from another pid namespace (a container) means nothing
     * here: say so rather than talk to whatever answers. */
    if (h.pid != 0 && kill((pid_t)h.pid, 0) != 0 && errno == ESRCH) {
        fprintf(stderr,
                "switchyard: %s is locked by a hub whose pid %ld is not visible here (another container?); run "
                "this command where the hub runs, or stop it\n",
                conf->data_dir, h.pid);
        return SY_EXIT_FAIL;
    }
    t->remote = 1;
    t->hub_pid = h.pid;
    if (h.admin_url[0] != '\0')
        snprintf(t->url, sizeof(t->url), "%s", h.admin_url);
    else
        sy_config_admin_url(conf, t->url, sizeof(t->url)); /* an older hub: where our config says it listens */
    t->token = conf->admin_token;
    t->cacert = cli->cacert;
    fprintf(stderr, "switchyard: via the running hub (pid %ld) at %s\n", t->hub_pid, t->url);
    return SY_EXIT_OK;
}

void sy_cli_target_close(sy_cli_target_t *t)
{
    sy_datadir_unlock(t->lock_fd);
    t->lock_fd = -1;
}

int sy_cli_policy_check(const sy_cli_t *cli, sy_store_t *store, const sy_policy_t *p, const char *path)
{
    char stored[SY_POLICY_HASH_LEN + 1] = "";
    int rc = sy_policy_stamp_check(store, p, stored, sizeof(stored));
    if (rc == 0)
        return SY_EXIT_OK;
    if (rc != SY_EINVAL) {
        fprintf(stderr, "switchyard: cannot read the policy hash in the data dir: %s\n", sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    if (cli->policy_mismatch_ok) {
        fprintf(stderr, "switchyard: applying %s (policy hash %s), not the hub's policy (hash %s): "
                        "--policy-mismatch-ok\n",
                path, p->hash, stored);
        return SY_EXIT_OK;
    }
    fprintf(stderr,
            "switchyard: %s has policy hash %s, but the hub runs (or last ran) policy hash %s on this data dir: "
            "one policy is in force per data dir. Use the hub's configuration, or start (or reload) the hub with "
            "this policy, or pass --policy-mismatch-ok to apply it anyway\n",
            path, p->hash, stored);
    return SY_EXIT_USAGE;
}
