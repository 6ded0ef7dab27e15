/*
 * switchyard: the webhook hub daemon and its command-line tools, one binary with subcommands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster.h"
#include "cli_policy.h"
#include "log.h"
#include "server.h"


static int parse_args(int argc, char **argv, int first, sy_cli_t *cli)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {{"--config", offsetof(sy_cli_t, config_path)},
                  {"--data-dir", offsetof(sy_cli_t, ov.data_dir)},
                  {"--listen", offsetof(sy_cli_t, ov.listen)},
                  {"--admin-listen", offsetof(sy_cli_t, ov.admin_listen)},
                  {"--url", offsetof(sy_cli_t, url)},
                  {"--secret-env", offsetof(sy_cli_t, secret_env)},
                  {"--since", offsetof(sy_cli_t, since)},
                  {"--until", offsetof(sy_cli_t, until)},
                  {"--from-seq", offsetof(sy_cli_t, from_seq)},
                  {"--to-seq", offsetof(sy_cli_t, to_seq)},
                  {"--source", offsetof(sy_cli_t, source)},
                  {"--type", offsetof(sy_cli_t, type)},
                  {"--mode", offsetof(sy_cli_t, mode)},
                  {"--spoke", offsetof(sy_cli_t, spoke)},
                  {"--format", offsetof(sy_cli_t, format)},
                  {"--older-than", offsetof(sy_cli_t, older_than)},
                  {"--archive", offsetof(sy_cli_t, archive)},
                  {"--cacert", offsetof(sy_cli_t, cacert)}};
    for (int i = first; i < argc; ++i) {
        const char *a = argv[i];
        size_t k;
        for (k = 0; k != SY_ARRAY_SIZE(valued); ++k)
            if (strcmp(a, valued[k].name) == 0)
                break;
        if (k != SY_ARRAY_SIZE(valued)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchyard: %s needs a value\n", a);
                return SY_EXIT_USAGE;
            }
            *(const char **)((char *)cli + valued[k].offset) = argv[++i];
        } else if (strcmp(a, "-n") == 0) {
            char *end;
            if (i + 1 >= argc || (cli->count = strtol(argv[++i], &end, 10)) < 0 || *end != '\0') {
                fprintf(stderr, "switchyard: -n needs a whole number\n");
                return SY_EXIT_USAGE;
            }
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) {
            cli->follow = 1;
        } else if (strcmp(a, "--json") == 0) {
            cli->json = 1;
        } else if (strcmp(a, "--raw") == 0) {
            cli->raw = 1;
        } else if (strcmp(a, "--all") == 0) {
            cli->all = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            cli->dry_run = 1;
        } else if (strcmp(a, "--policy-mismatch-ok") == 0) {
            cli->policy_mismatch_ok = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "switchyard: unknown option %s (see switchyard help)\n", a);
            return SY_EXIT_USAGE;
        } else if (cli->num_args == SY_CLI_MAX_ARGS) {
            fprintf(stderr, "switchyard: too many arguments\n");
            return SY_EXIT_USAGE;
        } else {
            cli->args[cli->num_args++] = a;
        }
    }
    return SY_EXIT_OK;
}

int sy_cli_load_config(const sy_cli_t *cli, sy_config_t *conf)
{
    sy_error_t err = {0};
    char msg[900];
    int rc;
    const char *path = cli->config_path != NULL ? cli->config_path : getenv("SWITCHYARD_CONFIG");

    if (path != NULL && *path != '\0')
        rc = sy_config_load(conf, path, &cli->ov, &err);
    else
        rc = sy_config_load_text(conf, "(built-in) deploy/switchyard.example.yaml", (const char *)sy_embedded_config,
                                 sy_embedded_config_len, "deploy", &cli->ov, &err);
    if (rc != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        sy_config_dispose(conf);
    }
    return rc;
}

static void warn_demo_secrets(const sy_config_t *conf)
{
    for (size_t i = 0; i != conf->num_sources; ++i)
        if (conf->sources[i].demo_env != NULL)
            sy_log(SY_LOG_WARN, "source \"%s\" uses its LOCAL DEMO secret because %s is not set: fine for a try-out, "
                                "never for real webhooks", conf->sources[i].name, conf->sources[i].demo_env);
    if (conf->admin_demo_env != NULL)
        sy_log(SY_LOG_WARN, "the admin API uses its LOCAL DEMO token because %s is not set", conf->admin_demo_env);
}

static int cmd_serve(sy_cli_t *cli)
{
    sy_config_t conf;
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    warn_demo_secrets(&conf);
    int rc = sy_server_run(&conf);
    sy_config_dispose(&conf);
    return rc;
}

static int cmd_config_check(sy_cli_t *cli)
{
    sy_config_t conf;
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    printf("ok: %s\n  data_dir %s (map %llu MiB, up to %llu MiB)\n  ingress  http://%s/hooks/{source}, %u threads, "
           "bodies up to %llu bytes\n  admin    http://%s\n",
           conf.path, conf.data_dir, (unsigned long long)(conf.map_size >> 20),
           (unsigned long long)(conf.map_size_max >> 20), conf.ingress_listen, conf.ingress_threads,
           (unsigned long long)conf.max_body, conf.admin_listen);
    for (size_t i = 0; i != conf.num_sources; ++i) {
        const sy_source_conf_t *s = &conf.sources[i];
        printf("  source   %-10s connector %-8s %zu secret(s)%s, tolerance %llds, signature %s\n", s->name,
               s->connector->name, s->verify.num_secrets, s->demo_env != NULL ? " (LOCAL DEMO)" : "",
               (long long)(s->verify.tolerance_ms / 1000),
               s->connector->scheme != NULL ? s->connector->scheme(&s->verify) : s->connector->name);
    }
    sy_config_dispose(&conf);
    return SY_EXIT_OK;
}

/* `cluster status`: asks NATS, with the config's cluster section (no running hub needed). */
static int cmd_cluster_status(const sy_cli_t *cli)
{
    sy_config_t conf;
    int rc = sy_cli_load_config(cli, &conf);
    if (rc != SY_EXIT_OK)
        return rc;
    if (conf.cluster == NULL) {
        fprintf(stderr, "switchyard: the config has no cluster section: this is a single hub\n");
        sy_config_dispose(&conf);
        return SY_EXIT_USAGE;
    }
    rc = sy_cluster_status_print(conf.cluster, cli->json, stdout) == 0 ? SY_EXIT_OK : 1;
    sy_config_dispose(&conf);
    return rc;
}

