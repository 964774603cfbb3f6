#include "sparsity/pattern.h"

#include <errno.h>
#include <stdlib.h>

/* Parses a decimal group size in [1, LPS_PATTERN_MAX_M]; *end past it. */
static bool parse_part(const char *s, char **end, int *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    long v = strtol(s, end, 10);
    if (errno != 0 || v < 1 || v > LPS_PATTERN_MAX_M)
        return false;
    *out = (int)v;
    return true;
}

lps_status lps_pattern_parse(const char *text, lps_pattern *out, lps_error *err)
{
    char *end = NULL;
    lps_pattern p = {0, 0};
    if (!parse_part(text, &end, &p.n) || *end != ':' || !parse_part(end + 1, &end, &p.m) ||
        *end != '\0' || p.n >= p.m)
        return lps_fail(err, LPS_ERR_INVALID,
                        "'%s' is not N:M with 1 <= N < M <= %d (e.g. 2:4: at most 2 non-zero in "
                        "every 4 input channels)", text, LPS_PATTERN_MAX_M);
    *out = p;
    return LPS_OK;
}

double lps_pattern_sparsity(lps_pattern p)
{
    return p.m > 0 ? (double)(p.m - p.n) / (double)p.m : 0.0;
}

bool lps_pattern_fits(lps_pattern p, int64_t row_len, int64_t taps)
{
    return p.m > 0 && taps >= 1 && row_len > 0 && row_len % taps == 0 &&
           (row_len / taps) % p.m == 0;
}

/* Whether member a goes before member b (see lps_pattern_order). */
static bool better(const uint8_t *tier, const float *score, int a, int b)
{
    if (tier && tier[a] != tier[b])
        return tier[a] > tier[b];
    if (score[a] != score[b])
        return score[a] > score[b];
    return a < b;
}

void lps_pattern_order(const uint8_t *tier, const float *score, int m, int *order)
{
    /* insertion sort: m is a handful of members */
    for (int i = 0; i < m; i++) {
        int j = i;
        while (j > 0 && better(tier, score, i, order[j - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

void lps_pattern_row_mask(lps_pattern p, int64_t taps, const float *score, int64_t row_len,
                          uint8_t *mask)
{
    float s[LPS_PATTERN_MAX_M];
    int order[LPS_PATTERN_MAX_M];
    for (int64_t g = 0; g < row_len / p.m; g++) {
        for (int r = 0; r < p.m; r++)
            s[r] = score[lps_pattern_position(p, taps, g, r)];
        lps_pattern_order(NULL, s, p.m, order);
        for (int k = 0; k < p.m; k++)
            mask[lps_pattern_position(p, taps, g, order[k])] = k < p.n;
    }
}
