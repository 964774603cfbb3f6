/* ConvTranspose: 2-D values against a direct scatter reference (groups,
 * strides, dilations, pads, output_padding, output_shape, auto_pad), output
 * shapes of every sizing rule, attribute errors, and finite-difference
 * gradients for X, W and B in 1-D, 2-D and 3-D. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define CT_OPSET 11
#define CT_FWD_TOL 1e-4f

typedef struct ct_case {
    int64_t x[4], w[4];           /* [N, C, H, W] and [C, M/group, kH, kW] */
    int64_t group, stride[2], dilation[2], pads[4], output_padding[2];
    int64_t y_hw[2];              /* expected output spatial size */
    const char *auto_pad;         /* NULL: attribute absent */
    bool output_shape;            /* give y_hw as output_shape instead of pads */
} ct_case;

/* y = ConvTranspose(x, w, b) by scattering every input element: input
 * (iy, ix) adds x * w[ky, kx] to output (iy*s + ky*d - pad_begin, ...). */
static void reference(const ct_case *c, const int64_t *pad_begin, const float *x, const float *w,
                      const float *b, float *y)
{
    int64_t cg = c->x[1] / c->group, mg = c->w[1], m_all = mg * c->group;
    int64_t yh = c->y_hw[0], yw = c->y_hw[1];
    for (int64_t i = 0; i < c->x[0] * m_all * yh * yw; i++)
        y[i] = b[(i / (yh * yw)) % m_all];
    for (int64_t n = 0; n < c->x[0]; n++)
        for (int64_t ci = 0; ci < c->x[1]; ci++)
            for (int64_t iy = 0; iy < c->x[2]; iy++)
                for (int64_t ix = 0; ix < c->x[3]; ix++)
                    for (int64_t mm = 0; mm < mg; mm++)
                        for (int64_t ky = 0; ky < c->w[2]; ky++)
                            for (int64_t kx = 0; kx < c->w[3]; kx++) {
                                int64_t oy = iy * c->stride[0] + ky * c->dilation[0] - pad_begin[0];
                                int64_t ox = ix * c->stride[1] + kx * c->dilation[1] - pad_begin[1];
                                if (oy < 0 || oy >= yh || ox < 0 || ox >= yw)
                                    continue;
                                int64_t m = (ci / cg) * mg + mm;
                                y[((n * m_all + m) * yh + oy) * yw + ox] +=
                                    x[((n * c->x[1] + ci) * c->x[2] + iy) * c->x[3] + ix] *
                                    w[((ci * mg + mm) * c->w[2] + ky) * c->w[3] + kx];
                            }
}

static lps_node *ct_node(const ct_case *c, int n_inputs)
{
    lps_node *n = test_node_new("ConvTranspose", n_inputs, 1);
    test_node_attr_int(n, "group", c->group);
    test_node_attr_ints(n, "strides", c->stride, 2);
    test_node_attr_ints(n, "dilations", c->dilation, 2);
    test_node_attr_ints(n, "output_padding", c->output_padding, 2);
    if (c->auto_pad)
        test_node_attr_string(n, "auto_pad", c->auto_pad);
    if (c->output_shape)
        test_node_attr_ints(n, "output_shape", c->y_hw, 2);
    else if (!c->auto_pad)
        test_node_attr_ints(n, "pads", c->pads, 4);
    return n;
}

/* pads_begin the reference uses: as written, or (output_shape/SAME) the
 * spec's split of the total padding. */
static void begin_pads(const ct_case *c, int64_t *pb)
{
    for (int d = 0; d < 2; d++) {
        int64_t natural = c->stride[d] * (c->x[2 + d] - 1) + c->output_padding[d] +
                          (c->w[2 + d] - 1) * c->dilation[d] + 1;
        int64_t total = natural - c->y_hw[d];
        int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        bool upper = c->auto_pad && strcmp(c->auto_pad, "SAME_UPPER") == 0;
        pb[d] = c->output_shape || c->auto_pad ? (upper ? half : total - half) : c->pads[d];
    }
}

static const ct_case fwd_cases[] = {
    {{1, 2, 3, 3}, {2, 3, 3, 3}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, {0, 0}, {5, 5}, NULL, false},
    {{2, 4, 3, 2}, {4, 1, 2, 3}, 2, {2, 3}, {1, 1}, {1, 0, 0, 2}, {1, 2}, {6, 6}, NULL, false},
    {{1, 2, 3, 3}, {2, 2, 3, 2}, 1, {2, 1}, {2, 2}, {0, 1, 2, 0}, {0, 0}, {7, 4}, NULL, false},
    {{1, 1, 3, 3}, {1, 2, 3, 3}, 1, {3, 2}, {1, 1}, {0, 0, 0, 0}, {0, 0}, {10, 8}, NULL, true},
    {{1, 1, 3, 3}, {1, 2, 3, 3}, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, {0, 0}, {6, 6}, "SAME_UPPER",
     false},
    {{1, 1, 3, 3}, {1, 2, 3, 3}, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, {0, 0}, {6, 6}, "SAME_LOWER",
     false},
    {{1, 2, 2, 2}, {2, 1, 2, 2}, 2, {2, 2}, {1, 1}, {0, 0, 0, 0}, {0, 0}, {4, 4}, "VALID", false},
};

