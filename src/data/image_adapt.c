/* Input adaptation: one image (decoded file or in-memory sample) into one
 * model input, with channel conversion, an antialiased resize of a crop
 * region, and the seeded training augmentations (docs/data.md, "Input
 * adaptation"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/adapt.h"
#include "data/rng.h"

/* torchvision's evaluation recipe: resize the shorter side to crop / 0.875,
 * then take the centre crop. */
#define EVAL_CROP_FRACTION 0.875
/* Pad-and-crop jitter for small images: up to an eighth of the side (4
 * pixels at 32, as in the CIFAR recipes). */
#define PAD_FRACTION 0.125
/* RandomResizedCrop's defaults. */
#define RRC_SCALE_MIN 0.08
#define RRC_SCALE_MAX 1.0
#define RRC_RATIO_MIN (3.0 / 4.0)
#define RRC_RATIO_MAX (4.0 / 3.0)
#define RRC_ATTEMPTS 10
/* ITU-R BT.601 luma, as PIL's convert("L"). */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f
#define GREY 1
#define RGB 3
/* Salt that makes augmentation draws independent of the shuffling stream. */
#define AUGMENT_SEED_SALT 0x9E3779B97F4A7C15u

static bool is_channel_count(int64_t c) { return c == GREY || c == RGB; }

bool lps_adapt_target(int model_rank, const int64_t *model_dims, lps_adapt_target_shape *t)
{
    if (model_rank == 2) {
        *t = (lps_adapt_target_shape){.height = model_dims[0], .width = model_dims[1],
                                      .channels = GREY, .channels_last = false};
        return model_dims[0] > 0 && model_dims[1] > 0;
    }
    if (model_rank != 3)
        return false;
    if (is_channel_count(model_dims[0]))
        *t = (lps_adapt_target_shape){.height = model_dims[1], .width = model_dims[2],
                                      .channels = model_dims[0], .channels_last = false};
    else if (is_channel_count(model_dims[2]))
        *t = (lps_adapt_target_shape){.height = model_dims[0], .width = model_dims[1],
                                      .channels = model_dims[2], .channels_last = true};
    else
        return false;
    return t->height > 0 && t->width > 0;
}

bool lps_adapt_source_view(int rank, const int64_t *dims, lps_adapt_view *v)
{
    if (rank == 2) {
        v->height = dims[0];
        v->width = dims[1];
        v->channels = GREY;
        v->channels_last = true;
        return true;
    }
    if (rank != 3)
        return false;
    if (is_channel_count(dims[0])) {
        v->channels = dims[0];
        v->height = dims[1];
        v->width = dims[2];
        v->channels_last = false;
    } else if (is_channel_count(dims[2])) {
        v->height = dims[0];
        v->width = dims[1];
        v->channels = dims[2];
        v->channels_last = true;
    } else {
        return false;
    }
    return true;
}

/* Source value at (y, x, c) as float; the view's channel is c when it has
 * as many channels as asked, else converted (grey repeated, RGB to luma). */
static float source_at(const lps_adapt_view *v, int64_t y, int64_t x, int64_t c, int64_t want_c)
{
    int64_t hw = v->height * v->width;
    int64_t base = v->channels_last ? (y * v->width + x) * v->channels : y * v->width + x;
    int64_t step = v->channels_last ? 1 : hw;
#define SAMPLE(k) (v->bytes ? (float)v->bytes[base + (k) * step] : v->floats[base + (k) * step])
    if (v->channels == want_c)
        return SAMPLE(c);
    if (v->channels == GREY)
        return SAMPLE(0);
    return LUMA_R * SAMPLE(0) + LUMA_G * SAMPLE(1) + LUMA_B * SAMPLE(2);
#undef SAMPLE
}

/* The taps of one output coordinate of an antialiased linear resample:
 * source indices first..first+count-1 with normalised weights. Indices
 * outside 0..size-1 keep their weight and read as 0 (zero padding). */
typedef struct taps {
    int64_t first;
    int count;
    float weight[LPS_ADAPT_MAX_TAPS];
} taps;

