"""A batch report a person can look at: one self-contained HTML page and a PNG chart of the counts.

Fed with the records of a batch (:class:`faceocc.schema.ImageResult`, one at a time, as they are made), it writes
into one folder:

- ``index.html``: the counts per class, a contact sheet of the face crops grouped by class (the verdict and the
  occluder) with their scores and advice, a sortable table of every face, the inputs that could not be read (with
  the reason) and the images without a face. CSS and JS are inline; the crops are files next to it; the page asks
  for nothing from outside the folder.
- ``crops/``: the aligned face crops the page shows (JPEG).
- ``counts.png``: the counts as a bar chart (needs matplotlib, the ``evaluate`` extra; without it the page is still
  written and :attr:`ReportFiles.note` says why there is no chart).

Nothing is decided here: classes, scores and advice are the records' own fields (made by :func:`faceocc.policy.decide`).
``faceocc analyze --report DIR`` and ``faceocc sort --report DIR`` write it; any other batch runner can, too.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .alignment import align_face
from .io import unique_path
from .schema import FACE_CLASSES, FaceResult, ImageResult

PAGE, CHART, CROPS = "index.html", "counts.png", "crops"
#: each class of the contact sheet: its heading and its colour (the chart uses the same colours)
CLASS_STYLE = {
    "clean": ("clear", "#2e9e4f"),
    "eyeglasses": ("clear, with eyeglasses", "#3a8fb7"),
    "mask": ("occluded by a mask", "#d6453d"),
    "sunglasses": ("occluded by sunglasses", "#b8322a"),
    "hand": ("occluded by a hand", "#e0782b"),
    "other": ("occluded by something else", "#a0522d"),
    "not_assessable": ("not assessable", "#8a8a8a"),
}
CHART_EXTRA = "pip install 'faceocc[evaluate]'"


@dataclass(frozen=True)
class FaceRow:
    """One face of the report: where it is from and the fields of its decision."""

    number: int
    path: str
    frame: int | None
    face: int
    face_class: str
    occluded: bool | None
    occluder: str | None
    score: float | None
    coverage: float | None
    usable: bool
    advice: tuple[str, ...]
    reason: str | None
    crop: str | None  # file name under crops/, None when not saved (no pixels, or the class's sheet is full)

    @classmethod
    def of(cls, number: int, result: ImageResult, index: int, face: FaceResult, crop: str | None) -> FaceRow:
        return cls(
            number,
            result.path or "(array)",
            result.frame,
            index,
            face.face_class,
            face.occluded,
            face.occluder,
            face.occlusion_score,
            face.coverage,
            face.usable,
            tuple(face.advice),
            face.reason,
            crop,
        )


@dataclass
class ReportFiles:
    """What a report wrote: the page, the chart (None without matplotlib: then ``note`` says so), the crops."""

    folder: Path
    page: Path
    chart: Path | None
    crops: int
    note: str | None = None

    def lines(self) -> list[str]:
        """Where every output went, one line each (for the terminal)."""
        out = [f"report: {self.page}", f"  face crops: {self.crops} in {self.folder / CROPS}"]
        out.append(f"  counts chart: {self.chart}" if self.chart else f"  counts chart: not written ({self.note})")
        return out


def fresh_folder(folder: str | Path) -> Path:
    """``folder`` when it does not exist or is empty, else ``folder-1``, ``folder-2``...: nothing is written into a
    folder that holds something already."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        folder = unique_path(folder)
    return folder


@dataclass
class BatchReport:
    """Collects a batch's records (:meth:`add`, each as it is made: crops are written at once, pixels are not kept)
    and writes the page and the chart (:meth:`write`).

    ``threshold``: the occlusion threshold the faces were judged at (shown on the page). At most
    ``max_crops_per_class`` crops per class go on the contact sheet and ``max_rows`` faces in the table (a video
    gives one record per frame); the page says how many are left out. The counts always cover everything.
    """

    folder: Path
    threshold: float | None = None
    title: str = "faceocc report"
    max_crops_per_class: int = 200
    max_rows: int = 5000
    counts: Counter = field(default_factory=Counter)
    rows: list[FaceRow] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    no_face: list[tuple[str, int, int]] = field(default_factory=list)
    images: int = 0
    faces: int = 0
    crops: int = 0

    def __post_init__(self):
        self.folder = fresh_folder(self.folder)
        (self.folder / CROPS).mkdir(parents=True, exist_ok=True)

    def add(self, result: ImageResult) -> None:
        """Count one record (an error record too) and save the crops of its faces."""
        if result.error:
            self.errors.append((result.path or "(input)", result.error))
            return
        self.images += 1
        if not result.faces:
            self.no_face.append((result.path or "(array)", result.width, result.height))
        for i, face in enumerate(result.faces):
            self.faces += 1
            self.counts[face.face_class] += 1
            crop = None
            if self.counts[face.face_class] <= self.max_crops_per_class:
                crop = self._save_crop(face, result.image)
            if len(self.rows) < self.max_rows:
                self.rows.append(FaceRow.of(self.faces, result, i, face, crop))

    def _save_crop(self, face: FaceResult, image: np.ndarray | None) -> str | None:
        """The face's aligned crop as ``crops/faceNNNNN.jpg`` (from ``face.crop``, else aligned from ``image``)."""
        import cv2

        pixels = face.crop
        if pixels is None and image is not None:
            pixels = align_face(image, np.asarray(face.landmarks, np.float32))
        if pixels is None:
            return None
        name = f"face{self.faces:05d}.jpg"
        if not cv2.imwrite(str(self.folder / CROPS / name), np.ascontiguousarray(pixels[:, :, ::-1])):
            return None
        self.crops += 1
        return name

    def class_counts(self) -> dict[str, int]:
        """Faces per class (every class, in vocabulary order), then images without a face and unread inputs."""
        out = {c: self.counts.get(c, 0) for c in FACE_CLASSES}
        out["no_face"] = len(self.no_face)
        out["error"] = len(self.errors)
        return out

    def write(self) -> ReportFiles:
        """Write ``index.html`` and ``counts.png``; what was written where."""
        chart: Path | None = self.folder / CHART
        note = None
        try:
            write_chart(self.class_counts(), self.folder / CHART)
        except ImportError:
            chart, note = None, f"matplotlib is not installed: {CHART_EXTRA}"
        page = self.folder / PAGE
        page.write_text(render_page(self, chart is not None), encoding="utf-8")
        return ReportFiles(self.folder, page, chart, self.crops, note)


