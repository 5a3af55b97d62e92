"""Typed parameters and options: one dataclass per converter (params) and per target (options).

The CLI (``--param``/``--option KEY=VALUE``), TOML configs and sweep grids all fill the same
dataclass through ``parse_params``, so an unknown or mistyped key is one error that names it and
lists the known ones. Each field's help is ``field(metadata={"help": ...})`` (``opt`` writes it), or
else the ``# comment`` at the end of the field's line, so ``neuroedge converters NAME`` and
``neuroedge targets NAME`` can list every parameter with its type, default and help.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union


class RegistryError(Exception):
    """An unknown name, an entry that failed to import, or a bad parameter."""


class ParamError(RegistryError, ValueError):
    """A parameter or option that is unknown or of the wrong type; the message names it."""


def opt(default: Any, help: str) -> Any:  # noqa: A002 - the natural name here
    """A dataclass field with a default and a one-line help text."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a CLI string or TOML value into ``tp``: int, float, bool, str, tuple[int, ...], Optional."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return _coerce(value, args[0], where)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ParamError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (tuple, list):
        args = typing.get_args(tp)
        item = args[0] if args else str
        items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
        out = [_coerce(v, item, where) for v in items]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ParamError(f"{where}: expected a table, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ParamError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            if tp is int and isinstance(value, bool):
                raise ValueError
            return tp(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ParamError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def parse_params(params_type: type, raw: Mapping[str, Any] | Any, where: str = "params",
                 kind: str = "parameter") -> Any:
    """Build a params dataclass from strings or TOML values; an unknown or bad key names itself.

    An instance of ``params_type`` is returned as it is.
    """
    if isinstance(raw, params_type):
        return raw
    hints = typing.get_type_hints(params_type)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    kwargs = {}
    for key, value in dict(raw or {}).items():
        norm = str(key).replace("-", "_")
        if norm not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ParamError(f"{where}: unknown {kind} {key!r}; known: {known}")
        kwargs[norm] = _coerce(value, hints[norm], f"{where}: {kind} {key!r}")
    try:
        return params_type(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ParamError(f"{where}: {exc}") from None


def params_to_json(params: Any) -> dict[str, Any]:
    out = {}
    for key, value in dataclasses.asdict(params).items():
        out[key] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
    return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])} or none" if len(args) == 1 else " or ".join(_type_name(a) for a in args)
    if origin in (tuple, list):
        args = typing.get_args(tp)
        return f"{_type_name(args[0]) if args else 'str'},..."
    return getattr(tp, "__name__", str(tp))


_COMMENT = re.compile(r"^\s*(\w+)\s*:[^#]*#\s*(.+)$")


def _source_comments(cls: type) -> dict[str, str]:
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in map(_COMMENT.match, lines) if m}


def describe(params_type: type) -> list[dict[str, str]]:
    """Each field: name, type, default and one-line help (for ``neuroedge converters|targets NAME``)."""
    hints = typing.get_type_hints(params_type)
    comments = _source_comments(params_type)
    rows = []
    for f in dataclasses.fields(params_type):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        if isinstance(default, tuple):
            default = ",".join(str(d) for d in default) or "(none)"
        rows.append({"name": f.name, "type": _type_name(hints[f.name]), "default": str(default),
                     "help": f.metadata.get("help") or comments.get(f.name, "")})
    return rows
