"""A small asyncio HTTP/1.1 load client for the benchmarks.

The load generator shares the 2-core machine with what it measures, so it has to be cheap: a
request costs about 0.25 ms of CPU here (about a quarter of `requests` with a thread pool). Each
connection is kept alive and carries one request at a time; headers are built just before each
request is sent (signatures carry a timestamp that must be fresh when the server checks it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit


class KeepAliveClient:
    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.netloc = parts.hostname, parts.port, parts.netloc
        self.connections = connections
        self._streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> KeepAliveClient:
        self._streams = [await asyncio.open_connection(self.host, self.port) for _ in range(self.connections)]
        return self

    async def __aexit__(self, *exc_info) -> None:
        for _, writer in self._streams:
            writer.close()
        self._streams = []

    async def post_all(self, path: str, bodies: Sequence[bytes], headers_for: Callable[[bytes], dict[str, str]]) -> list[tuple[int, bytes]]:
        """POST every body, spread over the connections; returns (status, response body) in the bodies' order."""
        answers: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)

        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, indices: range) -> None:
            for index in indices:
                body = bodies[index]
                head = "".join(f"{name}: {value}\r\n" for name, value in headers_for(body).items())
                writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.netloc}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answers[index] = (int(status_line.split()[1]), await reader.readexactly(length))

        streams = self._streams
        await asyncio.gather(*(run(reader, writer, range(n, len(bodies), len(streams))) for n, (reader, writer) in enumerate(streams)))
        return answers
