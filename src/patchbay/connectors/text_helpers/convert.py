"""Any JSON value as text: shared by text-helpers (concatenate, template) and list-helpers
(join, group_by)."""

from __future__ import annotations

import json
from typing import Any


def to_text(value: Any) -> str:
    """Text as is; ``null`` as ""; booleans as ``true``/``false``; whole floats without
    ``.0``; objects and lists as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
