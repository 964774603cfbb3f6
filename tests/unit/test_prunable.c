#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/layer_stats.h"
#include "sparsity/prunable.h"
#include "test_graph.h"
#include "test_suite.h"

/* A node without outputs: discovery reads the inputs of the consumers. */
static lps_node *add_node(test_graph *f, char *name, char *op, char **inputs, size_t n_inputs)
{
    return test_graph_add_node(f, name, op, inputs, n_inputs, NULL, 0);
}

static lps_attr trans_b_one = {.name = "transB", .type = LPS_ATTR_INT, .i = 1};
static lps_attr trans_b_float = {.name = "transB", .type = LPS_ATTR_FLOAT, .f = 1.0f};

START_TEST(gemm_layout_follows_trans_b)
{
    test_graph f;
    test_graph_init(&f);
    int64_t out_in[] = {4, 3}, in_out[] = {3, 5}, bias[] = {4};
    test_graph_add_init(&f, "fc1.weight", LPS_DT_FLOAT, 2, out_in);
    test_graph_add_init(&f, "fc1.bias", LPS_DT_FLOAT, 1, bias);
    test_graph_add_init(&f, "fc2.weight", LPS_DT_FLOAT, 2, in_out);
    char *in1[] = {"x", "fc1.weight", "fc1.bias"};
    char *in2[] = {"h", "fc2.weight"};
    lps_node *g1 = add_node(&f, "", "Gemm", in1, 3);
    g1->attrs = &trans_b_one;
    g1->n_attrs = 1;
    add_node(&f, "fc2", "Gemm", in2, 2);

    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_str_eq(list.items[0].initializer, "fc1.weight");
    ck_assert_str_eq(list.items[0].node, "Gemm#0");
    ck_assert_str_eq(list.items[0].op_type, "Gemm");
    ck_assert_int_eq(list.items[0].fan_in, 3);
    ck_assert_int_eq(list.items[0].layout.n_rows, 4);
    ck_assert_int_eq(list.items[0].layout.elem_stride, 1);
    ck_assert_str_eq(list.items[1].node, "fc2");
    ck_assert_int_eq(list.items[1].fan_in, 3);
    ck_assert_int_eq(list.items[1].layout.n_rows, 5);
    ck_assert_int_eq(list.items[1].layout.elem_stride, 5);
    ck_assert_uint_eq(list.items[1].init_index, 2);
    lps_prunable_list_release(&list);
    lps_prunable_list_release(NULL);
}
END_TEST

START_TEST(conv_fan_in_and_batchnorm_ignored)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {8, 2, 3, 3}, c[] = {8};
    test_graph_add_init(&f, "conv.w", LPS_DT_FLOAT, 4, w);
    test_graph_add_init(&f, "bn.scale", LPS_DT_FLOAT, 1, c);
    test_graph_add_init(&f, "bn.bias", LPS_DT_FLOAT, 1, c);
    test_graph_add_init(&f, "bn.mean", LPS_DT_FLOAT, 1, c);
    test_graph_add_init(&f, "bn.var", LPS_DT_FLOAT, 1, c);
    char *cin[] = {"x", "conv.w"};
    char *bin[] = {"y", "bn.scale", "bn.bias", "bn.mean", "bn.var"};
    add_node(&f, "conv", "Conv", cin, 2);
    add_node(&f, "bn", "BatchNormalization", bin, 5);
    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 1);
    ck_assert_int_eq(list.items[0].fan_in, 18);
    ck_assert_int_eq(list.items[0].layout.n_rows, 8);
    ck_assert_int_eq(list.items[0].rank, 4);
    ck_assert_int_eq(list.items[0].dims[3], 3);
    lps_prunable_list_release(&list);
}
END_TEST

