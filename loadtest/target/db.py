"""The reference target's stores: SQLite (default, a file) and PostgreSQL (by URL), behind one
small interface. SQL is written once with `?` placeholders; PostgreSQL gets `%s`.

Every query is timed into `db_query_duration_seconds`; the per-request fault decision (slow or
failing DB) is read from a context variable that the HTTP middleware sets.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from loadtest.target.faults import Decision, Faults
from loadtest.target.metrics import TargetMetrics

current_decision: contextvars.ContextVar[Decision | None] = contextvars.ContextVar(
    "current_decision", default=None)

Row = dict[str, Any]

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS documents (
        id {pk}, title TEXT NOT NULL, content TEXT NOT NULL, owner TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS documents_updated_at ON documents (updated_at, id)",
    """CREATE TABLE IF NOT EXISTS execution_records (
        id {pk}, document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        status TEXT NOT NULL, note TEXT NOT NULL, actor TEXT NOT NULL, created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS execution_records_document ON execution_records (document_id, id)",
    """CREATE TABLE IF NOT EXISTS attachments (
        id {pk}, document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        filename TEXT NOT NULL, size_bytes BIGINT NOT NULL, path TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS attachments_document ON attachments (document_id, id)",
]


class DatabaseUnavailable(Exception):
    """The database cannot serve (outage or injected `db_down`)."""


class IntegrityViolation(Exception):
    """A constraint failed (e.g. the parent document was deleted by a concurrent request)."""


class Database:
    kind = "abstract"

    def __init__(self, metrics: TargetMetrics, faults: Faults) -> None:
        self.metrics = metrics
        self.faults = faults
        self._open = 0
        self._active = 0
        self._count_lock = threading.Lock()

    # -- the interface -------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; return its rows (empty for statements without RETURNING)."""
        decision = current_decision.get()
        # a pooled database counts a connection in use (and holds it through an injected
        # slow query) only once the pool gave one (_run); the others count the whole query
        with contextlib.nullcontext() if self.pooled else self._in_use():
            started = time.perf_counter()
            try:
                if decision is not None:
                    if decision.db_down:
                        raise DatabaseUnavailable("database is down (injected fault)")
                    if decision.db_delay and not self.pooled:
                        time.sleep(self.faults.sample_db_delay(decision.db_delay))
                return self._run(sql, params)
            finally:
                self.metrics.db_query_duration.observe(time.perf_counter() - started)

    def ping(self) -> float:
        """Round trip of a trivial query in ms; raises DatabaseUnavailable."""
        started = time.perf_counter()
        self.query("SELECT 1")
        return (time.perf_counter() - started) * 1000.0

    def create_schema(self) -> None:
        for stmt in SCHEMA:
            self._run(stmt.format(pk=self.pk_type), ())

    def close(self) -> None:
        pass

    # -- for subclasses -------------------------------------------------------------------
    pk_type = "INTEGER PRIMARY KEY"
    pooled = False

    def _injected_delay(self) -> None:
        decision = current_decision.get()
        if decision is not None and decision.db_delay:
            time.sleep(self.faults.sample_db_delay(decision.db_delay))

    def _run(self, sql: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        with self._count_lock:
            self._active += 1
            self.metrics.db_connections_active.set(self._active)
        try:
            yield
        finally:
            with self._count_lock:
                self._active -= 1
                self.metrics.db_connections_active.set(self._active)

    def _opened(self, delta: int) -> None:
        with self._count_lock:
            self._open += delta
            self.metrics.db_connections_total.set(self._open)


class SqliteDatabase(Database):
    kind = "sqlite"
    pk_type = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str, metrics: TargetMetrics, faults: Faults) -> None:
        super().__init__(metrics, faults)
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False,
                                       isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as e:
                raise DatabaseUnavailable(f"sqlite {self.path}: {e}") from e
            self._local.conn = conn
            self._all.append(conn)
            self._opened(1)
        return conn

    def _run(self, sql: str, params: Sequence[Any]) -> list[Row]:
        try:
            cur = self._conn().execute(sql, tuple(params))
            if cur.description is None:
                return []
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        except sqlite3.OperationalError as e:
            raise DatabaseUnavailable(f"sqlite: {e}") from e
        except sqlite3.IntegrityError as e:
            raise IntegrityViolation(str(e)) from e

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._opened(-len(self._all))
        self._all.clear()


class PostgresDatabase(Database):
    kind = "postgresql"
    pk_type = "BIGSERIAL PRIMARY KEY"
    pooled = True

    def __init__(self, url: str, metrics: TargetMetrics, faults: Faults,
                 pool_size: int = 10) -> None:
        super().__init__(metrics, faults)
        self.url = url
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        metrics.db_connections_max.set(pool_size)

    def _connect(self) -> Any:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"postgresql: {str(e).splitlines()[0]}") from e
        self._opened(1)
        return conn

    def _run(self, sql: str, params: Sequence[Any]) -> list[Row]:
        if not self._slots.acquire(timeout=10.0):
            raise DatabaseUnavailable("postgresql: no free connection in the pool within 10 s")
        try:
            with self._in_use():
                self._injected_delay()  # a slow query holds its connection
                return self._run_held(sql, params)
        finally:
            self._slots.release()

    def _run_held(self, sql: str, params: Sequence[Any]) -> list[Row]:
        conn = None
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            with conn.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), tuple(params))
                rows = []
                if cur.description is not None:
                    cols = [d.name for d in cur.description]
                    rows = [dict(zip(cols, row)) for row in cur.fetchall()]
            self._pool.put(conn)
            return rows
        except psycopg.IntegrityError as e:
            self._pool.put(conn)
            raise IntegrityViolation(str(e).splitlines()[0]) from e
        except psycopg.OperationalError as e:
            if conn is not None:
                conn.close()
                self._opened(-1)
            raise DatabaseUnavailable(f"postgresql: {str(e).splitlines()[0]}") from e
        except BaseException:
            if conn is not None:
                self._pool.put(conn)
            raise

    def close(self) -> None:
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                break
            conn.close()
            self._opened(-1)


def open_database(url: str, metrics: TargetMetrics, faults: Faults,
                  pool_size: int = 10) -> Database:
    """`sqlite:///path/file.db`, a plain path, or `postgresql://user@host:port/db` (with a
    pool of at most `pool_size` connections)."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url, metrics, faults, pool_size=pool_size)
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url[len("sqlite:///"):], metrics, faults)
    if "://" in url:
        raise ValueError(
            f"database URL {url!r} is not supported (use sqlite:///PATH or postgresql://...)")
    return SqliteDatabase(url, metrics, faults)
