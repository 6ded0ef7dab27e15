/*
 * Recorded request and response cases of every connector, from the .case files of tests/data/<kind>/ (format:
 * tests/data/README.md). Each request case is verified and parsed as ingress would; each response case is
 * classified as delivery would. Every registered connector must have request cases: a new connector without
 * recorded cases fails here.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connector.h"

#define MAX_CASE_HEADERS 32
#define MAX_CASE_EVENTS 16

typedef struct st_case_t {
    char path[1024];
    char *text; /* the whole file, cut in place */
    /* expectations and settings, from "key: value" lines */
    const char *secrets[SY_MAX_SECRETS];
    size_t num_secrets;
    const char *options[SY_MAX_OPTIONS][2]; /* key, value */
    size_t num_options;
    const char *url, *verify, *parse, *events[MAX_CASE_EVENTS], *outcome, *created_id, *retry_after, *rate_limited;
    size_t num_events;
    long long now_ms, tolerance_ms, pushes;
    /* the request or the response */
    int is_response;
    const char *method, *status_line;
    sy_header_t headers[MAX_CASE_HEADERS];
    size_t num_headers;
    sy_slice_t body;
} case_t;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 > cap && (buf = realloc(buf, cap = cap * 2 + 8192)) == NULL)
            abort();
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Next line of *p (cut at '\n', '\r' before it dropped); NULL at the end. */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));
    if (nl == NULL) {
        *p = end;
    } else {
        *nl = '\0';
        *p = nl + 1;
    }
    size_t len = strlen(line);
    if (len != 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    return line;
}

static void fail_case(const case_t *c, const char *what)
{
    fail_msg("%s: %s", c->path, what);
}

