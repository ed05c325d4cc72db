"""The CI examples (examples/ci/) executed as pipelines from their YAML as written
(tests/support/ci_pipelines.py plays the CI systems): six pipelines of the default branch, the last
three with the service 40 ms slower (`LOADTEST_TARGET_FAULT=latency=40ms`, as the runner's or
the project's environment would carry it), then a pull/merge request with the same slowdown.

The project's own settings shorten the runs as a team's CI/CD variables would: 10 s windows
(the comparison's block bootstrap needs 10 one-second blocks a side) after a 0.5 s warm-up,
the embedded metrics source, and the drift test at 0.1 (the only significance 6 runs can
reach; the examples say so). The two examples' sequences run side by side (one thread each,
each run on its own ports and folders): 14 runs of about 14 s."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtest.reports.pr_comment import MARKER
from tests.support import ROOT, loadtest
from tests.support.ci_pipelines import (
    GitHubRepo,
    GitLabProject,
    Job,
    gitlab_api,
    run_github,
    run_gitlab,
)

EXAMPLES = ROOT / "examples" / "ci"
SETTINGS = {"LOADTEST_DURATION": "10s", "LOADTEST_WARMUP": "0.5s",
            "LOADTEST_DRIFT_SIGNIFICANCE": "0.1"}
RUNNER = {"LOADTEST_METRICS_SOURCE": "embedded"}
SLOWER = {"LOADTEST_TARGET_FAULT": "latency=40ms"}


def run_dir(job: Job) -> Path:
    return (job.workspace / "reports" / "latest").resolve()


def results(job: Job) -> dict[str, Any]:
    return json.loads((run_dir(job) / "results.json").read_text())


def after_script(job: Job) -> str:
    return next(s["log"] for s in job.steps if s["name"] == "after_script")


def check_outputs(job: Job) -> dict[str, Any]:
    """The run's summary, PR comment and load-performance.json hold this run's figures."""
    r = results(job)
    d = run_dir(job)
    totals = r["client"]["totals"]
    lp = json.loads((d / "load-performance.json").read_text())["metrics"]
    assert lp["http_reqs"] == {"count": totals["requests"],
                               "rate": round(totals["achieved_rate"], 3)}
    assert lp["http_req_waiting"]["p(90)"] == round(totals["latency_ms"]["p90"], 3)
    assert lp["http_req_waiting"]["p(95)"] == round(totals["latency_ms"]["p95"], 3)
    comment = (d / "pr-comment.md").read_text()
    summary = (d / "summary.md").read_text()
    assert comment.startswith(MARKER) and r["run"]["id"] in comment
    assert r["verdict"]["status"].upper() in comment and r["run"]["id"] in summary
    assert r["run"]["report_url"] and f"({r['run']['report_url']})" in comment
    return r


def check_history(history: Path, fourth: str) -> None:
    """`loadtest history --json` over the history the default branch carried: one change
    point, for the worse, at the 4th run."""
    p = loadtest("history", "--history", str(history), "--metric", "response_time_p95",
                 "--significance", "0.1", "--json")
    assert p.returncode == 0, p.stderr
    [series] = json.loads(p.stdout)["series"]
    assert series["tags"] == {} and series["runs"] == 6  # one series: no per-run tag
    [metric] = series["metrics"]
    [cp] = metric["change_points"]
    assert cp["id"] == fourth and cp["worse"] and cp["runs_before"] == 3, cp


def check_sequence(main: list[Job], request: Job, commands: bool = False) -> None:
    """The default branch's six runs and the request's, as the pipelines ran them; with
    `commands`, `loadtest compare` judges the same pairs again."""
    ids = [results(j)["run"]["id"] for j in main]
    for i, job in enumerate(main):
        r = check_outputs(job)
        assert r["run"]["tags"] == {}
        if i < 3:
            assert job.status == "success" and r["verdict"]["exit_code"] == 0, job.log()
            if i:  # the same service again: every objective's comparison holds
                assert {c["objective"]: c["status"] for c in r["regressions"]} == {
                    "response_time_p95": "pass", "throughput": "pass", "error_rate": "pass",
                    "db_query_p95": "pass"}, r["regressions"]
        else:  # slower than the baseline promoted by the 3rd: a regression, not promoted
            assert job.status != "success" and r["verdict"]["exit_code"] == 1, job.log()
            assert r["run"]["baseline"] == ids[2]
            assert "regression" in r["verdict"]["reason"]
        assert r["run"]["baseline"] == (ids[i - 1] if 0 < i < 3 else ids[2] if i else None)
    # the 6th run completed the change point at the 4th (the drift warning after the run)
    drift = results(main[5])["drift"]
    assert [c["id"] for c in drift["new"] if c["metric"] == "response_time_p95"] == [ids[3]]
    assert f"from run {ids[3]}" in (run_dir(main[5]) / "summary.md").read_text()
    # the request: compared with the baseline promoted on the default branch, fails; 40 ms
    # slower is still far under the 2 s KPI: a regression only
    r = check_outputs(request)
    assert request.status != "success" and r["verdict"]["exit_code"] == 1, request.log()
    assert r["run"]["baseline"] == ids[2]
    [latency] = [c for c in r["regressions"] if c["objective"] == "response_time_p95"]
    assert latency["status"] == "fail" and latency["change"] > 1.0, latency
    assert {o["name"]: o["status"] for o in r["objectives"]}["response_time_p95"] == "pass"
    junit = (run_dir(request) / "junit.xml").read_text()
    assert 'name="response_time_p95.regression"' in junit and "Regression" in junit
    if commands:  # the same verdicts from `loadtest compare`, on the run folders
        same = loadtest("compare", str(run_dir(main[0])), str(run_dir(main[1])))
        assert same.returncode == 0, same.stdout + same.stderr
        worse = loadtest("compare", str(run_dir(main[2])), str(run_dir(request)))
        assert worse.returncode == 1 and "response_time_p95  FAIL" in worse.stdout, worse.stdout
    comment = (run_dir(request) / "pr-comment.md").read_text()
    assert "Performance gate: FAIL" in comment and f"`{ids[2]}`" in comment
    assert "| response_time_p95 | FAIL |" in comment
    for job in [*main, request]:
        assert any("apt-get install -y prometheus" in i for i in job.installs)
        assert any(i.startswith("pip install .") for i in job.installs)


def github_sequence(tmp_path: Path) -> None:
    workflow = EXAMPLES / "github-actions.yml"
    repo = GitHubRepo(vars=dict(SETTINGS))
    main = [run_github(workflow, repo, tmp_path, event="push", branch="main",
                       extra_env={**RUNNER, **(SLOWER if i >= 3 else {})}) for i in range(6)]
    request = run_github(workflow, repo, tmp_path, event="pull_request", branch="feature",
                         pr=7, extra_env={**RUNNER, **SLOWER})
    check_sequence(main, request, commands=True)
    ids = [results(j)["run"]["id"] for j in main]
    # the history travelled in main's cache; the last one saved holds all six runs
    check_history(repo.caches[-1]["dir"] / "reports" / "history.jsonl", ids[3])
    assert all(c["ref"] == "refs/heads/main" for c in repo.caches)  # the request saved none
    # the harness appended summary.md to the job's summary page; one PR comment, the run's
    summary = request.summary
    assert summary.startswith((run_dir(request) / "summary.md").read_text())
    [comment] = repo.comments[7]
    assert comment.startswith((run_dir(request) / "pr-comment.md").read_text())
    assert "History of main" in main[5].summary and f"from run {ids[3]}" in main[5].summary
    assert request.junit and set(request.artifacts) == {"loadtest-report"}


def gitlab_sequence(tmp_path: Path) -> None:
    ci_file = EXAMPLES / "gitlab-ci.yml"
    with gitlab_api(GitLabProject(variables={**SETTINGS, **RUNNER})) as project:
        main = []
        for i in range(6):
            jobs = run_gitlab(ci_file, project, tmp_path, source="push", branch="main",
                              extra_variables=SLOWER if i >= 3 else None)
            main.append(jobs["performance-gate"])
        # a push to a feature branch outside a merge request runs no pipeline
        assert run_gitlab(ci_file, project, tmp_path, source="push", branch="feature") == {}
        jobs = run_gitlab(ci_file, project, tmp_path, source="merge_request_event",
                          branch="feature", mr_iid=3, extra_variables=SLOWER)
        request = jobs["performance-gate"]
    check_sequence(main, request)
    ids = [results(j)["run"]["id"] for j in main]
    # main's cache is the protected one; the request could not have read it, pushed nothing,
    # and got the baseline of the last successful main pipeline (the 3rd) through the API
    assert set(project.caches) == {"loadtest-main-protected"}
    check_history(project.caches["loadtest-main-protected"] / "reports" / "history.jsonl",
                  ids[3])
    assert [c for _p, c in project.api_calls] == [200, 200], project.api_calls
    # the widgets' files: GitLab's load-performance widget, JUnit, the log's summary
    lp = json.loads(request.artifacts["load_performance"].read_text())
    assert lp["loadtest"]["run"] == results(request)["run"]["id"]
    assert lp["metrics"]["http_req_waiting"]["p(95)"] > 40  # the 40 ms slower service
    assert request.junit and "## loadtest: FAIL" in after_script(request)
    assert f"from run {ids[3]}" in after_script(main[5])  # `loadtest history` in the log


@pytest.mark.slow
def test_ci_examples_as_pipelines(tmp_path: Path) -> None:
    """Both examples' sequences at once; each one's first failure is reported."""
    failures: dict[str, BaseException] = {}

    def run(name: str, sequence: Callable[[Path], None]) -> None:
        try:
            sequence(tmp_path / name)
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the test's thread
            failures[name] = e

    threads = [threading.Thread(target=run, args=a)
               for a in (("github", github_sequence), ("gitlab", gitlab_sequence))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a sequence did not finish in 10 minutes"
    for name, e in failures.items():
        raise AssertionError(f"{name}: {e}") from e
