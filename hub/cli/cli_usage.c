/*
 * The CLI's usage texts: one table, so that `switchyard help` (every command) and `switchyard COMMAND --help` (one
 * command, with an example) never disagree.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct st_usage_t {
    const char *cmd;
    const char *verb;  /* NULL: the command takes none */
    const char *lines; /* as listed by `switchyard help` */
    const char *example;
} usage_t;

static const usage_t commands[] = {
    {"serve", NULL, "  serve                        run the hub (ingress, log writer, admin listener)\n",
     "switchyard serve --config /etc/switchyard/switchyard.yaml"},
    {"config", "check", "  config check                 load the configuration and say what it sets up\n",
     "switchyard config check --config deploy/switchyard.example.yaml"},
    {"log", "tail", "  log tail [-n N] [-f] [--json]  last N events (default 10); -f keeps following\n",
     "switchyard log tail -n 20 -f"},
    {"log", "show", "  log show SEQ [--json|--raw]  one event: metadata and pretty body (--raw: body bytes exactly)\n",
     "switchyard log show 1042 --raw > event.json"},
    {"log", "stats", "  log stats [--json]           events per source and type, size on disk\n", "switchyard log stats"},
    {"log", "skipped", "  log skipped [--json]         logged events the applier could not apply, and why\n",
     "switchyard log skipped --json"},
    {"log", "compact",
     "  log compact --older-than 30d --archive FILE.jsonl\n"
     "                               archive, then remove, old events the applier has passed\n",
     "switchyard log compact --older-than 90d --archive /backup/events-2026.jsonl"},
    {"policy", "check",
     "  policy check|show [PATH]     check a field-ownership policy (default: policies/) or summarise it\n",
     "switchyard policy check policies/customers.yaml"},
    {"records", "get",
     "  records get ID|EMAIL|SOURCE:EXTID [--json]\n"
     "                               one golden record: each field's value, owner, version and event seq\n",
     "switchyard records get ana@example.com"},
    {"records", "list", "  records list [-n N] [--json] golden records\n", "switchyard records list -n 50 --json"},
    {"records", "merge", "  records merge KEEP DROP      merge two records (logged; undo with split)\n",
     "switchyard records merge cust_12 cust_40"},
    {"records", "split",
     "  records split ID SOURCE:EXTID  move one tool object out to a record of its own (logged)\n",
     "switchyard records split cust_12 stripe:cus_Q1w2e3"},
    {"queue", "ls", "  queue ls [--json]            pushes waiting for delivery to the tools\n", "switchyard queue ls"},
    {"queue", "retry", "  queue retry ID | queue drop ID  send a queued push now / remove it\n",
     "switchyard queue retry 812"},
    {"dead", "ls", "  dead ls [--json]             dead letters with the tool's last answer\n", "switchyard dead ls"},
    {"dead", "retry", "  dead retry ID | --all        queue dead letters again\n", "switchyard dead retry --all"},
    {"cluster", "status",
     "  cluster status [--json]      a cluster's NATS stream, each hub's stream seq and lag, the lease\n",
     "switchyard cluster status --config /etc/switchyard/switchyard.yaml"},
    {"health", NULL,
     "  health [--json]              duplicates, double billing, merge suggestions, missing fields, counters\n",
     "switchyard health --json"},
    {"alerts", NULL,
     "  alerts [--all] [--json] | alerts ack ID\n"
     "                               what needs a human (deduplicated; --all: resolved ones too); ack one\n",
     "switchyard alerts ack 12"},
    {"drift", NULL,
     "  drift [--json]               payload shapes learnt per tool and event type, and the drifts seen\n",
     "switchyard drift --json"},
    {"replay", NULL,
     "  replay [--since T] [--until T] [--from-seq N] [--to-seq N] [--source S] [--type PATTERN]\n"
     "         [--mode reapply|repush --spoke NAME] [--dry-run]\n"
     "                               re-apply logged events (idempotent), or re-send current values to a tool\n",
     "switchyard replay --since 2026-12-01T00:00:00Z --source stripe --dry-run"},
    {"applier", "pause",
     "  applier pause|resume         stop or restart applying the log to the records (the hub keeps logging)\n",
     "switchyard applier pause"},
    {"reconcile", NULL,
     "  reconcile SOURCE [--since T] [--dry-run] [--json]\n"
     "                               heal a gap: append the events the tool lists that the log misses\n",
     "switchyard reconcile stripe --since 2026-12-01T00:00Z --dry-run"},
    {"export", "records",
     "  export records|events [--format csv|jsonl]  for DuckDB, a spreadsheet or dbt (stdout)\n",
     "switchyard export records --format csv > records.csv"},
    {"map", NULL, "  map [POLICY] [--format mermaid|dot]  the integration map: who owns what, what flows where\n",
     "switchyard map --format mermaid"},
    {"trigger", NULL,
     "  trigger SOURCE TYPE [--url URL] [--secret-env VAR] [--cacert PEM]\n"
     "                               send a correctly signed sample event to a running hub\n",
     "switchyard trigger stripe customer.updated"},
    {"version", NULL, "  version                      print the version\n", "switchyard version"},
};

