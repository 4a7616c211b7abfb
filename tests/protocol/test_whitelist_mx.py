"""MSS-TRUST-5 end to end: a refresh of the whitelist on a running operator is seen by its MX at
once (MSS-TRUST-3): an operator refused before the refresh is accepted after it, and a failed
refresh changes nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from mss import demo
from mss.app import whitelist_refresher
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import mx_client
from tests.unit.test_whitelist_refresh import whitelist_xml


def subject_dn(running: RunningOperator, operator: str) -> str:
    pem = (running.folder / running.manifest[operator]["cert"]).read_bytes()
    return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()


def mail_from(running: RunningOperator, operator: str) -> tuple[int, bytes]:
    sender = f"dr.x@{running.manifest[operator]['domain']}"
    with mx_client(running, operator) as client:
        code, text = client.mail(sender)
    return code, text.split()[0]


def test_trust_5_refreshed_list_is_used_by_the_mx_at_once(
    running: RunningOperator, tmp_path: Path
) -> None:
    assert mail_from(running, "untrusted_operator") == (550, b"5.7.1")
    refresher = whitelist_refresher(running.operator)
    truncated = tmp_path / "truncated.xml"
    entries = [
        (demo.OUR_DOMAIN, subject_dn(running, "peer_operator")),  # any DN: only listed matters
        (running.manifest["peer_operator"]["domain"], subject_dn(running, "peer_operator")),
        (
            running.manifest["untrusted_operator"]["domain"],
            subject_dn(running, "untrusted_operator"),
        ),
    ]
    document = whitelist_xml(entries, datetime.now(UTC))
    truncated.write_text(document[: len(document) - 60])
    assert not running.call(refresher.refresh(str(truncated))).ok
    assert mail_from(running, "untrusted_operator") == (550, b"5.7.1")
    assert mail_from(running, "peer_operator") == (250, b"2.1.0")  # the last good copy

    (tmp_path / "update.xml").write_text(document)
    result = running.call(refresher.refresh(str(tmp_path / "update.xml")))
    assert result.ok, result.error
    assert mail_from(running, "untrusted_operator") == (250, b"2.1.0")
    assert mail_from(running, "peer_operator") == (250, b"2.1.0")
    report = running.call(refresher.report())
    assert report["entries"] == 3
    assert report["last_error"] == ""


def test_trust_5_the_scheduled_job_refreshes_from_the_configured_source(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The job started by ``serving()`` loads ``directory.whitelist_url`` every interval."""
    folder = tmp_path_factory.mktemp("demo-job")
    source = folder / "source.xml"
    operator = RunningOperator(folder)
    directory = operator.settings.directory.model_copy(
        update={"whitelist_url": str(source), "whitelist_refresh_interval": 0.2}
    )
    operator.settings = operator.settings.model_copy(update={"directory": directory})
    operator.start()
    try:
        entries = [
            (operator.manifest[name]["domain"], subject_dn(operator, name))
            for name in ("peer_operator", "untrusted_operator")
        ]
        source.write_text(whitelist_xml(entries, datetime.now(UTC) + timedelta(minutes=1)))
        deadline = time.monotonic() + 20
        while mail_from(operator, "untrusted_operator")[0] != 250:
            assert time.monotonic() < deadline, "the job did not load the new list"
            time.sleep(0.2)
        state = operator.call(operator.operator.directory.whitelist_refresh())
        assert state is not None
        assert state.source == str(source)
    finally:
        operator.stop()
