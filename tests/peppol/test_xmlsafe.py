"""gateway.peppol.xmlsafe: no DTD, no entities, no network, a size limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.config import Settings
from gateway.peppol import xmlsafe
from gateway.peppol.xmlsafe import MalformedXml, UnsafeXml, XmlTooLarge

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 2 else "") + ";") * 10}">\n'.encode()
        for i in range(2, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every path requested from it."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            requests.append(self.path)
            body = b'<!ENTITY leak "LEAKED-FROM-NETWORK">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_plain_document_parses():
    tree = xmlsafe.parse(b'<?xml version="1.0" encoding="UTF-8"?><a xmlns="urn:x"><b>caf\xc3\xa9</b></a>')
    assert tree.getroot().tag == "{urn:x}a"
    assert tree.getroot()[0].text == "café"


def test_external_entity_file_is_refused_and_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>'.encode()
    with pytest.raises(UnsafeXml) as caught:
        xmlsafe.parse(xml)
    assert "DOCTYPE" in caught.value.message
    assert "TOP-SECRET-CONTENT" not in str(caught.value)
    assert caught.value.status_code == 400


def test_external_entity_and_dtd_over_http_are_refused_without_a_request(loopback_server):
    base_url, requests = loopback_server
    documents = [
        f'<!DOCTYPE a [<!ENTITY x SYSTEM "{base_url}/entity">]><a>&x;</a>',
        f'<!DOCTYPE a SYSTEM "{base_url}/dtd"><a/>',
        f'<!DOCTYPE a [<!ENTITY % p SYSTEM "{base_url}/parameter"> %p;]><a>&leak;</a>',
    ]
    for document in documents:
        with pytest.raises(UnsafeXml):
            xmlsafe.parse(document.encode())
    assert requests == []


def test_billion_laughs_is_refused_as_unsafe():
    with pytest.raises(UnsafeXml) as caught:
        xmlsafe.parse(BILLION_LAUGHS)
    assert "entity expansion" in caught.value.message


def test_doctype_without_entities_is_refused():
    with pytest.raises(UnsafeXml):
        xmlsafe.parse(b"<!-- a comment --><?pi x?>\n<!DOCTYPE a><a/>")


def test_doctype_in_utf16_document_is_refused():
    xml = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16")
    with pytest.raises(UnsafeXml):
        xmlsafe.parse(xml)


def test_size_limit_is_checked_before_parsing():
    with pytest.raises(XmlTooLarge) as caught:
        xmlsafe.parse(b"<a>" + b"x" * 100 + b"</a>", max_bytes=100)
    assert caught.value.status_code == 413
    assert "107 bytes; the limit is 100 bytes" in caught.value.message
    assert xmlsafe.parse(b"<a>" + b"x" * 93 + b"</a>", max_bytes=100).getroot().text == "x" * 93


def test_default_size_limit_is_the_api_request_limit_and_local_files_get_20_mib():
    assert xmlsafe.MAX_XML_BYTES == 5 * 1024 * 1024 == Settings.model_fields["max_request_bytes"].default
    assert xmlsafe.MAX_LOCAL_FILE_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize("xml", [b"", b"   ", b"<a>", b"<a></b>", b"not xml", b"<a>&undeclared;</a>"])
def test_malformed_documents_are_refused(xml):
    with pytest.raises(MalformedXml):
        xmlsafe.parse(xml)


def test_str_input_is_a_programming_error():
    with pytest.raises(TypeError):
        xmlsafe.parse("<a/>")  # type: ignore[arg-type]
