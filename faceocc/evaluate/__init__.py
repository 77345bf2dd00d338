"""Evaluation, benchmarking and label audit of faceocc models (``faceocc evaluate``, ``bench``, ``audit``).

>>> from faceocc.evaluate import metrics
>>> metrics.binary_metrics([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6], threshold=0.5)["tpr"]
0.5
"""

from . import metrics  # noqa: F401  (numpy only; plots, bench and collection import lazily)

__all__ = ["metrics"]
