"""Make the bundled example photos from skimage's public-domain astronaut (NASA) and procedural occluders.

    python scripts/make_examples.py examples/

Writes astronaut.jpg (the original), astronaut_sunglasses.jpg, astronaut_mask.jpg, astronaut_hand.jpg
(generated occluders pasted in the aligned frame and warped back onto the photo) and group.jpg (all four).
Every occluder is drawn by faceocc.synthesis.OccluderLibrary.procedural(): no third-party images.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from faceocc.alignment import estimate_transform, transform_points
from faceocc.detection import FaceDetector
from faceocc.synthesis import OccluderLibrary, synthesize

SIZE = 336  # aligned working size: 3x the canonical crop


def paste_back(photo, landmarks, kind, mode=None, seed=0):
    matrix = estimate_transform(landmarks, SIZE)
    crop = cv2.warpAffine(photo, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    library = OccluderLibrary.procedural(seed=seed)
    lm = transform_points(landmarks, matrix)
    for attempt in range(50):
        rng = np.random.default_rng(seed + attempt)
        kwargs = {"mode": mode} if mode else {}
        syn = synthesize(crop, lm, library, rng, kind=kind, second=False, postprocess=False, **kwargs)
        if syn.occluders.get(kind if kind != "scarf" else "other", 0) > 0.5:
            break
    changed = (np.abs(syn.image.astype(int) - crop).sum(axis=2) > 0).astype(np.float32)
    changed = cv2.GaussianBlur(changed, (3, 3), 0)
    h, w = photo.shape[:2]
    back = cv2.warpAffine(syn.image, matrix, (w, h), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(changed, matrix, (w, h), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)[..., None]
    return (photo * (1 - alpha) + back * alpha).round().astype(np.uint8)


def main(out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = skimage.data.astronaut()
    landmarks = FaceDetector().detect(photo)[0].landmarks
    images = {
        "astronaut": photo,
        "astronaut_sunglasses": paste_back(photo, landmarks, "sunglasses", seed=1),
        "astronaut_mask": paste_back(photo, landmarks, "mask", seed=2),
        "astronaut_hand": paste_back(photo, landmarks, "hand", mode="mouth", seed=3),
    }
    for name, image in images.items():
        cv2.imwrite(str(out_dir / f"{name}.jpg"), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    tiles = [cv2.resize(images[n], (320, 320), interpolation=cv2.INTER_AREA) for n in images]
    group = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    cv2.imwrite(str(out_dir / "group.jpg"), group[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples")
