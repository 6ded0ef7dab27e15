/*
 * `switchyard records get|list|merge|split`, `queue ls|retry|drop`, `dead ls|retry` and `health`: golden records,
 * queued pushes and the data-health figures. Reads come straight from the LMDB file (also while `serve` runs);
 * changes go through the running hub's admin API when there is one, else directly to the data dir under its lock
 * (cli_target.h), through the same code (change.h) and with the same output either way.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "change.h"
#include "cli.h"
#include "cli_remote.h"
#include "codec.h"
#include "ops.h"
#include "records.h"
#include "store.h"

typedef struct st_session_t {
    sy_config_t conf;
    sy_cli_target_t target; /* write commands: where the change goes */
    sy_store_t *store;      /* NULL when the change goes to the hub */
    sy_policy_t *policy;
} session_t;

static void session_close(session_t *s)
{
    sy_policy_destroy(s->policy);
    sy_store_close(s->store);
    sy_cli_target_close(&s->target); /* after the store: nothing of ours writes once a serve may start */
    sy_config_dispose(&s->conf);
}

/*
 * Loads config; a write command (what != NULL) then finds out where it runs: through the hub, with nothing opened
 * here, or directly, under the data-dir lock. Opens the store (read-only unless what) and, when need_policy, the
 * configured policy, which must be the one in force when check_policy (it decides identities or health).
 */
static int session_open(sy_cli_t *cli, session_t *s, const char *what, int need_policy, int check_policy)
{
    sy_error_t err = {0};
    char msg[900];
    int rc;
    memset(s, 0, sizeof(*s));
    s->target.lock_fd = -1;
    if (sy_cli_load_config(cli, &s->conf) != 0)
        return SY_EXIT_USAGE;
    if (what != NULL) {
        if ((rc = sy_cli_target_open(cli, &s->conf, what, &s->target)) != SY_EXIT_OK) {
            session_close(s);
            return rc;
        }
        if (s->target.remote)
            return SY_EXIT_OK; /* the hub applies its own policy */
    }
    if (sy_store_open(&s->store, s->conf.data_dir, s->conf.map_size, s->conf.map_size_max,
                      what != NULL ? 0 : SY_STORE_READONLY, &err) != 0)
        goto Fail;
    if (need_policy) {
        if (s->conf.policy_path == NULL) {
            fprintf(stderr, "switchyard: %s names no policy (key \"policy\")\n", s->conf.path);
            session_close(s);
            return SY_EXIT_USAGE;
        }
        if (sy_policy_load(&s->policy, s->conf.policy_path, &err) != 0) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "%s\n", msg);
            session_close(s);
            return SY_EXIT_USAGE;
        }
        if (check_policy && (rc = sy_cli_policy_check(cli, s->store, s->policy, s->conf.policy_path)) != SY_EXIT_OK) {
            session_close(s);
            return rc;
        }
    }
    return SY_EXIT_OK;
Fail:
    sy_error_format(&err, msg, sizeof(msg));
    fprintf(stderr, "switchyard: %s\n", msg);
    session_close(s);
    return SY_EXIT_FAIL;
}

/* A change, here or in the hub: the same outcome, printed by the caller the same way. */
static int run_change(session_t *s, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    if (s->target.remote)
        return sy_cli_remote_change(&s->target, c, result, err, len);
    return sy_change_run(s->store, c, result, err, len);
}

static void print_json(json_t *doc, int pretty)
{
    char *s = json_dumps(doc, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s != NULL)
        puts(s);
    free(s);
}

static void print_record(json_t *rec)
{
    const char *name, *source;
    json_t *f, *ids, *id;
    size_t i;
    char when[32];
    sy_cli_format_time(json_integer_value(json_object_get(rec, "created_at_ms")), when, sizeof(when));
    printf("%s  (created %s)\n  tool objects:", json_string_value(json_object_get(rec, "id")), when);
    json_object_foreach(json_object_get(rec, "xrefs"), source, ids) json_array_foreach(ids, i, id)
        printf(" %s:%s", source, json_string_value(id));
    printf("\n\n  %-20s %-32s %-10s %-21s %8s  %s\n", "field", "value", "owner", "version", "seq", "policy");
    json_object_foreach(json_object_get(rec, "fields"), name, f)
    {
        sy_cli_format_time(json_integer_value(json_object_get(f, "version_ms")), when, sizeof(when));
        printf("  %-20s %-32s %-10s %-21s %8lld  %s\n", name, json_string_value(json_object_get(f, "value")),
               json_string_value(json_object_get(f, "source")), when,
               (long long)json_integer_value(json_object_get(f, "seq")),
               json_string_value(json_object_get(f, "policy")));
    }
    json_t *frozen = json_object_get(rec, "frozen");
    if (json_object_size(frozen) != 0) {
        printf("\n  frozen (reverts stopped):");
        json_object_foreach(frozen, source, ids) json_array_foreach(ids, i, id)
            printf(" %s.%s", source, json_string_value(id));
        printf("\n");
    }
}

