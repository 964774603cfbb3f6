"""The bad-input cases run by tests/bad/bad.py.

Every case starts from a small valid setup in a fresh folder: model.onnx (an
MLP, input x [N, 4], output y [N, 3]), data.csv (24 labelled rows, label in
the last column) and an empty folder out/ for outputs, then breaks one thing.
A case is (setup, command line, exit code, message regex after
"lpsparsify: "). Exit codes: 1 runtime failure, 2 bad usage or bad input.
"""
import collections
import json
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Case = collections.namedtuple("Case", "setup argv exit_code message stdout_ok skip_reason")

N_FEATURES = 4
N_HIDDEN = 6
N_CLASSES = 3
N_ROWS = 24
# Rows whose CSV text alone passes 1 MiB.
OVER_ONE_MIB_ROWS = 45000
OPSET = 13
FIFO_MODE = 0o600
HUGE_PAD = 1 << 34
READ_ONLY_DIR_MODE = 0o555

CSV_DATA = ["--data", "data.csv", "--label-column", "-1"]
SPARSIFY_OUT = ["-o", "out/sparse.onnx", "--report", "out/report.json"]
QUICK = ["--epochs", "1", "-q"]


def sparsify(*extra, model="model.onnx", data=None):
    return [model, "--target", "0.5"] + (CSV_DATA if data is None else data) + QUICK \
        + SPARSIFY_OUT + list(extra)


def evaluate(model="model.onnx", data=None):
    return ["eval", model] + (CSV_DATA if data is None else data)


# ---------------------------------------------------------------- models

def mlp_parts(w1=None):
    rng = np.random.default_rng(1)
    if w1 is None:
        w1 = rng.standard_normal((N_FEATURES, N_HIDDEN)).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"),
             numpy_helper.from_array(np.zeros(N_HIDDEN, np.float32), "b1"),
             numpy_helper.from_array(
                 np.random.default_rng(2).standard_normal((N_HIDDEN, N_CLASSES)).astype(
                     np.float32), "w2")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
             helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
             helper.make_node("Relu", ["hb"], ["r"], name="relu1"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_FEATURES])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N_CLASSES])]
    return nodes, inputs, outputs, inits


