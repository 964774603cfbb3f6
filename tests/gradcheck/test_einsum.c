/* Einsum: forward against a naive loop over every label combination, for
 * batched matmuls, attention forms, implicit outputs, traces, diagonals,
 * broadcast and middle "...", sums, outer products, three operands and
 * permuted outputs; double operands; finite-difference gradients of every
 * operand; equation and shape errors naming the node and the equation. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define ES_OPSET 12
#define ES_FWD_TOL 1e-4f
#define ES_MAX_IN 3
#define ES_MAX_OUT 256
#define ES_GRAD_POINTS 48
#define ES_LABELS 128

typedef struct es_case {
    const char *equation;
    /* The same contraction with letters only and an explicit output, for
     * the naive loop; a dim of size 1 broadcasts against its letter. */
    const char *reference;
    int n_in;
    int rank[ES_MAX_IN];
    int64_t dims[ES_MAX_IN][4];
} es_case;

static const es_case cases[] = {
    {"bij,bjk->bik", "bij,bjk->bik", 2, {3, 3}, {{2, 3, 4}, {2, 4, 5}}},
    {"bhid,bhjd->bhij", "bhid,bhjd->bhij", 2, {4, 4}, {{2, 2, 3, 4}, {2, 2, 5, 4}}},
    {"bhij,bhjd->bhid", "bhij,bhjd->bhid", 2, {4, 4}, {{2, 2, 3, 5}, {2, 2, 5, 4}}},
    {"ij,jk", "ij,jk->ik", 2, {2, 2}, {{3, 4}, {4, 5}}},
    {"i,i", "i,i->", 2, {1, 1}, {{5}, {5}}},
    {"ij->ji", "ij->ji", 1, {2}, {{3, 4}}},
    {"ii->i", "ii->i", 1, {2}, {{4, 4}}},
    {"ii", "ii->", 1, {2}, {{4, 4}}},
    {"ij->", "ij->", 1, {2}, {{3, 4}}},
    {"ij -> i", "ij->i", 1, {2}, {{3, 4}}},
    {"...ij,...jk->...ik", "zij,zjk->zik", 2, {3, 3}, {{2, 3, 4}, {2, 4, 5}}},
    {"...ij,...jk->...ik", "yzij,zjk->yzik", 2, {4, 3}, {{2, 1, 3, 4}, {3, 4, 2}}},
    {"...ij,jk", "yzij,jk->yzik", 2, {4, 2}, {{2, 3, 2, 4}, {4, 3}}},
    {"i...j,j->...i", "izj,j->zi", 2, {3, 1}, {{2, 3, 4}, {4}}},
    {"...ii->...i", "zii->zi", 1, {3}, {{3, 4, 4}}},
    {"ij,jk,kl->il", "ij,jk,kl->il", 3, {2, 2, 2}, {{2, 3}, {3, 4}, {4, 2}}},
    {"i,j->ij", "i,j->ij", 2, {1, 1}, {{3}, {4}}},
    {"bij,bjk->kbi", "bij,bjk->kbi", 2, {3, 3}, {{2, 3, 4}, {2, 4, 3}}},
    {"ij,jk->k", "ij,jk->k", 2, {2, 2}, {{3, 4}, {4, 5}}},
    {"iij,jk->ik", "iij,jk->ik", 2, {3, 2}, {{3, 3, 4}, {4, 2}}},
    {"Ab,bC->AC", "Ab,bC->AC", 2, {2, 2}, {{2, 3}, {3, 4}}},
    {"bn,anm,bm->ba", "bn,anm,bm->ba", 3, {2, 3, 2}, {{2, 3}, {4, 3, 5}, {2, 5}}},
    {"bij,bkj->bki", "bij,bkj->bki", 2, {3, 3}, {{2, 3, 4}, {2, 5, 4}}},
};

#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* The naive loop's view of the reference equation. */
typedef struct ref_eq {
    int n_in;
    char term[ES_MAX_IN + 1][8];     /* inputs, then the output */
    int64_t size[ES_LABELS];
} ref_eq;

static void ref_parse(const es_case *c, ref_eq *r)
{
    memset(r, 0, sizeof *r);
    const char *s = c->reference;
    int t = 0, n = 0;
    for (; *s; s++) {
        if (*s == ',' || *s == '-') {
            r->term[t++][n] = '\0';
            n = 0;
            s += *s == '-';
            continue;
        }
        r->term[t][n++] = *s;
    }
    r->term[t][n] = '\0';
    r->n_in = c->n_in;
    ck_assert_int_eq(t, c->n_in);
    for (int i = 0; i < c->n_in; i++)
        for (int d = 0; r->term[i][d]; d++) {
            int64_t *sz = &r->size[(int)r->term[i][d]];
            if (c->dims[i][d] > *sz)
                *sz = c->dims[i][d];
        }
}

/* Element offset of a term's entry at the label values idx (size-1 dims
 * broadcast). */
