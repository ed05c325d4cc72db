"""Loaded next to every plain Locust file by bench/generator_fair.py (`-f theirs.py,<this>`),
equally for each plain variant: every request's actual start (Locust's `request` event's
`start_time`) appended to a list, written at quit to `starts-<pid>.txt` in
`BENCH_STARTS_OUT`, one start a line. The harness's starts come from its own samples files.
Cost: one listener call and one list append a request."""

from __future__ import annotations

import os
from pathlib import Path

from locust import events

_STARTS: list[float] = []


@events.request.add_listener
def _on_request(start_time=None, **_kw) -> None:  # type: ignore[no-untyped-def]
    _STARTS.append(start_time or 0.0)


@events.quitting.add_listener
def _dump(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    out = os.environ.get("BENCH_STARTS_OUT")
    if out:
        Path(out, f"starts-{os.getpid()}.txt").write_text(
            "".join(f"{t:.6f}\n" for t in _STARTS), encoding="utf-8")
