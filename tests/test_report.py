"""The HTML batch report (``faceocc analyze ... --report DIR``, ``faceocc sort ... --report DIR``; issue 17, point 2):
counts, contact sheet, sortable table, errors, images without a face, a PNG chart; opened in a real headless
Chromium (Debian's, never downloaded: see tests/test_webpage.py), which must load every crop and ask for nothing
from outside the report's folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceocc import batch_report
from faceocc.batch_report import BatchReport, fresh_folder
from faceocc.cli import app
from faceocc.measurement import FaceMeasurement, ModelScores
from faceocc.policy import PolicyOptions, decide
from faceocc.schema import ImageResult, error_result

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None
) or shutil.which("chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]


def _face(score, occluders, with_crop=True):
    lm = np.float32([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]])
    occ = {"mask": 0, "sunglasses": 0, "eyeglasses": 0, "hand": 0, "other": 0, **occluders}
    parts = {"right_eye": 0.1, "left_eye": 0.1, "nose": 0.6, "mouth": 0.8, "chin": 0.5}
    m = FaceMeasurement((20, 20, 100, 110), 0.99, lm, scores=ModelScores(score, occ, parts, 0.4))
    face = decide(m, PolicyOptions(), 0.5)
    if with_crop:
        face.crop = np.full((112, 112, 3), 200, np.uint8)
    return face


def test_report_of_records_counts_and_sections(tmp_path):
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "mine.txt").write_text("the user's file")
    report = BatchReport(tmp_path / "rep", threshold=0.55, max_crops_per_class=2)
    assert report.folder == tmp_path / "rep-1"  # a folder holding something is never written into
    masked = [_face(0.9, {"mask": 0.9}) for _ in range(3)]
    report.add(ImageResult("a <b>.jpg", 120, 120, faces=[*masked, _face(0.1, {})]))
    report.add(ImageResult("wall.png", 160, 120))
    report.add(ImageResult("clip.mp4", 120, 120, faces=[_face(0.2, {}, with_crop=False)], frame=7))
    report.add(error_result("bad.jpg", "bad.jpg: not a readable image"))
    files = report.write()
    assert report.class_counts() == {
        "clean": 2,
        "eyeglasses": 0,
        "mask": 3,
        "sunglasses": 0,
        "hand": 0,
        "other": 0,
        "not_assessable": 0,
        "no_face": 1,
        "error": 1,
    }
    assert (tmp_path / "rep" / "mine.txt").read_text() == "the user's file"
    assert files.crops == 3 == len(list((files.folder / "crops").iterdir()))  # 2 masks (the cap), 1 clean
    page = files.page.read_text()
    assert "a &lt;b&gt;.jpg" in page and "<b>.jpg" not in page
    assert "1 more face(s) of this class" in page and "Remove your face mask." in page
    assert "bad.jpg: not a readable image" in page and "wall.png" in page and "occluded from 0.55" in page
    assert not re.search(r'(src|href)="(?!crops/|counts\.png)', page)  # nothing outside the folder
    assert any(str(files.page) in line for line in files.lines())


def test_report_without_matplotlib_still_writes_the_page(tmp_path, monkeypatch):
    def no_matplotlib(counts, path):
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(batch_report, "write_chart", no_matplotlib)
    report = BatchReport(tmp_path / "rep")
    report.add(ImageResult("a.jpg", 120, 120, faces=[_face(0.1, {})]))
    files = report.write()
    assert files.chart is None and "faceocc[evaluate]" in files.note
    assert "counts chart: not written (matplotlib is not installed" in "\n".join(files.lines())
    assert files.page.is_file() and "counts.png" not in files.page.read_text()
    with pytest.raises(NotADirectoryError):
        fresh_folder(files.page)


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    """``faceocc analyze examples/ + a photo without a face + a broken file --report``: (records, report, output)."""
    root = tmp_path_factory.mktemp("report")
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(root / "empty_wall.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    jsonl, out = root / "records.jsonl", root / "report"
    args = ["analyze", str(EXAMPLES), str(root / "empty_wall.png"), str(root / "broken.jpg")]
    res = CliRunner().invoke(app, [*args, "--jsonl", str(jsonl), "--report", str(out), "--threads", "1"])
    assert res.exit_code == 1, res.output  # one input could not be read
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    return records, out, res.output


def test_analyze_report_says_where_it_went(analyzed):
    records, out, output = analyzed
    assert f"report: {out / 'index.html'}" in output and f"counts chart: {out / 'counts.png'}" in output
    faces = sum(len(r["faces"]) for r in records)
    assert faces >= 8 and len(list((out / "crops").iterdir())) == faces


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_in_chromium(analyzed, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    records, out, _ = analyzed
    faces = [f for r in records for f in r["faces"]]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(out.as_uri()) else None)
        page.goto((out / "index.html").as_uri())
        page.wait_for_load_state("load")
        loaded = page.evaluate("() => [...document.querySelectorAll('.face img')].map(i => i.naturalWidth)")
        assert len(loaded) == len(faces) and min(loaded) > 0  # every crop on the sheet, every one loaded
        assert page.evaluate("() => document.getElementById('chart').naturalWidth") > 0
        for cls in {f["face_class"] for f in faces}:
            shown = page.locator(f'.group[data-class="{cls}"] .face').count()
            assert shown == sum(f["face_class"] == cls for f in faces)
            assert page.locator(f'.counts tr[data-class="{cls}"] .n').inner_text() == str(shown)
        assert page.locator("#face-table tbody tr").count() == len(faces)
        assert "broken.jpg" in page.inner_text("#error-table") and "empty_wall.png" in page.inner_text("#no-face-list")
        page.click("#face-table th:nth-child(8)")  # score, twice: descending
        page.click("#face-table th:nth-child(8)")
        scores = [float(s) for s in page.locator("#face-table tbody td:nth-child(8)").all_inner_texts()]
        assert scores == sorted(scores, reverse=True)
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert pixels.shape[0] > 900 and pixels.std() > 20  # not blank
    assert not outside, f"the report asked for something outside its folder: {outside}"


def test_sort_writes_a_report(tmp_path):
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(tmp_path / "empty_wall.png")
    args = ["sort", str(EXAMPLES / "astronaut_mask.jpg"), str(tmp_path / "empty_wall.png"), str(tmp_path / "sorted")]
    res = CliRunner().invoke(app, [*args, "--report", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert f"report: {tmp_path / 'rep' / 'index.html'}" in res.output
    page = (tmp_path / "rep" / "index.html").read_text()
    assert '<section class="group" data-class="mask">' in page and "empty_wall.png" in page
    assert len(list((tmp_path / "rep" / "crops").iterdir())) == 1  # aligned from the kept photo
