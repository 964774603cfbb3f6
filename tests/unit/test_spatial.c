/* Window geometry shared by Conv and pooling: output sizes and pads for
 * every padding mode, ceil_mode's end rule, and window clipping. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/im2col.h"
#include "ops/spatial.h"
#include "test_suite.h"

/* A bare op node: lps_spatial_resolve only needs its label for messages. */
static lps_op_node labelled_op(void)
{
    lps_op_node op;
    memset(&op, 0, sizeof op);
    snprintf(op.label, sizeof op.label, "node 'geom' (Test)");
    return op;
}

/* One spatial dim of size in with kernel k, stride s, dilation d. */
static lps_spatial_attrs one_dim(int64_t k, int64_t s, int64_t d, lps_auto_pad mode)
{
    lps_spatial_attrs a;
    memset(&a, 0, sizeof a);
    a.auto_pad = mode;
    a.n_kernel = a.n_strides = a.n_dilations = 1;
    a.n_pads = -1;
    a.kernel[0] = k;
    a.strides[0] = s;
    a.dilations[0] = d;
    return a;
}

static lps_spatial_geom resolve_ok(const lps_spatial_attrs *a, int64_t in)
{
    lps_op_node op = labelled_op();
    lps_spatial_geom g;
    lps_error err;
    ck_assert_msg(lps_spatial_resolve(&op, a, 1, &in, NULL, true, &g, &err) == LPS_OK, "%s",
                  err.msg);
    return g;
}

START_TEST(same_modes_split_the_odd_pad)
{
    /* in 5, k 4, s 2: out 3, total pad (3-1)*2 + 4 - 5 = 3 */
    lps_spatial_attrs a = one_dim(4, 2, 1, LPS_AUTO_PAD_SAME_UPPER);
    lps_spatial_geom g = resolve_ok(&a, 5);
    ck_assert_int_eq(g.out[0], 3);
    ck_assert_int_eq(g.pad_begin[0], 1);
    ck_assert_int_eq(g.pad_end[0], 2);
    a.auto_pad = LPS_AUTO_PAD_SAME_LOWER;
    g = resolve_ok(&a, 5);
    ck_assert_int_eq(g.out[0], 3);
    ck_assert_int_eq(g.pad_begin[0], 2);
    ck_assert_int_eq(g.pad_end[0], 1);
    /* dilation widens the extent to 7: total pad (3-1)*2 + 7 - 5 = 6 */
    a = one_dim(4, 2, 2, LPS_AUTO_PAD_SAME_UPPER);
    g = resolve_ok(&a, 5);
    ck_assert_int_eq(g.pad_begin[0], 3);
    ck_assert_int_eq(g.pad_end[0], 3);
}
END_TEST

START_TEST(valid_and_explicit_pads)
{
    lps_spatial_attrs a = one_dim(3, 2, 1, LPS_AUTO_PAD_VALID);
    lps_spatial_geom g = resolve_ok(&a, 8);
    ck_assert_int_eq(g.out[0], 3);
    ck_assert_int_eq(g.pad_begin[0] + g.pad_end[0], 0);
    a = one_dim(3, 2, 1, LPS_AUTO_PAD_NOTSET);
    a.n_pads = 2;
    a.pads[0] = 1;
    a.pads[1] = 2;
    g = resolve_ok(&a, 8);
    ck_assert_int_eq(g.out[0], 5); /* floor((8 + 3 - 3) / 2) + 1 */
    ck_assert_int_eq(g.in_stride[0], 1);
}
END_TEST

START_TEST(ceil_mode_drops_windows_starting_in_end_pad)
{
    /* in 4, k 2, s 2, pads 0/1: floor gives 2, ceil 3, but window 2
     * would start at 4, inside the end pad */
    lps_spatial_attrs a = one_dim(2, 2, 1, LPS_AUTO_PAD_NOTSET);
    a.n_pads = 2;
    a.pads[1] = 1;
    a.ceil_mode = true;
    ck_assert_int_eq(resolve_ok(&a, 4).out[0], 2);
    /* in 5: window 2 starts at 4, inside the input, so ceil keeps it */
    ck_assert_int_eq(resolve_ok(&a, 5).out[0], 3);
    a.ceil_mode = false;
    ck_assert_int_eq(resolve_ok(&a, 5).out[0], 3);
    ck_assert_int_eq(resolve_ok(&a, 4).out[0], 2);
}
END_TEST

/* One dim with kernel k, stride s, dilation d and explicit pads. */
static lps_spatial_geom padded_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb,
                                   int64_t pe)
{
    lps_spatial_attrs a = one_dim(k, s, d, LPS_AUTO_PAD_NOTSET);
    a.n_pads = 2;
    a.pads[0] = pb;
    a.pads[1] = pe;
    return resolve_ok(&a, in);
}