static int cmd_get(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    int rc = SY_EXIT_FAIL;
    if (cli->num_args != 1) {
        fprintf(stderr, "usage: switchyard records get <cust_N | email | source:external_id> [--json]\n");
        return SY_EXIT_USAGE;
    }
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    char *id = sy_records_find(txn, s->policy, cli->args[0]);
    json_t *rec = id != NULL ? sy_records_load(txn, id) : NULL;
    if (rec == NULL) {
        fprintf(stderr, "switchyard: no golden record for \"%s\"\n", cli->args[0]);
    } else {
        if (cli->json)
            print_json(rec, 0);
        else
            print_record(rec);
        rc = SY_EXIT_OK;
    }
    json_decref(rec);
    free(id);
    sy_txn_abort(txn);
    return rc;
}

typedef struct st_list_ctx_t {
    int json;
    long left;
    unsigned long long shown; /* rows printed: an empty list says so in one line (sy_cli_none) */
} list_ctx_t;

static int on_record(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_ctx_t *c = arg;
    json_t *rec = sy_codec_doc_decode(val.base, val.len);
    if (rec != NULL && json_object_get(rec, "merged_into") == NULL) {
        if (c->json) {
            print_json(rec, 0);
        } else {
            const char *email = json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), "email"), "value"));
            const char *name = json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), "name"), "value"));
            printf("%-12s %-32s %s\n", json_string_value(json_object_get(rec, "id")), email != NULL ? email : "-",
                   name != NULL ? name : "-");
        }
        --c->left;
        ++c->shown;
    }
    json_decref(rec);
    return c->left == 0;
}

/* A listing cut short by a storage error must not end like a complete one: say so, exit 1. */
static int scan_result(const char *what, int rc)
{
    if (rc >= 0)
        return SY_EXIT_OK;
    fflush(stdout);
    fprintf(stderr, "switchyard: reading the %s failed: %s (the list above is incomplete)\n", what, sy_strerror(rc));
    return SY_EXIT_FAIL;
}

static int cmd_list(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    list_ctx_t c = {cli->json, cli->count > 0 ? cli->count : -1};
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    int rc = sy_txn_scan(txn, SY_DB_RECORDS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_record, &c);
    sy_txn_abort(txn);
    if (rc >= 0 && c.shown == 0)
        sy_cli_none(cli, "golden records");
    return scan_result("records", rc);
}

/* merge A B / split ID SOURCE:EXT: one write transaction each, logged in the audit DB. */
static int cmd_change(session_t *s, sy_cli_t *cli, int merge)
{
    char err[512] = "";
    json_t *r = NULL;
    if (cli->num_args != 2) {
        fprintf(stderr, merge ? "usage: switchyard records merge KEEP DROP\n"
                              : "usage: switchyard records split RECORD SOURCE:EXTERNAL_ID\n");
        return SY_EXIT_USAGE;
    }
    if (!merge && strchr(cli->args[1], ':') == NULL) {
        fprintf(stderr, "switchyard: name the tool object as SOURCE:EXTERNAL_ID, e.g. stripe:cus_123\n");
        return SY_EXIT_USAGE;
    }
    sy_change_t c = {.kind = merge ? SY_CHANGE_MERGE : SY_CHANGE_SPLIT,
                     .policy = s->policy,
                     .a = cli->args[0],
                     .b = cli->args[1],
                     .why = "admin"};
    int rc = run_change(s, &c, &r, err, sizeof(err));
    if (rc == SY_CLI_REMOTE_FAILED)
        return SY_EXIT_FAIL;
#define STR(k) json_string_value(json_object_get(r, k))
    if (rc == 0 && merge)
        printf("merged %s into %s (undo: switchyard records split %s SOURCE:ID for each object of %s)\n", STR("merged"),
               STR("kept"), STR("kept"), STR("merged"));
    else if (rc == 0)
        printf("split %s out of %s into %s (undo: switchyard records merge %s %s)\n", STR("object"), STR("record"),
               STR("new_record"), STR("record"), STR("new_record"));
    else
        fprintf(stderr, "switchyard: %s\n", err[0] != '\0' ? err : sy_strerror(rc));
#undef STR
    json_decref(r);
    return rc == 0 ? SY_EXIT_OK : SY_EXIT_FAIL;
}

