"""gateway.peppol.standards: the lock, the all-or-nothing install, the installed-set check."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main as gateway_cli
from gateway.peppol import standards
from gateway.peppol.standards import ChecksumMismatch, SourceUnavailable, StandardsMissing

CEN_XSLT = "peppol-bis-billing-3/CEN-EN16931-UBL.xslt"
INVOICE_XSD = "ubl-2.1/xsd/maindoc/UBL-Invoice-2.1.xsd"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # ../shared is read-only
    return target


def _leftovers(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir())


def test_lock_lists_the_artefacts_with_the_checksums_of_sha256sums(shared_standards):
    artefacts = standards.load_lock()
    published = dict(
        reversed(line.split("  ", 1)) for line in (shared_standards / "SHA256SUMS").read_text().splitlines()
    )
    assert len(artefacts) == 21
    assert sum(a.role == "xsd" for a in artefacts) == 17
    assert {a.name for a in artefacts if a.role == "schematron-xslt"} == {
        "cen-en16931-ubl", "peppol-en16931-ubl", "peppol-t111", "peppol-t71",
    }
    for artefact in artefacts:
        assert artefact.sha256 == published[artefact.path], artefact.path
        assert artefact.sha256 == _sha256(shared_standards / artefact.path), artefact.path
        assert artefact.url.startswith("https://"), artefact.name
        assert artefact.version and artefact.release


def test_install_from_folder_copies_every_artefact(shared_standards, tmp_path):
    dest = tmp_path / "var" / "standards"
    installed = standards.install(shared_standards, dest)
    assert len(installed) == 21
    for artefact in installed:
        assert (dest / artefact.path).read_bytes() == (shared_standards / artefact.path).read_bytes()
    assert standards.check_installed(dest) == installed
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
        a.path for a in installed
    )
    assert _leftovers(dest.parent) == ["standards"]


def test_checksum_mismatch_installs_nothing(shared_standards, tmp_path):
    source = _copy_tree(shared_standards, tmp_path / "source")
    with (source / CEN_XSLT).open("ab") as handle:
        handle.write(b"\n<!-- tampered -->")
    dest = tmp_path / "out" / "standards"
    with pytest.raises(ChecksumMismatch) as caught:
        standards.install(source, dest)
    expected = next(a.sha256 for a in standards.load_lock() if a.path == CEN_XSLT)
    assert caught.value.path == CEN_XSLT
    assert caught.value.expected == expected
    assert caught.value.actual == _sha256(source / CEN_XSLT)
    assert f"checksum mismatch for {CEN_XSLT}: expected sha256 {expected}, got {caught.value.actual}" in str(caught.value)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []  # no staging directory left behind


def test_failed_reinstall_keeps_the_previous_set(shared_standards, tmp_path):
    dest = tmp_path / "standards"
    standards.install(shared_standards, dest)
    source = _copy_tree(shared_standards, tmp_path / "source")
    (source / INVOICE_XSD).write_bytes(b"<xsd:schema/>")
    with pytest.raises(ChecksumMismatch):
        standards.install(source, dest)
    assert len(standards.check_installed(dest)) == 21
    assert _leftovers(tmp_path) == ["source", "standards"]


def test_missing_source_file_installs_nothing(shared_standards, tmp_path):
    source = _copy_tree(shared_standards, tmp_path / "source")
    (source / INVOICE_XSD).unlink()
    dest = tmp_path / "out" / "standards"
    with pytest.raises(SourceUnavailable) as caught:
        standards.install(source, dest)
    assert INVOICE_XSD in str(caught.value)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_check_installed_names_missing_and_altered_files(standards_dir, tmp_path):
    with pytest.raises(StandardsMissing) as caught:
        standards.check_installed(tmp_path / "nowhere")
    assert caught.value.problems == ["the directory does not exist (nothing is installed)"]

    copy = _copy_tree(standards_dir, tmp_path / "copy")
    (copy / INVOICE_XSD).unlink()
    altered = copy / CEN_XSLT
    altered.write_bytes(b"x")
    with pytest.raises(StandardsMissing) as caught:
        standards.check_installed(copy)
    expected = next(a.sha256 for a in standards.load_lock() if a.path == CEN_XSLT)
    assert caught.value.problems == [
        f"{CEN_XSLT} has sha256 {hashlib.sha256(b'x').hexdigest()}, expected {expected}",
        f"{INVOICE_XSD} is missing",
    ]
    assert "gateway standards install" in str(caught.value)


# -- download path, against a real HTTP server on 127.0.0.1 -----------------------------------


@pytest.fixture
def file_server(tmp_path) -> Iterator[tuple[str, Path]]:
    """Serve a writable copy of nothing yet (tests fill `root`) over HTTP on loopback."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _artefacts_served_from(base_url: str) -> list[standards.Artefact]:
    return [dataclasses.replace(a, url=f"{base_url}/{a.path}") for a in standards.load_lock()]


