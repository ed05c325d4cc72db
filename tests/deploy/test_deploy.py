"""The users' stack, checked natively (no Docker engine here): the Prometheus config and the
guide's alert rules through promtool, the compose file's wiring and hygiene, the dashboards."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from loadtest.slo import load_slo
from loadtest.stack.servers import prometheus_config
from tests.support import ROOT, require

DEPLOY = ROOT / "deploy"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    require("promtool", path is not None, "apt-get install -y prometheus")
    return subprocess.run([str(path), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.prometheus
def test_prometheus_config_and_rules_are_valid(tmp_path: Path) -> None:
    p = promtool("check", "config", "prometheus.yml", cwd=DEPLOY / "prometheus")
    assert p.returncode == 0, p.stdout + p.stderr
    p = promtool("check", "rules", "alerts.yml", cwd=DEPLOY / "prometheus")
    assert p.returncode == 0 and "5 rules found" in p.stdout, p.stdout + p.stderr
    # the throwaway config the harness writes for its local Prometheus, too
    (tmp_path / "p.yml").write_text(prometheus_config("opscore-backend", "127.0.0.1:1"))
    p = promtool("check", "config", "p.yml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.prometheus
def test_local_prometheus_config_holds_names_with_quotes(tmp_path: Path) -> None:
    """A rule file (or job) whose name holds quotes, a colon or a hash is still one value."""
    rules = tmp_path / "it's \"my\" rules: #1.yml"
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", rules)
    text = prometheus_config("team's-job", "127.0.0.1:1", rule_files=[str(rules)],
                             self_hostport="127.0.0.1:2", metrics_path="/x'y")
    (tmp_path / "p.yml").write_text(text)
    p = promtool("check", "config", "p.yml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5 rules found" in p.stdout + p.stderr
    loaded = yaml.safe_load(text)
    assert loaded["rule_files"] == [str(rules)]
    assert loaded["scrape_configs"][0]["job_name"] == "team's-job"
    assert loaded["scrape_configs"][0]["metrics_path"] == "/x'y"
    assert loaded["global"]["scrape_interval"] == "1000ms"


@pytest.mark.prometheus
def test_each_alert_rule_fires_and_stays_quiet() -> None:
    p = promtool("test", "rules", "alerts_test.yml", cwd=DEPLOY / "prometheus")
    assert p.returncode == 0, p.stdout + p.stderr
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "prometheus" /
                                                  "alerts_test.yml").read_text()))
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert names == {"HighErrorRate", "DatabaseDown", "HighMemoryUsage", "HighDiskUsage",
                     "SlowAPIResponse"}
    assert tested == names


def test_compose_wires_the_guides_stack_without_secrets() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"postgres", "backend", "postgres-exporter", "node-exporter", "prometheus",
            "alertmanager", "grafana", "loadtest"} <= set(services)
    for name, svc in services.items():
        image = svc.get("image")
        if image:
            assert re.search(r":v?\d+\.\d+", image), f"{name}: pin the image version ({image})"
    # the backend's host:port and job name are the ones the guide's prometheus.yml scrapes
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in prom["scrape_configs"]}
    assert jobs["opscore-backend"] == "backend:8080"
    assert "8080" in " ".join(services["backend"]["command"])
    assert load_slo(ROOT / "slo" / "opscore.yaml").selector["job"] == "opscore-backend"
    # no literal secrets: passwords come from the environment or secrets files
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"(?i)password|token|secret|DATA_SOURCE_NAME", key):
                assert "${" in str(value), f"{name}.{key} holds a literal secret"
    am = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    assert "auth_password:" not in am and "hooks.slack.com" not in am


def test_grafana_dashboards_cover_the_guides_views() -> None:
    titles = set()
    for f in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        d = json.loads(f.read_text())
        titles.add(d["title"])
        for panel in d["panels"]:
            for t in panel["targets"]:
                assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
    assert {"OpsCore system", "OpsCore application", "OpsCore business metrics",
            "OpsCore load-test runs (KPI gate)"} <= titles


def test_compose_file_validates(tmp_path: Path) -> None:
    exe = shutil.which("docker-compose")
    require("docker-compose", exe is not None, "apt-get install -y docker-compose")
    work = tmp_path / "stack"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "reports",
                                                              "__pycache__"))
    (work / "secrets").mkdir()
    for name in ("smtp_password", "slack_webhook_url"):
        (work / "secrets" / name).write_text("not-a-real-secret\n")
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "p", "GRAFANA_ADMIN_PASSWORD": "g"}
    p = subprocess.run([str(exe), "-f", "docker-compose.yml", "--profile", "gate",
                        "--profile", "locust", "config"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rendered = yaml.safe_load(p.stdout)
    assert {"loadtest", "locust-master", "locust-worker"} <= set(rendered["services"])
    # a missing password is refused, not defaulted
    env.pop("POSTGRES_PASSWORD")
    p = subprocess.run([str(exe), "-f", "docker-compose.yml", "config", "-q"], cwd=work,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "POSTGRES_PASSWORD" in p.stderr


# The CI examples are executed as pipelines, promotion on a pass only included, in
# tests/examples/test_ci_examples.py.
