/* The sparsification session on a hand-built MLP through the engine:
 * LpSGD initialised from a model exports a model that computes what the input
 * computed (step 0), and every method ends within half a point of the target
 * (global, per-layer, own layer targets and excluded layers). The MLP has one
 * Gemm with transB=0 (units are columns), one with transB=1 (units are rows)
 * and a constant MatMul operand, so both row layouts are covered. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "sparsity/sparsify.h"
#include "sparsity/stats_fix.h"
#include "test_node.h"
#include "test_suite.h"
#include "test_train.h"
#include "train/trainer.h"

#define N_FEATURES 12
#define N_HIDDEN 24
#define N_HIDDEN2 16
#define N_CLASSES 4
#define N_SAMPLES 256
#define BATCH 32
#define N_LAYERS 3
/* Step 0 must reproduce the input model's outputs to float rounding. */
#define STEP0_REL_TOL 1e-6
/* docs/method.md section 4: achieved within half a percentage point. */
#define TARGET_TOL 0.005

/* x [N, 12] -> Gemm(w1 [12, 24], transB=0) -> Relu -> MatMul(w2 [24, 16]) -> Relu
 * -> Gemm(w3 [4, 16], transB=1) -> logits [N, 4] */
static lps_model *mlp(void)
{
    lps_model *m = test_model_new(13, "x", N_FEATURES, "logits");
    lps_node *fc1 = test_node_with_io("Gemm", "fc1", 3, (const char *[]){"x", "w1", "b1"}, "h1");
    lps_node *relu1 = test_node_with_io("Relu", "relu1", 1, (const char *[]){"h1"}, "a1");
    lps_node *mm2 = test_node_with_io("MatMul", "mm2", 2, (const char *[]){"a1", "w2"}, "h2");
    lps_node *relu2 = test_node_with_io("Relu", "relu2", 1, (const char *[]){"h2"}, "a2");
    lps_node *fc3 = test_node_with_io("Gemm", "fc3", 3,
                                      (const char *[]){"a2", "w3", "b3"}, "logits");
    test_node_attr_int(fc3, "transB", 1);
    test_model_add_node(m, fc1);
    test_model_add_node(m, relu1);
    test_model_add_node(m, mm2);
    test_model_add_node(m, relu2);
    test_model_add_node(m, fc3);
    test_model_add_random_init(m, "w1", 2, (int64_t[]){N_FEATURES, N_HIDDEN}, 1);
    test_model_add_random_init(m, "b1", 1, (int64_t[]){N_HIDDEN}, 2);
    test_model_add_random_init(m, "w2", 2, (int64_t[]){N_HIDDEN, N_HIDDEN2}, 3);
    test_model_add_random_init(m, "w3", 2, (int64_t[]){N_CLASSES, N_HIDDEN2}, 4);
    test_model_add_random_init(m, "b3", 1, (int64_t[]){N_CLASSES}, 5);
    return m;
}

/* Random features labelled by a feature's sign pattern: learnable, labelled. */
static void dataset(lps_dataset *ds)
{
    test_sign_dataset(ds, N_SAMPLES, N_FEATURES, 7, 0, 1);
}

/* A session of so on a fresh MLP and the dataset, trained for `epochs`. */
typedef struct mlp_run {
    lps_dataset ds;
    lps_train_options to;
    lps_model *m;
    lps_trainer *t;
    lps_sparsify *s;
} mlp_run;

static void run_start(mlp_run *r, const lps_sparsify_options *so, int64_t epochs)
{
    dataset(&r->ds);
    test_train_options(&r->to, epochs, BATCH);
    r->m = mlp();
    test_sparsify_session(r->m, &r->ds, &r->to, so, &r->t, &r->s);
}

static void run_release(mlp_run *r)
{
    lps_sparsify_free(r->s);
    lps_trainer_free(r->t);
    lps_model_free(r->m);
    lps_dataset_release(&r->ds);
}

