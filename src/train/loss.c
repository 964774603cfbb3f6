#include "train/loss.h"

#include <math.h>
#include <stddef.h>

/* Log-sum-exp of scale * z[0..n) with the max factored out, in double.
 * Returns NAN when any z is not finite. */
static double log_sum_exp(const float *z, int64_t n, double scale)
{
    double m = -INFINITY;
    for (int64_t c = 0; c < n; c++) {
        if (!isfinite(z[c]))
            return NAN;
        double x = scale * z[c];
        m = x > m ? x : m;
    }
    double sum = 0.0;
    for (int64_t c = 0; c < n; c++)
        sum += exp(scale * z[c] - m);
    return m + log(sum);
}

/* Cross-entropy of one row with smoothed one-hot target; adds weight *
 * d(loss)/dz to grad (when non-NULL) and returns the row loss. lse is the
 * row's log-sum-exp. */
static double ce_row(const float *z, int64_t classes, int64_t label, double eps, double lse,
                     double weight, float *grad)
{
    double off = eps / (double)classes;
    double on = 1.0 - eps + off;
    double dot = 0.0;
    for (int64_t c = 0; c < classes; c++)
        dot += (c == label ? on : off) * z[c];
    if (grad)
        for (int64_t c = 0; c < classes; c++) {
            double p = exp(z[c] - lse);
            grad[c] += (float)(weight * (p - (c == label ? on : off)));
        }
    /* The target sums to 1, so sum_c y_c (lse - z_c) = lse - y.z */
    return lse - dot;
}

/* Fails with the sample index when the row's log-sum-exp is NaN (a
 * non-finite logit) or, when labels is non-NULL, its label is out of range. */
static lps_status check_row(int64_t b, int64_t classes, const int64_t *labels, double lse,
                            const char *what, lps_error *err)
{
    if (isnan(lse))
        return lps_fail(err, LPS_ERR_RUNTIME, "%s: non-finite logit in sample %lld", what,
                        (long long)b);
    if (labels && (labels[b] < 0 || labels[b] >= classes))
        return lps_fail(err, LPS_ERR_INVALID, "%s: label %lld of sample %lld outside [0, %lld)",
                        what, (long long)labels[b], (long long)b, (long long)classes);
    return LPS_OK;
}

/* Sets n floats to 0.0f. */
static void zero_floats(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.0f;
}

lps_status lps_softmax_cross_entropy(int64_t batch, int64_t classes, const float *logits,
                                     const int64_t *labels, float label_smoothing,
                                     double *loss, float *dlogits, lps_error *err)
{
    if (batch <= 0 || classes <= 0)
        return lps_fail(err, LPS_ERR_INVALID, "cross-entropy: empty logits [%lld, %lld]",
                        (long long)batch, (long long)classes);
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        return lps_fail(err, LPS_ERR_INVALID, "cross-entropy: label smoothing %g outside [0, 1)",
                        (double)label_smoothing);
    if (dlogits)
        zero_floats(dlogits, batch * classes);
    double total = 0.0;
    double weight = 1.0 / (double)batch;
    for (int64_t b = 0; b < batch; b++) {
        const float *z = logits + b * classes;
        double lse = log_sum_exp(z, classes, 1.0);
        lps_status st = check_row(b, classes, labels, lse, "cross-entropy", err);
        if (st != LPS_OK)
            return st;
        total += ce_row(z, classes, labels[b], label_smoothing, lse, weight,
                        dlogits ? dlogits + b * classes : NULL);
    }
    *loss = total * weight;
    return LPS_OK;
}

lps_status lps_mse_loss(int64_t n, const float *pred, const float *target, double *loss,
                        float *dpred, lps_error *err)
{
    if (n <= 0)
        return lps_fail(err, LPS_ERR_INVALID, "mse: empty prediction (%lld elements)",
                        (long long)n);
    double sum = 0.0;
    double scale = 2.0 / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double diff = (double)pred[i] - (double)target[i];
        sum += diff * diff;
        if (dpred)
            dpred[i] = (float)(scale * diff);
    }
    if (!isfinite(sum))
        return lps_fail(err, LPS_ERR_RUNTIME, "mse: loss is not finite");
    *loss = sum / (double)n;
    return LPS_OK;
}

