"""Attachments of a document: upload (at most MAX_ATTACHMENT_BYTES), list."""

from __future__ import annotations

import re
import time
from enum import Enum
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from loadtest.target.routes.common import API, DocId, Target
from loadtest.target.routes.documents import get_doc
from loadtest.target.state import TargetState, utcnow

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def add_routes(app: FastAPI) -> None:
    tags: list[str | Enum] = ["attachments"]
    app.post(f"{API}/documents/{{id}}/attachments", status_code=201,
             tags=tags)(upload_attachment)
    app.get(f"{API}/documents/{{id}}/attachments", tags=tags)(list_attachments)


async def upload_attachment(doc_id: DocId, request: Request, state: Target,
                            filename: str = Query("attachment.bin", min_length=1,
                                                  max_length=200)) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_ATTACHMENT_BYTES:
            raise HTTPException(413, f"attachment larger than {MAX_ATTACHMENT_BYTES} bytes")
    await run_in_threadpool(get_doc, state.db, doc_id)
    return await run_in_threadpool(_store, state, doc_id, filename, bytes(body))


def _store(state: TargetState, doc_id: int, filename: str, body: bytes) -> dict[str, Any]:
    """The file in the storage folder, then its row (the file goes again if the row fails)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100]
    folder = state.storage_dir / str(doc_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns()}-{safe}"
    path.write_bytes(body)
    try:
        rows = state.db.query("INSERT INTO attachments (document_id, filename, size_bytes, "
                              "path, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id, "
                              "document_id, filename, size_bytes, created_at",
                              (doc_id, filename, len(body), str(path), utcnow()))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    state.metrics.storage_usage_bytes.inc(len(body))
    return rows[0]


def list_attachments(doc_id: DocId, state: Target) -> dict[str, Any]:
    get_doc(state.db, doc_id)
    rows = state.db.query("SELECT id, document_id, filename, size_bytes, created_at "
                          "FROM attachments WHERE document_id = ? ORDER BY id DESC LIMIT 100",
                          (doc_id,))
    return {"items": rows}
