"""Request size: every POST and PATCH route refuses a body above GATEWAY_MAX_REQUEST_BYTES with a
413 problem before reading it all.

The app runs under uvicorn on 127.0.0.1 and the client writes raw HTTP/1.1 on a socket, so the test
controls what is sent: with a declared Content-Length above the limit not one body byte is sent
and the 413 must still come; with chunked encoding (no length declared) the client sends just over
the limit and never ends the body, and the 413 must come anyway. Routes come from the route
table, so a new POST or PATCH endpoint is covered without editing this file.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from datetime import timedelta

import pytest
import requests

from gateway.app import create_app
from gateway.demo import BackgroundServer
from gateway.kit import personal_link
from gateway.kit.time import utc_now
from gateway.store.models import Claim
from gateway.web import account
from tests.factories import consumer_claim, seed_creditors
from tests.security.routes import route_table
from tests.web.seed import PASSWORD

LIMIT = 64 * 1024
PERSONAL_SECRET = "personal-link-secret-for-the-size-test"
# Routes that never read a body at all: they answer whatever arrives, and read none of it. (The
# webhook endpoint switches take no body either, but every JSON body sent to /v1/ is read by the
# NUL check, `limits.refuse_nul`, so they stop at the limit like the others.)
READS_NO_BODY = {
    "POST /my/sms-reports": (204, None),
}
CHUNK = 16 * 1024
TOO_LARGE = "https://gateway.example/problems/too-large"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(settings, database):
    key = seed_creditors(database).municipality_key
    with database.session_scope() as session:
        account.create_user(session, "director@gent.be", PASSWORD, creditor_code="gent", role="financial_director", now=utc_now())
    app = create_app(settings.model_copy(update={"max_request_bytes": LIMIT, "personal_link_secret": PERSONAL_SECRET}), database=database)
    port = free_port()
    running = BackgroundServer(app, "127.0.0.1", port)
    running.start()
    yield port, key
    running.stop()


def _personal_token(port: int, key: str, database) -> str:
    """A valid personal link, so the /my form routes get as far as reading their form."""
    created = requests.post(f"http://127.0.0.1:{port}/v1/claims", json=consumer_claim("SIZE-C1"), headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert created.status_code == 201, created.text
    with database.session_scope() as session:
        claim = session.get(Claim, uuid.UUID(created.json()["id"]))
        return personal_link.issue(PERSONAL_SECRET.encode(), claim.debtor_id, claim.creditor_id, now=utc_now(), valid_for=timedelta(days=1))


def _admin_cookie(port: int) -> str:
    """Sign in over HTTP, so the admin form routes get as far as reading their form."""
    with requests.Session() as browser:
        page = browser.get(f"http://127.0.0.1:{port}/admin/signin", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        signed = browser.post(f"http://127.0.0.1:{port}/admin/signin", data={"email": "director@gent.be", "password": PASSWORD, "csrf_token": token}, allow_redirects=False, timeout=10)
        assert signed.status_code == 303
        return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    declared = re.search(rb"(?i)content-length: (\d+)", head)
    length = int(declared.group(1)) if declared else 0  # 204, or a redirect without a body
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    body = rest[:length]
    return status, json.loads(body) if b"json" in head.lower() and body else {"raw": body[:200].decode(errors="replace"), "head": head.decode(errors="replace")}


def _head(method: str, path: str, key: str, extra: str, cookie: str = "") -> bytes:
    # The admin pages take forms; Starlette reads no body for a form route sent another type.
    media_type = "application/x-www-form-urlencoded" if path.startswith(("/admin", "/my")) else "application/json"
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: {media_type}\r\n{f'Cookie: {cookie}' + chr(13) + chr(10) if cookie else ''}{extra}\r\n").encode()


def _filled(path: str, token: str = "") -> str:
    fixed = {"channel": "email", "topic": "bounce", "source": "bounce", "token": token}
    return re.sub(r"\{(\w+)\}", lambda m: fixed.get(m.group(1)) or str(uuid.uuid4()), path)


def _write_routes(app) -> list[tuple[str, str]]:
    return [(method, path) for method, path in route_table(app) if method in ("POST", "PATCH", "PUT")]


def test_every_write_route_refuses_a_declared_oversized_body_without_reading_a_byte(server, settings, database):
    port, key = server
    routes = _write_routes(create_app(settings, database=database))
    assert len(routes) >= 17
    for method, path in routes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.perf_counter()
            sock.sendall(_head(method, _filled(path), key, f"Content-Length: {100 * 1024 * 1024}\r\n"))  # 100 MiB announced, none sent
            status, problem = _read_response(sock)
            assert (status, problem["type"], problem["detail"]) == (413, TOO_LARGE, f"the limit is {LIMIT} bytes"), (method, path)
            assert time.perf_counter() - started < 5


def test_every_write_route_stops_reading_a_chunked_body_past_the_limit(server, settings, database):
    port, key = server
    routes = _write_routes(create_app(settings, database=database))
    cookie = _admin_cookie(port)
    token = _personal_token(port, key, database)
    answers = {}
    for method, path in routes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(_head(method, _filled(path, token), key, "Transfer-Encoding: chunked\r\n", cookie))
            sent = 0
            try:
                while sent <= LIMIT:  # just over the limit, and the body never ends (no 0-chunk)
                    sock.sendall(f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n")
                    sent += CHUNK
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close while we are still writing
            status, problem = _read_response(sock)
            answers[f"{method} {path}"] = (status, problem.get("type"))
    # Any answer at all proves the server did not wait for the whole body (it never ended).
    assert {route: answer for route, answer in answers.items() if answer != (413, TOO_LARGE)} == READS_NO_BODY
