"""What every ``faceocc`` command does alike: -h, --version, flags without values, clear usage errors (exit 2), an
empty folder said out loud, and a missing optional extra named in the message instead of a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import faceocc
from faceocc.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT = str(ROOT / "examples" / "astronaut.jpg")


def _commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_help_shows_no_value_type_for_flags_and_h_is_help():
    for name in ["", *_commands()]:
        args = [name] if name else []
        long, short = runner.invoke(app, [*args, "--help"]), runner.invoke(app, [*args, "-h"])
        assert long.exit_code == 0 and short.exit_code == 0, (name, long.output, short.output)
        assert short.output == long.output
        assert "<bool>" not in long.output, name


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"faceocc {faceocc.__version__}"


def test_python_dash_m_faceocc_is_the_command():
    for module in ("faceocc", "faceocc.cli"):
        out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0 and out.stdout.strip() == f"faceocc {faceocc.__version__}", out.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["analyze", ASTRONAUT, "--eyeglasses-occlude", "true"], ["--eyeglasses-occlude", "--no-eyeglasses-occlude"]),
        (["analyze", "--fast", "no", ASTRONAUT], ["--fast is a flag", "leave it out"]),
        (["sort", "--whole-image", "false", ASTRONAUT, "out"], ["--whole-image is a flag"]),
    ],
)
def test_a_flag_given_a_value_is_a_usage_error(args, words):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "takes no value" in res.output and all(w in res.output for w in words), res.output


def test_a_flag_and_its_negative_form_are_accepted(tmp_path):
    for flag in ("--eyeglasses-occlude", "--no-eyeglasses-occlude"):
        res = runner.invoke(app, ["analyze", ASTRONAUT, flag, "--quiet", "--threads", "1"])
        assert res.exit_code == 0, res.output
        assert len(json.loads(res.output.splitlines()[-1])["faces"]) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fps", "0"], "--fps 0: give a positive number"),
        (["--fps", "-1"], "--fps -1: give a positive number"),
        (["--every-n", "0"], "--every-n"),
        (["--fps", "2", "--every-n", "3"], "give one of them"),
    ],
)
def test_bad_frame_sampling_is_rejected(extra, message):
    res = runner.invoke(app, ["analyze", ASTRONAUT, *extra])
    assert res.exit_code == 2 and message in res.output, res.output


def test_an_empty_folder_is_said_and_exits_1(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("not a photo")
    res = runner.invoke(app, ["analyze", str(tmp_path / "empty"), "--jsonl", str(tmp_path / "out.jsonl")])
    assert res.exit_code == 1, res.output
    assert "no images or videos in this folder" in res.output
    (record,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert record["path"] == str(tmp_path / "empty") and "no images or videos" in record["error"]


# -- missing optional extras: simulated by making the module unimportable ---------------------------------------


@pytest.mark.parametrize(
    "module, args, extra",
    [
        ("matplotlib", ["evaluate", "dataset"], "evaluate"),
        ("matplotlib", ["audit", "dataset"], "evaluate"),
        ("torch", ["train", "data=x"], "train"),
        ("onnx", ["export", "best.ckpt", "m.onnx"], "train"),
        ("uvicorn", ["serve", "--port", "9"], "serve"),  # serve imports uvicorn first (FastAPI may be cached)
    ],
)
def test_a_missing_extra_is_named(monkeypatch, module, args, extra):
    monkeypatch.setitem(sys.modules, module, None)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert f"faceocc[{extra}]" in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output


def test_evaluate_without_matplotlib_points_to_no_plots(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    res = runner.invoke(app, ["evaluate", "dataset"])
    assert res.exit_code == 2 and 'pip install "faceocc[evaluate]"' in res.output and "--no-plots" in res.output


def test_bench_and_synth_grid_use_the_shipped_face_without_skimage(monkeypatch, tmp_path):
    from faceocc.evaluate.bench import test_photo
    from faceocc.pipeline import Analyzer

    monkeypatch.setitem(sys.modules, "skimage", None)
    with Analyzer() as analyzer:
        assert len(analyzer.analyze(test_photo()).faces) == 1  # bench times a photo with a face
    out = tmp_path / "grid.png"
    res = runner.invoke(app, ["synth-grid", "--out", str(out), "--n", "4"])
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.stat().st_size > 1000


# -- what users of other face toolkits look for ---------------------------------------------------------------


def test_workers_give_the_same_records_in_input_order(tmp_path):
    import shutil

    photos = tmp_path / "photos"
    shutil.copytree(ROOT / "examples", photos)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        res = runner.invoke(
            app, ["analyze", str(photos), "--jsonl", str(out / "r.jsonl"), "--csv", str(out / "r.csv")]
            + ["--crops", str(out / "crops"), "--workers", workers, "--quiet"],
        )  # fmt: skip
        assert res.exit_code == 1, res.output  # broken.jpg
        runs[workers] = out
    one, two = runs["1"], runs["2"]

    def text(run, name):  # the records name their crop files, which lie in each run's own folder
        return (run / name).read_text().replace(str(run), "RUN")

    assert text(one, "r.jsonl") == text(two, "r.jsonl") and "RUN/crops/" in text(one, "r.jsonl")
    assert text(one, "r.csv") == text(two, "r.csv")
    assert sorted(p.name for p in (one / "crops").iterdir()) == sorted(p.name for p in (two / "crops").iterdir())
    paths = [json.loads(line)["path"] for line in (two / "r.jsonl").read_text().splitlines()]
    assert paths == sorted(paths) and len(paths) == 6


def test_model_by_name():
    from faceocc.model import DEFAULT_MODEL, MODEL_NAMES, OcclusionModel, resolve_model_path

    assert resolve_model_path("default") == DEFAULT_MODEL and MODEL_NAMES["default"] == DEFAULT_MODEL
    assert OcclusionModel("default").path == DEFAULT_MODEL
    res = runner.invoke(app, ["analyze", ASTRONAUT, "--model", "fastest"])
    assert res.exit_code == 2 and "model file not found" in res.output and "default" in res.output


def test_batch_checks_frame_sampling_as_analyze_does(tmp_path):
    # --every-n and --fps are one option definition and one check (cli.common.video_sampling) for both commands
    for command in (["analyze", ASTRONAUT], ["batch", ASTRONAUT, "--out", str(tmp_path / "out")]):
        res = runner.invoke(app, command + ["--every-n", "2", "--fps", "3"])
        assert res.exit_code == 2, (command, res.output)
        assert "give one of them" in res.output or "pip install" in res.output  # batch without Ray names the extra
