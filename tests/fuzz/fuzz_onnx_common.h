/* Shared by the ONNX fuzz harnesses: a model that loaded goes through what a
 * real run does with it: compile for inference and for training, one forward
 * pass over small zero inputs, and a save of every initializer rewritten
 * (dense and sparse) that must load again. Every failure must be a clean
 * lps_status with a one-line message; the sanitizers catch everything else. */
#ifndef LPS_FUZZ_ONNX_COMMON_H
#define LPS_FUZZ_ONNX_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"

/* Inputs larger than this are not worth an execution's time. */
#define FUZZ_MAX_INPUT_VALUES 4096
/* What a symbolic or unknown input dim binds to. */
#define FUZZ_SYMBOL_DIM 2

/* A message must be one non-empty line. */
static inline void fuzz_check_message(const lps_error *err)
{
    if (err->msg[0] == '\0' || strchr(err->msg, '\n'))
        abort();
}

/* Builds a zero tensor for a declared input; false when its shape is not
 * fully known or too large to run. */
static inline bool fuzz_input_for(const lps_value_info *vi, lps_tensor *t)
{
    int64_t dims[LPS_MAX_RANK];
    lps_error err;
    if (vi->rank < 0 || vi->dtype == LPS_DT_UNDEFINED || vi->dtype == LPS_DT_STRING)
        return false;
    int64_t numel = 1;
    for (int d = 0; d < vi->rank; d++) {
        dims[d] = vi->dims[d].symbol || vi->dims[d].value < 0 ? FUZZ_SYMBOL_DIM
                                                               : vi->dims[d].value;
        if (dims[d] > FUZZ_MAX_INPUT_VALUES)
            return false;
        numel *= dims[d];
        if (numel > FUZZ_MAX_INPUT_VALUES)
            return false;
    }
    if (lps_tensor_alloc(t, vi->dtype, vi->rank, dims, &err) != LPS_OK) {
        fuzz_check_message(&err);
        return false;
    }
    return true;
}

/* One forward pass when every input can be given; errors must be clean. */
static inline void fuzz_forward(lps_plan *plan, bool training)
{
    size_t n = lps_plan_n_inputs(plan);
    lps_tensor *inputs = calloc(n ? n : 1, sizeof *inputs);
    lps_run_options run = {.training = training, .bn_batch_stats = training, .seed = 1};
    lps_error err;
    lps_exec_ctx *ctx = lps_exec_ctx_new(&run, &err);
    size_t made = 0;
    if (!inputs || !ctx)
        goto cleanup;
    for (; made < n; made++)
        if (!fuzz_input_for(lps_plan_input_info(plan, made), &inputs[made]))
            goto cleanup;
    for (size_t i = 0; i < n; i++)
        if (lps_plan_set_input(plan, i, &inputs[i], &err) != LPS_OK) {
            fuzz_check_message(&err);
            goto cleanup;
        }
    if (lps_plan_forward(plan, ctx, &err) != LPS_OK)
        fuzz_check_message(&err);
cleanup:
    lps_exec_ctx_free(ctx);
    for (size_t i = 0; i < made; i++)
        lps_tensor_release(&inputs[i]);
    free(inputs);
}

static inline void fuzz_compile(const lps_model *m, bool training)
{
    lps_plan_options opt = {.training = training};
    lps_error err;
    lps_plan *plan = lps_plan_compile(m, &opt, &err);
    if (!plan) {
        fuzz_check_message(&err);
        return;
    }
    fuzz_forward(plan, training);
    lps_plan_free(plan);
}

/* Rewrites every initializer and reloads the result: what lpsparsify writes
 * from a model it accepted must be a model it accepts. */
static inline void fuzz_save_reload(lps_model *m, lps_storage storage)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    lps_error err;
    for (size_t i = 0; i < m->graph.n_initializers; i++)
        m->graph.initializers[i].modified = true;
    if (lps_model_serialize(m, storage, &bytes, &len, &err) != LPS_OK) {
        fuzz_check_message(&err);
        return;
    }
    lps_model *again = lps_model_load_buffer(bytes, len, "fuzz-saved.onnx", m->dir, &err);
    if (!again)
        abort();
    lps_model_free(again);
    free(bytes);
}

/* Everything the tool does with a model file, for a model at dir (or
 * NULL: external data refused). */
static inline void fuzz_model(const uint8_t *data, size_t size, const char *dir)
{
    lps_error err;
    lps_model *m = lps_model_load_buffer(data, size, "fuzz.onnx", dir, &err);
    if (!m) {
        fuzz_check_message(&err);
        return;
    }
    fuzz_compile(m, false);
    fuzz_compile(m, true);
    fuzz_save_reload(m, LPS_STORAGE_AUTO);
    lps_model_free(m);
}

#endif
