"""Benchmark: paper letters rendered to PDF (WeasyPrint), and handed to the print drop folder.

Run with `.venv/bin/python -m bench.bench_letters [--seconds N]`. One process pinned to one core.
Scenarios: a one-page invoice with an SVG logo; a registered first reminder with fees to follow
and a personal link; a two-page invoice of 40 lines. Then `PrintDropProvider.send` +
`close_batch` for the rendered letters (disk, fsync included), in letters per second.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from gateway import demo_data
from gateway.channels.base import SendRequest
from gateway.channels.paper.drop import close_batch
from gateway.channels.paper.provider import PrintDropProvider
from gateway.letters.render import LetterInput, LetterLine, LetterParty, render_letter

DEFAULT_SECONDS = 5.0  # measuring time per scenario

INVOICE = LetterInput(
    kind="invoice", language="nl",
    creditor=LetterParty("Gemeente Zonnedorp", ("Marktplein 1", "9999 Zonnedorp")),
    creditor_enterprise_number="0207451227", creditor_iban="BE48320070184927", creditor_bic="GEBABEBB", creditor_colour="#1d4f91",
    logo=demo_data.creditor_logo("zonnedorp")[0], logo_media_type="image/svg+xml",
    debtor=LetterParty("An Peeters", ("Kerkstraat 10", "9999 Zonnedorp")),
    document_number="INV-2026-000042", issue_date=date(2026, 11, 23), claim_number="F2026-0042",
    lines=(LetterLine("Ophaling grofvuil (1 × 120)", Decimal("120.00")), LetterLine("Btw", Decimal("11.40"))),
    total_due=Decimal("131.40"), currency="EUR", due_date=date(2026, 12, 23), ogm="010806817183",
)
REMINDER = replace(
    INVOICE, kind="reminder", language="fr", step=1, registered=True, document_number="REM-2026-000007",
    fees_to_follow=(LetterLine("Rappel suivant (étape 2)", Decimal("7.50")), LetterLine("Rappel suivant (étape 3)", Decimal("15.00"))),
    personal_url="https://gateway.example.org/p/abcdefghijklmnop.qrstuvwxyz",
)
LONG = replace(INVOICE, lines=tuple(LetterLine(f"Verbruik periode {n}", Decimal("2.19")) for n in range(1, 41)), total_due=Decimal("87.60"))


def pin_one_core() -> str:
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    except (AttributeError, OSError):
        return "not pinned"


def measure(letter: LetterInput, seconds: float) -> tuple[int, float, int]:
    count, started = 0, time.perf_counter()
    size = 0
    while time.perf_counter() - started < seconds:
        # A different document number each time: no cache can answer for WeasyPrint.
        size = len(render_letter(replace(letter, document_number=f"{letter.document_number}-{count}")))
        count += 1
    return count, time.perf_counter() - started, size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    args = parser.parse_args(argv)
    print(f"render_letter, one process ({pin_one_core()}), {args.seconds:.0f} s per scenario")
    render_letter(INVOICE)  # first call loads WeasyPrint, Pango and the fonts (not measured)
    pdfs = []
    for label, letter in (("invoice, 1 page, SVG logo", INVOICE), ("registered reminder, fees to follow", REMINDER), ("invoice, 40 lines, 2 pages", LONG)):
        count, elapsed, size = measure(letter, args.seconds)
        print(f"  {label:40s} {count / elapsed:7.1f} letters/s  ({1000 * elapsed / count:6.1f} ms each, {size:,} bytes)")
        pdfs.append(render_letter(letter))
    with tempfile.TemporaryDirectory() as folder:
        provider = PrintDropProvider(Path(folder))
        total = 500
        started = time.perf_counter()
        for n in range(total):
            pdf = pdfs[n % len(pdfs)]
            provider.send(SendRequest(
                dispatch_id=uuid.UUID(int=n), idempotency_key=hashlib.sha256(str(n).encode()).hexdigest(), channel="paper",
                recipient=f"Kerkstraat {n}, 9999 Zonnedorp, BE", document_number=f"INV-{n:06d}", document_media_type="application/pdf", document=pdf,
            ))
        handed = time.perf_counter() - started
        started = time.perf_counter()
        summary = close_batch(Path(folder), now=datetime.now(UTC))
        closed = time.perf_counter() - started
    print(f"  print drop: send {total / handed:7.0f} letters/s (fsync per file), close_batch of {summary.letters} letters in {closed:.2f} s")


if __name__ == "__main__":
    main()
