#!/usr/bin/env python3
"""Small models in the shapes that exporters (PyTorch, tf2onnx, older
converters) actually write, built with onnx.helper, for the interop tests.
Each has a symbolic batch dim, seeded weights and no training-only parts.

Usage as a script: gen_models.py NAME OUT.onnx (or --list).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import gen_elementwise
import gen_rnn

BATCH = "batch"
IR_VERSION = 7  # readable by every onnx and onnxruntime the tests meet


def _weights(seed):
    rng = np.random.default_rng(seed)

    def make(name, shape, scale=0.5):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)
    return make


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _scalar(name, value):
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def _model(nodes, inputs, outputs, inits, opset):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = IR_VERSION
    # Output types come from shape inference, as exporters write them.
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    # Intermediates whose shape depends on data (a computed Reshape target)
    # come back without one, which the checker rejects: drop them.
    known = [v for v in m.graph.value_info if v.type.tensor_type.HasField("shape")]
    del m.graph.value_info[:]
    m.graph.value_info.extend(known)
    onnx.checker.check_model(m)
    return m


def _in(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _out(name, dims=None):
    """A graph output; without dims its type is left to shape inference."""
    if dims is not None:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
    out = onnx.ValueInfoProto()
    out.name = name
    return out


def flatten_shape_gather(opset):
    """PyTorch's x.view(x.size(0), -1) before opset 13 Flatten was common:
    Shape -> Gather(0) -> Unsqueeze -> Concat([n, -1]) -> Reshape, then a
    linear layer. Unsqueeze takes axes as an attribute before opset 13 and
    as an input from 13 on."""
    w = _weights(1)
    unsq_axes = ["axes"] if opset >= 13 else []
    unsq_attr = {} if opset >= 13 else {"axes": [0]}
    # Exporters of the opset-9 era wrote the index and the -1 as Constant
    # nodes rather than initializers.
    consts = [] if opset > 9 else [
        helper.make_node("Constant", [], ["zero"], value=_ints("zero_v", 0)),
        helper.make_node("Constant", [], ["minus_one"], value=_ints("minus_one_v", [-1])),
    ]
    nodes = consts + [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n"] + unsq_axes, ["n1"], **unsq_attr),
        helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
        helper.make_node("Reshape", ["r", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fw"], ["mm"]),
        helper.make_node("Add", ["mm", "fb"], ["y"]),
    ]
    inits = [w("cw", [4, 3, 3, 3]), w("cb", [4]), w("fw", [4 * 5 * 5, 6], 0.1), w("fb", [6])]
    if opset > 9:
        inits += [_ints("zero", 0), _ints("minus_one", [-1])]
    if opset >= 13:
        inits.append(_ints("axes", [0]))
    return _model(nodes, [_in("x", [BATCH, 3, 5, 5])], [_out("y", [BATCH, 6])], inits, opset)


def clip_input_bounds(opset=13):
    """Clip (opset 11+) takes min and max as optional inputs: both given,
    only max (min named ''), and bounds produced by Constant nodes."""
    nodes = [
        helper.make_node("Clip", ["x", "lo", "hi"], ["a"]),
        helper.make_node("Clip", ["x", "", "hi"], ["b"]),
        helper.make_node("Constant", [], ["six"], value=_scalar("six_v", 6.0)),
        helper.make_node("Constant", [], ["zero"], value=_scalar("zero_v", 0.0)),
        helper.make_node("Clip", ["x", "zero", "six"], ["relu6"]),
        helper.make_node("Mul", ["a", "b"], ["ab"]),
        helper.make_node("Add", ["ab", "relu6"], ["y"]),
    ]
    inits = [_scalar("lo", -0.5), _scalar("hi", 0.75)]
    return _model(nodes, [_in("x", [BATCH, 7])], [_out("y"), _out("b")], inits, opset)


def clip_attributes():
    """Clip before opset 11: min and max are attributes."""
    nodes = [helper.make_node("Clip", ["x"], ["y"], min=-0.25, max=0.5)]
    return _model(nodes, [_in("x", [BATCH, 5])], [_out("y")], [], 9)


def conv_bn_residual(opset):
    """A ResNet basic block: Conv-BN-Relu-Conv-BN, plus the block input,
    then Relu; BatchNormalization in inference with non-trivial stats."""
    w = _weights(2)
    rng = np.random.default_rng(3)

    def bn(prefix, c):
        return [w(f"{prefix}_s", [c]), w(f"{prefix}_b", [c]), w(f"{prefix}_m", [c]),
                numpy_helper.from_array(rng.uniform(0.5, 2.0, c).astype(np.float32), f"{prefix}_v")]
    c = 4
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c1", "bn1_s", "bn1_b", "bn1_m", "bn1_v"], ["b1"],
                         epsilon=1e-5),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c2", "bn2_s", "bn2_b", "bn2_m", "bn2_v"], ["b2"],
                         epsilon=1e-3, momentum=0.9),
        helper.make_node("Add", ["b2", "x"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["y"]),
    ]
    inits = [w("w1", [c, c, 3, 3], 0.3), w("w2", [c, c, 3, 3], 0.3)] + bn("bn1", c) + bn("bn2", c)
    return _model(nodes, [_in("x", [BATCH, c, 6, 6])], [_out("y")], inits, opset)


def matmul_add_softmax(opset):
    """A classifier head as exported from Keras/PyTorch: MatMul + Add and a
    trailing Softmax, with LogSoftmax as a second output. Before opset 13
    Softmax coerces to 2-D at `axis`, so the 3-D head normalizes over the
    trailing two dims there and over the last dim from 13 on."""
    w = _weights(4)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1 if opset < 13 else -1),
        helper.make_node("LogSoftmax", ["logits"], ["logy"], axis=-1),
    ]
    inits = [w("w", [16, 10], 0.3), w("b", [10])]
    return _model(nodes, [_in("x", [BATCH, "seq", 16])], [_out("y"), _out("logy")], inits, opset)


def gemm_flatten_dropout(opset):
    """An MLP as old PyTorch exports write it: Flatten, Gemm(transB=1),
    Dropout left in the inference graph, Relu, Gemm."""
    w = _weights(5)
    drop = (helper.make_node("Dropout", ["h", "ratio"], ["d"]) if opset >= 12
            else helper.make_node("Dropout", ["h"], ["d"], ratio=0.3))
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
        drop,
        helper.make_node("Relu", ["d"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1, alpha=0.5, beta=2.0),
    ]
    inits = [w("w1", [12, 2 * 3 * 4], 0.3), w("b1", [12]), w("w2", [5, 12], 0.3), w("b2", [5])]
    if opset >= 12:
        inits.append(_scalar("ratio", 0.3))
    return _model(nodes, [_in("x", [BATCH, 2, 3, 4])], [_out("y")], inits, opset)


def dropout_mask():
    """Dropout in inference with its mask output requested: the mask is all
    true and the data passes through unchanged."""
    nodes = [helper.make_node("Dropout", ["x", "ratio"], ["y", "mask"])]
    return _model(nodes, [_in("x", [BATCH, 6])], [_out("y"), _out("mask")],
                  [_scalar("ratio", 0.5)], 13)


def transpose_concat_pad_reduce(opset):
    """NCHW <-> NHWC shuffles of tf2onnx: Transpose, Concat on the channel
    axis, Pad (pads as an input from opset 11, an attribute before), and
    ReduceMean over the spatial axes without keepdims."""
    if opset >= 11:
        pad = helper.make_node("Pad", ["cat", "pads", "pad_value"], ["p"], mode="constant")
        pad_inits = [_ints("pads", [0, 1, 0, 0, 0, 2, 1, 0]), _scalar("pad_value", 0.5)]
    else:
        pad = helper.make_node("Pad", ["cat"], ["p"], mode="constant",
                               pads=[0, 1, 0, 0, 0, 2, 1, 0], value=0.5)
        pad_inits = []
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Sigmoid", ["t"], ["s"]),
        # Negative axes are allowed from opset 11.
        helper.make_node("Concat", ["t", "s"], ["cat"], axis=-1 if opset >= 11 else 3),
        pad,
        helper.make_node("ReduceMean", ["p"], ["m"], axes=[1, 2], keepdims=0),
        helper.make_node("Transpose", ["p"], ["y2"], perm=[0, 3, 1, 2]),
    ]
    return _model(nodes, [_in("x", [BATCH, 3, 4, 5])], [_out("m"), _out("y2")], pad_inits, opset)


def cnn_pool(opset):
    """LeNet-style CNN: Conv with stride and bias, MaxPool, AveragePool with
    padding, GlobalAveragePool, Squeeze, Tanh/LeakyRelu activations."""
    w = _weights(6)
    sq_axes = ["axes"] if opset >= 13 else []
    sq_attr = {} if opset >= 13 else {"axes": [2, 3]}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.1),
        helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         count_include_pad=0),
        helper.make_node("Tanh", ["p2"], ["t"]),
        helper.make_node("GlobalAveragePool", ["t"], ["g"]),
        helper.make_node("Squeeze", ["g"] + sq_axes, ["y"], **sq_attr),
    ]
    inits = [w("w1", [6, 2, 3, 3], 0.4), w("b1", [6])]
    if opset >= 13:
        inits.append(_ints("axes", [2, 3]))
    return _model(nodes, [_in("x", [BATCH, 2, 9, 9])], [_out("y")], inits, opset)


def conv_variants():
    """Conv forms beyond the plain 3x3: depthwise with a channel multiplier,
    dilation, asymmetric pads and strides; a grouped 1x1; SAME_LOWER with
    stride and an even kernel (onnxruntime takes no dilation with SAME)."""
    w = _weights(7)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], group=4, dilations=[2, 1],
                         pads=[2, 1, 0, 2], strides=[1, 2]),
        helper.make_node("Relu", ["c1"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2"], ["c2"], group=2),
        helper.make_node("Conv", ["c2", "w3", "b3"], ["y"], auto_pad="SAME_LOWER",
                         strides=[2, 2], kernel_shape=[2, 4]),
    ]
    inits = [w("w1", [8, 1, 3, 3]), w("b1", [8]), w("w2", [6, 4, 1, 1]),
             w("w3", [5, 6, 2, 4]), w("b3", [5])]
    return _model(nodes, [_in("x", [BATCH, 4, 11, 10])], [_out("y")], inits, 13)


def pool_variants():
    """Pooling attribute forms side by side on one input: MaxPool with
    ceil_mode, dilations, pads and column-major Indices; AveragePool with
    ceil_mode counting pads, and SAME_UPPER counting the computed pads."""
    nodes = [
        helper.make_node("MaxPool", ["x"], ["m", "mi"], kernel_shape=[3, 2], strides=[2, 2],
                         pads=[1, 0, 1, 1], dilations=[1, 2], ceil_mode=1, storage_order=1),
        helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
        helper.make_node("AveragePool", ["x"], ["s"], kernel_shape=[4, 3], strides=[2, 2],
                         auto_pad="SAME_UPPER", count_include_pad=1),
    ]
    mi = onnx.ValueInfoProto()
    mi.name = "mi"
    return _model(nodes, [_in("x", [BATCH, 3, 8, 9])], [_out("m"), mi, _out("a"), _out("s")],
                  [], 12)


def conv_pool_1d_3d():
    """1-D and 3-D convolution and pooling: a 1-D Conv with SAME_UPPER and
    stride into an AveragePool with pads; a grouped 3-D Conv into a 3-D
    SAME_LOWER MaxPool and GlobalAveragePool."""
    w = _weights(8)
    nodes = [
        helper.make_node("Conv", ["u", "w1", "b1"], ["c1"], auto_pad="SAME_UPPER", strides=[2]),
        helper.make_node("AveragePool", ["c1"], ["y1"], kernel_shape=[3], strides=[2],
                         pads=[2, 1]),
        helper.make_node("Conv", ["v", "w3", "b3"], ["c3"], group=2, pads=[1, 0, 1, 0, 1, 1],
                         strides=[1, 2, 1]),
        helper.make_node("MaxPool", ["c3"], ["p3"], kernel_shape=[2, 3, 2], strides=[2, 1, 2],
                         auto_pad="SAME_LOWER"),
        helper.make_node("GlobalAveragePool", ["p3"], ["y3"]),
    ]
    inits = [w("w1", [4, 3, 4]), w("b1", [4]), w("w3", [6, 2, 2, 3, 2]), w("b3", [6])]
    return _model(nodes, [_in("u", [BATCH, 3, 13]), _in("v", [BATCH, 4, 5, 6, 5])],
                  [_out("y1"), _out("y3")], inits, 13)


def norm_upsample():
    """A decoder-style stack on the normalization and resampling ops (opset
    17, the newest python3-onnx checks): Conv -> InstanceNormalization ->
    LayerNormalization over C, H, W with Mean and InvStdDev outputs ->
    grouped ConvTranspose with output_shape -> linear Resize by sizes ->
    nearest Resize by scales (asymmetric, floor)."""
    w = _weights(9)
    nodes = [
        helper.make_node("Conv", ["x", "wc", "bc"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("InstanceNormalization", ["c", "is", "ib"], ["i"], epsilon=1e-4),
        helper.make_node("LayerNormalization", ["i", "ls", "lb"], ["l", "mean", "invstd"], axis=1),
        helper.make_node("ConvTranspose", ["l", "wt", "bt"], ["t"], group=2, strides=[2, 2],
                         output_shape=[12, 11]),
        helper.make_node("Resize", ["t", "", "", "sizes"], ["r"], mode="linear"),
        helper.make_node("Resize", ["r", "", "scales"], ["y"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    ]
    inits = [w("wc", [4, 3, 3, 3]), w("bc", [4]), w("is", [4]), w("ib", [4]),
             w("ls", [4, 5, 6]), w("lb", [6]), w("wt", [4, 3, 3, 3]), w("bt", [6]),
             _ints("sizes", [2, 6, 9, 7]),
             numpy_helper.from_array(np.array([1, 1, 1.5, 0.7], np.float32), "scales")]
    # a fixed batch: Resize-13's sizes name every dim
    return _model(nodes, [_in("x", [2, 3, 5, 6])], [_out("y"), _out("mean"), _out("invstd")],
                  inits, 17)


def two_inputs_broadcast():
    """Two graph inputs sharing the symbolic batch, broadcasting
    arithmetic (Sub, Div, Exp, Sqrt, Neg) between them."""
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["x2"]),
        helper.make_node("Add", ["x2", "one"], ["x2p"]),
        helper.make_node("Sqrt", ["x2p"], ["s"]),
        helper.make_node("Sub", ["s", "z"], ["d"]),
        helper.make_node("Neg", ["z"], ["nz"]),
        helper.make_node("Exp", ["nz"], ["e"]),
        helper.make_node("Div", ["d", "x2p"], ["q"]),
        helper.make_node("Mul", ["q", "e"], ["y"]),
    ]
    return _model(nodes, [_in("x", [BATCH, 3, 4]), _in("z", [BATCH, 1, 4])], [_out("y")],
                  [_scalar("one", 1.0)], 13)


MODELS = {
    "flatten_shape_gather_op13": lambda: flatten_shape_gather(13),
    "flatten_shape_gather_op11": lambda: flatten_shape_gather(11),
    "flatten_shape_gather_op9": lambda: flatten_shape_gather(9),
    "clip_input_bounds_op13": lambda: clip_input_bounds(13),
    "clip_input_bounds_op11": lambda: clip_input_bounds(11),
    "clip_attributes_op9": clip_attributes,
    "conv_bn_residual_op13": lambda: conv_bn_residual(13),
    "conv_bn_residual_op9": lambda: conv_bn_residual(9),
    "matmul_add_softmax_op13": lambda: matmul_add_softmax(13),
    "matmul_add_softmax_op11": lambda: matmul_add_softmax(11),
    "gemm_flatten_dropout_op13": lambda: gemm_flatten_dropout(13),
    "gemm_flatten_dropout_op9": lambda: gemm_flatten_dropout(9),
    "dropout_mask_op13": dropout_mask,
    "transpose_concat_pad_reduce_op13": lambda: transpose_concat_pad_reduce(13),
    "transpose_concat_pad_reduce_op9": lambda: transpose_concat_pad_reduce(9),
    "cnn_pool_op13": lambda: cnn_pool(13),
    "cnn_pool_op11": lambda: cnn_pool(11),
    "two_inputs_broadcast_op13": two_inputs_broadcast,
    "conv_variants_op13": conv_variants,
    "pool_variants_op12": pool_variants,
    "conv_pool_1d_3d_op13": conv_pool_1d_3d,
    "norm_upsample_op17": norm_upsample,
}
MODELS.update(gen_rnn.MODELS)
MODELS.update(gen_elementwise.MODELS)


def _all_models():
    """MODELS plus the families kept in their own modules (imported late:
    they build on this module's helpers)."""
    import gen_shape_models
    return {**MODELS, **gen_shape_models.MODELS}


def save(name, path):
    """Builds model `name` and writes it to path; KeyError for unknown names."""
    onnx.save(_all_models()[name](), path)


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        print("\n".join(_all_models()))
    elif len(sys.argv) == 3:
        save(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
