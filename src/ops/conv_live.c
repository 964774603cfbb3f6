/* The gather of a cropped kernel's live taps and the add-back of their
 * gradient (contract in conv.h). */
#include "core/par.h"
#include "ops/conv.h"

/* Live taps per kernel up to which their offsets in the full kernel are
 * listed once per piece (a 7x7 box fits): the walk over the box per tap
 * cost several times the float it moved (6.9% of a ResNet-18 training
 * step at 3x32x32, whose 512-channel layers keep one tap of nine). */
#define LIVE_TAP_TABLE 64

/* One lps_conv_live_taps call. */
typedef struct live_taps_job {
    const lps_spatial_geom *g, *live;
    const int64_t *first;
    float *full, *live_w;
    bool to_live;
} live_taps_job;

/* Offset in the full kernel of the live tap at box position k. */
static int64_t live_tap_offset(const live_taps_job *j, const int64_t *k)
{
    int64_t at = 0;
    for (int d = 0; d < j->g->n; d++)
        at = at * j->g->kernel[d] + j->first[d] + k[d];
    return at;
}

/* Kernels [begin, end) with the box walked per tap (more live taps than
 * LIVE_TAP_TABLE). */
static void live_taps_walk(const live_taps_job *j, int64_t begin, int64_t end)
{
    const lps_spatial_geom *g = j->g, *l = j->live;
    for (int64_t i = begin; i < end; i++) {
        float *f = j->full + i * g->kernel_size, *v = j->live_w + i * l->kernel_size;
        int64_t k[LPS_SPATIAL_MAX] = {0};
        do {
            int64_t at = live_tap_offset(j, k);
            if (j->to_live)
                *v = f[at];
            else
                f[at] += *v;
            v++;
        } while (lps_spatial_next_pos(l->n, l->kernel, k));
    }
}

/* Kernels [begin, end): each is a few contiguous floats on both sides. */
static void live_taps_piece(void *arg, int64_t begin, int64_t end)
{
    const live_taps_job *j = arg;
    int64_t full = j->g->kernel_size, taps = j->live->kernel_size;
    if (taps > LIVE_TAP_TABLE) {
        live_taps_walk(j, begin, end);
        return;
    }
    int64_t offset[LIVE_TAP_TABLE], k[LPS_SPATIAL_MAX] = {0};
    int64_t t = 0;
    do
        offset[t++] = live_tap_offset(j, k);
    while (lps_spatial_next_pos(j->live->n, j->live->kernel, k));
    for (int64_t i = begin; i < end; i++) {
        float *f = j->full + i * full, *v = j->live_w + i * taps;
        if (j->to_live)
            for (t = 0; t < taps; t++)
                v[t] = f[offset[t]];
        else
            for (t = 0; t < taps; t++)
                f[offset[t]] += v[t];
    }
}

void lps_conv_live_taps(const lps_spatial_geom *g, const lps_spatial_geom *live,
                        const int64_t *live_first, int64_t kernels, float *full, float *live_w,
                        bool to_live)
{
    live_taps_job job = {g, live, live_first, full, live_w, to_live};
    /* a live tap weighs as a few floats streamed: it reads one float of a
     * kernel's cache line and writes one */
    lps_par_elements(kernels, 4.0 * (double)live->kernel_size, live_taps_piece, &job);
}
