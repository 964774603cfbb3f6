/* ConvTranspose (ONNX opsets 1 and 11; same attributes in 7..21): the
 * adjoint of Conv, X [N, C, D1..Dn], W [C, M/group, k1..kn], optional B [M],
 * Y [N, M, O1..On].
 *
 * The geometry is that of a Conv reading Y and writing X: Y plays the
 * Conv's input image, X its output windows. So per image and group the
 * forward is one GEMM and a col2im,
 *     col_g [Mg*K, |X|] = W_g^T [Mg*K, Cg] * X_g [Cg, |X|],  Y_g += col2im(col_g),
 * and the backward the mirrored Conv forward/weight-gradient GEMMs over
 * im2col(dY_g): dX_g += W_g * col, dW_g += X_g * col^T; dB sums dY.
 *
 * Output size per spatial dim, with extent e = (k - 1) * dilation + 1 and
 * natural size s * (in - 1) + output_padding + e:
 *   output_shape given (n values, or n + 2 with N and C first): that size,
 *     and the total padding natural - size split as below (pads ignored);
 *   auto_pad SAME_UPPER / SAME_LOWER: in * stride, split as below;
 *   otherwise natural - pads_begin - pads_end (VALID: no pads).
 * The split follows the ONNX spec: SAME_UPPER puts floor(total / 2) at the
 * start, the others put floor(total / 2) at the end (a negative total, an
 * output larger than natural, adds positions that receive only the bias).
 *
 * The weight's output-unit rows are strided (see docs/method.md): output
 * channel m of group g is W[g*Cg .. (g+1)*Cg - 1, m % Mg, :]. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_shape.h"
#include "ops/im2col.h"
#include "ops/op.h"
#include "ops/spatial.h"

enum { CT_X = LPS_CONV_IN_X, CT_W = LPS_CONV_IN_W, CT_B = LPS_CONV_IN_B };
#define CT_LEADING_DIMS LPS_CONV_LEADING_DIMS
#define CT_BLAS_DIM_MAX INT_MAX

typedef struct ct_params {
    lps_spatial_attrs win;
    int64_t group;
    int n_output_padding, n_output_shape;
    int64_t output_padding[LPS_SPATIAL_MAX];
    int64_t output_shape[LPS_SPATIAL_MAX + CT_LEADING_DIMS];
} ct_params;

/* Shapes of one call. geom is the Conv geometry described above: geom.in
 * is Y's spatial shape, geom.out X's. */
typedef struct ct_dims {
    int64_t batch, in_ch, out_ch, in_per_group, out_per_group;
    int64_t rows; /* out_per_group * kernel_size */
    lps_spatial_geom g;
} ct_dims;

/* Reads an optional non-negative int list attribute (count -1 if absent). */
static lps_status ct_parse_list(const lps_op_node *op, const char *name, int64_t *v, int max,
                                int *count, lps_error *err)
{
    lps_status st = lps_op_attr_ints(op, name, v, max, count, err);
    for (int i = 0; st == LPS_OK && i < *count; i++)
        if (v[i] < 0 || v[i] > LPS_SPATIAL_ATTR_MAX)
            st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute '%s' has value %lld", name,
                             (long long)v[i]);
    return st;
}

static lps_status ct_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"auto_pad", "dilations",      "group",        "kernel_shape",
                                        "pads",     "output_padding", "output_shape", "strides",
                                        NULL};
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st != LPS_OK)
        return st;
    ct_params *p = calloc(1, sizeof *p);
    if (!p)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    st = lps_spatial_parse(op, &p->win, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "group", 1, &p->group, err);
    if (st == LPS_OK && p->group < 1)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'group' is %lld, expected >= 1",
                         (long long)p->group);
    if (st == LPS_OK)
        st = ct_parse_list(op, "output_padding", p->output_padding, LPS_SPATIAL_MAX,
                           &p->n_output_padding, err);
    if (st == LPS_OK)
        st = ct_parse_list(op, "output_shape", p->output_shape, LPS_SPATIAL_MAX + CT_LEADING_DIMS,
                           &p->n_output_shape, err);
    if (st != LPS_OK) {
        free(p);
        return st;
    }
    op->params = p;
    return LPS_OK;
}

