/* Dtype machinery of the element-wise families (see elementwise.h): half
 * precision bits, conversions through the wide domains and the broadcast
 * row driver. */
#include "ops/elementwise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/broadcast.h"

/* Elements converted per step through a stack buffer of the wide domain. */
#define CONVERT_CHUNK 256

/* Half precision layout: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
#define F16_SIGN 0x8000u
#define F16_EXP_MASK 0x1fu
#define F16_MANT_BITS 10
#define F16_MANT_MASK 0x3ffu
#define F16_BIAS 15
#define F16_INF 0x7c00u
#define F16_NAN 0x7e00u
/* Smallest normal half, 2^-14, and the first magnitude that rounds to
 * infinity, halfway between the largest half 65504 and 65536. */
#define F16_MIN_NORMAL 0x1p-14
#define F16_OVERFLOW 65520.0
/* float's exponent bias minus half's, and the scale of half subnormals. */
#define F32_MINUS_F16_BIAS 112
#define F16_SUBNORMAL_SCALE 0x1p24

float lps_f16_load(uint16_t bits)
{
    uint32_t sign = (uint32_t)(bits & F16_SIGN) << 16;
    uint32_t exp = (bits >> F16_MANT_BITS) & F16_EXP_MASK;
    uint32_t mant = bits & F16_MANT_MASK;
    if (exp == 0) {
        float v = (float)mant / (float)F16_SUBNORMAL_SCALE;
        return sign ? -v : v;
    }
    uint32_t out = exp == F16_EXP_MASK ? sign | 0x7f800000u | (mant << 13)
                                       : sign | ((exp + F32_MINUS_F16_BIAS) << 23) | (mant << 13);
    float v;
    memcpy(&v, &out, sizeof v);
    return v;
}

/* Rounds a double to the nearest half (ties to even), once: converting
 * through float first would round twice. */
static uint16_t f16_from_f64(double v)
{
    uint16_t sign = signbit(v) ? F16_SIGN : 0;
    if (isnan(v))
        return F16_NAN;
    double a = fabs(v);
    if (a >= F16_OVERFLOW)
        return sign | F16_INF;
    if (a < F16_MIN_NORMAL) /* a subnormal; 1024 rounds up to the smallest normal */
        return sign | (uint16_t)nearbyint(a * F16_SUBNORMAL_SCALE);
    int e;
    frexp(a, &e); /* a = f 2^e, f in [0.5, 1) */
    double mant = nearbyint(ldexp(a, F16_MANT_BITS + 1 - e));
    int exp = e - 1;
    if (mant == 2 << F16_MANT_BITS) {
        mant = 1 << F16_MANT_BITS;
        exp++;
    }
    return sign | (uint16_t)((exp + F16_BIAS) << F16_MANT_BITS) |
           (uint16_t)((uint16_t)mant - (1u << F16_MANT_BITS));
}

uint16_t lps_f16_store(float v)
{
    return f16_from_f64(v);
}

bool lps_elem_supported(lps_dtype dtype)
{
#define SUPPORTED_CASE(dt, ...) case dt:
    switch (dtype) {
    LPS_ELEM_ALL_TYPES(SUPPORTED_CASE)
        return true;
    default: return false;
    }
#undef SUPPORTED_CASE
}

bool lps_elem_is_float(lps_dtype dtype)
{
#define FLOAT_CASE(dt, ...) case dt:
    switch (dtype) {
    LPS_ELEM_FLOAT_TYPES(FLOAT_CASE)
        return true;
    default: return false;
    }
#undef FLOAT_CASE
}

void lps_elem_to_f64(lps_dtype dtype, const void *src, int64_t stride, double *dst, int64_t n)
{
#define TO_F64_CASE(dt, tag, storage, compute, load, store)                                       \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                           \
            dst[i] = (double)load(((const storage *)src)[i * stride]);                            \
        break;
    switch (dtype) {
    LPS_ELEM_ALL_TYPES(TO_F64_CASE)
    default: break;
    }
#undef TO_F64_CASE
}

/* Largest value of a signed integer type, without relying on its name. */
#define SIGNED_MAX(T) ((T)((((uint64_t)1) << (8 * sizeof(T) - 1)) - 1))

