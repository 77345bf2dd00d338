"""The HTTP schema for OpenAPI: the response models and request bodies the endpoints declare.

Responses are built as plain dicts (``ImageResult.to_dict``); these models only document them. The face model is made
from the result schema's field table (:data:`faceocc.schema.FACE_FIELDS`), so it cannot drift from the JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from ..schema import FACE_FIELDS


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. payload_too_large")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


_JSON_TYPES: dict[str, Any] = {
    "array": list,
    "number": float,
    "integer": int,
    "boolean": bool,
    "string": str,
    "object": dict,
}
#: the element types of the array and object fields of a face (the field table names the JSON type only)
_FIELD_TYPES: dict[str, Any] = {
    "box": list[float],
    "landmarks": list[list[float]],
    "advice": list[str],
    "occluders": dict[str, float],
    "parts": dict[str, float],
}


def face_model() -> type[BaseModel]:
    """The HTTP schema of one face, made from ``FACE_FIELDS`` plus the fields the request options add."""
    fields: dict[str, Any] = {}
    for name, (kind, description) in FACE_FIELDS.items():
        base = _FIELD_TYPES.get(name, _JSON_TYPES[kind.rstrip("?")])
        # a nullable field may also be left out (track_id: video frames only)
        fields[name] = (
            (base | None, Field(None, description=description))
            if kind.endswith("?")
            else (base, Field(description=description))
        )
    fields["occlusion_map"] = (list[list[float]] | None, Field(None, description="with include_map=true"))
    fields["overlay"] = (
        dict | None,
        Field(None, description="with overlay=true: heat PNG and where to draw it (image pixels)"),
    )
    fields["covered_parts"] = (
        list[dict] | None,
        Field(None, description="with overlay=true: outlines of covered parts"),
    )
    fields["crop_to_image"] = (
        list[list[float]] | None,
        Field(None, description="with overlay=true: 2x3 aligned crop -> image"),
    )
    return create_model("FaceOut", **fields)


FaceOut = face_model()


class ImageOut(BaseModel):
    path: str | None = Field(description="the uploaded file's name, if any")
    width: int
    height: int
    faces: list[FaceOut]  # type: ignore[valid-type]  # a model made at import time
    error: str | None
    min_face_px: int | None = Field(None, description="the smallest face (pixels) the detector searched for")
    annotated_file: str | None = Field(None, description="always null here (the CLI's --annotate output)")
    warnings: list[str] | None = Field(None, description="only when there are some: how the image was read")


class BatchOut(BaseModel):
    results: list[ImageOut]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: the error body for each status."""
    return {status: {"model": ErrorResponse} for status in statuses}


#: the errors every analyze and job endpoint may answer
ERRORS = error_responses(400, 401, 408, 413, 415, 422, 429, 504)


def _binary() -> dict[str, str]:
    return {"type": "string", "format": "binary"}  # a fresh dict each time: FastAPI merges these into its own


IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": _binary()}, "required": ["file"]}
            },
            "application/octet-stream": {"schema": _binary()},
            "image/jpeg": {"schema": _binary()},
            "image/png": {"schema": _binary()},
        },
    }
}
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": _binary()}},
                    "required": ["files"],
                }
            }
        },
    }
}
JOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": _binary()}}},
            "application/octet-stream": {"schema": _binary()},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "path": {
                            "type": "string",
                            "description": "a video under the server's jobs root (relative to it)",
                        },
                        "every_n": {"type": "integer", "minimum": 1},
                        "fps": {"type": "number", "exclusiveMinimum": 0},
                        "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                        "eyeglasses_occlude": {"type": "boolean"},
                        "include_map": {"type": "boolean"},
                    },
                    "required": ["path"],
                }
            },
        },
    }
}
