"""Every verdict the harness gives, decided here from typed findings: a run's, a
verification's, a judged window's and the Locust plugin's (`decide`), and a capacity search's
(`capacity_verdict`). The status names and exit codes come from judge/status.py and
errors.ExitCode; nothing here reads or writes a file."""

from __future__ import annotations

from typing import Any

from loadtest.errors import ExitCode
from loadtest.judge.status import FAIL, INCONCLUSIVE, INTERRUPTED, PASS
from loadtest.store.records import (
    CapacityStep,
    LoadRecord,
    ObjectiveRecord,
    RegressionRecord,
    VerdictRecord,
)


def decide(objectives: list[ObjectiveRecord], load: LoadRecord,
           interrupted: bool = False,
           regressions: list[RegressionRecord] | None = None) -> VerdictRecord:
    """The verdict: interrupted > fail (a gating objective breached, a regression, or the run
    aborted on a sustained breach: `load.aborted`) >
    inconclusive (no data, load not delivered, Locust crashed, comparison impossible) > pass."""
    gating = [o for o in objectives if o.get("severity", "fail") == "fail"]
    failed = [o for o in gating if o["status"] == "fail"]
    missing = [o for o in gating if o["status"] == "no_data"]
    regressed = [r for r in regressions or [] if r["status"] == "fail"]
    uncompared = [r for r in regressions or [] if r["status"] == "no_data"]
    if interrupted:
        return {"status": INTERRUPTED, "exit_code": ExitCode.INTERRUPTED,
                "reason": "interrupted: load stopped early, results are partial"}
    killed = (f"the run was killed at {load['killed_at']}: judged from what it recorded "
              "before" if load.get("killed_at") else None)
    aborted = load["aborted"].get("reason") if "aborted" in load else None
    if failed or regressed or load.get("target_died") or aborted:
        parts = [killed] if killed else []
        if aborted:
            parts.append(aborted)
        if load.get("target_died"):
            parts.append(f"the target stopped answering at {load['target_died']} and the load "
                         "was stopped")
        if failed:
            parts.append("objective breached: " + ", ".join(o["name"] for o in failed))
        if regressed:
            parts.append("regression: " + ", ".join(r["message"] for r in regressed))
        return {"status": FAIL, "exit_code": ExitCode.GATE_FAILED, "reason": "; ".join(parts)}
    problems = list(load.get("problems", []))
    if missing:
        problems.insert(0, "no data for " + ", ".join(
            f"{o['name']} ({o['reason']})" for o in missing))
    if killed:  # never a pass: the run did not end as planned
        problems.insert(0, killed)
    if uncompared:
        problems.append("no comparison for " + ", ".join(
            f"{r['objective']} ({r['reason']})" for r in uncompared))
    if problems or not gating:
        return {"status": INCONCLUSIVE, "exit_code": ExitCode.INCONCLUSIVE,
                "reason": "; ".join(problems) or "no gating objective"}
    return {"status": PASS, "exit_code": ExitCode.OK,
            "reason": f"all {len(gating)} objectives hold"}


def capacity_verdict(capacity: float | None, outcome: dict[str, Any], require: float | None,
             interrupted: bool, broken: str | None, steps: list[CapacityStep]
             ) -> VerdictRecord:
    """A capacity search's verdict: interrupted > inconclusive (the last step saturated or
    without data, or every step passed below a required rate it never reached) > fail (no
    step passed, or the capacity is below the required rate) > pass."""
    if interrupted:
        return {"status": INTERRUPTED, "exit_code": ExitCode.INTERRUPTED,
                "reason": "interrupted: the search stopped early"}
    last = steps[-1] if steps else None
    if last is not None and last["status"] in ("saturated", "no_data") and (
            outcome["first_fail"] is None):
        return {"status": INCONCLUSIVE, "exit_code": ExitCode.INCONCLUSIVE,
                "reason": outcome["stop_reason"]}
    where = ""
    if broken and outcome["first_fail"]:  # an objective's name, or a step's failure reason
        where = (f"; at {outcome['first_fail']:g} req/s {broken}" if " " in broken
                 else f"; {broken} broke first at {outcome['first_fail']:g} req/s")
    if capacity is None:
        return {"status": FAIL, "exit_code": ExitCode.GATE_FAILED,
                "reason": f"no step passed, not even {steps[0]['offered_rate']:g} req/s{where}"
                if steps else "no step ran"}
    if require is not None and capacity < require and outcome["first_fail"] is None:
        return {"status": INCONCLUSIVE, "exit_code": ExitCode.INCONCLUSIVE,
                "reason": f"capacity >= {capacity:g} req/s (every step passed up to "
                          f"--max-rate), which cannot tell whether the required {require:g} "
                          f"holds: raise --max-rate to at least {require:g}"}
    if require is not None and capacity < require:
        return {"status": FAIL, "exit_code": ExitCode.GATE_FAILED,
                "reason": f"capacity {capacity:g} req/s is below the required {require:g}"
                          f"{where}"}
    head = f" ({(capacity / require - 1):+.0%} headroom over {require:g})" if require else ""
    if outcome["first_fail"] is None:  # nothing failed: the search stopped at --max-rate
        return {"status": PASS, "exit_code": ExitCode.OK,
                "reason": f"capacity >= {capacity:g} req/s (every step passed up to "
                          f"--max-rate){head}"}
    return {"status": PASS, "exit_code": ExitCode.OK,
            "reason": f"capacity {capacity:g} req/s{head}{where}"}