START_TEST(crop_keeps_the_hull_of_live_taps)
{
    lps_spatial_geom live;
    int64_t first[LPS_SPATIAL_MAX];
    /* 3 taps, pads 1/1 over one element: only the centre tap reads input,
     * and the crop is a pointwise geometry */
    lps_spatial_geom g = padded_dim(1, 3, 1, 1, 1, 1);
    ck_assert(lps_spatial_crop_dead_taps(&g, &live, first));
    ck_assert_int_eq(first[0], 1);
    ck_assert_int_eq(live.kernel[0], 1);
    ck_assert_int_eq(live.kernel_size, 1);
    ck_assert_int_eq(live.out[0], g.out[0]);
    ck_assert(lps_spatial_is_pointwise(&live));
    /* in 2, stride 2, pads 1/1: one output at -1..1, taps 1 and 2 live */
    g = padded_dim(2, 3, 2, 1, 1, 1);
    ck_assert(lps_spatial_crop_dead_taps(&g, &live, first));
    ck_assert_int_eq(first[0], 1);
    ck_assert_int_eq(live.kernel[0], 2);
    ck_assert_int_eq(live.pad_begin[0], 0);
    ck_assert_int_eq(live.pad_end[0], 1);
    /* in 1, stride 4, pads 4/4, 5 taps: outputs 0 and 1 start at -4 and 0,
     * so taps 0 and 4 are live and the dead taps between them stay */
    g = padded_dim(1, 5, 4, 1, 4, 4);
    ck_assert_int_eq(g.out[0], 2);
    ck_assert(!lps_spatial_crop_dead_taps(&g, &live, first));
    ck_assert_int_eq(live.kernel[0], 5);
    /* dilation 2, pad 1: tap 0 reads -1, taps 1 and 2 read 1 and 3 */
    g = padded_dim(4, 3, 1, 2, 1, 1);
    ck_assert(!lps_spatial_crop_dead_taps(&g, &live, first));
    g = padded_dim(2, 3, 3, 2, 1, 2);
    ck_assert_int_eq(g.out[0], 1); /* taps read -1, 1, 3: only tap 1 is live */
    ck_assert(lps_spatial_crop_dead_taps(&g, &live, first));
    ck_assert_int_eq(first[0], 1);
    ck_assert_int_eq(live.kernel[0], 1);
    ck_assert_int_eq(live.pad_begin[0], -1);
    /* every tap live: nothing cropped */
    g = padded_dim(5, 3, 1, 1, 1, 1);
    ck_assert(!lps_spatial_crop_dead_taps(&g, &live, first));
    ck_assert_int_eq(first[0], 0);
    ck_assert_int_eq(live.kernel_size, 3);
}
END_TEST

START_TEST(errors_name_the_node)
{
    lps_op_node op = labelled_op();
    lps_spatial_geom g;
    lps_error err;
    int64_t in = 2;
    lps_spatial_attrs big = one_dim(5, 1, 1, LPS_AUTO_PAD_NOTSET);
    ck_assert_int_eq(lps_spatial_resolve(&op, &big, 1, &in, NULL, true, &g, &err),
                     LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "node 'geom' (Test)") != NULL, "%s", err.msg);
    /* a begin pad as wide as the kernel leaves window 0 with padding only:
     * fine for Conv, an error for pooling */
    lps_spatial_attrs padded = one_dim(2, 1, 1, LPS_AUTO_PAD_NOTSET);
    padded.n_pads = 2;
    padded.pads[0] = 2;
    in = 4;
    ck_assert_int_eq(lps_spatial_resolve(&op, &padded, 1, &in, NULL, false, &g, &err), LPS_OK);
    ck_assert_int_eq(lps_spatial_resolve(&op, &padded, 1, &in, NULL, true, &g, &err),
                     LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "padding") != NULL, "%s", err.msg);
    lps_spatial_attrs two = one_dim(2, 1, 1, LPS_AUTO_PAD_NOTSET);
    two.n_strides = 2;
    ck_assert_int_eq(lps_spatial_resolve(&op, &two, 1, &in, NULL, true, &g, &err),
                     LPS_ERR_INVALID);
}
END_TEST

/* A 3x3 window at the top-left corner of a 4x4 plane with pads 1: only
 * its lower-right 2x2 lies in the input; with count_include_pad it counts 9. */
START_TEST(window_clips_to_the_input)
{
    lps_op_node op = labelled_op();
    lps_spatial_attrs a;
    memset(&a, 0, sizeof a);
    a.n_kernel = 2;
    a.kernel[0] = a.kernel[1] = 3;
    a.n_strides = a.n_dilations = -1;
    a.n_pads = 4;
    for (int i = 0; i < 4; i++)
        a.pads[i] = 1;
    int64_t in[2] = {4, 4}, pos[2] = {0, 0};
    lps_spatial_geom g;
    lps_error err;
    ck_assert_int_eq(lps_spatial_resolve(&op, &a, 2, in, NULL, true, &g, &err), LPS_OK);
    lps_window w;
    ck_assert(lps_window_begin(&g, pos, &w));
    ck_assert_int_eq(w.valid_count, 4);
    ck_assert_int_eq(w.padded_count, 9);
    ck_assert_int_eq(w.line_offset, 0);
    ck_assert_int_eq(w.line_len, 2);
    ck_assert(lps_window_next_line(&g, &w));
    ck_assert_int_eq(w.line_offset, 4);
    ck_assert(!lps_window_next_line(&g, &w));
}
END_TEST