static int on_push(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_ctx_t *c = arg;
    json_t *push = sy_codec_doc_decode(val.base, val.len);
    if (push == NULL)
        return 0;
    if (c->json) {
        print_json(push, 0);
    } else {
        char when[32];
        sy_cli_format_time(json_integer_value(json_object_get(push, "due_at_ms")), when, sizeof(when));
        char *fields = json_dumps(json_object_get(push, "fields"), JSON_COMPACT);
        printf("%-6s %-10s %-12s %-21s %2lld  %s\n", json_string_value(json_object_get(push, "id")),
               json_string_value(json_object_get(push, "spoke")), json_string_value(json_object_get(push, "record")),
               when, (long long)json_integer_value(json_object_get(push, "attempts")), fields != NULL ? fields : "");
        free(fields);
    }
    json_decref(push);
    return 0;
}

static int cmd_queue_ls(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    list_ctx_t c = {cli->json, -1};
    uint64_t n = 0;
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    sy_txn_count(txn, SY_DB_OUTBOX, &n);
    if (n == 0) {
        sy_txn_abort(txn);
        sy_cli_none(cli, "queued pushes");
        return SY_EXIT_OK;
    }
    if (!cli->json)
        printf("%llu queued push(es)\n%-6s %-10s %-12s %-21s %2s  %s\n", (unsigned long long)n, "id", "spoke",
               "record", "due", "tr", "fields");
    int rc = sy_txn_scan(txn, SY_DB_OUTBOX, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_push, &c);
    sy_txn_abort(txn);
    return scan_result("queue", rc);
}

/* --- queue retry/drop, dead ls/retry ------------------------------------------------------------------------ */

static int cmd_queue_change(session_t *s, sy_cli_t *cli, int drop)
{
    char err[512] = "";
    json_t *r = NULL;
    if (cli->num_args != 1) {
        fprintf(stderr, "usage: switchyard queue %s ID\n", drop ? "drop" : "retry");
        return SY_EXIT_USAGE;
    }
    sy_change_t c = {.kind = drop ? SY_CHANGE_QUEUE_DROP : SY_CHANGE_QUEUE_RETRY, .a = cli->args[0], .policy = s->policy};
    int rc = run_change(s, &c, &r, err, sizeof(err));
    int nothing_left = json_integer_value(json_object_get(r, "nothing_left")) != 0;
    int folded = json_integer_value(json_object_get(r, "folded")) != 0;
    json_decref(r);
    if (rc == SY_CLI_REMOTE_FAILED)
        return SY_EXIT_FAIL;
    if (rc == 0 && drop)
        printf("dropped push %s\n", cli->args[0]);
    else if (rc == 0 && nothing_left)
        printf("push %s had nothing left to send (no field of it has a golden value for its tool now): dropped\n",
               cli->args[0]);
    else if (rc == 0)
        printf("push %s is due now, with the record's current values%s\n", cli->args[0],
               folded ? " (folded into the push already queued for that tool and record)" : "");
    else if (rc == SY_ENOTFOUND)
        fprintf(stderr, "switchyard: no queued push %s (see switchyard queue ls)\n", cli->args[0]);
    else
        fprintf(stderr, "switchyard: %s\n", err[0] != '\0' ? err : sy_strerror(rc));
    return rc == 0 ? SY_EXIT_OK : SY_EXIT_FAIL;
}

static int on_dead(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_ctx_t *c = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc == NULL)
        return 0;
    if (c->json) {
        print_json(doc, 0);
    } else {
        json_t *resp = json_object_get(doc, "response");
        const char *body = json_string_value(json_object_get(resp, "body"));
        printf("%-6s %-10s %-12s %3lld  %s: %.80s\n", json_string_value(json_object_get(doc, "id")),
               json_string_value(json_object_get(doc, "spoke")), json_string_value(json_object_get(doc, "record")),
               (long long)json_integer_value(json_object_get(resp, "status")),
               json_string_value(json_object_get(doc, "reason")), body != NULL ? body : "");
    }
    json_decref(doc);
    return 0;
}

