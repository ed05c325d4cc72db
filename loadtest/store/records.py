"""The records of results.json (and of history.jsonl) as the code builds and reads them: one
TypedDict per record, checked by mypy wherever a record travels as a dict.

store/model.py holds the same sections as pydantic models: the validating reader of a file
and the source of results.schema.json. The two agree: every field a model names is a key of
the TypedDict of the same section, and every key of a TypedDict that has a model is a field
of it (tests/store/test_records.py). A file passes the model once, when it is read
(store/results.load_results), and is a `ResultsRecord` from there on.

Keys a record does not always hold are `NotRequired`; sections that grow a field at a time
(`run`, `load`) are `total=False`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NotRequired, TypedDict

from loadtest.judge.status import ObjectiveStatus, VerdictStatus

# -- the run ---------------------------------------------------------------------------------


class WindowRecord(TypedDict):
    """The judged window, wall clock (epoch seconds, ISO 8601 UTC)."""
    start: float
    end: float
    start_iso: NotRequired[str | None]
    end_iso: NotRequired[str | None]
    seconds: NotRequired[float | None]


class ProfileRecord(TypedDict):
    """The load shape as run: (offset s, rate) points and the judged part."""
    points: Sequence[Sequence[float]]     # JSON arrays (the shape's tuples when built)
    judge_from: float
    judge_to: float


class ScrapeHealth(TypedDict, total=False):
    """`run.scrape_health`: the target's scrapes inside the window."""
    scrapes: float | None
    successful: float | None
    failed: float | None
    restarts: float | None
    error: str
    scrape_offsets_s: list[float]


class TargetInfo(TypedDict, total=False):
    """`run.target`: the target judged, and what its probes answered."""
    url: str | None                       # None: `loadtest judge` (no target of its own)
    kind: Literal["reference", "external"]
    database: str                         # the reference target's: sqlite, postgresql
    faults: dict[str, object]             # the reference target's --target-fault rules
    metrics_url: str | None
    probes: list[str]
    health: dict[str, object]             # the target's /health body, as it answered


class SourceInfo(TypedDict, total=False):
    """`run.metrics_source`: the metrics source judged."""
    name: str
    url: str | None
    scrape_interval_s: float | None
    scrape_interval_from: str
    job: str | None
    local: bool


class RunMeta(TypedDict, total=False):
    """`run`: what was run (the plan, then the target and metrics source, then the window)."""
    id: str
    harness_version: str | None
    git_revision: str | None
    started_at: str | None
    scenario: str | None
    slo_file: str | None
    rate: float | None
    shape: str | None
    arrivals: str | None
    model: str | None
    driver: str                           # the plugin's: how Locust ran
    kind: str                             # `loadtest judge`'s: judge
    made_load: bool
    selector: dict[str, str]
    baseline_selector: dict[str, str] | None
    start_rate: float                     # a capacity search's plan
    max_rate: float
    step_duration_s: float
    step_warmup_s: float
    precision: float
    require: float | None
    users: int | str | None
    warmup_s: float | None
    duration_s: float | None
    tags: dict[str, str]
    baseline: str | None
    workers: int | None
    remote_workers: int | None
    slo: SloDigest
    locust_args: list[str]
    target: TargetInfo
    metrics_source: SourceInfo
    tls: dict[str, str]
    preflight_warnings: list[str]
    profile: ProfileRecord | None
    window: WindowRecord | None
    load_started: float | None
    scrape_health: ScrapeHealth
    report_url: str | None                # where CI publishes the report (--report-url)


# -- the objectives --------------------------------------------------------------------------


class ObjectiveExtra(TypedDict, total=False):
    """An objective's kind-specific evidence (`objectives[].extra`)."""
    # latency, db_latency
    quantile: float
    quantile_from_buckets: float
    value_bracket: list[float | None]
    client_quantile: float
    client_ratio_within_threshold: float
    ratio_within_threshold: float
    bucket_bracket: list[float | None]
    ratio_within_bracket: list[float]
    measured: float                       # a corrected latency not charged: as measured
    # client latency
    corrected: bool
    # throughput
    tolerance: float
    pass_at_or_above: float
    window_s: float
    sent: int
    offered_rate: float
    judged_against: Literal["rate", "sent"]
    # burn_rate, ratio, threshold
    target: float
    budget: float
    long_window_s: float
    short_window_s: float
    steps: int
    burn_long: float | None
    burn_short: float | None
    at_offset_s: float
    fired_at_offsets_s: list[float]
    counter: bool
    good_events: float
    bad_events: float
    total_events: float
    budget_spent: float
    op: str
    value: float
    # no_alerts
    alerts: list[str]


