/* Internal layout of a compiled plan, shared by compile.c and exec.c. */
#ifndef LPS_ENGINE_PLAN_H
#define LPS_ENGINE_PLAN_H

#include "core/name_map.h"
#include "lpsparsify/engine.h"
#include "ops/op.h"

typedef enum lps_value_kind {
    LPS_VALUE_INPUT,  /* bound by lps_plan_set_input; a view of the caller's tensor */
    LPS_VALUE_CONST,  /* initializer (a view of the model's tensor) or folded (owned) */
    LPS_VALUE_PARAM,  /* trainable initializer: a view into the flat parameter buffer */
    LPS_VALUE_TEMP    /* produced by a scheduled node */
} lps_value_kind;

typedef struct lps_value {
    const char *name;
    lps_value_kind kind;
    lps_tensor t;
    void *buf;           /* storage the plan manages for TEMP values */
    size_t buf_cap;
    int producer;        /* node index, -1 for none */
    int last_reader;     /* schedule position of the last scheduled reader, -1 for none */
    bool is_output;      /* graph output or kept value: its buffer is never recycled */
    bool needs_grad;
    lps_tensor grad;     /* PARAM: view into the flat gradient; TEMP: owned */
    bool grad_live;      /* grad holds this backward's accumulated gradient */
    int initializer;     /* index into the model's initializers, -1 for none */
    /* Computed from constants and runtime shapes only (see lps_shape_role):
     * kept between forwards, never recycled. */
    bool shape_derived;
    /* Stored [N, spatial..., C] under its [N, C, spatial...] shape
     * (layout.c; inference plans only). */
    bool channels_last;
} lps_value;

/* A node's part in shape folding (docs/architecture.md, "Shape folding"). */
typedef enum lps_shape_role {
    LPS_SHAPE_NONE,
    /* A shape_only def (Shape) on a runtime tensor: runs every forward and
     * compares its outputs with the last forward's (seen). */
    LPS_SHAPE_SOURCE,
    /* Every input constant or shape-derived: runs only when a source's
     * outputs changed since the last successful forward. */
    LPS_SHAPE_DEPENDENT
} lps_shape_role;

typedef struct lps_plan_node {
    lps_op_node op;
    const lps_op_def *def;
    int *in;             /* value ids, -1 for an omitted optional input */
    int *out;            /* value ids, -1 for an omitted optional output */
    const lps_tensor **in_t;
    lps_tensor **out_t;
    lps_tensor *unused_out; /* storage for outputs nobody names */
    const lps_tensor **dout_t;
    lps_tensor **din_t;
    bool folded;
    /* Fused activations (docs/architecture.md): a producer applies node
     * fused_act's activation (-1: none) and writes that node's output, its
     * own output 0 (pre_out) then has no value; an absorbed node never
     * runs. */
    int fused_act;
    int pre_out;
    bool absorbed;
    lps_shape_role shape_role;
    lps_tensor *seen;    /* SOURCE: copies of the outputs of the last forward */
} lps_plan_node;

typedef struct lps_symbol_binding {
    const char *symbol;
    int64_t value;
} lps_symbol_binding;

struct lps_plan {
    const lps_model *model;
    bool training;
    size_t n_values;
    lps_value *values;
    lps_name_map names;
    size_t n_nodes;
    lps_plan_node *nodes;
    size_t n_schedule;
    int *schedule;
    size_t n_folded;
    size_t n_fused;            /* activations applied by their producers */
    size_t n_channels_last;    /* values stored channels-last (layout.c) */
    size_t n_shape_cached;     /* LPS_SHAPE_DEPENDENT nodes */
    size_t n_last_run;         /* nodes the last forward ran */
    bool shape_cache_valid;    /* the last forward succeeded: dependents hold its values */
    size_t n_inputs;
    int *input_values;
    const lps_value_info **input_infos;
    size_t n_outputs;
    int *output_values;
    size_t n_symbols;
    lps_symbol_binding *symbols;
    size_t n_params;
    lps_param *params;
    lps_tensor *param_views;   /* n_params value views, then n_params grad views */
    float *param_data;
    float *grad_data;
    size_t param_floats;
    void **pool;               /* recycled TEMP buffers (inference mode) */
    size_t *pool_caps;
    size_t n_pool;
    size_t pool_capacity;
    bool ran;
};

/* compile.c: each value's last reader and, in training, whether a
 * gradient reaches it; rerun after the plan's wiring changes. */
void lps_plan_liveness(lps_plan *p);
/* fuse.c: lets every producer whose def fuses_epilogue apply the
 * activation that alone reads its output 0 (docs/architecture.md, "Fused
 * activations"). LPS_ERR_NOMEM on allocation failure. */
lps_status lps_plan_fuse_activations(lps_plan *p, lps_error *err);
/* fuse.c: undoes the fusion that took value id's producer its output, so
 * the value is computed again (a caller keeps it); nothing otherwise.
 * lps_plan_liveness must run after it. */
void lps_plan_unfuse_value(lps_plan *p, int id);
/* layout.c (docs/architecture.md, "Channels-last values"): in an
 * inference plan, stores channels-last every intermediate value that its
 * producer can write and all its readers can read so (their defs'
 * channels_last), after fusion and constant marking. */
void lps_plan_channels_last(lps_plan *p);
/* layout.c: stores value id (a node's output 0, or the own output its
 * fused activation replaced) channels-first again, for a caller that keeps
 * it; nothing when it is not channels-last. */
void lps_plan_channels_first(lps_plan *p, int id);

/* exec.c: releases the buffers and per-node arrays the plan owns. */
void lps_plan_release_runtime(lps_plan *p);
/* exec.c: runs one node (shape, allocation, forward). */
lps_status lps_plan_run_node(lps_plan *p, lps_plan_node *n, lps_exec_ctx *ctx, lps_error *err);

#endif
