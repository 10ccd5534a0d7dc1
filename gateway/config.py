"""One settings object for the whole gateway (environment prefix GATEWAY_).

Thresholds are named here with a one-line reason each. Tests build their own `Settings`
instead of mutating the module-level one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # Store: SQLite file under var/ by default; PostgreSQL when a URL says so.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'gateway.sqlite'}"
    # Where `gateway standards install` puts the official XSD / Schematron artefacts.
    standards_dir: Path = PROJECT_ROOT / "var" / "standards"

    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL used in links we send (personal page, payment links).
    public_base_url: str = "http://127.0.0.1:8000"

    # A request body above this is refused before parsing (a batch of 1,000 claims fits in ~2 MB).
    max_request_bytes: int = 5 * 1024 * 1024
    # Batch intake limit per request.
    max_batch_items: int = 1000
    # Idempotency keys are remembered this long.
    idempotency_ttl_hours: int = 24 * 7

    # Worker loop: how long an idle worker sleeps between polls, and when in-flight work is stale.
    worker_poll_seconds: float = 0.5
    worker_stale_after_seconds: int = 300
    # Retryable failures back off exponentially from this base, up to this many attempts.
    retry_base_seconds: int = 30
    max_attempts: int = 8

    # Peppol discovery (gateway/peppol/discovery.py). The SML DNS zone of each Peppol network, and which
    # network this install is on: OpenPeppol production `participant.sml.prod.tech.peppol.org`, test
    # (acceptance) `participant.sml.test.tech.peppol.org` (channels-and-law.md 6.4; the EC zones
    # `edelivery.tech.ec.europa.eu` / `acc.edelivery.tech.ec.europa.eu` are the deprecated legacy names).
    peppol_network: Literal["production", "test"] = "production"
    peppol_sml_zone_production: str = "participant.sml.prod.tech.peppol.org"
    peppol_sml_zone_test: str = "participant.sml.test.tech.peppol.org"
    # Set: this zone whatever the network (the loopback sandbox's zone); empty: the network's zone.
    peppol_sml_zone: str = ""
    # Empty: the system resolver. Set (with the port) to point discovery at another DNS server, e.g. the sandbox.
    peppol_dns_host: str = ""
    peppol_dns_port: int = 53
    # One NAPTR query may take this long in total, retries included.
    peppol_dns_timeout_seconds: float = 5.0
    # PEM file of the Peppol SMP CA; SignedServiceMetadata not signed under it is refused. No default on
    # purpose: unset, every lookup fails (smp.truststore_missing) rather than trust a test root by accident.
    peppol_smp_truststore: Path | None = None
    # SMP 1.4.0 allows HTTPS only; turned off only for the loopback sandbox run with plain HTTP.
    peppol_smp_require_https: bool = True
    # CA bundle for the SMP's TLS certificate. Empty: the public CAs (Peppol Transport Security policy:
    # SMP TLS certificates come from public CAs, not the Peppol PKI); the sandbox sets its test root.
    peppol_smp_tls_ca_bundle: str = ""
    # requests timeouts towards an SMP: connect, then read.
    peppol_smp_connect_timeout_seconds: float = 5.0
    peppol_smp_read_timeout_seconds: float = 10.0
    # A positive lookup is trusted this long; a final negative one shorter, so a new registration shows up soon.
    peppol_lookup_cache_seconds: int = 3600
    peppol_lookup_negative_cache_seconds: int = 600

    # Peppol access-point provider (gateway/channels/peppol/README.md). Empty base URL: no Peppol provider.
    peppol_ap_base_url: str = ""
    peppol_ap_api_key: str = ""
    # Shared secret of the AP's signed callbacks; empty refuses every callback (the endpoint is disabled).
    peppol_ap_callback_secret: str = ""
    # Our participant id as sender when a document carries no seller EndpointID (BIS invoices always do).
    peppol_sender_id: str = ""
    # requests timeouts towards the AP: connect, then read (a submit carries a whole UBL document).
    peppol_ap_connect_timeout_seconds: float = 5.0
    peppol_ap_read_timeout_seconds: float = 30.0

    # Consumer channel providers (gateway/channels/setup.py): an empty URL means the channel has no provider.
    # Every outbound vendor call gets this timeout (connect and read), in seconds.
    channel_timeout_seconds: float = 10.0
    # SMS gateway (gateway/channels/sms/client.py): API base URL, Bearer key, and the HMAC secret of its
    # delivery reports (empty: /v1/callbacks/sms is disabled).
    sms_api_url: str = ""
    sms_api_key: str = ""
    sms_callback_secret: str = ""
    # A text needing more parts than this is refused: every part is billed, and a reminder fits in 3.
    sms_max_segments: int = 3
    # eBox publication API v3 (gateway/channels/ebox/client.py, channels-and-law.md 2.3-2.4): message registry
    # base URL, OAuth2 token endpoint (also the client assertion's audience), client id (a URN from Smals),
    # the PEM private key of our certificate (RS256 client assertion), and the sender's registration.
    ebox_api_url: str = ""
    ebox_token_url: str = ""
    ebox_client_id: str = ""
    ebox_private_key_path: Path | None = None
    ebox_scope: str = "scope:document:management:consult:ws-eboxrestentreprise:publicationsender"
    ebox_sender_enterprise_number: str = ""
    ebox_sender_application_id: str = ""
    ebox_message_type_id: str = ""
    # Bancontact Pro Payment API v3 (gateway/channels/payment/bancontact_client.py, channels-and-law.md 1):
    # API base URL, Bearer API key of the payment profile, its PPID (the callback's `sub`), and the JWKS URL.
    bancontact_api_url: str = ""
    bancontact_api_key: str = ""
    bancontact_payment_profile_id: str = ""
    bancontact_jwks_url: str = ""
    # Where Bancontact posts callbacks; empty: public_base_url + /v1/callbacks/bancontact.
    bancontact_callback_url: str = ""

    # E-mail over SMTP (gateway/channels/email). Any relay: host, port, and how TLS is used:
    # "starttls" (RFC 3207, port 587), "implicit" (RFC 8314 section 3.3, port 465) or "none" (loopback only).
    smtp_host: str = ""  # empty: no e-mail provider is configured
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_username: str = ""  # empty: no AUTH
    smtp_password: str = ""
    # One SMTP conversation (connect, TLS, AUTH, MAIL/RCPT/DATA) gets this long per blocking step.
    smtp_timeout_seconds: float = 30.0
    # PEM file of the CA(s) that sign the relay's TLS certificate, for a relay with a private CA;
    # empty: the system's trust store. The relay's name (smtp_host) is always checked.
    smtp_ca_file: str = ""
    # Right-hand side of our Message-IDs `<dispatch id@domain>`; bounces are matched on it.
    email_message_domain: str = "mail.gateway.example"
    # VERP return paths `bounces+<dispatch id>.<mac>@<domain>`: the domain whose MX is our bounce receiver,
    # and the HMAC key (at least 16 bytes). An empty secret disables the e-mail channel and bounce intake.
    email_bounce_domain: str = "bounces.gateway.example"
    email_verp_secret: str = ""
    # From address when a creditor entity has no sender_email of its own.
    email_default_sender: str = "facturen@gateway.example"
    # Optional DKIM signing (gateway/channels/email/dkim_signing.py): domain, selector and the RSA private key
    # (PEM). All three set: every e-mail is signed; any empty: mail leaves unsigned (the relay may sign).
    email_dkim_domain: str = ""
    email_dkim_selector: str = ""
    email_dkim_private_key_path: Path | None = None
    # The SMTP receiver for bounces (gateway/channels/email/bounce_receiver.py) listens here.
    email_bounce_receiver_host: str = "127.0.0.1"
    email_bounce_receiver_port: int = 2525

    # Periodic jobs queued by the workers' sweep (gateway/workers/periodic.py); 0 switches one off.
    ebox_receipt_poll_seconds: int = 900  # read receipts of published eBox messages
    print_batch_close_seconds: int = 3600  # hand pending paper letters to the printer once an hour
    dunning_scan_seconds: int = 0  # e.g. 86400: evaluate every claim daily and send what is due
    # Published interest rates an operator adds to the shipped table (schemas/dunning-rates.schema.json),
    # e.g. the 2026-H2 reference rate once the Belgisch Staatsblad notice is out; checked by
    # `gateway dunning rates check FILE`. Unset: the shipped table alone (gateway/dunning/data/rates.json).
    dunning_rates_file: Path | None = None
    # A payment plan the debtor has not confirmed this many days after the grant lapses: its claims go back
    # into dunning (PLAN-NOT-CONFIRMED). The debtor regulation says the debtor confirms but sets no deadline.
    payment_plan_confirmation_days: int = 14

    # Personal links (gateway/kit/personal_link.py, issue 7): the HMAC secret (at least 16 bytes) and how
    # long a link in a message stays valid. An empty secret: messages carry no personal link and /my is off.
    personal_link_secret: str = ""
    personal_link_valid_days: int = 60
    # Rotation: the secrets used before, still accepted when a link is opened (new links are signed with
    # personal_link_secret only). A JSON list in the environment, e.g. '["the-old-secret-of-16-bytes+"]';
    # drop an old secret once the links it signed have expired (personal_link_valid_days after the rotation).
    personal_link_previous_secrets: list[str] = []

    # Paper letters (gateway/channels/paper): the print provider's drop folder. Letters wait in pending/
    # until `gateway print close-batch` publishes them as batches/<stamp>-<n>/ with manifest.csv.
    print_drop_dir: Path = PROJECT_ROOT / "var" / "print"

    # Peppol status poll (gateway/channels/peppol/reconcile.py): a Peppol dispatch still `sent` this
    # long after its last change has likely lost its callbacks, so a worker asks the AP for its status.
    # An AS4 receipt normally comes within minutes; an hour leaves room for the AP's own retries.
    peppol_status_poll_after_seconds: int = 3600
    # How often the sweep queues the poll (0 switches it off), and how many dispatches one run asks about.
    peppol_status_poll_seconds: int = 900
    peppol_status_poll_batch: int = 200


def sml_zone(settings: Settings) -> str:
    """The SML zone discovery asks: the explicit `peppol_sml_zone`, else the one of `peppol_network`."""
    if settings.peppol_sml_zone.strip():
        return settings.peppol_sml_zone.strip()
    return settings.peppol_sml_zone_production if settings.peppol_network == "production" else settings.peppol_sml_zone_test


@lru_cache
def get_settings() -> Settings:
    return Settings()
