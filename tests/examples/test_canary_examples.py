"""examples/canary/: the Argo Rollouts AnalysisTemplate and the Flagger setup, checked offline.

Built-in kinds (the load tester's Deployment and Service, the Job an AnalysisTemplate runs)
are validated against Kubernetes' own schemas with kubernetes-validate. The two custom
resources have no schema here (their CRDs are the projects' own): their fields are checked
for what Argo Rollouts and Flagger read (the AnalysisTemplate's args and Job provider, the
Canary's target and rollout webhook), their embedded Job spec is validated as a batch/v1 Job,
and the `loadtest judge` command each one runs is parsed by the real CLI and run against an
unreachable Prometheus (exit 3: every option was accepted)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate as kv
import yaml
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.errors import ExitCode
from tests.support import ROOT

CANARY = ROOT / "examples" / "canary"
runner = CliRunner()
DEAD = "http://127.0.0.1:9"  # nothing listens: the command gets as far as Prometheus


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((CANARY / name).read_text()) if d]


def judged(argv: list[str], tmp: Path) -> str:
    """The judge command with the Prometheus swapped for a dead one: exit 3, one line."""
    argv = list(argv)
    argv[argv.index("--prometheus") + 1] = DEAD
    argv[argv.index("--out") + 1] = str(tmp / "out")
    argv[argv.index("--slo") + 1] = str(ROOT / argv[argv.index("--slo") + 1])
    r = runner.invoke(app, argv)
    assert r.exit_code == ExitCode.INCONCLUSIVE, r.output
    assert "is not ready" in r.output and len(r.output.strip().splitlines()) == 1
    return r.output


def test_argo_analysis_template_runs_judge_and_maps_its_exit_codes(tmp_path: Path) -> None:
    (tmpl,) = docs("argo-analysis-template.yaml")
    assert (tmpl["apiVersion"], tmpl["kind"]) == ("argoproj.io/v1alpha1", "AnalysisTemplate")
    declared = {a["name"] for a in tmpl["spec"]["args"]}
    (metric,) = tmpl["spec"]["metrics"]
    assert metric["failureLimit"] == 0 and set(metric["provider"]) == {"job"}
    job_spec = metric["provider"]["job"]["spec"]
    used = set(re.findall(r"\{\{args\.([\w-]+)\}\}", yaml.safe_dump(metric)))
    assert used and used <= declared, used - declared
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "judge"},
           "spec": job_spec}
    kv.validate(job, kv.latest_version(), strict=True)
    # exit codes as Argo reads the Job: 1 and 2 fail it at once, 3 is judged again
    rules = {r["action"]: set(r["onExitCodes"]["values"])
             for r in job_spec["podFailurePolicy"]["rules"]}
    assert rules == {"Ignore": {ExitCode.INCONCLUSIVE},
                     "FailJob": {ExitCode.GATE_FAILED, ExitCode.USAGE}}
    assert job_spec["backoffLimit"] == 0 and job_spec["activeDeadlineSeconds"] > 0
    (container,) = job_spec["template"]["spec"]["containers"]
    argv = [re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: f"{m.group(1)}-value", a)
            for a in container["args"]]
    assert argv[0] == "judge" and "--baseline-selector" in argv
    judged(argv, tmp_path)


def test_flagger_canary_calls_judge_through_its_load_tester(tmp_path: Path) -> None:
    (canary,) = docs("flagger-canary.yaml")
    assert (canary["apiVersion"], canary["kind"]) == ("flagger.app/v1beta1", "Canary")
    spec = canary["spec"]
    assert spec["targetRef"]["kind"] == "Deployment" and spec["analysis"]["threshold"] >= 2
    (hook,) = spec["analysis"]["webhooks"]
    assert hook["type"] == "rollout" and hook["metadata"]["type"] == "cmd"
    tester = docs("flagger-loadtester.yaml")
    for d in tester:
        kv.validate(d, kv.latest_version(), strict=True)
    service = next(d for d in tester if d["kind"] == "Service")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert hook["url"].startswith(f"http://{host}/")
    deployment = next(d for d in tester if d["kind"] == "Deployment")
    assert deployment["spec"]["selector"]["matchLabels"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    argv = shlex.split(hook["metadata"]["cmd"])
    assert argv[:2] == ["loadtest", "judge"]
    judged(argv[1:], tmp_path)
    dockerfile = (CANARY / "flagger-loadtester.Dockerfile").read_text()
    assert "/usr/local/bin/loadtester" in dockerfile and \
        deployment["spec"]["template"]["spec"]["containers"][0]["command"][0] == "loadtester"
