/*
 * The fuzzers' findings as regression tests, in the normal test build (gcc, ASan + UBSan; no clang needed).
 *
 * Replays every input under tests/fuzz/regressions/<target>/ (each one crashed a fuzz target before its fix) and
 * every seed under tests/fuzz/corpus/<target>/ through the fuzz targets' own entry points: the target files are
 * compiled into this program with SY_FUZZ_REPLAY set, so a regression input runs exactly the checks that caught it.
 * Also holds the regression tests of fuzzer findings that need more than one input to show (the applier's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#define SY_FUZZ_REPLAY 1
#include "../fuzz/fuzz_admin_query.c"
#include "../fuzz/fuzz_connectors.c"
#include "../fuzz/fuzz_hubspot_verify.c"
#include "../fuzz/fuzz_json.c"
#include "../fuzz/fuzz_observe.c"
#include "../fuzz/fuzz_policy.c"
#include "../fuzz/fuzz_push.c"
#include "../fuzz/fuzz_quickbooks_verify.c"
#include "../fuzz/fuzz_stripe_verify.c"

#include "../support/log_append.h"
#include "applier.h"

typedef struct st_target_t {
    const char *name;
    int (*init)(const char *root);
    void (*one)(const uint8_t *data, size_t size);
    void (*fini)(void);
} target_t;

#define TARGET(name) {#name, name##_init, name##_one, name##_fini}
static const target_t targets[] = {TARGET(admin_query), TARGET(connectors), TARGET(hubspot_verify), TARGET(json),         TARGET(observe),
                                   TARGET(policy),      TARGET(push), TARGET(quickbooks_verify),           TARGET(stripe_verify)};

static char root[1024];

/* Reads path into a buffer of exactly its size, so that ASan sees a read past the input as libFuzzer's would. */
static uint8_t *read_input(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    assert_true(size >= 0);
    rewind(fp);
    uint8_t *buf = malloc(size != 0 ? (size_t)size : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *len = (size_t)size;
    return buf;
}

/* Runs every file of tests/fuzz/<kind>/<target>/ through the target; returns how many. */
static size_t replay_dir(const target_t *t, const char *kind)
{
    char dir[1200], path[1600];
    struct dirent **names;
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", root, kind, t->name);
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return 0; /* no findings for this target (yet) */
    size_t replayed = 0;
    for (int i = 0; i != n; ++i) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len;
            uint8_t *data = read_input(path, &len);
            t->one(data, len);
            free(data);
            ++replayed;
        }
        free(names[i]);
    }
    free(names);
    return replayed;
}

static void test_replay(void **state)
{
    const target_t *t = *state;
    assert_int_equal(t->init(root), 0);
    size_t regressions = replay_dir(t, "regressions"), seeds = replay_dir(t, "corpus");
    t->fini();
    print_message("fuzz_%s: %zu regression inputs, %zu corpus inputs\n", t->name, regressions, seeds);
    assert_true(seeds != 0); /* every target has a committed corpus: a wrong root would pass silently */
}

/* --- fuzz_observe finding: an event the log holds but jansson cannot read stalled the applier for good ------- */

static uint64_t applier_cursor(sy_store_t *store)
{
    sy_txn_t *txn;
    uint64_t cursor = 0;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_int_equal(sy_meta_get_u64(txn, "applier_cursor", &cursor), 0);
    sy_txn_abort(txn);
    return cursor;
}

