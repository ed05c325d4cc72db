"""Fault rules of the reference target: added latency (a distribution), an error ratio, slower
DB queries and a DB outage, each optionally limited to endpoints (route templates, `*` globs)
and methods. Set at start (CLI options) or at run time (`PUT /admin/faults`).

The probes (`/health`, `/ready`) get a rule's HTTP faults (latency, errors, concurrency cap) only
when the rule names them in `endpoints`: a blanket `error_ratio=0.05` is about the API, and must
not fail the harness's own readiness check at random. DB faults reach the probes either way, as a
real outage would.

Latency specs: `300ms` (constant), `uniform:1s,3s`, `normal:2s,300ms` (mean, sd, >= 0),
`exp:200ms` (mean), `lognormal:500ms,0.5` (median, sigma).
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from loadtest.durations import parse_duration

PROBES = ("/health", "/ready")
MAX_FAULT_S = 3600.0  # an added latency or CPU time of more than an hour is a typo


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Latency:
    spec: str
    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> Latency:
        """`spec` as a latency; every duration at most MAX_FAULT_S, a sigma 0 to 10."""
        latency = cls._parse(spec)
        if max(latency.a, latency.b if latency.kind != "lognormal" else 0.0) > MAX_FAULT_S:
            raise FaultSpecError(f"latency {spec!r}: at most {MAX_FAULT_S:g}s")
        if latency.kind == "lognormal" and not 0 <= latency.b <= 10:
            raise FaultSpecError(f"latency {spec!r}: sigma must be from 0 to 10")
        return latency

    @classmethod
    def _parse(cls, spec: str) -> Latency:
        kind, _, args = spec.partition(":")
        try:
            if not args:
                return cls(spec, "constant", parse_duration(kind))
            parts = [p.strip() for p in args.split(",")]
            if kind == "uniform" and len(parts) == 2:
                lo, hi = parse_duration(parts[0]), parse_duration(parts[1])
                if hi < lo:
                    raise ValueError("upper bound below lower bound")
                return cls(spec, kind, lo, hi)
            if kind == "normal" and len(parts) == 2:
                return cls(spec, kind, parse_duration(parts[0]), parse_duration(parts[1]))
            if kind == "exp" and len(parts) == 1:
                return cls(spec, kind, parse_duration(parts[0]))
            if kind == "lognormal" and len(parts) == 2:
                return cls(spec, kind, parse_duration(parts[0]), float(parts[1]))
        except ValueError as e:
            raise FaultSpecError(f"latency {spec!r}: {e}") from None
        raise FaultSpecError(
            f"latency {spec!r} is not understood (use 300ms, uniform:1s,3s, normal:2s,300ms, "
            "exp:200ms or lognormal:500ms,0.5)")

    def sample(self, rng: random.Random) -> float:
        if self.kind == "constant":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "normal":
            return max(0.0, rng.gauss(self.a, self.b))
        if self.kind == "exp":
            return rng.expovariate(1.0 / self.a) if self.a > 0 else 0.0
        return self.a * math.exp(rng.gauss(0.0, self.b))  # lognormal: median * e^N(0, sigma)


def _number(data: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """data[key] as an int or float (default when absent or empty), else FaultSpecError."""
    value = data.get(key) or default
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)
                                       and not value.is_integer()):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise FaultSpecError(f"{key} {value!r} is not a number") from None


@dataclass(frozen=True)
class FaultRule:
    endpoints: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    latency: Latency | None = None
    error_ratio: float = 0.0
    error_status: int = 500
    db_latency: Latency | None = None
    db_down: bool = False
    max_concurrency: int = 0  # > 0: at most this many requests in service, the rest queue
    cpu: Latency | None = None  # CPU time burnt per request in the server's loop (CPU-bound)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {"endpoints", "methods", "latency", "error_ratio", "error_status", "db_latency",
                 "db_down", "max_concurrency", "cpu"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultSpecError(f"unknown fault field {unknown[0]!r} (known: {sorted(known)})")
        ratio = _number(data, "error_ratio", float, 0.0)
        if not 0.0 <= ratio <= 1.0:
            raise FaultSpecError(f"error_ratio {ratio} is outside [0, 1]")
        status = _number(data, "error_status", int, 500)
        if not 500 <= status <= 599:
            raise FaultSpecError(f"error_status {status} is not a 5xx status")
        endpoints = data.get("endpoints") or ()
        methods = data.get("methods") or ()
        max_concurrency = _number(data, "max_concurrency", int, 0)
        if max_concurrency < 0:
            raise FaultSpecError(f"max_concurrency {max_concurrency} is negative")
        if isinstance(endpoints, str):
            endpoints = (endpoints,)
        if isinstance(methods, str):
            methods = (methods,)
        return cls(
            endpoints=tuple(endpoints),
            methods=tuple(m.upper() for m in methods),
            latency=Latency.parse(data["latency"]) if data.get("latency") else None,
            error_ratio=ratio,
            error_status=status,
            db_latency=Latency.parse(data["db_latency"]) if data.get("db_latency") else None,
            db_down=bool(data.get("db_down", False)),
            max_concurrency=max_concurrency,
            cpu=Latency.parse(data["cpu"]) if data.get("cpu") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoints": list(self.endpoints),
            "methods": list(self.methods),
            "latency": self.latency.spec if self.latency else None,
            "error_ratio": self.error_ratio,
            "error_status": self.error_status,
            "db_latency": self.db_latency.spec if self.db_latency else None,
            "db_down": self.db_down,
            "max_concurrency": self.max_concurrency,
            "cpu": self.cpu.spec if self.cpu else None,
        }

    def applies(self, method: str, endpoint: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        if self.endpoints and not any(fnmatch.fnmatchcase(endpoint, p) for p in self.endpoints):
            return False
        return True


@dataclass
class Decision:
    """What the faults do to one request."""
    delay_s: float = 0.0
    error_status: int | None = None
    db_delay: list[Latency] = field(default_factory=list)
    db_down: bool = False
    limits: list[FaultRule] = field(default_factory=list)  # rules whose concurrency cap applies
    cpu_s: float = 0.0  # CPU time to burn (holding the event loop and the GIL)


class Faults:
    """The current rule set; swapped atomically, read on every request."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self._rules: tuple[FaultRule, ...] = tuple(rules or ())
        self._semaphores: dict[int, Any] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    def replace(self, rules: list[FaultRule]) -> None:
        self._rules = tuple(rules)
        self._semaphores = {}

    def semaphore(self, rule: FaultRule) -> Any:
        """The asyncio semaphore of a concurrency-capped rule (made in the event loop)."""
        key = id(rule)
        if key not in self._semaphores:
            self._semaphores[key] = asyncio.Semaphore(rule.max_concurrency)
        return self._semaphores[key]

    def decide(self, method: str, endpoint: str) -> Decision:
        d = Decision()
        rules = self._rules
        if not rules:
            return d
        with self._lock:
            for rule in rules:
                if not rule.applies(method, endpoint):
                    continue
                if rule.db_latency:
                    d.db_delay.append(rule.db_latency)
                d.db_down = d.db_down or rule.db_down
                if endpoint in PROBES and not rule.endpoints:
                    continue  # a blanket rule's HTTP faults are for the API, not the probes
                if rule.latency:
                    d.delay_s += rule.latency.sample(self._rng)
                if rule.cpu:
                    d.cpu_s += rule.cpu.sample(self._rng)
                if rule.error_ratio and d.error_status is None:
                    if self._rng.random() < rule.error_ratio:
                        d.error_status = rule.error_status
                if rule.max_concurrency:
                    d.limits.append(rule)
        return d

    def sample_db_delay(self, latencies: list[Latency]) -> float:
        with self._lock:
            return sum(lat.sample(self._rng) for lat in latencies)
