/* Dense tensors: the one in-memory array type every layer above the ONNX
 * edge works with. Element types use ONNX's TensorProto.DataType numbering
 * so that conversion at the edge is the identity. */
#ifndef LPSPARSIFY_TENSOR_H
#define LPSPARSIFY_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lps_dtype {
    LPS_DT_UNDEFINED = 0,
    LPS_DT_FLOAT = 1,
    LPS_DT_UINT8 = 2,
    LPS_DT_INT8 = 3,
    LPS_DT_UINT16 = 4,
    LPS_DT_INT16 = 5,
    LPS_DT_INT32 = 6,
    LPS_DT_INT64 = 7,
    LPS_DT_STRING = 8,
    LPS_DT_BOOL = 9,
    LPS_DT_FLOAT16 = 10,
    LPS_DT_DOUBLE = 11,
    LPS_DT_UINT32 = 12,
    LPS_DT_UINT64 = 13,
    LPS_DT_COMPLEX64 = 14,
    LPS_DT_COMPLEX128 = 15,
    LPS_DT_BFLOAT16 = 16
} lps_dtype;

/* Highest rank any tensor may have; ONNX models in practice stay below 8. */
#define LPS_MAX_RANK 8

/* Largest element count accepted for one tensor (2^40). Larger dims are
 * treated as malformed input rather than attempted. */
#define LPS_MAX_NUMEL ((int64_t)1 << 40)

typedef struct lps_tensor {
    lps_dtype dtype;
    int rank;
    int64_t dims[LPS_MAX_RANK];
    void *data;      /* numel * elem_size bytes; NULL when numel == 0 */
    size_t nbytes;   /* bytes addressed through data */
    bool owns_data;  /* free(data) when the tensor is freed or reshaped */
} lps_tensor;

/* Size in bytes of one element, 0 for dtypes without a fixed size (string). */
size_t lps_dtype_size(lps_dtype dtype);

/* ONNX spelling of a dtype ("float", "int64", ...); "unknown" for others. */
const char *lps_dtype_name(lps_dtype dtype);

/* Product of dims with overflow checking. Returns -1 when a dim is negative
 * or the product exceeds LPS_MAX_NUMEL. rank 0 gives 1. */
int64_t lps_numel_of(int rank, const int64_t *dims);

/* Element count of t (dims are validated when a tensor is created). */
int64_t lps_tensor_numel(const lps_tensor *t);

/* Sets dtype and shape and allocates zeroed storage for it, reusing the
 * existing buffer when it is owned and large enough. Fails with
 * LPS_ERR_INVALID on bad dims/rank and LPS_ERR_NOMEM on allocation failure;
 * on failure t is left unchanged. */
lps_status lps_tensor_alloc(lps_tensor *t, lps_dtype dtype, int rank,
                            const int64_t *dims, lps_error *err);

/* As lps_tensor_alloc, but the contents are left as they are (the old
 * buffer's bytes, or uninitialised): for a caller that writes every element
 * itself, which a zeroing pass would only slow down. */
lps_status lps_tensor_alloc_uninit(lps_tensor *t, lps_dtype dtype, int rank,
                                   const int64_t *dims, lps_error *err);

/* Makes dst a deep copy of src (dst's old storage is released).
 * Returns LPS_ERR_NOMEM on failure, dst unchanged. */
lps_status lps_tensor_copy(lps_tensor *dst, const lps_tensor *src, lps_error *err);

/* Releases owned storage and zeroes the struct. t may be NULL. */
void lps_tensor_release(lps_tensor *t);

/* Heap helpers: lps_tensor_new returns a zeroed heap tensor or NULL;
 * lps_tensor_free releases storage and the struct; NULL is accepted. */
lps_tensor *lps_tensor_new(void);
void lps_tensor_free(lps_tensor *t);

/* Writes "[2, 3, 4]" into buf (always NUL-terminated). Returns buf. */
char *lps_shape_str(int rank, const int64_t *dims, char *buf, size_t buflen);

/* Typed accessors; callers check dtype first. */
static inline float *lps_tensor_f32(const lps_tensor *t) { return (float *)t->data; }
static inline int64_t *lps_tensor_i64(const lps_tensor *t) { return (int64_t *)t->data; }

#ifdef __cplusplus
}
#endif
#endif
