#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/prunable.h"
#include "sparsity/weight_view.h"
#include "test_graph.h"
#include "test_suite.h"

/* Weights behind views (docs/method.md, "Weights behind views"): the
 * graphs are what torch.onnx writes in training mode, built by hand. Float
 * weights need no data (tracing reads their shapes); the int64 inputs of
 * Slice and Unsqueeze carry values (test_graph.h). */
static void add_weight(test_graph *f, char *name, int rank, const int64_t *dims)
{
    test_graph_add_init(f, name, LPS_DT_FLOAT, rank, dims);
}

/* A 1-D int64 initializer holding one value. */
static void add_int(test_graph *f, char *name, int64_t value)
{
    int64_t one = 1;
    lps_initializer *i = test_graph_add_init(f, name, LPS_DT_INT64, 1, &one);
    ck_assert_int_eq(lps_tensor_alloc(&i->tensor, LPS_DT_INT64, 1, &one, NULL), LPS_OK);
    lps_tensor_i64(&i->tensor)[0] = value;
}

/* A node named after its one output, or a "consumer" without outputs. */
static lps_node *add_node(test_graph *f, char *op, char **inputs, size_t n_inputs, char **output)
{
    return test_graph_add_node(f, output ? output[0] : "consumer", op, inputs, n_inputs, output,
                               output ? 1 : 0);
}

static int64_t zero_axis[] = {0};
static lps_attr axis_0 = {.name = "axis", .type = LPS_ATTR_INT, .i = 0};
static lps_attr value_axes_0 = {.name = "value_ints", .type = LPS_ATTR_INTS, .ints = zero_axis,
                                .n_ints = 1};

static void set_attr(lps_node *n, lps_attr *a)
{
    n->attrs = a;
    n->n_attrs = 1;
}

/* The weights lps_prunable_find finds in f, which must be count. */
static void find_weights(test_graph *f, lps_prunable_list *list, size_t count)
{
    lps_error err;
    ck_assert_msg(lps_prunable_find(&f->m, list, &err) == LPS_OK, "%s", err.msg);
    ck_assert_uint_eq(list->count, count);
}

static lps_prunable *find_weight(lps_prunable_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].initializer, name) == 0)
            return &list->items[i];
    return NULL;
}

/* A Linear of a training export: MatMul(x, Transpose(W)), W [out, in]. The
 * rows are W's rows, contiguous, in the order of the MatMul's outputs. */
START_TEST(transposed_linear_weight_is_its_initializer)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {4, 3};
    add_weight(&f, "fc.weight", 2, w);
    char *t_in[] = {"fc.weight"}, *t_out[] = {"wt"}, *mm_in[] = {"x", "wt"};
    add_node(&f, "Transpose", t_in, 1, t_out);
    add_node(&f, "MatMul", mm_in, 2, NULL);
    lps_prunable_list list;
    find_weights(&f, &list, 1);
    lps_prunable *p = &list.items[0];
    ck_assert_str_eq(p->initializer, "fc.weight");
    ck_assert_str_eq(p->op_type, "MatMul");
    ck_assert_int_eq(p->layout.n_rows, 4);
    ck_assert_int_eq(p->fan_in, 3);
    ck_assert_int_eq(p->layout.row_stride, 3);
    ck_assert_int_eq(p->layout.elem_stride, 1);
    ck_assert(p->rows_in_order);
    lps_prunable_list_release(&list);
    test_graph_release(&f);
}
END_TEST

/* Identity -> Transpose -> Gemm(transB=0): the chain is followed. */
START_TEST(chain_of_views_is_followed)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {5, 2};
    add_weight(&f, "W", 2, w);
    char *i_in[] = {"W"}, *i_out[] = {"w1"}, *t_in[] = {"w1"}, *t_out[] = {"wt"};
    char *g_in[] = {"x", "wt"};
    add_node(&f, "Identity", i_in, 1, i_out);
    add_node(&f, "Transpose", t_in, 1, t_out);
    add_node(&f, "Gemm", g_in, 2, NULL);
    lps_prunable_list list;
    find_weights(&f, &list, 1);
    ck_assert_str_eq(list.items[0].initializer, "W");
    ck_assert_int_eq(list.items[0].layout.n_rows, 5);
    ck_assert_int_eq(list.items[0].fan_in, 2);
    ck_assert_int_eq(list.items[0].layout.elem_stride, 1);
    lps_prunable_list_release(&list);
    test_graph_release(&f);
}
END_TEST