def make_model(nodes, inputs, outputs, inits, opset=OPSET):
    graph = helper.make_graph(nodes, "mlp", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def mlp_bytes(**kw):
    return make_model(*mlp_parts(**kw)).SerializeToString()


def write(folder, name, data):
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def csv_rows(n=N_ROWS):
    rng = np.random.default_rng(0)
    return ["%s,%d" % (",".join("%.3f" % v for v in rng.standard_normal(N_FEATURES)), i % 3)
            for i in range(n)]


def base(folder, model=None, data=None):
    """The valid setup, with model bytes or CSV text replaced when given."""
    write(folder, "model.onnx", mlp_bytes() if model is None else model)
    write(folder, "data.csv", "\n".join(csv_rows()) + "\n" if data is None else data)
    os.makedirs(os.path.join(folder, "out"))


def with_model(make):
    """A setup whose model.onnx is make() (bytes or an onnx ModelProto)."""
    def setup(folder):
        m = make()
        base(folder, model=m if isinstance(m, bytes) else m.SerializeToString())
    return setup


def with_csv(text):
    return lambda folder: base(folder, data=text)


def with_report(text):
    """The valid setup plus r.json holding text (for `lpsparsify report`)."""
    def setup(folder):
        base(folder)
        write(folder, "r.json", text)
    return setup


def with_recipe(keys):
    """The valid setup plus r.json, a recipe (docs/recipe.md) holding keys."""
    def setup(folder):
        base(folder)
        write(folder, "r.json", json.dumps(dict({"schema": "lpsparsify.recipe/1"}, **keys)))
    return setup


GOOD_REPORT = '{"schema": "lpsparsify.report/1", "layers": [{"name": "w1"}]}'
HTML_OUT = ["-o", "out/r.html"]


def garbage():
    return bytes(np.random.default_rng(3).integers(0, 256, 300, dtype=np.uint8))


def oversized_dims():
    nodes, inputs, outputs, inits = mlp_parts()
    big = TensorProto()
    big.name = "w1"
    big.data_type = TensorProto.FLOAT
    big.dims.extend([1 << 31, 1 << 31, 1 << 31])
    inits[0] = big
    return make_model(nodes, inputs, outputs, inits)


def huge_but_representable_dims():
    """2^38 floats = 1 TiB declared, with no bytes behind it."""
    nodes, inputs, outputs, inits = mlp_parts()
    big = TensorProto()
    big.name = "w1"
    big.data_type = TensorProto.FLOAT
    big.dims.extend([1 << 19, 1 << 19])
    inits[0] = big
    return make_model(nodes, inputs, outputs, inits)


def short_raw_data():
    nodes, inputs, outputs, inits = mlp_parts()
    inits[0].raw_data = inits[0].raw_data[:-4]
    return make_model(nodes, inputs, outputs, inits)


def unsupported_op():
    nodes, inputs, outputs, inits = mlp_parts()
    nodes[2] = helper.make_node("Hardmax", ["hb"], ["r"], name="odd")
    return make_model(nodes, inputs, outputs, inits)


def unknown_domain():
    nodes, inputs, outputs, inits = mlp_parts()
    nodes[2] = helper.make_node("Relu", ["hb"], ["r"], name="custom", domain="com.example")
    m = make_model(nodes, inputs, outputs, inits)
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


def graph_cycle():
    nodes, inputs, outputs, inits = mlp_parts()
    # bias1 now reads relu1's output, which reads bias1's.
    nodes[1] = helper.make_node("Add", ["r", "b1"], ["hb"], name="bias1")
    return make_model(nodes, inputs, outputs, inits)


def dangling_input():
    nodes, inputs, outputs, inits = mlp_parts()
    nodes[1] = helper.make_node("Add", ["h", "ghost"], ["hb"], name="bias1")
    return make_model(nodes, inputs, outputs, inits)


def duplicate_outputs():
    nodes, inputs, outputs, inits = mlp_parts()
    nodes.insert(1, helper.make_node("Relu", ["x"], ["h"], name="twin"))
    return make_model(nodes, inputs, outputs, inits)


def duplicate_initializers():
    nodes, inputs, outputs, inits = mlp_parts()
    inits.append(numpy_helper.from_array(np.zeros(N_HIDDEN, np.float32), "b1"))
    return make_model(nodes, inputs, outputs, inits)


def missing_graph_output():
    nodes, inputs, _, inits = mlp_parts()
    outputs = [helper.make_tensor_value_info("nowhere", TensorProto.FLOAT, ["N", N_CLASSES])]
    return make_model(nodes, inputs, outputs, inits)


def weight_with(value):
    def make():
        w1 = np.random.default_rng(1).standard_normal((N_FEATURES, N_HIDDEN)).astype(np.float32)
        w1[2, 3] = value
        return make_model(*mlp_parts(w1=w1))
    return make


def input_rank(dims):
    def make():
        nodes, _, outputs, inits = mlp_parts()
        return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                          outputs, inits)
    return make


def external(location, dims=None):
    def setup(folder):
        nodes, inputs, outputs, inits = mlp_parts()
        raw = inits[0].raw_data
        inits[0].raw_data = b""
        if dims:
            del inits[0].dims[:]
            inits[0].dims.extend(dims)
            location_length = []
        else:
            location_length = [("length", str(len(raw)))]
        inits[0].data_location = TensorProto.EXTERNAL
        for key, value in [("location", location)] + location_length:
            entry = inits[0].external_data.add()
            entry.key, entry.value = key, value
        base(folder, model=make_model(nodes, inputs, outputs, inits).SerializeToString())
        write(folder, "secret.bin", raw)
        if location == "fifo.bin":
            os.mkfifo(os.path.join(folder, "fifo.bin"), FIFO_MODE)
        if location == "link.bin":
            os.symlink("/etc/passwd", os.path.join(folder, "link.bin"))
    return setup


def huge_activation():
    """Pads the hidden layer to 2^34 columns: a few bytes of model asking for
    terabytes of activations, which must end in a clean out-of-memory."""
    nodes, inputs, outputs, inits = mlp_parts()
    inits.append(numpy_helper.from_array(np.array([0, 0, 0, HUGE_PAD], np.int64), "pads"))
    nodes.insert(3, helper.make_node("Pad", ["r", "pads"], ["rp"], name="pad"))
    nodes[4] = helper.make_node("MatMul", ["rp", "w2"], ["y"], name="fc2")
    return make_model(nodes, inputs, outputs, inits)


def two_outputs_second_unwritable(folder):
    """Output 0 is float (written first), output 1 int8, which NPY output
    does not support: the run must fail and remove output 0 again."""
    base(folder)
    z = numpy_helper.from_array(np.arange(6, dtype=np.int8).reshape(2, 3), "z")
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu"),
             helper.make_node("Transpose", ["z"], ["zt"], name="flip")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_FEATURES])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N_FEATURES]),
               helper.make_tensor_value_info("zt", TensorProto.INT8, [3, 2])]
    write(folder, "two.onnx", make_model(nodes, inputs, outputs, [z]).SerializeToString())
    np.save(os.path.join(folder, "x.npy"), features(2))


