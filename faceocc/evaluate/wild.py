"""The wild benchmark: real in-the-wild photos with two-labeller labels (``faceocc evaluate --wild DIR``).

A wild folder holds ``manifest.csv`` (``path,label,source,split,width,height,group,age,...``; paths relative to the
folder or to its parent) and ``{split}_labels.csv`` (``path,occluded,types,where,sure``) for each labelled split.

The scoring follows the reference scorer beside the data (``tools/score_wild.py`` run by ``wild_benchmark.sh``):

* rows with ``sure=0`` are left out of every score;
* each whole photo goes through the Analyzer with ``faceocc analyze``'s defaults (no padding) and its largest
  detected face is scored (box area from the box as the JSON writes it, 0.1 px; the first face on a tie);
  a photo without a face counts as "no face" (an unreadable one too), a largest face that is not assessable as
  "unassessed"; both are left out of the rates;
* false-positive rate over clean faces (``occluded=0``), TPR over occluded ones, per ``+``-joined type
  (clear eyeglasses are not an occlusion type); the AUC uses the scores as ``faceocc analyze`` writes them (4 decimals).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import DatasetError, label_targets
from ..datasets import manifest_root as _manifest_root
from ..schema import OCCLUDER_TYPES, OCCLUDING_TYPES
from . import metrics as M
from .evalset import (
    STATUS_ERROR,
    STATUS_NO_FACE,
    STATUS_NOT_ASSESSABLE,
    CropStore,
    EvalSet,
    Item,
    Predictions,
    model_label,
)
from .gallery import plot_gallery, worst_errors
from .photos import build_analyzers, score_photo
from .scoring import scored_mask

#: occluder types of the wild labels (eyeglasses is listed in the labels but is not an occlusion)
WILD_TYPES = ("hand", "hair", "object", "sunglasses", "mask", "border", "other")
#: the faceocc occluder type each wild type is trained as
TYPE_TO_FACEOCC = {
    "hand": "hand",
    "sunglasses": "sunglasses",
    "mask": "mask",
    "eyeglasses": "eyeglasses",
    "hair": "other",
    "object": "other",
    "border": "other",
    "other": "other",
}
AGE_BANDS = ((0, 9, "0-9"), (10, 19, "10-19"), (20, 39, "20-39"), (40, 59, "40-59"), (60, 10**6, "60+"))
UNKNOWN = "unknown"


@dataclass
class WildRow:
    """One labelled wild photo: manifest columns joined with its label row."""

    path: Path
    rel: str
    source: str
    group: str
    age: str
    occluded: bool
    types: tuple[str, ...]
    where: str
    sure: bool

    @property
    def label(self) -> str:
        """The label as the benchmark writes it: the types, or clean / occluded."""
        return "+".join(self.types) or ("occluded" if self.occluded else "clean")

    @property
    def age_band(self) -> str:
        return age_band(self.age)


@dataclass
class WildSet:
    """The scored faces (``es``: one item per sure photo), their wild rows, and each model's upper/lower verdicts."""

    es: EvalSet
    rows: list[WildRow]
    upper: list[np.ndarray] = field(default_factory=list)  # per model: 1/0, NaN where not scored
    lower: list[np.ndarray] = field(default_factory=list)
    unsure: int = 0


def age_band(text: str) -> str:
    """'3-9', '20-29', 'more than 70', '61' -> an age band (a range counts by its lower end); '' -> unknown."""
    m = re.search(r"\d+", str(text or ""))
    if not m:
        return UNKNOWN
    age = int(m.group())
    return next((name for lo, hi, name in AGE_BANDS if lo <= age <= hi), UNKNOWN)


def labelled_splits(folder: str | Path) -> list[str]:
    return sorted(p.name[: -len("_labels.csv")] for p in Path(folder).glob("*_labels.csv"))


def is_wild_folder(folder: str | Path) -> bool:
    """A folder holding ``manifest.csv`` and at least one ``{split}_labels.csv``."""
    folder = Path(folder)
    return folder.is_dir() and (folder / "manifest.csv").is_file() and bool(labelled_splits(folder))


