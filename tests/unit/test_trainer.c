/* The training loop end to end on a hand-built MLP and synthetic blobs:
 * it learns, it is deterministic for a seed, and it writes params back. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_node.h"
#include "train/trainer.h"

#define N_FEATURES 4
#define N_HIDDEN 16
#define N_CLASSES 3
#define N_SAMPLES 600
#define BLOB_SPREAD 0.35f

static void set_io(lps_node *n, const char *name, const char **ins, const char *out)
{
    free(n->name);
    n->name = strdup(name);
    for (size_t i = 0; i < n->n_inputs; i++) {
        free(n->inputs[i]);
        n->inputs[i] = strdup(ins[i]);
    }
    free(n->outputs[0]);
    n->outputs[0] = strdup(out);
}

static void add_init(lps_model *m, const char *name, int rank, const int64_t *dims, uint64_t seed)
{
    lps_initializer *init = &m->graph.initializers[m->graph.n_initializers++];
    init->name = strdup(name);
    lps_tensor *t = test_tensor_random(rank, dims, -0.5f, 0.5f, seed);
    init->tensor = *t;
    free(t);
}

/* x [N, 4] -> Gemm(transB=1) -> Relu -> Gemm(transB=1) -> logits [N, 3] */
static lps_model *mlp(void)
{
    lps_model *m = calloc(1, sizeof *m);
    m->n_opsets = 1;
    m->opsets = calloc(1, sizeof *m->opsets);
    m->opsets[0].domain = strdup("");
    m->opsets[0].version = 13;
    lps_node *n[3] = {test_node_new("Gemm", 3, 1), test_node_new("Relu", 1, 1),
                      test_node_new("Gemm", 3, 1)};
    set_io(n[0], "fc1", (const char *[]){"x", "w1", "b1"}, "h");
    test_node_attr_int(n[0], "transB", 1);
    set_io(n[1], "relu", (const char *[]){"h"}, "hr");
    set_io(n[2], "fc2", (const char *[]){"hr", "w2", "b2"}, "logits");
    test_node_attr_int(n[2], "transB", 1);
    m->graph.n_nodes = 3;
    m->graph.nodes = calloc(3, sizeof *m->graph.nodes);
    for (int i = 0; i < 3; i++) {
        m->graph.nodes[i] = *n[i];
        free(n[i]);
    }
    m->graph.initializers = calloc(4, sizeof *m->graph.initializers);
    add_init(m, "w1", 2, (int64_t[]){N_HIDDEN, N_FEATURES}, 1);
    add_init(m, "b1", 1, (int64_t[]){N_HIDDEN}, 2);
    add_init(m, "w2", 2, (int64_t[]){N_CLASSES, N_HIDDEN}, 3);
    add_init(m, "b2", 1, (int64_t[]){N_CLASSES}, 4);
    m->graph.n_inputs = 1;
    m->graph.inputs = calloc(1, sizeof *m->graph.inputs);
    m->graph.inputs[0].name = strdup("x");
    m->graph.inputs[0].dtype = LPS_DT_FLOAT;
    m->graph.inputs[0].rank = 2;
    m->graph.inputs[0].dims[0].value = -1;
    m->graph.inputs[0].dims[0].symbol = strdup("N");
    m->graph.inputs[0].dims[1].value = N_FEATURES;
    m->graph.n_outputs = 1;
    m->graph.outputs = calloc(1, sizeof *m->graph.outputs);
    m->graph.outputs[0].name = strdup("logits");
    m->graph.outputs[0].rank = -1;
    return m;
}

/* Three well separated blobs, label = blob. */
static void blobs(lps_dataset *ds)
{
    lps_tensor *x = test_tensor_random(2, (int64_t[]){N_SAMPLES, N_FEATURES}, -BLOB_SPREAD,
                                       BLOB_SPREAD, 7);
    int64_t *lab = malloc(N_SAMPLES * sizeof *lab);
    for (int i = 0; i < N_SAMPLES; i++) {
        lab[i] = i % N_CLASSES;
        lps_tensor_f32(x)[i * N_FEATURES + lab[i]] += 1.0f;
    }
    lps_tensor *labels = test_tensor_from(LPS_DT_INT64, 1, (int64_t[]){N_SAMPLES}, lab);
    free(lab);
    lps_error err;
    ck_assert_int_eq(lps_dataset_from_tensors(ds, "blobs", x, "blobs-labels", labels, &err), LPS_OK);
    lps_tensor_free(x);
    lps_tensor_free(labels);
}

