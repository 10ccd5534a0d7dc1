"""Creditor logos: what a logo file is, told from its bytes (never from a file name or a claim).

A logo ends up inside every letter as a `data:` URI and WeasyPrint parses it again for every
letter it lays out, so an SVG logo is an XML entry point like any other. `check_logo` is the one
gate: `gateway creditors import` (`logo_file`) refuses what it refuses, and the letter service
re-checks a stored logo before each render (a logo stored before a rule existed is left out of
the letter, not fetched from or expanded).

- PNG: the 8-byte signature (PNG specification 5.2) and, from the IHDR chunk, at most
  4096 x 4096 pixels (a 200 kB file can declare a 30,000 x 30,000 image that decodes to gigabytes).
- SVG: parsed by the project's safe parser (`gateway.peppol.xmlsafe`: no DTD, no entity, no
  network, at most 200 kB), root `svg` in the SVG namespace, then walked:
  no DOCTYPE / ENTITY (`svg_doctype`), no XInclude (`svg_xinclude`), no `<script>` or `on*`
  event attribute (`svg_script`), no animation element (`svg_animation`: they can rewrite an
  `href` after the check), no `<foreignObject>` and no element outside the SVG namespace
  (`svg_foreign_element`: WeasyPrint drops namespaces, so `<x:image>` would be drawn as an image),
  no reference to anything outside the document (`svg_external_reference`: an `href` that is not
  a `#fragment` or a `data:image/png|jpeg|gif|webp` URI, a CSS `url()` of the same kind in a
  `<style>` or any attribute, `@import`, a processing instruction such as `xml-stylesheet`),
  and at most 10,000 drawn elements once every `<use>` and `url(#id)` reference is expanded
  (`svg_too_complex`: ten `<use>` of ten `<use>` ... is "billion laughs" in SVG; six levels
  took WeasyPrint minutes).
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from pathlib import Path

import tinycss2
from lxml import etree

from gateway.peppol import xmlsafe

PNG = "image/png"
SVG = "image/svg+xml"
MEDIA_TYPES = (SVG, PNG)
MAX_LOGO_BYTES = 200_000  # a letterhead logo; anything larger is a photo or a mistake and slows every letter
MAX_PNG_SIDE = 4096  # pixels; a logo printed 8 cm wide at 600 dpi is 1,890 px
MAX_SVG_ELEMENTS = 10_000  # drawn after expanding <use> and url(#id); the demo logos have 6 (WeasyPrint: ~0.15 ms each)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # PNG specification section 5.2
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
SVG_ROOT = f"{{{SVG_NAMESPACE}}}svg"
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
ANIMATION_ELEMENTS = frozenset({"animate", "animateColor", "animateMotion", "animateTransform", "set", "discard"})
# A raster image embedded in the SVG itself: the only non-fragment reference a logo may hold. An
# embedded SVG (data:image/svg+xml) is refused: it would be a second document this walk never saw.
_EMBEDDED_RASTER = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]", re.IGNORECASE)


class LogoError(ValueError):
    """A logo file that cannot be used; `rule` is a stable id such as `logo_file.too_large`."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def check_logo(data: bytes) -> str:
    """The media type (`image/png` or `image/svg+xml`) of a usable logo; raises `LogoError`.

    A verdict is remembered for the last few logos (keyed by their bytes): every letter re-checks
    its creditor's logo, and a 200 kB SVG takes about 20 ms to walk."""
    media_type, rule, message = _verdict(bytes(data))
    if media_type is None:
        raise LogoError(rule, message)
    return media_type


@lru_cache(maxsize=16)
def _verdict(data: bytes) -> tuple[str | None, str, str]:
    try:
        return _check(data), "", ""
    except LogoError as refused:
        return None, refused.rule, refused.message


def _check(data: bytes) -> str:
    if len(data) > MAX_LOGO_BYTES:
        raise LogoError("logo_file.too_large", f"a logo is at most {MAX_LOGO_BYTES} bytes (200 kB), got {len(data)}")
    if data.startswith(PNG_SIGNATURE):
        _check_png(data)
        return PNG
    _check_svg(data)
    return SVG


def sniff(data: bytes) -> str | None:
    """`image/png`, `image/svg+xml`, or None when the bytes are not a logo `check_logo` accepts."""
    try:
        return check_logo(data)
    except LogoError:
        return None


