#include "sparsity/radix_select.h"

#include <stdlib.h>
#include <string.h>

#include "core/par.h"

/* Radix selection on the 31 magnitude bits of a float: the high 15 bits,
 * then the low 16 bits inside the chosen bucket. */
#define KEY_LOW_BITS 16
#define KEY_HIGH_BUCKETS (1u << 15)
#define KEY_LOW_BUCKETS (1u << KEY_LOW_BITS)
#define KEY_LOW_MASK (KEY_LOW_BUCKETS - 1u)
#define KEY_ABS_MASK 0x7fffffffu

/* What one position of a pass weighs against LPS_PAR_MIN_FLOPS: a byte and
 * a float read and a histogram increment at a data-dependent address, a
 * few nanoseconds, about what 8 flops of one core's sgemm take, so a pass
 * is cut from about 250,000 positions (LeNet-300-100's first layer). */
#define SELECT_FLOPS_PER_ITEM 8.0

struct lps_radix_selector {
    int max_chunks;
    int64_t *high;   /* [max_chunks][KEY_HIGH_BUCKETS] */
    int64_t *low;    /* [max_chunks][KEY_LOW_BUCKETS] */
    int64_t *n_cand; /* [max_chunks] */
    int64_t *take;   /* [max_chunks]: ties at the threshold each chunk flips */
};

lps_radix_selector *lps_radix_selector_new(lps_error *err)
{
    lps_radix_selector *s = calloc(1, sizeof *s);
    if (s) {
        s->max_chunks = lps_par_threads();
        size_t c = (size_t)s->max_chunks;
        s->high = malloc(c * KEY_HIGH_BUCKETS * sizeof *s->high);
        s->low = malloc(c * KEY_LOW_BUCKETS * sizeof *s->low);
        s->n_cand = malloc(c * sizeof *s->n_cand);
        s->take = malloc(c * sizeof *s->take);
    }
    if (!s || !s->high || !s->low || !s->n_cand || !s->take) {
        lps_radix_selector_free(s);
        lps_fail(err, LPS_ERR_NOMEM, "prune: cannot allocate selection histograms");
        return NULL;
    }
    return s;
}

void lps_radix_selector_free(lps_radix_selector *s)
{
    if (!s)
        return;
    free(s->high);
    free(s->low);
    free(s->n_cand);
    free(s->take);
    free(s);
}

/* Rank key of a score: smaller key = selected first. */
static uint32_t key_of(float x, int largest)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits &= KEY_ABS_MASK;
    return largest ? KEY_ABS_MASK - bits : bits;
}

/* Whether a position with mask value m takes part in a selection over cand. */
static int is_candidate(uint8_t m, int cand)
{
    return cand == LPS_SELECT_ANY || m == cand;
}

typedef struct select_job select_job;
/* One pass over positions [lo, hi) of one member, for chunk `chunk`. */
typedef void (*piece_fn)(const select_job *job, int chunk, uint8_t *mask, const float *score,
                         int64_t lo, int64_t hi);

struct select_job {
    lps_radix_selector *s;
    const lps_select_member *ms;
    int n_members;
    int64_t total; /* positions over all members */
    int cand, largest;
    uint32_t bucket;    /* the high bucket holding the threshold (pass 2) */
    uint32_t threshold; /* keys below are chosen, ties up to take[chunk] (pass 3) */
    int pick_any;       /* 0 when k is 0: nothing is chosen */
    uint8_t chosen, other;
    piece_fn piece;
};

/* Branch-free (a non-candidate adds 0): mask bytes in the middle of a
 * schedule are 0 and 1 at random, and a branch on them mispredicted about
 * every other position (this pass 1.19% -> 0.48% of the default run's
 * samples; the same branch-free form of the other two passes measured
 * slower than their branches). */
static void count_high(const select_job *job, int chunk, uint8_t *mask, const float *score,
                       int64_t lo, int64_t hi)
{
    int64_t *high = job->s->high + (size_t)chunk * KEY_HIGH_BUCKETS, n = 0;
    for (int64_t i = lo; i < hi; i++) {
        int on = is_candidate(mask[i], job->cand);
        high[key_of(score[i], job->largest) >> KEY_LOW_BITS] += on;
        n += on;
    }
    job->s->n_cand[chunk] += n;
}

static void count_low(const select_job *job, int chunk, uint8_t *mask, const float *score,
                      int64_t lo, int64_t hi)
{
    int64_t *low = job->s->low + (size_t)chunk * KEY_LOW_BUCKETS;
    for (int64_t i = lo; i < hi; i++)
        if (is_candidate(mask[i], job->cand)) {
            uint32_t key = key_of(score[i], job->largest);
            if (key >> KEY_LOW_BITS == job->bucket)
                low[key & KEY_LOW_MASK]++;
        }
}

