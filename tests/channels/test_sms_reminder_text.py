"""The first reminder by SMS states what Book XIX WER art. XIX.2 asks of a first reminder
(docs/channels-and-law.md 5.1): creditor name and enterprise number, what the debt is for and its
due date, the outstanding balance, the term (at least 14 days) and the fees that follow; plus the
personal link. Exact text per language, GSM-7 and within the 3-part budget; a missing mandatory
value or a text over budget is refused (terminal), so the letter goes on paper instead."""

from __future__ import annotations

import uuid

import pytest

from gateway.channels.base import SendRequest
from gateway.channels.sms.provider import SmsProvider, sms_text
from gateway.channels.sms.segments import SmsEncoding, count_segments, to_gsm7
from gateway.errors import TerminalError

LINK = "https://betalen.gent.be/my/v1.AaJJZV1RdVKzMP2Y3lB_fgGiSWVcbXa8rkzO9tS_6f4Aa2PwYA.WZCeFiSMIKJmbsPkALIOIQ"


def reminder(language: str = "nl", *, step: int = 1, sender: str = "Stad Gent", **extra) -> SendRequest:
    values = {
        "document_kind": "reminder", "amount": "45.00", "currency": "EUR", "due_date": "2026-12-21", "issue_date": "2026-12-07",
        "ogm": "090933755493", "payment_url": LINK, "creditor_enterprise_number": "0207451227", "reminder_step": step,
        "fees_to_follow": [[2, "15.00"]], "invoice_number": "INV000001", "invoice_due_date": "2026-12-02",
        "description": "Retributie containerpark", "bancontact_url": PAY,
    }
    values.update(extra)
    return SendRequest(
        dispatch_id=uuid.uuid4(), idempotency_key="k", channel="sms", recipient="+32470000001", document_number="REM000001",
        document_media_type="application/pdf", document=b"%PDF-", language=language, sender_name=sender, extra=values,
    )


PAY = "https://betalen.gent.be/pay/AaJJZV1RdVKzMP2Y3lB_fg.WZCeFiSMIKJmbsPk"  # the reminder's stable Bancontact pay link
EXPECTED = {
    "nl": "Stad Gent (KBO 0207.451.227): eerste herinnering REM000001, factuur INV000001 (Retributie containerpark, vervallen 02/12/2026). "
          "Open saldo EUR 45,00. Betaal kosteloos binnen 14 dagen, tot 21/12/2026, met mededeling +++090/9337/55493+++. "
          "Daarna: herinnering 2 kost EUR 15,00. " + LINK + " Bancontact: " + PAY,
    "fr": "Stad Gent (BCE 0207.451.227): premier rappel REM000001, facture INV000001 (Retributie containerpark, echue le 02/12/2026). "
          "Solde EUR 45,00. Payez sans frais dans les 14 jours, jusqu'au 21/12/2026, communication +++090/9337/55493+++. "
          "Ensuite: frais du rappel 2 EUR 15,00. " + LINK + " Bancontact: " + PAY,
    "de": "Stad Gent (Unt.-Nr. 0207.451.227): erste Mahnung REM000001, Rechnung INV000001 (Retributie containerpark, fällig 02/12/2026). "
          "Offen EUR 45,00. Zahlen Sie kostenfrei binnen 14 Tagen, bis 21/12/2026, Mitteilung +++090/9337/55493+++. "
          "Danach: Mahnung 2 kostet EUR 15,00. " + LINK + " Bancontact: " + PAY,
    "en": "Stad Gent (enterprise no. 0207.451.227): first reminder REM000001, invoice INV000001 (Retributie containerpark, due 02/12/2026). "
          "Balance EUR 45.00. Pay free of charge within 14 days, by 21/12/2026, reference +++090/9337/55493+++. "
          "After that: reminder 2 costs EUR 15.00. " + LINK + " Bancontact: " + PAY,
}


@pytest.mark.parametrize("language", ["nl", "fr", "de", "en"])
def test_the_first_reminder_text_per_language(language):
    text = sms_text(reminder(language))
    assert text == EXPECTED[language]
    count = count_segments(text)
    assert (count.encoding, count.segments) == (SmsEncoding.GSM7, 3)


def test_several_fees_to_follow_and_none():
    two = sms_text(reminder(fees_to_follow=[[2, "15.00"], [3, "25.00"]]))
    assert "Daarna: herinnering 2 kost EUR 15,00; herinnering 3 kost EUR 25,00. https://" in two
    assert "Daarna: geen kosten. https://" in sms_text(reminder(fees_to_follow=[]))
    assert "Ensuite: pas de frais. https://" in sms_text(reminder("fr", fees_to_follow=[]))
    assert sms_text(reminder(bancontact_url=None)).endswith("EUR 15,00. " + LINK)  # Bancontact not configured: the personal link alone


def test_names_and_descriptions_from_outside_stay_gsm7_and_a_long_description_is_cut():
    text = sms_text(reminder("fr", sender="Crèche « Les Petits » – Façade", description="Garderie périscolaire été 2026 – forfait semaine complète avec repas"))
    assert text.startswith('Crèche " Les Petits " - Facade (BCE 0207.451.227): premier rappel REM000001, facture INV000001 (Garderie périscolaire été 2..., echue le 02/12/2026).')
    assert count_segments(text).encoding is SmsEncoding.GSM7
    assert to_gsm7("naïef ’t Hoekske ê 😀") == "naief 't Hoekske e ?"


def test_a_later_short_reminder_keeps_the_short_text():
    assert sms_text(reminder(step=2)) == f"Stad Gent: herinnering REM000001: nog EUR 45,00 te betalen voor 21/12/2026, mededeling +++090/9337/55493+++. {LINK} Bancontact: {PAY}"


def test_a_first_reminder_without_the_enterprise_number_is_refused():
    with pytest.raises(TerminalError, match=r"^sms: a first reminder must state creditor_enterprise_number \(Book XIX art. XIX.2\); send it as a letter$"):
        sms_text(reminder(creditor_enterprise_number=None))


def test_a_first_reminder_over_the_part_budget_is_refused_before_sending():
    class NoClient:
        def send(self, **kwargs):
            raise AssertionError("nothing may be sent")

    provider = SmsProvider(NoClient(), callback_secret="s", callback_url="http://127.0.0.1/cb", max_segments=3)
    long_name = "OCMW Sint-Martens-Latem, Dienst Thuiszorg"
    with pytest.raises(TerminalError, match=r"^sms text refused: the SMS needs 4 parts \(gsm7, \d+ units\); at most 3 allowed$"):
        provider.send(reminder(sender=long_name))
