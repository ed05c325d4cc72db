"""Execution records of a document: list, create."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from loadtest.target.routes.common import API, DocId, Target, caller
from loadtest.target.routes.documents import get_doc
from loadtest.target.state import utcnow


def add_routes(app: FastAPI) -> None:
    tags: list[str | Enum] = ["execution records"]
    app.get(f"{API}/documents/{{id}}/execution-records", tags=tags)(list_records)
    app.post(f"{API}/documents/{{id}}/execution-records", status_code=201,
             tags=tags)(create_record)


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern="^(started|succeeded|failed|skipped)$")
    note: str = Field(default="", max_length=10_000)


def list_records(doc_id: DocId, state: Target,
                 limit: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
    get_doc(state.db, doc_id)
    rows = state.db.query("SELECT * FROM execution_records WHERE document_id = ? "
                          "ORDER BY id DESC LIMIT ?", (doc_id, limit))
    return {"items": rows}


def create_record(doc_id: DocId, record: RecordIn, request: Request,
                  state: Target) -> dict[str, Any]:
    get_doc(state.db, doc_id)
    rows = state.db.query("INSERT INTO execution_records (document_id, status, note, actor, "
                          "created_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
                          (doc_id, record.status, record.note,
                           caller(request.scope) or "anonymous", utcnow()))
    state.metrics.execution_records_total.inc()
    return rows[0]
