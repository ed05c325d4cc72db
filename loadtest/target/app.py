"""The reference OpsCore API (FastAPI): the app factory, its error handlers and the middleware
that resolves the route template, applies faults and records the guide's HTTP metrics. The
routes, one module per resource, are in routes/ (documents, execution records, attachments, the
caller, `/health`, `/ready`, `/metrics`, and `/admin/faults` to change faults at run time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import Match

from loadtest import __version__
from loadtest.target.db import DatabaseUnavailable, IntegrityViolation, current_decision
from loadtest.target.routes import admin, attachments, documents, operations, records, users
from loadtest.target.routes.common import caller, error
from loadtest.target.state import TargetState

UNINSTRUMENTED = ("/metrics", "/admin", "/openapi.json", "/docs", "/redoc")
UNMATCHED = "unmatched"
# in this order: the middleware takes the first route template that matches
ROUTES = (documents, records, attachments, users, operations, admin)


class MetricsAndFaults:
    """ASGI middleware: resolves the route template, applies faults, records the guide's
    HTTP metrics (`endpoint` is the template, never the raw path)."""

    def __init__(self, app: Any, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    def _template(self, scope: dict[str, Any]) -> str:
        for route in self.fastapi_app.router.routes:
            match, _ = route.matches(scope)
            if match in (Match.FULL, Match.PARTIAL):
                return getattr(route, "path", UNMATCHED)
        return UNMATCHED

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNINSTRUMENTED):
            await self.app(scope, receive, send)
            return
        state: TargetState = self.fastapi_app.state.target
        started = time.perf_counter()
        method = scope["method"]
        endpoint = self._template(scope)
        status_box = [500]
        decision = state.faults.decide(method, endpoint)
        token = current_decision.set(decision)
        user = caller(scope)
        if user:
            state.metrics.active_users.touch(user)

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            async with contextlib.AsyncExitStack() as held:
                for rule in decision.limits:  # queue for a slot of a capped endpoint
                    await held.enter_async_context(state.faults.semaphore(rule))
                await self._serve(decision, scope, receive, send_wrapper)
        finally:
            current_decision.reset(token)
            state.metrics.observe_request(method, endpoint, status_box[0],
                                          time.perf_counter() - started)

    async def _serve(self, decision: Any, scope: dict[str, Any], receive: Any,
                     send_wrapper: Any) -> None:
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if decision.cpu_s > 0:  # CPU-bound work: one process serves 1 / cpu_s req/s at most
            until = time.thread_time() + decision.cpu_s
            while time.thread_time() < until:
                pass
        if decision.error_status is not None:
            resp = JSONResponse({"error": "injected fault", "code": "injected_fault"},
                                status_code=decision.error_status)
            await resp(scope, receive, send_wrapper)
        else:
            await self.app(scope, receive, send_wrapper)


def create_app(state: TargetState, without: tuple[str, ...] = ()) -> FastAPI:
    """The API; `without` drops operational routes (e.g. "/ready", "/metrics") to play a
    service that lacks them."""
    app = FastAPI(title="OpsCore reference API", version=__version__,
                  description="The reference OpsCore API of opscore-loadtest.")
    app.state.target = state
    _error_handlers(app)
    for routes in ROUTES:
        routes.add_routes(app)
    app.router.routes = [r for r in app.router.routes
                         if getattr(r, "path", None) not in without]
    state.metrics.precreate(
        (m, r.path) for r in app.routes if isinstance(r, APIRoute)
        and not r.path.startswith(UNINSTRUMENTED) for m in sorted(r.methods or ()))
    app.add_middleware(MetricsAndFaults, fastapi_app=app)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error answers {"error": ..., "code": ...}."""

    @app.exception_handler(DatabaseUnavailable)
    async def _db_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return error(503, str(exc), "database_unavailable")

    @app.exception_handler(IntegrityViolation)
    async def _conflict(request: Request, exc: IntegrityViolation) -> JSONResponse:
        # the parent document went away between our read and our write
        return error(404, "document not found (deleted concurrently)", "not_found")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid input')}",
                             "code": "invalid_input"}, status_code=422)
