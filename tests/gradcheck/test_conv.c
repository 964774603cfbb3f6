/* Conv: forward against hand-computed values, backward against finite
 * differences for every attribute variant. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

/* Conv is linear in each input, so central differences are exact up to
 * float rounding of the summed loss. */
#define CONV_GRAD_ATOL 1e-3
#define CONV_GRAD_RTOL 1e-2
#define CONV_FWD_TOL 1e-4f
#define CONV_OPSET 11
#define CONV_OLD_OPSET 7
#define CHECK_X_W_B 0x7u
#define CHECK_W_ONLY 0x2u
#define CHECK_X_ONLY 0x1u
/* elements probed per input in the larger cases, to stay fast under ASan */
#define CONV_GRAD_SAMPLED_POINTS 150
#define WHY_LEN 512

/* Attributes of one gradient-check case; zero counts mean "absent". */
typedef struct conv_case {
    int rank;                 /* of X and W */
    int64_t x_dims[5];
    int64_t w_dims[5];
    bool bias;
    int64_t group;
    const char *auto_pad;
    int n_strides, n_pads, n_dilations;
    int64_t strides[3], pads[6], dilations[3];
    uint32_t mask;
    int max_points;           /* 0: every element */
} conv_case;

static lps_node *conv_node(const conv_case *c)
{
    lps_node *n = test_node_new("Conv", c->bias ? 3 : 2, 1);
    if (c->group > 1)
        test_node_attr_int(n, "group", c->group);
    if (c->auto_pad)
        test_node_attr_string(n, "auto_pad", c->auto_pad);
    if (c->n_strides)
        test_node_attr_ints(n, "strides", c->strides, c->n_strides);
    if (c->n_pads)
        test_node_attr_ints(n, "pads", c->pads, c->n_pads);
    if (c->n_dilations)
        test_node_attr_ints(n, "dilations", c->dilations, c->n_dilations);
    return n;
}

static void run_gradcheck(const conv_case *c)
{
    char why[WHY_LEN] = "";
    int64_t b_dims[1] = {c->w_dims[0]};
    lps_node *n = conv_node(c);
    lps_tensor *in[3] = {test_tensor_random(c->rank, c->x_dims, -1.0f, 1.0f, 1),
                         test_tensor_random(c->rank, c->w_dims, -1.0f, 1.0f, 2),
                         c->bias ? test_tensor_random(1, b_dims, -1.0f, 1.0f, 3) : NULL};
    gradcheck_tol tol = gradcheck_default_tol();
    tol.atol = CONV_GRAD_ATOL;
    tol.rtol = CONV_GRAD_RTOL;
    tol.max_points = c->max_points;
    bool ok = gradcheck_op(n, CONV_OPSET, in, c->bias ? 3 : 2, c->mask, tol, why, sizeof why);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
    test_node_free(n);
    ck_assert_msg(ok, "%s", why);
}

