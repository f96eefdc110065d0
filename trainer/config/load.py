"""Loading the run configuration: a recipe (TOML) plus ``--key=value`` overrides into the typed
tree of schema.py, and back out (JSON in the run folder, ``--help-config``).

Precedence is CLI > recipe file > defaults. Unknown keys and wrong types raise ``ConfigError``
naming the key; ``bool`` is never taken for a number."""
from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import tomllib
import typing
from typing import Any

from trainer.config import schema
from trainer.config.schema import LIST_ITEM_TYPES, Config, PhaseConfig
from trainer.config.validate import validate
from trainer.errors import ConfigError

# keys that moved: a recipe that still has one is told where it went
MOVED = {"model.reuse_heads": 'phases.N.heads = "carry" or "fresh" (chosen per phase)'}


def _check_scalar(value: Any, typ: Any, key: str) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ in (int, float, str, bool) and (type(value) is not typ):
        raise ConfigError(f"{key}: expected {typ.__name__}, got {type(value).__name__} ({value!r})")
    if typ in (list, dict) and not isinstance(value, typ):
        raise ConfigError(f"{key}: expected a {typ.__name__}, got {type(value).__name__} ({value!r})")
    return value


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'recipe'}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        if f"{where}{unknown[0]}" in MOVED:
            raise ConfigError(f"{where}{unknown[0]} is now {MOVED[where + unknown[0]]}")
        raise ConfigError(f"unknown key {where}{unknown[0]} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _build(typ, value, key)
        elif (cls.__name__, name) in LIST_ITEM_TYPES:
            item = LIST_ITEM_TYPES[(cls.__name__, name)]
            _check_scalar(value, list, key)
            kwargs[name] = [_build(item, v, f"{key}.{i}") for i, v in enumerate(value)]
        else:
            kwargs[name] = _check_scalar(value, typ, key)
    return cls(**kwargs)


def build_table(cls: type, data: dict, prefix: str = "") -> Any:
    """Any config dataclass from a TOML table, with the checks of the run config (unknown keys
    and wrong types raise ConfigError naming the key); sweep specs use it."""
    return _build(cls, data, prefix)


def _parse_cli_value(text: str, current: Any) -> Any:
    """Parse an override against the type of the value it replaces."""
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"expected true/false, got {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, (list, dict)):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            if isinstance(current, list):
                return [t for t in text.split(",") if t]
            raise ConfigError(f"expected JSON for a table, got {text!r}") from None
    return text


def apply_override(tree: dict, dotted: str, text: str) -> None:
    """Set ``a.b.c=value`` (list items by index, ``phases.1.epochs=3``, or phases by name,
    ``phases.target.heads=fresh``) in a raw dict tree."""
    defaults = to_dict(Config())
    parts = dotted.split(".")
    node, ref = tree, defaults
    for i, part in enumerate(parts[:-1]):
        key = int(part) if part.isdigit() else part
        if isinstance(node, list) and not isinstance(key, int):  # a phase by its name
            names = [item.get("name") for item in node if isinstance(item, dict)]
            if key not in names:
                raise ConfigError(f"--{dotted}: no phase named {key!r} (phases: {', '.join(map(str, names))})")
            key = names.index(key)
        if isinstance(node, list):
            if key >= len(node):
                raise ConfigError(f"--{dotted}: index {key} out of range")
            node, ref = node[key], to_dict(PhaseConfig())
            continue
        if key not in node:
            if not isinstance(ref, dict) or key not in ref:
                raise ConfigError(f"unknown key {'.'.join(parts[:i + 1])}")
            node[key] = {}
        node, ref = node[key], (ref.get(key) if isinstance(ref, dict) else None)
    last = parts[-1]
    if isinstance(ref, dict) and last not in ref:
        raise ConfigError(f"{dotted} is now {MOVED[dotted]}" if dotted in MOVED else f"unknown key {dotted}")
    current = node.get(last, ref.get(last) if isinstance(ref, dict) else None)
    try:
        node[last] = _parse_cli_value(text, current)
    except ValueError as err:
        raise ConfigError(f"--{dotted}: {err}") from None


def read_toml(path: str, what: str = "recipe", error: type[Exception] = ConfigError) -> dict:
    """A TOML file as a dict; a missing file or a syntax error raises ``error`` naming the file
    (and, for syntax, the line and column)."""
    if not os.path.isfile(path):
        raise error(f"{what} not found: {path}")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as err:
            raise error(f"{path}: {err}") from None


def load(path: str | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a recipe (TOML) and apply ``key=value`` overrides; validate the result."""
    raw: dict = read_toml(path) if path else {}
    for item in overrides:
        item = item[2:] if item.startswith("--") else item
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like --key=value")
        key, value = item.split("=", 1)
        apply_override(raw, key, value)
    try:
        cfg = _build(Config, raw, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
    validate(cfg)
    return cfg


def to_dict(cfg: Any) -> Any:
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg


def dump(cfg: Config, path: str) -> None:
    """Write the resolved config (JSON, loadable with ``from_dict``)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(to_dict(cfg), f, indent=2, sort_keys=False)


def from_dict(data: dict) -> Config:
    cfg = _build(Config, data, "")
    validate(cfg)
    return cfg


def describe(cfg: Config) -> str:
    """Every key of the resolved config with its value and its docstring, section by section
    (`xstilts train RECIPE --help-config`)."""
    docs = field_docs()
    lines: list[str] = []

    def section(prefix: str, doc_prefix: str, obj: Any) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            nested = dataclasses.is_dataclass(value)
            lines.append(f"{prefix}.{f.name}:" if nested else f"{prefix}.{f.name} = {json.dumps(to_dict(value))}")
            doc = " ".join(docs.get(f"{doc_prefix}.{f.name}", "").split())
            if doc:
                lines.append(f"    {doc}")
            if nested:
                section(f"{prefix}.{f.name}", f"{doc_prefix}.{f.name}", value)

    for f in dataclasses.fields(cfg):
        if f.name == "phases":
            for i, phase in enumerate(cfg.phases):
                lines.append("")
                section(f"phases.{i}", "phases[]", phase)
            continue
        lines.append("")
        section(f.name, f.name, getattr(cfg, f.name))
    return "\n".join(lines).strip() + "\n"


def field_docs() -> dict[str, str]:
    """``section.key`` -> the docstring under each field (for `xstilts train --help-config`)."""
    docs: dict[str, str] = {}
    tree = ast.parse(inspect.getsource(schema))
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    by_class = {typ if isinstance(typ, str) else typ.__name__: sec for sec, typ in sections.items()}
    by_class["PhaseConfig"] = "phases[]"
    by_class["PerturbConfig"] = "eval.perturb"
    by_class["AttackConfig"] = "eval.attack"
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in by_class:
            body = node.body
            for a, b in zip(body, body[1:]):
                if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
                    docs[f"{by_class[node.name]}.{a.target.id}"] = str(b.value.value)
    return docs
