/* A fused activation in the form a kernel applies in its vector registers
 * before it stores an output (docs/architecture.md, "Fused activations"):
 * the producer then needs no pass of the activation over its output. An
 * activation's epilogue declares it (lps_op_epilogue.clamp); the packed
 * product applies it in its store (packed_gemm.h). Each form gives the
 * bytes of the activation's own forward: Relu maps NaN and -0 to +0, a
 * range clamps in Clip's order (below lo first, NaN kept). */
#ifndef LPS_OPS_CLAMP_H
#define LPS_OPS_CLAMP_H

typedef enum lps_clamp_kind {
    LPS_CLAMP_NONE,  /* no activation, or one without a register form */
    LPS_CLAMP_RELU,  /* y = x > 0 ? x : +0 */
    LPS_CLAMP_RANGE, /* v = x < lo ? lo : x; y = v > hi ? hi : v */
} lps_clamp_kind;

typedef struct lps_clamp {
    lps_clamp_kind kind;
    float lo, hi; /* LPS_CLAMP_RANGE's bounds */
} lps_clamp;

#endif
