/*
 * Field-ownership policy: the example policy parsed in full, one broken file per static check (exact
 * file:line:column and message), directory merges, the policy hash, exclusion rules and `policy check`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_policy.h"
#include "crypto.h"
#include "policy.h"

static void data_path(char *out, size_t len, const char *rel)
{
    const char *base = getenv("SY_TEST_DATA");
    assert_non_null(base);
    snprintf(out, len, "%s/%s", base, rel);
}

static sy_policy_t *load_ok(const char *rel)
{
    char path[1024];
    sy_policy_t *p = NULL;
    sy_error_t err = {0};
    data_path(path, sizeof(path), rel);
    int rc = sy_policy_load(&p, path, &err);
    if (rc != 0)
        fail_msg("loading %s: rc=%d %s:%u:%u: %s", rel, rc, err.file, err.line, err.column, err.msg);
    assert_non_null(p);
    return p;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Loads rel (under SY_TEST_DATA) expecting an error in a file ending with file_suffix, at line:column, whose
 * message contains every needle. */
static void expect_error(const char *rel, const char *file_suffix, unsigned line, unsigned column, const char *needle,
                         const char *needle2)
{
    char path[1024];
    sy_policy_t *p = NULL;
    sy_error_t err = {0};
    data_path(path, sizeof(path), rel);
    int rc = sy_policy_load(&p, path, &err);
    assert_null(p);
    if (rc == 0 || !ends_with(err.file, file_suffix) || err.line != line || err.column != column ||
        strstr(err.msg, needle) == NULL || (needle2 != NULL && strstr(err.msg, needle2) == NULL))
        fail_msg("%s: expected %s:%u:%u with \"%s\"%s%s, got rc=%d %s:%u:%u: %s", rel, file_suffix, line, column,
                 needle, needle2 != NULL ? " and " : "", needle2 != NULL ? needle2 : "", rc, err.file, err.line,
                 err.column, err.msg);
}

static const sy_policy_field_t *field(const sy_policy_t *p, const char *name)
{
    size_t i = sy_policy_field_index(p, name);
    if (i == SY_POLICY_NONE)
        fail_msg("no field %s", name);
    return &p->fields[i];
}

static size_t src(const sy_policy_t *p, const char *name)
{
    size_t i = sy_policy_source_index(p, name);
    if (i == SY_POLICY_NONE)
        fail_msg("no source %s", name);
    return i;
}

