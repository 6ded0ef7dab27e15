/*
 * Observations: what one logged event says about one customer object at one tool, under the policy.
 * (source, external id, version, field values, cross ids). Pure: no storage, no clock.
 */
#ifndef SY_OBSERVE_H
#define SY_OBSERVE_H

#include <jansson.h>

#include "event.h"
#include "policy.h"

#define SY_OBS_MAX_LINKS 8

typedef struct st_sy_obs_field_t {
    size_t field; /* policy field index */
    char *value;  /* normalised; "" when the tool sent null or an empty value (a clear) */
} sy_obs_field_t;

typedef struct st_sy_obs_link_t {
    size_t source; /* policy source index */
    char *id;
} sy_obs_link_t;

typedef struct st_sy_observation_t {
    size_t source;     /* policy source index */
    char *external_id; /* the tool's id of the customer object */
    int64_t version_ms; /* provider time of the change: Stripe `created`, HubSpot `occurredAt` */
    int deleted;        /* the event is one of the object's delete_events */
    sy_obs_field_t *fields;
    size_t num_fields;
    sy_obs_link_t links[SY_OBS_MAX_LINKS];
    size_t num_links;
    /* Stripe subscriptions, kept per customer for the double-billing alarm. */
    char *subscription_id;
    char *subscription_status;
    /* Invoices (connector observe hints), kept per customer for unmatched invoices and two-tool billing. */
    char *invoice_id;
    char *invoice_status;
    /* The idempotency key of the write that caused the event, when the tool says (Stripe request.idempotency_key). */
    char *write_key;
} sy_observation_t;

/*
 * The event's body as a jansson tree, read the way ingress validated it (hub/base/json.h): any root, duplicate keys
 * refused. Every reader of a stored body goes through here. New reference, NULL (err filled if given) when the
 * bytes are not such JSON.
 */
json_t *sy_event_body_json(const sy_event_t *ev, json_error_t *err);

/*
 * Decodes ev into observations (one per matching policy object that yields an external id). *out is a malloc'd
 * array owned by the caller (sy_observations_free releases it and its contents); *n may be 0 (event type not mapped, source not in
 * the policy). Returns 0, or SY_EPARSE when the stored event cannot be used, with *why (if why is given) a static
 * sentence: the body is not JSON as ingress defines it, or the provider time is outside the window of event.h.
 */
int sy_observe(const sy_policy_t *p, const sy_event_t *ev, sy_observation_t **out, size_t *n, const char **why);
void sy_observations_free(sy_observation_t *obs, size_t n);

/*
 * The shape of one event, for schema drift (drift.h): the JSON type at each path the policy maps for its source and
 * type (sy_shape_paths, in that order) as one code each, and the event's top-level "api_version" string where the
 * tool sends one (Stripe). Codes: SY_SHAPE_* below.
 */
#define SY_SHAPE_MAX_PATHS 48
#define SY_SHAPE_STRING 's'
#define SY_SHAPE_NUMBER 'n'
#define SY_SHAPE_BOOL 'b'
#define SY_SHAPE_OBJECT 'o'
#define SY_SHAPE_ARRAY 'a'
#define SY_SHAPE_NULL 'z'
#define SY_SHAPE_ABSENT '-'    /* its parent is there, the member is not */
#define SY_SHAPE_NOT_OBJECT 'p' /* an ancestor is there but a scalar (an expandable object sent as its id) */
#define SY_SHAPE_NA 'x'        /* an ancestor is absent, or another property's change (HubSpot): says nothing */

typedef struct st_sy_shape_t {
    char *buf;          /* owns the strings below; NULL: no shape (source not in the policy, unreadable body) */
    const char *source, *type;
    const char *codes;       /* one SY_SHAPE_* per path, NUL-terminated */
    const char *api_version; /* NULL: none */
} sy_shape_t;

/* The distinct paths (ids, fields, links of every object matching type, in policy order), at most max. */
size_t sy_shape_paths(const sy_policy_t *p, size_t source, const char *type, const sy_policy_path_t **out, size_t max);
/* sy_observe, and the event's shape into *shape when shape is not NULL (released with sy_shape_dispose). */
int sy_observe_shape(const sy_policy_t *p, const sy_event_t *ev, sy_observation_t **out, size_t *n, const char **why,
                     sy_shape_t *shape);
void sy_shape_dispose(sy_shape_t *shape);
/* A code's name in messages: "string", "number", "absent", ... */
const char *sy_shape_code_name(char code);

#endif
