"""What the HTTP API refuses, in OpenAI's error shape, and the checks of request fields that
name the field at fault; shared by the OpenAI routes (``app.py``) and the page's (``page.py``)."""

from __future__ import annotations

import json
import math
from typing import Any


class APIError(Exception):
    """A request the API refuses, in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array",
              dict: "an object"}


def field(body: dict, name: str, kind: type, default: Any = None, required: bool = False) -> Any:
    """``body[name]`` as a ``kind``; ``default`` when absent or null; an APIError naming the field otherwise."""
    value = body.get(name)
    if value is None:
        if required:
            raise APIError(400, f"you must provide the '{name}' field", param=name, code="missing_required_parameter")
        return default
    # JSON has no integer-valued floats for integer fields; booleans are not numbers.
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise APIError(400, f"'{name}' must be {TYPE_NAMES[kind]}, got {json.dumps(value)[:80]}", param=name,
                       code="invalid_type")
    if kind is float and not math.isfinite(value):
        raise APIError(400, f"'{name}' must be a finite number", param=name, code="invalid_value")
    return value
