"""Discord timestamps (<t:unix:style>) as Japanese a listener understands."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_WEEKDAYS = "月火水木金土日"
# (seconds in the unit, unit word); the first unit the span reaches is used, like Discord's "2 hours ago".
_RELATIVE_UNITS = ((365 * 86400, "年"), (30 * 86400, "か月"), (86400, "日"), (3600, "時間"), (60, "分"), (1, "秒"))


def spoken_timestamp(unix: int, style: str, utc_offset_minutes: int, now: float | None) -> str:
    """Say a timestamp in Discord's style: t/T time, d/D date, f/F both, R relative to `now`."""
    try:
        moment = datetime.fromtimestamp(unix, timezone(timedelta(minutes=utc_offset_minutes)))
    except (OverflowError, OSError, ValueError):
        return ""  # outside what a calendar can show; Discord shows "Invalid Date"
    if style == "R" and now is not None:
        return _relative(unix - now)
    if style == "t":
        return _clock(moment, seconds=False)
    if style == "T":
        return _clock(moment, seconds=True)
    if style in ("d", "D"):
        return _date(moment)
    if style == "F":
        return f"{_date(moment)}{_WEEKDAYS[moment.weekday()]}曜日{_clock(moment, seconds=False)}"
    return f"{_date(moment)}{_clock(moment, seconds=False)}"


def _date(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _clock(moment: datetime, *, seconds: bool) -> str:
    text = f"{moment.hour}時"
    if moment.minute or seconds:
        text += f"{moment.minute}分"
    if seconds:
        text += f"{moment.second}秒"
    return text


def _relative(delta: float) -> str:
    span = abs(delta)
    for size, unit in _RELATIVE_UNITS:
        if span >= size:
            return f"{int(span // size)}{unit}{'後' if delta > 0 else '前'}"
    return "今"
