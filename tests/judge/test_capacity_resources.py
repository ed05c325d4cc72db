"""`loadtest capacity` names what ran out first and projects the fleet (#22): a small
PostgreSQL pool, a CPU-bound fault; the report's resource charts in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT


def _capacity(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                   dict[str, Any]]:
    p = subprocess.run(
        [sys.executable, "-m", "loadtest", "capacity", "--step-duration", "4s",
         "--step-warmup", "1s", "--precision", "0.5", "--metrics-source", "embedded",
         "--out", str(tmp_path), *args], cwd=ROOT, capture_output=True, text=True,
        timeout=400)
    return p, json.loads((tmp_path / "latest" / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.postgres
def test_a_small_pool_is_the_bottleneck(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, r = _capacity(tmp_path, "--start-rate", "80", "--max-rate", "640",
                     "--database", postgres.new_database(), "--target-fault", "db_pool_size=2",
                     "--target-fault", "db_latency=10ms", "--project", "1000")
    assert p.returncode in (0, 1), p.stderr + p.stdout
    cap = r["capacity"]
    assert cap["bottleneck"]["name"] == "db_connections", cap["bottleneck"]
    failing = next(s for s in r["steps"] if s["offered_rate"] == cap["first_fail"])
    pool = next(x for x in failing["resources"] if x["name"] == "db_connections")
    assert pool["limit"] == 2 and pool["peak"] == 2 and pool["utilization"] >= 0.8
    assert "bottleneck: db_connections" in p.stdout
    proj = cap["projection"]
    assert proj["instances"] == -(-1000 * 1.3 // cap["rate"])
    assert "projection assuming linear scaling" in p.stdout
    html = (tmp_path / "latest" / "index.html").read_text()
    assert "Resource: db_connections" in html and "Resource: cpu" in html
    assert f"{proj['instances']} instance(s) for 1000 req/s" in html


@pytest.mark.slow
def test_a_cpu_bound_target_names_cpu(tmp_path: Path) -> None:
    p, r = _capacity(tmp_path, "--start-rate", "80", "--max-rate", "640",
                     "--target-fault", "cpu=8ms", "--target-fault", "endpoints=/api/*")
    assert p.returncode in (0, 1), p.stderr + p.stdout
    assert r["capacity"]["bottleneck"]["name"] == "cpu", r["capacity"]["bottleneck"]
    assert "bottleneck: cpu" in p.stdout


def test_resources_section_maps_names_selectors_and_limits(tmp_path: Path) -> None:
    """An SLO file's `resources:` replaces the defaults: its metric, selector and limit are
    what is read (here from synthetic scrapes), and the busiest one near its limit is named."""
    from loadtest.judge.resources import bottleneck, measure, projection
    from loadtest.metrics.base import Window
    from loadtest.metrics.embedded import EmbeddedSource
    from loadtest.metrics.exposition import Snapshot
    from loadtest.slo import load_slo

    slo_file = tmp_path / "slo.yaml"
    base = (ROOT / "slo" / "opscore.yaml").read_text()
    slo_file.write_text(base + """
resources:
  - {name: workers, metric: busy_workers, selector: {pool: api}, limit: 8}
  - {name: cpu, metric: cpu_seconds, kind: counter, unit: cores, limit: 2}
""")
    slo = load_slo(slo_file)

    def snap(t: float, busy: float, cpu: float) -> Snapshot:
        return Snapshot(t, {("busy_workers", (("pool", "api"),)): busy,
                            ("busy_workers", (("pool", "admin"),)): 100.0,
                            ("cpu_seconds", ()): cpu})

    scrapes = EmbeddedSource(None, snapshots=[snap(100 + i, 6 + i % 2, 0.5 * i)
                                              for i in range(6)])
    used = {r["name"]: r for r in measure(slo, scrapes, scrapes, Window(100, 105))}
    assert used["workers"]["value"] == pytest.approx(6.5, abs=0.1)   # pool=api only
    assert used["workers"]["utilization"] == pytest.approx(6.5 / 8, abs=0.02)
    assert used["cpu"]["value"] == pytest.approx(0.5) and used["cpu"]["utilization"] == 0.25
    steps = [{"offered_rate": 200.0, "resources": list(used.values())}]
    assert bottleneck(steps, 200.0)["name"] == "workers"
    used["workers"]["utilization"] = 0.5
    assert bottleneck(steps, 200.0)["name"] is None
    assert "none of the measured resources" in bottleneck(steps, 200.0)["text"]
    plan = projection(150.0, 1000.0, 0.3, False, None)
    assert plan is not None and plan["instances"] == 9   # 1300 / 150 = 8.7
    assert "linear scaling" in plan["text"] and "database is shared" in plan["text"]