int main(int argc, char **argv)
{
    sy_cli_t cli = {.count = -1};
    int first = 2;
    const char *verb = NULL;

    if (argc < 2) { /* a command is needed: say which there are, as a usage error */
        sy_cli_usage(stderr);
        return SY_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2) /* switchyard help COMMAND [VERB] */
            return sy_cli_usage_of(stdout, argv[2], argc > 3 ? argv[3] : NULL);
        sy_cli_usage(stdout);
        return SY_EXIT_OK;
    }
    if (strcmp(cmd, "log") == 0 || strcmp(cmd, "config") == 0 || strcmp(cmd, "records") == 0 ||
        strcmp(cmd, "queue") == 0 || strcmp(cmd, "policy") == 0 || strcmp(cmd, "dead") == 0 ||
        strcmp(cmd, "export") == 0 || strcmp(cmd, "cluster") == 0 || strcmp(cmd, "applier") == 0) {
        if (argc < 3) {
            fprintf(stderr, "switchyard: %s needs a verb\n\n", cmd);
            sy_cli_usage_of(stderr, cmd, NULL);
            return SY_EXIT_USAGE;
        }
        verb = argv[2];
        first = 3;
        if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
            return sy_cli_usage_of(stdout, cmd, NULL);
    }
    /* COMMAND [VERB] ... --help anywhere: that command's usage and an example, nothing run. */
    for (int i = first; i < argc; ++i)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            int urc = sy_cli_usage_of(stdout, cmd, verb);
            if (urc != SY_EXIT_OK)
                fprintf(stderr, "switchyard: unknown command \"%s\" (see switchyard help)\n", cmd);
            return urc;
        }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("switchyard %s (H2O %s)\n", SY_VERSION, H2O_VERSION);
        return SY_EXIT_OK;
    }
    int rc = parse_args(argc, argv, first, &cli);
    if (rc != SY_EXIT_OK)
        return rc;
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&cli);
    if (strcmp(cmd, "config") == 0 && strcmp(verb, "check") == 0)
        return cmd_config_check(&cli);
    if (strcmp(cmd, "log") == 0)
        return sy_cli_log(&cli, verb);
    if (strcmp(cmd, "trigger") == 0)
        return sy_cli_trigger(&cli);
    if (strcmp(cmd, "reconcile") == 0)
        return sy_cli_reconcile(&cli);
    if (strcmp(cmd, "applier") == 0)
        return sy_cli_applier(&cli, verb);
    if (strcmp(cmd, "policy") == 0) {
        rc = sy_cli_policy(&cli, verb);
        if (rc == SY_EXIT_OK && strcmp(verb, "check") == 0)
            sy_cli_drift_policy_check(&cli); /* warnings only */
        return rc;
    }
    if (strcmp(cmd, "replay") == 0)
        return sy_cli_replay(&cli);
    if (strcmp(cmd, "map") == 0)
        return sy_cli_map(&cli);
    if (strcmp(cmd, "export") == 0)
        return sy_cli_export(&cli, verb);
    if (strcmp(cmd, "alerts") == 0)
        return sy_cli_alerts(&cli);
    if (strcmp(cmd, "drift") == 0)
        return sy_cli_drift(&cli);
    if (strcmp(cmd, "records") == 0 || strcmp(cmd, "queue") == 0 || strcmp(cmd, "health") == 0 ||
        strcmp(cmd, "dead") == 0)
        return sy_cli_records(&cli, cmd, verb);
    if (strcmp(cmd, "cluster") == 0 && strcmp(verb, "status") == 0)
        return cmd_cluster_status(&cli);
    fprintf(stderr, "switchyard: unknown command \"%s%s%s\"\n\n", cmd, verb != NULL ? " " : "", verb != NULL ? verb : "");
    if (sy_cli_usage_of(stderr, cmd, NULL) != SY_EXIT_OK) /* a known command with an unknown verb: its verbs */
        sy_cli_usage(stderr);
    return SY_EXIT_USAGE;
}
