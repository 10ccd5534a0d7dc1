"""One settings object for the whole gateway (environment prefix GATEWAY_).

Thresholds are named here with a one-line reason each. Tests build their own `Settings`
instead of mutating the module-level one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # Store: SQLite file under var/ by default; PostgreSQL when a URL says so.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'gateway.sqlite'}"
    # Where `gateway standards install` puts the official XSD / Schematron artefacts.
    standards_dir: Path = PROJECT_ROOT / "var" / "standards"

    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL used in links we send (personal page, payment links).
    public_base_url: str = "http://127.0.0.1:8000"

    # A request body above this is refused before parsing (a batch of 1,000 claims fits in ~2 MB).
    max_request_bytes: int = 5 * 1024 * 1024
    # Batch intake limit per request.
    max_batch_items: int = 1000
    # Idempotency keys are remembered this long.
    idempotency_ttl_hours: int = 24 * 7

    # Worker loop: how long an idle worker sleeps between polls, and when in-flight work is stale.
    worker_poll_seconds: float = 0.5
    worker_stale_after_seconds: int = 300
    # Retryable failures back off exponentially from this base, up to this many attempts.
    retry_base_seconds: int = 30
    max_attempts: int = 8


@lru_cache
def get_settings() -> Settings:
    return Settings()