/* Attribute value i of a per-dim list, or def when the list is absent. A
 * present list must have n values (the caller checked). */
static int64_t ct_attr_at(const int64_t *v, int count, int i, int64_t def)
{
    return count < 0 ? def : v[i];
}

/* Checks every per-dim list has n values (output_shape n or n + 2). */
static lps_status ct_check_counts(const lps_op_node *op, const ct_params *p, int n, lps_error *err)
{
    const lps_spatial_attrs *a = &p->win;
    bool ok = (a->n_kernel < 0 || a->n_kernel == n) && (a->n_strides < 0 || a->n_strides == n) &&
              (a->n_dilations < 0 || a->n_dilations == n) &&
              (a->n_pads < 0 || a->n_pads == 2 * n) &&
              (p->n_output_padding < 0 || p->n_output_padding == n) &&
              (p->n_output_shape < 0 || p->n_output_shape == n ||
               p->n_output_shape == n + CT_LEADING_DIMS);
    if (!ok)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "an attribute list does not have one value per spatial dim (%d)", n);
    return LPS_OK;
}

/* Splits a total padding per the spec (file comment) into g's dim d. */
static void ct_split(lps_auto_pad mode, int64_t total, lps_spatial_geom *g, int d)
{
    int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2); /* floor(total / 2) */
    g->pad_begin[d] = mode == LPS_AUTO_PAD_SAME_UPPER ? half : total - half;
    g->pad_end[d] = total - g->pad_begin[d];
}

/* Fills dim d of the geometry: Y's size from the rules in the file comment. */
static lps_status ct_resolve_dim(const lps_op_node *op, const ct_params *p, int n, int d,
                                 int64_t x_size, int64_t w_kernel, lps_spatial_geom *g,
                                 lps_error *err)
{
    const lps_spatial_attrs *a = &p->win;
    int64_t k = ct_attr_at(a->kernel, a->n_kernel, d, w_kernel);
    if (k != w_kernel)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "kernel_shape %lld does not match weight W's %lld in spatial dim %d",
                           (long long)k, (long long)w_kernel, d);
    g->kernel[d] = k;
    g->stride[d] = ct_attr_at(a->strides, a->n_strides, d, 1);
    g->dilation[d] = ct_attr_at(a->dilations, a->n_dilations, d, 1);
    g->out[d] = x_size;
    if (x_size > LPS_MAX_NUMEL / g->stride[d])
        return lps_op_fail(op, err, LPS_ERR_INVALID, "spatial dim %d: output too large", d);
    int64_t natural = g->stride[d] * (x_size - 1) +
                      ct_attr_at(p->output_padding, p->n_output_padding, d, 0) +
                      (k - 1) * g->dilation[d] + 1;
    int64_t size;
    if (p->n_output_shape >= 0) {
        size = p->output_shape[p->n_output_shape - n + d];
        ct_split(a->auto_pad, natural - size, g, d);
    } else if (a->auto_pad == LPS_AUTO_PAD_SAME_UPPER || a->auto_pad == LPS_AUTO_PAD_SAME_LOWER) {
        size = x_size * g->stride[d];
        ct_split(a->auto_pad, natural - size, g, d);
    } else {
        g->pad_begin[d] = ct_attr_at(a->pads, a->n_pads, d, 0);
        g->pad_end[d] = ct_attr_at(a->pads, a->n_pads, n + d, 0);
        size = natural - g->pad_begin[d] - g->pad_end[d];
    }
    if (size < 1 || x_size < 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "spatial dim %d: input size %lld gives output size %lld", d,
                           (long long)x_size, (long long)size);
    g->in[d] = size;
    return LPS_OK;
}

