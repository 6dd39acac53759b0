"""Turn pydantic's validation errors into lines a user can act on.

pydantic reports ``('endpoints', 1, 'p95')`` and "Input should be a valid
number"; a user wants ``sla.yaml: endpoints[1].p95: 'fast' is not a number``
and, for a misspelt key, the keys that are allowed there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def field_path(loc: Sequence[int | str]) -> str:
    """('endpoints', 1, 'p95') -> 'endpoints[1].p95'; dict-key errors name the key itself."""
    out = ""
    previous: int | str = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int) and previous == "endpoints":  # the only list; other ints are dict keys
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top level)"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's annotation (`X`, `list[X]`, `X | None`, `dict[str, X]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel]:
    """The model whose keys are allowed at `loc` (for 'unknown key' hints), found by walking `root`'s fields."""
    model = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        nested = _nested_model(field.annotation) if field is not None else None
        if nested is None:
            return model
        model = nested
    return model


def _message(err: ErrorDetails, root: type[BaseModel]) -> str:
    kind, value, loc = err["type"], err.get("input"), err["loc"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if kind == "extra_forbidden":
        allowed = ", ".join(_model_at(root, loc[:-1]).model_fields)
        return f"unknown key {loc[-1]!r}" + (f"; allowed here: {allowed}" if allowed else "")
    if kind == "missing":
        if loc == ("version",):
            return "is required: write `version: 1` as the first line"
        return "is required"
    if kind in ("float_parsing", "float_type"):
        return f"{value!r} is not a number"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{value!r} is not a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{value!r} is not true or false"
    if kind in ("string_type",):
        return f"{value!r} is not a string"
    if kind in ("list_type",):
        return f"expected a list (- item per line), got {type(value).__name__}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {type(value).__name__} {value!r}"
    if kind == "literal_error":
        if loc == ("version",):
            return f"version {value!r} is not supported; this loadtest reads version 1"
        return f"{value!r} is not one of {ctx.get('expected', '')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
        bound = next((f"{words[k]} {ctx[k]}" for k in ("gt", "ge", "lt", "le") if k in ctx), "")
        return f"{value!r} must be {bound}"
    if kind == "union_tag_invalid" or kind.startswith("literal"):
        return f"{value!r}: {err['msg']}"
    # our own PydanticCustomError messages are already written for users
    return str(err["msg"]).removeprefix("Value error, ")


def _collapse_union(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """`warmup: soon` fails both union arms; report it once, in words that name both."""
    out: list[ErrorDetails] = []
    seen_warmup = False
    for err in errors:
        if err["loc"][:1] == ("warmup",):
            if seen_warmup:
                continue
            seen_warmup = True
            err = {
                **err,
                "loc": ("warmup",),
                "type": "warmup",
                "msg": (f"{err.get('input')!r} is neither 'spawn' nor a number of seconds >= 0"),
            }
        out.append(err)
    return out


def describe(exc: ValidationError, origin: str, root: type[BaseModel]) -> str:
    """One line per problem: `<file>: <field path>: <what is wrong>`."""
    lines = []
    for err in _collapse_union(exc.errors(include_url=False)):
        lines.append(f"{origin}: {field_path(err['loc'])}: {_message(err, root)}")
    return "\n".join(dict.fromkeys(lines))
