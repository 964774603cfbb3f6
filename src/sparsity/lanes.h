/* Eight-lane float vectors (GCC/Clang vector extensions) for the
 * element-wise loops of LpSGD. gcc's -O2 cost model vectorises none of these
 * loops by itself (masks of uint8, max reductions), so they are written
 * lane-wise. Eight lanes are one AVX2 register, which the functions marked
 * LPS_LANE_CLONES are also compiled for; the baseline x86-64 variant (SSE2)
 * and other targets run each vector as two registers of four. Vectors
 * were sixteen lanes (one AVX-512 register) until the eleventh round: on a
 * CPU without AVX-512, gcc 12 kept a 16-lane vector in memory wherever it
 * crossed a loop iteration or a branch, and compared two of them, or
 * selected on such a comparison, lane by lane (a vcomiss and a cmov per
 * lane), so the AVX2 variant of every LpSGD pass was mostly scalar (half
 * of the default run's samples on an AVX2-only AMD EPYC). The helpers are
 * inlined, so no such vector crosses a call (its passing would differ
 * between the variants). Every operation is plain IEEE float arithmetic on
 * each lane, so a lane computes exactly what the scalar loop did, and
 * results do not depend on the lane count or the variant. The double
 * partial sums are still sixteen, over blocks of LPS_BLOCK positions (two
 * vectors), so their order, and every result, is the 16-lane code's. */
#ifndef LPS_SPARSITY_LANES_H
#define LPS_SPARSITY_LANES_H

#include <stdint.h>
#include <string.h>

#define LPS_LANES 8
/* Positions per block of the double partial sums (lps_vec_d): two vectors. */
#define LPS_BLOCK (2 * LPS_LANES)
/* For the functions that loop over these vectors: AVX2 where the CPU has
 * it, else the baseline; the loader picks (GCC target_clones, an ifunc).
 * The build is ISO C11, where gcc contracts no multiply-add
 * (-ffp-contract=off), so no FMA is used and every variant rounds as the
 * baseline does. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LPS_LANE_CLONES __attribute__((target_clones("avx2", "default")))
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
/* Four doubles, one AVX2 register. */
#define LPS_QUARTER (LPS_BLOCK / 4)
typedef double lps_vec_dq __attribute__((vector_size(LPS_QUARTER * sizeof(double))));
/* Sixteen double partial sums: a double reduction is otherwise bound by
 * the add latency (gcc does not reassociate it without -ffast-math). Lane
 * k sums the positions i = k mod LPS_BLOCK (lanes 0-3 in q0, 4-7 in q1,
 * 8-11 in q2, 12-15 in q3); a tail's positions go into lane 0 in order,
 * and lps_vsum_d adds the lanes in order (docs/method.md, "LpSGD",
 * Numerics). Four named registers, not one 16-double vector: gcc keeps a
 * vector wider than the widest register in memory across loop
 * iterations. */
typedef struct lps_vec_d {
    lps_vec_dq q0, q1, q2, q3;
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

/* All-ones lanes where the bytes m[0..LPS_LANES) are nonzero: the eight
 * bytes compared in one 16-byte register, each verdict byte then copied to
 * its lane's four (AVX2: a vmovq, two vpcmpeqb, a vperm2i128 and a
 * vpshufb; widening the bytes with __builtin_convertvector took some 30
 * scalar extracts and inserts, a quarter of the direction pass). */
LPS_LANE_FN lps_vec_i lps_vmask_bytes(const uint8_t *m)
{
    typedef uint8_t bytes __attribute__((vector_size(16)));
    typedef int8_t verdicts __attribute__((vector_size(16)));
    typedef int8_t lane_bytes __attribute__((vector_size(LPS_LANES * sizeof(int32_t))));
    typedef uint64_t words __attribute__((vector_size(16)));
    uint64_t word; /* LPS_LANES bytes */
    memcpy(&word, m, sizeof word);
    verdicts nz = (verdicts)((bytes)(words){word, 0} != 0);
    lane_bytes lanes = __builtin_shufflevector(nz, nz, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3,
                                               3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
    return (lps_vec_i)lanes;
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

/* Sixteen zero partial sums. */
LPS_LANE_FN lps_vec_d lps_vzero_d(void)
{
    return (lps_vec_d){{0}, {0}, {0}, {0}};
}

/* Eight doubles: an 8-lane product converted whole (AVX2: a vcvtps2pd
 * per register of doubles; a quarter converted alone is lowered to
 * pairs). */
typedef double lps_vec_dw __attribute__((vector_size(LPS_LANES * sizeof(double))));

/* acc + a * b lane-wise in double for one block: a0, b0 its first
 * LPS_LANES positions, a1, b1 the next (the product of two floats is
 * exact in double; only the sums round). */
LPS_LANE_FN lps_vec_d lps_vacc_block(lps_vec_d acc, lps_vec_f a0, lps_vec_f b0, lps_vec_f a1,
                                     lps_vec_f b1)
{
    lps_vec_dw p0 = __builtin_convertvector(a0, lps_vec_dw) * __builtin_convertvector(b0, lps_vec_dw);
    lps_vec_dw p1 = __builtin_convertvector(a1, lps_vec_dw) * __builtin_convertvector(b1, lps_vec_dw);
    acc.q0 += __builtin_shufflevector(p0, p0, 0, 1, 2, 3);
    acc.q1 += __builtin_shufflevector(p0, p0, 4, 5, 6, 7);
    acc.q2 += __builtin_shufflevector(p1, p1, 0, 1, 2, 3);
    acc.q3 += __builtin_shufflevector(p1, p1, 4, 5, 6, 7);
    return acc;
}

/* acc with x added to lane 0 (a tail's products, in order). */
LPS_LANE_FN lps_vec_d lps_vacc_first(lps_vec_d acc, double x)
{
    acc.q0[0] += x;
    return acc;
}

/* 0 + lane 0 + lane 1 + ... + lane LPS_BLOCK - 1, in that order. */
LPS_LANE_FN double lps_vsum_d(lps_vec_d acc)
{
    double sum = 0.0;
    for (int k = 0; k < LPS_QUARTER; k++)
        sum += acc.q0[k];
    for (int k = 0; k < LPS_QUARTER; k++)
        sum += acc.q1[k];
    for (int k = 0; k < LPS_QUARTER; k++)
        sum += acc.q2[k];
    for (int k = 0; k < LPS_QUARTER; k++)
        sum += acc.q3[k];
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
