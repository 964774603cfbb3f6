/* The operator list: one line per operator definition (see "How to add an
 * operator" in src/ops/op.h). There is no include guard on purpose: this
 * file is an X-macro. Each includer defines
 *
 *     LPS_OP(KIND, def)
 *
 * and includes it to generate, from the same lines, the lps_op_kind enum
 * (LPS_OP_##KIND), the extern declarations (lps_op_def_##def) and the
 * registry table in registry.c. KIND is the def name in capitals. Lines are
 * grouped by family file; inside a group keep them in the order the defs
 * appear in the file. Two lines may share an ONNX name only with disjoint
 * opset ranges (tests/unit/test_registry.c checks it). */

/* element-wise: src/ops/binary.c */
LPS_OP(ADD, add)
LPS_OP(SUB, sub)
LPS_OP(MUL, mul)
LPS_OP(DIV, div)
/* element-wise: src/ops/activation.c (shared unary driver: unary.c) */
LPS_OP(RELU, relu)
LPS_OP(LEAKY_RELU, leaky_relu)
LPS_OP(SIGMOID, sigmoid)
LPS_OP(TANH, tanh)
LPS_OP(CLIP, clip)
LPS_OP(EXP, exp)
LPS_OP(NEG, neg)
LPS_OP(SQRT, sqrt)
LPS_OP(HARD_SIGMOID, hard_sigmoid)
LPS_OP(HARD_SWISH, hard_swish)
LPS_OP(GELU, gelu)
LPS_OP(SOFTPLUS, softplus)
LPS_OP(ELU, elu)
LPS_OP(SELU, selu)
/* element-wise math: src/ops/unary_math.c */
LPS_OP(ERF, erf)
LPS_OP(ABS, abs)
LPS_OP(LOG, log)
LPS_OP(RECIPROCAL, reciprocal)
LPS_OP(SIN, sin)
LPS_OP(COS, cos)
LPS_OP(SIGN, sign)
LPS_OP(FLOOR, floor)
LPS_OP(CEIL, ceil)
/* masks and selection, any dtype: src/ops/compare.c (dtype lists: elementwise.h) */
LPS_OP(EQUAL, equal)
LPS_OP(LESS, less)
LPS_OP(GREATER, greater)
LPS_OP(LESS_OR_EQUAL, less_or_equal)
LPS_OP(GREATER_OR_EQUAL, greater_or_equal)
LPS_OP(AND, and)
LPS_OP(OR, or)
LPS_OP(XOR, xor)
LPS_OP(NOT, not)
LPS_OP(WHERE, where)
/* type conversion: src/ops/cast.c */
LPS_OP(CAST, cast)
LPS_OP(CAST_LIKE, cast_like)
/* two-input arithmetic beyond binary.c: src/ops/pow_mod.c */
LPS_OP(POW, pow)
LPS_OP(MOD, mod)
LPS_OP(PRELU, prelu)
/* variadic element-wise: src/ops/variadic.c */
LPS_OP(MAX, max)
LPS_OP(MIN, min)
LPS_OP(SUM, sum)
LPS_OP(MEAN, mean)
/* softmax family: src/ops/softmax.c */
LPS_OP(SOFTMAX, softmax)
LPS_OP(LOG_SOFTMAX, log_softmax)
/* linear algebra: src/ops/gemm.c, matmul.c, conv.c */
LPS_OP(GEMM, gemm)
LPS_OP(MATMUL, matmul)
LPS_OP(CONV, conv)
/* tensor contractions: src/ops/einsum.c (equation: einsum_eq.c) */
LPS_OP(EINSUM, einsum)
/* transposed convolution: src/ops/conv_transpose.c */
LPS_OP(CONV_TRANSPOSE, conv_transpose)
/* resampling: src/ops/resize.c */
LPS_OP(RESIZE, resize)
LPS_OP(UPSAMPLE, upsample)
/* pooling: src/ops/pool.c */
LPS_OP(MAX_POOL, max_pool)
LPS_OP(AVERAGE_POOL, average_pool)
LPS_OP(GLOBAL_AVERAGE_POOL, global_average_pool)
/* normalization: src/ops/batchnorm.c, layernorm.c, groupnorm.c */
LPS_OP(BATCH_NORMALIZATION, batch_normalization)
LPS_OP(LAYER_NORMALIZATION, layer_normalization)
LPS_OP(INSTANCE_NORMALIZATION, instance_normalization)
LPS_OP(GROUP_NORMALIZATION, group_normalization)
/* data movement: src/ops/movement.c */
LPS_OP(FLATTEN, flatten)
LPS_OP(RESHAPE, reshape)
LPS_OP(TRANSPOSE, transpose)
LPS_OP(CONCAT, concat)
LPS_OP(IDENTITY, identity)
/* src/ops/dropout.c, constant.c */
LPS_OP(DROPOUT, dropout)
LPS_OP(CONSTANT, constant)
/* shapes and indexing: src/ops/shape_ops.c, pad.c */
LPS_OP(SHAPE, shape)
LPS_OP(GATHER, gather)
LPS_OP(UNSQUEEZE, unsqueeze)
LPS_OP(SQUEEZE, squeeze)
LPS_OP(PAD, pad)
/* slices and repeats: src/ops/slice.c, expand.c, generate.c */
LPS_OP(SLICE, slice)
LPS_OP(SPLIT, split)
LPS_OP(EXPAND, expand)
LPS_OP(TILE, tile)
LPS_OP(CONSTANT_OF_SHAPE, constant_of_shape)
LPS_OP(RANGE, range)
/* reductions: src/ops/reduce.c */
LPS_OP(REDUCE_MEAN, reduce_mean)
LPS_OP(REDUCE_SUM, reduce_sum)
LPS_OP(REDUCE_MAX, reduce_max)
LPS_OP(REDUCE_MIN, reduce_min)
LPS_OP(REDUCE_L2, reduce_l2)
LPS_OP(REDUCE_SUM_SQUARE, reduce_sum_square)
/* index-addressed moves: src/ops/scatter.c */
LPS_OP(GATHER_ELEMENTS, gather_elements)
LPS_OP(SCATTER_ND, scatter_nd)
/* recurrent: src/ops/rnn.c, gru.c, lstm.c (sequence driver: rnn_seq.c) */
LPS_OP(RNN, rnn)
LPS_OP(GRU, gru)
LPS_OP(LSTM, lstm)