static void test_example_policy_parses_in_full(void **state)
{
    sy_policy_t *p = load_ok("../../policies/customers.yaml");
    size_t hubspot = src(p, "hubspot"), stripe = src(p, "stripe");

    assert_string_equal(p->entity, "customer");
    assert_int_equal(p->num_files, 1);
    assert_true(ends_with(p->files[0], "policies/customers.yaml"));
    assert_int_equal(strlen(p->hash), SY_POLICY_HASH_LEN);
    assert_int_equal(strspn(p->hash, "0123456789abcdef"), SY_POLICY_HASH_LEN);
    assert_int_equal(p->num_fields, 10);
    assert_int_equal(p->num_sources, 2);
    assert_int_equal(hubspot, 0); /* declaration order */

    const sy_policy_field_t *email = field(p, "email");
    assert_int_equal(email - p->fields, 0);
    assert_int_equal(email->num_owners, 1);
    assert_int_equal(email->owners[0], hubspot);
    assert_int_equal(email->num_push, 1);
    assert_int_equal(email->push[0], stripe);
    assert_int_equal(email->num_normalize, 1);
    assert_int_equal(email->normalize[0], SY_NORM_EMAIL);
    assert_int_equal(email->on_conflict, SY_CONFLICT_REVERT);
    assert_true(email->required);
    assert_ptr_equal(email->pos.file, p->files[0]);
    assert_int_equal(email->pos.line, 8);
    assert_int_equal(email->pos.column, 3);

    const sy_policy_field_t *phone = field(p, "phone");
    assert_int_equal(phone->normalize[0], SY_NORM_PHONE_E164);
    assert_int_equal(phone->on_conflict, SY_CONFLICT_IGNORE);
    assert_false(phone->required);
    const sy_policy_field_t *company = field(p, "company");
    assert_int_equal(company->num_push, 0);
    assert_true(company->required);
    const sy_policy_field_t *status = field(p, "subscription_status");
    assert_int_equal(status->owners[0], stripe);
    assert_int_equal(status->push[0], hubspot);
    assert_int_equal(status->normalize[0], SY_NORM_LOWER);
    assert_int_equal(status->on_conflict, SY_CONFLICT_REVERT);
    const sy_policy_field_t *plan = field(p, "plan");
    assert_int_equal(plan->num_normalize, 0);
    assert_int_equal(plan->on_conflict, SY_CONFLICT_IGNORE); /* the default */
    assert_int_equal(field(p, "billing_email")->num_push, 0);

    /* identity and loop guard */
    assert_int_equal(p->num_strong_keys, 1);
    assert_int_equal(p->strong_keys[0], sy_policy_field_index(p, "email"));
    assert_int_equal(p->num_weak_keys, 1);
    assert_int_equal(p->weak_keys[0], sy_policy_field_index(p, "company"));
    assert_int_equal(p->revert_budget, 3);
    assert_int_equal(p->revert_window_ms, 3600000);

    /* hubspot: contacts and companies (kept apart by an id prefix), push_as, excludes, rate */
    const sy_policy_source_t *hs = &p->sources[hubspot];
    assert_int_equal(hs->rate_count, 100);
    assert_int_equal(hs->rate_window_ms, 10000);
    assert_int_equal(hs->num_objects, 2);
    assert_null(hs->objects[0].id_prefix);
    assert_string_equal(hs->objects[1].id_prefix, "company-");
    assert_string_equal(hs->objects[1].events[1], "company.propertyChange");
    assert_int_equal(hs->objects[0].num_events, 4);
    assert_string_equal(hs->objects[0].events[1], "contact.propertyChange");
    assert_int_equal(hs->objects[0].num_delete_events, 2);
    assert_string_equal(hs->objects[0].delete_events[0], "contact.deletion");
    assert_string_equal(hs->objects[0].delete_events[1], "contact.privacyDeletion");
    assert_int_equal(hs->create, SY_CREATE_IF_MISSING);
    assert_int_equal(p->sources[sy_policy_source_index(p, "stripe")].create, SY_CREATE_NEVER);
    assert_string_equal(hs->objects[0].id.text, "objectId");
    assert_int_equal(hs->objects[0].id.num_segments, 1);
    assert_int_equal(hs->objects[0].num_fields, 9);
    assert_int_equal(hs->objects[0].fields[4].field, sy_policy_field_index(p, "lifecycle_stage"));
    assert_string_equal(hs->objects[0].fields[4].path.text, "properties.lifecyclestage");
    assert_int_equal(hs->objects[0].fields[4].path.num_segments, 2);
    assert_string_equal(hs->objects[0].fields[4].path.segments[1], "lifecyclestage");
    assert_int_equal(hs->objects[0].num_links, 0);
    assert_int_equal(hs->num_push_names, 4);
    assert_int_equal(hs->num_excludes, 3);
    assert_string_equal(hs->excludes[0].id, "crm_test");
    assert_int_equal(hs->excludes[0].field, SY_POLICY_NONE);
    assert_int_equal(hs->excludes[1].field, sy_policy_field_index(p, "name"));
    assert_string_equal(hs->excludes[1].equals, "Test Customer");
    assert_null(hs->excludes[1].matches);
    assert_int_equal(hs->excludes[2].field, sy_policy_field_index(p, "email"));
    assert_string_equal(hs->excludes[2].matches, "*@example.invalid");

    /* stripe: three objects, the cross id link, a deep path with an array index */
    const sy_policy_source_t *st = &p->sources[stripe];
    assert_int_equal(st->rate_count, 25);
    assert_int_equal(st->rate_window_ms, 1000);
    assert_int_equal(st->num_objects, 3);
    assert_int_equal(st->objects[0].num_links, 1);
    assert_int_equal(st->objects[0].links[0].source, hubspot);
    assert_string_equal(st->objects[0].links[0].path.text, "data.object.metadata.hubspot_contact_id");
    assert_int_equal(st->objects[0].links[0].path.num_segments, 4);
    assert_int_equal(st->objects[0].pos.line, 111);
    assert_int_equal(st->objects[0].pos.column, 9);
    assert_int_equal(st->objects[1].num_delete_events, 0);
    assert_string_equal(st->objects[1].id.text, "data.object.customer");
    assert_int_equal(st->objects[1].fields[1].field, sy_policy_field_index(p, "plan"));
    const sy_policy_path_t *price = &st->objects[1].fields[1].path;
    assert_int_equal(price->num_segments, 7);
    assert_string_equal(price->segments[0], "data");
    assert_string_equal(price->segments[3], "data");
    assert_string_equal(price->segments[4], "0");
    assert_string_equal(price->segments[6], "id");
    assert_int_equal(st->num_excludes, 1);
    sy_policy_destroy(p);
}

