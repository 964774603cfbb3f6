/* MaxPool's inference forward (src/ops/pool.c): the windows of a line that
 * fit inside the input run as one vectorised maximum over taps, planes on
 * OpenMP's threads. On inputs with ties and NaNs, large enough to run
 * threaded, it must give the same bytes as a direct search in the test
 * (first tap, then a later tap only when greater), as the training forward
 * (which searches window by window for the argmax), and at 1 and 2 threads,
 * for strides 1, 2 and 3, pads, dilation and ceil_mode. The training
 * forward's argmax (also vectorised where the windows fit) routes the
 * backward's gradient as the window-by-window search does. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define POOL_OPSET 12
/* Inputs take values k / VALUE_STEPS for k in [-VALUE_STEPS, VALUE_STEPS]:
 * windows hold ties. */
#define VALUE_STEPS 8
/* Every NAN_EVERY-th input is NaN. */
#define NAN_EVERY 97
#define MAX_THREADS 2
#define SEED 11

typedef struct max_case {
    int64_t x_dims[4];
    int64_t kernel[2], strides[2], dilations[2];
    int64_t pads[4]; /* top, left, bottom, right */
    int ceil_mode;
} max_case;

static lps_node *max_node(const max_case *c)
{
    lps_node *n = test_node_new("MaxPool", 1, 1);
    test_node_attr_ints(n, "kernel_shape", c->kernel, 2);
    test_node_attr_ints(n, "strides", c->strides, 2);
    test_node_attr_ints(n, "dilations", c->dilations, 2);
    test_node_attr_ints(n, "pads", c->pads, 4);
    if (c->ceil_mode)
        test_node_attr_int(n, "ceil_mode", c->ceil_mode);
    return n;
}

static lps_tensor *tied_input(const max_case *c)
{
    lps_tensor *t = test_tensor_random(4, c->x_dims, -1.0f, 1.0f, SEED);
    float *v = lps_tensor_f32(t);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++)
        v[i] = i % NAN_EVERY == NAN_EVERY - 1 ? NAN : roundf(v[i] * VALUE_STEPS) / VALUE_STEPS;
    return t;
}

/* The maximum of output (plane, oh, ow) searched directly. */
static float direct_max(const max_case *c, const float *plane, int64_t oh, int64_t ow)
{
    int64_t h = c->x_dims[2], w = c->x_dims[3];
    bool found = false;
    float best = 0.0f;
    for (int64_t kh = 0; kh < c->kernel[0]; kh++)
        for (int64_t kw = 0; kw < c->kernel[1]; kw++) {
            int64_t ih = oh * c->strides[0] + kh * c->dilations[0] - c->pads[0];
            int64_t iw = ow * c->strides[1] + kw * c->dilations[1] - c->pads[1];
            if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                continue;
            float v = plane[ih * w + iw];
            if (!found || v > best)
                best = v;
            found = true;
        }
    ck_assert(found);
    return best;
}

/* The forward of c in the given mode at the given thread count into out. */
static void forward(const max_case *c, lps_tensor *x, bool training, int threads,
                    lps_tensor *out)
{
    lps_node *n = max_node(c);
    lps_error err = {0};
    omp_set_num_threads(threads);
    lps_status st = test_op_forward_mode(n, POOL_OPSET, training, SEED, &x, out, 1, &err);
    ck_assert_msg(st == LPS_OK, "%s", err.msg);
    test_node_free(n);
}

static void expect_same_bytes(const char *what, const lps_tensor *a, const lps_tensor *b)
{
    ck_assert_int_eq(lps_tensor_numel(a), lps_tensor_numel(b));
    ck_assert_msg(memcmp(a->data, b->data, (size_t)lps_tensor_numel(a) * sizeof(float)) == 0,
                  "%s differs", what);
}

/* dX of c's backward from dY, after a forward in training mode (which
 * keeps the argmax, vectorised over the windows that fit) or inference
 * mode (backward then searches the windows one by one), at the given
 * thread count, into dx (zeroed here). */
