import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    from faceocc.detection import FaceDetector

    return FaceDetector().detect(astronaut)[0]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small untrained checkpoint (no ImageNet weights needed) for export tests."""
    torch = pytest.importorskip("torch")
    from faceocc.train.network import OcclusionNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    net = OcclusionNet(pretrained=False)
    torch.save({"model": net.state_dict(), "input_size": 112, "config": {}, "threshold": 0.5}, path)
    return path


# -- a tiny generated dataset on disk (evaluate, audit, prepare, train, export) ------------------------------------


def _photo(shift=(0, 0), flip=False):
    from faceocc.evaluate.bench import test_photo

    img = test_photo()
    if flip:
        img = np.ascontiguousarray(img[:, ::-1])
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    return cv2.warpAffine(img, m, (640, 480), borderValue=(127, 127, 127))


def _face_points(img):
    from faceocc.pipeline import Analyzer

    return np.array(Analyzer().analyze(img).faces[0].landmarks, np.float32)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """clean, masked (lower face painted), sunglasses (eyes painted) astronaut photos, one blank image; a manifest.

    ``root/manifest.csv`` (path,label,split,group,source,coverage; paths ``img/...``): clean0-2 (``no_mask``, test),
    mask0-2 (test), sun0-1 (test), sun2 (train), blank.png (``no_mask``, test, no face in it). The folder is shared
    by the whole session: a test that writes into it removes what it wrote."""
    root = tmp_path_factory.mktemp("tiny")
    (root / "img").mkdir()
    rows = []
    for i, (shift, flip) in enumerate([((0, 0), False), ((30, 10), True), ((-30, 0), False)]):
        img = _photo(shift, flip)
        lm = _face_points(img)
        iod = float(np.linalg.norm(lm[1] - lm[0]))
        cv2.imwrite(str(root / "img" / f"clean{i}.jpg"), img[:, :, ::-1])
        rows.append((f"img/clean{i}.jpg", "no_mask", "test", "a" if i % 2 else "b", "gen", "0.0"))
        masked = img.copy()
        top = int(lm[2, 1] - 0.1 * iod)
        x0, x1 = int(lm[0, 0] - 0.6 * iod), int(lm[1, 0] + 0.6 * iod)
        cv2.rectangle(masked, (x0, top), (x1, int(lm[3, 1] + 0.9 * iod)), (120, 180, 230), -1)
        cv2.imwrite(str(root / "img" / f"mask{i}.jpg"), masked[:, :, ::-1])
        rows.append((f"img/mask{i}.jpg", "mask", "test", "b" if i % 2 else "a", "gen", "0.45"))
        sun = img.copy()
        for p in lm[:2]:
            cv2.ellipse(sun, (int(p[0]), int(p[1])), (int(0.4 * iod), int(0.25 * iod)), 0, 0, 360, (10, 10, 10), -1)
        cv2.imwrite(str(root / "img" / f"sun{i}.jpg"), sun[:, :, ::-1])
        rows.append((f"img/sun{i}.jpg", "sunglasses", "train" if i == 2 else "test", "a", "gen2", "0.2"))
    cv2.imwrite(str(root / "img" / "blank.png"), np.full((200, 200, 3), 127, np.uint8))
    rows.append(("img/blank.png", "no_mask", "test", "a", "gen", ""))
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "split", "group", "source", "coverage"])
        w.writerows(rows)
    return root


@pytest.fixture(scope="session")
def write_manifest(tiny_dataset):
    """``write_manifest(folder, [(path, label, split), ...], filename="manifest.csv") -> Path``: a manifest in
    ``folder`` (columns path,label,split,group,source).

    Paths are relative to ``folder``; a path ``img/<name>`` whose file is not there yet is copied from
    :func:`tiny_dataset` (``img/clean0.jpg``, ``img/mask1.jpg``, ``img/blank.png``, ...); any other path names a file
    the test wrote itself."""

    def write(folder: Path, rows, filename: str = "manifest.csv") -> Path:
        folder = Path(folder)
        for name, _, _ in rows:
            target = folder / name
            if not target.exists() and (tiny_dataset / name).is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tiny_dataset / name, target)
        path = folder / filename
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label", "split", "group", "source"])
            w.writerows([(name, label, split, "g", "gen") for name, label, split in rows])
        return path

    return write
