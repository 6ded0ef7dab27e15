/*
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(hook secret, body)>` (the legacy SHA-1 `X-Hub-Signature`
 * is never accepted). No timestamp is signed, so a replay is caught only by the dedupe on `X-GitHub-Delivery` (a
 * GUID per delivery; a manual redelivery keeps it). The event is named by `X-GitHub-Event`, refined by the body's
 * `action` when it has one: "issues" + "opened" -> "issues.opened"; "push" stays "push". GitHub does not retry and
 * sends no event time (occurred_at 0). Inbound only: GitHub has no customer object to push back to.
 *
 * The composed type is not in the request, so parse writes it into a per-thread buffer: its slice holds until the
 * next parse on the same thread, and ingress copies every event into the log before it parses again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"
#include "header_event.h"
#include "signature_schemes.h"

#define GITHUB_EVENT_MAX 64  /* event names are short snake_case words ("pull_request_review_comment") */
#define GITHUB_ACTION_MAX 62 /* event + "." + action stays within SY_EVENT_TYPE_MAX */

static _Thread_local char type_buf[SY_EVENT_TYPE_MAX + 1];

static int snake_word(sy_slice_t s)
{
    for (size_t i = 0; i != s.len; ++i) {
        char c = s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return s.len != 0;
}

static sy_verify_result_t github_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    return sy_verify_body_mac(&sy_scheme_github, conf, req);
}

static int github_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                        size_t *num_events, const char **errmsg)
{
    sy_event_ref_t ev = {.raw = req->body};
    sy_slice_t event, action;
    int rc;
    *num_events = 0;
    /* A hook whose content type is application/x-www-form-urlencoded sends payload=<json>: not ours to guess. */
    if ((rc = sy_connector_parse_root(json, req->body, SY_JSON_OBJECT,
                                      "body is not a JSON object (set the hook's content type to application/json)",
                                      errmsg)) != 0)
        return rc;
    switch (sy_header_token(req, "X-GitHub-Delivery", SY_EVENT_ID_MAX, &ev.id)) {
    case SY_TOKEN_OK:
        break;
    case SY_TOKEN_MISSING:
        *errmsg = "no X-GitHub-Delivery header";
        return SY_EPARSE;
    default:
        *errmsg = "X-GitHub-Delivery must be 1 to 255 visible ASCII characters, given once";
        return SY_EPARSE;
    }
    switch (sy_header_token(req, "X-GitHub-Event", GITHUB_EVENT_MAX, &event)) {
    case SY_TOKEN_OK:
        if (snake_word(event))
            break;
        /* fall through */
    default:
        *errmsg = "X-GitHub-Event must be one event name of [a-z0-9_], given once";
        return SY_EPARSE;
    case SY_TOKEN_MISSING:
        *errmsg = "no X-GitHub-Event header";
        return SY_EPARSE;
    }
    ev.type = event;
    switch (sy_body_token(json, 0, "action", GITHUB_ACTION_MAX, &action)) {
    case SY_TOKEN_MISSING:
        break; /* push, ping, create, ... have no action */
    case SY_TOKEN_OK:
        if (snake_word(action)) {
            memcpy(type_buf, event.base, event.len);
            type_buf[event.len] = '.';
            memcpy(type_buf + event.len + 1, action.base, action.len);
            ev.type = (sy_slice_t){type_buf, event.len + 1 + action.len};
            break;
        }
        /* fall through */
    default:
        *errmsg = "the body's action is not a word of [a-z0-9_] of at most 62 characters";
        return SY_EPARSE;
    }
    if (max_events < 1) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }
    events[0] = ev;
    *num_events = 1;
    return 0;
}

/*
 * GitHub names the event in a header that sign, given only the body, has to infer: from the member that only that
 * event's payload has (the samples below, and bodies shaped like them). Anything else is signed as "ping".
 */
static const char *infer_event(const char *body, size_t len)
{
    static const struct {
        const char *member, *event;
    } shapes[] = {{"\"pull_request\":", "pull_request"}, {"\"issue\":", "issues"}, {"\"commits\":", "push"},
                  {"\"release\":", "release"},           {"\"zen\":", "ping"}};
    for (size_t i = 0; i != SY_ARRAY_SIZE(shapes); ++i) {
        if (memmem(body, len, shapes[i].member, strlen(shapes[i].member)) != NULL)
            return shapes[i].event;
    }
    return "ping";
}

