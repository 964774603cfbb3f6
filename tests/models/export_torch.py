#!/usr/bin/python3
"""Writes the real-exporter fixtures of tests/models/torch/ (test-time tool only).

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 tests/models/export_torch.py [--out DIR] [--only NAME,...]

For every model of MODELS (a small-width instance of each torchvision 0.14
classification family, plus RNN, Transformer and Embedding classifiers) it
writes, under DIR/NAME/:

  opOPSET_eval.onnx   torch.onnx.export in eval mode (BatchNorm folded,
                      constant folding on), OPSET in 11, 13, 17
  opOPSET_train.onnx  training mode (TrainingMode.TRAINING, BatchNorm kept,
                      do_constant_folding=False so parameter names survive)
  input.npy           one fixed batch (float32, or int64 token ids)
  labels.npy          its int64 labels
  output.npy          PyTorch's logits on that batch (eval mode)
  grads.npz           autograd's gradient of the mean cross-entropy of
                      output.npy against labels.npy, one array per parameter,
                      keyed by the parameter's name (= the ONNX initializer
                      name of the training-mode exports, which keep every name;
                      eval-mode exports keep some, and store some Linear
                      weights transposed under a new name). Computed in eval
                      mode: BatchNorm on running statistics (what `train
                      --bn-frozen` does), dropout off.

All exports share the batch axis as the dynamic dim 'batch'. Dropout
probabilities and stochastic depth are 0, so a training-mode export is
deterministic (onnxruntime and lpsparsify both honour Dropout's
training_mode input). Every model is seeded by its name.

DIR/manifest.json lists the fixtures; DIR/SCRIPT_SHA256 is the hash of this
file, checked by the ctest models_torch_fresh: change the script, rerun it,
commit the result. CI never runs this script.
"""
import argparse
import copy
import hashlib
import json
import os
import sys
import warnings
import zlib

import numpy as np
import onnx
from onnx import numpy_helper
import torch
from torch import nn
import torch.nn.functional as F
import torchvision
from torchvision.models import (convnext, densenet, efficientnet, inception, mnasnet, mobilenetv2,
                                mobilenetv3, regnet, resnet, shufflenetv2, squeezenet, swin_transformer,
                                vgg as tv_vgg, vision_transformer)
# torchvision.models.alexnet / .googlenet are shadowed by the builder functions of that name
from torchvision.models.alexnet import AlexNet
from torchvision.models import googlenet as _googlenet_fn  # noqa: F401 (imports the module)
googlenet = sys.modules["torchvision.models.googlenet"]

HERE = os.path.dirname(os.path.abspath(__file__))
OPSETS = (11, 13, 17)
MODES = ("eval", "train")
CLASSES = 10
BATCH = 4


# --- model builders: each returns (module, example input) ---------------------------------------

def image(batch, size, channels=3):
    return torch.randn(batch, channels, size, size)


def small_resnet(block, widths, layers, groups=1, width_per_group=64):
    """torchvision's ResNet with stage widths `widths` instead of 64..512 (its __init__
    hard-codes them); the blocks, stem and head are torchvision's own."""
    m = resnet.ResNet.__new__(resnet.ResNet)
    nn.Module.__init__(m)
    m._norm_layer = nn.BatchNorm2d
    m.inplanes, m.dilation, m.groups, m.base_width = widths[0], 1, groups, width_per_group
    m.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(widths[0])
    m.relu = nn.ReLU(inplace=True)
    m.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    m.layer1 = m._make_layer(block, widths[0], layers[0])
    m.layer2 = m._make_layer(block, widths[1], layers[1], stride=2)
    m.layer3 = m._make_layer(block, widths[2], layers[2], stride=2)
    m.layer4 = m._make_layer(block, widths[3], layers[3], stride=2)
    m.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    m.fc = nn.Linear(widths[3] * block.expansion, CLASSES)
    return m


