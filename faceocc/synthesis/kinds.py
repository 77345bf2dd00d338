"""The recipes' names, their default sampling weights and the occluder type each one reports."""

KINDS = ("none", "hand", "sunglasses", "eyeglasses", "mask", "scarf", "object", "patch", "hair", "border")
#: Sampling probabilities of the recipes when ``synthesize(kind=None)``.
DEFAULT_WEIGHTS = {
    "none": 0.18,
    "hand": 0.22,
    "sunglasses": 0.10,
    "eyeglasses": 0.08,
    "mask": 0.08,
    "scarf": 0.05,
    "object": 0.11,
    "patch": 0.07,
    "hair": 0.06,
    "border": 0.05,
}
#: occluder type reported for each recipe
KIND_TYPE = {
    "hand": "hand",
    "sunglasses": "sunglasses",
    "eyeglasses": "eyeglasses",
    "mask": "mask",
    "scarf": "other",
    "object": "other",
    "patch": "other",
    "hair": "other",
    "border": "other",
    "hat": "other",
}
