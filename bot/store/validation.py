"""Checks the record types share: ids, typed and bounded values, and updates by field name.

A wrong type is our bug (TypeError); a value out of range is something a user typed
(StoreLimitError, with a message for them).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import StoreLimitError, UnknownFieldError

# SQLite integers are signed 64-bit; Discord snowflakes fit.
MAX_INT = 2**63 - 1
Record = TypeVar("Record")


def label(name: str) -> str:
    """A field name as users read it: spoken_name → spoken name."""
    return name.replace("_", " ")


def check_id(name: str, value: object) -> int:
    """A Discord id: a positive integer."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 < value <= MAX_INT:
        raise ValueError(f"{name} must be a positive 64-bit id, not {value}")
    return value


def check_optional_id(name: str, value: object) -> int | None:
    return None if value is None else check_id(name, value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def check_int(name: str, value: object, low: int = -MAX_INT - 1, high: int = MAX_INT) -> int:
    """An int (bool refused: True as a count is a bug) within [low, high]."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise StoreLimitError("store.int_range", field=label(name), low=low, high=high, value=value)
    return value


def check_float(name: str, value: object, low: float, high: float) -> float:
    """A finite number within [low, high], stored as float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and low <= value <= high):
        raise StoreLimitError("store.number_range", field=label(name), low=low, high=high, value=value)
    return float(value)


def check_text(name: str, value: object, max_chars: int) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if len(value) > max_chars:
        raise StoreLimitError("store.text_too_long", field=label(name), length=len(value), limit=max_chars)
    return value


def check_optional_text(name: str, value: object, max_chars: int) -> str | None:
    return None if value is None else check_text(name, value, max_chars)


def with_changes(record: Record, changes: Mapping[str, Any], *, fixed: frozenset[str], what: str) -> Record:
    """`record` with `changes` applied; an unknown or fixed field name raises UnknownFieldError."""
    names = [f.name for f in dataclasses.fields(record)]  # type: ignore[arg-type]
    editable = [n for n in names if n not in fixed]
    for key in changes:
        if key in fixed:
            raise UnknownFieldError("store.fixed_field", what=what, field=repr(key))
        if key not in editable:
            close = difflib.get_close_matches(key, editable, n=1)
            if close:
                raise UnknownFieldError("store.unknown_field_close", what=what, field=repr(key), close=close[0])
            raise UnknownFieldError("store.unknown_field", what=what, field=repr(key), known=", ".join(editable))
    return dataclasses.replace(record, **changes)  # type: ignore[type-var]
