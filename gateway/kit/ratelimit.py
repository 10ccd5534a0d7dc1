"""A sliding-window rate limiter per key (client address, debtor, user name), in process memory.

Used on the consumer's personal page, on admin sign-in and on failed API-key authentication
(issue 7, issue 8 "Limits"). Each API
process keeps its own window, so N processes allow at most N x `limit` per key: the bound a
brute-force attempt meets is still fixed and small. `hit` is thread-safe (uvicorn's worker
threads share one limiter) and takes the clock as a callable so tests control time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int  # 0 when allowed


class RateLimiter:
    def __init__(self, limit: int, per_seconds: float, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        if limit < 1 or per_seconds <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit, self.per_seconds, self.clock, self.max_keys = limit, per_seconds, clock, max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> Verdict:
        """Count one request for `key`; refused requests are not counted (they do no work)."""
        return self._verdict(key, count=True)

    def peek(self, key: str) -> Verdict:
        """Whether `hit` would be allowed now, counting nothing: for limits on failures only, where
        the caller asks first and calls `hit` when the attempt failed."""
        return self._verdict(key, count=False)

    def _verdict(self, key: str, *, count: bool) -> Verdict:
        now = self.clock()
        with self._lock:
            window = self._hits.get(key)
            if window is None:
                if not count:
                    return Verdict(True, 0)
                if len(self._hits) >= self.max_keys:
                    self._evict(now)
                window = self._hits[key] = deque()
            while window and window[0] <= now - self.per_seconds:
                window.popleft()
            if len(window) >= self.limit:
                return Verdict(False, max(1, int(window[0] + self.per_seconds - now + 0.999)))
            if count:
                window.append(now)
            return Verdict(True, 0)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def _evict(self, now: float) -> None:
        # Memory stays bounded under a flood of distinct keys: drop idle windows, then the oldest.
        for key in [k for k, w in self._hits.items() if not w or w[-1] <= now - self.per_seconds]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:
            del self._hits[next(iter(self._hits))]
