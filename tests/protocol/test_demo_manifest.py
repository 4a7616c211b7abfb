"""The demo manifest that tests and tools rely on (ARCHITECTURE.md, "The demo")."""

from __future__ import annotations

from tests.protocol.harness import RunningOperator


def test_manifest_lists_listeners_pki_and_every_kind_of_account(running: RunningOperator) -> None:
    manifest = running.manifest
    assert set(manifest["listeners"]) == {"mx", "submission", "submissions", "imap", "imaps"}
    for name in ("ca_cert",):
        assert (running.folder / manifest[name]).is_file()
    for operator in ("peer_operator", "untrusted_operator"):
        entry = manifest[operator]
        assert (running.folder / entry["cert"]).is_file()
        assert (running.folder / entry["key"]).is_file()
        assert entry["domain"]
    accounts = manifest["accounts"]
    assert {a["kind"] for a in accounts} >= {"PER", "ORG", "APP", "PATIENT"}
    patient_states = {a["state"] for a in accounts if a["kind"] == "PATIENT"}
    assert patient_states == {"active", "auto_created", "pending", "opposed", "closed"}
    assert any(a["kind"] == "ORG" and len(a["delegates"]) == 2 for a in accounts)
    assert any(a["pharmacy"] for a in accounts)
    assert any(a["kind"] == "APP" and a["no_reply"] for a in accounts)
    assert all(a["password"] for a in accounts)
    assert all(a["rpps"] for a in accounts if a["kind"] == "PER")


def test_demo_files_holding_secrets_are_private(running: RunningOperator) -> None:
    for name in ("mss.toml", "accounts.json", "demo.json", "pki/server.key"):
        assert (running.folder / name).stat().st_mode & 0o077 == 0, name
