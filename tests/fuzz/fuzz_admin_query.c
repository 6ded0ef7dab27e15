/*
 * The admin API's request handling that runs without a server (hub/admin/admin_api.c's own parsing, query_param and
 * path_tail, is static and needs an h2o_req_t, so it is not reached here):
 *   - GET /admin/api/records?q=Q and /admin/api/records/ID: sy_records_find + sy_records_load against a store seeded
 *     with golden records (emails, cust_N ids, source:external_id links);
 *   - GET /admin/api/events/SEQ: the seq text as event_one reads it;
 *   - POST /admin/api/replay: the JSON body read as replay_start reads it (jansson), its since/until through
 *     sy_parse_time_ms and the spec through sy_replay_selects against a few events;
 *   - GET /admin/api/map?format=F: sy_map_write.
 *
 * Input: the query (as the 511-byte buffer of records_find keeps it), '\n', the path tail (255 bytes at most, no
 * '/', as path_tail allows), '\n', the map format, '\n', the replay body (the rest).
 */
#include <jansson.h>

#include "fuzz_common.h"
#include "map.h"
#include "replay.h"

static sy_fuzz_world_t admin_query_world;
static FILE *admin_query_null;

static int admin_query_init(const char *root)
{
    if ((admin_query_null = fopen("/dev/null", "w")) == NULL)
        return SY_EIO;
    return sy_fuzz_world_open(&admin_query_world, root, "admin");
}

static void admin_query_fini(void)
{
    if (admin_query_null != NULL)
        fclose(admin_query_null);
    admin_query_null = NULL;
    sy_fuzz_world_close(&admin_query_world);
}

/* A C string of at most max bytes, cut at the first NUL (what the admin API's %-decoding into a buffer gives). */
static char *admin_query_cstr(sy_slice_t s, size_t max)
{
    if (s.len > max)
        s.len = max;
    return sy_fuzz_strdup(s);
}

static void admin_query_find(sy_txn_t *txn, const char *query)
{
    char *id = sy_records_find(txn, admin_query_world.policy, query);
    json_t *rec = id != NULL ? sy_records_load(txn, id) : NULL;
    SY_FUZZ_CHECK(id == NULL || rec != NULL); /* what find returns, load finds */
    if (rec != NULL) {
        char *text = json_dumps(rec, JSON_COMPACT);
        SY_FUZZ_CHECK(text != NULL);
        free(text);
    }
    json_decref(rec);
    free(id);
}

/* replay_start, up to the point where it would start a job. */
static void admin_query_replay(sy_slice_t body)
{
    json_t *doc = json_loadb(body.base, body.len, 0, NULL);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    sy_replay_spec_t spec;
    sy_replay_spec_init(&spec);
    const char *mode = json_string_value(json_object_get(doc, "mode"));
    const char *since = json_string_value(json_object_get(doc, "since"));
    const char *until = json_string_value(json_object_get(doc, "until"));
    const char *source = json_string_value(json_object_get(doc, "source"));
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *spoke = json_string_value(json_object_get(doc, "spoke"));
    spec.repush = mode != NULL && strcmp(mode, "repush") == 0;
    spec.dry_run = json_is_true(json_object_get(doc, "dry_run"));
    if (json_is_integer(json_object_get(doc, "from_seq")))
        spec.from_seq = (uint64_t)json_integer_value(json_object_get(doc, "from_seq"));
    if (json_is_integer(json_object_get(doc, "to_seq")))
        spec.to_seq = (uint64_t)json_integer_value(json_object_get(doc, "to_seq"));
    snprintf(spec.source, sizeof(spec.source), "%s", source != NULL ? source : "");
    snprintf(spec.type, sizeof(spec.type), "%s", type != NULL ? type : "");
    snprintf(spec.spoke, sizeof(spec.spoke), "%s", spoke != NULL ? spoke : "");
    int bad = (since != NULL && sy_parse_time_ms(since, &spec.since_ms) != 0) ||
              (until != NULL && sy_parse_time_ms(until, &spec.until_ms) != 0);
    if (!bad) {
        static const struct {
            const char *source, *type;
            int64_t received_at_ms;
        } events[] = {{"stripe", "customer.updated", SY_FUZZ_NOW_MS},
                      {"hubspot", "contact.propertyChange", 1763596800000LL},
                      {"stripe", "customer.subscription.deleted", 0}};
        for (size_t i = 0; i != SY_ARRAY_SIZE(events); ++i) {
            sy_event_t ev = {.seq = i + 1,
                             .received_at_ms = events[i].received_at_ms,
                             .source = sy_slice_cstr(events[i].source),
                             .connector = sy_slice_cstr(events[i].source),
                             .type = sy_slice_cstr(events[i].type),
                             .event_id = SY_SLICE_LIT("evt_1")};
            sy_replay_selects(&spec, &ev);
        }
    }
    json_decref(doc);
}

static void admin_query_one(const uint8_t *data, size_t size)
{
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    char *query = admin_query_cstr(sy_fuzz_until(&in, '\n'), 511);
    sy_slice_t tail_in = sy_fuzz_until(&in, '\n');
    char *format = admin_query_cstr(sy_fuzz_until(&in, '\n'), 15);
    sy_slice_t body = sy_fuzz_rest(&in);
    char *tail = admin_query_cstr(tail_in, 255);
    sy_txn_t *txn;

    SY_FUZZ_CHECK(sy_txn_begin(admin_query_world.store, 0, &txn) == 0);
    if (query[0] != '\0')
        admin_query_find(txn, query);
    if (tail[0] != '\0' && strchr(tail, '/') == NULL) {
        admin_query_find(txn, tail);
        char *end;
        uint64_t seq = strtoull(tail, &end, 10);
        sy_event_t ev;
        if (*end == '\0' && end != tail)
            sy_store_event_get(txn, seq, &ev);
    }
    sy_txn_abort(txn);

    if (strcmp(format, "json") == 0) {
        json_t *map = sy_map_json(admin_query_world.policy);
        SY_FUZZ_CHECK(map != NULL);
        json_decref(map);
    } else if (format[0] != '\0') {
        int rc = sy_map_write(admin_query_world.policy, format, admin_query_null);
        SY_FUZZ_CHECK(rc == 0 || (rc == SY_EINVAL && strcmp(format, "mermaid") != 0 && strcmp(format, "dot") != 0));
    }

    admin_query_replay(body);
    free(query);
    free(tail);
    free(format);
}

SY_FUZZ_MAIN(admin_query)
