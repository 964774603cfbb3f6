/* Element types of the dtype-generic element-wise families (compare.c,
 * logic.c, cast.c, variadic.c, pow_mod.c) and their shared machinery.
 *
 * Each supported dtype is one line of an X-macro list:
 *     X(dtype, tag, storage, compute, load, store)
 * `storage` is the C type of one element in a tensor, `compute` the C type
 * arithmetic happens in, and load(storage) -> compute / store(compute) ->
 * storage convert between them (identity for the native types; float16 is
 * stored as its IEEE bits and computed in float; bool is one byte, read as
 * 0/1). A family writes one kernel body as a macro over these six
 * parameters and instantiates it with the list, so adding a dtype here adds
 * it to every family. Dtypes not listed (bfloat16, string, complex) are
 * reported unsupported by the families.
 *
 * Values cross between dtypes (Cast, Pow with mixed operand types) through
 * two wide domains: double for any dtype that involves a floating type, and
 * int64 for integer and bool pairs, so int64 values survive exactly. */
#ifndef LPS_OPS_ELEMENTWISE_H
#define LPS_OPS_ELEMENTWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/op.h"

#define LPS_ELEM_SAME(v) (v)
#define LPS_ELEM_BOOL_LOAD(v) ((uint8_t)((v) != 0))

/* IEEE half precision bits <-> float (round to nearest even). */
float lps_f16_load(uint16_t bits);
uint16_t lps_f16_store(float v);

#define LPS_ELEM_FLOAT_TYPES(X)                                                                  \
    X(LPS_DT_FLOAT, f32, float, float, LPS_ELEM_SAME, LPS_ELEM_SAME)                             \
    X(LPS_DT_DOUBLE, f64, double, double, LPS_ELEM_SAME, LPS_ELEM_SAME)                          \
    X(LPS_DT_FLOAT16, f16, uint16_t, float, lps_f16_load, lps_f16_store)

#define LPS_ELEM_SIGNED_TYPES(X)                                                                 \
    X(LPS_DT_INT8, i8, int8_t, int8_t, LPS_ELEM_SAME, LPS_ELEM_SAME)                             \
    X(LPS_DT_INT16, i16, int16_t, int16_t, LPS_ELEM_SAME, LPS_ELEM_SAME)                         \
    X(LPS_DT_INT32, i32, int32_t, int32_t, LPS_ELEM_SAME, LPS_ELEM_SAME)                         \
    X(LPS_DT_INT64, i64, int64_t, int64_t, LPS_ELEM_SAME, LPS_ELEM_SAME)

#define LPS_ELEM_UNSIGNED_TYPES(X)                                                               \
    X(LPS_DT_UINT8, u8, uint8_t, uint8_t, LPS_ELEM_SAME, LPS_ELEM_SAME)                          \
    X(LPS_DT_UINT16, u16, uint16_t, uint16_t, LPS_ELEM_SAME, LPS_ELEM_SAME)                      \
    X(LPS_DT_UINT32, u32, uint32_t, uint32_t, LPS_ELEM_SAME, LPS_ELEM_SAME)                      \
    X(LPS_DT_UINT64, u64, uint64_t, uint64_t, LPS_ELEM_SAME, LPS_ELEM_SAME)

#define LPS_ELEM_INTEGER_TYPES(X) LPS_ELEM_SIGNED_TYPES(X) LPS_ELEM_UNSIGNED_TYPES(X)
#define LPS_ELEM_NUMERIC_TYPES(X) LPS_ELEM_FLOAT_TYPES(X) LPS_ELEM_INTEGER_TYPES(X)
#define LPS_ELEM_BOOL_TYPE(X)                                                                     \
    X(LPS_DT_BOOL, b8, uint8_t, uint8_t, LPS_ELEM_BOOL_LOAD, LPS_ELEM_SAME)
#define LPS_ELEM_ALL_TYPES(X) LPS_ELEM_NUMERIC_TYPES(X) LPS_ELEM_BOOL_TYPE(X)

/* Whether dtype is in LPS_ELEM_ALL_TYPES / LPS_ELEM_FLOAT_TYPES. */
bool lps_elem_supported(lps_dtype dtype);
bool lps_elem_is_float(lps_dtype dtype);

/* Converts n elements of dtype at src (element stride 0 or 1) into dst.
 * _to_f64/_from_f64 go through double: NaN becomes 0 and out-of-range
 * values saturate when the target is an integer, bool is (v != 0).
 * _to_i64/_from_i64 go through int64 for integer and bool dtypes: narrowing
 * wraps modulo 2^bits (two's complement, as onnxruntime's static_cast).
 * dtype must be supported (and, for the i64 pair, not floating). */
void lps_elem_to_f64(lps_dtype dtype, const void *src, int64_t stride, double *dst, int64_t n);
void lps_elem_from_f64(lps_dtype dtype, const double *src, void *dst, int64_t n);
void lps_elem_to_i64(lps_dtype dtype, const void *src, int64_t stride, int64_t *dst, int64_t n);
void lps_elem_from_i64(lps_dtype dtype, const int64_t *src, void *dst, int64_t n);

/* Converts n contiguous elements of dtype `from` at src into dtype `to` at
 * dst (both supported) through the wide domain of the pair: double when
 * either is floating, else int64. */
void lps_elem_convert(lps_dtype from, const void *src, lps_dtype to, void *dst, int64_t n);

/* A row kernel over broadcast operands: y[i] = f(a[i*sa], b[i*sb]) for
 * i < n, strides in elements (0 or 1); ctx is the caller's parameters. */
typedef void (*lps_ew_row_fn)(const void *ctx, const void *a, int64_t sa, const void *b,
                              int64_t sb, void *y, int64_t n);

/* Runs row over every broadcast row of a and b laid over y's shape (y
 * allocated by the caller). Fails with LPS_ERR_INVALID, prefixed with the
 * node, when an operand does not broadcast to y. */
lps_status lps_ew_binary(const lps_op_node *op, const lps_tensor *a, const lps_tensor *b,
                         lps_tensor *y, lps_ew_row_fn row, const void *ctx, lps_error *err);

/* The gradient term of one input at one output element, from the output
 * gradient g, the output y and the operands a and b at that element. */
typedef float (*lps_ew_grad_term)(float g, float y, float a, float b);

/* din += the terms term(g, y, a, b) of every element of y's shape, summed
 * over the axes along which din's input broadcasts (din has that input's
 * shape). a, b, y, g and din are float. LPS_ERR_NOMEM / LPS_ERR_INVALID
 * are prefixed with the node. */
lps_status lps_ew_binary_grad(const lps_op_node *op, const lps_tensor *a, const lps_tensor *b,
                              const lps_tensor *y, const lps_tensor *g, lps_ew_grad_term term,
                              lps_tensor *din, lps_error *err);

/* Shape of a two-input element-wise op: both inputs present, of one
 * supported dtype (accepted by `allowed`, NULL = any supported), output of
 * out_dtype (LPS_DT_UNDEFINED = the inputs' dtype) with the numpy
 * broadcast shape. LPS_ERR_INVALID / LPS_ERR_UNSUPPORTED name the node. */
lps_status lps_ew_binary_shape(const lps_op_node *op, const lps_tensor *const *in,
                               bool (*allowed)(lps_dtype), lps_dtype out_dtype, lps_shape *out,
                               lps_error *err);

/* Fails (LPS_ERR_UNSUPPORTED) unless the node has no attributes at all; the
 * shared prepare of attribute-free element-wise ops. */
lps_status lps_ew_prepare_no_attrs(lps_op_node *op, lps_error *err);

#endif
