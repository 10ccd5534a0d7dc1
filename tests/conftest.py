"""Store fixtures: every store/API test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at GATEWAY_TEST_POSTGRES_URL (default 127.0.0.1:5432, database
`test`); each xdist worker gets its own database, migrated once, truncated between tests.
Under CI=true an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from gateway.config import Settings
from gateway.peppol.standards import install
from gateway.store.base import Base
from gateway.store.migrate import upgrade
from gateway.store.session import Database

# The official artefacts come from ../shared/standards (beside the repository), installed through
# `gateway.peppol.standards.install` so every checksum is verified on the way. Without that
# folder the tests that need them are skipped, except under CI=true, where it is a failure.
SHARED_STANDARDS = Path(__file__).parents[1].parent / "shared" / "standards"


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


POSTGRES_ADMIN_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin(statement: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement)


def admin_or_skip(*statements: str) -> None:
    """Run `statements` as the server's admin; an unreachable PostgreSQL skips the test, or fails it under CI=true."""
    try:
        for statement in statements:
            _admin(statement)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> str:
    # The process id keeps concurrent test runs on one server (two developers, CI) apart.
    name = f"gateway_test_{worker_id}_{os.getpid()}".replace("-", "_")
    admin_or_skip(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


def _truncate_postgres(database: Database) -> None:
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        # The audit log refuses TRUNCATE (migration 0008); a test database is wiped as a replica
        # would be, which does not fire ordinary triggers (the test user is a superuser).
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.exec_driver_sql(f"TRUNCATE {names} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path) -> Database:
    if request.param == "sqlite":
        path = tmp_path / "gateway.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        _truncate_postgres(db)
    yield db
    db.dispose()


@pytest.fixture
def settings(database: Database, tmp_path) -> Settings:
    # Paper letters land in the test's own folder, never in the project's var/print.
    return Settings(database_url=database.url, standards_dir=tmp_path / "no-standards", print_drop_dir=tmp_path / "print")


@pytest.fixture
def cli_database(database: Database, monkeypatch):
    """The test's database as the one `gateway` commands open (GATEWAY_DATABASE_URL, settings re-read before and after)."""
    from gateway.config import get_settings

    monkeypatch.setenv("GATEWAY_DATABASE_URL", database.url)
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()
