/* The integration map drawn from the example policy: owners per tool and the flows through the hub. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

static char *draw(const char *format)
{
    char path[1024], *text = NULL;
    size_t len = 0;
    sy_error_t err = {0};
    sy_policy_t *p;
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    assert_int_equal(sy_policy_load(&p, path, &err), 0);
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(sy_map_write(p, format, out), 0);
    fclose(out);
    assert_int_equal(sy_map_write(p, "svg", stdout), SY_EINVAL);
    sy_policy_destroy(p);
    return text;
}

static void test_mermaid_map_of_the_example(void **state)
{
    char *m = draw("mermaid");
    assert_non_null(strstr(m, "flowchart LR\n"));
    assert_non_null(strstr(m, "hubspot[\"hubspot<br/>owns: email, name, phone, company, lifecycle_stage\"]"));
    assert_non_null(strstr(m, "stripe[\"stripe<br/>owns: subscription_status, plan, mrr, payment_state, billing_email\"]"));
    assert_non_null(strstr(m, "hubspot -- \"email, name, phone, lifecycle_stage\" --> hub -- \"email, name, phone, "
                              "lifecycle_stage\" --> stripe"));
    assert_non_null(strstr(m, "stripe -- \"subscription_status, plan, mrr, payment_state\" --> hub"));
    assert_null(strstr(m, "company\" -->")); /* company is owned but pushed nowhere */
    free(m);
}

static void test_dot_map_is_a_closed_digraph(void **state)
{
    char *d = draw("dot");
    assert_non_null(strstr(d, "digraph switchyard {"));
    assert_non_null(strstr(d, "hub -> stripe [label=\"email, name, phone, lifecycle_stage\"];"));
    assert_non_null(strstr(d, "stripe -> hub [label=\"subscription_status, plan, mrr, payment_state\"];"));
    assert_int_equal(d[strlen(d) - 2], '}');
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mermaid_map_of_the_example),
        cmocka_unit_test(test_dot_map_is_a_closed_digraph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
