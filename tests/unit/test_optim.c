#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_suite.h"
#include "train/optim.h"

START_TEST(sgd_plain_momentum_matches_hand_computation)
{
    lps_sgd_config cfg = {.momentum = 0.9f};
    float w[2] = {1.0f, -2.0f};
    float g[2] = {0.5f, 1.0f};
    float buf[2] = {0};
    lps_sgd_step(&cfg, 0.1f, 2, w, g, buf);
    /* First step: buf = g, w -= lr * g */
    ck_assert_float_eq_tol(w[0], 0.95f, 1e-7f);
    ck_assert_float_eq_tol(w[1], -2.1f, 1e-6f);
    lps_sgd_step(&cfg, 0.1f, 2, w, g, buf);
    /* buf = 0.9 * 0.5 + 0.5 = 0.95 */
    ck_assert_float_eq_tol(buf[0], 0.95f, 1e-7f);
    ck_assert_float_eq_tol(w[0], 0.95f - 0.095f, 1e-6f);
}
END_TEST

START_TEST(sgd_nesterov_looks_ahead)
{
    lps_sgd_config cfg = {.momentum = 0.5f, .nesterov = 1};
    float w[1] = {0.0f};
    float g[1] = {1.0f};
    float buf[1] = {0};
    lps_sgd_step(&cfg, 1.0f, 1, w, g, buf);
    /* buf = 1, step = g + mu * buf = 1.5 */
    ck_assert_float_eq_tol(w[0], -1.5f, 1e-7f);
    lps_sgd_step(&cfg, 1.0f, 1, w, g, buf);
    /* buf = 1.5, step = 1 + 0.75 */
    ck_assert_float_eq_tol(w[0], -3.25f, 1e-6f);
}
END_TEST

START_TEST(weight_decay_modes_differ_as_documented)
{
    lps_sgd_config coupled = {.momentum = 0.9f, .weight_decay = 0.1f, .wd_mode = LPS_WD_COUPLED_L2};
    lps_sgd_config decoupled = coupled;
    decoupled.wd_mode = LPS_WD_DECOUPLED;
    float g[1] = {0.0f};
    float wc[1] = {2.0f}, bc[1] = {0};
    float wd[1] = {2.0f}, bd[1] = {0};
    for (int i = 0; i < 2; i++) {
        lps_sgd_step(&coupled, 0.5f, 1, wc, g, bc);
        lps_sgd_step(&decoupled, 0.5f, 1, wd, g, bd);
    }
    /* Decoupled: w *= (1 - 0.05) twice, momentum never sees the decay. */
    ck_assert_float_eq_tol(wd[0], 2.0f * 0.95f * 0.95f, 1e-6f);
    ck_assert_float_eq(bd[0], 0.0f);
    /* Coupled: step 1 w = 2 - 0.5*0.2 = 1.9; buf = 0.9*0.2 + 0.19 = 0.37; w = 1.9 - 0.185 */
    ck_assert_float_eq_tol(wc[0], 1.715f, 1e-6f);
}
END_TEST

