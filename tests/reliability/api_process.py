"""The API as the reliability tests and the soak run it: `python -m tests.reliability.api_process [--workers N]`.

Like `gateway serve --no-workers`, but with the channel providers built from the GATEWAY_*
settings (`build_providers`), so the callback routes verify the sandboxes' signed reports. With
`--workers N`, uvicorn serves from N processes (forked from this one).
"""

from __future__ import annotations

import argparse

import uvicorn

from gateway.app import create_app
from gateway.channels.setup import build_providers
from gateway.config import get_settings


def app_factory():
    settings = get_settings()
    return create_app(settings, providers=build_providers(settings))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    settings = get_settings()
    uvicorn.run("tests.reliability.api_process:app_factory", factory=True, host=settings.host, port=settings.port, workers=args.workers,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
