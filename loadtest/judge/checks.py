"""The checks beside the objectives, each a small function of the run's figures returning
its findings as plain data (warnings and problems are sentences for the report):

- delivery: did the load generator offer the rate asked (`delivery`), and the throughput
  objectives that cannot be judged on a rate not offered (`throughput_not_offered`);
- scrape health: failed scrapes and restarts of the target inside the window;
- client/server agreement: the request count and the p95 each side measured;
- problems found by the load side (generator saturation, lost workers) merged once
  (`unseen`).

The interpolation warnings of histogram quantiles are in judge/objectives.py."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loadtest.judge.status import DELIVERY_TOLERANCE, FAIL, NO_DATA, PASS
from loadtest.store.records import ClientTotals, LoadRecord, ObjectiveRecord, ScrapeHealth

if TYPE_CHECKING:
    from loadtest.judge.objectives import ObjectiveResult

__all__ = ["DELIVERY_TOLERANCE"]  # judge/status.py's, named here too

CLOSED_MODEL = ("closed model: the load followed the file's own wait_time, so latency is as "
                "measured, not corrected for coordinated omission (client latency objectives "
                "judge measured latency)")


@dataclass(frozen=True)
class Delivery:
    """What the load generator offered against what was asked."""
    request_rate: float        # requests per second sent
    achieved: float            # the rate --rate counts (task starts when recorded)
    requested: float           # 0: not gated (the closed model paces itself)
    delivered: bool
    closed: bool
    unit: str = "req/s"        # of achieved and requested: "tasks/s" when task starts counted

    def offered(self) -> str:
        """"started 19.5 of 100.0 tasks/s (19.5 requests/s sent)" """
        if self.unit == "req/s":
            return f"offered {self.achieved:.1f} of {self.requested:.1f} req/s"
        return (f"started {self.achieved:.1f} of {self.requested:.1f} tasks/s "
                f"({self.request_rate:.1f} requests/s sent)")

    def record(self) -> LoadRecord:
        """Its fields of results.json's `load`, in their order there."""
        rec = LoadRecord(request_rate=self.request_rate, achieved_rate=self.achieved,
                         requested_rate=None if self.closed else self.requested)
        if self.closed:
            rec["model"] = "closed"
        rec["delivered"] = self.delivered
        return rec


def delivery(totals: ClientTotals, requested: float, closed: bool,
             poisson_seconds: float | None = None) -> Delivery:
    """Achieved vs requested, within DELIVERY_TOLERANCE; the closed model's own pacing is
    reported, not gated. Poisson arrivals over `poisson_seconds` offer a random count: a
    shortfall within three of its standard deviations (sqrt of the expected count) is
    chance, not the generator."""
    achieved = totals["achieved_rate"]
    request_rate = achieved
    unit = "req/s"
    if "task_rate" in totals:  # --rate counts task starts
        achieved, unit = totals["task_rate"], "tasks/s"
    if closed:
        requested = 0
    tolerance = DELIVERY_TOLERANCE
    if poisson_seconds and requested > 0:
        tolerance = max(tolerance, 3 / math.sqrt(requested * poisson_seconds))
    delivered = requested == 0 or achieved >= requested * (1 - tolerance)
    return Delivery(request_rate, achieved, requested, delivered, closed, unit)


def throughput_not_offered(objectives: list[ObjectiveRecord], d: Delivery) -> None:
    """The server cannot be judged on a rate it was not offered: a failed throughput
    objective becomes no_data (and so does a pass judged against what was sent: the target
    served all it got, but was not offered the rate). Changes `objectives` in place."""
    for o in objectives:
        if o["kind"] == "throughput" and (o["status"] == FAIL or (
                o.get("extra") or {}).get("judged_against") == "sent"):
            o["status"] = NO_DATA
            o["reason"] = f"the load generator {d.offered()}: throughput cannot be judged"