static void test_lookups_on_the_example(void **state)
{
    sy_policy_t *p = load_ok("../../policies/customers.yaml");
    size_t hubspot = src(p, "hubspot"), stripe = src(p, "stripe"), rank = 99;
    size_t email = sy_policy_field_index(p, "email"), lifecycle = sy_policy_field_index(p, "lifecycle_stage");
    const sy_policy_object_t *objs[4];

    assert_int_equal(sy_policy_field_index(p, "nope"), SY_POLICY_NONE);
    assert_int_equal(sy_policy_source_index(p, "nope"), SY_POLICY_NONE);
    assert_true(sy_policy_is_owner(p, email, hubspot, &rank));
    assert_int_equal(rank, 0);
    assert_false(sy_policy_is_owner(p, email, stripe, NULL));
    assert_false(sy_policy_is_owner(p, p->num_fields, hubspot, NULL));
    assert_string_equal(sy_policy_push_name(p, stripe, lifecycle), "metadata.lifecycle_stage");
    assert_null(sy_policy_push_name(p, hubspot, email));
    assert_null(sy_policy_push_name(p, 99, email));

    assert_int_equal(sy_policy_objects_for(p, stripe, "customer.subscription.updated", objs, 4), 1);
    assert_ptr_equal(objs[0], &p->sources[stripe].objects[1]);
    assert_int_equal(sy_policy_objects_for(p, stripe, "customer.updated", objs, 4), 1);
    assert_ptr_equal(objs[0], &p->sources[stripe].objects[0]);
    assert_int_equal(sy_policy_objects_for(p, stripe, "invoice.paid", objs, 4), 1);
    assert_ptr_equal(objs[0], &p->sources[stripe].objects[2]);
    assert_int_equal(sy_policy_objects_for(p, stripe, "charge.succeeded", objs, 4), 0);
    assert_int_equal(sy_policy_objects_for(p, hubspot, "contact.propertyChange", objs, 4), 1);
    assert_int_equal(sy_policy_objects_for(p, hubspot, "contact.propertyChange", objs, 0), 0);
    assert_true(sy_policy_is_delete_event(&p->sources[stripe].objects[0], "customer.deleted"));
    assert_false(sy_policy_is_delete_event(&p->sources[stripe].objects[0], "customer.updated"));
    assert_false(sy_policy_is_delete_event(&p->sources[stripe].objects[1], "customer.subscription.deleted"));
    sy_policy_destroy(p);
}

static void test_excludes_drop_test_records(void **state)
{
    sy_policy_t *p = load_ok("../../policies/customers.yaml");
    size_t hubspot = src(p, "hubspot"), stripe = src(p, "stripe");
    size_t name = sy_policy_field_index(p, "name"), email = sy_policy_field_index(p, "email");
    const char *values[16] = {0};

    assert_true(sy_policy_excluded(p, hubspot, "crm_test", values));
    assert_false(sy_policy_excluded(p, hubspot, "crm_test2", values));
    assert_false(sy_policy_excluded(p, hubspot, "CRM_TEST", values)); /* ids compare exactly */
    assert_false(sy_policy_excluded(p, stripe, "crm_test", values));  /* rules are per source */
    assert_false(sy_policy_excluded(p, hubspot, NULL, NULL));

    values[name] = "TEST CUSTOMER";
    assert_true(sy_policy_excluded(p, hubspot, "1", values));
    assert_true(sy_policy_excluded(p, stripe, "cus_1", values));
    values[name] = "Test Customers";
    assert_false(sy_policy_excluded(p, hubspot, "1", values));
    /* values are normalised by the caller with the field's normalisers: extra spaces do not hide a test record */
    char *norm = sy_normalize(p->fields[name].normalize, p->fields[name].num_normalize, "  Test \t Customer ");
    values[name] = norm;
    assert_true(sy_policy_excluded(p, hubspot, "1", values));
    free(norm);
    values[name] = NULL;

    values[email] = "bob@example.invalid";
    assert_true(sy_policy_excluded(p, hubspot, "1", values));
    assert_false(sy_policy_excluded(p, stripe, "cus_1", values)); /* stripe has no email rule */
    values[email] = "bob@example.invalid.org";
    assert_false(sy_policy_excluded(p, hubspot, "1", values));
    values[email] = "bob@example.io";
    assert_false(sy_policy_excluded(p, hubspot, "1", values));
    sy_policy_destroy(p);
}

