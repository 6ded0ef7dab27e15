/*
 * Outbound, as hub/deliver/delivery.c calls the connectors: encode_push (golden values into an API request) and classify
 * (the tool's answer: status, headers, body) for Stripe and HubSpot.
 *
 * Input: byte 0 (bit 0: stripe or hubspot; bit 1: classify or encode), then
 *   classify: two bytes of status (big-endian, % 1000), header lines "Name: value" up to an empty line, the body;
 *   encode:   one byte of push count (% 4 + 1), then '\n'-separated lines: per push its object id, email and
 *             idempotency key ("" = NULL for the first two; a lone "+" in the id means create), then "name=value"
 *             lines up to a line "--", which starts the next push.
 * Checks that a request encode_push accepts is well formed: a path and idempotency key that are safe to send, a form
 * body of unreserved characters and escapes (Stripe), a JSON body jansson reads back (HubSpot).
 */
#include <jansson.h>

#include "fuzz_common.h"

#define PUSH_MAX_PUSHES 4
#define PUSH_MAX_FIELDS 64
#define PUSH_MAX_HEADERS 32

typedef struct st_push_fuzz_t {
    sy_push_t pushes[PUSH_MAX_PUSHES];
    char *strings[PUSH_MAX_PUSHES * (3 + 2 * PUSH_MAX_FIELDS)];
    size_t num_strings;
    const char *names[PUSH_MAX_PUSHES][PUSH_MAX_FIELDS];
    const char *values[PUSH_MAX_PUSHES][PUSH_MAX_FIELDS];
} push_fuzz_t;

static int push_init(const char *root)
{
    return sy_connector_find("stripe") != NULL && sy_connector_find("hubspot") != NULL ? 0 : SY_ENOTFOUND;
}

static void push_fini(void)
{
}

static char *push_keep(push_fuzz_t *f, sy_slice_t s)
{
    char *p = sy_fuzz_strdup(s);
    f->strings[f->num_strings++] = p;
    return p;
}

static int push_visible_ascii(const char *s)
{
    for (; *s != '\0'; ++s) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    }
    return 1;
}

static void push_check_request(const sy_connector_t *c, const sy_http_request_t *req, size_t n)
{
    SY_FUZZ_CHECK(memchr(req->method, '\0', sizeof(req->method)) != NULL && req->method[0] != '\0');
    SY_FUZZ_CHECK(memchr(req->path, '\0', sizeof(req->path)) != NULL && req->path[0] == '/');
    SY_FUZZ_CHECK(push_visible_ascii(req->path));
    SY_FUZZ_CHECK(memchr(req->idempotency_key, '\0', sizeof(req->idempotency_key)) != NULL);
    SY_FUZZ_CHECK(push_visible_ascii(req->idempotency_key));
    SY_FUZZ_CHECK(req->num_pushes == n);
    if (req->body == NULL) {
        SY_FUZZ_CHECK(req->body_len == 0);
        return;
    }
    SY_FUZZ_CHECK(req->body[req->body_len] == '\0' && strlen(req->body) == req->body_len);
    if (strcmp(c->name, "stripe") == 0) {
        for (size_t i = 0; i != req->body_len; ++i) {
            char ch = req->body[i];
            SY_FUZZ_CHECK((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                          strchr("-._~%[]=&", ch) != NULL);
        }
    } else {
        json_error_t jerr;
        json_t *doc = json_loadb(req->body, req->body_len, 0, &jerr);
        SY_FUZZ_CHECK(doc != NULL && json_is_object(doc));
        json_decref(doc);
    }
}

static void push_encode(const sy_connector_t *c, sy_fuzz_in_t *in)
{
    push_fuzz_t *f = calloc(1, sizeof(*f));
    SY_FUZZ_CHECK(f != NULL);
    size_t n = (size_t)(sy_fuzz_byte(in) % PUSH_MAX_PUSHES) + 1;
    for (size_t i = 0; i != n; ++i) {
        sy_push_t *p = &f->pushes[i];
        sy_slice_t id = sy_fuzz_until(in, '\n'), email = sy_fuzz_until(in, '\n'), key = sy_fuzz_until(in, '\n');
        p->create = sy_slice_eq_cstr(id, "+");
        p->object_id = id.len != 0 && !p->create ? push_keep(f, id) : NULL;
        p->email = email.len != 0 ? push_keep(f, email) : NULL;
        p->idempotency_key = push_keep(f, key);
        p->names = f->names[i];
        p->values = f->values[i];
        while (in->left != 0 && p->num_fields != PUSH_MAX_FIELDS) {
            sy_slice_t line = sy_fuzz_until(in, '\n');
            if (sy_slice_eq_cstr(line, "--"))
                break;
            const char *eq = memchr(line.base, '=', line.len);
            size_t nl = eq != NULL ? (size_t)(eq - line.base) : line.len;
            f->names[i][p->num_fields] = push_keep(f, (sy_slice_t){line.base, nl});
            f->values[i][p->num_fields] =
                push_keep(f, eq != NULL ? (sy_slice_t){eq + 1, line.len - nl - 1} : (sy_slice_t){"", 0});
            ++p->num_fields;
        }
    }
    if (n > c->max_batch)
        n = c->max_batch;
    sy_http_request_t req;
    int rc = c->encode_push(NULL, f->pushes, n, &req);
    if (rc == 0)
        push_check_request(c, &req, n);
    else
        SY_FUZZ_CHECK(rc < 0 && req.body == NULL);
    sy_http_request_dispose(&req);
    for (size_t i = 0; i != f->num_strings; ++i)
        free(f->strings[i]);
    free(f);
}

static void push_classify(const sy_connector_t *c, sy_fuzz_in_t *in)
{
    uint8_t hi = sy_fuzz_byte(in), lo = sy_fuzz_byte(in);
    long status = (long)((hi << 8 | lo) % 1000);
    size_t n = (size_t)(sy_fuzz_byte(in) % 3) + 1;
    sy_header_t headers[PUSH_MAX_HEADERS];
    size_t num_headers = 0;
    while (in->left != 0) {
        sy_slice_t line = sy_fuzz_until(in, '\n');
        if (line.len == 0)
            break;
        const char *colon = memchr(line.base, ':', line.len);
        if (colon == NULL || num_headers == PUSH_MAX_HEADERS)
            continue;
        size_t nl = (size_t)(colon - line.base);
        headers[num_headers++] = (sy_header_t){{line.base, nl}, {colon + 1, line.len - nl - 1}};
    }
    sy_slice_t body = sy_fuzz_rest(in);
    sy_push_result_t result;
    memset(&result, 0x5a, sizeof(result));
    c->classify(status, headers, num_headers, body, n, &result);
    SY_FUZZ_CHECK((unsigned)result.outcome <= SY_PUSH_NOT_FOUND);
    SY_FUZZ_CHECK(result.retry_after_ms >= -1 && (result.rate_limited == 0 || result.rate_limited == 1));
    SY_FUZZ_CHECK(memchr(result.created_id, '\0', sizeof(result.created_id)) != NULL);
    SY_FUZZ_CHECK(push_visible_ascii(result.created_id));
    SY_FUZZ_CHECK(result.outcome != SY_PUSH_FOUND || result.created_id[0] != '\0');
}

static void push_one(const uint8_t *data, size_t size)
{
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    uint8_t flags = sy_fuzz_byte(&in);
    const sy_connector_t *c = sy_connector_find((flags & 1) != 0 ? "hubspot" : "stripe");
    if ((flags & 2) != 0)
        push_encode(c, &in);
    else
        push_classify(c, &in);
}

SY_FUZZ_MAIN(push)