START_TEST(step0_outputs_equal_the_input_model)
{
    static const double ps[] = {1.05, 1.07, 1.3, 2.0};
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options to;
    lps_sparsify_options so;
    dataset(&ds);
    test_train_options(&to, 1, BATCH);
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
        lps_model *m = mlp();
        float *before = test_logits_of(m, &ds);
        lps_sparsify_options_default(&so);
        so.target = 0.9;
        so.p = ps[pi];
        lps_trainer *t;
        lps_sparsify *s;
        test_sparsify_session(m, &ds, &to, &so, &t, &s);
        ck_assert_int_eq(lps_sparsify_finish(s, &err), LPS_OK);
        ck_assert_int_eq(lps_trainer_write(t, &err), LPS_OK);
        float *after = test_logits_of(m, &ds);
        double max_abs = 0.0, max_diff = 0.0;
        for (int k = 0; k < N_SAMPLES * N_CLASSES; k++) {
            max_abs = fmax(max_abs, fabs(before[k]));
            max_diff = fmax(max_diff, fabs((double)after[k] - before[k]));
        }
        ck_assert_msg(max_diff <= STEP0_REL_TOL * max_abs, "p %g: outputs moved by %g (max %g)",
                      ps[pi], max_diff, max_abs);
        free(before);
        free(after);
        lps_sparsify_free(s);
        lps_trainer_free(t);
        lps_model_free(m);
    }
    lps_dataset_release(&ds);
}
END_TEST

/* Zeros / weights of initializer `name` in m. */
static double sparsity_of(const lps_model *m, const char *name, int64_t *zeros, int64_t *total)
{
    for (size_t i = 0; i < m->graph.n_initializers; i++) {
        const lps_initializer *init = &m->graph.initializers[i];
        if (strcmp(init->name, name) != 0)
            continue;
        const float *w = lps_tensor_f32(&init->tensor);
        int64_t n = lps_tensor_numel(&init->tensor), z = 0;
        for (int64_t k = 0; k < n; k++)
            z += w[k] == 0.0f;
        *zeros += z;
        *total += n;
        return (double)z / (double)n;
    }
    ck_abort_msg("no initializer '%s'", name);
    return NAN;
}

typedef struct target_case {
    lps_sparsify_method method;
    lps_prune_allocation alloc;
    double target;
    const char *own_layer;   /* NULL or a layer with its own target */
    double own_target;
    const char *exclude;     /* NULL or a regex */
    bool stats_fix;          /* output-statistics correction (fc1 only: biased, not the logits) */
} target_case;

static const target_case TARGET_CASES[] = {
    {LPS_METHOD_LPSS, LPS_ALLOC_GLOBAL, 0.9, NULL, 0, NULL, false},
    {LPS_METHOD_LPSS, LPS_ALLOC_PER_LAYER, 0.8, NULL, 0, NULL, false},
    {LPS_METHOD_LPSS, LPS_ALLOC_GLOBAL, 0.7, "fc3", 0.25, NULL, false},
    {LPS_METHOD_LPSS, LPS_ALLOC_GLOBAL, 0.95, NULL, 0, "^w3$", false},
    {LPS_METHOD_GMP, LPS_ALLOC_GLOBAL, 0.9, NULL, 0, NULL, false},
    {LPS_METHOD_GMP, LPS_ALLOC_GLOBAL, 0.75, "w1", 0.3, "mm2", false}, /* w3 alone: 48 of 64 */
    {LPS_METHOD_MAGNITUDE, LPS_ALLOC_GLOBAL, 0.9, NULL, 0, NULL, false},
    {LPS_METHOD_MAGNITUDE, LPS_ALLOC_PER_LAYER, 0.5, NULL, 0, NULL, false},
    {LPS_METHOD_LPSS, LPS_ALLOC_GLOBAL, 0.9, NULL, 0, NULL, true},
    {LPS_METHOD_GMP, LPS_ALLOC_GLOBAL, 0.9, NULL, 0, NULL, true},
};

static const char *const LAYER_INIT[N_LAYERS] = {"w1", "w2", "w3"};
static const char *const LAYER_NODE[N_LAYERS] = {"fc1", "mm2", "fc3"};

