"""`loadtest verify`: judge a finished run again from its recorded window (another SLO file,
another Prometheus, or the run's saved embedded scrapes), into a verification directory of
its own; a run killed outright is judged over what it recorded before it died."""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from pathlib import Path

from loadtest import tls
from loadtest.errors import ConfigError, PrometheusUnavailable, UsageError
from loadtest.judge.verdict import decide
from loadtest.judgement import assemble
from loadtest.load.phase import PhaseState, iso
from loadtest.metrics.base import MetricsSource, SourceError, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.reports import render_all
from loadtest.session import Outcome
from loadtest.slo import SloFile, load_slo, parse_slo
from loadtest.stack.open import SNAPSHOTS, up_matchers
from loadtest.store.client_samples import read_chunks
from loadtest.store.digests import changed_samples, slo_record
from loadtest.store.records import (
    ResultsRecord,
    RunMeta,
    SloDigest,
    SourceInfo,
    VerdictRecord,
    VerificationRecord,
)
from loadtest.store.results import is_running, load_results, still_running, write_results


def reverify(run_dir: Path, slo_path: Path | None = None,
             prometheus: str | None = None, out: Path | None = None,
             insecure_prometheus: bool = False) -> Outcome:
    """Judge a finished run again from its recorded window (another SLO file, another
    Prometheus, or the run's saved embedded scrapes). The run's own results and reports are a
    record and are never replaced: the judgement goes to `RUN_DIR/verify/<verify-id>/` (or
    `out/<verify-id>/`), naming the run, the SLO file, the metrics source and the original
    verdict; a raw-sample file that no longer matches its recorded digest is a warning."""
    run_dir = run_directory(run_dir)
    old, killed = finished_run(run_dir)
    meta = old["run"].copy()
    slo, slo_file, slo_rec = _verify_slo(meta, slo_path)
    recorded = meta.get("window")
    assert recorded is not None  # finished_run checked it
    window = Window(recorded["start"], recorded["end"])
    snapshots = run_dir / "metrics" / SNAPSHOTS
    killed_at = None
    if killed:  # judged over what it recorded before it died
        killed_at, window = killed_window(run_dir, window, snapshots)
    source = verify_source(run_dir, meta, slo, prometheus, snapshots, insecure_prometheus)
    sample_warnings = [] if killed else changed_samples(  # a killed run recorded no digests
        run_dir, (old.get("inputs") or {}).get("samples"))
    verify_id, dest = verify_dir(run_dir, out)
    old_source = meta.get("metrics_source")
    meta["slo_file"] = str(slo_file)
    meta["slo"] = slo_rec
    meta["metrics_source"] = source.describe()
    meta["tls"] = {**meta.get("tls", {}),
                   "prometheus": tls.describe("prometheus", meta["metrics_source"].get("url"),
                                              insecure_prometheus)}
    scrapes = EmbeddedSource.from_file(snapshots) if snapshots.exists() else None
    results = assemble(None, slo, source, recorded_state(old, meta, window), run_dir, meta,
                       scrapes=scrapes)
    carry_over(results, old, sample_warnings)
    results["verification"] = verification(verify_id, run_dir, meta, old, slo_file, slo_rec,
                                           old_source, sample_warnings)
    if killed_at is not None:
        results["load"]["killed_at"] = iso(killed_at)
        results["killed"] = {"at": killed_at, "at_iso": iso(killed_at),
                             "judged_until": iso(window.end)}
    results["verdict"] = _redecide(results)
    write_results(dest, results)
    render_all(results, dest)
    return Outcome(run_dir=dest, results=results)


def run_directory(path: Path) -> Path:
    """A run directory, also when given as its results.json (as compare takes it)."""
    if path.is_file():
        if path.name != "results.json":
            raise UsageError(f"{path}: give a run directory (or its results.json), e.g. "
                             "reports/latest")
        return path.parent
    return path


def finished_run(run_dir: Path) -> tuple[ResultsRecord, bool]:
    """The run's results.json, and whether it was killed; refused when it is not a run's
    (a capacity search, a verification), still running, or has no window."""
    old = load_results(run_dir / "results.json")
    if old.get("kind") == "capacity":
        raise UsageError(f"{run_dir}: a capacity search is judged step by step; verify takes "
                         "a `loadtest run` directory")
    if verified := old.get("verification"):
        raise UsageError(f"{run_dir}: this is a verification of run "
                         f"{verified.get('of_run')}; verify the run's directory "
                         f"({verified.get('run_dir')})")
    killed = is_running(old)
    if killed and still_running(old):
        raise UsageError(f"{run_dir}: the run is still in progress (pid {old.get('pid')}); "
                         "verify it once it has finished")
    if "window" not in old["run"]:
        raise ConfigError(f"{run_dir}/results.json: the run has no recorded window "
                          "(it stopped before the load started)"
                          + (": it was killed, nothing was measured" if killed else ""))
    window = old["run"]["window"]
    if not isinstance(window, dict) or not all(
            isinstance(window.get(k), (int, float)) and not isinstance(window.get(k), bool)
            and math.isfinite(window[k]) for k in ("start", "end")):
        raise ConfigError(f"{run_dir}/results.json: run.window has no start and end times "
                          "(not a loadtest results file)")
    return old, killed


