/* Preprocessing and batch iteration: source samples (uint8 or float32) are
 * converted to float32 per batch, then scaled and normalised per channel. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/adapt.h"
#include "data/image.h"
#include "core/par.h"
#include "data/rng.h"
#include "lpsparsify/data.h"

/* uint8 sources default to x / 255 so that pixels land in [0, 1]. */
#define UINT8_DEFAULT_SCALE (1.0 / 255.0)

/* Mixes the epoch into the seed stream so each epoch's order depends only
 * on (seed, epoch). */
#define EPOCH_SEED_SALT 0xD1B54A32D192ED03u

static lps_status parse_number(const char *start, const char **end, const char *what,
                               double *out, lps_error *err)
{
    char *stop = NULL;
    errno = 0;
    double value = strtod(start, &stop);
    if (stop == start || errno == ERANGE)
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not a number", what, start);
    if (*stop == '/') {
        const char *den_start = stop + 1;
        errno = 0;
        double den = strtod(den_start, &stop);
        if (stop == den_start || errno == ERANGE || den == 0.0)
            return lps_fail(err, LPS_ERR_INVALID, "%s: bad fraction '%s'", what, start);
        value /= den;
    }
    if (!isfinite(value))
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not finite", what, start);
    *out = value;
    *end = stop;
    return LPS_OK;
}

lps_status lps_parse_value_list(const char *text, const char *what, double *values, int max,
                                int *count, lps_error *err)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        if (n == max)
            return lps_fail(err, LPS_ERR_INVALID, "%s: more than %d values in '%s'", what, max,
                            text);
        lps_status st = parse_number(p, &p, what, &values[n], err);
        if (st != LPS_OK)
            return st;
        n++;
        if (*p == '\0')
            break;
        if (*p != ',')
            return lps_fail(err, LPS_ERR_INVALID, "%s: unexpected '%c' in '%s'", what, *p, text);
        p++;
    }
    *count = n;
    return LPS_OK;
}

static lps_status channel_value(const char *what, const double *list, int n, int64_t channels,
                                int64_t c, double fallback, double *out, lps_error *err)
{
    if (n == 0) {
        *out = fallback;
        return LPS_OK;
    }
    if (n != 1 && n != channels)
        return lps_fail(err, LPS_ERR_INVALID, "%s has %d values but the model input has %lld "
                        "channels (give 1 or %lld)", what, n, (long long)channels,
                        (long long)channels);
    *out = list[n == 1 ? 0 : c];
    return LPS_OK;
}

/* torchvision's ImageNet statistics (on values scaled to [0, 1]); a grey
 * input takes their means. */
static const double IMAGENET_MEAN[] = {0.485, 0.456, 0.406};
static const double IMAGENET_STD[] = {0.229, 0.224, 0.225};
#define IMAGENET_CHANNELS 3

static void imagenet_stats(int64_t channels, int64_t c, double *mean, double *std)
{
    if (channels == IMAGENET_CHANNELS) {
        *mean = IMAGENET_MEAN[c];
        *std = IMAGENET_STD[c];
        return;
    }
    *mean = *std = 0;
    for (int k = 0; k < IMAGENET_CHANNELS; k++) {
        *mean += IMAGENET_MEAN[k] / IMAGENET_CHANNELS;
        *std += IMAGENET_STD[k] / IMAGENET_CHANNELS;
    }
}

