/* Weights behind views (docs/method.md, "Weights behind views").
 *
 * A training-mode export does not fold what PyTorch computes from a
 * parameter before a layer uses it: a Linear's weight reaches MatMul as
 * Transpose(W), an LSTM's W as Unsqueeze(Concat(Slice(W), ...)). Ops whose
 * def declares .weight_view (src/ops/op.h) only move elements, so running
 * their own forward on element codes (int64: a base per initializer plus
 * the flat offset) tells which initializer element every element of the
 * consumer's weight input is. When the consumer's rows, mapped through the
 * codes, are whole rows of each initializer under one labelling of its
 * axes as units or fan-in, those initializers are the prunable weights,
 * with that layout: training, masks and the written model act on the
 * initializer, and the view nodes stay in the graph. Only
 * src/sparsity/prunable.c uses this. */
#ifndef LPS_SPARSITY_WEIGHT_VIEW_H
#define LPS_SPARSITY_WEIGHT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"
#include "sparsity/rows.h"

/* Most initializers one weight input may gather rows from (a
 * bidirectional RNN's W: one per direction). More is refused. */
#define LPS_VIEW_MAX_SOURCES 16

typedef struct lps_view_tracer lps_view_tracer;

/* Rows of one initializer behind a weight input. */
typedef struct lps_view_source {
    size_t init_index;      /* in graph.initializers */
    lps_row_layout layout;  /* the consumer's rows, on the initializer */
    int64_t taps;           /* row positions per input channel: the fan-in
                               axes after the outermost one (docs/method.md,
                               "N:M patterns") */
    bool rows_in_order;     /* its row j feeds the consumer's unit j */
} lps_view_source;

/* A tracer over g's nodes, described by the defs at `opset`. g must
 * outlive it. Returns NULL (err set, LPS_ERR_NOMEM) on allocation failure;
 * free it with lps_view_tracer_free (NULL accepted). */
lps_view_tracer *lps_view_tracer_new(const lps_graph *g, int64_t opset, lps_error *err);
void lps_view_tracer_free(lps_view_tracer *t);

/* Traces value `name` back through weight views. *found is true when it
 * is built from float initializers by weight views alone (their other
 * inputs, Slice's starts say, constant); then *traced (released by the
 * caller) is an int64 tensor of the value's shape holding element codes.
 * *found false leaves *traced empty. Fails (the message naming the node)
 * when a view node's forward fails; LPS_ERR_NOMEM on allocation failure. */
lps_status lps_view_trace(lps_view_tracer *t, const char *name, lps_tensor *traced, bool *found,
                          lps_error *err);

/* Splits the consumer's rows `rows` (a layout on *traced) into rows of the
 * initializers behind them: out[0..*n_out-1], at most LPS_VIEW_MAX_SOURCES.
 * *ok is false, and *n_out 0, when they are not: a row mixes initializers,
 * an element feeds two positions or none (a view dropping part of an
 * initializer), or a row is no row of an axis labelling of its
 * initializer. Fails with LPS_ERR_UNSUPPORTED (naming `label`) for
 * more sources than the maximum, LPS_ERR_NOMEM on allocation failure. */
lps_status lps_view_split_rows(const lps_view_tracer *t, const lps_tensor *traced,
                               const lps_row_layout *rows, const char *label,
                               lps_view_source *out, size_t *n_out, bool *ok, lps_error *err);

/* The layout whose rows enumerate the axes of dims not in fanin_mask (bit
 * a: axis a is fan-in), row-major, each row over the fan-in axes. Axes of
 * size 1 belong to either. False when it needs more than two strided runs
 * of unit axes or of fan-in axes (what lps_row_layout addresses). */
bool lps_view_layout_from_axes(int rank, const int64_t *dims, uint32_t fanin_mask,
                               lps_row_layout *out);

#endif
