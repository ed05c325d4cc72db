"""`loadtest target`: serve the reference OpsCore API (faults also change at run time: PUT
/admin/faults)."""

from __future__ import annotations

from pathlib import Path

from loadtest.options import check_target
from loadtest.target import server
from loadtest.target.server import TargetOptions


def serve_target(*, port: int, host: str, database: str | None, storage_dir: Path | None,
                 seed_documents: int, latency: str | None, error_ratio: float,
                 db_latency: str | None, max_concurrency: int, cpu: str | None,
                 db_pool_size: int, fault_endpoint: list[str], tls_cert: Path | None,
                 tls_key: Path | None, metrics_port: int | None, ready: bool,
                 http_buckets: str, db_buckets: str) -> None:
    """The options checked, then the target served until it is stopped."""
    check_target(port=port, host=host, metrics_port=metrics_port,
                 seed_documents=seed_documents, error_ratio=error_ratio,
                 max_concurrency=max_concurrency, db_pool_size=db_pool_size,
                 database=database, latencies={"--latency": latency,
                                               "--db-latency": db_latency, "--cpu": cpu},
                 buckets=(http_buckets, db_buckets), tls=(tls_cert, tls_key))
    server.serve(TargetOptions(host=host, port=port, database=database, storage_dir=storage_dir,
                        seed_documents=seed_documents,
                        fault={"latency": latency, "error_ratio": error_ratio,
                               "db_latency": db_latency,
                               "max_concurrency": max_concurrency, "cpu": cpu,
                               "endpoints": fault_endpoint},
                        db_pool_size=db_pool_size,
                        tls_cert=tls_cert, tls_key=tls_key,
                        http_buckets=http_buckets, db_buckets=db_buckets,
                        metrics_port=metrics_port, ready=ready))
