/* Training-only BatchNorms (sparsity/train_bn.h) on a hand-built CNN:
 * inserted after the biased layers that are not the logits, they leave the
 * inference function as it was; a sparsification run trains them; folding
 * them back gives the graph as loaded (same nodes, initializers and names)
 * whose weights compute what the trained network with its BatchNorms
 * computed, with the zeros kept. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "sparsity/sparsify.h"
#include "sparsity/train_bn.h"
#include "test_node.h"
#include "test_suite.h"
#include "test_train.h"
#include "train/trainer.h"

#define CH_IN 2
#define SIDE 4
#define CH_CONV 6
#define N_HIDDEN 16
#define N_CLASSES 4
#define N_SAMPLES 256
#define BATCH 32
#define N_NODES 6
#define N_INITS 6
/* conv and fc2 have biases and do not produce the logits; fc3 does. */
#define N_UNITS 2
/* Step 0 and the fold reproduce the function to float rounding. */
#define REL_TOL 1e-5

/* x [N, 2, 4, 4] -> Conv(w1 [6, 2, 3, 3], b1, pads 1) -> Relu -> Flatten
 * -> Gemm(w2 [96, 16], b2) -> Relu -> Gemm(w3 [4, 16], b3, transB=1) -> logits */
static lps_model *cnn(bool biases)
{
    lps_model *m = test_model_new(17, "x", CH_IN, "logits");
    lps_value_info *in = &m->graph.inputs[0];
    in->rank = 4;
    in->dims[2].value = SIDE;
    in->dims[3].value = SIDE;
    lps_node *conv = test_node_with_io("Conv", "conv", biases ? 3 : 2,
                                       (const char *[]){"x", "w1", "b1"}, "h1");
    lps_node *relu1 = test_node_with_io("Relu", "relu1", 1, (const char *[]){"h1"}, "a1");
    lps_node *flat = test_node_with_io("Flatten", "flat", 1, (const char *[]){"a1"}, "f1");
    lps_node *fc2 = test_node_with_io("Gemm", "fc2", biases ? 3 : 2,
                                      (const char *[]){"f1", "w2", "b2"}, "h2");
    lps_node *relu2 = test_node_with_io("Relu", "relu2", 1, (const char *[]){"h2"}, "a2");
    lps_node *fc3 = test_node_with_io("Gemm", "fc3", 3,
                                      (const char *[]){"a2", "w3", "b3"}, "logits");
    test_node_attr_ints(conv, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    test_node_attr_int(fc3, "transB", 1);
    lps_node *nodes[N_NODES] = {conv, relu1, flat, fc2, relu2, fc3};
    for (int k = 0; k < N_NODES; k++)
        test_model_add_node(m, nodes[k]);
    test_model_add_random_init(m, "w1", 4, (int64_t[]){CH_CONV, CH_IN, 3, 3}, 1);
    test_model_add_random_init(m, "w2", 2, (int64_t[]){CH_CONV * SIDE * SIDE, N_HIDDEN}, 3);
    test_model_add_random_init(m, "w3", 2, (int64_t[]){N_CLASSES, N_HIDDEN}, 4);
    test_model_add_random_init(m, "b3", 1, (int64_t[]){N_CLASSES}, 5);
    if (biases) {
        test_model_add_random_init(m, "b1", 1, (int64_t[]){CH_CONV}, 2);
        test_model_add_random_init(m, "b2", 1, (int64_t[]){N_HIDDEN}, 6);
    }
    return m;
}

/* Random images labelled by the sign pattern of two pixels. */
static void dataset(lps_dataset *ds)
{
    int64_t dims[4] = {N_SAMPLES, CH_IN, SIDE, SIDE};
    lps_tensor *x = test_tensor_random(4, dims, -1.0f, 1.0f, 7);
    int64_t lab[N_SAMPLES];
    const float *xf = lps_tensor_f32(x);
    const int64_t per = CH_IN * SIDE * SIDE;
    for (int i = 0; i < N_SAMPLES; i++)
        lab[i] = (xf[i * per] > 0) * 2 + (xf[i * per + per - 1] > 0);
    lps_tensor *labels = test_tensor_from(LPS_DT_INT64, 1, (int64_t[]){N_SAMPLES}, lab);
    lps_error err;
    ck_assert_int_eq(lps_dataset_from_tensors(ds, "px", x, "px-labels", labels, &err), LPS_OK);
    lps_tensor_free(x);
    lps_tensor_free(labels);
}

#define EPOCHS 2

/* The CNN, the dataset and the training BatchNorms of one test. */
typedef struct cnn_run {
    lps_dataset ds;
    lps_train_options to;
    lps_model *m;
    lps_train_bn bn;
    lps_error err;
} cnn_run;

static void run_start(cnn_run *r, bool biases)
{
    memset(r, 0, sizeof *r);
    dataset(&r->ds);
    test_train_options(&r->to, EPOCHS, BATCH);
    r->m = cnn(biases);
}

static lps_status run_insert(cnn_run *r)
{
    return lps_train_bn_insert(&r->bn, r->m, &r->ds, &r->to.preprocess, BATCH, &r->err);
}

static void run_release(cnn_run *r)
{
    lps_train_bn_release(&r->bn, r->m);
    lps_model_free(r->m);
    lps_dataset_release(&r->ds);
}

static void assert_close(const float *a, const float *b, const char *what)
{
    double max_abs = 0.0, max_diff = 0.0;
    for (int k = 0; k < N_SAMPLES * N_CLASSES; k++) {
        max_abs = fmax(max_abs, fabs(a[k]));
        max_diff = fmax(max_diff, fabs((double)a[k] - b[k]));
    }
    ck_assert_msg(max_diff <= REL_TOL * max_abs, "%s: outputs differ by %g (max %g)", what,
                  max_diff, max_abs);
}

static const lps_initializer *init_named(const lps_model *m, const char *name)
{
    const lps_initializer *init = lps_graph_find_initializer(&m->graph, name);
    ck_assert_msg(init != NULL, "no initializer '%s'", name);
    return init;
}

static int64_t zeros_of(const lps_model *m, const char *name)
{
    const lps_tensor *t = &init_named(m, name)->tensor;
    int64_t z = 0;
    for (int64_t k = 0; k < lps_tensor_numel(t); k++)
        z += lps_tensor_f32(t)[k] == 0.0f;
    return z;
}

START_TEST(insertion_keeps_the_function)
{
    cnn_run r;
    run_start(&r, true);
    const lps_model *m = r.m;
    float *before = test_logits_of(m, &r.ds);
    ck_assert_msg(run_insert(&r) == LPS_OK, "%s", r.err.msg);
    ck_assert_uint_eq(r.bn.n_units, N_UNITS);
    ck_assert_uint_eq(m->graph.n_nodes, N_NODES + N_UNITS);
    ck_assert_str_ne(m->graph.nodes[0].outputs[0], "h1");
    float *after = test_logits_of(m, &r.ds);
    assert_close(before, after, "with training BatchNorms");
    lps_train_bn_release(&r.bn, r.m);
    ck_assert_uint_eq(m->graph.n_nodes, N_NODES);
    ck_assert_uint_eq(m->graph.n_initializers, N_INITS);
    ck_assert_str_eq(m->graph.nodes[0].outputs[0], "h1");
    free(before);
    free(after);
    run_release(&r);
}
END_TEST

START_TEST(layers_without_bias_get_none)
{
    cnn_run r;
    run_start(&r, false);
    ck_assert_int_eq(run_insert(&r), LPS_OK);
    ck_assert_uint_eq(r.bn.n_units, 0);
    ck_assert_uint_eq(r.m->graph.n_nodes, N_NODES);
    ck_assert_int_eq(lps_train_bn_fold(&r.bn, r.m, &r.err), LPS_OK);
    run_release(&r);
}
END_TEST

/* --train-bn off, or a run that failed before the insert: the release must
 * leave the graph's nodes and initializers to lps_model_free. */
START_TEST(release_without_insert_keeps_the_graph)
{
    lps_model *m = cnn(true);
    size_t n_inits = m->graph.n_initializers;
    lps_train_bn bn = {0};
    lps_train_bn_release(&bn, m);
    ck_assert_uint_eq(m->graph.n_nodes, N_NODES);
    ck_assert_uint_eq(m->graph.n_initializers, n_inits);
    lps_train_bn_release(NULL, m);
    lps_model_free(m);
}
END_TEST

/* An insert that fails after finding its layers (the last inserted name is
 * taken) has put nothing in: neither it nor the release may touch the graph. */
START_TEST(failed_insert_keeps_the_graph)
{
    cnn_run r;
    run_start(&r, true);
    const lps_model *m = r.m;
    test_model_add_random_init(r.m, "h2.lps_train_bn.var", 1, (int64_t[]){N_HIDDEN}, 8);
    ck_assert_int_eq(run_insert(&r), LPS_ERR_INVALID);
    ck_assert_msg(strstr(r.err.msg, "h2.lps_train_bn.var") != NULL, "%s", r.err.msg);
    lps_train_bn_release(&r.bn, r.m);
    ck_assert_uint_eq(m->graph.n_nodes, N_NODES);
    ck_assert_uint_eq(m->graph.n_initializers, N_INITS + 1);
    ck_assert_str_eq(m->graph.nodes[0].outputs[0], "h1");
    ck_assert_str_eq(m->graph.nodes[3].outputs[0], "h2");
    run_release(&r);
}
END_TEST

START_TEST(fold_computes_the_trained_network)
{
    lps_sparsify_options so;
    lps_sparsify_options_default(&so);
    so.method = LPS_METHOD_GMP;
    so.target = 0.5;
    cnn_run r;
    run_start(&r, true);
    lps_model *m = r.m;
    lps_error err = {0};
    ck_assert_int_eq(run_insert(&r), LPS_OK);
    const char *scale = "h1.lps_train_bn.scale";
    float scale0 = lps_tensor_f32(&init_named(m, scale)->tensor)[0];
    lps_trainer *t;
    lps_sparsify *s;
    test_sparsify_session(m, &r.ds, &r.to, &so, &t, &s);
    lps_epoch_stats stats[EPOCHS];
    test_sparsify_train(t, s, NULL, stats);
    ck_assert_msg(lps_train_bn_recalibrate(&r.bn, m, lps_trainer_plan(t), &r.ds, &r.to.preprocess,
                                           BATCH, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_trainer_write(t, &err), LPS_OK);
    ck_assert_msg(lps_tensor_f32(&init_named(m, scale)->tensor)[0] != scale0,
                  "the BatchNorm scale was not trained");
    float *with_bn = test_logits_of(m, &r.ds);
    int64_t z1 = zeros_of(m, "w1"), z2 = zeros_of(m, "w2");
    ck_assert_int_gt(z1 + z2, 0);
    ck_assert_int_eq(lps_train_bn_fold(&r.bn, m, &err), LPS_OK);
    ck_assert_uint_eq(m->graph.n_nodes, N_NODES);
    ck_assert_uint_eq(m->graph.n_initializers, N_INITS);
    ck_assert_str_eq(m->graph.nodes[0].outputs[0], "h1");
    ck_assert_ptr_null(lps_graph_find_initializer(&m->graph, scale));
    ck_assert(init_named(m, "w1")->modified && init_named(m, "b2")->modified);
    ck_assert_int_eq(zeros_of(m, "w1"), z1);
    ck_assert_int_eq(zeros_of(m, "w2"), z2);
    float *folded = test_logits_of(m, &r.ds);
    assert_close(with_bn, folded, "folded");
    free(with_bn);
    free(folded);
    lps_sparsify_free(s);
    lps_trainer_free(t);
    run_release(&r);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"train_bn", insertion_keeps_the_function, 1},
        {"train_bn", layers_without_bias_get_none, 1},
        {"train_bn", release_without_insert_keeps_the_graph, 1},
        {"train_bn", failed_insert_keeps_the_graph, 1},
        {"train_bn", fold_computes_the_trained_network, 1},
    };
    return test_run_table("train_bn", tests, TEST_COUNT(tests), 60);
}
