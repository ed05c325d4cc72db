"""Load generation: the schedule (pure), shapes, local workers, and a starved generator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtest.errors import ConfigError, UsageError
from loadtest.load.schedule import Schedule, parse_profile
from loadtest.load.shapes import build, from_file
from tests.support import ROOT


def test_constant_schedule_is_evenly_spaced() -> None:
    s = Schedule(100.0)
    s.start(1000.0)
    slots = [s.claim() for _ in range(1000)]
    assert slots[0] == 1000.0
    assert slots[-1] == pytest.approx(1000.0 + 999 / 100)
    assert s.claimed == 1000


def test_poisson_schedule_keeps_the_rate() -> None:
    s = Schedule(200.0, "poisson", seed=3)
    s.start(0.0)
    slots = [s.claim() for _ in range(20000)]
    assert 20000 / slots[-1] == pytest.approx(200.0, rel=0.03)
    gaps = [b - a for a, b in zip(slots, slots[1:])]
    assert min(gaps) < 0.0005 and max(gaps) > 0.02  # bursts and lulls, unlike even spacing


def test_profile_schedule_follows_the_shape() -> None:
    profile = build("step", 50.0, 2.0, 9.0)
    s = Schedule(50.0, profile=parse_profile(profile.to_env()))
    s.start(0.0)
    slots = [s.claim() for _ in range(2000)]
    in_peak = [t for t in slots if profile.judge_from <= t < profile.judge_to]
    assert len(in_peak) == pytest.approx(100 * 3, abs=2)
    assert profile.expected(profile.judge_from, profile.judge_to) == pytest.approx(300, rel=0.01)


@pytest.mark.parametrize("shape, judged", [("constant", (10, 70)), ("soak", (10, 70)),
                                           ("ramp", (10, 70)), ("step", (50, 70)),
                                           ("spike", (10, 70))])
def test_each_shape_defines_its_judged_window(shape: str, judged: tuple[int, int]) -> None:
    p = build(shape, 100.0, 10.0, 60.0)
    assert (p.judge_from, p.judge_to) == pytest.approx(judged)
    assert p.length == 70
    peak = max(r for _, r in p.points)
    assert peak == {"step": 200, "spike": 300}.get(shape, 100)


def test_shape_files(tmp_path: Path) -> None:
    f = tmp_path / "shape.yaml"
    f.write_text("stages:\n  - {duration: 10s, rate: 20}\n  - {duration: 20s, rate: 80, "
                 "ramp: true}\njudge: {from: 10s}\n")
    p = from_file(f)
    assert p.points == ((0.0, 20.0), (10.0, 20.0), (30.0, 80.0))
    assert (p.judge_from, p.judge_to) == (10.0, 30.0)
    assert p.rate_at(20.0) == pytest.approx(50.0)
    f.write_text("stages:\n  - {duration: 10s, rate: -1}\n")
    with pytest.raises(ConfigError, match=r"shape.yaml:2: stages\[0\]\.rate: -1: Input should "
                                          "be greater than 0"):
        from_file(f)
    with pytest.raises(UsageError, match="not a known shape"):
        build("zigzag", 1, 1, 1)


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--metrics-source",
                        "embedded", "--out", str(tmp_path), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    return p.returncode, results, p.stdout + p.stderr


@pytest.mark.slow
def test_two_local_workers_merge_their_samples(tmp_path: Path) -> None:
    code, r, out = run(tmp_path, "--workers", "2", "--duration", "6s", "--warmup", "2s")
    assert code == 0, out
    assert abs(r["load"]["achieved_rate"] - 100) <= 2
    # each worker paces half the rate and sends its samples to the master, which writes
    # them: 100 req/s in the results means both workers' samples arrived
    files = list((tmp_path / "latest" / "locust").glob("samples-*.csv"))
    with_rows = [f for f in files if len(f.read_text().splitlines()) > 1]
    assert len(with_rows) == 1
    assert r["client"]["totals"]["requests"] >= 588
    workers = r["load"]["workers"]
    assert len(workers["connected"]) == 2 and workers["lost"] == []


@pytest.mark.slow
def test_step_shape_is_judged_on_its_peak(tmp_path: Path) -> None:
    code, r, out = run(tmp_path, "--shape", "step", "--rate", "50", "--duration", "9s",
                       "--warmup", "2s")
    assert code == 0, out  # the peak step offers 100 req/s
    assert r["run"]["window"]["seconds"] == pytest.approx(3.0)
    assert r["load"]["requested_rate"] == pytest.approx(100, rel=0.01)
    assert abs(r["load"]["achieved_rate"] - 100) <= 5


@pytest.mark.slow
def test_a_starved_generator_is_inconclusive_not_a_slow_server(tmp_path: Path) -> None:
    # 2 users and 100 ms per request can send at most 20 req/s of the 100 asked; the default
    # objectives and a client latency corrected for coordinated omission that would abort
    # after 3 s of breach: the breach is the generator's lag alone (as measured, 100 ms holds)
    slo = tmp_path / "slo.yaml"
    slo.write_text((ROOT / "slo" / "opscore.yaml").read_text() + """
  - {name: client_p95, kind: client, metric: latency, quantile: 0.95, threshold: 500ms,
     min_samples: 20, abort_after: 3s}