static void append_raw(sy_store_t *store, const char *id, const char *type, int64_t occurred_at_ms, sy_slice_t body)
{
    sy_event_t ev = {.received_at_ms = SY_FUZZ_NOW_MS,
                     .occurred_at_ms = occurred_at_ms,
                     .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"),
                     .event_id = sy_slice_cstr(id),
                     .type = sy_slice_cstr(type),
                     .signature = SY_SLICE_LIT("stripe-v1"),
                     .batch_size = 1,
                     .body = body};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

/* Parses body as ingress does; returns the connector's verdict and, when it accepts, appends what ingress stores. */
static int append_stripe_event(sy_store_t *store, const char *id, const char *body)
{
    const sy_connector_t *stripe = sy_connector_find("stripe");
    sy_json_t json;
    sy_event_ref_t ref;
    size_t n = 0;
    const char *errmsg = NULL;
    sy_json_init(&json, 1024, SY_FUZZ_JSON_MAX_DEPTH);
    int rc = stripe->parse(&json, &(sy_request_view_t){.body = sy_slice_cstr(body)}, &ref, 1, &n, &errmsg);
    if (rc == 0) {
        char type[64];
        snprintf(type, sizeof(type), "%.*s", (int)ref.type.len, ref.type.base);
        append_raw(store, id, type, ref.occurred_at_ms, ref.raw);
    }
    sy_json_dispose(&json);
    return rc;
}

/*
 * sy_json (ingress) used to accept numbers of any size and any \u escape that jansson (observe.c) refuses. Such an
 * event was stored and acknowledged, and the applier then retried it every second forever, so no later event was
 * ever applied. Today ingress refuses it (one reading of every event); a log written before still holds such
 * events, and the applier records each in `skipped` and goes on.
 */
static void test_applier_skips_event_jansson_cannot_read(void **state)
{
    char dir[512], path[1200];
    sy_error_t err = {0};
    sy_store_t *store;
    sy_policy_t *policy;
    sy_applier_t *applier;
    assert_int_equal(sy_fuzz_tempdir(dir, sizeof(dir), "applier"), 0);
    assert_int_equal(sy_store_open(&store, dir, 8u << 20, 8u << 20, SY_STORE_CREATE, &err), 0);
    snprintf(path, sizeof(path), "%s/policies/customers.yaml", root);
    assert_int_equal(sy_policy_load(&policy, path, &err), 0);

    static const char big[] = "{\"id\":\"evt_big\",\"type\":\"customer.updated\",\"created\":1700000000,\"data\":"
                              "{\"object\":{\"id\":\"cus_big\",\"balance\":99999999999999999999,\"email\":\"big@acme.io\"}}}";
    assert_int_equal(append_stripe_event(store, "evt_big", big), SY_EPARSE); /* ingress refuses it today */
    append_raw(store, "evt_big", "customer.updated", 1700000000000, sy_slice_cstr(big)); /* an older hub's log */
    assert_int_equal(append_stripe_event(store, "evt_ok",
                                         "{\"id\":\"evt_ok\",\"type\":\"customer.updated\",\"created\":1700000001,"
                                         "\"data\":{\"object\":{\"id\":\"cus_ok\",\"email\":\"ok@acme.io\"}}}"),
                     0);
    assert_int_equal(sy_applier_start(&applier, store, policy, path), 0);
    struct timespec tick = {0, 20 * 1000000};
    for (int i = 0; i != 250 && applier_cursor(store) != 2; ++i) /* 5 s at most */
        nanosleep(&tick, NULL);
    sy_applier_stop(applier); /* frees policy */
    assert_int_equal(applier_cursor(store), 2);

    sy_txn_t *txn;
    sy_slice_t v;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_int_equal(sy_txn_get(txn, SY_DB_XREF, SY_SLICE_LIT("stripe\x1f" "cus_ok"), &v), 0); /* the next event applied */
    unsigned char key[8];
    sy_put_be64(key, 1);
    assert_int_equal(sy_txn_get(txn, SY_DB_SKIPPED, (sy_slice_t){(const char *)key, 8}, &v), 0); /* with a record */
    sy_txn_abort(txn);
    sy_store_close(store);
    sy_fuzz_rmdir(dir);
}

int main(void)
{
    const char *data = getenv("SY_TEST_DATA");
    if (data == NULL) {
        fprintf(stderr, "SY_TEST_DATA is not set (ctest sets it to tests/data)\n");
        return 1;
    }
    snprintf(root, sizeof(root), "%s/../..", data);
    struct CMUnitTest tests[SY_ARRAY_SIZE(targets) + 1];
    for (size_t i = 0; i != SY_ARRAY_SIZE(targets); ++i)
        tests[i] = (struct CMUnitTest){targets[i].name, test_replay, NULL, NULL, (void *)&targets[i]};
    tests[SY_ARRAY_SIZE(targets)] = (struct CMUnitTest)cmocka_unit_test(test_applier_skips_event_jansson_cannot_read);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
