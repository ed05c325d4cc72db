"""The SLO loader: the shipped file, and one-line errors naming file, line, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.durations import parse_duration
from loadtest.errors import ConfigError
from loadtest.slo import LatencyObjective, ThroughputObjective, load_slo, parse_slo

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
version: 1
selector:
  job: opscore-backend
objectives:
  - name: p95
    kind: latency
    quantile: 0.95
    threshold: 2s
  - name: rps
    kind: throughput
    min: 100
"""


def test_shipped_file_holds_the_guides_four_kpis() -> None:
    slo = load_slo(ROOT / "slo" / "opscore.yaml")
    kinds = {o.kind: o for o in slo.objectives}
    assert set(kinds) == {"latency", "throughput", "error_rate", "db_latency"}
    assert kinds["latency"].quantile == 0.95 and kinds["latency"].threshold == 2.0
    assert kinds["throughput"].min == 100
    assert kinds["error_rate"].max == 0.01 and kinds["error_rate"].statuses == "5.."
    assert kinds["db_latency"].threshold == pytest.approx(0.1)
    assert slo.selector == {"job": "opscore-backend"}


def test_good_file_parses() -> None:
    slo = parse_slo(GOOD, "s.yaml")
    assert isinstance(slo.objectives[0], LatencyObjective)
    assert isinstance(slo.objectives[1], ThroughputObjective)
    assert slo.metrics.http_duration == "http_request_duration_seconds"


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace("threshold: 2s", "threshold: 2 sec"),
     r"s.yaml:8: objectives[0].threshold: '2 sec': '2 sec' is not a duration (use 2s, 250ms"),
    (GOOD.replace("    min: 100", "    min: 100\n    mni: 3"),
     "s.yaml:12: objectives[1].mni: Extra inputs are not permitted (remove it or check its "
     "spelling)"),
    (GOOD.replace("kind: throughput", "kind: thruput"),
     "s.yaml:10: objectives[1].kind: 'thruput' is not an objective kind (use one of: "
     "latency, db_latency, throughput, error_rate, promql, client, no_alerts, burn_rate, ratio, threshold)"),
    (GOOD.replace("version: 1", "version: 7"), "s.yaml:1: version: 7: version 7 is not "
     "supported"),
    (GOOD.replace("quantile: 0.95", "quantile: 95"), "s.yaml:7: objectives[0].quantile: 95:"),
    (GOOD.replace("name: rps", "name: p95"), "is used twice"),
    ("version: 1\nobjectives: []\n", "s.yaml:2: objectives:"),
    ("version: 1\nobjectives:\n  - name: x\n    kind: latency\n  quantile: [\n",
     "s.yaml:5: not valid YAML"),
    ("- just a list\n", "s.yaml: expected a mapping"),
    ("version: 1\n", "s.yaml:1: objectives: Field required (add it)"),
    (GOOD.replace("version: 1\n", ""), "s.yaml:1: version: Field required (add it)"),
    (GOOD.replace("    min: 100", "    min: -5"), "s.yaml:11: objectives[1].min: -5:"),
    (GOOD.replace("  job: opscore-backend", "  job: [a, b]"), "s.yaml:3: selector.job:"),
    (GOOD.replace("    kind: latency\n", ""), "s.yaml:5: objectives[0].kind: the objective "
     "has no kind"),
    (GOOD.replace("name: p95", "name: 'p 95'"), "s.yaml:5: objectives[0].name: 'p 95':"),
    (GOOD.replace("    min: 100", "    min: 100\n    severity: fatal"),
     "s.yaml:12: objectives[1].severity: 'fatal':"),
    (GOOD + "  - {name: q, kind: promql, query: up, op: '<', threshold: 1}\n",
     "objectives[2].query: 'up': the query has no $window placeholder"),
    (GOOD + "  - {name: q, kind: promql, query: 'x[$window]', op: '=~', threshold: 1}\n",
     "objectives[2].op: '=~':"),
    (GOOD + "  - {name: c, kind: client, metric: latency, quantile: 0.9}\n",
     "objectives[2]: a client latency objective needs threshold"),
    (GOOD + "  - {name: d, kind: db_latency, quantile: 0.9, threshold: 1s, endpoint: /x}\n",
     "objectives[2].endpoint: '/x': DB query time has no endpoint or method label"),
    (GOOD.replace("    min: 100", "    min: 100\n    regression: {tolerance: -1}"),
     "s.yaml:12: objectives[1].regression.tolerance: -1:"),
    (GOOD + "regression: {confidence: 2}\n", "s.yaml:12: regression.confidence: 2: Input should be less than 1"),
    (GOOD.replace("selector:", "metrics: {\"a\\nb\": x}\nselector:"),
     "s.yaml:2: metrics.'a\\nb': Extra inputs are not permitted"),
    (GOOD + "  - {name: e, kind: error_rate, max: 0.1, statuses: '5(('}\n",
     "objectives[2].statuses: '5((': '5((' is not a regular expression"),
    (GOOD.replace("selector:", "metrics: {http_duration: 3}\nselector:"),
     "s.yaml:2: metrics.http_duration: 3:"),
    (GOOD.replace("    min: 100", "    min: 100\n    abort_after: 30 sec"),
     "s.yaml:12: objectives[1].abort_after: '30 sec': '30 sec' is not a duration"),
    (GOOD.replace("    min: 100", "    min: 100\n    abort_after: 1s"),
     ("s.yaml:12: objectives[1].abort_after: '1s': 1s is too short to judge a sliding window "
      "(use 2s or more)")),
    (GOOD + "  - {name: b, kind: burn_rate, target: 0.999, long_window: 5s, short_window: 30s,"
            " factor: 14.4}\n",
     "s.yaml:12: objectives[2]: short_window (30s) must be shorter than long_window (5s)"),
    (GOOD + "  - {name: b, kind: burn_rate, target: 99.9, long_window: 60s, short_window: 5s,"
            " factor: 14.4}\n", "s.yaml:12: objectives[2].target: 99.9: Input should be less"),
])
def test_errors_name_file_line_field_and_fix(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_slo(text, "s.yaml")
    assert expected in e.value.message
    assert "\n" not in e.value.message
    assert e.value.exit_code == 2


def test_abort_after_and_burn_rate_parse() -> None:
    slo = parse_slo(GOOD.replace("    threshold: 2s", "    threshold: 2s\n    abort_after: 30s")
                    + "  - {name: budget, kind: burn_rate, target: 0.999, long_window: 1m, "
                      "short_window: 5s, factor: 14.4, abort_after: 5s}\n", "s.yaml")
    assert slo.objectives[0].abort_after == 30.0 and slo.objectives[1].abort_after is None
    burn = slo.objectives[2]
    assert burn.kind == "burn_rate" and burn.long_window == 60.0 and burn.short_window == 5.0
    assert burn.statuses == "5.." and burn.abort_after == 5.0


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such SLO file \(pass --slo"):
        load_slo(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, seconds", [("250ms", 0.25), ("30s", 30), ("5m", 300),
                                           ("1h", 3600), ("1m30s", 90), ("1.5s", 1.5), (2, 2)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2", "2 sec", "s", "-1s", "1d", "1s2", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration|negative"):
        parse_duration(text)  # type: ignore[arg-type]