class ObjectiveRecord(TypedDict):
    """One objective as judged (`objectives[]`)."""
    name: str
    kind: str
    status: ObjectiveStatus
    value: float | None
    threshold: float
    comparison: str
    unit: str
    source: str                           # server | client
    severity: str                         # fail | warn
    samples: float | None
    reason: str
    detail: str
    extra: ObjectiveExtra
    description: NotRequired[str]
    metrics_source: NotRequired[str]      # prometheus | embedded | locust
    exact: NotRequired[bool | None]
    decided_by: NotRequired[str | None]   # histogram | client
    queries: NotRequired[list[str]]


LimitedBy = Literal["min_change", "blocks", "buckets"]  # what kept a check from more power


class RegressionRecord(TypedDict):
    """One objective compared with the baseline (`regressions[]`, `loadtest compare`)."""
    name: str
    objective: str
    kind: str
    status: ObjectiveStatus
    reason: str
    message: str
    base_value: float | None
    run_value: float | None
    change: float | None
    ci: list[float] | None
    tolerance: float | None
    significant: bool | None
    decided_by: str | None
    samples: list[int] | None
    relative: NotRequired[bool]
    noise: NotRequired[float]
    noise_source: NotRequired[str]
    improved: NotRequired[bool]
    detectable_change: NotRequired[float | None]
    underpowered: NotRequired[bool]
    limited_by: NotRequired[LimitedBy]
    duration_needed_s: NotRequired[float]
    duration_goal: NotRequired[float]
    blocks: NotRequired[list[int]]
    bucket_bracket: NotRequired[list[float | None]]


class ComparisonJson(TypedDict):
    """`loadtest compare --json`."""
    schema_version: int
    exit_code: int
    verdict: str
    inconclusive: str | None
    summary: ComparisonSummary
    checks: list[RegressionRecord]
    warnings: list[str]


class ComparisonSummary(TypedDict, total=False):
    """`comparison`: how the regressions were judged."""
    baseline: str | None
    baseline_git_revision: str | None
    noise: float
    noise_sources: list[str]
    confidence: float
    resamples: int
    method: str
    canary: str                           # a canary's (`loadtest judge --baseline-selector`)
    interval_s: float
    intervals: int | None
    queries: list[str]


# -- the load --------------------------------------------------------------------------------


class CpuProcess(TypedDict, total=False):
    pid: int
    role: str
    mean_pct: float
    max_pct: float
    samples: int


class CpuSummary(TypedDict, total=False):
    """The generator's CPU over the window (`load.generator_cpu`)."""
    processes: list[CpuProcess]
    saturated_pct: float


class Shortfall(TypedDict):
    limit: str                            # generator | target | ...
    cause: str


class ResourceRecord(TypedDict, total=False):
    """One of the target's resources over the window (`load.resources[]`)."""
    name: str
    metric: str
    unit: str
    value: float | None
    peak: float | None
    limit: float | None
    limit_from: str | None
    source: str
    utilization: float | None
    reason: str


class LiveFigure(TypedDict, total=False):
    """An objective's last live figure (judge/monitor.py), over its sliding window."""
    value: float | None
    threshold: float
    comparison: str
    unit: str
    samples: float | None
    status: ObjectiveStatus
    detail: str
    window: WindowRecord


class AbortRecord(TypedDict):
    """`load.aborted`: the live monitor stopped the run on a sustained breach."""
    at: float
    objective: str
    abort_after_s: float
    breached_since: float
    figures: LiveFigure
    at_iso: str
    reason: str
    offset_s: float | None
    breached_for_s: float


class ShapeEnd(TypedDict, total=False):
    """`load.locust_shape` (shape.json): how the locustfile's LoadTestShape ended."""
    name: str
    by: Literal["shape", "run_time"]
    started: float
    ended: float


class WorkerReport(TypedDict):
    """A Locust worker as the master saw it (workers.json `connected[]`)."""
    id: str
    at: float
    share: float | None
    samples: int
    cpu: list[list[float]]               # (epoch s, CPU %) heartbeats


class LostWorker(TypedDict):
    id: str
    at: float
    how: str


class RateSplit(TypedDict):
    at: float
    why: str
    workers: int
    rate: float
    share: float


