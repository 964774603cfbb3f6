#!/usr/bin/env python3
"""Regenerates the ONNX seed corpora in tests/fuzz/corpus/{onnx,external}.

onnx/: small models of libonnx-testdata (Debian package) whose operators
lpsparsify runs, plus a tiny MLP and CNN. external/: models whose
initializers live in the folder's weights.bin, in the fuzz_external input
layout (2-byte little-endian model length, model, weights.bin bytes).
Needs python3 with onnx and numpy. Run from anywhere; output is deterministic.
"""
import os
import shutil
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = "/usr/share/libonnx-testdata/data"
PICKED = [
    "pytorch-converted/test_Conv2d",
    "pytorch-converted/test_Conv2d_groups",
    "pytorch-converted/test_Linear",
    "pytorch-converted/test_BatchNorm2d_eval",
    "pytorch-converted/test_AvgPool2d",
    "pytorch-operator/test_operator_addmm",
    "pytorch-operator/test_operator_flatten",
    "pytorch-operator/test_operator_maxpool",
    "pytorch-operator/test_operator_pad",
    "pytorch-operator/test_operator_permute2",
    "pytorch-operator/test_operator_reduced_mean_keepdim",
    "pytorch-operator/test_operator_params",
    "node/test_gemm_all_attributes",
    "node/test_softmax_axis_1",
    "node/test_reshape_reordered_all_dims",
    "node/test_concat_2d_axis_1",
    "node/test_gather_0",
    "node/test_squeeze",
    "node/test_unsqueeze_axis_0",
    "node/test_conv_with_strides_padding",
    "node/test_maxpool_2d_pads",
    "node/test_batchnorm_example_training_mode",
    "node/test_relu",
    "node/test_dropout_default",
    "node/test_matmul_3d",
    "node/test_transpose_default",
]
MAX_MODEL_BYTES = 65535


def mlp():
    rng = np.random.default_rng(1)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 6)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros(6, np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((6, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu1"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2"),
    ]
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                          [w1, b1, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def cnn():
    rng = np.random.default_rng(2)
    w = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "conv.w")
    b = numpy_helper.from_array(np.zeros(2, np.float32), "conv.b")
    fw = numpy_helper.from_array(rng.standard_normal((3, 8)).astype(np.float32), "fc.w")
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.w"], ["y"], transB=1),
        helper.make_node("Softmax", ["y"], ["prob"], axis=1),
    ]
    g = helper.make_graph(nodes, "cnn",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 3])],
                          [w, b, fw])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def externalize(model, locations):
    """Moves every initializer into weights.bin (or the listed location)."""
    blob = bytearray()
    for init, location in zip(model.graph.initializer, locations):
        raw = numpy_helper.to_array(init).tobytes()
        offset = len(blob) if location == "weights.bin" else 0
        if location == "weights.bin":
            blob += raw
        init.ClearField("float_data")
        init.raw_data = b""
        init.data_location = TensorProto.EXTERNAL
        del init.external_data[:]
        for key, value in (("location", location), ("offset", str(offset)),
                           ("length", str(len(raw)))):
            entry = init.external_data.add()
            entry.key, entry.value = key, value
    data = model.SerializeToString()
    assert len(data) <= MAX_MODEL_BYTES
    return struct.pack("<H", len(data)) + data + bytes(blob)


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    onnx_dir = os.path.join(HERE, "corpus", "onnx")
    ext_dir = os.path.join(HERE, "corpus", "external")
    for folder in (onnx_dir, ext_dir):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    for case in PICKED:
        shutil.copyfile(os.path.join(TESTDATA, case, "model.onnx"),
                        os.path.join(onnx_dir, os.path.basename(case) + ".onnx"))
    write(onnx_dir, "mlp.onnx", mlp().SerializeToString())
    write(onnx_dir, "cnn.onnx", cnn().SerializeToString())
    write(ext_dir, "mlp_weights_bin", externalize(mlp(), ["weights.bin"] * 3))
    write(ext_dir, "cnn_weights_bin", externalize(cnn(), ["weights.bin"] * 3))
    # The traps, so that the fuzzer starts next to them.
    write(ext_dir, "mlp_subfolder", externalize(mlp(), ["weights.bin", "sub/inner.bin",
                                                        "weights.bin"]))
    write(ext_dir, "mlp_fifo", externalize(mlp(), ["weights.bin", "fifo", "weights.bin"]))
    write(ext_dir, "mlp_escape", externalize(mlp(), ["escape", "weights.bin", "weights.bin"]))
    write(ext_dir, "mlp_dangling", externalize(mlp(), ["dangling", "weights.bin",
                                                       "weights.bin"]))
    write(ext_dir, "mlp_dotdot", externalize(mlp(), ["../weights.bin", "weights.bin",
                                                     "weights.bin"]))


if __name__ == "__main__":
    main()
