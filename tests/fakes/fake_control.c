/*
 * The control API of sy_fake_spoke (see README.md) and the fault modes it sets:
 *   GET /_fake/health | /_fake/state | /_fake/requests | /_fake/mode
 *   POST /_fake/mode | /_fake/rate | /_fake/partial | /_fake/seed | /_fake/events | /_fake/reset
 */
#include "fake_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fake_fault_names[] = {"ok", "error500", "error400", "hang", "reset", "slow"};

void fake_fault_expire(fake_server_t *s, uint64_t now)
{
    if (s->fault.mode != FAULT_OK && s->fault.until_ms != 0 && now >= s->fault.until_ms) {
        s->fault.mode = FAULT_OK;
        s->fault.until_ms = 0;
        s->fault.remaining = 0;
    }
}

/* The fault for this API request; uses up one of a counted mode's requests. */
fault_t fake_fault_take(fake_server_t *s, uint64_t now)
{
    fault_t f;
    fake_fault_expire(s, now);
    if ((f = s->fault.mode) == FAULT_OK)
        return f;
    if (s->fault.remaining != 0 && --s->fault.remaining == 0)
        s->fault.mode = FAULT_OK; /* this was the last request of the mode */
    return f;
}

/* ---- the control API ---- */

static json_t *mode_json(fake_server_t *s)
{
    uint64_t now = fake_mono_ms();
    fake_fault_expire(s, now);
    return json_pack("{s:s, s:I, s:I, s:I}", "mode", fake_fault_names[s->fault.mode], "left_ms",
                     (json_int_t)(s->fault.until_ms > now ? s->fault.until_ms - now : 0), "delay_ms", (json_int_t)s->fault.delay_ms,
                     "count", (json_int_t)s->fault.remaining);
}

/* A non-negative integer member (default def); -1 if present but not one. */
static json_int_t get_uint(json_t *obj, const char *name, json_int_t def)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL)
        return def;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return json_integer_value(v);
}

static void control_mode(fake_server_t *s, h2o_req_t *req, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "mode"));
    json_int_t for_ms = get_uint(body, "for_ms", 0), delay_ms = get_uint(body, "delay_ms", SLOW_DEFAULT_MS),
               count = get_uint(body, "count", 0);
    size_t m;

    for (m = 0; name != NULL && m != sizeof(fake_fault_names) / sizeof(fake_fault_names[0]); ++m)
        if (strcmp(name, fake_fault_names[m]) == 0)
            break;
    if (name == NULL || m == sizeof(fake_fault_names) / sizeof(fake_fault_names[0])) {
        fake_send_control_error(req, 400, "bad_request", "\"mode\" must be ok, error500, error400, hang, reset or slow");
        return;
    }
    if (for_ms < 0 || delay_ms < 0 || count < 0) {
        fake_send_control_error(req, 400, "bad_request", "\"for_ms\", \"delay_ms\" and \"count\" must be integers >= 0");
        return;
    }
    s->fault.mode = (fault_t)m;
    s->fault.until_ms = for_ms != 0 ? fake_mono_ms() + (uint64_t)for_ms : 0;
    s->fault.delay_ms = (uint64_t)delay_ms;
    s->fault.remaining = (uint64_t)count;
    fake_send_json(req, 200, mode_json(s));
}

static void control_rate(fake_server_t *s, h2o_req_t *req, json_t *body)
{
    json_int_t limit = get_uint(body, "limit", s->state.rate_limit),
               window = get_uint(body, "window_ms", (json_int_t)s->state.window_ms);
    json_t *ra = json_object_get(body, "retry_after");
    if (limit < 0 || limit > 1000000 || window <= 0 || (ra != NULL && !json_is_boolean(ra))) {
        fake_send_control_error(req, 400, "bad_request",
                                "\"limit\" (0 = unlimited, <= 1000000) and \"window_ms\" (> 0) must be integers, "
                                "\"retry_after\" a boolean");
        return;
    }
    fake_state_set_rate(&s->state, (unsigned)limit, (uint64_t)window);
    if (ra != NULL)
        s->state.retry_after = json_is_true(ra);
    fake_send_json(req, 200,
                   json_pack("{s:I, s:I, s:b}", "limit", (json_int_t)s->state.rate_limit, "window_ms",
                             (json_int_t)s->state.window_ms, "retry_after", s->state.retry_after));
}

/* {"ids": [contact ids]}: each fails once in a batch/update, answered 207 (HubSpot only). [] clears. */
static void control_partial(fake_server_t *s, h2o_req_t *req, json_t *body)
{
    json_t *ids = json_object_get(body, "ids"), *v;
    size_t i;
    int ok = s->state.api == FAKE_API_HUBSPOT && json_is_array(ids);
    json_array_foreach(ids, i, v) ok &= json_is_string(v);
    if (!ok) {
        fake_send_control_error(req, 400, "bad_request", "HubSpot only: expected {\"ids\": [\"contact id\", ...]}");
        return;
    }
    json_decref(s->state.partial_ids);
    s->state.partial_ids = json_object();
    json_array_foreach(ids, i, v) json_object_set_new(s->state.partial_ids, json_string_value(v), json_true());
    fake_send_json(req, 200, json_pack("{s:O}", "ids", ids));
}

