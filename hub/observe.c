#include "observe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJECTS_PER_EVENT 8

static void observation_dispose(sy_observation_t *o)
{
    free(o->external_id);
    for (size_t k = 0; k != o->num_fields; ++k)
        free(o->fields[k].value);
    free(o->fields);
    for (size_t k = 0; k != o->num_links; ++k)
        free(o->links[k].id);
    free(o->subscription_id);
    free(o->subscription_status);
    free(o->write_key);
    memset(o, 0, sizeof(*o));
}

/* Follows a dotted path; array segments are decimal indexes. Borrowed reference or NULL. */
static json_t *walk(json_t *root, const sy_policy_path_t *path)
{
    json_t *cur = root;
    for (size_t i = 0; i != path->num_segments && cur != NULL; ++i) {
        const char *seg = path->segments[i];
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur) && seg[0] >= '0' && seg[0] <= '9') {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            cur = *end == '\0' ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

/* Scalar as text (malloc'd): strings as is, numbers in decimal, null as "" (a clear). NULL for absent/composite. */
static char *scalar_text(const json_t *v)
{
    char buf[64];
    if (v == NULL)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        return strdup(buf);
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    case JSON_NULL:
        return strdup("");
    default:
        return NULL;
    }
}

/*
 * The JSON an event's paths are resolved against. Stripe: the event as sent. HubSpot: the event object plus
 * "properties": {propertyName: propertyValue}, so one property change reads like a partial contact.
 */
json_t *sy_event_body_json(const sy_event_t *ev, json_error_t *err)
{
    return json_loadb(ev->body.base, ev->body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, err);
}

static json_t *event_view(const sy_event_t *ev)
{
    json_t *doc = sy_event_body_json(ev, NULL);
    if (doc == NULL || !json_is_object(doc))
        return doc;
    json_t *name = json_object_get(doc, "propertyName");
    if (json_is_string(name) && json_object_get(doc, "properties") == NULL) {
        json_t *props = json_object();
        json_t *value = json_object_get(doc, "propertyValue");
        json_object_set(props, json_string_value(name), value != NULL ? value : json_null());
        json_object_set_new(doc, "properties", props);
    }
    return doc;
}

/*
 * The provider's time as ingress read it (Stripe `created` * 1000, HubSpot `occurredAt`) and stored it with the
 * event: one reading, never re-derived from the body. Events without one take the time they were received.
 */
static int64_t event_version(const sy_event_t *ev)
{
    return ev->occurred_at_ms != 0 ? ev->occurred_at_ms : ev->received_at_ms;
}

static void stripe_subscription(const char *type, json_t *doc, sy_observation_t *o)
{
    if (strncmp(type, "customer.subscription.", 22) != 0)
        return;
    json_t *obj = json_object_get(json_object_get(doc, "data"), "object");
    o->subscription_id = scalar_text(json_object_get(obj, "id"));
    o->subscription_status = scalar_text(json_object_get(obj, "status"));
    if (strcmp(type, "customer.subscription.deleted") == 0) {
        free(o->subscription_status);
        o->subscription_status = strdup("canceled");
    }
}

