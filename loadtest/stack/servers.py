"""The stack of a run: the reference target and a throwaway local Prometheus, each a child
process on a free loopback port, and the preflight checks of a target."""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import NotRequired, TypedDict
from urllib.parse import urlsplit

import httpx
import yaml

from loadtest import httpread, tls
from loadtest.errors import PrometheusUnavailable, TargetUnreachable, UsageError
from loadtest.stack.processes import Child, free_port

LOCAL_SCRAPE_INTERVAL_S = 1.0
PROBE_MAX_BYTES = 1024 * 1024  # /health, /ready


def wait_http_ok(url: str, timeout_s: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise TargetUnreachable(f"{child.name} exited with code {child.proc.returncode} "
                                    f"before {url} answered: {child.log_tail()}")
        try:
            r = httpread.get(url, deadline_s=2.0, max_bytes=PROBE_MAX_BYTES)  # own children
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except (httpx.HTTPError, httpread.BodyRefused) as e:
            last = type(e).__name__
        time.sleep(0.1)
    raise TargetUnreachable(f"{url} did not answer 200 within {timeout_s:.0f} s ({last})")


class ReferenceTarget:
    """`loadtest target` as a child process."""

    def __init__(self, workdir: Path, database: str | None = None,
                 faults: dict[str, object] | None = None,
                 buckets: tuple[str, str] = ("default", "default")) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = database or f"sqlite:///{workdir / 'opscore.db'}"
        argv = [sys.executable, "-m", "loadtest", "target", "--port", str(self.port),
                "--database", self.database, "--storage-dir", str(workdir / "attachments"),
                "--http-buckets", buckets[0], "--db-buckets", buckets[1]]
        for key, value in (faults or {}).items():
            if key == "endpoints":
                for ep in value:  # type: ignore[attr-defined]
                    argv += ["--fault-endpoint", str(ep)]
            elif value:
                argv += [f"--{key.replace('_', '-')}", str(value)]
        # killed outright if the harness dies: it holds nothing the verdict needs
        self.child = Child("reference target", argv, workdir / "target.log",
                           death_signal=signal.SIGKILL)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        wait_http_ok(f"{self.url}/ready", timeout_s, self.child)

    def stop(self) -> None:
        self.child.stop()


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class ScrapeConfig(TypedDict, total=False):
    job_name: str
    scheme: str
    metrics_path: str
    honor_labels: bool
    static_configs: list[dict[str, list[str]]]


PromConfig = TypedDict("PromConfig", {  # "global": a keyword, so the functional form
    "global": dict[str, str], "rule_files": NotRequired[list[str]],
    "scrape_configs": NotRequired[list[ScrapeConfig]]})


def prometheus_config(job: str, target_hostport: str, scheme: str = "http",
                      interval_s: float = LOCAL_SCRAPE_INTERVAL_S,
                      rule_files: list[str] | None = None, self_hostport: str | None = None,
                      metrics_path: str = "/metrics",
                      harness_hostport: str | None = None) -> str:
    """The throwaway Prometheus' config, built as data and written by yaml.safe_dump (a job,
    path or rule file name holding a quote or a colon stays one value). `harness_hostport`:
    the harness's own /metrics (loadtest/export), scraped as job `loadtest`."""
    iv = f"{int(interval_s * 1000)}ms"
    config = PromConfig({
        "global": {"scrape_interval": iv, "evaluation_interval": iv, "scrape_timeout": iv}})
    if rule_files:
        config["rule_files"] = [str(f) for f in rule_files]
    scrape = [ScrapeConfig(job_name=job, scheme=scheme, metrics_path=metrics_path,
                           static_configs=[{"targets": [target_hostport]}])]
    if self_hostport:
        scrape.append(ScrapeConfig(job_name="prometheus",
                                   static_configs=[{"targets": [self_hostport]}]))
    if harness_hostport:
        scrape.append(ScrapeConfig(job_name="loadtest", honor_labels=True,
                                   static_configs=[{"targets": [harness_hostport]}]))
    config["scrape_configs"] = scrape
    return ("# written by loadtest: a throwaway Prometheus scraping the target under test\n"
            + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


class LocalPrometheus:
    """Debian's `prometheus`, on a free loopback port, temp storage, 1 s scrapes (unless
    told otherwise). It scrapes `{target_url}/metrics`, or `metrics_url` when given, and the
    harness's own figures at `harness_hostport` when given."""

    def __init__(self, workdir: Path, job: str, target_url: str,
                 rule_files: list[Path] | None = None, metrics_url: str | None = None,
                 interval_s: float = LOCAL_SCRAPE_INTERVAL_S,
                 harness_hostport: str | None = None) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise PrometheusUnavailable("`prometheus` is not on PATH (apt-get install -y "
                                        "prometheus, or pass --prometheus URL)")
        parts = urlsplit(metrics_url or f"{target_url.rstrip('/')}/metrics")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.interval_s = interval_s
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        rules = []
        for i, rule_file in enumerate(rule_files or []):
            try:
                text = rule_file.read_text(encoding="utf-8")
            except OSError as e:
                raise UsageError(f"--rules {rule_file}: cannot read it ({e.strerror})") \
                    from None
            copy = workdir / f"rules-{i}-{rule_file.name}"
            copy.write_text(text, encoding="utf-8")
            rules.append(copy.name)
        config.write_text(prometheus_config(job, parts.netloc, parts.scheme or "http",
                                            interval_s=interval_s, rule_files=rules,
                                            self_hostport=f"127.0.0.1:{self.port}",
                                            metrics_path=parts.path or "/metrics",
                                            harness_hostport=harness_hostport),
                          encoding="utf-8")
        self.data_dir = workdir / "tsdb"
        argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h", "--log.level=warn"]
        self.child = Child("prometheus", argv, workdir / "prometheus.log")

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        try:
            wait_http_ok(f"{self.url}/-/ready", timeout_s, self.child)
        except TargetUnreachable as e:
            raise PrometheusUnavailable(f"local Prometheus: {e.message}") from None

    def stop(self) -> None:
        self.child.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


DEFAULT_PROBES = ("/health", "/ready")


def preflight_target(url: str, probes: tuple[str, ...] = DEFAULT_PROBES,
                     timeout_s: float = 5.0, insecure: bool = False) -> dict[str, object]:
    """GET each probe path (the guide's /health and /ready unless told otherwise); each must
    answer 2xx. A degraded or silent target stops the run before any load. Returns the body
    of a probe in the guide's /health JSON shape (`status`, `checks`), else {}."""
    base = url.rstrip("/")
    verify = tls.httpx_verify("target", insecure)  # insecure: --insecure-target
    health: dict[str, object] = {}
    if not probes:  # --probe none: still, something must listen there
        _connect(base, timeout_s)
    for path in probes:
        try:
            answer = httpread.get(f"{base}{path}", deadline_s=timeout_s, verify=verify,
                                  max_bytes=PROBE_MAX_BYTES)
        except httpx.HTTPError as e:
            hint = ("; trust its CA with LOADTEST_TARGET_CA_FILE=PEM, or skip the check with "
                    "--insecure-target" if "CERTIFICATE_VERIFY_FAILED" in str(e) else
                    "; start it or pass the right --target")
            raise TargetUnreachable(f"target {base} is unreachable ({type(e).__name__}: "
                                    f"{str(e)[:200]}){hint}") from None
        except httpread.BodyRefused as e:
            raise TargetUnreachable(f"target {e}: a probe must answer a small body "
                                    "promptly") from None
        body = _guide_health(answer)
        if not 200 <= answer.status_code < 300:
            checks = body.get("checks")
            failing = ", ".join(f"{k}: {v.get('status')}" for k, v in
                                (checks.items() if isinstance(checks, dict) else ())
                                if isinstance(v, dict))
            detail = f" {body.get('status', '')} ({failing or 'no checks'})" if body else ""
            hint = ("; pass the service's own probe paths with --probe PATH, or --probe none"
                    if answer.status_code in (404, 405) else "")
            raise TargetUnreachable(f"target {base}{path} answered {answer.status_code}"
                                    f"{detail}{hint}")
        if body and not health:
            health = body
    return health


def _connect(base: str, timeout_s: float) -> None:
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s).close()
    except OSError as e:
        raise TargetUnreachable(f"target {base} is unreachable ({type(e).__name__}: "
                                f"{e.strerror or e}); start it or pass the right --target") \
            from None


def _guide_health(answer: httpread.Answer) -> dict[str, object]:
    """The body when it is the guide's /health JSON (`status` and maybe `checks`), else {}."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    if not isinstance(body, dict) or "status" not in body:
        return {}
    if not isinstance(body.get("checks", {}), dict):
        body = {**body, "checks": {}}
    return body
