/*
 * msgpack encoding of stored values: the only file that includes msgpack.h.
 * Events are maps with short string keys so later versions can add fields (readers skip unknown keys);
 * documents (records, outbox entries, ...) are jansson trees mapped one to one onto msgpack.
 */
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "event.h"

#define EVENT_FORMAT_VERSION 1

static void pack_str(msgpack_packer *pk, const char *key, sy_slice_t v)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_str_with_body(pk, v.base != NULL ? v.base : "", v.len);
}

static void pack_i64(msgpack_packer *pk, const char *key, int64_t v)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_int64(pk, v);
}

int sy_codec_event_encode(const sy_event_t *ev, char **out, size_t *outlen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 12);
    pack_i64(&pk, "v", EVENT_FORMAT_VERSION);
    pack_i64(&pk, "rcv", ev->received_at_ms);
    pack_i64(&pk, "occ", ev->occurred_at_ms);
    pack_str(&pk, "src", ev->source);
    pack_str(&pk, "con", ev->connector);
    pack_str(&pk, "id", ev->event_id);
    pack_str(&pk, "type", ev->type);
    pack_str(&pk, "sig", ev->signature);
    pack_str(&pk, "ua", ev->user_agent);
    pack_i64(&pk, "bi", ev->batch_index);
    pack_i64(&pk, "bn", ev->batch_size);
    msgpack_pack_str_with_body(&pk, "body", 4);
    msgpack_pack_bin_with_body(&pk, ev->body.base, ev->body.len);
    if (sb.data == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return SY_ENOMEM;
    }
    *out = sb.data; /* ownership moves to the caller: release with free() */
    *outlen = sb.size;
    return 0;
}

/* Zero-copy: msgpack-c's unpacker points str/bin objects into the input; we check that it did. */
static int take_slice(const msgpack_object *o, const char *base, size_t len, sy_slice_t *out)
{
    const char *p;
    size_t n;
    if (o->type == MSGPACK_OBJECT_STR) {
        p = o->via.str.ptr;
        n = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        p = o->via.bin.ptr;
        n = o->via.bin.size;
    } else {
        return SY_EPARSE;
    }
    if (n != 0 && (p < base || p + n > base + len))
        return SY_EPARSE;
    *out = (sy_slice_t){n != 0 ? p : "", n};
    return 0;
}

static int take_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
        *out = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else
        return SY_EPARSE;
    return 0;
}

static int key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

static msgpack_zone *thread_zone(void);

int sy_codec_event_decode(const void *data, size_t len, sy_event_t *ev)
{
    msgpack_zone *zone = thread_zone(); /* every logged event is decoded: no zone of its own each time */
    msgpack_object obj;
    size_t off = 0;
    int rc = SY_EPARSE;
    int64_t v;

    memset(ev, 0, sizeof(*ev));
    if (zone == NULL)
        return SY_ENOMEM;
    /* One whole value and nothing after it (msgpack_unpack says EXTRA_BYTES for trailing data, CONTINUE when cut). */
    if (msgpack_unpack(data, len, &off, zone, &obj) != MSGPACK_UNPACK_SUCCESS || off != len ||
        obj.type != MSGPACK_OBJECT_MAP)
        goto Exit;
    const msgpack_object_map *m = &obj.via.map;
    for (uint32_t i = 0; i != m->size; ++i) {
        const msgpack_object *k = &m->ptr[i].key, *val = &m->ptr[i].val;
        int r = 0;
        if (key_is(k, "rcv"))
            r = take_i64(val, &ev->received_at_ms);
        else if (key_is(k, "occ"))
            r = take_i64(val, &ev->occurred_at_ms);
        else if (key_is(k, "src"))
            r = take_slice(val, data, len, &ev->source);
        else if (key_is(k, "con"))
            r = take_slice(val, data, len, &ev->connector);
        else if (key_is(k, "id"))
            r = take_slice(val, data, len, &ev->event_id);
        else if (key_is(k, "type"))
            r = take_slice(val, data, len, &ev->type);
        else if (key_is(k, "sig"))
            r = take_slice(val, data, len, &ev->signature);
        else if (key_is(k, "ua"))
            r = take_slice(val, data, len, &ev->user_agent);
        else if (key_is(k, "bi") && (r = take_i64(val, &v)) == 0)
            ev->batch_index = (uint32_t)v;
        else if (key_is(k, "bn") && (r = take_i64(val, &v)) == 0)
            ev->batch_size = (uint32_t)v;
        else if (key_is(k, "body"))
            r = take_slice(val, data, len, &ev->body);
        if (r != 0)
            goto Exit;
    }
    rc = 0;
Exit:
    msgpack_zone_clear(zone); /* the slices point into data, not into the zone */
    return rc;
}

