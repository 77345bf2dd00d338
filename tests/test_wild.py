"""faceocc evaluate --wild: the wild benchmark on a tiny wild-style folder built here (no shared data needed).

The photos are the bundled astronaut examples, whose scores are far from the threshold the tests use (0.6): clean
astronauts score 0.29-0.44, the hand, mask and sunglasses ones and the hand face of group.jpg 0.93-0.99.
"""

from __future__ import annotations

import bisect
import collections
import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faceocc.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANIFEST = [
    "path",
    "label",
    "source",
    "split",
    "width",
    "height",
    "group",
    "age",
    "race",
    "expression",
    "identity",
    "original",
]
LABELS = ["path", "occluded", "types", "where", "sure"]

# name, image, source, group, age, occluded, types, where, sure  (test split)
TEST_ROWS = [
    ("ff_clean.png", "astronaut", "fairface", "female", "30-39", 0, "", "", 1),
    ("ff_glasses.png", "flipped", "fairface", "male", "20-29", 0, "eyeglasses", "", 1),
    (
        "ff_wrong.jpg",
        "astronaut_hand",
        "fairface",
        "male",
        "3-9",
        0,
        "",
        "",
        1,
    ),  # a clean label on a hand: a false positive
    ("lfw_sun.jpg", "astronaut_sunglasses", "lfw", "female", "", 1, "sunglasses", "upper", 1),
    ("lfw_hand.jpg", "astronaut_hand", "lfw", "male", "", 1, "hand", "lower", 1),
    ("utk_mask.jpg", "astronaut_mask", "utkface", "female", "61", 1, "mask", "lower", 1),
    ("utk_hair.png", "gray", "utkface", "male", "8", 1, "hair+eyeglasses", "upper", 1),  # a clean face: a miss
    ("yb_clean.png", "gray", "yaleb", "", "", 0, "", "", 1),
    ("ex_group.jpg", "group", "expressions", "female", "", 1, "hand+object", "lower", 1),  # largest face: the hand
    ("ff_unsure.jpg", "astronaut_mask", "fairface", "female", "", 0, "", "", 0),  # would be a false positive: left out
    ("lfw_blank.png", "blank", "lfw", "male", "", 0, "", "", 1),  # no face
]
VAL_ROWS = [
    ("v_clean.png", "astronaut", "fairface", "female", "40", 0, "", "", 1),
    ("v_flip.png", "flipped", "lfw", "male", "", 0, "", "", 1),
    ("v_mask.jpg", "astronaut_mask", "lfw", "female", "", 1, "mask", "lower", 1),
    ("v_hand.jpg", "astronaut_hand", "utkface", "male", "25", 1, "hand", "lower", 1),
    ("v_unsure.jpg", "astronaut_mask", "fairface", "female", "", 0, "", "", 0),  # would force a threshold above 0.98
]


def _image(kind: str, astronaut: np.ndarray) -> np.ndarray | None:
    if kind == "astronaut":
        return astronaut
    if kind == "flipped":
        return np.ascontiguousarray(astronaut[:, ::-1])
    if kind == "gray":
        return np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    if kind == "blank":
        return np.full((200, 200, 3), 127, np.uint8)
    return None  # a bundled example, copied as it is


