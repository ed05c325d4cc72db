"""Shared fixtures (only fixtures: what they are built from is in tests/support/): real local
servers on 127.0.0.1 with free ports.

In CI (CI=true) a test that needs Prometheus or PostgreSQL fails when they are missing;
locally it skips with the command that installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.stack.processes import free_port
from tests.support import (
    PostgresServer,
    RunningTarget,
    ScrapedTarget,
    postgres_bindir,
    require,
    scraped,
    start_target,
)


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    path = shutil.which("prometheus")
    require("Prometheus", path is not None, "apt-get install -y prometheus")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (certificate, key), made by openssl."""
    openssl = shutil.which("openssl")
    require("openssl", openssl is not None, "apt-get install -y openssl")
    assert openssl is not None
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="session")
def _scraped(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ScrapedTarget]:
    with scraped(tmp_path_factory.mktemp("scraped")) as s:
        yield s


@pytest.fixture
def scraped_target(_scraped: ScrapedTarget) -> Iterator[ScrapedTarget]:
    """Shared by the tests that judge their own traffic's window from Prometheus (a fresh
    Prometheus scrapes ~5 s after start: paid once); faults cleared before and after."""
    _scraped.target.set_faults([])
    yield _scraped
    _scraped.target.set_faults([])


@pytest.fixture
def sqlite_target(tmp_path: Path) -> Iterator[RunningTarget]:
    t = start_target(tmp_path)
    yield t
    t.child.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    bindir = postgres_bindir()
    require("PostgreSQL server", bindir is not None, "apt-get install -y postgresql")
    assert bindir is not None
    # not under pytest's tmp dir: its parents are 0700 root, closed to the postgres user
    base = Path(tempfile.mkdtemp(prefix="loadtest-pg-"))
    datadir = base / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(datadir, "postgres")
        os.chmod(base, 0o755)
    subprocess.run([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True,
                   **({"user": "postgres"} if os.geteuid() == 0 else {}))  # type: ignore[call-overload]
    server = PostgresServer(bindir, datadir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
