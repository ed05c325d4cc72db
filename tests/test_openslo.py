"""OpenSLO v1 files read as they are (loadtest/openslo.py): the native objectives they become,
what a test window does not use named in the notes, `loadtest slo import`, and bad input as
one line with exit 2 (parsing only: the judging is in test_slo_rules_judge.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.errors import ConfigError
from loadtest.slo import RatioObjective, ThresholdObjective, load_slo, parse_slo

runner = CliRunner()

GOOD_Q = 'sum(http_requests_total{job="opscore-backend",status!~"5.."})'
TOTAL_Q = 'sum(http_requests_total{job="opscore-backend"})'

FILE = f"""\
apiVersion: openslo/v1
kind: DataSource
metadata: {{name: prom}}
spec:
  type: Prometheus
  connectionDetails: {{url: "http://127.0.0.1:9090"}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {{name: availability}}
spec:
  service: opscore
  budgetingMethod: Occurrences
  timeWindow: [{{duration: 28d, isRolling: true}}]
  alertPolicies: [page-me]
  indicator:
    metadata: {{name: non-5xx}}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            metricSourceRef: prom
            spec: {{query: '{GOOD_Q}'}}
        total:
          metricSource:
            type: Prometheus
            spec: {{query: '{TOTAL_Q}'}}
  objectives: [{{displayName: non-5xx, target: 0.99}}]
---
apiVersion: openslo/v1
kind: SLI
metadata: {{name: fast}}
spec:
  ratioMetric:
    counter: true
    bad: {{metricSource: {{type: Prometheus, spec: {{query: 'sum(slow_total)'}}}}}}
    total: {{metricSource: {{type: prometheus, spec: {{query: 'sum(all_total)'}}}}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {{name: latency}}
spec:
  service: opscore
  budgetingMethod: Timeslices
  indicatorRef: fast
  objectives:
    - {{displayName: Most, targetPercent: 95, timeSliceTarget: 0.9, timeSliceWindow: 1m}}
    - {{displayName: Some, targetPercent: 50, timeSliceTarget: 0.9, timeSliceWindow: 1m}}
"""

# a top-level list of objects, a raw ratio with OpenSLO's {{.window}}, a thresholdMetric
LISTED = """\
- apiVersion: openslo/v1
  kind: SLO
  metadata: {name: satisfaction}
  spec:
    budgetingMethod: Occurrences
    indicator:
      metadata: {name: wifi}
      spec:
        ratioMetric:
          rawType: failure
          raw:
            metricSource:
              type: Prometheus
              spec:
                query: 1 - sum(rate(ok_total[{{ .window }}])) / sum(rate(all_total[{{.window}}]))
    objectives: [{target: 0.9}]
- apiVersion: openslo/v1
  kind: SLO
  metadata: {name: lag}
  spec:
    budgetingMethod: Occurrences
    indicator:
      metadata: {name: lag}
      spec:
        thresholdMetric:
          metricSource: {type: Prometheus, spec: {query: sum(kafka_lag)}}
    objectives: [{op: lte, value: 100, target: 0.99}]
- apiVersion: openslo/v1
  kind: Service
  metadata: {name: opscore}
  spec: {}
"""


def test_ratio_metrics_become_ratio_objectives_with_their_queries_as_written() -> None:
    slo = parse_slo(FILE, "o.yaml")
    avail, most, some = slo.objectives
    assert isinstance(avail, RatioObjective)
    assert (avail.name, avail.good, avail.total, avail.counter, avail.target) == \
        ("availability", GOOD_Q, TOTAL_Q, True, 0.99)
    assert (most.name, most.bad, most.total, most.target) == \
        ("latency.most", "sum(slow_total)", "sum(all_total)", 0.95)
    assert some.name == "latency.some" and some.target == 0.5
    notes = " | ".join(slo.notes)
    assert "timeWindow 28d (rolling) not used" in notes
    assert "budgetingMethod Timeslices not used" in notes and "timeSliceWindow" in notes
    assert "alertPolicies not used" in notes
    assert "DataSource prom: url http://127.0.0.1:9090 recorded" in notes


def test_a_list_of_objects_raw_ratio_and_threshold_metric() -> None:
    slo = parse_slo(LISTED, "l.yaml")
    raw, lag = slo.objectives
    assert isinstance(raw, RatioObjective) and raw.raw_type == "failure"
    assert raw.raw is not None and raw.raw.count("[$window]") == 2
    assert isinstance(lag, ThresholdObjective)
    assert (lag.query, lag.op, lag.value, lag.target) == ("sum(kafka_lag)", "<=", 100.0, 0.99)
    assert any(n.startswith("Service opscore: not used") for n in slo.notes)


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_slo(text, "bad.yaml")
    assert "\n" not in e.value.message
    return e.value.message


def test_bad_input_is_one_line_naming_document_field_and_fix() -> None:
    msg = _error(FILE.replace("kind: SLI", "kind: Sli"))
    assert msg.startswith("bad.yaml:") and "document 3" in msg and "kind: 'Sli' is not an " \
        "OpenSLO v1 kind" in msg and "use SLO, SLI or DataSource" in msg
    msg = _error(FILE.replace("    total: {metricSource: {type: prometheus, spec: {query: "
                              "'sum(all_total)'}}}\n", ""))
    assert "document 3 (SLI fast): spec.ratioMetric.total: missing (add total" in msg
    msg = _error(FILE.replace("metricSourceRef: prom", "metricSourceRef: thanos"))
    assert "document 2 (SLO availability): spec.indicator.spec.ratioMetric.good.metricSource." \
        "metricSourceRef: 'thanos' names no DataSource" in msg and "cannot be reached" in msg
    msg = _error(FILE.replace("type: Prometheus\n  connectionDetails", "type: Datadog\n  "
                              "connectionDetails"))
    assert "document 1 (DataSource prom): spec.type: 'Datadog'" in msg and \
        "Prometheus only" in msg
    assert ":5:" in msg  # the line of spec.type
    msg = _error(FILE.replace("indicatorRef: fast", "indicatorRef: slow"))
    assert "spec.indicatorRef: 'slow' names no SLI document" in msg
    msg = _error(FILE.replace("target: 0.99}", "target: 0.99, targetPercent: 99}"))
    assert "spec.objectives[0].targetPercent: given with target" in msg
    msg = _error(FILE.replace("target: 0.99}", "target: 99}"))
    assert "spec.objectives[0].target: 99 is outside (0, 1)" in msg
    msg = _error(FILE.replace("apiVersion: openslo/v1\nkind: SLI", "apiVersion: openslo/v2alpha"
                              "\nkind: SLI"))
    assert "apiVersion: 'openslo/v2alpha' is not read" in msg
    msg = _error(LISTED.replace("op: lte", "op: le"))
    assert "document 1[1] (SLO lag): spec.objectives[0].op: 'le'" in msg and "lte, gte" in msg


def test_bad_openslo_exits_2_from_every_command_that_takes_an_slo_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FILE.replace("kind: SLI", "kind: Sli"))
    for argv in (["slo", "check", str(bad)], ["slo", "import", str(bad)],
                 ["run", "--slo", str(bad), "--out", str(tmp_path / "out")],
                 ["judge", "--slo", str(bad), "--prometheus", "http://127.0.0.1:9",
                  "--last", "1m", "--out", str(tmp_path / "out")]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 2, (argv, r.output)
        lines = [x for x in r.output.splitlines() if x.strip()]
        assert len(lines) == 1 and "'Sli' is not an OpenSLO v1 kind" in lines[0], r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_import_writes_the_native_equivalent(tmp_path: Path) -> None:
    src = tmp_path / "o.yaml"
    src.write_text(FILE)
    dest = tmp_path / "native.yaml"
    r = runner.invoke(app, ["slo", "import", str(src), "--out", str(dest)])
    assert r.exit_code == 0, r.output
    text = dest.read_text()
    assert "apiVersion" not in text and text.count("kind: ratio") == 3
    assert load_slo(dest).objectives == parse_slo(FILE, "o.yaml").objectives
    assert load_slo(dest).notes == parse_slo(FILE, "o.yaml").notes
    r = runner.invoke(app, ["slo", "import", str(dest)])  # a native file needs none
    assert r.exit_code == 2 and "not an OpenSLO file" in r.output
