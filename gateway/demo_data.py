"""Demo creditors, debtors and claims: deterministic, valid identifiers computed, never real people."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from gateway.domain.identifiers import ogm_from_base

CREDITORS = [
    # code, kind, name, parent, enterprise number, IBAN, languages, country
    ("zonnedorp", "municipality", "Gemeente Zonnedorp", None, "0207451227", "BE48320070184927", ["nl", "fr"], "BE"),
    ("ocmw-zonnedorp", "ocmw", "OCMW Zonnedorp", "zonnedorp", "0207351653", "BE48320070184927", ["nl"], "BE"),
    ("agb-zonnedorp", "agb", "AGB Sport Zonnedorp", "zonnedorp", "0841123226", "BE48320070184927", ["nl"], "BE"),
    ("school-de-linde", "school", "Gemeentelijke basisschool De Linde", "zonnedorp", None, "BE48320070184927", ["nl"], "BE"),
    ("az-zonnedorp", "hospital", "AZ Zonnedorp", None, "0403019261", "BE48320070184927", ["nl", "fr", "en"], "BE"),
    ("waterbedrijf-delta", "utility", "Waterbedrijf Delta", None, None, "NL91ABNA0417164300", ["nl"], "NL"),
]
# Each demo creditor's letterhead: a small generated SVG, gateway/letters/demo_logos/<code>.svg.
DEMO_LOGOS = Path(__file__).resolve().parent / "letters" / "demo_logos"


def creditor_logo(code: str) -> tuple[bytes, str]:
    """(SVG bytes, media type) of a demo creditor's logo, for `CreditorEntity.logo` / `logo_media_type`."""
    return (DEMO_LOGOS / f"{code}.svg").read_bytes(), "image/svg+xml"

STREETS = ["Kerkstraat", "Stationsstraat", "Dorpsstraat", "Molenstraat", "Schoolstraat", "Nieuwstraat", "Kapelstraat", "Beekstraat"]
FIRST = ["An", "Bart", "Chloé", "Dirk", "Els", "Fatima", "Geert", "Hanne", "Ilse", "Jan", "Karim", "Lotte", "Marc", "Nora", "Olivier", "Petra"]
LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet", "Dubois", "Lambert"]
COMPANIES = ["Bakkerij", "Garage", "Drukkerij", "Schrijnwerkerij", "Brasserie", "Bouwbedrijf", "Tuinaanleg", "Apotheek", "Kapsalon", "IT-diensten"]
TYPO_DOMAINS = ["gmal.com", "hotmial.com", "telenet.bw", "skynet.bee"]
GOOD_DOMAINS = ["telenet.be", "skynet.be", "gmail.com", "hotmail.com", "proximus.be"]


def enterprise_number(seed: int) -> str:
    first8 = f"0{seed % 9_000_000 + 1_000_000:07d}"  # 0 + 7 digits: a current-style number
    return first8 + f"{97 - int(first8) % 97:02d}"


# Business debtors (by index) that show Peppol's other outcomes in the demo. The sandbox access point
# answers by the last digit of the receiver id (gateway/peppol/sandbox_ap.py); the sandbox SML knows the
# ids `sml_participants` lists.
PEPPOL_NOT_SERVICED = 12  # its id ends in 5: EBMS:0004 PEPPOL:NOT_SERVICED, the invoice goes by e-mail
PEPPOL_MLR_RE = 18  # its id ends in 6: the receiving side rejects it with an MLR RE, the invoice goes by e-mail
PEPPOL_NOT_REGISTERED = 10  # has a Peppol id the SML does not know: not_registered, the invoice goes by e-mail
PEPPOL_DISCOVERED = 3  # has no Peppol id but is registered under 0208: found by the lookup before routing
LAST_DIGIT = {PEPPOL_NOT_SERVICED: "5", PEPPOL_MLR_RE: "6"}


def _business_number(index: int) -> str:
    seed = 1_000_003 * (index + 1)
    number = enterprise_number(seed)
    while index in LAST_DIGIT and not number.endswith(LAST_DIGIT[index]):
        seed += 1
        number = enterprise_number(seed)
    return number


def sml_participants(debtors: list[dict]) -> list[str]:
    """The participant ids the demo's sandbox SML/SMP registers: every given Peppol id except the one
    meant to be unknown, and the 0208 id of the debtor the lookup is meant to find."""
    ids = {d["peppol_id"] for d in debtors if d.get("peppol_id") and d["external_id"] != f"B-{PEPPOL_NOT_REGISTERED + 1:03d}"}
    ids |= {f"0208:{d['enterprise_number']}" for d in debtors if d["external_id"] == f"B-{PEPPOL_DISCOVERED + 1:03d}"}
    return sorted(ids)


def national_number(birth: date, counter: int) -> str:
    base = f"{birth:%y%m%d}{counter:03d}"
    value = int(("2" if birth.year >= 2000 else "") + base)
    return base + f"{97 - value % 97:02d}"