def build_resnet():
    return small_resnet(resnet.BasicBlock, (8, 8, 16, 16), (2, 1, 1, 1)), image(BATCH, 32)


def build_resnext():
    # ResNeXt: grouped 3x3 convolutions (4 groups)
    return small_resnet(resnet.Bottleneck, (8, 8, 16, 16), (1, 1, 1, 1), groups=4,
                        width_per_group=16), image(BATCH, 32)


def build_wide_resnet():
    # Wide ResNet: bottleneck width twice the default (width_per_group 128)
    return small_resnet(resnet.Bottleneck, (4, 4, 8, 8), (1, 1, 1, 1),
                        width_per_group=128), image(BATCH, 32)


def build_vgg():
    m = tv_vgg.VGG.__new__(tv_vgg.VGG)
    nn.Module.__init__(m)
    m.features = tv_vgg.make_layers([8, "M", 8, 8, "M"], batch_norm=False)
    m.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    m.classifier = nn.Sequential(nn.Linear(8 * 7 * 7, 16), nn.ReLU(True), nn.Dropout(p=0.0),
                                 nn.Linear(16, 16), nn.ReLU(True), nn.Dropout(p=0.0),
                                 nn.Linear(16, CLASSES))
    return m, image(BATCH, 28)


def build_vgg_bn():
    m, x = build_vgg()
    m.features = tv_vgg.make_layers([8, "M", 8, "M"], batch_norm=True)
    return m, x


def build_alexnet():
    # AlexNet's layer pattern (11x11/4 stem, overlapping 3x3/2 max pools) at small widths
    m = AlexNet.__new__(AlexNet)
    nn.Module.__init__(m)
    m.features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(8, 16, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2))
    m.avgpool = nn.AdaptiveAvgPool2d((2, 2))
    m.classifier = nn.Sequential(nn.Dropout(p=0.0), nn.Linear(16 * 2 * 2, 32), nn.ReLU(inplace=True),
                                 nn.Dropout(p=0.0), nn.Linear(32, 32), nn.ReLU(inplace=True),
                                 nn.Linear(32, CLASSES))
    return m, image(2, 95)


def build_squeezenet():
    m = squeezenet.SqueezeNet(version="1_1", num_classes=CLASSES, dropout=0.0)
    m.features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        squeezenet.Fire(8, 4, 4, 4), squeezenet.Fire(8, 4, 4, 4),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        squeezenet.Fire(8, 4, 8, 8))
    m.classifier[1] = nn.Conv2d(16, CLASSES, kernel_size=1)
    return m, image(BATCH, 32)


def build_densenet():
    return densenet.DenseNet(growth_rate=4, block_config=(2, 2, 2), num_init_features=8, bn_size=2,
                             num_classes=CLASSES), image(BATCH, 32)


