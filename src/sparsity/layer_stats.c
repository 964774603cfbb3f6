#include "sparsity/layer_stats.h"

#include <math.h>

lps_layer_stats lps_layer_stats_of(const float *w, const lps_row_layout *l)
{
    lps_layer_stats s;
    s.params = l->n_rows * l->row_len;
    s.zeros = 0;
    for (int64_t i = 0; i < s.params; i++)
        s.zeros += w[i] == 0.0f;
    s.sparsity = s.params > 0 ? (double)s.zeros / (double)s.params : NAN;
    s.hoyer = lps_hoyer_layer(w, l);
    s.hoyer_tensor = lps_hoyer_vector(w, s.params);
    s.gamma_k = lps_gamma_fit_k(w, s.params);
    s.hoyer_expected_fit = lps_hoyer_expected((double)l->row_len, s.gamma_k);
    return s;
}
