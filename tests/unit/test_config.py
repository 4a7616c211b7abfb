"""Settings: the example is generated from the model and loads back to the defaults; errors name
the file, the key and the problem; the environment overrides the file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from config import ConfigError, Settings, load_settings
from config.example import render_example


def test_example_parses_and_matches_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mss.toml"
    path.write_text(render_example())
    tomllib.loads(path.read_text())
    loaded = load_settings(path)
    defaults = Settings()
    assert loaded.smtp == defaults.smtp
    assert loaded.policy == defaults.policy
    assert loaded.data_dir == tmp_path / "data"


def test_every_setting_has_a_description() -> None:
    def walk(model: type[object]) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            if not field.description:
                missing.append(name)
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                missing += walk(annotation)
        return missing

    assert walk(Settings) == []


def test_errors_name_file_key_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[smtp]\nmax_recipients = "many"\nmax_recipent = 3\n[policy]\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    lines = raised.value.problems
    assert any(line.startswith(f"{path}: smtp.max_recipients:") for line in lines)
    assert f"{path}: smtp.max_recipent: unknown setting" in lines


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text("[smtp\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.toml")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mss.toml"
    path.write_text("[smtp]\nmax_recipients = 10\n")
    monkeypatch.setenv("MSS_SMTP__MAX_RECIPIENTS", "250")
    assert load_settings(path).smtp.max_recipients == 250


def test_line_limit_cannot_go_below_rfc(tmp_path: Path) -> None:
    path = tmp_path / "mss.toml"
    path.write_text("[smtp]\nmax_line_length = 80\n")
    with pytest.raises(ConfigError, match=r"smtp\.max_line_length"):
        load_settings(path)
