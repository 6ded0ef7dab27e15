/*
 * hub/base/codec.c: documents encoded by the applier's own writer (sy_codec_doc_encode_scratch) are byte for byte what
 * msgpack-c writes (sy_codec_doc_encode), at every size boundary of every type, and decode back to the same tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static void same_bytes(json_t *doc)
{
    char *ref;
    size_t ref_len;
    sy_slice_t mine;
    assert_non_null(doc);
    assert_int_equal(sy_codec_doc_encode(doc, &ref, &ref_len), 0);
    assert_int_equal(sy_codec_doc_encode_scratch(doc, &mine), 0);
    assert_int_equal(mine.len, ref_len);
    assert_memory_equal(mine.base, ref, ref_len);
    /* msgpack-c hands a zero-length string met before any other payload a NULL pointer, so a bare "" does not
     * decode (stored documents are maps whose first key is never empty). */
    if (!json_is_string(doc) || json_string_length(doc) != 0) {
        json_t *back = sy_codec_doc_decode(ref, ref_len);
        assert_true(json_equal(back, doc));
        json_decref(back);
    }
    free(ref);
    json_decref(doc);
}

static void test_integers_at_every_boundary(void **state)
{
    (void)state;
    static const int64_t edges[] = {0, 1, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 2147483647LL,
                                    2147483648LL, 4294967295LL, 4294967296LL, INT64_MAX, -1, -31, -32, -33, -127, -128,
                                    -129, -255, -256, -32767, -32768, -32769, -65536, -2147483647LL, -2147483647LL - 1,
                                    -2147483647LL - 2, INT64_MIN + 1, INT64_MIN};
    json_t *all = json_array();
    for (size_t i = 0; i != sizeof(edges) / sizeof(edges[0]); ++i) {
        same_bytes(json_integer(edges[i]));
        json_array_append_new(all, json_integer(edges[i]));
    }
    same_bytes(all);
}

static void test_strings_arrays_maps_at_every_length(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 70000};
    char *text = malloc(70001);
    assert_non_null(text);
    memset(text, 'x', 70000);
    for (size_t i = 0; i != sizeof(lens) / sizeof(lens[0]); ++i) {
        same_bytes(json_stringn(text, lens[i]));
        json_t *arr = json_array(), *obj = json_object();
        for (size_t k = 0; k != lens[i]; ++k) {
            char key[32];
            snprintf(key, sizeof(key), "k%zu", k);
            json_array_append_new(arr, json_integer((json_int_t)k));
            json_object_set_new(obj, key, json_true());
        }
        same_bytes(arr);
        same_bytes(obj);
    }
    free(text);
}

static void test_other_scalars_and_a_record(void **state)
{
    (void)state;
    same_bytes(json_real(0.0));
    same_bytes(json_real(-0.0));
    same_bytes(json_real(1.5));
    same_bytes(json_real(-1e300));
    same_bytes(json_true());
    same_bytes(json_false());
    same_bytes(json_null());
    same_bytes(json_pack("{s:s, s:I, s:{s:{s:s, s:s, s:I}}, s:{s:{s:[s, I, I]}}, s:[], s:{}, s:n, s:f}", "id", "cust_1",
                         "created_at_ms", (json_int_t)1795000000000, "fields", "email", "value", "ana@acme.example",
                         "source", "hubspot", "seq", (json_int_t)70000, "observed", "hubspot:51", "email", "\xc3\xa9",
                         (json_int_t)1795000000000, (json_int_t)12, "list", "empty", "none", "ratio", 0.25));
}

static void test_depth_limit_is_the_same(void **state)
{
    (void)state;
    for (int depth = 31; depth != 35; ++depth) {
        json_t *doc = json_integer(1);
        for (int d = 0; d != depth; ++d) {
            json_t *a = json_array();
            json_array_append_new(a, doc);
            doc = a;
        }
        char *ref = NULL;
        size_t ref_len;
        sy_slice_t mine;
        int a = sy_codec_doc_encode(doc, &ref, &ref_len), b = sy_codec_doc_encode_scratch(doc, &mine);
        assert_int_equal(a, b);
        if (a == 0) {
            assert_int_equal(mine.len, ref_len);
            assert_memory_equal(mine.base, ref, ref_len);
        }
        free(ref);
        json_decref(doc);
    }
}

/* Decoding along paths gives what the whole decode gives on those paths, and nothing else. */
static void test_decode_paths_is_the_whole_decode_pruned(void **state)
{
    (void)state;
    json_t *rec = json_pack("{s:s, s:{s:[s,s], s:[s]}, s:{s:{s:s, s:s}, s:{s:s}}, s:{s:I}, s:[i]}", "id", "cust_1",
                            "xrefs", "stripe", "cus_A", "cus_B", "hubspot", "51", "fields", "email", "value",
                            "ana@acme.example", "owner", "hubspot", "name", "value", "Ana", "tombstones", "hubspot",
                            (json_int_t)7, "list", 1);
    char *bytes;
    size_t len;
    assert_int_equal(sy_codec_doc_encode(rec, &bytes, &len), 0);
    const char *const xref[] = {"xrefs", "stripe", NULL}, *const email[] = {"fields", "email", NULL},
                      *const tomb[] = {"tombstones", "stripe", NULL}, *const through_array[] = {"list", "x", NULL};
    const char *const *const paths[] = {xref, email, tomb, through_array};
    json_t *some = sy_codec_doc_decode_paths(bytes, len, paths, 4);
    json_t *want = json_pack("{s:{s:[s,s]}, s:{s:{s:s, s:s}}, s:{}, s:n}", "xrefs", "stripe", "cus_A", "cus_B",
                             "fields", "email", "value", "ana@acme.example", "owner", "hubspot", "tombstones", "list");
    assert_non_null(some);
    assert_non_null(want);
    assert_true(json_equal(some, want));
    /* no path at all: an empty object; a document that is not a map, or bytes that are not one value: NULL */
    json_t *none = sy_codec_doc_decode_paths(bytes, len, paths, 0);
    assert_true(json_is_object(none) && json_object_size(none) == 0);
    assert_null(sy_codec_doc_decode_paths(bytes, len - 1, paths, 4));
    char *arr;
    size_t arr_len;
    json_t *array = json_pack("[s]", "xrefs");
    assert_int_equal(sy_codec_doc_encode(array, &arr, &arr_len), 0);
    assert_null(sy_codec_doc_decode_paths(arr, arr_len, paths, 4));
    json_decref(array);
    free(arr);
    json_decref(none);
    json_decref(want);
    json_decref(some);
    json_decref(rec);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_at_every_boundary),
        cmocka_unit_test(test_strings_arrays_maps_at_every_length),
        cmocka_unit_test(test_other_scalars_and_a_record),
        cmocka_unit_test(test_depth_limit_is_the_same),
        cmocka_unit_test(test_decode_paths_is_the_whole_decode_pruned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
