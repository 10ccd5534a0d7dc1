"""Fixtures of the security tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import get_settings


@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch):
    """Point GATEWAY_STANDARDS_DIR somewhere for one test (the CLI reads the settings)."""

    def use(standards_dir: Path) -> None:
        monkeypatch.setenv("GATEWAY_STANDARDS_DIR", str(standards_dir))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()