static const char common_options[] =
    "options for every command that reads the configuration or the data:\n"
    "  --config FILE                configuration (default: $SWITCHYARD_CONFIG, else the built-in example,\n"
    "                               which is deploy/switchyard.example.yaml)\n"
    "  --data-dir DIR               override data_dir\n"
    "  --listen HOST:PORT           override ingress.listen\n"
    "  --admin-listen HOST:PORT     override admin.listen\n"
    "\n"
    "  --policy-mismatch-ok         replay, records merge|split, health on the data dir directly: apply the\n"
    "                               configured policy though the hub recorded another one as in force\n";

static const char footer[] =
    "write commands (replay, records merge|split, queue retry|drop, dead retry, log compact) go through the\n"
    "running hub's admin API when a hub runs on the data dir (token from the configuration), else work on it\n"
    "directly under its lock.\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage or configuration error\n";

void sy_cli_usage(FILE *out)
{
    fputs("usage: switchyard COMMAND [options]     (switchyard COMMAND --help: one command, with an example)\n\n"
          "commands:\n",
          out);
    for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i)
        fputs(commands[i].lines, out);
    fprintf(out, "\n%s\n%s", common_options, footer);
}

/* "queue drop" is listed with retry, "policy show" with check, "export events" with records. */
static const char *listed_verb(const char *cmd, const char *verb)
{
    static const char *const aliases[][3] = {
        {"queue", "drop", "retry"}, {"policy", "show", "check"}, {"export", "events", "records"}};
    for (size_t i = 0; verb != NULL && i != sizeof(aliases) / sizeof(aliases[0]); ++i)
        if (strcmp(cmd, aliases[i][0]) == 0 && strcmp(verb, aliases[i][1]) == 0)
            return aliases[i][2];
    return verb;
}

int sy_cli_usage_of(FILE *out, const char *cmd, const char *verb)
{
    const char *listed = listed_verb(cmd, verb);
    size_t shown = 0;
    for (int pass = 0; pass != 2 && shown == 0; ++pass) { /* the verb's entry; else every verb of the command */
        for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i) {
            const usage_t *u = &commands[i];
            if (strcmp(u->cmd, cmd) != 0 || (pass == 0 && listed != NULL && u->verb != NULL && strcmp(u->verb, listed) != 0))
                continue;
            fprintf(out, "%s%s  example: %s\n", shown != 0 ? "\n" : "usage:\n", u->lines, u->example);
            ++shown;
        }
    }
    if (shown == 0)
        return SY_EXIT_USAGE;
    fprintf(out, "\n%s\n%s", common_options, footer);
    return SY_EXIT_OK;
}

void sy_cli_none(const sy_cli_t *cli, const char *what)
{
    if (!cli->json)
        printf("no %s\n", what);
}
