"""The reference OpsCore API (FastAPI). Routes follow the OpsCore API the scenarios drive:
documents (list, search, create, read, update, delete), execution records of a document,
attachments of a document, the caller, `/health` (the guide's JSON), `/ready`, `/metrics`,
and `/admin/faults` to change faults at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from loadtest import __version__
from loadtest.target.db import Database, DatabaseUnavailable, IntegrityViolation, current_decision
from loadtest.target.faults import FaultRule, Faults, FaultSpecError
from loadtest.target.metrics import TargetMetrics

API = "/api/v1"
DocId = Annotated[int, PathParam(alias="id", ge=1, le=2**62)]
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
UNINSTRUMENTED = ("/metrics", "/admin", "/openapi.json", "/docs", "/redoc")
UNMATCHED = "unmatched"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(default="", max_length=100_000)


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    content: str | None = Field(default=None, max_length=100_000)


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern="^(started|succeeded|failed|skipped)$")
    note: str = Field(default="", max_length=10_000)


@dataclass
class TargetState:
    db: Database
    metrics: TargetMetrics
    faults: Faults
    storage_dir: Path


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
        user = _caller(scope)
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


def _caller(scope: MutableMapping[str, Any]) -> str | None:
    headers = dict(scope.get("headers") or [])
    user = headers.get(b"x-user-id")
    if user:
        return user.decode("latin-1")[:100]
    auth = headers.get(b"authorization", b"")
    if auth.lower().startswith(b"bearer "):
        return "token:" + auth[7:].decode("latin-1")[:100]
    return None


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)


def create_app(state: TargetState, without: tuple[str, ...] = ()) -> FastAPI:
    """The API; `without` drops operational routes (e.g. "/ready", "/metrics") to play a
    service that lacks them."""
    app = FastAPI(title="OpsCore reference API", version=__version__,
                  description="The reference OpsCore API of opscore-loadtest.")
    app.state.target = state
    db, metrics = state.db, state.metrics

    @app.exception_handler(DatabaseUnavailable)
    async def _db_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return _error(503, str(exc), "database_unavailable")

    @app.exception_handler(IntegrityViolation)
    async def _conflict(request: Request, exc: IntegrityViolation) -> JSONResponse:
        # the parent document went away between our read and our write
        return _error(404, "document not found (deleted concurrently)", "not_found")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid input')}",
                             "code": "invalid_input"}, status_code=422)

    def get_doc(doc_id: int) -> dict[str, Any]:
        rows = db.query("SELECT * FROM documents WHERE id = ?", (doc_id,))
        if not rows:
            raise HTTPException(404, f"document {doc_id} not found")
        return rows[0]

    # -- documents ------------------------------------------------------------------------
    @app.get(f"{API}/documents", tags=["documents"])
    def list_documents(limit: int = Query(20, ge=1, le=100),
                       offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
        rows = db.query("SELECT id, title, owner, created_at, updated_at FROM documents "
                        "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?", (limit, offset))
        return {"items": rows, "limit": limit, "offset": offset}

    @app.get(f"{API}/documents/search", tags=["documents"])
    def search_documents(q: str = Query(min_length=1, max_length=100),
                         limit: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
        pattern = "%" + re.sub(r"([%_\\])", r"\\\1", q.lower()) + "%"
        rows = db.query("SELECT id, title, owner, updated_at FROM documents "
                        "WHERE lower(title) LIKE ? ESCAPE '\\' OR lower(content) LIKE ? "
                        "ESCAPE '\\' ORDER BY id DESC LIMIT ?", (pattern, pattern, limit))
        return {"items": rows, "query": q}

    @app.post(f"{API}/documents", status_code=201, tags=["documents"])
    def create_document(doc: DocumentIn, request: Request) -> dict[str, Any]:
        now = utcnow()
        owner = _caller(request.scope) or "anonymous"
        rows = db.query("INSERT INTO documents (title, content, owner, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?) RETURNING *",
                        (doc.title, doc.content, owner, now, now))
        metrics.documents_total.inc()
        return rows[0]

    @app.get(f"{API}/documents/{{id}}", tags=["documents"])
    def read_document(doc_id: DocId) -> dict[str, Any]:
        return get_doc(doc_id)

    @app.put(f"{API}/documents/{{id}}", tags=["documents"])
    def update_document(doc_id: DocId, patch: DocumentPatch) -> dict[str, Any]:
        doc = get_doc(doc_id)
        rows = db.query("UPDATE documents SET title = ?, content = ?, updated_at = ? "
                        "WHERE id = ? RETURNING *",
                        (patch.title if patch.title is not None else doc["title"],
                         patch.content if patch.content is not None else doc["content"],
                         utcnow(), doc_id))
        if not rows:
            raise HTTPException(404, f"document {doc_id} not found")
        return rows[0]

    @app.delete(f"{API}/documents/{{id}}", status_code=204, tags=["documents"])
    def delete_document(doc_id: DocId) -> Response:
        get_doc(doc_id)
        n_records = db.query("SELECT count(*) AS n FROM execution_records WHERE document_id = ?",
                             (doc_id,))[0]["n"]
        files = db.query("SELECT path, size_bytes FROM attachments WHERE document_id = ?",
                         (doc_id,))
        deleted = db.query("DELETE FROM documents WHERE id = ? RETURNING id", (doc_id,))
        if deleted:
            metrics.documents_total.dec()
            metrics.execution_records_total.dec(n_records)
            for f in files:
                Path(f["path"]).unlink(missing_ok=True)
                metrics.storage_usage_bytes.dec(f["size_bytes"])
        return Response(status_code=204)

    # -- execution records ----------------------------------------------------------------
    @app.get(f"{API}/documents/{{id}}/execution-records", tags=["execution records"])
    def list_records(doc_id: DocId, limit: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
        get_doc(doc_id)
        rows = db.query("SELECT * FROM execution_records WHERE document_id = ? "
                        "ORDER BY id DESC LIMIT ?", (doc_id, limit))
        return {"items": rows}

    @app.post(f"{API}/documents/{{id}}/execution-records", status_code=201,
              tags=["execution records"])
    def create_record(doc_id: DocId, record: RecordIn, request: Request) -> dict[str, Any]:
        get_doc(doc_id)
        rows = db.query("INSERT INTO execution_records (document_id, status, note, actor, "
                        "created_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
                        (doc_id, record.status, record.note,
                         _caller(request.scope) or "anonymous", utcnow()))
        metrics.execution_records_total.inc()
        return rows[0]

    # -- attachments ----------------------------------------------------------------------
    @app.post(f"{API}/documents/{{id}}/attachments", status_code=201, tags=["attachments"])
    async def upload_attachment(doc_id: DocId, request: Request,
                                filename: str = Query("attachment.bin", min_length=1,
                                                      max_length=200)) -> dict[str, Any]:
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_ATTACHMENT_BYTES:
                raise HTTPException(413, f"attachment larger than {MAX_ATTACHMENT_BYTES} bytes")
        await run_in_threadpool(get_doc, doc_id)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100]
        folder = state.storage_dir / str(doc_id)

        def store() -> dict[str, Any]:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{time.time_ns()}-{safe}"
            path.write_bytes(bytes(body))
            try:
                rows = db.query("INSERT INTO attachments (document_id, filename, size_bytes, "
                                "path, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id, "
                                "document_id, filename, size_bytes, created_at",
                                (doc_id, filename, len(body), str(path), utcnow()))
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            metrics.storage_usage_bytes.inc(len(body))
            return rows[0]

        return await run_in_threadpool(store)

    @app.get(f"{API}/documents/{{id}}/attachments", tags=["attachments"])
    def list_attachments(doc_id: DocId) -> dict[str, Any]:
        get_doc(doc_id)
        rows = db.query("SELECT id, document_id, filename, size_bytes, created_at "
                        "FROM attachments WHERE document_id = ? ORDER BY id DESC LIMIT 100",
                        (doc_id,))
        return {"items": rows}

    # -- users ----------------------------------------------------------------------------
    @app.get(f"{API}/users/me", tags=["users"])
    def whoami(request: Request) -> dict[str, Any]:
        user = _caller(request.scope)
        if user is None:
            raise HTTPException(401, "identify the caller with X-User-Id or a bearer token")
        return {"user": user}

    # -- operations -----------------------------------------------------------------------
    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            checks["database"] = {"status": "ok", "response_time_ms": round(db.ping(), 2)}
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

    @app.get("/ready", tags=["operations"])
    def ready() -> JSONResponse:
        try:
            db.ping()
        except DatabaseUnavailable as e:
            return JSONResponse({"ready": False, "reason": str(e)}, status_code=503)
        return JSONResponse({"ready": True})

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/admin/faults", tags=["admin"])
    def get_faults() -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in state.faults.rules]}

    @app.put("/admin/faults", tags=["admin"])
    async def put_faults(request: Request) -> JSONResponse:
        try:
            data = await request.json()
        except ValueError:
            return _error(400, "body is not JSON: send {\"rules\": [{...}]}", "invalid_input")
        raw = data.get("rules") if isinstance(data, dict) and "rules" in data else [data]
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            return _error(400, "rules must be a list of objects", "invalid_input")
        try:
            rules = [FaultRule.from_dict(r) for r in raw]
        except (FaultSpecError, ValueError, TypeError) as e:
            return _error(400, str(e), "invalid_input")
        state.faults.replace(rules)
        return JSONResponse({"rules": [r.to_dict() for r in rules]})

    @app.delete("/admin/faults", tags=["admin"])
    def clear_faults() -> dict[str, Any]:
        state.faults.replace([])
        return {"rules": []}

    app.router.routes = [r for r in app.router.routes
                         if getattr(r, "path", None) not in without]
    metrics.precreate(
        (m, r.path) for r in app.routes if isinstance(r, APIRoute)
        and not r.path.startswith(UNINSTRUMENTED) for m in sorted(r.methods or ()))
    app.add_middleware(MetricsAndFaults, fastapi_app=app)
    return app


def init_state(database_url: str, storage_dir: Path, faults: Faults,
               seed_documents: int = 0, metrics: TargetMetrics | None = None,
               db_pool_size: int = 10) -> TargetState:
    """Open the database, create the schema, seed, and load the business gauges."""
    from loadtest.target.db import open_database

    metrics = metrics or TargetMetrics()
    db = open_database(database_url, metrics, faults, pool_size=db_pool_size)
    db.create_schema()
    storage_dir.mkdir(parents=True, exist_ok=True)
    have = db.query("SELECT count(*) AS n FROM documents")[0]["n"]
    now = utcnow()
    for i in range(have, seed_documents):
        db.query("INSERT INTO documents (title, content, owner, created_at, updated_at) "
                 "VALUES (?, ?, ?, ?, ?)",
                 (f"Runbook {i}: rotate credentials", f"Step {i}: check evidence and sign off.",
                  "seed", now, now))
    metrics.documents_total.set(db.query("SELECT count(*) AS n FROM documents")[0]["n"])
    metrics.execution_records_total.set(
        db.query("SELECT count(*) AS n FROM execution_records")[0]["n"])
    metrics.storage_usage_bytes.set(
        db.query("SELECT coalesce(sum(size_bytes), 0) AS n FROM attachments")[0]["n"])
    return TargetState(db=db, metrics=metrics, faults=faults, storage_dir=storage_dir)
