"""How the node's HTTP routes document their error answers in the OpenAPI document: every
error is ``{"error": {"code", "message"}}`` with a stable code, listed under its status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ERROR_SCHEMA", "error_doc"]

#: The JSON schema of every error body.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    }},
}


def error_doc(status_by_code: Mapping[str, int], *codes: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may answer ``codes``: one entry per status, its
    description the codes it covers, its body :data:`ERROR_SCHEMA`."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(status_by_code[code], []).append(code)
    return {
        status: {"description": ", ".join(names),
                 "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status, names in sorted(by_status.items())
    }
