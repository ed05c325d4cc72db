"""The load generator's cost against plain Locust sending the same arrivals, and the highest
rate it holds, against Debian's nginx on loopback (a small JSON answer: never the limit).

  1. cost: CPU seconds per 1000 requests of one Locust process in its steady state (from /proc,
     between 7 s after the start and 3 s before the end, over the requests Locust counted in
     that span: its stats history), at 200 and 1000 req/s, with the same users for every
     variant (rate / 10: 10 req/s a plain user, as in issue #42; `--users default`: the
     harness's default pool), next to what each variant actually sent in that span, from
     every request's recorded start (plain variants: bench/record_starts.py loaded beside
     each, one list append a request; the harness: its own samples files): the rate, the share
     of consecutive starts closer than 0.5 ms, and the gaps against 1 / rate (gap x rate:
     sd/mean, p1 and p99; perfectly even is 0 and 1.00-1.00):
       - plain bunched: `constant_throughput`, users spawned at once (Locust's habit)
       - plain even, ct: `constant_throughput`, user i first at i / rate (bench/
         even_locustfile.py)
       - plain even, staggered: `constant_pacing`, user i first at i / rate (bench/
         staggered_locustfile.py)
       - plain even, slots: user i on its own fixed slots i / rate + k x users / rate (bench/
         slots_locustfile.py)
       - the harness: PacedUser on the shared schedule, with its recorder and request deadline
     and the harness against the cheapest plain variant whose spacing is as even as the
     harness's (at most 1 point more starts under 0.5 ms apart, sd/mean at most 0.05 higher;
     "[even]" besides: at most 1% under 0.5 ms, gap x rate p1 >= 0.5 and p99 <= 1.5);
     median of 5 interleaved rounds (this VM's CPU accounting varies 10-20% run to run)
  2. ceiling: the highest rate `loadtest run` holds within 1% over a 10 s window and calls
     conclusive (exit 0: no Locust process kept 80% of a core busy), one Locust process and
     --workers 2 (nginx has one worker process; the machine has 2 cores)

  3. pool (on request): the harness with its default pool and with a tenth of it

    python bench/generator_fair.py [cost] [ceiling] [pool] [--rounds 5] [--rates 200,1000]
        [--users tenth|default] [--variants 'LABEL;LABEL'] [--ceiling-rates 3000,4000]
        [--processes 1,2]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean, median, pstdev

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /metrics {{ default_type text/plain; return 200 "# TYPE up_static gauge\\nup_static 1\\n"; }}
    location / {{ default_type application/json; return 200 '{{"id":1,"title":"a document"}}'; }}
  }}
}}
"""
CLIENT_SLO = """version: 1
objectives:
  - {name: client_p95, kind: client, metric: latency, quantile: 0.95, threshold: 2s}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    def __init__(self, base: Path) -> None:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            raise SystemExit("nginx is not installed (apt-get install nginx-light)")
        self.dir = base / "nginx"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=self.dir, port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-p", str(self.dir), "-c", str(conf), "-e",
                                      str(self.dir / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"nginx did not start: {(self.dir / 'error.log').read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_at(history: Path, t: float) -> float:
    """Requests Locust had counted at time `t`, interpolated in its once-a-second history."""
    rows = [(float(r["Timestamp"]), float(r["Total Request Count"]))
            for r in csv.DictReader(history.open()) if r["Name"] == "Aggregated"]
    for (t0, n0), (t1, n1) in zip(rows, rows[1:], strict=False):
        if t0 <= t <= t1:
            return n0 + (n1 - n0) * (t - t0) / (t1 - t0)
    raise SystemExit(f"{history}: no history around {t:.0f}")


def steady_cost(locustfile: str, host: str, users: int, seconds: int, env: dict[str, str],
                tmp: Path) -> tuple[float, float, float, float]:
    """(CPU seconds per 1000 requests, req/s, span start, span end) of one Locust process in
    its steady state; the span is wall-clock time (the requests' start times are too)."""
    prefix = tmp / "stats"
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", locustfile, "--headless",
                             "--host", host, "-u", str(users), "-r", str(users), "--run-time",
                             f"{seconds}s", "--csv", str(prefix), "--only-summary",
                             "--loglevel", "ERROR", "--exit-code-on-error", "0"],
                            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(7)
    ta, a = time.time(), cpu_of(proc.pid)
    time.sleep(seconds - 10)
    tb, b = time.time(), cpu_of(proc.pid)
    proc.wait(timeout=seconds + 60)
    history = Path(f"{prefix}_stats_history.csv")
    n = count_at(history, tb) - count_at(history, ta)
    return (b - a) / n * 1000, n / (tb - ta), ta, tb


