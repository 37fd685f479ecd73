"""Shop-local wall-clock datetimes (see models.py for why they are tagged UTC)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WALL_FORMAT = "%Y-%m-%d %H:%M:%S"


def shop_zone(shop):
    try:
        return ZoneInfo(shop.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Paris")


def now(shop):
    """The shop's local time now, as stored."""
    return datetime.now(shop_zone(shop)).replace(tzinfo=UTC, microsecond=0)


def wall(naive):
    """Store a naive local datetime."""
    return naive.replace(tzinfo=UTC)


def parse(text):
    """'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DD' (which means 00:00 that day); None when it is neither."""
    text = text.strip()
    for pattern in (WALL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return wall(datetime.strptime(text, pattern))
        except ValueError:
            continue
    return None


def show(value):
    return value.strftime(WALL_FORMAT) if value else "0000-00-00 00:00:00"
