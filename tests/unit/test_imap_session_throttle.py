"""Password guessing: the wait before a login grows per peer and per login (issue 3)."""

from __future__ import annotations

from mss.imap.throttle import LoginThrottle


def test_delay_doubles_per_peer_and_per_login_up_to_the_cap() -> None:
    throttle = LoginThrottle(base=1.0, cap=5.0)
    assert throttle.delay("10.0.0.1", "dr@x.fr") == 0
    throttle.failed("10.0.0.1", "dr@x.fr")
    assert throttle.delay("10.0.0.1", "other@x.fr") == 1.0  # same peer
    assert throttle.delay("10.0.0.2", "DR@x.fr") == 1.0  # same login, another peer
    throttle.failed("10.0.0.1", "dr@x.fr")
    throttle.failed("10.0.0.1", "dr@x.fr")
    assert throttle.delay("10.0.0.1", "dr@x.fr") == 4.0
    for _ in range(5):
        throttle.failed("10.0.0.1", "dr@x.fr")
    assert throttle.delay("10.0.0.1", "dr@x.fr") == 5.0
    throttle.succeeded("10.0.0.9", "dr@x.fr")
    assert throttle.delay("10.0.0.9", "dr@x.fr") == 0
    assert throttle.delay("10.0.0.1", "dr@x.fr") == 5.0  # the peer keeps its count


def test_memory_is_bounded_and_entries_expire() -> None:
    throttle = LoginThrottle(base=1.0, cap=5.0, window=0.0, max_entries=10)
    for n in range(100):
        throttle.failed(f"10.0.{n}.1", f"u{n}@x.fr")
    assert len(throttle._failures) <= 10
    assert throttle.delay("10.0.99.1", "u99@x.fr") == 0  # window 0: already forgotten


def test_a_success_takes_its_own_failures_off_the_peer() -> None:
    # Many users behind one NAT address: a colleague's typos stop counting once they log in,
    # while failures on other logins (password spraying) still count against the address.
    throttle = LoginThrottle(base=1.0, cap=60.0)
    for _ in range(3):
        throttle.failed("192.0.2.1", "dr@x.fr")
    assert throttle.delay("192.0.2.1", "nurse@x.fr") == 4.0
    throttle.succeeded("192.0.2.1", "dr@x.fr")
    assert throttle.delay("192.0.2.1", "nurse@x.fr") == 0
    for n in range(3):
        throttle.failed("192.0.2.1", f"guess{n}@x.fr")
    throttle.failed("192.0.2.1", "dr@x.fr")
    throttle.succeeded("192.0.2.1", "dr@x.fr")
    assert throttle.delay("192.0.2.1", "nurse@x.fr") == 4.0  # the three guesses remain
