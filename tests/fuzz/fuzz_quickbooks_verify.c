/*
 * QuickBooks ingress: intuit-signature, both body shapes (legacy eventNotifications with ids and events composed in
 * the lent scratch, CloudEvents arrays) and the log encoding, as hub/ingest/ingress.c calls them; then the fetch
 * half on the same bytes: encode_fetch on every parsed event, decode_fetch with the body read as a CDC answer.
 *
 * Input: one flags byte, then the intuit-signature header value up to '\n' (empty: no header), then the body.
 *   flags & 1:  ingress.max_batch_events is 3 instead of the default
 *   flags & 2:  the scratch lent to parse is 200 bytes instead of SY_EVENT_SCRATCH_PER_EVENT per event
 * Checks: what sign() produces verifies; every slice parse returns lies in the body or the scratch; a composed event
 * is JSON that jansson reads (the applier decodes it); no notification has the type of a fetched object; a fetch
 * is built only for events that need one, as a GET of /v3/company/<digits>/cdc; fetched bodies are JSON.
 */
#include "fuzz_common.h"

#include <jansson.h>

static const sy_connector_t *quickbooks_verify_connector;
static sy_json_t quickbooks_verify_json;
static sy_event_ref_t quickbooks_verify_events[SY_FUZZ_MAX_BATCH_EVENTS];
static char quickbooks_verify_scratch[SY_FUZZ_MAX_BATCH_EVENTS * SY_EVENT_SCRATCH_PER_EVENT];

static int quickbooks_verify_init(const char *root)
{
    (void)root;
    quickbooks_verify_connector = sy_connector_find("quickbooks");
    sy_json_init(&quickbooks_verify_json, SY_FUZZ_MAX_BODY / 2 + 16, SY_FUZZ_JSON_MAX_DEPTH);
    return quickbooks_verify_connector != NULL ? 0 : SY_ENOTFOUND;
}

static void quickbooks_verify_fini(void)
{
    sy_json_dispose(&quickbooks_verify_json);
}

static int quickbooks_verify_in_scratch(sy_slice_t s, size_t size)
{
    return s.base >= quickbooks_verify_scratch && s.len <= size && (size_t)(s.base - quickbooks_verify_scratch) <= size - s.len;
}

