"""Parse inbound XML safely.

Every XML document that comes from outside (a peer's invoice, an uploaded file, an API body)
goes through `parse` before anything else looks at it. The parser never touches the network,
never loads a DTD, never expands an entity, and a document that declares a DOCTYPE at all is
refused: UBL and the Peppol documents have no DTD, so a DOCTYPE is either a mistake or an attack
(XXE, "billion laughs").

This matters beyond lxml: Saxon, which runs the Schematron XSLTs, *does* resolve external
entities when it parses, so the validator only hands Saxon bytes that `parse` accepted.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from gateway.errors import GatewayError

# Largest XML document parsed, refused before parsing. libxml2 keeps about 120 bytes per element, so
# a "wide" document of empty elements costs about 30x its size in memory: the bound is what limits
# that. 5 MiB is the API's request limit (`Settings.max_request_bytes`) and the default for every
# document that arrives from outside through the workers too: an MLR or Invoice Response in a
# callback or an access point's status answer, a document we issue or send. SMP answers have their
# own 1 MiB (gateway/peppol/smp.py), creditor logos 200 kB (gateway/letters/logo.py).
MAX_XML_BYTES = 5 * 1024 * 1024
# `gateway validate FILE`, an operator checking a file on their own disk (Peppol access points often
# take documents with attachments up to 100 MB; ours are far smaller). Worst case ~600 MiB of
# libxml2 memory for a 20 MiB document of empty elements, one per core in a batch.
MAX_LOCAL_FILE_BYTES = 20 * 1024 * 1024


class XmlRejected(GatewayError):
    """The bytes are not a document we are willing to process."""

    status_code = 400
    problem_type = "https://gateway.example/problems/xml-rejected"
    title = "The XML document was rejected"


class MalformedXml(XmlRejected):
    problem_type = "https://gateway.example/problems/malformed-xml"
    title = "The XML document is not well-formed"


class UnsafeXml(XmlRejected):
    problem_type = "https://gateway.example/problems/unsafe-xml"
    title = "The XML document declares a DOCTYPE or entities"


class XmlTooLarge(XmlRejected):
    status_code = 413
    problem_type = "https://gateway.example/problems/xml-too-large"
    title = "The XML document is too large"


def too_large(size: int, max_bytes: int) -> XmlTooLarge:
    return XmlTooLarge(f"the document is {size} bytes; the limit is {max_bytes} bytes")


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=False,
    )


def parse(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._ElementTree:
    """Return the parsed document, or raise `XmlTooLarge`, `UnsafeXml` or `MalformedXml`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse expects bytes, so the document's own encoding declaration applies")
    data = bytes(data)
    if len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    if not data.strip():
        raise MalformedXml("the document is empty")
    try:
        root = etree.fromstring(data, parser=_new_parser())
    except etree.XMLSyntaxError as exc:
        # libxml2 may stop inside a DOCTYPE before we can look at it (e.g. its entity
        # amplification guard on "billion laughs"): name the real reason.
        if _declares_doctype(data):
            raise UnsafeXml(_DOCTYPE_REFUSED) from exc
        # An entity reference to an undeclared (because unloaded) entity also lands here.
        raise MalformedXml(f"not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml(_DOCTYPE_REFUSED)
    return tree


_DOCTYPE_REFUSED = (
    "the document declares a DOCTYPE; DTD and ENTITY declarations are refused "
    "(protection against XXE and entity expansion)"
)
# The prolog: optional XML declaration, then comments, processing instructions and whitespace.
_DOCTYPE_IN_PROLOG = re.compile(r"^\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!DOCTYPE", re.DOTALL)


def _declares_doctype(data: bytes) -> bool:
    head = data[:65536].removeprefix(codecs.BOM_UTF8)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode("latin-1")
    return _DOCTYPE_IN_PROLOG.match(text) is not None
