"""The DATA phase of SMTP as a pure state machine: feed it bytes, it finds the end of data,
undoes dot-stuffing and enforces the size and line limits (RFC 5321 §4.5.2, §4.5.3.1.6).

Only ``CRLF . CRLF`` ends the data: a bare LF or CR around the dot does not (SMTP smuggling).
Work is done on whole buffers with ``bytes.find``/``replace``, never byte by byte in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

END = b"\r\n.\r\n"
EMPTY_END = b".\r\n"  # the end right after the DATA line: an empty message


class DataProblem(StrEnum):
    TOO_BIG = "too_big"
    LINE_TOO_LONG = "line_too_long"


@dataclass(frozen=True, slots=True)
class DataResult:
    content: bytes  # dot-unstuffed, ending with CRLF (or empty); empty when there is a problem
    problem: DataProblem | None = None


class DataReader:
    """Feed chunks until ``done``; then ``result`` is set and ``rest`` holds what followed."""

    def __init__(self, *, max_size: int, max_line: int) -> None:
        self._max_size = max_size
        self._max_line = max_line  # octets per line, CRLF included
        self._buffer = bytearray()
        self._at_start = True
        self._too_big = False
        self._kept = 0  # octets received so far, discarded ones included
        self.done = False
        self.rest = b""
        self.result: DataResult | None = None

    def feed(self, chunk: bytes) -> None:
        if self.done:
            raise RuntimeError("DATA already complete")
        search_from = max(0, len(self._buffer) - (len(END) - 1))
        self._buffer += chunk
        self._kept += len(chunk)
        if self._at_start and len(self._buffer) >= len(EMPTY_END):
            self._at_start = False
            if self._buffer.startswith(EMPTY_END):
                self._finish(0, len(EMPTY_END), empty=True)
                return
        if self._at_start:
            return
        end = self._buffer.find(END, search_from)
        if end >= 0:
            self._finish(end + 2, end + len(END))
        elif self._kept > self._max_size + len(END):
            self._discard()

    def _discard(self) -> None:
        """Past the limit: keep scanning for the end, but hold no more than a possible partial
        terminator in memory."""
        self._too_big = True
        del self._buffer[: len(self._buffer) - (len(END) - 1)]

    def _finish(self, content_end: int, rest_start: int, *, empty: bool = False) -> None:
        self.done = True
        self.rest = bytes(self._buffer[rest_start:])
        raw = b"" if empty else bytes(self._buffer[:content_end])
        self._buffer = bytearray()
        self.result = self._check(raw)

    def _check(self, raw: bytes) -> DataResult:
        if self._too_big or len(raw) > self._max_size:
            return DataResult(b"", DataProblem.TOO_BIG)
        if len(raw) > self._max_line and _longest_line(raw) > self._max_line:
            return DataResult(b"", DataProblem.LINE_TOO_LONG)
        return DataResult(unstuff(raw))


def unstuff(raw: bytes) -> bytes:
    """RFC 5321 §4.5.2: remove the first period of every line that starts with one."""
    if raw.startswith(b"."):
        raw = raw[1:]
    return raw.replace(b"\r\n.", b"\r\n")


def _longest_line(raw: bytes) -> int:
    return max(len(line) for line in raw.split(b"\r\n")) + 2
