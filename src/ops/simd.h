/* Wider vectors for the hot element-wise loops. The build targets baseline
 * x86-64 (SSE2: 4 floats per instruction); a function marked
 * LPS_VECTOR_CLONES is also compiled for AVX2 (8 floats) and the loader
 * picks the variant the CPU runs (GCC target_clones, an ifunc). AVX2
 * without FMA: no multiply-add is contracted, so every variant rounds
 * exactly as the baseline one and results do not depend on the machine.
 * Other compilers (clang: the fuzz build) get the baseline only. */
#ifndef LPS_OPS_SIMD_H
#define LPS_OPS_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#include "ops/clamp.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LPS_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LPS_VECTOR_CLONES
#endif

/* Kernels written for AVX-512 (a function with this attribute runs only
 * after __builtin_cpu_supports("avx512f")). */
#define LPS_AVX512 __attribute__((target("avx512f")))

/* Floats per AVX-512 vector. */
#define LPS_AVX512_FLOATS 16

/* The mask of an AVX-512 vector's first n lanes: all of them for n >= 16,
 * none for n <= 0. */
static inline __mmask16 lps_lanes_below(int64_t n)
{
    return n >= LPS_AVX512_FLOATS ? (__mmask16)0xFFFF
           : n <= 0               ? 0
                                  : (__mmask16)((1u << n) - 1u);
}

/* p[0], p[2], ..., p[2 (n - 1)] for n <= 16 in the first lanes, zero
 * past them: two masked loads (nothing read past p[2 (n - 1)]) and a
 * permute of their even lanes, for stride-2 lines. */
static inline __attribute__((always_inline)) LPS_AVX512 __m512
lps_load_even_lanes(const float *p, int64_t n)
{
    __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    int64_t span = 2 * n - 1; /* floats from the first to the last */
    __m512 lo = _mm512_maskz_loadu_ps(lps_lanes_below(span), p);
    __m512 hi = span > LPS_AVX512_FLOATS
                    ? _mm512_maskz_loadu_ps(lps_lanes_below(span - LPS_AVX512_FLOATS),
                                            p + LPS_AVX512_FLOATS)
                    : _mm512_setzero_ps();
    return _mm512_maskz_mov_ps(lps_lanes_below(n), _mm512_permutex2var_ps(lo, evens, hi));
}

/* v through act (clamp.h) in a kernel's registers before its store: the
 * activation's own forward, bit for bit (ordered compares: a NaN fails
 * each, so Relu zeroes it and a range keeps it, as the scalar selects
 * do). */
static inline __attribute__((always_inline)) LPS_AVX512 __m512
lps_clamp_vector(const lps_clamp *act, __m512 v)
{
    if (act->kind == LPS_CLAMP_RELU)
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
    if (act->kind == LPS_CLAMP_RANGE) {
        __m512 lo = _mm512_set1_ps(act->lo), hi = _mm512_set1_ps(act->hi);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), lo);
        return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), hi);
    }
    return v;
}

/* Kernels written for AVX2 and FMA (after lps_cpu_vector_width or
 * __builtin_cpu_supports said both). */
#define LPS_AVX2_FMA __attribute__((target("avx2,fma")))

/* Floats per AVX2 vector. */
#define LPS_AVX2_FLOATS 8

/* The maskload/maskstore mask of an AVX2 vector's first n lanes (sign bit
 * set): all of them for n >= 8, none for n <= 0. */
static inline __attribute__((always_inline)) LPS_AVX2_FMA __m256i lps_lanes_below_avx2(int64_t n)
{
    __m256i lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    int bound = n >= LPS_AVX2_FLOATS ? LPS_AVX2_FLOATS : n <= 0 ? 0 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(bound), lanes);
}

/* lps_clamp_vector on an AVX2 vector: the same bytes (an ordered compare
 * is false on a NaN, so Relu's mask zeroes it and a range's keeps it). */
static inline __attribute__((always_inline)) LPS_AVX2_FMA __m256
lps_clamp_vector_avx2(const lps_clamp *act, __m256 v)
{
    if (act->kind == LPS_CLAMP_RELU)
        return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
    if (act->kind == LPS_CLAMP_RANGE) {
        __m256 lo = _mm256_set1_ps(act->lo), hi = _mm256_set1_ps(act->hi);
        v = _mm256_blendv_ps(v, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
        return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    }
    return v;
}

#endif
