"""The master's side of a distributed run: the rate split over its workers, and its watch over
them. Any Locust master running this code (`loadtest run --workers/--remote-workers`, or a
plain `locust --master` with the harness's scenario or `import loadtest.locust_plugin`):

- at the test's start it sends every worker the plan (pacing.py) with the number of workers
  connected then: each paces rate / N, so the aggregate is the master's `LOADTEST_LOCUST_RATE`
  whatever the workers' own environment says;
- a worker that joins while the test runs, or is lost (it stops sending heartbeats: killed,
  its machine gone; or it quits), makes the master split the rate again over the workers it
  has then: each goes on at its new share from the same timeline;
- with a run folder (`LOADTEST_LOCUST_OUT`, or the plugin's run directory) every split and
  every worker is recorded in `workers.json`: when it connected, its share, the samples it
  sent, the CPU it reported (% of a core, Locust measures it every 10 s), and when and how it
  was lost. The harness marks the run from a loss (its share was not
  sent from the loss until the master noticed, and its last unflushed samples never arrived);
  the samples the other workers sent stay, and so do the lost worker's up to its last flush.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner

from loadtest.locustlib import pacing
from loadtest.store.records import LostWorker, RateSplit, WorkerReport, WorkersRecord

WATCH_EVERY_S = 1.0


class WorkerWatch:
    def __init__(self, runner: Any, out: Path | None, expected: int) -> None:
        self.runner = runner
        self.out = out
        self.expected = expected
        self.connected: dict[str, WorkerReport] = {}
        self.lost: dict[str, LostWorker] = {}
        self.splits: list[RateSplit] = []
        self.watching = False
        self.t0: float | None = None   # slot 0 of the workers' schedules (the master's clock)

    def active(self) -> list[str]:
        """The workers that take part now (Locust's ready, spawning and running ones)."""
        clients = self.runner.clients
        return [c.id for c in clients.ready + clients.spawning + clients.running
                if c.id not in self.lost]

    def connect(self, client_id: str) -> None:
        self.connected.setdefault(client_id, WorkerReport(id=client_id, at=time.time(),
                                                          share=None, samples=0, cpu=[]))
        self.lost.pop(client_id, None)  # back after a loss: Locust takes it again
        if self.watching:  # a worker joins a running test: split the rate again
            # Locust adds it to its clients after this event; it gets its spawn after it
            ids = [i for i in self.active() if i != client_id] + [client_id]
            self.split(ids, f"worker {client_id} joined")
        self.write()

    def start(self) -> None:
        self.watching = True
        self.t0 = time.time() + pacing.SCHEDULE_DELAY_S
        self.split(self.active(), "test start")
        self.write()

    def split(self, ids: list[str], why: str) -> None:
        """Send each worker in `ids` the plan with rate / len(ids)."""
        if not ids:
            return
        plan = pacing.plan_from_env()
        plan["workers"] = len(ids)
        if self.t0 is not None and time.time() > self.t0:
            plan["elapsed_s"] = time.time() - self.t0  # for one that joins: the run's clock
        rate = plan["rate"]
        assert isinstance(rate, float)  # plan_from_env's
        share = rate / len(ids)
        for cid in ids:
            self.runner.send_message("loadtest_plan", plan, client_id=cid)
            if cid in self.connected:
                self.connected[cid]["share"] = share
        self.splits.append(RateSplit(at=time.time(), why=why, workers=len(ids),
                                     rate=rate, share=share))

    def received(self, client_id: str, samples: int) -> None:
        entry = self.connected.get(client_id)
        if entry is not None:
            entry["samples"] += samples

    def check(self) -> None:
        if not self.watching:
            return
        clients = self.runner.clients
        now = round(time.time(), 1)
        for cid in self.active():  # the CPU a worker reports with its heartbeat (every 10 s)
            if cid in self.connected and clients.get(cid) is not None:
                self.connected[cid]["cpu"].append([now, clients[cid].cpu_usage])
        gone = []
        for cid in self.connected:
            if cid in self.lost:
                continue
            node = clients.get(cid)
            if node is None:
                self.lost[cid] = LostWorker(id=cid, at=time.time(), how="left the test")
            elif node.state == "missing":
                # the heartbeat has been silent for its liveness (~3 s): date it from then
                self.lost[cid] = LostWorker(id=cid, at=time.time() - 3.0,
                                            how="stopped sending heartbeats")
            else:
                continue
            gone.append(cid)
        if gone:  # the others take its share from now on
            self.split(self.active(), "lost " + ", ".join(gone))
            self.write()

    def write(self) -> None:
        if self.out is None:
            return
        data = WorkersRecord(expected=self.expected, connected=list(self.connected.values()),
                             lost=list(self.lost.values()), splits=self.splits)
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.out / ".workers.json.tmp"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.out / "workers.json")

    def loop(self) -> None:
        while True:
            gevent.sleep(WATCH_EVERY_S)
            self.check()


WATCH: WorkerWatch | None = None


def record_to(out: Path, expected: int) -> None:
    """Write `workers.json` into `out` (the plugin's run directory)."""
    if WATCH is not None:
        WATCH.out, WATCH.expected = out, expected
        WATCH.write()


def received(client_id: str, samples: int) -> None:
    """The master got `samples` rows from a worker (recorder.py)."""
    if WATCH is not None:
        WATCH.received(client_id, samples)


@events.init.add_listener
def _on_init(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    global WATCH

    if isinstance(environment.runner, MasterRunner):
        out = os.environ.get("LOADTEST_LOCUST_OUT")
        WATCH = WorkerWatch(environment.runner, Path(out) if out else None,
                            int(os.environ.get("LOADTEST_LOCUST_WORKERS", "1")))
        gevent.spawn(WATCH.loop)


@events.worker_connect.add_listener
def _on_connect(client_id, **_kw) -> None:  # type: ignore[no-untyped-def]
    if WATCH is not None:
        WATCH.connect(client_id)


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    # fired by the master before its spawn messages: every worker paces its share from the start
    if WATCH is not None:
        WATCH.start()


@events.test_stopping.add_listener
def _on_stopping(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if WATCH is not None:
        WATCH.check()  # a loss just before the end still counts
        WATCH.watching = False
        WATCH.write()
