"""Recurrent-op variants for the interop tests (imported by gen_models.py):
one LSTM / GRU / RNN node per model with every weight, bias, peephole,
initial state and sequence_lens as an initializer, so the only graph input
is X. Together they cover both directions, reverse, uneven sequence_lens,
clip, input_forget, linear_before_reset and non-default activations, at
the opsets exporters write (onnxruntime refuses layout=1, which
tests/gradcheck/test_rnn.c checks against layout=0 instead)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
IR_VERSION = 7


def _rnn_model(op, opset, seed, direction="forward", lens=None, states=True, peepholes=False,
               layout=0, **attrs):
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]

    def w(name, shape, scale=0.4):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32),
                                       name)
    state_shape = [BATCH, dirs, HIDDEN] if layout else [dirs, BATCH, HIDDEN]
    inits = [w("W", [dirs, g * HIDDEN, INPUT]), w("R", [dirs, g * HIDDEN, HIDDEN]),
             w("B", [dirs, 2 * g * HIDDEN])]
    names = ["X", "W", "R", "B", "", ""]
    if lens is not None:
        inits.append(numpy_helper.from_array(np.array(lens, dtype=np.int32), "lens"))
        names[4] = "lens"
    if states:
        inits.append(w("h0", state_shape))
        names[5] = "h0"
    if op == "LSTM":
        names += ["", ""]
        if states:
            inits.append(w("c0", state_shape))
            names[6] = "c0"
        if peepholes:
            inits.append(w("P", [dirs, 3 * HIDDEN]))
            names[7] = "P"
    while names[-1] == "":
        names.pop()
    outs = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]
    if layout:
        attrs["layout"] = 1
    node = helper.make_node(op, names, outs, hidden_size=HIDDEN, direction=direction, **attrs)
    x_shape = [BATCH, SEQ, INPUT] if layout else [SEQ, BATCH, INPUT]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                          x_shape)],
                              [onnx.ValueInfoProto(name=o) for o in outs], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = IR_VERSION
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m)
    return m


MODELS = {
    "lstm_bidir_lens_peepholes_op13": lambda: _rnn_model(
        "LSTM", 13, 1, "bidirectional", lens=[5, 3, 1], peepholes=True),
    "lstm_reverse_clip_forget_op9": lambda: _rnn_model(
        "LSTM", 9, 2, "reverse", lens=[2, 5, 4], peepholes=True, clip=0.6, input_forget=1),
    "lstm_activations_op11": lambda: _rnn_model(
        "LSTM", 11, 4, "forward", states=False, activations=["Tanh", "Relu", "Sigmoid"]),
    "gru_lbr_bidir_lens_op13": lambda: _rnn_model(
        "GRU", 13, 5, "bidirectional", lens=[3, 5, 1], linear_before_reset=1),
    "gru_reverse_clip_op7": lambda: _rnn_model("GRU", 7, 6, "reverse", lens=[5, 2, 4], clip=0.5),
    "rnn_relu_bidir_lens_op11": lambda: _rnn_model(
        "RNN", 11, 8, "bidirectional", lens=[1, 4, 5], activations=["Relu", "Tanh"]),
}
