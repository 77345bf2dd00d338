"""``faceocc train``: the training loop (early stopping, best checkpoint, resume, CSV and TensorBoard logs)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from ..datasets import apply_audit, load_dataset, read_audit
from .config import TrainConfig
from .data import FaceSet, OcclusionTrainingSet, RealOccluders, class_weights, sampling_weights
from .losses import coverage_weighted_mse, distillation_loss, focal_bce, map_bce
from .network import OcclusionNet


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _split_of(path: str, split: str) -> str:
    if split:
        return split
    h = int(hashlib.md5(path.encode()).hexdigest()[:8], 16) % 10
    return "val" if h == 0 else "train"


def load_faces(config: TrainConfig, log=print) -> dict[str, FaceSet]:
    """Dataset -> aligned crops (prepared once into the cache) -> FaceSets per split."""
    from ..prepare import CropCache, prepare_dataset

    records = load_dataset(config.data)
    root = Path(config.data)
    root = root if root.is_dir() else root.parent
    if config.audit:
        from ..datasets import manifest_root as _manifest_root

        audit_root = _manifest_root(root / "manifest.csv") if (root / "manifest.csv").is_file() else root
        changed = apply_audit(records, read_audit(config.audit), audit_root)
        log(f"label audit {config.audit}: {changed} label(s) corrected")
    cache = Path(config.cache or Path(config.out) / "cache")
    if not (cache / "index.csv").is_file():
        log(f"preparing aligned crops of {len(records)} images into {cache} ...")
        summary = prepare_dataset(records, cache, root=None, workers=max(1, config.workers or 2), progress=config.progress,
                                  fallback=config.fallback_crops)
        log(f"prepared: {summary}")
    cached = CropCache.load(cache)
    by_path = {}
    for i, row in enumerate(cached.rows):
        by_path[row["path"]] = i
        by_path[Path(row["path"]).name] = i
    skipped_file = cache / "skipped.csv"
    if skipped_file.is_file():
        with open(skipped_file) as fh:
            skipped = list(csv.DictReader(fh))
        if skipped:
            log(f"{len(skipped)} image(s) could not be used (listed with reasons in {skipped_file}); first: "
                f"{skipped[0]['path']}: {skipped[0]['reason']}")
    splits: dict[str, list[int]] = {}
    labels, sources, groups = {}, {}, {}
    for rec in records:
        idx = by_path.get(str(rec.path))
        if idx is None:
            idx = by_path.get(rec.path.name)
        if idx is None:
            continue
        splits.setdefault(_split_of(str(rec.path), rec.split), []).append(idx)
        labels[idx], sources[idx], groups[idx] = rec.label, rec.source, rec.group
    out = {}
    for split, idx in splits.items():
        idx = np.array(sorted(idx))
        out[split] = FaceSet(np.asarray(cached.crops[idx]), cached.landmarks[idx], [labels[i] for i in idx],
                             [sources[i] for i in idx], [groups[i] for i in idx])
    return out


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


def _batch_loss(net: OcclusionNet, batch: dict, config: TrainConfig, cw: tuple[float, float],
                teacher: OcclusionNet | None = None) -> tuple[torch.Tensor, dict]:
    logits, map_logits = net.forward_logits(batch["image"].float())
    occ_loss = focal_bce(logits[:, 0], batch["occluded"], config.focal_gamma, pos_weight=cw[1], neg_weight=cw[0],
                         weight=batch["verdict_w"])
    types_loss = focal_bce(logits[:, 1:], batch["types"], config.focal_gamma, weight=batch["types_w"])
    m_loss = map_bce(map_logits, batch["map"], batch["map_w"])
    pred_parts, pred_cov = net.measure(torch.sigmoid(map_logits))
    true_parts, true_cov = net.measure(batch["map"])
    mw = batch["measure_w"]
    parts_loss = ((pred_parts - true_parts) ** 2).mean(1).mul(mw).sum() / mw.sum().clamp_min(1e-6)
    cov_loss = coverage_weighted_mse(pred_cov, true_cov, mw)
    total = (occ_loss + config.types_weight * types_loss + config.map_weight * m_loss
             + config.parts_weight * parts_loss + config.coverage_weight * cov_loss)
    parts = {"occ": occ_loss.item(), "types": types_loss.item(), "map": m_loss.item(), "parts": parts_loss.item(),
             "coverage": cov_loss.item()}
    if teacher is not None:
        x = batch.get("image_full", batch["image"]).float()
        if x.shape[-1] != teacher.input_size:
            x = torch.nn.functional.interpolate(x, size=(teacher.input_size,) * 2, mode="bilinear", align_corners=False)
        with torch.no_grad():
            t_logits, t_map = teacher.forward_logits(x)
        d_loss = distillation_loss(logits, map_logits, t_logits, t_map)
        total = total + config.distill_weight * d_loss
        parts["distill"] = d_loss.item()
    return total, parts


@torch.no_grad()
def predict_set(net: OcclusionNet, dataset: OcclusionTrainingSet, device, batch_size: int = 128) -> dict:
    """Predictions and targets over a (fixed) dataset."""
    net.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    keys = ("occluded", "occluders", "parts", "coverage")
    preds = {k: [] for k in keys}
    targets = {"occluded": [], "types": [], "map": [], "measure_w": []}
    for batch in loader:
        out = net(batch["image"].to(device).float())
        for k in keys:
            preds[k].append(out[k].cpu().numpy())
        for k in targets:
            targets[k].append(batch[k].numpy())
    p = {k: np.concatenate(v) for k, v in preds.items()}
    t = {k: np.concatenate(v) for k, v in targets.items()}
    tp, tc = net.measure(torch.from_numpy(t["map"]).to(device))
    t["parts"], t["coverage"] = tp.cpu().numpy(), tc.cpu().numpy()
    return {"pred": p, "target": t}


def validation_metrics(real: dict | None, real_labels: list[str], synth: dict | None, synth_kinds: list[str],
                       threshold: float = 0.5) -> dict:
    """Validation rates with verdicts judged at ``threshold``, the operating threshold the checkpoint will carry."""
    m: dict = {}
    errors = []
    if real is not None:
        occ = real["pred"]["occluded"] >= threshold
        labels = np.array(real_labels)
        for name in ("mask", "clean"):
            sel = labels == name
            if sel.any():
                rate = float(occ[sel].mean())
                m[f"real_{name}_{'tpr' if name != 'clean' else 'fpr'}"] = rate
                errors.append(1 - rate if name != "clean" else rate)
        for name in sorted(set(real_labels) - {"mask", "clean"}):
            sel = labels == name
            m[f"real_{name}_occluded_rate"] = float(occ[sel].mean())
        truth = real["target"]["occluded"] >= 0.5
        if truth.any() and (~truth).any():  # threshold-free: the operating threshold is picked after training
            from ..evaluate.metrics import roc_auc

            m["real_auc"] = float(roc_auc(truth.astype(int), real["pred"]["occluded"]))
        other_pos = truth & (labels != "mask")
        if other_pos.any():  # real occlusions other than masks (hands, sunglasses, objects): rare but the point
            m["real_other_tpr"] = float(occ[other_pos].mean())
            errors.append(1 - m["real_other_tpr"])
    if synth is not None:
        occ = synth["pred"]["occluded"] >= threshold
        truth = synth["target"]["occluded"] >= 0.5
        kinds = np.array(synth_kinds)
        for kind in sorted(set(synth_kinds)):
            sel = kinds == kind
            m[f"synth_{kind}_occluded_rate"] = float(occ[sel].mean())
        pos, neg = truth, ~truth
        if pos.any():
            m["synth_tpr"] = float(occ[pos].mean())
            errors.append(1 - m["synth_tpr"])
        if neg.any():
            m["synth_fpr"] = float(occ[neg].mean())
            errors.append(m["synth_fpr"])
        m["synth_coverage_mae"] = float(np.abs(synth["pred"]["coverage"] - synth["target"]["coverage"]).mean())
        pp, tp = synth["pred"]["parts"] >= 0.3, synth["target"]["parts"] >= 0.3
        f1s = []
        for j in range(pp.shape[1]):
            tpos = (pp[:, j] & tp[:, j]).sum()
            denom = pp[:, j].sum() + tp[:, j].sum()
            f1s.append(2 * tpos / denom if denom else 1.0)
        m["synth_parts_f1"] = float(np.mean(f1s))
    m["val_error"] = float(np.mean(errors)) + m.get("synth_coverage_mae", 0.0) if errors else float("nan")
    return m


def train(config: TrainConfig, faces: dict[str, FaceSet] | None = None, library=None, val_library=None, log=print) -> dict:
    """Train a model; returns the summary (best epoch and metrics). Files go to ``config.out``."""
    from tqdm import tqdm

    for key in ("init", "teacher", "resume"):  # fail before any data is read
        value = getattr(config, key)
        if value and not Path(value).is_file():
            raise ValueError(f"config: {key}={value!r}: no such file (a checkpoint from `faceocc train` or a faceocc "
                             f"ONNX model)")
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
    if library is None and config.occluders:
        from ..synthesis import OccluderLibrary

        library = OccluderLibrary.from_folder(config.occluders, split="train")
        val_library = library
    device = _device(config)
    size = config.input_size
    teacher = None
    if config.teacher:
        from .export import load_checkpoint

        teacher = load_checkpoint(config.teacher)[0].to(device)
        for p in teacher.parameters():
            p.requires_grad_(False)
        log(f"distilling from {config.teacher} (input {teacher.input_size}, weight {config.distill_weight})")
    weights = None
    if config.synth_weights:
        from ..synthesis import DEFAULT_WEIGHTS

        weights = {**DEFAULT_WEIGHTS, **config.synth_weights}
    transplants = None
    if config.transplant_prob > 0:
        from ..model import OcclusionModel

        transplants = RealOccluders.from_faces(faces["train"], OcclusionModel(config.transplant_model))
        log(f"real occluders to transplant: {len(transplants)} (cut out by {config.transplant_model}'s occlusion map)")
    train_set = OcclusionTrainingSet(faces["train"], library, config.synth_prob, config.synth_on_occluded,
                                     config.pseudo_mask_map, seed=config.seed, synth_weights=weights, output_size=size,
                                     hand_weights=config.hand_pose_weights or None, transplants=transplants,
                                     transplant_prob=config.transplant_prob, boundary_weight=config.boundary_weight,
                                     boundary_coverage=config.boundary_coverage)
    train_set.keep_full = teacher is not None and teacher.input_size != size
    val_faces = faces.get("val")
    real_val = (OcclusionTrainingSet(val_faces, None, 0.0, 0.0, config.pseudo_mask_map, augment_strength=0.0, fixed=True,
                                     output_size=size) if val_faces else None)
    synth_val = synth_kinds = None
    if val_faces is not None and (val_library or library) is not None and config.val_synth > 0:
        clean_idx = [i for i, lab in enumerate(val_faces.labels) if lab == "clean"]
        rng = np.random.default_rng(config.seed)
        pick = rng.choice(clean_idx, size=min(config.val_synth, len(clean_idx)), replace=len(clean_idx) < config.val_synth) if clean_idx else []
        if len(pick):
            synth_val = OcclusionTrainingSet(val_faces.subset(pick), val_library or library, 0.8, 0.0, augment_strength=0.0,
                                             fixed=True, seed=config.seed + 1, output_size=size)
            synth_kinds = [synth_val.sample(i)["kind"] for i in range(len(synth_val))]

    n_train = len(train_set)
    occ_real = np.mean([lab not in ("clean", "eyeglasses") for lab in faces["train"].labels])
    tp = config.transplant_prob if transplants is not None and len(transplants) else 0.0  # transplants: occluded
    pos_frac = occ_real + (1 - occ_real) * (tp + (1 - tp) * config.synth_prob * 0.85)
    cw = class_weights(pos_frac, config.class_weights)
    log(f"training faces: {n_train} ({dict(zip(*np.unique(faces['train'].labels, return_counts=True)))}); "
        f"estimated occluded fraction {pos_frac:.2f}; class weights {cw[0]:.2f}/{cw[1]:.2f}; device {device}")

    sw = sampling_weights(faces["train"].labels, config.sampling)
    if sw is not None:
        sampler = WeightedRandomSampler(torch.from_numpy(sw[0]), num_samples=sw[1], replacement=True,
                                        generator=torch.Generator().manual_seed(config.seed))
        loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers, drop_last=True)
    else:
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, num_workers=config.workers, drop_last=True,
                            generator=torch.Generator().manual_seed(config.seed))
    steps_per_epoch = len(loader) if config.max_steps_per_epoch <= 0 else min(len(loader), config.max_steps_per_epoch)
    net = OcclusionNet(config.input_size, pretrained=config.pretrained, dropout=config.dropout,
                       drop_blocks=tuple(config.drop_blocks), head_conv=config.head_conv).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = max(1, steps_per_epoch * config.epochs)
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps))))
    start_epoch, best, best_epoch, stale = 0, float("inf"), -1, 0
    history = []
    operating = config.threshold if config.threshold is not None else 0.5
    if config.init and not config.resume:
        from .export import load_checkpoint

        calibration = faces["train"].crops[np.random.default_rng(config.seed).permutation(n_train)[:512]]
        init = load_checkpoint(config.init, calibration)[1]
        if config.threshold is None:
            operating = float(init.get("threshold", 0.5))
        loaded, skipped = load_matching_weights(net, init["model"])
        log(f"weights initialised from {config.init}: {loaded} tensors"
            + (f"; {len(skipped)} left at their initial values (not in the checkpoint or another shape): "
               f"{', '.join(skipped[:6])}{' ...' if len(skipped) > 6 else ''}" if skipped else ""))
    if config.resume:
        ckpt = torch.load(config.resume, map_location="cpu", weights_only=False)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, best, best_epoch = ckpt["epoch"] + 1, ckpt.get("best", best), ckpt.get("best_epoch", -1)
        history = ckpt.get("history", [])
        if config.threshold is None:
            operating = float(ckpt.get("threshold", operating))
        log(f"resumed from {config.resume} at epoch {start_epoch}")
    writer = None
    if config.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # noqa: BLE001 - tensorboard is optional
            writer = None
    metrics_path = out / "metrics.csv"
    for epoch in range(start_epoch, config.epochs):
        train_set.epoch = epoch
        net.train()
        t0 = time.time()
        sums: dict[str, float] = {}
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not config.progress, leave=False)
        for step, batch in enumerate(loader):
            if step >= steps_per_epoch:
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
        row = {"epoch": epoch + 1, **{f"train_{k}": v / max(1, steps_per_epoch) for k, v in sums.items()},
               "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1)}
        real_pred = predict_set(net, real_val, device) if real_val is not None else None
        synth_pred = predict_set(net, synth_val, device) if synth_val is not None else None
        row.update(validation_metrics(real_pred, real_val.faces.labels if real_val else [], synth_pred, synth_kinds or [],
                                      operating))
        history.append(row)
        with open(metrics_path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if fh.tell() == 0:
                w.writeheader()
            w.writerow(row)
        if writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    writer.add_scalar(k, v, epoch + 1)
        score = row["val_error"] if not math.isnan(row["val_error"]) else row["train_loss"]
        improved = score < best
        if improved:
            best, best_epoch, stale = score, epoch + 1, 0
        else:
            stale += 1
        ckpt = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "epoch": epoch, "best": best, "best_epoch": best_epoch, "history": history, "config": config.to_dict(),
                "input_size": config.input_size, "arch": net.arch, "metrics": row, "threshold": operating}
        torch.save(ckpt, out / "last.ckpt")
        weights_only = {k: v for k, v in ckpt.items() if k not in ("optimizer", "scheduler")}
        if improved:
            torch.save(weights_only, out / "best.ckpt")
        if config.keep_epochs:
            torch.save(weights_only, out / f"epoch_{epoch + 1:02d}.ckpt")
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()) + (" *" if improved else ""))
        if config.early_stopping and stale >= config.early_stopping:
            log(f"early stopping: no improvement for {stale} epochs")
            break
    if writer is not None:
        writer.close()
    summary = {"best_epoch": best_epoch, "best_score": best, "epochs_run": len(history), "out": str(out),
               "final": history[-1] if history else {}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary
