/* The channels-last 2-D depthwise kernel (src/ops/conv_depthwise.c) against
 * a direct convolution summed in double, in both directions, and the
 * forward bit for bit against the float chain every output is (the bias,
 * then a multiply and an add per live tap in kernel order, whether the
 * kernel sums the position alone or in a run of several): strides 1 and
 * 2, asymmetric pads (wide enough for windows of padding only), dilations,
 * odd plane sizes, channel counts that are not a multiple of the kernel's
 * register block, one image and several. Each result must also be the same
 * bytes at 1, 2 and 3 OpenMP threads (the kernel splits images and channel
 * slices over them when the work is large enough, two of the cases). dX
 * and dW must accumulate onto what they held. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv.h"
#include "test_suite.h"

/* Relative to 1 + |expected|: dW sums thousands of float products, a
 * wrong or missing term is off by about one product (0.01 to 1). */
#define TOLERANCE 1e-4
#define MAX_THREADS 3
/* What dX and dW hold before a backward: the kernel must add onto it. */
#define PRIOR_GRAD 0.25f

typedef struct dw_case {
    int64_t batch, channels, in_h, in_w, k_h, k_w, stride, dilation;
    int64_t pad[4]; /* top, left, bottom, right */
    bool bias;
} dw_case;

static lps_spatial_geom geom_of(const dw_case *c)
{
    lps_spatial_geom g = {.n = 2};
    int64_t in[2] = {c->in_h, c->in_w}, k[2] = {c->k_h, c->k_w};
    for (int d = 0; d < 2; d++) {
        g.in[d] = in[d];
        g.kernel[d] = k[d];
        g.stride[d] = c->stride;
        g.dilation[d] = c->dilation;
        g.pad_begin[d] = c->pad[d];
        g.pad_end[d] = c->pad[d + 2];
        int64_t span = c->dilation * (k[d] - 1) + 1;
        g.out[d] = (in[d] + c->pad[d] + c->pad[d + 2] - span) / c->stride + 1;
    }
    g.in_stride[0] = g.in[1];
    g.in_stride[1] = 1;
    g.in_size = g.in[0] * g.in[1];
    g.out_size = g.out[0] * g.out[1];
    g.kernel_size = g.kernel[0] * g.kernel[1];
    return g;
}

static float *random_floats(int64_t n, unsigned seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return v;
}

static float *filled(int64_t n, float value)
{
    float *v = malloc((size_t)n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = value;
    return v;
}

/* Input offset in the plane of tap (kh, kw) at output (oh, ow), or -1. */
static int64_t input_at(const lps_spatial_geom *g, int64_t oh, int64_t ow, int64_t kh,
                        int64_t kw)
{
    int64_t ih = oh * g->stride[0] + kh * g->dilation[0] - g->pad_begin[0];
    int64_t iw = ow * g->stride[1] + kw * g->dilation[1] - g->pad_begin[1];
    if (ih < 0 || ih >= g->in[0] || iw < 0 || iw >= g->in[1])
        return -1;
    return ih * g->in[1] + iw;
}

/* The tensors of one case and the direct results in double. */
typedef struct dw_data {
    lps_spatial_geom g;
    int64_t nx, ny, nw;
    float *x, *w, *b, *dy;
    float *y_chain;
    double *y_ref, *dx_ref, *dw_ref;
} dw_data;

static void data_init(const dw_case *c, dw_data *d)
{
    d->g = geom_of(c);
    const lps_spatial_geom *g = &d->g;
    d->nx = c->batch * c->channels * g->in_size;
    d->ny = c->batch * c->channels * g->out_size;
    d->nw = c->channels * g->kernel_size;
    d->x = random_floats(d->nx, 1);
    d->w = random_floats(d->nw, 2);
    d->b = c->bias ? random_floats(c->channels, 3) : NULL;
    d->dy = random_floats(d->ny, 4);
    d->y_ref = calloc((size_t)d->ny, sizeof *d->y_ref);
    d->dx_ref = calloc((size_t)d->nx, sizeof *d->dx_ref);
    d->dw_ref = calloc((size_t)d->nw, sizeof *d->dw_ref);
    d->y_chain = calloc((size_t)d->ny, sizeof *d->y_chain);
    ck_assert(d->y_ref && d->dx_ref && d->dw_ref && d->y_chain);
    for (int64_t n = 0; n < c->batch; n++)
        for (int64_t ch = 0; ch < c->channels; ch++) {
            int64_t plane = (n * c->channels + ch) * g->in_size;
            int64_t out = (n * c->channels + ch) * g->out_size;
            const float *wc = d->w + ch * g->kernel_size;
            for (int64_t oh = 0; oh < g->out[0]; oh++)
                for (int64_t ow = 0; ow < g->out[1]; ow++) {
                    int64_t o = out + oh * g->out[1] + ow;
                    d->y_ref[o] = d->b ? d->b[ch] : 0.0;
                    float chain = d->b ? d->b[ch] : 0.0f;
                    for (int64_t kh = 0; kh < g->kernel[0]; kh++)
                        for (int64_t kw = 0; kw < g->kernel[1]; kw++) {
                            int64_t i = input_at(g, oh, ow, kh, kw);
                            if (i < 0)
                                continue;
                            int64_t t = kh * g->kernel[1] + kw;
                            d->y_ref[o] += (double)wc[t] * d->x[plane + i];
                            float product = wc[t] * d->x[plane + i];
                            chain += product;
                            d->dx_ref[plane + i] += (double)wc[t] * d->dy[o];
                            d->dw_ref[ch * g->kernel_size + t] +=
                                (double)d->dy[o] * d->x[plane + i];
                        }
                    d->y_chain[o] = chain;
                }
        }
}

static void data_release(dw_data *d)
{
    free(d->x);
    free(d->w);
    free(d->b);
    free(d->dy);
    free(d->y_ref);
    free(d->dx_ref);
    free(d->dw_ref);
    free(d->y_chain);
}

static void expect_near(const char *what, const float *got, const double *want, double prior,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double ref = want[i] + prior;
        ck_assert_msg(fabs(got[i] - ref) <= TOLERANCE * (1.0 + fabs(ref)),
                      "%s[%lld] = %.9g, expected %.9g", what, (long long)i, got[i], ref);
    }
}

