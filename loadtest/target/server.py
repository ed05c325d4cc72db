"""Serve the reference target under uvicorn (the body of `loadtest target`)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from prometheus_client import start_http_server

from loadtest.errors import UsageError
from loadtest.stack.processes import guard_orphan
from loadtest.target.app import create_app
from loadtest.target.faults import FaultRule, Faults, FaultSpecError
from loadtest.target.metrics import build_metrics
from loadtest.target.state import init_state


@dataclass
class TargetOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str | None = None
    storage_dir: Path | None = None
    seed_documents: int = 200
    fault: dict[str, object] = field(default_factory=dict)
    tls_cert: Path | None = None  # PEM; with tls_key the target serves https
    tls_key: Path | None = None
    http_buckets: str = "default"  # default (the Go client's), kpi, or a list of seconds
    db_buckets: str = "default"
    metrics_port: int | None = None  # serve /metrics there (plain http), not on `port`
    ready: bool = True  # False: no /ready route (a service with /health only)
    db_pool_size: int = 10  # PostgreSQL: at most this many connections


def build_faults(fault: dict[str, object]) -> Faults:
    rules = []
    if any(v not in (None, (), [], 0, 0.0, False) for v in fault.values()):
        try:
            rules.append(FaultRule.from_dict({k: v for k, v in fault.items() if v}))
        except FaultSpecError as e:
            raise UsageError(f"fault option: {e}") from None
    return Faults(rules)


@contextlib.contextmanager
def _scratch(needed: bool) -> Iterator[Path | None]:
    """A temporary folder for the database and attachments when none were given, removed
    when the target stops (also when it fails to start)."""
    if not needed:
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="opscore-target-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def serve(opts: TargetOptions) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down: as SystemExit here, so
    # the temporary folder is removed (the default action would end the process at once)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with _scratch(opts.database is None or opts.storage_dir is None) as workdir:
        _serve(opts, workdir)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(opts: TargetOptions, workdir: Path | None) -> None:
    database, storage = opts.database, opts.storage_dir
    if database is None or storage is None:
        assert workdir is not None  # _scratch made one
        database = database or f"sqlite:///{workdir / 'opscore.db'}"
        storage = storage or workdir / "attachments"
    faults = build_faults(opts.fault)
    if opts.db_pool_size < 1:
        raise UsageError(f"--db-pool-size {opts.db_pool_size}: use 1 or more connections")
    metrics = build_metrics(opts.http_buckets, opts.db_buckets)
    try:
        state = init_state(database, storage, faults, opts.seed_documents, metrics,
                           db_pool_size=opts.db_pool_size)
    except ValueError as e:
        raise UsageError(f"--database: {e}") from None
    except Exception as e:  # a database that cannot be opened at start: nothing to serve
        raise UsageError(f"--database {database!r}: cannot open it: {e}") from None
    if (opts.tls_cert is None) != (opts.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together (PEM certificate and key)")
    for path in (opts.tls_cert, opts.tls_key):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file (a PEM certificate or key)")
    without = (() if opts.ready else ("/ready",)) + \
        (("/metrics",) if opts.metrics_port else ())
    app = create_app(state, without=without)
    if opts.metrics_port:
        try:
            start_http_server(opts.metrics_port, addr=opts.host,
                              registry=state.metrics.registry)
        except OSError as e:
            raise UsageError(f"--metrics-port {opts.metrics_port}: cannot listen there "
                             f"({e.strerror})") from None
    guard_orphan()  # started by a harness: end with it (where prctl is not available)
    config = uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning",
                            access_log=False, lifespan="off",
                            # idle keep-alive connections stay open like a Go server's
                            # (a 5 s default races with users that pause between requests)
                            timeout_keep_alive=75,
                            ssl_certfile=str(opts.tls_cert) if opts.tls_cert else None,
                            ssl_keyfile=str(opts.tls_key) if opts.tls_key else None)
    try:
        uvicorn.Server(config).run()
    finally:
        state.db.close()