/* --- documents ------------------------------------------------------------------------------------------ */

#define DOC_MAX_DEPTH 32

static int pack_doc(msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > DOC_MAX_DEPTH)
        return SY_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(v));
        for (void *it = json_object_iter((json_t *)v); it != NULL; it = json_object_iter_next((json_t *)v, it)) {
            /* The stored length is strlen's: every key is set from a C string. */
            msgpack_pack_str_with_body(pk, json_object_iter_key(it), json_object_iter_key_len(it));
            if (pack_doc(pk, json_object_iter_value(it), depth + 1) != 0)
                return SY_EINVAL;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *child;
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, child)
        {
            if (pack_doc(pk, child, depth + 1) != 0)
                return SY_EINVAL;
        }
        return 0;
    }
    case JSON_STRING:
        return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v));
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    default:
        return msgpack_pack_nil(pk);
    }
}

int sy_codec_doc_encode(const json_t *doc, char **out, size_t *outlen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (pack_doc(&pk, doc, 0) != 0 || sb.data == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return SY_EINVAL;
    }
    *out = sb.data; /* the caller frees */
    *outlen = sb.size;
    return 0;
}

/*
 * Every stored document is encoded once per change: one growable buffer per thread instead of a fresh 8 KiB one
 * each time. Kept up to SCRATCH_KEEP bytes; freed at thread exit.
 */