lps_status lps_preprocess_resolve(lps_preprocess *pp, const lps_preprocess_opts *opts,
                                  lps_dtype src_dtype, int model_rank, const int64_t *model_dims,
                                  lps_error *err)
{
    static const lps_preprocess_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    memset(pp, 0, sizeof *pp);
    int64_t numel = lps_numel_of(model_rank, model_dims);
    if (numel <= 0)
        return lps_fail(err, LPS_ERR_INVALID, "preprocessing: model input has no elements");
    lps_adapt_target_shape image;
    pp->channels_last = lps_adapt_target(model_rank, model_dims, &image) && image.channels_last;
    pp->channels = pp->channels_last ? image.channels : model_rank >= 1 ? model_dims[0] : 1;
    pp->per_channel = numel / pp->channels;
    double scale = opts->has_scale ? opts->scale
                                   : (src_dtype == LPS_DT_UINT8 ? UINT8_DEFAULT_SCALE : 1.0);
    if (!isfinite(scale) || scale == 0.0)
        return lps_fail(err, LPS_ERR_INVALID, "--scale %g must be finite and non-zero", scale);
    pp->gain = malloc((size_t)pp->channels * sizeof *pp->gain);
    pp->bias = malloc((size_t)pp->channels * sizeof *pp->bias);
    lps_status st = LPS_OK;
    if (!pp->gain || !pp->bias) {
        st = lps_fail(err, LPS_ERR_NOMEM, "preprocessing: out of memory");
        goto cleanup;
    }
    for (int64_t c = 0; c < pp->channels; c++) {
        double mean = 0.0;
        double std = 1.0;
        if (opts->imagenet)
            imagenet_stats(pp->channels, c, &mean, &std);
        st = channel_value("--mean", opts->mean, opts->n_mean, pp->channels, c, mean, &mean, err);
        if (st == LPS_OK)
            st = channel_value("--std", opts->std, opts->n_std, pp->channels, c, std, &std, err);
        if (st != LPS_OK)
            goto cleanup;
        if (!isfinite(std) || std == 0.0 || !isfinite(mean)) {
            st = lps_fail(err, LPS_ERR_INVALID, "channel %lld: std %g must be finite and "
                          "non-zero and mean %g finite", (long long)c, std, mean);
            goto cleanup;
        }
        /* (x * scale - mean) / std folded into one multiply-add. */
        pp->gain[c] = (float)(scale / std);
        pp->bias[c] = (float)(-mean / std);
    }
cleanup:
    if (st != LPS_OK)
        lps_preprocess_release(pp);
    return st;
}

void lps_preprocess_apply(const lps_preprocess *pp, float *x, int64_t n_samples)
{
    if (pp->channels_last) {
        for (int64_t i = 0; i < n_samples * pp->per_channel; i++)
            for (int64_t c = 0; c < pp->channels; c++, x++)
                *x = *x * pp->gain[c] + pp->bias[c];
        return;
    }
    for (int64_t s = 0; s < n_samples; s++)
        for (int64_t c = 0; c < pp->channels; c++) {
            float gain = pp->gain[c];
            float bias = pp->bias[c];
            for (int64_t i = 0; i < pp->per_channel; i++, x++)
                *x = *x * gain + bias;
        }
}

void lps_preprocess_release(lps_preprocess *pp)
{
    if (!pp)
        return;
    free(pp->gain);
    free(pp->bias);
    memset(pp, 0, sizeof *pp);
}

lps_status lps_batch_iter_init(lps_batch_iter *it, const lps_dataset *ds, int64_t batch_size,
                               bool shuffle, uint64_t seed, lps_error *err)
{
    memset(it, 0, sizeof *it);
    if (batch_size < 1)
        return lps_fail(err, LPS_ERR_INVALID, "batch size %lld must be at least 1",
                        (long long)batch_size);
    int64_t n = lps_dataset_size(ds);
    it->order = malloc((size_t)n * sizeof *it->order);
    if (!it->order)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory for the order of %lld samples",
                        ds->name, (long long)n);
    it->ds = ds;
    it->batch_size = batch_size;
    it->shuffle = shuffle;
    it->seed = seed;
    it->shards = 1;
    lps_batch_iter_start_epoch(it, 0);
    return LPS_OK;
}

void lps_batch_iter_set_shard(lps_batch_iter *it, int shard, int shards)
{
    it->shard = shard;
    it->shards = shards;
}

