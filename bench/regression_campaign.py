"""The regression gate's false-alarm and detection rates on this machine.

Runs N+1 baseline runs (A) of the reference target with a realistic service time
(latency normal:100ms,10ms on the API), then N runs each of: +20% latency, +1 point of 5xx, DB
queries 2x slower; compares A_i with A_{i+1} (A/A pairs) and A_i with each B_i, and prints the
share of pairs declared regressions, per check.

    python bench/regression_campaign.py --pairs 20 --duration 20s
    python bench/regression_campaign.py --heavy --pairs 20 --duration 60s

`--heavy`: a heavy-tailed service time (lognormal, median 150 ms, sigma 0.6) and its +20%
(every quantile 1.2x): A/A false alarms and +20% detections of the p95 check, with the
detectable change each comparison stated (median over the pairs).

Not a test: it prints a table (about (4N+1) x (duration + 12 s) of wall time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE_LATENCY = "normal:100ms,10ms"
VARIANTS = {
    "A/A (no change)": [f"latency={BASE_LATENCY}"],
    "+20% latency": ["latency=normal:120ms,12ms"],
    "+1 pp 5xx": [f"latency={BASE_LATENCY}", "error_ratio=0.01"],
    "DB 2x slower": [f"latency={BASE_LATENCY}", "db_latency=1ms"],
}
# `--sensitivity`: the smallest latency regression caught (tolerance is 10% and 5 ms)
SENSITIVITY = {
    "A/A (no change)": [f"latency={BASE_LATENCY}"],
    "+12% latency": ["latency=normal:112ms,11.2ms"],
    "+15% latency": ["latency=normal:115ms,11.5ms"],
}
HEAVY_LATENCY = "lognormal:150ms,0.6"
HEAVY = {
    "A/A (no change)": [f"latency={HEAVY_LATENCY}"],
    "+20% latency": ["latency=lognormal:180ms,0.6"],
}


def run(out: Path, faults: list[str], args: argparse.Namespace) -> Path:
    cmd = [sys.executable, "-m", "loadtest", "run", "--duration", args.duration, "--warmup",
           args.warmup, "--rate", str(args.rate), "--metrics-source", "embedded", "--out",
           str(out)]
    for f in faults:
        cmd += ["--target-fault", f]
    cmd += ["--target-fault", "endpoints=/api/*", "--http-buckets", args.buckets,
            "--db-buckets", args.buckets]
    subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return (out / "latest").resolve()


DETECTABLE: dict[str, list[float]] = {}


def compare(base: Path, other: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from loadtest.regression.compare import compare_files

    c = compare_files(base, other, out=base.parent)
    for x in c.checks:
        if x.get("detectable_change") is not None:
            DETECTABLE.setdefault(x["objective"], []).append(x["detectable_change"])
    return {x["objective"]: x["status"] for x in c.checks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--warmup", default="5s")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--sensitivity", action="store_true",
                    help="latency +12%% and +15%% instead of the three regressions")
    ap.add_argument("--heavy", action="store_true",
                    help="heavy-tailed service time (lognormal 150 ms, sigma 0.6) and +20%%")
    ap.add_argument("--buckets", default="default",
                    help="the reference target's histogram bounds: default (client_golang's) "
                         "or kpi (session 2's campaign)")
    args = ap.parse_args()
    variants = HEAVY if args.heavy else SENSITIVITY if args.sensitivity else VARIANTS
    base_latency = HEAVY_LATENCY if args.heavy else BASE_LATENCY
    started = time.monotonic()
    table: dict[str, dict[str, int]] = {v: {} for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        a_runs = [run(out / "a", variants["A/A (no change)"], args)
                  for _ in range(args.pairs + 1)]
        pairs: dict[str, list[tuple[Path, Path]]] = {
            "A/A (no change)": list(zip(a_runs, a_runs[1:]))}
        for name, faults in variants.items():
            if name.startswith("A/A"):
                continue
            pairs[name] = [(a_runs[i], run(out / name.replace(" ", "_"), faults, args))
                           for i in range(args.pairs)]
        for name, ps in pairs.items():
            for base, other in ps:
                for check, status in compare(base, other).items():
                    table[name].setdefault(check, 0)
                    table[name][check] += status == "fail"
        wall = time.monotonic() - started
        checks = sorted({c for row in table.values() for c in row})
        print(f"regression campaign: {args.pairs} pairs per row, {args.duration} windows at "
              f"{args.rate:g} req/s, reference target (SQLite, API latency {base_latency}), "
              f"{wall / 60:.0f} min")
        print(f"{'pairs':<18}" + "".join(f"{c:>20}" for c in checks))
        for name in variants:
            print(f"{name:<18}" + "".join(
                f"{table[name].get(c, 0):>14} of {args.pairs:<3}" for c in checks))
        print("(cells: pairs declared a regression by that check)")
        print("median detectable change stated per check: " + ", ".join(
            f"{c} {sorted(v)[len(v) // 2]:.1%}" for c, v in sorted(DETECTABLE.items())))
        (ROOT / "bench" / "last-regression-campaign.json").write_text(
            json.dumps({"args": vars(args), "table": table, "wall_s": wall,
                        "detectable": DETECTABLE}, indent=2))
        print(f"command: python bench/regression_campaign.py --pairs {args.pairs} "
              f"--duration {args.duration} --warmup {args.warmup}"
              + (" --sensitivity" if args.sensitivity else "")
              + (" --heavy" if args.heavy else "")
              + (f" --buckets {args.buckets}" if args.buckets != "default" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