def scaled(divisor):
    """Channel map for GoogLeNet / Inception v3, whose widths are hard-coded: every width
    divided by `divisor` (RGB kept). Their concatenations stay consistent because every
    concatenated width divides exactly."""
    return lambda c: c if c == 3 else max(1, c // divisor)


def build_googlenet():
    s = scaled(16)

    def conv(cin, cout, **kw):
        return googlenet.BasicConv2d(s(cin), s(cout), **kw)

    def block(*channels, **kw):
        return googlenet.Inception(*[s(c) for c in channels], conv_block=googlenet.BasicConv2d)

    m = googlenet.GoogLeNet(num_classes=CLASSES, aux_logits=False, transform_input=True,
                            init_weights=False, blocks=[conv, block, googlenet.InceptionAux],
                            dropout=0.0)
    m.fc = nn.Linear(s(1024), CLASSES)
    return m, image(BATCH, 32)


def build_inception_v3():
    s = scaled(32)

    def conv(cin, cout, **kw):
        return inception.BasicConv2d(s(cin), s(cout), **kw)

    def wrap(cls):
        return lambda *a, **kw: cls(*a, conv_block=conv, **kw)

    blocks = [conv] + [wrap(c) for c in (inception.InceptionA, inception.InceptionB,
                                        inception.InceptionC, inception.InceptionD,
                                        inception.InceptionE, inception.InceptionAux)]
    m = inception.Inception3(num_classes=CLASSES, aux_logits=False, transform_input=False,
                             inception_blocks=blocks, init_weights=False, dropout=0.0)
    m.fc = nn.Linear(s(2048), CLASSES)
    return m, image(2, 75)


def build_shufflenet_v2():
    return shufflenetv2.ShuffleNetV2([2, 1, 1], [8, 16, 32, 32, 32], num_classes=CLASSES), image(BATCH, 32)


def build_mobilenet_v2():
    setting = [[1, 8, 1, 1], [6, 8, 2, 2], [6, 16, 1, 2]]
    m = mobilenetv2.MobileNetV2(num_classes=CLASSES, width_mult=1.0, inverted_residual_setting=setting,
                                dropout=0.0)
    # the 1280-wide head is hard-coded; a 32-wide one of the same kind (1x1 conv, BN, ReLU6)
    m.features[-1] = mobilenetv2.Conv2dNormActivation(16, 32, kernel_size=1, activation_layer=nn.ReLU6)
    m.classifier = nn.Sequential(nn.Dropout(p=0.0), nn.Linear(32, CLASSES))
    return m, image(BATCH, 32)


def build_mobilenet_v3():
    cfg = mobilenetv3.InvertedResidualConfig
    setting = [cfg(8, 3, 8, 8, True, "RE", 2, 1, 1.0),
               cfg(8, 3, 24, 8, False, "RE", 1, 1, 1.0),
               cfg(8, 5, 24, 16, True, "HS", 2, 1, 1.0),
               cfg(16, 3, 32, 16, True, "HS", 1, 1, 1.0)]
    return mobilenetv3.MobileNetV3(setting, last_channel=32, num_classes=CLASSES, dropout=0.0), image(BATCH, 32)


def build_mnasnet():
    m = mnasnet.MNASNet(alpha=0.1, num_classes=CLASSES, dropout=0.0)
    # the stem and the first three stacks (kernels 3 and 5, expansions 3 and 6), then the
    # hard-coded 1280-wide final mapping at 16
    stacks = list(m.layers[:11])
    width = stacks[-1][-1].layers[-1].num_features
    m.layers = nn.Sequential(*stacks, nn.Conv2d(width, 16, 1, bias=False), nn.BatchNorm2d(16),
                             nn.ReLU(inplace=True))
    m.classifier = nn.Sequential(nn.Dropout(p=0.0), nn.Linear(16, CLASSES))
    return m, image(BATCH, 32)


def build_efficientnet():
    cfg = efficientnet.MBConvConfig
    setting = [cfg(1, 3, 1, 8, 8, 1), cfg(4, 3, 2, 8, 16, 2), cfg(4, 5, 2, 16, 16, 1)]
    return efficientnet.EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.0, num_classes=CLASSES,
                                     last_channel=32), image(BATCH, 32)


def build_efficientnet_v2():
    fused, cfg = efficientnet.FusedMBConvConfig, efficientnet.MBConvConfig
    setting = [fused(1, 3, 1, 8, 8, 1), fused(4, 3, 2, 8, 16, 1), cfg(4, 3, 2, 16, 16, 2)]
    return efficientnet.EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.0, num_classes=CLASSES,
                                     norm_layer=None, last_channel=32), image(BATCH, 32)


def build_regnet():
    params = regnet.BlockParams(depths=[1, 2], widths=[8, 16], group_widths=[4, 8],
                                bottleneck_multipliers=[1.0, 1.0], strides=[2, 2], se_ratio=0.25)
    return regnet.RegNet(params, num_classes=CLASSES, stem_width=8), image(BATCH, 32)


