"""Operations: /health (the guide's JSON), /ready, /metrics (the target's own registry)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from loadtest import __version__
from loadtest.target.db import DatabaseUnavailable
from loadtest.target.routes.common import Target
from loadtest.target.state import utcnow


def add_routes(app: FastAPI) -> None:
    app.get("/health", tags=["operations"])(health)
    app.get("/ready", tags=["operations"])(ready)
    app.get("/metrics", include_in_schema=False)(prometheus_metrics)


def health(state: Target) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        checks["database"] = {"status": "ok", "response_time_ms": round(state.db.ping(), 2)}
    except DatabaseUnavailable as e:
        checks["database"] = {"status": "error", "error": str(e)}
    if os.access(state.storage_dir, os.W_OK):
        checks["storage"] = {"status": "ok", "type": "local"}
    else:
        checks["storage"] = {"status": "error", "type": "local",
                             "error": f"{state.storage_dir} is not writable"}
    ok = all(c["status"] == "ok" for c in checks.values())
    body = {"status": "ok" if ok else "degraded", "timestamp": utcnow(),
            "version": __version__, "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


def ready(state: Target) -> JSONResponse:
    try:
        state.db.ping()
    except DatabaseUnavailable as e:
        return JSONResponse({"ready": False, "reason": str(e)}, status_code=503)
    return JSONResponse({"ready": True})


def prometheus_metrics(state: Target) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
