"""Documents: list, search, create, read, update, delete."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from loadtest.target.db import Database
from loadtest.target.routes.common import API, DocId, Target, caller
from loadtest.target.state import utcnow


def add_routes(app: FastAPI) -> None:
    """On the app itself, in this order: search before {id}."""
    tags: list[str | Enum] = ["documents"]
    app.get(f"{API}/documents", tags=tags)(list_documents)
    app.get(f"{API}/documents/search", tags=tags)(search_documents)
    app.post(f"{API}/documents", status_code=201, tags=tags)(create_document)
    app.get(f"{API}/documents/{{id}}", tags=tags)(read_document)
    app.put(f"{API}/documents/{{id}}", tags=tags)(update_document)
    app.delete(f"{API}/documents/{{id}}", status_code=204, tags=tags)(delete_document)


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(default="", max_length=100_000)


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    content: str | None = Field(default=None, max_length=100_000)


def get_doc(db: Database, doc_id: int) -> dict[str, Any]:
    rows = db.query("SELECT * FROM documents WHERE id = ?", (doc_id,))
    if not rows:
        raise HTTPException(404, f"document {doc_id} not found")
    return rows[0]


def list_documents(state: Target, limit: int = Query(20, ge=1, le=100),
                   offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    rows = state.db.query("SELECT id, title, owner, created_at, updated_at FROM documents "
                          "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?", (limit, offset))
    return {"items": rows, "limit": limit, "offset": offset}


def search_documents(state: Target, q: str = Query(min_length=1, max_length=100),
                     limit: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
    pattern = "%" + re.sub(r"([%_\\])", r"\\\1", q.lower()) + "%"
    rows = state.db.query("SELECT id, title, owner, updated_at FROM documents "
                          "WHERE lower(title) LIKE ? ESCAPE '\\' OR lower(content) LIKE ? "
                          "ESCAPE '\\' ORDER BY id DESC LIMIT ?", (pattern, pattern, limit))
    return {"items": rows, "query": q}


def create_document(doc: DocumentIn, request: Request, state: Target) -> dict[str, Any]:
    now = utcnow()
    owner = caller(request.scope) or "anonymous"
    rows = state.db.query("INSERT INTO documents (title, content, owner, created_at, "
                          "updated_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
                          (doc.title, doc.content, owner, now, now))
    state.metrics.documents_total.inc()
    return rows[0]


def read_document(doc_id: DocId, state: Target) -> dict[str, Any]:
    return get_doc(state.db, doc_id)


def update_document(doc_id: DocId, patch: DocumentPatch, state: Target) -> dict[str, Any]:
    doc = get_doc(state.db, doc_id)
    rows = state.db.query("UPDATE documents SET title = ?, content = ?, updated_at = ? "
                          "WHERE id = ? RETURNING *",
                          (patch.title if patch.title is not None else doc["title"],
                           patch.content if patch.content is not None else doc["content"],
                           utcnow(), doc_id))
    if not rows:
        raise HTTPException(404, f"document {doc_id} not found")
    return rows[0]


def delete_document(doc_id: DocId, state: Target) -> Response:
    db, metrics = state.db, state.metrics
    get_doc(db, doc_id)
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