static int64_t ref_offset(const char *term, const int64_t *dims, const int64_t *idx)
{
    int64_t off = 0;
    for (int d = 0; term[d]; d++)
        off = off * dims[d] + (dims[d] == 1 ? 0 : idx[(int)term[d]]);
    return off;
}

/* out = the contraction by looping over every combination of label values. */
static void ref_einsum(const es_case *c, const double *const *in, double *out, int64_t n_out)
{
    ref_eq r;
    ref_parse(c, &r);
    int labels[ES_LABELS], n_labels = 0;
    for (int l = 0; l < ES_LABELS; l++)
        if (r.size[l] > 0)
            labels[n_labels++] = l;
    int64_t out_dims[8];
    for (int d = 0; r.term[r.n_in][d]; d++)
        out_dims[d] = r.size[(int)r.term[r.n_in][d]];
    memset(out, 0, (size_t)n_out * sizeof *out);
    int64_t idx[ES_LABELS] = {0};
    for (;;) {
        double p = 1.0;
        for (int i = 0; i < r.n_in; i++)
            p *= in[i][ref_offset(r.term[i], c->dims[i], idx)];
        out[ref_offset(r.term[r.n_in], out_dims, idx)] += p;
        int k = n_labels - 1;
        for (; k >= 0; k--) {
            if (++idx[labels[k]] < r.size[labels[k]])
                break;
            idx[labels[k]] = 0;
        }
        if (k < 0)
            break;
    }
}

static lps_node *einsum_node(const char *equation, int n_in)
{
    lps_node *n = test_node_new("Einsum", n_in, 1);
    test_node_attr_string(n, "equation", equation);
    return n;
}

static void free_inputs(lps_tensor **in, int n)
{
    for (int i = 0; i < n; i++)
        lps_tensor_free(in[i]);
}

START_TEST(forward_matches_naive)
{
    const es_case *c = &cases[_i];
    lps_tensor *in[ES_MAX_IN] = {NULL};
    double *values[ES_MAX_IN] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
        in[i] = test_tensor_random(c->rank[i], c->dims[i], -1, 1, (uint64_t)(i + 1));
        int64_t n = lps_tensor_numel(in[i]);
        values[i] = malloc((size_t)n * sizeof(double));
        for (int64_t j = 0; j < n; j++)
            values[i][j] = lps_tensor_f32(in[i])[j];
    }
    lps_node *n = einsum_node(c->equation, c->n_in);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(n, ES_OPSET, in, &out, 1, &err) == LPS_OK, "%s: %s",
                  c->equation, err.msg);
    int64_t n_out = lps_tensor_numel(&out);
    ck_assert_int_le(n_out, ES_MAX_OUT);
    double want[ES_MAX_OUT];
    float want_f[ES_MAX_OUT];
    ref_einsum(c, (const double *const *)values, want, n_out);
    for (int64_t j = 0; j < n_out; j++)
        want_f[j] = (float)want[j];
    test_expect_floats(&out, want_f, n_out, ES_FWD_TOL);
    lps_tensor_release(&out);
    for (int i = 0; i < c->n_in; i++)
        free(values[i]);
    free_inputs(in, c->n_in);
    test_node_free(n);
}
END_TEST

START_TEST(output_shapes)
{
    static const struct {
        int c, rank;
        int64_t dims[4];
    } want[] = {{3, 2, {3, 5}}, {4, 0, {0}}, {7, 0, {0}}, {11, 4, {2, 3, 3, 2}},
                {12, 4, {2, 3, 2, 3}}, {13, 2, {3, 2}}, {17, 3, {3, 2, 3}}};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        const es_case *c = &cases[want[w].c];
        lps_tensor *in[ES_MAX_IN] = {NULL};
        for (int i = 0; i < c->n_in; i++)
            in[i] = test_tensor_random(c->rank[i], c->dims[i], -1, 1, 1);
        lps_node *n = einsum_node(c->equation, c->n_in);
        lps_tensor out = {0};
        lps_error err;
        ck_assert_int_eq(test_op_forward(n, ES_OPSET, in, &out, 1, &err), LPS_OK);
        test_expect_shape(&out, want[w].rank, want[w].dims);
        lps_tensor_release(&out);
        free_inputs(in, c->n_in);
        test_node_free(n);
    }
}
END_TEST

START_TEST(double_operands)
{
    const double a[] = {1, 2, 3, 4, 5, 6}, b[] = {1, -1, 2, 0.5, 0, 3};
    const double want[] = {1 * 1 + 2 * 2 + 3 * 0, 1 * -1 + 2 * 0.5 + 3 * 3,
                           4 * 1 + 5 * 2 + 6 * 0, 4 * -1 + 5 * 0.5 + 6 * 3};
    int64_t da[] = {2, 3}, db[] = {3, 2};
    lps_tensor *in[2] = {test_tensor_from(LPS_DT_DOUBLE, 2, da, a),
                         test_tensor_from(LPS_DT_DOUBLE, 2, db, b)};
    lps_node *n = einsum_node("ij,jk->ik", 2);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, ES_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.dtype, LPS_DT_DOUBLE);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(((const double *)out.data)[i], want[i], 1e-12);
    lps_tensor_release(&out);
    free_inputs(in, 2);
    test_node_free(n);
}
END_TEST

