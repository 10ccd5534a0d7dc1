"""Time-ordered UUIDs (RFC 9562 UUIDv7), so primary keys sort by creation and serve as cursors."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> uuid.UUID:
    milliseconds = time.time_ns() // 1_000_000
    rand_a = int.from_bytes(os.urandom(2), "big") & 0x0FFF
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (milliseconds & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | rand_a << 64  # version 7, then 12 random bits
    value |= 0b10 << 62 | rand_b  # RFC 9562 variant, then 62 random bits
    return uuid.UUID(int=value)