static int observe_object(const sy_policy_t *p, size_t si, const sy_policy_object_t *obj, const char *type, json_t *doc,
                          int64_t version, sy_observation_t *o)
{
    memset(o, 0, sizeof(*o));
    o->source = si;
    o->version_ms = version;
    if ((o->external_id = scalar_text(walk(doc, &obj->id))) == NULL || o->external_id[0] == '\0')
        return SY_ENOTFOUND;
    if (obj->id_prefix != NULL) {
        size_t pl = strlen(obj->id_prefix), il = strlen(o->external_id);
        char *prefixed = malloc(pl + il + 1);
        if (prefixed == NULL)
            return SY_ENOMEM;
        memcpy(prefixed, obj->id_prefix, pl);
        memcpy(prefixed + pl, o->external_id, il + 1);
        free(o->external_id);
        o->external_id = prefixed;
    }
    o->deleted = sy_policy_is_delete_event(obj, type);
    if ((o->fields = calloc(obj->num_fields + 1, sizeof(*o->fields))) == NULL)
        return SY_ENOMEM;
    for (size_t i = 0; i != obj->num_fields; ++i) {
        const sy_policy_field_map_t *m = &obj->fields[i];
        char *raw = scalar_text(walk(doc, &m->path));
        if (raw == NULL)
            continue; /* not in this event: not observed */
        const sy_policy_field_t *f = &p->fields[m->field];
        char *norm = sy_normalize(f->normalize, f->num_normalize, raw);
        free(raw);
        if (norm == NULL)
            return SY_ENOMEM;
        o->fields[o->num_fields++] = (sy_obs_field_t){m->field, norm};
    }
    for (size_t i = 0; i != obj->num_links && o->num_links != SY_OBS_MAX_LINKS; ++i) {
        char *id = scalar_text(walk(doc, &obj->links[i].path));
        if (id == NULL || id[0] == '\0') {
            free(id);
            continue;
        }
        o->links[o->num_links++] = (sy_obs_link_t){obj->links[i].source, id};
    }
    stripe_subscription(type, doc, o);
    /* Stripe names the idempotency key of the API call that caused the event: ours marks our own write. */
    json_t *key = json_object_get(json_object_get(doc, "request"), "idempotency_key");
    if (json_is_string(key) && (o->write_key = strdup(json_string_value(key))) == NULL)
        return SY_ENOMEM;
    return 0;
}

int sy_observe(const sy_policy_t *p, const sy_event_t *ev, sy_observation_t **out, size_t *n, const char **why)
{
    const char *ignored;
    if (why == NULL)
        why = &ignored;
    char source[128], type[256];
    const sy_policy_object_t *objs[MAX_OBJECTS_PER_EVENT];
    int rc = 0;

    *out = NULL;
    *n = 0;
    snprintf(source, sizeof(source), "%.*s", (int)ev->source.len, ev->source.base);
    snprintf(type, sizeof(type), "%.*s", (int)ev->type.len, ev->type.base);
    size_t si = sy_policy_source_index(p, source);
    if (si == SY_POLICY_NONE)
        return 0;
    size_t nobj = sy_policy_objects_for(p, si, type, objs, MAX_OBJECTS_PER_EVENT);
    if (nobj == 0)
        return 0;
    /* Logs written before ingress checked these may hold such events: they are skipped, never guessed at. */
    if (ev->occurred_at_ms != 0 && !sy_event_time_plausible(ev->occurred_at_ms, ev->received_at_ms)) {
        *why = "the provider time is outside the accepted window (" SY_EVENT_TIME_WINDOW_TEXT ")";
        return SY_EPARSE;
    }
    json_t *doc = event_view(ev);
    if (doc == NULL) {
        *why = "the body is not JSON as ingress reads it (duplicate keys, invalid escapes or numbers out of range)";
        return SY_EPARSE;
    }
    sy_observation_t *obs = calloc(nobj, sizeof(*obs));
    if (obs == NULL) {
        rc = SY_ENOMEM;
        goto Exit;
    }
    int64_t version = event_version(ev);
    for (size_t i = 0; i != nobj; ++i) {
        int orc = observe_object(p, si, objs[i], type, doc, version, &obs[*n]);
        if (orc == 0) {
            ++*n;
        } else {
            observation_dispose(&obs[*n]);
            if (orc == SY_ENOMEM) {
                rc = orc;
                goto Exit;
            }
        }
    }
    if (*n != 0) {
        *out = obs;
        obs = NULL;
    }
Exit:
    if (obs != NULL)
        sy_observations_free(obs, *n);
    if (rc != 0)
        *n = 0;
    json_decref(doc);
    return rc;
}

void sy_observations_free(sy_observation_t *obs, size_t n)
{
    if (obs == NULL)
        return;
    for (size_t i = 0; i != n; ++i)
        observation_dispose(&obs[i]);
    free(obs);
}