START_TEST(empty_contraction_gives_zeros)
{
    int64_t da[] = {2, 0}, db[] = {0, 3}, dy[] = {2, 3};
    const float zeros[6] = {0};
    lps_tensor *in[2] = {test_tensor_random(2, da, -1, 1, 1), test_tensor_random(2, db, -1, 1, 2)};
    lps_node *n = einsum_node("ij,jk->ik", 2);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, ES_OPSET, in, &out, 1, &err), LPS_OK);
    test_expect_shape(&out, 2, dy);
    test_expect_floats(&out, zeros, 6, 0.0f);
    lps_tensor_release(&out);
    free_inputs(in, 2);
    test_node_free(n);
}
END_TEST

/* Each refused equation or shape fails naming the node's op and, for the
 * equation, the equation's text. */
START_TEST(rejects)
{
    static const struct {
        const char *equation;
        int n_in;
        int64_t da[2], db[2];
        lps_status status;
        const char *says;
    } bad[] = {
        {"ij,jk->ik", 1, {3, 4}, {0}, LPS_ERR_UNSUPPORTED, "2 terms for 1 inputs"},
        {"i1,jk->ik", 2, {3, 4}, {4, 5}, LPS_ERR_UNSUPPORTED, "labels must be letters"},
        {"ij,jk->iq", 2, {3, 4}, {4, 5}, LPS_ERR_UNSUPPORTED, "'q' is in no input"},
        {"ij,jk->ii", 2, {3, 4}, {4, 5}, LPS_ERR_UNSUPPORTED, "'i' repeats"},
        {"i..j,jk->ik", 2, {3, 4}, {4, 5}, LPS_ERR_UNSUPPORTED, "'...'"},
        {"ij,jk-ik", 2, {3, 4}, {4, 5}, LPS_ERR_UNSUPPORTED, "'>'"},
        {"ij,jk->ik", 2, {3, 4}, {5, 2}, LPS_ERR_INVALID, "label 'j' has sizes 4 and 5"},
        {"ijk,jk->i", 2, {3, 4}, {4, 5}, LPS_ERR_INVALID, "rank 2 for a term of 3"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        lps_tensor *in[2] = {test_tensor_random(2, bad[b].da, -1, 1, 1),
                             bad[b].n_in > 1 ? test_tensor_random(2, bad[b].db, -1, 1, 2) : NULL};
        lps_node *n = einsum_node(bad[b].equation, bad[b].n_in);
        lps_tensor out = {0};
        lps_error err;
        ck_assert_int_eq(test_op_forward(n, ES_OPSET, in, &out, 1, &err), bad[b].status);
        ck_assert_msg(strstr(err.msg, "Einsum") && strstr(err.msg, bad[b].says),
                      "%s: %s", bad[b].equation, err.msg);
        ck_assert_msg(strstr(err.msg, bad[b].equation), "%s: %s", bad[b].equation, err.msg);
        free_inputs(in, bad[b].n_in);
        test_node_free(n);
    }
}
END_TEST

START_TEST(rejects_integer_operands)
{
    const int64_t v[] = {1, 2, 3};
    int64_t d[] = {3};
    lps_tensor *in[2] = {test_tensor_from(LPS_DT_INT64, 1, d, v),
                         test_tensor_from(LPS_DT_INT64, 1, d, v)};
    lps_node *n = einsum_node("i,i->", 2);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, ES_OPSET, in, &out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "int64"));
    free_inputs(in, 2);
    test_node_free(n);
}
END_TEST

START_TEST(gradient)
{
    const es_case *c = &cases[_i];
    lps_tensor *in[ES_MAX_IN] = {NULL};
    for (int i = 0; i < c->n_in; i++)
        in[i] = test_tensor_random(c->rank[i], c->dims[i], -1, 1, (uint64_t)(i + 7));
    lps_node *n = einsum_node(c->equation, c->n_in);
    gradcheck_tol tol = gradcheck_default_tol();
    tol.max_points = ES_GRAD_POINTS;
    char why[256] = "";
    bool ok = gradcheck_op(n, ES_OPSET, in, (size_t)c->n_in, (1u << c->n_in) - 1u, tol, why,
                           sizeof why);
    free_inputs(in, c->n_in);
    test_node_free(n);
    ck_assert_msg(ok, "%s: %s", c->equation, why);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", forward_matches_naive, N_CASES},
        {"forward", output_shapes, 1},
        {"forward", double_operands, 1},
        {"forward", empty_contraction_gives_zeros, 1},
        {"forward", rejects, 1},
        {"forward", rejects_integer_operands, 1},
        {"gradient", gradient, N_CASES},
    };
    return test_run_table("einsum", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
