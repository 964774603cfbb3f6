#include "lpsparsify/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t lps_dtype_size(lps_dtype dtype)
{
    switch (dtype) {
    case LPS_DT_FLOAT: case LPS_DT_INT32: case LPS_DT_UINT32: return 4;
    case LPS_DT_UINT8: case LPS_DT_INT8: case LPS_DT_BOOL: return 1;
    case LPS_DT_UINT16: case LPS_DT_INT16: case LPS_DT_FLOAT16: case LPS_DT_BFLOAT16: return 2;
    case LPS_DT_INT64: case LPS_DT_DOUBLE: case LPS_DT_UINT64: case LPS_DT_COMPLEX64: return 8;
    case LPS_DT_COMPLEX128: return 16;
    case LPS_DT_STRING: case LPS_DT_UNDEFINED: return 0;
    }
    return 0;
}

const char *lps_dtype_name(lps_dtype dtype)
{
    switch (dtype) {
    case LPS_DT_FLOAT: return "float";
    case LPS_DT_UINT8: return "uint8";
    case LPS_DT_INT8: return "int8";
    case LPS_DT_UINT16: return "uint16";
    case LPS_DT_INT16: return "int16";
    case LPS_DT_INT32: return "int32";
    case LPS_DT_INT64: return "int64";
    case LPS_DT_STRING: return "string";
    case LPS_DT_BOOL: return "bool";
    case LPS_DT_FLOAT16: return "float16";
    case LPS_DT_DOUBLE: return "double";
    case LPS_DT_UINT32: return "uint32";
    case LPS_DT_UINT64: return "uint64";
    case LPS_DT_COMPLEX64: return "complex64";
    case LPS_DT_COMPLEX128: return "complex128";
    case LPS_DT_BFLOAT16: return "bfloat16";
    case LPS_DT_UNDEFINED: break;
    }
    return "unknown";
}

int64_t lps_numel_of(int rank, const int64_t *dims)
{
    if (rank < 0 || rank > LPS_MAX_RANK)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > LPS_MAX_NUMEL)
            return -1;
        if (dims[i] != 0 && n > LPS_MAX_NUMEL / dims[i])
            return -1;
        n *= dims[i];
    }
    return n;
}

int64_t lps_tensor_numel(const lps_tensor *t)
{
    return lps_numel_of(t->rank, t->dims);
}

/* lps_tensor_alloc, the storage zeroed only when `zero` (contracts in
 * tensor.h). */
static lps_status tensor_storage(lps_tensor *t, lps_dtype dtype, int rank, const int64_t *dims,
                                 bool zero, lps_error *err)
{
    char shape[128];
    if (rank < 0 || rank > LPS_MAX_RANK)
        return lps_fail(err, LPS_ERR_INVALID, "rank %d is outside 0..%d", rank, LPS_MAX_RANK);
    int64_t n = lps_numel_of(rank, dims);
    if (n < 0)
        return lps_fail(err, LPS_ERR_INVALID, "shape %s is negative or has more than 2^40 elements",
                        lps_shape_str(rank, dims, shape, sizeof shape));
    size_t esize = lps_dtype_size(dtype);
    if (esize == 0)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "element type %s has no fixed size",
                        lps_dtype_name(dtype));
    size_t need = (size_t)n * esize;
    void *data = t->data;
    if (need == 0) {
        if (t->owns_data)
            free(t->data);
        data = NULL;
    } else if (!t->owns_data || t->nbytes < need) {
        data = zero ? calloc(1, need) : malloc(need);
        if (!data)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory allocating %zu bytes for shape %s",
                            need, lps_shape_str(rank, dims, shape, sizeof shape));
        if (t->owns_data)
            free(t->data);
    } else if (zero) {
        memset(data, 0, need);
    }
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < LPS_MAX_RANK; i++)
        t->dims[i] = i < rank ? dims[i] : 0;
    t->data = data;
    t->nbytes = need;
    t->owns_data = data != NULL;
    return LPS_OK;
}

lps_status lps_tensor_alloc(lps_tensor *t, lps_dtype dtype, int rank, const int64_t *dims,
                            lps_error *err)
{
    return tensor_storage(t, dtype, rank, dims, true, err);
}

lps_status lps_tensor_alloc_uninit(lps_tensor *t, lps_dtype dtype, int rank,
                                   const int64_t *dims, lps_error *err)
{
    return tensor_storage(t, dtype, rank, dims, false, err);
}

lps_status lps_tensor_copy(lps_tensor *dst, const lps_tensor *src, lps_error *err)
{
    if (dst == src)
        return LPS_OK;
    void *data = NULL;
    if (src->nbytes) {
        data = malloc(src->nbytes);
        if (!data)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory copying a tensor of %zu bytes",
                            src->nbytes);
        memcpy(data, src->data, src->nbytes);
    }
    lps_tensor_release(dst);
    *dst = *src;
    dst->data = data;
    dst->owns_data = data != NULL;
    return LPS_OK;
}

void lps_tensor_release(lps_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data)
        free(t->data);
    memset(t, 0, sizeof *t);
}

lps_tensor *lps_tensor_new(void)
{
    return calloc(1, sizeof(lps_tensor));
}

void lps_tensor_free(lps_tensor *t)
{
    lps_tensor_release(t);
    free(t);
}

char *lps_shape_str(int rank, const int64_t *dims, char *buf, size_t buflen)
{
    size_t used = 0;
    if (buflen == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, buflen - used, "[");
    for (int i = 0; i < rank && used < buflen; i++)
        used += (size_t)snprintf(buf + used, buflen - used, "%s%lld", i ? ", " : "",
                                 (long long)dims[i]);
    if (used < buflen)
        snprintf(buf + used, buflen - used, "]");
    return buf;
}
