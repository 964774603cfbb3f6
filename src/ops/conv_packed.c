/* Conv's forward against packed weights (docs/architecture.md, "Packed
 * weights"): in an inference plan a group-1 convolution's constant W (its
 * live taps when cropped) is packed once as W^T [rows, out_ch] into the
 * node's cache, and each block's product reads the im2col matrix (or a
 * channels-last X) where it lies, writing Y in its own layout with the
 * bias added and the fused activation applied before each store: no
 * per-call packing, no scatter pass and no activation pass. */
#include <limits.h>

#include "ops/conv.h"
#include "ops/conv_shape.h"
#include "ops/op_util.h"

/* Tells the packed weights' cache key from the live taps' (conv.c keys
 * those by the crop alone). */
#define CONV_PACKED_KEY_TAG (-1)

/* Fewest im2col rows (the sum's length) for an NCHW output: its tile
 * stores are scatters, about 32 / rows of the tile's time (1x1 convs of
 * 64 and 128 rows ran at 0.85x OpenBLAS's rate, 3x3 convs of 144 and 147
 * rows at 1.05-1.1x, of 576 at 1.1x). */
#define CONV_PACKED_SCATTER_MIN_ROWS 144

_Static_assert(1 + 2 * LPS_SPATIAL_MAX <= LPS_OP_CACHE_KEY_MAX,
               "a packed key fits an op cache key");

/* Contract in conv.h. */
lps_status lps_conv_packed_weights(lps_op_node *op, const lps_conv_dims *cd, int64_t group,
                                   bool rows_out, const float *w, const float **packed,
                                   lps_error *err)
{
    *packed = NULL;
    size_t floats = lps_packed_b_floats(cd->rows, cd->out_ch);
    if (group != 1 || !lps_op_input_const(op, LPS_CONV_IN_W) ||
        (floats * sizeof(float) > LPS_PACKED_FAST_BYTES &&
         !lps_packed_gemm_large_fast(!rows_out)) ||
        (!rows_out && cd->rows < CONV_PACKED_SCATTER_MIN_ROWS) ||
        cd->batch * cd->g.out_size < lps_packed_min_rows() ||
        cd->g.out_size > INT_MAX / LPS_PACKED_NR || !lps_packed_forward_available())
        return LPS_OK;
    int64_t key[LPS_OP_CACHE_KEY_MAX];
    key[0] = CONV_PACKED_KEY_TAG;
    size_t n_key = lps_conv_crop_key(cd, key, 1);
    if ((*packed = lps_op_cache_find(op, key, n_key)))
        return LPS_OK;
    size_t live = cd->cropped ? (size_t)cd->out_ch * (size_t)cd->rows : 0;
    /* the live taps, when cropped, go past the packed floats first */
    float *made = lps_op_cache_make(op, key, n_key, floats + live, err);
    if (!made)
        return err ? err->status : LPS_ERR_NOMEM;
    const float *taps = w;
    if (cd->cropped) {
        lps_conv_live_taps(&cd->g, &cd->live, cd->live_first, cd->out_ch * cd->in_per_group,
                           (float *)w, made + floats, true);
        taps = made + floats;
    }
    lps_packed_b_pack(taps, cd->rows, true, cd->rows, cd->out_ch, 1.0f, made);
    *packed = made;
    return LPS_OK;
}

/* Contract in conv.h. */
void lps_conv_packed_forward(const lps_op_node *op, const lps_conv_dims *cd, const float *packed,
                             lps_packed_a a, int64_t n0, int64_t count, const float *b, float *y,
                             bool y_last)
{
    int64_t o = cd->g.out_size, m = cd->out_ch;
    float *dst = y + n0 * o * m;
    lps_packed_out out =
        y_last ? (lps_packed_out){dst, count * o, 0, m, 1} : (lps_packed_out){dst, o, m * o, 1, o};
    lps_packed_gemm_clamped(count * o, m, cd->rows, a, packed, b, out, lps_op_epilogue_clamp(op));
    lps_op_epilogue_rest(op, dst, count * o * m);
}
