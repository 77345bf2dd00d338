"""The wheel ``pip install faceocc`` would take: built from the committed files, it holds the code, every shipped
model, the model card and licence files, the web page, the shipped photo, and the metadata (licence, classifiers,
console script). Building takes about 13 s on 2 loaded cores (``python -m build --wheel --no-isolation``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the committed files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in out.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.mark.slow
def test_the_wheel_holds_models_licences_and_metadata(tmp_path):
    pytest.importorskip("build", reason="pip install build (in the dev extra)")
    src = tmp_path / "src"
    for name in _tracked_files():  # a clean copy: no build/ or egg-info of the checkout, nothing untracked
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist")]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("faceocc-*-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"faceocc/models/{p.name}" for p in (ROOT / "faceocc" / "models").iterdir() if p.is_file()}
    assert shipped <= names, shipped - names
    assert {"faceocc/models/faceocc_mbv2_112_int8.onnx", "faceocc/models/MODEL_CARD.md"} <= shipped
    static = {f"faceocc/server/static/{p.name}" for p in (ROOT / "faceocc" / "server" / "static").iterdir()}
    assert static <= names and "faceocc/data/astronaut.jpg" in names and "faceocc/__main__.py" in names
    assert not any(n.startswith(("tests/", "scripts/", "benchmarks/")) for n in names)
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    licences = {n for n in names if n.startswith(f"{info}/licenses/")}
    models = f"{info}/licenses/faceocc/models"
    wanted = {f"{info}/licenses/LICENSE", f"{models}/CENTERFACE_LICENSE.md", f"{models}/RETINAFACE_LICENSE.md"}
    assert wanted <= licences
    meta = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in meta and "Classifier: Programming Language :: Python :: 3.11" in meta
    assert "Provides-Extra: evaluate" in meta and "Provides-Extra: serve" in meta
    entry = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "faceocc = faceocc.cli:main" in entry
