/*
 * An event as the log keeps it: the raw body bytes exactly as received plus what ingress learnt about them.
 * All slices are borrowed: from the request (ingress) or from an LMDB read transaction (readers).
 */
#ifndef SY_EVENT_H
#define SY_EVENT_H

#include "common.h"

typedef struct st_sy_event_t {
    uint64_t seq;           /* log position; 0 until appended */
    int64_t received_at_ms; /* hub wall clock when the request was verified */
    int64_t occurred_at_ms; /* provider's time for the event, 0 if it gave none */
    sy_slice_t source;      /* configured source name, e.g. "stripe" */
    sy_slice_t connector;   /* connector name, e.g. "stripe" */
    sy_slice_t event_id;    /* provider event id (dedupe key together with source) */
    sy_slice_t type;        /* provider event type */
    sy_slice_t signature;   /* scheme that verified it: "stripe-v1", "hubspot-v3", ... */
    sy_slice_t user_agent;  /* as sent, for forensics; may be empty */
    uint32_t batch_index;   /* position in the request's batch (HubSpot), 0 otherwise */
    uint32_t batch_size;    /* events in that request, 1 for Stripe */
    sy_slice_t body;        /* raw bytes of this event */
} sy_event_t;

/* Encodes ev (without seq, which is the key) as msgpack into a malloc'd buffer owned by the caller. */
int sy_codec_event_encode(const sy_event_t *ev, char **out, size_t *outlen);
/* Decodes a stored value; slices point into data, valid as long as data is. Returns 0 or SY_EPARSE. */
int sy_codec_event_decode(const void *data, size_t len, sy_event_t *ev);

#endif