int64_t lps_batch_iter_global_batches(const lps_batch_iter *it)
{
    int64_t global = it->batch_size * it->shards;
    return (lps_dataset_size(it->ds) + global - 1) / global;
}

int64_t lps_batch_iter_global_count(const lps_batch_iter *it, int64_t index)
{
    int64_t global = it->batch_size * it->shards;
    int64_t left = lps_dataset_size(it->ds) - index * global;
    return left < global ? left : global;
}

/* Keeps only this shard's positions of every global batch, in order. */
static void keep_shard(lps_batch_iter *it)
{
    int64_t batches = lps_batch_iter_global_batches(it), kept = 0;
    for (int64_t b = 0; b < batches; b++) {
        int64_t g = lps_batch_iter_global_count(it, b);
        int64_t start = b * it->batch_size * it->shards;
        int64_t lo = start + it->shard * g / it->shards;
        int64_t hi = start + (it->shard + 1) * g / it->shards;
        memmove(it->order + kept, it->order + lo, (size_t)(hi - lo) * sizeof *it->order);
        kept += hi - lo;
    }
    it->len = kept;
}

static void shuffle_order(lps_batch_iter *it, int64_t n, uint64_t epoch);

void lps_batch_iter_start_epoch(lps_batch_iter *it, uint64_t epoch)
{
    int64_t n = lps_dataset_size(it->ds);
    it->pos = 0;
    it->epoch = epoch;
    it->len = n;
    for (int64_t i = 0; i < n; i++)
        it->order[i] = i;
    if (it->shuffle)
        shuffle_order(it, n, epoch);
    if (it->shards > 1)
        keep_shard(it);
}

/* The (seed, epoch) permutation of order[0..n). */
static void shuffle_order(lps_batch_iter *it, int64_t n, uint64_t epoch)
{
    uint64_t state = it->seed;
    uint64_t mixed = lps_splitmix64(&state) ^ (epoch * EPOCH_SEED_SALT);
    lps_rng rng;
    lps_rng_seed(&rng, mixed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)lps_rng_below(&rng, (uint64_t)i + 1);
        int64_t tmp = it->order[i];
        it->order[i] = it->order[j];
        it->order[j] = tmp;
    }
}

/* Copies sample `index` of samples into row dst of a batch tensor: as
 * float32 for uint8/float32 samples, unchanged for int64 ones. */
#if defined(__SSE2__)
#include <emmintrin.h>
/* Bytes a vector step of bytes_to_floats converts: one SSE2 register. */
#define BYTE_LANES 16
#endif

/* dst[i] = src[i] for n bytes. Every byte is exact in float, so the SSE2
 * steps (bytes widened to int32 by interleaving with zeros, then
 * converted) give the scalar loop's floats; gcc 12 compiles the scalar
 * loop, and a vector-extension conversion, to one conversion per byte, and
 * this pass runs on the trainer's thread for every batch. */
static void bytes_to_floats(const uint8_t *src, int64_t n, float *dst)
{
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    for (; i + BYTE_LANES <= n; i += BYTE_LANES) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i low = _mm_unpacklo_epi8(bytes, zero), high = _mm_unpackhi_epi8(bytes, zero);
        _mm_storeu_ps(dst + i, _mm_cvtepi32_ps(_mm_unpacklo_epi16(low, zero)));
        _mm_storeu_ps(dst + i + 4, _mm_cvtepi32_ps(_mm_unpackhi_epi16(low, zero)));
        _mm_storeu_ps(dst + i + 8, _mm_cvtepi32_ps(_mm_unpacklo_epi16(high, zero)));
        _mm_storeu_ps(dst + i + 12, _mm_cvtepi32_ps(_mm_unpackhi_epi16(high, zero)));
    }
#endif
    for (; i < n; i++)
        dst[i] = (float)src[i];
}