def build_convnext():
    cfg = convnext.CNBlockConfig
    setting = [cfg(8, 16, 1), cfg(16, 16, 1), cfg(16, None, 1)]
    return convnext.ConvNeXt(setting, stochastic_depth_prob=0.0, layer_scale=0.5,
                             num_classes=CLASSES), image(BATCH, 32)


def build_vit():
    return vision_transformer.VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=2,
                                                hidden_dim=16, mlp_dim=32, num_classes=CLASSES), image(BATCH, 16)


def build_swin():
    return swin_transformer.SwinTransformer(patch_size=[2, 2], embed_dim=8, depths=[2, 1], num_heads=[2, 2],
                                            window_size=[2, 2], mlp_ratio=2.0, stochastic_depth_prob=0.0,
                                            num_classes=CLASSES), image(BATCH, 16)


def build_swin_v2():
    m, x = swin_v2()
    # torch.onnx 1.13 cannot export the in-place zero_() that V2 applies to the key bias;
    # without a qkv bias that branch is skipped (the rest of V2 is unchanged)
    for mod in m.modules():
        if isinstance(mod, swin_transformer.ShiftedWindowAttentionV2):
            mod.qkv.register_parameter("bias", None)
    return m, x


def swin_v2():
    return swin_transformer.SwinTransformer(patch_size=[2, 2], embed_dim=8, depths=[2, 1], num_heads=[2, 2],
                                            window_size=[2, 2], mlp_ratio=2.0, stochastic_depth_prob=0.0,
                                            num_classes=CLASSES,
                                            block=swin_transformer.SwinTransformerBlockV2,
                                            downsample_layer=swin_transformer.PatchMergingV2), image(BATCH, 16)


SEQ_LEN, FEATURES, HIDDEN = 6, 8, 12


class RecurrentClassifier(nn.Module):
    """[batch, time, features] -> logits of the last step (or, bidirectional, both ends)."""

    def __init__(self, cell, batch_first, **kw):
        super().__init__()
        self.batch_first = batch_first
        self.rnn = cell(FEATURES, HIDDEN, batch_first=batch_first, **kw)
        directions = 2 if kw.get("bidirectional") else 1
        self.fc = nn.Linear(HIDDEN * directions, CLASSES)

    def forward(self, x):
        if not self.batch_first:
            x = x.transpose(0, 1)
        y, _ = self.rnn(x)
        last = y[:, -1] if self.batch_first else y[-1]
        return self.fc(last)


def build_lstm():
    return RecurrentClassifier(nn.LSTM, True, num_layers=2, bidirectional=True), torch.randn(BATCH, SEQ_LEN, FEATURES)


def build_gru():
    return RecurrentClassifier(nn.GRU, False, num_layers=2), torch.randn(BATCH, SEQ_LEN, FEATURES)


def build_rnn():
    return RecurrentClassifier(nn.RNN, True, num_layers=1, bidirectional=True,
                               nonlinearity="tanh"), torch.randn(BATCH, SEQ_LEN, FEATURES)


class EncoderClassifier(nn.Module):
    """nn.TransformerEncoder over [batch, time, features], mean-pooled, then a Linear."""

    def __init__(self, norm_first):
        super().__init__()
        d = 16
        self.proj = nn.Linear(FEATURES, d)
        layer = nn.TransformerEncoderLayer(d, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(d) if norm_first else None,
                                             enable_nested_tensor=False)
        self.fc = nn.Linear(d, CLASSES)

    def forward(self, x):
        return self.fc(self.encoder(self.proj(x)).mean(dim=1))


def distinct_layers(model):
    """nn.TransformerEncoder deep-copies its layer, so every layer starts with the same
    weights; eval-mode export then stores one copy for all layers, and no gradient is a
    single parameter's. Trained models have distinct layers: re-initialise each."""
    for layer in model.encoder.layers:
        for mod in layer.modules():
            if mod is not layer and hasattr(mod, "reset_parameters"):
                mod.reset_parameters()
            elif isinstance(mod, nn.MultiheadAttention):
                mod._reset_parameters()
    return model


