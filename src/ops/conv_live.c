/* The gather of a cropped kernel's live taps and the add-back of their
 * gradient (contract in conv.h). */
#include "core/par.h"
#include "ops/conv.h"

/* One lps_conv_live_taps call. */
typedef struct live_taps_job {
    const lps_spatial_geom *g, *live;
    const int64_t *first;
    float *full, *live_w;
    bool to_live;
} live_taps_job;

/* Kernels [begin, end): each is a few contiguous floats on both sides. */
static void live_taps_piece(void *arg, int64_t begin, int64_t end)
{
    const live_taps_job *j = arg;
    const lps_spatial_geom *g = j->g, *l = j->live;
    for (int64_t i = begin; i < end; i++) {
        float *f = j->full + i * g->kernel_size, *v = j->live_w + i * l->kernel_size;
        int64_t k[LPS_SPATIAL_MAX] = {0};
        do {
            int64_t at = 0;
            for (int d = 0; d < g->n; d++)
                at = at * g->kernel[d] + j->first[d] + k[d];
            if (j->to_live)
                *v = f[at];
            else
                f[at] += *v;
            v++;
        } while (lps_spatial_next_pos(l->n, l->kernel, k));
    }
}

void lps_conv_live_taps(const lps_spatial_geom *g, const lps_spatial_geom *live,
                        const int64_t *live_first, int64_t kernels, float *full, float *live_w,
                        bool to_live)
{
    live_taps_job job = {g, live, live_first, full, live_w, to_live};
    /* the walk costs more than the float it moves: a live tap weighs as a
     * few floats streamed */
    lps_par_elements(kernels, 4.0 * (double)live->kernel_size, live_taps_piece, &job);
}