START_TEST(matmul_constant_operand_and_sharing)
{
    test_graph f;
    test_graph_init(&f);
    int64_t b[] = {6, 4}, a[] = {2, 6}, v[] = {6};
    test_graph_add_init(&f, "B", LPS_DT_FLOAT, 2, b);
    test_graph_add_init(&f, "A", LPS_DT_FLOAT, 2, a);
    test_graph_add_init(&f, "vec", LPS_DT_FLOAT, 1, v);
    char *mm1[] = {"x", "B"}, *mm2[] = {"A", "y"}, *mm3[] = {"z", "B"};
    char *mm4[] = {"p", "q"}, *mm5[] = {"r", "vec"};
    add_node(&f, "mm1", "MatMul", mm1, 2);
    add_node(&f, "mm2", "MatMul", mm2, 2);
    add_node(&f, "mm3", "MatMul", mm3, 2);
    add_node(&f, "mm4", "MatMul", mm4, 2);
    add_node(&f, "mm5", "MatMul", mm5, 2);
    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_str_eq(list.items[0].initializer, "B");
    ck_assert_uint_eq(list.items[0].n_uses, 2);
    ck_assert_int_eq(list.items[0].fan_in, 6);
    ck_assert_int_eq(list.items[0].layout.n_rows, 4);
    ck_assert_str_eq(list.items[1].initializer, "A");
    ck_assert_int_eq(list.items[1].fan_in, 6);
    ck_assert_int_eq(list.items[1].layout.n_rows, 2);
    ck_assert_int_eq(list.items[1].layout.elem_stride, 1);
    lps_prunable_list_release(&list);
}
END_TEST

START_TEST(conflicting_and_unsupported_weights_fail)
{
    int64_t sq[] = {4, 4}, r3[] = {2, 4, 4};
    char *g_in[] = {"x", "W"}, *m_in[] = {"y", "W"};
    lps_prunable_list list;
    lps_error err;

    test_graph f;
    test_graph_init(&f);
    test_graph_add_init(&f, "W", LPS_DT_FLOAT, 2, sq);
    lps_node *g = add_node(&f, "g", "Gemm", g_in, 2);
    g->attrs = &trans_b_one;
    g->n_attrs = 1;
    add_node(&f, "m", "MatMul", m_in, 2);
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'W'"));
    ck_assert_uint_eq(list.count, 0);

    test_graph_init(&f);
    test_graph_add_init(&f, "W", LPS_DT_DOUBLE, 2, sq);
    add_node(&f, "m", "MatMul", m_in, 2);
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "double"));

    /* Gemm's B is a matrix: rank 3 has no row form */
    test_graph_init(&f);
    test_graph_add_init(&f, "W", LPS_DT_FLOAT, 3, r3);
    add_node(&f, "g", "Gemm", g_in, 2);
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "rank 3"));

    test_graph_init(&f);
    test_graph_add_init(&f, "W", LPS_DT_FLOAT, 2, sq);
    lps_node *t = add_node(&f, "g", "Gemm", g_in, 2);
    t->attrs = &trans_b_float;
    t->n_attrs = 1;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "node 'g' (Gemm)"));
}
END_TEST

START_TEST(custom_domain_nodes_are_not_weights)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {8, 2, 3, 3};
    test_graph_add_init(&f, "conv.w", LPS_DT_FLOAT, 4, w);
    char *cin[] = {"x", "conv.w"};
    lps_node *n = add_node(&f, "conv", "Conv", cin, 2);
    n->domain = "com.example";
    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 0);
    lps_prunable_list_release(&list);
}
END_TEST

/* Every layout visits each element exactly once, row by row. */
static void expect_permutation(const lps_row_layout *l, int64_t numel)
{
    ck_assert_int_eq(l->n_rows * l->row_len, numel);
    char *seen = calloc((size_t)numel, 1);
    ck_assert_ptr_nonnull(seen);
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t i = 0; i < l->row_len; i++) {
            int64_t o = lps_row_offset(l, j, i);
            ck_assert_msg(o >= 0 && o < numel && !seen[o], "row %lld pos %lld -> %lld",
                          (long long)j, (long long)i, (long long)o);
            seen[o] = 1;
        }
    free(seen);
}

