"""`build_providers(settings)`: the one place where settings become channel providers.

The API process (callback verifiers), the worker (providers that send) and the demo all call
this factory, so a channel is configured in exactly one way. Each channel adds itself only when
its settings are complete (an empty secret or host means "not configured": its dispatches wait,
queued, and its callback endpoint answers 404). Each channel's block is independent: add a
block for a new channel, never change another one's.
"""

from __future__ import annotations

from gateway.channels.registry import ProviderRegistry
from gateway.config import Settings


def build_providers(settings: Settings) -> ProviderRegistry:
    providers = ProviderRegistry()
    _add_sms(providers, settings)
    _add_peppol(providers, settings)
    _add_email(providers, settings)
    _add_ebox(providers, settings)
    _add_bancontact(providers, settings)
    _add_paper(providers, settings)
    return providers


def callback_url(settings: Settings, source: str) -> str:
    """Where a provider posts its reports for `source`: public_base_url + /v1/callbacks/<source>."""
    return f"{settings.public_base_url.rstrip('/')}/v1/callbacks/{source}"


def _add_sms(providers: ProviderRegistry, settings: Settings) -> None:
    """The SMS gateway; an empty API URL or key means no SMS provider."""
    if not (settings.sms_api_url and settings.sms_api_key):
        return
    from gateway.channels.sms.client import SmsClient
    from gateway.channels.sms.provider import SmsProvider

    client = SmsClient(settings.sms_api_url, settings.sms_api_key, timeout_seconds=settings.channel_timeout_seconds)
    providers.add(SmsProvider(client, callback_secret=settings.sms_callback_secret, callback_url=callback_url(settings, "sms"), max_segments=settings.sms_max_segments))


def _add_peppol(providers: ProviderRegistry, settings: Settings) -> None:
    """The Peppol access-point provider (gateway/channels/peppol/README.md); an empty AP base URL means none.

    Participant discovery uses the GATEWAY_PEPPOL_* SML / SMP settings."""
    if not settings.peppol_ap_base_url:
        return
    from gateway.channels.peppol.client import AccessPointClient
    from gateway.channels.peppol.provider import PeppolProvider
    from gateway.peppol.discovery import DiscoveryConfig, ParticipantDiscovery

    client = AccessPointClient(
        settings.peppol_ap_base_url, settings.peppol_ap_api_key,
        connect_timeout_seconds=settings.peppol_ap_connect_timeout_seconds, read_timeout_seconds=settings.peppol_ap_read_timeout_seconds,
    )
    providers.add(PeppolProvider(
        client, ParticipantDiscovery(DiscoveryConfig.from_settings(settings)), callback_secret=settings.peppol_ap_callback_secret,
        standards_dir=settings.standards_dir, default_sender_id=settings.peppol_sender_id,
    ))


def _add_email(providers: ProviderRegistry, settings: Settings) -> None:
    """E-mail over SMTP (gateway/channels/email) and its bounce intake; both need the VERP secret.

    The bounce verifier (source `email/bounce`) is added with the secret alone, so bounces of mail
    sent earlier are still taken in while no relay is configured."""
    if not settings.email_verp_secret:
        return
    from gateway.channels.email.bounce_callback import BounceVerifier
    from gateway.channels.email.client import SmtpRelay
    from gateway.channels.email.provider import EmailConfig, EmailProvider

    secret = settings.email_verp_secret.encode()
    providers.add_verifier(BounceVerifier(secrets=[secret], message_domain=settings.email_message_domain))
    if not settings.smtp_host:
        return
    relay = SmtpRelay(
        host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls, username=settings.smtp_username,
        password=settings.smtp_password, timeout_seconds=settings.smtp_timeout_seconds, ca_file=settings.smtp_ca_file,
    )
    dkim = None
    if settings.email_dkim_domain and settings.email_dkim_selector and settings.email_dkim_private_key_path:
        from gateway.channels.email.dkim_signing import DkimKey

        dkim = DkimKey(settings.email_dkim_domain, settings.email_dkim_selector, settings.email_dkim_private_key_path.read_bytes())
    providers.add(EmailProvider(EmailConfig(
        relay=relay, message_domain=settings.email_message_domain, bounce_domain=settings.email_bounce_domain,
        verp_secret=secret, default_sender=settings.email_default_sender, public_base_url=settings.public_base_url, dkim=dkim,
    )))


def _add_ebox(providers: ProviderRegistry, settings: Settings) -> None:
    """The eBox publication API v3; needs the API and token URLs, the client id and our private key (PEM)."""
    if not (settings.ebox_api_url and settings.ebox_token_url and settings.ebox_client_id and settings.ebox_private_key_path):
        return
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from gateway.channels.ebox.client import EboxClient
    from gateway.channels.ebox.provider import EboxProvider

    private_key = load_pem_private_key(settings.ebox_private_key_path.read_bytes(), password=None)
    client = EboxClient(
        api_url=settings.ebox_api_url, token_url=settings.ebox_token_url, client_id=settings.ebox_client_id, private_key=private_key,
        scope=settings.ebox_scope, timeout_seconds=settings.channel_timeout_seconds,
    )
    providers.add(EboxProvider(
        client, sender_enterprise_number=settings.ebox_sender_enterprise_number, sender_application_id=settings.ebox_sender_application_id,
        message_type_id=settings.ebox_message_type_id,
    ))


def bancontact_configured(settings: Settings) -> bool:
    """Payment requests can be made and their callbacks verified: API URL and key, PPID, JWKS URL."""
    return bool(settings.bancontact_api_url and settings.bancontact_api_key and settings.bancontact_payment_profile_id and settings.bancontact_jwks_url)


def _add_bancontact(providers: ProviderRegistry, settings: Settings) -> None:
    """Bancontact payment callbacks (source `bancontact`); needs the API URL and key, the PPID and the JWKS URL.

    Payment requests are not a dispatch channel: the verifier carries the client for
    `gateway.channels.payment.bancontact.request_payment`."""
    if not bancontact_configured(settings):
        return
    from gateway.channels.payment.bancontact import BancontactVerifier, JwksCache
    from gateway.channels.payment.bancontact_client import BancontactClient

    client = BancontactClient(settings.bancontact_api_url, settings.bancontact_api_key, timeout_seconds=settings.channel_timeout_seconds)
    providers.add_verifier(BancontactVerifier(
        payment_profile_id=settings.bancontact_payment_profile_id,
        callback_url=settings.bancontact_callback_url or callback_url(settings, "bancontact"),
        jwks=JwksCache(lambda: client.fetch_jwks(settings.bancontact_jwks_url)), client=client,
    ))


def _add_paper(providers: ProviderRegistry, settings: Settings) -> None:
    """Paper and registered paper through the print provider's drop folder (gateway/channels/paper).

    Always present: the folder is local and has a default (var/print); nothing leaves it until
    `gateway print close-batch` publishes a batch for the printer to pick up."""
    from gateway.channels.paper.provider import PrintDropProvider

    providers.add(PrintDropProvider(settings.print_drop_dir, channel="paper"))
    providers.add(PrintDropProvider(settings.print_drop_dir, channel="registered_paper"))
