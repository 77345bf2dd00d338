"""faceocc: is a face occluded, by what, where and how much, and is it still usable for face recognition."""

__version__ = "0.1.0"