/* T^2 KL(softmax(t/T) || softmax(s/T)) of one row; adds weight * its
 * gradient w.r.t. s, T * (softmax(s/T) - softmax(t/T)), to grad (may be NULL). */
static double kl_row(const float *s, const float *t, int64_t classes, double temp,
                     double lse_s, double lse_t, double weight, float *grad)
{
    double inv_t = 1.0 / temp;
    double kl = 0.0;
    for (int64_t c = 0; c < classes; c++) {
        double log_ps = inv_t * s[c] - lse_s;
        double log_pt = inv_t * t[c] - lse_t;
        double pt = exp(log_pt);
        kl += pt * (log_pt - log_ps);
        if (grad)
            grad[c] += (float)(weight * temp * (exp(log_ps) - pt));
    }
    return temp * temp * kl;
}

lps_status lps_distill_loss(int64_t batch, int64_t classes, const float *student,
                            const float *teacher, const int64_t *labels,
                            const lps_distill_config *cfg, double *loss, float *dstudent,
                            lps_error *err)
{
    if (batch <= 0 || classes <= 0)
        return lps_fail(err, LPS_ERR_INVALID, "distillation: empty logits [%lld, %lld]",
                        (long long)batch, (long long)classes);
    if (!(cfg->temperature > 0.0) || !isfinite(cfg->temperature))
        return lps_fail(err, LPS_ERR_INVALID, "distillation: temperature %g must be > 0",
                        cfg->temperature);
    if (!(cfg->ce_weight >= 0.0 && cfg->ce_weight <= 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "distillation: ce weight %g outside [0, 1]",
                        cfg->ce_weight);
    if (cfg->ce_weight > 0.0 && !labels)
        return lps_fail(err, LPS_ERR_INVALID, "distillation: ce weight %g needs labels",
                        cfg->ce_weight);
    if (!(cfg->label_smoothing >= 0.0f && cfg->label_smoothing < 1.0f))
        return lps_fail(err, LPS_ERR_INVALID, "distillation: label smoothing %g outside [0, 1)",
                        (double)cfg->label_smoothing);
    if (dstudent)
        zero_floats(dstudent, batch * classes);
    const double inv_b = 1.0 / (double)batch;
    const double w_kl = (1.0 - cfg->ce_weight) * inv_b;
    const double w_ce = cfg->ce_weight * inv_b;
    const double inv_t = 1.0 / cfg->temperature;
    double total = 0.0;
    for (int64_t b = 0; b < batch; b++) {
        const float *s = student + b * classes;
        const float *t = teacher + b * classes;
        float *g = dstudent ? dstudent + b * classes : NULL;
        double lse_s = log_sum_exp(s, classes, inv_t);
        double lse_t = log_sum_exp(t, classes, inv_t);
        lps_status st = check_row(b, classes, w_ce > 0.0 ? labels : NULL,
                                  isnan(lse_t) ? NAN : lse_s, "distillation", err);
        if (st != LPS_OK)
            return st;
        if (w_kl > 0.0)
            total += (1.0 - cfg->ce_weight) *
                     kl_row(s, t, classes, cfg->temperature, lse_s, lse_t, w_kl, g);
        if (w_ce > 0.0) {
            double lse = log_sum_exp(s, classes, 1.0);
            total += cfg->ce_weight *
                     ce_row(s, classes, labels[b], cfg->label_smoothing, lse, w_ce, g);
        }
    }
    *loss = total * inv_b;
    return LPS_OK;
}

int64_t lps_top1_correct(int64_t batch, int64_t classes, const float *logits,
                         const int64_t *labels)
{
    int64_t correct = 0;
    for (int64_t b = 0; b < batch; b++) {
        const float *z = logits + b * classes;
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (z[c] > z[best])
                best = c;
        correct += labels[b] == best;
    }
    return correct;
}
