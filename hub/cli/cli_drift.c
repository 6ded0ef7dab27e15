/*
 * `switchyard drift [--json]`: the payload shapes the applier learnt per source and event type and the drifts it
 * saw (drift.h). Reads the data dir in a read transaction, also while a hub runs (its counts are written at most
 * once a second per type, so they may trail the log by that much).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "drift.h"
#include "policy.h"
#include "store.h"

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void print_type(json_t *t)
{
    char first[32], last[32];
    const char *path;
    json_t *e;
    sy_cli_format_time(num(t, "first_seen_ms"), first, sizeof(first));
    sy_cli_format_time(num(t, "last_seen_ms"), last, sizeof(last));
    printf("  %-34s %8lld events  first %s (seq %lld)  last %s (seq %lld)\n", sy_cli_str(t, "type"), num(t, "count"), first,
           num(t, "first_seq"), last, num(t, "last_seq"));
    json_object_foreach(json_object_get(t, "paths"), path, e)
    {
        char types[160] = "";
        size_t o = 0;
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(e, "types"), name, v)
        {
            if (o < sizeof(types)) {
                int w = snprintf(types + o, sizeof(types) - o, "%s%s", o != 0 ? "/" : "", name);
                o += w > 0 ? (size_t)w : 0;
            }
        }
        printf("    %-44s %s%s\n", path, types[0] != '\0' ? types : "never seen",
               num(e, "absent") != 0 ? ", sometimes absent" : "");
    }
}

static void print_source(json_t *s, json_t *types)
{
    char first[32];
    const char *v;
    json_t *seq, *t, *c;
    size_t i;
    sy_cli_format_time(num(s, "first_seen_ms"), first, sizeof(first));
    printf("%s: %lld events since %s", sy_cli_str(s, "source"), num(s, "events"), first);
    json_object_foreach(json_object_get(s, "api_versions"), v, seq)
    printf(", api_version %s (from seq %lld)", v, (long long)json_integer_value(seq));
    printf("\n");
    json_array_foreach(types, i, t)
    {
        if (strcmp(sy_cli_str(t, "source"), sy_cli_str(s, "source")) == 0)
            print_type(t);
    }
    json_t *changes = json_object_get(s, "changes");
    if (json_array_size(changes) == 0)
        return;
    printf("  changes (oldest first):\n");
    json_array_foreach(changes, i, c)
    {
        char at[32];
        sy_cli_format_time(num(c, "at_ms"), at, sizeof(at));
        const char *kind = sy_cli_str(c, "kind");
        if (strcmp(kind, "new_type") == 0)
            printf("    %s seq %-8lld new event type %s (policy fields: %s)\n", at, num(c, "seq"), sy_cli_str(c, "type"),
                   sy_cli_str(c, "fields")[0] != '\0' ? sy_cli_str(c, "fields") : "none mapped");
        else if (strcmp(kind, "new_api_version") == 0)
            printf("    %s seq %-8lld new api_version %s (before: %s)\n", at, num(c, "seq"), sy_cli_str(c, "seen"),
                   sy_cli_str(c, "expected"));
        else
            printf("    %s seq %-8lld %s %s %s: expected %s, seen %s (policy fields: %s)\n", at, num(c, "seq"),
                   sy_cli_str(c, "type"), sy_cli_str(c, "path"), strcmp(kind, "disappeared") == 0 ? "disappeared" : "changed type",
                   sy_cli_str(c, "expected"), sy_cli_str(c, "seen"), sy_cli_str(c, "fields")[0] != '\0' ? sy_cli_str(c, "fields") : "none");
    }
}

/* Whether any learnt type of source that obj maps has seen path with a type; *types: how many such types. */
static int path_seen(const sy_policy_t *p, size_t si, const sy_policy_object_t *obj, json_t *types,
                     const char *path, size_t *num)
{
    size_t i;
    json_t *t;
    int seen = 0;
    *num = 0;
    json_array_foreach(types, i, t)
    {
        const char *src = json_string_value(json_object_get(t, "source")), *type = json_string_value(json_object_get(t, "type"));
        const sy_policy_object_t *objs[8];
        if (src == NULL || type == NULL || strcmp(src, p->sources[si].name) != 0)
            continue;
        size_t n = sy_policy_objects_for(p, si, type, objs, 8), k = 0;
        while (k != n && objs[k] != obj)
            ++k;
        if (k == n)
            continue;
        ++*num;
        json_t *e = json_object_get(json_object_get(t, "paths"), path);
        if (json_object_size(json_object_get(e, "types")) != 0)
            seen = 1;
    }
    return seen;
}

