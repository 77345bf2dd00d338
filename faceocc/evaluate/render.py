"""Writing a report: report.json, report.md or report.html (the same tables), predictions.csv and not_scored.csv."""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..schema import OCCLUDER_TYPES, PART_NAMES
from .evalset import EvalSet
from .scoring import CATEGORIES
from .wild import wild_sections

Section = tuple[str, list[str], list[list[str]]]


# -- files ----------------------------------------------------------------------------------------------


def write_report(report: dict, out: Path, fmt: str = "md") -> None:
    """report.json and report.md (``fmt`` "md") or report.html in ``out``."""
    (out / "report.json").write_text(json.dumps(report, indent=2))
    text = render_markdown(report) if fmt == "md" else render_html(report)
    (out / f"report.{fmt}").write_text(text)


def write_predictions(es: EvalSet, path: Path, thresholds: Sequence[float]) -> None:
    """One row per item: its truth and status, then per model its score, flagged at its threshold (1/0), the
    occluder type, part and coverage outputs (columns prefixed ``model:`` when there are several models)."""
    fields = [
        "path",
        "label",
        "split",
        "group",
        "source",
        "kind",
        "status",
        "message",
        "n_faces",
        "det_score",
        "true_occluded",
        "true_coverage",
    ]
    for p in es.preds:
        pre = p.model if len(es.preds) > 1 else ""
        fields += [
            f"{pre}{':' if pre else ''}{c}" for c in ("score", "predicted", *OCCLUDER_TYPES, *PART_NAMES, "coverage")
        ]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for i, it in enumerate(es.items):
            row = [
                it.path,
                it.label,
                it.split,
                it.group,
                it.source,
                it.kind,
                it.status,
                it.message,
                it.n_faces,
                _fmt(it.det_score),
                int(it.true_occluded),
                _fmt(it.true_coverage),
            ]
            for p, t in zip(es.preds, thresholds):
                sc = p.scores[i]
                row += [_fmt(sc), "" if not np.isfinite(sc) else int(sc >= t)]
                row += [_fmt(v) for v in p.occluders[i]] + [_fmt(v) for v in p.parts[i]] + [_fmt(p.coverage[i])]
            w.writerow(row)


def _fmt(v) -> str:
    if v is None:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if not np.isfinite(f) else f"{f:.4f}"


def write_not_scored(rows: list[dict], path: Path) -> None:
    """not_scored.csv: ``path,label,status,reason`` of the items that were not scored."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label", "status", "reason"])
        w.writeheader()
        w.writerows(rows)


# -- text -----------------------------------------------------------------------------------------------


def target_text(op: dict) -> str:
    """An operating point's target as text: ``TPR >= 0.9, FPR <= 0.05``."""
    words = {"tpr": "TPR >=", "fpr": "FPR <=", "gap": "gender FPR gap <="}
    return ", ".join(f"{words.get(k, k)} {v}" for k, v in op["target"].items())


def _v(x, pct: bool = False) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{100 * x:.1f}%" if pct else f"{x:.4f}"
    return str(x)


def sections(r: dict) -> list[Section]:
    """(title, header, rows) tables shared by the Markdown and HTML renderers; the wild benchmark's, when there is
    one, come first."""
    ms = list(r["metrics"].values())
    names = [m["model"] for m in ms]
    out = [
        _faces_section(r["counts"]),
        _overall_section(ms, names),
        _category_section(ms, names),
        _types_section(ms, names),
    ]
    out += _truth_sections(ms, names)
    out += [_source_section(ms), _sweep_section(ms, names)]
    if "compare" in r:
        out.insert(2, _compare_section(r["compare"]))
    return wild_sections(r) + out


def _faces_section(c: dict) -> Section:
    return (
        "Faces",
        ["items", "scored", "no face found", "not assessable", "unreadable"],
        [
            [
                str(c["items"]),
                str(c.get("ok", 0)),
                str(c.get("no_face", 0)),
                str(c.get("not_assessable", 0)),
                str(c.get("error", 0)),
            ]
        ],
    )


