/* One operator case written as text, as tests/unit/op_cases.h lists them:
 * the inputs and the attributes of a node, parsed into a node and tensors.
 *
 * Inputs, separated by spaces, one per node input in order:
 *     -                   an omitted optional input
 *     f[2,3]              float, uniform in [-1, 1) from a fixed seed
 *     f[2,3](0.5,2)       float, uniform in [0.5, 2)
 *     f[2]=1.5,-2         float with these values (as many as elements)
 *     i[2]=3,-1           int64 with these values; i[]=4 is a scalar
 *     b[3]=1,0,1          bool
 * Attributes, separated by spaces:
 *     axis=1              int          alpha=0.2, eps=1e-5   float
 *     perm=[1,0]          ints         scales=[0.5,2.0]      floats (a '.' or 'e')
 *     mode='reflect'      string       value=f[2]=1,2        tensor (input grammar)
 * Text is trusted test data: a malformed spec is reported, not guessed at. */
#ifndef LPS_TEST_OP_SPEC_H
#define LPS_TEST_OP_SPEC_H

#include <stddef.h>

#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"

#define OP_SPEC_MAX_INPUTS 8

typedef struct op_spec_case {
    lps_node *node;                          /* free with op_spec_case_release */
    lps_tensor *inputs[OP_SPEC_MAX_INPUTS];  /* NULL for an omitted input */
    size_t n_inputs;
} op_spec_case;

/* Builds the node (op_type, n_outputs outputs) and its inputs. Returns 0, or
 * -1 with a one-line reason in why (and c released). */
int op_spec_parse(op_spec_case *c, const char *op_type, const char *inputs, const char *attrs,
                  int n_outputs, char *why, size_t why_len);

/* Frees the node and the input tensors; c may be NULL. */
void op_spec_case_release(op_spec_case *c);

#endif
