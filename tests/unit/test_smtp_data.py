"""The DATA reader (RFC 5321 §4.5.2): end of data, dot-unstuffing, limits, any chunking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mss.wire.smtp_data import DataProblem, DataReader

LIMIT = 10_000


def read(stream: bytes, chunks: list[int] | None = None, **limits: int) -> DataReader:
    reader = DataReader(
        max_size=limits.get("max_size", LIMIT), max_line=limits.get("max_line", 1001)
    )
    position = 0
    for size in chunks or [len(stream)]:
        if reader.done or position >= len(stream):
            break
        reader.feed(stream[position : position + max(1, size)])
        position += max(1, size)
    while not reader.done and position < len(stream):
        reader.feed(stream[position : position + 7])
        position += 7
    if reader.done:
        reader.rest = reader.rest + stream[position:]
    return reader


def reference(stream: bytes) -> tuple[bytes, bytes] | None:
    """Line by line, as RFC 5321 describes it: (content, rest) or None when unfinished."""
    lines = stream.split(b"\r\n")
    content: list[bytes] = []
    consumed = 0
    for line in lines[:-1]:
        consumed += len(line) + 2
        if line == b".":
            return b"".join(content), stream[consumed:]
        content.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
    return None


def test_simple_message_and_pipelined_rest() -> None:
    reader = read(b"Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    assert reader.done
    assert reader.result is not None
    assert reader.result.content == b"Subject: a\r\n\r\nbody\r\n"
    assert reader.rest == b"QUIT\r\n"


def test_empty_message() -> None:
    reader = read(b".\r\nNOOP\r\n")
    assert reader.result is not None
    assert reader.result.content == b""
    assert reader.rest == b"NOOP\r\n"


def test_dot_stuffing_is_undone() -> None:
    reader = read(b"..leading\r\nmid..dle\r\n..\r\n.\r\n")
    assert reader.result is not None
    assert reader.result.content == b".leading\r\nmid..dle\r\n.\r\n"


def test_bare_lf_dot_does_not_end_data() -> None:
    """MSS-MSG-5: `\\n.\\n` and `\\r.\\r` are not the end of data (SMTP smuggling)."""
    stream = b"a\n.\nMAIL FROM:<x@evil>\r\nb\r.\rc\r\n.\r\n"
    reader = read(stream)
    assert reader.result is not None
    assert reader.result.content == b"a\n.\nMAIL FROM:<x@evil>\r\nb\r.\rc\r\n"


def test_too_big_is_refused_and_memory_stays_bounded() -> None:
    reader = DataReader(max_size=1000, max_line=1001)
    for _ in range(1000):
        reader.feed(b"x" * 998 + b"\r\n")
        assert len(reader._buffer) < 3000
    reader.feed(b".\r\n")
    assert reader.result is not None
    assert reader.result.problem is DataProblem.TOO_BIG


def test_long_line_is_refused() -> None:
    reader = read(b"x" * 2000 + b"\r\n.\r\n")
    assert reader.result is not None
    assert reader.result.problem is DataProblem.LINE_TOO_LONG


@given(
    st.lists(
        st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b".\r\n", b"\r\n.\r\n", b".."]),
        max_size=40,
    ),
    st.lists(st.integers(min_value=1, max_value=9), max_size=20),
)
def test_matches_the_line_by_line_reference_for_any_chunking(
    parts: list[bytes], chunks: list[int]
) -> None:
    stream = b"".join(parts) + b"\r\n.\r\nTAIL"
    expected = reference(stream)
    reader = read(stream, chunks, max_size=10**6, max_line=10**6)
    assert reader.done
    assert expected is not None
    assert reader.result is not None
    assert (reader.result.content, reader.rest) == expected
