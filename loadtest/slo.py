"""The SLO file: a versioned YAML document, validated when it loads.

Every error is one line naming the file, the YAML line, the field and the fix, e.g.
`slo/opscore.yaml:12: objectives[0].threshold: "2 sec" is not a duration (use 2s, 250ms)`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from loadtest.durations import parse_duration
from loadtest.errors import ConfigError
from loadtest.inputs import MAX_YAML_BYTES, parse_yaml, read_text
from loadtest.openslo import is_openslo, openslo_to_native

SUPPORTED_VERSIONS = (1,)


def _regex(v: Any) -> Any:
    if isinstance(v, str):
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"{v!r} is not a regular expression ({e})") from None
    return v


Regex = Annotated[str, BeforeValidator(_regex)]


def _duration(v: Any) -> float:
    if isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return parse_duration(v)
    raise ValueError(f"{v!r} is not a duration (use 2s, 250ms)")


Duration = Annotated[float, BeforeValidator(_duration)]


class _Model(BaseModel):
    # inf and nan are no thresholds: refused like any other wrong value
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _no_http_filter(reason: str) -> Any:
    """A validator refusing endpoint/method on objectives they cannot apply to."""
    def check(cls: Any, v: str | None) -> str | None:
        if v is not None:
            raise ValueError(f"{reason} (remove it)")
        return v

    return field_validator("endpoint", "method")(classmethod(check))  # type: ignore[arg-type]


class MetricNames(_Model):
    """Metric and label names of the service under test."""
    http_requests: str = "http_requests_total"
    http_duration: str = "http_request_duration_seconds"
    db_duration: str = "db_query_duration_seconds"
    endpoint_label: str = "endpoint"
    method_label: str = "method"
    status_label: str = "status"


class ResourceSpec(_Model):
    """A resource the capacity search records per step (loadtest/judge/resources.py): a gauge (its
    mean over the window) or a counter (its rate), optionally against a limit: a number, or
    another gauge (e.g. the pool size)."""
    name: str
    metric: str
    kind: Literal["gauge", "counter"] = "gauge"
    selector: dict[str, str] = Field(default_factory=dict)
    unit: str = ""
    limit: float | None = Field(default=None, gt=0)
    limit_metric: str | None = None


class RegressionRule(_Model):
    """How much worse than the baseline an objective's figure may get. `tolerance` is relative
    for latency and throughput (0.10 = 10%) and absolute for error rate (0.005 = 0.5 points);
    for latencies `min_change` is an absolute floor as well (a 0.4 ms swing of a 3 ms p95 is
    machine noise, not a regression)."""
    tolerance: float | None = Field(default=None, ge=0)
    min_change: Duration | None = Field(default=None, ge=0)
    enabled: bool = True


class RegressionSettings(_Model):
    """Global settings of the comparison with a baseline."""
    noise: float = Field(default=0.10, ge=0, lt=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=1000, ge=100, le=100_000)
    min_samples: int = Field(default=200, ge=1)


DEFAULT_TOLERANCE = {"latency": 0.10, "db_latency": 0.10, "throughput": 0.05,
                     "error_rate": 0.005}
DEFAULT_MIN_CHANGE_S = {"latency": 0.005, "db_latency": 0.0005}


MIN_ABORT_AFTER_S = 2.0  # a sliding window needs two scrapes (1 s apart) and a second of data


class _Objective(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    severity: Literal["fail", "warn"] = "fail"
    endpoint: str | None = None
    method: str | None = None
    regression: RegressionRule | None = None
    # evaluated once a second over a sliding window this long while the load runs; a breach
    # for the whole of it stops the run (exit 1). `--no-abort` ignores it for one run.
    abort_after: Duration | None = None

    @field_validator("abort_after")
    @classmethod
    def _long_enough(cls, v: float | None) -> float | None:
        if v is not None and v < MIN_ABORT_AFTER_S:
            raise ValueError(f"{v:g}s is too short to judge a sliding window (use "
                             f"{MIN_ABORT_AFTER_S:g}s or more)")
        return v


class LatencyObjective(_Objective):
    """`quantile` of request latency must be <= `threshold`."""
    kind: Literal["latency"]
    quantile: float = Field(gt=0, lt=1)
    threshold: Duration = Field(gt=0)
    min_samples: int = Field(default=100, ge=1)


class DbLatencyObjective(_Objective):
    """`quantile` of DB query time must be <= `threshold` (endpoint/method do not apply)."""
    kind: Literal["db_latency"]
    quantile: float = Field(gt=0, lt=1)
    threshold: Duration = Field(gt=0)
    min_samples: int = Field(default=100, ge=1)

    _no_filter = _no_http_filter("DB query time has no endpoint or method label")


class ThroughputObjective(_Objective):
    """Requests per second over the window must be >= `min` x (1 - `tolerance`)."""
    kind: Literal["throughput"]
    min: float = Field(gt=0)
    tolerance: float = Field(default=0.0, ge=0, lt=0.5)


class ErrorRateObjective(_Objective):
    """Share of responses whose status matches `statuses` (a regex) must be < `max`."""
    kind: Literal["error_rate"]
    max: float = Field(gt=0, le=1)
    statuses: Regex = "5.."
    min_samples: int = Field(default=100, ge=1)


class PromqlObjective(_Objective):
    """A raw PromQL query evaluated at the window's end; `$window` is replaced by the window's
    range (e.g. `[$window]` -> `[60000ms]`). It must return one value."""
    kind: Literal["promql"]
    query: str = Field(min_length=1)
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    threshold: float
    unit: str = ""

    @field_validator("query")
    @classmethod
    def _has_window(cls, v: str) -> str:
        if "$window" not in v:
            raise ValueError("the query has no $window placeholder (write e.g. "
                             "rate(x_total[$window]))")
        return v

    _no_filter = _no_http_filter("a promql objective filters in its query")


class ClientObjective(_Objective):
    """Computed from the load generator's own samples (no Prometheus): `metric` latency
    (quantile <= threshold; `corrected` from the intended start by default), error_rate
    (< max; status 0 = no response counts as an error) or throughput (>= min)."""
    kind: Literal["client"]
    metric: Literal["latency", "error_rate", "throughput"]
    quantile: float | None = Field(default=None, gt=0, lt=1)
    threshold: Duration | None = Field(default=None, gt=0)
    corrected: bool = True
    max: float | None = Field(default=None, gt=0, le=1)
    min: float | None = Field(default=None, gt=0)
    statuses: Regex = "5..|0"
    min_samples: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _fields_of_metric(self) -> ClientObjective:
        need = {"latency": ("quantile", "threshold"), "error_rate": ("max",),
                "throughput": ("min",)}[self.metric]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a client {self.metric} objective needs "
                             + " and ".join(missing))
        return self


class BurnRateObjective(_Objective):
    """Multi-window, multi-burn-rate (the SRE workbook's alert) over an availability
    `target`: a request whose status matches `statuses` spends the error budget (1 - target);
    the burn rate is the error ratio over the budget. The alert holds at a moment when the
    burn rate is >= `factor` over both the `long_window` and the `short_window` ending then
    (each clipped to the test window). Fails when it held at any step of the test window;
    the value is the highest burn rate both windows agreed on."""
    kind: Literal["burn_rate"]
    target: float = Field(gt=0, lt=1)
    long_window: Duration = Field(gt=0)
    short_window: Duration = Field(gt=0)
    factor: float = Field(gt=0)
    statuses: Regex = "5.."
    min_samples: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnRateObjective:
        if self.short_window >= self.long_window:
            raise ValueError(f"short_window ({self.short_window:g}s) must be shorter than "
                             f"long_window ({self.long_window:g}s) (e.g. 5s and 60s)")
        return self


class NoAlertsObjective(_Objective):
    """No alert fired during the window (Prometheus `ALERTS{alertstate="firing"}`),
    optionally only alerts whose name or severity match these regexes."""
    kind: Literal["no_alerts"]
    alertname: Regex | None = None
    alert_severity: Regex | None = None


class RatioObjective(_Objective):
    """An SLI as a ratio of two PromQL queries (as OpenSLO's ratioMetric): `good` or `bad`
    events over `total`, or a precomputed ratio `raw` (`raw_type` success or failure). The
    good ratio over the window must be >= `target`. Counter queries (`counter: true`) are
    judged as their increase over the window, gauges by their mean; a `$window` placeholder
    in `raw` is the window's range, evaluated once at its end."""
    kind: Literal["ratio"]
    good: str | None = Field(default=None, min_length=1)
    bad: str | None = Field(default=None, min_length=1)
    total: str | None = Field(default=None, min_length=1)
    raw: str | None = Field(default=None, min_length=1)
    raw_type: Literal["success", "failure"] | None = None
    counter: bool = True
    target: float = Field(gt=0, lt=1)
    min_samples: int = Field(default=100, ge=1)

    _no_filter = _no_http_filter("a ratio objective filters in its queries")

    @model_validator(mode="after")
    def _one_form(self) -> RatioObjective:
        if self.raw is not None:
            if self.good or self.bad or self.total:
                raise ValueError("raw cannot go with good, bad or total (use one form)")
            if self.raw_type is None:
                raise ValueError("raw needs raw_type: success or failure")
        elif self.total is None or (self.good is None) == (self.bad is None):
            raise ValueError("a ratio needs total with exactly one of good or bad (or raw "
                             "with raw_type)")
        return self


class ThresholdObjective(_Objective):
    """An SLI as one PromQL query compared with `value` by `op` (as OpenSLO's
    thresholdMetric), evaluated at steps through the window: the share of steps where it
    holds must be >= `target`. `$window` in the query is the window's range."""
    kind: Literal["threshold"]
    query: str = Field(min_length=1)
    op: Literal["<", "<=", ">", ">="]
    value: float
    target: float = Field(gt=0, le=1)

    _no_filter = _no_http_filter("a threshold objective filters in its query")


Objective = Annotated[
    LatencyObjective | DbLatencyObjective | ThroughputObjective | ErrorRateObjective
    | PromqlObjective | ClientObjective | NoAlertsObjective | BurnRateObjective
    | RatioObjective | ThresholdObjective,
    Field(discriminator="kind"),
]
KINDS = ("latency", "db_latency", "throughput", "error_rate", "promql", "client", "no_alerts",
         "burn_rate", "ratio", "threshold")


class SloFile(_Model):
    version: int
    metrics: MetricNames = MetricNames()
    selector: dict[str, str] = Field(default_factory=dict)
    regression: RegressionSettings = RegressionSettings()
    objectives: list[Objective] = Field(min_length=1)
    resources: list[ResourceSpec] | None = None  # None: resources.DEFAULT_RESOURCES
    # what the file's source said that a test window cannot use (an OpenSLO file's
    # timeWindow, Timeslices, alert policies): named among the run's warnings
    notes: list[str] = Field(default_factory=list)

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v not in SUPPORTED_VERSIONS:
            raise ValueError(f"version {v} is not supported (this harness reads version 1)")
        return v

    @field_validator("objectives")
    @classmethod
    def _unique_names(cls, v: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for o in v:
            if o.name in seen:
                raise ValueError(f"objective name {o.name!r} is used twice (names are unique)")
            seen.add(o.name)
        return v


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = str(part) if re.fullmatch(r"[\w.$-]+", str(part)) else repr(str(part))
        if len(name) > 60:
            name = name[:57] + "..."
        out += f".{name}" if out else name
    return out or "(top level)"


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "union_tag_invalid": "use one of: " + ", ".join(KINDS),
    "union_tag_not_found": "add kind: " + " | ".join(KINDS),
}


def _short(value: Any, limit: int = 80) -> str:
    """A value as a message shows it: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_slo(text: str, source: str) -> SloFile:
    """A native SLO file, or an OpenSLO v1 file as it is (loadtest/openslo.py converts it)."""
    if is_openslo(text):
        try:
            return SloFile.model_validate(openslo_to_native(text, source))
        except ValidationError as e:  # what the conversion wrote, refused natively
            err = e.errors()[0]
            raise ConfigError(f"{source}: {format_loc(err['loc'])}: "
                              f"{err['msg'].removeprefix('Value error, ')} (in the native "
                              "equivalent of this OpenSLO file)") from None
    doc = parse_yaml(text, source)  # bounded: size, aliases expanded, depth
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with version and objectives "
                          "(see slo/opscore.yaml)")
    try:
        return SloFile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        # drop pydantic's union-branch names (e.g. 'latency') from the location
        loc = tuple(p for i, p in enumerate(err["loc"])
                    if not (i > 0 and err["loc"][i - 1] != "objectives" and isinstance(p, str)
                            and p in KINDS
                            and isinstance(err["loc"][i - 1], int)))
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc + ("kind",)
            kind = (err.get("ctx") or {}).get("tag")
            err = {**err, "msg": (f"{kind!r} is not an objective kind" if kind else
                                  "the objective has no kind"), "input": None}
        line = doc.line(loc)
        where = f"{source}:{line}" if line else source
        msg = err["msg"]
        if err["type"] in _FIXES:
            msg = f"{msg} ({_FIXES[err['type']]})"
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        msg = " ".join(msg.split())[:300]
        value = err.get("input")
        shown = "" if value is None or err["type"] in ("missing", "extra_forbidden") or \
            isinstance(value, (dict, list)) else f" {_short(value)}:"
        count = e.error_count()
        more = f" (and {count - 1} more)" if count > 1 else ""
        raise ConfigError(f"{where}: {format_loc(loc)}:{shown} {msg}{more}") from None


def load_slo(path: Path, option: str | None = "--slo") -> SloFile:
    """The SLO file at `path`, read bounded (loadtest/inputs.py); `option` is the option that
    named it, for the message when it is missing (None: a command's argument)."""
    try:
        text = read_text(path, "SLO file", MAX_YAML_BYTES)
    except FileNotFoundError:
        fix = f"pass {option} PATH, e.g. slo/opscore.yaml" if option else \
            "e.g. slo/opscore.yaml"
        raise ConfigError(f"{path}: no such SLO file ({fix})") from None
    return parse_slo(text, str(path))
