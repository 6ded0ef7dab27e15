/*
 * Internal to the policy loader (policy_load.c reads the files, policy_check.c reads and checks each section):
 * the state of one load and the helpers both files use. Not part of the policy API; include policy.h instead.
 */
#ifndef SY_POLICY_INTERNAL_H
#define SY_POLICY_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "yamldoc.h"

#define MAX_IDENTITY_KEYS 8 /* sizeof sy_policy_t.strong_keys / weak_keys */
#define MAX_NAME_LEN 64
#define MAX_PATH_SEGMENTS 32

typedef struct st_top_t {
    yaml_node_t *entity, *fields, *identity, *loop_guard, *sources;
} top_t;

typedef struct st_field_extra_t {
    size_t file; /* which document declares the field */
    yaml_node_t *body;
    sy_policy_pos_t owner_pos[SY_POLICY_MAX_SOURCES], push_pos[SY_POLICY_MAX_SOURCES];
} field_extra_t;

typedef struct st_source_extra_t {
    size_t last_file;          /* a second declaration in the same file is a mistake; in another file a merge */
    sy_policy_pos_t *push_pos; /* parallel to sy_policy_source_t.push_names */
    sy_policy_pos_t rate_pos;  /* file == NULL: no rate given */
    sy_policy_pos_t create_pos; /* file == NULL: no create given */
} source_extra_t;

typedef struct st_loader_t {
    sy_policy_t *p;
    sy_yaml_t *docs; /* parallel to p->files */
    top_t *tops;
    char **bytes;
    size_t *lens;
    field_extra_t *fx; /* parallel to p->fields */
    size_t fields_cap;
    source_extra_t sx[SY_POLICY_MAX_SOURCES];
    sy_policy_pos_t entity_pos, identity_pos, loop_guard_pos;
    size_t cur; /* the document being read */
    sy_error_t *err;
} loader_t;

static inline void *xrealloc(void *p, size_t n)
{
    if ((p = realloc(p, n != 0 ? n : 1)) == NULL)
        abort(); /* policy files are capped in size: out of memory here is not recoverable */
    return p;
}

static inline void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static inline char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static inline const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static inline sy_policy_pos_t pos_of(loader_t *ld, const yaml_node_t *n)
{
    return (sy_policy_pos_t){ld->p->files[ld->cur], (unsigned)n->start_mark.line + 1,
                             (unsigned)n->start_mark.column + 1};
}

/* "file:line:column" of pos, for messages that name a second place. */
static inline const char *where(const sy_policy_pos_t *pos, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u:%u", pos->file, pos->line, pos->column);
    return buf;
}

static inline int keep_node(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    *(yaml_node_t **)field = n;
    return 0;
}

static inline int valid_name(const char *s, int allow_upper)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_NAME_LEN)
        return 0;
    for (; *s != '\0'; ++s)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              (allow_upper && *s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

/* Sets ld->err at node of the current document (file:line:column) and returns SY_EINVAL. */
int sy_policy_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Pass 2 (policy_check.c): the body of field index, then the other sections of document ld->cur. */
int sy_policy_read_field(loader_t *ld, size_t index);
int sy_policy_read_sections(loader_t *ld);
/* Checks that need the whole merged policy: owners map their fields, push targets have push_as, and so on. */
int sy_policy_check_merged(loader_t *ld);

#endif
