"""``faceocc train``: the training loop (early stopping, best checkpoint, resume, CSV and TensorBoard logs)."""

from __future__ import annotations

import csv
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from .config import TrainConfig
from .data import FaceSet, OcclusionTrainingSet, RealOccluders, class_weights, sampling_weights
from .faces import load_faces  # noqa: F401 - part of the training API
from .losses import coverage_weighted_mse, distillation_loss, focal_bce, map_bce
from .network import OcclusionNet
from .validation import predict_set, validation_metrics


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_matching_weights(net: torch.nn.Module, state: dict) -> tuple[int, list[str]]:
    """Load the tensors of ``state`` whose name and shape match (fine-tuning a smaller or changed network);
    returns (tensors loaded, names of the network's tensors that kept their initial values)."""
    mine = net.state_dict()
    usable = {k: v for k, v in state.items() if k in mine and mine[k].shape == v.shape}
    net.load_state_dict(usable, strict=False)
    return len(usable), [k for k in mine if k not in usable]


def _device(config: TrainConfig) -> torch.device:
    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _batch_loss(
    net: OcclusionNet, batch: dict, config: TrainConfig, cw: tuple[float, float], teacher: OcclusionNet | None = None
) -> tuple[torch.Tensor, dict]:
    logits, map_logits = net.forward_logits(batch["image"].float())
    occ_loss = focal_bce(
        logits[:, 0],
        batch["occluded"],
        config.focal_gamma,
        pos_weight=cw[1],
        neg_weight=cw[0],
        weight=batch["verdict_w"],
    )
    types_loss = focal_bce(logits[:, 1:], batch["types"], config.focal_gamma, weight=batch["types_w"])
    m_loss = map_bce(map_logits, batch["map"], batch["map_w"])
    pred_parts, pred_cov = net.measure(torch.sigmoid(map_logits))
    true_parts, true_cov = net.measure(batch["map"])
    mw = batch["measure_w"]
    parts_loss = ((pred_parts - true_parts) ** 2).mean(1).mul(mw).sum() / mw.sum().clamp_min(1e-6)
    cov_loss = coverage_weighted_mse(pred_cov, true_cov, mw)
    total = (
        occ_loss
        + config.types_weight * types_loss
        + config.map_weight * m_loss
        + config.parts_weight * parts_loss
        + config.coverage_weight * cov_loss
    )
    parts = {
        "occ": occ_loss.item(),
        "types": types_loss.item(),
        "map": m_loss.item(),
        "parts": parts_loss.item(),
        "coverage": cov_loss.item(),
    }
    if teacher is not None:
        x = batch.get("image_full", batch["image"]).float()
        if x.shape[-1] != teacher.input_size:
            x = torch.nn.functional.interpolate(x, size=(teacher.input_size,) * 2, mode="bilinear", align_corners=False)
        with torch.no_grad():
            t_logits, t_map = _teacher_logits(teacher, x, config.teacher_mirror)
        d_loss = distillation_loss(logits, map_logits, t_logits, t_map)
        total = total + config.distill_weight * d_loss
        parts["distill"] = d_loss.item()
    return total, parts