START_TEST(achieved_sparsity_is_the_target)
{
    const target_case *c = &TARGET_CASES[_i];
    lps_error err = {0};
    lps_sparsify_options so;
    lps_sparsify_options_default(&so);
    so.method = c->method;
    so.allocation = c->alloc;
    so.target = c->target;
    so.stats_fix = c->stats_fix;
    so.semi.frequency = 2; /* a few topology updates in 16 steps */
    so.gmp.frequency = 2;
    if (c->own_layer) {
        so.layer_target[0].name = c->own_layer;
        so.layer_target[0].value = c->own_target;
        so.n_layer_target = 1;
    }
    if (c->exclude) {
        so.exclude[0] = c->exclude;
        so.n_exclude = 1;
    }
    mlp_run r;
    run_start(&r, &so, 2);
    lps_model *m = r.m;
    lps_sparsify *s = r.s;
    test_sparsify_train(r.t, s, NULL, NULL);
    ck_assert_int_eq(lps_trainer_write(r.t, &err), LPS_OK);
    int64_t pool_zeros = 0, pool_total = 0, all_zeros = 0, all_total = 0;
    for (int l = 0; l < N_LAYERS; l++) {
        int64_t z = 0, n = 0;
        double sp = sparsity_of(m, LAYER_INIT[l], &z, &n);
        bool own = c->own_layer && (strcmp(c->own_layer, LAYER_INIT[l]) == 0 ||
                                    strcmp(c->own_layer, LAYER_NODE[l]) == 0);
        bool excluded = c->exclude && lps_sparsify_layer_info(s, (size_t)l)->excluded;
        if (excluded) {
            ck_assert_msg(z == 0, "case %d: excluded %s has %lld zeros", _i, LAYER_INIT[l],
                          (long long)z);
            continue;
        }
        all_zeros += z;
        all_total += n;
        if (own)
            ck_assert_msg(fabs(sp - c->own_target) <= TARGET_TOL, "case %d: %s at %.4f, own %.4f",
                          _i, LAYER_INIT[l], sp, c->own_target);
        else if (c->alloc == LPS_ALLOC_PER_LAYER)
            ck_assert_msg(fabs(sp - c->target) <= TARGET_TOL, "case %d: %s at %.4f, target %.4f",
                          _i, LAYER_INIT[l], sp, c->target);
        else {
            pool_zeros += z;
            pool_total += n;
        }
    }
    if (pool_total)
        ck_assert_msg(fabs((double)pool_zeros / (double)pool_total - c->target) <= TARGET_TOL,
                      "case %d: global pool at %.4f, target %.4f", _i,
                      (double)pool_zeros / (double)pool_total, c->target);
    ck_assert_double_eq_tol(lps_sparsify_achieved(s), (double)all_zeros / (double)all_total,
                            1e-12);
    run_release(&r);
}
END_TEST

/* The masks follow at least the cubic ramp during the adaptive phase, so the
 * projection at its end is a correction, not a one-shot prune. */
START_TEST(lpss_prunes_progressively)
{
    enum { EPOCHS = 4, STEPS_PER_EPOCH = N_SAMPLES / BATCH, TOTAL = EPOCHS * STEPS_PER_EPOCH };
    lps_sparsify_options so;
    lps_epoch_stats stats[EPOCHS];
    lps_sparsify_options_default(&so);
    so.target = 0.9;
    so.semi.frequency = 2;
    mlp_run r;
    run_start(&r, &so, EPOCHS);
    test_sparsify_train(r.t, r.s, NULL, stats);
    /* the last topology update of epoch 2 */
    int64_t first = (int64_t)floor(so.semi.begin * TOTAL), last = 2 * STEPS_PER_EPOCH - 1;
    int64_t update = last - (last - first) % so.semi.frequency;
    lps_gmp_config ramp = {0.0, so.semi.begin, so.semi.end, so.semi.frequency};
    double floor_fraction = lps_gmp_sparsity(&ramp, 1.0, update, TOTAL);
    ck_assert(floor_fraction > 0.5);
    ck_assert_msg(stats[1].sparsity >= floor_fraction * so.target - TARGET_TOL,
                  "epoch 2 sparsity %.4f below the ramp %.4f", stats[1].sparsity,
                  floor_fraction * so.target);
    ck_assert_msg(stats[0].sparsity < stats[1].sparsity && stats[1].sparsity < so.target,
                  "sparsity %.4f, %.4f is not progressive", stats[0].sparsity, stats[1].sparsity);
    ck_assert_double_eq_tol(stats[EPOCHS - 1].sparsity, so.target, TARGET_TOL);
    run_release(&r);
}
END_TEST

