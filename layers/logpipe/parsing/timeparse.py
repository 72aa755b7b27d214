"""Timestamps as logs write them, turned into UTC datetimes, fast.

``strptime`` manages about 120k calls/s; logs repeat the same second many times, so every
parser here caches on the text of the timestamp's date-and-second part and only adds the
fraction. Naive timestamps take the source's timezone (default UTC). Formats without a
year (RFC 3164 syslog, Android logcat) take the year that puts the time nearest before the
reference time, so a December line read in January belongs to last year.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = UTC
MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
# A line stamped this far after the reference time is taken to be from the year before.
FUTURE_SLACK = timedelta(days=2)


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """A tzinfo by IANA name (``Europe/Paris``), ``UTC``, or a fixed offset (``+02:00``)."""
    if name.upper() in ("UTC", "Z", "GMT", ""):
        return UTC
    if name[0] in "+-" and len(name) in (5, 6):
        return _offset(name)
    return ZoneInfo(name)


def _offset(text: str) -> tzinfo:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return _fixed(sign * (int(digits[:2]) * 60 + int(digits[2:4])))


@lru_cache(maxsize=256)
def _fixed(minutes: int) -> tzinfo:
    return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))


def _fraction(frac: str | None) -> int:
    """Microseconds from the digits after the decimal point (nanoseconds are cut, not rounded)."""
    if not frac:
        return 0
    return int((frac + "000000")[:6])


# The fraction digits seen, as a timedelta: logs write a few thousand different fractions,
# and adding one is several times cheaper than datetime.replace(microsecond=...).
_fraction_deltas: dict[str, timedelta] = {}


def plus_fraction(dt: datetime, frac: str | None) -> datetime:
    """``dt`` with its microseconds set from ``frac`` (the digits after the point), if any."""
    if not frac:
        return dt
    if dt.microsecond:  # fromisoformat reads "10:00,5" as a time with a fraction too
        return dt.replace(microsecond=_fraction(frac))
    delta = _fraction_deltas.get(frac)
    if delta is None:
        if len(_fraction_deltas) >= 4096:
            _fraction_deltas.clear()
        delta = _fraction_deltas[frac] = timedelta(microseconds=_fraction(frac))
    return dt + delta


class TimeParser:
    """Parses the timestamp shapes logs use; one instance per source (it caches)."""

    def __init__(self, tz: str = "UTC", reference: datetime | None = None) -> None:
        self.tz = zone(tz)
        self.tz_name = tz
        self.reference = reference or datetime.now(UTC)
        self._cache: dict[tuple[object, ...] | str, datetime] = {}
        self._iso_cache: dict[tuple[str, str], datetime] = {}

    def _aware(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return dt.astimezone(UTC)

    def aware(self, dt: datetime) -> datetime:
        """``dt`` in UTC, taking the source's zone when it has none."""
        return self._aware(dt)

    def _cached(self, key: tuple[object, ...] | str, build: object) -> datetime:
        dt = self._cache.get(key)
        if dt is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            dt = self._cache[key] = build()  # type: ignore[operator]
        return dt

    def _infer_year(self, month: int, day: int, hh: int, mm: int, ss: int) -> datetime:
        year = self.reference.year
        dt = self._aware(datetime(year, month, day, hh, mm, ss))
        if dt - self.reference > FUTURE_SLACK:
            dt = self._aware(datetime(year - 1, month, day, hh, mm, ss))
        return dt

    # -- the shapes --------------------------------------------------------------------------
    def iso(self, text: str) -> datetime | None:
        """ISO 8601 / RFC 3339, with ``T`` or space, ``,`` or ``.`` fraction, any zone form.

        Digits are ASCII digits only: a timestamp written with others (``²``, ``٣``) is none.
        """
        base = text[:19]
        rest = text[19:]
        frac = ""
        if rest[:1] in (".", ","):
            tail = rest[1:].lstrip("0123456789")
            frac, rest = rest[1 : len(rest) - len(tail)], tail
        rest = rest.strip()
        # The hot path of every parser: one dict look-up, no closure, no shared key space.
        key = (base, rest)
        dt = self._iso_cache.get(key)
        if dt is None:
            try:
                dt = self._iso_base(base, rest)
            except (ValueError, OverflowError):  # OverflowError: in UTC it falls before year 1 or after 9999
                return None
            if len(self._iso_cache) > 4096:
                self._iso_cache.clear()
            self._iso_cache[key] = dt
        return plus_fraction(dt, frac)

    def _iso_base(self, base: str, zone_text: str) -> datetime:
        dt = datetime.fromisoformat(base.replace(" ", "T", 1) if len(base) > 10 else base)
        if zone_text:
            if zone_text in ("Z", "z", "UTC"):
                dt = dt.replace(tzinfo=UTC)
            elif zone_text[0] in "+-":
                dt = dt.replace(tzinfo=_offset(zone_text))
            else:
                raise ValueError(zone_text)
        return self._aware(dt)

    def syslog(
        self, month: str, day: str, clock: str, frac: str | None = None, year: str | None = None
    ) -> datetime | None:
        """``Jun 14 15:16:01`` (RFC 3164: no year, inferred) or with a year."""
        m = MONTHS.get(month[:3].lower())
        if m is None:
            return None
        try:
            hh, mm, ss = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
            if year:
                dt = self._cached(
                    ("y", int(year), m, int(day), clock),
                    lambda: self._aware(datetime(int(year), m, int(day), hh, mm, ss)),
                )
            else:
                dt = self._cached(("s", m, int(day), clock), lambda: self._infer_year(m, int(day), hh, mm, ss))
        except ValueError:
            return None
        return plus_fraction(dt, frac)

    def clf(self, text: str) -> datetime | None:
        """Common Log Format: ``10/Oct/2000:13:55:36 -0700``."""
        dt = self._cache.get(text)  # keyed by the text alone: no other key is a str
        if dt is None:
            try:
                dt = self._cached(text, lambda: self._clf(text))
            except (ValueError, KeyError, IndexError):
                return None
        return dt

    def _clf(self, text: str) -> datetime:
        day, mon, rest = text.split("/", 2)
        year, clock = rest[:4], rest[5:13]
        dt = datetime(int(year), MONTHS[mon.lower()], int(day), int(clock[0:2]), int(clock[3:5]), int(clock[6:8]))
        zone_text = rest[13:].strip()
        return (dt.replace(tzinfo=_offset(zone_text)) if zone_text else self._aware(dt)).astimezone(UTC)

    def numeric(self, year: int, month: int, day: int, clock: str, frac: str | None = None) -> datetime | None:
        """Dates given as numbers (``2009/11/10``, HDFS ``081109 203615``, Spark ``17/06/09``).

        ``clock`` is ``HH:MM:SS`` or ``HHMMSS``; a two-digit year is in this century.
        """
        if year < 100:
            year += 2000
        digits = clock.replace(":", "")
        try:
            hh, mm, ss = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
            dt = self._cached(
                ("n", year, month, day, digits), lambda: self._aware(datetime(year, month, day, hh, mm, ss))
            )
        except ValueError:
            return None
        return plus_fraction(dt, frac)

    def month_day(self, month: int, day: int, clock: str, frac: str | None = None) -> datetime | None:
        """``03-17 16:13:38.811`` (Android logcat): no year, inferred as for syslog."""
        try:
            hh, mm, ss = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
            dt = self._cached(("md", month, day, clock), lambda: self._infer_year(month, day, hh, mm, ss))
        except ValueError:
            return None
        return plus_fraction(dt, frac)

    def apache(self, text: str) -> datetime | None:
        """``Sun Dec 04 04:47:44 2005`` or ``Wed Oct 11 14:32:52.123456 2000`` (asctime)."""
        parts = text.split()
        if len(parts) != 5:
            return None
        clock, _, frac = parts[3].partition(".")
        return self.syslog(parts[1], parts[2], clock, frac or None, parts[4])

    def epoch(self, value: float) -> datetime | None:
        """Seconds, milliseconds, microseconds or nanoseconds since 1970, told apart by size."""
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float is no time
            return None
        if seconds > 1e17:
            seconds /= 1e9
        elif seconds > 1e14:
            seconds /= 1e6
        elif seconds > 1e11:
            seconds /= 1e3
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None

    def any(self, value: object) -> datetime | None:
        """A timestamp from a structured field: number (epoch) or string (ISO, CLF, syslog, epoch digits)."""
        if type(value) is str and value[4:5] == "-" and len(value) >= 8 and value[:4].isdigit():
            return self.iso(value)  # the usual case, first
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return self.epoch(value)
        if not isinstance(value, str) or len(value) < 8:
            return None
        if value[4:5] == "-" and value[:4].isdigit():
            return self.iso(value)
        if len(value) >= 9 and value.isascii() and value.isdigit():
            return self.epoch(float(value))  # float(), not int(): no limit on the digits
        if value[2:3] == "/" and value[6:7] == "/":
            return self.clf(value)
        parts = value.split()
        if len(parts) >= 3 and parts[0][:3].lower() in MONTHS:
            return self.syslog(parts[0], parts[1], parts[2][:8], parts[2][9:] or None)
        try:
            return self.epoch(float(value))
        except ValueError:
            return None