START_TEST(row_forms_of_rnn_batched_and_transposed_weights)
{
    /* RNN W [D=2, 3 gates * H=2, I=5]: a row per gate unit, over the input */
    int64_t rnn[] = {2, 6, 5};
    lps_row_layout l = lps_rows_leading(3, rnn, 2);
    ck_assert_int_eq(l.n_rows, 12);
    ck_assert_int_eq(l.row_len, 5);
    ck_assert_int_eq(lps_row_offset(&l, 7, 3), 7 * 5 + 3);
    expect_permutation(&l, 60);
    /* batched [b=2, in=3, out=4]: unit (1, 2) is column 2 of matrix 1 */
    int64_t bat[] = {2, 3, 4};
    l = lps_rows_trailing(3, bat);
    ck_assert_int_eq(l.n_rows, 8);
    ck_assert_int_eq(l.row_len, 3);
    ck_assert_int_eq(lps_row_offset(&l, 4 + 2, 1), 12 + 1 * 4 + 2);
    expect_permutation(&l, 24);
    /* ConvTranspose [C=4, M/g=3, 2, 2] with 2 groups: unit g*3+m over (c, k) */
    int64_t ct[] = {4, 3, 2, 2};
    l = lps_rows_second_grouped(4, ct, 2);
    ck_assert_int_eq(l.n_rows, 6);
    ck_assert_int_eq(l.row_len, 2 * 4);
    /* unit 4 = group 1, m 1; position 5 = c 1 of the group (channel 3), tap 1 */
    ck_assert_int_eq(lps_row_offset(&l, 4, 5), ((3 * 3) + 1) * 4 + 1);
    expect_permutation(&l, 48);
}
END_TEST

/* Transformer-style graphs: a batched constant B is a layer with a row per
 * output column of each matrix; an embedding table is listed, trained and
 * excluded; an int64 table is no weight; a table that is also a Gemm
 * weight (tied embeddings) is a layer. The totals' trainable count follows
 * the defs' differentiable inputs. */
START_TEST(batched_matmul_embeddings_and_trainable_count)
{
    test_graph f;
    test_graph_init(&f);
    int64_t heads[] = {2, 4, 3}, table[] = {10, 4}, ids[] = {5, 2}, pos[] = {1, 7, 4};
    test_graph_add_init(&f, "attn.w", LPS_DT_FLOAT, 3, heads);
    test_graph_add_init(&f, "tok.emb", LPS_DT_FLOAT, 2, table);
    test_graph_add_init(&f, "index", LPS_DT_INT64, 2, ids);
    test_graph_add_init(&f, "pos", LPS_DT_FLOAT, 3, pos);
    char *mm[] = {"h", "attn.w"}, *g1[] = {"tok.emb", "x"}, *g2[] = {"index", "x"};
    char *add[] = {"e", "pos"}, *tied[] = {"z", "tok.emb"};
    add_node(&f, "mm", "MatMul", mm, 2);
    add_node(&f, "embed", "Gather", g1, 2);
    add_node(&f, "lookup", "Gather", g2, 2);
    add_node(&f, "posadd", "Add", add, 2);
    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_str_eq(list.items[0].initializer, "attn.w");
    ck_assert_int_eq(list.items[0].role, LPS_WEIGHT_LAYER);
    ck_assert(!list.items[0].excluded);
    ck_assert_int_eq(list.items[0].layout.n_rows, 2 * 3);
    ck_assert_int_eq(list.items[0].fan_in, 4);
    ck_assert_str_eq(list.items[1].initializer, "tok.emb");
    ck_assert_int_eq(list.items[1].role, LPS_WEIGHT_EMBEDDING);
    ck_assert(list.items[1].excluded);
    ck_assert_int_eq(list.items[1].layout.n_rows, 10);
    lps_prunable_list_release(&list);
    int64_t trainable = 0;
    ck_assert_int_eq(lps_trainable_params(&f.m, &trainable, &err), LPS_OK);
    ck_assert_int_eq(trainable, 24 + 40 + 28);
    lps_node *g = add_node(&f, "head", "Gemm", tied, 2);
    g->attrs = &trans_b_one;
    g->n_attrs = 1;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_int_eq(list.items[1].role, LPS_WEIGHT_LAYER);
    ck_assert(!list.items[1].excluded);
    ck_assert_uint_eq(list.items[1].n_uses, 2);
    lps_prunable_list_release(&list);
}
END_TEST

/* The classifier behind Relu -> GlobalAveragePool -> Flatten (SqueezeNet)
 * and behind a Softmax is the head; a layer whose every path to the output
 * passes another layer (the penultimate Linear, a convolution feeding the
 * classifier through a residual Add) is not. */
