"""The CI files `loadtest init` writes (loadtest/defaults/ci/) run as pipelines, as written:
the GitHub workflow for a push to main, the GitLab job for the default branch, each its one
gate run (short: the repository's variables shorten it, as a user's would), side by side. The
install lines are recorded, not run (tests/support/ci_pipelines.py: `python -m venv .venv`
makes the venv's `loadtest` this machine's). The workspace holds the scenario and SLO file the
repository has, which `loadtest init` writes byte for byte (tests/defaults/test_package.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import loadtest
from tests.support.ci_pipelines import (
    GitHubRepo,
    GitLabProject,
    Job,
    gitlab_api,
    run_github,
    run_gitlab,
)

SHORT = {"LOADTEST_DURATION": "3s", "LOADTEST_WARMUP": "0.5s"}
RUNNER = {"LOADTEST_METRICS_SOURCE": "embedded"}  # no Prometheus on the runner: the embedded one


def written(folder: Path, ci: str) -> Path:
    p = loadtest("init", str(folder), "--ci", ci)
    assert p.returncode == 0, p.stderr
    return folder / p.stdout.split()[-1]  # it names what it wrote, the CI file last


def results(job: Job) -> dict[str, Any]:
    return json.loads((job.workspace / "reports" / "latest" / "results.json").read_text())


def check(job: Job) -> dict[str, Any]:
    assert job.status == "success", job.log()
    r = results(job)
    assert r["verdict"]["exit_code"] == 0, job.log()
    assert r["run"]["tags"] == {}  # one history series across runs: no per-run tag
    assert r["run"]["window"]["seconds"] == pytest.approx(3, abs=0.5)  # the variables held
    assert any("apt-get install -y prometheus" in i for i in job.installs), job.installs
    assert "python -m venv .venv" in job.installs
    assert "pip install opscore-loadtest" in job.installs
    return r


@pytest.mark.slow
def test_the_ci_files_loadtest_init_writes_run_as_pipelines(tmp_path: Path) -> None:
    github_file = written(tmp_path / "gh", "github")
    gitlab_file = written(tmp_path / "gl", "gitlab")
    assert github_file.name == "loadtest.yml" and gitlab_file.name == ".gitlab-ci.yml"
    jobs: dict[str, Job] = {}
    errors: list[BaseException] = []

    def github() -> None:
        repo = GitHubRepo(vars=dict(SHORT))
        jobs["github"] = run_github(github_file, repo, tmp_path / "gh-runs", event="push",
                                    branch="main", extra_env=RUNNER)

    def gitlab() -> None:
        with gitlab_api(GitLabProject(variables={**SHORT, **RUNNER})) as project:
            [(_name, job)] = run_gitlab(gitlab_file, project, tmp_path / "gl-runs",
                                        source="push", branch="main").items()
            jobs["gitlab"] = job

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - raised in the test below
                errors.append(e)
        return run

    threads = [threading.Thread(target=guarded(f)) for f in (github, gitlab)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    gh = jobs["github"]
    r = check(gh)
    # the harness appended summary.md to the job's summary page; the reports uploaded
    assert gh.summary.startswith(
        (gh.workspace / "reports" / "latest" / "summary.md").read_text())
    assert r["run"]["id"] in gh.summary and set(gh.artifacts) == {"loadtest-report"}
    gl = jobs["gitlab"]
    check(gl)
    assert gl.junit and "junit" in gl.artifacts
