"""grafana-annotation.json: the judged window as a Grafana annotation (a region from the
window's start to its end, tagged with the run and its verdict), in the body Grafana's HTTP
API takes as it is: `curl -X POST -H 'Content-Type: application/json' --data
@grafana-annotation.json $GRAFANA/api/annotations` (add `dashboardUID` to pin it to one
dashboard). Grafana's own format, so no `schema_version`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

from loadtest.store.records import ResultsRecord, RunMeta, VerdictRecord, WindowRecord

ANNOTATION = "grafana-annotation.json"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


class Annotation(TypedDict):
    """A Grafana annotation (its HTTP API's body)."""
    time: int
    timeEnd: int
    tags: list[str]
    text: str


def render_annotation(results: ResultsRecord) -> Annotation | None:
    """The annotation of a run's window, or None when the run has no window (it stopped
    before the load)."""
    run = results.get("run") or RunMeta()
    window: WindowRecord | dict[str, float] = run.get("window") or {}
    steps = [s.get("window") for s in results.get("steps") or []]
    starts = [float(w["start"]) for w in steps if w and w.get("start")]
    ends = [float(w["end"]) for w in steps if w and w.get("end")]
    if results.get("kind") == "capacity" and starts and ends:  # a search: first step to last
        window = {"start": min(starts), "end": max(ends)}
    start, end = window.get("start"), window.get("end")
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return None
    verdict: VerdictRecord | dict[str, str] = results.get("verdict") or {}
    status = str(verdict.get("status", "unknown"))
    tags = ["loadtest", f"run:{run.get('id', '')}", f"verdict:{status}"]
    tags += [f"{k}:{v}" for k, v in sorted((run.get("tags") or {}).items())]
    what = "capacity search" if results.get("kind") == "capacity" else "run"
    text = (f"loadtest {what} {run.get('id', '')}: {status.upper()} (exit "
            f"{verdict.get('exit_code')}): {verdict.get('reason', '')}; judged window "
            f"{window.get('start_iso', iso(start))} .. {window.get('end_iso', iso(end))}")
    return Annotation(time=int(start * 1000), timeEnd=int(end * 1000), tags=tags, text=text)