def no_prunable_weights():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="only")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_FEATURES])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N_FEATURES])]
    return make_model(nodes, inputs, outputs, [])


def model_is_fifo(folder):
    base(folder)
    os.mkfifo(os.path.join(folder, "pipe.onnx"), FIFO_MODE)


# -------------------------------------------------------------- datasets

def idx_bytes(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) \
        + payload


IDX_UBYTE = 0x08


def idx_folder(images, labels):
    def setup(folder):
        base(folder)
        write(folder, "idx/train-images-idx3-ubyte", images)
        write(folder, "idx/train-labels-idx1-ubyte", labels)
        write(folder, "idx/t10k-images-idx3-ubyte", images)
        write(folder, "idx/t10k-labels-idx1-ubyte", labels)
    return setup


GOOD_IMAGES = idx_bytes(IDX_UBYTE, [3, 2, 2], bytes(range(12)))
GOOD_LABELS = idx_bytes(IDX_UBYTE, [3], bytes([0, 1, 2]))


def npy_bytes(header, payload, version=1):
    text = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text.encode("latin1") + payload


def npy_file(header, payload):
    def setup(folder):
        base(folder)
        write(folder, "x.npy", npy_bytes(header, payload))
    return setup


def npy_array(array):
    def setup(folder):
        base(folder)
        np.save(os.path.join(folder, "x.npy"), array)
    return setup


def npy_pair(samples, labels):
    def setup(folder):
        base(folder)
        os.makedirs(os.path.join(folder, "npy"))
        for split in ("train", "test"):
            np.save(os.path.join(folder, "npy", split + ".npy"), samples)
            np.save(os.path.join(folder, "npy", split + "_labels.npy"), labels)
    return setup


SEQ = 5
VOCAB = 7


def token_model():
    """Two inputs, int64 token ids [N, SEQ] and a float mask [N, SEQ]."""
    rng = np.random.default_rng(6)
    inits = [numpy_helper.from_array(rng.standard_normal((VOCAB, N_CLASSES)).astype(np.float32),
                                     "emb")]
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="embed"),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0, name="pool"),
             helper.make_node("ReduceMean", ["mask"], ["m"], axes=[1], keepdims=1, name="mpool"),
             helper.make_node("Mul", ["pooled", "m"], ["y"], name="scale")]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", SEQ]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", SEQ])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N_CLASSES])]
    return make_model(nodes, inputs, outputs, inits)


def token_folder(mask_rows=N_ROWS, mask_name="mask", id_end=VOCAB):
    """tokens.onnx and seq/{train,test}.{ids,<mask_name>}.npy plus labels;
    the ids are drawn from [0, id_end)."""
    def setup(folder):
        base(folder)
        write(folder, "tokens.onnx", token_model().SerializeToString())
        os.makedirs(os.path.join(folder, "seq"))
        rng = np.random.default_rng(7)
        for split in ("train", "test"):
            np.save(os.path.join(folder, "seq", f"{split}.ids.npy"),
                    rng.integers(0, id_end, (N_ROWS, SEQ), dtype=np.int64))
            np.save(os.path.join(folder, "seq", f"{split}.{mask_name}.npy"),
                    np.ones((mask_rows, SEQ), np.float32))
            np.save(os.path.join(folder, "seq", f"{split}_labels.npy"),
                    np.arange(N_ROWS) % N_CLASSES)
    return setup


def features(n=N_ROWS):
    return np.random.default_rng(4).standard_normal((n, N_FEATURES)).astype(np.float32)


def nan_csv():
    rows = csv_rows()
    rows[5] = "0.1,nan,0.3,0.4,1"
    return "\n".join(rows) + "\n"


def ragged_csv():
    rows = csv_rows()
    rows[7] = "0.1,0.2,0.3,1"
    return "\n".join(rows) + "\n"


def non_numeric_csv():
    rows = csv_rows()
    rows[9] = "0.1,abc,0.3,0.4,1"
    return "\n".join(rows) + "\n"


def label_csv(label):
    rows = csv_rows()
    rows[3] = "0.1,0.2,0.3,0.4," + label
    return "\n".join(rows) + "\n"


def data_folder_empty(folder):
    base(folder)
    os.makedirs(os.path.join(folder, "empty"))


# ----------------------------------------------------------- command line

def readonly_out(folder):
    base(folder)
    os.chmod(os.path.join(folder, "out"), READ_ONLY_DIR_MODE)


def model_link(folder):
    base(folder)
    os.symlink("model.onnx", os.path.join(folder, "link.onnx"))