static void test_every_static_check_points_at_the_node(void **state)
{
    static const struct {
        const char *file;
        unsigned line, column;
        const char *needle;
    } cases[] = {
        {"unknown_top_key.yaml", 2, 1, "policy: unknown key \"feilds\""},
        {"unknown_field_key.yaml", 5, 5, "field \"email\": unknown key \"ownr\""},
        {"no_owner.yaml", 3, 3, "field \"email\": no owner"},
        {"unknown_owner.yaml", 4, 18, "field \"email\": owner \"crn\" is not declared under sources"},
        {"unknown_push_target.yaml", 5, 12, "field \"email\": push target \"biling\" is not declared under sources"},
        {"push_target_is_owner.yaml", 5, 12, "field \"email\": push target \"billing\" is its owner"},
        {"push_without_push_as.yaml", 5, 21, "field \"email\": push target \"helpdesk\" has no push_as entry for it"},
        {"duplicate_owner.yaml", 4, 18, "field \"email\": \"crm\" is listed twice in owner"},
        {"unknown_object_field.yaml", 12, 11, "source \"crm\": object 1: \"emial\" is not a declared field"},
        {"unknown_push_as_field.yaml", 13, 7, "push_as names \"phone\", which is not a declared field"},
        {"unknown_identity_field.yaml", 7, 10, "identity: weak key \"company\" is not a declared field"},
        {"unknown_exclude_field.yaml", 11, 16, "source \"crm\": exclude 2: \"name\" is not a declared field"},
        {"link_unknown_source.yaml", 12, 11, "link to \"stripe\", which is not declared under sources"},
        {"link_to_itself.yaml", 12, 11, "a source cannot link to itself"},
        {"object_without_events.yaml", 8, 9, "source \"crm\": object 1: missing \"events\""},
        {"object_empty_events.yaml", 8, 17, "\"events\" must not be empty"},
        {"object_without_id.yaml", 8, 9, "source \"crm\": object 1: missing \"id\""},
        {"delete_event_empty.yaml", 9, 43, "\"delete_events\" entries must be non-empty strings"},
        {"delete_event_unmatched.yaml", 9, 50, "delete event \"contact.deletion\" matches none of its events"},
        {"unknown_normalizer.yaml", 5, 23, "unknown normaliser \"emails\""},
        {"too_many_normalizers.yaml", 5, 43, "at most 4 normalisers"},
        {"bad_rate.yaml", 7, 11, "source \"crm\": rate must be REQUESTS/WINDOW"},
        {"zero_rate.yaml", 7, 11, "at least 1 request"},
        {"bad_create.yaml", 7, 13, "source \"crm\": create must be never or if_missing"},
        {"zero_revert_budget.yaml", 6, 18, "revert_budget must be a whole number of at least 1"},
        {"bad_window.yaml", 5, 40, "loop_guard: window must be a duration"},
        {"owner_never_maps.yaml", 6, 13, "field \"plan\": owner \"billing\" maps it in none of its objects"},
        {"bad_path.yaml", 11, 18, "\"email\" must be a dotted path"},
        {"bad_source_name.yaml", 9, 3, "sources: names use a-z, 0-9, '_' and '-'"},
        {"push_as_owned_field.yaml", 10, 7, "push_as_owned_field.yaml:4:12) and receives it through push_as"},
        {"push_as_not_pushed.yaml", 11, 7,
         "source \"billing\": push_as maps \"email\", but the field is not pushed to billing"},
        {"field_declared_twice.yaml", 5, 3, "field \"email\" is declared twice: at "},
        {"source_given_twice.yaml", 9, 3, "source \"crm\" is given twice in this file"},
        {"bad_on_conflict.yaml", 5, 18, "on_conflict must be ignore, revert or alert"},
        {"required_not_bool.yaml", 5, 15, "\"required\" must be true or false"},
        {"yaml_syntax.yaml", 5, 8, "flow sequence"},
        {"exclude_ambiguous.yaml", 10, 9,
         "exclude 1: give {id: X}, {field: F, equals: X} or {field: F, matches: GLOB}"},
        {"exclude_equals_empty.yaml", 12, 17, "\"Test Customer\" is empty once normalised for field \"email\""},
        {"no_entity.yaml", 0, 0, "no file says which entity it describes"},
        {"strong_key_twice.yaml", 7, 10, "identity: \"email\" is already a strong key"},
        {"too_many_sources.yaml", 24, 3, "at most 16 sources"},
        {"too_many_strong_keys.yaml", 13, 44, "identity: at most 8 strong keys"},
    };
    char rel[256];
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        snprintf(rel, sizeof(rel), "policies/broken/%s", cases[i].file);
        expect_error(rel, cases[i].file, cases[i].line, cases[i].column, cases[i].needle, NULL);
    }
    /* the second place is named with its own file:line:column */
    expect_error("policies/broken/field_declared_twice.yaml", "field_declared_twice.yaml", 5, 3,
                 "field_declared_twice.yaml:3:3 and here", NULL);
}

