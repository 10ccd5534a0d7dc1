import pytest

from gateway.delivery.router import ContactFacts, DebtorFacts, candidates, choose_channel, no_channel_reason, repair_channel
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


def test_sms_carries_only_short_reminders_with_consent_and_a_usable_number():
    phone = ContactFacts("phone", "+32470123456", "valid")
    consumer = facts(contacts=[phone], consents={"sms": True})
    short = choose_channel(consumer, ADDRESS, short_message=True)
    assert (short.channel, short.recipient, short.reason) == (Channel.SMS, "+32470123456", "short reminder: consumer consented to SMS and the number is usable")
    assert choose_channel(consumer, ADDRESS).channel is Channel.PAPER  # an invoice letter is not an SMS
    assert choose_channel(facts(contacts=[phone], consents={"sms": False}), ADDRESS, short_message=True).channel is Channel.PAPER
    unreachable = ContactFacts("phone", "+32470123456", "unreachable")
    assert choose_channel(facts(contacts=[unreachable], consents={"sms": True}), ADDRESS, short_message=True).channel is Channel.PAPER
    # e-mail with consent goes first; SMS is the next one, then paper
    email = ContactFacts("email", "an@telenet.be", "valid")
    both = facts(contacts=[email, phone], consents={"email": True, "sms": True})
    assert [choose_channel(both, ADDRESS, short_message=True, tried=tried).channel for tried in (
        frozenset(), frozenset({("email", "an@telenet.be")}), frozenset({("email", "an@telenet.be"), ("sms", "+32470123456")}),
    )] == [Channel.EMAIL, Channel.SMS, Channel.PAPER]


def test_contact_repair_goes_to_the_other_contact_or_as_a_note_with_the_paper_letter():
    phone = ContactFacts("phone", "+32470123456", "unverified")
    email = ContactFacts("email", "an@telenet.be", "unverified")
    consumer = facts(contacts=[ContactFacts("email", "an@telenet.be", "bounced"), phone], consents={"email": True})
    repair = repair_channel(consumer, "email", ADDRESS)
    assert (repair.channel, repair.recipient, repair.reason) == (Channel.SMS, "+32470123456", "contact repair: the e-mail address bounced, the number is usable")
    assert repair_channel(consumer, "ebox", ADDRESS) is None  # NO_DIGITAL_USER is not a contact the debtor can fix
    assert repair_channel(consumer, "peppol", ADDRESS) is None
    # an unreachable number: an e-mail to a usable address (no e-mail consent needed for a service message)
    unreachable = facts(contacts=[ContactFacts("phone", "+32470123456", "unreachable"), email], consents={"sms": True})
    by_mail = repair_channel(unreachable, "sms", ADDRESS)
    assert (by_mail.channel, by_mail.recipient, by_mail.reason) == (Channel.EMAIL, "an@telenet.be", "contact repair: the number is unreachable, the e-mail address is usable")
    note = "contact repair: no other usable contact: a note enclosed with the paper letter"
    for debtor, failed in (
        (facts(contacts=[phone], consents={"sms": False}), "email"),  # refused SMS
        (facts(contacts=[ContactFacts("phone", "+32470123456", "unreachable")]), "email"),
        (facts(contacts=[email], consents={"email": False}), "sms"),  # refused e-mail
        (facts(contacts=[ContactFacts("email", "an@telenet.be", "bounced")]), "sms"),
        (facts(), "email"),
    ):
        paper = repair_channel(debtor, failed, ADDRESS)
        assert (paper.channel, paper.recipient, paper.reason) == (Channel.PAPER, ADDRESS, note)
    assert repair_channel(facts("business", contacts=[phone]), "email", ADDRESS) is None