static void copy_sample(const lps_tensor *samples, int64_t index, int64_t sample_numel, void *dst)
{
    size_t offset = (size_t)index * (size_t)sample_numel;
    if (samples->dtype == LPS_DT_UINT8) {
        bytes_to_floats((const uint8_t *)samples->data + offset, sample_numel, dst);
        return;
    }
    size_t esize = lps_dtype_size(samples->dtype);
    memcpy(dst, (const char *)samples->data + offset * esize, (size_t)sample_numel * esize);
}

/* What one sample value of a batch copy weighs for the thread split
 * (core/par.h): the samples come in shuffled order, so every one starts
 * with cache and TLB misses; the default run's profile (LeNet-300-100,
 * 784-byte samples) measured about 0.6 us a sample on one core, some 40
 * sgemm flops a value (docs/benchmarks.md, "Default run, ninth round"). */
#define COPY_FLOPS_PER_VALUE 32.0

/* Rows [0, n) of a float batch from samples order[0..n), preprocessed. */
typedef struct copy_job {
    const lps_tensor *samples;
    const int64_t *order;
    int64_t sample_numel;
    int64_t n;
    const lps_preprocess *pp; /* NULL: none */
    float *dst;
} copy_job;

/* One chunk of a copy_job's rows; every row is its sample's alone, so the
 * batch is the same bytes at any cut. */
static void copy_chunk(void *arg, int chunk, int n_chunks)
{
    const copy_job *j = arg;
    int64_t b0, b1;
    lps_par_range(j->n, chunk, n_chunks, &b0, &b1);
    float *rows = j->dst + b0 * j->sample_numel;
    for (int64_t b = b0; b < b1; b++)
        copy_sample(j->samples, j->order[b], j->sample_numel, j->dst + b * j->sample_numel);
    if (j->pp)
        lps_preprocess_apply(j->pp, rows, b1 - b0);
}

/* The dtype of a batch of these samples: int64 stays int64, the rest is float32. */
static lps_dtype batch_dtype(const lps_tensor *samples)
{
    return samples->dtype == LPS_DT_INT64 ? LPS_DT_INT64 : LPS_DT_FLOAT;
}

/* LPS_OK when x and pp fit a batch of dataset input k. */
static lps_status check_batch(const lps_batch_iter *it, size_t k, const lps_preprocess *pp,
                              const lps_tensor *x, lps_error *err)
{
    char shape[128];
    const lps_tensor *samples = lps_dataset_input_samples(it->ds, k);
    const char *name = k == 0 ? it->ds->name : it->ds->more[k - 1].name;
    int64_t sample_numel = lps_numel_of(samples->rank - 1, samples->dims + 1);
    if (x->dtype != batch_dtype(samples) || x->rank < 1 || x->dims[0] != it->batch_size
        || lps_numel_of(x->rank - 1, x->dims + 1) != sample_numel)
        return lps_fail(err, LPS_ERR_INVALID, "%s: batch tensor %s %s cannot hold %lld samples "
                        "of %lld %s values", name, lps_dtype_name(x->dtype),
                        lps_shape_str(x->rank, x->dims, shape, sizeof shape),
                        (long long)it->batch_size, (long long)sample_numel,
                        lps_dtype_name(samples->dtype));
    if (pp && (x->dtype != LPS_DT_FLOAT || pp->channels * pp->per_channel != sample_numel))
        return lps_fail(err, LPS_ERR_INVALID, "%s: preprocessing was resolved for %lld float "
                        "values per sample, the dataset has %lld %s", name,
                        (long long)(pp->channels * pp->per_channel), (long long)sample_numel,
                        lps_dtype_name(samples->dtype));
    return LPS_OK;
}