def write_chart(counts: dict[str, int], path: Path) -> None:
    """The counts as a horizontal bar chart (PNG); ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = list(counts)
    colors = [CLASS_STYLE.get(n, ("", "#555555"))[1] for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(names) + 0.9))
    ax.barh(names[::-1], [counts[n] for n in names][::-1], color=colors[::-1])
    for y, n in enumerate(names[::-1]):
        ax.text(counts[n], y, f" {counts[n]}", va="center", fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("faces (no_face: images, error: inputs)")
    ax.set_title("faceocc: counts per class")
    ax.margins(x=0.12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- the page -------------------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em 2em;color:#222;background:#fafafa}
h1{margin:.2em 0}h2{margin-top:1.4em;border-bottom:1px solid #ddd}h3{margin:.8em 0 .3em}
.summary{color:#555}.counts td{padding:2px 8px}.bar{display:inline-block;height:12px;vertical-align:middle}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.sheet{display:flex;flex-wrap:wrap;gap:8px}
.groups{display:flex;flex-wrap:wrap;gap:6px 28px}
.face{width:150px;margin:0;background:#fff;border:1px solid #ddd;border-top:4px solid var(--c);padding:4px}
.face img{width:112px;height:112px;display:block;margin:0 auto;image-rendering:auto}
.face figcaption{font-size:12px;word-wrap:break-word}.face .name{color:#666}.face ul{margin:2px 0;padding-left:16px}
table.sortable{border-collapse:collapse;background:#fff}
table.sortable th,table.sortable td{border:1px solid #ddd;padding:2px 6px;font-size:12px;text-align:left}
table.sortable th{cursor:pointer;background:#eee;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.note{color:#777;font-style:italic}.err td{color:#8b1a1a}
"""

_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    var key = function (r) { var c = r.cells[col]; return c.getAttribute('data-v') || c.textContent; };
    var numeric = rows.every(function (r) { var k = key(r); return k === '' || !isNaN(Number(k)); });
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var d = numeric ? (x === '' ? -1 : Number(x)) - (y === '' ? -1 : Number(y)) : x.localeCompare(y);
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_e = html.escape


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "" if v is None else fmt.format(v)


def _where(row: FaceRow) -> str:
    frame = f" frame {row.frame}" if row.frame is not None else ""
    return f"{Path(row.path).name}{frame} face {row.face}"


def _verdict(row: FaceRow) -> str:
    return "not assessable" if row.occluded is None else "occluded" if row.occluded else "clear"


def _counts_section(report: BatchReport, chart: bool) -> str:
    counts = report.class_counts()
    top = max(counts.values()) or 1
    rows = []
    for name, n in counts.items():
        color = CLASS_STYLE.get(name, ("", "#555555"))[1]
        bar = f'<span class="bar" style="width:{round(200 * n / top)}px;background:{color}"></span>'
        rows.append(f'<tr data-class="{name}"><td>{name}</td><td class="n">{n}</td><td>{bar}</td></tr>')
    img = f'<img src="{CHART}" alt="counts per class" id="chart" width="540">' if chart else ""
    note = "" if chart else f'<p class="note">No chart: matplotlib is not installed ({CHART_EXTRA}).</p>'
    return (
        '<h2 id="counts">Counts per class</h2><p class="note">faces per class; no_face: images without a face; '
        "error: inputs that could not be read</p>"
        f'<div class="row"><table class="counts">{"".join(rows)}</table>{img}</div>{note}'
    )