def test_a_creditor_can_switch_off_consumer_channels_but_not_peppol_or_paper():
    email = ContactFacts("email", "an@telenet.be", "valid")
    phone = ContactFacts("phone", "+32470123456", "valid")
    consumer = DebtorFacts("consumer", None, "85073003328", (email, phone), {"ebox": True, "email": True, "sms": True}, frozenset({"ebox", "sms"}))
    assert [d.channel for d in candidates(consumer, ADDRESS, short_message=True)] == [Channel.EMAIL, Channel.PAPER]
    no_email = DebtorFacts("consumer", None, None, (email,), {"email": True}, frozenset({"email"}))
    assert (choose_channel(no_email, ADDRESS).channel, choose_channel(no_email, ADDRESS).reason) == (Channel.PAPER, "the creditor does not send by email: paper letter")
    assert repair_channel(DebtorFacts("consumer", None, None, (phone,), {}, frozenset({"sms"})), "email", ADDRESS).channel is Channel.PAPER
    business = DebtorFacts("business", "0208:0403019261", None, (email,), {}, frozenset({"email"}))
    assert [d.channel for d in candidates(business, ADDRESS)] == [Channel.PEPPOL, Channel.PAPER]


def test_a_business_without_peppol_id_routes_on_what_discovery_answered():
    from gateway.delivery.router import PeppolLookupFacts

    email = ContactFacts("email", "a@b.be", "valid")
    tried = ("0208:0403019261", "9925:be0403019261")

    def business(lookup, contacts=(email,)):
        return DebtorFacts("business", None, None, tuple(contacts), {}, peppol_lookup=lookup)

    found = choose_channel(business(PeppolLookupFacts("reachable", "9925:be0403019261", "smp.endpoint_found", tried)), ADDRESS)
    assert (found.channel, found.recipient, found.reason) == (
        Channel.PEPPOL, "9925:be0403019261", "Peppol participant 9925:be0403019261 found by SML/SMP lookup (smp.endpoint_found; asked 0208:0403019261, 9925:be0403019261)")
    # the found id is then a recipient like any other: tried, the next one is e-mail
    after = choose_channel(business(PeppolLookupFacts("reachable", "9925:be0403019261", "smp.endpoint_found", tried)), ADDRESS, tried=frozenset({("peppol", "9925:be0403019261")}))
    assert (after.channel, after.reason) == (Channel.EMAIL, "Peppol failed: e-mail with PDF and UBL")
    absent = choose_channel(business(PeppolLookupFacts("not_registered", None, "sml.not_registered", tried)), ADDRESS)
    assert (absent.channel, absent.reason) == (Channel.EMAIL, "not on Peppol (not_registered: sml.not_registered; asked 0208:0403019261, 9925:be0403019261): e-mail with PDF and UBL")
    failing = choose_channel(business(PeppolLookupFacts("lookup_failed", None, "smp.http_500", tried[:1], attempts=8), contacts=()), ADDRESS)
    assert (failing.channel, failing.reason) == (Channel.PAPER, "Peppol lookup failed 8 times (smp.http_500; asked 0208:0403019261) and no usable e-mail: paper")
    # a recorded Peppol id wins over any lookup (the worker asks only when there is none)
    recorded = DebtorFacts("business", "0208:0403019261", None, (email,), {}, peppol_lookup=PeppolLookupFacts("not_registered", None, "sml.not_registered", tried))
    assert choose_channel(recorded, ADDRESS).reason == "business debtor with a Peppol participant id"


def test_a_registered_requirement_allows_only_registered_paper_on_every_try():
    email = ContactFacts("email", "an@telenet.be", "valid")
    consumer = facts(nrn="85073003328", contacts=[email], consents={"email": True, "ebox": True})
    first = choose_channel(consumer, ADDRESS, requirement="registered")
    assert (first.channel, first.recipient, first.reason) == (Channel.REGISTERED_PAPER, ADDRESS, "the dunning step requires a registered channel")
    # registered paper failed: e-mail, eBox and ordinary paper do not satisfy the step
    assert choose_channel(consumer, ADDRESS, tried=frozenset({("registered_paper", ADDRESS)}), requirement="registered") is None
    assert no_channel_reason("registered", frozenset({("registered_paper", ADDRESS)})) == (
        "the dunning step requires a registered channel (registered_paper) and every one has failed (tried: registered_paper)"
    )
    paper = choose_channel(consumer, ADDRESS, requirement="paper")
    assert (paper.channel, paper.recipient) == (Channel.PAPER, ADDRESS)
    assert choose_channel(consumer, ADDRESS, tried=frozenset({("paper", ADDRESS)}), requirement="paper") is None
    with pytest.raises(ValueError, match="unknown channel requirement 'electronic'"):
        choose_channel(consumer, ADDRESS, requirement="electronic")