static void control_seed(fake_server_t *s, h2o_req_t *req, json_t *body)
{
    json_t *objects = json_object_get(body, "objects"), *fields;
    const char *id;
    if (!json_is_object(objects)) {
        fake_send_control_error(req, 400, "bad_request", "expected {\"objects\":{id:{field:value,...},...}}");
        return;
    }
    json_object_foreach(objects, id, fields)
    {
        if (!json_is_object(fields) || id[0] == '\0') {
            fake_send_control_error(req, 400, "bad_request", "every object must be a JSON object under a non-empty id");
            return;
        }
    }
    json_object_foreach(objects, id, fields)
    {
        if (s->state.api == FAKE_API_STRIPE) {
            fake_stripe_seed(&s->state, id, fields);
        } else {
            fake_reply_t err = {0};
            int rc = s->state.api == FAKE_API_INTERCOM     ? fake_intercom_seed(&s->state, id, fields, &err)
                     : s->state.api == FAKE_API_SHEETS     ? fake_sheets_seed(&s->state, id, fields, &err)
                     : s->state.api == FAKE_API_QUICKBOOKS ? fake_quickbooks_seed(&s->state, id, fields, &err)
                                                           : fake_hubspot_seed(&s->state, id, fields, &err);
            if (rc != 0) {
                fake_answer_send(req, fake_answer_create(req, &err));
                fake_reply_dispose(&err);
                return;
            }
        }
    }
    fake_send_json(req, 200, json_pack("{s:I}", "objects", (json_int_t)json_object_size(s->state.objects)));
}

/* Stripe: {"events": [event, ...]} become what GET /v1/events lists (the provider's memory of what it sent). */
static void control_events(fake_server_t *s, h2o_req_t *req, json_t *body)
{
    json_t *events = json_object_get(body, "events"), *ev;
    size_t i;
    if (s->state.api != FAKE_API_STRIPE || !json_is_array(events)) {
        fake_send_control_error(req, 400, "bad_request", "Stripe only: expected {\"events\":[event, ...]}");
        return;
    }
    json_array_foreach(events, i, ev)
    {
        if (!json_is_string(json_object_get(ev, "id")) || !json_is_integer(json_object_get(ev, "created"))) {
            fake_send_control_error(req, 400, "bad_request", "every event needs a string id and an integer created");
            return;
        }
    }
    json_array_extend(s->state.events, events);
    fake_send_json(req, 200, json_pack("{s:I}", "events", (json_int_t)json_array_size(s->state.events)));
}

int fake_control(fake_server_t *s, h2o_req_t *req)
{
    h2o_iovec_t p = req->path_normalized;
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")),
        post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    json_t *body = NULL;

    if (post && req->entity.base != NULL && req->entity.len != 0) {
        json_error_t err;
        if ((body = json_loadb(req->entity.base, req->entity.len, 0, &err)) == NULL || !json_is_object(body)) {
            json_decref(body);
            fake_send_control_error(req, 400, "bad_request", "the body must be a JSON object");
            return 0;
        }
    } else if (post) {
        body = json_object();
    }

    if (get && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/health")))
        fake_send_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "api", fake_api_names[s->state.api]));
    else if (get && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/state"))) {
        json_t *j = fake_state_json(&s->state);
        json_object_set_new(j, "hung", json_integer((json_int_t)s->num_hung));
        json_object_set_new(j, "mode", mode_json(s));
        fake_send_json(req, 200, j);
    } else if (get && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/requests")))
        fake_send_json(req, 200, json_incref(s->state.requests));
    else if (get && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/mode")))
        fake_send_json(req, 200, mode_json(s));
    else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/mode")))
        control_mode(s, req, body);
    else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/rate")))
        control_rate(s, req, body);
    else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/partial")))
        control_partial(s, req, body);
    else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/archive"))) {
        s->state.archived = !json_is_false(json_object_get(body, "archived"));
        fake_send_json(req, 200, json_pack("{s:b}", "archived", s->state.archived));
    } else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/seed")))
        control_seed(s, req, body);
    else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/events")))
        control_events(s, req, body);
    else if (post && h2o_memis(p.base, p.len, H2O_STRLIT("/_fake/reset"))) {
        fake_state_clear(&s->state);
        fake_reap_hung(s, 1);
        s->fault.mode = FAULT_OK;
        s->fault.until_ms = 0;
        s->fault.remaining = 0;
        fake_send_json(req, 200, json_pack("{s:b}", "ok", 1));
    } else
        fake_send_control_error(req, 404, "not_found", "unknown control endpoint (see tests/fakes/README.md)");
    json_decref(body);
    return 0;
}
