"""Model provenance: a model's metadata names the files it was made from, with their digests."""

from __future__ import annotations

import hashlib
import json

import pytest


def test_provenance_pins_each_named_file(tmp_path):
    from faceocc.train.export import provenance

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label\na.jpg,clean\n")
    got = provenance(
        {
            "data": str(manifest),
            "init": str(tmp_path / "gone.onnx"),
            "teacher": "",
            "audit": None,
            "transplant_model": "default",
            "lr": 0.1,
        }
    )
    assert set(got) == {"data", "init"}
    assert got["data"]["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    assert got["init"] == {"path": str(tmp_path / "gone.onnx"), "sha256": None}


def test_exported_metadata_carries_the_checkpoints_provenance():
    pytest.importorskip("onnx")
    from faceocc.train.export import model_metadata

    meta = model_metadata({"config": {"data": "/nowhere.csv"}, "provenance": {"data": {"path": "x", "sha256": "ab"}}})
    assert json.loads(meta["provenance"]) == {"data": {"path": "x", "sha256": "ab"}}
    meta = model_metadata({"config": {"data": "/nowhere.csv"}})  # an older checkpoint: computed from its config
    assert json.loads(meta["provenance"]) == {"data": {"path": "/nowhere.csv", "sha256": None}}
