/* Pow, Mod and PRelu: two-input element-wise ops with numpy broadcasting
 * (PRelu's slope broadcasts to X only).
 *
 * Pow takes any numeric base and exponent types (opset 12+), computes in
 * float when both are float and in double otherwise, and returns the base's
 * type (integer results saturate, see elementwise.h). Mod works on every
 * numeric type: fmod=0 gives the remainder with the divisor's sign (Python,
 * numpy.mod), fmod=1 the one with the dividend's sign (C fmod); an integer
 * division by zero is an error. Gradients (float only) follow PyTorch:
 *   Pow:   dX = g Y X^(Y-1), 0 where Y == 0;  dY = g X^Y ln X, 0 where X == 0, Y >= 0
 *   Mod:   dX = g;  dY = -g q with q = trunc(X/Y) (fmod=1) or floor(X/Y) (fmod=0)
 *   PRelu: dX = g (X > 0 ? 1 : slope);  dslope = g (X > 0 ? 0 : X) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/elementwise.h"

/* Mod appeared in opset 10; Pow and PRelu broadcast from LPS_OPSET_MIN on
 * (later versions only add element types). */
#define MOD_SINCE 10
/* Elements per chunk of Pow's double path. */
#define POW_CHUNK 256
enum { IN_A, IN_B, N_BINARY_INPUTS };

/* --- Pow --- */

/* Float rows; an exponent of exactly 2 (LayerNorm's variance as exported)
 * is a multiplication, as PyTorch computes it. */
static void pow_f32_row(const void *ctx, const void *a_, int64_t sa, const void *b_, int64_t sb,
                        void *y_, int64_t n)
{
    (void)ctx;
    const float *a = a_, *b = b_;
    float *y = y_;
    if (sb == 0 && b[0] == 2.0f) {
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i * sa] * a[i * sa];
        return;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = powf(a[i * sa], b[i * sb]);
}

typedef struct pow_types {
    lps_dtype a, b, y;
} pow_types;

/* Mixed or non-float types: both operands widened to double per chunk. */
static void pow_wide_row(const void *ctx, const void *a, int64_t sa, const void *b, int64_t sb,
                         void *y, int64_t n)
{
    const pow_types *t = ctx;
    size_t ea = lps_dtype_size(t->a), eb = lps_dtype_size(t->b), ey = lps_dtype_size(t->y);
    double base[POW_CHUNK], expo[POW_CHUNK];
    for (int64_t s = 0; s < n; s += POW_CHUNK) {
        int64_t m = n - s < POW_CHUNK ? n - s : POW_CHUNK;
        lps_elem_to_f64(t->a, (const char *)a + (size_t)(s * sa) * ea, sa, base, m);
        lps_elem_to_f64(t->b, (const char *)b + (size_t)(s * sb) * eb, sb, expo, m);
        for (int64_t i = 0; i < m; i++)
            base[i] = pow(base[i], expo[i]);
        lps_elem_from_f64(t->y, base, (char *)y + (size_t)s * ey, m);
    }
}

static bool is_numeric(lps_dtype dtype)
{
    return lps_elem_supported(dtype) && dtype != LPS_DT_BOOL;
}

static lps_status pow_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                            lps_error *err)
{
    for (int i = 0; i < N_BINARY_INPUTS; i++) {
        if (!in[i])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", i);
        if (!is_numeric(in[i]->dtype))
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has unsupported type %s",
                               i, lps_dtype_name(in[i]->dtype));
    }
    out[0].dtype = in[IN_A]->dtype;
    return lps_broadcast_shape(op, in[IN_A]->rank, in[IN_A]->dims, in[IN_B]->rank,
                               in[IN_B]->dims, &out[0], err);
}

static lps_status pow_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    pow_types t = {in[IN_A]->dtype, in[IN_B]->dtype, out[0]->dtype};
    bool f32 = t.a == LPS_DT_FLOAT && t.b == LPS_DT_FLOAT;
    return lps_ew_binary(op, in[IN_A], in[IN_B], out[0], f32 ? pow_f32_row : pow_wide_row, &t,
                         err);
}

static float pow_dbase(float g, float y, float a, float b)
{
    (void)y;
    return b == 0.0f ? 0.0f : g * b * powf(a, b - 1.0f);
}

static float pow_dexponent(float g, float y, float a, float b)
{
    return (a == 0.0f && b >= 0.0f) ? 0.0f : g * y * logf(a);
}

