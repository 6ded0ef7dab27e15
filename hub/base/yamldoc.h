/*
 * YAML documents with positions: a thin layer over libyaml's document API used by the config loader
 * (and, later, the policy loader). Every error names file:line:column of the node at fault.
 *
 * Mappings are read through key tables (like nginx's directives): each entry binds a key to a handler
 * and an offset into the target struct, so unknown keys are errors and duplicate keys are caught.
 */
#ifndef SY_YAMLDOC_H
#define SY_YAMLDOC_H

#include <yaml.h>

#include "common.h"

typedef struct st_sy_yaml_t {
    yaml_document_t doc;
    char file[256];
    int loaded;
} sy_yaml_t;

/* Loads the first document of path. Returns 0, or SY_EIO / SY_EPARSE with err set (file:line:column). */
int sy_yaml_load(sy_yaml_t *y, const char *path, sy_error_t *err);
/* Same from memory; name is used in messages. */
int sy_yaml_load_string(sy_yaml_t *y, const char *name, const char *text, size_t len, sy_error_t *err);
void sy_yaml_dispose(sy_yaml_t *y);
/* Root node, or NULL for an empty document. */
yaml_node_t *sy_yaml_root(sy_yaml_t *y);
yaml_node_t *sy_yaml_node(sy_yaml_t *y, int id);

/* Sets err at node's position (1-based line and column) and returns SY_EINVAL. */
int sy_yaml_fail(sy_yaml_t *y, const yaml_node_t *node, sy_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef int (*sy_yaml_field_cb)(sy_yaml_t *y, yaml_node_t *value, void *field, sy_error_t *err);

typedef struct st_sy_yaml_key_t {
    const char *key;
    sy_yaml_field_cb cb;
    size_t offset; /* of the field within the target struct */
} sy_yaml_key_t;

/*
 * Walks mapping node `map`, calling the handler of each key with (char *)target + offset.
 * Unknown and repeated keys are errors; `what` names the section in messages ("ingress", ...).
 */
int sy_yaml_read_map(sy_yaml_t *y, yaml_node_t *map, const char *what, const sy_yaml_key_t *keys, size_t num_keys,
                     void *target, sy_error_t *err);

/* The value node of key in mapping node map, or NULL (map not a mapping, or no such key). */
yaml_node_t *sy_yaml_map_get(sy_yaml_t *y, yaml_node_t *map, const char *key);

/* Scalar readers (field points to the destination type named in each). */
int sy_yaml_read_string(sy_yaml_t *y, yaml_node_t *n, void *field /* char ** (malloc'd) */, sy_error_t *err);
int sy_yaml_read_size(sy_yaml_t *y, yaml_node_t *n, void *field /* uint64_t *: 64MiB, 1GiB, 4096 */, sy_error_t *err);
int sy_yaml_read_duration(sy_yaml_t *y, yaml_node_t *n, void *field /* int64_t * ms: 300s, 5m, 250ms */,
                          sy_error_t *err);
int sy_yaml_read_uint(sy_yaml_t *y, yaml_node_t *n, void *field /* unsigned * */, sy_error_t *err);
int sy_yaml_read_bool(sy_yaml_t *y, yaml_node_t *n, void *field /* int * */, sy_error_t *err);

/* Parses "64MiB"/"1GiB"/"512KiB"/"4096" and "300s"/"5m"/"250ms"/"1h"/"30d"; 0 or SY_EINVAL. */
int sy_parse_size(const char *s, uint64_t *out);
int sy_parse_duration_ms(const char *s, int64_t *out);

#endif
