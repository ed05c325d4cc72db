"""How exact and how cheap the load generator is, on this machine, against the reference target.

  1. rate accuracy: achieved / requested over the judged window at 100, 500 and 1000 req/s,
     and at 100 req/s against a target whose latency is 1.5 s
  2. latency accuracy: a target adding normal(200 ms, 30 ms): client p50/p95/p99 vs the true
     values (the distribution's quantiles plus the target's measured floor)
  3. coordinated omission: the target frozen (SIGSTOP) for 2 s once; the p99 corrected from the
     intended start vs a plain closed-model Locust run (10 users x 10 req/s)
  4. generator cost: CPU seconds per 1000 requests of the Locust process, paced + recorded vs
     plain Locust, same requests at the same rate
  5. scale: achieved / requested with --workers 2 at rising rates

    python bench/load_generator.py [SECTION ...]     (all five: about 9 minutes)
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import NormalDist

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def gate(out: Path, *args: str) -> dict:
    subprocess.run([sys.executable, "-m", "loadtest", "run", "--metrics-source", "embedded",
                    "--out", str(out), *args], cwd=ROOT, capture_output=True, text=True,
                   timeout=900)
    return json.loads((out / "latest" / "results.json").read_text())


def locust_cpu(locustfile: str, host: str, users: int, seconds: int, env: dict) -> tuple:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "locust", "-f", locustfile, "--headless",
                        "--host", host, "-u", str(users), "-r", str(users), "--run-time",
                        f"{seconds}s", "--json-file", f"{tmp}/stats", "--only-summary",
                        "--loglevel", "ERROR", "--exit-code-on-error", "0"], cwd=ROOT,
                       env={**os.environ, **env}, capture_output=True, timeout=seconds + 60)
        stats = json.loads(Path(f"{tmp}/stats.json").read_text())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    requests = sum(s["num_requests"] for s in stats)
    return cpu, requests, stats


def steady_cpu(locustfile: str, host: str, users: int, seconds: int, env: dict) -> float:
    """CPU seconds per 1000 requests of a Locust process in its steady state: its CPU from
    /proc between 7 s after start and 3 s before the end (start-up excluded)."""
    def cpu_of(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", locustfile, "--headless",
                             "--host", host, "-u", str(users), "-r", str(users), "--run-time",
                             f"{seconds}s", "--json", "--only-summary", "--loglevel", "ERROR",
                             "--exit-code-on-error", "0"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(7)
    a = cpu_of(proc.pid)
    time.sleep(seconds - 10)
    b = cpu_of(proc.pid)
    out, _ = proc.communicate(timeout=seconds + 60)
    rate = sum(s["num_requests"] for s in json.loads(out)) / seconds
    return (b - a) / ((seconds - 10) * rate) * 1000


def bunching(out: Path) -> float:
    """Share of consecutive request starts less than 0.5 ms apart (Locust's own pacing
    bunches its users' requests; the shared schedule spaces them evenly)."""
    import numpy as np

    from loadtest.store.samples import load_samples

    starts = np.sort(load_samples(out)["start"].to_numpy())
    gaps = np.diff(starts[(starts > starts[0] + 5) & (starts < starts[-1] - 2)])
    return float((gaps < 0.0005).mean()) if len(gaps) else float("nan")


def p99_of(stats: list) -> float:
    """p99 from Locust's own merged response-time buckets (what a plain run reports)."""
    merged: dict[int, int] = {}
    for s in stats:
        for k, v in s["response_times"].items():
            merged[int(float(k))] = merged.get(int(float(k)), 0) + v
    total = sum(merged.values())
    seen = 0
    for k in sorted(merged):
        seen += merged[k]
        if seen >= 0.99 * total:
            return float(k)
    return float("nan")


def rate_accuracy(base: Path, lines: list[str]) -> None:
    lines.append("1. rate accuracy (15 s window after 5 s warm-up)")
    for rate, extra in ((100, []), (500, []), (1000, []),
                        (100, ["--target-fault", "latency=1500ms",
                               "--target-fault", "endpoints=/api/*"])):
        r = gate(base / f"rate{rate}{len(extra)}", "--rate", str(rate), "--duration",
                 "15s", "--warmup", "5s", *extra)
        ach = r["load"]["achieved_rate"]
        lines.append(f"   {rate:>5} req/s{' (target latency 1.5 s)' if extra else '':<24} "
                     f"achieved {ach:8.2f}  ({ach / rate - 1:+.2%}), schedule lag p99 "
                     f"{r['client']['totals']['schedule_lag_ms']['p99']:.1f} ms")


def latency_accuracy(base: Path, lines: list[str]) -> None:
    floor = gate(base / "floor", "--rate", "100", "--duration", "15s", "--warmup", "5s")
    f50 = floor["client"]["totals"]["latency_ms"]["p50"]
    r = gate(base / "lat", "--rate", "100", "--duration", "20s", "--warmup", "5s",
             "--target-fault", "latency=normal:200ms,30ms")
    lines.append(f"2. latency accuracy (added normal(200 ms, 30 ms); floor p50 {f50:.1f} ms)")
    for q in (0.5, 0.95, 0.99):
        true = NormalDist(200, 30).inv_cdf(q) + f50
        got = r["client"]["totals"]["latency_ms"][f"p{int(q * 100)}"]
        lines.append(f"   p{int(q * 100):<3} true {true:7.1f} ms  client {got:7.1f} ms  "
                     f"({got / true - 1:+.2%})")


def coordinated_omission(base: Path, lines: list[str]) -> None:
    from loadtest.stack.servers import ReferenceTarget

    lines.append("3. coordinated omission (target frozen 2 s once, 100 req/s)")
    ref = ReferenceTarget(base / "co")
    ref.wait_ready()
    try:
        def freeze_once(delay: float) -> None:
            time.sleep(delay)
            os.kill(ref.child.pid, signal.SIGSTOP)
            time.sleep(2)
            os.kill(ref.child.pid, signal.SIGCONT)

        threading.Thread(target=freeze_once, args=(12,), daemon=True).start()
        r = gate(base / "co-run", "--target", ref.url, "--rate", "100", "--duration",
                 "15s", "--warmup", "3s")
        t = r["client"]["totals"]
        threading.Thread(target=freeze_once, args=(8,), daemon=True).start()
        _, n, plain = locust_cpu("bench/plain_locustfile.py", ref.url, 10, 15,
                                 {"PLAIN_PER_USER_RATE": "10"})
        lines.append(f"   harness: p99 as measured {t['latency_ms']['p99']:.0f} ms, "
                     f"corrected from the intended start "
                     f"{t['corrected_latency_ms']['p99']:.0f} ms")
        lines.append(f"   plain closed-model Locust (10 users x 10 req/s): p99 "
                     f"{p99_of(plain):.0f} ms over {n} requests")
    finally:
        ref.stop()


def generator_cost(base: Path, lines: list[str], rounds: int = 3) -> None:
    from statistics import median

    from loadtest.stack.servers import ReferenceTarget

    lines.append(f"4. generator cost (Locust process CPU per 1000 requests in its steady state, "
                 f"20 of 30 s at 200 req/s, 20 users; median of {rounds} interleaved rounds, "
                 "this VM's CPU accounting is noisy)")
    variants = (
        ("plain Locust (constant_throughput)", "bench/plain_locustfile.py",
         {"PLAIN_PER_USER_RATE": "10"}),
        ("harness code, Locust's timing", "bench/locust_timing_locustfile.py",
         {"PLAIN_PER_USER_RATE": "10"}),
        ("harness (shared schedule)", "bench/paced_locustfile.py",
         {"LOADTEST_LOCUST_RATE": "200"}))
    ref = ReferenceTarget(base / "cost")
    ref.wait_ready()
    try:
        cost: dict[str, list[float]] = {label: [] for label, _, _ in variants}
        bunched: dict[str, float] = {}
        for r in range(rounds):
            for label, lf, env in variants:
                out = base / f"cost-{r}-{len(cost[label])}-{lf.split('/')[-1]}"
                cost[label].append(steady_cpu(lf, ref.url, 20, 30,
                                              {**env, "LOADTEST_LOCUST_OUT": str(out)}))
                if "harness" in label:
                    bunched[label] = bunching(out)
        for label, values in cost.items():
            extra = (f"; {bunched[label]:.0%} of starts < 0.5 ms apart" if label in bunched
                     else "")
            lines.append(f"   {label:<36} {median(values):.3f} s (range {min(values):.3f}-"
                         f"{max(values):.3f}){extra}")
        plain, code, paced = (median(v) for v in cost.values())
        lines.append(f"   the harness's code on Locust's timing: {code / plain - 1:+.1%}; "
                     f"with evenly spaced arrivals: {paced / plain - 1:+.1%}")
        own = subprocess.run([sys.executable, "bench/per_request_cost.py"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120).stdout.strip()
        lines.append(f"   timed alone: {own}")
    finally:
        ref.stop()


def scale(base: Path, lines: list[str]) -> None:
    lines.append("5. scale: one process vs --workers 2 (15 s window; the target shares the "
                 "2 cores)")
    for rate in (400, 600, 800, 1000):
        row = f"   {rate:>5} req/s achieved"
        for workers in (1, 2):
            r = gate(base / f"w{rate}-{workers}", "--rate", str(rate), "--workers",
                     str(workers), "--duration", "15s", "--warmup", "5s")
            ach = r["load"]["achieved_rate"]
            row += f"  {workers} process(es) {ach:7.1f} ({ach / rate - 1:+.1%})"
        lines.append(row)


SECTIONS = {"1": rate_accuracy, "2": latency_accuracy, "3": coordinated_omission,
            "4": generator_cost, "5": scale}


def main() -> int:
    wanted = sys.argv[1:] or list(SECTIONS)
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in wanted:
            SECTIONS[key](Path(tmp), lines)
            print("\n".join(lines), flush=True)
            lines.clear()
    return 0

if __name__ == "__main__":
    sys.exit(main())
