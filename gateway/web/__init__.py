"""Admin status pages (issue 7): `router` under /admin and the static files mounted beside it."""

from gateway.web.routes import STATIC_DIR, router

__all__ = ["STATIC_DIR", "router"]