/* Zero positions of every prunable weight, in LAYER_INIT order: of the
 * plan's parameters (plan) or of the model's initializers (plan NULL). */
static void zeros_of(const lps_model *m, lps_plan *plan, uint8_t *out[N_LAYERS])
{
    for (int l = 0; l < N_LAYERS; l++) {
        const float *w = NULL;
        int64_t n = 0;
        for (size_t k = 0; plan && k < lps_plan_n_params(plan); k++) {
            const lps_param *p = lps_plan_param(plan, k);
            if (strcmp(p->name, LAYER_INIT[l]) == 0) {
                w = lps_plan_param_data(plan, NULL) + p->offset;
                n = (int64_t)p->numel;
            }
        }
        for (size_t i = 0; !plan && i < m->graph.n_initializers; i++)
            if (strcmp(m->graph.initializers[i].name, LAYER_INIT[l]) == 0) {
                w = lps_tensor_f32(&m->graph.initializers[i].tensor);
                n = lps_tensor_numel(&m->graph.initializers[i].tensor);
            }
        ck_assert_msg(w != NULL, "no weight '%s'", LAYER_INIT[l]);
        out[l] = malloc((size_t)n);
        for (int64_t k = 0; k < n; k++)
            out[l][k] = w[k] == 0.0f;
    }
}

/* Hooks that forward to the session's and record the zeros after step 0. */
typedef struct step0_probe {
    lps_train_hooks inner;
    const lps_model *m;
    uint8_t *zeros[N_LAYERS];
} step0_probe;

static lps_status probe_begin(void *user, lps_plan *plan, int64_t total, lps_error *err)
{
    step0_probe *p = user;
    return p->inner.begin(p->inner.user, plan, total, err);
}

static lps_status probe_update(void *user, lps_plan *plan, int64_t step, int64_t total, double lr,
                               lps_error *err)
{
    step0_probe *p = user;
    lps_status st = p->inner.update(p->inner.user, plan, step, total, lr, err);
    if (st == LPS_OK && step == 0)
        zeros_of(p->m, plan, p->zeros);
    return st;
}

static lps_status probe_end_epoch(void *user, lps_plan *plan, lps_epoch_stats *stats,
                                  lps_error *err)
{
    step0_probe *p = user;
    return p->inner.end_epoch(p->inner.user, plan, stats, err);
}

/* Number of positions where the zero sets a and b differ, over the layers. */
static int64_t zeros_moved(uint8_t *a[N_LAYERS], uint8_t *b[N_LAYERS], const lps_model *m)
{
    int64_t moved = 0;
    for (int l = 0; l < N_LAYERS; l++) {
        int64_t z = 0, n = 0;
        sparsity_of(m, LAYER_INIT[l], &z, &n);
        for (int64_t k = 0; k < n; k++)
            moved += a[l][k] != b[l][k];
    }
    return moved;
}

/* A one-shot method then --finetune lpss starts LpSGD from the one-shot
 * result: after step 0 the zeros are the one-shot mask's; semi-pruning then
 * moves the mask, and the run ends at the target. --finetune frozen keeps
 * the mask. */
