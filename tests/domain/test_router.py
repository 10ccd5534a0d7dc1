from gateway.delivery.router import ContactFacts, DebtorFacts, choose_channel
from gateway.domain.claim import Channel

ADDRESS = "Markt 1, 9000 Gent, BE"


def facts(kind="consumer", peppol=None, nrn=None, contacts=(), consents=None):
    return DebtorFacts(kind, peppol, nrn, tuple(contacts), consents or {})


def test_business_prefers_peppol_then_email_then_paper():
    assert choose_channel(facts("business", peppol="0208:0403019261"), ADDRESS).channel is Channel.PEPPOL
    email = ContactFacts("email", "a@b.be", "unverified")
    assert choose_channel(facts("business", contacts=[email]), ADDRESS).recipient == "a@b.be"
    bounced = ContactFacts("email", "a@b.be", "bounced")
    decision = choose_channel(facts("business", contacts=[bounced]), ADDRESS)
    assert (decision.channel, decision.recipient) == (Channel.PAPER, ADDRESS)


def test_consumer_needs_consent_for_digital_channels():
    email = ContactFacts("email", "an@telenet.be", "valid")
    assert choose_channel(facts(nrn="85073003328", consents={"ebox": True}), ADDRESS).channel is Channel.EBOX
    assert choose_channel(facts(contacts=[email], consents={"email": True}), ADDRESS).channel is Channel.EMAIL
    assert choose_channel(facts(contacts=[email], consents={"email": False}), ADDRESS).channel is Channel.PAPER
    no_consent = choose_channel(facts(contacts=[email]), ADDRESS)
    assert (no_consent.channel, no_consent.reason) == (Channel.PAPER, "consumer without digital consent: paper letter")


def test_fallback_skips_what_was_tried_and_ends_with_paper():
    email = ContactFacts("email", "a@b.be", "valid")
    business = facts("business", peppol="0208:0403019261", contacts=[email])
    assert choose_channel(business, ADDRESS, tried=frozenset({("peppol", "0208:0403019261")})).channel is Channel.EMAIL
    last = choose_channel(business, ADDRESS, tried=frozenset({("peppol", "0208:0403019261"), ("email", "a@b.be")}))
    assert (last.channel, last.reason) == (Channel.PAPER, "no digital channel left: paper")
    assert choose_channel(business, ADDRESS, tried=frozenset({("peppol", "0208:0403019261"), ("email", "a@b.be"), ("paper", ADDRESS)})) is None
