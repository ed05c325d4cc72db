"""The master's watch over its workers (distributed runs): a worker that stops sending
heartbeats (killed, its machine gone) or quits while the test runs is recorded, with when, in
`workers.json` of the run's Locust folder. The harness marks the run from it; the samples the
other workers sent stay, and so do the lost worker's up to its last flush.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events

WATCH_EVERY_S = 1.0


class WorkerWatch:
    def __init__(self, runner: Any, out: Path) -> None:
        self.runner = runner
        self.path = out / "workers.json"
        self.connected: dict[str, float] = {}
        self.lost: dict[str, dict[str, Any]] = {}
        self.watching = False

    def connect(self, client_id: str) -> None:
        self.connected.setdefault(client_id, time.time())
        self.write()

    def check(self) -> None:
        if not self.watching:
            return
        clients = self.runner.clients
        for cid in self.connected:
            if cid in self.lost:
                continue
            node = clients.get(cid)
            if node is None:
                self.lost[cid] = {"id": cid, "at": time.time(), "how": "left the test"}
            elif node.state == "missing":
                # the heartbeat has been silent for its liveness (~3 s): date it from then
                self.lost[cid] = {"id": cid, "at": time.time() - 3.0,
                                  "how": "stopped sending heartbeats"}
            else:
                continue
            self.write()

    def write(self) -> None:
        data = {"expected": int(os.environ.get("LOADTEST_LOCUST_WORKERS", "1")),
                "connected": [{"id": k, "at": v} for k, v in self.connected.items()],
                "lost": list(self.lost.values())}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.path)

    def loop(self) -> None:
        while True:
            gevent.sleep(WATCH_EVERY_S)
            self.check()


WATCH: WorkerWatch | None = None


@events.init.add_listener
def _on_init(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    global WATCH
    from locust.runners import MasterRunner

    out = os.environ.get("LOADTEST_LOCUST_OUT")
    if isinstance(environment.runner, MasterRunner) and out:
        WATCH = WorkerWatch(environment.runner, Path(out))
        gevent.spawn(WATCH.loop)


@events.worker_connect.add_listener
def _on_connect(client_id, **_kw) -> None:  # type: ignore[no-untyped-def]
    if WATCH is not None:
        WATCH.connect(client_id)


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if WATCH is not None:
        WATCH.watching = True


@events.test_stopping.add_listener
def _on_stopping(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if WATCH is not None:
        WATCH.check()  # a loss just before the end still counts
        WATCH.watching = False