static void test_directory_merges_files_in_name_order(void **state)
{
    sy_policy_t *p = load_ok("policies/multi");
    size_t crm = src(p, "crm"), billing = src(p, "billing"), helpdesk = src(p, "helpdesk"), rank = 99;

    /* dot files and other suffixes are not policy files; .yml is */
    assert_int_equal(p->num_files, 4);
    assert_true(ends_with(p->files[0], "policies/multi/10-fields.yaml"));
    assert_true(ends_with(p->files[2], "policies/multi/30-billing.yml"));
    assert_true(ends_with(p->files[3], "policies/multi/40-billing-plans.yaml"));
    assert_int_equal(p->num_fields, 3);
    assert_int_equal(p->num_sources, 3);
    assert_string_equal(p->entity, "customer"); /* said twice, the same */

    const sy_policy_field_t *plan = field(p, "plan");
    assert_ptr_equal(plan->pos.file, p->files[0]);
    assert_int_equal(plan->num_owners, 2);
    assert_int_equal(plan->owners[0], billing);
    assert_true(sy_policy_is_owner(p, (size_t)(plan - p->fields), crm, &rank));
    assert_int_equal(rank, 1);
    assert_int_equal(plan->push[0], helpdesk);
    assert_int_equal(field(p, "company")->num_normalize, 2);
    assert_int_equal(field(p, "company")->normalize[1], SY_NORM_COMPANY_NAME);

    /* billing is described by two files: objects and excludes append, rate comes from the second */
    const sy_policy_source_t *b = &p->sources[billing];
    assert_ptr_equal(b->pos.file, p->files[2]);
    assert_int_equal(b->num_objects, 2);
    assert_ptr_equal(b->objects[0].pos.file, p->files[2]);
    assert_ptr_equal(b->objects[1].pos.file, p->files[3]);
    assert_string_equal(b->objects[1].events[0], "customer.subscription.*");
    assert_int_equal(b->objects[0].links[0].source, crm);
    assert_int_equal(b->rate_count, 25);
    assert_int_equal(b->rate_window_ms, 1000);
    assert_int_equal(b->num_excludes, 2);
    assert_string_equal(b->excludes[0].matches, "*@example.invalid");
    /* equals is stored normalised with the field's normalisers (trim, company_name) */
    assert_string_equal(b->excludes[1].equals, "test customer");
    const char *values[3] = {0};
    values[sy_policy_field_index(p, "company")] = "test customer";
    assert_true(sy_policy_excluded(p, billing, "cus_1", values));

    assert_int_equal(p->sources[crm].rate_count, 10);
    assert_int_equal(p->sources[helpdesk].num_objects, 0); /* a push-only spoke */
    assert_string_equal(sy_policy_push_name(p, helpdesk, (size_t)(plan - p->fields)), "custom_fields.plan");
    assert_int_equal(p->sources[helpdesk].rate_count, 0);
    assert_int_equal(p->revert_budget, 5);
    assert_int_equal(p->revert_window_ms, 30 * 60000);
    sy_policy_destroy(p);
}

