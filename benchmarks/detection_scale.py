#!/usr/bin/env python
"""Detection that follows the photo: faces found and end-to-end cost against photo size and face count.

Builds its photos in code (faceocc.evaluate.bench.group_photo: skimage's astronaut and the bundled
examples/astronaut*.jpg faces, clean, hand, mask and sunglasses, pasted onto textured backgrounds with varied size
and brightness), JPEG-encodes them and times ``Analyzer.analyze`` on the bytes (decoding included), median of
``--runs`` runs after one warm-up, for the detector modes:

- default: automatic scale (faces from 64 px in any photo size; tiles and coarser passes as needed);
- fast: ``DetectorOptions(max_side=320)``, the old default;
- smallest 32: ``DetectorOptions(smallest_face=32)``, full resolution.

Cases: the 25-face 4000 x 3000 group photo, a 12 MP one-face photo, the 640 x 480 bench photo; 1, 5, 25 and 100
faces in a 4000 x 3000 photo; one face in 0.3, 2, 12 and 24 MP photos; face-free photos (false detections).

    python benchmarks/detection_scale.py                         # 1 thread, 5 runs
    python benchmarks/detection_scale.py --runs 3 --quick --json scale.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: the checkout's faceocc is measured, not an installed one (as the other benchmarks do)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--threads", type=int, default=1, help="onnxruntime (and OpenCV) threads (default 1)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per photo and mode (default 5)")
    p.add_argument("--quick", action="store_true", help="leave out the 24 MP photo")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    import cv2

    cv2.setNumThreads(max(1, args.threads))
    from faceocc.evaluate.bench import bench_detection_scale, format_scale_table

    result = bench_detection_scale(
        threads=args.threads, runs=args.runs, quick=args.quick, log=lambda m: print(m, file=sys.stderr, flush=True)
    )
    print(format_scale_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
