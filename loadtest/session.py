"""One judged run from start to end, for every command that loads or judges (run, capacity,
the Locust plugin): the session decides the order, a command supplies its steps.

    steps.prepare        the command's checks and inputs, before anything exists
    Session.open         a new run directory, the `running` record (phase "started")
    steps.begin          the command's own start (run: its exporter)
    stack up             open_stack (each child stopped at the end), its description recorded
    steps.ready          the command's preflight; the `running` record (phase "stack")
    steps.load           the load (run: one phase, capacity: the search); signals as
                         `Interrupted`, then steps.interrupted; an error once something was
                         measured is steps.stopped, before that it propagates (and no empty
                         run directory stays)
    steps.results        the results, still inside the stack (the source may be needed)
    stack down
    steps.finish         the command's end (run: history, drift, the verdict exported)
    Session.publish      digests, results.json, reports, annotation, `latest`, history
    steps.end            whatever happened (run: the exporter closed)

`judged_run(steps, progress)` is that order, for run and capacity; the Locust plugin, whose
loop and signals are Locust's, calls the same Session.open / phase / publish from its events;
`loadtest judge` (no load) ends with the same `publish`. The exit code is the verdict's
(Outcome.exit_code)."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from loadtest.errors import HarnessError, Interrupted, UsageError
from loadtest.reports import charts, render_all
from loadtest.reports.grafana import ANNOTATION, render_annotation
from loadtest.slo import SloFile
from loadtest.stack.open import Stack, StackOptions, open_stack
from loadtest.store.baselines import append_history, point_latest
from loadtest.store.digests import sample_digests
from loadtest.store.records import ResultsRecord, RunMeta
from loadtest.store.results import running_results, write_results, write_text_atomic

Progress = Callable[[str], None]


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


def publish(results: ResultsRecord, run_dir: Path, out: Path, run_id: str,
            made_load: bool = True) -> None:
    """The end of a run, a capacity search, a plugin run or a judged window: the raw samples'
    digests (checked by `loadtest verify`), results.json written, the reports rendered, the
    window as a Grafana annotation, `latest` pointed at the run, the run appended to the
    history. A window the harness did not load (`made_load` false) has no samples and no line
    in the history (whose figures are of the harness's own loads)."""
    annotation = render_annotation(results)
    if made_load:
        results["inputs"] = {**(results.get("inputs") or {}), "samples": sample_digests(run_dir)}
    write_results(run_dir, results)
    render_all(results, run_dir)
    if annotation is not None:
        write_text_atomic(run_dir / ANNOTATION, json.dumps(annotation, indent=2) + "\n")
    point_latest(out, run_id)
    if made_load:
        append_history(results, out)


@dataclass
class Session:
    """One judged run's directory and its `run` record, from the `running` record written as
    it opens to the results published at its end."""
    out: Path
    run_id: str
    run_dir: Path
    meta: RunMeta

    @classmethod
    def open(cls, out: Path, meta: Callable[[str], RunMeta]) -> Session:
        """A new run directory under `out`; `meta(run_id)` is results.json's `run` as the run
        starts (recorded at once: phase "started")."""
        run_id, run_dir = new_run_dir(out)
        session = cls(out, run_id, run_dir, meta(run_id))
        session.phase("started")
        return session

    def phase(self, phase: str) -> None:
        """The `running` results.json, replaced at each phase and by the results at the end: a
        killed run leaves it behind for `loadtest verify`."""
        write_results(self.run_dir, running_results(self.meta, phase))

    def publish(self, results: ResultsRecord) -> Outcome:
        publish(results, self.run_dir, self.out, self.run_id)
        return Outcome(run_dir=self.run_dir, results=results)


class Steps(Protocol):
    """What a command brings to a session: its own steps (see the module's docstring for the
    order the session calls them in)."""
    @property
    def out(self) -> Path: ...
    @property
    def slo(self) -> SloFile: ...
    @property
    def stack_options(self) -> StackOptions: ...
    @property
    def window(self) -> tuple[str, float]:
        """(option, seconds) of a judged window, checked against the scrape interval."""

    def prepare(self) -> None:
        """The command's checks and inputs (SLO file, baseline), before anything exists."""
    def meta(self, run_id: str) -> RunMeta: ...
    def opening(self, session: Session) -> str: ...
    def begin(self, session: Session) -> None: ...
    def ready(self, session: Session, stack: Stack) -> None: ...
    def load(self, session: Session, stack: Stack, exits: contextlib.ExitStack) -> None: ...
    def measured(self) -> bool: ...
    def interrupted(self, stack: Stack | None) -> None: ...
    def stopped(self, error: HarnessError) -> None: ...
    def results(self, session: Session) -> ResultsRecord: ...
    def finish(self, session: Session, results: ResultsRecord) -> None: ...
    def end(self) -> None: ...


def judged_run(steps: Steps, progress: Progress) -> Outcome:
    """A judged run from its new run directory to its published results, the command's steps
    in the session's order."""
    steps.prepare()
    session = Session.open(steps.out, steps.meta)
    progress(steps.opening(session))
    steps.begin(session)
    try:
        with no_empty_run_dir(session.run_dir, steps.measured), \
                contextlib.ExitStack() as exits, signals_as_interrupt():
            stack: Stack | None = None
            try:
                stack = open_stack(steps.stack_options, steps.slo, session.run_dir, exits,
                                   progress, window=steps.window)
                session.meta.update(stack.meta)
                steps.ready(session, stack)
                session.phase("stack")
                charts.preload()  # for the report, while the load runs
                steps.load(session, stack, exits)
            except Interrupted:
                steps.interrupted(stack)
            except HarnessError as e:
                if not steps.measured():
                    raise  # nothing measured yet: a preflight error
                steps.stopped(e)
            results = steps.results(session)
        steps.finish(session, results)
        return session.publish(results)
    finally:
        steps.end()