class WorkersRecord(TypedDict, total=False):
    """`load.workers` (workers.json, written by the Locust master: locustlib/workers.py)."""
    expected: int | None
    connected: list[WorkerReport]
    lost: list[LostWorker]
    splits: list[RateSplit]
    error: str


class LoadRecord(TypedDict, total=False):
    """`load`: the load as offered and achieved, the generator's health, the problems."""
    requested_rate: float | None
    achieved_rate: float | None
    request_rate: float | None
    locust_exit_code: int | None
    model: str
    delivered: bool | None
    shortfall: Shortfall
    target_died: str
    killed_at: str
    aborted: AbortRecord
    locust_shape: ShapeEnd
    generator_cpu: CpuSummary
    workers: WorkersRecord
    pool: PoolRecord                      # the user pool the Locust side chose (pool.json)
    resources: list[ResourceRecord]
    problems: list[str]


# -- the client ------------------------------------------------------------------------------


class Percentiles(TypedDict, total=False):
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None


class TaskTotals(TypedDict, total=False):
    """The tasks started in the window (store/samples.task_totals; part of `client.totals`)."""
    tasks: int
    task_rate: float
    schedule_lag_ms: Percentiles
    tasks_done: int
    task_ms: float
    requests_per_task: float
    task_waiting_ms: float
    in_task: float


class ClientTotals(TaskTotals, total=False):
    """`client.totals`: the load generator's figures over the window (and its tasks')."""
    requests: int
    completed_rate: float
    failures: int
    server_errors: int
    connection_errors: int
    achieved_rate: float
    in_flight: float
    in_flight_peak: float
    latency_ms: Percentiles
    mean_ms: float | None
    corrected_latency_ms: Percentiles | None
    max_ms: float | None
    samples_total: int


class EndpointStats(TypedDict):
    method: str
    name: str
    count: int
    failures: int
    rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    corrected_p95_ms: float | None


class ErrorStats(TypedDict):
    method: str
    name: str
    status: int
    count: int
    example: str


class SecondStats(TypedDict):
    """One second of the run, from its start (`client.timeseries[]`)."""
    t: float
    offset_s: int
    in_window: bool
    rate: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class SloDigest(TypedDict):
    """`run.slo`: the SLO file as it was judged."""
    path: str
    sha256: str
    text: NotRequired[str]


PoolChange = TypedDict("PoolChange", {   # "from": a keyword, so the functional form
    "at_s": float, "from": int, "users": int, "why": str, "task_s": float, "busy": int,
    "late_s": float, "rate": float})


class PoolRecord(TypedDict):
    """pool.json: how the Locust side sized its user pool in the warm-up (locustlib/pool.py)."""
    initial: int | None
    final: int | None
    ceiling: int
    until_s: float
    changes: list[PoolChange]
    capped: bool
    task_s: NotRequired[float | None]



class ServerPoint(TypedDict):
    """One scrape interval of the harness's own scrapes (`client.server_timeseries[]`)."""
    offset_s: float
    rate: float | None
    error_ratio: float | None
    p95_ms: float | None
    db_p95_ms: float | None
    users: float | None


class ClientSummary(TypedDict, total=False):
    """`client`: the load generator's figures."""
    totals: ClientTotals
    endpoints: list[EndpointStats]
    errors: list[ErrorStats]
    timeseries: list[SecondStats]
    server_timeseries: list[ServerPoint]


class CompactSamples(TypedDict):
    """`samples.client`: the window's samples, thinned, for comparisons."""
    window_s: float
    names: list[str]                      # "METHOD name", indexed by `ep`
    t: list[float]                        # offset from the window's start (s)
    ms: list[float]
    ep: list[int]
    status: list[int]
    thinned: bool


class IntervalHistograms(TypedDict):
    """`samples.server_histograms[name]`: a histogram's counts per scrape interval."""
    le: list[str]
    t: NotRequired[list[float]]           # each interval's end, from the window's start
    counts: list[list[float]]


class ErrorCounts(TypedDict):
    """A canary side's requests and errors over the window (regression/canary.py)."""
    errors: float
    total: float
    intervals: int


class SamplesRecord(TypedDict, total=False):
    client: CompactSamples
    server_histograms: dict[str, IntervalHistograms]
    counts: dict[str, ErrorCounts]        # a canary side's only


# -- a capacity search --------------------------------------------------------------------


class StepShortfall(TypedDict):
    limit: str
    cause: str
    reason: str


class StepWindow(TypedDict):
    start: float
    end: float


