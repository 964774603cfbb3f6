#include "data/rng.h"

/* Constants of splitmix64 and xoshiro256** as published by Vigna. */
#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15u
#define SPLITMIX_MUL1 0xBF58476D1CE4E5B9u
#define SPLITMIX_MUL2 0x94D049BB133111EBu
#define XOSHIRO_MUL1 5u
#define XOSHIRO_MUL2 9u
#define XOSHIRO_ROT1 7
#define XOSHIRO_SHIFT 17
#define XOSHIRO_ROT2 45

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t lps_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

void lps_rng_seed(lps_rng *rng, uint64_t seed)
{
    /* splitmix64 output is never all-zero over four steps, which xoshiro
     * requires of its state. */
    for (int i = 0; i < 4; i++)
        rng->s[i] = lps_splitmix64(&seed);
}

uint64_t lps_rng_next(lps_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * XOSHIRO_MUL1, XOSHIRO_ROT1) * XOSHIRO_MUL2;
    uint64_t t = s[1] << XOSHIRO_SHIFT;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], XOSHIRO_ROT2);
    return result;
}

uint64_t lps_rng_below(lps_rng *rng, uint64_t bound)
{
    /* Reject the top partial copy of 0..bound-1 so every value is equally
     * likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = lps_rng_next(rng);
    while (x >= limit);
    return x % bound;
}
