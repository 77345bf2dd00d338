"""Training configuration: a dataclass, read from a JSON/TOML/YAML file plus ``key=value`` overrides.

Unknown keys are rejected (a typo must not silently train with the default).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class TrainConfig:
    # data
    data: str = ""  # manifest CSV or ImageFolder root
    cache: str = ""  # aligned-crop cache folder (made by `prepare` when missing); default <out>/cache
    occluders: str = ""  # occluder cut-outs folder (empty: procedural occluders only)
    audit: str = ""  # label audit CSV (path,label) correcting the dataset's labels
    fallback_crops: bool = True  # images where no face is found are used as tight face crops
    out: str = "runs/faceocc"
    # model
    input_size: int = 112  # network input (crops are prepared at 112 and resized); a multiple of 16
    drop_blocks: list = field(default_factory=list)  # MobileNetV2 residual blocks left out (faster), e.g. [10, 13, 16]
    head_conv: bool = True  # the final 1 x 1 convolution to 1280 channels
    pretrained: bool = True
    dropout: float = 0.2
    # optimisation
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.3
    max_steps_per_epoch: int = 0  # 0: a full pass over the (re-sampled) training set
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads (0: default)
    workers: int = 0  # DataLoader worker processes
    # class balance and losses
    class_weights: str = "balanced"  # none | inverse | balanced  (for the occluded head)
    sampling: str = "none"  # none | oversample | undersample | sqrt (by label)
    focal_gamma: float = 2.0  # 0: plain BCE
    map_weight: float = 1.0
    parts_weight: float = 1.0
    coverage_weight: float = 4.0  # weighted MSE with weight 1/30 + true coverage
    types_weight: float = 1.0
    # synthetic occlusion
    synth_prob: float = 0.55  # chance a clean training face gets a pasted occluder
    synth_on_occluded: float = 0.15  # chance an already occluded (e.g. masked) face gets one more
    pseudo_mask_map: float = 0.3  # loss weight of the lower-face pseudo map for real masked faces
    synth_weights: dict = field(default_factory=dict)  # recipe probabilities overriding synthesis.DEFAULT_WEIGHTS
    boundary_weight: float = 0.0  # extra verdict-loss weight for pasted occluders covering 0 < coverage < ...
    boundary_coverage: float = 0.06  # ... of the inner face: small occluders and the touching negatives next to them
    hand_pose_weights: dict = field(default_factory=dict)  # hand pose weights overriding synthesis' (e.g. forehead)
    # real occluders (hands, objects, hair, sunglasses of audited training faces) cut out by a model's occlusion map
    # and moved onto clean training faces
    transplant_prob: float = 0.0  # chance a clean training face gets one (instead of a synthetic paste)
    transplant_model: str = "default"  # the model whose map cuts them out (a faceocc ONNX file or a shipped name)
    # knowledge distillation: a trained checkpoint or faceocc ONNX model (e.g. the larger 112 px network) whose outputs
    # the network also learns
    teacher: str = ""
    distill_weight: float = 1.0  # weight of the teacher terms (verdict, types and map) next to the label losses
    teacher_mirror: bool = False  # learn the mean of the teacher's outputs on each crop and its mirror image
    # evaluation and stopping
    val_synth: int = 600  # synthetic validation faces (fixed seed)
    threshold: float | None = None  # operating threshold validation judges verdicts at and the checkpoint keeps
    # (None: the init model's, else 0.5); pick the final one with evaluate
    early_stopping: int = 3  # epochs without improvement before stopping (0: never)
    resume: str = ""  # checkpoint to resume from (weights, optimiser, schedule, epoch)
    keep_epochs: bool = False  # also keep every epoch's weights as epoch_NN.ckpt (to compare them on real photos)
    init: str = ""  # checkpoint, or faceocc ONNX model (the shipped one too), starting a new run
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self):
        choices = {
            "class_weights": ("none", "inverse", "balanced"),
            "sampling": ("none", "oversample", "undersample", "sqrt"),
            "device": ("auto", "cpu", "cuda"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"config: {key} must be one of {allowed}, got {getattr(self, key)!r}")
        if self.input_size < 32 or self.input_size % 16:
            raise ValueError(f"config: input_size must be a multiple of 16 (>= 32), got {self.input_size}")
        from ..synthesis import KINDS

        unknown = sorted(set(self.synth_weights) - set(KINDS))
        if unknown:
            raise ValueError(f"config: synth_weights has unknown recipe(s) {unknown} (known: {', '.join(KINDS)})")
        from ..synthesis import hand_pose_probabilities

        try:
            hand_pose_probabilities(self.hand_pose_weights)
        except ValueError as err:
            raise ValueError(f"config: hand_pose_weights: {err}") from None
        if self.boundary_weight < 0 or not 0.0 < self.boundary_coverage <= 1.0:
            raise ValueError(
                f"config: boundary_weight must be >= 0 and boundary_coverage in (0, 1], got "
                f"{self.boundary_weight} and {self.boundary_coverage}"
            )
        if not 0.0 <= self.transplant_prob <= 1.0:
            raise ValueError(f"config: transplant_prob must be between 0 and 1, got {self.transplant_prob}")
        if self.teacher_mirror and not self.teacher:
            raise ValueError("config: teacher_mirror=true needs a teacher")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("config: epochs and batch_size must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def _parse_file(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix == ".toml":
        import tomllib

        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml); JSON and TOML need nothing"
            ) from None
        return yaml.safe_load(text) or {}
    raise ValueError(f"{path}: config files must be .json, .toml or .yaml")


def _coerce(name: str, value, default):
    if default is None:  # an optional number (``threshold``): None, "none" or empty leave it unset
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"config: {name} must be a number or empty, got {value!r}") from None
    if isinstance(default, (list, dict)):
        if isinstance(value, str):
            text = value.strip()
            if isinstance(default, list) and not text.startswith("["):
                text = f"[{text}]"  # drop_blocks=10,13,16
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"config: {name} must be JSON ({type(default).__name__}), got {value!r}") from None
        if not isinstance(value, type(default)):
            raise ValueError(f"config: {name} must be a {type(default).__name__}, got {value!r}")
        return value
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"config: {name} must be true or false, got {value!r}")
        return bool(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> TrainConfig:
    """Config file (optional) + overrides (``["epochs=2", "lr=0.001"]`` or a dict) -> TrainConfig."""
    defaults = TrainConfig()
    known = {f.name for f in fields(TrainConfig)}
    values: dict = {}
    if path:
        raw = _parse_file(Path(path))
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown config key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        values.update(raw)
    items = overrides.items() if isinstance(overrides, dict) else [o.split("=", 1) for o in (overrides or [])]
    for item in items:
        if len(item) != 2:
            raise ValueError(f"override {'='.join(item)!r} must look like key=value")
        key, value = item
        key = key.strip().replace("-", "_")
        if key not in known:
            raise ValueError(f"unknown config key {key!r} (known: {', '.join(sorted(known))})")
        values[key] = value
    for key, value in list(values.items()):
        values[key] = _coerce(key, value, getattr(defaults, key))
    return TrainConfig(**values)