/* Forward and backward of c at 1..MAX_THREADS threads: near the direct
 * results, and the same bytes at every thread count. */
static void run_case(const dw_case *c)
{
    dw_data d;
    data_init(c, &d);
    float *first_y = NULL, *first_dx = NULL, *first_dw = NULL;
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        omp_set_num_threads(threads);
        float *ws = malloc(lps_depthwise_workspace(&d.g, c->channels) * sizeof *ws);
        float *y = filled(d.ny, NAN);
        float *dx = filled(d.nx, PRIOR_GRAD), *dw = filled(d.nw, PRIOR_GRAD);
        ck_assert_ptr_nonnull(ws);
        lps_depthwise_forward(NULL, &d.g, c->batch, c->channels, d.x, d.w, NULL, d.b, y, ws);
        lps_depthwise_backward(&d.g, c->batch, c->channels, d.x, d.w, d.dy, dx, dw, ws);
        expect_near("y", y, d.y_ref, 0.0, d.ny);
        for (int64_t i = 0; i < d.ny; i++)
            ck_assert_msg(memcmp(&y[i], &d.y_chain[i], sizeof *y) == 0,
                          "y[%lld] = %.9g, the float chain %.9g", (long long)i, y[i],
                          d.y_chain[i]);
        expect_near("dx", dx, d.dx_ref, PRIOR_GRAD, d.nx);
        expect_near("dw", dw, d.dw_ref, PRIOR_GRAD, d.nw);
        free(ws);
        if (!first_y) {
            first_y = y, first_dx = dx, first_dw = dw;
            continue;
        }
        ck_assert_msg(memcmp(y, first_y, (size_t)d.ny * sizeof *y) == 0, "y at %d threads",
                      threads);
        ck_assert_msg(memcmp(dx, first_dx, (size_t)d.nx * sizeof *dx) == 0, "dx at %d threads",
                      threads);
        ck_assert_msg(memcmp(dw, first_dw, (size_t)d.nw * sizeof *dw) == 0, "dw at %d threads",
                      threads);
        free(y);
        free(dx);
        free(dw);
    }
    free(first_y);
    free(first_dx);
    free(first_dw);
    data_release(&d);
}

