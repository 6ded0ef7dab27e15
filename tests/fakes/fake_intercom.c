/*
 * Intercom's contacts API (2.x) as Switchyard uses it:
 *   POST /contacts           {"role":"user"|"lead","email","name","phone","custom_attributes":{}}; 409 on a taken email
 *   PUT  /contacts/{id}      the same members, all optional; 404 for an unknown id, 409 when the new email is taken
 *   GET  /contacts/{id}      200 or 404
 *   POST /contacts/search    {"query":{"field":"email","operator":"=","value":X}} → {"type":"list","data":[…]}
 * A contact is stored as the API returns it: {"type":"contact","id",…,"custom_attributes":{}}; ids are 24 hex
 * digits. Emails are unique, compared without case (the search too). null clears a member (a custom attribute set
 * to null is removed). Unknown members are 400 parameter_invalid and change nothing. Every API request must carry
 * a supported Intercom-Version (checked in fake_spoke.c). Errors: {"type":"error.list","request_id","errors":[{"code",
 * "message"}]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake.h"

static const char base[] = "/contacts";
static const char *const standard[] = {"email", "name", "phone"};

void fake_intercom_error(fake_reply_t *out, int status, const char *code, const char *message)
{
    static unsigned long long seq;
    char rid[40];
    snprintf(rid, sizeof(rid), "req_fake%llu", ++seq);
    fake_reply_json(out, status,
                    json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "type", "error.list", "request_id", rid, "errors", "code", code,
                              "message", message));
}

static void bad_request(fake_reply_t *out, const char *message)
{
    fake_intercom_error(out, 400, "parameter_invalid", message);
}

/* The id of another contact than except_id holding email (case-insensitive), or NULL. */
static const char *email_owner(fake_state_t *st, const char *email, const char *except_id)
{
    const char *id;
    json_t *c;
    json_object_foreach(st->objects, id, c)
    {
        const char *e = json_string_value(json_object_get(c, "email"));
        if (e != NULL && strcasecmp(e, email) == 0 && (except_id == NULL || strcmp(id, except_id) != 0))
            return id;
    }
    return NULL;
}

static int is_standard(const char *name)
{
    for (size_t i = 0; i != sizeof(standard) / sizeof(standard[0]); ++i)
        if (strcmp(name, standard[i]) == 0)
            return 1;
    return 0;
}

/*
 * Checks a create or update body: standard members strings or null, custom_attributes an object of scalars, role
 * user or lead (create only). Returns 0, or -1 with out filled (400).
 */
static int check_body(json_t *body, int create, fake_reply_t *out)
{
    const char *name;
    json_t *v;
    char msg[300];
    json_object_foreach(body, name, v)
    {
        if (is_standard(name)) {
            if (!json_is_string(v) && !json_is_null(v)) {
                snprintf(msg, sizeof(msg), "%s must be a string", name);
                bad_request(out, msg);
                return -1;
            }
        } else if (strcmp(name, "custom_attributes") == 0) {
            const char *k;
            json_t *cv;
            if (!json_is_object(v)) {
                bad_request(out, "custom_attributes must be an object");
                return -1;
            }
            json_object_foreach(v, k, cv)
            {
                if (json_is_object(cv) || json_is_array(cv) || k[0] == '\0' || strpbrk(k, ".$[]") != NULL) {
                    snprintf(msg, sizeof(msg), "Custom attribute '%.200s' is not valid", k);
                    bad_request(out, msg);
                    return -1;
                }
            }
        } else if (strcmp(name, "role") == 0) {
            const char *r = json_string_value(v);
            if (!create || r == NULL || (strcmp(r, "user") != 0 && strcmp(r, "lead") != 0)) {
                bad_request(out, create ? "role must be user or lead" : "role cannot be changed here");
                return -1;
            }
        } else {
            snprintf(msg, sizeof(msg), "Unknown parameter '%.200s'", name);
            bad_request(out, msg);
            return -1;
        }
    }
    return 0;
}

/* 409 when body sets an email another contact (not self_id) holds; 0 if free. */
static int email_conflict(fake_state_t *st, json_t *body, const char *self_id, fake_reply_t *out)
{
    const char *email = json_string_value(json_object_get(body, "email")), *owner;
    char msg[200];
    if (email == NULL || email[0] == '\0' || (owner = email_owner(st, email, self_id)) == NULL)
        return 0;
    snprintf(msg, sizeof(msg), "A contact matching those details already exists with id=%s", owner);
    fake_intercom_error(out, 409, "conflict", msg);
    return -1;
}

/* Writes body's members into contact c (null clears; custom attributes merge, null removes one). */
static void apply(json_t *c, json_t *body)
{
    const char *name;
    json_t *v;
    json_object_foreach(body, name, v)
    {
        if (strcmp(name, "custom_attributes") == 0) {
            json_t *ca = json_object_get(c, "custom_attributes");
            const char *k;
            json_t *cv;
            json_object_foreach(v, k, cv)
            {
                if (json_is_null(cv))
                    json_object_del(ca, k);
                else
                    json_object_set(ca, k, cv);
            }
        } else {
            json_object_set(c, name, v);
        }
    }
    json_object_set_new(c, "updated_at", json_integer(fake_now_s()));
}

