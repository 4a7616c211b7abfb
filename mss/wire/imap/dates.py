"""IMAP dates (RFC 3501 §9): ``date`` (``1-Feb-1994``) and ``date-time`` (with time and zone)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from mss.wire.imap.lexer import Reader

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name.upper(): index + 1 for index, name in enumerate(MONTHS)}
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) '
    rb'([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)


def _make_date(reader: Reader, day: bytes, month: bytes, year: bytes) -> date:
    number = _MONTH_NUMBER.get(month.decode("ascii").upper())
    if number is None:
        raise reader.error("bad month")
    try:
        return date(int(year), number, int(day))
    except ValueError as exc:
        raise reader.error("bad date") from exc


def read_date(reader: Reader) -> date:
    """``date-text`` or the same in double quotes."""
    quoted = reader.take(b'"')
    match = _DATE.match(reader.data, reader.pos)
    if match is None:
        raise reader.error("expected a date")
    reader.pos = match.end()
    if quoted:
        reader.expect(b'"', "closing quote of a date")
    return _make_date(reader, *match.groups())


def read_date_time(reader: Reader) -> datetime:
    """``"dd-Mon-yyyy hh:mm:ss +zzzz"`` as an aware datetime."""
    match = _DATE_TIME.match(reader.data, reader.pos)
    if match is None:
        raise reader.error("expected a date-time")
    reader.pos = match.end()
    day, month, year, hh, mm, ss, sign, zh, zm = match.groups()
    day_value = _make_date(reader, day.strip() or b"0", month, year)
    offset = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == b"-" else 1)
    if int(zm) > 59 or offset >= timedelta(hours=24):
        raise reader.error("bad time zone")
    try:
        return datetime(
            day_value.year,
            day_value.month,
            day_value.day,
            int(hh),
            int(mm),
            int(ss),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise reader.error("bad time") from exc


def render_date_time(value: datetime) -> str:
    """``"dd-Mon-yyyy hh:mm:ss +zzzz"`` (without the quotes), as INTERNALDATE is sent."""
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    month = MONTHS[value.month - 1]
    return f"{value.day:02d}-{month}-{value.year:04d} {value:%H:%M:%S} {sign}{hours:02d}{mins:02d}"
