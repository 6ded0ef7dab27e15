/* The delivery attempt log (attempts.h): bounded per push, oldest dropped first, answers cut to a UTF-8 prefix,
 * gone with the push, never holding more than the request line and the answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attempts.h"
#include "store.h"
#include "../support/data_dir.h"

typedef struct {
    char dir[256];
    sy_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/sy-attempts-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&f->store, f->dir, 16u << 20, 16u << 20, SY_STORE_CREATE, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sy_store_close(f->store);
    sy_test_remove_dir(f->dir);
    free(f);
    return 0;
}

static void add(sy_store_t *store, uint64_t push, long status, const char *answer)
{
    sy_txn_t *txn;
    json_t *a = sy_attempt_doc(1000 + status, "POST", "/v1/customers/cus_1", status, NULL, 12, answer, strlen(answer), 40, 1);
    assert_non_null(a);
    assert_int_equal(sy_txn_begin(store, 1, &txn), 0);
    assert_int_equal(sy_attempts_add(txn, push, a), 0);
    assert_int_equal(sy_txn_commit(txn), 0);
    json_decref(a);
}

static json_t *get(sy_store_t *store, uint64_t push)
{
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    json_t *list = sy_attempts_get(txn, push);
    sy_txn_abort(txn);
    assert_non_null(list);
    return list;
}

/* The last SY_ATTEMPTS_KEEP attempts stay, oldest first; another push's log is its own. */
static void test_keeps_the_last_attempts(void **state)
{
    fixture_t *f = *state;
    for (long i = 0; i != SY_ATTEMPTS_KEEP + 3; ++i)
        add(f->store, 7, 500 + i, "{\"error\":\"busy\"}");
    add(f->store, 8, 400, "{}");
    json_t *list = get(f->store, 7);
    assert_int_equal(json_array_size(list), SY_ATTEMPTS_KEEP);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "status")), 503);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, SY_ATTEMPTS_KEEP - 1), "status")), 507);
    json_t *a = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(a, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(a, "path")), "/v1/customers/cus_1");
    assert_string_equal(json_string_value(json_object_get(a, "answer")), "{\"error\":\"busy\"}");
    assert_int_equal(json_integer_value(json_object_get(a, "duration_ms")), 12);
    json_decref(list);
    list = get(f->store, 8);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
}

/* Dropped with the push: nothing left, and dropping what is not there is no error. */
static void test_drop(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    add(f->store, 9, 500, "x");
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    assert_int_equal(sy_attempts_drop(txn, 9), 0);
    assert_int_equal(sy_attempts_drop(txn, 10), 0);
    assert_int_equal(sy_txn_commit(txn), 0);
    json_t *list = get(f->store, 9);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

/* A long answer keeps its first SY_ATTEMPTS_ANSWER bytes at most, never half a UTF-8 character; the whole length is
 * said; an answer that is not UTF-8 is replaced, not stored; a network error has status 0 and says why. */
static void test_answer_excerpt(void **state)
{
    (void)state;
    char big[SY_ATTEMPTS_ANSWER * 2 + 1];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big + SY_ATTEMPTS_ANSWER - 1, "\xc3\xa9", 2); /* é across the cut */
    json_t *a = sy_attempt_doc(1, "PATCH", "/p", 200, NULL, 3, big, strlen(big), 0, 2);
    const char *answer = json_string_value(json_object_get(a, "answer"));
    assert_int_equal(strlen(answer), SY_ATTEMPTS_ANSWER - 1);
    assert_int_equal(json_integer_value(json_object_get(a, "answer_bytes")), (json_int_t)strlen(big));
    assert_int_equal(json_integer_value(json_object_get(a, "batch")), 2);
    json_decref(a);
    a = sy_attempt_doc(1, "GET", "/p", 200, NULL, 3, "\xff\xfe", 2, 0, 1);
    assert_string_equal(json_string_value(json_object_get(a, "answer")), "(not UTF-8)");
    json_decref(a);
    a = sy_attempt_doc(1, "GET", "/p", 0, "Timeout was reached", 30000, NULL, 0, 0, 1);
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 0);
    assert_string_equal(json_string_value(json_object_get(a, "error")), "Timeout was reached");
    assert_string_equal(json_string_value(json_object_get(a, "answer")), "");
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keeps_the_last_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test(test_answer_excerpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