def running_as_root():
    return "root bypasses folder permissions" if os.geteuid() == 0 else None


def readonly_model(folder):
    base(folder)
    os.chmod(os.path.join(folder, "model.onnx"), 0o444)


# ---------------------------------------------------------------- image folders

def png_bytes(value=128):
    """A valid 4x4 grey PNG, written with zlib by hand (no PIL needed)."""
    import zlib
    raw = b"".join(b"\0" + bytes([value]) * 4 for _ in range(4))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + \
        chunk(b"IEND", b"")


def image_folder(extra=None, test_classes=("a", "b"), make_link=None):
    """imgs/train/{a,b}/ and imgs/val/<test_classes>/ with two PNGs each,
    then extra: {relative path: bytes, or None for an empty folder}."""
    def setup(folder):
        base(folder)
        for split, classes in (("train", ("a", "b")), ("val", test_classes)):
            for c in classes:
                for i in range(2):
                    write(folder, f"imgs/{split}/{c}/{i}.png", png_bytes(40 * i + 10))
        for rel, data in (extra or {}).items():
            if data is None:
                os.makedirs(os.path.join(folder, "imgs", rel))
            else:
                write(folder, os.path.join("imgs", rel), data)
        if make_link:
            os.symlink(make_link[1], os.path.join(folder, "imgs", make_link[0]))
    return setup


IMAGES = ["--data", "imgs"]


def case(setup, argv, exit_code, message, stdout_ok=False, skip_reason=None):
    return Case(setup, argv, exit_code, message, stdout_ok, skip_reason)