static void options(lps_train_options *o)
{
    lps_train_options_default(o);
    o->epochs = 4;
    o->batch_size = 32;
    o->seed = 42;
    o->lr.base_lr = 0.1;
    o->preprocess.has_scale = true;
    o->preprocess.scale = 1.0;
}

START_TEST(learns_blobs)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    lps_eval_result before, after;
    lps_epoch_stats stats[4];
    blobs(&ds);
    options(&o);
    lps_model *m = mlp();
    ck_assert_int_eq(lps_evaluate_model(m, &ds, &o.preprocess, 64, &before, &err), LPS_OK);
    lps_trainer *t = lps_trainer_create(m, &ds, &ds, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_msg(lps_trainer_run(t, NULL, stats, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_trainer_write(t, &err), LPS_OK);
    ck_assert(m->graph.initializers[0].modified);
    ck_assert_int_eq(lps_evaluate_model(m, &ds, &o.preprocess, 64, &after, &err), LPS_OK);
    ck_assert_msg(after.accuracy > 0.95, "accuracy %f (before %f)", after.accuracy, before.accuracy);
    ck_assert(stats[3].train_loss < stats[0].train_loss);
    ck_assert_double_eq_tol(stats[3].accuracy, after.accuracy, 1e-9);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(non_finite_weights_are_refused)
{
    static const float bad_values[] = {NAN, INFINITY, -INFINITY};
    lps_dataset ds;
    lps_train_options o;
    blobs(&ds);
    options(&o);
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        lps_error err = {0};
        lps_model *m = mlp();
        m->path = strdup("mlp.onnx");
        lps_tensor_f32(&m->graph.initializers[2].tensor)[5] = bad_values[i];
        ck_assert_ptr_null(lps_trainer_create(m, &ds, &ds, &o, &err));
        ck_assert_int_eq(err.status, LPS_ERR_INVALID);
        ck_assert_msg(strncmp(err.msg, "mlp.onnx: initializer 'w2' holds ", 33) == 0, "%s",
                      err.msg);
        ck_assert_msg(strstr(err.msg, "at element 5") != NULL, "%s", err.msg);
        lps_model_free(m);
    }
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(same_seed_same_weights)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    float *w[2];
    size_t n = 0;
    blobs(&ds);
    options(&o);
    o.epochs = 2;
    for (int run = 0; run < 2; run++) {
        lps_model *m = mlp();
        lps_trainer *t = lps_trainer_create(m, &ds, NULL, &o, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        ck_assert_int_eq(lps_trainer_run(t, NULL, NULL, &err), LPS_OK);
        const float *p = lps_plan_param_data(lps_trainer_plan(t), &n);
        w[run] = malloc(n * sizeof(float));
        memcpy(w[run], p, n * sizeof(float));
        lps_trainer_free(t);
        lps_model_free(m);
    }
    ck_assert_int_eq(memcmp(w[0], w[1], n * sizeof(float)), 0);
    free(w[0]);
    free(w[1]);
    lps_dataset_release(&ds);
}
END_TEST

/* A trailing Softmax: training and inference-mode evaluation both work on
 * its input (the logits), which must survive buffer recycling. */
START_TEST(trailing_softmax)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    lps_eval_result before, after;
    blobs(&ds);
    options(&o);
    lps_model *m = mlp();
    lps_graph *g = &m->graph;
    g->nodes = realloc(g->nodes, (g->n_nodes + 1) * sizeof *g->nodes);
    lps_node *sm = test_node_new("Softmax", 1, 1);
    set_io(sm, "softmax", (const char *[]){"logits"}, "prob");
    g->nodes[g->n_nodes++] = *sm;
    free(sm);
    free(g->outputs[0].name);
    g->outputs[0].name = strdup("prob");
    ck_assert_msg(lps_evaluate_model(m, &ds, &o.preprocess, 64, &before, &err) == LPS_OK, "%s",
                  err.msg);
    lps_trainer *t = lps_trainer_create(m, &ds, &ds, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_msg(lps_trainer_run(t, NULL, NULL, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_trainer_write(t, &err), LPS_OK);
    ck_assert_int_eq(lps_evaluate_model(m, &ds, &o.preprocess, 64, &after, &err), LPS_OK);
    ck_assert_msg(after.accuracy > 0.95, "accuracy %f", after.accuracy);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, learns_blobs);
    tcase_add_test(tc, same_seed_same_weights);
    tcase_add_test(tc, trailing_softmax);
    tcase_add_test(tc, non_finite_weights_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
