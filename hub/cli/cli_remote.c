#include "cli_remote.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ANSWER (64u << 20) /* a dry run's list of changes can be long; nothing real comes near */

typedef struct st_answer_t {
    char *buf;
    size_t len;
} answer_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t add = size * n;
    if (a->len + add > MAX_ANSWER)
        return 0; /* curl fails the transfer */
    char *grown = realloc(a->buf, a->len + add + 1);
    if (grown == NULL)
        abort();
    memcpy(grown + a->len, p, add);
    a->buf = grown;
    a->len += add;
    a->buf[a->len] = '\0';
    return add;
}

int sy_cli_remote_call(const sy_cli_target_t *t, const char *method, const char *path, json_t *body, long *status,
                       json_t **doc)
{
    char url[600], auth[600], agent[96];
    char *text = NULL;
    struct curl_slist *hl = NULL;
    answer_t a = {NULL, 0};
    CURL *curl = NULL;
    int rc = SY_CLI_REMOTE_FAILED;

    *status = 0;
    *doc = NULL;
    snprintf(url, sizeof(url), "%s%s", t->url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->token != NULL ? t->token : "");
    /* The hub logs who made each change: this names us. */
    snprintf(agent, sizeof(agent), "switchyard-cli/%s (pid %ld)", SY_VERSION, (long)getpid());
    hl = curl_slist_append(hl, auth);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    if ((curl = curl_easy_init()) == NULL || hl == NULL) {
        fprintf(stderr, "switchyard: cannot set up an HTTP client\n");
        goto Exit;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
            abort();
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    if (t->cacert != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, t->cacert); /* a private CA or a self-signed hub certificate */
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        /* Never fall back to writing the data dir: the hub would not know, and two writers race (issue #10). */
        fprintf(stderr,
                "switchyard: a hub runs on this data dir (pid %ld) but its admin API at %s cannot be reached: %s; "
                "nothing was changed (check admin.listen in %s, or stop the hub to work on the data dir directly)\n",
                t->hub_pid, t->url, curl_easy_strerror(cc), t->config);
        goto Exit;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (*status == 401 || *status == 403) {
        fprintf(stderr,
                "switchyard: the running hub (pid %ld) refused the admin token of %s (HTTP %ld): give this command "
                "the hub's configuration (--config) or its admin token; nothing was changed\n",
                t->hub_pid, t->config, *status);
        goto Exit;
    }
    json_error_t jerr;
    if ((*doc = json_loadb(a.buf != NULL ? a.buf : "", a.len, 0, &jerr)) == NULL) {
        fprintf(stderr, "switchyard: the hub (pid %ld) answered %s %s with HTTP %ld and no JSON\n", t->hub_pid, method,
                path, *status);
        goto Exit;
    }
    /* The admin API's own 404 for a path it does not serve: an older hub than this CLI. */
    if (*status == 404 && strcmp(sy_cli_remote_message(*doc), "no such admin resource") == 0) {
        fprintf(stderr, "switchyard: the running hub (pid %ld) has no %s: it is older than this CLI; upgrade it, or "
                        "stop it to work on the data dir directly\n",
                t->hub_pid, path);
        json_decref(*doc);
        *doc = NULL;
        goto Exit;
    }
    rc = 0;
Exit:
    if (curl != NULL)
        curl_easy_cleanup(curl);
    curl_slist_free_all(hl);
    if (text != NULL)
        free(text);
    free(a.buf);
    explicit_bzero(auth, sizeof(auth));
    return rc;
}

int sy_cli_remote_rc(long status)
{
    return status >= 200 && status < 300 ? 0
           : status == 404               ? SY_ENOTFOUND
           : status == 409               ? SY_EINVAL
           : status == 400               ? SY_EPARSE
                                         : SY_EIO;
}

const char *sy_cli_remote_message(json_t *doc)
{
    const char *m = json_string_value(json_object_get(doc, "message"));
    return m != NULL ? m : "";
}

/* id as one path segment: anything but [A-Za-z0-9_.-] percent-encoded. */
static void segment(const char *id, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)id; *c != '\0' && o + 4 < len; ++c) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_.-", *c)) {
            out[o++] = (char)*c;
        } else {
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    out[o] = '\0';
}

int sy_cli_remote_change(const sy_cli_target_t *t, const sy_change_t *c, json_t **result, char *err, size_t len)
{
    char path[400] = "", id[300]; /* every kind sets path; "" keeps -O2's maybe-uninitialized quiet */
    json_t *body = NULL, *doc;
    long status;

    *result = NULL;
    err[0] = '\0';
    segment(c->a != NULL ? c->a : "", id, sizeof(id));
    switch (c->kind) {
    case SY_CHANGE_MERGE:
        snprintf(path, sizeof(path), "/admin/api/records/merge");
        body = json_pack("{s:s, s:s}", "keep", c->a, "drop", c->b);
        break;
    case SY_CHANGE_SPLIT:
        snprintf(path, sizeof(path), "/admin/api/records/split");
        body = json_pack("{s:s, s:s}", "record", c->a, "object", c->b);
        break;
    case SY_CHANGE_QUEUE_RETRY:
    case SY_CHANGE_QUEUE_DROP:
        snprintf(path, sizeof(path), "/admin/api/queue/%s/%s", id, c->kind == SY_CHANGE_QUEUE_DROP ? "drop" : "retry");
        body = json_object();
        break;
    case SY_CHANGE_DEAD_DROP:
        snprintf(path, sizeof(path), "/admin/api/dead/%s/drop", id);
        body = json_object();
        break;
    case SY_CHANGE_DEAD_RETRY:
        if (c->a != NULL)
            snprintf(path, sizeof(path), "/admin/api/dead/%s/retry", id);
        else
            snprintf(path, sizeof(path), "/admin/api/dead/retry");
        body = json_object();
        break;
    }
    int rc = sy_cli_remote_call(t, "POST", path, body, &status, &doc);
    json_decref(body);
    if (rc != 0)
        return rc;
    if ((rc = sy_cli_remote_rc(status)) == 0)
        *result = doc;
    else {
        snprintf(err, len, "%s", sy_cli_remote_message(doc));
        json_decref(doc);
    }
    return rc;
}

int sy_cli_remote_follow(const sy_cli_target_t *t, const char *path, unsigned poll_us, json_t **job,
                         void (*tick)(json_t *job, void *arg), void *arg)
{
    long status;
    while (json_is_string(json_object_get(*job, "state")) &&
           strcmp(json_string_value(json_object_get(*job, "state")), "running") == 0) {
        if (tick != NULL)
            tick(*job, arg);
        usleep(poll_us);
        json_decref(*job);
        *job = NULL;
        if (sy_cli_remote_call(t, "GET", path, NULL, &status, job) != 0)
            return SY_CLI_REMOTE_FAILED;
        if (status != 200 || !json_is_string(json_object_get(*job, "state"))) {
            fprintf(stderr, "switchyard: the hub lost track of %s: %s\n", path, sy_cli_remote_message(*job));
            return SY_CLI_REMOTE_FAILED;
        }
    }
    return 0;
}