#define SCRATCH_KEEP (1u << 20)

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *sb)
{
    msgpack_sbuffer_free(sb);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

/*
 * The same msgpack as pack_doc writes through msgpack-c (its pack_template.h choices: the shortest int, str8 from 32
 * bytes, float64 for every real), straight into the buffer: msgpack-c calls the writer once per item, which was
 * most of the encoding time. tests/unit/test_codec.c checks both give the same bytes.
 */
typedef struct st_wbuf_t {
    msgpack_sbuffer *sb;
    int failed;
} wbuf_t;

static unsigned char *wb_room(wbuf_t *w, size_t n)
{
    msgpack_sbuffer *sb = w->sb;
    if (sb->alloc - sb->size < n) {
        size_t cap = sb->alloc != 0 ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
        while (cap < sb->size + n)
            cap *= 2;
        char *p = realloc(sb->data, cap);
        if (p == NULL) {
            w->failed = 1;
            return NULL;
        }
        sb->data = p;
        sb->alloc = cap;
    }
    unsigned char *p = (unsigned char *)sb->data + sb->size;
    sb->size += n;
    return p;
}

static void wb_head(wbuf_t *w, unsigned char tag, uint64_t v, size_t bytes)
{
    unsigned char *p = wb_room(w, 1 + bytes);
    if (p == NULL)
        return;
    p[0] = tag;
    for (size_t i = 0; i != bytes; ++i)
        p[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
}

/* A map or array header: fix (tag_fix | n) below 16, else 16 or 32 bits. */
static void wb_count(wbuf_t *w, unsigned char fix, unsigned char t16, unsigned char t32, size_t n)
{
    if (n < 16)
        wb_head(w, (unsigned char)(fix | n), 0, 0);
    else if (n < 65536)
        wb_head(w, t16, n, 2);
    else
        wb_head(w, t32, n, 4);
}

static void wb_str(wbuf_t *w, const char *s, size_t n)
{
    if (n < 32)
        wb_head(w, (unsigned char)(0xa0 | n), 0, 0);
    else if (n < 256)
        wb_head(w, 0xd9, n, 1);
    else if (n < 65536)
        wb_head(w, 0xda, n, 2);
    else
        wb_head(w, 0xdb, n, 4);
    unsigned char *p = n != 0 ? wb_room(w, n) : NULL;
    if (p != NULL)
        memcpy(p, s, n);
}

static void wb_int(wbuf_t *w, int64_t d)
{
    if (d < -(1LL << 5)) {
        if (d < -(1LL << 15))
            d < -(1LL << 31) ? wb_head(w, 0xd3, (uint64_t)d, 8) : wb_head(w, 0xd2, (uint32_t)(int32_t)d, 4);
        else
            d < -(1 << 7) ? wb_head(w, 0xd1, (uint16_t)(int16_t)d, 2) : wb_head(w, 0xd0, (uint8_t)(int8_t)d, 1);
    } else if (d < (1 << 7)) {
        wb_head(w, (unsigned char)(uint8_t)(int8_t)d, 0, 0); /* positive or negative fixint */
    } else if (d < (1LL << 16)) {
        d < (1 << 8) ? wb_head(w, 0xcc, (uint64_t)d, 1) : wb_head(w, 0xcd, (uint64_t)d, 2);
    } else {
        d < (1LL << 32) ? wb_head(w, 0xce, (uint64_t)d, 4) : wb_head(w, 0xcf, (uint64_t)d, 8);
    }
}

static int write_doc(wbuf_t *w, const json_t *v, int depth)
{
    if (depth > DOC_MAX_DEPTH)
        return SY_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        wb_count(w, 0x80, 0xde, 0xdf, json_object_size(v));
        for (void *it = json_object_iter((json_t *)v); it != NULL; it = json_object_iter_next((json_t *)v, it)) {
            wb_str(w, json_object_iter_key(it), json_object_iter_key_len(it));
            if (write_doc(w, json_object_iter_value(it), depth + 1) != 0)
                return SY_EINVAL;
        }
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        wb_count(w, 0x90, 0xdc, 0xdd, n);
        for (size_t i = 0; i != n; ++i)
            if (write_doc(w, json_array_get(v, i), depth + 1) != 0)
                return SY_EINVAL;
        break;
    }
    case JSON_STRING:
        wb_str(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        wb_int(w, json_integer_value(v));
        break;
    case JSON_REAL: {
        union {
            double f;
            uint64_t i;
        } mem = {.f = json_real_value(v)};
        wb_head(w, 0xcb, mem.i, 8);
        break;
    }
    case JSON_TRUE:
        wb_head(w, 0xc3, 0, 0);
        break;
    case JSON_FALSE:
        wb_head(w, 0xc2, 0, 0);
        break;
    default:
        wb_head(w, 0xc0, 0, 0);
        break;
    }
    return w->failed ? SY_ENOMEM : 0;
}

int sy_codec_doc_encode_scratch(const json_t *doc, sy_slice_t *out)
{
    pthread_once(&scratch_once, scratch_key_init);
    msgpack_sbuffer *sb = pthread_getspecific(scratch_key);
    if (sb == NULL) {
        if ((sb = msgpack_sbuffer_new()) == NULL)
            return SY_ENOMEM;
        pthread_setspecific(scratch_key, sb);
    }
    if (sb->alloc > SCRATCH_KEEP) { /* the last document was huge: do not keep that much */
        msgpack_sbuffer_destroy(sb);
        msgpack_sbuffer_init(sb);
    }
    sb->size = 0;
    wbuf_t w = {sb, 0};
    if (write_doc(&w, doc, 0) != 0 || sb->data == NULL)
        return SY_EINVAL;
    *out = (sy_slice_t){sb->data, sb->size};
    return 0;
}

static json_t *unpack_doc(const msgpack_object *o, int depth)
{
    if (depth > DOC_MAX_DEPTH)
        return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_MAP: {
        json_t *obj = json_object();
        for (uint32_t i = 0; i != o->via.map.size; ++i) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            json_t *val;
            if (k->type != MSGPACK_OBJECT_STR || (val = unpack_doc(&o->via.map.ptr[i].val, depth + 1)) == NULL) {
                json_decref(obj);
                return NULL;
            }
            /* Keys are kept to 255 bytes and end at a NUL (as a copy into a 256-byte C string did). */
            size_t n = k->via.str.size < 255 ? k->via.str.size : 255;
            const char *nul = n != 0 ? memchr(k->via.str.ptr, '\0', n) : NULL;
            if (nul != NULL)
                n = (size_t)(nul - k->via.str.ptr);
            json_object_setn_new(obj, n != 0 ? k->via.str.ptr : "", n, val);
        }
        return obj;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *arr = json_array();
        for (uint32_t i = 0; i != o->via.array.size; ++i) {
            json_t *val = unpack_doc(&o->via.array.ptr[i], depth + 1);
            if (val == NULL) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, val);
        }
        return arr;
    }
    case MSGPACK_OBJECT_STR:
        return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_NIL:
        return json_null();
    default:
        return NULL;
    }
}

