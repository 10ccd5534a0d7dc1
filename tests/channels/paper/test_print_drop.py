"""The print drop folder: letters handed over once, batches published whole, nothing lost in a race."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner

from gateway.channels.base import SendRequest
from gateway.channels.paper import drop
from gateway.channels.paper.drop import MANIFEST_COLUMNS, close_batch, page_count
from gateway.channels.paper.provider import PrintDropProvider
from gateway.channels.setup import build_providers
from gateway.cli import main
from gateway.config import Settings
from gateway.domain.transmission import DeliveryState
from gateway.errors import TerminalError
from gateway.letters.render import LetterLine, render_letter
from tests.letters.test_render import letter, reminder

NOW = datetime(2026, 11, 23, 16, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def one_page_pdf() -> bytes:
    return render_letter(letter())


@pytest.fixture(scope="module")
def two_page_pdf() -> bytes:
    lines = tuple(LetterLine(f"Verbruik periode {n}", Decimal("2.19")) for n in range(1, 41))
    return render_letter(reminder(lines=lines, registered=True))


def request(pdf: bytes, number: int, *, channel: str = "paper", media_type: str = "application/pdf", name: str = "An Peeters") -> SendRequest:
    dispatch_id = uuid.UUID(int=number)
    return SendRequest(
        dispatch_id=dispatch_id, idempotency_key=hashlib.sha256(f"doc-{number}|{channel}".encode()).hexdigest(), channel=channel,
        recipient=f"Kerkstraat {number}, 9999 Zonnedorp, BE", document_number=f"INV-2026-{number:06d}", document_media_type=media_type,
        document=pdf, language="fr", extra={"debtor_name": name},
    )


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())} if folder.is_dir() else {}


def test_page_count_reads_the_compressed_page_tree(one_page_pdf, two_page_pdf):
    assert page_count(one_page_pdf) == len(pdfium.PdfDocument(one_page_pdf)) == 1
    assert page_count(two_page_pdf) == len(pdfium.PdfDocument(two_page_pdf)) == 2
    assert page_count(b"%PDF-1.7\nnothing here") is None


def test_send_writes_the_letter_and_its_sidecar_into_pending(tmp_path, two_page_pdf):
    provider = PrintDropProvider(tmp_path, channel="registered_paper")
    sent = request(two_page_pdf, 7, channel="registered_paper")

    result = provider.send(sent)

    key = sent.idempotency_key
    assert result.state is DeliveryState.SENT
    assert result.provider_message_id == f"print:{key}"
    assert sorted(files(tmp_path / "pending")) == sorted([f"{key}.pdf", f"{key}.json"])
    assert (tmp_path / "pending" / f"{key}.pdf").read_bytes() == two_page_pdf
    assert json.loads((tmp_path / "pending" / f"{key}.json").read_bytes()) == {
        "dispatch_id": "00000000-0000-0000-0000-000000000007", "idempotency_key": key, "channel": "registered_paper",
        "document_number": "INV-2026-000007", "recipient": "Kerkstraat 7, 9999 Zonnedorp, BE", "debtor_name": "An Peeters",
        "registered": True, "pages": 2, "sha256": hashlib.sha256(two_page_pdf).hexdigest(), "language": "fr",
    }
    assert not list(tmp_path.rglob(".*.tmp-*"))  # no temp file left behind


def test_a_retry_rewrites_the_same_files_and_a_batched_letter_is_not_written_again(tmp_path, one_page_pdf):
    provider = PrintDropProvider(tmp_path)
    sent = request(one_page_pdf, 1)
    provider.send(sent)
    before = files(tmp_path / "pending")

    again = provider.send(sent)  # the worker crashed after writing; the sweeper re-queued the dispatch

    assert files(tmp_path / "pending") == before
    assert again.provider_message_id == f"print:{sent.idempotency_key}"
    summary = close_batch(tmp_path, now=NOW)
    assert summary.letters == 1

    late = provider.send(sent)  # a retry after the letter went out in a batch

    assert late.state is DeliveryState.SENT and json.loads(late.response_excerpt)["batch"] == "20261123-160000-1"
    assert files(tmp_path / "pending") == {}
    assert close_batch(tmp_path, now=NOW) is None


def test_a_different_letter_for_an_already_batched_dispatch_is_refused(tmp_path, one_page_pdf, two_page_pdf):
    provider = PrintDropProvider(tmp_path)
    provider.send(request(one_page_pdf, 1))
    close_batch(tmp_path, now=NOW)
    with pytest.raises(TerminalError, match="already in batch 20261123-160000-1"):
        provider.send(request(two_page_pdf, 1))
    assert files(tmp_path / "pending") == {}


@pytest.mark.parametrize(
    ("media_type", "document", "message"),
    [
        ("application/xml", b"<Invoice/>", "got document media type 'application/xml'"),
        ("text/plain; charset=utf-8", b"hello", "got document media type 'text/plain; charset=utf-8'"),
        ("application/pdf", b"<html>not a pdf</html>", "does not start with %PDF-"),
    ],
)
def test_anything_but_a_pdf_is_terminal_and_writes_nothing(tmp_path, media_type, document, message):
    with pytest.raises(TerminalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PrintDropProvider(tmp_path).send(request(document, 1, media_type=media_type))
    assert files(tmp_path / "pending") == {}


def test_an_empty_address_or_a_path_like_key_is_terminal(tmp_path, one_page_pdf):
    provider = PrintDropProvider(tmp_path)
    base = request(one_page_pdf, 1)
    with pytest.raises(TerminalError, match="no postal address"):
        provider.send(SendRequest(**{**base.__dict__, "recipient": "  "}))
    with pytest.raises(TerminalError, match="cannot be a file name"):
        provider.send(SendRequest(**{**base.__dict__, "idempotency_key": "../../etc/passwd"}))
    assert not (tmp_path / "pending").exists() or files(tmp_path / "pending") == {}


def test_close_batch_moves_complete_pairs_and_writes_the_exact_manifest_last(tmp_path, one_page_pdf, two_page_pdf):
    paper = PrintDropProvider(tmp_path)
    registered = PrintDropProvider(tmp_path, channel="registered_paper")
    third = request(one_page_pdf, 3, name="Claire Martin")
    first = request(one_page_pdf, 1)
    second = request(two_page_pdf, 2, channel="registered_paper", name="Jan, \"de\" Vries")
    paper.send(third)
    paper.send(first)
    registered.send(second)
    # An incomplete pair (the sender is still writing: PDF there, sidecar not yet) stays pending.
    (tmp_path / "pending" / "f00d.pdf").write_bytes(one_page_pdf)

    summary = close_batch(tmp_path, now=NOW)

    batch = tmp_path / "batches" / "20261123-160000-1"
    assert summary.to_json() == {"batch": "20261123-160000-1", "path": str(batch), "letters": 3, "registered": 1, "pages": 4, "skipped": []}
    assert sorted(files(tmp_path / "pending")) == ["f00d.pdf"]
    with open(batch / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    one, two = hashlib.sha256(one_page_pdf).hexdigest(), hashlib.sha256(two_page_pdf).hexdigest()
    assert rows == [
        list(MANIFEST_COLUMNS),
        ["1", f"{first.idempotency_key}.pdf", str(first.dispatch_id), "INV-2026-000001", "An Peeters", "Kerkstraat 1, 9999 Zonnedorp, BE", "false", "1", one],
        ["2", f"{second.idempotency_key}.pdf", str(second.dispatch_id), "INV-2026-000002", 'Jan, "de" Vries', "Kerkstraat 2, 9999 Zonnedorp, BE", "true", "2", two],
        ["3", f"{third.idempotency_key}.pdf", str(third.dispatch_id), "INV-2026-000003", "Claire Martin", "Kerkstraat 3, 9999 Zonnedorp, BE", "false", "1", one],
    ]
    assert (batch / "manifest.csv").read_bytes().startswith(b"sequence,file,dispatch_id,document_number,recipient_name,address,registered,pages,sha256\r\n")
    for row in rows[1:]:
        assert hashlib.sha256((batch / row[1]).read_bytes()).hexdigest() == row[8]
    assert sorted(path.name for path in (tmp_path / "batches").iterdir()) == ["20261123-160000-1"]  # no staging folder left

    # The straggler's sidecar arrives; a second close in the same second gets the next number.
    paper.send(request(one_page_pdf, 4))
    assert close_batch(tmp_path, now=NOW).name == "20261123-160000-2"
    assert close_batch(tmp_path, now=NOW) is None


def test_nothing_pending_gives_none_and_no_batch(tmp_path):
    assert close_batch(tmp_path, now=NOW) is None
    assert not (tmp_path / "batches").exists()


def test_a_pair_whose_pdf_does_not_match_its_sidecar_is_left_pending(tmp_path, one_page_pdf):
    sent = request(one_page_pdf, 1)
    PrintDropProvider(tmp_path).send(sent)
    PrintDropProvider(tmp_path).send(request(one_page_pdf, 2))
    (tmp_path / "pending" / f"{sent.idempotency_key}.pdf").write_bytes(b"%PDF-1.7 truncated")
    summary = close_batch(tmp_path, now=NOW)
    assert (summary.letters, summary.skipped) == (1, (sent.idempotency_key,))
    assert sorted(files(tmp_path / "pending")) == sorted([f"{sent.idempotency_key}.pdf", f"{sent.idempotency_key}.json"])


def test_a_close_that_crashed_half_way_is_undone_by_the_next_close(tmp_path, one_page_pdf):
    provider = PrintDropProvider(tmp_path)
    sent = [request(one_page_pdf, n) for n in (1, 2)]
    for item in sent:
        provider.send(item)
    # The state a crash leaves: a staging folder holding one whole pair and the PDF of the other.
    staging = tmp_path / "batches" / ".staging-20261123-155900-1"
    staging.mkdir(parents=True)
    for name in (f"{sent[0].idempotency_key}.pdf", f"{sent[0].idempotency_key}.json", f"{sent[1].idempotency_key}.pdf"):
        os.replace(tmp_path / "pending" / name, staging / name)

    summary = close_batch(tmp_path, now=NOW)

    assert summary.letters == 2
    assert sorted(path.name for path in (tmp_path / "batches").iterdir()) == ["20261123-160000-1"]
    assert files(tmp_path / "pending") == {}


def test_sends_racing_closes_lose_nothing_and_print_nothing_twice(tmp_path, one_page_pdf):
    provider = PrintDropProvider(tmp_path)
    letters = [request(one_page_pdf, n) for n in range(1, 121)]
    closes: list[str] = []
    done = threading.Event()

    def sender() -> None:
        for item in letters:
            provider.send(item)
        done.set()

    def closer() -> None:
        second = 0
        while not done.is_set() or any((tmp_path / "pending").glob("*.json")):
            second += 1
            summary = close_batch(tmp_path, now=NOW.replace(second=second % 60, minute=second // 60))
            if summary is not None:
                closes.append(summary.name)

    threads = [threading.Thread(target=sender), threading.Thread(target=closer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    published: list[str] = []
    for manifest in sorted((tmp_path / "batches").glob("*/manifest.csv")):
        with open(manifest, newline="", encoding="utf-8") as handle:
            published.extend(row["dispatch_id"] for row in csv.DictReader(handle))
    assert len(closes) >= 2  # the race really happened: more than one batch while sending
    assert sorted(published) == sorted(str(item.dispatch_id) for item in letters)  # each letter exactly once
    assert files(tmp_path / "pending") == {}


def test_cli_close_batch_prints_the_summary(tmp_path, one_page_pdf):
    runner = CliRunner()
    empty = runner.invoke(main, ["print", "close-batch", "--drop-dir", str(tmp_path), "--json"])
    assert (empty.exit_code, json.loads(empty.output)) == (0, {"batch": None, "letters": 0})
    PrintDropProvider(tmp_path, channel="registered_paper").send(request(one_page_pdf, 1, channel="registered_paper"))
    PrintDropProvider(tmp_path).send(request(one_page_pdf, 2))

    result = runner.invoke(main, ["print", "close-batch", "--drop-dir", str(tmp_path), "--json"])

    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert {k: v for k, v in answer.items() if k not in ("batch", "path")} == {"letters": 2, "registered": 1, "pages": 2, "skipped": []}
    assert Path(answer["path"]).name == answer["batch"] and (Path(answer["path"]) / "manifest.csv").is_file()
    text = runner.invoke(main, ["print", "close-batch", "--drop-dir", str(tmp_path)])
    assert (text.exit_code, text.output) == (0, f"nothing pending in {tmp_path / 'pending'}\n")


def test_build_providers_adds_paper_and_registered_paper_on_the_drop_folder(tmp_path):
    registry = build_providers(Settings(print_drop_dir=tmp_path))
    paper, registered = registry.for_channel("paper"), registry.for_channel("registered_paper")
    assert (paper.name, paper.channel, paper.drop_dir, paper.registered) == ("print-drop", "paper", tmp_path, False)
    assert (registered.channel, registered.drop_dir, registered.registered) == ("registered_paper", tmp_path, True)


def test_the_lock_file_is_the_only_extra_file(tmp_path, one_page_pdf):
    PrintDropProvider(tmp_path).send(request(one_page_pdf, 1))
    assert sorted(path.name for path in tmp_path.iterdir()) == [drop.LOCK, "pending"]


def test_the_batch_name_is_the_utc_time_of_the_close(tmp_path, one_page_pdf):
    from zoneinfo import ZoneInfo

    PrintDropProvider(tmp_path).send(request(one_page_pdf, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        close_batch(tmp_path, now=datetime(2026, 11, 23, 17, 0))
    brussels = datetime(2026, 11, 23, 17, 0, 5, tzinfo=ZoneInfo("Europe/Brussels"))
    assert close_batch(tmp_path, now=brussels).name == "20261123-160005-1"
