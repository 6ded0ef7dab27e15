/*
 * hub/base/arena.c: jansson's allocations go to the thread's arena between begin and end, to malloc otherwise; a block
 * is freed the right way whichever side made it, on any thread. (In the ASan build every arena block is its own
 * malloc freed at the end, so a use after the end, a double free or a leak fails these tests there.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"

static json_t *small_tree(int i)
{
    return json_pack("{s:i, s:s, s:[i, i, s]}", "n", i, "name", "a value", "list", i, i + 1, "x");
}

static void test_outside_an_arena_jansson_uses_malloc(void **state)
{
    (void)state;
    json_t *v = small_tree(1);
    assert_non_null(v);
    assert_false(sy_json_arena_owns(v));
    assert_int_equal(sy_json_arena_used(), 0);
    json_decref(v); /* LSan: freed for real */
    sy_json_arena_end(); /* without an arena: nothing happens */
}

static void test_blocks_made_inside_are_the_arenas_and_go_at_the_end(void **state)
{
    (void)state;
    for (int round = 0; round != 3; ++round) { /* chunks are reused by the next arena */
        sy_json_arena_begin();
        json_t *kept = json_object();
        for (int i = 0; i != 2000; ++i) {
            json_t *v = small_tree(i);
            assert_true(sy_json_arena_owns(v));
            if (i % 2 == 0)
                json_decref(v); /* a free inside: costs nothing, the memory stays until the end */
            else
                json_object_set_new(kept, i == 1999 ? "last" : "other", v); /* replaced: freed inside too */
        }
        assert_int_equal(json_integer_value(json_object_get(json_object_get(kept, "last"), "n")), 1999);
        assert_true(sy_json_arena_used() > 2000 * sizeof(json_t));
        /* kept is never released node by node: the end frees it (LSan would report it otherwise). */
        sy_json_arena_end();
        assert_int_equal(sy_json_arena_used(), 0);
    }
}

static void test_heap_and_arena_blocks_mix(void **state)
{
    (void)state;
    json_t *before = small_tree(7); /* made with malloc ... */
    json_t *arr = json_array();
    sy_json_arena_begin();
    assert_false(sy_json_arena_owns(before));
    json_t *inside = small_tree(8);
    /* ... freed inside an arena: it goes back to malloc. */
    json_decref(before);
    /* An arena value in a heap array would dangle after the end: it is taken out before. */
    json_array_append_new(arr, json_integer(1));
    json_array_clear(arr);
    json_decref(inside);
    sy_json_arena_end();
    json_decref(arr);
}

static void test_large_blocks_and_strings(void **state)
{
    (void)state;
    static char big[600 * 1024];
    memset(big, 'a', sizeof(big) - 1);
    sy_json_arena_begin();
    json_t *s = json_string(big); /* over the chunk's large-block size: a malloc of its own, freed at the end */
    assert_non_null(s);
    assert_true(sy_json_arena_owns(s));
    assert_int_equal(json_string_length(s), sizeof(big) - 1);
    char *text = json_dumps(s, JSON_ENCODE_ANY); /* jansson's own buffers, freed by jansson */
    assert_non_null(text);
    assert_int_equal(strlen(text), sizeof(big) + 1);
    sy_json_arena_end();
    /* text was allocated in the arena: it is gone with it (never handed to free()). */
}

static void *other_thread(void *arg)
{
    json_t *v = small_tree(3);
    int *owned = arg;
    *owned = sy_json_arena_owns(v);
    json_decref(v);
    return NULL;
}

static void test_other_threads_use_malloc_meanwhile(void **state)
{
    (void)state;
    pthread_t t;
    int owned = -1;
    sy_json_arena_begin();
    json_t *mine = small_tree(2);
    assert_int_equal(pthread_create(&t, NULL, other_thread, &owned), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(owned, 0);
    assert_true(sy_json_arena_owns(mine));
    sy_json_arena_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_an_arena_jansson_uses_malloc),
        cmocka_unit_test(test_blocks_made_inside_are_the_arenas_and_go_at_the_end),
        cmocka_unit_test(test_heap_and_arena_blocks_mix),
        cmocka_unit_test(test_large_blocks_and_strings),
        cmocka_unit_test(test_other_threads_use_malloc_meanwhile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