static void quickbooks_verify_one(const uint8_t *data, size_t size)
{
    const sy_connector_t *c = quickbooks_verify_connector;
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    uint8_t flags = sy_fuzz_byte(&in);
    sy_slice_t sig = sy_fuzz_until(&in, '\n'), body = sy_fuzz_rest(&in);
    size_t max_events = (flags & 1) != 0 ? 3 : SY_FUZZ_MAX_BATCH_EVENTS;
    size_t scratch_size = (flags & 2) != 0 ? 200 : sizeof(quickbooks_verify_scratch);

    sy_source_verify_t conf = {.num_secrets = 2, .tolerance_ms = -1};
    conf.secrets[0] = SY_SLICE_LIT("qbo-verifier-token-0123");
    conf.secrets[1] = SY_SLICE_LIT("qbo-new-verifier-token");
    sy_header_t headers[2] = {{SY_SLICE_LIT("Content-Type"), SY_SLICE_LIT("application/json")}};
    size_t num_headers = 1;
    if (sig.len != 0)
        headers[num_headers++] = (sy_header_t){SY_SLICE_LIT("intuit-signature"), sig};
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"),
                             .url = SY_SLICE_LIT("http://127.0.0.1/hooks/quickbooks"),
                             .headers = headers,
                             .num_headers = num_headers,
                             .body = body,
                             .now_ms = SY_FUZZ_NOW_MS,
                             .scratch = quickbooks_verify_scratch,
                             .scratch_size = scratch_size};
    sy_verify_result_t vr = c->verify(&conf, &req);
    SY_FUZZ_CHECK((unsigned)vr <= SY_VERIFY_NO_SECRET);
    for (size_t i = 0; i != conf.num_secrets; ++i) {
        sy_header_t signed_headers[1];
        size_t num = 1;
        char buf[128];
        SY_FUZZ_CHECK(c->sign(&conf, conf.secrets[i], &req, signed_headers, &num, buf, sizeof(buf)) == 0);
        sy_request_view_t again = req;
        again.headers = signed_headers;
        again.num_headers = num;
        SY_FUZZ_CHECK(c->verify(&conf, &again) == SY_VERIFY_OK);
    }

    size_t n = 0;
    const char *errmsg = NULL;
    int rc = c->parse(&quickbooks_verify_json, &req, quickbooks_verify_events, max_events, &n, &errmsg);
    if (rc == 0) {
        SY_FUZZ_CHECK(n >= 1 && n <= max_events);
        for (size_t i = 0; i != n; ++i) {
            const sy_event_ref_t *e = &quickbooks_verify_events[i];
            SY_FUZZ_CHECK(e->id.len != 0 && e->id.len <= SY_EVENT_ID_MAX);
            SY_FUZZ_CHECK(e->type.len != 0 && e->type.len <= SY_EVENT_TYPE_MAX);
            int composed = quickbooks_verify_in_scratch(e->raw, scratch_size);
            SY_FUZZ_CHECK(composed || sy_fuzz_within(body, e->raw));
            SY_FUZZ_CHECK(quickbooks_verify_in_scratch(e->id, scratch_size) || sy_fuzz_within(body, e->id));
            SY_FUZZ_CHECK(quickbooks_verify_in_scratch(e->type, scratch_size) || sy_fuzz_within(body, e->type));
            /* CloudEvents types start with "qbo.", so only a legacy one could read as "<Entity>.Fetched". */
            SY_FUZZ_CHECK((e->type.len > 4 && memcmp(e->type.base, "qbo.", 4) == 0) || e->type.len < 8 ||
                          memcmp(e->type.base + e->type.len - 8, ".Fetched", 8) != 0);
            json_t *doc = json_loadb(e->raw.base, e->raw.len, JSON_REJECT_DUPLICATES, NULL);
            SY_FUZZ_CHECK(doc != NULL && json_is_object(doc));
            json_decref(doc);
            /* Of an entity the connector cannot read (not in its list) no fetch is asked, and none could be built. */
            int needs = c->needs_fetch(NULL, e->type);
            unsigned char covered[1];
            sy_http_request_t fr;
            if (c->encode_fetch(NULL, &e->raw, 1, covered, &fr) == 0) {
                SY_FUZZ_CHECK(needs);
                SY_FUZZ_CHECK(covered[0] == 1 && fr.num_pushes == 1 && strcmp(fr.method, "GET") == 0);
                SY_FUZZ_CHECK(strncmp(fr.path, "/v3/company/", 12) == 0 && strstr(fr.path, "/cdc?entities=") != NULL);
                SY_FUZZ_CHECK(strpbrk(fr.path, " \r\n\"'") == NULL);
                sy_http_request_dispose(&fr);
            } else {
                SY_FUZZ_CHECK(covered[0] == 0);
            }
        }
        sy_fuzz_store_events("quickbooks", "quickbooks", body, quickbooks_verify_events, 0);
    } else {
        SY_FUZZ_CHECK(errmsg != NULL && n == 0);
    }

    /* The same bytes as a Change Data Capture answer. */
    sy_http_request_t cdc = {.method = "GET", .path = "/v3/company/9341455251541838/cdc?entities=Customer"};
    sy_fetched_t *fetched = NULL;
    size_t nf = 0;
    if (c->decode_fetch(&cdc, body, &fetched, &nf, &errmsg) == 0) {
        for (size_t i = 0; i != nf; ++i) {
            json_t *doc = json_loadb(fetched[i].body, fetched[i].body_len, JSON_REJECT_DUPLICATES, NULL);
            SY_FUZZ_CHECK(doc != NULL && fetched[i].id[0] != '\0' && !c->needs_fetch(NULL, sy_slice_cstr(fetched[i].type)));
            json_decref(doc);
        }
    } else {
        SY_FUZZ_CHECK(fetched == NULL && nf == 0 && errmsg != NULL);
    }
    sy_fetched_dispose(fetched, nf);
}

SY_FUZZ_MAIN(quickbooks_verify)