""")
    code, r, out = run(tmp_path, "--users", "2", "--duration", "6s", "--warmup", "2s",
                       "--target-fault", "latency=100ms", "--slo", str(slo))
    assert code == 3, out
    assert not r["load"]["delivered"]
    # --rate counts task starts: the units named (one request a task here)
    started = re.search(r"the load generator started ([\d.]+) of 100.0 tasks/s \(",
                        r["verdict"]["reason"])
    assert started and 10 <= float(started.group(1)) <= 20.5, r["verdict"]["reason"]
    assert "too few users" in r["verdict"]["reason"]  # the target kept up with what was sent
    throughput = next(o for o in r["objectives"] if o["kind"] == "throughput")
    assert throughput["status"] == "no_data" and "cannot be judged" in throughput["reason"]
    assert r["client"]["totals"]["corrected_latency_ms"]["p95"] > 1000  # the wait shows
    assert "aborted" not in r["load"], r["load"].get("aborted")  # the live monitor knew
    live = {o["name"]: o for o in r["live"]["objectives"]}["client_p95"]
    assert live["lag_only"] >= 2, str(live)
    client = next(o for o in r["objectives"] if o["name"] == "client_p95")
    assert client["status"] == "no_data" and client["extra"]["measured"] < 0.5


@pytest.mark.slow
def test_a_dying_worker_marks_the_run_and_the_survivor_is_kept(tmp_path: Path) -> None:
    """A master for other machines' workers and two workers started apart from the harness
    (as on other hosts: no LOADTEST_* variables), on loopback. Each gets its share of the
    plan; one is killed (SIGKILL, no goodbye) mid-window: the master notices its silence, the
    run is marked inconclusive with that reason, and the survivor's samples are all there."""
    import os
    import signal
    import time

    from loadtest.stack.processes import free_port

    port = free_port()
    gate = subprocess.Popen([sys.executable, "-m", "loadtest", "run", "--remote-workers", "2",
                             "--master-port", str(port), "--master-bind-host", "127.0.0.1",
                             "--duration", "10s", "--warmup", "2s", "--metrics-source",
                             "embedded", "--out", str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    workers = [subprocess.Popen([sys.executable, "-m", "loadtest", "worker", "--master-host",
                                 "127.0.0.1", "--master-port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*/locust/started-*.json")):
            assert time.monotonic() < deadline and gate.poll() is None, "the load never started"
            time.sleep(0.1)
        time.sleep(2 + 4)  # the warm-up, then 4 s into the window
        killed_at = time.time()
        os.killpg(workers[0].pid, signal.SIGKILL)
        out, err = gate.communicate(timeout=150)
        workers[1].wait(timeout=30)
    finally:
        for p in (gate, *workers):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL) if p is not gate else p.kill()
    assert gate.returncode == 3, out + err
    r = json.loads((tmp_path / "latest" / "results.json").read_text())
    lost = r["load"]["workers"]["lost"]
    assert len(lost) == 1 and lost[0]["how"] == "stopped sending heartbeats"
    assert abs(lost[0]["at"] - killed_at) < 3
    assert any("Locust worker" in p and "share of the rate" in p for p in r["load"]["problems"])
    assert "Locust worker" in r["verdict"]["reason"]
    # the master split the rate again: the survivor paces the whole 100 req/s from then on
    split = r["load"]["workers"]["splits"][-1]
    assert split["workers"] == 1 and split["share"] == 100 and lost[0]["id"] in split["why"]
    assert 0 < split["at"] - lost[0]["at"] <= 4  # "at" is dated back to the silence
    # the survivor sent its half of the rate over the whole window (500) and the dead one's
    # half after the split; the dead one at most 4 s of its half (200) less its last flush
    assert 600 <= r["client"]["totals"]["requests"] <= 1000
