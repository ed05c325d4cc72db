"""Property-based: whatever bytes an SLO file holds, loading it never raises anything but a
one-line ConfigError (exit 2), in process and through the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest.errors import ConfigError
from loadtest.slo import parse_slo

GOOD = yaml.safe_load((Path(__file__).resolve().parent.parent / "slo" /
                       "opscore.yaml").read_text())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def check(text: str) -> None:
    try:
        parse_slo(text, "fuzz.yaml")
    except ConfigError as e:
        assert e.exit_code == 2
        assert e.message.startswith("fuzz.yaml")
        assert "\n" not in e.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["version", "metrics", "selector", "objectives", "regression"]),
       values)
def test_a_mangled_top_level_field(field: str, value: object) -> None:
    doc = dict(GOOD)
    doc[field] = value
    check(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3), st.sampled_from(["name", "kind", "quantile", "threshold", "min",
                                            "max", "statuses", "severity", "endpoint",
                                            "regression", "min_samples", "bogus"]), values)
def test_a_mangled_objective_field(index: int, field: str, value: object) -> None:
    doc = dict(GOOD)
    objectives = [dict(o) for o in GOOD["objectives"]]
    objectives[index][field] = value
    doc["objectives"] = objectives
    check(yaml.safe_dump(doc, allow_unicode=True))