def build_transformer_prenorm():
    return distinct_layers(EncoderClassifier(True)), torch.randn(BATCH, SEQ_LEN, FEATURES)


def build_transformer_postnorm():
    return distinct_layers(EncoderClassifier(False)), torch.randn(BATCH, SEQ_LEN, FEATURES)


VOCAB = 40


class TokenClassifier(nn.Module):
    """int64 token ids [batch, time] -> nn.Embedding -> mean over time -> Linear."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, tokens):
        return self.fc(torch.relu(self.embed(tokens)).mean(dim=1))


def build_embedding():
    return TokenClassifier(), torch.randint(0, VOCAB, (BATCH, SEQ_LEN), dtype=torch.int64)


MODELS = {
    "resnet": build_resnet, "resnext": build_resnext, "wide_resnet": build_wide_resnet,
    "vgg": build_vgg, "vgg_bn": build_vgg_bn, "alexnet": build_alexnet, "squeezenet": build_squeezenet,
    "densenet": build_densenet, "googlenet": build_googlenet, "inception_v3": build_inception_v3,
    "shufflenet_v2": build_shufflenet_v2, "mobilenet_v2": build_mobilenet_v2,
    "mobilenet_v3": build_mobilenet_v3, "mnasnet": build_mnasnet, "efficientnet": build_efficientnet,
    "efficientnet_v2": build_efficientnet_v2, "regnet": build_regnet, "convnext": build_convnext,
    "vit": build_vit, "swin": build_swin, "swin_v2": build_swin_v2,
    "lstm": build_lstm, "gru": build_gru, "rnn": build_rnn,
    "transformer_prenorm": build_transformer_prenorm, "transformer_postnorm": build_transformer_postnorm,
    "embedding": build_embedding,
}


# --- export and references -----------------------------------------------------------------------

def randomize_norms(model, gen):
    """Non-trivial norm parameters and running statistics (torchvision initialises gains to 1
    or 0 and statistics to 0/1, which would hide a wrong scale/shift in the comparison), and
    He-initialised convolutions: the default init shrinks the signal layer by layer, and in
    a deep narrow net the first layers' gradients would fall below float32 resolution of the
    one-step weight difference the train check reads."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            with torch.no_grad():
                std = (2.0 / (mod.weight[0].numel())) ** 0.5
                mod.weight.normal_(0.0, std, generator=gen)
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)) and mod.weight is not None:
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.normal_(0.0, 0.1, generator=gen)
                if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                    mod.running_mean.normal_(0.0, 0.1, generator=gen)
                    mod.running_var.uniform_(0.5, 1.5, generator=gen)
        if isinstance(mod, convnext.CNBlock):
            # distinct layer scales: equal ones are merged into one initializer by the
            # eval-mode export (its gradient is then no single parameter's)
            with torch.no_grad():
                mod.layer_scale.uniform_(0.3, 0.7, generator=gen)
        if isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.bias is not None:
            with torch.no_grad():
                mod.bias.normal_(0.0, 0.05, generator=gen)


def export(model, x, path, opset, mode):
    """Writes one export and returns it, checked by onnx.checker; None (and a note in
    EXPORT_ERRORS) when torch.onnx cannot export the model at this opset."""
    training = mode == "train"
    try:
        export_call(model, x, path, opset, training)
    except torch.onnx.errors.OnnxExporterError as e:
        EXPORT_ERRORS[path] = str(e).splitlines()[0]
        if os.path.exists(path):
            os.remove(path)
        return None
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    return proto


EXPORT_ERRORS = {}