/* dX alone and dW alone give what the joint backward gives. */
static void run_one_gradient(const dw_case *c)
{
    dw_data d;
    data_init(c, &d);
    float *ws = malloc(lps_depthwise_workspace(&d.g, c->channels) * sizeof *ws);
    float *dx = filled(d.nx, PRIOR_GRAD), *dw = filled(d.nw, PRIOR_GRAD);
    ck_assert_ptr_nonnull(ws);
    lps_depthwise_backward(&d.g, c->batch, c->channels, d.x, d.w, d.dy, dx, NULL, ws);
    lps_depthwise_backward(&d.g, c->batch, c->channels, d.x, d.w, d.dy, NULL, dw, ws);
    expect_near("dx", dx, d.dx_ref, PRIOR_GRAD, d.nx);
    expect_near("dw", dw, d.dw_ref, PRIOR_GRAD, d.nw);
    free(ws);
    free(dx);
    free(dw);
    data_release(&d);
}

/* MobileNet's 3x3, pads 1, stride 1, with more channels than one register
 * block and a remainder, over several images; enough work (above
 * LPS_PAR_MIN_FLOPS) to run threaded. */
START_TEST(stride_1_same_pads)
{
    dw_case c = {.batch = 5, .channels = 37, .in_h = 33, .in_w = 31, .k_h = 3, .k_w = 3,
                 .stride = 1, .dilation = 1, .pad = {1, 1, 1, 1}, .bias = true};
    run_case(&c);
}
END_TEST

/* MobileNet's 3x3 stride 2 on an odd plane, one image: the forward splits
 * channels over the threads (enough work to run threaded). */
START_TEST(stride_2_one_image)
{
    dw_case c = {.batch = 1, .channels = 301, .in_h = 41, .in_w = 39, .k_h = 3, .k_w = 3,
                 .stride = 2, .dilation = 1, .pad = {1, 1, 1, 1}, .bias = false};
    run_case(&c);
}
END_TEST

/* Dilation 2 with asymmetric pads wide enough for all-padding windows, a
 * 2x3 kernel and a channel count below one vector. */
START_TEST(dilation_asymmetric_pads)
{
    dw_case c = {.batch = 3, .channels = 5, .in_h = 6, .in_w = 5, .k_h = 2, .k_w = 3,
                 .stride = 1, .dilation = 2, .pad = {3, 0, 1, 4}, .bias = true};
    run_case(&c);
}
END_TEST

/* A 1x1 plane under a 3x3 kernel with pads 1 (the last MobileNet stages):
 * only the centre tap is live. */
START_TEST(single_position_plane)
{
    dw_case c = {.batch = 4, .channels = 41, .in_h = 1, .in_w = 1, .k_h = 3, .k_w = 3,
                 .stride = 1, .dilation = 1, .pad = {1, 1, 1, 1}, .bias = true};
    run_case(&c);
}
END_TEST

/* Planes whose rows and edge columns split into runs of every length
 * the kernel sums together (1 to 4 positions: interiors of 11, 6 and 5
 * columns at stride 1, 2 and 3 rows at stride 2) over 48 channels (whole
 * register blocks) and 53 (a remainder), so each run shape is checked bit
 * for bit against the float chain. */
START_TEST(run_lengths)
{
    dw_case rows = {.batch = 2, .channels = 48, .in_h = 8, .in_w = 13, .k_h = 3, .k_w = 3,
                    .stride = 1, .dilation = 1, .pad = {1, 1, 1, 1}, .bias = true};
    run_case(&rows);
    dw_case odd = {.batch = 1, .channels = 53, .in_h = 9, .in_w = 8, .k_h = 3, .k_w = 3,
                   .stride = 1, .dilation = 1, .pad = {1, 1, 1, 1}, .bias = false};
    run_case(&odd);
    dw_case strided = {.batch = 3, .channels = 32, .in_h = 12, .in_w = 11, .k_h = 3, .k_w = 3,
                       .stride = 2, .dilation = 1, .pad = {1, 1, 1, 1}, .bias = true};
    run_case(&strided);
}
END_TEST

/* Stride 2 and no pads, 5x5 kernel: dX and dW each asked for alone. */
START_TEST(each_gradient_alone)
{
    dw_case c = {.batch = 2, .channels = 19, .in_h = 9, .in_w = 8, .k_h = 5, .k_w = 5,
                 .stride = 2, .dilation = 1, .pad = {0, 2, 0, 1}, .bias = false};
    run_one_gradient(&c);
    run_case(&c);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"depthwise", stride_1_same_pads, 1},
        {"depthwise", stride_2_one_image, 1},
        {"depthwise", dilation_asymmetric_pads, 1},
        {"depthwise", single_position_plane, 1},
        {"depthwise", each_gradient_alone, 1},
        {"depthwise", run_lengths, 1},
    };
    return test_run_table("depthwise", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
