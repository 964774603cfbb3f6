/* The test entries of the operator registry: one OP_CASE per operator
 * definition (per line of src/ops/op_list.h; a name with several defs needs
 * one entry inside each def's opset range). X-macro, no include guard:
 *
 *     OP_CASE(op_type, opset, inputs, attributes)
 *
 * inputs and attributes use the grammar of tests/support/op_spec.h, e.g.
 * "f[2,3] i[2]=3,2" and "axis=1 perm=[1,0] mode='reflect'".
 * tests/unit/test_registry.c compiles each entry as a node at that opset
 * (with the def's min_outputs outputs), runs it forward in inference and in
 * training mode, and checks by finite differences the backward of every
 * input that the def marks differentiable and that is given as floats.
 * Choose values away from kinks (Relu at 0, Clip bounds, MaxPool ties):
 * the check perturbs by 1e-2. Keep each entry tiny; thorough tests of an
 * op belong in tests/gradcheck/test_<family>.c. Lines follow op_list.h. */

/* src/ops/binary.c */
OP_CASE("Add", 14, "f[2,3] f[3]", "")
OP_CASE("Sub", 14, "f[2,3] f[2,1]", "")
OP_CASE("Mul", 14, "f[2,3] f[2,3]", "")
OP_CASE("Div", 14, "f[2,3] f[3](0.5,2)", "")
/* src/ops/activation.c */
OP_CASE("Relu", 14, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4", "")
OP_CASE("LeakyRelu", 16, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4", "alpha=0.2")
OP_CASE("Sigmoid", 13, "f[2,3](-3,3)", "")
OP_CASE("Tanh", 13, "f[2,3](-2,2)", "")
OP_CASE("Clip", 13, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4 f[]=-0.5 f[]=0.6", "")
OP_CASE("Exp", 13, "f[2,3](-2,1.5)", "")
OP_CASE("Neg", 13, "f[2,3]", "")
OP_CASE("Sqrt", 13, "f[2,3](0.3,4)", "")
OP_CASE("HardSigmoid", 13, "f[6]=-3,-1.5,-0.2,0.3,0.9,3", "alpha=0.25 beta=0.5")
OP_CASE("HardSwish", 14, "f[6]=-4,-1.5,-0.2,0.3,0.9,4", "")
OP_CASE("Gelu", 20, "f[2,3](-2,2)", "approximate='tanh'")
OP_CASE("Softplus", 13, "f[2,3](-3,3)", "")
OP_CASE("Elu", 13, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4", "alpha=0.5")
OP_CASE("Selu", 13, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4", "")
/* src/ops/unary_math.c */
OP_CASE("Erf", 13, "f[2,3](-2,2)", "")
OP_CASE("Abs", 13, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4", "")
OP_CASE("Log", 13, "f[2,3](0.3,3)", "")
OP_CASE("Reciprocal", 13, "f[2,3](0.5,2)", "")
OP_CASE("Sin", 7, "f[2,3](-3,3)", "")
OP_CASE("Cos", 7, "f[2,3](-3,3)", "")
OP_CASE("Sign", 13, "f[2,3]", "")
OP_CASE("Floor", 13, "f[2,3]", "")
OP_CASE("Ceil", 13, "f[2,3]", "")
/* src/ops/compare.c */
OP_CASE("Equal", 13, "i[2,3]=1,2,3,4,5,6 i[3]=1,5,3", "")
OP_CASE("Less", 13, "f[2,3] f[3]", "")
OP_CASE("Greater", 13, "f[2,3] f[2,1]", "")
OP_CASE("LessOrEqual", 16, "i[3]=1,2,3 i[]=2", "")
OP_CASE("GreaterOrEqual", 16, "f[2,3] f[]=0", "")
OP_CASE("And", 7, "b[2,2]=1,0,1,1 b[2]=1,0", "")
OP_CASE("Or", 7, "b[3]=1,0,0 b[3]=0,0,1", "")
OP_CASE("Xor", 7, "b[3]=1,0,1 b[]=1", "")
OP_CASE("Not", 7, "b[3]=1,0,1", "")
OP_CASE("Where", 16, "b[2,1]=1,0 f[3] f[2,3]", "")
/* src/ops/cast.c */
OP_CASE("Cast", 13, "f[2,3]", "to=1")
OP_CASE("CastLike", 15, "i[3]=1,2,3 f[1]", "")
/* src/ops/pow_mod.c */
OP_CASE("Pow", 15, "f[2,3](0.5,2) f[3](-1,2)", "")
OP_CASE("Mod", 13, "f[3]=5.3,-5.3,7.9 f[3]=2.1,3.3,-2.9", "fmod=1")
OP_CASE("PRelu", 16, "f[6]=-1.5,-0.7,-0.2,0.3,0.9,1.4 f[]=0.25", "")
/* src/ops/variadic.c */
OP_CASE("Max", 13, "f[2,3]=-1.5,0.7,-0.2,0.3,0.9,1.4 f[3]=0.1,0.4,-0.6", "")
OP_CASE("Min", 13, "f[2,3]=-1.5,0.7,-0.2,0.3,0.9,1.4 f[2,1]=0.1,0.5", "")
OP_CASE("Sum", 13, "f[2,3] f[3] f[2,1]", "")
OP_CASE("Mean", 13, "f[2,3] f[3]", "")
/* src/ops/softmax.c */
OP_CASE("Softmax", 13, "f[2,5]", "axis=1")
OP_CASE("LogSoftmax", 13, "f[2,5]", "axis=-1")
/* src/ops/gemm.c, matmul.c, conv.c */
OP_CASE("Gemm", 13, "f[2,3] f[4,3] f[4]", "transB=1 alpha=0.5")
OP_CASE("MatMul", 13, "f[2,2,3] f[3,4]", "")
OP_CASE("Conv", 11, "f[1,2,5,5] f[3,2,3,3] f[3]", "pads=[1,1,1,1] strides=[2,2]")
/* src/ops/einsum.c */
OP_CASE("Einsum", 12, "f[2,3,4] f[2,4,2]", "equation='bij,bjk->bik'")
/* src/ops/conv_transpose.c */
OP_CASE("ConvTranspose", 11, "f[1,2,3,3] f[2,3,3,3] f[3]", "pads=[1,0,1,1] strides=[2,2]")
/* src/ops/resize.c */
OP_CASE("Resize", 13, "f[1,2,2,3] - f[4]=1,1,2,1.5", "mode='linear'")
OP_CASE("Upsample", 9, "f[1,1,2,2] f[4]=1,1,2,3", "mode='nearest'")
/* src/ops/pool.c */
OP_CASE("MaxPool", 12,
        "f[1,1,4,4]=0.1,0.5,-0.3,0.9,-0.8,0.3,0.7,-0.1,0.25,-0.6,0.05,0.45,-0.95,0.8,-0.4,0.6",
        "kernel_shape=[2,2] strides=[2,2]")
OP_CASE("AveragePool", 11, "f[1,2,4,4]", "kernel_shape=[2,2] pads=[1,1,0,0]")
OP_CASE("GlobalAveragePool", 13, "f[1,2,3,3]", "")
/* src/ops/batchnorm.c, layernorm.c, groupnorm.c */
OP_CASE("BatchNormalization", 15, "f[2,3,2,2] f[3] f[3] f[3] f[3](0.5,1.5)", "epsilon=1e-3")
OP_CASE("LayerNormalization", 17, "f[2,3,4] f[3,4](0.5,1.5) f[4]", "axis=1")
OP_CASE("InstanceNormalization", 7, "f[2,3,4] f[3](0.5,1.5) f[3]", "epsilon=1e-3")
OP_CASE("GroupNormalization", 21, "f[2,4,3] f[4](0.5,1.5) f[4]", "num_groups=2")
/* src/ops/movement.c */
OP_CASE("Flatten", 13, "f[2,3,4]", "axis=2")
OP_CASE("Reshape", 14, "f[2,6] i[3]=3,-1,2", "")
OP_CASE("Transpose", 13, "f[2,3,4]", "perm=[2,0,1]")
OP_CASE("Concat", 13, "f[2,3] f[2,2]", "axis=1")
OP_CASE("Identity", 16, "f[2,3]", "")
/* src/ops/dropout.c, constant.c */
OP_CASE("Dropout", 13, "f[4,5] f[]=0.25", "")
OP_CASE("Constant", 13, "", "value=f[2]=1.5,-2")
/* src/ops/shape_ops.c, pad.c */
OP_CASE("Shape", 15, "f[2,3,4]", "start=1")
OP_CASE("Gather", 13, "f[4,3] i[2]=3,1", "axis=0")
OP_CASE("Unsqueeze", 13, "f[2,3] i[1]=1", "")
OP_CASE("Squeeze", 13, "f[2,1,3] i[1]=1", "")
OP_CASE("Pad", 13, "f[2,3] i[4]=1,0,0,2", "mode='reflect'")
/* src/ops/slice.c, expand.c, generate.c */
OP_CASE("Slice", 13, "f[4,5] i[2]=3,-1 i[2]=0,-100 i[2]=0,1 i[2]=-2,-2", "")
OP_CASE("Split", 13, "f[2,5] i[1]=5", "axis=1")
OP_CASE("Expand", 13, "f[3,1] i[3]=2,1,4", "")
OP_CASE("Tile", 13, "f[2,3] i[2]=2,1", "")
OP_CASE("ConstantOfShape", 13, "i[2]=2,3", "value=i[1]=7")
OP_CASE("Range", 13, "i[]=1 i[]=9 i[]=3", "")
/* src/ops/reduce.c */
OP_CASE("ReduceMean", 13, "f[2,3,4]", "axes=[1] keepdims=0")
OP_CASE("ReduceSum", 13, "f[2,3,4] i[1]=1", "keepdims=0")
OP_CASE("ReduceMax", 13, "f[2,3,4]", "axes=[1]")
OP_CASE("ReduceMin", 18, "f[2,3,4] i[1]=-1", "")
OP_CASE("ReduceL2", 13, "f[2,3,4]", "axes=[0,2]")
OP_CASE("ReduceSumSquare", 18, "f[2,3,4] i[1]=1", "keepdims=0")
/* src/ops/scatter.c */
OP_CASE("GatherElements", 13, "f[3,2] i[2,2]=2,0,-1,1", "axis=0")
OP_CASE("ScatterND", 16, "f[3,2] i[1,1]=1 f[1,2]", "reduction='add'")
/* src/ops/rnn.c, gru.c, lstm.c */
OP_CASE("RNN", 14, "f[3,2,2] f[1,2,2] f[1,2,2] f[1,4]", "hidden_size=2")
OP_CASE("GRU", 14, "f[3,2,2] f[1,6,2] f[1,6,2] f[1,12]", "hidden_size=2 linear_before_reset=1")
OP_CASE("LSTM", 14, "f[3,2,2] f[2,8,2] f[2,8,2] f[2,16]", "hidden_size=2 direction='bidirectional'")
