#include "yamldoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_from_parser(sy_yaml_t *y, yaml_parser_t *parser, sy_error_t *err)
{
    if (!yaml_parser_load(parser, &y->doc)) {
        /* libyaml marks are 0-based; people count from 1. */
        const yaml_mark_t *m = parser->problem_mark.line || parser->problem_mark.column ? &parser->problem_mark
                                                                                        : &parser->context_mark;
        return sy_error_set(err, SY_EPARSE, y->file, (unsigned)m->line + 1, (unsigned)m->column + 1, "%s%s%s",
                            parser->problem != NULL ? parser->problem : "invalid YAML",
                            parser->context != NULL ? " " : "", parser->context != NULL ? parser->context : "");
    }
    y->loaded = 1;
    return 0;
}

int sy_yaml_load(sy_yaml_t *y, const char *path, sy_error_t *err)
{
    memset(y, 0, sizeof(*y));
    snprintf(y->file, sizeof(y->file), "%s", path);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return sy_error_set(err, SY_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    int rc = load_from_parser(y, &parser, err);
    yaml_parser_delete(&parser);
    fclose(fp);
    return rc;
}

int sy_yaml_load_string(sy_yaml_t *y, const char *name, const char *text, size_t len, sy_error_t *err)
{
    memset(y, 0, sizeof(*y));
    snprintf(y->file, sizeof(y->file), "%s", name);
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = load_from_parser(y, &parser, err);
    yaml_parser_delete(&parser);
    return rc;
}

void sy_yaml_dispose(sy_yaml_t *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    y->loaded = 0;
}

yaml_node_t *sy_yaml_root(sy_yaml_t *y)
{
    return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *sy_yaml_node(sy_yaml_t *y, int id)
{
    return yaml_document_get_node(&y->doc, id);
}

int sy_yaml_fail(sy_yaml_t *y, const yaml_node_t *node, sy_error_t *err, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    unsigned line = node != NULL ? (unsigned)node->start_mark.line + 1 : 0;
    unsigned column = node != NULL ? (unsigned)node->start_mark.column + 1 : 0;
    return sy_error_set(err, SY_EINVAL, y->file, line, column, "%s", msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int sy_yaml_read_map(sy_yaml_t *y, yaml_node_t *map, const char *what, const sy_yaml_key_t *keys, size_t num_keys,
                     void *target, sy_error_t *err)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return sy_yaml_fail(y, map, err, "%s: expected a mapping of keys to values", what);
    unsigned char seen[64] = {0};
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; ++p) {
        yaml_node_t *k = sy_yaml_node(y, p->key), *v = sy_yaml_node(y, p->value);
        const char *name = scalar(k);
        if (name == NULL)
            return sy_yaml_fail(y, k, err, "%s: keys must be plain names", what);
        size_t i;
        for (i = 0; i != num_keys; ++i)
            if (strcmp(keys[i].key, name) == 0)
                break;
        if (i == num_keys)
            return sy_yaml_fail(y, k, err, "%s: unknown key \"%s\"", what, name);
        if (i < sizeof(seen) && seen[i]++)
            return sy_yaml_fail(y, k, err, "%s: key \"%s\" given twice", what, name);
        int rc = keys[i].cb(y, v, (char *)target + keys[i].offset, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

yaml_node_t *sy_yaml_map_get(sy_yaml_t *y, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; ++p) {
        const char *name = scalar(sy_yaml_node(y, p->key));
        if (name != NULL && strcmp(name, key) == 0)
            return sy_yaml_node(y, p->value);
    }
    return NULL;
}

int sy_yaml_read_string(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    const char *s = scalar(n);
    if (s == NULL)
        return sy_yaml_fail(y, n, err, "expected a string");
    char **dst = field;
    free(*dst);
    if ((*dst = strdup(s)) == NULL)
        return SY_ENOMEM;
    return 0;
}

static int parse_number_with_unit(const char *s, unsigned long long *num, const char **unit)
{
    if (s == NULL || *s < '0' || *s > '9')
        return SY_EINVAL;
    char *end;
    errno = 0;
    *num = strtoull(s, &end, 10);
    if (errno != 0)
        return SY_EINVAL;
    *unit = end;
    return 0;
}

int sy_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},           {"B", 1},           {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
                 {"TiB", 1ull << 40}, {"KB", 1000},       {"MB", 1000000},     {"GB", 1000000000}};
    unsigned long long n;
    const char *unit;
    if (parse_number_with_unit(s, &n, &unit) != 0)
        return SY_EINVAL;
    for (size_t i = 0; i != SY_ARRAY_SIZE(units); ++i) {
        if (strcmp(unit, units[i].unit) == 0) {
            if (n > UINT64_MAX / units[i].mult)
                return SY_EINVAL;
            *out = n * units[i].mult;
            return 0;
        }
    }
    return SY_EINVAL;
}

int sy_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    unsigned long long n;
    const char *unit;
    if (parse_number_with_unit(s, &n, &unit) != 0)
        return SY_EINVAL;
    for (size_t i = 0; i != SY_ARRAY_SIZE(units); ++i) {
        if (strcmp(unit, units[i].unit) == 0) {
            if (n > (unsigned long long)(INT64_MAX / units[i].mult))
                return SY_EINVAL;
            *out = (int64_t)n * units[i].mult;
            return 0;
        }
    }
    return SY_EINVAL;
}

int sy_yaml_read_size(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    if (sy_parse_size(scalar(n), field) != 0)
        return sy_yaml_fail(y, n, err, "expected a size such as 4096, 512KiB, 64MiB or 1GiB");
    return 0;
}

int sy_yaml_read_duration(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    if (sy_parse_duration_ms(scalar(n), field) != 0)
        return sy_yaml_fail(y, n, err, "expected a duration such as 250ms, 300s, 5m, 1h or 30d");
    return 0;
}

int sy_yaml_read_uint(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    unsigned long long v;
    const char *unit;
    if (parse_number_with_unit(scalar(n), &v, &unit) != 0 || *unit != '\0' || v > 0xffffffffu)
        return sy_yaml_fail(y, n, err, "expected a whole number");
    *(unsigned *)field = (unsigned)v;
    return 0;
}

int sy_yaml_read_bool(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    const char *s = scalar(n);
    if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)) {
        *(int *)field = 1;
    } else if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)) {
        *(int *)field = 0;
    } else {
        return sy_yaml_fail(y, n, err, "expected true or false");
    }
    return 0;
}
