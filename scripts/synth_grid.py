#!/usr/bin/env python
"""Contact sheet of synthetic occlusions for a visual check.

    python scripts/synth_grid.py --occluders ../shared/data/occluders --out /tmp/grid.png --n 48 \
        [--cache /work/cache/faces]

Same as ``python -m faceocc.synthesis grid ...`` (see faceocc/synthesis/grid.py).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faceocc.synthesis import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["grid", *sys.argv[1:]]))