def _teacher_logits(teacher: OcclusionNet, x: torch.Tensor, mirror: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's class and map logits for ``x``; with ``mirror``, those of the mean of its probabilities on each
    crop and its mirror image (what a mirror-averaged model file, ``faceocc.train.mirror``, predicts)."""
    logits, map_logits = teacher.forward_logits(x)
    if not mirror:
        return logits, map_logits
    m_logits, m_map = teacher.forward_logits(x.flip(-1))
    probs = (torch.sigmoid(logits) + torch.sigmoid(m_logits)) / 2  # occluded and the types: no side to swap
    maps = (torch.sigmoid(map_logits) + torch.sigmoid(m_map.flip(-1))) / 2
    return torch.logit(probs, eps=1e-6), torch.logit(maps, eps=1e-6)


def _check_files(config: TrainConfig) -> None:
    for key in ("init", "teacher", "resume"):  # fail before any data is read
        value = getattr(config, key)
        if value and not Path(value).is_file():
            raise ValueError(
                f"config: {key}={value!r}: no such file (a checkpoint from `faceocc train` or a faceocc ONNX model)"
            )


def _load_teacher(config: TrainConfig, device, log):
    if not config.teacher:
        return None
    from .export import load_checkpoint

    teacher = load_checkpoint(config.teacher)[0].to(device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    log(f"distilling from {config.teacher} (input {teacher.input_size}, weight {config.distill_weight})")
    return teacher


def _training_set(config: TrainConfig, faces: dict[str, FaceSet], library, teacher, log) -> OcclusionTrainingSet:
    weights = None
    if config.synth_weights:
        from ..synthesis import DEFAULT_WEIGHTS

        weights = {**DEFAULT_WEIGHTS, **config.synth_weights}
    transplants = None
    if config.transplant_prob > 0:
        from ..model import OcclusionModel

        transplants = RealOccluders.from_faces(faces["train"], OcclusionModel(config.transplant_model))
        log(f"real occluders to transplant: {len(transplants)} (cut out by {config.transplant_model}'s occlusion map)")
    train_set = OcclusionTrainingSet(
        faces["train"],
        library,
        config.synth_prob,
        config.synth_on_occluded,
        config.pseudo_mask_map,
        seed=config.seed,
        synth_weights=weights,
        output_size=config.input_size,
        hand_weights=config.hand_pose_weights or None,
        transplants=transplants,
        transplant_prob=config.transplant_prob,
        boundary_weight=config.boundary_weight,
        boundary_coverage=config.boundary_coverage,
    )
    train_set.keep_full = teacher is not None and teacher.input_size != config.input_size
    return train_set


def _validation_sets(config: TrainConfig, faces: dict[str, FaceSet], library):
    """(real validation set, synthetic validation set, its kinds); None where there is none."""
    val_faces = faces.get("val")
    if val_faces is None:
        return None, None, None
    size = config.input_size
    real_val = OcclusionTrainingSet(
        val_faces, None, 0.0, 0.0, config.pseudo_mask_map, augment_strength=0.0, fixed=True, output_size=size
    )
    clean_idx = [i for i, lab in enumerate(val_faces.labels) if lab == "clean"]
    if library is None or config.val_synth <= 0 or not clean_idx:
        return real_val, None, None
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(clean_idx, size=min(config.val_synth, len(clean_idx)), replace=len(clean_idx) < config.val_synth)
    synth_val = OcclusionTrainingSet(
        val_faces.subset(pick),
        library,
        0.8,
        0.0,
        augment_strength=0.0,
        fixed=True,
        seed=config.seed + 1,
        output_size=size,
    )
    return real_val, synth_val, [synth_val.sample(i)["kind"] for i in range(len(synth_val))]


def _class_weights(config: TrainConfig, faces: dict[str, FaceSet], train_set: OcclusionTrainingSet):
    """Class weights from the expected occluded fraction of training crops (real occlusions, transplants, pastes)."""
    occ_real = float(np.mean([lab not in ("clean", "eyeglasses") for lab in faces["train"].labels]))
    has_transplants = train_set.transplants is not None and len(train_set.transplants)
    tp = config.transplant_prob if has_transplants else 0.0  # transplants: occluded
    pos_frac = occ_real + (1 - occ_real) * (tp + (1 - tp) * config.synth_prob * 0.85)
    return class_weights(pos_frac, config.class_weights), pos_frac


def _loader(config: TrainConfig, faces: dict[str, FaceSet], train_set: OcclusionTrainingSet) -> DataLoader:
    sw = sampling_weights(faces["train"].labels, config.sampling)
    if sw is not None:
        sampler = WeightedRandomSampler(
            torch.from_numpy(sw[0]),  # type: ignore[arg-type]  # it takes a tensor
            num_samples=sw[1],
            replacement=True,
            generator=torch.Generator().manual_seed(config.seed),
        )
        return DataLoader(
            train_set, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers, drop_last=True
        )
    return DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=config.workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(config.seed),
    )


def _optimiser(net, config: TrainConfig, steps_per_epoch: int):
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = max(1, steps_per_epoch * config.epochs)
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))
    )
    return optimizer, scheduler


def _start(config: TrainConfig, net, optimizer, scheduler, faces: dict[str, FaceSet], log) -> dict:
    """Initial weights (``init``) or the resumed state (``resume``): start epoch, best so far, history, threshold."""
    state = {
        "start_epoch": 0,
        "best": float("inf"),
        "best_epoch": -1,
        "history": [],
        "threshold": config.threshold if config.threshold is not None else 0.5,
    }
    if config.init and not config.resume:
        from .export import load_checkpoint

        n_train = len(faces["train"].labels)
        calibration = faces["train"].crops[np.random.default_rng(config.seed).permutation(n_train)[:512]]
        init = load_checkpoint(config.init, calibration)[1]
        if config.threshold is None:
            state["threshold"] = float(init.get("threshold", 0.5))
        loaded, skipped = load_matching_weights(net, init["model"])
        log(
            f"weights initialised from {config.init}: {loaded} tensors"
            + (
                f"; {len(skipped)} left at their initial values (not in the checkpoint or another shape): "
                f"{', '.join(skipped[:6])}{' ...' if len(skipped) > 6 else ''}"
                if skipped
                else ""
            )
        )
    if config.resume:
        ckpt = torch.load(config.resume, map_location="cpu", weights_only=False)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        state.update(
            start_epoch=ckpt["epoch"] + 1,
            best=ckpt.get("best", state["best"]),
            best_epoch=ckpt.get("best_epoch", -1),
            history=ckpt.get("history", []),
        )
        if config.threshold is None:
            state["threshold"] = float(ckpt.get("threshold", state["threshold"]))
        log(f"resumed from {config.resume} at epoch {state['start_epoch']}")
    return state


def _tensorboard(config: TrainConfig, out: Path):
    if not config.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(out / "tensorboard"))
    except Exception:  # noqa: BLE001 - tensorboard is optional
        return None


def _train_epoch(
    net, loader, optimizer, scheduler, config: TrainConfig, cw, teacher, device, steps: int, desc: str
) -> dict[str, float]:
    """One epoch of ``steps`` batches; returns the summed loss terms."""
    from tqdm import tqdm

    net.train()
    sums: dict[str, float] = {}
    bar = tqdm(total=steps, desc=desc, disable=not config.progress, leave=False)
    for step, batch in enumerate(loader):
        if step >= steps:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        loss, parts = _batch_loss(net, batch, config, cw, teacher)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()
        scheduler.step()
        sums["loss"] = sums.get("loss", 0.0) + loss.item()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        bar.update(1)
        bar.set_postfix(loss=f"{sums['loss'] / (step + 1):.4f}")
    bar.close()
    return sums


def _log_row(row: dict, metrics_path: Path, writer, epoch: int) -> None:
    with open(metrics_path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if fh.tell() == 0:
            w.writeheader()
        w.writerow(row)
    if writer is not None:
        for k, v in row.items():
            if isinstance(v, (int, float)) and k != "epoch":
                writer.add_scalar(k, v, epoch + 1)


def _save(out: Path, ckpt: dict, improved: bool, keep_epochs: bool, epoch: int) -> None:
    torch.save(ckpt, out / "last.ckpt")
    weights_only = {k: v for k, v in ckpt.items() if k not in ("optimizer", "scheduler")}
    if improved:
        torch.save(weights_only, out / "best.ckpt")
    if keep_epochs:
        torch.save(weights_only, out / f"epoch_{epoch + 1:02d}.ckpt")


def _occluder_library(config: TrainConfig):
    """The occluder folder's train split, or procedural occluders only when there is no folder."""
    from ..synthesis import OccluderLibrary

    if config.occluders:
        return OccluderLibrary.from_folder(config.occluders, split="train")
    return OccluderLibrary.procedural(seed=config.seed)


def _validate(net, real_val, synth_val, synth_kinds, device, threshold: float) -> dict:
    real_pred = predict_set(net, real_val, device) if real_val is not None else None
    synth_pred = predict_set(net, synth_val, device) if synth_val is not None else None
    labels = real_val.faces.labels if real_val is not None else []
    return validation_metrics(real_pred, labels, synth_pred, synth_kinds or [], threshold)


def _checkpoint_info(config: TrainConfig, net, row: dict, threshold: float, provenance: dict) -> dict:
    """What a checkpoint says about the model beside its weights (export copies it into the ONNX metadata)."""
    return {
        "config": config.to_dict(),
        "input_size": config.input_size,
        "arch": net.arch,
        "metrics": row,
        "threshold": threshold,
        "provenance": provenance,
    }


def _network(config: TrainConfig) -> OcclusionNet:
    return OcclusionNet(
        config.input_size,
        pretrained=config.pretrained,
        dropout=config.dropout,
        drop_blocks=tuple(config.drop_blocks),
        head_conv=config.head_conv,
    )


def _write_summary(out: Path, best_epoch: int, best: float, history: list) -> dict:
    summary = {
        "best_epoch": best_epoch,
        "best_score": best,
        "epochs_run": len(history),
        "out": str(out),
        "final": history[-1] if history else {},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def train(
    config: TrainConfig, faces: dict[str, FaceSet] | None = None, library=None, val_library=None, log=print
) -> dict:
    """Train a model; returns the summary (best epoch and metrics). Files go to ``config.out``."""
    _check_files(config)
    seed_everything(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    if faces is None:
        faces = load_faces(config, log)
    if "train" not in faces:
        raise ValueError("the dataset has no training faces (split column 'train', or no split column)")
    if library is None:
        library = val_library = _occluder_library(config)
    device = _device(config)
    teacher = _load_teacher(config, device, log)
    train_set = _training_set(config, faces, library, teacher, log)
    real_val, synth_val, synth_kinds = _validation_sets(config, faces, val_library or library)
    cw, pos_frac = _class_weights(config, faces, train_set)
    log(
        f"training faces: {len(train_set)} ({dict(zip(*np.unique(faces['train'].labels, return_counts=True)))}); "
        f"estimated occluded fraction {pos_frac:.2f}; class weights {cw[0]:.2f}/{cw[1]:.2f}; device {device}"
    )
    loader = _loader(config, faces, train_set)
    steps = len(loader) if config.max_steps_per_epoch <= 0 else min(len(loader), config.max_steps_per_epoch)
    net = _network(config).to(device)
    optimizer, scheduler = _optimiser(net, config, steps)
    from .export import provenance

    run_provenance = provenance(config.to_dict())  # digests of the data, audit and init files, taken at the start
    state = _start(config, net, optimizer, scheduler, faces, log)
    best, best_epoch, history, stale = state["best"], state["best_epoch"], state["history"], 0
    writer = _tensorboard(config, out)
    for epoch in range(state["start_epoch"], config.epochs):
        train_set.epoch = epoch
        t0 = time.time()
        sums = _train_epoch(
            net, loader, optimizer, scheduler, config, cw, teacher, device, steps, f"epoch {epoch + 1}/{config.epochs}"
        )
        row = {
            "epoch": epoch + 1,
            **{f"train_{k}": v / max(1, steps) for k, v in sums.items()},
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 1),
        }
        row.update(_validate(net, real_val, synth_val, synth_kinds, device, state["threshold"]))
        history.append(row)
        _log_row(row, out / "metrics.csv", writer, epoch)
        score = row["val_error"] if not math.isnan(row["val_error"]) else row["train_loss"]
        improved = score < best
        best, best_epoch, stale = (score, epoch + 1, 0) if improved else (best, best_epoch, stale + 1)
        ckpt = {
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "best": best,
            "best_epoch": best_epoch,
            "history": history,
            **_checkpoint_info(config, net, row, state["threshold"], run_provenance),
        }
        _save(out, ckpt, improved, config.keep_epochs, epoch)
        log(
            " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            + (" *" if improved else "")
        )
        if config.early_stopping and stale >= config.early_stopping:
            log(f"early stopping: no improvement for {stale} epochs")
            break
    if writer is not None:
        writer.close()
    return _write_summary(out, best_epoch, best, history)
