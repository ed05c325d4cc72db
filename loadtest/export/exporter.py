"""The export of one run: the figures updated by the load loop about once a second (the Ticker's
hook: the new sample and task rows, Locust's history row, the load processes' CPU, the
objectives' live states), served for the local Prometheus to scrape (pull) and queued for a
remote-write receiver (push); at the end the verdict and exit code are added, the last points
sent (a few seconds at most), the run's annotation posted to Grafana (--grafana-url), and what
became of them recorded in results.json's `export`. Nothing here can change the verdict: a
receiver that is down or refuses is a warning."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from loadtest import tls
from loadtest.export.annotation import post_annotation
from loadtest.export.endpoint import MetricsEndpoint
from loadtest.export.figures import ClientFigures
from loadtest.export.remote_write import RemoteWriter
from loadtest.reports.grafana import render_annotation
from loadtest.store.records import ExportRecord, ResultsRecord
from loadtest.store.samples import NewRows

FINAL_SEND_S = 5.0  # the longest the end of a run waits for the receiver


def remote_auth() -> tuple[dict[str, str] | None, tuple[str, str] | None]:
    """The receiver's credentials, from the environment only (never an option, never in
    output): LOADTEST_REMOTE_WRITE_TOKEN (a bearer token), or LOADTEST_REMOTE_WRITE_USER and
    LOADTEST_REMOTE_WRITE_PASSWORD (basic auth), as for --prometheus."""
    token = os.environ.get("LOADTEST_REMOTE_WRITE_TOKEN")
    user = os.environ.get("LOADTEST_REMOTE_WRITE_USER")
    password = os.environ.get("LOADTEST_REMOTE_WRITE_PASSWORD", "")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return headers, ((user, password) if user else None)


class Exporter:
    def __init__(self, run_id: str, scenario: str, locust_dir: Path,
                 thresholds_s: list[float] | None = None,
                 remote_write: str | None = None, final_send_s: float = FINAL_SEND_S,
                 grafana_url: str | None = None, insecure: bool = False) -> None:
        """`insecure`: --insecure-remote-write (see loadtest/tls.py)."""
        self.insecure = insecure
        self.figures = ClientFigures(run_id, scenario, thresholds_s or [])
        self._samples = NewRows(locust_dir)
        self._tasks = NewRows(locust_dir, "tasks-*.csv")
        self.final_send_s = final_send_s
        self.grafana_url = grafana_url
        self.endpoint: MetricsEndpoint | None = None
        self.writer: RemoteWriter | None = None
        if remote_write:
            headers, auth = remote_auth()
            self.writer = RemoteWriter(remote_write, headers, auth,
                                       tls.httpx_verify("remote_write", insecure)).start()
        self.ticks = 0
        self.cpu_s = 0.0  # the harness's own CPU spent on the export (its cost)
        self.rows = 0
        self.errors: list[str] = []  # of the export itself (its figures then stand still)

    def serve(self) -> str:
        """Start /metrics on a free loopback port; its host:port (for a scrape job)."""
        if self.endpoint is None:
            self.endpoint = MetricsEndpoint(self.figures)
        return self.endpoint.hostport

    # -- the Ticker's hook -----------------------------------------------------------------
    def tick(self, ticker: Any, now: float, row: dict[str, str] | None = None) -> None:
        """Once a second, from the load loop (load/live.py Ticker): its CpuMonitor, its
        ObjectiveMonitor and its plan's offered rate."""
        spent = time.thread_time()
        try:
            self._read()
            cpu, monitor = getattr(ticker, "cpu", None), getattr(ticker, "monitor", None)
            pct = cpu.current_pct() if cpu is not None else None
            self.figures.set_load(offered_rate(ticker, now), _num((row or {}).get("User Count")),
                                  cpu_seconds(cpu), None if pct is None else pct / 100.0)
            if monitor is not None:
                self.figures.set_objectives(monitor.states())
            self._push(now)
        except Exception as e:  # noqa: BLE001 - the export never stops the load
            self._error(f"{type(e).__name__}: {e}")
        self.ticks += 1
        self.cpu_s += time.thread_time() - spent

    def _error(self, message: str) -> None:
        if len(self.errors) < 5 and message not in self.errors:
            self.errors.append(message)

    def _read(self) -> None:
        self.rows += self.figures.add_samples(self._samples())
        self.figures.add_tasks(self._tasks())

    def _push(self, now: float) -> None:
        if self.writer is not None:
            self.writer.put(self.figures.points(int(now * 1000)))

    # -- the end -------------------------------------------------------------------------
    def finish(self, results: ResultsRecord) -> None:
        """The rows written since the last tick, the verdict and exit code; the last points
        sent; results' `export` and, when samples were not delivered, a warning."""
        try:
            self._read()
        except Exception as e:  # noqa: BLE001 - the export never changes the run's end
            self._error(f"{type(e).__name__}: {e}")
        verdict = results.get("verdict")
        self.figures.set_end(str(verdict.get("status", "unknown")) if verdict else "unknown",
                             verdict.get("exit_code") if verdict else None)
        self._push(time.time())
        record = ExportRecord(
            series=len(self.figures.points(0)), ticks=self.ticks, rows=self.rows,
            cpu_ms_per_tick=round(1000 * self.cpu_s / self.ticks, 2) if self.ticks else None,
            pull=None if self.endpoint is None else {"url": self.endpoint.url},
            remote_write=None, errors=self.errors)
        if self.writer is not None:
            delivery = self.writer.close(self.final_send_s)
            self.writer = None
            record["remote_write"] = delivery.record()
            if delivery.undelivered or delivery.delivered == 0:
                why = f" ({delivery.errors[-1]})" if delivery.errors else ""
                results.setdefault("warnings", []).append(
                    f"remote write to {delivery.url}: {delivery.undelivered} of "
                    f"{delivery.undelivered + delivery.delivered} samples not delivered{why}; "
                    "the verdict and the run's files do not depend on it")
            if tls.describe("remote_write", delivery.url, self.insecure) == tls.SKIPPED:
                results.setdefault("warnings", []).append(
                    "TLS certificate verification of the remote-write receiver was skipped "
                    "(--insecure-remote-write): its identity was not checked")
        annotation = render_annotation(results) if self.grafana_url else None
        if self.grafana_url and annotation is not None:
            record["grafana"] = posted = post_annotation(self.grafana_url, annotation)
            if "error" in posted:
                results.setdefault("warnings", []).append(
                    f"the Grafana annotation was not posted to {posted.get('url')} "
                    f"({posted.get('error')}); it is in grafana-annotation.json")
        results["export"] = record

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
        if self.writer is not None:
            self.writer.close(0.0)


def offered_rate(ticker: Any, now: float) -> float | None:
    """Task starts/s the plan offers at `now` (None: the closed model offers none)."""
    requested, profile = getattr(ticker, "requested", None), getattr(ticker, "profile", None)
    if requested is not None and profile is not None:
        return float(profile.rate_at(now - ticker.started))
    return requested


def cpu_seconds(cpu: Any) -> float | None:
    """The load processes' CPU seconds so far (a CpuMonitor's last reading of each)."""
    samples = getattr(cpu, "samples", None)
    if not samples:
        return None
    return sum(series[-1][1] for series in list(samples.values()) if series)


def _num(value: str | None) -> float | None:
    try:
        f = float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None
    return f if f is not None and math.isfinite(f) else None
