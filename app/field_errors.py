"""A request's validation errors in the user's words: the field, what is wrong, the fix.

Pydantic reports where validation failed in its own terms (`range.arange.num`, "extra inputs
are not permitted", "instance of Linspace"); here each error becomes one sentence naming the
request field as the client wrote it. Unknown fields are matched against the model's own
fields, and the names of the notebook and of other tools (`lr`, `step_num`, `h`) point to
ours.
"""

from __future__ import annotations

import difflib
import json
import math
from typing import Any

from pydantic import BaseModel

# Field names from the notebook (`lr`, `step_num`, `init_x`) and other tools, and the field
# they mean here (the first of the list that the request has).
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "lr": ("learning_rate",),
    "eta": ("learning_rate",),
    "alpha": ("learning_rate",),
    "step_num": ("steps",),
    "num_steps": ("steps",),
    "iterations": ("steps",),
    "max_iter": ("steps",),
    "n_iter": ("steps",),
    "init_x": ("init",),
    "x0": ("init",),
    "start": ("init",),
    "x": ("points", "point", "init"),
    "xs": ("points",),
    "point": ("points",),
    "at": ("points", "point"),
    "h": ("step",),
    "eps": ("step",),
    "epsilon": ("step",),
    "delta": ("step",),
    "tol": ("tolerance",),
    "f": ("expression",),
    "fn": ("expression",),
    "func": ("expression",),
    "function": ("expression",),
    "expr": ("expression",),
    "formula": ("expression",),
    "equation": ("expression",),
    "params": ("parameters",),
    "constants": ("parameters",),
    "vars": ("variables",),
    "var": ("variable", "variables"),
    "wrt": ("variable", "variables"),
    "mode": ("method",),
    "scheme": ("method",),
    "grid": ("range",),
    "range": ("grid",),
    "axes": ("grid",),
    "n": ("order",),
    "derivative_order": ("order",),
}

_AXIS = '{"start": 0, "stop": 1, "num": 5}'
_AXIS_TAGS = {"arange", "linspace"}

_KINDS = {
    "float_type": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "`true` or `false`",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "finite_number": "a finite number",
}


def location(loc: tuple[Any, ...]) -> str:
    """`("body", "grid", 0, "arange", "num")` → `grid[0].num`: the request's own path."""
    text = ""
    for part in loc:
        if (part == "body" and not text) or part in _AXIS_TAGS:
            continue
        if isinstance(part, str) and "[" in part:
            continue  # a validator's name (`function-after[...]`), not a field
        if isinstance(part, str) and len(part) > 40:
            part = part[:20] + "..."  # a dict key the client chose: never echo it whole
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {str: "a string", list: "a list", dict: "an object", int: "a number"}
    return kinds.get(type(value), "a number")


def _shown(value: Any) -> str:
    """A short scalar as JSON; anything else only by its kind (inputs are never echoed)."""
    if isinstance(value, bool | int | float) or value is None:
        if isinstance(value, float) and not math.isfinite(value):
            return _kind(value)
        text = json.dumps(value)
        return text if len(text) <= 24 else _kind(value)
    if isinstance(value, str) and len(value) <= 24 and value.isprintable():
        return json.dumps(value)
    return _kind(value)


def _example(model: type[BaseModel] | None, field: str) -> str | None:
    """The model's example for `field`, or for `points[0]` the first item of `points`'."""
    name, _, index = field.partition("[")
    if model is None or name not in model.model_fields:
        return None
    examples = model.model_fields[name].examples or []
    if not examples:
        return None
    example = examples[0]
    if index:
        if not (isinstance(example, list) and example and index.endswith("]")):
            return None
        text = json.dumps(example[0])
        return f"`{text}`" if len(text) <= 90 else None
    text = json.dumps(example)
    return f'`"{name}": {text}`' if len(text) <= 90 else None