def _card(row: FaceRow, color: str) -> str:
    advice = "".join(f"<li>{_e(a)}</li>" for a in row.advice)
    reason = f"<br>{_e(row.reason)}" if row.reason else ""
    cov = f" &middot; cov {row.coverage:.0%}" if row.coverage is not None else ""
    score = f"score {row.score:.2f}{cov}" if row.score is not None else "no score"
    return (
        f'<figure class="face" data-class="{row.face_class}" style="--c:{color}">'
        f'<img src="{CROPS}/{row.crop}" alt="{_e(_where(row))}" width="112" height="112" loading="eager">'
        f'<figcaption><span class="name">{_e(_where(row))}</span><br>{score}{reason}<ul>{advice}</ul>'
        "</figcaption></figure>"
    )


def _sheet_section(report: BatchReport) -> str:
    parts = [
        '<h2 id="sheet">Contact sheet</h2><p class="note">The aligned crop of each face, grouped by class '
        "(verdict and occluder); score = occlusion probability"
        + (f", occluded from {report.threshold:.2f}" if report.threshold is not None else "")
        + "; cov = covered share of the face.</p>"
    ]
    for cls in FACE_CLASSES:
        total = report.counts.get(cls, 0)
        if not total:
            continue
        title, color = CLASS_STYLE[cls]
        cards = [_card(r, color) for r in report.rows if r.face_class == cls and r.crop]
        more = total - len(cards)
        note = f'<p class="note">{more} more face(s) of this class are in the counts, not on the sheet.</p>'
        parts.append(
            f'<section class="group" data-class="{cls}"><h3 style="color:{color}">{_e(title)} '
            f'<small>({total} face(s))</small></h3><div class="sheet">{"".join(cards)}</div>'
            f"{note if more > 0 else ''}</section>"
        )
    if not report.faces:
        parts.append('<p class="note">No faces were found.</p>')
    return parts[0] + '<div class="groups">' + "".join(parts[1:]) + "</div>"


def _table_section(report: BatchReport) -> str:
    heads = ["#", "image", "frame", "face", "class", "verdict", "occluder", "score", "coverage", "usable", "advice"]
    rows = []
    for r in report.rows:
        cells = [
            (str(r.number), ""),
            (_e(r.path), ""),
            ("" if r.frame is None else str(r.frame), ""),
            (str(r.face), ""),
            (r.face_class, ""),
            (_verdict(r), ""),
            (r.occluder or "", ""),
            (_num(r.score), _num(r.score, "{:.4f}")),
            (_num(r.coverage, "{:.0%}"), _num(r.coverage, "{:.4f}")),
            ("yes" if r.usable else "no", ""),
            (_e(" ".join(r.advice) or (r.reason or "")), ""),
        ]
        tds = "".join(f'<td data-v="{v}">{t}</td>' if v else f"<td>{t}</td>" for t, v in cells)
        rows.append(f'<tr data-class="{r.face_class}">{tds}</tr>')
    more = report.faces - len(report.rows)
    note = f'<p class="note">{more} more face(s) are left out of the table.</p>' if more > 0 else ""
    return (
        '<h2 id="faces">Every face</h2><p class="note">Click a column to sort.</p><table class="sortable" '
        f'id="face-table"><thead><tr>{"".join(f"<th>{h}</th>" for h in heads)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )


def _errors_section(report: BatchReport) -> str:
    if not report.errors:
        return '<h2 id="errors">Inputs that could not be read</h2><p class="note">None.</p>'
    rows = "".join(f'<tr class="err"><td>{_e(p)}</td><td>{_e(m)}</td></tr>' for p, m in report.errors)
    return (
        f'<h2 id="errors">Inputs that could not be read ({len(report.errors)})</h2>'
        f'<table class="sortable" id="error-table"><thead><tr><th>input</th><th>reason</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _no_face_section(report: BatchReport) -> str:
    if not report.no_face:
        return '<h2 id="no-face">Images without a face</h2><p class="note">None.</p>'
    items = "".join(f"<li>{_e(p)} <small>({w} x {h})</small></li>" for p, w, h in report.no_face)
    return f'<h2 id="no-face">Images without a face ({len(report.no_face)})</h2><ul id="no-face-list">{items}</ul>'


def render_page(report: BatchReport, chart: bool = False) -> str:
    """The HTML page of ``report`` (``chart``: show ``counts.png``)."""
    summary = (
        f"{report.images} image(s)/frame(s) analysed, {report.faces} face(s), {len(report.no_face)} without a face, "
        f"{len(report.errors)} input(s) could not be read"
    )
    data = json.dumps({"counts": report.class_counts(), "images": report.images, "faces": report.faces})
    data = data.replace("</", "<\\/")  # never ends the script element
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(report.title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head><body>'
        f'<h1>{_e(report.title)}</h1><p class="summary" id="summary">{summary}</p>'
        f"{_counts_section(report, chart)}{_sheet_section(report)}{_table_section(report)}"
        f"{_errors_section(report)}{_no_face_section(report)}"
        f'<script type="application/json" id="report-data">{data}</script>'
        f"<script>{_JS}</script></body></html>"
    )
