"""Element-wise variants for the interop tests (imported by gen_models.py):
the activations MobileNetV3/ConvNeXt/ViT exports use, the mask and shape
arithmetic of Transformer and ShuffleNet exports (comparisons, logic,
Where, Cast through int32/float16/bool, integer Mod), and Pow/Max/Min/
Sum/Mean/Mod/PRelu under broadcasting. Graph inputs are float (the interop
check draws them); integer and bool values arise inside the graph and are
also graph outputs, which must equal onnxruntime's exactly."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BATCH = "batch"
IR_VERSION = 7
# Gelu is an opset-20 operator that the Debian onnx (1.12) does not know:
# that model skips shape inference and the checker, declaring its types.
GELU_OPSET = 20
GELU_IR_VERSION = 9


def _const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


def _graph_model(nodes, inputs, outputs, inits, opset, check=True):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = IR_VERSION if check else GELU_IR_VERSION
    if check:
        m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        known = [v for v in m.graph.value_info if v.type.tensor_type.HasField("shape")]
        del m.graph.value_info[:]
        m.graph.value_info.extend(known)
        onnx.checker.check_model(m)
    return m


def _in(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _out(name, elem=TensorProto.FLOAT, dims=None):
    return helper.make_tensor_value_info(name, elem, dims)


def masks_and_casts():
    """Comparisons, logic, an attention-style Where against a broadcast
    large negative, Cast float -> int32 -> Mod -> float, a float16 round
    trip, and bool/int32 graph outputs."""
    n = helper.make_node
    nodes = [
        n("Greater", ["x", "zero"], ["pos"]),
        n("Less", ["x", "zero"], ["neg"]),
        n("GreaterOrEqual", ["x", "half"], ["ge"]),
        n("LessOrEqual", ["x", "half"], ["le"]),
        n("Mul", ["x", "two"], ["x2"]),
        n("Floor", ["x2"], ["fl"]),
        n("Ceil", ["x2"], ["ce"]),
        n("Cast", ["fl"], ["fli"], to=TensorProto.INT64),
        n("Cast", ["ce"], ["cei"], to=TensorProto.INT64),
        n("Equal", ["fli", "cei"], ["whole"]),
        n("Not", ["pos"], ["notpos"]),
        n("Or", ["neg", "whole"], ["either"]),
        n("And", ["notpos", "either"], ["keep"]),
        n("Xor", ["ge", "le"], ["one_side"]),
        n("Where", ["keep", "x", "big_negative"], ["masked"]),
        n("Mul", ["x", "three"], ["x3"]),
        n("Cast", ["x3"], ["x3i"], to=TensorProto.INT32),
        n("Mod", ["x3i", "four"], ["mod_py"]),
        n("Mod", ["x3i", "four"], ["mod_c"], fmod=1),
        n("Cast", ["mod_py"], ["mod_f"], to=TensorProto.FLOAT),
        n("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
        n("Cast", ["xh"], ["xhf"], to=TensorProto.FLOAT),
        n("Add", ["masked", "mod_f"], ["s"]),
        n("Add", ["s", "xhf"], ["y"]),
        n("Cast", ["keep"], ["keep_u8"], to=TensorProto.UINT8),
    ]
    inits = [_const("zero", 0.0), _const("half", 0.5), _const("two", 2.0), _const("three", 3.0),
             _const("four", [4, -3, 4, 5], np.int32),
             _const("big_negative", [-1e4, -2e4, -3e4, -4e4])]
    outputs = [_out("y"), _out("one_side", TensorProto.BOOL), _out("mod_c", TensorProto.INT32),
               _out("keep_u8", TensorProto.UINT8)]
    return _graph_model(nodes, [_in("x", [BATCH, 3, 4])], outputs, inits, 13)


def activations():
    """HardSigmoid, HardSwish, Elu, Selu, Softplus, the Erf form of GELU that
    PyTorch exports before opset 20, per-channel PRelu and the float math."""
    n = helper.make_node
    nodes = [
        n("HardSigmoid", ["x"], ["hs"], alpha=0.3, beta=0.4),
        n("HardSwish", ["x"], ["hw"]),
        n("Elu", ["x"], ["elu"], alpha=0.7),
        n("Selu", ["x"], ["selu"]),
        n("Softplus", ["x"], ["sp"]),
        n("Div", ["x", "sqrt2"], ["xs"]),
        n("Erf", ["xs"], ["erf"]),
        n("Add", ["erf", "one"], ["erf1"]),
        n("Mul", ["x", "erf1"], ["xe"]),
        n("Mul", ["xe", "half"], ["gelu"]),
        n("PRelu", ["x", "slope"], ["prelu"]),
        n("Sum", ["hs", "hw", "elu", "selu", "sp", "gelu", "prelu"], ["act"]),
        n("Abs", ["x"], ["ax"]),
        n("Add", ["ax", "one"], ["ax1"]),
        n("Log", ["ax1"], ["lg"]),
        n("Reciprocal", ["ax1"], ["rc"]),
        n("Sin", ["x"], ["sn"]),
        n("Cos", ["x"], ["cs"]),
        n("Sign", ["x"], ["sg"]),
        n("Sum", ["lg", "rc", "sn", "cs", "sg"], ["math"]),
    ]
    inits = [_const("sqrt2", np.sqrt(2.0)), _const("one", 1.0), _const("half", 0.5),
             _const("slope", [[0.1], [0.25], [-0.3]])]
    return _graph_model(nodes, [_in("x", [BATCH, 3, 4])], [_out("act"), _out("math")], inits, 14)


def pow_variadic():
    """LayerNorm-style Pow(x, 2), Pow with a broadcast exponent, Max/Min/
    Mean/Sum over three broadcast inputs and float Mod (fmod=1)."""
    n = helper.make_node
    nodes = [
        n("Pow", ["x", "two"], ["sq"]),
        n("ReduceMean", ["sq"], ["var"], axes=[-1]),
        n("Abs", ["x"], ["ax"]),
        n("Add", ["ax", "tenth"], ["base"]),
        n("Pow", ["base", "expo"], ["pw"]),
        n("Max", ["x", "z", "c"], ["mx"]),
        n("Min", ["x", "z"], ["mn"]),
        n("Mean", ["x", "z", "c"], ["me"]),
        n("Sum", ["pw", "mx", "mn", "me"], ["s"]),
        n("Mod", ["x", "modulus"], ["md"], fmod=1),
        n("Add", ["s", "md"], ["t"]),
        n("Add", ["t", "var"], ["y"]),
    ]
    inits = [_const("two", 2.0), _const("tenth", 0.1), _const("expo", [0.5, 1.5, 2.0, -1.0]),
             _const("c", [0.2, -0.1, 0.0, 0.4]), _const("modulus", [0.7, -0.9, 1.3, 0.5])]
    return _graph_model(nodes, [_in("x", [BATCH, 3, 4]), _in("z", [BATCH, 1, 4])], [_out("y")],
                        inits, 13)


def gelu():
    """Gelu (opset 20) with both approximations."""
    n = helper.make_node
    nodes = [n("Gelu", ["x"], ["exact"]), n("Gelu", ["x"], ["tanh"], approximate="tanh")]
    outputs = [_out("exact", dims=[BATCH, 3, 4]), _out("tanh", dims=[BATCH, 3, 4])]
    return _graph_model(nodes, [_in("x", [BATCH, 3, 4])], outputs, [], GELU_OPSET, check=False)


MODELS = {
    "masks_casts_op13": masks_and_casts,
    "activations_op14": activations,
    "pow_variadic_op13": pow_variadic,
    "gelu_op20": gelu,
}