/* Validates X, W, B and resolves the geometry. Fails naming the node. */
static lps_status ct_dims_of(const lps_op_node *op, const lps_tensor *const *in, ct_dims *cd,
                             lps_error *err)
{
    const ct_params *p = op->params;
    const lps_tensor *x = in[CT_X], *w = in[CT_W];
    lps_status st = lps_conv_check_inputs(op, in, err);
    if (st != LPS_OK)
        return st;
    int n = x->rank - CT_LEADING_DIMS;
    cd->batch = x->dims[0];
    cd->in_ch = x->dims[1];
    cd->in_per_group = cd->in_ch / p->group;
    cd->out_per_group = w->dims[1];
    if (cd->in_ch % p->group != 0 || w->dims[0] != cd->in_ch)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "weight W has %lld input channels, X has %lld and group is %lld",
                           (long long)w->dims[0], (long long)cd->in_ch, (long long)p->group);
    cd->out_ch = cd->out_per_group * p->group;
    if (p->n_output_shape == n + CT_LEADING_DIMS && p->output_shape[1] != cd->out_ch)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "output_shape has %lld channels, W gives %lld",
                           (long long)p->output_shape[1], (long long)cd->out_ch);
    st = lps_conv_check_bias(op, op->n_inputs > CT_B ? in[CT_B] : NULL, cd->out_ch, err);
    if (st == LPS_OK)
        st = ct_check_counts(op, p, n, err);
    memset(&cd->g, 0, sizeof cd->g);
    cd->g.n = n;
    for (int d = 0; d < n && st == LPS_OK; d++)
        st = ct_resolve_dim(op, p, n, d, x->dims[CT_LEADING_DIMS + d],
                            w->dims[CT_LEADING_DIMS + d], &cd->g, err);
    if (st != LPS_OK)
        return st;
    cd->g.in_size = lps_numel_of(n, cd->g.in);
    cd->g.out_size = lps_numel_of(n, cd->g.out);
    cd->g.kernel_size = lps_numel_of(n, cd->g.kernel);
    if (cd->g.in_size < 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "the output would be too large");
    for (int64_t d = n - 1, stride = 1; d >= 0; stride *= cd->g.in[d], d--)
        cd->g.in_stride[d] = stride;
    cd->rows = cd->out_per_group * cd->g.kernel_size;
    if (cd->rows > CT_BLAS_DIM_MAX || cd->g.out_size > CT_BLAS_DIM_MAX ||
        cd->in_per_group > CT_BLAS_DIM_MAX || cd->g.in_size > CT_BLAS_DIM_MAX)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "convolution matrices exceed BLAS sizes");
    return LPS_OK;
}

static lps_status ct_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err)
{
    ct_dims cd;
    lps_status st = ct_dims_of(op, in, &cd, err);
    if (st != LPS_OK)
        return st;
    lps_conv_output_shape(&out[0], cd.batch, cd.out_ch, cd.g.n, cd.g.in);
    return LPS_OK;
}

/* The [rows, |X|] column workspace; NULL with err set (naming the node) on
 * allocation failure. */
static float *ct_workspace(const lps_op_node *op, lps_exec_ctx *ctx, const ct_dims *cd,
                           lps_error *err)
{
    size_t floats = (size_t)cd->rows * (size_t)cd->g.out_size;
    float *col = lps_ctx_workspace(ctx, floats ? floats : 1, err);
    if (!col)
        lps_error_prefix(err, "%s", op->label);
    return col;
}

static lps_status ct_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    const ct_params *p = op->params;
    ct_dims cd;
    lps_status st = ct_dims_of(op, in, &cd, err);
    if (st != LPS_OK)
        return st;
    int64_t y_size = cd.g.in_size, x_size = cd.g.out_size;
    const lps_tensor *bias = op->n_inputs > CT_B ? in[CT_B] : NULL;
    const float *x = lps_tensor_f32(in[CT_X]), *w = lps_tensor_f32(in[CT_W]);
    const float *b = bias ? lps_tensor_f32(bias) : NULL;
    float *y = lps_tensor_f32(out[0]);
    for (int64_t i = 0; i < cd.batch * cd.out_ch; i++)
        for (int64_t o = 0; o < y_size; o++)
            y[i * y_size + o] = b ? b[i % cd.out_ch] : 0.0f;
    if (cd.batch == 0 || cd.out_ch == 0 || x_size == 0 || cd.in_per_group == 0)
        return LPS_OK;
    float *col = ct_workspace(op, ctx, &cd, err);
    if (!col)
        return err ? err->status : LPS_ERR_NOMEM;
    int rows = (int)cd.rows, cg = (int)cd.in_per_group, o = (int)x_size;
    for (int64_t n = 0; n < cd.batch; n++)
        for (int64_t grp = 0; grp < p->group; grp++) {
            const float *x_g = x + (n * cd.in_ch + grp * cd.in_per_group) * x_size;
            const float *w_g = w + grp * cd.in_per_group * cd.rows;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, o, cg, 1.0f, w_g, rows, x_g,
                        o, 0.0f, col, o);
            lps_col2im(col, cd.out_per_group, &cd.g,
                       y + (n * cd.out_ch + grp * cd.out_per_group) * y_size);
        }
    return LPS_OK;
}