def read_wild(folder: str | Path, split: str) -> tuple[list[WildRow], int]:
    """(the sure rows of ``split``, how many unsure rows were left out); every problem fails here, naming the line."""
    folder = Path(folder)
    manifest, labels = folder / "manifest.csv", folder / f"{split}_labels.csv"
    if not manifest.is_file():
        raise DatasetError(f"{folder}: no manifest.csv (not a wild benchmark folder)")
    if not labels.is_file():
        have = ", ".join(labelled_splits(folder)) or "none"
        raise DatasetError(f"{labels}: not found; the {split!r} split is not labelled (labelled splits: {have})")
    root = _manifest_root(manifest)
    with open(manifest, newline="", encoding="utf-8") as fh:
        by_path = {r["path"]: r for r in csv.DictReader(fh)}
    rows, unsure, problems = [], 0, []
    with open(labels, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "occluded", "types", "where", "sure"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{labels}: the header lacks {', '.join(sorted(missing))}")
        for line, lab in enumerate(reader, start=2):
            where = f"{labels}:{line}"
            m = by_path.get(lab["path"])
            if m is None:
                problems.append(f"{where}: {lab['path']} is not in {manifest.name}")
            elif lab["occluded"] not in ("0", "1") or lab["sure"] not in ("0", "1"):
                problems.append(f"{where}: occluded and sure must be 0 or 1")
            elif lab["sure"] != "1":
                unsure += 1
            elif not (root / lab["path"]).is_file():
                problems.append(f"{where}: file not found: {root / lab['path']}")
            else:
                types = tuple(t for t in (lab["types"] or "").split("+") if t)
                rows.append(
                    WildRow(
                        path=root / lab["path"],
                        rel=lab["path"],
                        source=m.get("source") or "",
                        group=m.get("group") or "",
                        age=m.get("age") or "",
                        occluded=lab["occluded"] == "1",
                        types=types,
                        where=(lab["where"] or "").strip(),
                        sure=True,
                    )
                )
    if problems:
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError(f"{labels}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:20]) + more)
    return rows, unsure


def _item(row: WildRow, split: str) -> Item:
    """An evaluation item; its faceocc label maps hair, object and border to ``other``."""
    mapped = sorted({TYPE_TO_FACEOCC.get(t, "other") for t in row.types}, key=OCCLUDER_TYPES.index)
    if row.occluded:
        label = "+".join(mapped) if set(mapped) - {"eyeglasses"} else "occluded"
    else:
        label = "eyeglasses" if "eyeglasses" in row.types else "clean"
    _, types, weights = label_targets(label)
    return Item(
        path=str(row.path),
        label=label,
        split=split,
        group=row.group,
        source=row.source,
        true_occluded=row.occluded,
        true_types=types,
        type_weights=weights,
    )


def largest_face(faces) -> int:
    """Index of the face with the largest box, as the JSON writes boxes (0.1 px); the first one on a tie."""

    def area(i):
        x1, y1, x2, y2 = (round(float(v), 1) for v in faces[i].box)
        return (x2 - x1) * (y2 - y1)

    return max(range(len(faces)), key=area)


def collect_wild(
    rows: Sequence[WildRow],
    models: Sequence[str | None],
    split: str = "test",
    threads: int = 0,
    threshold: float | None = None,
    score_threshold: float = 0.6,
    det_size: int | None = None,
    min_face: int = 32,
    progress: bool = False,
) -> WildSet:
    """Run each photo through the Analyzer (as ``faceocc analyze``) with every model; score its largest face."""
    from tqdm import tqdm

    from ..io import InputError, load_image

    analyzers = build_analyzers(models, threads, score_threshold, det_size, min_face, occlusion_threshold=threshold)
    items = [_item(r, split) for r in rows]
    preds = [Predictions.empty(model_label(a.model, k), len(items)) for k, a in enumerate(analyzers)]
    ws = WildSet(EvalSet(items, preds, CropStore(), "wild"), list(rows))
    ws.upper = [np.full(len(items), np.nan) for _ in analyzers]
    ws.lower = [np.full(len(items), np.nan) for _ in analyzers]
    for i, item in enumerate(tqdm(items, desc="wild", unit="img", disable=not progress)):
        try:
            image = load_image(item.path)
        except InputError as exc:
            item.status, item.message = STATUS_ERROR, str(exc)
            continue
        chosen = score_photo(item, i, image, analyzers, preds, largest_face)
        if chosen is None:
            continue
        face = chosen[0]
        for k, f in enumerate(chosen):
            ws.upper[k][i], ws.lower[k][i] = float(bool(f.upper)), float(bool(f.lower))
        if face.crop is not None:
            item.crop_index = ws.es.crop_store.add(face.crop)
    return ws


# -- metrics ---------------------------------------------------------------------------------------


def _rate(flags) -> dict:
    n, k = len(flags), int(sum(bool(f) for f in flags))
    return {"n": n, "k": k, "rate": k / n if n else None}


def wild_metrics(ws: WildSet, k: int, threshold: float) -> dict:
    """The benchmark's numbers for model ``k`` at ``threshold`` (a face is flagged when its score >= threshold)."""
    es, sel = ws.es, scored_mask(ws.es)
    scores = es.preds[k].scores
    fp: dict = {
        "all": [],
        "source": defaultdict(list),
        "gender": defaultdict(list),
        "age": defaultdict(list),
        "eyeglasses": [],
    }
    tp, by_type = [], defaultdict(list)
    hits: dict[str, list[bool]] = {"upper": [], "lower": []}
    pos, neg, y, flagged, groups = [], [], [], [], []
    for i, row in enumerate(ws.rows):
        if not sel[i]:
            continue
        f, s4 = bool(scores[i] >= threshold), round(float(scores[i]), 4)
        y.append(row.occluded)
        flagged.append(f)
        groups.append(row.group)
        if row.occluded:
            pos.append(s4)
            tp.append(f)
            for t in row.types:
                if t != "eyeglasses":
                    by_type[t].append(f)
            if row.where in ("upper", "lower", "both"):
                hits["upper"].append(bool(ws.upper[k][i]) == (row.where in ("upper", "both")))
                hits["lower"].append(bool(ws.lower[k][i]) == (row.where in ("lower", "both")))
        else:
            neg.append(s4)
            fp["all"].append(f)
            fp["source"][row.source or UNKNOWN].append(f)
            fp["gender"][row.group or UNKNOWN].append(f)
            fp["age"][row.age_band].append(f)
            if "eyeglasses" in row.types:
                fp["eyeglasses"].append(f)
    return _summarise(ws, sel, threshold, fp, tp, by_type, hits, pos, neg, y, flagged, groups)


def _summarise(ws, sel, threshold, fp, tp, by_type, hits, pos, neg, y, flagged, groups) -> dict:
    band_order = [b[2] for b in AGE_BANDS] + [UNKNOWN]
    clean = {
        "all": _rate(fp["all"]),
        "source": {s: _rate(v) for s, v in sorted(fp["source"].items())},
        "gender": {g: _rate(v) for g, v in sorted(fp["gender"].items())},
        "age": {b: _rate(fp["age"][b]) for b in band_order if b in fp["age"]},
        "eyeglasses": _rate(fp["eyeglasses"]),
    }
    types = sorted(by_type, key=lambda t: (WILD_TYPES.index(t) if t in WILD_TYPES else 99, t))
    tpr = {"all": _rate(tp), "type": {t: _rate(by_type[t]) for t in types}}
    t, f = tpr["all"]["rate"], clean["all"]["rate"]
    g = np.array(groups, dtype=object).astype(str) if groups else np.array([], str)
    known = g != ""
    fair = M.fairness(np.array(y, bool)[known], np.array(flagged, bool)[known], g[known])
    gender_fpr = [r["rate"] for name, r in clean["gender"].items() if name != UNKNOWN and r["rate"] is not None]
    status = [it.status for it in ws.es.items]
    counts = {
        "sure": len(ws.rows),
        "unsure_left_out": ws.unsure,
        "scored": int(sel.sum()),
        "no_face": status.count(STATUS_NO_FACE) + status.count(STATUS_ERROR),
        "unreadable": status.count(STATUS_ERROR),
        "unassessed": status.count(STATUS_NOT_ASSESSABLE),
    }
    auc = M.roc_auc([1] * len(pos) + [0] * len(neg), pos + neg) if pos and neg else None
    return {
        "threshold": float(threshold),
        "counts": counts,
        "clean_fpr": clean,
        "tpr": tpr,
        "where": {"upper": _rate(hits["upper"]), "lower": _rate(hits["lower"])},
        "auc": auc,
        "balanced_accuracy": None if t is None or f is None else (t + 1 - f) / 2,
        "fairness": fair,
        "gender_fpr_gap": float(max(gender_fpr) - min(gender_fpr)) if len(gender_fpr) >= 2 else None,
    }


def headline(w: dict) -> dict:
    """The wild numbers compared between models: ``name: value``."""
    out = {
        "clean FPR": w["clean_fpr"]["all"]["rate"],
        "TPR": w["tpr"]["all"]["rate"],
        "AUC": w["auc"],
        "balanced accuracy": w["balanced_accuracy"],
        "gender fairness score": w["fairness"]["score"],
        "gender gap in clean FPR": w["gender_fpr_gap"],
        "upper accuracy": w["where"]["upper"]["rate"],
        "lower accuracy": w["where"]["lower"]["rate"],
        "clean FPR, eyeglasses": w["clean_fpr"]["eyeglasses"]["rate"],
    }
    return out


# -- text -------------------------------------------------------------------------------------------


def _r(x: dict | None) -> str:
    if not x or not x["n"]:
        return "nan"
    return f"{x['rate']:.3f} ({x['k']}/{x['n']})"


def _f(v) -> str:
    return "nan" if v is None else f"{v:.3f}"


def score_lines(w: dict) -> list[str]:
    """The first three lines as the reference scorer prints them (same keys, order and rounding), then the rest."""
    c = w["clean_fpr"]
    fp = {"all": c["all"], **c["source"], **{f"gender:{g}": r for g, r in c["gender"].items()}}
    if c["eyeglasses"]["n"]:
        fp["eyeglasses"] = c["eyeglasses"]
    tp = {"all": w["tpr"]["all"], **w["tpr"]["type"]}
    n = w["counts"]
    fair = w["fairness"]
    errs = ", ".join(f"{g} {_f(v['error'])}" for g, v in fair["groups"].items())
    return [
        "clean FPR: " + ", ".join(f"{k} {_r(v)}" for k, v in sorted(fp.items())),
        "TPR: " + ", ".join(f"{k} {_r(v)}" for k, v in sorted(tp.items())),
        f"AUC {_f(w['auc'])}  balanced acc {_f(w['balanced_accuracy'])}  no face {n['no_face']}  "
        f"unassessed {n['unassessed']}",
        "clean FPR by age: " + ", ".join(f"{b} {_r(v)}" for b, v in c["age"].items()),
        f"upper accuracy {_r(w['where']['upper'])}, lower accuracy {_r(w['where']['lower'])} (sure occluded faces "
        f"with 'where')",
        f"gender fairness {_f(fair['score'])} (error {errs}), gender gap in clean FPR {_f(w['gender_fpr_gap'])}; "
        f"{n['sure']} sure photos, {n['unsure_left_out']} unsure left out",
    ]


def wild_sections(r: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables of the wild benchmark, one column per model (first in the report)."""
    ms = [m for m in r["metrics"].values() if m.get("wild")]
    if not ms:
        return []
    names, ws = [m["model"] for m in ms], [m["wild"] for m in ms]
    split = r.get("info", {}).get("split", "")
    diff = ["diff (b - a)"] if len(ws) == 2 else []
    c = ws[0]["counts"]
    out = [
        (
            f"Wild benchmark ({split} split): the largest face of each real photo; unsure labels left out",
            ["sure photos", "unsure (left out)", "scored", "no face", "unassessed"],
            [[str(c["sure"]), str(c["unsure_left_out"]), str(c["scored"]), str(c["no_face"]), str(c["unassessed"])]],
        )
    ]
    heads = [headline(w) for w in ws]
    rows = [[key] + [_f(h[key]) for h in heads] + _diff([h[key] for h in heads]) for key in heads[0]]
    out.append(("Wild: headline", ["metric"] + names + diff, rows))

    def table(pairs):
        return [
            [name, str(rs[0]["n"] if rs[0] else 0)]
            + [_r(x) for x in rs]
            + _diff([x["rate"] if x else None for x in rs])
            for name, rs in pairs
        ]

    cl = [w["clean_fpr"] for w in ws]
    pairs = [("all", [x["all"] for x in cl])]
    for key in ("source", "gender", "age"):
        pairs += [(f"{key}: {v}", [x[key].get(v) for x in cl]) for v in cl[0][key]]
    pairs.append(("eyeglasses", [x["eyeglasses"] for x in cl]))
    out.append(
        ("Wild: clean-face false-positive rate (clean faces flagged)", ["faces", "n"] + names + diff, table(pairs))
    )
    pairs = [("all", [w["tpr"]["all"] for w in ws])] + [
        (t, [w["tpr"]["type"].get(t) for w in ws]) for t in ws[0]["tpr"]["type"]
    ]
    out.append(("Wild: TPR per occluder type (occlusions caught)", ["type", "n"] + names + diff, table(pairs)))
    pairs = [(f"{p} (where = {p} or both)", [w["where"][p] for w in ws]) for p in ("upper", "lower")]
    out.append(
        ("Wild: upper / lower face right, sure occluded faces with 'where'", ["part", "n"] + names + diff, table(pairs))
    )
    groups = list(ws[0]["fairness"]["groups"])
    rows = [
        [f"error[{g}]", str(ws[0]["fairness"]["groups"][g]["n"])]
        + [_f(w["fairness"]["groups"][g]["error"]) for w in ws]
        for g in groups
    ]
    rows.append(["fairness score", ""] + [_f(w["fairness"]["score"]) for w in ws])
    out.append(
        (
            "Wild: gender fairness (Err_a+Err_b)/2 + |Err_a-Err_b| over sure faces, lower is better",
            ["", "n"] + names,
            rows,
        )
    )
    return out


def _diff(values: list) -> list[str]:
    if len(values) != 2:
        return []
    a, b = values
    return ["n/a" if a is None or b is None else f"{b - a:+.3f}"]


# -- gallery ----------------------------------------------------------------------------------------


def plot_wild_gallery(ws: WildSet, k: int, threshold: float, out: Path, n: int = 8) -> dict:
    """``wild_worst_errors.png``: the highest-scored clean faces flagged, then the lowest-scored occluded faces
    missed."""
    fn, fp = worst_errors(ws.es, k, threshold, n=n)
    p = ws.es.preds[k]
    scores = p.scores

    def caption(i):
        row = ws.rows[i]
        top = max(OCCLUDING_TYPES, key=lambda t: p.occluders[i, OCCLUDER_TYPES.index(t)])  # the strongest head, shown
        return f"{'FP' if i in fp else 'FN'} {row.source} {row.label}\n{scores[i]:.2f} {top}"

    title = (
        f"wild worst errors ({p.model} @ {threshold:.3f}): clean faces with the highest scores (FP), "
        f"occluded faces with the lowest (FN)"
    )
    if plot_gallery(ws.es, fp + fn, scores, out / "wild_worst_errors.png", title, cols=n, caption=caption):
        return {"wild_worst_errors": "wild_worst_errors.png"}
    return {}


def gallery_list(ws: WildSet, k: int, threshold: float, n: int = 8) -> dict:
    fn, fp = worst_errors(ws.es, k, threshold, n=n)
    s = ws.es.preds[k].scores

    def row(i):
        return {"path": ws.rows[i].rel, "source": ws.rows[i].source, "label": ws.rows[i].label, "score": float(s[i])}

    return {"false_positives": [row(i) for i in fp], "false_negatives": [row(i) for i in fn]}