static void test_cross_file_mistakes_name_both_places(void **state)
{
    expect_error("policies/multi_own_receive", "multi_own_receive/b-billing.yaml", 5, 7,
                 "field \"mrr\": source \"billing\" both owns it (", "multi_own_receive/a-fields.yaml:5:12");
    expect_error("policies/multi_own_receive", "multi_own_receive/b-billing.yaml", 5, 7,
                 "receives it through push_as (", "multi_own_receive/b-billing.yaml:5:7)");
    expect_error("policies/multi_field_twice", "multi_field_twice/b.yaml", 3, 3, "field \"email\" is declared twice",
                 "multi_field_twice/a.yaml:3:3");
    expect_error("policies/multi_rate_twice", "multi_rate_twice/b.yaml", 3, 11, "source \"crm\": rate is given twice",
                 "multi_rate_twice/a.yaml:6:11");
    expect_error("policies/multi_entity_mismatch", "multi_entity_mismatch/b.yaml", 1, 9,
                 "entity \"contact\" differs from \"customer\"", "multi_entity_mismatch/a.yaml:1:9");
    expect_error("policies/multi_identity_twice", "multi_identity_twice/b.yaml", 3, 3, "\"identity\" is given twice",
                 "multi_identity_twice/a.yaml:8:11");
}