def starts_of(folder: Path) -> list[float]:
    """Every request's actual start this variant recorded: the harness's samples files
    (`start` column), or a plain variant's bench/record_starts.py dump."""
    starts: list[float] = []
    for f in folder.glob("samples-*.csv"):
        with f.open(newline="", encoding="utf-8") as fh:
            starts.extend(float(r["start"]) for r in csv.DictReader(fh))
    for f in folder.glob("starts-*.txt"):
        starts.extend(float(x) for x in f.read_text(encoding="utf-8").split())
    return sorted(starts)


CLOSE_S = 0.0005  # consecutive starts closer than this count as bunched


@dataclass
class Spacing:
    """What a variant sent in the span: its rate, the share of consecutive starts closer than
    CLOSE_S, and its gaps against 1 / rate (gap x rate: 1.0 is perfectly even)."""
    rate: float
    close: float
    cv: float      # sd / mean of the gaps
    p1: float      # 1st percentile of gap x rate
    p99: float     # 99th percentile of gap x rate


def spacing(starts: list[float], ta: float, tb: float) -> Spacing:
    span = [t for t in starts if ta <= t <= tb]
    if len(span) < 3:
        raise SystemExit(f"only {len(span)} request starts recorded in the span")
    rate = len(span) / (tb - ta)
    gaps = sorted(b - a for a, b in itertools.pairwise(span))
    mean = fmean(gaps)

    def pct(q: float) -> float:
        return gaps[min(len(gaps) - 1, int(q * len(gaps)))] * rate

    return Spacing(rate, sum(g < CLOSE_S for g in gaps) / len(gaps), pstdev(gaps) / mean,
                   pct(0.01), pct(0.99))


# every plain variant loads bench/record_starts.py beside it (one list append a request); the
# harness records every start in its own samples files
RECORD = ",bench/record_starts.py"
VARIANTS = (
    ("plain bunched", "bench/plain_locustfile.py" + RECORD),
    ("plain even, ct", "bench/even_locustfile.py" + RECORD),
    ("plain even, staggered", "bench/staggered_locustfile.py" + RECORD),
    ("plain even, slots", "bench/slots_locustfile.py" + RECORD),
    # with the add-on `loadtest run` loads next to every scenario (task starts, deadlines)
    ("harness", "bench/paced_locustfile.py,loadtest/locustlib/addon/loadtest_harness.py"),
)
HARNESS = "harness"
# on request (--variants): the harness without its per-user request deadline timer
EXTRA = (("harness, no deadline", ("bench/paced_nodeadline_locustfile.py,"
                                   "loadtest/locustlib/addon/loadtest_harness.py")),)
# `pool`: the harness with a tenth of the default users (at least 20): does the size of the
# pool (greenlets sleeping on their slots, one connection each) cost CPU per request?
POOL = ("harness, 1/10 of the users", VARIANTS[-1][1])
# "equally even" (what the harness sends): at most 1% of consecutive starts under 0.5 ms and
# gaps within [0.5, 1.5] x 1 / rate for 98% of them
EVEN_CLOSE, EVEN_P1, EVEN_P99 = 0.01, 0.5, 1.5


