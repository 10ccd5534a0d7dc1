"""`gateway demo`: the gateway on its embedded defaults with demo data, end to end over HTTP.

A fresh SQLite store is migrated, the demo creditors are loaded, the server starts on
127.0.0.1 with in-process workers, and the demo posts its claims through the real API as
accounting software would. It prints what happened and where to look.
"""

from __future__ import annotations

import random
import secrets
import shutil
import threading
import time
from collections import Counter
from datetime import date

import click
import requests
import uvicorn
from sqlalchemy import func, select

from gateway import demo_data
from gateway.app import create_app
from gateway.channels.email.sink import SmtpSink
from gateway.channels.setup import build_providers
from gateway.config import PROJECT_ROOT, get_settings
from gateway.kit.time import brussels_today, utc_now
from gateway.peppol.sandbox_ap import SandboxNetwork
from gateway.services import auth
from gateway.store.migrate import upgrade
from gateway.store.models import AuditEvent, Claim, CreditorEntity, Debtor, Dispatch, Document, Job
from gateway.store.session import Database

DEMO_DATABASE = PROJECT_ROOT / "var" / "demo.sqlite"
DEMO_MAIL_DIR = PROJECT_ROOT / "var" / "mail"
DEMO_PRINT_DIR = PROJECT_ROOT / "var" / "print"
DEMO_EBOX_KEY = PROJECT_ROOT / "var" / "demo-ebox-client-key.pem"
DEMO_EBOX_CLIENT = "urn:be:smals:ebox:client:zonnedorp-demo"
DEMO_PPID = "5f1a2b3c4d5e6f7a8b9c0d1e"
# The demo signs its VERP return paths with this key unless GATEWAY_EMAIL_VERP_SECRET is set.
DEMO_VERP_SECRET = "demo-verp-secret-not-for-production"


def load_creditors(database: Database) -> dict[str, str]:
    """Creditor entities and one API key per top-level entity (seeing its children)."""
    now = utc_now()
    with database.session_scope() as session:
        ids = {}
        for code, kind, name, parent, enterprise, iban, languages, country in demo_data.CREDITORS:
            logo, logo_media_type = demo_data.creditor_logo(code)
            entity = CreditorEntity(
                logo=logo, logo_media_type=logo_media_type,
                code=code, kind=kind, name=name, parent_id=ids.get(parent), enterprise_number=enterprise,
                vat_number=f"BE{enterprise}" if enterprise else None,
                peppol_id=f"0208:{enterprise}" if enterprise else None, iban=iban, sender_email=f"facturatie@{code}.example",
                languages=languages, country=country, street="Marktplein 1", postal_code="9999" if country == "BE" else "4330 AB",
                city="Zonnedorp" if country == "BE" else "Middelburg", primary_colour="#1d4f91", created_at=now,
            )
            session.add(entity)
            session.flush()
            ids[code] = entity.id
        return {
            code: auth.create_key(session, code, "demo accounting software", includes_children=True, now=now)
            for code, _, _, parent, *_ in demo_data.CREDITORS
            if parent is None
        }


class BackgroundServer:
    def __init__(self, app, host: str, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="gateway-demo-server", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise click.ClickException("the demo server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_for_jobs(database: Database, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.session_scope() as session:
            pending = session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(["pending", "running"])))
        if pending == 0:
            return 0
        time.sleep(0.2)
    return pending