/* A new contact stored under id (a fresh 24-hex id when NULL); returns it (borrowed). */
static json_t *new_contact(fake_state_t *st, const char *id)
{
    char fresh[32];
    if (id == NULL) {
        do
            snprintf(fresh, sizeof(fresh), "6657%020llx", (unsigned long long)st->next_id++);
        while (json_object_get(st->objects, fresh) != NULL);
        id = fresh;
    }
    json_int_t now = fake_now_s();
    json_t *c = json_pack("{s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:I, s:I, s:{}}", "type", "contact", "id", id, "role", "user",
                          "email", "name", "phone", "external_id", "created_at", now, "updated_at", now,
                          "custom_attributes");
    json_object_set_new(st->objects, id, c);
    return c;
}

static json_t *parse_body(const fake_http_t *req, fake_reply_t *out)
{
    json_error_t err;
    char msg[300];
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "Invalid JSON: %s (line %d, column %d)", err.text, err.line, err.column);
        bad_request(out, msg);
    } else if (!json_is_object(j)) {
        bad_request(out, "Invalid JSON: expected an object");
        json_decref(j);
        j = NULL;
    }
    return j;
}

static void not_found(fake_reply_t *out)
{
    fake_intercom_error(out, 404, "not_found", "User Not Found");
}

static void create(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *body = parse_body(req, out);
    if (body == NULL)
        return;
    if (check_body(body, 1, out) == 0 && email_conflict(st, body, NULL, out) == 0) {
        json_t *c = new_contact(st, NULL);
        apply(c, body);
        fake_reply_json(out, 200, json_incref(c));
    }
    json_decref(body);
}

static void update(fake_state_t *st, const char *id, const fake_http_t *req, fake_reply_t *out)
{
    json_t *c = json_object_get(st->objects, id), *body;
    if (c == NULL) {
        not_found(out);
        return;
    }
    if ((body = parse_body(req, out)) == NULL)
        return;
    if (check_body(body, 0, out) == 0 && email_conflict(st, body, id, out) == 0) {
        apply(c, body);
        fake_reply_json(out, 200, json_incref(c));
    }
    json_decref(body);
}

static void search(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *body = parse_body(req, out), *q, *data;
    const char *value, *id;
    json_t *c;
    if (body == NULL)
        return;
    q = json_object_get(body, "query");
    value = json_string_value(json_object_get(q, "value"));
    if (!json_is_object(q) || value == NULL || json_object_size(q) != 3 ||
        !json_is_string(json_object_get(q, "field")) || strcmp(json_string_value(json_object_get(q, "field")), "email") != 0 ||
        !json_is_string(json_object_get(q, "operator")) || strcmp(json_string_value(json_object_get(q, "operator")), "=") != 0) {
        bad_request(out, "sy_fake_spoke supports only {\"query\":{\"field\":\"email\",\"operator\":\"=\",\"value\":…}}");
        json_decref(body);
        return;
    }
    data = json_array();
    json_object_foreach(st->objects, id, c)
    {
        const char *e = json_string_value(json_object_get(c, "email"));
        if (e != NULL && strcasecmp(e, value) == 0)
            json_array_append(data, c);
    }
    size_t n = json_array_size(data);
    fake_reply_json(out, 200,
                    json_pack("{s:s, s:o, s:I, s:{s:s, s:i, s:i, s:i}}", "type", "list", "data", data, "total_count",
                              (json_int_t)n, "pages", "type", "pages", "page", 1, "per_page", 50, "total_pages", n != 0));
    json_decref(body);
}

void fake_intercom_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    const char *path = req->path, *m = req->method;
    char msg[600];

    if (strcmp(path, base) == 0 && strcmp(m, "POST") == 0) {
        create(st, req, out);
        return;
    }
    if (strcmp(path, "/contacts/search") == 0 && strcmp(m, "POST") == 0) {
        search(st, req, out);
        return;
    }
    if (strncmp(path, base, sizeof(base) - 1) == 0 && path[sizeof(base) - 1] == '/') {
        const char *id = path + sizeof(base);
        if (id[0] != '\0' && strchr(id, '/') == NULL) {
            if (strcmp(m, "PUT") == 0) {
                update(st, id, req, out);
                return;
            }
            if (strcmp(m, "GET") == 0) {
                json_t *c = json_object_get(st->objects, id);
                if (c == NULL)
                    not_found(out);
                else
                    fake_reply_json(out, 200, json_incref(c));
                return;
            }
        }
    }
    snprintf(msg, sizeof(msg), "Unable to route %.20s %.500s", m, path);
    fake_intercom_error(out, 404, "not_found", msg);
}

int fake_intercom_seed(fake_state_t *st, const char *id, json_t *fields, fake_reply_t *err)
{
    json_t *body = json_deep_copy(fields);
    json_object_del(body, "role"); /* seeded contacts are users */
    int rc = check_body(body, 0, err) == 0 && email_conflict(st, body, id, err) == 0 ? 0 : -1;
    if (rc == 0)
        apply(json_object_get(st->objects, id) != NULL ? json_object_get(st->objects, id) : new_contact(st, id), body);
    json_decref(body);
    return rc;
}

/* Intercom-Version values the API accepts: 1.0 … 1.4, 2.0 … 2.17 and Unstable. */
int fake_intercom_version_ok(const char *v)
{
    static const char *const known[] = {"1.0", "1.1", "1.2", "1.3", "1.4", "2.0",  "2.1",  "2.2",  "2.3",  "2.4",
                                        "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14",
                                        "2.15", "2.16", "2.17", "Unstable"};
    for (size_t i = 0; v != NULL && i != sizeof(known) / sizeof(known[0]); ++i)
        if (strcmp(v, known[i]) == 0)
            return 1;
    return 0;
}