static void flip(const select_job *job, int chunk, uint8_t *mask, const float *score, int64_t lo,
                 int64_t hi)
{
    int64_t take = job->s->take[chunk];
    for (int64_t i = lo; i < hi; i++) {
        if (!is_candidate(mask[i], job->cand))
            continue;
        uint32_t key = key_of(score[i], job->largest);
        int pick = job->pick_any && (key < job->threshold || (key == job->threshold && take > 0));
        if (pick && key == job->threshold)
            take--;
        mask[i] = pick ? job->chosen : job->other;
    }
    job->s->take[chunk] = take;
}

/* Runs job->piece over chunk `chunk`'s part of the members' concatenation,
 * zeroing the chunk's histogram of that pass first. */
static void run_chunk(void *arg, int chunk, int n_chunks)
{
    const select_job *job = arg;
    if (job->piece == count_high) {
        memset(job->s->high + (size_t)chunk * KEY_HIGH_BUCKETS, 0,
               KEY_HIGH_BUCKETS * sizeof *job->s->high);
        job->s->n_cand[chunk] = 0;
    } else if (job->piece == count_low) {
        memset(job->s->low + (size_t)chunk * KEY_LOW_BUCKETS, 0,
               KEY_LOW_BUCKETS * sizeof *job->s->low);
    }
    int64_t begin, end, offset = 0;
    lps_par_range(job->total, chunk, n_chunks, &begin, &end);
    for (int m = 0; m < job->n_members; offset += job->ms[m].numel, m++) {
        int64_t lo = begin > offset ? begin - offset : 0;
        int64_t hi = end < offset + job->ms[m].numel ? end - offset : job->ms[m].numel;
        if (lo < hi)
            job->piece(job, chunk, job->ms[m].mask, job->ms[m].score, lo, hi);
    }
}

static void run_pass(select_job *job, piece_fn piece, int n_chunks)
{
    job->piece = piece;
    lps_par_for(n_chunks, run_chunk, job);
}

/* The first bucket of `buckets` at which the count summed over the chunks'
 * histograms (hist + c * stride) reaches k - *before; *before gains the
 * counts of the buckets passed. */
static uint32_t find_bucket(const int64_t *hist, size_t stride, uint32_t buckets, int n_chunks,
                            int64_t k, int64_t *before)
{
    uint32_t b = 0;
    for (; b < buckets - 1; b++) {
        int64_t count = 0;
        for (int c = 0; c < n_chunks; c++)
            count += hist[(size_t)c * stride + b];
        if (*before + count >= k)
            break;
        *before += count;
    }
    return b;
}

void lps_radix_select_flip(lps_radix_selector *s, const lps_select_member *ms, int n_members,
                           int cand, int64_t k, int largest)
{
    select_job job = {.s = s, .ms = ms, .n_members = n_members, .cand = cand,
                      .largest = largest, .chosen = cand == LPS_SELECT_ANY ? 0 : (uint8_t)!cand,
                      .other = cand == LPS_SELECT_ANY ? 1 : (uint8_t)cand};
    for (int m = 0; m < n_members; m++)
        job.total += ms[m].numel;
    int n_chunks = lps_par_chunks(job.total, (double)job.total * SELECT_FLOPS_PER_ITEM);
    if (n_chunks > s->max_chunks)
        n_chunks = s->max_chunks;
    run_pass(&job, count_high, n_chunks);
    int64_t n_cand = 0;
    for (int c = 0; c < n_chunks; c++)
        n_cand += s->n_cand[c];
    if (k > n_cand)
        k = n_cand;
    /* threshold key T: all keys < T are chosen, plus the first `take` equal to T */
    int64_t before = 0;
    job.bucket = find_bucket(s->high, KEY_HIGH_BUCKETS, KEY_HIGH_BUCKETS, n_chunks, k, &before);
    run_pass(&job, count_low, n_chunks);
    uint32_t low = find_bucket(s->low, KEY_LOW_BUCKETS, KEY_LOW_BUCKETS, n_chunks, k, &before);
    job.threshold = (job.bucket << KEY_LOW_BITS) | low;
    job.pick_any = k > 0;
    /* ties at the threshold, in order: the first chunks' first */
    int64_t take = k > 0 ? k - before : 0;
    for (int c = 0; c < n_chunks; c++) {
        int64_t ties = s->low[(size_t)c * KEY_LOW_BUCKETS + low];
        s->take[c] = take < ties ? take : ties;
        take -= s->take[c];
    }
    run_pass(&job, flip, n_chunks);
}