/* The exponent as a float tensor: itself, or a converted copy in *tmp. */
static lps_status float_operand(const lps_op_node *op, const lps_tensor *t, lps_tensor *tmp,
                                const lps_tensor **out, lps_error *err)
{
    *out = t;
    if (t->dtype == LPS_DT_FLOAT)
        return LPS_OK;
    lps_status st = lps_tensor_alloc(tmp, LPS_DT_FLOAT, t->rank, t->dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    if (lps_tensor_numel(t) > 0)
        lps_elem_convert(t->dtype, t->data, LPS_DT_FLOAT, tmp->data, lps_tensor_numel(t));
    *out = tmp;
    return LPS_OK;
}

static lps_status pow_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               const lps_tensor *const *out, const lps_tensor *const *dout,
                               lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    if (!dout[0] || out[0]->dtype != LPS_DT_FLOAT)
        return LPS_OK;
    lps_tensor tmp = {0};
    const lps_tensor *b;
    lps_status st = float_operand(op, in[IN_B], &tmp, &b, err);
    if (st == LPS_OK && din[IN_A])
        st = lps_ew_binary_grad(op, in[IN_A], b, out[0], dout[0], pow_dbase, din[IN_A], err);
    if (st == LPS_OK && din[IN_B])
        st = lps_ew_binary_grad(op, in[IN_A], b, out[0], dout[0], pow_dexponent, din[IN_B], err);
    lps_tensor_release(&tmp);
    return st;
}

/* --- Mod --- */

typedef struct mod_params {
    bool c_fmod;   /* fmod=1 */
} mod_params;

/* What a Mod row reads and reports: the mode and a division-by-zero flag. */
typedef struct mod_ctx {
    bool c_fmod;
    bool *divided_by_zero;
} mod_ctx;

static lps_status mod_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"fmod", NULL};
    int64_t fmod_attr = 0;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "fmod", 0, &fmod_attr, err);
    if (st == LPS_OK && fmod_attr != 0 && fmod_attr != 1)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "fmod must be 0 or 1, is %lld",
                         (long long)fmod_attr);
    if (st != LPS_OK)
        return st;
    mod_params *p = malloc(sizeof *p);
    if (!p)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory");
    p->c_fmod = fmod_attr == 1;
    op->params = p;
    return LPS_OK;
}

/* A remainder r of x by z moved to z's sign (Python's %) unless c_fmod. */
#define MOD_FIX_SIGN(r, z, c_fmod)                                                                \
    ((!(c_fmod) && (r) != 0 && (((r) < 0) != ((z) < 0))) ? (r) + (z) : (r))
/* Unsigned remainders have one sign: both modes agree. */
#define MOD_SAME_SIGN(r, z, c_fmod) (r)

#define MOD_FLOAT_ROW(dt, tag, storage, compute, load, store)                                     \
    static void mod_##tag(const void *ctx_, const void *a_, int64_t sa, const void *b_,           \
                          int64_t sb, void *y_, int64_t n)                                        \
    {                                                                                             \
        const mod_ctx *ctx = ctx_;                                                                \
        const storage *a = a_, *b = b_;                                                           \
        storage *y = y_;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                         \
            double x = load(a[i * sa]), z = load(b[i * sb]), r = fmod(x, z);                      \
            y[i] = store((compute)MOD_FIX_SIGN(r, z, ctx->c_fmod));                               \
        }                                                                                         \
    }

/* Integer rows; `is_minus_one` is true for x % -1, whose C value is
 * undefined at the type's minimum (the remainder is 0). */
#define MOD_INT_BODY(storage, compute, load, store, is_minus_one, fix_sign)                        \
    const mod_ctx *ctx = ctx_;                                                                    \
    const storage *a = a_, *b = b_;                                                               \
    storage *y = y_;                                                                              \
    for (int64_t i = 0; i < n; i++) {                                                             \
        compute x = load(a[i * sa]), z = load(b[i * sb]);                                         \
        if (z == 0) {                                                                             \
            *ctx->divided_by_zero = true;                                                         \
            y[i] = 0;                                                                             \
            continue;                                                                             \
        }                                                                                         \
        compute r = is_minus_one ? 0 : (compute)(x % z);                                          \
        y[i] = store((compute)fix_sign(r, z, ctx->c_fmod));                                       \
    }
#define MOD_SIGNED_ROW(dt, tag, storage, compute, load, store)                                    \
    static void mod_##tag(const void *ctx_, const void *a_, int64_t sa, const void *b_,           \
                          int64_t sb, void *y_, int64_t n)                                        \
    {                                                                                             \
        MOD_INT_BODY(storage, compute, load, store, z == -1, MOD_FIX_SIGN)                         \
    }
#define MOD_UNSIGNED_ROW(dt, tag, storage, compute, load, store)                                  \
    static void mod_##tag(const void *ctx_, const void *a_, int64_t sa, const void *b_,           \
                          int64_t sb, void *y_, int64_t n)                                        \
    {                                                                                             \
        MOD_INT_BODY(storage, compute, load, store, false, MOD_SAME_SIGN)                          \
    }
LPS_ELEM_FLOAT_TYPES(MOD_FLOAT_ROW)
LPS_ELEM_SIGNED_TYPES(MOD_SIGNED_ROW)
LPS_ELEM_UNSIGNED_TYPES(MOD_UNSIGNED_ROW)

static lps_ew_row_fn mod_row_for(lps_dtype dtype)
{
#define MOD_CASE(dt, tag, ...) case dt: return mod_##tag;
    switch (dtype) {
    LPS_ELEM_NUMERIC_TYPES(MOD_CASE)
    default: return NULL;
    }
#undef MOD_CASE
}

