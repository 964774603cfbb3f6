"""Interop models for the slicing, repeating and shape-subgraph operators in
the forms exporters write: the ViT class-token Expand over Shape -> Gather,
ConstantOfShape and Range over bound dims, Slice with attributes (opset < 10)
and with negative steps, Split by attribute, input and num_outputs, Tile.
gen_models.py merges MODELS into its own table.
"""
import numpy as np
from onnx import TensorProto, helper

import gen_models as g

INT64_MAX = np.iinfo(np.int64).max
# onnx 1.12 (Debian's) checks and infers shapes up to this opset only.
LAST_CHECKED_OPSET = 17


def _unchecked_model(nodes, inputs, outputs, inits, opset):
    """A model above LAST_CHECKED_OPSET: outputs carry explicit types."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = g.IR_VERSION
    return m


def _unsqueeze(x, y, axes, opset, inits):
    """Unsqueeze with axes as an attribute (< 13) or an input (>= 13)."""
    if opset >= 13:
        inits.append(g._ints(y + "_axes", axes))
        return helper.make_node("Unsqueeze", [x, y + "_axes"], [y])
    return helper.make_node("Unsqueeze", [x], [y], axes=axes)


def class_token(opset):
    """ViT's class token: Expand([1,1,D] -> [batch,1,D]) with the target
    built from Shape -> Gather -> Unsqueeze -> Concat, then Concat with the
    tokens and a Slice back to the class position; a ConstantOfShape mask of
    the token shape and a Range over the bound token count."""
    w = g._weights(21)
    inits = [w("cls", [1, 1, 6]), g._ints("i0", 0), g._ints("i1", 1), g._ints("one_d", [1]),
             g._ints("six", [6]), g._ints("r0", 0), g._ints("r1", 1)]
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        _unsqueeze("b", "bu", [0], opset, inits),
        helper.make_node("Concat", ["bu", "one_d", "six"], ["target"], axis=0),
        helper.make_node("Expand", ["cls", "target"], ["clsb"]),
        helper.make_node("Concat", ["clsb", "x"], ["cat"], axis=1),
        helper.make_node("ConstantOfShape", ["s"], ["ones"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Mul", ["x", "ones"], ["half"]),
        helper.make_node("Gather", ["s", "i1"], ["n"], axis=0),
        helper.make_node("Range", ["r0", "n", "r1"], ["positions"]),
    ]
    if opset >= 10:
        inits += [g._ints("c_s", [0]), g._ints("c_e", [1]), g._ints("c_a", [1])]
        nodes.append(helper.make_node("Slice", ["cat", "c_s", "c_e", "c_a"], ["first"]))
    else:
        nodes.append(helper.make_node("Slice", ["cat"], ["first"], starts=[0], ends=[1],
                                      axes=[1]))
    outs = [g._out("first"), g._out("half"), g._out("cat")]
    if opset < 11:
        nodes.pop(-2)  # Range arrives at opset 11
    else:
        outs.append(helper.make_tensor_value_info("positions", TensorProto.INT64, None))
    return g._model(nodes, [g._in("x", [g.BATCH, 4, 6])], outs, inits, opset)


def slice_split_tile(opset):
    """Slice with attributes (opset 9) or with negative steps and axes
    (opset 13), Split by attribute or input, Tile of a part."""
    inits = [g._ints("reps", [1, 2, 1])]
    if opset >= 10:
        inits += [g._ints("s_s", [-1, 1]), g._ints("s_e", [-INT64_MAX, INT64_MAX]),
                  g._ints("s_a", [-1, 1]), g._ints("s_st", [-2, 1])]
        sl = helper.make_node("Slice", ["x", "s_s", "s_e", "s_a", "s_st"], ["sl"])
    else:
        sl = helper.make_node("Slice", ["x"], ["sl"], starts=[1, 2], ends=[INT64_MAX, -1],
                              axes=[1, 2])
    if opset >= 13:
        inits.append(g._ints("parts", [1, 1]))
        sp = helper.make_node("Split", ["sl", "parts"], ["p0", "p1"], axis=1)
    else:
        sp = helper.make_node("Split", ["sl"], ["p0", "p1"], axis=1, split=[1, 1])
    nodes = [sl, sp, helper.make_node("Tile", ["p1", "reps"], ["t"])]
    return g._model(nodes, [g._in("x", [g.BATCH, 3, 8])], [g._out("p0"), g._out("t")], inits,
                    opset)


def split_num_outputs():
    """Split with num_outputs (opset 18): the last part is smaller."""
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=2, num_outputs=3)]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "abc"]
    return _unchecked_model(nodes, [g._in("x", [g.BATCH, 2, 8])], outs, [], 18)


MODELS = {
    "class_token_op13": lambda: class_token(13),
    "class_token_op11": lambda: class_token(11),
    "class_token_op9": lambda: class_token(9),
    "slice_split_tile_op13": lambda: slice_split_tile(13),
    "slice_split_tile_op9": lambda: slice_split_tile(9),
    "split_num_outputs_op18": split_num_outputs,
}
