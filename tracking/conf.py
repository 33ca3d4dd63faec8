"""Tracking settings, each overridable in Django settings or the environment."""

import os

from django.conf import settings


def _get(name: str, default):
    value = getattr(settings, name, None)
    if value is not None:
        return value
    raw = os.environ.get(name)
    return type(default)(raw) if raw not in (None, "") else default


def topic_root() -> str:
    """First topic level: `sam/{company}/{device}/{kind}`."""
    return _get("TRACKING_TOPIC_ROOT", "sam")


def max_future_seconds() -> int:
    """A device clock may run this far ahead; later timestamps are rejected."""
    return _get("TRACKING_MAX_FUTURE_SECONDS", 300)


def max_age_days() -> int:
    """Buffered fixes older than this are rejected as stale."""
    return _get("TRACKING_MAX_AGE_DAYS", 31)


def speed_slack() -> float:
    """Implied speed between fixes may exceed a device's maximum by this factor (GNSS jitter)."""
    return _get("TRACKING_SPEED_SLACK", 1.5)


def moved_metres() -> float:
    """A device counts as moved (for idle rules) once this far from where it last moved."""
    return _get("TRACKING_MOVED_METRES", 50.0)