def corrected_latency(objectives: list[Any]) -> list[Any]:
    """The SLO file's client latency objectives judged from the intended start, as the same
    objectives judged as measured (what the service itself took)."""
    return [o.model_copy(update={"corrected": False}) for o in objectives
            if getattr(o, "kind", None) == "client" and getattr(o, "metric", None) == "latency"
            and getattr(o, "corrected", False)]


def lag_not_charged(objectives: list[ObjectiveRecord],
                    measured: Mapping[str, ObjectiveResult], cause: str) -> None:
    """The load generator fell behind its schedule for a reason of its own (too few users
    for the tasks, short of CPU): the schedule lag is the generator's, and coordinated
    omission's correction would charge it to the service. A corrected client latency
    objective that failed while the same requests, as measured, hold is not judged
    (no_data: the run is inconclusive); one that fails as measured too stays a breach.
    Changes `objectives` in place."""
    for o in objectives:
        m = measured.get(o["name"])
        if o["status"] != FAIL or m is None or m.status != PASS or m.value is None:
            continue
        o["status"] = NO_DATA
        o["reason"] = (f"the schedule lag was the load generator's ({CAUSES.get(cause, cause)}"
                       "), not the service's: corrected for coordinated omission, it would "
                       f"be charged to the service; as measured the requests hold "
                       f"({m.value * 1000:.0f} ms)")
        o.setdefault("extra", {})["measured"] = m.value


CAUSES = {"journeys": "too few users for tasks this long", "users": "too few users",
          "cpu": "a saturated generator process", "cpu_time": "the generator short of CPU"}


def server_latency_s(objectives: list[ObjectiveRecord], quantile: float | None = None
                     ) -> float | None:
    """The first server-side latency objective's value (of `quantile` when given)."""
    return next((o.get("value") for o in objectives if o["kind"] == "latency"
                 and o.get("source") == "server" and o.get("value") is not None
                 and (quantile is None or o.get("extra", {}).get("quantile") == quantile)),
                None)


def scrape_warnings(health: ScrapeHealth) -> list[str]:
    """Failed scrapes and restarts of the target inside the window."""
    warnings = []
    if health.get("failed"):
        warnings.append(f"{health['failed']:.0f} of {health.get('scrapes') or 0:.0f} "
                        "scrapes of the target failed inside the window: counts are "
                        "extrapolated over the gaps")
    if health.get("restarts"):
        warnings.append(f"the target restarted {health['restarts']:.0f} time(s) inside "
                        "the window: what it observed after its last scrape is lost")
    return warnings


def agreement_warnings(objectives: list[ObjectiveRecord], totals: ClientTotals) -> list[str]:
    """The server's request count and p95 against the load generator's."""
    warnings = []
    server_count = next((o.get("samples") for o in objectives
                         if o["kind"] == "throughput" and o["status"] != NO_DATA), None)
    sent = totals["requests"]
    if server_count is not None and sent and abs(server_count - sent) > 0.05 * sent:
        warnings.append(f"the server counted {server_count:.0f} requests in the window, the "
                        f"load generator sent {sent}: lost scrapes, a restart, a wrong "
                        "selector, or traffic from elsewhere")
    server_p95 = server_latency_s(objectives, quantile=0.95)
    client_p95 = (totals.get("latency_ms") or {}).get("p95")
    if server_p95 is not None and client_p95 is not None and \
            client_p95 / 1000 > 2 * server_p95 + 0.05:
        warnings.append(f"the load generator measured p95 {client_p95:.0f} ms, the server "
                        f"{server_p95 * 1000:.0f} ms: time is lost between them (network, "
                        "a saturated generator, or queueing before the server's timer)")
    return warnings


def unseen(found: list[str], known: list[str]) -> list[str]:
    """The problems of `found` not already in `known` (nor repeated), in order."""
    new: list[str] = []
    for problem in found:
        if problem not in known and problem not in new:
            new.append(problem)
    return new