class CapacityStep(TypedDict):
    """One step of a capacity search (`steps[]`)."""
    step: int
    offered_rate: float
    achieved_rate: float
    completed_rate: float
    error_ratio: float | None
    users: int
    users_needed: int | None
    in_flight: float | None
    shortfall: StepShortfall | None
    status: str                           # pass | fail | no_data | saturated
    failed: list[str]
    no_data: list[str]
    severe: bool
    problems: list[str]
    generator_cpu: CpuSummary
    aborted: AbortRecord | None
    window: StepWindow
    latency_ms: Percentiles
    corrected_latency_ms: Percentiles | None
    server_p95_s: float | None
    objectives: list[ObjectiveRecord]
    resources: list[ResourceRecord]


class Bottleneck(TypedDict):
    """The resource nearest its limit at the first failing step (judge/resources.py)."""
    name: str | None
    rate: float | None
    utilization: float | None
    text: str


class Projection(TypedDict):
    """--project: instances of the target for a rate."""
    rate: float
    headroom: float
    per_instance: float
    instances: int
    at_most: bool
    text: str


class CapacityRecord(TypedDict):
    """`capacity`: what a capacity search found."""
    rate: float | None
    first_fail: float | None
    first_broken: str | None
    require: float | None
    lower_bound: bool
    bottleneck: Bottleneck | None
    projection: Projection | None
    headroom: float | None
    stop_reason: str


# -- the verdict, --settle -------------------------------------------------------------------


class VerdictRecord(TypedDict):
    status: VerdictStatus
    exit_code: int
    reason: str


class FirstBreach(TypedDict):
    at: float
    offset_s: float
    value: float | None


class LiveObjective(TypedDict):
    name: str
    window_s: float
    abort_after_s: float | None
    state: str                            # pass | fail | - (not computed yet)
    first_breach: FirstBreach | None
    evaluations: int
    breached_evaluations: int
    # of those, a corrected client latency failing on the generator's lag alone (no abort)
    lag_only: NotRequired[int]
    changes: list[list[float | str | None]]  # (offset s, state, value) at each change


class LiveRecord(TypedDict):
    """`live`: the live monitor's objectives, their first breach and changes."""
    tick_s: float
    abort_enabled: bool
    ticks: int
    cpu_ms_per_tick: float | None
    objectives: list[LiveObjective]
    errors: list[str]


class LiveState(TypedDict):
    """An objective's live state, for live.jsonl and the live view."""
    state: str
    value: float | None
    unit: str


class LiveLine(TypedDict):
    """One line of live.jsonl (load/live.py)."""
    t: float
    offset_s: float
    in_window: bool
    offered_rate: float | None
    achieved_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    requests: int | None
    errors: int | None
    error_ratio: float | None
    generator_cpu_pct: float | None
    objectives: dict[str, LiveState]


class SettledObjectiveRecord(TypedDict):
    """One objective's sequential decision (`settle.objectives[]`)."""
    name: str
    status: Literal["pass", "fail", "not settled"]
    at_s: float | None
    blocks: int
    kind: NotRequired[str]
    source: NotRequired[str]
    mean: NotRequired[float | None]
    interval: NotRequired[list[float] | None]
    target: NotRequired[float]
    evidence: NotRequired[str]


class SettleRecord(TypedDict):
    """`settle` (--settle): each objective's sequential decision and the time saved."""
    confidence: float
    settled_at_s: float | None
    planned_window_s: float
    window_s: float | None
    saved_s: float | None
    objectives: list[SettledObjectiveRecord]
    min_blocks: NotRequired[int]
    method: NotRequired[str]
    at_end_only: NotRequired[list[str]]


class VerificationRecord(TypedDict, total=False):
    """`verification`: a `loadtest verify` of a run: what was judged again, with what."""
    id: str
    of_run: str | None
    run_dir: str
    at: str
    slo_file: str
    slo_sha256: str | None
    slo_changed: bool | None
    metrics_source: SourceInfo
    original_metrics_source: SourceInfo | None
    original_verdict: VerdictRecord
    sample_warnings: list[str]


class KilledRecord(TypedDict):
    """`killed`: a run killed outright, judged by `loadtest verify` up to its last record."""
    at: float
    at_iso: str
    judged_until: str


class BaselinePoint(TypedDict):
    offset_s: float
    p95_ms: float | None


# -- results.json ----------------------------------------------------------------------------