#define PATHS_MAX 8 /* paths per sy_codec_doc_decode_paths call */

/* The member k of a map on the paths still alive at depth (alive: bitmask over paths): which paths go on through it
 * (returned), and whether one ends at it (*whole: decode the member entirely). */
static unsigned paths_through(const msgpack_object *k, const char *const *const *paths, unsigned alive, int depth,
                              int *whole)
{
    unsigned through = 0;
    *whole = 0;
    for (unsigned i = 0; i != PATHS_MAX; ++i) {
        if (!(alive & (1u << i)))
            continue;
        const char *name = paths[i][depth];
        size_t n = strlen(name);
        if (k->via.str.size != n || memcmp(k->via.str.ptr, name, n) != 0)
            continue;
        if (paths[i][depth + 1] == NULL)
            *whole = 1;
        else
            through |= 1u << i;
    }
    return through;
}

static json_t *unpack_paths(const msgpack_object *o, const char *const *const *paths, unsigned alive, int depth)
{
    if (depth > DOC_MAX_DEPTH)
        return NULL;
    if (o->type != MSGPACK_OBJECT_MAP)
        return json_null(); /* a path through something that is not an object: nothing is there */
    json_t *obj = json_object();
    for (uint32_t i = 0; i != o->via.map.size; ++i) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        int whole;
        if (k->type != MSGPACK_OBJECT_STR) {
            json_decref(obj);
            return NULL;
        }
        unsigned through = paths_through(k, paths, alive, depth, &whole);
        if (!whole && through == 0)
            continue;
        json_t *val = whole ? unpack_doc(&o->via.map.ptr[i].val, depth + 1)
                            : unpack_paths(&o->via.map.ptr[i].val, paths, through, depth + 1);
        if (val == NULL) {
            json_decref(obj);
            return NULL;
        }
        /* Path members are C strings: a stored key with a NUL in it never matches one. */
        json_object_setn_new(obj, k->via.str.ptr, k->via.str.size, val);
    }
    return obj;
}

/*
 * Decoding runs for every record an event touches: keep one msgpack zone per thread and clear it between documents
 * instead of allocating (and freeing) a fresh 8 KiB zone each time. The key's destructor frees it at thread exit.
 */
static pthread_key_t zone_key;
static pthread_once_t zone_once = PTHREAD_ONCE_INIT;

static void zone_free(void *zone)
{
    msgpack_zone_free(zone);
}

static void zone_key_init(void)
{
    pthread_key_create(&zone_key, zone_free);
}

static msgpack_zone *thread_zone(void)
{
    pthread_once(&zone_once, zone_key_init);
    msgpack_zone *zone = pthread_getspecific(zone_key);
    if (zone == NULL && (zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) != NULL)
        pthread_setspecific(zone_key, zone);
    return zone;
}

json_t *sy_codec_doc_decode(const void *data, size_t len)
{
    msgpack_zone *zone = thread_zone();
    msgpack_object obj;
    size_t off = 0;
    json_t *doc = NULL;
    if (zone == NULL)
        return NULL;
    /* msgpack_unpack reports EXTRA_BYTES for trailing data: only one whole value is a document. */
    if (msgpack_unpack(data, len, &off, zone, &obj) == MSGPACK_UNPACK_SUCCESS && off == len)
        doc = unpack_doc(&obj, 0);
    msgpack_zone_clear(zone);
    return doc;
}

json_t *sy_codec_doc_decode_paths(const void *data, size_t len, const char *const *const *paths, size_t num_paths)
{
    msgpack_zone *zone = thread_zone();
    msgpack_object obj;
    size_t off = 0;
    json_t *doc = NULL;
    unsigned alive = 0;
    if (zone == NULL || num_paths > PATHS_MAX)
        return NULL;
    for (size_t i = 0; i != num_paths; ++i)
        if (paths[i][0] != NULL)
            alive |= 1u << i;
    if (msgpack_unpack(data, len, &off, zone, &obj) == MSGPACK_UNPACK_SUCCESS && off == len)
        doc = obj.type == MSGPACK_OBJECT_MAP ? unpack_paths(&obj, paths, alive, 0) : NULL;
    msgpack_zone_clear(zone);
    return doc;
}
