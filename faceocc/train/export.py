"""Export a trained checkpoint to ONNX (fp32, int8) and to the drop-in ``binary224`` classifier.

- ``faceocc``: the full multi-task model (input ``image`` N x 3 x 112 x 112 RGB 0-255),
  with metadata (labels, input size, normalisation, version), checked against PyTorch.
- ``int8``: static, per-channel QDQ quantization with calibration crops (dynamic
  int8 wrecks depthwise convolutions), followed by an agreement check with fp32.
- ``binary224``: input N x 3 x 224 x 224 float RGB normalised with ImageNet
  mean/std, output N x 2 logits ``[clean, occluded]``; the graph un-normalises
  and resizes to the model's own input size itself.

Needs torch (``pip install faceocc[train]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..alignment import CROP_SIZE
from ..model import FORMAT, REQUIRED_OUTPUTS, resize_crops
from ..schema import OCCLUDER_TYPES, PART_NAMES

BINARY_FORMAT = "faceocc-binary224-v1"


def load_checkpoint(path: str | Path, calibration: np.ndarray | None = None):
    """A checkpoint written by ``faceocc train`` -> (network in eval mode, checkpoint dict).

    A faceocc ONNX model (``.onnx``, fp32 or int8) works too: its network is recovered with
    :func:`faceocc.train.from_onnx.checkpoint_from_onnx` (``calibration`` crops re-estimate its BatchNorm statistics).
    """
    import torch

    from .network import OcclusionNet

    if Path(path).suffix.lower() == ".onnx":
        from .from_onnx import checkpoint_from_onnx

        ckpt = checkpoint_from_onnx(path, calibration)
    else:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    arch = ckpt.get("arch") or {"input_size": ckpt.get("input_size", CROP_SIZE)}
    net = OcclusionNet(
        input_size=arch["input_size"],
        pretrained=False,
        drop_blocks=tuple(arch.get("drop_blocks", ())),
        head_conv=arch.get("head_conv", True),
    )
    net.load_state_dict(ckpt["model"])
    net.eval()
    return net, ckpt


#: the training-config keys that name the files a model was made from
PROVENANCE_KEYS = ("data", "audit", "occluders", "init", "teacher", "transplant_model")


def file_digest(path: str | Path) -> str | None:
    """sha256 of a file (the first 16 hex digits), or None when it is not a file here."""
    import hashlib

    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def provenance(config: dict) -> dict:
    """What a model was made from: each file named in its training config with its digest (a folder: its name
    only; the wild train audit and the label audit are files, so their exact version is pinned)."""
    out = {}
    for key in PROVENANCE_KEYS:
        value = config.get(key)
        if value and value != "default":
            out[key] = {"path": str(value), "sha256": file_digest(value)}
    return out


def model_metadata(ckpt: dict, extra: dict | None = None) -> dict[str, str]:
    meta = {
        "faceocc_format": FORMAT,
        "faceocc_version": __version__,
        "input_size": str(ckpt.get("input_size", CROP_SIZE)),
        "architecture": json.dumps(ckpt.get("arch", {})),
        "input": "image: N x 3 x S x S float32 RGB 0-255, aligned with faceocc.alignment "
        "(normalisation inside the graph)",
        "occluders": json.dumps(list(OCCLUDER_TYPES)),
        "parts": json.dumps(list(PART_NAMES)),
        "threshold": str(ckpt.get("threshold", 0.5)),
        "metrics": json.dumps(ckpt.get("metrics", {})),
        "config": json.dumps(ckpt.get("config", {})),
        "provenance": json.dumps(ckpt.get("provenance") or provenance(ckpt.get("config", {}))),
    }
    meta.update(extra or {})
    return meta


def _set_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.save(model, str(path))


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    sample: np.ndarray | None = None,
    opset: int = 17,
    threshold: float | None = None,
) -> dict:
    """Checkpoint -> fp32 ONNX; returns {'max_abs_diff': ...} measured on ``sample`` crops (N x S x S x 3 uint8).

    ``threshold`` (default: the checkpoint's, else 0.5) is stored in the metadata as the model's operating point.
    """
    import torch

    from ..runtime import create_session

    net, ckpt = load_checkpoint(checkpoint)
    if threshold is not None:
        ckpt["threshold"] = float(threshold)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = net.input_size

    class Exportable(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, image):
            o = self.inner(image)
            return tuple(o[name] for name in REQUIRED_OUTPUTS)

    dummy = torch.rand(2, 3, size, size) * 255
    torch.onnx.export(
        Exportable(net).eval(),
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=list(REQUIRED_OUTPUTS),
        dynamic_axes={"image": {0: "N"}, **{n: {0: "N"} for n in REQUIRED_OUTPUTS}},
        opset_version=opset,
        dynamo=False,
    )
    _set_metadata(out, model_metadata(ckpt))
    if sample is None:
        sample = (np.random.default_rng(0).random((8, size, size, 3)) * 255).astype(np.uint8)
    if sample.shape[1] != size:  # canonical 112 px crops for a smaller network
        sample = resize_crops(sample, size)
    x = sample.astype(np.float32).transpose(0, 3, 1, 2)
    with torch.no_grad():
        ref = net(torch.from_numpy(x))
    got = create_session(out).run(list(REQUIRED_OUTPUTS), {"image": x})
    diff = max(float(np.abs(ref[n].numpy() - g).max()) for n, g in zip(REQUIRED_OUTPUTS, got))
    return {"path": str(out), "max_abs_diff": diff, "bytes": out.stat().st_size}


def quantize_int8(fp32_path: str | Path, out: str | Path, calibration: np.ndarray) -> dict:
    """Static per-channel QDQ int8 quantization with calibration crops, then an agreement check."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, out = Path(fp32_path), Path(out)
    prepped = out.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32_path), str(prepped), skip_symbolic_shape=True)
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(fp32_path)).metadata_props}
    size = int(meta.get("input_size", CROP_SIZE))
    if calibration.shape[1] != size:
        calibration = resize_crops(calibration, size)
    batches = [calibration[i : i + 16].astype(np.float32).transpose(0, 3, 1, 2) for i in range(0, len(calibration), 16)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            b = next(self.it, None)
            return None if b is None else {"image": np.ascontiguousarray(b)}

    # Every op is quantized (Conv, Add, Resize, ...): fewer quantize/dequantize hops is what makes int8 faster on CPUs
    # without VNNI; the first two blocks (_float_stem), the final measuring MatMul and the classifier's head
    # (_float_head) stay float.
    quantize_static(
        str(prepped),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=_float_stem(_onnx_nodes(prepped)) + _float_head(_onnx_nodes(prepped)),
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    prepped.unlink(missing_ok=True)
    meta["quantization"] = "static per-channel QDQ int8"
    _set_metadata(out, meta)
    return {"path": str(out), "bytes": out.stat().st_size, **compare_models(fp32_path, out, calibration)}


#: the backbone's first blocks (the stem convolution and the first inverted residual), kept float by int8 export
FLOAT_STEM = ("/inner/backbone/features.0/", "/inner/backbone/features.1/")


def _float_stem(nodes) -> list[str]:
    """The nodes of the backbone's first two blocks. Quantized, their rounding is carried through every later layer:
    for v0.9.0's weights int8 moved scores by up to 0.13 on 256 calibration crops (the bundled masked astronaut's
    mask score 0.66 -> 0.51, so it read as "other"); with these two blocks in float, 0.04 (0.65), for a few hundred
    bytes and no measurable time."""
    return [n.name for n in nodes if n.name.startswith(FLOAT_STEM)]


def _float_head(nodes) -> list[str]:
    """The nodes int8 quantization leaves in float: the measuring MatMul/Einsum, and the classifier's last Gemm with
    every node after it (sigmoid, gathers, slices). Quantized, the head rounds the logits to steps of about 0.06 and the
    probabilities to 1/255, so hundreds of faces tie on a few score levels around the operating threshold; in float it
    costs a few hundred multiply-adds."""
    gemms = [n for n in nodes if n.op_type == "Gemm"]
    head: set[str] = set(gemms[-1].output) if gemms else set()
    excluded = {gemms[-1].name} if gemms else set()
    for n in nodes:  # graph order is topological
        if head & set(n.input):
            excluded.add(n.name)
            head |= set(n.output)
    return [n.name for n in nodes if n.op_type in ("Einsum", "MatMul") or n.name in excluded]


def _onnx_nodes(path: Path):
    import onnx

    return list(onnx.load(str(path)).graph.node)


def compare_models(a: str | Path, b: str | Path, crops: np.ndarray) -> dict:
    """Agreement of two faceocc models on crops: verdict agreement (each at its own operating threshold) and max/mean
    score differences."""
    from ..model import OcclusionModel

    ma, mb = OcclusionModel(a, threads=1), OcclusionModel(b, threads=1)
    pa, pb = ma.predict(crops), mb.predict(crops)
    return {
        "verdict_agreement": float(np.mean((pa.occluded >= ma.threshold) == (pb.occluded >= mb.threshold))),
        "occluded_max_abs_diff": float(np.abs(pa.occluded - pb.occluded).max()),
        "occluded_mean_abs_diff": float(np.abs(pa.occluded - pb.occluded).mean()),
        "coverage_mean_abs_diff": float(np.abs(pa.coverage - pb.coverage).mean()),
    }


def export_binary224(checkpoint: str | Path, out: str | Path, opset: int = 17, threshold: float | None = None) -> dict:
    """The drop-in classifier: N x 3 x 224 x 224 ImageNet-normalised RGB -> N x 2 logits [clean, occluded].

    The clean logit is the constant ``logit(T)``, T the model's operating threshold, so that ``argmax`` (or
    ``softmax(...)[:, 1] >= 0.5``) is faceocc's verdict at T, the way a drop-in classifier is used;
    ``softmax(...)[:, 1] = sigmoid(z - logit(T))`` with ``z`` the occluded logit (the full model's score at T = 0.5).
    The metadata keeps T as ``score_threshold`` and 0.5 as ``threshold``."""
    import math

    import torch
    import torch.nn.functional as F

    from .network import IMAGENET_MEAN, IMAGENET_STD

    net, ckpt = load_checkpoint(checkpoint)
    if threshold is not None:
        ckpt["threshold"] = float(threshold)
    size = net.input_size
    operating = float(ckpt.get("threshold", 0.5))
    if not 0.0 < operating < 1.0:
        raise ValueError(f"{checkpoint}: threshold {operating} is not strictly between 0 and 1")
    clean_logit = math.log(operating / (1.0 - operating))

    class Binary224(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

        def forward(self, x):
            rgb = (x * self.std + self.mean) * 255.0
            rgb = F.avg_pool2d(rgb, 2)  # 224 -> 112, the canonical crop (the same as bilinear at exactly half size)
            if size != 112:  # a smaller network: as OcclusionModel.predict does it (close to area interpolation)
                rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
            logits, _ = self.inner.forward_logits(rgb)
            occ = logits[:, :1]
            # softmax([c, z]) == [1 - sigmoid(z - c), sigmoid(z - c)]: argmax is z >= c = logit(T)
            return torch.cat([torch.full_like(occ, clean_logit), occ], dim=1)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.randn(2, 3, 224, 224)
    torch.onnx.export(
        Binary224(net).eval(),
        (dummy,),
        str(out),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=opset,
        dynamo=False,
    )
    meta = model_metadata(
        ckpt,
        {
            "faceocc_format": BINARY_FORMAT,
            "input": "input: N x 3 x 224 x 224 float32 RGB, (x/255 - ImageNet mean) / ImageNet std",
            "output": "logits: N x 2 [clean, occluded]; argmax (softmax(logits)[:, 1] >= 0.5) is the "
            f"verdict at the model's operating threshold {operating:g} (score_threshold)",
            "threshold": "0.5",
            "score_threshold": f"{operating:g}",
        },
    )
    _set_metadata(out, meta)
    return {"path": str(out), "bytes": out.stat().st_size}


def crops_to_imagenet224(crops: np.ndarray) -> np.ndarray:
    """Aligned uint8 crops -> the binary224 model's input (N x 3 x 224 x 224, ImageNet normalised)."""
    import cv2

    from .network import IMAGENET_MEAN, IMAGENET_STD

    big = (
        np.stack([cv2.resize(c, (224, 224), interpolation=cv2.INTER_LINEAR) for c in crops]).astype(np.float32) / 255.0
    )
    normalised = (big - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))
