/* Strided walks (see strided.h). */
#include "ops/strided.h"

#include <string.h>

void lps_strided_dense(int rank, const int64_t *dims, int64_t *stride)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        stride[i] = s;
        s *= dims[i];
    }
}

void lps_strided_init(lps_strided *w, int rank, const int64_t *dims, const int64_t *stride,
                      int64_t base)
{
    memset(w, 0, sizeof *w);
    w->base = base;
    w->numel = 1;
    for (int i = 0; i < rank; i++) {
        int64_t d = dims[i], st = stride[i];
        w->numel *= d;
        if (d == 1)
            continue;
        if (w->rank > 0 && w->stride[w->rank - 1] == st * d) {
            w->dims[w->rank - 1] *= d;
            w->stride[w->rank - 1] = st;
            continue;
        }
        w->dims[w->rank] = d;
        w->stride[w->rank] = st;
        w->rank++;
    }
    if (w->rank == 0) {
        w->dims[0] = 1;
        w->stride[0] = 1;
        w->rank = 1;
    }
}

/* Called per innermost destination row: dst_off and src_off are element
 * offsets of its first element, len elements, src_step apart in the source. */
typedef void (*row_fn)(void *arg, int64_t dst_off, int64_t src_off, int64_t len,
                       int64_t src_step);

/* Calls row for every innermost row of w, in destination order. */
static void walk_rows(const lps_strided *w, row_fn row, void *arg)
{
    int last = w->rank - 1;
    int64_t len = w->dims[last];
    int64_t n_rows = w->numel / len;
    int64_t idx[LPS_STRIDED_MAX_RANK] = {0};
    int64_t src = w->base;
    for (int64_t r = 0; r < n_rows; r++) {
        row(arg, r * len, src, len, w->stride[last]);
        for (int i = last - 1; i >= 0; i--) {
            src += w->stride[i];
            if (++idx[i] < w->dims[i])
                break;
            src -= w->stride[i] * idx[i];
            idx[i] = 0;
        }
    }
}

typedef struct bufs {
    char *dst;
    const char *src;
    size_t esize;
} bufs;

/* Copies one row. Constant memcpy sizes compile to single moves for the
 * common element sizes; a zero step (broadcast) repeats one element. */
static void gather_row(void *arg, int64_t dst_off, int64_t src_off, int64_t len, int64_t step)
{
    const bufs *b = arg;
    size_t es = b->esize;
    char *d = b->dst + (size_t)dst_off * es;
    const char *s = b->src + src_off * (int64_t)es;
    ptrdiff_t bstep = (ptrdiff_t)(step * (int64_t)es);
    if (step == 1) {
        memcpy(d, s, (size_t)len * es);
        return;
    }
    switch (es) {
    case sizeof(uint32_t):
        for (int64_t j = 0; j < len; j++, d += sizeof(uint32_t), s += bstep)
            memcpy(d, s, sizeof(uint32_t));
        break;
    case sizeof(uint64_t):
        for (int64_t j = 0; j < len; j++, d += sizeof(uint64_t), s += bstep)
            memcpy(d, s, sizeof(uint64_t));
        break;
    default:
        for (int64_t j = 0; j < len; j++, d += es, s += bstep)
            memcpy(d, s, es);
    }
}

static void scatter_add_row(void *arg, int64_t dst_off, int64_t src_off, int64_t len,
                            int64_t step)
{
    const bufs *b = arg;
    const float *dy = (const float *)b->src + dst_off;
    float *dx = (float *)b->dst + src_off;
    if (step == 0) {
        float s = 0.0f;
        for (int64_t j = 0; j < len; j++)
            s += dy[j];
        *dx += s;
        return;
    }
    for (int64_t j = 0; j < len; j++)
        dx[j * step] += dy[j];
}

void lps_strided_gather(void *dst, const void *src, size_t esize, const lps_strided *w)
{
    if (w->numel == 0)
        return;
    bufs b = {dst, src, esize};
    walk_rows(w, gather_row, &b);
}

void lps_strided_scatter_add(float *dsrc, const float *ddst, const lps_strided *w)
{
    if (w->numel == 0)
        return;
    bufs b = {(char *)dsrc, (const char *)ddst, sizeof(float)};
    walk_rows(w, scatter_add_row, &b);
}
