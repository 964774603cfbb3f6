/* A small seeded pseudo-random generator (xoshiro256** seeded through
 * splitmix64) for deterministic shuffling. State lives in the caller's
 * struct: there is no global generator. */
#ifndef LPS_DATA_RNG_H
#define LPS_DATA_RNG_H

#include <stdint.h>

typedef struct lps_rng {
    uint64_t s[4];
} lps_rng;

/* Seeds rng from any 64-bit value (0 included). */
void lps_rng_seed(lps_rng *rng, uint64_t seed);

/* Next 64 uniformly distributed bits. */
uint64_t lps_rng_next(lps_rng *rng);

/* Uniform integer in 0..bound-1 without modulo bias; bound must be >= 1. */
uint64_t lps_rng_below(lps_rng *rng, uint64_t bound);

/* One splitmix64 step: advances *state and returns a well-mixed value.
 * Also used to derive independent seeds (e.g. per epoch). */
uint64_t lps_splitmix64(uint64_t *state);

#endif
