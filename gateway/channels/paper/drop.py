"""The print provider's drop folder: letters wait in `pending/`, batches go out in `batches/`.

    <drop>/pending/<idempotency key>.pdf      the letter
    <drop>/pending/<idempotency key>.json     its sidecar, written last: a pair is complete when the JSON exists
    <drop>/batches/<YYYYMMDD-HHMMSS>-<n>/     one batch (UTC time of the close; n = 1, 2, ... within that second)
    <drop>/batches/.staging-<name>/           a batch being closed (never read by the printer)
    <drop>/.lock                              flock: one writer at a time (a send or a close)

Why this shape:

- Every file is written to a temporary name, fsynced and `os.replace`d, so the printer (and
  `close_batch`) never sees half a file; the directory is fsynced after the rename so the name
  survives a power cut.
- The print provider takes a batch only when its `manifest.csv` exists, and the manifest is
  written last, after every letter is in place.
- A batch is assembled in a hidden staging folder and renamed into place once its manifest is
  written. A close that crashes half way leaves a staging folder; the next close moves its files
  back to `pending/` first, so no letter is lost and none is printed twice.
- A send and a close exclude each other with an advisory lock on `<drop>/.lock`, so a letter
  written during a close either makes this batch or stays pending for the next one.
- A retried send (the worker crashed after writing) writes the same file names with the same
  bytes; a letter that already went out in a batch is not written again, so the printer gets one
  letter per dispatch.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PENDING = "pending"
BATCHES = "batches"
STAGING_PREFIX = ".staging-"
MANIFEST = "manifest.csv"
LOCK = ".lock"
MANIFEST_COLUMNS = ("sequence", "file", "dispatch_id", "document_number", "recipient_name", "address", "registered", "pages", "sha256")
# Idempotency keys become file names: letters, digits and - _ . only, no path separators.
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def valid_key(key: str) -> bool:
    return bool(_KEY_RE.fullmatch(key))


@contextmanager
def drop_lock(drop_dir: Path) -> Iterator[None]:
    """Exclusive advisory lock on `<drop>/.lock` (blocks until the other writer is done)."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    with open(drop_dir / LOCK, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes) -> None:
    """Temp name in the same folder, fsync, rename over `path`, fsync the folder."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


# --- page count ---------------------------------------------------------------------------

_PAGES_RE = re.compile(rb"/Type\s*/Pages\b(?:(?!>>).)*?/Count\s+(\d+)|/Count\s+(\d+)(?:(?!>>).)*?/Type\s*/Pages\b", re.S)
_STREAM_RE = re.compile(rb"/Type\s*/ObjStm\b.*?stream\r?\n(.*?)\r?\nendstream", re.S)


def page_count(pdf: bytes) -> int | None:
    """Pages of a PDF (the root page tree's /Count), also when it sits in a compressed object stream.

    Enough for the PDFs we print (WeasyPrint's); None when the count cannot be read."""
    counts = [int(a or b) for a, b in _PAGES_RE.findall(pdf)]
    if not counts:
        for match in _STREAM_RE.finditer(pdf):
            try:
                body = zlib.decompress(match.group(1))
            except zlib.error:
                continue
            counts.extend(int(a or b) for a, b in _PAGES_RE.findall(body))
    return max(counts) if counts else None  # the root holds the total; intermediate nodes hold parts


# --- pending letters ----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingLetter:
    key: str
    sidecar: dict


def already_batched(drop_dir: Path, key: str) -> Path | None:
    """The batch folder that already holds this letter, if any."""
    batches = drop_dir / BATCHES
    if not batches.is_dir():
        return None
    for candidate in sorted(batches.glob(f"*/{key}.json")):
        if not candidate.parent.name.startswith("."):
            return candidate.parent
    return None


def put_letter(drop_dir: Path, key: str, pdf: bytes, sidecar: dict) -> Path:
    """Write the pair into pending/ (PDF first, JSON last); call under `drop_lock`."""
    pending = drop_dir / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    write_atomically(pending / f"{key}.pdf", pdf)
    write_atomically(pending / f"{key}.json", json.dumps(sidecar, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8"))
    return pending / f"{key}.pdf"


# --- batches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSummary:
    name: str
    path: Path
    letters: int
    registered: int
    pages: int
    skipped: tuple[str, ...] = ()  # keys left in pending/ because their PDF is missing or differs from its sidecar

    def to_json(self) -> dict:
        return {"batch": self.name, "path": str(self.path), "letters": self.letters, "registered": self.registered, "pages": self.pages, "skipped": list(self.skipped)}


def _recover_staging(drop_dir: Path) -> None:
    """Put the files of a close that crashed back into pending/ (its manifest was never published)."""
    batches = drop_dir / BATCHES
    if not batches.is_dir():
        return
    pending = drop_dir / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    for staging in sorted(batches.glob(f"{STAGING_PREFIX}*")):
        for file in sorted(staging.iterdir()):
            if file.suffix in (".pdf", ".json") and not file.name.startswith("."):
                os.replace(file, pending / file.name)
            else:
                file.unlink()
        staging.rmdir()
    _fsync_dir(pending)


def _batch_name(batches: Path, now: datetime) -> str:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    stamp = f"{now.astimezone(UTC):%Y%m%d-%H%M%S}"  # UTC, like every time we store
    number = 1
    while (batches / f"{stamp}-{number}").exists():
        number += 1
    return f"{stamp}-{number}"


def _manifest(rows: list[dict]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def close_batch(drop_dir: Path, *, now: datetime) -> BatchSummary | None:
    """Move every complete pending pair into a new batch and publish its manifest; None when nothing is pending.

    Letters are ordered by document number, then key: the same pending set gives the same manifest."""
    drop_dir = Path(drop_dir)
    with drop_lock(drop_dir):
        _recover_staging(drop_dir)
        pending = drop_dir / PENDING
        candidates: list[PendingLetter] = []
        skipped: list[str] = []
        for sidecar_path in sorted(pending.glob("*.json")) if pending.is_dir() else ():
            if sidecar_path.name.startswith("."):
                continue
            key = sidecar_path.stem
            pdf_path = pending / f"{key}.pdf"
            sidecar = json.loads(sidecar_path.read_bytes())
            if not pdf_path.is_file() or hashlib.sha256(pdf_path.read_bytes()).hexdigest() != sidecar.get("sha256"):
                skipped.append(key)
                continue
            candidates.append(PendingLetter(key, sidecar))
        if not candidates:
            return None
        candidates.sort(key=lambda letter: (str(letter.sidecar.get("document_number", "")), letter.key))
        batches = drop_dir / BATCHES
        batches.mkdir(parents=True, exist_ok=True)
        name = _batch_name(batches, now)
        staging = batches / f"{STAGING_PREFIX}{name}"
        staging.mkdir()
        rows = []
        for sequence, letter in enumerate(candidates, start=1):
            # PDF first: a pair split by a crash is reunited by _recover_staging.
            os.replace(pending / f"{letter.key}.pdf", staging / f"{letter.key}.pdf")
            os.replace(pending / f"{letter.key}.json", staging / f"{letter.key}.json")
            sidecar = letter.sidecar
            rows.append({
                "sequence": sequence, "file": f"{letter.key}.pdf", "dispatch_id": sidecar.get("dispatch_id", ""),
                "document_number": sidecar.get("document_number", ""), "recipient_name": sidecar.get("debtor_name") or "",
                "address": sidecar.get("recipient", ""), "registered": "true" if sidecar.get("registered") else "false",
                "pages": sidecar.get("pages") if sidecar.get("pages") is not None else "", "sha256": sidecar.get("sha256", ""),
            })
        _fsync_dir(pending)
        _fsync_dir(staging)
        write_atomically(staging / MANIFEST, _manifest(rows))
        final = batches / name
        os.replace(staging, final)  # the batch appears whole, manifest included
        _fsync_dir(batches)
        return BatchSummary(
            name=name, path=final, letters=len(rows), registered=sum(1 for row in rows if row["registered"] == "true"),
            pages=sum(int(row["pages"] or 0) for row in rows), skipped=tuple(skipped),
        )