def post_demo_claims(base: str, keys: dict[str, str], today: date) -> dict:
    owner = {code: (parent or code) for code, _, _, parent, *_ in demo_data.CREDITORS}
    report = {"accepted": 0, "refused": 0, "warnings": [], "problems": [], "replayed": False}
    for code, items in demo_data.claims(today).items():
        payload = {"claims": [{**item, "creditor": code} for item in items]}
        response = requests.post(f"{base}/v1/claims/batch", json=payload, headers={"Authorization": f"Bearer {keys[owner[code]]}"}, timeout=60)
        response.raise_for_status()
        body = response.json()
        report["accepted"] += body["accepted"]
        report["refused"] += body["refused"]
        for result in body["results"]:
            if result["status"] == "accepted":
                report["warnings"].extend(result["claim"]["warnings"])
    municipality = {"Authorization": f"Bearer {keys['zonnedorp']}"}
    for bad in demo_data.refused_examples(today):
        response = requests.post(f"{base}/v1/claims", json=bad, headers=municipality, timeout=30)
        report["problems"].append((bad["number"], response.status_code, [(e["field"], e["rule"]) for e in response.json().get("errors", [])]))
    single = {**demo_data.claims(today)["zonnedorp"][0], "number": "ZONN-IDEMPOTENT-1"}
    first = requests.post(f"{base}/v1/claims", json=single, headers={**municipality, "Idempotency-Key": "demo-1"}, timeout=30)
    second = requests.post(f"{base}/v1/claims", json=single, headers={**municipality, "Idempotency-Key": "demo-1"}, timeout=30)
    report["accepted"] += 1 if first.status_code == 201 else 0
    report["replayed"] = second.headers.get("Idempotent-Replayed") == "true" and second.json()["id"] == first.json()["id"]
    report["idempotent_claim"] = first.json()
    return report


def summarise(database: Database) -> dict:
    with database.session_scope() as session:
        routed = session.scalars(select(AuditEvent).where(AuditEvent.action == "claim.routed")).all()
        documents = session.scalars(select(Document)).all()
        return {
            "channels": Counter(event.data["channel"] for event in routed),
            "documents": Counter(document.kind for document in documents),
            "clean_documents": sum(1 for d in documents if (d.meta or {}).get("validation", {}).get("status") == "clean"),
            "letters": sum(1 for d in documents if d.media_type == "application/pdf"),
            "refused_documents": session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "document.refused")),
            "dispatches": Counter(session.scalars(select(Dispatch.channel)).all()),
            "peppol": Counter(session.scalars(select(Dispatch.state).where(Dispatch.channel == "peppol")).all()),
            "buyer_responses": Counter(e.data["response_code"] for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.reported")) if e.data.get("response_kind") == "invoice_response"),
            "failed_jobs": session.scalar(select(func.count()).select_from(Job).where(Job.state == "failed")),
            "lookups": Counter(e.data["peppol_lookup"]["outcome"] for e in routed if e.data.get("peppol_lookup")),
            "found": sorted(e.data["peppol_id"] for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "debtor.peppol_id_found"))),
            "peppol_fallbacks": Counter(
                e.data["reason"] for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.fallback").order_by(AuditEvent.id))
                if e.data["reason"].startswith("after peppol failed")
            ),
        }


def start_peppol_network(settings) -> SandboxNetwork:
    """The sandbox SML/SMP and access point on loopback, with the participants `demo_data.sml_participants` lists."""
    ids = demo_data.sml_participants(demo_data.debtors(random.Random(2026)))
    callback_url = f"http://{settings.host}:{settings.port}/v1/callbacks/peppol-ap"
    return SandboxNetwork(
        ids, pki_dir=PROJECT_ROOT / "certs-example" / "generated", standards_dir=settings.standards_dir,
        callback_url=callback_url, secret=secrets.token_hex(16),
    ).start()


