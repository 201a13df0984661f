"""Ids: every id mailprobe makes (jobs, providers, webhooks, events) is a ULID, 26 characters
that sort by creation time, so a tenant's index lists newest first with no second index and
the jobs older than the retention are a range of ids."""

from __future__ import annotations

import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every id mailprobe makes (jobs, providers, webhooks) is a ULID of this form.
ID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"
_ID = re.compile(ID_PATTERN)


def is_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def _ulid(value: int) -> str:
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_id(now_ms: int | None = None) -> str:
    """A ULID: 26 characters that sort by creation time, so listing needs no second index."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return _ulid((ms << 80) | int.from_bytes(os.urandom(10), "big"))


def _id_floor(ms: int) -> str:
    return _ulid(ms << 80)


def oldest_kept_id(now: float, ttl: int) -> str:
    """The lowest id a tenant's job index keeps: its jobs older than the retention are gone."""
    return _id_floor(int(now * 1000) - ttl * 1000)
