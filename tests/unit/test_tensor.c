#include <check.h>
#include <stdlib.h>

#include "lpsparsify/tensor.h"
#include "test_suite.h"

START_TEST(numel_rejects_negative_and_overflow)
{
    int64_t neg[] = {2, -1};
    int64_t big[] = {1 << 21, 1 << 21};
    int64_t ok[] = {2, 3, 4};
    ck_assert_int_eq(lps_numel_of(2, neg), -1);
    ck_assert_int_eq(lps_numel_of(2, big), -1);
    ck_assert_int_eq(lps_numel_of(3, ok), 24);
    ck_assert_int_eq(lps_numel_of(0, ok), 1);
}
END_TEST

START_TEST(alloc_reuses_and_zeroes)
{
    lps_tensor t = {0};
    lps_error err;
    int64_t dims[] = {3, 4};
    ck_assert_int_eq(lps_tensor_alloc(&t, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    ck_assert_uint_eq(t.nbytes, 48);
    lps_tensor_f32(&t)[5] = 7.0f;
    int64_t small[] = {2};
    ck_assert_int_eq(lps_tensor_alloc(&t, LPS_DT_FLOAT, 1, small, &err), LPS_OK);
    ck_assert_float_eq(lps_tensor_f32(&t)[1], 0.0f);
    int64_t bad[] = {-3};
    ck_assert_int_eq(lps_tensor_alloc(&t, LPS_DT_FLOAT, 1, bad, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(t.dims[0], 2);
    lps_tensor_release(&t);
    lps_tensor_free(NULL);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", numel_rejects_negative_and_overflow, 1},
        {"core", alloc_reuses_and_zeroes, 1},
    };
    return test_run_table("tensor", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