static lps_status mod_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                            lps_error *err)
{
    return lps_ew_binary_shape(op, in, is_numeric, LPS_DT_UNDEFINED, out, err);
}

static lps_status mod_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    const mod_params *p = op->params;
    bool divided_by_zero = false;
    mod_ctx mc = {p->c_fmod, &divided_by_zero};
    lps_status st = lps_ew_binary(op, in[IN_A], in[IN_B], out[0], mod_row_for(in[IN_A]->dtype),
                                  &mc, err);
    if (st == LPS_OK && divided_by_zero)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "integer modulo by zero");
    return st;
}

static float mod_dy_trunc(float g, float y, float a, float b)
{
    (void)y;
    return -g * truncf(a / b);
}

static float mod_dy_floor(float g, float y, float a, float b)
{
    (void)y;
    return -g * floorf(a / b);
}

static lps_status mod_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               const lps_tensor *const *out, const lps_tensor *const *dout,
                               lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    const mod_params *p = op->params;
    const lps_tensor *g = dout[0];
    if (!g || out[0]->dtype != LPS_DT_FLOAT)
        return LPS_OK;
    lps_status st = LPS_OK;
    if (din[IN_A])
        st = lps_bcast_sum_into(lps_tensor_f32(din[IN_A]), din[IN_A]->rank, din[IN_A]->dims,
                                lps_tensor_f32(g), g->rank, g->dims, 1.0f, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    if (din[IN_B])
        st = lps_ew_binary_grad(op, in[IN_A], in[IN_B], out[0], g,
                                p->c_fmod ? mod_dy_trunc : mod_dy_floor, din[IN_B], err);
    return st;
}

/* --- PRelu --- */

static void prelu_row(const void *ctx, const void *a_, int64_t sa, const void *b_, int64_t sb,
                      void *y_, int64_t n)
{
    (void)ctx;
    const float *x = a_, *slope = b_;
    float *y = y_;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i * sa] < 0.0f ? slope[i * sb] * x[i * sa] : x[i * sa];
}

/* X and slope float; slope broadcasts to X's shape (unidirectionally). */
static lps_status prelu_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, in[IN_A], IN_A, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, in[IN_B], IN_B, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = lps_broadcast_shape(op, in[IN_A]->rank, in[IN_A]->dims, in[IN_B]->rank,
                                 in[IN_B]->dims, &out[0], err);
    if (st != LPS_OK)
        return st;
    if (out[0].rank != in[IN_A]->rank ||
        memcmp(out[0].dims, in[IN_A]->dims, (size_t)out[0].rank * sizeof out[0].dims[0]) != 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "slope does not broadcast to X's shape");
    out[0].dtype = LPS_DT_FLOAT;
    return LPS_OK;
}

static lps_status prelu_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    return lps_ew_binary(op, in[IN_A], in[IN_B], out[0], prelu_row, NULL, err);
}

/* At X == 0 the slope side is taken, as PyTorch's prelu backward. */
static float prelu_dx(float g, float y, float x, float slope)
{
    (void)y;
    return x > 0.0f ? g : g * slope;
}

static float prelu_dslope(float g, float y, float x, float slope)
{
    (void)y, (void)slope;
    return x > 0.0f ? 0.0f : g * x;
}

static lps_status prelu_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 const lps_tensor *const *out, const lps_tensor *const *dout,
                                 lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    lps_status st = LPS_OK;
    if (!dout[0])
        return LPS_OK;
    if (din[IN_A])
        st = lps_ew_binary_grad(op, in[IN_A], in[IN_B], out[0], dout[0], prelu_dx, din[IN_A], err);
    if (st == LPS_OK && din[IN_B])
        st = lps_ew_binary_grad(op, in[IN_A], in[IN_B], out[0], dout[0], prelu_dslope, din[IN_B],
                                err);
    return st;
}

/* The def initializer of a family whose functions are <family>_shape etc. */
#define BINARY_OP(onnx_name, since, prepare_fn, family)                                           \
    {                                                                                             \
        .name = onnx_name,                                                                        \
        .min_opset = since,                                                                       \
        .max_opset = LPS_OPSET_MAX,                                                               \
        .min_inputs = N_BINARY_INPUTS,                                                            \
        .max_inputs = N_BINARY_INPUTS,                                                            \
        .min_outputs = 1,                                                                         \
        .max_outputs = 1,                                                                         \
        .differentiable = (1u << IN_A) | (1u << IN_B),                                            \
        .prepare = prepare_fn,                                                                    \
        .shape = family##_shape,                                                                  \
        .forward = family##_forward,                                                              \
        .backward = family##_backward,                                                            \
    }

const lps_op_def lps_op_def_pow = BINARY_OP("Pow", LPS_OPSET_MIN, lps_ew_prepare_no_attrs, pow);
const lps_op_def lps_op_def_mod = BINARY_OP("Mod", MOD_SINCE, mod_prepare, mod);
const lps_op_def lps_op_def_prelu =
    BINARY_OP("PRelu", LPS_OPSET_MIN, lps_ew_prepare_no_attrs, prelu);
