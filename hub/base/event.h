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

/*
 * The window a provider's event time must fall in before it becomes a version (ingress refuses the event with 400
 * otherwise; the applier skips, with a record, a logged event outside it). Versions decide which value wins, so a
 * time far in the future would win for ever: at most SY_EVENT_TIME_MAX_AHEAD_MS after the hub received the event
 * (clock skew between the provider and the hub). A time in the past can only lose, so the lower bound is only a
 * sanity floor: 2000-01-01T00:00:00Z. Checked against received_at_ms, so a replay judges an event as ingress did.
 */
#define SY_EVENT_TIME_MIN_MS INT64_C(946684800000)
#define SY_EVENT_TIME_MAX_AHEAD_MS INT64_C(3600000)
#define SY_EVENT_TIME_WINDOW_TEXT "after 2000-01-01 and at most 1 hour ahead of the hub's clock"

static inline int sy_event_time_plausible(int64_t occurred_at_ms, int64_t received_at_ms)
{
    return occurred_at_ms >= SY_EVENT_TIME_MIN_MS && occurred_at_ms <= received_at_ms + SY_EVENT_TIME_MAX_AHEAD_MS;
}

/* Encodes ev (without seq, which is the key) as msgpack into a malloc'd buffer owned by the caller. */
int sy_codec_event_encode(const sy_event_t *ev, char **out, size_t *outlen);
/* Decodes a stored value; slices point into data, valid as long as data is. Returns 0 or SY_EPARSE. */
int sy_codec_event_decode(const void *data, size_t len, sy_event_t *ev);

#endif