START_TEST(values_against_reference)
{
    const ct_case *c = &fwd_cases[_i];
    int64_t m = c->w[1] * c->group, bd[] = {m};
    lps_tensor *in[3] = {test_tensor_random(4, c->x, -1, 1, 1), test_tensor_random(4, c->w, -1, 1, 2),
                         test_tensor_random(1, bd, -1, 1, 3)};
    int64_t pb[2], y_dims[] = {c->x[0], m, c->y_hw[0], c->y_hw[1]};
    begin_pads(c, pb);
    float *want = malloc((size_t)(y_dims[0] * m * c->y_hw[0] * c->y_hw[1]) * sizeof *want);
    reference(c, pb, lps_tensor_f32(in[0]), lps_tensor_f32(in[1]), lps_tensor_f32(in[2]), want);
    lps_node *n = ct_node(c, 3);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(n, CT_OPSET, in, &out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out, 4, y_dims);
    test_expect_floats(&out, want, lps_tensor_numel(&out), CT_FWD_TOL);
    lps_tensor_release(&out);
    free(want);
    test_node_free(n);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
}
END_TEST

START_TEST(attribute_errors)
{
    int64_t xd[] = {1, 2, 3, 3}, wd[] = {2, 1, 2, 2}, k3[] = {3, 3}, three[] = {1, 1, 1};
    lps_tensor *in[2] = {test_tensor_random(4, xd, -1, 1, 1), test_tensor_random(4, wd, -1, 1, 2)};
    lps_tensor out = {0};
    lps_error err;
    lps_node *n = test_node_new("ConvTranspose", 2, 1);
    test_node_attr_ints(n, "kernel_shape", k3, 2);
    ck_assert_int_eq(test_op_forward(n, CT_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "kernel_shape"));
    test_node_free(n);
    n = test_node_new("ConvTranspose", 2, 1);
    test_node_attr_ints(n, "output_padding", three, 3);
    ck_assert_int_eq(test_op_forward(n, CT_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("ConvTranspose", 2, 1);
    test_node_attr_int(n, "group", 3);
    ck_assert_int_eq(test_op_forward(n, CT_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("ConvTranspose", 2, 1);
    test_node_attr_int(n, "ceil_mode", 1);
    ck_assert_int_eq(test_op_forward(n, CT_OPSET, in, &out, 1, &err), LPS_ERR_UNSUPPORTED);
    test_node_free(n);
    lps_tensor_release(&out);
    for (int i = 0; i < 2; i++)
        lps_tensor_free(in[i]);
}
END_TEST

static const struct {
    int rank;
    int64_t x[5], w[5];
    int64_t group;
    const char *attr;   /* one int-list attribute applied to every spatial dim */
    int64_t value;
} grad_cases[] = {
    {3, {2, 2, 4}, {2, 3, 3}, 1, "strides", 2},
    {3, {1, 4, 3}, {4, 1, 2}, 2, "dilations", 2},
    {4, {1, 2, 3, 3}, {2, 2, 3, 3}, 1, "pads", 1},
    {4, {2, 2, 2, 3}, {2, 1, 2, 2}, 2, "output_padding", 1}, /* with strides 2 */
    {5, {1, 1, 2, 2, 2}, {1, 2, 2, 2, 2}, 1, "strides", 2},
};

START_TEST(gradient)
{
    int rank = grad_cases[_i].rank, n_sp = rank - 2;
    int64_t m = grad_cases[_i].w[1] * grad_cases[_i].group, bd[] = {m};
    lps_tensor *in[3] = {test_tensor_random(rank, grad_cases[_i].x, -1, 1, 1),
                         test_tensor_random(rank, grad_cases[_i].w, -1, 1, 2),
                         test_tensor_random(1, bd, -1, 1, 3)};
    lps_node *n = test_node_new("ConvTranspose", 3, 1);
    int64_t v[6], twos[3] = {2, 2, 2};
    bool pads = strcmp(grad_cases[_i].attr, "pads") == 0;
    for (int d = 0; d < 2 * n_sp; d++)
        v[d] = grad_cases[_i].value;
    test_node_attr_int(n, "group", grad_cases[_i].group);
    test_node_attr_ints(n, grad_cases[_i].attr, v, pads ? 2 * n_sp : n_sp);
    if (strcmp(grad_cases[_i].attr, "output_padding") == 0)
        test_node_attr_ints(n, "strides", twos, n_sp);
    gradcheck_tol tol = gradcheck_default_tol();
    char why[256] = "";
    bool ok = gradcheck_op(n, CT_OPSET, in, 3, 0x7u, tol, why, sizeof why);
    test_node_free(n);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
    ck_assert_msg(ok, "case %d (%s): %s", _i, grad_cases[_i].attr, why);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", values_against_reference, sizeof fwd_cases / sizeof fwd_cases[0]},
        {"forward", attribute_errors, 1},
        {"gradient", gradient, sizeof grad_cases / sizeof grad_cases[0]},
    };
    return test_run_table("conv_transpose", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
