"""Creditor logos: what a logo file is, told from its bytes (never from a file name or a claim).

A logo ends up inside every letter as a `data:` URI, so it is checked once, where it enters
(`gateway creditors import`, `logo_file`), and again by the renderer: PNG by its 8-byte
signature, SVG by parsing it as XML (no DTD, no entities, no network) and finding an `svg`
root in the SVG namespace. Anything else is refused with the field and the rule.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


class LogoError(ValueError):
    """A logo file that cannot be used; `rule` is a stable id such as `logo_file.too_large`."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def read_logo_file(path: Path) -> tuple[bytes, str]:
    """(bytes, media type) of a logo file, its type told from its bytes; raises `LogoError`."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LogoError("logo_file.not_found", f"cannot read the logo file {path}: {exc.strerror or exc}") from exc
    if size > MAX_LOGO_BYTES:  # checked before reading: a mistaken 50 MB photo is not loaded
        raise LogoError("logo_file.too_large", f"a logo is at most {MAX_LOGO_BYTES} bytes (200 kB), {path.name} has {size}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogoError("logo_file.not_found", f"cannot read the logo file {path}: {exc.strerror or exc}") from exc
    media_type = sniff(data)
    if media_type is None:
        raise LogoError("logo_file.type", f"{path.name} is neither an SVG nor a PNG image (told from its content, not its name)")
    return data, media_type


# E-mail logo box (CSS px): the layout shows it 48 px high; rendered at 2x for high-density screens.
EMAIL_LOGO_BOX = (240, 80)
EMAIL_LOGO_SCALE = 2


@lru_cache(maxsize=32)
def email_png(data: bytes, media_type: str) -> bytes:
    """The stored logo as the PNG an e-mail carries inline (cid:): a PNG as it is; an SVG drawn
    once per process (most webmail and Outlook do not show SVG images). Drawn with the letters'
    WeasyPrint set-up, which fetches nothing (an SVG pointing at a URL loses that part), then
    rasterised with PDFium and cropped to the drawing. Raises `LogoError` for anything else."""
    if media_type == PNG and sniff(data) == PNG:
        return data
    if media_type != SVG or sniff(data) != SVG:
        raise LogoError("logo.media_type", f"a logo is SVG or PNG told from its bytes, declared {media_type!r}")
    import base64
    import io

    import pypdfium2
    import weasyprint

    from gateway.letters.render import data_only_fetcher

    width, height = EMAIL_LOGO_BOX
    uri = "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")
    html = (
        f"<style>@page {{ size: {width}px {height}px; margin: 0 }} body {{ margin: 0 }}"
        f" img {{ display: block; max-width: {width}px; max-height: {height}px }}</style><img src=\"{uri}\" alt=\"\">"
    )
    pdf = weasyprint.HTML(string=html, url_fetcher=data_only_fetcher()).write_pdf()
    page = pypdfium2.PdfDocument(pdf)[0]
    # transparent background, so the logo sits on the header colour; cropped to what it draws
    image = page.render(scale=EMAIL_LOGO_SCALE * 96 / 72, fill_color=(255, 255, 255, 0)).to_pil().convert("RGBA")
    box = image.getchannel("A").getbbox()
    if box is None:
        raise LogoError("logo.empty", "the SVG logo draws nothing")
    buffer = io.BytesIO()
    image.crop(box).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
