"""Load a settings file (TOML + ``MSS_*`` environment); errors name file, key and problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from config.settings import Settings

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration that cannot be used; ``str()`` is one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings(path: Path | None = None) -> Settings:
    """Read ``path`` (or only the environment), validate, and resolve relative paths."""
    data: dict[str, Any] = {}
    label = str(path) if path else "(environment)"
    if path is not None:
        data = _read_toml(path)
    try:
        settings = Settings(**data)
    except ValidationError as error:
        raise ConfigError([_describe(label, item) for item in error.errors()]) from None
    base = path.resolve().parent if path else Path.cwd()
    return _resolve_paths(settings, base)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror}"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None


def _describe(label: str, item: Any) -> str:
    key = ".".join(str(part) for part in item["loc"]) or "(top level)"
    message = str(item["msg"])
    if item["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{label}: {key}: {message}"


def _resolve_paths(model: M, base: Path) -> M:
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            updates[name] = base / value
        elif isinstance(value, BaseModel):
            updates[name] = _resolve_paths(value, base)
    return model.model_copy(update=updates)