def is_even(s: Spacing) -> bool:
    return s.close <= EVEN_CLOSE and s.p1 >= EVEN_P1 and s.p99 <= EVEN_P99


def cost(base: Path, nginx: Nginx, rounds: int, lines: list[str], rates: list[int],
         variants: tuple[tuple[str, str], ...] = VARIANTS, users_of: str = "tenth",
         seconds: int = 20) -> None:
    from loadtest.load.runner import default_users

    lines.append(f"1. CPU s per 1000 requests, one Locust process, steady state ({seconds - 10} "
                 f"of {seconds} s), nginx on loopback; median of {rounds} rounds (range); "
                 "what each sent in that span, from every request's recorded start: rate, "
                 f"share of consecutive starts < {CLOSE_S * 1000:g} ms apart, gaps x rate "
                 "(sd/mean, p1-p99; perfectly even: 0, 1.00-1.00)")
    for rate in rates:
        # the same users for every variant: rate / 10 (each plain user at 10 req/s, as in
        # issue #42) or the harness's default pool
        users = default_users(rate) if users_of == "default" else max(1, round(rate / 10))
        env = {"PLAIN_PER_USER_RATE": str(rate / users), "STAGGER_RATE": str(rate),
               "STAGGER_USERS": str(users), "LOADTEST_LOCUST_RATE": str(rate)}
        got: dict[str, list[tuple[float, Spacing]]] = {label: [] for label, _ in variants}
        used: dict[str, int] = {}
        for r in range(rounds):
            for i, (label, lf) in enumerate(variants):
                tmp = Path(tempfile.mkdtemp(prefix=f"cost-{rate}-{r}-{i}-", dir=base))
                n = max(20, users // 10) if label == POOL[0] else users
                used[label] = n
                c, _, ta, tb = steady_cost(lf, nginx.url, n, seconds,
                                           {**env, "LOADTEST_LOCUST_OUT": str(tmp),
                                            "BENCH_STARTS_OUT": str(tmp)}, tmp)
                got[label].append((c, spacing(starts_of(tmp), ta, tb)))
                shutil.rmtree(tmp, ignore_errors=True)
        med = {label: median(c for c, _ in v) for label, v in got.items()}
        lines.append(f"   {rate} req/s:")
        # each round's figure, printed at once: a later section's failure keeps this one's
        rounds_of = {k: [round(c, 3) for c, _ in v] for k, v in got.items()}
        print(f"   ({rate} req/s, each round: {rounds_of})", flush=True)
        spc = {label: Spacing(*(median(getattr(s, f) for _, s in v)
                                for f in ("rate", "close", "cv", "p1", "p99")))
               for label, v in got.items()}
        h = spc.get(HARNESS)
        # as even as the harness: no more starts under 0.5 ms (+1 point), no wider spread
        # (sd/mean +0.05), medians over the rounds
        as_even = {k: h is not None and k != HARNESS and s.close <= h.close + 0.01
                   and s.cv <= h.cv + 0.05 for k, s in spc.items()}
        for label, v in got.items():
            cs = [c for c, _ in v]
            s = spc[label]
            lines.append(
                f"     {label:<22} {used[label]:>4} users  {med[label]:.3f} s "
                f"({min(cs):.3f}-{max(cs):.3f})  sent {s.rate:.1f} req/s, < 0.5 ms "
                f"{s.close:.1%}, gap x rate sd/mean {s.cv:.2f}, p1-p99 {s.p1:.2f}-{s.p99:.2f}"
                + ("  [even]" if is_even(s) else "")
                + ("  [as even as the harness]" if as_even[label] else ""))
        if HARNESS in med:
            plain_even = [k for k in med if as_even[k] and k.startswith("plain")]
            if plain_even:
                best = min(plain_even, key=lambda k: med[k])
                lines.append(f"     harness / cheapest plain as even ({best}) "
                             f"{med[HARNESS] / med[best]:.2f}x")
            else:
                lines.append("     no plain variant sent starts as even as the harness's")
            for k, m in med.items():
                if k != HARNESS:
                    lines.append(f"     harness / {k} {med[HARNESS] / m:.2f}x")


def held(base: Path, nginx: Nginx, rate: int, workers: int) -> tuple[float, int, str]:
    out = base / f"ceiling-{rate}-{workers}"
    slo = base / "client-slo.yaml"
    slo.write_text(CLIENT_SLO)
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--target", nginx.url,
                        "--probe", "none", "--metrics-source", "embedded", "--slo", str(slo),
                        "--scenario", "bench/paced_locustfile.py", "--rate", str(rate),
                        "--duration", "10s", "--warmup", "5s", "--workers", str(workers),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    try:
        r = json.loads((out / "latest" / "results.json").read_text())
    except FileNotFoundError:
        raise SystemExit(f"no results at {rate} req/s: {p.stderr[-2000:]}") from None
    return float(r["load"]["achieved_rate"]), p.returncode, r["verdict"]["reason"]


CEILING_RATES = (1000, 1500, 2000, 2500, 3000, 4000)


def ceiling(base: Path, nginx: Nginx, lines: list[str], rates: tuple[int, ...] = CEILING_RATES,
            processes: tuple[int, ...] = (1, 2)) -> None:
    lines.append("2. highest rate held within 1% (`loadtest run`, 10 s window after 5 s), "
                 "against nginx")
    for workers in processes:
        best = None
        row = []
        for rate in rates:
            achieved, code, why = held(base, nginx, rate, workers)
            row.append(f"{rate}: {achieved:.1f} (exit {code}"
                       + (f": {why[:90]}" if code else "") + ")")
            if achieved < rate * 0.99 or code != 0:  # exit 3: the generator was saturated
                break
            best = rate
        lines.append(f"   {workers} process(es): held {best or f'< {rates[0]}'} req/s within 1% "
                     "and conclusive; " + "; ".join(row))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sections", nargs="*", default=["cost", "ceiling"],
                    help="cost, ceiling, pool (the harness with the default pool and a tenth "
                         "of it)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rates", default="200,1000", help="for cost and pool")
    ap.add_argument("--users", choices=("tenth", "default"), default="tenth",
                    help="cost: every variant's users, rate / 10 (10 req/s a plain user, "
                         "issue #42) or the harness's default pool (3 per req/s)")
    ap.add_argument("--seconds", type=int, default=20, help="cost: each run's length")
    ap.add_argument("--ceiling-rates", default=",".join(map(str, CEILING_RATES)),
                    help="ceiling: the rates tried, in order (stops at the first not held)")
    ap.add_argument("--processes", default="1,2", help="ceiling: Locust processes (--workers)")
    ap.add_argument("--variants", default="",
                    help="cost: a subset of the variants, labels separated by ;")
    args = ap.parse_args()
    lines: list[str] = []
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        nginx = Nginx(base)
        try:
            if "cost" in args.sections:
                chosen = VARIANTS if not args.variants else tuple(
                    v for v in VARIANTS + EXTRA if v[0] in args.variants.split(";"))
                cost(base, nginx, args.rounds, lines, rates, chosen, args.users, args.seconds)
            if "pool" in args.sections:
                cost(base, nginx, args.rounds, lines, rates, (VARIANTS[-1], POOL), "default",
                     args.seconds)
            if "ceiling" in args.sections:
                ceiling(base, nginx, lines,
                        tuple(int(r) for r in args.ceiling_rates.split(",")),
                        tuple(int(w) for w in args.processes.split(",")))
        finally:
            nginx.stop()
    print("\n".join(lines))
    print("command: python bench/generator_fair.py " + " ".join(args.sections)
          + f" --rounds {args.rounds} --rates {args.rates} --users {args.users}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