def export_call(model, x, path, opset, training):
    torch.onnx.export(
        model, (x,), path, opset_version=opset,
        training=torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL,
        do_constant_folding=not training, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def check_initializers(proto, state, path):
    """The exported initializers that keep a parameter or buffer name hold its value."""
    for init in proto.graph.initializer:
        if init.name in state:
            want = state[init.name].detach().numpy()
            got = numpy_helper.to_array(init)
            if got.shape != want.shape or not np.array_equal(got, want):
                sys.exit(f"{path}: initializer {init.name} differs from the model's state")


def references(model, x, labels):
    model.eval()
    model.zero_grad()
    out = model(x)
    loss = F.cross_entropy(out, labels)
    loss.backward()
    grads = {n: p.grad.detach().numpy().astype(np.float32) for n, p in model.named_parameters()
             if p.grad is not None}
    return out.detach().numpy().astype(np.float32), grads


def write_model(name, out_dir):
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    model, x = MODELS[name]()
    randomize_norms(model, torch.Generator().manual_seed(seed))
    labels = torch.randint(0, CLASSES, (x.shape[0],), generator=torch.Generator().manual_seed(seed))
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    fixtures = []
    # A training-mode export traces the model in train mode, which moves BatchNorm's running
    # statistics once; every export starts from the same state so they all agree, and the
    # references use the state the training-mode exports hold.
    start = copy.deepcopy(model.state_dict())
    after = None
    for opset in OPSETS:
        model.load_state_dict(start)
        path = os.path.join(folder, f"op{opset}_train.onnx")
        proto = export(model, x, path, opset, "train")
        if proto is not None:
            state = copy.deepcopy(model.state_dict())
            check_initializers(proto, state, path)
            after = after or state
        fixtures.append((opset, "train", path, proto))
    model.load_state_dict(after or start)
    for opset in OPSETS:
        path = os.path.join(folder, f"op{opset}_eval.onnx")
        fixtures.append((opset, "eval", path, export(model, x, path, opset, "eval")))
    output, grads = references(model, x, labels)
    np.save(os.path.join(folder, "input.npy"), x.numpy())
    np.save(os.path.join(folder, "labels.npy"), labels.numpy().astype(np.int64))
    np.save(os.path.join(folder, "output.npy"), output)
    np.savez_compressed(os.path.join(folder, "grads.npz"), **grads)
    entries = []
    for opset, mode, path, proto in sorted(fixtures, key=lambda f: (f[0], f[1])):
        if proto is None:
            entries.append({"name": f"{name}_op{opset}_{mode}", "model": name, "opset": opset,
                            "mode": mode, "export_error": EXPORT_ERRORS[path]})
            continue
        entries.append({
            "name": f"{name}_op{opset}_{mode}", "model": name, "opset": opset, "mode": mode,
            "onnx": os.path.relpath(path, out_dir),
            "ops": sorted({n.op_type for n in proto.graph.node}),
            "bytes": os.path.getsize(path), "batch": int(x.shape[0]),
            "input_dtype": str(x.numpy().dtype)})
    return entries


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "torch"))
    ap.add_argument("--only", help="comma-separated model names (the manifest keeps the others)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"export_torch: unknown model(s) {', '.join(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    old = []
    if args.only and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = [e for e in json.load(f)["fixtures"] if e["model"] not in names]
    entries = old
    for name in names:
        print(f"export_torch: {name}", file=sys.stderr)
        entries += write_model(name, args.out)
    order = list(MODELS)
    entries.sort(key=lambda e: (order.index(e["model"]), e["opset"], e["mode"]))
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                "opsets": list(OPSETS), "fixtures": entries}
    with open(manifest_path, "w") as f:
        # one line per fixture: readable diffs when a fixture changes
        f.write(json.dumps({k: v for k, v in manifest.items() if k != "fixtures"})[:-1])
        f.write(', "fixtures": [\n')
        f.write(",\n".join(json.dumps(e) for e in entries))
        f.write("\n]}\n")
    with open(os.path.join(args.out, "SCRIPT_SHA256"), "w") as f:
        f.write(script_hash() + "\n")


if __name__ == "__main__":
    main()