START_TEST(grad_2d_plain_with_bias)
{
    conv_case c = {.rank = 4, .x_dims = {2, 2, 5, 5}, .w_dims = {3, 2, 3, 3}, .bias = true,
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_stride_asymmetric_pads)
{
    conv_case c = {.rank = 4, .x_dims = {1, 2, 6, 5}, .w_dims = {2, 2, 3, 2}, .bias = true,
                   .n_strides = 2, .strides = {2, 2}, .n_pads = 4, .pads = {1, 0, 0, 1},
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_dilation_no_bias)
{
    conv_case c = {.rank = 4, .x_dims = {1, 2, 7, 6}, .w_dims = {2, 2, 2, 3},
                   .n_dilations = 2, .dilations = {2, 2}, .n_pads = 4, .pads = {1, 1, 1, 1},
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_group)
{
    conv_case c = {.rank = 4, .x_dims = {1, 4, 4, 4}, .w_dims = {6, 2, 2, 2}, .bias = true,
                   .group = 2, .n_pads = 4, .pads = {0, 1, 1, 0}, .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_depthwise_same_upper_stride)
{
    conv_case c = {.rank = 4, .x_dims = {2, 3, 5, 5}, .w_dims = {3, 1, 3, 3}, .bias = true,
                   .group = 3, .auto_pad = "SAME_UPPER", .n_strides = 2, .strides = {2, 2},
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

/* channel multiplier 2, dilation, and pads wide enough for all-padding windows */
START_TEST(grad_depthwise_multiplier_dilation_wide_pads)
{
    conv_case c = {.rank = 4, .x_dims = {2, 2, 5, 4}, .w_dims = {4, 1, 2, 3}, .bias = true,
                   .group = 2, .n_dilations = 2, .dilations = {2, 1}, .n_pads = 4,
                   .pads = {3, 1, 2, 3}, .n_strides = 2, .strides = {1, 2},
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
    c.mask = CHECK_W_ONLY;
    run_gradcheck(&c);
    c.mask = CHECK_X_ONLY;
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_depthwise_1d_and_3d)
{
    conv_case c1 = {.rank = 3, .x_dims = {1, 3, 7}, .w_dims = {3, 1, 3}, .group = 3,
                    .auto_pad = "SAME_LOWER", .n_strides = 1, .strides = {2},
                    .mask = CHECK_X_W_B};
    run_gradcheck(&c1);
    conv_case c3 = {.rank = 5, .x_dims = {1, 2, 3, 3, 4}, .w_dims = {2, 1, 2, 2, 2},
                    .bias = true, .group = 2, .n_pads = 6, .pads = {1, 0, 1, 0, 1, 1},
                    .mask = CHECK_X_W_B};
    run_gradcheck(&c3);
}
END_TEST

START_TEST(grad_2d_same_lower_even_kernel)
{
    conv_case c = {.rank = 4, .x_dims = {1, 2, 4, 5}, .w_dims = {2, 2, 2, 2},
                   .auto_pad = "SAME_LOWER", .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_valid)
{
    conv_case c = {.rank = 4, .x_dims = {1, 1, 5, 4}, .w_dims = {2, 1, 2, 3}, .bias = true,
                   .auto_pad = "VALID", .n_strides = 2, .strides = {2, 1},
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_pointwise)
{
    conv_case c = {.rank = 4, .x_dims = {2, 3, 3, 4}, .w_dims = {4, 3, 1, 1}, .bias = true,
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_pointwise_single_image)
{
    conv_case c = {.rank = 4, .x_dims = {1, 3, 3, 4}, .w_dims = {4, 3, 1, 1}, .bias = true,
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

/* a larger batch, sampled, with and without groups */
START_TEST(grad_2d_larger_batch)
{
    conv_case c = {.rank = 4, .x_dims = {4, 2, 20, 20}, .w_dims = {3, 2, 3, 3}, .bias = true,
                   .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B,
                   .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&c);
    c.bias = false;
    c.group = 2;
    c.w_dims[1] = 1;
    c.w_dims[0] = 4;
    run_gradcheck(&c);
}
END_TEST

/* batch 5 at a 32x32 output: GEMM blocks of 4 images and a partial one
 * (lps_conv_block_images), pointwise too */
START_TEST(grad_2d_image_blocks)
{
    conv_case c = {.rank = 4, .x_dims = {5, 2, 32, 32}, .w_dims = {3, 2, 3, 3}, .bias = true,
                   .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B,
                   .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&c);
    c.w_dims[2] = c.w_dims[3] = 1;
    c.n_pads = 0;
    run_gradcheck(&c);
}
END_TEST

/* unit strides with out_ch <= in_ch: backward from one im2col of dY
 * (conv_grad_flip.c): blocks of several images with a partial one,
 * one-image blocks, asymmetric pads, dilation, 1-D and 3-D, each gradient
 * alone */
START_TEST(grad_unit_stride_flip)
{
    conv_case c = {.rank = 4, .x_dims = {5, 4, 10, 10}, .w_dims = {3, 4, 3, 3}, .bias = true,
                   .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B,
                   .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&c);
    c.mask = CHECK_X_ONLY;
    run_gradcheck(&c);
    conv_case one = {.rank = 4, .x_dims = {2, 3, 17, 16}, .w_dims = {3, 3, 3, 3},
                     .n_pads = 4, .pads = {2, 0, 1, 2}, .mask = CHECK_X_W_B,
                     .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&one);
    conv_case dil = {.rank = 4, .x_dims = {2, 2, 7, 6}, .w_dims = {2, 2, 3, 2}, .bias = true,
                     .n_dilations = 2, .dilations = {2, 1}, .n_pads = 4, .pads = {4, 0, 1, 1},
                     .mask = CHECK_X_W_B};
    run_gradcheck(&dil);
    conv_case c1 = {.rank = 3, .x_dims = {3, 3, 9}, .w_dims = {2, 3, 4}, .bias = true,
                    .n_pads = 2, .pads = {3, 0}, .mask = CHECK_X_W_B};
    run_gradcheck(&c1);
    conv_case c3 = {.rank = 5, .x_dims = {2, 2, 4, 3, 3}, .w_dims = {2, 2, 3, 2, 3},
                    .n_pads = 6, .pads = {1, 0, 1, 1, 1, 1}, .mask = CHECK_X_W_B};
    run_gradcheck(&c3);
}
END_TEST

/* 32 channels or more: on an AVX-512 CPU the products run on the packed
 * kernel with an operand packed per call (src/ops/train_gemm.h): the flip
 * path's R and dX over several blocks per chunk (8 images of 100
 * positions, blocks of 3), the general path's forward, dW and dcol at
 * stride 2 (10 images of 36 positions) and with out_ch > in_ch (blocks of
 * 64-position images and a partial one) */
START_TEST(grad_packed_training_products)
{
    conv_case flip = {.rank = 4, .x_dims = {8, 32, 10, 10}, .w_dims = {32, 32, 3, 3},
                      .bias = true, .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B,
                      .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&flip);
    conv_case strided = {.rank = 4, .x_dims = {10, 32, 12, 12}, .w_dims = {32, 32, 3, 3},
                         .bias = true, .n_strides = 2, .strides = {2, 2}, .n_pads = 4,
                         .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B,
                         .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&strided);
    conv_case wide = {.rank = 4, .x_dims = {5, 32, 8, 8}, .w_dims = {48, 32, 3, 3},
                      .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B,
                      .max_points = CONV_GRAD_SAMPLED_POINTS};
    run_gradcheck(&wide);
}
END_TEST

/* planes so small that some kernel taps only ever read padding (ResNet's
 * last stages): the GEMMs run on the live taps alone
 * (lps_spatial_crop_dead_taps) and dW must still reach every tap, 0 for
 * the dead ones */
START_TEST(grad_2d_dead_taps)
{
    /* 3x3 pad 1 over 1x1: only the centre tap, a pointwise GEMM */
    conv_case c = {.rank = 4, .x_dims = {3, 4, 1, 1}, .w_dims = {3, 4, 3, 3}, .bias = true,
                   .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B};
    run_gradcheck(&c);
    /* stride 2 over 2x2: taps 1..2 of each dim */
    c.x_dims[2] = c.x_dims[3] = 2;
    c.n_strides = 2;
    c.strides[0] = c.strides[1] = 2;
    run_gradcheck(&c);
    /* groups, one dim cropped, the other not */
    conv_case g = {.rank = 4, .x_dims = {2, 4, 1, 5}, .w_dims = {4, 2, 3, 3}, .group = 2,
                   .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_X_W_B};
    run_gradcheck(&g);
    g.mask = CHECK_W_ONLY;
    run_gradcheck(&g);
}
END_TEST

/* the channels-last depthwise kernel: several images, dilation, pads wide
 * enough for all-padding windows, each gradient alone */
START_TEST(grad_2d_depthwise_channels_last)
{
    conv_case c = {.rank = 4, .x_dims = {3, 4, 5, 6}, .w_dims = {4, 1, 3, 2}, .group = 4,
                   .n_dilations = 2, .dilations = {2, 1}, .n_pads = 4, .pads = {3, 1, 2, 2},
                   .n_strides = 2, .strides = {1, 2}, .mask = CHECK_X_W_B};
    run_gradcheck(&c);
    c.mask = CHECK_W_ONLY;
    run_gradcheck(&c);
    c.mask = CHECK_X_ONLY;
    c.bias = true;
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_pointwise_stride)
{
    conv_case c = {.rank = 4, .x_dims = {1, 2, 5, 5}, .w_dims = {2, 2, 1, 1},
                   .n_strides = 2, .strides = {2, 2}, .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_2d_weight_only)
{
    conv_case c = {.rank = 4, .x_dims = {1, 2, 4, 4}, .w_dims = {2, 2, 3, 3}, .bias = true,
                   .n_pads = 4, .pads = {1, 1, 1, 1}, .mask = CHECK_W_ONLY};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_1d_bias_stride_dilation)
{
    conv_case c = {.rank = 3, .x_dims = {2, 2, 9}, .w_dims = {3, 2, 3}, .bias = true,
                   .n_strides = 1, .strides = {2}, .n_dilations = 1, .dilations = {2},
                   .n_pads = 2, .pads = {2, 1}, .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_1d_no_bias_group)
{
    conv_case c = {.rank = 3, .x_dims = {1, 4, 6}, .w_dims = {2, 2, 2}, .group = 2,
                   .auto_pad = "SAME_UPPER", .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_3d)
{
    conv_case c = {.rank = 5, .x_dims = {1, 2, 3, 4, 3}, .w_dims = {2, 2, 2, 2, 2}, .bias = true,
                   .n_pads = 6, .pads = {1, 0, 1, 0, 1, 0}, .n_strides = 3, .strides = {1, 2, 1},
                   .mask = CHECK_X_W_B};
    run_gradcheck(&c);
}
END_TEST

/* Runs Conv on X, W (and B when given) and compares with want. */
static void expect_conv(lps_node *n, int64_t opset, lps_tensor *x, lps_tensor *w, lps_tensor *b,
                        const float *want, int64_t numel)
{
    lps_tensor *in[3] = {x, w, b};
    lps_tensor out = {0};
    lps_error err;
    lps_status st = test_op_forward(n, opset, in, &out, 1, &err);
    ck_assert_msg(st == LPS_OK, "%s", err.msg);
    test_expect_floats(&out, want, numel, CONV_FWD_TOL);
    lps_tensor_release(&out);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
}

static lps_tensor *iota(int rank, const int64_t *dims, float first)
{
    lps_tensor *t = test_tensor_random(rank, dims, 0.0f, 1.0f, 1);
    float *v = lps_tensor_f32(t);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++)
        v[i] = first + (float)i;
    return t;
}

static lps_tensor *filled(int rank, const int64_t *dims, float value)
{
    lps_tensor *t = test_tensor_random(rank, dims, value, value, 1);
    return t;
}

/* The 5x5 example of the ONNX Conv docs: 0..24 convolved with a 3x3 of ones. */
START_TEST(fwd_2d_with_and_without_padding)
{
    int64_t xd[] = {1, 1, 5, 5}, wd[] = {1, 1, 3, 3}, pads[] = {1, 1, 1, 1};
    static const float no_pad[] = {54, 63, 72, 99, 108, 117, 144, 153, 162};
    static const float padded[] = {12, 21,  27,  33,  24,  33, 54,  63,  72,
                                   51, 63,  99,  108, 117, 81, 93,  144, 153,
                                   162, 111, 72, 111, 117, 123, 84};
    lps_node *n = test_node_new("Conv", 2, 1);
    int64_t ks[] = {3, 3};
    test_node_attr_ints(n, "kernel_shape", ks, 2);
    expect_conv(n, CONV_OLD_OPSET, iota(4, xd, 0), filled(4, wd, 1), NULL, no_pad, 9);
    test_node_attr_ints(n, "pads", pads, 4);
    expect_conv(n, CONV_OPSET, iota(4, xd, 0), filled(4, wd, 1), NULL, padded, 25);
    test_node_free(n);
}
END_TEST

/* Y of a 3x3 conv with pads 1, group 1, summed directly in double. */
static void direct_conv3x3(const lps_tensor *x, const lps_tensor *w, const lps_tensor *b,
                           float *y)
{
    int64_t n_img = x->dims[0], c_in = x->dims[1], h = x->dims[2], wd = x->dims[3];
    int64_t m_out = w->dims[0];
    const float *xv = lps_tensor_f32(x), *wv = lps_tensor_f32(w), *bv = lps_tensor_f32(b);
    for (int64_t n = 0; n < n_img; n++)
        for (int64_t m = 0; m < m_out; m++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < wd; j++) {
                    double sum = bv[m];
                    for (int64_t c = 0; c < c_in; c++)
                        for (int64_t ki = 0; ki < 3; ki++)
                            for (int64_t kj = 0; kj < 3; kj++) {
                                int64_t r = i + ki - 1, q = j + kj - 1;
                                if (r >= 0 && r < h && q >= 0 && q < wd)
                                    sum += (double)wv[((m * c_in + c) * 3 + ki) * 3 + kj] *
                                           xv[((n * c_in + c) * h + r) * wd + q];
                            }
                    y[((n * m_out + m) * h + i) * wd + j] = (float)sum;
                }
}

/* a W that is not a constant of the plan, 40 output channels over 288
 * rows: the forward packs W^T per call (src/ops/train_gemm.h) on an
 * AVX-512 CPU; against direct sums */
START_TEST(fwd_packed_per_call)
{
    int64_t xd[] = {6, 32, 9, 9}, wd[] = {40, 32, 3, 3}, bd[] = {40}, pads[] = {1, 1, 1, 1};
    lps_tensor *x = test_tensor_random(4, xd, -1.0f, 1.0f, 1);
    lps_tensor *w = test_tensor_random(4, wd, -1.0f, 1.0f, 2);
    lps_tensor *b = test_tensor_random(1, bd, -1.0f, 1.0f, 3);
    int64_t numel = xd[0] * wd[0] * xd[2] * xd[3];
    float *want = malloc((size_t)numel * sizeof *want);
    ck_assert_ptr_nonnull(want);
    direct_conv3x3(x, w, b, want);
    lps_node *n = test_node_new("Conv", 3, 1);
    test_node_attr_ints(n, "pads", pads, 4);
    expect_conv(n, CONV_OPSET, x, w, b, want, numel);
    test_node_free(n);
    free(want);
}
END_TEST

/* a 3x3 kernel with pads 1 over a 1x1 image sees the centre tap alone;
 * stride 2 over 2x2 sees the bottom-right 2x2 of the kernel */
START_TEST(fwd_2d_dead_taps)
{
    int64_t xd[] = {1, 1, 1, 1}, wd[] = {1, 1, 3, 3}, pads[] = {1, 1, 1, 1}, st[] = {2, 2};
    static const float centre[] = {4 * 3};
    lps_node *n = test_node_new("Conv", 2, 1);
    test_node_attr_ints(n, "pads", pads, 4);
    expect_conv(n, CONV_OPSET, iota(4, xd, 3), iota(4, wd, 0), NULL, centre, 1);
    int64_t xd2[] = {1, 1, 2, 2};
    static const float corner[] = {4 * 1 + 5 * 2 + 7 * 3 + 8 * 4};
    test_node_attr_ints(n, "strides", st, 2);
    expect_conv(n, CONV_OPSET, iota(4, xd2, 1), iota(4, wd, 0), NULL, corner, 1);
    test_node_free(n);
}
END_TEST

/* y[i] = x[i] + 10 x[i + 2] */
START_TEST(fwd_1d_dilation)
{
    int64_t xd[] = {1, 1, 5}, wd[] = {1, 1, 2}, dil[] = {2};
    static const float w[] = {1, 10};
    static const float want[] = {31, 42, 53};
    lps_node *n = test_node_new("Conv", 2, 1);
    test_node_attr_ints(n, "dilations", dil, 1);
    expect_conv(n, CONV_OPSET, iota(3, xd, 1), test_tensor_from(LPS_DT_FLOAT, 3, wd, w), NULL,
                want, 3);
    test_node_free(n);
}
END_TEST

/* channel 0 = [1 2 3] summed pairwise, channel 1 = [4 5 6] differenced, plus bias */
START_TEST(fwd_1d_depthwise_bias)
{
    int64_t xd[] = {1, 2, 3}, wd[] = {2, 1, 2}, bd[] = {2};
    static const float w[] = {1, 1, 1, -1};
    static const float b[] = {10, 20};
    static const float want[] = {13, 15, 19, 19};
    lps_node *n = test_node_new("Conv", 3, 1);
    test_node_attr_int(n, "group", 2);
    expect_conv(n, CONV_OPSET, iota(3, xd, 1), test_tensor_from(LPS_DT_FLOAT, 3, wd, w),
                test_tensor_from(LPS_DT_FLOAT, 1, bd, b), want, 4);
    test_node_free(n);
}
END_TEST

/* pads 3/3 with a 2-tap kernel: the outer windows see only padding and
 * give the bias; channel 1 (weights 0, 1) shifts [4 5 6] */
START_TEST(fwd_1d_depthwise_all_padding_windows)
{
    int64_t xd[] = {1, 2, 3}, wd[] = {2, 1, 2}, bd[] = {2}, pads[] = {3, 3};
    static const float w[] = {1, 1, 0, 1};
    static const float b[] = {10, 20};
    static const float want[] = {10, 10, 11, 13, 15, 13, 10, 10,
                                 20, 20, 24, 25, 26, 20, 20, 20};
    lps_node *n = test_node_new("Conv", 3, 1);
    test_node_attr_int(n, "group", 2);
    test_node_attr_ints(n, "pads", pads, 2);
    expect_conv(n, CONV_OPSET, iota(3, xd, 1), test_tensor_from(LPS_DT_FLOAT, 3, wd, w),
                test_tensor_from(LPS_DT_FLOAT, 1, bd, b), want, 16);
    test_node_free(n);
}
END_TEST

/* kernel [1 10] on [1 2 3 4]: the odd pad goes after (UPPER) or before (LOWER) */
START_TEST(fwd_1d_same_upper_lower)
{
    int64_t xd[] = {1, 1, 4}, wd[] = {1, 1, 2};
    static const float w[] = {1, 10};
    static const float upper[] = {21, 32, 43, 4};
    static const float lower[] = {10, 21, 32, 43};
    lps_node *n = test_node_new("Conv", 2, 1);
    test_node_attr_string(n, "auto_pad", "SAME_UPPER");
    expect_conv(n, CONV_OPSET, iota(3, xd, 1), test_tensor_from(LPS_DT_FLOAT, 3, wd, w), NULL,
                upper, 4);
    test_node_free(n);
    n = test_node_new("Conv", 2, 1);
    test_node_attr_string(n, "auto_pad", "SAME_LOWER");
    expect_conv(n, CONV_OPSET, iota(3, xd, 1), test_tensor_from(LPS_DT_FLOAT, 3, wd, w), NULL,
                lower, 4);
    test_node_free(n);
}
END_TEST

/* 2x2x2 ones over 1..8 sums everything; the pointwise case scales by 2 */
START_TEST(fwd_3d_and_pointwise)
{
    int64_t xd[] = {1, 1, 2, 2, 2}, wd[] = {1, 1, 2, 2, 2}, pd[] = {1, 1, 1, 1, 1};
    static const float sum[] = {36};
    static const float doubled[] = {2, 4, 6, 8, 10, 12, 14, 16};
    lps_node *n = test_node_new("Conv", 2, 1);
    expect_conv(n, CONV_OPSET, iota(5, xd, 1), filled(5, wd, 1), NULL, sum, 1);
    expect_conv(n, CONV_OPSET, iota(5, xd, 1), filled(5, pd, 2), NULL, doubled, 8);
    test_node_free(n);
}
END_TEST

/* Runs Conv expecting failure with status and a message naming the node. */
static void expect_conv_error(lps_node *n, const int64_t *xd, const int64_t *wd, int rank,
                              lps_status want)
{
    lps_tensor *in[2] = {filled(rank, xd, 1), filled(rank, wd, 1)};
    lps_tensor out = {0};
    lps_error err;
    lps_status st = test_op_forward(n, CONV_OPSET, in, &out, 1, &err);
    ck_assert_int_eq(st, want);
    ck_assert_msg(strstr(err.msg, "node 'test' (Conv)") != NULL, "%s", err.msg);
    lps_tensor_release(&out);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}

START_TEST(errors_name_the_node)
{
    int64_t xd[] = {1, 4, 5, 5}, wd[] = {2, 3, 3, 3}, w_ok[] = {2, 4, 3, 3};
    int64_t ks[] = {2, 2}, strides[] = {1, 1, 1};
    lps_node *n = test_node_new("Conv", 2, 1);
    expect_conv_error(n, xd, wd, 4, LPS_ERR_INVALID); /* channels disagree */
    test_node_free(n);
    n = test_node_new("Conv", 2, 1);
    test_node_attr_ints(n, "kernel_shape", ks, 2);
    expect_conv_error(n, xd, w_ok, 4, LPS_ERR_INVALID); /* kernel_shape vs W */
    test_node_free(n);
    n = test_node_new("Conv", 2, 1);
    test_node_attr_ints(n, "strides", strides, 3);
    expect_conv_error(n, xd, w_ok, 4, LPS_ERR_INVALID); /* wrong count */
    test_node_free(n);
    n = test_node_new("Conv", 2, 1);
    test_node_attr_int(n, "unknown_thing", 1);
    expect_conv_error(n, xd, w_ok, 4, LPS_ERR_UNSUPPORTED);
    test_node_free(n);
    n = test_node_new("Conv", 2, 1);
    test_node_attr_string(n, "auto_pad", "SAME");
    expect_conv_error(n, xd, w_ok, 4, LPS_ERR_INVALID);
    test_node_free(n);
    /* hostile sizes are refused before any arithmetic can overflow */
    int64_t huge_dilations[] = {INT64_MAX / 2, 1};
    n = test_node_new("Conv", 2, 1);
    test_node_attr_ints(n, "dilations", huge_dilations, 2);
    expect_conv_error(n, xd, w_ok, 4, LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("Conv", 2, 1);
    test_node_attr_int(n, "group", INT64_MAX);
    expect_conv_error(n, xd, w_ok, 4, LPS_ERR_INVALID);
    test_node_free(n);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradcheck", grad_2d_plain_with_bias, 1},
        {"gradcheck", grad_2d_stride_asymmetric_pads, 1},
        {"gradcheck", grad_2d_dilation_no_bias, 1},
        {"gradcheck", grad_2d_group, 1},
        {"gradcheck", grad_2d_depthwise_same_upper_stride, 1},
        {"gradcheck", grad_depthwise_multiplier_dilation_wide_pads, 1},
        {"gradcheck", grad_depthwise_1d_and_3d, 1},
        {"gradcheck", grad_2d_same_lower_even_kernel, 1},
        {"gradcheck", grad_2d_valid, 1},
        {"gradcheck", grad_2d_pointwise, 1},
        {"gradcheck", grad_2d_pointwise_single_image, 1},
        {"gradcheck", grad_2d_larger_batch, 1},
        {"gradcheck", grad_2d_pointwise_stride, 1},
        {"gradcheck", grad_2d_image_blocks, 1},
        {"gradcheck", grad_unit_stride_flip, 1},
        {"gradcheck", grad_packed_training_products, 1},
        {"gradcheck", grad_2d_depthwise_channels_last, 1},
        {"gradcheck", grad_2d_dead_taps, 1},
        {"gradcheck", grad_2d_weight_only, 1},
        {"gradcheck", grad_1d_bias_stride_dilation, 1},
        {"gradcheck", grad_1d_no_bias_group, 1},
        {"gradcheck", grad_3d, 1},
        {"forward", fwd_2d_with_and_without_padding, 1},
        {"forward", fwd_1d_dilation, 1},
        {"forward", fwd_2d_dead_taps, 1},
        {"forward", fwd_packed_per_call, 1},
        {"forward", fwd_1d_depthwise_bias, 1},
        {"forward", fwd_1d_same_upper_lower, 1},
        {"forward", fwd_1d_depthwise_all_padding_windows, 1},
        {"forward", fwd_3d_and_pointwise, 1},
        {"forward", errors_name_the_node, 1},
    };
    return test_run_table("conv", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
