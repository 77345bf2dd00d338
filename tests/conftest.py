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