def _overall_section(ms: list[dict], names: list[str]) -> Section:
    keys = [
        "n",
        "positives",
        "negatives",
        "threshold",
        "tpr",
        "fpr",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "pr_auc",
    ]
    rows = [[k] + [_v(m["overall"].get(k)) for m in ms] for k in keys]
    rows.append(["ece (calibration)"] + [_v(m["calibration"]["ece"]) for m in ms])
    return ("Overall (occluded vs not)", ["metric"] + names, rows)


def _category_section(ms: list[dict], names: list[str]) -> Section:
    rows = []
    for cat in CATEGORIES:
        rs = [m["per_category"].get(cat) for m in ms]
        if not any(rs):
            continue
        first = next(x for x in rs if x)
        rows.append([cat, str(first["n"]), first["rate_name"].upper()] + [_v(x["rate"]) if x else "n/a" for x in rs])
    return ("Per category (TPR: occlusions caught; FPR: clean faces flagged)", ["label", "n", "rate"] + names, rows)


def _types_section(ms: list[dict], names: list[str]) -> Section:
    rows = []
    for t in OCCLUDER_TYPES:
        rs = [m["occluder_types"].get(t) for m in ms]
        if not any(rs):
            continue
        for key in ("tpr", "fpr", "roc_auc"):
            rows.append([t, key] + [_v(x[key]) if x else "n/a" for x in rs])
    at = ms[0].get("type_threshold")  # the --type-threshold used (reports written before it was kept: unknown)
    title = "Occluder type heads" + (f" (score >= {at:g})" if at is not None else "")
    return (title, ["type", "metric"] + names, rows)


def _truth_sections(ms: list[dict], names: list[str]) -> list[Section]:
    """The tables that need truth only some sets have: parts, coverage, synthetic recipes, groups."""
    out = []
    if "parts" in ms[0]:
        rows = [[p] + [_v(m["parts"][p]["f1"]) for m in ms] for p in PART_NAMES]
        rows.append(["macro F1"] + [_v(m["parts"]["macro_f1"]) for m in ms])
        out.append((f"Per-part F1 (covered >= {ms[0]['parts']['threshold']})", ["part"] + names, rows))
    if "coverage" in ms[0]:
        rows = [[k] + [_v(m["coverage"][k]) for m in ms] for k in ("n", "mae", "weighted_mse", "rmse")]
        out.append(("Coverage (weighted MSE: weight 1/30 + true coverage)", ["metric"] + names, rows))
    if "per_kind" in ms[0]:
        rows = []
        for kind, row in ms[0]["per_kind"].items():
            rows.append(
                [kind, str(row["n"]), str(row["occluded"])]
                + [_v(m["per_kind"].get(kind, {}).get("tpr")) for m in ms]
                + [_v(m["per_kind"].get(kind, {}).get("not_occluded_rate")) for m in ms]
            )
        out.append(
            (
                "Synthetic occlusions per recipe (held-out occluders)",
                ["kind", "n", "occluded"] + [f"TPR {n}" for n in names] + [f"not-occluded rate {n}" for n in names],
                rows,
            )
        )
        out.append(
            (
                "Eyeglasses only, reported not occluded",
                ["model", "rate"],
                [[m["model"], _v(m.get("eyeglasses_only_not_occluded_rate"))] for m in ms],
            )
        )
    if "fairness" in ms[0]:
        groups = list(ms[0]["fairness"]["groups"])
        rows = [
            [f"error[{g}]", str(ms[0]["fairness"]["groups"][g]["n"])]
            + [_v(m["fairness"]["groups"][g]["error"]) for m in ms]
            for g in groups
        ]
        rows.append(["fairness score", ""] + [_v(m["fairness"]["score"]) for m in ms])
        out.append(("Groups: fairness (Err_a+Err_b)/2 + |Err_a-Err_b|, lower is better", ["", "n"] + names, rows))
    return out