void lps_elem_from_f64(lps_dtype dtype, const double *src, void *dst, int64_t n)
{
#define FROM_F64_FLOAT(dt, tag, storage, compute, load, store)                                    \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                           \
            ((storage *)dst)[i] = store((compute)src[i]);                                         \
        break;
#define FROM_F64_SIGNED(dt, tag, storage, compute, load, store)                                   \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                         \
            double v = src[i], hi = (double)SIGNED_MAX(storage), lo = -hi - 1.0;                  \
            ((storage *)dst)[i] = isnan(v) ? 0 : v >= hi ? SIGNED_MAX(storage)                    \
                                  : v <= lo ? (storage)(-SIGNED_MAX(storage) - 1) : (storage)v;   \
        }                                                                                         \
        break;
#define FROM_F64_UNSIGNED(dt, tag, storage, compute, load, store)                                 \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                         \
            double v = src[i], hi = (double)(storage)(-1);                                        \
            ((storage *)dst)[i] = isnan(v) || v <= 0.0 ? 0 : v >= hi ? (storage)(-1) : (storage)v; \
        }                                                                                         \
        break;
    if (dtype == LPS_DT_FLOAT16) { /* directly from double: no double rounding */
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = f16_from_f64(src[i]);
        return;
    }
    switch (dtype) {
    LPS_ELEM_FLOAT_TYPES(FROM_F64_FLOAT)
    LPS_ELEM_SIGNED_TYPES(FROM_F64_SIGNED)
    LPS_ELEM_UNSIGNED_TYPES(FROM_F64_UNSIGNED)
    case LPS_DT_BOOL:
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = src[i] != 0.0;
        break;
    default: break;
    }
#undef FROM_F64_FLOAT
#undef FROM_F64_SIGNED
#undef FROM_F64_UNSIGNED
}

void lps_elem_to_i64(lps_dtype dtype, const void *src, int64_t stride, int64_t *dst, int64_t n)
{
#define TO_I64_CASE(dt, tag, storage, compute, load, store)                                       \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                           \
            dst[i] = (int64_t)load(((const storage *)src)[i * stride]);                           \
        break;
    switch (dtype) {
    LPS_ELEM_INTEGER_TYPES(TO_I64_CASE)
    LPS_ELEM_BOOL_TYPE(TO_I64_CASE)
    default: break;
    }
#undef TO_I64_CASE
}

void lps_elem_from_i64(lps_dtype dtype, const int64_t *src, void *dst, int64_t n)
{
#define FROM_I64_CASE(dt, tag, storage, compute, load, store)                                     \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                           \
            ((storage *)dst)[i] = store((compute)(uint64_t)src[i]);                               \
        break;
    switch (dtype) {
    LPS_ELEM_INTEGER_TYPES(FROM_I64_CASE)
    case LPS_DT_BOOL:
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = src[i] != 0;
        break;
    default: break;
    }
#undef FROM_I64_CASE
}

void lps_elem_convert(lps_dtype from, const void *src, lps_dtype to, void *dst, int64_t n)
{
    size_t es = lps_dtype_size(from), ed = lps_dtype_size(to);
    bool via_double = lps_elem_is_float(from) || lps_elem_is_float(to);
    for (int64_t s = 0; s < n; s += CONVERT_CHUNK) {
        int64_t m = n - s < CONVERT_CHUNK ? n - s : CONVERT_CHUNK;
        const char *in = (const char *)src + (size_t)s * es;
        char *out = (char *)dst + (size_t)s * ed;
        if (via_double) {
            double wide[CONVERT_CHUNK];
            lps_elem_to_f64(from, in, 1, wide, m);
            lps_elem_from_f64(to, wide, out, m);
        } else {
            int64_t wide[CONVERT_CHUNK];
            lps_elem_to_i64(from, in, 1, wide, m);
            lps_elem_from_i64(to, wide, out, m);
        }
    }
}

