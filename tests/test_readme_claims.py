"""What the README says about retries, messages and files, checked against the code: the
Prometheus queries' retries (a real server answering 500, refusing connections), the example
error of the SLO file section (produced from the shipped file), `verify --out`'s own variable,
no /proc read by hand outside the reference target, no citation of files the repository does
not hold."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.metrics.base import SourceError
from loadtest.metrics.prometheus import PrometheusSource
from tests.support import ROOT
from tests.support.hostile import hostile_server

README = (ROOT / "README.md").read_text(encoding="utf-8")
VECTOR = '{"status":"success","data":{"resultType":"vector","result":[' \
         '{"metric":{},"value":[1,"42"]}]}}'


def test_a_5xx_answer_is_asked_again_with_backoff_then_answers() -> None:
    assert "asked again up to 3 times with a backoff\n(0, 0.5, 1 s)" in README
    with hostile_server({"/api/v1/query": f"flaky:3:json:{VECTOR}"}) as url:
        t0 = time.monotonic()
        assert PrometheusSource(url, timeout_s=2.0).scalar("up", time.time()) == 42.0
        elapsed = time.monotonic() - t0
        assert url.hits["/api/v1/query"] == 4  # three 500s, then the answer
    assert 1.4 < elapsed < 5, elapsed  # the backoff: 0 + 0.5 + 1 s


def test_a_5xx_that_persists_is_an_error_naming_the_status_after_3_retries() -> None:
    with hostile_server({"/api/v1/query": "status:500"}) as url:
        t0 = time.monotonic()
        with pytest.raises(SourceError, match="500"):
            PrometheusSource(url, timeout_s=2.0).scalar("up", time.time())
        assert url.hits["/api/v1/query"] == 4
        assert time.monotonic() - t0 < 5


def test_a_refused_connection_is_asked_again_then_did_not_answer() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="did not answer"):
        PrometheusSource(f"http://127.0.0.1:{port}", timeout_s=2.0).scalar("up", time.time())
    elapsed = time.monotonic() - t0
    assert 1.4 < elapsed < 5, elapsed  # retried with the backoff, bounded


def test_the_slo_error_example_is_what_the_shipped_file_gives(tmp_path: Path) -> None:
    [example] = re.findall(r"`(slo/opscore\.yaml:\d+: objectives\[0\]\.threshold: [^`]+)`",
                           README)
    line = int(example.split(":")[1])
    shipped = (ROOT / "slo" / "opscore.yaml").read_text().splitlines()
    assert shipped[line - 1].strip() == "threshold: 2s"  # objectives[0]'s threshold
    shipped[line - 1] = shipped[line - 1].replace("2s", "2 sec")
    (tmp_path / "slo").mkdir()
    (tmp_path / "slo" / "opscore.yaml").write_text("\n".join(shipped) + "\n")
    p = subprocess.run([sys.executable, "-m", "loadtest", "slo",
                        "check", "slo/opscore.yaml"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == f"loadtest: error: {example}"


def test_verify_out_reads_its_own_variable_not_loadtest_out(tmp_path: Path) -> None:
    """A CI job that exports LOADTEST_OUT for `run` must not send verifications there."""
    runner = CliRunner()
    help_text = re.sub(r"[\s│]+", " ", runner.invoke(app, ["verify", "--help"],
                                                      terminal_width=200).output)
    assert "LOADTEST_VERIFY_OUT" in help_text and "LOADTEST_OUT]" not in help_text
    assert "`LOADTEST_VERIFY_OUT`" in README
    # the option takes the variable (a missing run: exit 2 before anything is written)
    env_out = tmp_path / "runs"
    result = runner.invoke(app, ["verify", str(tmp_path / "nothing")],
                           env={"LOADTEST_OUT": str(env_out)})
    assert result.exit_code == 2 and not env_out.exists()


def test_no_proc_read_by_hand_outside_the_reference_target() -> None:
    found = subprocess.run(["grep", "-rn", "/proc/", str(ROOT / "loadtest")],
                           capture_output=True, text=True, check=False).stdout.splitlines()
    outside = [line for line in found
               if not line.startswith(str(ROOT / "loadtest" / "target") + "/")]
    assert outside == []


def test_code_cites_no_file_the_repository_does_not_hold() -> None:
    cited = set()
    for path in (ROOT / "loadtest").rglob("*.py"):
        cited |= {(path.name, m) for m in
                  re.findall(r"\b([A-Z][A-Za-z-]+\.md)\b", path.read_text(encoding="utf-8"))}
    missing = {(where, name) for where, name in cited if not (ROOT / name).exists()}
    assert missing == set()
