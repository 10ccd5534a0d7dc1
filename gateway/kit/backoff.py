"""Exponential backoff, one formula for every retried thing (jobs, dispatches, webhooks, lookups)."""

from __future__ import annotations

from datetime import timedelta


def backoff_delay(base_seconds: int | float, failed_attempts: int) -> timedelta:
    """The wait after the `failed_attempts`-th failure: base × 2^(n-1), so 30 s, 60 s, 120 s ... for base 30."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts from 1")
    return timedelta(seconds=base_seconds * 2 ** (failed_attempts - 1))
