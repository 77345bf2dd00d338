"""The README's examples do what it says they do.

- Every ```python block runs, in order, in a scratch folder holding the bundled ``examples/`` and the files the
  interface tour names (``photo.jpg``, ``a.jpg``, ``b.png``, ``clip.mp4``). Where a ```text block follows one, what
  the block prints must match it (doctest rules: ``...`` stands for any text, whitespace runs are equal; a number
  with a decimal point may differ by up to ``SCORE_TOLERANCE``: onnxruntime's kernels, and so the scores' last
  digits, differ between CPUs and versions).
- Every ``$ faceocc ...`` line of a ```console block runs there too (as ``python -m faceocc``, this checkout's
  code); its standard output and error must match the lines under it. ```bash blocks are reference, not run.
- The per-face field table lists exactly the fields of ``faceocc.schema.FACE_FIELDS`` (plus ``occlusion_map``,
  written only with ``--include-map``).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)]
CHECKER = doctest.OutputChecker()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


#: How far a printed score may be from the README's (seen: 0.18 / 0.20 for one face on two machines).
SCORE_TOLERANCE = 0.03
_NUMBER = re.compile(r"-?\d+\.\d+")


def _matches(expected: str, got: str) -> bool:
    if CHECKER.check_output(expected.rstrip() + "\n", got.rstrip() + "\n", FLAGS):
        return True
    want, have = _NUMBER.findall(expected), _NUMBER.findall(got)
    if len(want) != len(have) or any(abs(float(a) - float(b)) > SCORE_TOLERANCE for a, b in zip(want, have)):
        return False
    blank = (_NUMBER.sub("#", text.rstrip()) + "\n" for text in (expected, got))
    return CHECKER.check_output(*blank, FLAGS)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A working folder with the bundled examples and the files the README's interface tour names."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", root / "examples")
    photo = cv2.imread(str(ROOT / "examples" / "astronaut.jpg"))
    shutil.copy(ROOT / "examples" / "astronaut.jpg", root / "photo.jpg")
    shutil.copy(ROOT / "examples" / "astronaut_mask.jpg", root / "a.jpg")
    cv2.imwrite(str(root / "b.png"), photo)
    video = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, photo.shape[1::-1])
    for shift in range(6):
        video.write(cv2.warpAffine(photo, cv2.getRotationMatrix2D((256, 256), shift, 1.0), photo.shape[1::-1]))
    video.release()
    return root


def _python_examples() -> list[tuple[str, str | None]]:
    """(code, expected output or None) of every python block."""
    examples = []
    for i, (lang, text) in enumerate(BLOCKS):
        if lang == "python":
            follows = BLOCKS[i + 1] if i + 1 < len(BLOCKS) else ("", "")
            examples.append((text, follows[1] if follows[0] == "text" else None))
    return examples


def _console_examples() -> list[tuple[str, str]]:
    """(command line, expected output) of every ``$ faceocc`` line of the console blocks."""
    examples = []
    for lang, text in BLOCKS:
        if lang != "console":
            continue
        for chunk in re.split(r"^(?=\$ )", text, flags=re.M):
            if chunk.startswith("$ "):
                command, _, expected = chunk[2:].partition("\n")
                examples.append((command, expected))
    return examples


def test_the_readme_has_examples_with_output():
    assert len(_python_examples()) >= 3 and sum(out is not None for _, out in _python_examples()) >= 2
    assert _console_examples() and all(cmd.startswith("faceocc ") for cmd, _ in _console_examples())
    assert any("max_side=640" in code for code, _ in _python_examples())


@pytest.mark.parametrize("index", range(len(_python_examples())))
def test_python_example(index, scratch, monkeypatch):
    code, expected = _python_examples()[index]
    monkeypatch.chdir(scratch)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    if expected is not None:
        assert _matches(expected, out.getvalue()), f"README shows:\n{expected}\nthe code prints:\n{out.getvalue()}"


@pytest.mark.parametrize("index", range(len(_console_examples())))
def test_console_example(index, scratch):
    command, expected = _console_examples()[index]
    args = shlex.split(command)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "faceocc", *args[1:]], cwd=scratch, env=env, capture_output=True, text=True
    )
    got = done.stdout + done.stderr
    assert done.returncode == 0, got
    assert _matches(expected, got), f"README shows:\n{expected}\n`{command}` prints:\n{got}"


def test_the_field_table_is_the_schema():
    from faceocc.schema import FACE_FIELDS

    table = README.split("\nPer face:\n", 1)[1].strip().split("\n\n", 1)[0]
    names = set()
    for row in table.splitlines()[2:]:
        names |= set(re.findall(r"`(\w+)`", row.split("|")[1]))
    assert names == set(FACE_FIELDS) | {"occlusion_map"}, names ^ (set(FACE_FIELDS) | {"occlusion_map"})
