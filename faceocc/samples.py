"""The photo the package ships, for commands that need a face without any data: ``faceocc bench`` and
``faceocc synth-grid``.

``faceocc/data/astronaut.jpg`` is NASA's public-domain portrait of Eileen Collins (512 x 512, one clean frontal face),
as ``skimage.data.astronaut()`` has it, JPEG-encoded (the same file as ``examples/astronaut.jpg``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the shipped photo of one clean frontal face
ASTRONAUT = Path(__file__).parent / "data" / "astronaut.jpg"


def astronaut() -> np.ndarray:
    """The shipped astronaut photo as a 512 x 512 x 3 RGB array."""
    import cv2

    image = cv2.imread(str(ASTRONAUT), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{ASTRONAUT}: the photo faceocc ships is missing (a broken install?)")
    return np.ascontiguousarray(image[:, :, ::-1])
