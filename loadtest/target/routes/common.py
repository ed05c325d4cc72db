"""What the routes share: the API prefix, a document id in a path, the target's state as a
dependency, who the caller is, the error body."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from loadtest.target.state import TargetState

API = "/api/v1"
DocId = Annotated[int, PathParam(alias="id", ge=1, le=2**62)]


async def target_state(request: Request) -> TargetState:
    """The state `create_app` put on the app (async: no thread hop for it)."""
    state: TargetState = request.app.state.target
    return state


Target = Annotated[TargetState, Depends(target_state)]


def caller(scope: MutableMapping[str, Any]) -> str | None:
    headers = dict(scope.get("headers") or [])
    user = headers.get(b"x-user-id")
    if user:
        return user.decode("latin-1")[:100]
    auth = headers.get(b"authorization", b"")
    if auth.lower().startswith(b"bearer "):
        return "token:" + auth[7:].decode("latin-1")[:100]
    return None


def error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)