def debtors(rng: random.Random) -> list[dict]:
    result = []
    for index in range(20):
        number = _business_number(index)
        with_peppol = index % 2 == 0
        debtor = {
            "external_id": f"B-{index + 1:03d}",
            "kind": "business",
            "name": f"{COMPANIES[index % len(COMPANIES)]} {LAST[index % len(LAST)]} BV",
            "enterprise_number": number,
            "vat_number": f"BE{number}",
            "address": {"street": f"{STREETS[index % len(STREETS)]} {index + 3}", "postal_code": "9999", "city": "Zonnedorp", "country": "BE"},
            "language": "nl" if index % 3 else "fr",
            "contacts": [{"kind": "email", "value": f"boekhouding{index + 1}@example.be"}] if index % 4 != 1 else [],
        }
        if with_peppol:
            debtor["peppol_id"] = f"0208:{number}"
        result.append(debtor)
    for index in range(30):
        first, last = FIRST[index % len(FIRST)], LAST[(index * 7) % len(LAST)]
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
        local = f"{first}.{last}".lower().replace(" ", "").replace("é", "e")
        domain = TYPO_DOMAINS[index % len(TYPO_DOMAINS)] if index % 10 == 3 else GOOD_DOMAINS[index % len(GOOD_DOMAINS)]
        contacts = []
        consents = []
        if index % 3 != 2:
            contacts.append({"kind": "email", "value": f"{local}{index}@{domain}"})
            if index % 5 != 4:
                consents.append({"channel": "email", "given": True, "date": "2026-02-01", "source": "personal page"})
        if index % 4 == 0:
            contacts.append({"kind": "phone", "value": f"+3247{rng.randrange(10**7):07d}"})
            consents.append({"channel": "sms", "given": True, "date": "2026-03-10", "source": "counter form"})
        if index % 6 == 5:
            consents.append({"channel": "ebox", "given": True, "date": "2026-01-20", "source": "eBox federation"})
        result.append(
            {
                "external_id": f"C-{index + 1:03d}",
                "kind": "consumer",
                "name": f"{first} {last}",
                "national_register_number": national_number(birth, 2 * index + 1),
                "address": {"street": f"{STREETS[index % len(STREETS)]} {index + 10}", "postal_code": "9999", "city": "Zonnedorp", "country": "BE"},
                "language": ["nl", "nl", "fr", "de", "en"][index % 5],
                "contacts": contacts,
                "consents": consents,
            }
        )
    return result


def claims(today: date, rng: random.Random | None = None) -> dict[str, list[dict]]:
    """Claims per creditor code, spread over the creditors' claim types."""
    rng = rng or random.Random(2026)
    people = debtors(rng)
    plan = {
        "zonnedorp": [("retribution", False, "O", "0", "Retributie containerpark", "45.00"), ("lease", False, "E", "0", "Huur feestzaal", "250.00"), ("tax_assessment", True, "O", "0", "Belasting op tweede verblijven", "600.00")],
        "ocmw-zonnedorp": [("rent", False, "E", "0", "Huur sociale woning", "520.00")],
        "agb-zonnedorp": [("invoice", False, "S", "21", "Sporthal reservatie", "37.19")],
        "school-de-linde": [("invoice", False, "S", "6", "Schoolreis", "18.87")],
        "az-zonnedorp": [("invoice", False, "E", "0", "Ziekenhuisopname — persoonlijk aandeel", "263.00")],
        "waterbedrijf-delta": [("invoice", False, "S", "9", "Waterverbruik kwartaal", "81.65")],
    }
    result: dict[str, list[dict]] = {code: [] for code in plan}
    counter = 0
    for index, debtor in enumerate(people):
        codes = list(plan)
        if debtor["kind"] == "business":
            chosen = ["zonnedorp", "agb-zonnedorp"] if index % 2 == 0 else ["ocmw-zonnedorp"]
        else:
            chosen = [codes[index % len(codes)]]
        for code in chosen:
            claim_type, fiscal, category, rate, description, price = plan[code][index % len(plan[code])]
            if fiscal and debtor["kind"] == "business" and code == "zonnedorp":
                claim_type, fiscal, category, rate, description, price = plan[code][0]
            counter += 1
            issue = today - timedelta(days=rng.choice([5, 20, 40, 75]))
            term = 60 if claim_type == "tax_assessment" else 30
            line = {"description": description, "quantity": str(rng.choice([1, 1, 2, 3])), "unit_price": price, "vat_category": category, "vat_rate": rate}
            if category == "E":
                line["exemption_reason"] = "Vrijgesteld van btw, art. 44 WBTW"
            claim = {
                "number": f"{code.upper()[:4]}-{today.year}-{counter:05d}",
                "type": claim_type,
                "fiscal": fiscal,
                "issue_date": issue.isoformat(),
                "due_date": (issue + timedelta(days=term)).isoformat(),
                "buyer_reference": f"REF-{counter:05d}",
                "debtor": debtor,
                "lines": [line],
            }
            if counter % 7 == 0:
                claim["structured_communication"] = "+++" + _ogm_text(ogm_from_base(900_000_000 + counter)) + "+++"
            result[code].append(claim)
    return result


def _ogm_text(digits: str) -> str:
    return f"{digits[:3]}/{digits[3:7]}/{digits[7:]}"


def refused_examples(today: date) -> list[dict]:
    """Claims the API must refuse, to show the problem responses in the demo."""
    good = claims(today)["zonnedorp"][0]
    bad_ogm = {**good, "number": "BAD-OGM", "structured_communication": "+++010/8068/17184+++"}
    bad_vat = {**good, "number": "BAD-VAT", "debtor": {**good["debtor"], "external_id": "X-1", "kind": "business", "vat_number": "BE0403019262", "enterprise_number": None, "national_register_number": None}}
    usd = {**good, "number": "BAD-CUR", "currency": "USD"}
    return [bad_ogm, bad_vat, usd]


def bouncing_consumer(people: list[dict]) -> dict:
    """The demo's consumer whose e-mail address does not exist (the SMTP sink refuses it with 550
    5.1.1): the first with e-mail consent and a phone number, so the demo shows a hard failure, the
    address marked bounced, the letter falling back to paper and a contact-repair SMS."""
    return next(
        d for d in people if d["kind"] == "consumer" and any(c["channel"] == "email" for c in d["consents"]) and any(c["kind"] == "phone" for c in d["contacts"])
    )
