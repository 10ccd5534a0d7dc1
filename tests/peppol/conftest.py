"""Fixtures for the validator tests (`shared_standards` and `standards_dir` are in tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import get_settings
from gateway.peppol.standards import install

@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch):
    """Point GATEWAY_STANDARDS_DIR somewhere for one test (CLI and API read the settings)."""

    def use(standards_dir: Path) -> None:
        monkeypatch.setenv("GATEWAY_STANDARDS_DIR", str(standards_dir))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()