lps_status lps_ew_binary(const lps_op_node *op, const lps_tensor *a, const lps_tensor *b,
                         lps_tensor *y, lps_ew_row_fn row, const void *ctx, lps_error *err)
{
    enum { OPD_Y, OPD_A, OPD_B, OPD_COUNT };
    const int ranks[OPD_COUNT] = {y->rank, a->rank, b->rank};
    const int64_t *const dims[OPD_COUNT] = {y->dims, a->dims, b->dims};
    lps_bcast bc;
    lps_bcast_cursor c;
    lps_status st = lps_bcast_init(&bc, y->rank, y->dims, OPD_COUNT, ranks, dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    int64_t n = lps_bcast_row_len(&bc);
    /* An empty result has nothing to compute, and its operands may have no
     * buffer to offset into. */
    if (n == 0 || bc.rows == 0)
        return LPS_OK;
    size_t ea = lps_dtype_size(a->dtype), eb = lps_dtype_size(b->dtype);
    size_t ey = lps_dtype_size(y->dtype);
    int64_t sa = lps_bcast_inner_stride(&bc, OPD_A), sb = lps_bcast_inner_stride(&bc, OPD_B);
    lps_bcast_begin(&bc, &c);
    for (int64_t r = 0; r < bc.rows; r++, lps_bcast_next(&bc, &c))
        row(ctx, (const char *)a->data + (size_t)c.offset[OPD_A] * ea, sa,
            (const char *)b->data + (size_t)c.offset[OPD_B] * eb, sb,
            (char *)y->data + (size_t)c.offset[OPD_Y] * ey, n);
    return LPS_OK;
}

lps_status lps_ew_binary_grad(const lps_op_node *op, const lps_tensor *a, const lps_tensor *b,
                              const lps_tensor *y, const lps_tensor *g, lps_ew_grad_term term,
                              lps_tensor *din, lps_error *err)
{
    enum { OPD_Y, OPD_A, OPD_B, OPD_COUNT };
    const int ranks[OPD_COUNT] = {y->rank, a->rank, b->rank};
    const int64_t *const dims[OPD_COUNT] = {y->dims, a->dims, b->dims};
    int64_t total = lps_tensor_numel(y);
    if (total == 0 || lps_tensor_numel(din) == 0)
        return LPS_OK;
    lps_bcast bc;
    lps_bcast_cursor c;
    lps_status st = lps_bcast_init(&bc, y->rank, y->dims, OPD_COUNT, ranks, dims, err);
    float *terms = st == LPS_OK ? malloc((size_t)total * sizeof *terms) : NULL;
    if (st == LPS_OK && !terms)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for %lld gradient terms",
                      (long long)total);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    const float *av = lps_tensor_f32(a), *bv = lps_tensor_f32(b);
    const float *yv = lps_tensor_f32(y), *gv = lps_tensor_f32(g);
    int64_t n = lps_bcast_row_len(&bc);
    int64_t sa = lps_bcast_inner_stride(&bc, OPD_A), sb = lps_bcast_inner_stride(&bc, OPD_B);
    lps_bcast_begin(&bc, &c);
    for (int64_t r = 0; r < bc.rows; r++, lps_bcast_next(&bc, &c)) {
        int64_t oy = c.offset[OPD_Y], oa = c.offset[OPD_A], ob = c.offset[OPD_B];
        for (int64_t i = 0; i < n; i++)
            terms[oy + i] = term(gv[oy + i], yv[oy + i], av[oa + i * sa], bv[ob + i * sb]);
    }
    st = lps_bcast_sum_into(lps_tensor_f32(din), din->rank, din->dims, terms, y->rank, y->dims,
                            1.0f, err);
    free(terms);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

lps_status lps_ew_binary_shape(const lps_op_node *op, const lps_tensor *const *in,
                               bool (*allowed)(lps_dtype), lps_dtype out_dtype, lps_shape *out,
                               lps_error *err)
{
    for (int i = 0; i < 2; i++)
        if (!in[i])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", i);
    if (in[0]->dtype != in[1]->dtype)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "inputs have types %s and %s, expected one type",
                           lps_dtype_name(in[0]->dtype), lps_dtype_name(in[1]->dtype));
    if (!lps_elem_supported(in[0]->dtype) || (allowed && !allowed(in[0]->dtype)))
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "element type %s is not supported",
                           lps_dtype_name(in[0]->dtype));
    out[0].dtype = out_dtype == LPS_DT_UNDEFINED ? in[0]->dtype : out_dtype;
    return lps_broadcast_shape(op, in[0]->rank, in[0]->dims, in[1]->rank, in[1]->dims, &out[0],
                               err);
}

lps_status lps_ew_prepare_no_attrs(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {NULL};
    return lps_op_check_attrs(op, known, err);
}
