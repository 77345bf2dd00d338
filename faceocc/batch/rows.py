"""The rows a batch writes: one Parquet row per face, one for a record without faces (an image without faces, or an
input that could not be read: its ``error`` set), nested fields as structs; and each record's JSON line, exactly as
``faceocc analyze --jsonl`` writes it (:meth:`faceocc.schema.ImageResult.to_json`).

The face columns are :data:`faceocc.schema.FACE_FIELDS`, typed from its JSON types; ``input``, ``seq`` and
``records`` say which input a row came from, which of its records it belongs to (a video has one per analysed frame)
and how many records the input gave (a run is resumed from them).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from ..schema import FACE_FIELDS, OCCLUDER_TYPES, PART_NAMES, ImageResult

_SCALARS = {"number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(), "string": pa.string()}
#: the element types of the array and object fields of a face (the field table names the JSON type only)
_NESTED = {
    "box": pa.list_(pa.float64()),
    "landmarks": pa.list_(pa.list_(pa.float64())),
    "advice": pa.list_(pa.string()),
    "occluders": pa.struct([(k, pa.float64()) for k in OCCLUDER_TYPES]),
    "parts": pa.struct([(k, pa.float64()) for k in PART_NAMES]),
}
#: the fields of a record (``ImageResult.to_dict`` without its ``faces``)
RECORD_FIELDS = {
    "path": pa.string(),
    "frame": pa.int64(),
    "time_s": pa.float64(),
    "width": pa.int64(),
    "height": pa.int64(),
    "min_face_px": pa.int64(),
    "error": pa.string(),
}
#: columns that say where a row came from
SOURCE_FIELDS = {"input": pa.string(), "seq": pa.int64(), "records": pa.int64()}
#: worker columns that are not written to Parquet: the record's JSON line (on the record's first row)
LINE = "record"
#: the seconds the worker spent on the input (on the input's first row)
SECONDS = "seconds"


def face_type(name: str, kind: str) -> pa.DataType:
    """The Arrow type of a face field of :data:`FACE_FIELDS`."""
    return _NESTED.get(name) or _SCALARS[kind.rstrip("?")]


#: the Parquet columns
SCHEMA = pa.schema(
    [*SOURCE_FIELDS.items(), *RECORD_FIELDS.items(), ("face", pa.int64())]
    + [(name, face_type(name, kind)) for name, (kind, _) in FACE_FIELDS.items()]
    + [(SECONDS, pa.float64())]
)
#: what a worker returns: the Parquet columns and the JSON line
WORKER_SCHEMA = SCHEMA.append(pa.field(LINE, pa.string()))


def input_rows(source: str, results: list[ImageResult], seconds: float) -> list[dict[str, Any]]:
    """The rows of one input's records (``results``: one for an image, one per analysed frame of a video)."""
    rows: list[dict[str, Any]] = []
    for seq, result in enumerate(results):
        line = result.to_json()
        record = json.loads(line)  # the record as written (one to_dict; json.loads is the cheaper half)
        faces = record.pop("faces")
        base = {"input": source, "seq": seq, "records": len(results), **record}
        first = len(rows)
        rows += [dict(base, face=i, **face) for i, face in enumerate(faces)] or [dict(base, face=None)]
        rows[first][LINE] = line
    if rows:
        rows[0][SECONDS] = seconds
    return rows


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """The worker's table of ``rows`` (missing fields are null: ``track_id`` of a photo's face, a faceless row's)."""
    return pa.Table.from_pylist(rows, schema=WORKER_SCHEMA)
