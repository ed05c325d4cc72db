"""Prometheus remote write 1.0 (https://prometheus.io/docs/specs/remote_write_spec/): a
protobuf `WriteRequest`, snappy block-compressed, POSTed with `Content-Encoding: snappy`,
`Content-Type: application/x-protobuf` and `X-Prometheus-Remote-Write-Version: 0.1.0`.

The four messages it needs are encoded by hand (proto3 rules: a field at its default is left
out), so no protobuf runtime is needed:

    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }  // ms since the epoch

The RemoteWriter sends from its own thread, oldest first (a receiver refuses samples out of
order); a 5xx, a 429 or no answer is retried with backoff, a 4xx is dropped (the spec: retrying
it cannot help). What was not delivered by the end is counted, never raised: a remote write
that fails is a warning of the run, never its verdict.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cramjam
import httpx

from loadtest.store.records import RemoteWriteRecord

Labels = tuple[tuple[str, str], ...]  # sorted by name, `__name__` included
Point = tuple[Labels, int, float]     # labels, timestamp (ms), value

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
MAX_SAMPLES_PER_REQUEST = 5000
MAX_PENDING_POINTS = 200_000  # ~10 minutes of a run's series that could not be sent
TIMEOUT_S = 5.0
BACKOFF_MAX_S = 10.0


# -- the encoding --------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64: two's complement, ten bytes
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string_field(number: int, text: str) -> bytes:
    return _bytes_field(number, text.encode("utf-8")) if text else b""


def _label(name: str, value: str) -> bytes:
    return _string_field(1, name) + _string_field(2, value)


def _sample(timestamp_ms: int, value: float) -> bytes:
    raw = struct.pack("<d", value)
    out = b"" if raw == b"\0" * 8 else b"\x09" + raw  # field 1, 64-bit; +0.0 left out
    if timestamp_ms:
        out += b"\x10" + _varint(timestamp_ms)  # field 2, varint
    return out


def encode_series(labels: Labels, samples: Iterable[tuple[int, float]]) -> bytes:
    body = b"".join(_bytes_field(1, _label(n, v)) for n, v in labels)
    body += b"".join(_bytes_field(2, _sample(t, v)) for t, v in samples)
    return _bytes_field(1, body)  # one TimeSeries of the WriteRequest


def encode_write_request(points: Iterable[Point]) -> bytes:
    """The WriteRequest of these points, one TimeSeries per label set (its samples in the
    order given: oldest first)."""
    series: dict[Labels, list[tuple[int, float]]] = {}
    for labels, t, v in points:
        series.setdefault(labels, []).append((t, v))
    return b"".join(encode_series(labels, samples) for labels, samples in series.items())


def compress(body: bytes) -> bytes:
    """Snappy's block format (not its framing format), as remote write asks."""
    return bytes(cramjam.snappy.compress_raw(body))


def labels_of(name: str, labels: dict[str, str]) -> Labels:
    """A label set as remote write wants it: `__name__` added, empty values left out (an empty
    label is no label), sorted by name."""
    return tuple(sorted([("__name__", name)] + [(k, str(v)) for k, v in labels.items()
                                                 if str(v) != ""]))


# -- the sender ------------------------------------------------------------------------------
@dataclass
class Delivery:
    """What became of the points handed to the writer."""
    url: str
    requests: int = 0          # POSTs answered 2xx
    delivered: int = 0         # samples in them
    undelivered: int = 0       # samples dropped (a 4xx, too many pending, not sent by the end)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)  # distinct, the first few

    def record(self) -> RemoteWriteRecord:
        return RemoteWriteRecord(url=self.url, requests=self.requests,
                                 delivered_samples=self.delivered,
                                 undelivered_samples=self.undelivered, attempts=self.attempts,
                                 errors=list(self.errors))

    def error(self, text: str) -> None:
        if text not in self.errors and len(self.errors) < 5:
            self.errors.append(text)


class RemoteWriter:
    """Points queued by `put` (from the load loop, never blocking it) and sent in order from
    a thread; `close` sends what is left within a deadline and counts the rest."""

    def __init__(self, url: str, headers: dict[str, str] | None = None,
                 auth: tuple[str, str] | None = None, verify: Any = True,
                 every_s: float = 1.0, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        self.every_s = every_s
        self.delivery = Delivery(url)
        self._client = httpx.Client(headers={**HEADERS, **(headers or {})}, auth=auth,
                                    verify=verify, timeout=timeout_s,
                                    follow_redirects=False)
        self._pending: list[Point] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._backoff_s = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> RemoteWriter:
        self._thread = threading.Thread(target=self._loop, name="remote-write", daemon=True)
        self._thread.start()
        return self

    def put(self, points: list[Point]) -> None:
        with self._lock:
            self._pending.extend(points)
            over = len(self._pending) - MAX_PENDING_POINTS
            if over > 0:  # the receiver has been gone a long time: the oldest go
                del self._pending[:over]
                self.delivery.undelivered += over

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s + self._backoff_s):
            self.send_pending()

    def send_pending(self, deadline: float | None = None) -> bool:
        """Send what is pending, oldest first, a request at a time; False when a request
        failed and the rest waits (for the next turn, with backoff)."""
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            with self._lock:
                batch = self._pending[:MAX_SAMPLES_PER_REQUEST]
            if not batch:
                return True
            outcome = self._post(batch)
            with self._lock:
                if outcome != "retry":
                    del self._pending[:len(batch)]
                if outcome == "ok":
                    self.delivery.delivered += len(batch)
                elif outcome == "drop":
                    self.delivery.undelivered += len(batch)
            if outcome == "retry":
                self._backoff_s = min(BACKOFF_MAX_S, max(1.0, 2 * self._backoff_s))
                return False
            self._backoff_s = 0.0

    def _post(self, batch: list[Point]) -> str:
        self.delivery.attempts += 1
        try:
            answer = self._client.post(self.url, content=compress(encode_write_request(batch)))
        except httpx.HTTPError as e:
            self.delivery.error(f"{type(e).__name__}: {str(e)[:160]}")
            return "retry"
        if 200 <= answer.status_code < 300:
            self.delivery.requests += 1
            return "ok"
        self.delivery.error(f"HTTP {answer.status_code}: {answer.text[:160].strip()}")
        retry = answer.status_code >= 500 or answer.status_code == 429
        return "retry" if retry else "drop"

    def close(self, deadline_s: float = 5.0) -> Delivery:
        """Stop the thread, send what is left (for at most `deadline_s`), count the rest."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 1)
        if self._thread is None or not self._thread.is_alive():
            deadline = time.monotonic() + deadline_s
            while not self.send_pending(deadline) and time.monotonic() + 0.5 < deadline:
                time.sleep(0.5)
        with self._lock:
            self.delivery.undelivered += len(self._pending)
            self._pending.clear()
        self._client.close()
        return self.delivery

