"""Locustfiles whose tasks are journeys: several requests and think time in one task, logins,
and a LoadTestShape. Unmodified files (tests/locustfiles/journey_*.py) against one reference
target shared by the runs, which go side by side (light loads); real Locust subprocesses. The unit tests below feed the diagnosis
and the judging made-up figures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loadtest.judge.checks import CAUSES, lag_not_charged
from loadtest.judge.objectives import ObjectiveResult
from loadtest.judge.status import ObjectiveStatus
from loadtest.load.health import diagnose, journeys, users_for
from loadtest.metrics.base import Window
from loadtest.store.samples import task_totals
from tests.support import ROOT, RunningTarget, by_name, loadtest, results_of, start_target

FILES = ROOT / "tests" / "locustfiles"
SLO = ROOT / "tests" / "slo_journeys.yaml"

# what the quickstart file's run at --users 10 measured (made-up figures of that shape)
JOURNEY_TOTALS = {"achieved_rate": 10.6, "completed_rate": 10.6, "requests": 106,
                  "in_flight": 0.05, "in_flight_peak": 0.1, "task_rate": 1.3, "tasks": 13,
                  "schedule_lag_ms": {"p99": 8039.0}, "latency_ms": {"p95": 4.0},
                  "task_ms": 5690.0, "requests_per_task": 6.5, "task_waiting_ms": 18.0,
                  "in_task": 10.0}


def test_a_pool_short_for_long_tasks_is_named_in_tasks_not_cpu_time() -> None:
    cpu = {"processes": [{"pid": 1, "role": "locust", "mean_pct": 7.0, "max_pct": 9.0}]}
    why = diagnose(JOURNEY_TOTALS, 5.0, cpu, 10)
    assert (why.limit, why.cause) == ("generator", "journeys")
    assert why.reason.startswith("the load generator started 1.3 of 5.0 tasks/s (10.6 "
                                 "requests/s sent, 10.6 served;")
    assert "tasks last 5.69 s on average (6.5 requests each" in why.reason
    assert "10 users can start at most 1.8 tasks/s; use --users 40 or more, or --model " \
        "closed" in why.reason
    assert "short of CPU time" not in why.reason
    # the same figures without the task records (an older run): requests, as before
    old = {k: v for k, v in JOURNEY_TOTALS.items()
           if not k.startswith("task") and k not in ("requests_per_task", "in_task")}
    assert "short of CPU time" in diagnose(old, 5.0, cpu, 10).reason


def test_journeys_and_the_users_they_need() -> None:
    assert journeys(JOURNEY_TOTALS)
    one_request = {"task_ms": 12.0, "task_waiting_ms": 11.0, "requests_per_task": 1.0}
    assert not journeys(one_request) and not journeys({})
    assert journeys({**one_request, "requests_per_task": 2.0})
    assert journeys({"task_ms": 1000.0, "task_waiting_ms": 10.0, "requests_per_task": 1.0})
    assert users_for(20, 9800) == 250  # 20 x 9.8 s x 1.25 = 245: the example
    assert users_for(5, 5690) == 40 and users_for(1, 10) == 10


def _as_measured(status: ObjectiveStatus, value: float) -> ObjectiveResult:
    """A client latency objective judged as measured (what evaluate_client gives)."""
    return ObjectiveResult(name="m", kind="client", description="", severity="fail",
                           source="client", metrics_source="locust", status=status,
                           value=value, unit="s", threshold=1.0, comparison="<=",
                           samples=100.0)


def test_a_generator_lag_is_not_charged_as_a_corrected_latency_breach() -> None:
    corrected = {"name": "client_p95", "kind": "client", "status": "fail", "value": 9.1,
                 "extra": {"corrected": True}}
    slow_anyway = {"name": "client_p99", "kind": "client", "status": "fail", "value": 9.5,
                   "extra": {"corrected": True}}
    server = {"name": "error_rate", "kind": "error_rate", "status": "pass", "value": 0.0}
    objectives = [corrected, slow_anyway, server]
    lag_not_charged(objectives, {"client_p95": _as_measured("pass", 0.004),
                                 "client_p99": _as_measured("fail", 2.0)}, "journeys")
    assert corrected["status"] == "no_data" and corrected["extra"]["measured"] == 0.004
    assert CAUSES["journeys"] in corrected["reason"] and "(4 ms)" in corrected["reason"]
    assert slow_anyway["status"] == "fail"  # slow as measured too: the service's breach
    assert server["status"] == "pass"


def test_task_records_old_and_new(tmp_path: Path) -> None:
    (tmp_path / "tasks-1.csv").write_text(
        "intended,start,end,requests,request_ms\n"
        "100.0,100.0,110.0,10,50.0\n"          # a 10 s journey, 50 ms of it on answers
        "101.0,103.0,104.0,2,20.0\n"           # started 2 s late
        "105.0,105.0,106.0,1,5\n"
        "130.0,130.0,131.0,1,5.0\n"            # after the window
        "106.0,106.5,")                         # torn last line
    (tmp_path / "tasks-2.csv").write_text("intended,start\n102.0,102.0\n")  # an older file
    t = task_totals(tmp_path, Window(100.0, 120.0))
    assert t["tasks"] == 4 and t["task_rate"] == pytest.approx(0.2)
    assert t["schedule_lag_ms"]["max"] == pytest.approx(2000.0)
    assert t["tasks_done"] == 3 and t["requests_per_task"] == pytest.approx(13 / 3)
    assert t["task_ms"] == pytest.approx(4000.0) and t["task_waiting_ms"] == pytest.approx(25.0)
    assert t["in_task"] == pytest.approx(12.0 / 20.0)  # user-seconds inside a task / window
    assert task_totals(tmp_path / "none", Window(100.0, 120.0)) == {}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    t = start_target(tmp_path_factory.mktemp("journeys-target"))
    yield t
    t.child.stop()


@dataclass
class Run:
    code: int
    out: str
    results: dict[str, Any]
    reports: Path  # the run's --out folder
    seconds: float  # from the command's start to its exit


# Three runs' loads are light (at most ~60 requests/s together), so they run side by side
# against the shared target, each started a second after the one before. The run whose pool
# grows and whose rate is held to 1% (think_time) runs alone, after them: on two cores, the
# others' start-up and load (Python and Locust: CPU) lengthened its tasks and its lag (4.75
# of 5 task starts/s once, a corrected p95 over 500 ms another time).
RUNS = {
    "shape": ("journey_shape.py", "--model", "closed", "--users", "10", "--warmup", "2s",
              "--duration", "10s"),
    "too_few_users": ("journey_quickstart.py", "--rate", "5", "--users", "10", "--warmup", "2s",
                      "--duration", "10s"),
    "login": ("journey_login.py", "--rate", "10", "--warmup", "2s", "--duration", "4s"),
    "think_time": ("journey_quickstart.py", "--rate", "5", "--warmup", "8s", "--duration", "8s"),
}
START_GAPS_S = {"shape": 1.0, "too_few_users": 1.0, "login": 3.0}


def run(target: RunningTarget, out: Path, scenario: str, *args: str) -> Run:
    started = time.monotonic()
    p = loadtest("run", "--target", target.url, "--scenario", str(FILES / scenario), "--slo",
                 str(SLO), "--metrics-source", "embedded", "--out", str(out), *args)
    seconds = time.monotonic() - started
    return Run(p.returncode, p.stdout + p.stderr, results_of(out), out, seconds)


@pytest.fixture(scope="module")
def runs(target: RunningTarget, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, Future[Run]]]:
    """Each test reads its own run (`.result()` raises a run's own failure in its test)."""
    with ThreadPoolExecutor(len(RUNS)) as pool:
        futures = {}
        for name, (scenario, *args) in RUNS.items():
            if name == "think_time":
                continue
            futures[name] = pool.submit(run, target, tmp_path_factory.mktemp(name), scenario,
                                        *args)
            time.sleep(START_GAPS_S[name])
        for name, future in futures.items():
            future.exception()  # each run done (a failure is raised in its own test)
        scenario, *args = RUNS["think_time"]
        futures["think_time"] = pool.submit(run, target, tmp_path_factory.mktemp("think_time"),
                                            scenario, *args)
        yield futures


@pytest.mark.slow
def test_journeys_with_think_time_get_the_pool_they_need(runs: dict[str, Future[Run]]
                                                         ) -> None:
    """Locust's quickstart file (a task of ten requests with a second's sleep after each) at
    5 task starts/s with default options: the pool grows in the warm-up, the rate holds, and
    the later requests of a journey are not charged the think time before them."""
    run = runs["think_time"].result()
    code, out, r = run.code, run.out, run.results
    assert code == 0, out
    totals = r["client"]["totals"]
    assert totals["task_rate"] == pytest.approx(5, rel=0.01)
    assert totals["requests_per_task"] > 3 and totals["task_ms"] > 3000  # journeys indeed
    pool = r["load"]["pool"]
    assert pool["changes"] and pool["final"] > pool["initial"] == 20
    assert r["run"]["users"] == pool["final"] >= 5 * totals["task_ms"] / 1000
    warm = [c for c in pool["changes"] if c["at_s"] < pool["until_s"]]
    assert warm and f"user pool: 20 -> {warm[-1]['users']} users during the warm-up (tasks " \
        "last" in out, out
    locust = run.reports / "latest" / "locust"
    df = pd.read_csv(next(locust.glob("samples-*.csv")))
    tasks = pd.read_csv(next(locust.glob("tasks-*.csv")))
    items = df[df["name"] == "/api/v1/documents/{id}"]  # requests 1-10 of a journey
    lag = items["start"] - items["intended"]
    # each charged at most its task's start lag, never the 1-9 s of sleep before it
    assert lag.max() <= (tasks["start"] - tasks["intended"]).max() + 0.01
    assert lag.median() < 0.05
    summary = (run.reports / "latest" / "summary.md").read_text()
    for unit in ("5.00 task starts/s requested", "tasks/s achieved: 5.00 tasks/s",
                 "requests/s sent:", "requests/s served:", "requests per task:"):
        assert unit in summary, summary


@pytest.mark.slow
def test_too_few_users_for_journeys_is_inconclusive_never_a_breach(
        runs: dict[str, Future[Run]]) -> None:
    """--users 10 cannot carry 5 starts/s of tasks lasting seconds: the generator's lag is
    named in tasks, and the corrected client latency objective is not judged (exit 3, not 1)
    while the service answered in milliseconds."""
    run = runs["too_few_users"].result()
    code, out, r = run.code, run.out, run.results
    assert code == 3, out
    reason = r["verdict"]["reason"]
    assert "the load generator started" in reason and "of 5.0 tasks/s" in reason
    assert "10 users can start at most" in reason and "or --model closed" in reason
    assert "short of CPU time" not in reason
    assert r["load"]["shortfall"] == {"limit": "generator", "cause": "journeys"}
    client = by_name(r)["client_p95"]
    assert client["status"] == "no_data" and client["extra"]["measured"] < 0.5
    assert client["value"] > 0.5  # corrected, the generator's lag would have breached it
    assert "pool" not in r["load"]  # --users fixes it


@pytest.mark.slow
def test_a_login_and_a_three_request_task(runs: dict[str, Future[Run]]) -> None:
    run = runs["login"].result()
    code, out, r = run.code, run.out, run.results
    assert code == 0, out
    totals = r["client"]["totals"]
    assert totals["task_rate"] == pytest.approx(10, rel=0.01)
    assert totals["requests_per_task"] == pytest.approx(3, abs=0.1)
    assert r["load"]["request_rate"] == pytest.approx(30, rel=0.1)
    assert "user pool: 30 users, enough for the tasks seen in the warm-up" in out


@pytest.mark.slow
def test_a_load_test_shape_is_stopped_at_the_runs_end(runs: dict[str, Future[Run]]) -> None:
    """A shape that would run a minute, under --model closed: stopped at warm-up +
    duration, judged over that window."""
    run = runs["shape"].result()
    code, out, r = run.code, run.out, run.results
    assert run.seconds < 25, out
    assert code == 0, out
    assert r["load"]["locust_shape"]["name"] == "Rising"
    assert r["load"]["locust_shape"]["by"] == "run_time"
    assert r["run"]["window"]["seconds"] == pytest.approx(10, abs=0.5)
    assert "LoadTestShape Rising drove the users and was stopped at the run's end" in out
