"""Generator health: the CPU of the Locust processes (the local one, or a master and its
`--processes` workers), sampled from /proc once a second while the load runs.

A Python load process is single-threaded: one that keeps a core busy (>= 80 % over the window)
cannot hold its schedule for long, and its latencies include its own queueing. Such a run is
marked inconclusive with the advice to add workers: a slow generator must never be reported as
a slow service. Workers on other machines are not sampled (their lag still shows).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SATURATED_PCT = 80.0
SAMPLE_EVERY_S = 1.0
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(int(d.name))
            if st is not None:
                parents.setdefault(st[0], []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


@dataclass
class CpuMonitor:
    root_pid: int
    samples: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    _last: float = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.time()
        if now - self._last < SAMPLE_EVERY_S and not force:
            return
        self._last = now
        for pid in descendants(self.root_pid):
            st = _stat(pid)
            if st is not None:
                self.samples.setdefault(pid, []).append((now, st[1]))

    def current_pct(self) -> float | None:
        """The busiest process's CPU over the last interval."""
        pcts = [p for p in (_pct(s[-2:]) for s in self.samples.values() if len(s) >= 2)
                if p is not None]
        return max(pcts, default=None)

    def summary(self, start: float, end: float) -> dict[str, Any]:
        """Per process: mean CPU % of one core over [start, end], and the highest second."""
        procs = []
        for pid, series in sorted(self.samples.items()):
            inside = [s for s in series if start - SAMPLE_EVERY_S <= s[0] <= end + SAMPLE_EVERY_S]
            if len(inside) < 2:
                continue
            steps = [p for p in (_pct(inside[i:i + 2]) for i in range(len(inside) - 1))
                     if p is not None]
            procs.append({"pid": pid, "role": "locust" if pid == self.root_pid else "worker",
                          "mean_pct": round(_pct([inside[0], inside[-1]]) or 0.0, 1),
                          "max_pct": round(max(steps, default=0.0), 1),
                          "samples": len(inside)})
        return {"processes": procs, "saturated_pct": SATURATED_PCT}


def _pct(pair: list[tuple[float, float]]) -> float | None:
    (t0, c0), (t1, c1) = pair[0], pair[-1]
    return 100.0 * (c1 - c0) / (t1 - t0) if t1 > t0 else None


def saturation_problems(summary: dict[str, Any]) -> list[str]:
    return [f"the load generator's {p['role']} process {p['pid']} kept {p['mean_pct']:.0f}% of "
            f"a core busy over the window (>= {SATURATED_PCT:.0f}%): it is saturated and its "
            "latencies include its own queueing; add --workers or lower --rate"
            for p in summary.get("processes", []) if p["mean_pct"] >= SATURATED_PCT]


def shortfall(totals: dict[str, Any], requested: float, cpu: dict[str, Any] | None,
              users: int | None) -> str:
    """Why the load generator sent less than asked, as far as the figures tell."""
    achieved = totals.get("achieved_rate") or 0.0
    completed = totals.get("completed_rate") or 0.0
    lag = (totals.get("schedule_lag_ms") or {}).get("p99") or 0.0
    head = (f"the load generator delivered {achieved:.1f} of {requested:.1f} req/s "
            f"(schedule lag p99 {lag:.0f} ms): ")
    busiest = max((p["mean_pct"] for p in (cpu or {}).get("processes", [])), default=None)
    if busiest is not None and busiest >= SATURATED_PCT:
        return head + (f"its busiest process kept {busiest:.0f}% of a core busy; add "
                       "--workers or lower --rate")
    if achieved and completed < achieved * 0.95:
        who = f"all {users} users" if users else "every user"
        return head + (f"the target fell behind (it completed {completed:.1f} req/s of "
                       f"{achieved:.1f} sent) and {who} waited on it; the generator was "
                       + (f"not busy ({busiest:.0f}% of a core). " if busiest is not None
                          else "not the limit. ")
                       + "Raise --users to keep offering the rate, or find the target's "
                       "limit with `loadtest capacity`")
    return head + "too few users for the latency seen (raise --users, or lower --rate)"
