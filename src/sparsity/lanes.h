/* Sixteen-lane float vectors (GCC/Clang vector extensions) for the
 * element-wise loops of LpSGD. gcc's -O2 cost model vectorises none of these
 * loops by itself (masks of uint8, max reductions), so they are written
 * lane-wise. Sixteen lanes are one AVX-512 register, which the functions
 * marked LPS_LANE_CLONES are also compiled for (and AVX2: two registers);
 * the baseline x86-64 variant (SSE2) and other targets run each vector as
 * four registers of four. The helpers are inlined, so no such vector
 * crosses a call (its passing would differ between the variants). Every
 * operation is plain IEEE float arithmetic on each lane, so a lane computes
 * exactly what the scalar loop did, and results do not depend on the lane
 * count or the variant. */
#ifndef LPS_SPARSITY_LANES_H
#define LPS_SPARSITY_LANES_H

#include <stdint.h>
#include <string.h>

#define LPS_LANES 16
/* For the functions that loop over these vectors: AVX-512 where the CPU has
 * it (one register per vector, half the instructions of AVX2's two), else
 * AVX2, else the baseline; the loader picks (GCC target_clones, an ifunc).
 * The build is ISO C11, where gcc contracts no multiply-add
 * (-ffp-contract=off), so AVX-512's and AVX2's FMA are never used and
 * every variant rounds as the baseline does. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LPS_LANE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LPS_LANE_CLONES
#endif
#define LPS_LANE_FN static inline __attribute__((always_inline))
/* gcc and clang (the fuzz build) warn that passing or returning a 32-byte
 * vector differs between the baseline and the AVX psABI. The helpers below
 * are always inlined (LPS_LANE_FN, also at -O0), so no such vector crosses
 * a call between an AVX2 clone and a baseline function, where the two
 * conventions would disagree. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float lps_vec_f __attribute__((vector_size(LPS_LANES * sizeof(float))));
typedef int32_t lps_vec_i __attribute__((vector_size(LPS_LANES * sizeof(int32_t))));
typedef uint32_t lps_vec_u __attribute__((vector_size(LPS_LANES * sizeof(uint32_t))));
/* Sixteen double partial sums (two AVX-512 registers): a double reduction
 * is otherwise bound by the add latency (gcc does not reassociate it
 * without -ffast-math). Lane k sums positions i = k mod LPS_LANES (lanes
 * 0-7 in lo, 8-15 in hi); a tail's positions go into lane 0 in order, and
 * lps_vsum_d adds the lanes in order (docs/method.md, "LpSGD", Numerics).
 * Two native-width halves, not one 16-double vector: gcc keeps a vector
 * twice the widest register in memory across loop iterations. */
#define LPS_HALF_LANES (LPS_LANES / 2)
typedef double lps_vec_dh __attribute__((vector_size(LPS_HALF_LANES * sizeof(double))));
typedef double lps_vec_dw __attribute__((vector_size(LPS_LANES * sizeof(double))));
typedef struct lps_vec_d {
    lps_vec_dh lo, hi;
} lps_vec_d;

/* Unaligned load and store of LPS_LANES floats. */
LPS_LANE_FN lps_vec_f lps_vload(const float *p)
{
    lps_vec_f v;
    memcpy(&v, p, sizeof v);
    return v;
}

LPS_LANE_FN void lps_vstore(float *p, lps_vec_f v)
{
    memcpy(p, &v, sizeof v);
}

/* Lane-wise mask ? a : b for a mask of all-ones / all-zeros lanes. */
LPS_LANE_FN lps_vec_f lps_vselect(lps_vec_i mask, lps_vec_f a, lps_vec_f b)
{
    return (lps_vec_f)(((lps_vec_i)a & mask) | ((lps_vec_i)b & ~mask));
}

/* All-ones lanes where the bytes m[0..LPS_LANES) are nonzero. */
LPS_LANE_FN lps_vec_i lps_vmask_bytes(const uint8_t *m)
{
    lps_vec_i v = {0};
    for (int k = 0; k < LPS_LANES; k++)
        v[k] = m[k];
    return v != 0;
}

/* Nonzero when every lane of an all-ones / all-zeros mask is set. */
LPS_LANE_FN int lps_vall(lps_vec_i mask)
{
    int32_t all = -1;
    for (int k = 0; k < LPS_LANES; k++)
        all &= mask[k];
    return all != 0;
}

/* |v| lane-wise (clears the sign bits). */
LPS_LANE_FN lps_vec_f lps_vabs(lps_vec_f v)
{
    return (lps_vec_f)((lps_vec_u)v & 0x7fffffffu);
}

/* Lane-wise a > b ? a : b, the scalar loops' max step. */
LPS_LANE_FN lps_vec_f lps_vmax(lps_vec_f a, lps_vec_f b)
{
    return lps_vselect(a > b, a, b);
}

/* acc + a * b lane-wise in double (the product of two floats is exact in
 * double; only the sum rounds). */
LPS_LANE_FN lps_vec_d lps_vacc_product(lps_vec_d acc, lps_vec_f a, lps_vec_f b)
{
    /* converted whole (AVX-512: one vcvtps2pd per register of doubles; a
     * half-width conversion is lowered to quarters) */
    lps_vec_dw prod = __builtin_convertvector(a, lps_vec_dw) * __builtin_convertvector(b, lps_vec_dw);
    acc.lo += __builtin_shufflevector(prod, prod, 0, 1, 2, 3, 4, 5, 6, 7);
    acc.hi += __builtin_shufflevector(prod, prod, 8, 9, 10, 11, 12, 13, 14, 15);
    return acc;
}

/* 0 + lane 0 + lane 1 + ... + lane LPS_LANES - 1, in that order. */
LPS_LANE_FN double lps_vsum_d(lps_vec_d acc)
{
    double sum = 0.0;
    for (int k = 0; k < LPS_HALF_LANES; k++)
        sum += acc.lo[k];
    for (int k = 0; k < LPS_HALF_LANES; k++)
        sum += acc.hi[k];
    return sum;
}

/* The largest lane. */
LPS_LANE_FN float lps_vmax_lanes(lps_vec_f v)
{
    float m = v[0];
    for (int k = 1; k < LPS_LANES; k++)
        m = v[k] > m ? v[k] : m;
    return m;
}

#endif