class ConsumerSandboxes:
    """The SMS gateway, eBox and Bancontact sandboxes on loopback (DESIGN.md section 7), and the
    settings that point the real providers at them. The eBox client key is made for this run."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        from gateway.channels.ebox.sandbox import EboxSandbox
        from gateway.channels.payment.bancontact_sandbox import BancontactSandbox
        from gateway.channels.sms.sandbox import SmsSandbox

        self.secrets = {"sms_key": secrets.token_hex(16), "sms_callback": secrets.token_hex(16), "bancontact_key": secrets.token_hex(16)}
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        DEMO_EBOX_KEY.parent.mkdir(parents=True, exist_ok=True)
        DEMO_EBOX_KEY.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        DEMO_EBOX_KEY.chmod(0o600)
        self.sms = SmsSandbox(api_key=self.secrets["sms_key"], callback_secret=self.secrets["sms_callback"])
        self.ebox = EboxSandbox(client_id=DEMO_EBOX_CLIENT, public_key=key.public_key())
        self.bancontact = BancontactSandbox(api_key=self.secrets["bancontact_key"], payment_profile_id=DEMO_PPID)

    def settings_update(self) -> dict:
        return {
            "sms_api_url": self.sms.url, "sms_api_key": self.secrets["sms_key"], "sms_callback_secret": self.secrets["sms_callback"],
            "ebox_api_url": self.ebox.api_url, "ebox_token_url": self.ebox.token_url, "ebox_client_id": DEMO_EBOX_CLIENT,
            "ebox_private_key_path": DEMO_EBOX_KEY, "ebox_sender_enterprise_number": "0207451227",
            "ebox_sender_application_id": "ZONNEDORP-FACTURATIE", "ebox_message_type_id": "INVOICE",
            "bancontact_api_url": self.bancontact.url, "bancontact_api_key": self.secrets["bancontact_key"],
            "bancontact_payment_profile_id": DEMO_PPID, "bancontact_jwks_url": self.bancontact.jwks_url,
        }

    def stop(self) -> None:
        for sandbox in (self.sms, self.ebox, self.bancontact):
            sandbox.close()


def run_demo(*, serve: bool = True, port: int | None = None) -> None:
    base_settings = get_settings()
    DEMO_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", ".worker.lock"):
        DEMO_DATABASE.with_name(DEMO_DATABASE.name + suffix).unlink(missing_ok=True)
    sink = SmtpSink(mail_dir=DEMO_MAIL_DIR).start()  # e-mail goes to a local SMTP sink on a free port
    bouncing = next(c["value"] for c in demo_data.bouncing_consumer(demo_data.debtors(random.Random(2026)))["contacts"] if c["kind"] == "email")
    sink.refuse_recipient(bouncing, f"550 5.1.1 <{bouncing}>: Recipient address rejected: User unknown")  # one address that does not exist
    settings = base_settings.model_copy(update={
        "database_url": f"sqlite:///{DEMO_DATABASE}", "port": port or base_settings.port,
        "public_base_url": f"http://{base_settings.host}:{port or base_settings.port}",  # links in messages point at this run
        "smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_tls": "none", "smtp_username": "",
        "email_verp_secret": base_settings.email_verp_secret or DEMO_VERP_SECRET,
        # personal links in every consumer message; a fresh secret per demo run unless one is configured
        "personal_link_secret": base_settings.personal_link_secret or secrets.token_hex(32),
        "print_drop_dir": DEMO_PRINT_DIR,
    })
    shutil.rmtree(DEMO_PRINT_DIR, ignore_errors=True)
    consumer_sandboxes = ConsumerSandboxes()
    consumer_sandboxes.bancontact.profile_callback_url = f"{settings.public_base_url}/v1/callbacks/bancontact"  # invoice-link payments
    settings = settings.model_copy(update=consumer_sandboxes.settings_update())
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    keys = load_creditors(database)
    today = brussels_today()
    peppol = start_peppol_network(settings)  # sandbox SML/SMP + access point on loopback
    settings = settings.model_copy(update=peppol.settings_update())

    server = BackgroundServer(create_app(settings, database=database, run_workers=True, providers=build_providers(settings)), settings.host, settings.port)
    server.start()
    base = f"http://{settings.host}:{settings.port}"
    started = time.monotonic()
    report = post_demo_claims(base, keys, today)
    left = wait_for_jobs(database)
    peppol.ap.wait_idle(timeout=120)  # the sandbox access point calls back asynchronously
    left = wait_for_jobs(database)
    consumer_sandboxes.sms.wait_for_reports()  # delivery reports come back over HTTP, then the fallbacks run
    left = wait_for_jobs(database)
    summary = summarise(database)
    elapsed = time.monotonic() - started
    _print_summary(report, summary, keys, base, elapsed, left)
    _print_mail(sink)
    _print_consumer_channels(database, settings, consumer_sandboxes)

    def stop() -> None:
        server.stop()
        peppol.stop()
        consumer_sandboxes.stop()
        sink.stop()

    if not serve:
        stop()
        database.dispose()
        return
    click.echo(f"\nServing on {base} — press Ctrl-C to stop.")
    try:
        while server.thread.is_alive():
            server.thread.join(timeout=1)
    except KeyboardInterrupt:
        stop()


def _print_summary(report: dict, summary: dict, keys: dict, base: str, elapsed: float, left: int) -> None:
    echo = click.echo
    echo("\n=== Gateway demo (SQLite at var/demo.sqlite, workers in-process) ===")
    echo(f"Claims posted through the API in {elapsed:.1f}s: {report['accepted']} accepted, {report['refused']} refused in batches")
    echo(f"Idempotency-Key replay returned the first response: {'yes' if report['replayed'] else 'NO'}")
    echo("Refused on purpose (RFC 9457 problems naming field and rule):")
    for number, status, errors in report["problems"]:
        echo(f"  {number}: HTTP {status} {errors}")
    echo(f"E-mail typo warnings (stored as given, suggestion returned): {len(report['warnings'])}")
    for warning in report["warnings"][:4]:
        echo(f"  {warning['field']}: {warning['message']}")
    echo("First channel chosen per claim: " + ", ".join(f"{channel} {count}" for channel, count in sorted(summary["channels"].items())))
    if summary["documents"]:
        echo(
            "Documents issued: " + ", ".join(f"{kind} {count}" for kind, count in sorted(summary["documents"].items()))
            + f" ({summary['clean_documents']} UBL clean under the official XSD + CEN + Peppol rules, {summary['letters']} PDF letters for consumers);"
            + f" refused: {summary['refused_documents']}"
        )
    echo("Dispatches by channel: " + (", ".join(f"{channel} {count}" for channel, count in sorted(summary["dispatches"].items())) or "none"))
    echo("Peppol dispatches through the sandbox access point, by state: " + (", ".join(f"{state} {count}" for state, count in sorted(summary["peppol"].items())) or "none"))
    echo("Buyer responses (Peppol Invoice Response): " + (", ".join(f"{code} {count}" for code, count in sorted(summary["buyer_responses"].items())) or "none"))
    echo("Peppol lookups before routing (business debtors without a Peppol id): " + (", ".join(f"{outcome} {count}" for outcome, count in sorted(summary["lookups"].items())) or "none"))
    for found in summary["found"]:
        echo(f"  found {found}: sent over Peppol, the id recorded on the debtor")
    echo(f"Undeliverable over Peppol, handed to e-mail with PDF + UBL: {sum(summary['peppol_fallbacks'].values())}")
    for reason, count in summary["peppol_fallbacks"].items():
        echo(f"  {count} x {reason}")
    echo(f"Jobs still pending: {left}; failed jobs: {summary['failed_jobs']}")
    echo("\nWhere to look:")
    echo(f"  API docs:   {base}/docs")
    echo(f"  API key (Gemeente Zonnedorp and its OCMW, AGB, school): {keys['zonnedorp']}")
    echo(f"  curl -H 'Authorization: Bearer {keys['zonnedorp']}' '{base}/v1/claims?limit=5'")
    echo(f"  curl -H 'Authorization: Bearer {keys['zonnedorp']}' {base}/v1/claims/{report['idempotent_claim']['id']}")


SHOWN_PER_CHANNEL = 3  # rows of the "what was sent" table per channel; the counts say how many more


def _row(channel: str, to: str, what: str, extra: str) -> str:
    """One line of the "what was sent" table: channel, to, subject or first line, attachments."""
    def cut(text: str, width: int) -> str:
        return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)

    return f"  {cut(channel, 6)}  {cut(to, 32)}  {cut(what, 64)}  {extra}"


def _print_mail(sink: SmtpSink) -> None:
    import email
    import email.policy

    click.echo(f"E-mails sent through the local SMTP sink (127.0.0.1:{sink.port}): {len(sink.messages)}")
    if not sink.messages:
        return
    click.echo(f"  read them in {DEMO_MAIL_DIR}/, e.g. {sink.messages[0].path.name} (any mail client opens .eml)")
    for sunk in sink.messages[:SHOWN_PER_CHANNEL]:
        message = email.message_from_bytes(sunk.data, policy=email.policy.default)
        attachments = ", ".join(part.get_filename() or "?" for part in message.iter_attachments()) or "-"
        click.echo(_row("e-mail", ", ".join(sunk.recipients), str(message["Subject"]), attachments))
    if len(sink.messages) > SHOWN_PER_CHANNEL:
        click.echo(f"  … and {len(sink.messages) - SHOWN_PER_CHANNEL} more e-mails")


def _print_consumer_channels(database: Database, settings, sandboxes: ConsumerSandboxes) -> None:
    """What went out to consumers, per channel (to, subject or first line, attachments): SMS, eBox,
    the paper batch handed to the printer; then the consumer fallbacks with their contact repair,
    and one personal link."""
    import csv
    import uuid

    from gateway.channels.paper.drop import close_batch
    from gateway.services.consumer_page import personal_url_for

    echo = click.echo
    texts = list(sandboxes.sms.messages.values())
    echo(f"SMS sent through the SMS sandbox: {len(texts)}")
    for text in texts[:SHOWN_PER_CHANNEL]:
        echo(_row("sms", text.to, text.text, f"{text.segments} part(s), report {text.reports[-1]['stat'] if text.reports else '-'}"))
    published = list(sandboxes.ebox.messages.values())
    echo(f"eBox publications through the eBox sandbox: {len(published)}")
    for item in published[:SHOWN_PER_CHANNEL]:
        subject = next(iter((item.message.get("subject") or {}).values()), "")
        recipient = item.recipient.get("ssin") or item.recipient.get("enterpriseNumber") or str(item.recipient)
        echo(_row("ebox", f"{item.recipient.get('eboxType', 'ebox')} {recipient}", subject, ", ".join(item.files) or "-"))
    batch = close_batch(settings.print_drop_dir, now=utc_now())
    if batch is None:
        echo("Paper letters: none")
    else:
        echo(f"Paper letters handed to the print provider: {batch.letters} in {batch.path.relative_to(PROJECT_ROOT)}/ (manifest.csv)")
        with open(batch.path / "manifest.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows[:SHOWN_PER_CHANNEL]:
            marking = ", registered" if row["registered"] == "true" else ""
            echo(_row("paper", f"{row['recipient_name']}, {row['address']}", f"{row['document_number']} ({row['pages']} page(s){marking})", row["file"]))
    with database.session_scope() as session:
        repairs = {e.data["failed_dispatch_id"]: e.data for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "contact_repair.requested"))}
        consumer_fallbacks = []
        for event in session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.fallback").order_by(AuditEvent.id)):
            failed = session.get(Dispatch, uuid.UUID(event.data["failed_dispatch_id"]))
            if failed.channel in ("email", "sms", "ebox") and session.get(Debtor, session.get(Claim, failed.claim_id).debtor_id).kind == "consumer":
                consumer_fallbacks.append((failed, event.data, repairs.get(event.data["failed_dispatch_id"])))
        echo(f"Consumer fallbacks (a channel failed for good; the same document went out on the next): {len(consumer_fallbacks)}")
        for failed, data, repair in consumer_fallbacks[:SHOWN_PER_CHANNEL]:
            number = session.get(Document, failed.document_id).number
            blamed = "address marked invalid" if data.get("contact_invalidated") else "contact kept"
            echo(f"  {number}: {failed.channel} to {failed.recipient} failed ({failed.last_error}); {blamed}; sent by {data['channel']} instead")
            if repair is not None:
                echo(f"    contact repair asked by {repair['channel']}")
        consumer = session.scalar(select(Debtor).where(Debtor.kind == "consumer").order_by(Debtor.name).limit(1))
        if consumer is not None:
            echo(f"  personal page of {consumer.name}: {personal_url_for(settings, consumer.id, consumer.creditor_id, utc_now())}")
