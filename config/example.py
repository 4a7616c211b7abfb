"""Render a commented example configuration (TOML) from the settings model itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from config.settings import Settings

HEADER = """\
# mss configuration. Every key is optional; the values shown are the defaults.
# Relative paths are relative to this file's folder. Any key can be overridden by the
# environment: MSS_<SECTION>__<KEY>, e.g. MSS_SMTP__MAX_RECIPIENTS=200.
"""


def render_example() -> str:
    """The example file: every setting with its description and default."""
    lines = [HEADER]
    lines += _render_model(Settings(), prefix="")
    return "\n".join(lines).rstrip() + "\n"


def _render_model(model: BaseModel, prefix: str) -> list[str]:
    scalars: list[str] = []
    sections: list[str] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            sections += ["", f"# {field.description}", f"[{key}]"]
            sections += _render_model(value, prefix=f"{key}.")
            continue
        scalars.append(f"# {field.description}")
        rendered = _toml_value(value)
        scalars.append(f"{name} = {rendered}" if rendered is not None else f"# {name} =")
    return scalars + sections


def _toml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, SecretStr):
        return json.dumps("")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(_toml_value(v)) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return json.dumps(str(value))
