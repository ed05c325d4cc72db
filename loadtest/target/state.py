"""What every route of the reference target shares: the database, the metrics, the faults and
the attachments folder, opened once by `init_state` and held on the app (`app.state.target`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtest.target.db import Database, open_database
from loadtest.target.faults import Faults
from loadtest.target.metrics import TargetMetrics


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TargetState:
    db: Database
    metrics: TargetMetrics
    faults: Faults
    storage_dir: Path


def init_state(database_url: str, storage_dir: Path, faults: Faults,
               seed_documents: int = 0, metrics: TargetMetrics | None = None,
               db_pool_size: int = 10) -> TargetState:
    """Open the database, create the schema, seed, and load the business gauges."""
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
