"""Install and check the official validation artefacts named in `schemas/standards.lock`.

The UBL 2.1 XSDs and the CEN / Peppol Schematron XSLTs are not committed. `install` copies
them from a local folder (``../shared/standards`` in development) or downloads the official
release URLs, and checks every sha256 *before* anything reaches the standards directory:
files are staged in a sibling temporary directory and moved into place with a rename only
when the whole set is complete and verified, so a failed install leaves the previous state
(or nothing) behind, never a half-installed set.

`check_installed` is what the validator calls before it loads anything: a missing or altered
artefact raises `StandardsMissing`, so validation never answers "valid" without having run
the official rules (DESIGN.md section 6).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import tomllib
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gateway.config import PROJECT_ROOT

LOCK_PATH = PROJECT_ROOT / "schemas" / "standards.lock"
# A download slower than this is abandoned; the artefacts are at most ~1 MB each.
DOWNLOAD_TIMEOUT_SECONDS = 60.0
# Refuse a download larger than this (the largest artefact, the CEN XSLT, is ~0.9 MB).
MAX_ARTEFACT_BYTES = 32 * 1024 * 1024


class StandardsError(Exception):
    """Base class: the official artefacts cannot be installed or used."""


class StandardsMissing(StandardsError):
    """The installed artefact set is incomplete or altered; validation cannot run."""

    def __init__(self, standards_dir: Path, problems: list[str]) -> None:
        self.standards_dir = standards_dir
        self.problems = problems
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        super().__init__(
            f"official validation artefacts are missing or altered in {standards_dir}: {shown}. "
            "Run `gateway standards install --from ../shared/standards` (or without --from to download them)."
        )


class ChecksumMismatch(StandardsError):
    """A source file does not have the sha256 the lock names; nothing was installed."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}; nothing was installed"
        )


class SourceUnavailable(StandardsError):
    """A source file could not be read or downloaded; nothing was installed."""


@dataclass(frozen=True)
class Artefact:
    """One official file the validator uses, as listed in the lock."""

    name: str
    version: str
    release: str
    url: str
    path: str
    sha256: str
    role: str


def load_lock(lock_path: Path = LOCK_PATH) -> list[Artefact]:
    """Read and sanity-check the lock: unique names and paths, relative paths, hex digests."""
    with lock_path.open("rb") as handle:
        data = tomllib.load(handle)
    artefacts = [Artefact(**entry) for entry in data["artefact"]]
    names = [artefact.name for artefact in artefacts]
    paths = [artefact.path for artefact in artefacts]
    if len(set(names)) != len(names) or len(set(paths)) != len(paths):
        raise StandardsError(f"{lock_path}: artefact names and paths must be unique")
    for artefact in artefacts:
        relative = PurePosixPath(artefact.path)
        if relative.is_absolute() or ".." in relative.parts:
            raise StandardsError(f"{lock_path}: {artefact.name} has a path outside the standards directory")
        if len(artefact.sha256) != 64 or any(c not in "0123456789abcdef" for c in artefact.sha256):
            raise StandardsError(f"{lock_path}: {artefact.name} has no valid lowercase sha256")
    return artefacts


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "gateway-standards-install"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (URLs come from the lock)
            data = response.read(MAX_ARTEFACT_BYTES + 1)
    except OSError as exc:  # URLError, HTTPError and timeouts are all OSError
        raise SourceUnavailable(f"cannot download {url}: {exc}; nothing was installed") from exc
    if len(data) > MAX_ARTEFACT_BYTES:
        raise SourceUnavailable(f"{url} is larger than {MAX_ARTEFACT_BYTES} bytes; nothing was installed")
    return data


def _read_source(from_dir: Path, artefact: Artefact) -> bytes:
    source = from_dir / artefact.path
    try:
        return source.read_bytes()
    except OSError as exc:
        raise SourceUnavailable(f"cannot read {source}: {exc.strerror or exc}; nothing was installed") from exc


def install(
    from_dir: Path | None,
    dest: Path,
    *,
    artefacts: Iterable[Artefact] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
) -> list[Artefact]:
    """Install every artefact of the lock into `dest`, all or nothing.

    With `from_dir`, each file is read from `from_dir / artefact.path`; without it, it is
    downloaded from `artefact.url`. Every file is checked against its sha256 before the set
    replaces `dest`. Raises `ChecksumMismatch` or `SourceUnavailable`, leaving `dest` as it was.
    """
    selected = list(load_lock() if artefacts is None else artefacts)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Stage next to the destination so the final move is a rename on the same filesystem.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
    try:
        for artefact in selected:
            data = _read_source(from_dir, artefact) if from_dir is not None else _fetch(artefact.url, timeout)
            actual = sha256_of(data)
            if actual != artefact.sha256:
                raise ChecksumMismatch(artefact.path, artefact.sha256, actual)
            target = staging / artefact.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _replace_directory(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return selected


def _replace_directory(staging: Path, dest: Path) -> None:
    """Swap the verified staging directory in; the old set is removed only after the swap."""
    if not dest.exists():
        os.replace(staging, dest)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.replace(dest, retired / dest.name)
    try:
        os.replace(staging, dest)
    except BaseException:
        os.replace(retired / dest.name, dest)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def check_installed(standards_dir: Path, *, artefacts: Iterable[Artefact] | None = None) -> list[Artefact]:
    """Raise `StandardsMissing` unless every lock artefact is in `standards_dir` with its sha256."""
    selected = list(load_lock() if artefacts is None else artefacts)
    if not standards_dir.is_dir():
        raise StandardsMissing(standards_dir, ["the directory does not exist (nothing is installed)"])
    problems: list[str] = []
    for artefact in selected:
        path = standards_dir / artefact.path
        try:
            actual = sha256_of(path.read_bytes())
        except FileNotFoundError:
            problems.append(f"{artefact.path} is missing")
            continue
        except OSError as exc:
            problems.append(f"{artefact.path} cannot be read ({exc.strerror or exc})")
            continue
        if actual != artefact.sha256:
            problems.append(f"{artefact.path} has sha256 {actual}, expected {artefact.sha256}")
    if problems:
        raise StandardsMissing(standards_dir, problems)
    return selected