/* An LSTM's W in a training export: the gate blocks (i, f, g, o) of the
 * PyTorch parameter [4H, I] are sliced, concatenated in ONNX's order
 * (i, o, f, c) and unsqueezed (axes from a Constant node). Every gate unit
 * is a row of W, though not in the LSTM's order. */
START_TEST(sliced_and_reordered_rnn_weight)
{
    test_graph f;
    test_graph_init(&f);
    const int64_t hidden = 2, inputs = 3;
    int64_t w[] = {4 * hidden, inputs}, r[] = {1, 4 * hidden, hidden};
    add_weight(&f, "weight_ih", 2, w);
    add_weight(&f, "R", 3, r);
    add_int(&f, "axis0", 0);
    add_int(&f, "h0", 0);
    add_int(&f, "h1", hidden);
    add_int(&f, "h3", 3 * hidden);
    add_int(&f, "h4", 4 * hidden);
    char *s1[] = {"weight_ih", "h0", "h1", "axis0"}, *o1[] = {"i"};
    char *s2[] = {"weight_ih", "h3", "h4", "axis0"}, *o2[] = {"o"};
    char *s3[] = {"weight_ih", "h1", "h3", "axis0"}, *o3[] = {"fg"};
    char *c_in[] = {"i", "o", "fg"}, *c_out[] = {"gates"};
    char *k_out[] = {"axes"};
    char *u_in[] = {"gates", "axes"}, *u_out[] = {"W"};
    char *l_in[] = {"x", "W", "R"};
    add_node(&f, "Slice", s1, 4, o1);
    add_node(&f, "Slice", s2, 4, o2);
    add_node(&f, "Slice", s3, 4, o3);
    set_attr(add_node(&f, "Concat", c_in, 3, c_out), &axis_0);
    set_attr(add_node(&f, "Constant", NULL, 0, k_out), &value_axes_0);
    add_node(&f, "Unsqueeze", u_in, 2, u_out);
    lps_node *lstm = add_node(&f, "LSTM", l_in, 3, NULL);
    static lps_attr hidden_size = {.name = "hidden_size", .type = LPS_ATTR_INT, .i = 2};
    set_attr(lstm, &hidden_size);
    lps_prunable_list list;
    find_weights(&f, &list, 2);
    lps_prunable *p = find_weight(&list, "weight_ih");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->op_type, "LSTM");
    ck_assert_int_eq(p->layout.n_rows, 4 * hidden);
    ck_assert_int_eq(p->fan_in, inputs);
    ck_assert_int_eq(p->layout.row_stride, inputs);
    ck_assert_int_eq(p->taps, 1);
    ck_assert(!p->rows_in_order);
    ck_assert(find_weight(&list, "R")->rows_in_order);
    lps_prunable_list_release(&list);
    test_graph_release(&f);
}
END_TEST

/* A bidirectional RNN's W: Concat(Unsqueeze(W_fwd), Unsqueeze(W_bwd)). Each
 * direction's initializer is its own weight. */
START_TEST(directions_concatenated_are_two_weights)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {3, 2}, r[] = {2, 3, 3};
    add_weight(&f, "W_fwd", 2, w);
    add_weight(&f, "W_bwd", 2, w);
    add_weight(&f, "R", 3, r);
    add_int(&f, "axes", 0);
    char *u1[] = {"W_fwd", "axes"}, *o1[] = {"wf"}, *u2[] = {"W_bwd", "axes"}, *o2[] = {"wb"};
    char *c_in[] = {"wf", "wb"}, *c_out[] = {"W"}, *r_in[] = {"x", "W", "R"};
    add_node(&f, "Unsqueeze", u1, 2, o1);
    add_node(&f, "Unsqueeze", u2, 2, o2);
    set_attr(add_node(&f, "Concat", c_in, 2, c_out), &axis_0);
    static lps_attr hidden_size = {.name = "hidden_size", .type = LPS_ATTR_INT, .i = 3};
    set_attr(add_node(&f, "RNN", r_in, 3, NULL), &hidden_size);
    lps_prunable_list list;
    find_weights(&f, &list, 3);
    for (int k = 0; k < 2; k++) {
        lps_prunable *p = find_weight(&list, k ? "W_bwd" : "W_fwd");
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(p->layout.n_rows, 3);
        ck_assert_int_eq(p->fan_in, 2);
        ck_assert(!p->rows_in_order);
    }
    lps_prunable_list_release(&list);
    test_graph_release(&f);
}
END_TEST