def _source_section(ms: list[dict]) -> Section:
    rows = []
    for src in ms[0]["per_source"]:
        for m in ms:
            x = m["per_source"].get(src, {})
            rows.append(
                [
                    src,
                    m["model"],
                    str(x.get("n")),
                    _v(x.get("tpr")),
                    _v(x.get("fpr")),
                    _v(x.get("f1")),
                    _v(x.get("roc_auc")),
                ]
            )
    return ("Per source", ["source", "model", "n", "TPR", "FPR", "F1", "ROC-AUC"], rows)


def _sweep_section(ms: list[dict], names: list[str]) -> Section:
    rows = [
        [
            _v(s["threshold"]),
            str(s["tp"]),
            str(s["fp"]),
            str(s["tn"]),
            str(s["fn"]),
            _v(s["tpr"]),
            _v(s["fpr"]),
            _v(s["precision"]),
            _v(s["f1"]),
        ]
        for s in ms[0]["sweep"]
    ]
    return (
        f"Threshold sweep ({names[0]})",
        ["threshold", "TP", "FP", "TN", "FN", "TPR", "FPR", "precision", "F1"],
        rows,
    )


def _compare_section(c: dict) -> Section:
    rows = [
        [k, _v(v["a"]), _v(v["b"]), _v(v["diff"]), v["better"] or ("=" if v["diff"] is not None else "")]
        for k, v in c["metrics"].items()
    ]
    return (f"Comparison: a = {c['a']}, b = {c['b']} (diff = b - a)", ["metric", "a", "b", "diff", "better"], rows)


def render_markdown(r: dict) -> str:
    lines = [
        f"# faceocc evaluation: {r['dataset'] or r['mode']}",
        "",
        f"Models: {', '.join(r['models'])}. Mode: {r['mode']}. "
        f"Created {r['created']} by faceocc {r['faceocc_version']}.",
        "",
    ]
    if r.get("operating_point"):
        op = r["operating_point"]
        lines += [
            f"**Operating point** for target {target_text(op)}: threshold **{op['threshold']:.4f}** "
            f"(TPR {_v(op['tpr'])}, FPR {_v(op['fpr'])}, precision {_v(op['precision'])})"
            + (f", written to `{op['file']}`" if op.get("file") else "")
            + ".",
            "",
        ]
    for title, header, rows in sections(r):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    p = r.get("plots", {})
    if p:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({f})" for name, f in p.items()]
        lines.append("")
    ns = r["not_scored"]
    if ns:
        lines += [f"## Not scored ({len(ns)}; all in not_scored.csv)", ""]
        lines += [f"- `{x['path']}` ({x['label']}): {x['status']}: {x['reason']}" for x in ns[:50]]
        if len(ns) > 50:
            lines.append(f"- ... and {len(ns) - 50} more")
        lines.append("")
    return "\n".join(lines)


def render_html(r: dict) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>faceocc evaluation</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%;margin:4px;border:1px solid #eee}</style></head><body>",
        f"<h1>faceocc evaluation: {e(r['dataset'] or r['mode'])}</h1>",
        f"<p>Models: {e(', '.join(r['models']))}. Mode: {e(r['mode'])}. Created {e(r['created'])}.</p>",
    ]
    if r.get("operating_point"):
        op = r["operating_point"]
        parts.append(
            f"<p><b>Operating point</b> for target {e(target_text(op))}: threshold <b>{op['threshold']:.4f}</b> "
            f"(TPR {_v(op['tpr'])}, FPR {_v(op['fpr'])}).</p>"
        )
    for title, header, rows in sections(r):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    if r.get("plots"):
        parts.append("<h2>Plots</h2>" + "".join(f"<img src='{e(f)}' alt='{e(n)}'>" for n, f in r["plots"].items()))
    if r["not_scored"]:
        parts.append(f"<h2>Not scored ({len(r['not_scored'])})</h2><ul>")
        parts += [
            f"<li>{e(x['path'])} ({e(x['label'])}): {e(x['status'])}: {e(x['reason'])}</li>"
            for x in r["not_scored"][:200]
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
