"""Market hours: the session of the venue that a moment falls in, for the market-hours guard.

Two sources, chosen by the profile:

- `colotune_calendar` (an exchange_calendars code such as XNYS, XNAS, XLON, CMES): the
  sessions of the `exchange_calendars` package, a maintained calendar of each venue's
  holidays, early closes and regular hours (sessions that span midnight included, such as
  CME Globex's 17:00-16:00 Chicago time). `colotune_trading_hours` and
  `colotune_trading_days` are not read then.
- otherwise `colotune_trading_days` and `colotune_trading_hours` in `colotune_timezone`; an
  end before the start is an overnight session that opens on a trading day and closes the
  next day (18:00-17:00).

Either way a date in `colotune_holidays` has no session, and the guard counts
`colotune_guard_lead_minutes` before each open as market hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass
from typing import Any

from colotune.errors import ColotuneError
from colotune.profile import SiteProfile, day_name

# exchange_calendars raises for dates outside the span it was built for; a few days on either
# side of the moment asked about cover the session around it, overnight ones included.
_SPAN = dt.timedelta(days=7)


@dataclass(frozen=True)
class Session:
    """One trading session (UTC-aware times) and where its times come from."""

    day: dt.date  # the session's trading date
    open: dt.datetime
    close: dt.datetime
    source: str
    early_close: bool = False

    def guarded_from(self, lead_minutes: int) -> dt.datetime:
        return self.open - dt.timedelta(minutes=lead_minutes)

    def describe(self, zone: str, lead_minutes: int) -> str:
        tz = zoneinfo.ZoneInfo(zone)

        def clock(moment: dt.datetime) -> str:
            return moment.astimezone(tz).strftime("%H:%M")

        text = f"{self.source} session {self.day} {clock(self.open)}-{clock(self.close)} {zone}"
        if self.early_close:
            text += ", early close"
        if lead_minutes:
            text += (
                f", guarded from {clock(self.guarded_from(lead_minutes))} "
                f"(colotune_guard_lead_minutes {lead_minutes})"
            )
        return text


def calendar_names() -> frozenset[str]:
    """Every venue code exchange_calendars knows (XNYS, XNAS, XLON, CMES, ...)."""
    import exchange_calendars

    return frozenset(exchange_calendars.get_calendar_names(include_aliases=True))


@functools.lru_cache(maxsize=32)
def _calendar_sessions(code: str, first: dt.date, last: dt.date) -> tuple[Session, ...]:
    import exchange_calendars

    try:
        calendar = exchange_calendars.get_calendar(
            code, start=first.isoformat(), end=last.isoformat()
        )
    except Exception as exc:  # the package raises its own errors for codes and date bounds
        raise ColotuneError(
            f"colotune_calendar={code!r}: exchange_calendars has no calendar for {first} to "
            f"{last} ({exc}); valid: a code such as XNYS, XNAS, XLON, CMES"
        ) from exc
    sessions = []
    early = {stamp.date() for stamp in calendar.early_closes}
    for label, row in calendar.schedule.iterrows():
        day = label.date()
        sessions.append(
            Session(
                day=day,
                open=row["open"].to_pydatetime(),
                close=row["close"].to_pydatetime(),
                source=code,
                early_close=day in early,
            )
        )
    return tuple(sessions)


def _hours_sessions(profile: SiteProfile, first: dt.date, last: dt.date) -> list[Session]:
    """The sessions colotune_trading_days and colotune_trading_hours give from first to last."""
    tz = zoneinfo.ZoneInfo(profile.colotune_timezone)
    hours = profile.colotune_trading_hours
    start = dt.time.fromisoformat(hours.start)
    end = dt.time.fromisoformat(hours.end)
    sessions = []
    day = first
    while day <= last:
        if day_name(day) in profile.colotune_trading_days:
            opens = dt.datetime.combine(day, start, tzinfo=tz)
            closes_on = day + dt.timedelta(days=1) if end <= start else day
            closes = dt.datetime.combine(closes_on, end, tzinfo=tz)
            sessions.append(Session(day, opens, closes, "colotune_trading_hours"))
        day += dt.timedelta(days=1)
    return sessions


def sessions(profile: SiteProfile, now: dt.datetime) -> list[Session]:
    """The venue's sessions in the days around `now` (timezone-aware), holidays removed."""
    if now.tzinfo is None:
        raise ColotuneError(f"market hours: {now} has no UTC offset")
    local = now.astimezone(zoneinfo.ZoneInfo(profile.colotune_timezone)).date()
    first, last = local - _SPAN, local + _SPAN
    if profile.colotune_calendar:
        found: list[Session] = list(_calendar_sessions(profile.colotune_calendar, first, last))
    else:
        found = _hours_sessions(profile, first, last)
    holidays = set(profile.colotune_holidays)
    return [session for session in found if session.day not in holidays]


def session_at(profile: SiteProfile, now: dt.datetime) -> Session | None:
    """The session whose guarded span (the lead before its open, then open to close) holds
    `now`; None outside market hours."""
    lead = profile.colotune_guard_lead_minutes
    for session in sessions(profile, now):
        if session.guarded_from(lead) <= now < session.close:
            return session
    return None


def is_trading_time(profile: SiteProfile, now: dt.datetime) -> bool:
    """Does the market-hours guard count `now` (timezone-aware) as market hours?"""
    return session_at(profile, now) is not None


def describe(profile: SiteProfile, now: dt.datetime) -> dict[str, Any]:
    """The guard's view of `now`: {trading, session (text or None), until (the close)}."""
    session = session_at(profile, now)
    if session is None:
        return {"trading": False, "session": None, "until": None}
    zone = profile.colotune_timezone
    text = session.describe(zone, profile.colotune_guard_lead_minutes)
    close = session.close.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    return {"trading": True, "session": text, "until": f"{close} {zone}"}
