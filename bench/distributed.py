"""The cost of distribution: `loadtest run --remote-workers N` with N local `loadtest worker`
processes (the Kubernetes example's path, on loopback) against Debian's nginx (a small JSON
answer: never the limit), for N = 1, 2, 4:

  - the highest rate held within 1% over a 10 s window after 5 s, and conclusive (exit 0);
  - CPU per request in the steady state (from /proc, over the judged window): the workers'
    Locust processes together, and the master's, per sample it received and wrote;
  - against one Locust process (`loadtest run`, no master): the same rates.

The master receives every worker's raw samples (locustlib/recorder.py) and writes them: its CPU
per forwarded sample says at what aggregate rate it would fill one core.

    python bench/distributed.py [--workers 1,2,4] [--rates 500,1000,1500,2000,3000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from generator_fair import CLIENT_SLO, Nginx, free_port  # noqa: E402

WARMUP_S, DURATION_S = 5, 10


def locust_procs(root: psutil.Process) -> list[psutil.Process]:
    out = []
    for p in [root, *root.children(recursive=True)]:
        try:
            if "locust" in p.cmdline()[1:3]:  # `python -m locust ...`
                out.append(p)
        except psutil.Error:
            pass
    return out


def cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def one_run(base: Path, nginx: Nginx, rate: int, workers: int) -> dict[str, object]:
    """One run; workers = 0: one Locust process, no master."""
    out = base / f"run-{rate}-{workers}"
    slo = base / "client-slo.yaml"
    slo.write_text(CLIENT_SLO)
    port = free_port()
    argv = [sys.executable, "-m", "loadtest", "run", "--target", nginx.url, "--probe", "none",
            "--metrics-source", "embedded", "--slo", str(slo),
            "--scenario", "bench/paced_locustfile.py", "--rate", str(rate),
            "--duration", f"{DURATION_S}s", "--warmup", f"{WARMUP_S}s", "--out", str(out)]
    if workers:
        argv += ["--remote-workers", str(workers), "--master-port", str(port),
                 "--master-bind-host", "127.0.0.1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    gate = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    pods = [subprocess.Popen([sys.executable, "-m", "loadtest", "worker", "--master-host",
                              "127.0.0.1", "--master-port", str(port), "--scenario",
                              "bench/paced_locustfile.py"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(workers)]
    try:
        deadline = time.monotonic() + 90
        while not list(out.glob("*/locust/started-*.json")):
            if time.monotonic() > deadline or gate.poll() is not None:
                raise SystemExit(f"no load at {rate} req/s x {workers}: {gate.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        time.sleep(0.5 + WARMUP_S)  # slot 0, then the warm-up: the window starts
        master = locust_procs(psutil.Process(gate.pid))
        worker_procs = [p for pod in pods for p in locust_procs(psutil.Process(pod.pid))]
        if not workers:
            worker_procs, master = master, []
        c0 = (cpu(master), cpu(worker_procs))
        time.sleep(DURATION_S - 1)
        c1 = (cpu(master), cpu(worker_procs))
        _, err = gate.communicate(timeout=300)
        for pod in pods:
            pod.wait(timeout=60)
    finally:
        for p in (gate, *pods):
            if p.poll() is None:
                p.kill()
    r = json.loads((out / "latest" / "results.json").read_text())
    achieved = float(r["load"]["achieved_rate"])
    sent = achieved * (DURATION_S - 1)
    return {"rate": rate, "workers": workers, "achieved": achieved, "code": gate.returncode,
            "why": r["verdict"]["reason"] if gate.returncode else "",
            "worker_ms_per_req": (c1[1] - c0[1]) / sent * 1000,
            "master_us_per_sample": (c1[0] - c0[0]) / sent * 1e6 if workers else None,
            "master_core_pct": (c1[0] - c0[0]) / (DURATION_S - 1) * 100 if workers else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="0,1,2,4", help="0: one Locust process, no master")
    ap.add_argument("--rates", default="500,1000,1500,2000,3000")
    args = ap.parse_args()
    lines = [f"cost of distribution against nginx on loopback ({os.cpu_count()} cores): "
             f"`loadtest run --remote-workers N` + N `loadtest worker`, {DURATION_S} s window "
             f"after {WARMUP_S} s; held = within 1% and exit 0"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        nginx = Nginx(base)
        try:
            for workers in [int(w) for w in args.workers.split(",")]:
                best = None
                for rate in [int(r) for r in args.rates.split(",")]:
                    m = one_run(base, nginx, rate, workers)
                    ok = m["code"] == 0 and float(m["achieved"]) >= rate * 0.99  # type: ignore[arg-type]
                    master = (f"; master {m['master_us_per_sample']:.1f} us/sample "
                              f"({m['master_core_pct']:.0f}% of a core)"
                              if workers else "")
                    lines.append(f"  {'1 process' if not workers else f'{workers} worker(s)'} "
                                 f"at {rate}: {m['achieved']:.1f} req/s, exit {m['code']}; "
                                 f"workers {m['worker_ms_per_req']:.3f} ms CPU/request{master}"
                                 + (f" [{str(m['why'])[:80]}]" if m["code"] else ""))
                    print(lines[-1], flush=True)
                    if not ok:
                        break
                    best = rate
                lines.append(f"  => {'1 process' if not workers else f'{workers} worker(s)'}:"
                             f" held {best or '< ' + args.rates.split(',')[0]} req/s")
                print(lines[-1], flush=True)
        finally:
            nginx.stop()
    print("\n".join(lines))
    print(f"command: python bench/distributed.py --workers {args.workers} --rates {args.rates}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
