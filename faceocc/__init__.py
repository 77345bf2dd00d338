"""faceocc: is a face occluded, by what, where and how much, and is it still usable for face recognition.

>>> from faceocc import Analyzer
>>> result = Analyzer().analyze("photo.jpg")
>>> [(f.occluded, f.occluder, f.coverage, f.advice) for f in result.faces]
"""

__version__ = "0.9.0"

from .detection import DetectorOptions, FaceDetector  # noqa: E402
from .io import InputError  # noqa: E402
from .model import ModelError, OcclusionModel  # noqa: E402
from .pipeline import Analyzer, AnalyzerOptions  # noqa: E402
from .policy import PolicyOptions  # noqa: E402
from .schema import FaceResult, ImageResult  # noqa: E402

__all__ = [
    "Analyzer",
    "AnalyzerOptions",
    "DetectorOptions",
    "FaceDetector",
    "FaceResult",
    "ImageResult",
    "InputError",
    "ModelError",
    "OcclusionModel",
    "PolicyOptions",
    "__version__",
]
