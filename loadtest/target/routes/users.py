"""The caller, as the target identifies it (X-User-Id or a bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request

from loadtest.target.routes.common import API, caller


def add_routes(app: FastAPI) -> None:
    app.get(f"{API}/users/me", tags=["users"])(whoami)


def whoami(request: Request) -> dict[str, Any]:
    user = caller(request.scope)
    if user is None:
        raise HTTPException(401, "identify the caller with X-User-Id or a bearer token")
    return {"user": user}
