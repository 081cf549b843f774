"""The composition root: the ASGI application, the API under `/api/v1`, the web pages at `/`,
the middleware around both. `segmint serve` runs it; tests build it with their own engine,
clock and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException

from segmint import __version__
from segmint.api import router as api
from segmint.api.errors import http_error, install_error_handlers
from segmint.api.headers import SecurityHeaders
from segmint.api.limits import BodyLimit, Limits, ProxiedClient, RateLimit
from segmint.api.routes import health
from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.index import registry as index_registry
from segmint.web import login, pages, tracking
from segmint.web.session import LoginRequired
from segmint.web.templating import STATIC


def create_app(
    engine: Engine,
    clock: Clock = SYSTEM_CLOCK,
    limits: Limits | None = None,
    index: index_registry.Settings | None = None,
) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="Segmint",
        version=__version__,
        description=(
            "Live lead segments: filters, members, exports, membership history. "
            "Authenticate with `Authorization: Bearer TOKEN` (from `segmint users add`). "
            'Errors are `{"error": {"code", "message", "path"}}`.'
        ),
        openapi_url=f"{api.API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.clock = clock  # what routes that ask "now" read: tests pass a FrozenClock
    app.state.limits = limits = limits or Limits.from_env()
    # The columnar index answers this process's counts, pages and exports once built; serve
    # builds every project's in the background at start (SEGMINT_INDEX=off: SQL only).
    settings = index or index_registry.Settings.from_env()
    indexes = index_registry.attach(engine, settings)
    if indexes is not None and settings.background:
        indexes.build_all()
    app.include_router(health.router)
    app.include_router(api.router, prefix=api.API_PREFIX)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(tracking.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_handlers(app)
    app.add_exception_handler(LoginRequired, _login_required)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _page_or_error)  # type: ignore[arg-type]
    # Outermost first: a caller over its rate is refused before its body is read.
    app.add_middleware(BodyLimit, limits=limits)
    app.add_middleware(RateLimit, limits=limits)
    app.add_middleware(ProxiedClient, limits=limits)  # before the rate limit: it sees the client
    app.add_middleware(SecurityHeaders)  # outermost: refusals (413, 429) carry them too
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # Shutting down: the index's background builds stop before the database may go away.
    indexes = index_registry.indexes_for(app.state.engine)
    if indexes is not None:
        await run_in_threadpool(indexes.close)


async def _page_or_error(request: Request, exc: HTTPException) -> Response:
    """An unknown address asked for by a browser gets the not-found page; the API, and any
    caller that does not ask for HTML, the error in the API's shape."""
    path = request.url.path
    wants_html = "text/html" in request.headers.get("accept", "")
    if exc.status_code == 404 and wants_html and not path.startswith(api.API_PREFIX):
        return pages.not_found(request, f"There is no page at {path}.")
    return await http_error(request, exc)


async def _login_required(_request: Request, exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(exc.location, status_code=303)
