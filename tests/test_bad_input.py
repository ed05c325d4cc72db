"""Bad input, as a careless or hostile user gives it (#41): every option, URL, port, number,
database URL, fault, scenario, Locust option after `--` and input file is refused before
anything starts, with one line and exit 2, in bounded time and memory, with nothing left on
disk and no secret in the output. In process (CliRunner) with every way of starting a process
made to fail the test; a few checks through the installed entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import loadtest.stack.processes
import loadtest.target.server
from loadtest.cli import app
from loadtest.errors import ConfigError, UsageError
from loadtest.inputs import MAX_DEPTH, parse_yaml
from loadtest.load.locust_options import (
    LOCUST_OPTIONS,
    check_pass_through,
    check_scenario,
    resolve_option,
)
from loadtest.session import no_empty_run_dir
from loadtest.slo import load_slo, parse_slo
from loadtest.stack.servers import prometheus_binary
from loadtest.store.results import write_results
from tests.support import ROOT, made_up_results

SECRET = "planted-secret-41c3e7"
ENV = {"LOADTEST_TARGET_TOKEN": SECRET, "LOADTEST_PROMETHEUS_TOKEN": SECRET,
       "LOADTEST_PROMETHEUS_USER": SECRET, "LOADTEST_PROMETHEUS_PASSWORD": SECRET}
runner = CliRunner(env=ENV)


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A valid SLO file with an extra key holding `width`**`levels` strings by aliases (the
    probe's 427-byte file: nine levels); the extra key is an error whose message wants its
    line."""
    names = [f"{chr(ord('a') + i % 26)}{i // 26 or ''}" for i in range(levels)]
    lines = ["version: 1", "objectives:", "- {name: x, kind: latency, quantile: 0.95, "
             "threshold: 2s}", "a: &a [" + ",".join(["lol"] * width) + "]"]
    for prev, name in zip(names, names[1:]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The inputs the table names: a finished run, broken files of every kind."""
    d = tmp_path_factory.mktemp("inputs")
    f: dict[str, Path] = {}

    def put(name: str, data: str | bytes) -> Path:
        path = d / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        f[name.split(".")[0]] = path
        return path

    run = d / "run"
    write_results(run, made_up_results())
    f["run"] = run
    other = made_up_results()
    other["run"]["id"] = "r2"  # type: ignore[index]
    write_results(d / "run2", other)
    f["run2"] = d / "run2"
    put("bomb.yaml", alias_bomb())
    put("merge_bomb.yaml", "version: 1\nobjectives: []\n" + "\n".join(
        ["m0: &m0 {a: 1, b: 2}"] + [f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9)
                                       + "]}" for i in range(1, 9)]) + "\n")
    put("openslo_bomb.yaml", "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\n"
        + alias_bomb().split("\n", 3)[3].replace("a: &a", "spec: &a", 1))
    put("big.yaml", b"# padding\n" * (5 * 1024 * 1024))  # 50 MB
    put("deep.yaml", "version: " + "[" * 5000 + "]" * 5000 + "\n")
    put("recursive.yaml", "version: 1\nobjectives: &o [*o]\n")
    put("nonutf8.yaml", b"version: 1\nobjectives: \xff\xfe\n")
    put("inf.yaml", "version: 1\nobjectives:\n  - {name: p95, kind: latency, quantile: 0.95, "
                    "threshold: .inf}\n")
    put("badstage.yaml", "stages:\n  - {duration: 30s, rat: 50}\n")
    put("bombstage.yaml", "stages: " + alias_bomb().split("a: ", 1)[1].replace("\na", "\nz"))
    put("goodstage.yaml", "stages:\n  - {duration: 30s, rate: 5}\n")
    put("nouser.py", '"""Helpers only."""\nimport locust  # noqa: F401\n\n\ndef helper():\n'
                     "    return 1\n")
    put("shapeonly.py", "from locust import LoadTestShape\n\n\nclass S(LoadTestShape):\n"
                        "    def tick(self):\n        return None\n")
    put("syntax.py", "from locust import HttpUser\nclass U(HttpUser)\n    pass\n")
    put("bigpy.py", "# x\n" * (2 * 1024 * 1024))
    put("notjson.json", "{not json")
    put("deepjson.json", "[" * 100_000 + "]" * 100_000)
    put("wrongtypes.json", json.dumps({"schema_version": 1, "run": 5, "objectives": [],
                                       "verdict": {}}))
    (d / "nowindow").mkdir()
    put("nowindow/results.json", json.dumps({
        "schema_version": 1, "run": {"id": "w", "window": {"start": "x"}}, "objectives": [],
        "verdict": {"status": "pass"}}))
    f["nowindow"] = d / "nowindow"
    put("newer.json", json.dumps({"schema_version": 99}))
    put("plain.txt", "not a results file\n")
    put("rules.yml", "groups: []\n")
    (d / "adir").mkdir()
    f["adir"] = d / "adir"
    return f


# (arguments, what the one line must say); {name} is a file of the fixture above
TABLE: list[tuple[list[str], str]] = [
    # numbers: inf, nan, negative, zero, absurd, not numbers
    (["run", "--rate", "inf"], "--rate inf: must be > 0 and at most 1,000,000"),
    (["run", "--rate", "nan"], "--rate nan: must be > 0"),
    (["run", "--rate", "-5"], "--rate -5.0: must be > 0"),
    (["run", "--rate", "0"], "--rate 0.0: must be > 0"),
    (["run", "--rate", "1e12"], "at most 1,000,000 requests per second"),
    (["run", "--rate", "abc"], "Invalid value for '--rate'"),
    (["run", "--duration", "0s"], "the window must be at least 1s"),
    (["run", "--duration", "10000h"], "--duration 36000000.0: must be >= 1 and at most"),
    (["run", "--duration", "2 sec"], "--duration: '2 sec' is not a duration"),
    (["run", "--duration", "9" * 400 + "s"], "is too long to be a duration"),
    (["run", "--warmup", "-1s"], "--warmup: '-1s' is not a duration"),
    (["run", "--warmup", "48h"], "--warmup 172800.0: must be >= 0 and at most 86,400"),
    (["run", "--users", "0"], "--users 0: must be >= 1"),
    (["run", "--users", "-1"], "--users -1: must be >= 1"),
    (["run", "--users", "10000000"], "--users 10000000: must be >= 1 and at most 1,000,000"),
    (["run", "--users", "2.5"], "Invalid value for '--users'"),
    (["run", "--workers", "0"], "--workers 0: use 1 to 64"),
    (["run", "--workers", "65"], "--workers 65: use 1 to 64"),
    (["run", "--remote-workers", "-1"], "--remote-workers N (N >= 1)"),
    (["run", "--remote-workers", "5000"], "--remote-workers 5000: must be >= 0 and at most"),
    (["run", "--remote-workers", "1", "--workers", "2"], "do not combine it with --workers"),
    (["run", "--remote-workers", "1", "--master-port", "70000"],
     "--master-port 70000: use a TCP port from 1 to 65535"),
    (["run", "--remote-workers", "1", "--master-port", "0"], "--master-port 0: use a TCP port"),
    (["run", "--remote-workers", "1", "--master-bind-host", "a b"], "--master-bind-host 'a b'"),
    (["run", "--drift-significance", "nan"], "--drift-significance nan: use a p-value"),
    (["run", "--drift-significance", "2"], "--drift-significance 2.0: use a p-value"),
    (["run", "--drift-min-size", "0"], "--drift-min-size 0: use 1 to 50"),
    (["run", "--request-timeout", "0s"], "--request-timeout 0s: use more than 0s"),
    (["run", "--request-timeout", "11m"], "--request-timeout 11m: use more than 0s"),
    (["run", "--request-timeout", "abc"], "--request-timeout: 'abc' is not a duration"),
    # shapes, choices, models
    (["run", "--shape", "zigzag"], "--shape 'zigzag': not a known shape"),
    (["run", "--shape", "{badstage}"], "stages[0].rat: not a field of a shape file"),
    (["run", "--shape", "{bombstage}"], "an alias bomb?"),
    (["run", "--shape", "{goodstage}", "--rate", "5"], "--rate (or LOADTEST_RATE): the stage"),
    (["run", "--shape", "{adir}"], "is a directory (give the shape file's path)"),
    (["run", "--arrivals", "weird"], "--arrivals 'weird': use constant or poisson"),
    (["run", "--metrics-source", "nope"], "--metrics-source 'nope': use auto"),
    (["run", "--model", "half"], "--model 'half': use open"),
    (["run", "--model", "closed"], "--model closed: pass --users N"),
    (["run", "--model", "closed", "--users", "5", "--shape", "ramp"], "--shape ramp: shapes"),
    # URLs
    (["run", "--target", "http://256.1.1.1"], "'256.1.1.1' is not a host name or IP address"),
    (["run", "--target", "127.0.0.1:8080"], "give a base URL like http://127.0.0.1:8080"),
    (["run", "--target", "ftp://127.0.0.1"], "give a base URL like http://127.0.0.1:8080"),
    (["run", "--target", "http://exa mple.com"], "(no spaces)"),
    (["run", "--target", "http://127.0.0.1:99999"], "the port must be a number from 1"),
    (["run", "--target", "http://127.0.0.1:0"], "the port must be a number from 1"),
    (["run", "--target", f"http://me:{SECRET}@127.0.0.1:8080"], "LOADTEST_TARGET_TOKEN"),
    (["run", "--target", "http://127.0.0.1:8080/?q=1"], "without ?query or #fragment"),
    (["run", "--target", "http://"], "give a base URL like"),
    (["run", "--target", "http://bad..host"], "is not a host name or IP address"),
    (["run", "--target", "http://[::1"], "not a URL (Invalid IPv6 URL)"),
    (["run", "--prometheus", "not-a-url"], "--prometheus 'not-a-url': give a base URL"),
    (["run", "--prometheus", "http://999.0.0.1:9090"], "'999.0.0.1' is not a host name"),
    (["run", "--prometheus", f"http://u:{SECRET}@127.0.0.1:9090"],
     "credentials do not go in the URL"),
    (["run", "--target", "http://127.0.0.1:1", "--metrics-url", "http://x:99999/metrics"],
     "--metrics-url 'http://x:99999/metrics': the port must be"),
    (["run", "--target", "http://127.0.0.1:1", "--metrics-url", "none"],
     "--metrics-url none: the harness reads no metrics"),
    (["run", "--target", "http://127.0.0.1:1", "--metrics-url", "foo"],
     "--metrics-url 'foo': give a full URL"),
    (["run", "--metrics-url", "http://127.0.0.1:9100/metrics"], "it needs --target"),
    (["run", "--target", "http://127.0.0.1:1", "--probe", "health"], "--probe 'health'"),
    (["run", "--probe", "none", "--probe", "/health"], "--probe none skips the probes"),
    # the reference target's database and faults
    (["run", "--database", "mysql://x"], "--database 'mysql://x': use sqlite:///PATH"),
    (["run", "--database", "sqlite:///no/such/dir/x.db"], "the folder no/such/dir does not"),
    (["run", "--database", "postgresql://h:99999/db"], "the port must be a number from 1"),
    (["run", "--database", f"postgresql://u:{SECRET}@h:99999/db"], "postgresql://***@h"),
    (["run", "--database", "sqlite:///"], "name the file"),
    (["run", "--target", "http://127.0.0.1:1", "--database", "sqlite:///x.db"],
     "they do not apply with --target"),
    (["run", "--target-fault", "latency=abc"], "'abc' is not a duration"),
    (["run", "--target-fault", "error_ratio=2"], "error_ratio must be a share from 0 to 1"),
    (["run", "--target-fault", "error_ratio=nan"], "error_ratio must be a share from 0 to 1"),
    (["run", "--target-fault", "max_concurrency=-1"], "max_concurrency must be a whole"),
    (["run", "--target-fault", "max_concurrency=4.5"], "max_concurrency must be a whole"),
    (["run", "--target-fault", "db_pool_size=0"], "db_pool_size must be a whole number"),
    (["run", "--target-fault", "cpu=lognormal:1s,inf"], "sigma must be from 0 to 10"),
    (["run", "--target-fault", "latency=99999h"], "at most 3600s"),
    (["run", "--target-fault", "bogus=1"], "--target-fault 'bogus=1': use KEY=VALUE"),
    (["run", "--target-fault", "latency"], "--target-fault 'latency': use KEY=VALUE"),
    (["run", "--rules", "nope.yml"], "--rules nope.yml: no such file"),
    (["run", "--rules", "{rules}", "--prometheus", "http://127.0.0.1:9090"],
     "--rules loads rule files into the local Prometheus"),
    (["run", "--http-buckets", "1,nan"], "--http-buckets"),
    (["run", "--target", "http://127.0.0.1:1", "--http-buckets", "kpi"],
     "they do not apply with --target"),
    (["run", "--tag", "novalue"], "--tag 'novalue': use KEY=VALUE"),
    # the scenario, read without running it
    (["run", "--scenario", "nope.py"], "--scenario nope.py: no such file"),
    (["run", "--scenario", "{nouser}"], "no User class found"),
    (["run", "--scenario", "{shapeonly}"], "no User class found"),
    (["run", "--scenario", "{syntax}"], ":2: syntax error"),
    (["run", "--scenario", "{adir}"], "no such file"),
    (["run", "--scenario", "{bigpy}"], "larger than a locustfile may be"),
    # Locust's own options after --, abbreviations resolved as Locust's parser does
    (["run", "--", "--run-tim", "1h", "--user", "5000"],
     "Locust option --run-tim (--run-time) after --: the harness sets it itself"),
    (["run", "--", "--user", "5000"], "Locust option --user (--users) after --"),
    (["run", "--", "-u5"], "Locust option -u after --"),
    (["run", "--", "--head"], "ambiguous, it could be --headful, --headless"),
    (["run", "--", "--no-such-opt"], "Locust has no such option"),
    (["run", "--", "--csv=x"], "Locust option --csv after --"),
    (["run", "--", "-t", "10s"], "Locust option -t after --"),
    (["run", "--", "--exit-code", "1"], "(--exit-code-on-error) after --"),
    # input files: SLO, baselines, results
    (["run", "--slo", "nope.yaml"], "nope.yaml: no such SLO file (pass --slo PATH"),
    (["run", "--slo", "{bomb}"], "an alias bomb?"),
    (["run", "--slo", "{merge_bomb}"], "an alias bomb?"),
    (["run", "--slo", "{big}"], "50 MB, over the 1 MB limit for SLO files"),
    (["run", "--slo", "{deep}"], "nested too deeply"),
    (["run", "--slo", "{recursive}"], "a recursive structure"),
    (["run", "--slo", "{nonutf8}"], "not UTF-8 text"),
    (["run", "--slo", "{adir}"], "is a directory (give the SLO file's path)"),
    (["run", "--slo", "{inf}"], "objectives[0].threshold"),
    (["slo", "check", "{bomb}"], "an alias bomb?"),
    (["slo", "rules", "{bomb}"], "an alias bomb?"),
    (["slo", "import", "{openslo_bomb}"], "an alias bomb?"),
    (["run", "--slo", "{openslo_bomb}"], "an alias bomb?"),
    (["slo", "import", "{big}"], "over the 1 MB limit for SLO files"),
    (["slo", "rules", "missing.yaml"], "missing.yaml: no such SLO file (e.g. slo/opscore"),
    (["slo", "check", "missing.yaml"], "missing.yaml: no such SLO file (e.g. slo/opscore"),
    (["slo", "check", "slo/opscore.yaml", "--prometheus", "not-a-url"],
     "--prometheus 'not-a-url'"),
    (["run", "--baseline", "nope"], "--baseline nope: no such run directory"),
    (["run", "--baseline", "{notjson}"], "not a readable results file"),
    (["run", "--baseline", "{deepjson}"], "nested too deeply"),
    (["verify", "{run}", "--prometheus", "not-a-url"], "--prometheus 'not-a-url'"),
    (["verify", "{plain}"], "give a run directory (or its results.json)"),
    # RUN/results.json is taken as the run (made-up results judged by a Prometheus long gone)
    (["verify", "{run}/results.json"], "{run}: the run was judged by Prometheus"),
    (["verify", "{adir}"], "no results.json here"),
    (["report", "{adir}/nope"], "no results.json here"),
    (["compare", "{run}", "{run}"], "are the same run (r1)"),
    (["compare", "{run}", "{run}/results.json"], "are the same run (r1)"),
    (["compare", "{wrongtypes}", "{run}"], "run is not a JSON object"),
    (["compare", "{newer}", "{run}"], "newer than this harness reads"),
    (["verify", "{nowindow}"], "run.window.start: Input should be a valid number"),
    # history and baselines
    (["history", "--since", "notadate", "--out", "{adir}"], "--since 'notadate': not a date"),
    (["history", "--out", "{adir}"], "--out {adir}: no history file there"),
    (["history", "--significance", "2"], "--significance 2.0: use a p-value"),
    (["history", "--min-size", "0"], "--min-size 0: use 1 to 50"),
    (["history", "--history", "nope.jsonl"], "--history nope.jsonl: no history file there"),
    (["baseline", "promote", "{run}", "--name", ".."], "--name '..': use letters"),
    (["baseline", "promote", "{run}", "--name", ".hidden"], "--name '.hidden': use letters"),
    (["baseline", "promote", "{run}", "--name", "a/b"], "--name 'a/b': use letters"),
    # capacity
    (["capacity", "--start-rate", "inf"], "--start-rate inf: must be > 0"),
    (["capacity", "--start-rate", "0"], "--start-rate 0.0: must be > 0"),
    (["capacity", "--max-rate", "inf"], "--max-rate inf: must be > 0"),
    (["capacity", "--start-rate", "100", "--max-rate", "50"], "need 0 < start <= max"),
    (["capacity", "--precision", "nan"], "--precision nan: use a fraction"),
    (["capacity", "--precision", "1"], "--precision 1.0: use a fraction"),
    (["capacity", "--project", "inf"], "--project inf: give the req/s"),
    (["capacity", "--require", "-1"], "--require -1.0: must be > 0"),
    (["capacity", "--step-duration", "1s"], "--step-duration: at least 2s"),
    (["capacity", "--step-warmup", "48h"], "--step-warmup 172800.0"),
    (["capacity", "--step-abort-after", "1s"], "--step-abort-after 1s: at least 2s"),
    (["capacity", "--headroom", "lots"], "--headroom 'lots'"),
    (["capacity", "--users", "0"], "--users 0: must be >= 1"),
    (["capacity", "--target", "http://256.1.1.1"], "'256.1.1.1' is not a host name"),
    # the reference target
    (["target", "--port", "70000"], "--port 70000: use a TCP port from 1 to 65535"),
    (["target", "--port", "-1"], "--port -1: use a TCP port from 1 to 65535"),
    (["target", "--port", "0"], "--port 0: use a TCP port"),
    (["target", "--metrics-port", "70000"], "--metrics-port 70000: use a TCP port"),
    (["target", "--metrics-port", "8080"], "--metrics-port 8080: the API listens there"),
    (["target", "--error-ratio", "2"], "--error-ratio 2.0: must be >= 0 and at most 1"),
    (["target", "--error-ratio", "inf"], "--error-ratio inf"),
    (["target", "--max-concurrency", "-1"], "--max-concurrency -1"),
    (["target", "--db-pool-size", "0"], "--db-pool-size 0"),
    (["target", "--seed-documents", "-1"], "--seed-documents -1"),
    (["target", "--latency", "abc"], "--latency: latency 'abc'"),
    (["target", "--cpu", "lognormal:1s,-1"], "sigma must be from 0 to 10"),
    (["target", "--database", "mysql://x"], "--database 'mysql://x'"),
    (["target", "--host", ""], "--host '': give a host name"),
    (["target", "--http-buckets", "2,1"], "--http-buckets"),
    (["target", "--tls-cert", "{plain}"], "--tls-cert and --tls-key go together"),
    # a worker
    (["worker", "--master-host", "x", "--master-port", "70000"], "--master-port 70000"),
    (["worker", "--master-host", ""], "--master-host ''"),
    (["worker", "--master-host", "x", "--scenario", "{nouser}"], "no User class found"),
    # the command line itself
    (["nosuch"], "No such command 'nosuch'"),
    (["run", "--nosuch"], "No such option: --nosuch"),
    (["run", "--rate"], "Option '--rate' requires an argument"),
    (["slo", "check"], "Missing argument"),
    (["baseline", "promote"], "Missing argument"),
]
if prometheus_binary():  # the local Prometheus the run would start scrapes every second
    TABLE += [(["run", "--duration", "2s"], "--duration 2s is shorter than 4 x the target's"),
              (["capacity", "--step-duration", "2s"], "--step-duration 2s is shorter")]


def _fill(arg: str, files: dict[str, Path]) -> str:
    return arg.format(**{k: str(v) for k, v in files.items()}) if "{" in arg else arg


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A working folder holding only the defaults' folders (scenarios/, slo/) as links, the
    reports folder where the table's runs would write; every way of starting a process or a
    server fails the test."""
    def started(*_a: Any, **_k: Any) -> None:
        raise AssertionError("a process or server was started")

    monkeypatch.setattr(loadtest.stack.processes.Child, "__init__", started)
    monkeypatch.setattr(loadtest.stack.processes, "call_dying_with_us", started)
    monkeypatch.setattr(loadtest.target.server, "serve", started)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("scenarios", "slo"):
        (work / name).symlink_to(ROOT / name)
    monkeypatch.chdir(work)
    yield work


def _tree(root: Path) -> set[str]:
    """Every path under `root`, not following links (scenarios/ and slo/ are links)."""
    return {os.path.relpath(os.path.join(d, n), root)
            for d, dirs, names in os.walk(root) for n in dirs + names}


def _saved_environ() -> dict[str, str]:
    return dict(os.environ)


@pytest.mark.parametrize("args, message", TABLE,
                         ids=[" ".join(a)[:60] for a, _ in TABLE])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str,
                                         files: dict[str, Path], nothing_starts: Path) -> None:
    environ = _saved_environ()  # the CLI sets the TLS/timeout policy for its children
    before = _tree(nothing_starts)
    targets_before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("opscore-target-*"))
    argv = [_fill(a, files) for a in args]
    t0 = time.monotonic()
    try:
        result = runner.invoke(app, argv)
    finally:
        os.environ.clear()
        os.environ.update(environ)
    elapsed = time.monotonic() - t0
    out = result.output
    assert result.exit_code == 2, (out, result.exception)
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadtest: error: "), out
    assert _fill(message, files) in lines[0], out
    assert "Traceback" not in out and SECRET not in out
    assert elapsed < 2, f"{elapsed:.2f} s"
    assert _tree(nothing_starts) == before  # no run folder, nothing written
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("opscore-target-*")) <= \
        targets_before


