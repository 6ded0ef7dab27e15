/*
 * Harness, memory side: objects owned by a harness and released by sy_it_destroy, so that a failed
 * assertion (a longjmp out of the test) leaks nothing under ASan.
 */
#include "harness.h"

#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

struct st_sy_it_owned_t {
    sy_it_owned_t *next;
    void *ptr;
    void (*release)(void *);
};

void *sy_it_own(sy_it_t *h, void *ptr, void (*release)(void *))
{
    sy_it_owned_t *o;
    if (ptr == NULL)
        fail_msg("out of memory, or an object to own is missing");
    if ((o = malloc(sizeof(*o))) == NULL) {
        release(ptr);
        fail_msg("out of memory");
    }
    *o = (sy_it_owned_t){h->owned, ptr, release};
    h->owned = o;
    return ptr;
}

void *sy_it_alloc(sy_it_t *h, size_t size)
{
    return sy_it_own(h, calloc(1, size != 0 ? size : 1), free);
}

static void release_json(void *p)
{
    json_decref(p);
}

json_t *sy_it_own_json(sy_it_t *h, json_t *json)
{
    return sy_it_own(h, json, release_json);
}

void sy_it_release(sy_it_t *h, void *ptr)
{
    for (sy_it_owned_t **p = &h->owned; ptr != NULL && *p != NULL; p = &(*p)->next) {
        if ((*p)->ptr == ptr) {
            sy_it_owned_t *o = *p;
            *p = o->next;
            o->release(o->ptr);
            free(o);
            return;
        }
    }
}

void sy_it_release_all(sy_it_t *h)
{
    while (h->owned != NULL)
        sy_it_release(h, h->owned->ptr);
}