START_TEST(finetune_lpss_starts_from_the_oneshot_mask)
{
    lps_error err = {0};
    lps_sparsify_options so;
    uint8_t *oneshot[N_LAYERS], *final[N_LAYERS];
    lps_sparsify_options_default(&so);
    so.method = LPS_METHOD_MAGNITUDE;
    so.target = 0.8;
    so.semi.frequency = 1;
    so.lpsgd_lr_scale = 0.5; /* moves the surviving weights enough to drop some in 32 steps */
    so.lpsgd_lr_auto = false;
    mlp_run r;
    run_start(&r, &so, 1); /* the plan: lps_sparsify_finish alone prunes, as --epochs 0 */
    ck_assert_int_eq(lps_sparsify_finish(r.s, &err), LPS_OK);
    ck_assert_int_eq(lps_trainer_write(r.t, &err), LPS_OK);
    zeros_of(r.m, NULL, oneshot);
    run_release(&r);
    for (int ft = LPS_FINETUNE_FROZEN; ft <= LPS_FINETUNE_LPSS; ft++) {
        so.finetune = (lps_finetune)ft;
        run_start(&r, &so, 4);
        lps_model *m = r.m;
        lps_sparsify *s = r.s;
        step0_probe probe = {{0}, m, {NULL}};
        lps_sparsify_hooks(s, &probe.inner);
        lps_train_hooks hooks = {.user = &probe, .begin = probe_begin, .update = probe_update,
                                 .end_epoch = probe_end_epoch};
        test_sparsify_train(r.t, s, &hooks, NULL);
        ck_assert_int_eq(lps_trainer_write(r.t, &err), LPS_OK);
        zeros_of(m, NULL, final);
        ck_assert_msg(zeros_moved(oneshot, probe.zeros, m) == 0, "%s: step 0 is not the one-shot "
                      "mask", lps_finetune_name(so.finetune));
        int64_t moved = zeros_moved(oneshot, final, m);
        if (ft == LPS_FINETUNE_FROZEN)
            ck_assert_msg(moved == 0, "frozen: %lld zeros moved", (long long)moved);
        else
            ck_assert_msg(moved > 0, "lpss: the mask never moved");
        ck_assert_double_eq_tol(lps_sparsify_achieved(s), so.target, TARGET_TOL);
        ck_assert(ft == LPS_FINETUNE_FROZEN ? lps_sparsify_layer_info(s, 0)->p == 0.0
                                            : lps_sparsify_layer_info(s, 0)->p > 1.0);
        for (int l = 0; l < N_LAYERS; l++) {
            free(probe.zeros[l]);
            free(final[l]);
        }
        run_release(&r);
    }
    for (int l = 0; l < N_LAYERS; l++)
        free(oneshot[l]);
}
END_TEST

/* lpss fine-tuning needs a one-shot method and an epoch. */
START_TEST(finetune_lpss_is_refused_without_oneshot_or_epochs)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options to;
    lps_sparsify_options so;
    dataset(&ds);
    test_train_options(&to, 1, BATCH);
    lps_model *m = mlp();
    lps_trainer *t = lps_trainer_create(m, &ds, NULL, &to, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    lps_sparsify_options_default(&so);
    so.target = 0.5;
    so.finetune = LPS_FINETUNE_LPSS;
    ck_assert(lps_sparsify_create(m, lps_trainer_plan(t), &so, &to, &err) == NULL);
    ck_assert_int_eq(err.status, LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "one-shot") != NULL, "%s", err.msg);
    so.method = LPS_METHOD_WANDA;
    to.epochs = 0;
    ck_assert(lps_sparsify_create(m, lps_trainer_plan(t), &so, &to, &err) == NULL);
    ck_assert_msg(strstr(err.msg, "--epochs > 0") != NULL, "%s", err.msg);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
}
END_TEST

/* The correction moves the std by the damped ratio and the mean halfway. */
START_TEST(stats_correction_is_damped)
{
    double ref_mean[2] = {1.0, 0.0}, ref_std[2] = {2.0, 0.0};
    double mean[2] = {3.0, 5.0}, std[2] = {0.5, 1.0};
    lps_stats_layer L = {0, 2, ref_mean, ref_std, mean, std, 1, true};
    float a, bias = 0.25f;
    lps_stats_layer_correction(&L, 0, &a, &bias);
    ck_assert_double_eq_tol(a, pow(4.0, LPS_STATS_FIX_DAMPING), 1e-6);
    /* the output s + b with mean 3 becomes a s + b': mean a (3 - 0.25) + b' */
    double scaled = a * (3.0 - 0.25) + 0.25;
    ck_assert_double_eq_tol(bias, 0.25 + LPS_STATS_FIX_DAMPING * (1.0 - scaled), 1e-6);
    /* a zero reference std leaves the scale alone */
    lps_stats_layer_correction(&L, 1, &a, NULL);
    ck_assert(a == 1.0f);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"session", step0_outputs_equal_the_input_model, 1},
        {"session", lpss_prunes_progressively, 1},
        {"session", stats_correction_is_damped, 1},
        {"session", finetune_lpss_starts_from_the_oneshot_mask, 1},
        {"session", finetune_lpss_is_refused_without_oneshot_or_epochs, 1},
        {"session", achieved_sparsity_is_the_target,
         (int)(sizeof TARGET_CASES / sizeof TARGET_CASES[0])},
    };
    return test_run_table("sparsify", tests, TEST_COUNT(tests), 60);
}