static int cmd_dead(session_t *s, sy_cli_t *cli, int retry)
{
    int rc;
    if (!retry) {
        list_ctx_t c = {cli->json, -1};
        sy_txn_t *txn;
        uint64_t n = 0;
        if (sy_txn_begin(s->store, 0, &txn) != 0)
            return SY_EXIT_FAIL;
        sy_txn_count(txn, SY_DB_DEAD, &n);
        if (n == 0) {
            sy_txn_abort(txn);
            sy_cli_none(cli, "dead letters");
            return SY_EXIT_OK;
        }
        if (!cli->json)
            printf("%llu dead letter(s)\n%-6s %-10s %-12s %3s  %s\n", (unsigned long long)n, "id", "spoke", "record",
                   "st", "reason: the tool's last answer");
        rc = sy_txn_scan(txn, SY_DB_DEAD, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_dead, &c);
        sy_txn_abort(txn);
        return scan_result("dead letters", rc);
    }
    if ((cli->num_args != 1) == !cli->all) {
        fprintf(stderr, "usage: switchyard dead retry ID | --all\n");
        return SY_EXIT_USAGE;
    }
    char err[512] = "";
    json_t *r = NULL;
    sy_change_t c = {.kind = SY_CHANGE_DEAD_RETRY, .a = cli->all ? NULL : cli->args[0], .policy = s->policy};
    rc = run_change(s, &c, &r, err, sizeof(err));
    json_int_t revived = json_integer_value(json_object_get(r, "count"));
    json_int_t folded = json_integer_value(json_object_get(r, "folded"));
    json_int_t nothing_left = json_integer_value(json_object_get(r, "nothing_left"));
    json_decref(r);
    if (rc == SY_CLI_REMOTE_FAILED)
        return SY_EXIT_FAIL;
    if (rc == SY_ENOTFOUND) {
        fprintf(stderr, "switchyard: no dead letter %s\n", cli->all ? "" : cli->args[0]);
        return SY_EXIT_FAIL;
    }
    if (rc != 0) {
        fprintf(stderr, "switchyard: %s\n", err[0] != '\0' ? err : sy_strerror(rc));
        return SY_EXIT_FAIL;
    }
    printf("%zu dead letter(s) queued again with the records' current values", (size_t)revived);
    if (folded != 0)
        printf(", %zu folded into pushes already queued", (size_t)folded);
    printf("\n");
    if (nothing_left != 0)
        printf("%zu dead letter(s) had nothing left to send (no field has a golden value for its tool now): kept\n",
               (size_t)nothing_left);
    return SY_EXIT_OK;
}

/* --- health ------------------------------------------------------------------------------------------------ */

static void print_list(json_t *report, const char *key, const char *label)
{
    size_t i;
    json_t *d;
    json_t *list = json_object_get(report, key);
    printf("%-20s %zu %s\n", key, json_array_size(list), label);
    json_array_foreach(list, i, d)
    {
        char *text = json_dumps(d, JSON_COMPACT);
        printf("  %s\n", text != NULL ? text : "");
        free(text);
    }
}

