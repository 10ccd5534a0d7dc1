"""The Bancontact invoice link: a long-lived "pay this amount under this reference" URL.

A payment created through `POST /v3/payments` lives 20 minutes (channels-and-law.md 1.3): fine
for the personal page's "pay now" button, useless on a letter that arrives days later. For
invoices Bancontact offers a template link without an API call per invoice (1.7):
`https://pay.bancontact.net/t/1/{PPID}?D=<description>&A=<amount in cents>&R=<reference>`, the
payment the debtor makes carries the reference (our OGM) back in the callback. Limits as the
community libraries apply them: D and R at most 35 characters, A from 1 to 999 999 cents.
Pure: values in, a URL (or None when the amount cannot be paid this way) out.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

INVOICE_LINK_BASE = "https://pay.bancontact.net/t/1"
MAX_TEXT = 35
MAX_CENTS = 999_999


def invoice_link(payment_profile_id: str, *, amount: Decimal, reference: str, description: str, base: str = INVOICE_LINK_BASE) -> str | None:
    cents = int((amount * 100).to_integral_exact())
    if not payment_profile_id or not 1 <= cents <= MAX_CENTS:
        return None  # nothing to pay, or above what the link carries: the transfer with the EPC QR remains
    return f"{base.rstrip('/')}/{quote(payment_profile_id, safe='')}?D={quote(description[:MAX_TEXT], safe='')}&A={cents}&R={quote(reference[:MAX_TEXT], safe='')}"
