"""Fixtures for the validator tests: the official artefacts, installed once per session.

They come from ../shared/standards (beside the repository), installed through
`gateway.peppol.standards.install` so every checksum is verified on the way. Without that
folder the tests that need it are skipped, except under CI=true, where it is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import get_settings
from gateway.peppol.standards import install

SHARED_STANDARDS = Path(__file__).parents[2].parent / "shared" / "standards"


@pytest.fixture(scope="session")
def shared_standards() -> Path:
    """The read-only folder of official artefacts and examples (../shared/standards)."""
    if not (SHARED_STANDARDS / "SHA256SUMS").is_file():
        message = f"the official artefacts are not at {SHARED_STANDARDS}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)
    return SHARED_STANDARDS


@pytest.fixture(scope="session")
def standards_dir(shared_standards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artefacts installed (sha256 verified) into a private directory, once per session."""
    destination = tmp_path_factory.mktemp("standards") / "standards"
    install(shared_standards, destination)
    return destination


@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch):
    """Point GATEWAY_STANDARDS_DIR somewhere for one test (CLI and API read the settings)."""

    def use(standards_dir: Path) -> None:
        monkeypatch.setenv("GATEWAY_STANDARDS_DIR", str(standards_dir))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()
