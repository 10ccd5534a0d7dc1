"""The consumer's personal page under /my (issue 7); see `gateway.web.consumer.routes`."""

from gateway.web.consumer.routes import STATIC_DIR, router

__all__ = ["STATIC_DIR", "router"]
