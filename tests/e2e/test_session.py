"""One session for every judged run: `loadtest run`, `loadtest capacity` and a `locust
--headless` run with the plugin leave the same run directory (loadtest/session.py): the
`running` record replaced by the results, the reports, the annotation, the samples' digests,
`latest` and a line in the history. Short windows: the contents are the point, not the
figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, RunningTarget, assert_published, loadtest, watch_records


def test_run_capacity_and_the_plugin_publish_the_same_run_directory(
        sqlite_target: RunningTarget, tmp_path: Path) -> None:
    runs = {
        "run": ["run", "--duration", "3s", "--warmup", "1s", "--metrics-source", "embedded",
                "--rate", "20"],
        "capacity": ["capacity", "--start-rate", "10", "--max-rate", "10", "--step-duration",
                     "2s", "--step-warmup", "1s", "--metrics-source", "embedded",
                     "--require", "5"],
    }
    published = {}
    for name, args in runs.items():
        out = tmp_path / name
        with watch_records(out) as seen:
            p = loadtest(*args, "--out", str(out))
        assert p.returncode in (0, 1, 3), p.stderr[-3000:]
        published[name] = assert_published(out, out / "latest", seen)
    out = tmp_path / "plugin"
    with watch_records(out) as seen:
        p = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "tests/locustfiles/with_plugin.py"),
             "--headless", "-u", "5", "-r", "5", "-t", "4s", "-H", sqlite_target.url,
             "--only-summary", "--slo", str(ROOT / "slo" / "opscore.yaml"),
             "--slo-warmup", "1s", "--slo-out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert p.returncode in (0, 1, 3), p.stderr[-3000:]
    published["plugin"] = assert_published(out, out / "latest", seen)
    assert {r["verdict"]["status"] for r in published.values()} <= {"pass", "fail",
                                                                    "inconclusive"}
