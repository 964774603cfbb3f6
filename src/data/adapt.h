/* Input adaptation (docs/data.md, "Input adaptation"): how one image
 * sample becomes one model input. Used by the batcher for image folders
 * and for in-memory image samples whose shape is not the model's.
 *
 * Geometry is a crop box in source pixels resampled to the model's height
 * and width by an antialiased linear filter (a triangle as wide as the
 * downscale factor, so downscaling averages instead of aliasing). Pixels
 * the box covers outside the image read as 0. */
#ifndef LPS_DATA_ADAPT_H
#define LPS_DATA_ADAPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/data.h"
#include "lpsparsify/error.h"

/* Most source pixels one output pixel reads per axis (a downscale by up
 * to about half this factor keeps its full antialiasing). */
#define LPS_ADAPT_MAX_TAPS 256

/* The model's per-sample input as an image. */
typedef struct lps_adapt_target_shape {
    int64_t height, width, channels;
    bool channels_last;      /* NHWC input (tf2onnx), else NCHW */
} lps_adapt_target_shape;

/* One source image: uint8 (bytes) or float32 (floats) values. */
typedef struct lps_adapt_view {
    int64_t height, width, channels;
    bool channels_last;
    const uint8_t *bytes;    /* exactly one of bytes and floats is set */
    const float *floats;
} lps_adapt_view;

/* The source region one sample is resampled from. */
typedef struct lps_adapt_box {
    double x, y, w, h;       /* in source pixels; may extend past the image */
    bool flip;               /* mirror horizontally */
} lps_adapt_box;

/* Reads a model input shape [C,H,W], [H,W,C] (C = 1 or 3) or [H,W] as an
 * image; false when it is not one (a flat [784] input, say). */
bool lps_adapt_target(int model_rank, const int64_t *model_dims, lps_adapt_target_shape *t);

/* Reads a sample shape ([H,W] grey, [C,H,W] or [H,W,C] with C = 1 or 3)
 * into v's geometry (data pointers untouched); false when it is not an
 * image. */
bool lps_adapt_source_view(int rank, const int64_t *dims, lps_adapt_view *v);

/* The crop box of one sample: evaluation's centre crop after resizing the
 * shorter side to opts->resize (default crop / 0.875), or the whole image
 * when keep_size (the dataset's images all have the model's size and
 * neither --resize nor --crop is given); with opts->augment a seeded random
 * box (random-resized crop, or translation by the crop margin or into zero
 * padding for small images) and a coin-flip mirror.
 * seed: lps_adapt_sample_seed. */
void lps_adapt_region(const lps_adapt_view *v, const lps_adapt_target_shape *t,
                      const lps_adapt_opts *opts, bool keep_size, uint64_t seed,
                      lps_adapt_box *box);

/* Whether a dataset of images all of size height x width keeps its size
 * for target t under opts (see lps_adapt_region). */
bool lps_adapt_keeps_size(int64_t height, int64_t width, const lps_adapt_target_shape *t,
                          const lps_adapt_opts *opts);

/* Resamples box of v into dst (t->channels * t->height * t->width floats in
 * the model's layout), converting grey to RGB (repeated) or RGB to grey
 * (BT.601 luma). Values stay in the source's units (0..255 for uint8).
 * LPS_ERR_NOMEM when the scratch rows cannot be allocated. */
lps_status lps_adapt_apply(const lps_adapt_view *v, const lps_adapt_target_shape *t,
                           const lps_adapt_box *box, float *dst, lps_error *err);

/* The augmentation seed of sample index in an epoch: a function of the
 * three alone, so batches do not depend on the number of threads. */
uint64_t lps_adapt_sample_seed(uint64_t seed, uint64_t epoch, int64_t index);

/* Whether ds's samples pass through adaptation to feed a model input of
 * per-sample dims model_dims (image folders always; in-memory images when
 * their shape does not fit as it is, or --resize, --crop or augmentation
 * is asked for). Fills the view's geometry (not for files: their sizes
 * vary) and the target. */
bool lps_dataset_adapts(const lps_dataset *ds, int model_rank, const int64_t *model_dims,
                        lps_adapt_view *view, lps_adapt_target_shape *target);

/* Whether every image of ds keeps its size for target t (v: the
 * geometry lps_dataset_adapts filled). */
bool lps_dataset_keeps_size(const lps_dataset *ds, const lps_adapt_view *v,
                            const lps_adapt_target_shape *t);

/* One line saying how samples of source shape v (NULL: image files of
 * varying sizes) become model inputs, e.g. "28x28 grey -> 3x32x32 (NCHW),
 * grey to RGB, resize shorter side to 36, centre crop 32, augment light". */
void lps_adapt_describe(const lps_adapt_view *v, const lps_adapt_target_shape *t,
                        const lps_adapt_opts *opts, bool keep_size, char *out, size_t size);

#endif
