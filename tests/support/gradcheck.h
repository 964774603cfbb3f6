/* Finite-difference check of an operator's backward pass.
 *
 * The scalar checked is L = sum_j <out_j, R_j> with fixed random R_j, so the
 * output gradients fed to backward are R_j. For each checked input (bit i of
 * check_mask) up to max_points elements are perturbed by +-eps and the
 * central difference (L+ - L-) / (2 eps), with L summed in double, is compared
 * with backward's din: |num - ana| <= atol + rtol * max(|num|, |ana|).
 * Backward is run with din pre-filled with 1.0 to prove it accumulates.
 * Ops with kinks (Relu, MaxPool, Clip) need inputs kept away from them. */
#ifndef LPS_TEST_GRADCHECK_H
#define LPS_TEST_GRADCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"

typedef struct gradcheck_tol {
    double atol;
    double rtol;
    float eps;
    int max_points;     /* per input; 0 = every element */
    bool training;      /* run the op in training mode */
} gradcheck_tol;

/* Suggested defaults: atol 1e-3, rtol 1e-2, eps 1e-2, every element. */
gradcheck_tol gradcheck_default_tol(void);

/* Returns true when every checked element agrees. On disagreement (or an op
 * error) writes a one-line description into why and returns false. inputs[i]
 * NULL means an omitted optional input. */
bool gradcheck_op(const lps_node *node, int64_t opset, lps_tensor *const *inputs,
                  size_t n_inputs, uint32_t check_mask, gradcheck_tol tol, char *why,
                  size_t why_len);

#endif