def test_the_table_holds_every_case_of_the_probe() -> None:
    assert len(TABLE) >= 108


# -- the input files: bounded in time and memory ------------------------------------------
def _measure_in_subprocess(tmp_path: Path, code: str, *args: str) -> dict[str, Any]:
    script = ("import json, sys, time\nfrom pathlib import Path\n"
              "from loadtest.errors import ConfigError\n"
              "t0 = time.perf_counter()\nmessage = None\ntry:\n"
              f"    {code}\n"
              "except ConfigError as e:\n    message = e.message\n"
              "seconds = time.perf_counter() - t0\n"
              # the peak of this process (ru_maxrss would carry pytest's over exec)
              "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
              "print(json.dumps({'seconds': seconds, 'message': message, "
              "'rss_mb': int(hwm.split()[1]) / 1024}))\n")
    p = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    return dict(json.loads(p.stdout))


def test_the_alias_bomb_is_refused_in_under_a_second_and_200_mb(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    assert len(bomb.read_bytes()) < 430  # the probe's file: 427 bytes, nine levels
    r = _measure_in_subprocess(tmp_path, "from loadtest.slo import load_slo; "
                               "load_slo(Path(sys.argv[1]))", str(bomb))
    assert r["message"] and "alias bomb" in r["message"], r
    assert r["seconds"] < 1.0 and r["rss_mb"] < 200, r
    # through the installed command, from start to exit (forked by a small python, whose
    # RUSAGE_CHILDREN peak is then the command's own)
    code = ("import resource, subprocess, sys, time; t = time.monotonic(); "
            "p = subprocess.run([sys.argv[1], 'slo', 'check', sys.argv[2]], "
            "capture_output=True, text=True); "
            "print(p.returncode, time.monotonic() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
            "len(p.stderr.strip().splitlines()))")
    exe = str(Path(sys.executable).parent / "loadtest")
    p = subprocess.run([sys.executable, "-c", code, exe, str(bomb)], capture_output=True,
                       text=True, timeout=60, check=True)
    rc, seconds, rss_mb, lines = p.stdout.split()
    assert (int(rc), int(lines)) == (2, 1) and float(seconds) < 2 and float(rss_mb) < 200, \
        p.stdout


def test_a_50_mb_slo_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB of zero bytes: sparse, quick to make
    r = _measure_in_subprocess(tmp_path, "from loadtest.slo import load_slo; "
                               "load_slo(Path(sys.argv[1]))", str(big))
    assert r["message"] == f"{big}: 50 MB, over the 1 MB limit for SLO files; is it the " \
                           "right file?", r
    assert r["seconds"] < 0.5 and r["rss_mb"] < 200, r


@pytest.mark.parametrize("text, expected", [
    (alias_bomb(), "an alias bomb?"),
    (alias_bomb(levels=30, width=2), "an alias bomb?"),
    ("version: 1\nobjectives: &o [*o]\n", "a recursive structure"),
    ("x: &a {k: *a}\n", "a recursive structure"),
    ("x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested too deeply"),
    ("x: " + "{a: " * 200 + "1" + "}" * 200, "nested too deeply"),
    ("x: [" + ", ".join(["1"] * 120_000) + "]", "more than 100,000 values; is it the right"),
    ("x: *nope", "not valid YAML"),
    ("x: !!python/object/apply:os.system ['true']", "not valid YAML"),
    ("? [a]\n: 1\n", "not valid YAML"),
])
def test_hostile_yaml_is_one_line_quickly(text: str, expected: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as e:
        parse_yaml(text, "h.yaml")
    assert time.monotonic() - t0 < 1
    assert expected in e.value.message and e.value.message.startswith("h.yaml")
    assert "\n" not in e.value.message


def test_aliases_within_the_budget_still_load_with_lines() -> None:
    text = ("version: 1\nobjectives:\n  - &p95 {name: p95, kind: latency, quantile: 0.95,\n"
            "           threshold: 2s}\n  - {<<: *p95, name: p99, quantile: 0.99, "
            "threshold: 3 sec}\n")
    with pytest.raises(ConfigError, match=r"^s.yaml:5: objectives\[1\].threshold: '3 sec'"):
        parse_slo(text, "s.yaml")
    ok = parse_slo(text.replace("3 sec", "3s"), "s.yaml")
    assert [o.name for o in ok.objectives] == ["p95", "p99"]


def test_a_results_file_is_read_bounded(tmp_path: Path, files: dict[str, Path]) -> None:
    from loadtest.store.results import load_results

    for name, expected in (("deepjson", "nested too deeply"), ("notjson", "not a readable"),
                           ("wrongtypes", "run is not a JSON object")):
        with pytest.raises(ConfigError, match=expected):
            load_results(files[name])
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):  # never blocks on it
        load_results(fifo)


def test_a_huge_history_is_read_from_its_tail(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from loadtest.store import baselines

    monkeypatch.setattr(baselines, "MAX_HISTORY_BYTES", 3000)
    line = [json.dumps({"id": f"r{i}", "time": f"2026-01-{i % 28 + 1:02d}"})
            for i in range(100)]
    text = "\n".join(line[:95]) + "\n[[[[\n" + "[" * 2000 + "\n" + "\n".join(line[95:]) + "\n"
    (tmp_path / "history.jsonl").write_text(text)
    rows = baselines.read_history(tmp_path)
    assert rows[-1]["id"] == "r99" and 5 <= len(rows) < 100  # bounded, the newest kept


# -- Locust's command line and a locustfile, without Locust in this process ----------------
def test_the_static_list_is_locusts_own_option_list() -> None:
    code = ("import json; from locust.argument_parser import get_parser; p = get_parser(); "
            "print(json.dumps({'options': sorted(o for a in p._actions "
            "for o in a.option_strings), 'abbrev': p.allow_abbrev}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=True)
    installed = json.loads(p.stdout.strip().splitlines()[-1])
    assert installed["abbrev"] is True  # Locust resolves abbreviations
    assert set(installed["options"]) == LOCUST_OPTIONS, (
        "Locust's options changed: update LOCUST_OPTIONS in loadtest/load/locust_options.py",
        sorted(set(installed["options"]) ^ LOCUST_OPTIONS))
    helped = subprocess.run([sys.executable, "-m", "locust", "--help"], capture_output=True,
                            text=True, timeout=60, check=True).stdout
    import re

    assert set(re.findall(r"(?m)^  (?:-\w[ ,<].*?)?(--[a-z0-9-]+)", helped)) <= LOCUST_OPTIONS


def _argparse_reads(arg: str, options: list[str]) -> str | None:
    """What Python's argparse (allow_abbrev, as Locust's parser) makes of `arg`."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    for o in options:
        parser.add_argument(o)
    try:
        parsed = parser._parse_optional(arg)
    except (SystemExit, argparse.ArgumentError):
        return "ambiguous"
    if not parsed:
        return None
    action, option = parsed[0], parsed[1]
    return option if action is not None else "unknown"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(LOCUST_OPTIONS)), st.integers(1, 25),
       st.sampled_from(["", "=5", "x", "5"]))
def test_abbreviations_resolve_as_argparse_does(option: str, cut: int, tail: str) -> None:
    arg = option[:max(2, min(cut, len(option)))] + tail
    options = sorted(LOCUST_OPTIONS - {"-h", "--help"})
    want = _argparse_reads(arg, options)
    r = resolve_option(arg, frozenset(options))
    got = "ambiguous" if r.candidates else ("unknown" if r.unknown else r.option)
    assert got == want, (arg, got, want)


def test_options_the_harness_owns_are_refused_however_written() -> None:
    facts = check_scenario(ROOT / "scenarios" / "opscore.py")
    for args in (["--run-tim", "1h"], ["--ru", "1h"], ["--user", "5000"], ["--us=5"],
                 ["--spawn", "9"], ["-u5000"], ["--hos", "http://x"], ["--locust", "f.py"],
                 ["--processes=2"], ["--mast"], ["--master-p", "1"], ["--slo-w", "1s"],
                 ["--exit-code-on", "1"], ["--json-f", "x"], ["--conf", "x"]):
        with pytest.raises(UsageError, match="after --"):
            check_pass_through(args, facts)
    # what Locust owns and the harness does not is passed as given
    for args in (["--tags", "read", "--exclude-tags", "slow", "Reader"], ["-L", "INFO"],
                 ["--loglev", "INFO"], ["--reset-stats"], ["--equal-weights"],
                 ["--", "--run-time"]):
        assert check_pass_through(args, facts) == tuple(args)


def test_an_option_the_file_adds_itself_is_passed(tmp_path: Path) -> None:
    own = tmp_path / "own.py"
    own.write_text("from locust import HttpUser, events, task\n\n\n"
                   "@events.init_command_line_parser.add_listener\n"
                   "def _(parser):\n    parser.add_argument('--tenant', default='a')\n\n\n"
                   "class U(HttpUser):\n    @task\n    def t(self):\n        pass\n")
    facts = check_scenario(own)
    assert check_pass_through(["--tenant", "b"], facts) == ("--tenant", "b")
    assert check_pass_through(["--ten", "b"], facts) == ("--ten", "b")
    with pytest.raises(UsageError, match="Locust has no such option"):
        check_pass_through(["--tenants", "b"], facts)
    # a file importing a module of its own may add options this check cannot see
    (tmp_path / "helpers.py").write_text("")
    opaque = tmp_path / "opaque.py"
    opaque.write_text("import helpers  # noqa: F401\nfrom locust import HttpUser, task\n\n\n"
                      "class U(HttpUser):\n    @task\n    def t(self):\n        pass\n")
    assert check_pass_through(["--tenant", "b"], check_scenario(opaque))


LOCUSTFILES = sorted([*(ROOT / "scenarios").glob("*.py"),
                      *(ROOT / "tests" / "locustfiles").glob("*.py"),
                      *(ROOT / "bench").glob("*locustfile*.py"),
                      ROOT / "examples" / "own-service" / "locustfile.py"])


@pytest.mark.parametrize("path", LOCUSTFILES, ids=lambda p: p.name)
def test_every_locustfile_of_the_repository_is_accepted(path: Path) -> None:
    if path.name == "no_user.py":
        with pytest.raises(UsageError, match="no User class found"):
            check_scenario(path)
    else:
        check_scenario(path)


@pytest.mark.parametrize("source", [
    "from users import ReaderUser  # noqa: F401\n",  # imported from a module of its own
    "from users import *  # noqa: F403\n",
    "import locust\n\n\nclass U(locust.HttpUser):\n    pass\n",
    "from locust import User\n\n\nclass U(User):\n    pass\n",
    "from mylib import Base\n\n\nclass U(Base):\n    pass\n",  # Base may be a User
    "from locust import HttpUser\n\n\nclass B(HttpUser):\n    abstract = True\n\n\n"
    "class C(B):\n    pass\n",
    "import mylib\n\nReader = mylib.ReaderUser\n",
    "try:\n    from fast import FastUser  # noqa: F401\nexcept ImportError:\n"
    "    from slow import SlowUser  # noqa: F401\n",
])
def test_a_file_that_may_hold_a_user_class_is_never_refused(tmp_path: Path,
                                                           source: str) -> None:
    for module in ("users", "mylib", "fast", "slow"):
        (tmp_path / f"{module}.py").write_text("")
    f = tmp_path / "f.py"
    f.write_text(source)
    check_scenario(f)


@pytest.mark.parametrize("source", [
    "",
    '"""Nothing here."""\n',
    "import os\n\n\ndef helper():\n    return os.sep\n",
    "from locust import TaskSet, task\n\n\nclass T(TaskSet):\n    @task\n"
    "    def t(self):\n        pass\n",
    "from locust import LoadTestShape\n\n\nclass S(LoadTestShape):\n    pass\n",
    "from locust import HttpUser  # noqa: F401\n",  # Locust's own abstract base alone
    "class Plain:\n    pass\n",
])
def test_a_file_with_plainly_no_user_class_is_refused(tmp_path: Path, source: str) -> None:
    f = tmp_path / "f.py"
    f.write_text(source)
    with pytest.raises(UsageError, match="no User class found"):
        check_scenario(f)


def test_a_hostile_locustfile_is_one_line(tmp_path: Path) -> None:
    for name, data in (("deep.py", "x = " + "(" * 5000 + ")" * 5000 + "\n"),
                       ("nul.py", "x = 1\x00\n"), ("latin.py", b"x = '\xff'\n")):
        f = tmp_path / name
        f.write_bytes(data if isinstance(data, bytes) else data.encode())
        with pytest.raises(UsageError) as e:
            check_scenario(f)
        assert "\n" not in e.value.message and str(f) in e.value.message


# -- what is left behind ---------------------------------------------------------------------
def test_a_refused_preflight_leaves_no_run_folder(tmp_path: Path) -> None:
    for error in (UsageError("bad"), RuntimeError("a bug")):
        run_dir = tmp_path / type(error).__name__
        run_dir.mkdir()
        write_results(run_dir, {"schema_version": 1, "status": "running"})
        (run_dir / "target").mkdir()
        (run_dir / "target" / "target.log").write_text("a log\n")
        with pytest.raises(type(error)), no_empty_run_dir(run_dir, lambda: False):
            raise error
        if isinstance(error, UsageError):
            assert not run_dir.exists()  # exit 2: nothing was run, nothing is left
        else:  # a bug: the logs kept, but no `running` record of a run that never ran
            assert not (run_dir / "results.json").exists()


def test_the_reference_target_removes_its_temporary_folder(tmp_path: Path) -> None:
    from loadtest.stack.processes import free_port

    env = dict(os.environ, TMPDIR=str(tmp_path))
    port = free_port()
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-m", "loadtest", "target", "--port",
                                 str(port), "--seed-documents", "1"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not list(tmp_path.glob("opscore-target-*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert list(tmp_path.glob("opscore-target-*")), "the target made no folder"
            time.sleep(0.5)
        finally:
            proc.send_signal(sig)
            proc.wait(timeout=20)
        assert not list(tmp_path.glob("opscore-target-*")), sig


def test_the_reference_target_a_run_starts_leaves_no_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness gives its target a database and an attachments folder in the run
    directory: nothing goes to the temporary folder."""
    from loadtest.stack.servers import ReferenceTarget

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    ref = ReferenceTarget(tmp_path / "run" / "target")
    try:
        ref.wait_ready()
    finally:
        ref.stop()
    assert list(scratch.iterdir()) == []
    assert (tmp_path / "run" / "target" / "opscore.db").exists()


def test_a_usage_error_through_the_entry_point_is_one_line() -> None:
    exe = shutil.which("loadtest", path=str(Path(sys.executable).parent))
    assert exe is not None
    for args in (["run", "--rate", "abc"], ["nosuch"], ["run", "--nosuch"],
                 ["run", "--rate", "inf"]):
        t0 = time.monotonic()
        p = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=30, check=False)
        assert time.monotonic() - t0 < 2
        assert p.returncode == 2 and p.stdout == "", (args, p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert p.stderr.startswith("loadtest: error: "), p.stderr


# -- property: any input either runs or exits 2 with one line --------------------------------
def _values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["inf", "-inf", "nan", "0", "-1", "1e308", "1e-308", "65536", "70000",
                         "5", "0.5", "2s", "250ms", "1h", "10000h", "-1s", "", " ", "none",
                         "http://127.0.0.1:1", "http://256.1.1.1", "not-a-url",
                         "127.0.0.1:8080", "sqlite:///x.db", "mysql://x", "latency=abc",
                         "error_ratio=2", "latency=300ms", "a=b", "/health", "ramp",
                         "constant", "open", "closed", "poisson", "main", "..",
                         "slo/opscore.yaml", "scenarios/opscore.py", "nope.py",
                         "2026-11-01", "notadate", "30%", "http://[::1", "http://[::1]:9",
                         "postgresql://u@h/db", "endpoints=/api/*", "-", "--", "\t"]),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.integers(-10**20, 10**20).map(str))


COMMANDS: dict[str, list[str]] = {
    "run": ["--target", "--scenario", "--slo", "--rate", "--duration", "--warmup", "--shape",
            "--arrivals", "--users", "--prometheus", "--metrics-source", "--database",
            "--target-fault", "--baseline", "--workers", "--tag", "--remote-workers",
            "--master-port", "--master-bind-host", "--probe", "--metrics-url", "--model",
            "--request-timeout", "--http-buckets", "--drift-significance",
            "--drift-min-size"],
    "capacity": ["--target", "--start-rate", "--max-rate", "--step-duration", "--step-warmup",
                 "--precision", "--require", "--project", "--headroom", "--step-abort-after",
                 "--users", "--workers", "--prometheus", "--database", "--target-fault"],
    "target": ["--port", "--host", "--database", "--seed-documents", "--latency",
               "--error-ratio", "--db-latency", "--max-concurrency", "--cpu", "--db-pool-size",
               "--fault-endpoint", "--metrics-port", "--http-buckets"],
    "worker": ["--master-host", "--master-port", "--scenario"],
    "history": ["--metric", "--since", "--tag", "--significance", "--min-size"],
}


@settings(max_examples=150, deadline=2000,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(sorted(COMMANDS)), st.data())
def test_any_option_values_run_or_exit_2_with_one_line(
        nothing_starts: Path, monkeypatch: pytest.MonkeyPatch, command: str,
        data: st.DataObject) -> None:
    class WouldRun(Exception):
        pass

    def would_run(*_a: Any, **_k: Any) -> None:
        raise WouldRun

    import loadtest.commands.capacity
    import loadtest.commands.run

    monkeypatch.setattr(loadtest.commands.run, "run_gate", would_run)
    monkeypatch.setattr(loadtest.commands.capacity, "find_capacity", would_run)
    monkeypatch.setattr(loadtest.target.server, "serve", would_run)
    monkeypatch.setattr(loadtest.stack.processes, "call_dying_with_us", would_run)
    options = data.draw(st.lists(st.tuples(st.sampled_from(COMMANDS[command]), _values()),
                                 max_size=4))
    argv = [command] + [x for o, v in options for x in (o, v)]
    if command == "history":
        argv += ["--out", str(nothing_starts / "reports")]
    environ = _saved_environ()
    try:
        result = runner.invoke(app, argv)
    finally:
        os.environ.clear()
        os.environ.update(environ)
    if isinstance(result.exception, WouldRun) or (command == "history"
                                                  and result.exit_code == 0):
        return  # every option was accepted: it would have run
    assert result.exit_code == 2, (argv, result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadtest: error: "), (argv, result.output)
    assert "Traceback" not in result.output and SECRET not in result.output


FILE_COMMANDS: dict[str, tuple[int, list[str]]] = {  # (positional arguments, options)
    "verify": (1, ["--slo", "--prometheus", "--out"]),
    "report": (1, []),
    "compare": (2, ["--slo", "--out"]),
    "slo check": (1, ["--prometheus"]),
    "baseline promote": (1, ["--name", "--out"]),
}


@settings(max_examples=100, deadline=2000,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(sorted(FILE_COMMANDS)), st.data())
def test_any_input_file_runs_or_exits_2_with_one_line(
        nothing_starts: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, Path],
        command: str, data: st.DataObject) -> None:
    """The commands reading files, given any of the broken ones (or junk) in any place."""
    import loadtest.commands.verify
    import loadtest.reports

    class WouldRun(Exception):
        pass

    def would_run(*_a: Any, **_k: Any) -> None:
        raise WouldRun

    monkeypatch.setattr(loadtest.commands.verify, "reverify", would_run)
    monkeypatch.setattr(loadtest.reports, "render_all", would_run)
    paths = st.one_of(st.sampled_from(sorted(str(p) for p in files.values())),
                      st.sampled_from([f"{files['run']}/results.json", "slo/opscore.yaml",
                                       "nope", "", "reports"]), _values())
    positional, options = FILE_COMMANDS[command]
    argv = command.split() + [data.draw(paths) for _ in range(positional)]
    for _ in range(data.draw(st.integers(0, 2))):
        if options:
            argv += [data.draw(st.sampled_from(options)), data.draw(paths)]
    argv += ["--out", str(nothing_starts / "reports")] if "--out" in options else []
    environ = _saved_environ()
    try:
        result = runner.invoke(app, argv)
    finally:
        os.environ.clear()
        os.environ.update(environ)
    assert result.exception is None or isinstance(result.exception, (SystemExit, WouldRun)), \
        (argv, result.output, result.exception)
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("loadtest: error: "), (argv,
                                                                              result.output)
    assert SECRET not in result.output


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                     st.sampled_from(["2s", "250ms", "5..", "latency", "throughput", "client",
                                      "promql", "error_rate", "burn_rate", ".inf", ".nan"]))
_docs = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["version", "objectives", "name", "kind", "quantile", "threshold", "min", "max",
         "metric", "selector", "metrics", "regression", "query", "op", "target",
         "long_window", "short_window", "factor", "abort_after", "x"]), inner, max_size=5)),
    max_leaves=16)


@settings(max_examples=150, deadline=2000)
@given(_docs, st.booleans())
def test_any_slo_document_loads_or_is_refused_in_one_line(doc: Any, anchored: bool) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    if anchored:  # the same document reached through an anchor and aliases
        text = "base: &b\n" + "".join(f"  {ln}\n" for ln in text.splitlines()) + \
            "version: 1\nobjectives: [*b, *b]\n"
    try:
        slo = parse_slo(text, "f.yaml")
    except ConfigError as e:
        assert e.exit_code == 2 and e.message.startswith("f.yaml")
        assert "\n" not in e.message and len(e.message) < 1200
        return
    assert slo.objectives  # accepted: a valid file


def test_load_slo_names_the_option_only_where_there_is_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such SLO file \(pass --slo PATH"):
        load_slo(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match=r"no such SLO file \(e.g. slo/opscore.yaml\)$"):
        load_slo(tmp_path / "x.yaml", option=None)
