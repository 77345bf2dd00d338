"""faceocc bench: runs in a few seconds with a small iteration count, prints a table, writes comparable JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from faceocc.cli import app
from faceocc.evaluate import bench

runner = CliRunner()


def test_test_photo_has_one_face():
    from faceocc.pipeline import Analyzer

    photo = bench.test_photo()
    assert photo.shape == (480, 640, 3)
    assert len(Analyzer().analyze(bench.encode_jpeg(photo)).faces) == 1


def test_bench_cli_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    res = runner.invoke(
        app, ["bench", "--iterations", "3", "--workers", "1", "--folder-images", "2", "--json", str(out), "-q"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    lat = data["latency"][0]
    assert lat["faces_found"] == 1 and lat["iterations"] == 3 and lat["model_mb"] > 0
    for stage in ("decode", "detect", "align", "classify", "end_to_end"):
        p = lat["latency_ms"][stage]
        assert 0 <= p["p50"] <= p["p90"] <= p["p99"]
    assert lat["latency_ms"]["end_to_end"]["p50"] >= lat["latency_ms"]["detect"]["p50"]
    thr = data["throughput"][0]
    assert thr["workers"] == 1 and thr["images"] == 2 and thr["faces"] == 2 and thr["images_per_s"] > 0
    assert data["peak_rss_mb"] > 0 and data["environment"]["cpu_count"] >= 1
    for word in ("decode", "detect", "align", "classify", "end_to_end", "images/s", "peak RSS"):
        assert word in res.output

    # never overwrite: a second run gets a new name, and compares with the first
    res = runner.invoke(
        app, ["bench", "--iterations", "2", "--workers", "0", "--json", str(out), "--previous", str(out), "-q"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "bench-1.json").is_file() and "vs previous" in res.output
    assert json.loads(out.read_text())["latency"][0]["iterations"] == 3


def test_bench_two_models_and_threads(tmp_path):
    result = bench.run_bench(["faceocc_mbv2_112_int8.onnx", None], threads=[1, 2], iterations=2, workers=0)
    assert [(r["threads"]) for r in result["latency"]] == [1, 2, 1, 2]
    assert all(isinstance(r["quantized"], bool) for r in result["latency"])
    table = bench.format_table(result)
    assert sum(line.startswith("faceocc_mbv2_112_int8.onnx ") for line in table.splitlines()) == 4


def test_bench_bad_input(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\x00" * 10)
    res = runner.invoke(app, ["bench", "--model", str(bad), "--iterations", "1"])
    assert res.exit_code == 2 and "not a readable ONNX model" in res.output
    res = runner.invoke(app, ["bench", "--threads", "one", "--iterations", "1"])
    assert res.exit_code == 2 and "--threads" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["bench", "--folder", str(empty), "--iterations", "1", "--json", str(tmp_path / "b.json")])
    assert res.exit_code == 2 and "no images" in res.output


@pytest.mark.parametrize("values", [[5.0], [1.0, 2.0, 3.0, 4.0]])
def test_percentiles(values):
    from faceocc.evaluate.metrics import percentiles

    p = percentiles(values)
    assert p["p50"] == pytest.approx(sorted(values)[len(values) // 2] if len(values) == 1 else 2.5)
    assert p["mean"] == pytest.approx(sum(values) / len(values))


def test_bench_without_json_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["bench", "--iterations", "2", "--workers", "0", "-q"])
    assert res.exit_code == 0, res.output
    assert "end_to_end" in res.output or "end to end" in res.output
    assert list(tmp_path.iterdir()) == []
