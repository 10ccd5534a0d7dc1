import pytest

from gateway.domain import identifiers as ids


def test_ogm_round_trip_and_rules():
    assert ids.ogm_from_base(108068171) == "010806817183"
    assert ids.format_ogm("010806817183") == "+++010/8068/17183+++"
    assert ids.normalize_ogm("***010/8068/17183***") == "010806817183"
    assert ids.ogm_from_base(97) == "000000009797"  # base mod 97 == 0 gives check digits 97
    for value, rule in [("+++010/8068/17184+++", "ogm.checksum"), ("+++010/8068/1718+++", "ogm.length"), ("RF18539007547034", "ogm.format")]:
        with pytest.raises(ids.IdentifierError) as raised:
            ids.normalize_ogm(value)
        assert raised.value.rule == rule


def test_random_ogms_are_valid():
    for _ in range(200):
        ogm = ids.new_random_ogm()
        assert ids.normalize_ogm(ogm) == ogm


def test_belgian_numbers():
    assert ids.normalize_enterprise_number("0403.019.261") == "0403019261"
    assert ids.normalize_vat_number("BE 0403.019.261") == "BE0403019261"
    assert ids.normalize_vat_number("0403019261") == "BE0403019261"
    assert ids.normalize_national_number("85.07.30-033.28") == "85073003328"
    assert ids.normalize_national_number("17073003384") == "17073003384"  # born 2017: the "2" prefix rule
    assert ids.normalize_iban("BE48 3200 7018 4927") == "BE48320070184927"
    assert ids.normalize_peppol_id("0208:0403.019.261") == "0208:0403019261"
    assert ids.normalize_peppol_id("9925:BE0403019261") == "9925:be0403019261"
    with pytest.raises(ids.IdentifierError) as raised:
        ids.normalize_enterprise_number("0403019262")
    assert raised.value.rule == "enterprise_number.invalid"


@pytest.mark.parametrize(
    ("address", "suggestion"),
    [("jan@gmal.com", "jan@gmail.com"), ("jan@hotmial.com", "jan@hotmail.com"), ("jan@telenet.bw", "jan@telenet.be"), ("jan@skynet.bee", "jan@skynet.be"), ("jan@gmail.com", None), ("jan@stad.gent", None)],
)
def test_email_typo_suggestions(address, suggestion):
    assert ids.suggest_email(address) == suggestion