static void write_file(const char *path, const char *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static char *read_example(size_t *len)
{
    char path[1024];
    data_path(path, sizeof(path), "../../policies/customers.yaml");
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static void load_hash(const char *path, char out[SY_POLICY_HASH_LEN + 1])
{
    sy_policy_t *p = NULL;
    sy_error_t err = {0};
    if (sy_policy_load(&p, path, &err) != 0)
        fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.msg);
    memcpy(out, p->hash, SY_POLICY_HASH_LEN + 1);
    sy_policy_destroy(p);
}

static void test_hash_covers_names_and_bytes(void **state)
{
    char dir[] = "/tmp/sy-policy-hash-XXXXXX", file[256], renamed[256], h1[17], h2[17], h3[17], h4[17], h5[17];
    char want[2 * SY_SHA256_LEN + 1];
    unsigned char digest[SY_SHA256_LEN];
    size_t len;
    char *bytes = read_example(&len);

    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/customers.yaml", dir);
    snprintf(renamed, sizeof(renamed), "%s/other.yaml", dir);
    write_file(file, bytes, len);

    /* the documented definition: SHA-256 over base name, NUL, bytes; first 16 hex chars */
    sy_slice_t parts[] = {SY_SLICE_LIT("customers.yaml"), {"", 1}, {bytes, len}};
    assert_int_equal(sy_sha256(parts, 3, digest), 0);
    sy_hex_encode(digest, sizeof(digest), want);
    want[SY_POLICY_HASH_LEN] = '\0';

    load_hash(file, h1);
    assert_string_equal(h1, want);
    load_hash(dir, h2); /* the same one file, through its directory */
    assert_string_equal(h2, h1);
    char example[1024];
    data_path(example, sizeof(example), "../../policies/customers.yaml");
    load_hash(example, h3); /* another path, same base name and bytes */
    assert_string_equal(h3, h1);

    /* one byte of a comment changes it; writing the bytes back restores it */
    char *hash_sign = strchr(bytes, '#');
    assert_non_null(hash_sign);
    hash_sign[1] = hash_sign[1] == 'X' ? 'Y' : 'X';
    write_file(file, bytes, len);
    load_hash(file, h4);
    assert_string_not_equal(h4, h1);

    /* the base name is covered too */
    assert_int_equal(rename(file, renamed), 0);
    load_hash(renamed, h5);
    assert_string_not_equal(h5, h4);

    unlink(renamed);
    rmdir(dir);
    free(bytes);
}

static void test_paths_that_hold_no_policy(void **state)
{
    char dir[] = "/tmp/sy-policy-empty-XXXXXX", path[256];
    static sy_policy_t stale;
    sy_policy_t *p = &stale; /* a failed load must reset it to NULL */
    sy_error_t err = {0};

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/README.md", dir);
    write_file(path, "# not a policy\n", 15);
    assert_int_not_equal(sy_policy_load(&p, dir, &err), 0);
    assert_null(p);
    assert_string_equal(err.file, dir);
    assert_non_null(strstr(err.msg, "no *.yaml or *.yml policy files"));
    unlink(path);

    snprintf(path, sizeof(path), "%s/empty.yaml", dir);
    write_file(path, "# only a comment\n", 17);
    assert_int_not_equal(sy_policy_load(&p, dir, &err), 0);
    assert_non_null(strstr(err.msg, "the file is empty"));
    unlink(path);
    rmdir(dir);

    assert_int_equal(sy_policy_load(&p, "/nonexistent/policies", &err), SY_EIO);
    assert_non_null(strstr(err.msg, "No such file"));
}

/* Runs `policy VERB [arg]` with stdout and stderr captured into out / errout. */
static int run_cli(const char *verb, const char *arg, char *out, size_t outlen, char *errout, size_t errlen)
{
    char tmpl_out[] = "/tmp/sy-policy-out-XXXXXX", tmpl_err[] = "/tmp/sy-policy-err-XXXXXX";
    int fo = mkstemp(tmpl_out), fe = mkstemp(tmpl_err);
    assert_true(fo >= 0 && fe >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    sy_cli_t cli = {.count = -1};
    if (arg != NULL)
        cli.args[cli.num_args++] = arg;
    int rc = sy_cli_policy(&cli, verb);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    ssize_t n = pread(fo, out, outlen - 1, 0), m = pread(fe, errout, errlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    errout[m > 0 ? m : 0] = '\0';
    close(fo);
    close(fe);
    unlink(tmpl_out);
    unlink(tmpl_err);
    return rc;
}

static void test_policy_check_command(void **state)
{
    char path[1024], out[8192], errout[2048], want[64];
    sy_policy_t *p = load_ok("../../policies/customers.yaml");
    snprintf(want, sizeof(want), "ok: 10 fields, 2 sources, hash %s\n", p->hash);
    sy_policy_destroy(p);

    data_path(path, sizeof(path), "../../policies/customers.yaml");
    assert_int_equal(run_cli("check", path, out, sizeof(out), errout, sizeof(errout)), 0);
    assert_memory_equal(out, want, strlen(want));
    assert_non_null(strstr(out, "\n  email "));
    assert_non_null(strstr(out, "owner hubspot"));
    assert_non_null(strstr(out, "lifecycle_stage=metadata.lifecycle_stage"));
    assert_non_null(strstr(out, "rate 100/10s"));
    assert_string_equal(errout, "");

    assert_int_equal(run_cli("show", path, out, sizeof(out), errout, sizeof(errout)), 0);
    assert_null(strstr(out, "ok:"));
    assert_non_null(strstr(out, "subscription_status"));

    data_path(path, sizeof(path), "policies/broken/push_target_is_owner.yaml");
    assert_int_equal(run_cli("check", path, out, sizeof(out), errout, sizeof(errout)), 2);
    assert_string_equal(out, "");
    assert_non_null(
        strstr(errout, "push_target_is_owner.yaml:5:12: field \"email\": push target \"billing\" is its owner\n"));

    assert_int_equal(run_cli("frobnicate", NULL, out, sizeof(out), errout, sizeof(errout)), 2);
    assert_non_null(strstr(errout, "check or show"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_policy_parses_in_full),
        cmocka_unit_test(test_lookups_on_the_example),
        cmocka_unit_test(test_excludes_drop_test_records),
        cmocka_unit_test(test_every_static_check_points_at_the_node),
        cmocka_unit_test(test_directory_merges_files_in_name_order),
        cmocka_unit_test(test_cross_file_mistakes_name_both_places),
        cmocka_unit_test(test_hash_covers_names_and_bytes),
        cmocka_unit_test(test_paths_that_hold_no_policy),
        cmocka_unit_test(test_policy_check_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
