"""FastAPI application factory: routers, middleware, error handlers, in-process workers.

No business logic here.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from gateway import __version__
from gateway.api import callbacks as callbacks_api
from gateway.api import claims as claims_api
from gateway.api import dunning as dunning_api
from gateway.api import errors
from gateway.api import events as events_api
from gateway.api import webhook_endpoints as webhook_endpoints_api
from gateway.api import pay as pay_api
from gateway.api.limits import BodySizeLimit, refuse_nul
from gateway.channels.registry import ProviderRegistry
from gateway.config import Settings, get_settings
from gateway.delivery.inbox_writer import InboxWriter
from gateway.store.session import Database


def create_app(settings: Settings | None = None, *, database: Database | None = None, run_workers: bool = False, providers: ProviderRegistry | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = database or Database(settings.database_url)
    providers = providers or ProviderRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker_thread = None
        if run_workers:
            from gateway.workers.run import Worker

            worker = Worker(database, settings, name="in-process", providers=providers)
            worker_thread = threading.Thread(target=worker.run_forever, name="gateway-worker", daemon=True)
            app.state.worker = worker
            worker_thread.start()
        yield
        app.state.inbox_writer.close()
        if worker_thread is not None:
            app.state.worker.stop()
            worker_thread.join(timeout=10)

    app = FastAPI(
        title="Peppol and e-invoice gateway",
        version=__version__,
        description="Claims in; Peppol BIS 3.0 invoices, UBL reminders and consumer messages out; delivery tracked.",
        lifespan=lifespan,
        dependencies=[Depends(refuse_nul)],  # NUL in a query, path, JSON or form field: 422 text.nul (gateway/api/limits.py)
    )
    app.state.settings = settings
    app.state.database = database
    app.state.providers = providers
    app.state.inbox_writer = InboxWriter(database)  # callbacks are committed in groups (see the module)
    errors.install(app)
    app.include_router(claims_api.router)
    app.include_router(dunning_api.router)
    app.include_router(callbacks_api.router)
    app.include_router(events_api.router)
    app.include_router(webhook_endpoints_api.router)
    app.include_router(pay_api.router)  # the stable Bancontact pay link (issue 5)
    _include_optional_routers(app)
    from fastapi.staticfiles import StaticFiles

    from gateway import web
    from gateway.web import consumer as consumer_web

    app.include_router(web.router)  # admin pages under /admin (issue 7)
    app.include_router(consumer_web.router)  # the consumer's personal page under /my (issue 7)
    app.mount("/admin/static", StaticFiles(directory=web.STATIC_DIR), name="admin-static")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)

    _publish_payload_schemas(app)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    return app


def _include_optional_routers(app: FastAPI) -> None:
    from fastapi import Depends

    from gateway.api.deps import AUTH_RESPONSES, principal

    try:
        from gateway.api.validate import router as validate_router
    except ImportError:  # the validator lands with the standards install (issue 3)
        return
    app.include_router(validate_router, dependencies=[Depends(principal)], tags=["validation"], responses=AUTH_RESPONSES)


def _publish_payload_schemas(app: FastAPI) -> None:
    """Routes read the raw body themselves (for idempotency hashing), so the claim payload
    schema is added to the OpenAPI components explicitly."""
    from gateway.api.payloads import ClaimIn

    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        claim_schema = ClaimIn.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(claim_schema.pop("$defs", {}))
        components["ClaimIn"] = claim_schema
        return schema

    app.openapi = openapi
