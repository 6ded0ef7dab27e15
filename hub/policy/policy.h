/*
 * Field-ownership policy: which tool owns which golden-record field, where each field is pushed, how each
 * tool's webhook payloads map onto fields, identity keys, exclusions and the loop guard.
 *
 * Loaded from one YAML file or a directory of them (policies/README.md is the reference, policies/customers.yaml
 * the example). Loading checks everything statically and reports file:line:column. A loaded policy is immutable
 * and shared read-only between threads; a reload builds a new one and swaps the pointer.
 */
#ifndef SY_POLICY_H
#define SY_POLICY_H

#include <stdio.h>

#include "common.h"

#define SY_POLICY_MAX_SOURCES 16
#define SY_POLICY_MAX_NORMALIZERS 4
#define SY_POLICY_HASH_LEN 16 /* hex chars of SHA-256 over the policy files' names and bytes */
#define SY_POLICY_NONE ((size_t)-1)

typedef enum en_sy_on_conflict_t {
    SY_CONFLICT_IGNORE = 0, /* count it, change nothing */
    SY_CONFLICT_REVERT,     /* count it and queue the golden value back to the source that changed it */
    SY_CONFLICT_ALERT,      /* count it and raise an alert; change nothing */
} sy_on_conflict_t;

typedef enum en_sy_normalizer_t {
    SY_NORM_TRIM = 1,     /* strip leading/trailing white space, fold inner runs to one space */
    SY_NORM_LOWER,        /* ASCII lower case */
    SY_NORM_EMAIL,        /* trim + lower case; must contain one '@' with text on both sides, else empty */
    SY_NORM_PHONE_E164,   /* "+<digits>": keeps a leading '+', drops spaces, dots, dashes, parentheses; "00" prefix
                             becomes '+'; a number without country code is left as digits (no guessing) */
    SY_NORM_COMPANY_NAME, /* lower case, punctuation to spaces, trailing legal suffixes dropped (inc, corp,
                             corporation, llc, ltd, limited, gmbh, sa, sas, bv, co, company, plc), spaces folded */
} sy_normalizer_t;

typedef struct st_sy_policy_pos_t {
    const char *file; /* points into sy_policy_t.files */
    unsigned line, column;
} sy_policy_pos_t;

typedef struct st_sy_policy_field_t {
    char *name;
    size_t owners[SY_POLICY_MAX_SOURCES]; /* source indexes in priority order: first non-empty value wins */
    size_t num_owners;
    size_t push[SY_POLICY_MAX_SOURCES]; /* source indexes the golden value is pushed to */
    size_t num_push;
    sy_on_conflict_t on_conflict;
    sy_normalizer_t normalize[SY_POLICY_MAX_NORMALIZERS]; /* applied in order */
    size_t num_normalize;
    int required; /* counts toward "complete" in the data-health report */
    sy_policy_pos_t pos;
} sy_policy_field_t;

/* A path is a dotted path into the event JSON: "data.object.email", "data.object.items.data.0.price.id". */
typedef struct st_sy_policy_path_t {
    char **segments; /* a segment of digits indexes an array */
    size_t num_segments;
    char *text; /* as written */
} sy_policy_path_t;

typedef struct st_sy_policy_field_map_t {
    size_t field; /* index into sy_policy_t.fields */
    sy_policy_path_t path;
} sy_policy_field_map_t;

typedef struct st_sy_policy_link_t {
    size_t source; /* this object is the same customer as <source>'s object whose id is at path */
    sy_policy_path_t path;
} sy_policy_link_t;

/* One `objects` entry of a source: how events of some types describe a customer. */
typedef struct st_sy_policy_object_t {
    char **events; /* event type patterns (fnmatch: "customer.*", "contact.propertyChange") */
    size_t num_events;
    char **delete_events; /* patterns meaning the object was deleted at the source (e.g. customer.deleted) */
    size_t num_delete_events;
    sy_policy_path_t id; /* the source's external id of the customer this event is about */
    char *id_prefix;     /* prepended to that id, so a tool's object kinds do not collide (HubSpot "company-") */
    sy_policy_field_map_t *fields;
    size_t num_fields;
    sy_policy_link_t *links;
    size_t num_links;
    sy_policy_pos_t pos;
} sy_policy_object_t;

