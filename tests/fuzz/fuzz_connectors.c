/*
 * Every registered connector's ingress half on any body: sign, verify, tamper, parse, as hub/ingest/ingress.c calls
 * them, so a connector added later is fuzzed without a target of its own.
 *
 * Input: one byte choosing the connector (its index in the registry, modulo their number), then the body. The body is
 * signed as the provider would sign it at SY_FUZZ_NOW_MS (the connector's sign(), which also writes the headers that
 * carry ids and types for the header-keyed kinds), then:
 *   - the signed request verifies, and with one byte of the body changed it does not;
 *   - parse either refuses with a sentence and no events, or finds 1..max events, each with an id and a type within
 *     the limits and its bytes inside the body, the headers or the scratch lent with the request.
 * Fixed secrets: a Standard Webhooks one (whsec_ + base64) for the kinds that take that scheme, a plain one otherwise.
 */
#include "fuzz_common.h"

#define CONNECTORS_SCRATCH (SY_EVENT_SCRATCH_PER_EVENT * 64)
#define CONNECTORS_MAX_EVENTS 64

static sy_json_t connectors_json;
static sy_event_ref_t connectors_events[CONNECTORS_MAX_EVENTS];
static char connectors_scratch[CONNECTORS_SCRATCH];
static char connectors_body[SY_FUZZ_MAX_BODY];

static int connectors_init(const char *root)
{
    sy_json_init(&connectors_json, SY_FUZZ_MAX_BODY / 2 + 16, SY_FUZZ_JSON_MAX_DEPTH);
    return 0;
}

static void connectors_fini(void)
{
    sy_json_dispose(&connectors_json);
}

/* Whether s lies inside [base, base + len). */
static int connectors_inside(sy_slice_t s, const char *base, size_t len)
{
    return s.len == 0 || (s.base >= base && s.base + s.len <= base + len);
}

static int connectors_in_request(sy_slice_t s, const sy_request_view_t *req)
{
    if (connectors_inside(s, req->body.base, req->body.len) || connectors_inside(s, req->scratch, req->scratch_size))
        return 1;
    for (size_t i = 0; i != req->num_headers; ++i)
        if (connectors_inside(s, req->headers[i].value.base, req->headers[i].value.len))
            return 1;
    return 0;
}

/* The settings a connector needs to be configured at all (Google Sheets: its spreadsheet). */
static int connectors_configure(const sy_connector_t *c, sy_source_verify_t *conf)
{
    size_t at = sy_connector_option_index(c, "spreadsheet_id");
    if (at != SY_MAX_OPTIONS)
        conf->options[at] = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
    if (c->configure == NULL)
        return 0;
    size_t bad;
    char msg[160];
    return c->configure(conf, &bad, msg, sizeof(msg));
}

static void connectors_one(const uint8_t *data, size_t size)
{
    size_t count;
    const sy_connector_t *const *all = sy_connector_all(&count);
    if (size == 0 || count == 0)
        return;
    const sy_connector_t *c = all[data[0] % count];
    size_t len = size - 1 < sizeof(connectors_body) ? size - 1 : sizeof(connectors_body);
    memcpy(connectors_body, data + 1, len);
    sy_source_verify_t conf = {.num_secrets = 1, .tolerance_ms = c->default_tolerance_ms};
    int sw = strcmp(c->name, "standard_webhooks") == 0 || strcmp(c->name, "google_sheets") == 0;
    conf.secrets[0] = sw ? SY_SLICE_LIT("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") : SY_SLICE_LIT("fuzz-secret");
    if (connectors_configure(c, &conf) != 0)
        return;
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"),
                             .url = SY_SLICE_LIT("http://127.0.0.1:8080/hooks/fuzz"),
                             .body = {connectors_body, len},
                             .now_ms = SY_FUZZ_NOW_MS,
                             .scratch = connectors_scratch,
                             .scratch_size = sizeof(connectors_scratch)};
    sy_header_t headers[8];
    size_t num = 8;
    char buf[4096];
    if (c->sign(&conf, conf.secrets[0], &req, headers, &num, buf, sizeof(buf)) != 0)
        return; /* a body the connector cannot sign for (a header it would need is too long): nothing to check */
    req.headers = headers;
    req.num_headers = num;
    SY_FUZZ_CHECK(c->verify(&conf, &req) == SY_VERIFY_OK);

    if (len != 0) { /* every scheme signs the body: one byte changed, the request no longer verifies */
        connectors_body[len / 2] ^= 0x01;
        SY_FUZZ_CHECK(c->verify(&conf, &req) != SY_VERIFY_OK);
        connectors_body[len / 2] ^= 0x01;
    }

    size_t n = 0;
    const char *errmsg = NULL;
    int rc = c->parse(&connectors_json, &req, connectors_events, CONNECTORS_MAX_EVENTS, &n, &errmsg);
    if (rc != 0) {
        SY_FUZZ_CHECK(errmsg != NULL && n == 0);
        return;
    }
    SY_FUZZ_CHECK(n >= 1 && n <= CONNECTORS_MAX_EVENTS);
    for (size_t i = 0; i != n; ++i) {
        const sy_event_ref_t *ev = &connectors_events[i];
        SY_FUZZ_CHECK(ev->id.len >= 1 && ev->id.len <= SY_EVENT_ID_MAX);
        SY_FUZZ_CHECK(ev->type.len >= 1 && ev->type.len <= SY_EVENT_TYPE_MAX);
        SY_FUZZ_CHECK(connectors_in_request(ev->raw, &req) && connectors_in_request(ev->id, &req));
    }
}

SY_FUZZ_MAIN(connectors)
