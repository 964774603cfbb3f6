/* Discovery of the prunable weights of a model (docs/method.md, "Prunable
 * weights and their rows").
 *
 * An operator declares its weight inputs and their row forms in its def
 * (lps_op_def.weights, src/ops/op.h): Conv's W, Gemm's B (transB), MatMul's
 * constant operand, ... A prunable weight is a float initializer feeding
 * such an input at a rank the entry accepts. Each is listed once, with the
 * row layout that maps its output units to their fan-in. This is the only
 * sparsity code that looks at the graph; everything downstream takes
 * (float *, lps_row_layout). */
#ifndef LPS_SPARSITY_PRUNABLE_H
#define LPS_SPARSITY_PRUNABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "ops/op.h"
#include "sparsity/rows.h"

typedef struct lps_prunable {
    char *initializer;        /* initializer name (owned copy) */
    size_t init_index;        /* its index in graph.initializers */
    char *node;               /* first node using it as a weight (owned copy);
                                 an unnamed node is called "<op_type>#<index>" */
    size_t node_index;        /* that node's index in graph.nodes */
    int input;                /* the input of that node it feeds; -1 behind a view */
    const char *op_type;      /* the op's def name (static): "Conv", "Gemm", ... */
    lps_weight_role role;     /* LPS_WEIGHT_LAYER or LPS_WEIGHT_EMBEDDING */
    bool excluded;            /* trained but not pruned nor counted: set for
                                 embeddings here; the sparsifier also sets it
                                 for --exclude and clears it with
                                 --prune-embeddings */
    size_t n_uses;            /* nodes using it as a weight (shared weights > 1) */
    int rank;
    int64_t dims[LPS_MAX_RANK];
    lps_row_layout layout;    /* unit j's row; layout.row_len is the fan-in */
    bool rows_in_order;       /* row j feeds output unit j of `node` (false
                                 when views reorder rows: an LSTM's gates) */
    int64_t fan_in;
    int64_t taps;             /* row positions per input channel: fan_in / taps input
                                 channels (docs/method.md, "N:M patterns") */
    /* The first node's per-unit bias (its def's bias_input): a 1-D float
     * initializer of layout.n_rows values, or SIZE_MAX. */
    size_t bias_index;
} lps_prunable;

typedef struct lps_prunable_list {
    size_t count;
    lps_prunable *items;      /* in order of first use in graph.nodes */
} lps_prunable_list;

/* Lists the prunable weights of m into *out (which the caller then releases
 * with lps_prunable_list_release). Fails, leaving *out empty, with
 * LPS_ERR_UNSUPPORTED for a weight that is not float, of a rank above what
 * its op's entry supports, or shared with different row layouts;
 * LPS_ERR_INVALID for a non-integer layout attribute (Gemm's transB) or a
 * group that does not divide the channels; LPS_ERR_NOMEM on allocation
 * failure. The message names the node and the initializer. Nodes whose
 * operator has no def at the model's opset have no weights here (compiling
 * the model reports them). */
lps_status lps_prunable_find(const lps_model *m, lps_prunable_list *out, lps_error *err);

/* Elements of the float initializers of m that feed an input some node's
 * def marks differentiable: what training updates (the engine's trainable
 * parameters), prunable or not. LPS_ERR_NOMEM on allocation failure. */
lps_status lps_trainable_params(const lps_model *m, int64_t *params, lps_error *err);

/* Whether value `name` is a graph output or is read by a node one of whose
 * outputs is (a classifier's logits, possibly behind a Softmax). */
bool lps_prunable_reaches_output(const lps_graph *g, const char *name);

/* Marks head[w] for each weight w of list whose node a graph output depends
 * on through nodes that hold none of the list's weights: the classifier,
 * also behind Relu / GlobalAveragePool / Flatten (SqueezeNet) or a Softmax.
 * head has list->count entries. LPS_ERR_NOMEM on allocation failure. */
lps_status lps_prunable_heads(const lps_graph *g, const lps_prunable_list *list, bool *head,
                              lps_error *err);

/* Frees the entries and zeroes the list. NULL is accepted. */
void lps_prunable_list_release(lps_prunable_list *list);

#endif
