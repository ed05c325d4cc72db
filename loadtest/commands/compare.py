"""`loadtest compare BASELINE RUN`: the command's side of a comparison (regression/compare.py
holds the statistics): both runs read, the table and the verdict line printed, the exit
code (0 no regression, 1 a regression, 3 inconclusive) and the --json document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest.errors import ExitCode, UsageError
from loadtest.regression.compare import FAIL, NO_DATA, Comparison, compare_runs, signed_pct
from loadtest.slo import load_slo
from loadtest.store.baselines import load_baseline, read_history
from loadtest.store.records import ComparisonJson


def compare_files(base_ref: Path, run_ref: Path, slo_path: Path | None = None,
                  out: Path = Path("reports")) -> Comparison:
    """`loadtest compare BASELINE RUN`: both finished runs, judged with the run's SLO file
    (or `slo_path`); a promoted baseline's name, and the history that gives the run-to-run
    noise, are looked up under `out`."""
    base = load_baseline(Path(base_ref), Path(out))
    run = load_baseline(Path(run_ref), Path(out))
    same = base["run"].get("id")
    if same is not None and same == run["run"].get("id"):
        raise UsageError(f"{base_ref} and {run_ref} are the same run ({same}): compare two "
                         "different runs (the baseline first)")
    slo = load_slo(Path(str(slo_path or run["run"].get("slo_file") or "slo/opscore.yaml")))
    return compare_runs(base, run, slo, read_history(Path(out)))


def exit_code(comparison: Comparison) -> int:
    statuses = {c["status"] for c in comparison.checks}
    if comparison.inconclusive:
        return ExitCode.INCONCLUSIVE
    if FAIL in statuses:
        return ExitCode.GATE_FAILED
    if NO_DATA in statuses or not comparison.checks:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def format_table(comparison: Comparison) -> str:
    rows = [("check", "status", "baseline", "run", "change", "CI", "tolerance", "detectable",
             "decided by")]
    for c in comparison.checks:
        rel = c.get("relative", True)
        fmt = signed_pct if rel else (lambda x: f"{x * 100:+.2f} pp")

        def val(v: float | None, kind: str = c["kind"]) -> str:
            if v is None:
                return "-"
            if kind in ("latency", "db_latency"):
                return f"{v * 1000:.2f} ms"
            if kind == "error_rate":
                return f"{v:.3%}"
            return f"{v:.2f}/s"

        ci = c.get("ci")
        tol = c.get("tolerance")
        change = c.get("change")
        detect = c.get("detectable_change")
        rows.append((c["objective"], c["status"].upper(), val(c.get("base_value")),
                     val(c.get("run_value")),
                     "-" if change is None else fmt(change),
                     "-" if not ci else f"{fmt(ci[0])}..{fmt(ci[1])}",
                     "-" if tol is None else (f"{tol:.0%}" if rel else f"{tol * 100:.2f} pp"),
                     "-" if detect is None else
                     (f"{detect:.0%}" if rel else f"{detect * 100:.2f} pp")
                     + (" (underpowered)" if c.get("underpowered") else ""),
                     c.get("decided_by") or c.get("reason") or ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + "  " + str(r[-1])
             for r in rows]
    lines += [f"warning: {w}" for w in comparison.warnings]
    if comparison.inconclusive:
        lines.append(f"INCONCLUSIVE: {comparison.inconclusive}")
    lines.append(f"method: {comparison.summary.get('method', '')}")
    lines.append(verdict_line(comparison))
    return "\n".join(lines)


def verdict_line(comparison: Comparison) -> str:
    """The comparison's verdict in one line, as `loadtest compare` ends (and, with --quiet,
    all it prints): PASS, FAIL with each regression, or INCONCLUSIVE with the reason."""
    base = comparison.summary.get("baseline")
    against = f" against baseline {base}" if base else ""
    if comparison.inconclusive:
        return f"INCONCLUSIVE: {comparison.inconclusive}"
    failed = [c for c in comparison.checks if c["status"] == FAIL]
    if failed:
        return "FAIL: regression" + against + ": " + "; ".join(c["message"] for c in failed)
    missing = [c for c in comparison.checks if c["status"] == NO_DATA]
    if missing or not comparison.checks:
        return ("INCONCLUSIVE: " + ("; ".join(f"{c['objective']}: {c['reason']}" for c in missing)
                                    or "no objective could be compared"))
    return f"PASS: no regression in {len(comparison.checks)} checks{against}"


def comparison_json(comparison: Comparison) -> ComparisonJson:
    """`loadtest compare --json`: the comparison as plain data, with its exit code."""
    return ComparisonJson(schema_version=1, exit_code=int(exit_code(comparison)),
                          verdict=verdict_line(comparison),
                          inconclusive=comparison.inconclusive, summary=comparison.summary,
                          checks=comparison.checks, warnings=comparison.warnings)


def compare_command(baseline: Path, run_dir: Path, slo: Path | None, out: Path, quiet: bool,
                    as_json: bool) -> tuple[str, int]:
    """(what to print, the exit code): 0 no regression, 1 a regression, 3 inconclusive."""
    comparison = compare_files(baseline, run_dir, slo, out)
    if as_json:
        text = json_text(comparison_json(comparison))
    else:
        text = verdict_line(comparison) if quiet else format_table(comparison)
    return text, exit_code(comparison)


def json_text(data: Any) -> str:
    """`--json` output: indented, numpy numbers and the like as plain numbers."""
    def plain(v: Any) -> Any:
        return float(v) if hasattr(v, "__float__") else str(v)

    return json.dumps(data, indent=2, default=plain)
