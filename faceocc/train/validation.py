"""Validation during training: predictions on a fixed set, and rates judged at the operating threshold."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from .data import OcclusionTrainingSet
from .network import OcclusionNet


@torch.no_grad()
def predict_set(net: OcclusionNet, dataset: OcclusionTrainingSet, device, batch_size: int = 128) -> dict:
    """Predictions and targets over a (fixed) dataset."""
    net.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    keys = ("occluded", "occluders", "parts", "coverage")
    preds: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    targets: dict[str, list[np.ndarray]] = {"occluded": [], "types": [], "map": [], "measure_w": []}
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


def validation_metrics(
    real: dict | None, real_labels: list[str], synth: dict | None, synth_kinds: list[str], threshold: float = 0.5
) -> dict:
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

            auc = roc_auc(truth.astype(int), real["pred"]["occluded"])
            assert auc is not None  # both classes are present
            m["real_auc"] = float(auc)
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
