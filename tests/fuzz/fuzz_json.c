/*
 * hub/base/json.c: the validating tokenizer every webhook body goes through, and its accessors.
 *
 * Input: byte 0 sets max_tokens (255: 1 MiB body's worth, the ingress default), byte 1 max_depth (% 80; 79: the
 * hard maximum of 512), then one or two texts separated by a NUL byte, parsed in turn with the same scratch (ingress
 * reuses one per loop). Every token of an accepted text is walked with every accessor, and the verdict is compared
 * with jansson's as the applier decodes (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES): one reading of every event, so
 * what one accepts the other accepts, within generous caps (the depth cap is the one thing jansson takes and we
 * do not; a NUL byte ends jansson's input, so it is no judge of texts that hold one).
 */
#include <jansson.h>

#include "fuzz_common.h"
#include "json.h"

static int json_init(const char *root)
{
    return 0;
}

static void json_fini(void)
{
}

/* The walk: structure and accessors agree with each other on every token. */
static void json_check_tokens(const sy_json_t *json, sy_slice_t text)
{
    int count = json->count;
    SY_FUZZ_CHECK(count >= 1 && (size_t)count <= json->max_tokens);
    SY_FUZZ_CHECK(sy_json_skip(json, 0) == count); /* one root */
    for (int tok = 0; tok != count; ++tok) {
        sy_json_type_t type = sy_json_type(json, tok);
        SY_FUZZ_CHECK(type != SY_JSON_UNDEFINED);
        sy_slice_t t = sy_json_text(json, tok), span = sy_json_span(json, tok);
        SY_FUZZ_CHECK(sy_fuzz_within(text, t) && sy_fuzz_within(text, span) && sy_fuzz_within(span, t));
        int size = sy_json_size(json, tok), next = sy_json_skip(json, tok);
        SY_FUZZ_CHECK(size >= 0 && next > tok && next <= count);
        int64_t v;
        if (sy_json_int64(json, tok, &v) == 0) {
            char buf[32];
            SY_FUZZ_CHECK(type == SY_JSON_PRIMITIVE);
            snprintf(buf, sizeof(buf), "%lld", (long long)v);
            SY_FUZZ_CHECK(sy_slice_eq_cstr(t, buf) || (v == 0 && sy_slice_eq_cstr(t, "-0")));
        }
        if (type == SY_JSON_ARRAY) {
            int el = tok + 1;
            for (int i = 0; i != size; ++i, el = sy_json_skip(json, el))
                SY_FUZZ_CHECK(sy_json_at(json, tok, i) == el);
            SY_FUZZ_CHECK(el == next && sy_json_at(json, tok, size) == -1 && sy_json_at(json, tok, -1) == -1);
        } else if (type == SY_JSON_OBJECT) {
            int key = tok + 1;
            for (int i = 0; i != size; ++i, key = sy_json_skip(json, key + 1)) {
                SY_FUZZ_CHECK(sy_json_type(json, key) == SY_JSON_STRING && sy_json_size(json, key) == 1);
                sy_slice_t k = sy_json_text(json, key);
                if (memchr(k.base, '\0', k.len) != NULL || k.len > 256 || sy_json_has_escape(json, key))
                    continue;
                char name[257];
                memcpy(name, k.base, k.len);
                name[k.len] = '\0';
                SY_FUZZ_CHECK(sy_json_str_eq(json, key, name));
                /* The first member of that name wins: never one after this one. */
                int got = sy_json_get(json, tok, name);
                SY_FUZZ_CHECK(got > tok && got <= key + 1 && sy_json_str_eq(json, got - 1, name));
            }
            SY_FUZZ_CHECK(key == next);
        } else {
            /* An object's key is a string whose one child is the member's value. */
            SY_FUZZ_CHECK(size == 0 ? next == tok + 1 : size == 1 && type == SY_JSON_STRING && next == sy_json_skip(json, tok + 1));
            SY_FUZZ_CHECK(sy_json_get(json, tok, "id") == -1 && sy_json_at(json, tok, 0) == -1);
        }
    }
    SY_FUZZ_CHECK(sy_json_type(json, count) == SY_JSON_UNDEFINED && sy_json_type(json, -1) == SY_JSON_UNDEFINED);
    SY_FUZZ_CHECK(sy_json_text(json, count).base == NULL && sy_json_span(json, -1).base == NULL);
}

static void json_parse_one(sy_json_t *json, sy_slice_t text, int generous)
{
    const char *errmsg = NULL;
    int rc = sy_json_parse(json, text.base, text.len, &errmsg);
    json_error_t jerr;
    json_t *doc = json_loadb(text.base, text.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    int has_nul = text.len != 0 && memchr(text.base, '\0', text.len) != NULL;
    if (rc == 0) {
        json_check_tokens(json, text);
        SY_FUZZ_CHECK(doc != NULL || has_nul);
    } else {
        SY_FUZZ_CHECK(rc == SY_EPARSE || rc == SY_ETOOBIG);
        SY_FUZZ_CHECK(errmsg != NULL && json->count == 0);
        SY_FUZZ_CHECK(sy_json_type(json, 0) == SY_JSON_UNDEFINED && sy_json_get(json, 0, "id") == -1);
        SY_FUZZ_CHECK(!generous || doc == NULL || strcmp(errmsg, "JSON nesting deeper than the limit") == 0 || has_nul);
    }
    json_decref(doc);
}

static void json_one(const uint8_t *data, size_t size)
{
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    uint8_t tokens = sy_fuzz_byte(&in), depth = (uint8_t)(sy_fuzz_byte(&in) % 80);
    int generous = tokens == 255 && depth == 79;
    sy_json_t json;
    sy_json_init(&json, tokens == 255 ? SY_FUZZ_MAX_BODY / 2 + 16 : tokens, depth == 79 ? 512 : depth);
    sy_slice_t first = sy_fuzz_until(&in, '\0');
    json_parse_one(&json, first, generous);
    if (in.left != 0)
        json_parse_one(&json, sy_fuzz_rest(&in), generous);
    sy_json_dispose(&json);
}

SY_FUZZ_MAIN(json)
