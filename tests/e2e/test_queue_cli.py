"""``mss queue list|show|retry|delete``, run as an administrator would (issue 4, item 6)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import load_settings
from mss.app import open_operator
from mss.outbound import NewMessage, NewRecipient
from tests.e2e.test_cli import config, mss  # noqa: F401  (the fixture is used by name)

SECRET_LINE = b"Patient DUPONT Jean: bilan"


def enqueue(config_path: Path, queue_id: str) -> None:
    async def run() -> None:
        async with open_operator(load_settings(config_path)) as operator:
            assert operator.outbound is not None
            now = datetime.now(UTC)
            await operator.outbound.enqueue(
                NewMessage(
                    queue_id=queue_id,
                    sender="dr.a@hop.test",
                    recipients=(
                        NewRecipient(
                            "x@peer.test", frozenset({"SUCCESS"}), ("rfc822", "x@peer.test")
                        ),
                    ),
                    body=b"Subject: s\r\n\r\n" + SECRET_LINE + b"\r\n",
                    created_at=now,
                    expires_at=now + timedelta(days=5),
                    envid="E1",
                )
            )

    asyncio.run(run())


def test_queue_list_show_retry_delete(config: Path) -> None:  # noqa: F811
    assert mss("queue", "list", "--config", str(config)).stdout == ""
    enqueue(config, "0123456789ABCDEF")
    listed = mss("queue", "list", "--config", str(config))
    assert listed.returncode == 0
    [line] = listed.stdout.splitlines()
    assert line.startswith("0123456789ABCDEF\t")
    assert "<dr.a@hop.test>" in line
    assert "x@peer.test" in line
    as_json = json.loads(mss("queue", "list", "--json", "--config", str(config)).stdout)
    assert [m["queue_id"] for m in as_json] == ["0123456789ABCDEF"]
    assert as_json[0]["recipients"][0]["notify"] == ["SUCCESS"]
    shown = mss("queue", "show", "0123456789abcdef", "--config", str(config))
    assert shown.returncode == 0
    assert "envid:      E1" in shown.stdout
    assert SECRET_LINE.decode() not in shown.stdout + listed.stdout  # never the content
    detail = json.loads(
        mss("queue", "show", "0123456789ABCDEF", "--json", "--config", str(config)).stdout
    )
    assert detail["recipients"][0]["orcpt"] == "rfc822;x@peer.test"
    retried = mss("queue", "retry", "0123456789ABCDEF", "--config", str(config))
    assert (retried.returncode, retried.stdout.strip()) == (0, "0123456789ABCDEF: due now")
    deleted = mss("queue", "delete", "0123456789ABCDEF", "--config", str(config))
    assert (deleted.returncode, deleted.stdout.strip()) == (0, "0123456789ABCDEF: deleted")
    assert mss("queue", "list", "--config", str(config)).stdout == ""


@pytest.mark.parametrize("command", ["show", "delete"])
def test_unknown_queue_id_is_one_clear_line(config: Path, command: str) -> None:  # noqa: F811
    result = mss("queue", command, "NOPE", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "mss: error: no queued message NOPE"
    assert "Traceback" not in result.stderr
