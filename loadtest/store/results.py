"""results.json: the one record of a run, written first and atomically; every report is
rendered from it. Versioned by `schema_version`; an older or newer file is a clear error.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import psutil
from pydantic import ValidationError

from loadtest.errors import ConfigError, ExitCode, UsageError
from loadtest.inputs import read_json
from loadtest.judge.status import FAIL, INCONCLUSIVE, INTERRUPTED, PASS, RUNNING
from loadtest.store.model import Results
from loadtest.store.records import (
    ResultsRecord,
    RunMeta,
)

_UMASK = os.umask(0)  # read once: files written here get the usual mode (0644), not mkstemp's
os.umask(_UMASK)

SCHEMA_VERSION = 1

__all__ = ["FAIL", "INCONCLUSIVE", "INTERRUPTED", "PASS", "RUNNING"]  # also named here


def _clean(value: object) -> object:
    """JSON has no NaN/Infinity: write them as null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_clean(data), f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_out_option(out: Path, text: str) -> None:
    """A command's `--out FILE`, written atomically; an unwritable path is a usage error."""
    try:
        write_text_atomic(out, text)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write it ({e.strerror}); pass a writable "
                         "path") from None


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(run_dir: Path, results: ResultsRecord) -> Path:
    """Write results.json atomically; `results` gains its `schema_version` too."""
    results["schema_version"] = SCHEMA_VERSION
    path = run_dir / "results.json"
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION,
                             **{k: v for k, v in results.items() if k != "schema_version"}})
    return path


def running_results(meta: RunMeta, phase: str) -> ResultsRecord:
    """The record of a run under way (`phase`: started, stack, load): the plan, then the
    target and metrics source, then the window. A harness killed outright leaves it; `loadtest
    verify RUN_DIR` judges what was recorded."""
    return {"run": meta, "phase": phase, "pid": os.getpid(), "host": socket.gethostname(),
            "load": {}, "objectives": [], "client": {}, "warnings": [], "regressions": [],
            "samples": {}, "interrupted": False,
            "verdict": {"status": RUNNING, "exit_code": ExitCode.INCONCLUSIVE,
                        "reason": f"running since {meta.get('started_at')} (pid {os.getpid()} "
                                  f"on {socket.gethostname()}), or killed before it finished: "
                                  "`loadtest verify RUN_DIR` judges what it recorded"}}


def is_running(results: ResultsRecord) -> bool:
    """True for the record of a run that has not finished (still running, or killed)."""
    verdict = results.get("verdict")
    return verdict is not None and verdict.get("status") == RUNNING


def require_finished(results: ResultsRecord, where: object, use: str) -> None:
    """`use` (a baseline, a comparison) needs a finished run: refuse a running or killed one."""
    if is_running(results):
        raise UsageError(f"{where}: the run never finished (still running, or killed); it "
                         f"cannot be {use}. Judge what it recorded with `loadtest verify "
                         "RUN_DIR`, or choose a finished run")


def still_running(results: ResultsRecord) -> bool:
    """The harness that writes this `running` record is alive on this host."""
    pid, host = results.get("pid"), results.get("host")
    if not isinstance(pid, int) or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        proc = psutil.Process(pid)
        cmd = " ".join(proc.cmdline())  # a reused pid is not the run
    except psutil.NoSuchProcess:  # gone (a zombie too: it has ended)
        return False
    except psutil.AccessDenied:
        return True  # alive, and not ours to look into
    return "loadtest" in cmd


def load_results(path: Path) -> ResultsRecord:
    if path.is_dir():
        path = path / "results.json"
    try:
        data = read_json(path, "results file")  # bounded: size, depth
    except FileNotFoundError:
        raise ConfigError(f"{path}: no results.json here (pass a run directory, e.g. "
                          "reports/latest)") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ConfigError(f"{path}: schema_version is missing (not a loadtest results file)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise ConfigError(
            f"{path}: schema_version {version} is "
            + ("newer than this harness reads (upgrade opscore-loadtest)" if newer else
               f"not supported (this harness reads {SCHEMA_VERSION}; run it again)"))
    for key, kind in (("run", dict), ("objectives", list), ("verdict", dict)):
        if key not in data:
            raise ConfigError(f"{path}: {key} is missing (the file is incomplete)")
        if not isinstance(data[key], kind):
            raise ConfigError(f"{path}: {key} is not a JSON {kind_name(kind)} (not a loadtest "
                              "results file)")
    if not all(isinstance(o, dict) for o in data["objectives"]) or \
            not isinstance(data["verdict"].get("status"), str):
        raise ConfigError(f"{path}: objectives or verdict.status malformed (not a loadtest "
                          "results file)")
    try:  # every section the model names, typed (store/model.py, results.schema.json)
        Results.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where.replace('.[', '[')}: {first['msg']} (not a "
                          f"loadtest results file of schema_version {SCHEMA_VERSION})") from None
    return cast(ResultsRecord, data)  # its sections as the model validated them


def kind_name(kind: type) -> str:
    names: dict[type, str] = {dict: "object", list: "array"}
    return names.get(kind, kind.__name__)
