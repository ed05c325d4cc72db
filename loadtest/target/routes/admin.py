"""/admin/faults: read, replace and clear the target's faults while it runs."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from loadtest.target.faults import FaultRule, FaultSpecError
from loadtest.target.routes.common import Target, error


def add_routes(app: FastAPI) -> None:
    tags: list[str | Enum] = ["admin"]
    app.get("/admin/faults", tags=tags)(get_faults)
    app.put("/admin/faults", tags=tags)(put_faults)
    app.delete("/admin/faults", tags=tags)(clear_faults)


def get_faults(state: Target) -> dict[str, Any]:
    return {"rules": [r.to_dict() for r in state.faults.rules]}


async def put_faults(request: Request, state: Target) -> JSONResponse:
    try:
        data = await request.json()
    except ValueError:
        return error(400, "body is not JSON: send {\"rules\": [{...}]}", "invalid_input")
    raw = data.get("rules") if isinstance(data, dict) and "rules" in data else [data]
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        return error(400, "rules must be a list of objects", "invalid_input")
    try:
        rules = [FaultRule.from_dict(r) for r in raw]
    except (FaultSpecError, ValueError, TypeError) as e:
        return error(400, str(e), "invalid_input")
    state.faults.replace(rules)
    return JSONResponse({"rules": [r.to_dict() for r in rules]})


def clear_faults(state: Target) -> dict[str, Any]:
    state.faults.replace([])
    return {"rules": []}