static int cmd_health(session_t *s, sy_cli_t *cli)
{
    sy_txn_t *txn;
    if (sy_txn_begin(s->store, 0, &txn) != 0)
        return SY_EXIT_FAIL;
    json_t *report = sy_health_report(txn, s->policy, &s->conf);
    sy_txn_abort(txn);
    if (report == NULL) {
        fprintf(stderr, "switchyard: cannot read the records\n");
        return SY_EXIT_FAIL;
    }
    if (cli->json) {
        print_json(report, 0);
    } else {
#define NUM(k) ((long long)json_integer_value(json_object_get(report, k)))
        printf("score                %.1f %% of records complete and connected (target %.0f %%)\n",
               json_real_value(json_object_get(report, "score")) * 100,
               json_real_value(json_object_get(report, "target")) * 100);
        printf("records              %lld (%lld complete, %lld connected to two tools or more)\n", NUM("records"),
               NUM("complete_records"), NUM("connected_records"));
        print_list(report, "duplicates", "(two objects of one tool on one customer)");
        print_list(report, "double_billing", "(two active subscriptions on one customer)");
        print_list(report, "merge_suggestions", "(same weak key, e.g. company name)");
        printf("unmatched_billing    %lld (billing data on a customer no CRM object is linked to)\n",
               NUM("unmatched_billing"));
        char *missing = json_dumps(json_object_get(report, "missing_fields"), JSON_COMPACT);
        printf("missing_fields       %s\n", missing != NULL ? missing : "{}");
        free(missing);
        printf("applier              cursor %lld, lag %lld; %lld queued push(es), %lld dead letter(s)\ncounters            ",
               (long long)json_integer_value(json_object_get(json_object_get(report, "applier"), "cursor")),
               (long long)json_integer_value(json_object_get(json_object_get(report, "applier"), "lag")),
               NUM("queued_pushes"), NUM("dead_letters"));
#undef NUM
        const char *name;
        json_t *n;
        json_object_foreach(json_object_get(report, "counters"), name, n)
            printf(" %s=%lld", name, (long long)json_integer_value(n));
        printf("\n");
    }
    json_decref(report);
    return SY_EXIT_OK;
}

int sy_cli_records(sy_cli_t *cli, const char *group, const char *verb)
{
    session_t s;
    int rc, write = 0, need_policy = 1;
    char what[64];
    enum { GET, LIST, MERGE, SPLIT, QUEUE_LS, QUEUE_RETRY, QUEUE_DROP, DEAD_LS, DEAD_RETRY, HEALTH } cmd;

    if (strcmp(group, "health") == 0)
        cmd = HEALTH;
    else if (strcmp(group, "queue") == 0 && verb != NULL && strcmp(verb, "ls") == 0)
        cmd = QUEUE_LS, need_policy = 0;
    else if (strcmp(group, "queue") == 0 && verb != NULL && strcmp(verb, "retry") == 0)
        cmd = QUEUE_RETRY, write = 1; /* the policy says what the record's current values are pushed as */
    else if (strcmp(group, "queue") == 0 && verb != NULL && strcmp(verb, "drop") == 0)
        cmd = QUEUE_DROP, need_policy = 0, write = 1;
    else if (strcmp(group, "dead") == 0 && verb != NULL && strcmp(verb, "ls") == 0)
        cmd = DEAD_LS, need_policy = 0;
    else if (strcmp(group, "dead") == 0 && verb != NULL && strcmp(verb, "retry") == 0)
        cmd = DEAD_RETRY, write = 1;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "get") == 0)
        cmd = GET;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "list") == 0)
        cmd = LIST, need_policy = 0;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "merge") == 0)
        cmd = MERGE, write = 1;
    else if (strcmp(group, "records") == 0 && verb != NULL && strcmp(verb, "split") == 0)
        cmd = SPLIT, write = 1;
    else {
        fprintf(stderr, "switchyard: unknown command \"%s %s\" (see switchyard help)\n", group, verb != NULL ? verb : "");
        return SY_EXIT_USAGE;
    }
    snprintf(what, sizeof(what), "%s %s", group, verb != NULL ? verb : "");
    /* merge, split, health and retries judge records by the policy: it must be the one in force */
    if ((rc = session_open(cli, &s, write ? what : NULL, need_policy,
                           cmd == MERGE || cmd == SPLIT || cmd == HEALTH || cmd == QUEUE_RETRY || cmd == DEAD_RETRY)) !=
        SY_EXIT_OK)
        return rc;
    switch (cmd) {
    case GET:
        rc = cmd_get(&s, cli);
        break;
    case LIST:
        rc = cmd_list(&s, cli);
        break;
    case MERGE:
    case SPLIT:
        rc = cmd_change(&s, cli, cmd == MERGE);
        break;
    case QUEUE_LS:
        rc = cmd_queue_ls(&s, cli);
        break;
    case QUEUE_RETRY:
    case QUEUE_DROP:
        rc = cmd_queue_change(&s, cli, cmd == QUEUE_DROP);
        break;
    case DEAD_LS:
    case DEAD_RETRY:
        rc = cmd_dead(&s, cli, cmd == DEAD_RETRY);
        break;
    case HEALTH:
        rc = cmd_health(&s, cli);
        break;
    }
    session_close(&s);
    return rc;
}