static int github_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req,
                       sy_header_t *headers, size_t *num_headers, char *buf, size_t bufsize)
{
    (void)conf;
    if (*num_headers < 3)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    unsigned char mac[SY_SHA256_LEN];
    char *sig = sy_connector_out_reserve(&out, 7 + 2 * SY_SHA256_LEN + 1), *id = sy_connector_out_reserve(&out, 37);
    if (sig == NULL || id == NULL)
        return SY_ETOOBIG;
    if (sy_hmac_sha256(secret, &req->body, 1, mac) != 0)
        return SY_EIO;
    memcpy(sig, "sha256=", 7);
    sy_hex_encode(mac, sizeof(mac), sig + 7);
    sy_random_uuid(id);
    headers[0] = (sy_header_t){SY_SLICE_LIT("X-Hub-Signature-256"), {sig, 7 + 2 * SY_SHA256_LEN}};
    headers[1] = (sy_header_t){SY_SLICE_LIT("X-GitHub-Event"), sy_slice_cstr(infer_event(req->body.base, req->body.len))};
    headers[2] = (sy_header_t){SY_SLICE_LIT("X-GitHub-Delivery"), {id, 36}};
    *num_headers = 3;
    return 0;
}

static const char *github_scheme(const sy_source_verify_t *conf)
{
    (void)conf;
    return "github-sha256";
}

static const char *const github_sample_types[] = {"issues.opened", "issues.edited", "pull_request.opened", "push",
                                                  "ping", NULL};

static json_t *repository(void)
{
    return json_pack("{s:i, s:s, s:s, s:b, s:{s:s, s:i}}", "id", 1296269, "name", "Hello-World", "full_name",
                     "octocat/Hello-World", "private", 0, "owner", "login", "octocat", "id", 1);
}

static json_t *sender(void)
{
    return json_pack("{s:s, s:i, s:s}", "login", "octocat", "id", 1, "type", "User");
}

static char *github_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(github_sample_types, type))
        return NULL;
    char when[25];
    sy_rfc3339_format(now_ms, when);
    when[19] = 'Z'; /* GitHub's times have whole seconds */
    when[20] = '\0';
    json_t *ev;
    const char *dot = strchr(type, '.');
    if (strncmp(type, "issues.", 7) == 0) {
        json_t *issue = json_pack("{s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "id", 1347, "number", 1347, "title",
                                  "Found a bug", "body", "I'm having a problem with this.", "state", "open",
                                  "created_at", when, "updated_at", when, "user", "login", "octocat");
        ev = json_pack("{s:s, s:o, s:o, s:o}", "action", dot + 1, "issue", issue, "repository", repository(), "sender",
                       sender());
    } else if (strncmp(type, "pull_request.", 13) == 0) {
        json_t *pr = json_pack("{s:i, s:i, s:s, s:s, s:s, s:{s:s}, s:{s:s}}", "id", 1, "number", 1, "title",
                               "Amazing new feature", "state", "open", "created_at", when, "head", "ref",
                               "new-topic", "base", "ref", "master");
        ev = json_pack("{s:s, s:i, s:o, s:o, s:o}", "action", dot + 1, "number", 1, "pull_request", pr, "repository",
                       repository(), "sender", sender());
    } else if (strcmp(type, "push") == 0) {
        json_t *commit = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                                   "message", "Fix all the bugs", "timestamp", when, "author", "name", "Monalisa Octocat",
                                   "email", "octocat@github.example");
        ev = json_pack("{s:s, s:s, s:s, s:[o], s:o, s:o}", "ref", "refs/heads/main", "before",
                       "0000000000000000000000000000000000000000", "after", "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                       "commits", commit, "repository", repository(), "sender", sender());
    } else {
        ev = json_pack("{s:s, s:i, s:{s:s, s:i, s:b}, s:o, s:o}", "zen", "Keep it logically awesome.", "hook_id",
                       30, "hook", "type", "Repository", "id", 30, "active", 1, "repository", repository(), "sender",
                       sender());
    }
    char *out = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return out;
}

const sy_connector_t sy_connector_github = {
    .name = "github",
    .role = SY_ROLE_TRACKER,
    .verify = github_verify,
    .parse = github_parse,
    .scheme = github_scheme,
    .sign = github_sign,
    .default_tolerance_ms = 0, /* nothing is signed with a time */
    .sample_types = github_sample_types,
    .sample = github_sample,
};