def _fields(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model is not None else []


def unknown_field(name: str, model: type[BaseModel] | None) -> str:
    fields = _fields(model)
    meant = [f for f in KNOWN_NAMES.get(name, ()) if f in fields]
    if not meant:
        meant = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
    if meant:
        return f"unknown field `{name}`; write `{meant[0]}` instead."
    listed = ", ".join(f"`{f}`" for f in fields[:8])
    return f"unknown field `{name}`; this request's fields are {listed}."


def unknown_fields(names: list[str], model: type[BaseModel] | None) -> str | None:
    """Several unknown fields at once (the notebook's `init_x`, `lr`, `step_num`), in one
    sentence when each has a counterpart here."""
    fields = _fields(model)
    meant = []
    for name in names:
        known = [f for f in KNOWN_NAMES.get(name, ()) if f in fields]
        known = known or difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
        if not known:
            return None
        meant.append(known[0])
    listed = ", ".join(f"`{n}`" for n in names)
    fixes = ", ".join(f"`{m}`" for m in meant)
    return f"unknown fields {listed}; write {fixes} instead."


def message(error: dict[str, Any], model: type[BaseModel] | None) -> str:
    """One sentence for one pydantic error."""
    loc = tuple(error.get("loc", ()))
    field = location(loc)
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "extra_forbidden":
        return _extra(loc, field, model)
    if kind == "missing":
        return _missing(field, loc, model)
    if kind == "axis_spec" or (kind == "model_type" and _is_axis(loc)):
        return _axis(field, value)
    if kind in _KINDS:
        return _wrong_type(field, kind, value, model)
    context = error.get("ctx") or {}
    if kind == "literal_error":
        expected = context.get("expected", "one of the documented values")
        return f"`{field}` must be {expected}; got {_shown(value)}."
    if kind in ("too_short", "too_long"):
        return _length(field, kind, context)
    if kind == "string_pattern_mismatch":
        return (
            f"`{field}` must be a name such as `x` or `x0`: a letter, then letters, digits "
            f"or `_`; got {_shown(value)}."
        )
    return _general(field, error)


def _axis(field: str, value: Any) -> str:
    if isinstance(value, dict):
        return (
            f"`{field}` needs `step` (a spacing) or `num` (a count) besides `start` and "
            f"`stop`, as in {_AXIS}."
        )
    return (
        f"`{field}` must be an object {{start, stop, step}} or {{start, stop, num}}, "
        f"such as {_AXIS}; got {_kind(value)}."
    )


def _extra(loc: tuple[Any, ...], field: str, model: type[BaseModel] | None) -> str:
    name = str(loc[-1])
    if _is_axis(loc):
        parent = location(loc[:-1])
        if name in ("num", "step"):
            return (
                f"`{parent}` has both `step` and `num`; keep `step` for a spacing "
                "(stop excluded) or `num` for a count (stop included)."
            )
        return (
            f"`{parent}` has no field `{name}`; an axis is {{start, stop, step}} or "
            "{start, stop, num}."
        )
    if len([p for p in loc if p != "body"]) > 1:
        return f"`{field}` is not a field; remove it."
    return unknown_field(name, model)


def _is_axis(loc: tuple[Any, ...]) -> bool:
    return any(part in _AXIS_TAGS for part in loc)


def _missing(field: str, loc: tuple[Any, ...], model: type[BaseModel] | None) -> str:
    if _is_axis(loc):
        parent = location(loc[:-1])
        return (
            f"`{field}` is missing; an axis is {{start, stop, step}} or {{start, stop, num}}, "
            f'such as `"{parent}": {_AXIS}`.'
        )
    example = _example(model, field)
    return (
        f"`{field}` is missing; add it, as in {example}."
        if example
        else f"`{field}` is missing; add it."
    )


def _wrong_type(field: str, kind: str, value: Any, model: type[BaseModel] | None) -> str:
    wanted = _KINDS[kind]
    if isinstance(value, str) and kind in ("float_type", "int_type"):
        try:
            float(value)
        except ValueError:
            pass
        else:
            return (
                f"`{field}` must be {wanted}, not a string; write {value.strip()} without quotes."
            )
    if kind == "int_from_float":
        return f"`{field}` must be a whole number; got {_shown(value)}."
    if kind == "finite_number":
        return f"`{field}` must be a finite number; got {_shown(value)}."
    example = _example(model, field)
    fix = f"; write it as in {example}." if example else "."
    return f"`{field}` must be {wanted}, not {_kind(value)}{fix}"


def _length(field: str, kind: str, context: dict[str, Any]) -> str:
    if kind == "too_short":
        least = context.get("min_length", 1)
        return f"`{field}` is empty; give at least {least} value{'s' if least != 1 else ''}."
    most = context.get("max_length")
    return f"`{field}` has too many items; give at most {most}."


def _general(field: str, error: dict[str, Any]) -> str:
    text = str(error.get("msg", "is invalid")).rstrip(".")
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    text = text.replace("Input should be", "must be").replace(" or instance of ", " or ")
    if field == "body":
        return f"{text}." if text else "the request is invalid; see /docs for its fields."
    if not text.startswith("must"):
        text = "must be valid: " + text[0].lower() + text[1:]
    shown = error.get("input")
    got = f"; got {_shown(shown)}" if isinstance(shown, bool | int | float) else ""
    return f"`{field}` {text}{got}."
