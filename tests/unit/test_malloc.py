"""``mss serve`` fixes glibc's mmap threshold (issue 3), unless the administrator tuned malloc."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

from mss.malloc import tune_allocator

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "from mss.malloc import tune_allocator; print(tune_allocator())"


def _run(env: dict[str, str]) -> str:
    done = subprocess.run(  # a fresh process: the setting is process-wide
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(ctypes.util.find_library("c") is None, reason="no C library found")
def test_the_threshold_is_fixed_on_glibc() -> None:
    assert _run({"PATH": "/usr/bin:/bin"}) == "True"


def test_the_administrators_malloc_tunables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert tune_allocator() is False
    assert _run({"PATH": "/usr/bin:/bin", "MALLOC_MMAP_THRESHOLD_": "65536"}) == "False"
