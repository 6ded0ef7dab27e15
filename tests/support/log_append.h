/*
 * Tests: one event appended straight to a store's log, as ingress logged it (or an older hub, without today's
 * checks). Header-only, for unit and integration tests alike.
 */
#ifndef SY_TEST_LOG_APPEND_H
#define SY_TEST_LOG_APPEND_H

#include <stdlib.h>

#include "event.h"
#include "store.h"

/* Encodes ev and appends it in one batch. Returns 0, SY_EINVAL when the event id was logged already, or an error. */
static inline int sy_test_append_event(sy_store_t *store, const sy_event_t *ev)
{
    char *value;
    size_t len;
    int rc = sy_codec_event_encode(ev, &value, &len);
    if (rc != 0)
        return rc;
    sy_append_t item = {.source = ev->source, .event_id = ev->event_id, .value = {value, len}};
    rc = sy_store_append(store, &item, 1);
    free(value);
    return rc == 0 && item.duplicate ? SY_EINVAL : rc;
}

#endif