/* Splits "key: value" (value may be empty). */
static int key_value(char *line, char **key, char **value)
{
    char *colon = strchr(line, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    *key = line;
    *value = colon + 1;
    while (**value == ' ')
        ++*value;
    return 0;
}

static void read_head(case_t *c, char **p, char *end)
{
    char *line;
    while ((line = next_line(p, end)) != NULL) {
        if (strcmp(line, "--- request") == 0 || strcmp(line, "--- response") == 0) {
            c->is_response = line[4] == 'r' && line[6] == 's';
            return;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *key, *value;
        if (key_value(line, &key, &value) != 0)
            fail_case(c, "a line of the head is not \"key: value\"");
        if (strcmp(key, "secret") == 0 && c->num_secrets != SY_MAX_SECRETS)
            c->secrets[c->num_secrets++] = value;
        else if (strcmp(key, "option") == 0 && c->num_options != SY_MAX_OPTIONS) {
            char *sp = strchr(value, ' ');
            if (sp == NULL)
                fail_case(c, "option: KEY VALUE");
            *sp = '\0';
            c->options[c->num_options][0] = value;
            c->options[c->num_options++][1] = sp + 1;
        } else if (strcmp(key, "now_ms") == 0)
            c->now_ms = atoll(value);
        else if (strcmp(key, "tolerance_ms") == 0)
            c->tolerance_ms = atoll(value);
        else if (strcmp(key, "url") == 0)
            c->url = value;
        else if (strcmp(key, "verify") == 0)
            c->verify = value;
        else if (strcmp(key, "parse") == 0)
            c->parse = value;
        else if (strcmp(key, "event") == 0 && c->num_events != MAX_CASE_EVENTS)
            c->events[c->num_events++] = value;
        else if (strcmp(key, "pushes") == 0)
            c->pushes = atoll(value);
        else if (strcmp(key, "outcome") == 0)
            c->outcome = value;
        else if (strcmp(key, "created_id") == 0)
            c->created_id = value;
        else if (strcmp(key, "retry_after_ms") == 0)
            c->retry_after = value;
        else if (strcmp(key, "rate_limited") == 0)
            c->rate_limited = value;
        else
            fail_case(c, "unknown key in the head");
    }
    fail_case(c, "no \"--- request\" or \"--- response\" line");
}

/* The request or response: a first line, headers, an empty line, the body (the rest of the file but its last
 * newline). */
static void read_message(case_t *c, char **p, char *end)
{
    char *first = next_line(p, end), *line;
    if (first == NULL)
        fail_case(c, "no request line");
    if (c->is_response)
        c->status_line = first;
    else
        c->method = strtok(first, " ");
    while ((line = next_line(p, end)) != NULL && line[0] != '\0') {
        char *key, *value;
        if (key_value(line, &key, &value) != 0 || c->num_headers == MAX_CASE_HEADERS)
            fail_case(c, "a header line is not \"Name: value\"");
        c->headers[c->num_headers++] = (sy_header_t){sy_slice_cstr(key), sy_slice_cstr(value)};
    }
    size_t len = (size_t)(end - *p);
    if (len != 0 && (*p)[len - 1] == '\n')
        --len;
    c->body = (sy_slice_t){*p, len};
}

static void load_case(case_t *c, const char *path)
{
    size_t len;
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    if ((c->text = read_file(path, &len)) == NULL)
        fail_case(c, "cannot read");
    char *p = c->text, *end = c->text + len;
    c->tolerance_ms = -1;
    c->pushes = 1;
    read_head(c, &p, end);
    read_message(c, &p, end);
}

static sy_verify_result_t verify_result_named(const case_t *c, const char *name)
{
    for (int r = SY_VERIFY_OK; r <= SY_VERIFY_NO_SECRET; ++r) {
        if (strcmp(sy_verify_result_code((sy_verify_result_t)r), name) == 0)
            return (sy_verify_result_t)r;
    }
    fail_case(c, "verify: not a verification result code (ok, missing_header, mismatch, ...)");
    return SY_VERIFY_OK;
}

static void run_request_case(const sy_connector_t *k, case_t *c, const char *kind)
{
    sy_source_verify_t conf = {.tolerance_ms = c->tolerance_ms >= 0 ? c->tolerance_ms : k->default_tolerance_ms};
    char url[512];
    for (size_t i = 0; i != c->num_secrets; ++i)
        conf.secrets[conf.num_secrets++] = sy_slice_cstr(c->secrets[i]);
    for (size_t i = 0; i != c->num_options; ++i) {
        size_t at = sy_connector_option_index(k, c->options[i][0]);
        if (at == SY_MAX_OPTIONS)
            fail_case(c, "option: the connector has no such option");
        conf.options[at] = c->options[i][1];
    }
    if (k->configure != NULL) {
        size_t bad;
        char msg[160];
        if (k->configure(&conf, &bad, msg, sizeof(msg)) != 0)
            fail_case(c, msg);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1/hooks/%s", kind);
    sy_request_view_t req = {.method = sy_slice_cstr(c->method != NULL ? c->method : "POST"),
                             .url = sy_slice_cstr(c->url != NULL ? c->url : url),
                             .headers = c->headers,
                             .num_headers = c->num_headers,
                             .body = c->body,
                             .now_ms = c->now_ms};
    if (c->verify == NULL)
        fail_case(c, "a request case says verify: RESULT");
    sy_verify_result_t want = verify_result_named(c, c->verify), got = k->verify(&conf, &req);
    if (got != want) {
        char msg[256];
        snprintf(msg, sizeof(msg), "verify says %s, the case expects %s", sy_verify_result_code(got), c->verify);
        fail_case(c, msg);
    }
    if (got != SY_VERIFY_OK)
        return;
    sy_json_t json;
    sy_event_ref_t events[MAX_CASE_EVENTS];
    size_t n = 0;
    const char *errmsg = NULL;
    sy_json_init(&json, c->body.len / 2 + 16, 64);
    static char scratch[MAX_CASE_EVENTS * SY_EVENT_SCRATCH_PER_EVENT];
    req.scratch = scratch;
    req.scratch_size = sizeof(scratch);
    int rc = k->parse(&json, &req, events, MAX_CASE_EVENTS, &n, &errmsg);
    if (c->parse != NULL) { /* a refusal: its sentence */
        if (rc == 0 || errmsg == NULL || strcmp(errmsg, c->parse) != 0)
            fail_case(c, rc == 0 ? "parse accepted what the case expects refused" : errmsg);
        goto Exit;
    }
    if (rc != 0)
        fail_case(c, errmsg != NULL ? errmsg : "parse failed");
    if (n != c->num_events)
        fail_case(c, "parse found another number of events than the case's event: lines");
    for (size_t i = 0; i != n; ++i) {
        char line[600];
        snprintf(line, sizeof(line), "%.*s %.*s %lld", (int)events[i].id.len, events[i].id.base, (int)events[i].type.len,
                 events[i].type.base, (long long)events[i].occurred_at_ms);
        if (strcmp(line, c->events[i]) != 0) {
            char msg[1300];
            snprintf(msg, sizeof(msg), "event %zu reads \"%s\", the case expects \"%s\"", i, line, c->events[i]);
            fail_case(c, msg);
        }
    }
Exit:
    sy_json_dispose(&json);
}

static const char *outcome_name(sy_push_outcome_t o)
{
    static const char *const names[] = {"done", "retry", "permanent", "found", "not_found"};
    return (size_t)o < SY_ARRAY_SIZE(names) ? names[o] : "?";
}

static void run_response_case(const sy_connector_t *k, case_t *c)
{
    if (k->classify == NULL)
        fail_case(c, "a response case for a connector without classify");
    long status = strtol(c->status_line, NULL, 10);
    sy_push_result_t r;
    k->classify(status, c->headers, c->num_headers, c->body, (size_t)c->pushes, &r);
    if (c->outcome == NULL || strcmp(outcome_name(r.outcome), c->outcome) != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "classify says %s", outcome_name(r.outcome));
        fail_case(c, msg);
    }
    if (c->created_id != NULL && strcmp(r.created_id, c->created_id) != 0)
        fail_case(c, "classify read another created id");
    if (c->retry_after != NULL && r.retry_after_ms != atoll(c->retry_after))
        fail_case(c, "classify read another retry-after");
    if (c->rate_limited != NULL && r.rate_limited != atoi(c->rate_limited))
        fail_case(c, "classify says otherwise about rate limiting");
}

static int is_case(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".case") == 0;
}

static void test_recorded_cases(void **state)
{
    const char *data = getenv("SY_TEST_DATA");
    assert_non_null(data);
    size_t count;
    const sy_connector_t *const *all = sy_connector_all(&count);
    for (size_t i = 0; i != count; ++i) {
        char dir[512];
        struct dirent **names;
        snprintf(dir, sizeof(dir), "%s/%s", data, all[i]->name);
        int n = scandir(dir, &names, is_case, alphasort);
        if (n <= 0)
            fail_msg("connector %s has no recorded cases in %s (tests/data/README.md)", all[i]->name, dir);
        size_t requests = 0;
        for (int j = 0; j != n; ++j) {
            char path[1024];
            case_t c;
            snprintf(path, sizeof(path), "%s/%s", dir, names[j]->d_name);
            load_case(&c, path);
            if (c.is_response) {
                run_response_case(all[i], &c);
            } else {
                run_request_case(all[i], &c, all[i]->name);
                ++requests;
            }
            print_message("  %-12s %-40s ok\n", all[i]->name, names[j]->d_name);
            free(c.text);
            free(names[j]);
        }
        free(names);
        if (requests == 0)
            fail_msg("connector %s has no recorded request case", all[i]->name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
