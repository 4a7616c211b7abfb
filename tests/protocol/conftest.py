"""Protocol fixtures: one demo operator per test module, on 127.0.0.1 ports chosen by the OS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOperator]:
    operator = RunningOperator(tmp_path_factory.mktemp("demo")).start()
    yield operator
    operator.stop()