/* dB[m] += sum over images and positions of dY[n, m, :]. */
static void ct_bias_grad(const ct_dims *cd, const float *dy, float *db)
{
    int64_t y_size = cd->g.in_size;
    for (int64_t i = 0; i < cd->batch * cd->out_ch; i++) {
        double sum = 0.0;
        for (int64_t o = 0; o < y_size; o++)
            sum += dy[i * y_size + o];
        db[i % cd->out_ch] += (float)sum;
    }
}

static lps_status ct_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    (void)out;
    const ct_params *p = op->params;
    ct_dims cd;
    lps_status st = ct_dims_of(op, in, &cd, err);
    if (st != LPS_OK || !dout[0])
        return st;
    const float *dy = lps_tensor_f32(dout[0]);
    if (op->n_inputs > CT_B && in[CT_B] && din[CT_B])
        ct_bias_grad(&cd, dy, lps_tensor_f32(din[CT_B]));
    float *dx = din[CT_X] ? lps_tensor_f32(din[CT_X]) : NULL;
    float *dw = din[CT_W] ? lps_tensor_f32(din[CT_W]) : NULL;
    int64_t y_size = cd.g.in_size, x_size = cd.g.out_size;
    if ((!dx && !dw) || cd.batch == 0 || cd.out_ch == 0 || x_size == 0 || cd.in_per_group == 0)
        return LPS_OK;
    float *col = ct_workspace(op, ctx, &cd, err);
    if (!col)
        return err ? err->status : LPS_ERR_NOMEM;
    const float *x = lps_tensor_f32(in[CT_X]), *w = lps_tensor_f32(in[CT_W]);
    int rows = (int)cd.rows, cg = (int)cd.in_per_group, o = (int)x_size;
    for (int64_t n = 0; n < cd.batch; n++)
        for (int64_t grp = 0; grp < p->group; grp++) {
            int64_t x_offset = (n * cd.in_ch + grp * cd.in_per_group) * x_size;
            int64_t w_offset = grp * cd.in_per_group * cd.rows;
            lps_im2col(dy + (n * cd.out_ch + grp * cd.out_per_group) * y_size, cd.out_per_group,
                       &cd.g, col);
            if (dx)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cg, o, rows, 1.0f,
                            w + w_offset, rows, col, o, 1.0f, dx + x_offset, o);
            if (dw)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cg, rows, o, 1.0f,
                            x + x_offset, o, col, o, 1.0f, dw + w_offset, rows);
        }
    return LPS_OK;
}

const lps_op_def lps_op_def_conv_transpose = {
    .name = "ConvTranspose",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << CT_X) | (1u << CT_W) | (1u << CT_B),
    .prepare = ct_prepare,
    .shape = ct_shape,
    .forward = ct_forward,
    .backward = ct_backward,
    /* docs/method.md: output channel g*M/group + m over its group's
     * (C/group, k...), a strided row of the [C, M/group, k...] tensor */
    .weights = {{.role = LPS_WEIGHT_LAYER, .input = CT_W, .min_rank = 3,
                 .max_rank = LPS_MAX_RANK, .rows = LPS_ROWS_UNITS_SECOND_GROUPED,
                 .group_attr = "group", .bias_input = CT_B}},
};