/* Fills rows 0..n-1 of x from positions pos.. of the order, zeroes the rest. */
static void fill_batch(const lps_batch_iter *it, size_t k, const lps_preprocess *pp,
                       lps_tensor *x, int64_t n)
{
    const lps_tensor *samples = lps_dataset_input_samples(it->ds, k);
    int64_t sample_numel = lps_numel_of(samples->rank - 1, samples->dims + 1);
    size_t row_bytes = (size_t)sample_numel * lps_dtype_size(x->dtype);
    char *dst = x->data;
    for (int64_t b = 0; b < n; b++)
        copy_sample(samples, it->order[it->pos + b], sample_numel, dst + (size_t)b * row_bytes);
    if (pp)
        lps_preprocess_apply(pp, lps_tensor_f32(x), n);
    memset(dst + (size_t)n * row_bytes, 0, (size_t)(it->batch_size - n) * row_bytes);
}

static lps_status next_adapted(lps_batch_iter *it, const lps_preprocess *pp, lps_tensor *x,
                               int64_t *labels, int64_t *count, lps_error *err);

lps_status lps_batch_next_inputs(lps_batch_iter *it, size_t n_inputs,
                                 const lps_preprocess *const *pps, lps_tensor *const *xs,
                                 int64_t *labels, int64_t *count, lps_error *err)
{
    const lps_dataset *ds = it->ds;
    *count = 0;
    /* One float input of uint8/float32 samples: the path with image adaptation. */
    if (n_inputs == 1 && ds->n_more == 0 && xs[0]->dtype == LPS_DT_FLOAT &&
        ds->samples.dtype != LPS_DT_INT64)
        return next_adapted(it, pps ? pps[0] : NULL, xs[0], labels, count, err);
    if (n_inputs != lps_dataset_n_inputs(ds))
        return lps_fail(err, LPS_ERR_INVALID, "%s: %zu batch tensors for %zu dataset inputs",
                        ds->name, n_inputs, lps_dataset_n_inputs(ds));
    for (size_t k = 0; k < n_inputs; k++) {
        lps_status st = check_batch(it, k, pps ? pps[k] : NULL, xs[k], err);
        if (st != LPS_OK)
            return st;
    }
    int64_t left = it->len - it->pos;
    int64_t n = left < it->batch_size ? left : it->batch_size;
    for (size_t k = 0; k < n_inputs; k++)
        fill_batch(it, k, pps ? pps[k] : NULL, xs[k], n);
    for (int64_t b = 0; labels && ds->labels && b < n; b++)
        labels[b] = ds->labels[it->order[it->pos + b]];
    it->pos += n;
    *count = n;
    return LPS_OK;
}

/* Decodes (image folders) or views (in-memory images) sample index and
 * adapts it into dst, with the augmentation draws of (seed, epoch, index). */
static lps_status adapt_one(const lps_batch_iter *it, const lps_adapt_view *geometry,
                            const lps_adapt_target_shape *t, bool keep_size, int64_t index,
                            float *dst, lps_error *err)
{
    const lps_dataset *ds = it->ds;
    lps_adapt_view v = *geometry;
    lps_image img = {0};
    if (ds->files) {
        lps_status st = lps_image_load(ds->files->paths[index], &img, err);
        if (st != LPS_OK)
            return st;
        v = (lps_adapt_view){.height = img.height, .width = img.width, .channels = img.channels,
                             .channels_last = true, .bytes = img.pixels};
    } else {
        size_t offset = (size_t)index * (size_t)(v.height * v.width * v.channels);
        if (ds->samples.dtype == LPS_DT_UINT8)
            v.bytes = (const uint8_t *)ds->samples.data + offset;
        else
            v.floats = (const float *)ds->samples.data + offset;
    }
    lps_adapt_box box;
    lps_adapt_region(&v, t, &ds->adapt, keep_size,
                     lps_adapt_sample_seed(it->seed, it->epoch, index), &box);
    lps_status st = lps_adapt_apply(&v, t, &box, dst, err);
    lps_image_release(&img);
    return st;
}

/* Adapts the batch's n samples in parallel; the first failure in batch
 * order is the one reported, so errors do not depend on thread timing. */
