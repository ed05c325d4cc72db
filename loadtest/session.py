"""The lifecycle every load-running command shares (run, capacity, the Locust plugin): a new
run directory, the `running` record replaced at each phase, signals as `Interrupted` so
clean-up runs, no empty run directory after a preflight error, and at the end (`publish`,
the one ending all three use) the raw samples' digests, the results written, the reports
rendered, the window as a Grafana annotation, `latest` pointed at the run and the history
appended."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.errors import HarnessError, Interrupted, UsageError
from loadtest.reports import render_all  # jinja2 and matplotlib: deferred to the end
from loadtest.reports.grafana import ANNOTATION, render_annotation
from loadtest.store.baselines import append_history
from loadtest.store.digests import sample_digests
from loadtest.store.records import ResultsRecord, RunMeta
from loadtest.store.results import running_results, write_results, write_text_atomic


@dataclass
class Outcome:
    run_dir: Path
    results: ResultsRecord

    @property
    def exit_code(self) -> int:
        return int(self.results["verdict"]["exit_code"])

    @property
    def summary_line(self) -> str:
        v = self.results["verdict"]
        return f"{v['status'].upper()}: {v['reason']} -> {self.run_dir / 'index.html'}"


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise Interrupted in the main thread, so cleanup runs."""
    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    try:
        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread (e.g. called from a test thread)
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def new_run_dir(out: Path) -> tuple[str, Path]:
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    run_dir = out / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        probe = run_dir / ".writable"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write a run directory there ({e.strerror}); "
                         "pass a writable --out") from None
    return run_id, run_dir


def point_latest(out: Path, run_id: str) -> None:
    link = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_id, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def no_empty_run_dir(run_dir: Path, measured: Callable[[], bool]) -> Iterator[None]:
    """A preflight error (nothing measured) leaves no empty run directory behind; one that
    holds files (the target's or Prometheus' logs) is kept, and the message says where. A
    usage error (exit 2: nothing was run) leaves nothing at all; an unexpected error at
    least no `running` record of a run that never ran."""
    try:
        yield
    except HarnessError as e:
        if measured():
            raise
        (run_dir / "results.json").unlink(missing_ok=True)  # the `running` record of nothing
        if isinstance(e, UsageError) or not any(p.is_file() for p in run_dir.rglob("*")):
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        raise type(e)(f"{e.message} (logs in {run_dir})") from None
    except Exception:
        if not measured():
            (run_dir / "results.json").unlink(missing_ok=True)
            if not any(p.is_file() for p in run_dir.rglob("*")):
                shutil.rmtree(run_dir, ignore_errors=True)
        raise


def record_phase(run_dir: Path, meta: RunMeta, phase: str) -> None:
    """The `running` results.json of a run in progress (replaced at each phase, and by the
    results at the end): a killed run leaves it behind for `loadtest verify`."""
    write_results(run_dir, running_results(meta, phase))


def publish(results: ResultsRecord, run_dir: Path, out: Path, run_id: str) -> None:
    """The end of a run, a capacity search or a plugin run: the raw samples' digests (checked
    by `loadtest verify`), results.json written, the reports rendered, the window as a Grafana
    annotation, `latest` pointed at the run, the run appended to the history."""
    results["inputs"] = {**(results.get("inputs") or {}), "samples": sample_digests(run_dir)}
    write_results(run_dir, results)
    render_all(results, run_dir)
    annotation = render_annotation(results)
    if annotation is not None:
        write_text_atomic(run_dir / ANNOTATION, json.dumps(annotation, indent=2) + "\n")
    point_latest(out, run_id)
    append_history(results, out)
