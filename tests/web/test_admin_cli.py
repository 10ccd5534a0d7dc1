"""`gateway admin create-user` with the password on standard input."""

from __future__ import annotations

import shutil

from click.testing import CliRunner
from sqlalchemy import select

from gateway.cli import main
from gateway.config import get_settings
from gateway.kit.time import utc_now
from gateway.store.models import AdminUser, CreditorEntity
from gateway.store.session import Database
from gateway.web import account


def test_create_user_reads_the_password_from_stdin_and_the_user_can_sign_in(tmp_path, sqlite_template, monkeypatch):
    path = tmp_path / "gateway.sqlite"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    database = Database(url)
    with database.session_scope() as session:
        session.add(CreditorEntity(code="gent", kind="municipality", name="Stad Gent", created_at=utc_now()))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(main, ["admin", "create-user", "Fin@Gent.be", "--creditor", "gent", "--role", "financial_director", "--password-stdin"], input="a long passphrase\n")
        assert result.exit_code == 0, result.output
        assert result.output == "created admin user fin@gent.be (financial_director) for gent\n"
        again = runner.invoke(main, ["admin", "create-user", "fin@gent.be", "--creditor", "gent", "--role", "viewer", "--password-stdin"], input="another passphrase\n")
        assert again.exit_code == 1 and "already exists" in again.output
        unknown = runner.invoke(main, ["admin", "create-user", "x@gent.be", "--creditor", "gent", "--role", "admin", "--password-stdin"], input="a long passphrase\n")
        assert unknown.exit_code == 2
    finally:
        get_settings.cache_clear()
    with database.session_scope() as session:
        users = session.scalars(select(AdminUser)).all()
        assert [(u.email, u.role, u.disabled) for u in users] == [("fin@gent.be", "financial_director", False)]
        assert account.sign_in(session, "fin@gent.be", "a long passphrase", now=utc_now()) is not None
        assert account.sign_in(session, "fin@gent.be", "another passphrase", now=utc_now()) is None
    database.dispose()
