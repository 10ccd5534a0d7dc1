"""The API as the reliability tests and the soak run it: `python -m tests.reliability.api_process`.

Like `gateway serve --no-workers`, but with the channel providers built from the GATEWAY_*
settings (`build_providers`), so the callback routes verify the sandboxes' signed reports.
"""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.channels.setup import build_providers
from gateway.config import get_settings


def main() -> None:
    settings = get_settings()
    app = create_app(settings, providers=build_providers(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
