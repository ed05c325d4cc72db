"""Per-request samples, captured through Locust's `request` event.

Rows are buffered in memory and appended to `samples-<pid>.csv` every few seconds and at the
end (one file per process), so a crash loses at most the last few seconds. The start marker
`started-<pid>.json` tells the harness when the schedule began.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

from locust import events

from loadtest.locustlib import pacing

COLUMNS = ["start", "intended", "method", "name", "response_ms", "status", "failed", "error",
           "bytes"]
FLUSH_EVERY_S = 5.0


class Recorder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / f"samples-{os.getpid()}.csv"
        self.rows: list[tuple[Any, ...]] = []
        self.last_flush = time.monotonic()
        out.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(COLUMNS)

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        self.last_flush = time.monotonic()
        if rows:
            with self.path.open("a", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(rows)


RECORDER: Recorder | None = None


def _out_dir() -> Path | None:
    out = os.environ.get("LOADTEST_LOCUST_OUT")
    return Path(out) if out else None


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    global RECORDER
    out = _out_dir()
    if out is None:
        return
    RECORDER = Recorder(out)
    sched = pacing.schedule()
    marker = {"pid": os.getpid(), "started": time.time(), "rate": sched.rate,
              "arrivals": sched.arrivals}
    tmp = out / f".started-{os.getpid()}.json.tmp"
    tmp.write_text(json.dumps(marker), encoding="utf-8")
    tmp.replace(out / f"started-{os.getpid()}.json")


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response=None,  # type: ignore[no-untyped-def]
                context=None, exception=None, start_time=None, **_kw) -> None:
    if RECORDER is None:
        return
    status = getattr(response, "status_code", 0) or 0
    error = ""
    if exception is not None:
        error = f"{type(exception).__name__}: {exception}"[:300]
    intended = (context or {}).get("intended") or start_time or 0.0
    RECORDER.add((f"{start_time or 0.0:.6f}", f"{intended:.6f}", request_type, name,
                  f"{response_time or 0.0:.3f}", status, int(exception is not None), error,
                  response_length or 0))


@events.test_stop.add_listener
def _on_stop(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if RECORDER is not None:
        RECORDER.flush()
        sched = pacing.schedule()
        done = {"pid": os.getpid(), "stopped": time.time(), "claimed": sched.claimed}
        (RECORDER.out / f"stopped-{os.getpid()}.json").write_text(json.dumps(done),
                                                                   encoding="utf-8")
