"""The users' stack run natively (no Docker): deploy/prometheus/prometheus.yml and the guide's
alert rules with the targets moved to loopback (and a 1 s scrape so a short gate has data),
the reference target on PostgreSQL, Debian's postgres and node exporters. A short gate runs
against it through the external-Prometheus path, and every scrape job is up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from loadtest.stack.processes import Child, free_port
from tests.support import ROOT, require, start_target, wait_ok

pytestmark = [pytest.mark.prometheus, pytest.mark.postgres, pytest.mark.slow]


def exporter(name: str) -> str:
    path = shutil.which(name)
    require(name, path is not None, f"apt-get install -y {name}")
    assert path is not None
    return path


def test_gate_against_the_native_stack(prometheus_bin: str, postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pg_exporter = exporter("prometheus-postgres-exporter")
    node_exporter = exporter("prometheus-node-exporter")
    children: list[Child] = []
    target = start_target(tmp_path / "target", database=postgres.new_database())
    try:
        pe_port, ne_port, prom_port = free_port(), free_port(), free_port()
        env = dict(os.environ, DATA_SOURCE_NAME=f"{postgres.url}?sslmode=disable")
        children.append(Child("postgres-exporter", [pg_exporter,
                              f"--web.listen-address=127.0.0.1:{pe_port}"],
                              tmp_path / "pe.log", env=env))
        children.append(Child("node-exporter", [node_exporter,
                              f"--web.listen-address=127.0.0.1:{ne_port}"],
                              tmp_path / "ne.log"))
        config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
        loopback = {"backend:8080": target.url.removeprefix("http://"),
                    "postgres-exporter:9187": f"127.0.0.1:{pe_port}",
                    "node-exporter:9100": f"127.0.0.1:{ne_port}"}
        for job in config["scrape_configs"]:
            job["static_configs"][0]["targets"] = [
                loopback[t] for t in job["static_configs"][0]["targets"]]
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config.pop("alerting")
        prom_dir = tmp_path / "prom"
        prom_dir.mkdir()
        shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", prom_dir / "alerts.yml")
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom = Child("prometheus", [prometheus_bin, f"--config.file={prom_dir / 'prometheus.yml'}",
                                    f"--storage.tsdb.path={prom_dir / 'data'}",
                                    f"--web.listen-address=127.0.0.1:{prom_port}",
                                    "--web.enable-remote-write-receiver",
                                    "--log.level=warn"], tmp_path / "prom.log")
        children.append(prom)
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_ok(f"{prom_url}/-/ready", prom)
        for c, port in zip(children[:2], (pe_port, ne_port)):
            wait_ok(f"http://127.0.0.1:{port}/metrics", c)
        p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--target", target.url,
                            "--prometheus", prom_url, "--duration", "8s", "--warmup", "3s",
                            "--remote-write", f"{prom_url}/api/v1/write",
                            "--out", str(tmp_path / "reports")], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr + p.stdout
        r = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
        assert r["run"]["target"]["kind"] == "external"
        assert r["run"]["metrics_source"]["url"] == prom_url
        ups = httpx.get(f"{prom_url}/api/v1/query", params={"query": "up"}).json()
        jobs = {x["metric"]["job"]: x["value"][1] for x in ups["data"]["result"]}
        assert jobs == {"opscore-backend": "1", "postgres": "1", "node": "1"}
        rules = httpx.get(f"{prom_url}/api/v1/rules").json()["data"]["groups"]
        assert sum(len(g["rules"]) for g in rules) == 5
        # every metric a dashboard queries is really exposed by the target or an exporter, or
        # pushed by the harness (its load-test row: --remote-write)
        names = set(httpx.get(f"{prom_url}/api/v1/label/__name__/values").json()["data"])
        for f in (ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"):
            for panel in json.loads(f.read_text())["panels"]:
                for t in panel["targets"]:
                    used = set(re.findall(r"\b([a-z_][a-z0-9_]*)(?=\{|\[)", t["expr"]))
                    missing = used - names
                    assert not missing, f"{f.name}: {t['expr']} uses {missing}"
    finally:
        for c in reversed(children):
            c.stop()
        target.child.stop()
