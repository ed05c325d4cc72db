"""A user's Locust file and Locust's own command line, seen from the harness (which never
imports Locust): the checks made before Locust starts, the options the harness owns, and the
reason Locust gave when it exits early.

    check_locustfile   syntax errors and modules that cannot be found, with file:line
    check_locust_args  options after `--` that the harness sets itself are refused, naming the
                       harness option to use instead
    diagnose           Locust exited before (or while) the load ran: its last stderr lines and
                       the cause (the file, no User class, an option Locust rejected, a refusal
                       of the harness's own code in the Locust process)
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path

from loadtest.errors import HarnessError, LoadGeneratorError, UsageError

# loaded by Locust next to the user's file (`-f theirs.py,ADDON`); alone in its folder
ADDON = Path(__file__).resolve().parent.parent / "locustlib" / "addon" / "loadtest_harness.py"
USAGE_ERROR_FILE = "usage-error.txt"  # written by locustlib/adopt.py

_RUN_TIME = "--duration and --warmup (the run time is warm-up + window)"
HARNESS_OWNED: dict[str, str] = {
    "-f": "--scenario", "--locustfile": "--scenario",
    "-u": "--users", "--users": "--users",
    "-r": "--users (the harness spawns them at once)", "--spawn-rate": "--users (the harness "
    "spawns them at once)",
    "-t": _RUN_TIME, "--run-time": _RUN_TIME,
    "-i": _RUN_TIME, "--iterations": _RUN_TIME,
    "-H": "--target", "--host": "--target",
    "--headless": "nothing (the harness always runs Locust headless)",
    "--headful": "nothing (the harness runs Locust headless)",
    "--autostart": "nothing (the harness runs Locust headless)",
    "--autoquit": "nothing (the harness runs Locust headless)",
    "--processes": "--workers", "--master": "--remote-workers",
    "--worker": "`loadtest worker`", "--expect-workers": "--remote-workers",
    "--expect-workers-max-wait": "--remote-workers",
    "--master-host": "`loadtest worker --master-host`", "--master-port": "--master-port",
    "--master-bind-host": "--master-bind-host", "--master-bind-port": "--master-port",
    "--csv": "nothing (Locust's outputs go to the run directory's locust/ folder)",
    "--csv-full-history": "nothing (the harness records every request)",
    "--json": "nothing (Locust's outputs go to the run directory's locust/ folder)",
    "--json-file": "nothing (Locust's outputs go to the run directory's locust/ folder)",
    "--html": "nothing (Locust's outputs go to the run directory's locust/ folder)",
    "--stop-timeout": "nothing (the harness lets in-flight requests finish)",
    "--exit-code-on-error": "the SLO file (the harness decides the exit code)",
    "--config": "options of `loadtest run`, or Locust options after `--`",
    # the plugin's options (loadtest.locust_plugin): `loadtest run` judges the run itself
    "--slo": "--slo", "--slo-prometheus": "--prometheus", "--slo-out": "--out",
    "--slo-warmup": "--warmup", "--slo-baseline": "--baseline",
}


def check_locust_args(args: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Locust options to pass through (after `--`), refusing the ones the harness owns."""
    for arg in args:
        name = arg.split("=", 1)[0]
        if not name.startswith("-"):
            continue
        if name.startswith("--"):
            owned = HARNESS_OWNED.get(name)
        else:  # a short option, possibly with its value glued on (-u5)
            owned = HARNESS_OWNED.get(name[:2])
            name = name[:2]
        if owned is not None:
            raise UsageError(f"Locust option {name} after --: the harness sets it itself; "
                             f"use {owned}")
    return tuple(args)


def check_locustfile(path: Path) -> None:
    """What can be found before Locust starts: the file does not parse, or imports a module
    that is not installed (module-level, unconditional imports only)."""
    try:
        source = path.read_bytes()
    except OSError as e:
        raise UsageError(f"--scenario {path}: cannot be read ({e.strerror})") from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        where = f"{path}:{e.lineno}" if e.lineno else str(path)
        text = (e.text or "").strip()
        raise UsageError(f"{where}: syntax error: {e.msg}"
                         + (f" ({text[:80]})" if text else "")
                         + " (fix the locustfile)") from None
    beside = [str(path.resolve().parent)]  # Locust puts the file's folder on sys.path
    for node in tree.body:  # top-level statements only: a guarded import is not checked
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in sys.builtin_module_names or top == "__future__":
                continue
            # every finder (an editable install has its own), without importing anything
            if importlib.machinery.PathFinder.find_spec(top, beside) is None and \
                    importlib.util.find_spec(top) is None:
                raise UsageError(f"{path}:{node.lineno}: import error: no module named "
                                 f"{top!r} (install it in the environment that runs loadtest, "
                                 f"{sys.prefix}, or fix the import)")


_TRACE_LINE = re.compile(r'File "([^"]+)", line (\d+)')


def diagnose(exit_code: int | None, log_text: str, out_dir: Path, scenario: Path,
             during: bool = False) -> HarnessError:
    """The error for a Locust that exited before (or while) the load ran. Never an empty
    reason: the cause when it is known, and Locust's last lines."""
    lines = [ln.rstrip() for ln in log_text.strip().splitlines() if ln.strip()]
    tail = " | ".join(ln.strip() for ln in lines[-4:]) or "Locust wrote nothing to its log"
    when = "while the load ran" if during else "before the load started"
    head = f"Locust exited with code {exit_code} {when}"
    log = out_dir / "locust.log"
    refused = out_dir / USAGE_ERROR_FILE
    if refused.exists():
        reason = refused.read_text(encoding="utf-8", errors="replace").strip()
        return UsageError(f"{reason} ({head})")
    text = "\n".join(lines)
    if "No User class found" in text:
        return UsageError(f"{scenario}: no User class found (define a class deriving from "
                          "HttpUser or FastHttpUser, not abstract; "
                          f"{head}: {tail})")
    m = re.search(r"Unknown User\(s\): (.+)", text)
    if m:
        return UsageError(f"user class {m.group(1).strip()} (after --) is not in {scenario} "
                          f"({head})")
    m = re.search(r"^.*error: (unrecognized arguments:.*|argument .*)$", text, re.MULTILINE)
    if m:
        return UsageError(f"Locust rejected an option after --: {m.group(1).strip()} "
                          f"({head}; `locust --help` lists its options)")
    exc = next((ln for ln in reversed(lines) if re.match(r"^\w+(\.\w+)*(Error|Exception)\b", ln)),
               None)
    if exc is not None:
        frames = [(f, int(n)) for f, n in _TRACE_LINE.findall(text)]
        mine = [fr for fr in frames if Path(fr[0]).resolve() == scenario.resolve()]
        if mine and not during:  # the file failed as Locust loaded it
            file, line = mine[-1]
            return UsageError(f"{file}:{line}: {exc.strip()} (the locustfile failed as Locust "
                              f"loaded it; {head})")
    where = f"(log: {log})"
    return LoadGeneratorError(f"{head}: {tail} {where}")
