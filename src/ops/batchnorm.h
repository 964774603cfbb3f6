/* BatchNormalization's training-state interface for the trainer.
 *
 * A BatchNormalization node normalizes with batch statistics when
 *   ctx->training ? ctx->bn_batch_stats
 *                 : ctx->honor_training_flags && the node is in training mode
 * and with its input_mean/input_var (running statistics) otherwise. A node is
 * in training mode by its training_mode attribute from opset 14, and before
 * it when it declares the statistic outputs (ONNX's "training mode" output
 * case). So evaluation of a training-mode export runs it as in inference.
 *
 * After a forward with batch statistics op->saved holds, as 1-D float
 * tensors of one value per normalized channel:
 *   saved[LPS_BN_SAVED_MEAN]   the batch mean,
 *   saved[LPS_BN_SAVED_INVSTD] 1 / sqrt(batch variance + epsilon),
 *   saved[LPS_BN_SAVED_VAR]    the batch (population) variance.
 * If the node declares running_mean/running_var outputs they receive the
 * updated running statistics (ONNX semantics); either way the running
 * statistics in the model's initializers are NOT changed by forward.
 * The trainer keeps them current by calling lps_batchnorm_update_running
 * on the node's input_mean/input_var initializer tensors after each
 * training forward, and marks those initializers modified. */
#ifndef LPS_OPS_BATCHNORM_H
#define LPS_OPS_BATCHNORM_H

#include "ops/op.h"

enum { LPS_BN_SAVED_MEAN = 0, LPS_BN_SAVED_INVSTD = 1, LPS_BN_SAVED_VAR = 2 };

/* The node's momentum attribute (default 0.9): the weight of the old
 * running value in an update. op must be a prepared BatchNormalization. */
float lps_batchnorm_momentum(const lps_op_node *op);

/* running = momentum * running + (1 - momentum) * batch statistic, for the
 * mean and the (population) variance saved by op's last forward.
 * running_mean/running_var are float tensors with one value per channel
 * (normally the node's input_mean/input_var initializers), updated in
 * place. Fails with LPS_ERR_RUNTIME when op is not a BatchNormalization or
 * its last forward did not use batch statistics, LPS_ERR_INVALID when a
 * tensor has the wrong type or size. Nothing is changed on failure. */
lps_status lps_batchnorm_update_running(const lps_op_node *op, lps_tensor *running_mean,
                                        lps_tensor *running_var, float momentum,
                                        lps_error *err);

#endif