class ResultsRecord(TypedDict, total=False):
    """results.json (schema_version 1): a run's, a verification's, a capacity search's."""
    schema_version: int
    kind: str                             # run, capacity, judge
    phase: str | None                     # a `running` record: started, stack, load
    pid: int
    host: str
    run: RunMeta
    verdict: VerdictRecord
    objectives: list[ObjectiveRecord]
    regressions: list[RegressionRecord]
    comparison: ComparisonSummary
    baseline_timeseries: list[BaselinePoint]
    load: LoadRecord
    client: ClientSummary
    warnings: list[str]
    samples: SamplesRecord
    interrupted: bool
    settle: SettleRecord | None
    live: LiveRecord
    history: list[HistoryLine]
    drift: DriftRecord | None
    inputs: dict[str, dict[str, str]] | None  # samples: {file: sha256} (store/digests.py)
    steps: list[CapacityStep] | None      # a capacity search's steps
    capacity: CapacityRecord | None       # and what it found
    verification: VerificationRecord | None  # a `loadtest verify` of a run
    killed: KilledRecord
    promotion: Promotion                  # a named baseline's (store/baselines.promote)
    judged: JudgedRecord                  # `loadtest judge`'s
    run_dir: str                          # what `find_capacity` returns (not in the file)
    export: ExportRecord


class RemoteWriteRecord(TypedDict):
    url: str
    requests: int
    delivered_samples: int
    undelivered_samples: int
    attempts: int
    errors: list[str]


class AnnotationPost(TypedDict, total=False):
    """What became of posting the Grafana annotation."""
    url: str
    status: int
    id: object                            # Grafana's answer's `id`, as it gave it
    error: str


class ExportRecord(TypedDict):
    """`export`: the generator's figures as Prometheus series (loadtest/export)."""
    series: int
    ticks: int
    rows: int
    cpu_ms_per_tick: float | None
    pull: dict[str, str] | None
    remote_write: RemoteWriteRecord | None
    errors: list[str]
    grafana: NotRequired[AnnotationPost]


class JudgedRecord(TypedDict):
    """`judged`: a window of traffic the harness did not make (`loadtest judge`)."""
    what: str
    made_load: bool
    selector: dict[str, str]
    baseline_selector: dict[str, str] | None


class Promotion(TypedDict):
    name: str
    at: str
    verdict: str
    forced: bool


# -- history.jsonl ---------------------------------------------------------------------------


class ClientLine(TypedDict):
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None


class RunRef(TypedDict):
    """A run of a series (`loadtest history`): which, what revision, when, its verdict."""
    id: str | None
    git_revision: str | None
    time: str | None
    verdict: str | None


class SeriesPoint(RunRef):
    value: float


class ChangePoint(RunRef):
    """A change point of a series: the first run after it, and the stretches around it."""
    index: int
    previous_git_revision: str | None
    before: float
    after: float
    change_pct: float | None
    p_value: float
    runs_before: int
    runs_after: int
    worse: bool


class MetricSeries(TypedDict):
    name: str
    unit: str
    better: str
    points: list[SeriesPoint]
    change_points: list[ChangePoint]


class SeriesKey(TypedDict):
    """Which load a history series is (scenario, rate, shape, tags) and its runs; the report's
    view of a series (reports/history.py) holds the same."""
    scenario: str | None
    rate: float | None
    shape: str
    tags: dict[str, str]
    runs: int
    first: str | None
    last: str | None
    min_p_value: float


class LoadSeries(SeriesKey):
    """The series of one load (scenario, rate, shape, tags)."""
    metrics: list[MetricSeries]


class HistoryAnalysis(TypedDict):
    """`loadtest history`: every load's series with their change points."""
    schema_version: int
    significance: float
    min_size: int
    runs: int
    series: list[LoadSeries]


class DriftChange(ChangePoint):
    """A change point this run completed (`drift.new[]`)."""
    metric: str
    unit: str


class DriftRecord(TypedDict):
    """`drift`: the run's load's series in its history, and the change points it completed."""
    significance: float
    min_size: int
    runs: int
    min_p_value: float
    metrics: list[MetricSeries]
    new: list[DriftChange]
    fail_on_drift: bool


class HistoryLine(TypedDict, total=False):
    """One line of history.jsonl: a run's figures, for noise, drift and `loadtest history`."""
    time: str | None
    id: str | None
    kind: str
    git_revision: str | None
    tags: dict[str, str]
    scenario: str | None
    rate: float | None
    shape: str | None
    verdict: str
    figures: dict[str, float | None]
    client_figures: dict[str, float]
    achieved_rate: float | None
    client: ClientLine | dict[str, float | None]
    units: dict[str, str | None]
    better: dict[str, str]