/*
 * policy check with a data dir (--config, $SWITCHYARD_CONFIG or --data-dir): warns about mapped paths that no
 * learnt event of their types ever carried (a typo in a path, or a field the tool does not send). Never fails.
 */
static void warn_unseen(const sy_cli_t *cli, const sy_policy_t *p)
{
    const char *env = getenv("SWITCHYARD_CONFIG");
    sy_config_t conf;
    sy_store_t *store = NULL;
    sy_error_t err = {0};
    sy_txn_t *txn;
    json_t *all = NULL;
    if (cli->config_path == NULL && cli->ov.data_dir == NULL && (env == NULL || *env == '\0'))
        return;
    if (sy_cli_load_config(cli, &conf) != 0)
        return;
    if (sy_store_open(&store, conf.data_dir, conf.map_size, conf.map_size_max, SY_STORE_READONLY, &err) != 0) {
        printf("note: no data dir at %s: mapped paths not checked against the events seen\n", conf.data_dir);
        sy_config_dispose(&conf);
        return;
    }
    if (sy_txn_begin(store, 0, &txn) == 0) {
        all = sy_drift_list(txn);
        sy_txn_abort(txn);
    }
    sy_store_close(store);
    json_t *types = json_object_get(all, "types");
    size_t warned = 0;
    for (size_t si = 0; si != p->num_sources; ++si) {
        for (size_t oi = 0; oi != p->sources[si].num_objects; ++oi) {
            const sy_policy_object_t *o = &p->sources[si].objects[oi];
            for (size_t k = 0; k != o->num_fields; ++k) {
                size_t num;
                const char *path = o->fields[k].path.text;
                if (path_seen(p, si, o, types, path, &num) || num == 0)
                    continue; /* seen, or no event of the object's types learnt yet: nothing to say */
                printf("warning: %s:%u: %s %s (field %s) was never in the %zu event type(s) of it seen in %s\n",
                       o->pos.file, o->pos.line, p->sources[si].name, path, p->fields[o->fields[k].field].name, num,
                       conf.data_dir);
                ++warned;
            }
        }
    }
    if (all == NULL)
        printf("note: cannot read the learnt shapes in %s (storage error): mapped paths not checked\n", conf.data_dir);
    else if (json_array_size(types) == 0)
        printf("note: no event learnt in %s yet: mapped paths not checked against the events seen\n", conf.data_dir);
    else if (warned == 0)
        printf("every mapped path was seen in the learnt events of %s (switchyard drift)\n", conf.data_dir);
    json_decref(all);
    sy_config_dispose(&conf);
}

void sy_cli_drift_policy_check(const sy_cli_t *cli)
{
    sy_policy_t *p;
    sy_error_t err = {0};
    if (sy_policy_load(&p, cli->num_args == 1 ? cli->args[0] : "policies", &err) != 0)
        return; /* sy_cli_policy said why */
    warn_unseen(cli, p);
    sy_policy_destroy(p);
}

int sy_cli_drift(sy_cli_t *cli)
{
    sy_config_t conf;
    sy_store_t *store;
    sy_error_t err = {0};
    sy_txn_t *txn;
    char msg[900];
    if (cli->num_args != 0) {
        fprintf(stderr, "switchyard: usage: switchyard drift [--json]\n");
        return SY_EXIT_USAGE;
    }
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    if (sy_store_open(&store, conf.data_dir, conf.map_size, conf.map_size_max, SY_STORE_READONLY, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        sy_config_dispose(&conf);
        return SY_EXIT_FAIL;
    }
    json_t *all = NULL;
    if (sy_txn_begin(store, 0, &txn) == 0) {
        all = sy_drift_list(txn);
        sy_txn_abort(txn);
    }
    sy_store_close(store);
    sy_config_dispose(&conf);
    if (all == NULL) {
        fprintf(stderr, "switchyard: cannot read the learnt shapes (storage error)\n");
        return SY_EXIT_FAIL;
    }
    json_t *sources = json_object_get(all, "sources"), *s;
    size_t i;
    if (cli->json) {
        char *line = json_dumps(all, JSON_COMPACT);
        if (line != NULL)
            puts(line);
        free(line);
    } else if (json_array_size(sources) == 0) {
        sy_cli_none(cli, "learnt shapes (no event of a policy source applied yet)");
    } else {
        json_array_foreach(sources, i, s)
        print_source(s, json_object_get(all, "types"));
    }
    json_decref(all);
    return SY_EXIT_OK;
}
