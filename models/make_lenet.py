#!/usr/bin/env python3
"""Generate models/lenet300_init.onnx: LeNet-300-100 (784-300-100-10), untrained.

The graph has the form torch.onnx.export gives an nn.Sequential of
Flatten, Linear(784, 300), ReLU, Linear(300, 100), ReLU, Linear(100, 10):

    input [N, 1, 28, 28] -> Flatten(axis=1) -> Gemm(transB=1) -> Relu
        -> Gemm(transB=1) -> Relu -> Gemm(transB=1) -> logits [N, 10]

with opset 13, IR version 7 and initializers fc1.weight [300, 784],
fc1.bias [300], ... fc3.bias [10]. Weights and biases follow PyTorch's
nn.Linear default initialisation (kaiming_uniform_ with a = sqrt(5), which
is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias),
drawn from numpy's PCG64 generator with a fixed seed, so the file is
reproducible byte for byte with the same onnx and numpy versions.

This script is a development tool only; lpsparsify never runs python.

Usage: python3 models/make_lenet.py [--seed 0] [--output models/lenet300_init.onnx]
"""
import argparse
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS = [("fc1", 784, 300), ("fc2", 300, 100), ("fc3", 100, 10)]
OPSET = 13
IR_VERSION = 7
DEFAULT_SEED = 0


def linear_params(rng, fan_in, fan_out):
    """PyTorch nn.Linear.reset_parameters(): weight [out, in] and bias [out]."""
    bound = 1.0 / math.sqrt(fan_in)
    weight = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
    bias = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
    return weight, bias


def build(seed):
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Flatten", ["input"], ["/flatten/Flatten_output_0"],
                              name="/flatten/Flatten", axis=1)]
    initializers = []
    x = "/flatten/Flatten_output_0"
    for i, (name, fan_in, fan_out) in enumerate(LAYERS):
        weight, bias = linear_params(rng, fan_in, fan_out)
        initializers += [numpy_helper.from_array(weight, f"{name}.weight"),
                         numpy_helper.from_array(bias, f"{name}.bias")]
        last = i == len(LAYERS) - 1
        y = "logits" if last else f"/{name}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [x, f"{name}.weight", f"{name}.bias"], [y],
                                      name=f"/{name}/Gemm", alpha=1.0, beta=1.0, transB=1))
        if not last:
            r = f"/relu{i + 1}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [y], [r], name=f"/relu{i + 1}/Relu"))
            y = r
        x = y
    graph = helper.make_graph(
        nodes, "lenet300",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializers)
    model = helper.make_model(graph, producer_name="lpsparsify make_lenet.py",
                              producer_version="1",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = (f"LeNet-300-100 for Fashion-MNIST, initialised with PyTorch's "
                        f"nn.Linear default, seed {seed}")
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", default="models/lenet300_init.onnx")
    args = parser.parse_args()
    onnx.save(build(args.seed), args.output)


if __name__ == "__main__":
    main()
