/* Training losses over flat float buffers (docs/method.md section 8).
 *
 * Every loss returns the MEAN over the batch (MSE: over all elements) in
 * double and, when the gradient pointer is non-NULL, OVERWRITES it with the
 * gradient of that mean w.r.t. the prediction. Overwriting (not
 * accumulating) keeps each call self-contained; mixtures are done inside
 * lps_distill_loss so no caller needs a scratch buffer. Internals run in
 * double with the row max subtracted before exponentiation (log-sum-exp),
 * so logits of any finite size are safe; a non-finite logit is reported as
 * LPS_ERR_RUNTIME (training diverged) rather than propagated. */
#ifndef LPS_TRAIN_LOSS_H
#define LPS_TRAIN_LOSS_H

#include <stdint.h>

#include "lpsparsify/error.h"

/* Softmax cross-entropy of logits [batch, classes] against int64 labels in
 * [0, classes). With label smoothing eps in [0, 1) the target is
 * (1 - eps) * onehot + eps / classes. Writes the mean loss to *loss and
 * d(mean loss)/d(logits) to dlogits (may be NULL). Returns LPS_ERR_INVALID
 * naming the sample for an out-of-range label or bad eps, LPS_ERR_RUNTIME for
 * a non-finite logit; outputs are unspecified on failure. */
lps_status lps_softmax_cross_entropy(int64_t batch, int64_t classes, const float *logits,
                                     const int64_t *labels, float label_smoothing,
                                     double *loss, float *dlogits, lps_error *err);

/* Mean squared error over n elements: mean((pred - target)^2); dpred (may be
 * NULL) receives 2 * (pred - target) / n. Returns LPS_ERR_RUNTIME when the
 * loss is not finite. */
lps_status lps_mse_loss(int64_t n, const float *pred, const float *target, double *loss,
                        float *dpred, lps_error *err);

typedef struct lps_distill_config {
    double temperature; /* T > 0; default 2 (docs/method.md section 8) */
    double ce_weight;   /* alpha in [0, 1]: loss = alpha * CE + (1 - alpha) * T^2 KL */
    float label_smoothing; /* applies to the CE part only */
} lps_distill_config;

/* Distillation: (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T)) + alpha *
 * CE(s, labels), averaged over the batch, with s = student logits and t =
 * teacher logits, both [batch, classes]. labels may be NULL only when
 * ce_weight == 0. dstudent (may be NULL) receives the gradient w.r.t. the
 * student logits; the teacher gets none. Same failures as
 * lps_softmax_cross_entropy plus LPS_ERR_INVALID for a bad config. */
lps_status lps_distill_loss(int64_t batch, int64_t classes, const float *student,
                            const float *teacher, const int64_t *labels,
                            const lps_distill_config *cfg, double *loss, float *dstudent,
                            lps_error *err);

/* Number of rows of logits [batch, classes] whose arg-max (first index on
 * ties) equals the label. Out-of-range labels count as wrong. */
int64_t lps_top1_correct(int64_t batch, int64_t classes, const float *logits,
                         const int64_t *labels);

#endif
