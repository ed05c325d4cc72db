"""load-performance.json: the run in the format GitLab's load-performance merge-request widget
reads (`artifacts: reports: load_performance:`), which is k6's `--summary-export` JSON.

The fields, as GitLab reads them (GitLab's documentation, "Load performance testing":
https://docs.gitlab.com/ci/testing/load_performance_testing/ ; the widget's source,
`normalizeLoadPerformanceMetrics` in the merge-request widget's load_performance extension):

    RPS       metrics.http_reqs.rate
    TTFB P90  metrics.http_req_waiting["p(90)"]   (milliseconds, as k6 writes them)
    TTFB P95  metrics.http_req_waiting["p(95)"]
    Checks    metrics.checks.passes / (passes + fails), as a percentage

The widget compares these four between the merge request's pipeline and the target branch's.
Our figures, from results.json (client side, the judged window, warm-up excluded):
- http_reqs: the requests answered in the window (`count`) and their rate per second
  (`rate`, the run's achieved request rate);
- http_req_waiting and http_req_duration: the measured response time (Locust times a request
  to its full answer, so it bounds k6's time to first byte from above): `avg`, `med`, `max`,
  `p(90)`, `p(95)` in ms (k6 also writes `min`; the harness does not keep one, so it is left
  out; GitLab does not read it);
- checks: every request checked for an answer without error, as a k6 `check(res, {"status
  ok": ...})` would: `passes` the requests that succeeded, `fails` those that failed, `value`
  the pass ratio (k6's Rate metric in a summary export);
- http_req_failed: k6's Rate of failed requests (`passes` = failed, `fails` = succeeded).
The harness's own record sits beside `metrics` under `loadtest` (schema_version, run id,
verdict); GitLab reads only `metrics`.
"""

from __future__ import annotations

import json
from typing import TypedDict

from loadtest.store.records import ClientSummary, ClientTotals, Percentiles, ResultsRecord, RunMeta

SCHEMA_VERSION = 1
FILENAME = "load-performance.json"


class Counter(TypedDict):
    count: int
    rate: float


class Rate(TypedDict):
    passes: int
    fails: int
    value: float


class K6Metrics(TypedDict, total=False):
    http_reqs: Counter
    http_req_waiting: dict[str, float]
    http_req_duration: dict[str, float]
    checks: Rate
    http_req_failed: Rate


class LoadtestPart(TypedDict):
    schema_version: int
    run: str | None
    git_revision: str | None
    verdict: str | None
    exit_code: int | None


class LoadPerformance(TypedDict):
    """k6's summary-export document (GitLab's load-performance report), and ours."""
    metrics: K6Metrics
    loadtest: LoadtestPart


def _trend(totals: ClientTotals) -> dict[str, float] | None:
    latency = totals.get("latency_ms") or Percentiles()
    figures = {"avg": totals.get("mean_ms"), "med": latency.get("p50"),
               "max": totals.get("max_ms"), "p(90)": latency.get("p90"),
               "p(95)": latency.get("p95")}
    if figures["p(90)"] is None or figures["p(95)"] is None:
        return None  # no request answered in the window: nothing to show
    return {k: round(float(v), 3) for k, v in figures.items() if v is not None}


def load_performance(results: ResultsRecord) -> LoadPerformance:
    """k6's summary-export document for this run (plain data)."""
    totals = (results.get("client") or ClientSummary()).get("totals") or ClientTotals()
    requests = int(totals.get("requests") or 0)
    failures = min(int(totals.get("failures") or 0), requests)
    rate = float(totals.get("achieved_rate") or 0.0)
    metrics = K6Metrics(http_reqs=Counter(count=requests, rate=round(rate, 3)))
    trend = _trend(totals)
    if trend is not None:
        metrics["http_req_waiting"] = trend
        metrics["http_req_duration"] = dict(trend)
    if requests:
        ok = requests - failures
        metrics["checks"] = Rate(passes=ok, fails=failures, value=round(ok / requests, 6))
        metrics["http_req_failed"] = Rate(passes=failures, fails=ok,
                                          value=round(failures / requests, 6))
    run = results.get("run") or RunMeta()
    verdict = results.get("verdict")
    return LoadPerformance(
        metrics=metrics,
        loadtest=LoadtestPart(schema_version=SCHEMA_VERSION, run=run.get("id"),
                              git_revision=run.get("git_revision"),
                              verdict=verdict.get("status") if verdict else None,
                              exit_code=verdict.get("exit_code") if verdict else None))


def render_load_performance(results: ResultsRecord) -> str:
    return json.dumps(load_performance(results), indent=2) + "\n"
