/* Separable resampling for Resize/Upsample (src/ops/resize.c).
 *
 * Each resized axis becomes a pass over the tensor viewed as
 * [outer, in, inner] -> [outer, out, inner]: output o of the axis is
 * sum_t w[o][t] * input[idx[o][t]] over at most LPS_RESIZE_MAX_TAPS taps.
 * A plan is the list of passes (axes whose taps are the identity are
 * dropped); applying it runs them in order, its adjoint runs the transposed
 * passes in reverse. Outputs of tf_crop_and_resize that fall outside the
 * input are marked per axis and get the extrapolation value. */
#ifndef LPS_OPS_RESIZE_TAPS_H
#define LPS_OPS_RESIZE_TAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/tensor.h"

/* Resize-11 introduced the coordinate modes; before it Resize and Upsample
 * are asymmetric with their own nearest rounding. */
#define LPS_RESIZE_RULES_OPSET 11
/* Cubic interpolation reads 4 neighbours. */
#define LPS_RESIZE_MAX_TAPS 4

typedef enum lps_resize_mode { LPS_RESIZE_NEAREST, LPS_RESIZE_LINEAR, LPS_RESIZE_CUBIC } lps_resize_mode;

/* In the order of resize.c's attribute names. */
typedef enum lps_resize_coord {
    LPS_RESIZE_HALF_PIXEL,
    LPS_RESIZE_HALF_PIXEL_SYMMETRIC,
    LPS_RESIZE_PYTORCH_HALF_PIXEL,
    LPS_RESIZE_ALIGN_CORNERS,
    LPS_RESIZE_ASYMMETRIC,
    LPS_RESIZE_TF_HALF_PIXEL_FOR_NN,
    LPS_RESIZE_TF_CROP_AND_RESIZE
} lps_resize_coord;

typedef enum lps_resize_nearest {
    LPS_RESIZE_ROUND_PREFER_FLOOR,
    LPS_RESIZE_ROUND_PREFER_CEIL,
    LPS_RESIZE_FLOOR,
    LPS_RESIZE_CEIL,
    LPS_RESIZE_NEAREST_LEGACY /* ceil when the axis shrinks, else floor */
} lps_resize_nearest;

typedef struct lps_resize_rule {
    lps_resize_mode mode;
    lps_resize_coord coord;
    lps_resize_nearest nearest;
    float cubic_a;
    bool exclude_outside;
    float extrapolation;
} lps_resize_rule;

/* One resized axis: sizes, the scale of the coordinate transform and the
 * roi (tf_crop_and_resize only). */
typedef struct lps_resize_axis {
    int64_t in, out;
    double scale, roi_start, roi_end;
} lps_resize_axis;

typedef struct lps_resize_pass {
    int axis;
    int64_t outer, in, out, inner;     /* view before the pass */
    int64_t *idx;                      /* [out][LPS_RESIZE_MAX_TAPS] */
    float *w;                          /* [out][LPS_RESIZE_MAX_TAPS] */
    uint8_t *n_taps;                   /* [out]; 0 for an outside output */
    uint8_t *outside;                  /* [out] */
    bool any_outside;
} lps_resize_pass;

typedef struct lps_resize_plan {
    int n_passes;
    lps_resize_pass pass[LPS_MAX_RANK];
    int rank;
    int64_t in_dims[LPS_MAX_RANK], out_dims[LPS_MAX_RANK];
    int64_t max_inter;                 /* largest intermediate tensor */
    bool any_outside;
    float extrapolation;
} lps_resize_plan;

/* Builds the plan for x (rank, dims) resized along axes[k] as ax[k]
 * (k < n) under rule. Fails with LPS_ERR_NOMEM; the plan is then empty
 * (releasing it is still allowed). */
lps_status lps_resize_plan_init(lps_resize_plan *plan, const lps_resize_rule *rule, int rank,
                                const int64_t *dims, const int *axes, const lps_resize_axis *ax,
                                int n, lps_error *err);

/* Frees the taps; plan may be NULL. */
void lps_resize_plan_release(lps_resize_plan *plan);

/* Floats of scratch lps_resize_apply / lps_resize_adjoint need (at least 1). */
size_t lps_resize_scratch_floats(const lps_resize_plan *plan);

/* y = resize(x); every element of y is written. */
void lps_resize_apply(const lps_resize_plan *plan, const float *x, float *y, float *scratch);

/* dx += resize^T(dy), outside outputs carrying no gradient. */
void lps_resize_adjoint(const lps_resize_plan *plan, const float *dy, float *dx, float *scratch);

#endif