START_TEST(sgd_config_rejects_bad_values)
{
    lps_error err;
    lps_sgd_config bad_mu = {.momentum = 1.0f};
    lps_sgd_config bad_nesterov = {.nesterov = 1};
    lps_sgd_config bad_wd = {.weight_decay = -1.0f};
    lps_sgd_config ok = {.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f};
    ck_assert_int_eq(lps_sgd_config_check(&bad_mu, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_sgd_config_check(&bad_nesterov, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_sgd_config_check(&bad_wd, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "weight_decay"));
    ck_assert_int_eq(lps_sgd_config_check(&ok, &err), LPS_OK);
}
END_TEST

START_TEST(global_norm_clipping)
{
    float a[2] = {3.0f, 0.0f};
    float b[1] = {4.0f};
    float *bufs[2] = {a, b};
    int64_t lens[2] = {2, 1};
    ck_assert_double_eq_tol(lps_grad_global_norm(2, bufs, lens), 5.0, 1e-12);
    ck_assert_double_eq_tol(lps_clip_grad_global_norm(2, bufs, lens, 10.0), 5.0, 1e-12);
    ck_assert_float_eq(a[0], 3.0f);
    ck_assert_double_eq_tol(lps_clip_grad_global_norm(2, bufs, lens, 1.0), 5.0, 1e-12);
    ck_assert_float_eq_tol(a[0], 0.6f, 1e-7f);
    ck_assert_float_eq_tol(b[0], 0.8f, 1e-7f);
    ck_assert_double_eq_tol(lps_grad_global_norm(2, bufs, lens), 1.0, 1e-6);
    a[1] = NAN;
    ck_assert(!isfinite(lps_clip_grad_global_norm(2, bufs, lens, 1e-3)));
    ck_assert_float_eq_tol(b[0], 0.8f, 1e-7f);
}
END_TEST

START_TEST(schedules_hit_their_endpoints)
{
    lps_error err;
    lps_lr_schedule cosine = {.kind = LPS_LR_COSINE, .base_lr = 0.1, .final_lr = 0.001};
    ck_assert_int_eq(lps_lr_schedule_check(&cosine, &err), LPS_OK);
    ck_assert_double_eq_tol(lps_lr_at(&cosine, 0, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(lps_lr_at(&cosine, 50, 100), 0.0505, 1e-12);
    ck_assert_double_eq_tol(lps_lr_at(&cosine, 100, 100), 0.001, 1e-15);
    ck_assert_double_eq_tol(lps_lr_at(&cosine, 1000, 100), 0.001, 1e-15);
    lps_lr_schedule linear = {.kind = LPS_LR_LINEAR, .base_lr = 0.2, .final_lr = 0.0};
    ck_assert_double_eq_tol(lps_lr_at(&linear, 25, 100), 0.15, 1e-12);
    lps_lr_schedule constant = {.kind = LPS_LR_CONSTANT, .base_lr = 0.3};
    ck_assert_double_eq(lps_lr_at(&constant, 99, 100), 0.3);
}
END_TEST

START_TEST(piecewise_warmup_from_text)
{
    lps_error err;
    lps_lr_schedule s = {.kind = LPS_LR_CONSTANT, .base_lr = 0.5};
    ck_assert_int_eq(lps_lr_points_parse(&s, "0:0,0.1:1,0.5:1,1:0.2", &err), LPS_OK);
    ck_assert_int_eq(s.kind, LPS_LR_PIECEWISE);
    ck_assert_int_eq(s.n_points, 4);
    ck_assert_int_eq(lps_lr_schedule_check(&s, &err), LPS_OK);
    ck_assert_double_eq_tol(lps_lr_at(&s, 0, 1000), 0.0, 1e-15);
    ck_assert_double_eq_tol(lps_lr_at(&s, 50, 1000), 0.25, 1e-12);
    ck_assert_double_eq_tol(lps_lr_at(&s, 300, 1000), 0.5, 1e-12);
    ck_assert_double_eq_tol(lps_lr_at(&s, 750, 1000), 0.5 * 0.6, 1e-12);
    ck_assert_double_eq_tol(lps_lr_at(&s, 1000, 1000), 0.1, 1e-12);

    lps_lr_schedule before = s;
    ck_assert_int_eq(lps_lr_points_parse(&s, "0:1,0.5", &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_lr_points_parse(&s, "0.5:1,0.2:1", &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "0.5:1,0.2:1"));
    ck_assert_int_eq(lps_lr_points_parse(&s, "0:1;1:0", &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_lr_points_parse(&s, "0:-1", &err), LPS_ERR_INVALID);
    ck_assert_int_eq(s.n_points, before.n_points);

    lps_lr_schedule no_lr = {.kind = LPS_LR_COSINE, .base_lr = 0.0};
    ck_assert_int_eq(lps_lr_schedule_check(&no_lr, &err), LPS_ERR_INVALID);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", sgd_plain_momentum_matches_hand_computation, 1},
        {"core", sgd_nesterov_looks_ahead, 1},
        {"core", weight_decay_modes_differ_as_documented, 1},
        {"core", sgd_config_rejects_bad_values, 1},
        {"core", global_norm_clipping, 1},
        {"core", schedules_hit_their_endpoints, 1},
        {"core", piecewise_warmup_from_text, 1},
    };
    return test_run_table("optim", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
