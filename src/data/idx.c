/* IDX reader (the MNIST file format): two zero bytes, an element-type byte,
 * a rank byte, rank big-endian uint32 dims, then the big-endian payload. */
#include <stdint.h>
#include <string.h>

#include "data/formats.h"

#define IDX_MAGIC_BYTES 4
#define IDX_DIM_BYTES 4

typedef struct idx_type {
    unsigned char code;
    lps_dtype dtype;
} idx_type;

static const idx_type IDX_TYPES[] = {
    {0x08, LPS_DT_UINT8}, {0x09, LPS_DT_INT8},  {0x0B, LPS_DT_INT16},
    {0x0C, LPS_DT_INT32}, {0x0D, LPS_DT_FLOAT}, {0x0E, LPS_DT_DOUBLE},
};

static lps_dtype idx_dtype(unsigned char code)
{
    for (size_t i = 0; i < sizeof IDX_TYPES / sizeof IDX_TYPES[0]; i++)
        if (IDX_TYPES[i].code == code)
            return IDX_TYPES[i].dtype;
    return LPS_DT_UNDEFINED;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

lps_status lps_idx_read(lps_source *src, size_t *remaining, lps_tensor *out, lps_error *err)
{
    unsigned char magic[IDX_MAGIC_BYTES];
    unsigned char dim_bytes[LPS_MAX_RANK * IDX_DIM_BYTES];
    int64_t dims[LPS_MAX_RANK];
    lps_tensor_release(out);
    lps_status st = lps_source_read_exact(src, magic, sizeof magic, "IDX magic", err);
    if (st != LPS_OK)
        goto cleanup;
    if (magic[0] != 0 || magic[1] != 0) {
        st = lps_fail(err, LPS_ERR_INVALID,
                      "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 TYPE RANK)",
                      src->name, magic[0], magic[1], magic[2], magic[3]);
        goto cleanup;
    }
    lps_dtype dtype = idx_dtype(magic[2]);
    if (dtype == LPS_DT_UNDEFINED) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: unknown IDX element type 0x%02x", src->name,
                      magic[2]);
        goto cleanup;
    }
    int rank = magic[3];
    if (rank < 1 || rank > LPS_MAX_RANK) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: IDX rank %d is outside 1..%d", src->name, rank,
                      LPS_MAX_RANK);
        goto cleanup;
    }
    st = lps_source_read_exact(src, dim_bytes, (size_t)rank * IDX_DIM_BYTES, "IDX header", err);
    if (st != LPS_OK)
        goto cleanup;
    for (int i = 0; i < rank; i++)
        dims[i] = be32(dim_bytes + (size_t)i * IDX_DIM_BYTES);
    st = lps_data_alloc(out, src->name, dtype, rank, dims, remaining, err);
    if (st != LPS_OK)
        goto cleanup;
    if (out->nbytes) {
        st = lps_source_read_exact(src, out->data, out->nbytes, "IDX payload", err);
        if (st != LPS_OK)
            goto cleanup;
    }
    st = lps_source_expect_end(src, err);
    if (st != LPS_OK)
        goto cleanup;
    lps_bytes_to_host(out->data, out->nbytes / lps_dtype_size(dtype), lps_dtype_size(dtype), true);
cleanup:
    if (st != LPS_OK)
        lps_tensor_release(out);
    return st;
}