static void backward(const max_case *c, lps_tensor *x, const lps_tensor *dy, bool training,
                     int threads, lps_tensor *dx)
{
    lps_node *n = max_node(c);
    lps_error err = {0};
    lps_run_options run = {.training = true, .bn_batch_stats = true};
    lps_tensor y = {0};
    ck_assert(lps_tensor_alloc(dx, LPS_DT_FLOAT, 4, c->x_dims, &err) == LPS_OK);
    memset(dx->data, 0, dx->nbytes);
    omp_set_num_threads(threads);
    const lps_tensor *dout[1] = {dy};
    lps_tensor *din[1] = {dx};
    lps_status st = test_op_backward(n, POOL_OPSET, training ? &run : NULL, &x, &y, 1, dout,
                                     din, &err);
    ck_assert_msg(st == LPS_OK, "%s", err.msg);
    lps_tensor_release(&y);
    test_node_free(n);
}

/* The training forward's argmax (windows that fit: a vectorised search
 * keeping the first maximum) routes dY to the same elements as the window
 * by window search, on tied and NaN inputs, at 1 and 2 threads. */
static void expect_routes_as_search(const max_case *c)
{
    lps_tensor *x = tied_input(c);
    lps_tensor out = {0}, searched = {0}, kept = {0}, kept_one = {0};
    forward(c, x, false, 1, &out);
    lps_tensor *dy = test_tensor_random(4, out.dims, 0.5f, 1.5f, SEED + 1);
    backward(c, x, dy, false, 1, &searched);
    backward(c, x, dy, true, MAX_THREADS, &kept);
    backward(c, x, dy, true, 1, &kept_one);
    expect_same_bytes("dX after training and inference forwards", &kept, &searched);
    expect_same_bytes("dX at 1 and 2 threads", &kept, &kept_one);
    lps_tensor_release(&out);
    lps_tensor_release(&searched);
    lps_tensor_release(&kept);
    lps_tensor_release(&kept_one);
    lps_tensor_free(dy);
    lps_tensor_free(x);
}

static void run_case(const max_case *c)
{
    lps_tensor *x = tied_input(c);
    lps_tensor fast = {0}, one = {0}, train = {0};
    forward(c, x, false, MAX_THREADS, &fast);
    forward(c, x, false, 1, &one);
    forward(c, x, true, MAX_THREADS, &train);
    expect_same_bytes("1 and 2 threads", &fast, &one);
    expect_same_bytes("inference and training", &fast, &train);
    int64_t planes = c->x_dims[0] * c->x_dims[1], oh_n = fast.dims[2], ow_n = fast.dims[3];
    const float *xv = lps_tensor_f32(x), *y = lps_tensor_f32(&fast);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < oh_n; oh++)
            for (int64_t ow = 0; ow < ow_n; ow++) {
                float want = direct_max(c, xv + p * c->x_dims[2] * c->x_dims[3], oh, ow);
                float got = y[(p * oh_n + oh) * ow_n + ow];
                ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
                              "plane %lld (%lld, %lld): %g, expected %g", (long long)p,
                              (long long)oh, (long long)ow, got, want);
            }
    lps_tensor_release(&fast);
    lps_tensor_release(&one);
    lps_tensor_release(&train);
    lps_tensor_free(x);
    expect_routes_as_search(c);
}

/* ResNet's stem pool: 3x3, stride 2, pads 1, on odd planes. */
START_TEST(stride_2_kernel_3_pads)
{
    max_case c = {.x_dims = {4, 16, 33, 31}, .kernel = {3, 3}, .strides = {2, 2},
                  .dilations = {1, 1}, .pads = {1, 1, 1, 1}};
    run_case(&c);
}
END_TEST

/* The bundled CNN's 2x2 stride 2, and a 2x3 stride 1 without pads. */
START_TEST(no_pads)
{
    max_case c = {.x_dims = {8, 16, 28, 28}, .kernel = {2, 2}, .strides = {2, 2},
                  .dilations = {1, 1}};
    run_case(&c);
    max_case d = {.x_dims = {3, 8, 21, 26}, .kernel = {2, 3}, .strides = {1, 1},
                  .dilations = {1, 1}};
    run_case(&d);
}
END_TEST

/* Stride 3, dilation 2, asymmetric pads and ceil_mode: lines with border
 * windows on both sides of the fitting ones. */
START_TEST(stride_3_dilation_ceil)
{
    max_case c = {.x_dims = {2, 12, 30, 37}, .kernel = {3, 2}, .strides = {3, 3},
                  .dilations = {2, 2}, .pads = {2, 1, 0, 3}, .ceil_mode = 1};
    run_case(&c);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"max_pool", stride_2_kernel_3_pads, 1},
        {"max_pool", no_pads, 1},
        {"max_pool", stride_3_dilation_ceil, 1},
    };
    return test_run_table("max_pool", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