typedef struct st_sy_policy_exclude_t {
    char *id;     /* external id equal to this (exact), or NULL */
    size_t field; /* field compared, or SY_POLICY_NONE */
    char *equals; /* normalised field value equal to this (case-insensitive), or NULL */
    char *matches; /* fnmatch glob on the normalised field value, or NULL */
} sy_policy_exclude_t;

typedef struct st_sy_policy_push_name_t {
    size_t field;
    char *name; /* the spoke API's name for it: "email", "metadata.lifecycle_stage", "lifecyclestage" */
} sy_policy_push_name_t;

#define SY_CREATE_IF_MISSING 0 /* the default when a source says nothing */
#define SY_CREATE_NEVER 1

typedef struct st_sy_policy_source_t {
    char *name; /* matches a source name of the hub config (or a push-only spoke) */
    sy_policy_object_t *objects;
    size_t num_objects;
    sy_policy_push_name_t *push_names; /* how golden fields are written to this tool */
    size_t num_push_names;
    sy_policy_exclude_t *excludes;
    size_t num_excludes;
    /* Pushes to this tool for a record it has no object for: SY_CREATE_IF_MISSING looks the object up by the
     * record's email and creates it if none is found; SY_CREATE_NEVER only looks it up (found: linked and updated;
     * not found: the push is dropped, counted as not_created). */
    int create;
    unsigned rate_count; /* outbound rate limit: rate_count requests per rate_window_ms; 0 = connector default */
    int64_t rate_window_ms;
    sy_policy_pos_t pos;
} sy_policy_source_t;

typedef struct st_sy_policy_t {
    char hash[SY_POLICY_HASH_LEN + 1];
    char *entity; /* "customer" */
    sy_policy_field_t *fields;
    size_t num_fields;
    sy_policy_source_t *sources;
    size_t num_sources;
    size_t strong_keys[8]; /* field indexes whose normalised value links records automatically (e.g. email) */
    size_t num_strong_keys;
    size_t weak_keys[8]; /* field indexes whose normalised value only suggests a merge (e.g. company) */
    size_t num_weak_keys;
    unsigned revert_budget;        /* reverts per (source, record, field) within the window before freezing */
    int64_t revert_window_ms;
    char **files; /* the files loaded, sorted */
    size_t num_files;
} sy_policy_t;

/*
 * Loads and checks a policy from a file or a directory (every *.yaml / *.yml in it, sorted by name).
 * Returns 0, or a negative code with err naming file:line:column and what is wrong. *out is owned by the caller.
 */
int sy_policy_load(sy_policy_t **out, const char *path, sy_error_t *err);
void sy_policy_destroy(sy_policy_t *policy);

/* Lookups: index or SY_POLICY_NONE. */
size_t sy_policy_field_index(const sy_policy_t *p, const char *name);
size_t sy_policy_source_index(const sy_policy_t *p, const char *name);
/* Whether source is one of field's owners; its rank (0 = first) in *rank when it is. */
int sy_policy_is_owner(const sy_policy_t *p, size_t field, size_t source, size_t *rank);
/* The object entries of source that match event type, in order; returns how many were written to out. */
size_t sy_policy_objects_for(const sy_policy_t *p, size_t source, const char *type, const sy_policy_object_t **out,
                             size_t max);
/* Whether type is one of obj's delete_events. */
int sy_policy_is_delete_event(const sy_policy_object_t *obj, const char *type);
/* The spoke API name of field for source, or NULL when the source has no push mapping for it. */
const char *sy_policy_push_name(const sy_policy_t *p, size_t source, size_t field);
/*
 * Whether an object of source is a test record to drop: values[i] is the normalised value of field i
 * (NULL when absent) for this observation.
 */
int sy_policy_excluded(const sy_policy_t *p, size_t source, const char *external_id, const char *const *values);

/* Applies the normalisers in order. Returns a malloc'd string (possibly empty) owned by the caller. */
char *sy_normalize(const sy_normalizer_t *list, size_t n, const char *value);
/* Parses "email" / "phone_e164" / ...; 0 or SY_EINVAL. */
int sy_normalizer_parse(const char *name, sy_normalizer_t *out);
const char *sy_normalizer_name(sy_normalizer_t n);

/* The one-screen summary printed by `switchyard policy check`: fields, owner(s), push targets, sources. */
void sy_policy_summary(const sy_policy_t *p, FILE *out);

#endif
