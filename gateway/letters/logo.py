"""Creditor logos: what a logo file is, told from its bytes (never from a file name or a claim).

A logo ends up inside every letter as a `data:` URI, so it is checked once, where it enters
(`gateway creditors import`, `logo_file`), and again by the renderer: PNG by its 8-byte
signature, SVG by parsing it as XML (no DTD, no entities, no network) and finding an `svg`
root in the SVG namespace. Anything else is refused with the field and the rule.
"""

from __future__ import annotations

from lxml import etree

PNG = "image/png"
SVG = "image/svg+xml"
MEDIA_TYPES = (SVG, PNG)
MAX_LOGO_BYTES = 200_000  # a letterhead logo; anything larger is a photo or a mistake and slows every letter
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # PNG specification section 5.2
SVG_ROOT = "{http://www.w3.org/2000/svg}svg"


def sniff(data: bytes) -> str | None:
    """`image/png`, `image/svg+xml`, or None when the bytes are neither."""
    if data.startswith(PNG_SIGNATURE):
        return PNG
    # resolve_entities/load_dtd off: an SVG with an entity or an external DTD is not expanded (XXE).
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    return SVG if root.tag == SVG_ROOT else None