CASES = {
    # Models that do not load.
    "model_truncated": case(with_model(lambda: mlp_bytes()[:len(mlp_bytes()) // 2]),
                            evaluate(), 2, r"model\.onnx: .*"),
    "model_garbage": case(with_model(garbage), evaluate(), 2, r"model\.onnx: .*"),
    "model_empty": case(with_model(lambda: b""), evaluate(), 2, r"model\.onnx: .*empty.*"),
    "model_missing": case(base, evaluate(model="nope.onnx"), 2, r"nope\.onnx: .*"),
    "model_is_folder": case(base, evaluate(model="out"), 2, r"out: .*"),
    "model_is_fifo": case(model_is_fifo, evaluate(model="pipe.onnx"), 2,
                          r"pipe\.onnx: not a regular file"),
    "model_oversized_dims": case(with_model(oversized_dims), evaluate(), 2,
                                 r"model\.onnx: .*w1.*"),
    "model_dims_without_data": case(with_model(huge_but_representable_dims), evaluate(), 2,
                                    r"model\.onnx: initializer 'w1': .*need.*"),
    "model_short_raw_data": case(with_model(short_raw_data), evaluate(), 2,
                                 r"model\.onnx: .*w1.*"),
    "model_external_escape": case(external("../secret.bin"), evaluate(), 2,
                                  r"model\.onnx: .*w1.*'\.\.'.*"),
    "model_external_absolute": case(external("/etc/passwd"), evaluate(), 2,
                                    r"model\.onnx: .*w1.*absolute.*"),
    "model_external_symlink_out": case(external("link.bin"), evaluate(), 2,
                                       r"model\.onnx: .*w1.*outside.*"),
    "model_external_missing": case(external("gone.bin"), evaluate(), 2,
                                   r"model\.onnx: .*w1.*gone\.bin.*"),
    "model_external_huge_dims": case(external("secret.bin", dims=[1 << 19, 1 << 19]),
                                     evaluate(), 2, r"model\.onnx: .*w1.*too short.*"),
    "model_external_fifo": case(external("fifo.bin"), evaluate(), 2,
                                r"model\.onnx: .*w1.*not a regular file"),
    # Models that load but cannot be compiled or used.
    "model_unsupported_op": case(with_model(unsupported_op), evaluate(), 2,
                                 r"model\.onnx: .*odd.*Hardmax.*"),
    "model_unknown_domain": case(with_model(unknown_domain), evaluate(), 2,
                                 r"model\.onnx: .*custom.*com\.example.*"),
    "model_graph_cycle": case(with_model(graph_cycle), evaluate(), 2,
                              r"model\.onnx: .*cycle.*"),
    "model_dangling_input": case(with_model(dangling_input), evaluate(), 2,
                                 r"model\.onnx: .*ghost.*"),
    "model_duplicate_outputs": case(with_model(duplicate_outputs), evaluate(), 2,
                                    r"model\.onnx: .*'h'.*"),
    "model_duplicate_initializers": case(with_model(duplicate_initializers), evaluate(), 2,
                                         r"model\.onnx: .*'b1'.*"),
    "model_missing_graph_output": case(with_model(missing_graph_output), evaluate(), 2,
                                       r"model\.onnx: .*nowhere.*"),
    "model_nan_weight": case(with_model(weight_with(np.nan)), sparsify(), 2,
                             r"model\.onnx: initializer 'w1' holds NaN at element 15"),
    "model_inf_weight": case(with_model(weight_with(np.inf)), sparsify(), 2,
                             r"model\.onnx: initializer 'w1' holds an infinite value at element 15"),
    "model_input_rank_mismatch": case(with_model(input_rank(["N", 2, 3])), evaluate(), 2,
                                      r".*\[4\].*\[2, 3\].*|.*\[2, 3\].*\[4\].*"),
    "model_input_width_mismatch": case(with_model(input_rank(["N", 5])), evaluate(), 2,
                                       r".*\[4\].*\[5\].*|.*\[5\].*\[4\].*"),
    "model_huge_activation": case(with_model(huge_activation), evaluate(), 1,
                                  r"model\.onnx: .*pad.*(memory|bytes).*"),
    "model_no_prunable_weights": case(with_model(no_prunable_weights), sparsify(), 2,
                                      r"model\.onnx: .*prunable.*"),
    # Datasets.
    "data_missing": case(base, evaluate(data=["--data", "nope.csv"]), 2, r".*nope\.csv.*"),
    "data_empty_folder": case(data_folder_empty, evaluate(data=["--data", "empty"]), 2,
                              r"empty.*"),
    "data_over_memory_budget": case(with_csv("\n".join(csv_rows(OVER_ONE_MIB_ROWS)) + "\n"),
                                    evaluate() + ["--memory-budget", "1"], 1,
                                    r"data\.csv: .*budget.*"),
    "csv_nan": case(with_csv(nan_csv()), evaluate(), 2, r"data\.csv:6.*NaN.*|data\.csv.*nan.*"),
    "csv_ragged_rows": case(with_csv(ragged_csv()), evaluate(), 2, r"data\.csv:8: .*"),
    "csv_non_numeric": case(with_csv(non_numeric_csv()), evaluate(), 2,
                            r"data\.csv:10: .*abc.*"),
    "csv_empty": case(with_csv(""), evaluate(), 2, r"data\.csv: .*"),
    "csv_label_out_of_range": case(with_csv(label_csv("7")), evaluate(), 2,
                                   r"data\.csv: .*label 7.*"),
    "csv_label_negative": case(with_csv(label_csv("-1")), evaluate(), 2,
                               r"data\.csv:4: .*-1.*"),
    "csv_label_fractional": case(with_csv(label_csv("1.5")), evaluate(), 2,
                                 r"data\.csv:4: .*1\.5.*"),
    "idx_wrong_magic": case(idx_folder(b"\x01\x00" + GOOD_IMAGES[2:], GOOD_LABELS),
                            evaluate(data=["--data", "idx"]), 2,
                            r"idx/t10k-images-idx3-ubyte: .*IDX.*"),
    "idx_count_mismatch": case(idx_folder(GOOD_IMAGES, idx_bytes(IDX_UBYTE, [2], bytes([0, 1]))),
                               evaluate(data=["--data", "idx"]), 2,
                               r"idx/t10k-labels-idx1-ubyte: .*"),
    "idx_short_payload": case(idx_folder(GOOD_IMAGES[:-3], GOOD_LABELS),
                              evaluate(data=["--data", "idx"]), 2,
                              r"idx/t10k-images-idx3-ubyte: .*"),
    "npy_bad_header": case(npy_file("{'descr': '<f4', 'shape': (24, 4)", bytes(384)),
                           evaluate(data=["--data", "x.npy"]), 2, r"x\.npy: .*header.*"),
    "npy_fortran_order": case(npy_file("{'descr': '<f4', 'fortran_order': True, "
                                       "'shape': (24, 4), }", bytes(384)),
                              evaluate(data=["--data", "x.npy"]), 2, r"x\.npy: .*[Ff]ortran.*"),
    "npy_unsupported_dtype": case(npy_array(np.zeros((N_ROWS, N_FEATURES), np.complex64)),
                                  evaluate(data=["--data", "x.npy"]), 2, r"x\.npy: .*<c8.*"),
    "npy_nan": case(npy_pair(np.where(np.arange(N_ROWS * N_FEATURES).reshape(N_ROWS, N_FEATURES)
                                      == 9, np.nan, features()).astype(np.float32),
                             np.arange(N_ROWS) % N_CLASSES),
                    evaluate(data=["--data", "npy"]), 2, r"npy/test\.npy: .*NaN.*"),
    "npy_label_count_mismatch": case(npy_pair(features(), np.arange(N_ROWS - 1) % N_CLASSES),
                                     evaluate(data=["--data", "npy"]), 2,
                                     r"npy/test_labels\.npy: .*"),
    # Several model inputs, one NPY per input.
    "inputs_sample_count_mismatch": case(token_folder(mask_rows=N_ROWS - 2),
                                         evaluate("tokens.onnx", ["--data", "seq"]), 2,
                                         r"seq/t\w*\.mask\.npy: 22 samples for input 'mask', "
                                         r"but .*ids\.npy has 24"),
    "inputs_missing_file": case(token_folder(mask_name="masks"),
                                evaluate("tokens.onnx", ["--data", "seq"]), 2,
                                r"seq: no test\.mask\.npy for model input 'mask' \(found files for "
                                r"1 of the model's 2 inputs\)"),
    "inputs_id_outside_vocabulary": case(token_folder(id_end=VOCAB + 3),
                                         evaluate("tokens.onnx", ["--data", "seq"]), 2,
                                         r"tokens\.onnx: node 'embed' \(Gather\): "
                                         r"index \d+ is outside \[-7, 6\] for axis 0"),
    "inputs_unknown_name": case(token_folder(),
                                evaluate("tokens.onnx", ["--data", "ids=seq/test.ids.npy,"
                                                         "masks=seq/test.mask.npy"]), 2,
                                r"--data '.*': 'masks' is not an input of the model"),
    # Command line.
    "target_zero": case(base, sparsify() + ["--target", "0"], 2, r"--target: .*"),
    "target_one": case(base, sparsify() + ["--target", "1"], 2, r"--target: .*"),
    "target_negative": case(base, sparsify() + ["--target", "-0.5"], 2, r"--target: .*"),
    "target_nan": case(base, sparsify() + ["--target", "nan"], 2, r"--target: .*"),
    "target_text": case(base, sparsify() + ["--target", "half"], 2, r"--target: .*half.*"),
    "target_missing": case(base, ["model.onnx"] + CSV_DATA + QUICK + SPARSIFY_OUT, 2,
                           r".*--target.*"),
    "p_one": case(base, sparsify("--p", "1"), 2, r"--p: .*"),
    "p_below_one": case(base, sparsify("--p", "0.5"), 2, r"--p: .*"),
    "p_above_two": case(base, sparsify("--p", "2.5"), 2, r"--p: .*"),
    # Options the chosen method never reads (docs/cli.md, "Options only some methods read").
    "p_with_gmp": case(base, sparsify("--method", "gmp", "--p", "1.5"), 2,
                       r"--p: sets the LpSS exponent of every layer, which only LpSGD reads "
                       r"\(--method lpss, or --finetune lpss after a one-shot method\); "
                       r"unused with --method gmp"),
    "p_layer_with_gmp": case(base, sparsify("--method", "gmp", "--p-layer", "w1=1.5"), 2,
                             r"--p-layer: sets a layer's LpSS exponent, .*; "
                             r"unused with --method gmp"),
    "lpsgd_lr_with_finetune_frozen": case(base, sparsify("--method", "magnitude", "--finetune",
                                                         "frozen", "--lpsgd-lr", "0.1"), 2,
                                          r"--lpsgd-lr: sets the LpSGD step, which only LpSGD "
                                          r"reads .*; unused with --method magnitude without "
                                          r"--finetune lpss"),
    "freeze_gain_with_wanda": case(base, sparsify("--method", "wanda", "--freeze-gain"), 2,
                                   r"--freeze-gain: keeps the LpSGD gains fixed, .*; unused with "
                                   r"--method wanda without --finetune lpss"),
    "prune_every_with_sparsegpt": case(base, sparsify("--method", "sparsegpt", "--prune-every",
                                                      "5"), 2,
                                       r"--prune-every: sets the steps between mask updates, "
                                       r"which only LpSS, GMP and --finetune lpss read; unused "
                                       r"with --method sparsegpt without --finetune lpss"),
    "finetune_frozen_with_lpss": case(base, sparsify("--finetune", "frozen"), 2,
                                      r"--finetune frozen: fine-tunes after a one-shot --method "
                                      r"\(magnitude, wanda or sparsegpt\), not lpss"),
    "finetune_frozen_with_gmp": case(base, sparsify("--method", "gmp", "--finetune", "frozen"), 2,
                                     r"--finetune frozen: fine-tunes after a one-shot --method "
                                     r"\(magnitude, wanda or sparsegpt\), not gmp"),
    "finetune_frozen_epochs_zero": case(base, sparsify("--method", "magnitude", "--epochs", "0",
                                                       "--finetune", "frozen"), 2,
                                        r"--finetune frozen: needs --epochs > 0 \(--epochs 0 "
                                        r"writes the one-shot result untrained\)"),
    "recipe_p_with_gmp": case(with_recipe({"p": 1.5}),
                              sparsify("--method", "gmp", "--recipe", "r.json"), 2,
                              r"r\.json: p: sets the LpSS exponent of every layer, .*; unused "
                              r"with --method gmp"),
    "recipe_finetune_frozen_with_lpss": case(with_recipe({"finetune": "frozen"}),
                                             sparsify("--recipe", "r.json"), 2,
                                             r"r\.json: finetune frozen: fine-tunes after a "
                                             r"one-shot --method .*, not lpss"),
    "recipe_freeze_gain_given_again": case(with_recipe({"freeze-gain": True}),
                                           sparsify("--recipe", "r.json", "--method", "magnitude",
                                                    "--freeze-gain"), 2,
                                           r"--freeze-gain: keeps the LpSGD gains fixed, .*; "
                                           r"unused with --method magnitude without --finetune "
                                           r"lpss"),
    "epochs_zero": case(base, sparsify("--epochs", "0"), 2, r"--epochs: .*"),
    "epochs_negative": case(base, sparsify("--epochs", "-1"), 2,
                            r"--epochs: -1 is outside 0\.\..*"),
    "train_epochs_zero": case(base, ["train", "model.onnx", "-o", "out/dense.onnx"] + CSV_DATA
                              + QUICK + ["--epochs", "0"], 2, r"--epochs: 0 is outside 1\.\..*"),
    "batch_overflow": case(base, sparsify("--batch", "99999999999999999999999"), 2,
                           r"--batch: .*"),
    "lr_negative": case(base, sparsify("--lr", "-1"), 2, r"--lr: .*"),
    "lr_schedule_garbage": case(base, sparsify("--lr-schedule", "0.5:x"), 2,
                                r"--lr-schedule: .*0\.5:x.*"),
    "unknown_option": case(base, sparsify("--frobnicate"), 2, r".*frobnicate.*"),
    "output_folder_missing": case(base, sparsify("-o", "nowhere/sparse.onnx"), 1,
                                  r"nowhere/sparse\.onnx: .*"),
    "output_folder_readonly": case(readonly_out, sparsify(), 1, r"out/sparse\.onnx: .*",
                                   skip_reason=running_as_root),
    "output_folder_unwritable_fs": case(base, sparsify("-o", "/proc/lps-sparse.onnx"), 1,
                                        r"/proc/lps-sparse\.onnx: .*"),
    "output_is_input": case(base, sparsify("-o", "model.onnx"), 2, r"model\.onnx: .*"),
    "output_is_input_via_link": case(model_link, sparsify("-o", "link.onnx"), 2,
                                     r"link\.onnx: .*"),
    "report_is_input": case(base, sparsify("--report", "model.onnx"), 2,
                            r"model\.onnx: would overwrite the input model\.onnx"),
    "report_is_data": case(base, sparsify("--report", "data.csv"), 2,
                           r"data\.csv: would overwrite the input data\.csv"),
    "report_is_output": case(base, sparsify("--report", "out/sparse.onnx"), 2,
                             r"out/sparse\.onnx: the report would overwrite the output model"),
    "eval_json_is_input": case(base, evaluate() + ["--json", "model.onnx"], 2,
                               r"model\.onnx: would overwrite the input model\.onnx"),
    "run_partial_outputs": case(two_outputs_second_unwritable,
                                ["run", "two.onnx", "--input", "x.npy", "--output", "out/y.npy"],
                                2, r"out/y_1\.npy: .*"),
    "run_output_is_input": case(base, ["run", "model.onnx", "--input", "data.csv", "--output",
                                       "model.onnx"], 2,
                                r"model\.onnx: would overwrite the input model\.onnx"),
    "train_output_is_input": case(base, ["train", "model.onnx", "-o", "model.onnx"] + CSV_DATA
                                  + QUICK, 2, r"model\.onnx: .*"),
    "report_json_invalid": case(with_report('{"schema": "lpsparsify.report/1", "layers": ['),
                                ["report", "r.json"] + HTML_OUT, 2,
                                r"r\.json: not valid JSON \(at byte \d+\)"),
    "report_wrong_schema": case(with_report('{"schema": "other/2", "layers": []}'),
                                ["report", "r.json"] + HTML_OUT, 2, r"r\.json: schema: .*"),
    "report_field_type": case(with_report('{"schema": "lpsparsify.report/1", "layers": '
                                          '[{"name": "w1", "sparsity": "90%"}]}'),
                              ["report", "r.json"] + HTML_OUT, 2,
                              r"r\.json: layers\[0\]\.sparsity: expected a number or null"),
    "report_output_is_input": case(with_report(GOOD_REPORT), ["report", "r.json", "-o", "r.json"],
                                   2, r"r\.json: would overwrite the input r\.json"),
    "report_no_output": case(with_report(GOOD_REPORT), ["report", "r.json"], 2,
                             r"report: no -o OUT\.html given.*"),
    "report_missing_file": case(base, ["report", "nope.json"] + HTML_OUT, 2, r"nope\.json: .*"),
    "sparsify_html_is_input": case(base, sparsify("--html", "model.onnx"), 2,
                                   r"model\.onnx: would overwrite the input model\.onnx"),
    "inspect_html_is_model": case(base, ["inspect", "model.onnx", "--html", "model.onnx"], 2,
                                  r"model\.onnx: --html would overwrite the model"),
    "image_truncated": case(image_folder({"train/a/9.png": png_bytes()[:30]}),
                            sparsify(data=IMAGES), 2,
                            r"imgs/train/a/9\.png: (corrupt|not a readable) PNG: .*"),
    "image_zero_bytes": case(image_folder({"train/b/empty.jpg": b""}), sparsify(data=IMAGES), 2,
                             r"imgs/train/b/empty\.jpg: not an image \(empty file\)"),
    "image_not_an_image": case(image_folder({"train/a/x.png": b"GIF89a....."}),
                               sparsify(data=IMAGES), 2,
                               r"imgs/train/a/x\.png: not an image \(neither PNG nor JPEG\)"),
    "image_non_image_file": case(image_folder({"train/a/readme.txt": b"hello"}),
                                 sparsify(data=IMAGES), 2,
                                 r"imgs/train/a/readme\.txt: not an image file .*--skip-bad.*"),
    "image_empty_class": case(image_folder({"train/c": None}), sparsify(data=IMAGES), 2,
                              r"imgs/train/c: empty class folder"),
    "image_classes_differ": case(image_folder(test_classes=("a", "z")), sparsify(data=IMAGES), 2,
                                 r"imgs/train and imgs/val have different classes: class 1 is "
                                 r"'b' in one and 'z' in the other"),
    "image_symlink_loop": case(image_folder(make_link=("train/a/loop", "..")),
                               sparsify(data=IMAGES), 2,
                               r"imgs/train/a/loop(/a)?: symlink loop .*"),
    "image_dangling_link": case(image_folder(make_link=("train/a/gone.png", "nowhere.png")),
                                sparsify(data=IMAGES), 2, r"imgs/train/a/gone\.png: .*"),
    "image_no_eval_split": case(lambda folder: (base(folder), write(folder, "imgs/train/a/0.png",
                                                                     png_bytes())),
                                sparsify(data=IMAGES), 2,
                                r"imgs: image folder without an evaluation split .*"),
    "image_model_not_image": case(image_folder(), sparsify(data=IMAGES), 2,
                                  r"imgs/train: images need a model input of shape .*"),
    "augment_unknown": case(base, sparsify("--augment", "heavy"), 2,
                            r"--augment: 'heavy' is not none, light or standard"),
    "val_split_one": case(base, sparsify("--val-split", "1"), 2, r"--val-split: .*"),
    # Every keyword option names its keywords the same way (lps_cli_parse_choice).
    "method_unknown": case(base, sparsify("--method", "prune"), 2,
                           r"--method: 'prune' is not lpss, gmp, magnitude, wanda or sparsegpt"),
    "storage_unknown": case(base, sparsify("--storage", "csr"), 2,
                            r"--storage: 'csr' is not auto, dense or sparse"),
    "allocation_unknown": case(base, sparsify("--allocation", "local"), 2,
                               r"--allocation: 'local' is not global or per-layer"),
    "finetune_unknown": case(base, sparsify("--finetune", "all"), 2,
                             r"--finetune: 'all' is not frozen or lpss"),
    "train_bn_unknown": case(base, sparsify("--train-bn", "yes"), 2,
                             r"--train-bn: 'yes' is not on or off"),
    "normalize_unknown": case(base, sparsify("--normalize", "cifar"), 2,
                              r"--normalize: 'cifar' is not imagenet or none"),
    "csv_header_unknown": case(base, sparsify("--csv-header", "maybe"), 2,
                               r"--csv-header: 'maybe' is not auto, yes or no"),
    "read_only_model_output_is_input": case(readonly_model, sparsify("-o", "model.onnx"), 2,
                                            r"model\.onnx: .*"),
}