START_TEST(heads_are_found_behind_weightless_nodes)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {4, 4, 1, 1}, fc[] = {4, 4};
    test_graph_add_init(&f, "conv1.w", LPS_DT_FLOAT, 4, w);
    test_graph_add_init(&f, "conv2.w", LPS_DT_FLOAT, 4, w);
    test_graph_add_init(&f, "fc1.w", LPS_DT_FLOAT, 2, fc);
    test_graph_add_init(&f, "fc2.w", LPS_DT_FLOAT, 2, fc);
    char *c1[] = {"x", "conv1.w"}, *c1o[] = {"a"}, *add[] = {"a", "x"}, *addo[] = {"s"};
    char *c2[] = {"s", "conv2.w"}, *c2o[] = {"b"}, *r[] = {"b"}, *ro[] = {"r"};
    char *gap[] = {"r"}, *gapo[] = {"p"}, *fl[] = {"p"}, *flo[] = {"logits"};
    char *f1[] = {"s", "fc1.w"}, *f1o[] = {"h"}, *f2[] = {"h", "fc2.w"}, *f2o[] = {"z"};
    char *sm[] = {"z"}, *smo[] = {"probs"};
    /* out of topological order: the Flatten before its producer */
    test_graph_add_node(&f, "flatten", "Flatten", fl, 1, flo, 1);
    test_graph_add_node(&f, "conv1", "Conv", c1, 2, c1o, 1);
    test_graph_add_node(&f, "add", "Add", add, 2, addo, 1);
    test_graph_add_node(&f, "conv2", "Conv", c2, 2, c2o, 1);
    test_graph_add_node(&f, "relu", "Relu", r, 1, ro, 1);
    test_graph_add_node(&f, "gap", "GlobalAveragePool", gap, 1, gapo, 1);
    test_graph_add_node(&f, "fc1", "MatMul", f1, 2, f1o, 1);
    test_graph_add_node(&f, "fc2", "MatMul", f2, 2, f2o, 1);
    test_graph_add_node(&f, "softmax", "Softmax", sm, 1, smo, 1);
    lps_value_info outs[] = {{.name = "logits"}, {.name = "probs"}};
    f.m.graph.outputs = outs;
    f.m.graph.n_outputs = 2;
    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f.m, &list, &err), LPS_OK);
    ck_assert_uint_eq(list.count, 4);
    bool head[4];
    ck_assert_int_eq(lps_prunable_heads(&f.m.graph, &list, head, &err), LPS_OK);
    for (size_t i = 0; i < list.count; i++)
        ck_assert_msg(head[i] == (strcmp(list.items[i].initializer, "conv2.w") == 0 ||
                                  strcmp(list.items[i].initializer, "fc2.w") == 0),
                      "%s", list.items[i].initializer);
    lps_prunable_list_release(&list);
    f.m.graph.outputs = NULL;
    f.m.graph.n_outputs = 0;
}
END_TEST

START_TEST(layer_stats_count_zeros_and_rows)
{
    /* [in=3, out=2] column layout: column 1 all zero. */
    float w[] = {1.0f, 0.0f,
                 -2.0f, -0.0f,
                 0.0f, 0.0f};
    int64_t dims[] = {3, 2};
    lps_row_layout l = lps_rows_column_major(dims);
    lps_layer_stats s = lps_layer_stats_of(w, &l);
    ck_assert_int_eq(s.params, 6);
    ck_assert_int_eq(s.zeros, 4);
    ck_assert_double_eq_tol(s.sparsity, 4.0 / 6.0, 1e-15);
    ck_assert_int_eq(s.hoyer.zero_rows, 1);
    ck_assert_int_eq(s.hoyer.rows_used, 1);
    ck_assert(s.gamma_k > 0.0);
    ck_assert_double_eq_tol(s.hoyer_expected_fit, lps_hoyer_expected(3, s.gamma_k), 1e-15);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", gemm_layout_follows_trans_b, 1},
        {"core", conv_fan_in_and_batchnorm_ignored, 1},
        {"core", matmul_constant_operand_and_sharing, 1},
        {"core", conflicting_and_unsupported_weights_fail, 1},
        {"core", custom_domain_nodes_are_not_weights, 1},
        {"core", layer_stats_count_zeros_and_rows, 1},
        {"core", heads_are_found_behind_weightless_nodes, 1},
        {"core", row_forms_of_rnn_batched_and_transposed_weights, 1},
        {"core", batched_matmul_embeddings_and_trainable_count, 1},
    };
    return test_run_table("prunable", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