def read_logo_file(path: Path) -> tuple[bytes, str]:
    """(bytes, media type) of a logo file, its type told from its bytes; raises `LogoError`."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LogoError("logo_file.not_found", f"cannot read the logo file {path}: {exc.strerror or exc}") from exc
    if size > MAX_LOGO_BYTES:  # checked before reading: a mistaken 50 MB photo is not loaded
        raise LogoError("logo_file.too_large", f"{path.name}: a logo is at most {MAX_LOGO_BYTES} bytes (200 kB), this file has {size}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogoError("logo_file.not_found", f"cannot read the logo file {path}: {exc.strerror or exc}") from exc
    try:
        return data, check_logo(data)
    except LogoError as exc:
        raise LogoError(exc.rule, f"{path.name}: {exc.message}") from exc


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


# --- PNG ------------------------------------------------------------------------------------------


def _check_png(data: bytes) -> None:
    # PNG 11.2.2: the first chunk is IHDR, 13 bytes, width and height as 4-byte big-endian integers.
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise LogoError("logo_file.type", "a PNG whose first chunk is not IHDR (PNG specification 11.2.2) is not an image we print")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_PNG_SIDE and 0 < height <= MAX_PNG_SIDE):
        raise LogoError("logo_file.png_dimensions", f"a PNG logo is at most {MAX_PNG_SIDE} x {MAX_PNG_SIDE} pixels, this one declares {width} x {height}")


# --- SVG ------------------------------------------------------------------------------------------


def _check_svg(data: bytes) -> None:
    try:
        tree = xmlsafe.parse(data, max_bytes=MAX_LOGO_BYTES)
    except xmlsafe.UnsafeXml as exc:
        raise LogoError(
            "logo_file.svg_doctype",
            "an SVG logo may not declare a DOCTYPE, an internal DTD, ENTITY definitions or an external DTD "
            "(refused against entity expansion and external fetches); export it as plain SVG",
        ) from exc
    except xmlsafe.XmlRejected as exc:
        raise LogoError("logo_file.type", f"neither an SVG nor a PNG image (told from its content, not its name): {exc.message}") from exc
    root = tree.getroot()
    if root.tag != SVG_ROOT:
        raise LogoError("logo_file.type", f"neither an SVG nor a PNG image (told from its content, not its name): the root element is {_name(root)}")
    # A processing instruction before or after the root (xml-stylesheet) is not under `root`.
    for instruction in tree.xpath("//processing-instruction()"):
        raise LogoError("logo_file.svg_external_reference", f"an SVG logo may not carry processing instructions (<?{instruction.target} ...?> can load a stylesheet)")
    references: dict[etree._Element, list[str]] = {}
    sheet_references: list[str] = []
    by_id: dict[str, etree._Element] = {}
    for element in root.iter(tag=etree.Element):
        references[element] = _check_element(element, sheet_references)
        identifier = element.get("id")
        if identifier is not None:
            by_id.setdefault(identifier, element)
    _check_expanded_size(root, references, sheet_references, by_id)


def _name(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"<{qname.localname}> in namespace {qname.namespace}" if qname.namespace else f"<{qname.localname}> without a namespace"


def _check_element(element: etree._Element, sheet_references: list[str]) -> list[str]:
    """Refuse what the module docstring lists; return the ids this element refers to (href="#id", url(#id))."""
    qname = etree.QName(element)
    if qname.namespace in XINCLUDE_NAMESPACES:
        raise LogoError("logo_file.svg_xinclude", f"an SVG logo may not use XInclude (<{qname.localname}> pulls in another document)")
    if qname.namespace != SVG_NAMESPACE:
        raise LogoError("logo_file.svg_foreign_element", f"an SVG logo holds SVG elements only, found {_name(element)}; export it as plain SVG")
    if qname.localname == "script":
        raise LogoError("logo_file.svg_script", "an SVG logo may not contain <script>")
    if qname.localname == "foreignObject":
        raise LogoError("logo_file.svg_foreign_element", "an SVG logo may not contain <foreignObject> (HTML or other content inside the picture)")
    if qname.localname in ANIMATION_ELEMENTS:
        raise LogoError("logo_file.svg_animation", f"an SVG logo is a still picture: <{qname.localname}> (animation can change a reference after this check) is refused")
    referred: list[str] = []
    for attribute, value in element.attrib.items():
        name = etree.QName(attribute).localname
        if name.lower().startswith("on"):
            raise LogoError("logo_file.svg_script", f"an SVG logo may not carry event handlers ({name} on <{qname.localname}>)")
        if name == "href":  # href and xlink:href alike (SVG 2 takes either)
            if not _internal(value):
                raise LogoError("logo_file.svg_external_reference", f"<{qname.localname}> {name}={_quoted(value)}: an SVG logo refers only to its own #fragments or embedded PNG/JPEG/GIF/WebP data")
            if value.strip().startswith("#"):
                referred.append(value.strip()[1:])
        else:
            referred.extend(_check_css(value, f"attribute {name} of <{qname.localname}>", declarations=True))
    if qname.localname == "style" and element.text:
        sheet_references.extend(_check_css(element.text, "<style>", declarations=False))
    return referred


def _internal(reference: str) -> bool:
    reference = reference.strip()
    return reference.startswith("#") or _EMBEDDED_RASTER.match(reference) is not None


def _quoted(value: str) -> str:
    return repr(value[:80] + ("…" if len(value) > 80 else ""))


def _check_css(text: str, where: str, *, declarations: bool) -> list[str]:
    """Refuse `url()` to anything but a #fragment or an embedded raster image, and `@import`;
    return the #fragment ids referred to.

    Tokenised with tinycss2 (what WeasyPrint itself uses), so CSS escapes (`\\75rl(`, `@\\69mport`)
    are read as WeasyPrint would read them, not missed by a pattern."""
    if declarations:
        if "url" not in text.lower() and "\\" not in text and "@" not in text:
            return []  # no URL token is possible in plain attribute values such as path data
        nodes = tinycss2.parse_component_value_list(text)
    else:
        nodes = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    fragments: list[str] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        kind = getattr(node, "type", None)
        if kind == "at-rule" and node.lower_at_keyword == "import":
            raise LogoError("logo_file.svg_external_reference", f"{where}: an SVG logo may not @import a stylesheet")
        targets: list[str] = []
        if kind == "url":
            targets = [node.value]
        elif kind == "function" and node.lower_name in ("url", "src"):
            targets = [argument.value for argument in node.arguments if getattr(argument, "type", None) == "string"] or [""]
        for target in targets:
            if not _internal(target):
                raise LogoError("logo_file.svg_external_reference", f"{where}: url({_quoted(target)}) points outside the logo")
            if target.strip().startswith("#"):
                fragments.append(target.strip()[1:])
        for attribute in ("prelude", "content", "arguments"):
            children = getattr(node, attribute, None)
            if children:
                stack.extend(children)
    return fragments


PAINT_SERVERS_WITHOUT_DRAWING = frozenset({"linearGradient", "radialGradient", "stop"})
DRAWN_ONLY_WHEN_REFERENCED = frozenset({"defs", "symbol", "pattern", "marker", "clipPath", "mask", "filter", "linearGradient", "radialGradient"})


def _check_expanded_size(
    root: etree._Element, references: dict[etree._Element, list[str]], sheet_references: list[str], by_id: dict[str, etree._Element],
) -> None:
    """Count the elements a renderer draws once `<use href="#x">` and `url(#x)` are replaced by their
    targets (an element inside <defs> counts once per reference, not where it stands); refuse above
    MAX_SVG_ELEMENTS, and refuse a reference that (indirectly) contains itself.

    A `url(#x)` in a `<style>` sheet may apply to every element, so unless its target is a gradient
    (which draws nothing) it is counted once per element of the document: an upper bound."""
    sizes: dict[etree._Element, int] = {}
    on_path: set[etree._Element] = set()

    def depends_on(element: etree._Element) -> list[etree._Element]:
        # <defs>, <symbol>, <pattern> ... draw nothing where they stand: they count where referenced.
        drawn = [child for child in element.iterchildren(tag=etree.Element) if etree.QName(child).localname not in DRAWN_ONLY_WHEN_REFERENCED]
        return drawn + [by_id[name] for name in references[element] if name in by_id]

    def cycle(element: etree._Element) -> LogoError:
        return LogoError("logo_file.svg_too_complex", f"an SVG logo refers to #{element.get('id')} from inside itself (an endless <use> or url() loop)")

    # Post-order walk with an explicit stack: a chain of 5,000 references must not exhaust Python's stack.
    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack:
        element, children_done = stack.pop()
        if element in sizes:
            continue
        dependencies = depends_on(element)
        if not children_done:
            if element in on_path:
                raise cycle(element)
            on_path.add(element)
            stack.append((element, True))
            for dependency in dependencies:
                if dependency in on_path:
                    raise cycle(dependency)
                if dependency not in sizes:
                    stack.append((dependency, False))
            continue
        on_path.discard(element)
        sizes[element] = 1 + sum(sizes[dependency] for dependency in dependencies)
        if sizes[element] > MAX_SVG_ELEMENTS:
            raise LogoError("logo_file.svg_too_complex", f"an SVG logo draws at most {MAX_SVG_ELEMENTS} elements once <use> and url(#…) references are expanded; this one draws more")
    total = sizes[root]
    element_count = len(references)
    for name in sheet_references:
        target = by_id.get(name)
        if target is None or all(etree.QName(e).localname in PAINT_SERVERS_WITHOUT_DRAWING for e in target.iter(tag=etree.Element)):
            continue
        total += element_count * sizes.get(target, 1)
        if total > MAX_SVG_ELEMENTS:
            raise LogoError("logo_file.svg_too_complex", f"an SVG logo draws at most {MAX_SVG_ELEMENTS} elements once <use> and url(#…) references are expanded; its <style> applies #{name} to every element")