@pytest.fixture(scope="module")
def wild_dir(tmp_path_factory, astronaut):
    """DATA/wild/{manifest.csv, test_labels.csv, val_labels.csv, <source>/<split>/*}; paths relative to DATA."""
    data = tmp_path_factory.mktemp("data")
    wild = data / "wild"
    manifest = [("wild/fairface/train/t0.png", "fairface", "train", "male", "", "astronaut")]
    labels = {"test": [], "val": []}
    for split, rows in (("test", TEST_ROWS), ("val", VAL_ROWS)):
        for name, kind, source, group, age, occ, types, where, sure in rows:
            rel = f"wild/{source}/{split}/{name}"
            manifest.append((rel, source, split, group, age, kind))
            labels[split].append((rel, occ, types, where, sure))
    for rel, _source, _split, _group, _age, kind in manifest:
        dest = data / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        img = _image(kind, astronaut)
        if img is None:
            shutil.copy(EXAMPLES / f"{kind}.jpg", dest)
        else:
            cv2.imwrite(str(dest), img[:, :, ::-1])
    with open(wild / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MANIFEST)
        for rel, source, split, group, age, kind in manifest:
            w.writerow([rel, "unlabeled", source, split, 512, 512, group, age, "", "", "", kind])
    for split, rows in labels.items():
        with open(wild / f"{split}_labels.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(LABELS)
            w.writerows(rows)
    return wild


def _run(args):
    res = runner.invoke(app, ["evaluate", *args, "--threads", "1"])
    assert res.exit_code == 0, res.output
    return res, json.loads(res.stdout.strip().splitlines()[-1])


def _rate(x):
    return (x["k"], x["n"])


def test_wild_numbers_by_hand(wild_dir, tmp_path):
    out = tmp_path / "r"
    # a fixed detection size: the hand-computed numbers below depend on the scores' order (a tie in the AUC)
    res, summary = _run(
        ["--wild", str(wild_dir), "--split", "test", "--threshold", "0.6", "--out", str(out), "--det-size", "320"]
    )
    report = json.loads((out / "report.json").read_text())
    w = next(iter(report["metrics"].values()))["wild"]
    assert w["counts"] == {
        "sure": 10,
        "unsure_left_out": 1,
        "scored": 9,
        "no_face": 1,
        "unreadable": 0,
        "unassessed": 0,
    }
    c = w["clean_fpr"]
    assert _rate(c["all"]) == (1, 4)  # ff_unsure (a mask labelled clean, sure=0) is not counted
    assert {s: _rate(v) for s, v in c["source"].items()} == {"fairface": (1, 3), "yaleb": (0, 1)}
    assert {g: _rate(v) for g, v in c["gender"].items()} == {"female": (0, 1), "male": (1, 2), "unknown": (0, 1)}
    assert {b: _rate(v) for b, v in c["age"].items()} == {"0-9": (1, 1), "20-39": (0, 2), "unknown": (0, 1)}
    assert _rate(c["eyeglasses"]) == (0, 1)
    t = w["tpr"]
    assert _rate(t["all"]) == (4, 5)
    assert {k: _rate(v) for k, v in t["type"].items()} == {
        "hand": (2, 2),
        "hair": (0, 1),
        "object": (1, 1),
        "sunglasses": (1, 1),
        "mask": (1, 1),
    }  # no eyeglasses type
    # upper: sunglasses right, hand (predicted upper and lower, labelled lower) wrong, mask right, the missed hair
    # (nothing predicted) wrong, group.jpg's hand face (lower) right; lower: all five right
    assert _rate(w["where"]["upper"]) == (3, 5) and _rate(w["where"]["lower"]) == (5, 5)
    # errors: female 0 of 4; male 2 of 4 (ff_wrong, utk_hair): (0 + 0.5) / 2 + |0 - 0.5|
    fair = w["fairness"]
    assert fair["groups"]["female"] == {"n": 4, "error": 0.0} and fair["groups"]["male"] == {"n": 4, "error": 0.5}
    assert fair["score"] == pytest.approx(0.75)
    assert w["gender_fpr_gap"] == pytest.approx(0.5)
    assert w["balanced_accuracy"] == pytest.approx((0.8 + 0.75) / 2)
    # AUC over the 5 x 4 (occluded, clean) pairs of sure scored faces, counted here pair by pair (ties count half);
    # the pairs' order depends on the shipped model's scores, the count on the scorer
    import csv as _csv

    rows = [r for r in _csv.DictReader(open(out / "predictions.csv")) if r["status"] == "ok"]
    sure = {r["path"] for r in _csv.DictReader(open(wild_dir / "test_labels.csv")) if r["sure"] == "1"}
    rows = [r for r in rows if any(r["path"].endswith(p) for p in sure)]
    pos = [float(r["score"]) for r in rows if r["true_occluded"] == "1"]
    neg = [float(r["score"]) for r in rows if r["true_occluded"] == "0"]
    assert (len(pos), len(neg)) == (5, 4)
    pairs = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    assert w["auc"] == pytest.approx(pairs / 20, abs=1e-6)
    assert summary["fpr"] == pytest.approx(0.25) and summary["tpr"] == pytest.approx(0.8)
    assert "clean FPR: all 0.250 (1/4), eyeglasses 0.000 (0/1), fairface 0.333 (1/3)" in res.output
    md = (out / "report.md").read_text()
    assert md.index("Wild benchmark") < md.index("## Faces")  # reported first
    assert (out / "wild_worst_errors.png").is_file()
    g = report["wild_galleries"]
    assert [x["path"] for x in g["false_positives"]] == ["wild/fairface/test/ff_wrong.jpg"]
    assert [x["path"] for x in g["false_negatives"]] == ["wild/utkface/test/utk_hair.png"]
    assert report["not_scored"][0]["path"].endswith("lfw_blank.png")


def _reference(labels_csv: Path, preds_jsonl: Path, manifest_csv: Path) -> list[str]:
    """The reference scorer (tools/score_wild.py beside the shared data), condensed: its three printed lines."""
    labels = {Path(r["path"]).name: r for r in csv.DictReader(open(labels_csv))}
    manifest = {Path(r["path"]).name: r for r in csv.DictReader(open(manifest_csv))}
    preds = {Path(json.loads(x)["path"]).name: json.loads(x) for x in open(preds_jsonl)}
    fp, tp, pos, neg, no_face, unassessed = collections.defaultdict(list), collections.defaultdict(list), [], [], 0, 0
    for name, label in labels.items():
        if label["sure"] != "1":
            continue
        faces = (preds.get(name) or {}).get("faces") or []
        if not faces:
            no_face += 1
            continue
        face = max(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
        if face.get("occlusion_score") is None:
            unassessed += 1
            continue
        flagged, m = bool(face["occluded"]), manifest[name]
        if label["occluded"] == "1":
            pos.append(face["occlusion_score"])
            tp["all"].append(flagged)
            for t in label["types"].split("+"):
                if t and t != "eyeglasses":
                    tp[t].append(flagged)
        else:
            neg.append(face["occlusion_score"])
            for key in ("all", m["source"], "gender:" + (m["group"] or "unknown")):
                fp[key].append(flagged)
            if "eyeglasses" in label["types"]:
                fp["eyeglasses"].append(flagged)
    neg = sorted(neg)
    auc = sum(
        bisect.bisect_left(neg, x) + 0.5 * (bisect.bisect_right(neg, x) - bisect.bisect_left(neg, x)) for x in pos
    ) / (len(pos) * len(neg))
    rate = lambda v: f"{sum(v) / len(v):.3f} ({sum(v)}/{len(v)})" if v else "nan"  # noqa: E731
    t, f = sum(tp["all"]) / max(1, len(tp["all"])), sum(fp["all"]) / max(1, len(fp["all"]))
    return [
        "clean FPR: " + ", ".join(f"{k} {rate(v)}" for k, v in sorted(fp.items())),
        "TPR: " + ", ".join(f"{k} {rate(v)}" for k, v in sorted(tp.items())),
        f"AUC {auc:.3f}  balanced acc {(t + 1 - f) / 2:.3f}  no face {no_face}  unassessed {unassessed}",
    ]


def test_wild_matches_the_reference_scorer_on_analyze_output(wild_dir, tmp_path):
    """At the model's own threshold: the same lines as scoring `faceocc analyze --jsonl` output the reference way."""
    from faceocc.evaluate.wild import score_lines

    images = tmp_path / "images"
    images.mkdir()
    with open(wild_dir / "test_labels.csv") as fh:
        for r in csv.DictReader(fh):
            shutil.copy(wild_dir.parent / r["path"], images)
    res = runner.invoke(app, ["analyze", str(images), "--jsonl", str(tmp_path / "pred.jsonl"), "-q", "--threads", "1"])
    assert res.exit_code == 0, res.output
    expected = _reference(wild_dir / "test_labels.csv", tmp_path / "pred.jsonl", wild_dir / "manifest.csv")
    _run([str(wild_dir), "--out", str(tmp_path / "r"), "--no-plots", "-q"])  # a wild folder as DATASET; split test
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["mode"] == "wild" and report["info"]["split"] == "test"
    assert score_lines(next(iter(report["metrics"].values()))["wild"])[:3] == expected


def test_wild_pick_threshold_on_val_alone_and_with_another_dataset(wild_dir, tmp_path):
    res, summary = _run(
        [
            "--wild",
            str(wild_dir),
            "--split",
            "val",
            "--pick-threshold",
            "fpr=0",
            "--out",
            str(tmp_path / "a"),
            "--no-plots",
            "-q",
        ]
    )
    op = json.loads(Path(summary["threshold_file"]).read_text())
    # two clean faces scored below 0.5 and two occluded ones (the unsure mask labelled clean is left out): the
    # threshold is the lower occluded score, the hand example's (0.89 with v0.8.0, 0.95 with v0.7.0)
    assert op["faces"] == 4 and op["fpr"] == 0.0 and op["tpr"] == 1.0 and 0.6 < op["threshold"] < 0.99

    old = tmp_path / "old"
    old.mkdir()
    for name in ("astronaut", "astronaut_hand", "astronaut_mask"):
        shutil.copy(EXAMPLES / f"{name}.jpg", old)
    # a hand labelled no_mask (a clean negative at the hand's score) pushes the joint threshold above it
    (old / "manifest.csv").write_text(
        "path,label,split\nastronaut.jpg,no_mask,val\nastronaut_hand.jpg,no_mask,val\nastronaut_mask.jpg,mask,val\n"
    )
    res, summary = _run(
        [
            str(old / "manifest.csv"),
            "--wild",
            str(wild_dir),
            "--split",
            "val",
            "--pick-threshold",
            "fpr=0",
            "--out",
            str(tmp_path / "b"),
            "--no-plots",
            "-q",
        ]
    )
    joint = json.loads(Path(summary["threshold_file"]).read_text())
    assert joint["faces"] == 7 and joint["fpr"] == 0.0 and joint["tpr"] == pytest.approx(2 / 3)
    assert joint["threshold"] > op["threshold"]
    assert joint["sets"]["wild"] == {"faces": 4, "positives": 2, "tpr": 0.5, "fpr": 0.0}
    assert joint["sets"]["dataset"] == {"faces": 3, "positives": 1, "tpr": 1.0, "fpr": 0.0}
    assert (tmp_path / "b" / "dataset" / "report.md").is_file() and summary["dataset_report"]


def test_wild_compare_html_and_refusals(wild_dir, tmp_path):
    out = tmp_path / "c"
    _run(
        [
            "--wild",
            str(wild_dir),
            "--compare",
            "faceocc_mbv2_112_int8.onnx",
            "--format",
            "html",
            "--threshold",
            "0.6",
            "--out",
            str(out),
        ]
    )
    report = json.loads((out / "report.json").read_text())
    a, b = (report["metrics"][m]["wild"] for m in report["models"])
    assert a["clean_fpr"] == b["clean_fpr"] and a["tpr"] == b["tpr"]  # the same model twice, the same faces
    html = (out / "report.html").read_text()
    assert "Wild: clean-face false-positive rate" in html and "diff (b - a)" in html
    # thresholds are picked on val, never on test; train has no labels
    res = runner.invoke(app, ["evaluate", "--wild", str(wild_dir), "--pick-threshold", "fpr=0.02"])
    assert res.exit_code == 2 and "--split val" in res.output
    res = runner.invoke(app, ["evaluate", "--wild", str(wild_dir), "--split", "train"])
    assert res.exit_code == 2 and "not labelled" in res.output


def test_age_bands_and_largest_face():
    from types import SimpleNamespace

    from faceocc.evaluate.wild import age_band, largest_face

    assert [
        age_band(a) for a in ("3-9", "0-2", "10-19", "20-29", "39", "40-49", "59", "60-69", "more than 70", "116", "")
    ] == ["0-9", "0-9", "10-19", "20-39", "20-39", "40-59", "40-59", "60+", "60+", "60+", "unknown"]
    faces = [SimpleNamespace(box=b) for b in ([0, 0, 10, 10], [50, 50, 70, 61], [0, 0, 12, 20.01], [5, 5, 17, 25])]
    assert largest_face(faces) == 2  # 12 x 20.0 (boxes as the JSON rounds them) ties the last one: the first wins
