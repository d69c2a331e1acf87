"""The reader's time zone (issue 15): pages show every date in a zone the reader chooses,
without JavaScript.

``?tz=<IANA name>`` (e.g. ``Asia/Shanghai``, ``Europe/Berlin``, ``UTC``) switches and is
remembered in the cookie :data:`TZ_COOKIE` (like ``?lang=``); without either, the
deployment's zone (``ExplorerSource.time_zone``, default ``Asia/Shanghai``). The footer
offers :data:`ZONES` in a plain GET form. Zones come from ``zoneinfo`` (the system's tz
database, or the ``tzdata`` package); China Standard Time is a fixed UTC+8 (no daylight
saving since 1991), so ``Asia/Shanghai`` falls back to that offset if no database is
installed.

Every date a page shows carries its zone: ``2026-03-02 10:14 CST`` (北京时间 on Chinese
pages) for ``Asia/Shanghai``, the zone's abbreviation where it has a letters-only one
(``UTC``, ``JST``, ``CET``, ``EDT``), else its offset (``UTC+05:30``); the ``<time>``
element's ``datetime`` is the exact second with the zone's offset. Dates stay read-only views: nothing here reaches consensus.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from explorer.inputs import ExplorerError

__all__ = ["DEFAULT_ZONE", "TZ_COOKIE", "ZONES", "choose_zone", "load_zone", "local",
           "parse_tz", "zone_label"]

TZ_COOKIE = "fcl_tz"
DEFAULT_ZONE = "Asia/Shanghai"
CST_ZONE = DEFAULT_ZONE
#: The zones the footer's selector offers (any other IANA name works in ``?tz=``).
ZONES: tuple[str, ...] = (
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Tokyo", "Asia/Singapore",
    "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Paris", "Europe/Berlin",
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
    "Australia/Sydney", "UTC",
)
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,29}(/[A-Za-z0-9_+-]{1,30}){0,2}")
_CST = timezone(timedelta(hours=8))


@lru_cache(maxsize=256)
def load_zone(name: str) -> tzinfo | None:
    """The zone named ``name`` (an IANA name), or None if it is not one."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _CST if name == CST_ZONE else None


def parse_tz(text: str) -> str:
    """``?tz=``: an IANA time zone name the tz database knows (``bad_tz`` otherwise)."""
    if load_zone(text) is None:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ExplorerError(
            "bad_tz", f"time zone {shown!r} is not a time zone name of the tz database; "
            f"use a name such as Asia/Shanghai, Europe/Berlin or UTC")
    return text


def choose_zone(query: str | None, cookie: str | None, default: str) -> tuple[str, bool]:
    """(zone name, whether to remember it in the cookie): ``?tz=`` (checked: ``bad_tz``),
    then the cookie (ignored if it names no zone), then ``default``."""
    if query:
        return parse_tz(query), True
    if cookie and load_zone(cookie) is not None:
        return cookie, False
    return (default if load_zone(default) is not None else CST_ZONE), False


def local(value: str | int | None, zone: str) -> datetime | None:
    """An ISO 8601 time with offset, or block time in ms since the epoch, as an aware
    datetime in ``zone`` (None if it is neither)."""
    tz = load_zone(zone) or _CST
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value // 1000, tz=UTC)
        elif isinstance(value, str) and len(value) >= 19:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                return None
        else:
            return None
        return moment.astimezone(tz)
    except (OverflowError, OSError, ValueError):
        return None


def zone_label(moment: datetime, zone: str, cst_label: str) -> str:
    """How a date in ``zone`` names its zone (``cst_label`` for China Standard Time)."""
    if zone == CST_ZONE:
        return cst_label
    abbr = moment.tzname() or ""
    if abbr.isalpha() and abbr.isascii():
        return abbr
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"
