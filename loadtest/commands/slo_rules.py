"""`loadtest slo rules SLO_FILE`: Prometheus recording rules and burn-rate alerts from an SLO
file (native or OpenSLO), written as a rule file `promtool check rules` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from loadtest.errors import PrometheusUnavailable, UsageError
from loadtest.metrics.base import Matcher, SourceError
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.rules import Rules, build_rules, parse_pairs
from loadtest.slo import DbLatencyObjective, LatencyObjective, SloFile, load_slo
from loadtest.store.results import write_out_option


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # every rule's labels written out
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def bucket_bounds(slo: SloFile, buckets: str | None, prometheus: str | None
                  ) -> dict[str, list[str]] | None:
    """The histograms' `le` labels: --buckets (one list for every histogram), else read from
    --prometheus, else unknown (None)."""
    names = {slo.metrics.http_duration if isinstance(o, LatencyObjective)
             else slo.metrics.db_duration
             for o in slo.objectives if isinstance(o, (LatencyObjective, DbLatencyObjective))}
    if buckets is not None:
        les = [b.strip() for b in buckets.split(",") if b.strip()]
        try:
            [float(b) for b in les]
        except ValueError:
            raise UsageError(f"--buckets {buckets!r}: give bucket bounds in seconds, e.g. "
                             "0.1,0.25,0.5,1,2.5") from None
        return {name: les for name in names}
    if prometheus is None:
        return None

    source = PrometheusSource(prometheus)
    if not source.ready():
        raise PrometheusUnavailable(f"Prometheus at {prometheus} is not ready")
    ms = tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items()))
    out: dict[str, list[str]] = {}
    for name in names:
        try:
            les = source.bucket_bounds(name, ms)
        except SourceError as e:
            raise PrometheusUnavailable(str(e)) from None
        if les:
            out[name] = les
    return out


def write_rules(slo_path: Path, out: Path | None, selector: list[str], labels: list[str],
                buckets: str | None = None, prometheus: str | None = None
                ) -> tuple[str, Rules]:
    """The rule file's text (also written to `out`), and the rules with their notes."""
    slo = load_slo(slo_path, option=None)
    rules = build_rules(slo, parse_pairs(selector, "--selector"),
                        parse_pairs(labels, "--label"), bucket_bounds(slo, buckets, prometheus))
    header = (f"# Written by `loadtest slo rules {slo_path}`: recording rules of each "
              "objective's error ratio\n# and the SRE workbook's multi-window, multi-burn-rate "
              "alerts (page 14.4x 1h/5m, 6x 6h/30m;\n# ticket 3x 1d/2h, 1x 3d/6h).\n")
    text = header + yaml.dump(rules.document(), Dumper=_Dumper, sort_keys=False, width=100)
    if out is not None:
        write_out_option(out, text)
    return text, rules
