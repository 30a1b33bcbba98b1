"""Market hours: the venue's sessions from exchange_calendars or the profile's hours."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import exchange_calendars
import pytest

from colotune import market, profile, tuning

NY = zoneinfo.ZoneInfo("America/New_York")
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def site(**variables: Any) -> profile.HostProfile:
    return profile.build({"tuning_nic": "eth1", **variables})


def at(day: str, clock: str, zone: zoneinfo.ZoneInfo = NY) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=zone)


def test_hours_days_and_holidays() -> None:
    prof = site(colotune_holidays=["2026-11-26"])
    assert market.is_trading_time(prof, at("2026-11-23", "10:00"))  # Monday
    assert not market.is_trading_time(prof, at("2026-11-23", "21:00"))
    assert not market.is_trading_time(prof, at("2026-11-22", "10:00"))  # Sunday
    assert not market.is_trading_time(prof, at("2026-11-26", "10:00"))  # listed holiday
    # 03:30 in New York is 08:30 UTC: before the 04:00-20:00 session.
    assert not market.is_trading_time(prof, dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC))


def test_the_library_knows_the_2026_thanksgiving_week() -> None:
    """The facts the tests below rely on, asked of exchange_calendars itself."""
    xnys = exchange_calendars.get_calendar("XNYS", start="2026-11-20", end="2026-12-04")
    assert not xnys.is_session("2026-11-26")  # Thanksgiving
    assert xnys.session_close("2026-11-27").tz_convert(NY).strftime("%H:%M") == "13:00"
    assert xnys.session_close("2026-11-30").tz_convert(NY).strftime("%H:%M") == "16:00"


@pytest.mark.parametrize(
    ("moment", "trading"),
    [
        (at("2026-11-25", "09:29"), False),  # before the open
        (at("2026-11-25", "09:30"), True),
        (at("2026-11-25", "15:59"), True),
        (at("2026-11-25", "16:00"), False),  # the close
        (at("2026-11-26", "11:00"), False),  # Thanksgiving: no session
        (at("2026-11-27", "12:59"), True),  # early close at 13:00
        (at("2026-11-27", "13:00"), False),
        (at("2026-11-27", "15:00"), False),
        (at("2026-11-28", "11:00"), False),  # Saturday
    ],
)
def test_xnys_calendar_holidays_and_early_closes(moment: dt.datetime, trading: bool) -> None:
    prof = site(colotune_calendar="XNYS")
    assert market.is_trading_time(prof, moment) is trading


def test_the_calendar_replaces_the_profile_hours_and_days() -> None:
    prof = site(
        colotune_calendar="XNYS",
        colotune_trading_hours={"start": "04:00", "end": "20:00"},
        colotune_trading_days=["mon", "tue", "wed", "thu", "fri"],
    )
    assert not market.is_trading_time(prof, at("2026-11-26", "11:00"))
    assert not market.is_trading_time(prof, at("2026-11-25", "17:00"))


def test_listed_holidays_apply_on_top_of_the_calendar() -> None:
    prof = site(colotune_calendar="XNYS", colotune_holidays=["2026-11-25"])
    assert not market.is_trading_time(prof, at("2026-11-25", "11:00"))


def test_lead_time_before_the_open() -> None:
    prof = site(colotune_calendar="XNYS", colotune_guard_lead_minutes=60)
    assert not market.is_trading_time(prof, at("2026-11-30", "08:29"))
    assert market.is_trading_time(prof, at("2026-11-30", "08:30"))
    hours = site(colotune_guard_lead_minutes=30)  # 04:00-20:00 on weekdays
    assert market.is_trading_time(hours, at("2026-11-23", "03:30"))
    assert not market.is_trading_time(hours, at("2026-11-23", "03:29"))
    assert not market.is_trading_time(hours, at("2026-11-22", "03:30"))  # Sunday: no session


def test_overnight_hours_close_the_next_day() -> None:
    """A Globex-like 18:00-17:00 session opening Sunday to Thursday."""
    prof = site(
        colotune_timezone="America/Chicago",
        colotune_trading_hours={"start": "18:00", "end": "17:00"},
        colotune_trading_days=["sun", "mon", "tue", "wed", "thu"],
    )
    assert market.is_trading_time(prof, at("2026-11-22", "18:00", CHICAGO))  # Sunday open
    assert market.is_trading_time(prof, at("2026-11-23", "03:00", CHICAGO))  # overnight
    assert not market.is_trading_time(prof, at("2026-11-23", "17:30", CHICAGO))  # daily break
    assert market.is_trading_time(prof, at("2026-11-27", "16:59", CHICAGO))  # Thursday's
    assert not market.is_trading_time(prof, at("2026-11-27", "18:00", CHICAGO))  # Friday
    assert not market.is_trading_time(prof, at("2026-11-28", "10:00", CHICAGO))  # Saturday


def test_overnight_calendar_sessions() -> None:
    """CME Globex per exchange_calendars: 17:00 the day before to 16:00 Chicago time."""
    prof = site(colotune_calendar="CMES", colotune_timezone="America/Chicago")
    cmes = exchange_calendars.get_calendar("CMES", start="2026-11-20", end="2026-12-04")
    opens = cmes.session_open("2026-11-24").tz_convert(CHICAGO)
    assert opens.date() == dt.date(2026, 11, 23)  # the session of the 24th opens the day before
    night = opens.to_pydatetime() + dt.timedelta(hours=6)
    assert market.is_trading_time(prof, night)
    assert not market.is_trading_time(prof, opens.to_pydatetime() - dt.timedelta(minutes=1))


def test_the_guard_names_the_session_and_the_close() -> None:
    prof = site(colotune_calendar="XNYS", colotune_guard_lead_minutes=60)
    guard = tuning.guard(prof, at("2026-11-27", "09:00"))
    assert guard["allowed"] == ["live"]
    assert "XNYS session 2026-11-27 09:30-13:00 America/New_York, early close" in guard["reason"]
    assert "guarded from 08:30 (colotune_guard_lead_minutes 60)" in guard["reason"]
    assert "wait until after 2026-11-27 13:00 America/New_York" in guard["reason"]
    assert guard["clock_override"] is None


def test_colotune_now_is_a_test_override_refused_in_production() -> None:
    with pytest.raises(profile.ProfileError, match="refused where colotune_environment"):
        site(colotune_now="2026-11-23T10:00:00-05:00")
    lab = site(colotune_now="2026-11-23T10:00:00-05:00", colotune_environment="lab")
    guard = tuning.guard(lab)
    assert guard["trading"]
    assert guard["clock_override"].startswith("colotune_now=2026-11-23T10:00:00-05:00 pins")
    assert "colotune_environment lab" in guard["clock_override"]


def test_the_real_clock_without_override() -> None:
    guard = tuning.guard(site(colotune_trading_days=[]))
    assert guard["clock_override"] is None
    assert guard["allowed"] == ["live", "disruptive", "reboot"]
