"""Shared tools of the attack tests: a loopback "outside world" that records every request made
to it, and a meter of time and memory around one call."""

from __future__ import annotations

import resource
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What the "external" server hands out: a string that must never show up anywhere.
SECRET_PAYLOAD = b"EXFILTRATED-BY-ENTITY"
EXTERNAL_DTD = b'<!ENTITY % all "<!ENTITY leak \'EXFILTRATED-BY-ENTITY\'>"> %all;'


class Outside:
    """A loopback HTTP server standing in for an attacker's host (entity, DTD, XInclude targets).

    `requests` lists every path asked for; `serve` maps a path to an answer (the SMP tests use
    it to hand out attack documents as if they were SMP answers)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.serve: dict[str, bytes] = {}
        outside = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = outside.serve.get(self.path)
                if body is None:
                    outside.requests.append(self.path)
                    body = EXTERNAL_DTD if self.path.endswith(".dtd") else SECRET_PAYLOAD
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # a client that refuses to read on (size bounds)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Measured:
    result: Any
    seconds: float  # CPU seconds of the process
    python_peak_bytes: int  # tracemalloc: Python allocations only
    rss_growth_bytes: int  # peak RSS during the call above RSS before it (catches C allocations: libxml2, Saxon)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss() -> int:
    """Reset the process' peak RSS to its current RSS (Linux: write 5 to clear_refs); return it in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return _status_kib("VmRSS") * 1024
    except OSError:  # not Linux: the lifetime peak, so growth only shows above earlier peaks
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss() -> int:
    try:
        return _status_kib("VmHWM") * 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(call: Callable[[], Any], *, trace_python: bool = True) -> Measured:
    """CPU time and memory of one call. tracemalloc slows Python-heavy code (the e-mail parser)
    several times over, so `trace_python=False` measures the peak RSS only.

    The time is the process' CPU time (every thread: the API under TestClient, the SMTP receiver,
    Saxon), not the wall clock: a bound on it catches a blow-up (billion laughs, quadratic parsing)
    without failing because other work shares the machine's cores."""
    rss_before = reset_peak_rss()
    if trace_python:
        tracemalloc.start()
    started = time.process_time()
    try:
        result = call()
    finally:
        seconds = time.process_time() - started
        python_peak = 0
        if trace_python:
            _, python_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    return Measured(result, seconds, python_peak, max(0, peak_rss() - rss_before))


MIB = 1024 * 1024
FIGURES: dict[str, list[tuple[str, float, int, int]]] = {}


def record(entry: str, case: str, measured: Measured) -> None:
    FIGURES.setdefault(entry, []).append((case, measured.seconds, measured.python_peak_bytes, measured.rss_growth_bytes))
