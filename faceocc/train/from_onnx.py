"""A trainable network recovered from a faceocc ONNX model (fp32 or int8), for fine-tuning a shipped model.

The exported graph has each BatchNorm folded into its convolution (weight ``W'``, bias ``b'``) and, in int8 files,
weights stored as int8 with per-channel scales. ``network_from_onnx`` dequantizes the weights, puts each folded
convolution back into the network's Conv + BatchNorm pair and re-calibrates the BatchNorm on real crops:
with ``z = W' x`` measured over the crops (mean ``m``, variance ``v``), the BatchNorm gets ``running_mean = m``,
``running_var = v``, ``weight = sqrt(v + eps)`` and ``bias = m + b'``. In eval mode that is exactly ``z + b'``
(the exported network); in train mode the batch statistics are close to ``m`` and ``v``, so fine-tuning starts
from the exported network's behaviour rather than from a re-normalised one.

Use it with ``faceocc train init=model.onnx`` (or ``teacher=model.onnx``): nothing else of the training recipe
changes. The weights carry int8 rounding when they come from an int8 file; fine-tuning smooths that out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..alignment import CROP_SIZE
from .network import OcclusionNet


def _initializers(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: np.array(numpy_helper.to_array(t)) for t in model.graph.initializer}  # writable copies


def _tensor_values(model) -> dict[str, np.ndarray]:
    """Every constant tensor of the graph by name: initializers, Constant nodes, and what Identity (shared weights)
    and DequantizeLinear make of them."""
    from onnx import numpy_helper

    values = _initializers(model)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = np.array(numpy_helper.to_array(node.attribute[0].t))
            continue
        if node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
            continue
        if node.op_type != "DequantizeLinear" or node.input[0] not in values:
            continue
        q = values[node.input[0]].astype(np.float32)
        scale = values[node.input[1]].astype(np.float32)
        zero = values[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] in values else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and q.ndim > 1:  # per-channel
            shape = [1] * q.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) == 1 else zero
        values[node.output[0]] = (q - zero) * scale
    return values


def _architecture(meta: dict, path: Path) -> dict:
    if meta.get("faceocc_format") is None:
        raise ValueError(f"{path}: not a faceocc model (no faceocc_format in its metadata)")
    arch = json.loads(meta.get("architecture") or "{}")
    arch.setdefault("input_size", int(meta.get("input_size", CROP_SIZE)))
    return arch


def _module_name(node_name: str) -> str:
    """The module path of an exported node: ``/inner/backbone/features.1/conv/conv.0/conv.0.0/Conv`` ->
    ``backbone.features.1.conv.0.0`` (each scope segment is named relative to the one before it)."""
    segments: list[str] = []
    for seg in node_name.strip("/").split("/")[1:-1]:  # drop the export wrapper ("inner") and the op name
        if segments and seg.startswith(segments[-1] + "."):
            segments[-1] = seg
        else:
            segments.append(seg)
    return ".".join(segments)


def _conv_and_bn(modules: dict[str, nn.Module], name: str) -> tuple[nn.Conv2d, nn.BatchNorm2d | None]:
    """The convolution called ``name`` (in the network's ``named_modules``) and the BatchNorm that export folded into
    it (the next layer), if any."""
    conv = modules.get(name)
    if not isinstance(conv, nn.Conv2d):
        raise KeyError(name)
    parent, _, index = name.rpartition(".")
    following = modules.get(f"{parent}.{int(index) + 1}") if index.isdigit() else None
    return conv, following if isinstance(following, nn.BatchNorm2d) and conv.bias is None else None


def network_from_onnx(path: str | Path, calibration: np.ndarray | None = None) -> tuple[OcclusionNet, dict]:
    """(OcclusionNet in eval mode, {'arch', 'threshold', 'metadata'}) recovered from a faceocc ONNX model.

    ``calibration``: aligned crops (N x 112 x 112 x 3 uint8, a few hundred real faces) for the BatchNorm statistics;
    without it the BatchNorms are the identity around the folded weights (exact in eval mode, but fine-tuning in
    train mode would then re-normalise every layer).
    """
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    arch = _architecture(meta, path)
    net = OcclusionNet(
        input_size=int(arch["input_size"]),
        pretrained=False,
        drop_blocks=tuple(arch.get("drop_blocks", ())),
        head_conv=arch.get("head_conv", True),
    )
    values = _tensor_values(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    modules = dict(net.named_modules())
    n_convs = sum(isinstance(m, nn.Conv2d) for m in modules.values())
    if len(convs) != n_convs:
        raise ValueError(f"{path}: {len(convs)} convolutions in the graph, the architecture {arch} has {n_convs}")
    folded_bias: list[tuple[nn.BatchNorm2d, torch.Tensor]] = []
    with torch.no_grad():
        for node in convs:
            try:
                conv, bn = _conv_and_bn(modules, _module_name(node.name))
            except KeyError:
                raise ValueError(
                    f"{path}: graph node {node.name} is no convolution of the architecture {arch}"
                ) from None
            w = values[node.input[1]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(
                    f"{path}: {node.name} has weights {w.shape}, the network expects {tuple(conv.weight.shape)}"
                )
            b = values[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0], np.float32)
            conv.weight.copy_(torch.from_numpy(w))
            if bn is None:
                assert conv.bias is not None  # a convolution without BatchNorm has a bias
                conv.bias.copy_(torch.from_numpy(b))
                continue
            assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
            folded_bias.append((bn, torch.from_numpy(b).float()))
        gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
        w = values[gemm.input[1]]
        trans_b = next((a.i for a in gemm.attribute if a.name == "transB"), 0)
        linear = net.classifier[-1]
        assert isinstance(linear, nn.Linear)
        linear.weight.copy_(torch.from_numpy(w if trans_b else w.T))
        linear.bias.copy_(torch.from_numpy(values[gemm.input[2]]))
    net.eval()
    if calibration is not None and len(calibration):
        _recalibrate(net, folded_bias, calibration)
    return net, {"arch": net.arch, "threshold": float(meta.get("threshold", 0.5)), "metadata": meta}


@torch.no_grad()
def _recalibrate(net: OcclusionNet, folded: list[tuple[nn.BatchNorm2d, torch.Tensor]], crops: np.ndarray) -> None:
    """Give each identity BatchNorm the statistics of its input over ``crops`` without changing eval outputs."""
    from ..model import resize_crops

    if crops.shape[1] != net.input_size:
        crops = resize_crops(crops, net.input_size)
    x = torch.from_numpy(np.ascontiguousarray(crops.astype(np.float32).transpose(0, 3, 1, 2)))
    sums: dict[nn.BatchNorm2d, list] = {bn: [0.0, 0.0, 0] for bn, _ in folded}

    def hook(module, inputs, _output):
        z = inputs[0].transpose(0, 1).flatten(1).double()
        s = sums[module]
        s[0] = s[0] + z.sum(1)
        s[1] = s[1] + (z * z).sum(1)
        s[2] += z.shape[1]

    handles = [bn.register_forward_hook(hook) for bn, _ in folded]
    try:
        for i in range(0, len(x), 64):
            net(x[i : i + 64])
    finally:
        for h in handles:
            h.remove()
    for bn, bias in folded:
        total, total_sq, n = sums[bn]
        mean = (total / n).float()
        var = (total_sq / n).float() - mean * mean
        var = var.clamp_min(1e-6)
        assert bn.running_mean is not None and bn.running_var is not None
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean + bias)


def checkpoint_from_onnx(path: str | Path, calibration: np.ndarray | None = None) -> dict:
    """A checkpoint dict (as ``faceocc train`` writes) holding the network recovered from an ONNX model."""
    net, info = network_from_onnx(path, calibration)
    return {
        "model": net.state_dict(),
        "arch": info["arch"],
        "input_size": info["arch"]["input_size"],
        "threshold": info["threshold"],
        "source": str(path),
    }