/* A 2-D geometry: kernel k x k, stride s, pads p on every side. */
static lps_spatial_geom square_geom(int64_t h, int64_t w, int64_t k, int64_t s, int64_t p)
{
    lps_op_node op = labelled_op();
    lps_spatial_attrs a;
    memset(&a, 0, sizeof a);
    a.n_kernel = a.n_strides = 2;
    a.kernel[0] = a.kernel[1] = k;
    a.strides[0] = a.strides[1] = s;
    a.n_dilations = -1;
    a.n_pads = 4;
    for (int i = 0; i < 4; i++)
        a.pads[i] = p;
    int64_t in[2] = {h, w};
    lps_spatial_geom g;
    lps_error err;
    ck_assert_msg(lps_spatial_resolve(&op, &a, 2, in, NULL, false, &g, &err) == LPS_OK, "%s",
                  err.msg);
    return g;
}

#define IM2COL_IMAGES 3
#define IM2COL_CHANNELS 3
/* Floats past each block row's images that im2col must leave alone. */
#define IM2COL_SLACK 5
#define IM2COL_UNTOUCHED -7.0f

/* lps_im2col_images of a block (a table of offsets, or on AVX-512
 * permutes of planes of up to 64 floats held in registers, including
 * exactly 64, whose padding entry is out of the registers' range) writes
 * the same floats as lps_im2col_ld of each image (the sweep along lines,
 * on AVX-512 stride-2 lines of up to 35 outputs as vectors with a tail),
 * and nothing past the block's columns. */
START_TEST(im2col_of_a_block_matches_the_sweep)
{
    static const int64_t planes[][5] = {/* h, w, kernel, stride, pads */
                                        {1, 1, 3, 1, 1}, {4, 4, 3, 1, 1}, {5, 7, 3, 1, 1},
                                        {8, 8, 3, 1, 1}, {8, 8, 3, 2, 1}, {6, 11, 2, 1, 0},
                                        {9, 9, 3, 2, 0}, {12, 12, 3, 1, 1},
                                        {3, 70, 3, 2, 1}, {2, 67, 2, 2, 0}};
    for (size_t c = 0; c < sizeof planes / sizeof planes[0]; c++) {
        const int64_t *d = planes[c];
        lps_spatial_geom g = square_geom(d[0], d[1], d[2], d[3], d[4]);
        int64_t rows = IM2COL_CHANNELS * g.kernel_size;
        int64_t ld = IM2COL_IMAGES * g.out_size + IM2COL_SLACK;
        int64_t n_x = IM2COL_IMAGES * IM2COL_CHANNELS * g.in_size;
        float *x = malloc((size_t)n_x * sizeof *x);
        float *block = malloc((size_t)(rows * ld) * sizeof *block);
        float *swept = malloc((size_t)(rows * ld) * sizeof *swept);
        ck_assert(x && block && swept);
        for (int64_t i = 0; i < n_x; i++)
            x[i] = (float)(i + 1);
        for (int64_t i = 0; i < rows * ld; i++)
            block[i] = swept[i] = IM2COL_UNTOUCHED;
        lps_im2col_images(x, IM2COL_IMAGES, IM2COL_CHANNELS, &g, block, ld);
        for (int64_t n = 0; n < IM2COL_IMAGES; n++)
            lps_im2col_ld(x + n * IM2COL_CHANNELS * g.in_size, IM2COL_CHANNELS, &g,
                          swept + n * g.out_size, ld);
        for (int64_t i = 0; i < rows * ld; i++)
            ck_assert_msg(memcmp(&block[i], &swept[i], sizeof *block) == 0,
                          "%lldx%lld plane, row %lld column %lld: %g, expected %g",
                          (long long)d[0], (long long)d[1], (long long)(i / ld),
                          (long long)(i % ld), block[i], swept[i]);
        free(x);
        free(block);
        free(swept);
    }
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"geometry", same_modes_split_the_odd_pad, 1},
        {"geometry", valid_and_explicit_pads, 1},
        {"geometry", ceil_mode_drops_windows_starting_in_end_pad, 1},
        {"geometry", crop_keeps_the_hull_of_live_taps, 1},
        {"geometry", errors_name_the_node, 1},
        {"geometry", window_clips_to_the_input, 1},
        {"geometry", im2col_of_a_block_matches_the_sweep, 1},
    };
    return test_run_table("spatial", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
