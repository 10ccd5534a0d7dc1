"""SMS segment counting and DLR mapping: exact counts and the one table."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.channels.delivery_state import DeliveryState
from gateway.channels.sms.dlr import DLR_TABLE, DlrError, is_terminal, map_stat, parse_receipt
from gateway.channels.sms.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsEncoding,
    check_length,
    count_segments,
    non_gsm7_characters,
)

G, U = SmsEncoding.GSM7, SmsEncoding.UCS2


def test_alphabet_sizes():
    # TS 23.038 6.2.1: 128 code points minus the escape; 6.2.1.1: ten extension characters
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments", "remaining"),
    [
        ("", G, 0, 1, 160),
        ("a" * 160, G, 160, 1, 0),
        ("a" * 161, G, 161, 2, 153 * 2 - 161),
        ("a" * 306, G, 306, 2, 0),
        ("a" * 307, G, 307, 3, 152),
        ("€" * 80, G, 160, 1, 0),  # extension characters count 2
        ("€" * 81, G, 162, 2, 153 - 10),  # 76 + 5: an escape pair never straddles two parts
        ("a" * 152 + "€" + "a" * 152, G, 306, 3, 152),  # 306 septets but 3 parts (152 | 2+151 | 1)
        ("Uw factuur van €12,50 vervalt op 15/12. Betaal met +++010/8068/17183+++", G, 72, 1, 88),  # 71 characters, € counts 2
        ("ç" * 70, U, 70, 1, 0),
        ("ç" * 71, U, 71, 2, 67 * 2 - 71),
        ("Votre facture reçue", U, 19, 1, 51),  # one ç makes the message UCS-2
        ("😀" * 35, U, 70, 1, 0),  # a surrogate pair is 2 UCS-2 units
        ("😀" * 36, U, 72, 2, 67 - 6),  # 33 emoji (66 units) fit the first part
        ("a" * 66 + "😀" + "a" * 66, U, 134, 3, 66),  # 134 units but 3 parts (66 | 2+65 | 1)
        ("Ç é è à ù ä ö ü ñ", G, 17, 1, 143),
    ],
)
def test_count_segments(text, encoding, units, segments, remaining):
    result = count_segments(text)
    assert (result.encoding, result.units, result.segments, result.remaining) == (encoding, units, segments, remaining)


def test_non_gsm7_characters_in_order_of_appearance():
    assert non_gsm7_characters("Reçu: ê, ç, ê — ok") == ["ç", "ê", "—"]
    assert non_gsm7_characters("€[]{}") == []


def test_check_length_refuses_too_many_parts():
    assert check_length("a" * 306, 2).segments == 2
    with pytest.raises(ValueError, match="3 parts"):
        check_length("a" * 307, 2)


# --- DLR -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stat", "state", "final", "invalid"),
    [
        ("DELIVRD", DeliveryState.DELIVERED, True, False),
        ("UNDELIV", DeliveryState.FAILED_PERMANENT, True, True),
        ("EXPIRED", DeliveryState.FAILED_TEMPORARY, True, False),
        ("REJECTD", DeliveryState.FAILED_PERMANENT, True, False),
        ("ACCEPTD", DeliveryState.SENT, False, False),
        ("UNKNOWN", DeliveryState.SENT, False, False),
        ("DELETED", DeliveryState.FAILED_PERMANENT, True, False),
        ("ENROUTE", DeliveryState.SENT, False, False),
        ("delivrd", DeliveryState.DELIVERED, True, False),
    ],
)
def test_dlr_table(stat, state, final, invalid):
    outcome = map_stat(stat)
    assert (outcome.state, outcome.final, outcome.contact_invalid) == (state, final, invalid)


def test_dlr_table_is_complete_and_never_uses_business_states():
    assert set(DLR_TABLE) == {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "ACCEPTD", "UNKNOWN", "DELETED", "ENROUTE"}
    business = {DeliveryState.ACCEPTED, DeliveryState.REJECTED, DeliveryState.PAID, DeliveryState.READ}
    assert not {row.state for row in DLR_TABLE.values()} & business


def test_terminal_states():
    assert [s for s in DeliveryState if is_terminal(s)] == [DeliveryState.DELIVERED, DeliveryState.FAILED_PERMANENT]


def test_unknown_stat_is_refused():
    with pytest.raises(DlrError, match="BLIST"):
        map_stat("BLIST")


def test_parse_receipt():
    receipt = parse_receipt(
        "id:0a1b2c3d4e sub:001 dlvrd:001 submit date:2611231002 done date:2611231003 stat:DELIVRD err:000 text:Uw factuur van"
    )
    assert receipt.message_id == "0a1b2c3d4e"
    assert (receipt.submitted, receipt.delivered) == (1, 1)
    assert receipt.submit_date == datetime(2026, 11, 23, 10, 2)
    assert receipt.done_date == datetime(2026, 11, 23, 10, 3)
    assert (receipt.stat, receipt.err, receipt.text) == ("DELIVRD", "000", "Uw factuur van")
    assert receipt.outcome.state is DeliveryState.DELIVERED


def test_parse_receipt_undeliv_with_seconds():
    receipt = parse_receipt("id:77 sub:001 dlvrd:000 submit date:261123100201 done date:261123100305 stat:UNDELIV err:001")
    assert receipt.done_date == datetime(2026, 11, 23, 10, 3, 5)
    assert receipt.outcome.contact_invalid is True
    assert receipt.text is None


@pytest.mark.parametrize(
    "text",
    ["stat:DELIVRD", "id:1", "id:1 stat:NOPE", "id:1 stat:DELIVRD done date:2613", "id:1 sub:x stat:DELIVRD", "x" * 2000],
)
def test_bad_receipts_raise(text):
    with pytest.raises(DlrError):
        parse_receipt(text)
