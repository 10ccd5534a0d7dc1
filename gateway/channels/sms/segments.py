"""SMS encoding and segment counting (3GPP TS 23.038 and TS 23.040). Pure functions.

A text goes out as GSM-7 when every character is in the GSM 7-bit default alphabet or its
extension table (TS 23.038 section 6.2.1 and 6.2.1.1), otherwise as UCS-2 (section 6.2.3).

Capacity (TS 23.040 section 9.2.3.24.1, concatenation user data header of 6 octets):

| encoding | single message | per part of a concatenated message |
|---|---|---|
| GSM-7 | 160 septets | 153 septets (140 octets - 6 UDH octets, 7-bit aligned) |
| UCS-2 | 70 units | 67 units (134 octets / 2) |

- A GSM-7 extension character (`€ [ ] { } \\ ^ ~ |` and form feed) is ESC + a septet: it
  counts 2 and is never split across two parts.
- UCS-2 has no code points above U+FFFF: a character outside the BMP (most emoji) is sent as a
  UTF-16 surrogate pair, counts 2 and is never split across two parts either.

Phones and SMSCs differ in the details (some split an escape pair anyway; "national language
shift tables" of TS 23.038 annex A are not used by Belgian operators and not modelled here), so
the count is what *we* will be billed for, computed conservatively.

Note for French and Dutch text: the basic table has `é è ù ì ò à Ç ä ö ü ñ`, but not `ç ê â
ô î û ë ï` — a single `ç` in "reçu" turns the whole message into UCS-2 (70 characters).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# TS 23.038 section 6.2.1, the GSM 7-bit default alphabet in code order 0x00-0x7F; 0x1B is
# the escape to the extension table and not a character of its own (left out here).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# TS 23.038 section 6.2.1.1, the extension table (each is ESC + one septet).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160  # septets in one message (TS 23.038 section 6.1.2.1.1: 140 octets)
GSM7_PART = 153  # septets per part once a 6-octet concatenation header is present
UCS2_SINGLE = 70  # UTF-16 code units in one message (140 octets)
UCS2_PART = 67  # UTF-16 code units per part with the concatenation header
# TS 23.040 section 9.2.3.24.1: the 8-bit reference concatenation header counts parts in one
# octet, so a message has at most 255 parts.
MAX_PARTS = 255


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SegmentCount:
    encoding: SmsEncoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of one part at this length (160/153 or 70/67)
    remaining: int  # units still free in the last part


def gsm7_units(char: str) -> int | None:
    """Septets for one character in GSM-7, or None when it is not encodable."""
    if char in GSM7_BASIC:
        return 1
    if char in GSM7_EXTENSION:
        return 2
    return None


def encoding_for(text: str) -> SmsEncoding:
    return SmsEncoding.GSM7 if all(gsm7_units(ch) is not None for ch in text) else SmsEncoding.UCS2


def _widths(text: str, encoding: SmsEncoding) -> list[int]:
    if encoding is SmsEncoding.GSM7:
        return [gsm7_units(ch) or 0 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # a surrogate pair is 2 UTF-16 units


def _pack(widths: list[int], capacity: int) -> tuple[int, int]:
    """Greedy fill of parts of `capacity`, never splitting one character; (parts, used in last)."""
    parts, used = 1, 0
    for width in widths:
        if used + width > capacity:
            parts, used = parts + 1, 0
        used += width
    return parts, used


def count_segments(text: str) -> SegmentCount:
    """Encoding, size and number of parts of one SMS text; an empty text is one (empty) part."""
    encoding = encoding_for(text)
    widths = _widths(text, encoding)
    units = sum(widths)
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding is SmsEncoding.GSM7 else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return SegmentCount(encoding, units, 1, single, single - units)
    segments, used = _pack(widths, part)
    return SegmentCount(encoding, units, segments, part, part - used)


def non_gsm7_characters(text: str) -> list[str]:
    """The characters that force UCS-2, in order of first appearance (for an editor hint)."""
    seen: list[str] = []
    for ch in text:
        if gsm7_units(ch) is None and ch not in seen:
            seen.append(ch)
    return seen


def check_length(text: str, max_segments: int) -> SegmentCount:
    """`count_segments`, raising ValueError when the text needs more than `max_segments` parts."""
    if not 1 <= max_segments <= MAX_PARTS:
        raise ValueError(f"max_segments is 1..{MAX_PARTS}")
    result = count_segments(text)
    if result.segments > max_segments:
        raise ValueError(f"the SMS needs {result.segments} parts ({result.encoding.value}, {result.units} units); at most {max_segments} allowed")
    return result


# Typographic characters that have a plain GSM-7 twin; letters with accents outside the basic
# table lose the accent (NFKD), anything else becomes "?".
_GSM7_TWINS = {"–": "-", "—": "-", "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "…": "...", "\u00a0": " ", "«": '"', "»": '"'}


def to_gsm7(text: str) -> str:
    """`text` with every character GSM-7 can carry kept and the rest replaced (ç → c, ê → e,
    – → -, ’ → '), so that a creditor name or a claim description from outside never turns a
    whole SMS into UCS-2 (70 instead of 160 characters a part)."""
    out: list[str] = []
    for ch in text:
        if gsm7_units(ch) is not None:
            out.append(ch)
        elif ch in _GSM7_TWINS:
            out.append(_GSM7_TWINS[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if gsm7_units(c) is not None and not unicodedata.combining(c))
            out.append(base or "?")
    return "".join(out)
