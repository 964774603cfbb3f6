/* Einsum's equation (src/ops/einsum_eq.c) and the views the contraction
 * (src/ops/einsum.c) runs on.
 *
 * An operand is seen as a tensor over its distinct labels: a label written
 * twice in one term is the diagonal (its strides add up), a dim of size 1 is
 * dropped (it broadcasts, or sums over a single element), so a view only
 * holds labels of size > 1. Labels are ids: a letter is its ASCII code, the
 * k-th dim of the broadcast ellipsis is ES_ELLIPSIS_LABEL + k. */
#ifndef LPS_OPS_EINSUM_H
#define LPS_OPS_EINSUM_H

#include "ops/op.h"
#include "ops/strided.h"

#define ES_MAX_TERMS LPS_OP_MAX_IO
#define ES_ELLIPSIS_LABEL 128
#define ES_MAX_LABELS (ES_ELLIPSIS_LABEL + LPS_MAX_RANK)
/* Labels of an intermediate product: both operands' (the strided walk's
 * limit). */
#define ES_MAX_VIEW LPS_STRIDED_MAX_RANK
/* Kept for messages; a longer equation is shown cut. */
#define ES_TEXT_MAX 96

/* One term as written: letters with the ellipsis' place among them. */
typedef struct es_term {
    int n;                           /* letters */
    unsigned char letter[LPS_MAX_RANK];
    int ellipsis_at;                 /* letters before "...", -1 without */
} es_term;

/* The parsed equation (op->params). */
typedef struct es_equation {
    int n_terms;
    es_term in[ES_MAX_TERMS];
    es_term out;                     /* implicit output: derived by es_parse */
    char text[ES_TEXT_MAX];
} es_equation;

/* An operand over its labels of size > 1; strides in elements of its data. */
typedef struct es_view {
    int n;
    int label[ES_MAX_VIEW];
    int64_t dim[ES_MAX_VIEW];
    int64_t stride[ES_MAX_VIEW];
} es_view;

/* An equation applied to actual input shapes. */
typedef struct es_resolved {
    int n_in;
    es_view in[ES_MAX_TERMS];
    es_view out;                     /* output labels of size > 1, dense strides */
    lps_shape shape;                 /* the output's dtype and dims */
    bool empty;                      /* a label has size 0: the result is all zeros */
} es_resolved;

/* Parses text (spaces ignored) for n_inputs operands into eq. The implicit
 * form's output is the ellipsis, then the letters written once, in ASCII
 * order. Fails (LPS_ERR_UNSUPPORTED, naming the node and the equation) on
 * a malformed equation, a term count other than n_inputs, a term of more
 * than LPS_MAX_RANK dims, or an output letter that no input has or that
 * repeats. */
lps_status es_parse(const lps_op_node *op, const char *text, size_t n_inputs, es_equation *eq,
                    lps_error *err);

/* Matches eq against the inputs' ranks and dims: the ellipsis dims
 * broadcast (1 against any size), letters must agree. All inputs share one
 * dtype, float or double. Fails naming the node and the equation. */
lps_status es_resolve(const lps_op_node *op, const es_equation *eq, const lps_tensor *const *in,
                      es_resolved *r, lps_error *err);

/* Index of label in v, -1 when absent. */
int es_view_find(const es_view *v, int label);

/* Dense row-major strides for v's dims in place. */
void es_view_make_dense(es_view *v);

#endif