static lps_status fill_adapted(const lps_batch_iter *it, const lps_adapt_view *geometry,
                               const lps_adapt_target_shape *t, int64_t n, int64_t sample_numel,
                               float *dst, lps_error *err)
{
    lps_error *errors = calloc((size_t)(n ? n : 1), sizeof *errors);
    if (!errors)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", it->ds->name);
    bool keep_size = lps_dataset_keeps_size(it->ds, geometry, t);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < n; b++)
        adapt_one(it, geometry, t, keep_size, it->order[it->pos + b], dst + b * sample_numel,
                  &errors[b]);
    lps_status st = LPS_OK;
    for (int64_t b = 0; b < n && st == LPS_OK; b++)
        if (errors[b].status != LPS_OK) {
            *err = errors[b];
            st = err->status;
        }
    free(errors);
    return st;
}

/* One float batch of a single-input dataset, with image adaptation
 * (resize, crop, augmentation) when the dataset and x call for it. */
static lps_status next_adapted(lps_batch_iter *it, const lps_preprocess *pp, lps_tensor *x,
                               int64_t *labels, int64_t *count, lps_error *err)
{
    char shape[128];
    const lps_dataset *ds = it->ds;
    *count = 0;
    lps_adapt_view view;
    lps_adapt_target_shape target;
    bool adapt = x->dtype == LPS_DT_FLOAT && x->rank >= 1 &&
                 lps_dataset_adapts(ds, x->rank - 1, x->dims + 1, &view, &target);
    int64_t sample_numel = adapt ? lps_numel_of(x->rank - 1, x->dims + 1)
                                 : lps_numel_of(lps_dataset_sample_rank(ds),
                                                lps_dataset_sample_dims(ds));
    if (x->dtype != LPS_DT_FLOAT || x->rank < 1 || x->dims[0] != it->batch_size
        || lps_numel_of(x->rank - 1, x->dims + 1) != sample_numel)
        return lps_fail(err, LPS_ERR_INVALID, "%s: batch tensor %s %s cannot hold %lld samples "
                        "of %lld values", ds->name, lps_dtype_name(x->dtype),
                        lps_shape_str(x->rank, x->dims, shape, sizeof shape),
                        (long long)it->batch_size, (long long)sample_numel);
    if (pp && pp->channels * pp->per_channel != sample_numel)
        return lps_fail(err, LPS_ERR_INVALID, "%s: preprocessing was resolved for %lld values "
                        "per sample, the dataset has %lld", ds->name,
                        (long long)(pp->channels * pp->per_channel), (long long)sample_numel);
    int64_t left = it->len - it->pos;
    int64_t n = left < it->batch_size ? left : it->batch_size;
    float *dst = lps_tensor_f32(x);
    for (int64_t b = 0; labels && ds->labels && b < n; b++)
        labels[b] = ds->labels[it->order[it->pos + b]];
    if (adapt) {
        lps_status st = fill_adapted(it, &view, &target, n, sample_numel, dst, err);
        if (st != LPS_OK)
            return st;
        if (pp)
            lps_preprocess_apply(pp, dst, n);
    } else {
        copy_job job = {&ds->samples, it->order + it->pos, sample_numel, n, pp, dst};
        lps_par_for(lps_par_chunks(n, (double)(n * sample_numel) * COPY_FLOPS_PER_VALUE),
                    copy_chunk, &job);
    }
    memset(dst + n * sample_numel, 0,
           (size_t)((it->batch_size - n) * sample_numel) * sizeof *dst);
    it->pos += n;
    *count = n;
    return LPS_OK;
}

lps_status lps_batch_next(lps_batch_iter *it, const lps_preprocess *pp, lps_tensor *x,
                          int64_t *labels, int64_t *count, lps_error *err)
{
    return lps_batch_next_inputs(it, 1, &pp, &x, labels, count, err);
}

void lps_batch_iter_release(lps_batch_iter *it)
{
    if (!it)
        return;
    free(it->order);
    memset(it, 0, sizeof *it);
}