static void make_taps(double start, double scale, int64_t out_index, taps *t)
{
    double support = scale > 1.0 ? scale : 1.0;
    if (support > LPS_ADAPT_MAX_TAPS / 2 - 1)
        support = LPS_ADAPT_MAX_TAPS / 2 - 1;
    double center = start + (out_index + 0.5) * scale;
    int64_t lo = (int64_t)floor(center - support);
    int64_t hi = (int64_t)ceil(center + support);
    double total = 0;
    t->first = lo;
    t->count = 0;
    for (int64_t i = lo; i <= hi && t->count < LPS_ADAPT_MAX_TAPS; i++) {
        double d = fabs((i + 0.5 - center) / support);
        double w = d < 1.0 ? 1.0 - d : 0.0;
        t->weight[t->count++] = (float)w;
        total += w;
    }
    for (int k = 0; k < t->count; k++)
        t->weight[k] = total > 0 ? (float)(t->weight[k] / total) : 0.0f;
}

static double uniform(lps_rng *rng)
{
    /* 53 random bits into [0, 1). */
    return (double)(lps_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* The side the shorter source side is scaled to before the centre crop. */
static double eval_resize(const lps_adapt_opts *o, double crop)
{
    return o->resize > 0 ? (double)o->resize : floor(crop / EVAL_CROP_FRACTION);
}

bool lps_adapt_keeps_size(int64_t height, int64_t width, const lps_adapt_target_shape *t,
                          const lps_adapt_opts *o)
{
    return height == t->height && width == t->width && o->resize == 0 && o->crop == 0;
}

void lps_adapt_region(const lps_adapt_view *v, const lps_adapt_target_shape *t,
                      const lps_adapt_opts *o, bool same_size, uint64_t seed, lps_adapt_box *box)
{
    double crop_h = o->crop > 0 ? (double)o->crop : (double)t->height;
    double crop_w = o->crop > 0 ? (double)o->crop : (double)t->width;
    double shorter = v->height < v->width ? (double)v->height : (double)v->width;
    /* Source pixels per output pixel of the crop. */
    double f = same_size ? 1.0 : shorter / eval_resize(o, crop_h < crop_w ? crop_h : crop_w);
    box->h = crop_h * f;
    box->w = crop_w * f;
    box->y = (v->height - box->h) / 2;
    box->x = (v->width - box->w) / 2;
    box->flip = false;
    if (o->augment == LPS_AUGMENT_NONE)
        return;
    lps_rng rng;
    lps_rng_seed(&rng, seed ^ AUGMENT_SEED_SALT);
    bool small = shorter <= (double)(t->height > t->width ? t->height : t->width);
    if (o->augment == LPS_AUGMENT_STANDARD && !small) {
        double area = (double)v->height * v->width;
        for (int a = 0; a < RRC_ATTEMPTS; a++) {
            double target = area * (RRC_SCALE_MIN + (RRC_SCALE_MAX - RRC_SCALE_MIN) * uniform(&rng));
            double ratio = exp(log(RRC_RATIO_MIN) + (log(RRC_RATIO_MAX) - log(RRC_RATIO_MIN)) *
                                                        uniform(&rng));
            double w = sqrt(target * ratio), h = sqrt(target / ratio);
            if (w <= v->width && h <= v->height) {
                box->w = w;
                box->h = h;
                box->x = (v->width - w) * uniform(&rng);
                box->y = (v->height - h) * uniform(&rng);
                break;
            }
        }
    } else {
        /* Translation within the eval margin, or by up to PAD_FRACTION of the
         * crop into zero padding when there is no margin. */
        double margin_x = (v->width - box->w) / 2, margin_y = (v->height - box->h) / 2;
        double pad_x = margin_x > 0 ? margin_x : box->w * PAD_FRACTION;
        double pad_y = margin_y > 0 ? margin_y : box->h * PAD_FRACTION;
        box->x += round((2 * uniform(&rng) - 1) * pad_x);
        box->y += round((2 * uniform(&rng) - 1) * pad_y);
    }
    box->flip = uniform(&rng) < 0.5;
}

/* Taps of every output coordinate along one axis (heap: count entries). */
static taps *axis_taps(double start, double scale, bool flip, int64_t count)
{
    taps *t = malloc((size_t)count * sizeof *t);
    for (int64_t i = 0; t && i < count; i++)
        make_taps(start, scale, flip ? count - 1 - i : i, &t[i]);
    return t;
}

lps_status lps_adapt_apply(const lps_adapt_view *v, const lps_adapt_target_shape *t,
                           const lps_adapt_box *box, float *dst, lps_error *err)
{
    const int64_t C = t->channels, W = t->width, H = t->height;
    taps *tx = axis_taps(box->x, box->w / (double)W, box->flip, W);
    taps *ty = axis_taps(box->y, box->h / (double)H, false, H);
    float *rows = NULL;
    lps_status st = LPS_OK;
    if (!tx || !ty) {
        st = lps_fail(err, LPS_ERR_NOMEM, "input adaptation: out of memory");
        goto cleanup;
    }
    /* Source rows the vertical pass reads, clamped to the image. */
    int64_t y0 = ty[0].first < 0 ? 0 : ty[0].first;
    int64_t y1 = ty[H - 1].first + ty[H - 1].count - 1;
    if (y1 >= v->height)
        y1 = v->height - 1;
    int64_t n_rows = y1 >= y0 ? y1 - y0 + 1 : 0;
    rows = calloc((size_t)(n_rows ? n_rows : 1) * (size_t)(W * C), sizeof *rows);
    if (!rows) {
        st = lps_fail(err, LPS_ERR_NOMEM, "input adaptation: out of memory");
        goto cleanup;
    }
    /* Horizontal pass: every needed source row at the output's width. */
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t ox = 0; ox < W; ox++)
            for (int64_t c = 0; c < C; c++) {
                float sum = 0;
                for (int i = 0; i < tx[ox].count; i++) {
                    int64_t x = tx[ox].first + i;
                    if (x >= 0 && x < v->width)
                        sum += tx[ox].weight[i] * source_at(v, y0 + r, x, c, C);
                }
                rows[(r * W + ox) * C + c] = sum;
            }
    /* Vertical pass into the model's layout. */
    for (int64_t oy = 0; oy < H; oy++)
        for (int64_t ox = 0; ox < W; ox++)
            for (int64_t c = 0; c < C; c++) {
                float sum = 0;
                for (int j = 0; j < ty[oy].count; j++) {
                    int64_t y = ty[oy].first + j;
                    if (y >= y0 && y <= y1)
                        sum += ty[oy].weight[j] * rows[((y - y0) * W + ox) * C + c];
                }
                dst[t->channels_last ? (oy * W + ox) * C + c : (c * H + oy) * W + ox] = sum;
            }
cleanup:
    free(tx);
    free(ty);
    free(rows);
    return st;
}

static const char *layout_name(int64_t channels)
{
    return channels == GREY ? "grey" : "RGB";
}

void lps_adapt_describe(const lps_adapt_view *v, const lps_adapt_target_shape *t,
                        const lps_adapt_opts *o, bool same_size, char *out, size_t size)
{
    static const char *const augment_names[] = {"none", "light", "standard"};
    double crop = (double)(o->crop > 0 ? o->crop : (t->height < t->width ? t->height : t->width));
    char source[64] = "PNG/JPEG files";
    if (v)
        snprintf(source, sizeof source, "%lldx%lld %s", (long long)v->height,
                 (long long)v->width, layout_name(v->channels));
    size_t n = 0;
    n += (size_t)snprintf(out, size, "%s -> ", source);
    if (n < size)
        n += (size_t)(t->channels_last
                          ? snprintf(out + n, size - n, "%lldx%lldx%lld (NHWC)", (long long)t->height,
                                     (long long)t->width, (long long)t->channels)
                          : snprintf(out + n, size - n, "%lldx%lldx%lld (NCHW)", (long long)t->channels,
                                     (long long)t->height, (long long)t->width));
    if (v && v->channels != t->channels && n < size)
        n += (size_t)snprintf(out + n, size - n, ", %s",
                              v->channels == GREY ? "grey to RGB" : "RGB to grey");
    if (!v && n < size)
        n += (size_t)snprintf(out + n, size - n, ", to %s", layout_name(t->channels));
    if (!same_size && n < size)
        n += (size_t)snprintf(out + n, size - n, ", resize shorter side to %.0f, centre crop %.0f",
                              eval_resize(o, crop), crop);
    if (n < size)
        snprintf(out + n, size - n, ", augment %s", augment_names[o->augment]);
}

uint64_t lps_adapt_sample_seed(uint64_t seed, uint64_t epoch, int64_t index)
{
    uint64_t state = seed ^ (epoch * AUGMENT_SEED_SALT);
    state ^= lps_splitmix64(&state) + (uint64_t)index;
    return lps_splitmix64(&state);
}