/* Views that split rows or drop elements are not weights: a MatMul B
 * [in, out] whose fan-in (axis 0) concatenates two initializers, and a
 * slice keeping part of an initializer. Both stay trained, not pruned. */
START_TEST(rows_split_by_a_view_are_not_weights)
{
    test_graph f;
    test_graph_init(&f);
    int64_t w[] = {2, 4};
    add_weight(&f, "top", 2, w);
    add_weight(&f, "bottom", 2, w);
    add_int(&f, "zero", 0);
    add_int(&f, "one", 1);
    char *c_in[] = {"top", "bottom"}, *c_out[] = {"B"}, *m_in[] = {"x", "B"};
    char *s_in[] = {"top", "zero", "one", "zero"}, *s_out[] = {"half"}, *m2_in[] = {"y", "half"};
    set_attr(add_node(&f, "Concat", c_in, 2, c_out), &axis_0);
    add_node(&f, "MatMul", m_in, 2, NULL);
    add_node(&f, "Slice", s_in, 4, s_out);
    add_node(&f, "MatMul", m2_in, 2, NULL);
    lps_prunable_list list;
    find_weights(&f, &list, 0);
    lps_prunable_list_release(&list);
    test_graph_release(&f);
}
END_TEST

START_TEST(layout_from_axes_matches_the_row_forms)
{
    int64_t conv[] = {8, 2, 3, 3}, batched[] = {2, 3, 4}, odd[] = {2, 3, 2, 3, 2};
    lps_row_layout l, want;
    ck_assert(lps_view_layout_from_axes(4, conv, 0xEu, &l));
    want = lps_rows_unit_major(4, conv);
    ck_assert(lps_rows_equal(&l, &want));
    ck_assert(lps_view_layout_from_axes(3, batched, 0x2u, &l));
    want = lps_rows_trailing(3, batched);
    ck_assert(lps_rows_equal(&l, &want));
    ck_assert_int_eq(l.n_rows, 8);
    ck_assert_int_eq(lps_row_offset(&l, 5, 2), 12 + 2 * 4 + 1);
    /* a size-1 axis belongs to either side */
    int64_t unit_batch[] = {1, 3, 4};
    ck_assert(lps_view_layout_from_axes(3, unit_batch, 0x3u, &l));
    want = lps_rows_trailing(3, unit_batch);
    ck_assert(lps_rows_equal(&l, &want));
    /* units, fan-in, units, fan-in, units: three unit runs do not fit */
    ck_assert(!lps_view_layout_from_axes(5, odd, 0xAu, &l));
}
END_TEST

/* A constant MatMul A of rank 3 under a computed B: a row per output row
 * (b, m) over K. */
START_TEST(constant_batched_a_has_a_row_per_output_row)
{
    test_graph f;
    test_graph_init(&f);
    int64_t a[] = {2, 4, 5};
    add_weight(&f, "A", 3, a);
    char *m_in[] = {"A", "y"};
    add_node(&f, "MatMul", m_in, 2, NULL);
    lps_prunable_list list;
    find_weights(&f, &list, 1);
    ck_assert_int_eq(list.items[0].layout.n_rows, 8);
    ck_assert_int_eq(list.items[0].fan_in, 5);
    ck_assert_int_eq(list.items[0].layout.row_stride, 5);
    lps_prunable_list_release(&list);
    test_graph_release(&f);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", transposed_linear_weight_is_its_initializer, 1},
        {"core", chain_of_views_is_followed, 1},
        {"core", sliced_and_reordered_rnn_weight, 1},
        {"core", directions_concatenated_are_two_weights, 1},
        {"core", rows_split_by_a_view_are_not_weights, 1},
        {"core", layout_from_axes_matches_the_row_forms, 1},
        {"core", constant_batched_a_has_a_row_per_output_row, 1},
    };
    return test_run_table("weight_view", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
