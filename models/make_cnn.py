#!/usr/bin/env python3
"""Generate models/cnn_init.onnx: the Fashion-MNIST CNN, untrained.

The layers match the Fashion-MNIST network of the Lp-sphere sparsification
paper, in the form torch.onnx.export gives an nn.Sequential of them:

    input [N, 1, 28, 28]
    -> Conv 5x5 pad 2, 1->16   -> Relu -> MaxPool 2   [N, 16, 14, 14]
    -> Conv 3x3 pad 1, 16->32  -> Relu -> MaxPool 2   [N, 32, 7, 7]
    -> Conv 3x3 pad 1, 32->64  -> Relu                [N, 64, 7, 7]
    -> Flatten(axis=1)                                [N, 3136]
    -> Gemm(transB=1) 3136->512 -> Relu
    -> Gemm(transB=1) 512->64   -> Relu
    -> Gemm(transB=1) 64->10                          logits [N, 10]

with opset 13, IR version 7 and initializers conv1.weight [16, 1, 5, 5],
conv1.bias [16], ..., fc3.bias [10]. Every Conv has a bias. Weights and
biases follow PyTorch's default initialisation of nn.Conv2d and nn.Linear
(kaiming_uniform_ with a = sqrt(5), which is U(-1/sqrt(fan_in),
1/sqrt(fan_in)) with fan_in = in_channels * kh * kw for a convolution, and
the same bound for the bias), drawn from numpy's PCG64 generator with a
fixed seed, so the file is reproducible byte for byte with the same onnx and
numpy versions.

This script is a development tool only; lpsparsify never runs python.

Usage: python3 models/make_cnn.py [--seed 0] [--output models/cnn_init.onnx]
"""
import argparse
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (name, in_channels, out_channels, kernel, pad, max-pooled after the ReLU)
CONVS = [("conv1", 1, 16, 5, 2, True), ("conv2", 16, 32, 3, 1, True),
         ("conv3", 32, 64, 3, 1, False)]
FLAT_FEATURES = 64 * 7 * 7
LINEARS = [("fc1", FLAT_FEATURES, 512), ("fc2", 512, 64), ("fc3", 64, 10)]
POOL = 2
OPSET = 13
IR_VERSION = 7
DEFAULT_SEED = 0


def uniform_params(rng, fan_in, weight_shape):
    """PyTorch reset_parameters() of Linear/Conv2d: weight and bias U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    weight = rng.uniform(-bound, bound, size=weight_shape).astype(np.float32)
    bias = rng.uniform(-bound, bound, size=(weight_shape[0],)).astype(np.float32)
    return weight, bias


def build(seed):
    rng = np.random.default_rng(seed)
    nodes, initializers = [], []
    x = "input"
    relu = 0

    def add_relu(y):
        nonlocal relu
        relu += 1
        r = f"/relu{relu}/Relu_output_0"
        nodes.append(helper.make_node("Relu", [y], [r], name=f"/relu{relu}/Relu"))
        return r

    for i, (name, cin, cout, k, pad, pooled) in enumerate(CONVS):
        weight, bias = uniform_params(rng, cin * k * k, (cout, cin, k, k))
        initializers += [numpy_helper.from_array(weight, f"{name}.weight"),
                         numpy_helper.from_array(bias, f"{name}.bias")]
        y = f"/{name}/Conv_output_0"
        nodes.append(helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [y],
                                      name=f"/{name}/Conv", dilations=[1, 1], group=1,
                                      kernel_shape=[k, k], pads=[pad] * 4, strides=[1, 1]))
        x = add_relu(y)
        if pooled:
            p = f"/pool{i + 1}/MaxPool_output_0"
            nodes.append(helper.make_node("MaxPool", [x], [p], name=f"/pool{i + 1}/MaxPool",
                                          ceil_mode=0, kernel_shape=[POOL, POOL],
                                          pads=[0, 0, 0, 0], strides=[POOL, POOL]))
            x = p
    nodes.append(helper.make_node("Flatten", [x], ["/flatten/Flatten_output_0"],
                                  name="/flatten/Flatten", axis=1))
    x = "/flatten/Flatten_output_0"
    for i, (name, fan_in, fan_out) in enumerate(LINEARS):
        weight, bias = uniform_params(rng, fan_in, (fan_out, fan_in))
        initializers += [numpy_helper.from_array(weight, f"{name}.weight"),
                         numpy_helper.from_array(bias, f"{name}.bias")]
        last = i == len(LINEARS) - 1
        y = "logits" if last else f"/{name}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [x, f"{name}.weight", f"{name}.bias"], [y],
                                      name=f"/{name}/Gemm", alpha=1.0, beta=1.0, transB=1))
        x = y if last else add_relu(y)
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializers)
    model = helper.make_model(graph, producer_name="lpsparsify make_cnn.py",
                              producer_version="1",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = (f"CNN for Fashion-MNIST, initialised with PyTorch's "
                        f"nn.Conv2d/nn.Linear defaults, seed {seed}")
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", default="models/cnn_init.onnx")
    args = parser.parse_args()
    onnx.save(build(args.seed), args.output)


if __name__ == "__main__":
    main()