def test_download_installs_and_verifies(shared_standards, file_server, tmp_path):
    base_url, root = file_server
    shutil.rmtree(root)
    _copy_tree(shared_standards, root)
    dest = tmp_path / "standards"
    installed = standards.install(None, dest, artefacts=_artefacts_served_from(base_url), timeout=10)
    assert len(installed) == 21
    assert len(standards.check_installed(dest)) == 21


def test_download_with_a_tampered_file_installs_nothing(shared_standards, file_server, tmp_path):
    base_url, root = file_server
    shutil.rmtree(root)
    _copy_tree(shared_standards, root)
    (root / INVOICE_XSD).write_bytes(b"<not-the-schema/>")
    dest = tmp_path / "out" / "standards"
    with pytest.raises(ChecksumMismatch) as caught:
        standards.install(None, dest, artefacts=_artefacts_served_from(base_url), timeout=10)
    assert caught.value.path == INVOICE_XSD
    assert caught.value.actual == hashlib.sha256(b"<not-the-schema/>").hexdigest()
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_download_of_a_missing_url_installs_nothing(file_server, tmp_path):
    base_url, _ = file_server  # serves an empty folder: every URL is a 404
    dest = tmp_path / "out" / "standards"
    with pytest.raises(SourceUnavailable) as caught:
        standards.install(None, dest, artefacts=_artefacts_served_from(base_url), timeout=10)
    assert "404" in str(caught.value)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_install_and_verify(shared_standards, tmp_path, gateway_env):
    dest = tmp_path / "standards"
    gateway_env(dest)
    runner = CliRunner()
    result = runner.invoke(gateway_cli, ["standards", "verify"])
    assert result.exit_code == 2
    assert "nothing is installed" in result.output

    result = runner.invoke(gateway_cli, ["standards", "install", "--from", str(shared_standards)])
    assert result.exit_code == 0, result.output
    assert f"installed 21 artefacts from {shared_standards} into {dest}" in result.output

    result = runner.invoke(gateway_cli, ["standards", "verify"])
    assert result.exit_code == 0
    assert f"ok: 21 artefacts in {dest}" in result.output


def test_cli_install_refuses_a_checksum_mismatch(shared_standards, tmp_path, gateway_env):
    source = _copy_tree(shared_standards, tmp_path / "source")
    (source / CEN_XSLT).write_bytes(b"tampered")
    dest = tmp_path / "standards"
    gateway_env(dest)
    result = CliRunner().invoke(gateway_cli, ["standards", "install", "--from", str(source)])
    assert result.exit_code == 2
    expected = next(a.sha256 for a in standards.load_lock() if a.path == CEN_XSLT)
    assert f"checksum mismatch for {CEN_XSLT}" in result.output
    assert expected in result.output
    assert hashlib.sha256(b"tampered").hexdigest() in result.output
    assert not dest.exists()


def test_cli_install_from_a_missing_folder_is_a_usage_error(tmp_path, gateway_env):
    gateway_env(tmp_path / "standards")
    result = CliRunner().invoke(gateway_cli, ["standards", "install", "--from", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert not (tmp_path / "standards").exists()
