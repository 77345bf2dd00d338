"""faceocc evaluate / audit: metrics against hand-computed values, reports from a tiny generated dataset, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceocc.cli import app
from faceocc.evaluate import metrics as M

runner = CliRunner()

# y: 4 occluded, 4 not; at 0.5: TP 0.9 0.8 0.7, FN 0.3, FP 0.6, TN 0.4 0.2 0.1
Y = [1, 1, 1, 0, 0, 0, 1, 0]
S = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.7, 0.4]


# -- metrics, by hand ------------------------------------------------------------------------------


def test_binary_metrics_by_hand():
    m = M.binary_metrics(Y, S, 0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 1, 3, 1)
    for key in ("tpr", "recall", "precision", "f1", "accuracy", "balanced_accuracy"):
        assert m[key] == pytest.approx(0.75), key
    assert m["fpr"] == pytest.approx(0.25)
    # ROC-AUC: of the 16 (positive, negative) pairs, 14 are ordered right (0.3 beats only 0.2 and 0.1)
    assert m["roc_auc"] == pytest.approx(14 / 16)
    # AP: precision at each positive in score order: 1, 1, 1, 4/6
    assert m["pr_auc"] == pytest.approx((3 + 4 / 6) / 4)


def test_auc_ties_and_degenerate_cases():
    assert M.roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert M.roc_auc([1, 1, 0], [0.2, 0.9, 0.5]) == pytest.approx(0.5)
    assert M.roc_auc([1, 1], [0.2, 0.3]) is None  # one class
    assert M.average_precision([0, 0], [0.2, 0.3]) is None
    r = M.rates(M.confusion_counts([0, 0], [0, 0]))
    assert r["tpr"] is None and r["fpr"] == 0.0 and r["precision"] is None


def test_roc_curve_points():
    fpr, tpr, thr = M.roc_curve([1, 0, 1, 0], [0.8, 0.8, 0.6, 0.1])
    assert thr[0] == np.inf and list(thr[1:]) == [0.8, 0.6, 0.1]
    assert list(tpr) == [0, 0.5, 1, 1] and list(fpr) == [0, 0.5, 0.5, 1]


def test_pick_threshold_for_target_tpr_and_fpr():
    p = M.pick_threshold(Y, S, target_tpr=0.75)
    assert p["threshold"] == pytest.approx(0.7) and p["tpr"] == 0.75 and p["fpr"] == 0.0
    p = M.pick_threshold(Y, S, target_tpr=1.0)
    assert p["threshold"] == pytest.approx(0.3) and p["fpr"] == 0.5
    p = M.pick_threshold(Y, S, target_fpr=0.25)
    assert p["threshold"] == pytest.approx(0.6) and p["tpr"] == 0.75 and p["fpr"] == 0.25
    p = M.pick_threshold(Y, S, target_fpr=0.0)
    assert p["threshold"] == pytest.approx(0.7)
    with pytest.raises(ValueError):
        M.pick_threshold([1, 1], [0.1, 0.2], target_tpr=0.9)
    with pytest.raises(ValueError):
        M.pick_threshold(Y, S)


def test_sweep_confusion_parts_coverage_fairness_calibration():
    sweep = M.threshold_sweep(Y, S, [0.0, 0.5, 1.0])
    assert [(r["tpr"], r["fpr"]) for r in sweep] == [(1.0, 1.0), (0.75, 0.25), (0.0, 0.0)]

    cm = M.confusion_matrix(
        ["clean", "mask", "mask", "hand"], ["clean", "mask", "clean", "mask"], ["clean", "mask", "hand"]
    )
    assert cm["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]

    names = ("right_eye", "left_eye", "nose", "mouth", "chin")
    true = [[0.5, 0, 0, 0, 0], [0.4, 0.4, 0, 0, 0], [0, 0, 0, 0, 0]]
    pred = [[0.6, 0, 0, 0, 0], [0.1, 0.5, 0, 0, 0], [0.35, 0, 0, 0, 0]]
    f = M.per_part_f1(true, pred, names, 0.3)
    assert f["right_eye"]["f1"] == pytest.approx(0.5)  # TP 1, FP 1, FN 1
    assert f["left_eye"]["f1"] == pytest.approx(1.0)
    assert f["nose"]["f1"] is None and f["macro_f1"] == pytest.approx(0.75)

    c = M.coverage_errors([0.0, 0.5], [0.1, 0.3])
    assert c["mae"] == pytest.approx(0.15)
    # w = 1/30 and 16/30; sum w e^2 = (0.01 + 16 * 0.04) / 30 ; sum w = 17/30
    assert c["weighted_mse"] == pytest.approx(0.65 / 17)

    fair = M.fairness([1, 0, 1, 0, 1, 1], [1, 0, 0, 0, 0, 0], ["a", "a", "a", "a", "b", "b"])
    assert fair["groups"]["a"]["error"] == pytest.approx(0.25) and fair["groups"]["b"]["error"] == pytest.approx(1.0)
    assert fair["score"] == pytest.approx((0.25 + 1.0) / 2 + 0.75)

    cal = M.calibration([1, 0, 0, 1], [0.9, 0.7, 0.2, 0.1], bins=2)
    # bin [0, .5): mean score .15, fraction .5; bin [.5, 1]: .8 vs .5 -> ECE .5*.35 + .5*.3
    assert cal["ece"] == pytest.approx(0.325) and cal["mce"] == pytest.approx(0.35)
    assert M.calibration([1, 0], [1.0, 0.0], bins=10)["ece"] == pytest.approx(0.0)


def test_compute_metrics_on_hand_made_predictions():
    from faceocc.datasets import label_targets
    from faceocc.evaluate.collect import CropStore, EvalSet, Item, Predictions
    from faceocc.evaluate.report import compare, compute_metrics

    labels = ["mask", "mask", "hand", "clean", "clean", "eyeglasses", "sunglasses", "clean"]
    groups = ["a", "a", "b", "a", "b", "b", "a", "b"]
    items = []
    for lab, g in zip(labels, groups):
        occ, types, w = label_targets(lab)
        items.append(
            Item(
                path=f"{lab}.jpg",
                label=lab,
                group=g,
                source="s1" if g == "a" else "s2",
                true_occluded=bool(occ),
                true_types=types,
                type_weights=w,
            )
        )
    items.append(Item(path="none.jpg", label="clean", status="no_face", message="no face found"))
    p = Predictions.empty("m", len(items))
    occ_rows = {
        "mask": [0.9, 0, 0, 0, 0],
        "hand": [0, 0, 0, 0.2, 0.1],
        "clean": [0, 0, 0, 0, 0],
        "eyeglasses": [0, 0, 0.8, 0, 0],
        "sunglasses": [0, 0.7, 0, 0, 0],
    }
    for i, s in enumerate(S):
        p.set(i, s, occ_rows[labels[i]], [0] * 5, 0.0)
    es = EvalSet(items, [p], CropStore(), "photos")
    m = compute_metrics(es, 0, threshold=0.5)
    assert m["n_scored"] == 8 and m["overall"]["tpr"] == pytest.approx(0.75)
    cats = m["per_category"]
    assert cats["mask"]["tpr"] == 1.0 and cats["hand"]["tpr"] == 0.0 and cats["sunglasses"]["tpr"] == 1.0
    assert cats["clean"]["fpr"] == pytest.approx(1 / 3) and cats["eyeglasses"]["fpr"] == 0.0
    assert m["occluder_types"]["mask"]["tpr"] == 1.0 and m["occluder_types"]["mask"]["fpr"] == 0.0
    assert m["occluder_types"]["hand"]["tpr"] == 0.0
    cm = m["confusion_matrix"]
    assert cm["matrix"][cm["rows"].index("eyeglasses")][cm["cols"].index("eyeglasses")] == 1
    assert cm["matrix"][cm["rows"].index("mask")][cm["cols"].index("mask")] == 2
    # group a: mask .9 ok, mask .8 ok, clean .6 wrong, sunglasses .7 ok -> .25; b: hand .3 wrong, .2 .1 .4 ok -> .25
    assert m["fairness"]["score"] == pytest.approx(0.25)
    assert set(m["per_source"]) == {"s1", "s2"}

    # the same predictions judged at 0.65 instead of 0.5: the 0.6 clean face is no longer flagged, nothing else changes.
    # By hand at 0.65: TP 3 (0.9 0.8 0.7), FN 1 (0.3), FP 0, TN 4 -> tpr .75, fpr 0, precision 1, f1 6/7, accuracy 7/8
    m65 = compute_metrics(es, 0, threshold=0.65)
    d = compare(m, m65)
    assert d["fpr"] == {
        "a": pytest.approx(0.25),
        "b": 0.0,
        "diff": pytest.approx(-0.25),
        "better": "b",
    }  # lower is better
    assert d["precision"]["diff"] == pytest.approx(0.25) and d["precision"]["better"] == "b"
    assert d["f1"]["b"] == pytest.approx(6 / 7) and d["f1"]["diff"] == pytest.approx(6 / 7 - 0.75)
    assert d["accuracy"]["diff"] == pytest.approx(0.125) and d["accuracy"]["better"] == "b"
    assert d["fpr[clean]"]["diff"] == pytest.approx(-1 / 3) and d["fpr[clean]"]["better"] == "b"
    assert d["tpr"] == {"a": 0.75, "b": 0.75, "diff": 0.0, "better": None}  # no positive crosses 0.65
    assert d["roc_auc"]["diff"] == 0.0 and d["roc_auc"]["a"] == pytest.approx(14 / 16)  # ranking metrics: no threshold
    d = compare(m65, m)  # the other way round: the signs and the winner turn
    assert d["fpr"]["diff"] == pytest.approx(0.25) and d["fpr"]["better"] == "a"
    assert d["precision"]["diff"] == pytest.approx(-0.25) and d["precision"]["better"] == "a"


# -- a tiny generated dataset (the tiny_dataset fixture in conftest.py) -------------------------------------


def test_evaluate_report_threshold_and_compare(tiny_dataset, tmp_path):
    out = tmp_path / "report"
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(tiny_dataset / "manifest.csv"),
            "--out",
            str(out),
            "--pick-threshold",
            "tpr=0.5",
            "--compare",
            "faceocc_mbv2_112_int8.onnx",
            "--threads",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["items"] == 10 and report["counts"]["ok"] == 9 and report["counts"]["no_face"] == 1
    assert report["not_scored"][0]["path"].endswith("blank.png") and "no face" in report["not_scored"][0]["reason"]
    names = report["models"]
    assert len(names) == 2 and names[0] != names[1]
    m = report["metrics"][names[0]]
    assert m["overall"]["n"] == 9 and m["overall"]["positives"] == 6
    assert set(m["per_category"]) == {"clean", "mask", "sunglasses"}
    assert "coverage" in m and "fairness" in m and set(m["per_source"]) == {"gen", "gen2"}
    # the same model twice, scored in two runs: every compared metric agrees (and the comparison is not empty)
    cmp = report["compare"]["metrics"]
    assert all(v["diff"] in (0, None) for v in cmp.values())
    assert cmp["tpr"]["a"] == cmp["tpr"]["b"] == m["overall"]["tpr"] is not None and cmp["tpr"]["diff"] == 0
    assert cmp["roc_auc"]["a"] == cmp["roc_auc"]["b"] == report["metrics"][names[1]]["overall"]["roc_auc"] is not None
    for f in (
        "report.md",
        "predictions.csv",
        "not_scored.csv",
        "roc.png",
        "pr.png",
        "calibration.png",
        "confusion.png",
    ):
        assert (out / f).is_file(), f
    md = (out / "report.md").read_text()
    assert "Per category" in md and "Comparison" in md and "blank.png" in md
    thr = json.loads((out / "threshold.json").read_text())
    assert 0.0 <= thr["threshold"] <= 1.0 and thr["tpr"] >= 0.5
    with open(out / "predictions.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 10

    # faceocc analyze reads the picked threshold
    res = runner.invoke(
        app,
        ["analyze", str(tiny_dataset / "img" / "clean0.jpg"), "--threshold-file", str(out / "threshold.json"), "-q"],
    )
    assert res.exit_code == 0, res.output

    # an existing report folder is never overwritten
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(tiny_dataset / "manifest.csv"),
            "--out",
            str(out),
            "--split",
            "train",
            "--format",
            "html",
            "--no-plots",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report-1" / "report.html").is_file()
    assert json.loads((out / "report.json").read_text())["counts"]["items"] == 10


def _write_cache(root: Path, dataset: Path, absolute: bool = False) -> Path:
    """A crop cache as `faceocc prepare` writes it, from the tiny dataset (no process pool); ``absolute``: index paths
    are absolute, as when `prepare` was given an absolute manifest path."""
    from faceocc.prepare import prepare_image

    cache = root / ("cache_abs" if absolute else "cache")
    cache.mkdir()
    crops, lms, rows = [], [], []
    with open(dataset / "manifest.csv") as fh:
        for r in csv.DictReader(fh):
            p = prepare_image(dataset / r["path"], pad=0.0, fallback=True)
            crops.append(p.crop)
            lms.append(p.landmarks)
            label = "clean" if r["label"] == "no_mask" else r["label"]
            path = str((dataset / r["path"]).resolve()) if absolute else r["path"]
            rows.append(
                {
                    "path": path,
                    "label": label,
                    "split": r["split"],
                    "group": r["group"],
                    "source": r["source"],
                    "det_score": round(p.det_score, 4),
                }
            )
    np.save(cache / "crops.npy", np.stack(crops))
    np.save(cache / "landmarks.npy", np.stack(lms).astype(np.float32))
    with open(cache / "index.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return cache


def test_evaluate_cache_and_synthetic(tiny_dataset, tmp_path):
    cache = _write_cache(tmp_path, tiny_dataset)
    args = ["evaluate", "--cache", str(cache), "--out", str(tmp_path / "c"), "--no-plots", "-q"]
    res = runner.invoke(app, [*args, "--type-threshold", "0.3"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "c" / "report.json").read_text())
    assert rep["mode"] == "cache" and rep["counts"]["no_face"] == 1  # the blank image has only a fallback crop
    # the per-type table states the type threshold it was computed at (it said 0.5 whatever was asked)
    assert "Occluder type heads (score >= 0.3)" in (tmp_path / "c" / "report.md").read_text()

    # a label audit file corrects labels (paths as in the cache index / relative to the dataset root)
    audit = tmp_path / "audit.csv"
    audit.write_text("path,label\nimg/clean0.jpg,hand\nimg/sun0.jpg,eyeglasses\n")
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--cache",
            str(cache),
            "--audit-labels",
            str(audit),
            "--out",
            str(tmp_path / "c2"),
            "--no-plots",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    m = next(iter(json.loads((tmp_path / "c2" / "report.json").read_text())["metrics"].values()))
    assert m["per_category"]["hand"]["n"] == 1 and m["per_category"]["eyeglasses"]["n"] == 1
    # the same audit file applies to a cache whose index holds absolute paths (matched on the audit's path suffix)
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--cache",
            str(_write_cache(tmp_path, tiny_dataset, absolute=True)),
            "--audit-labels",
            str(audit),
            "--out",
            str(tmp_path / "c3"),
            "--no-plots",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    m = next(iter(json.loads((tmp_path / "c3" / "report.json").read_text())["metrics"].values()))
    assert m["per_category"]["hand"]["n"] == 1 and m["per_category"]["eyeglasses"]["n"] == 1
    from faceocc.datasets import apply_audit, load_dataset, read_audit

    records = load_dataset(tiny_dataset / "manifest.csv")
    assert apply_audit(records, read_audit(audit)) == 2
    assert {r.path.name: r.label for r in records}["clean0.jpg"] == "hand"

    import faceocc.synthesis  # noqa: F401 - core: an import error fails the test (it used to be skipped)

    res = runner.invoke(
        app,
        [
            "evaluate",
            "--cache",
            str(cache),
            "--synthetic",
            "--per-face",
            "4",
            "--out",
            str(tmp_path / "s"),
            "--pick-threshold",
            "fpr=0.5",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "s" / "report.json").read_text())
    m = next(iter(rep["metrics"].values()))
    assert rep["mode"] == "synthetic" and rep["counts"]["ok"] == 12  # 3 clean test faces x 4 (blank: no face)
    assert m["per_kind"] and "parts" in m and "coverage" in m
    assert m["coverage"]["weighted_mse"] is not None and m["coverage"]["n"] == 12
    assert "Synthetic occlusions per recipe" in (tmp_path / "s" / "report.md").read_text()


def test_audit_ranks_and_draws(tiny_dataset, tmp_path):
    res = runner.invoke(
        app, ["audit", str(tiny_dataset / "manifest.csv"), "--out", str(tmp_path / "a"), "--threads", "1"]
    )
    assert res.exit_code == 0, res.output
    with open(tmp_path / "a" / "audit.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 9 and rows[0]["rank"] == "1"
    d = [float(r["disagreement"]) for r in rows]
    assert d == sorted(d, reverse=True)
    assert rows[0]["path"].startswith("img/")  # relative to the dataset root, as a label audit file wants
    assert (tmp_path / "a" / "audit_grid.png").is_file()
    from faceocc.datasets import read_audit

    assert len(read_audit(tmp_path / "a" / "audit.csv")) == 9


# -- bad input fails before any work, naming the line ----------------------------------------------


def _manifest(tmp_path, body):
    p = tmp_path / "m.csv"
    p.write_text("path,label,split\n" + body)
    return p


@pytest.mark.parametrize(
    "body, expect",
    [
        ("img/clean0.jpg,no_mask,test\nimg/missing.jpg,no_mask,test\n", ":3: file not found"),
        ("img/clean0.jpg,wizard_hat,test\n", ":2: unknown label"),
        ("img/clean0.jpg,no_mask\n", ":2: malformed row"),
    ],
)
def test_bad_manifest_names_the_line(tiny_dataset, tmp_path, body, expect):
    m = _manifest(tiny_dataset, body)
    try:
        res = runner.invoke(app, ["evaluate", str(m), "--out", str(tmp_path / "r")])
    finally:
        m.unlink()
    assert res.exit_code == 2 and expect in res.output
    assert not (tmp_path / "r").exists()


def test_not_a_model_and_bad_options(tiny_dataset, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    res = runner.invoke(app, ["evaluate", str(tiny_dataset / "manifest.csv"), "--model", str(bad)])
    assert res.exit_code == 2 and "not a readable ONNX model" in res.output
    from faceocc.detection import DETECTOR_PATH

    res = runner.invoke(app, ["audit", str(tiny_dataset / "manifest.csv"), "--model", str(DETECTOR_PATH)])
    assert res.exit_code == 2 and "not a faceocc occlusion model" in res.output
    res = runner.invoke(app, ["evaluate", str(tiny_dataset / "manifest.csv"), "--pick-threshold", "tpr=2"])
    assert res.exit_code == 2 and "tpr=VALUE" in res.output
    res = runner.invoke(app, ["evaluate"])
    assert res.exit_code == 2 and "DATASET" in res.output


def test_pick_threshold_with_a_gap_term_raises_the_threshold_until_the_groups_agree():
    # 10 clean faces per group; women's clean faces score higher, so at the FPR pick women are flagged more often
    y = np.array([0] * 20 + [1] * 4)
    s = np.array([0.1] * 9 + [0.5] + [0.1] * 6 + [0.5, 0.55, 0.6, 0.7] + [0.8, 0.9, 0.95, 0.99])
    groups = np.array(["male"] * 10 + ["female"] * 10 + ["male"] * 4, dtype=object)
    plain = M.pick_threshold(y, s, target_fpr=0.25)
    assert plain["threshold"] == pytest.approx(0.5) and plain["fpr"] == pytest.approx(0.25)
    gap, fprs = M.group_fpr_gap(y, s, groups, plain["threshold"])
    assert gap == pytest.approx(0.3) and fprs == {"male": pytest.approx(0.1), "female": pytest.approx(0.4)}
    fair = M.pick_threshold(y, s, target_fpr=0.25, groups=groups, max_gap=0.1)
    # 0.55: male 0.0, female 0.3; 0.6: 0.0 / 0.2; 0.7: 0.0 / 0.1 -> the lowest threshold within 10 points
    assert fair["threshold"] == pytest.approx(0.7) and fair["gap_reached"]
    assert fair["gap"] == pytest.approx(0.1) and fair["target"] == {"fpr": 0.25, "gap": 0.1}
    assert fair["fpr"] == pytest.approx(0.05) and fair["tpr"] == 1.0
    unreachable = M.pick_threshold(y, s, target_fpr=0.25, groups=["x"] * 24, max_gap=0.0)
    assert unreachable["threshold"] == plain["threshold"] and unreachable["gap"] == 0.0  # one group: no gap


def test_pick_threshold_target_parses_a_gap_term():
    import typer

    from faceocc.cli.evaluate import parse_target

    assert parse_target("fpr=0.02,gap=0.01") == {"target_fpr": 0.02, "max_gap": 0.01}
    assert parse_target("tpr=0.9") == {"target_tpr": 0.9}
    with pytest.raises(typer.Exit):
        parse_target("gap=0.01")