def _verify_slo(meta: RunMeta, slo_path: Path | None
                ) -> tuple[SloFile, Path, SloDigest]:
    """The SLO file to judge with: `slo_path`, else the text the run recorded (the file on
    disk may have changed since), else the run's file as it is now (an older run)."""
    if slo_path is not None:
        return load_slo(slo_path), slo_path, slo_record(slo_path)
    recorded = meta.get("slo")
    if recorded and (text := recorded.get("text")):
        path = Path(recorded.get("path", "slo.yaml"))
        slo = parse_slo(text, f"{path} (as recorded in results.json)")
        return slo, path, recorded
    path = Path(meta.get("slo_file") or "slo/opscore.yaml")
    return load_slo(path), path, slo_record(path)


def verify_source(run_dir: Path, meta: RunMeta, slo: SloFile, prometheus: str | None,
                  snapshots: Path, insecure: bool = False) -> MetricsSource:
    """--prometheus URL, else the run's saved embedded scrapes."""
    if prometheus:
        source = PrometheusSource(prometheus, up_matchers(slo), insecure=insecure)
        if not source.ready():
            raise PrometheusUnavailable(f"Prometheus at {prometheus} is not ready")
        return source
    if snapshots.exists():
        return EmbeddedSource.from_file(snapshots, job=slo.selector.get("job",
                                                                        "opscore-backend"))
    raise UsageError(f"{run_dir}: the run was judged by Prometheus "
                     f"{meta.get('metrics_source', {}).get('url')}; pass --prometheus URL "
                     "of a server that still holds its data")


def verify_dir(run_dir: Path, out: Path | None) -> tuple[str, Path]:
    """A new verification directory under `out` (default RUN_DIR/verify)."""
    verify_id = "verify-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + \
        secrets.token_hex(3)
    dest = (out if out is not None else run_dir / "verify") / verify_id
    try:
        dest.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise UsageError(f"{'--out ' + str(out) if out is not None else run_dir}: cannot "
                         f"write the verification there ({e.strerror}); pass a writable "
                         "--out") from None
    return verify_id, dest


def recorded_state(old: ResultsRecord, meta: RunMeta, window: Window) -> PhaseState:
    """The load phase as the run recorded it (the load generator's problems kept)."""
    load = old.get("load", {})
    return PhaseState(problems=[p for p in load.get("problems", []) if "Locust" in p],
                      window=window, run_start=meta.get("load_started"),
                      locust_exit=load.get("locust_exit_code"),
                      interrupted=bool(old.get("interrupted")),
                      cpu_summary=load.get("generator_cpu"),
                      aborted=load.get("aborted"))


def carry_over(results: ResultsRecord, old: ResultsRecord, sample_warnings: list[str]) -> None:
    """What a verification keeps of the run: its regressions and comparison, its inputs, its
    live record; the changed samples warned about first."""
    results["regressions"] = old.get("regressions", [])
    if old.get("comparison"):
        results["comparison"] = old["comparison"]
    results["warnings"] = sample_warnings + results.get("warnings", [])
    results["inputs"] = old.get("inputs")
    if old.get("live"):
        results["live"] = old["live"]


def verification(verify_id: str, run_dir: Path, meta: RunMeta, old: ResultsRecord,
                 slo_file: Path, slo_rec: SloDigest, old_source: SourceInfo | None,
                 sample_warnings: list[str]) -> VerificationRecord:
    """results.json's `verification`: what was judged again, with what, against what."""
    recorded = old["run"].get("slo")
    old_slo = recorded.get("sha256") if recorded else None
    return {
        "id": verify_id, "of_run": meta.get("id"), "run_dir": str(run_dir),
        "at": datetime.now(UTC).isoformat(), "slo_file": str(slo_file),
        "slo_sha256": slo_rec.get("sha256"),
        "slo_changed": None if old_slo is None else old_slo != slo_rec.get("sha256"),
        "metrics_source": meta["metrics_source"], "original_metrics_source": old_source,
        "original_verdict": old["verdict"], "sample_warnings": sample_warnings,
    }


def _redecide(results: ResultsRecord) -> VerdictRecord:
    return decide(results["objectives"], results["load"], results.get("interrupted", False),
                  results.get("regressions"))


def killed_window(run_dir: Path, window: Window, snapshots: Path) -> tuple[float, Window]:
    """A run killed outright: when it died (its last recorded sample or scrape), and its
    window clipped to the last good scrape of the target before the last client sample that
    got an answer (the requests refused as the target died with it are the kill, not the
    service): client and server figures then cover the same seconds, and the window's end is
    a real scrape (as when a signal cuts the window)."""
    times: list[float] = []
    last_start = last_answered = None
    for df in read_chunks(run_dir / "locust"):  # in chunks: a killed soak can be long
        if not len(df):
            continue
        times.append(float((df["start"] + df["response_ms"] / 1000.0).max()))
        last_start = max(last_start or -math.inf, float(df["start"].max()))
        answered = df[df["status"] > 0]
        if len(answered):
            last_answered = max(last_answered or -math.inf, float(answered["start"].max()))
    end = None
    if last_start is not None:
        end = (last_answered if last_answered is not None else last_start) + 0.001
    if snapshots.exists():
        try:
            snaps = EmbeddedSource.from_file(snapshots).snapshots()
        except SourceError:
            snaps = []
        times += [s.t for s in snaps]
        good = [s.t for s in snaps if s.ok and (end is None or s.t <= end)]
        if good:
            end = good[-1]
    died = max(times, default=window.start)
    end = window.end if end is None else min(end, window.end)
    return died, Window(window.start, max(window.start + 1.0, end))
