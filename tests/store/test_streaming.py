"""Client statistics in bounded memory: the chunked two-pass figures equal the whole-frame
ones exactly (made-up samples written as the Locust side writes them; no server)."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path
from typing import Any

import pytest

from loadtest.judge.objectives import evaluate_client
from loadtest.metrics.base import Window
from loadtest.slo import parse_slo
from loadtest.store.client_samples import ClientSamples
from loadtest.store.client_samples import client_stats as streamed_stats
from loadtest.store.samples import load_samples
from tests.support import whole_frame_compact as compact_samples
from tests.support import whole_frame_stats as client_stats

COLUMNS = ["start", "intended", "method", "name", "response_ms", "status", "failed", "error",
           "bytes"]


def write_samples(folder: Path, n: int, seed: int, files: int = 1) -> None:
    rng = random.Random(seed)
    writers = []
    for i in range(files):
        f = (folder / f"samples-{i + 1}.csv").open("w", newline="")
        writers.append((f, csv.writer(f)))
        writers[-1][1].writerow(COLUMNS)
    t = 1000.0
    for i in range(n):
        t += rng.random() * 0.002
        status = rng.choice([200] * 60 + [500, 0, 404])
        row = [t, t - rng.random() * 0.01, rng.choice(["GET", "POST"]),
               rng.choice(["/a", "/b", "/c/{id}"]), round(rng.lognormvariate(3, 0.8), 3),
               status, int(status != 200), "" if status == 200 else f"HTTPError: {status} x",
               10]
        writers[i % files][1].writerow(row)
    with (folder / "samples-1.csv").open("a") as f:
        f.write("1050.0,1049.9,GET,/a")  # a torn last line (a killed run)
    for f, _ in writers:
        f.close()


def same(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict):
        return [d for k in a for d in same(a[k], b.get(k), f"{path}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9):
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


@pytest.mark.parametrize("files", [1, 2])
def test_streamed_statistics_equal_the_whole_frames(tmp_path: Path, files: int) -> None:
    write_samples(tmp_path, 40_000, seed=files, files=files)
    window = Window(1005.0, 1035.0)
    df = load_samples(tmp_path)
    cs = ClientSamples(tmp_path, window, 1000.0, chunk_rows=3_000)  # many chunk boundaries
    whole, streamed = client_stats(df, window, 1000.0), streamed_stats(cs)
    whole["errors"].sort(key=lambda e: (-e["count"], e["name"], e["method"], e["status"]))
    streamed["errors"].sort(key=lambda e: (-e["count"], e["name"], e["method"], e["status"]))
    assert same(whole, streamed) == []
    if files == 1:  # one file in time order: the very rows kept for comparisons
        assert same(compact_samples(df, window), cs.compact(200_000)) == []
    thinned = cs.compact(1_000)
    assert len(thinned["t"]) == 1_000 and thinned["thinned"] is True


def test_client_objectives_streamed_equal_the_whole_frames(tmp_path: Path) -> None:
    write_samples(tmp_path, 20_000, seed=7)
    window = Window(1005.0, 1025.0)
    slo = parse_slo("""\
version: 1
objectives:
  - {name: p95, kind: client, metric: latency, quantile: 0.95, threshold: 45ms}
  - {name: b_p99, kind: client, metric: latency, quantile: 0.99, threshold: 80ms,
     endpoint: /b, corrected: false}
  - {name: gets_5xx, kind: client, metric: error_rate, max: 0.01, method: get}
  - {name: rate, kind: client, metric: throughput, min: 10}
""", "t.yaml")
    cs = ClientSamples(tmp_path, window, 1000.0, thresholds_s=[0.045, 0.08], chunk_rows=2_500)
    whole = {o.name: o.to_dict() for o in evaluate_client(slo, load_samples(tmp_path), window)}
    streamed = {o.name: o.to_dict() for o in evaluate_client(slo, cs, window)}
    assert same(whole, streamed) == []
    assert whole["p95"]["status"] in ("pass", "fail") and whole["gets_5xx"]["samples"] > 1000


def test_one_percentile_definition_in_the_report_and_the_comparison(tmp_path: Path) -> None:
    """100 known samples (1..100 ms): the p95 is the 95th value (nearest rank, the smallest
    value with at least 95% of the samples at or below it) in the report's statistics
    (streamed and whole-frame), in a client objective, and in the comparison with a baseline."""
    import numpy as np

    from loadtest.regression.compare import compare_runs
    from loadtest.store.client_samples import FrameSamples, rank

    values = list(range(1, 101))
    random.Random(4).shuffle(values)
    with (tmp_path / "samples-1.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i, ms in enumerate(values):
            t = 1000.0 + i * 0.01
            w.writerow([t, t, "GET", "/a", float(ms), 200, 0, "", 10])
    window = Window(999.0, 1010.0)
    cs = ClientSamples(tmp_path, window, 999.0)
    streamed = streamed_stats(cs, compact_limit=1000)
    whole = client_stats(load_samples(tmp_path), window, 999.0)
    assert streamed["totals"]["latency_ms"]["p95"] == 95.0
    assert whole["totals"]["latency_ms"]["p95"] == 95.0
    assert streamed["endpoints"][0]["p95_ms"] == 95.0
    assert FrameSamples(load_samples(tmp_path), window).quantile([("GET", "/a")],
                                                                 "response_ms", 0.95) == 95.0
    slo = parse_slo("""\
version: 1
regression: {min_samples: 100, resamples: 100}
objectives:
  - {name: p95, kind: latency, quantile: 0.95, threshold: 2s}
  - {name: client_p95, kind: client, metric: latency, quantile: 0.95, threshold: 2s,
     corrected: false}
""", "t.yaml")
    [client] = [o.to_dict() for o in evaluate_client(slo, cs, window)]
    assert client["value"] == pytest.approx(0.095)
    run = {"run": {"window": {"seconds": window.seconds}},
           "samples": {"client": cs.compact(1000)}}
    [check] = [c for c in compare_runs(run, run, slo).checks if c["objective"] == "p95"]
    assert check["run_value"] == pytest.approx(0.095)
    assert check["base_value"] == pytest.approx(0.095)
    # the rank is numpy's inverted_cdf for every size and quantile asked of it
    for n in (1, 2, 3, 7, 10, 99, 100, 101, 1000):
        data = np.arange(n)
        for q in (0.0, 0.01, 0.07, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
            assert rank(n, q) == np.quantile(data, q, method="inverted_cdf"), (n, q)
