"""OpenSLO v1 files read as they are: `SLO` documents (an inline `indicator`, or an `SLI` by
`indicatorRef`), `SLI` and `DataSource` documents, in one file of one or several YAML
documents (a document may also be a list of objects, as OpenSLO's own examples are).

Written from the OpenSLO v1 specification (README.md and pkg/openslo/v1 of OpenSLO/OpenSLO):
`spec.indicator.spec.ratioMetric` {counter, good | bad, total, rawType, raw}, each a
`metricSource` {type, metricSourceRef, spec: {query}}; `thresholdMetric`; `spec.objectives[]`
{displayName, target | targetPercent, op, value}; `timeWindow`, `budgetingMethod`,
`alertPolicies`.

The result is the equivalent native SLO file as plain data (`ratio` and `threshold`
objectives, loadtest/slo.py), so `--slo` and `loadtest slo import` share one conversion.
What has no meaning for a test window (the SLO's time window, Timeslices budgeting, alert
policies) goes to the file's `notes`, which every run names among its warnings. Anything the
harness cannot judge is a one-line error naming the file, line, document, field and fix.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from loadtest.errors import ConfigError
from loadtest.inputs import YamlDocument, parse_yaml_documents

API_VERSION = "openslo/v1"
_DETECT = re.compile(r"^[ \t-]*apiVersion:[ \t]*['\"]?openslo/", re.MULTILINE)
_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")  # OpenSLO's examples spell the window so
OPS = {"lte": "<=", "gte": ">=", "lt": "<", "gt": ">"}
# kinds of the v1 spec the harness has no use for in a test window: named in the notes
NOTED_KINDS = {"Service", "AlertPolicy", "AlertCondition", "AlertNotificationTarget"}


def is_openslo(text: str) -> bool:
    """An OpenSLO document (by its `apiVersion: openslo/...`), not a native SLO file."""
    return _DETECT.search(text) is not None


class NativeObjective(TypedDict, total=False):
    """One objective of the native SLO file (loadtest/slo.py) an OpenSLO objective becomes."""
    name: str
    kind: str                             # ratio | threshold
    description: str
    counter: bool
    good: str
    bad: str
    total: str
    raw: str
    raw_type: str
    query: str
    op: str
    value: float
    target: float


class NativeSlo(TypedDict):
    version: int
    objectives: list[NativeObjective]
    notes: list[str]


def _mapping(value: object) -> dict[str, object]:
    """A YAML mapping of the user's file (string keys; each value checked where it is read),
    else empty."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


class _Obj:
    """One OpenSLO object, with where it is for messages."""

    def __init__(self, data: dict[str, object], doc: YamlDocument, loc: tuple[Any, ...],
                 number: str, source: str) -> None:
        self.data, self.doc, self.loc, self.number, self.source = data, doc, loc, number, source
        name = _mapping(data.get("metadata")).get("name")
        self.name = name if isinstance(name, str) and name else None
        self.kind = data.get("kind")
        self.spec = _mapping(data.get("spec"))  # checked a mapping by _check_header

    def error(self, field: str, message: str) -> ConfigError:
        path = tuple(int(t[1:-1]) if t.startswith("[") else t
                     for t in re.findall(r"\[\d+\]|[^.\[\]]+", field))
        line = self.doc.line(self.loc + path)
        where = f"{self.source}:{line}" if line else self.source
        what = f"{self.kind} {self.name}" if self.name else f"{self.kind or 'object'}"
        return ConfigError(f"{where}: document {self.number} ({what}): {field}: {message}")


def _objects(text: str, source: str) -> list[_Obj]:
    out = []
    for i, doc in enumerate(parse_yaml_documents(text, source), 1):
        items = doc.data if isinstance(doc.data, list) else [doc.data]
        for j, data in enumerate(items):
            number = f"{i}" if not isinstance(doc.data, list) else f"{i}[{j}]"
            loc: tuple[Any, ...] = (j,) if isinstance(doc.data, list) else ()
            if not isinstance(data, dict):
                line = doc.line(loc)
                raise ConfigError(f"{source}:{line or 1}: document {number}: expected an "
                                  "OpenSLO object (apiVersion, kind, metadata, spec)")
            out.append(_Obj(_mapping(data), doc, loc, number, source))
    return out


def _check_header(o: _Obj) -> None:
    if o.data.get("apiVersion") != API_VERSION:
        raise o.error("apiVersion", f"{o.data.get('apiVersion')!r} is not read (this harness "
                      f"reads apiVersion: {API_VERSION})")
    if o.kind not in ("SLO", "SLI", "DataSource") and o.kind not in NOTED_KINDS:
        raise o.error("kind", f"{o.kind!r} is not an OpenSLO v1 kind the harness reads (use "
                      "SLO, SLI or DataSource)")
    if o.name is None:
        raise o.error("metadata.name", "missing (add metadata: {name: my-slo})")
    if not isinstance(o.data.get("spec"), dict) and o.kind in ("SLO", "SLI", "DataSource"):
        raise o.error("spec", "missing or not a mapping (add the object's spec)")


def openslo_to_native(text: str, source: str) -> NativeSlo:
    """The native SLO file (as data) equivalent to the OpenSLO file `text`."""
    objs = _objects(text, source)
    if not objs:
        raise ConfigError(f"{source}: no OpenSLO document in the file")
    for o in objs:
        _check_header(o)
    by_kind: dict[str, dict[str, _Obj]] = {}
    for o in objs:
        assert o.name is not None
        seen = by_kind.setdefault(str(o.kind), {})
        if o.name in seen:
            raise o.error("metadata.name", f"{o.name!r} is used by two {o.kind} documents "
                          "(names are unique per kind)")
        seen[o.name] = o
    slos = list(by_kind.get("SLO", {}).values())
    if not slos:
        raise ConfigError(f"{source}: no SLO document (the file holds "
                          f"{', '.join(sorted(by_kind))}; add kind: SLO)")
    notes: list[str] = []
    for kind in sorted(NOTED_KINDS & set(by_kind)):
        notes.append(f"{kind} {', '.join(sorted(by_kind[kind]))}: not used to judge a test "
                     "window" + (" (`loadtest slo rules` writes burn-rate alerts)"
                                 if kind.startswith("Alert") else ""))
    for ds in by_kind.get("DataSource", {}).values():
        url = _mapping(ds.spec.get("connectionDetails")).get("url")
        if url:
            notes.append(f"DataSource {ds.name}: url {url} recorded, not queried (the "
                         "harness queries --prometheus, or the Prometheus of its run)")
    objectives: list[NativeObjective] = []
    for slo in slos:
        objectives += _slo_objectives(slo, by_kind, notes)
    return NativeSlo(version=1, objectives=objectives, notes=notes)


def _slo_objectives(slo: _Obj, by_kind: dict[str, dict[str, _Obj]],
                    notes: list[str]) -> list[NativeObjective]:
    spec = slo.spec
    inline, ref = spec.get("indicator"), spec.get("indicatorRef")
    if inline is not None and ref is not None:
        raise slo.error("spec.indicatorRef", "given with spec.indicator (use one of them)")
    if inline is None and ref is None:
        raise slo.error("spec.indicator", "missing (add an inline indicator, or "
                        "indicatorRef: NAME of an SLI document)")
    if ref is not None:
        sli = by_kind.get("SLI", {}).get(str(ref))
        if sli is None:
            raise slo.error("spec.indicatorRef", f"{ref!r} names no SLI document in the file "
                            "(add it, or write the indicator inline)")
        sli_spec, owner, prefix = sli.spec, sli, "spec"
    else:
        if not isinstance(inline, dict) or not isinstance(inline.get("spec"), dict):
            raise slo.error("spec.indicator.spec", "missing or not a mapping (add "
                            "ratioMetric or thresholdMetric)")
        sli_spec, owner, prefix = _mapping(inline["spec"]), slo, "spec.indicator.spec"
    _window_notes(slo, spec, notes)
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise slo.error("spec.objectives", "missing or empty (add objectives: [{target: "
                        "0.99}])")
    ratio, threshold = sli_spec.get("ratioMetric"), sli_spec.get("thresholdMetric")
    if (ratio is None) == (threshold is None):
        raise owner.error(prefix, "needs exactly one of ratioMetric or thresholdMetric")
    out: list[NativeObjective] = []
    description = str(spec.get("description") or "")
    for i, obj in enumerate(objectives):
        where = f"spec.objectives[{i}]"
        if not isinstance(obj, dict):
            raise slo.error(where, "not a mapping (write {target: 0.99})")
        name = slo.name if len(objectives) == 1 else \
            f"{slo.name}.{_slug(obj.get('displayName')) or i}"
        obj = _mapping(obj)
        native = NativeObjective(name=str(name))
        if obj.get("displayName") or description:
            native["description"] = str(obj.get("displayName") or description)
        target = _target(slo, obj, where)
        if ratio is not None:
            native.update(_ratio(owner, f"{prefix}.ratioMetric", ratio, by_kind))
            for key in ("op", "value"):
                if key in obj:
                    notes.append(f"SLO {slo.name}: {where}.{key} applies to a thresholdMetric "
                                 "only; the ratioMetric is judged against target")
        else:
            native.update(_threshold(owner, f"{prefix}.thresholdMetric", threshold, by_kind))
            native.update(_op_value(slo, obj, where))
        native["target"] = target
        kind = native.pop("kind")
        out.append(NativeObjective(name=native.pop("name"), kind=kind, **native))
    return out


def _window_notes(slo: _Obj, spec: dict[str, object], notes: list[str]) -> None:
    windows = spec.get("timeWindow")
    if windows:
        first = windows[0] if isinstance(windows, list) and windows else windows
        duration = first.get("duration") if isinstance(first, dict) else first
        rolling = "rolling" if isinstance(first, dict) and first.get("isRolling") else \
            "calendar"
        notes.append(f"SLO {slo.name}: timeWindow {duration} ({rolling}) not used: the "
                     "judged window is the test's (or --last / --from --to)")
    method = spec.get("budgetingMethod")
    if method is not None and method != "Occurrences":
        notes.append(f"SLO {slo.name}: budgetingMethod {method} not used: judged as "
                     "Occurrences (good events over all events in the window; "
                     "timeSliceTarget and timeSliceWindow not used)")
    if spec.get("alertPolicies"):
        notes.append(f"SLO {slo.name}: alertPolicies not used to judge a window (`loadtest "
                     "slo rules` writes burn-rate alerts)")


def _slug(text: object) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text or "")).strip("-").lower()


def _target(slo: _Obj, obj: dict[str, object], where: str) -> float:
    has_t, has_p = "target" in obj, "targetPercent" in obj
    if has_t and has_p:
        raise slo.error(f"{where}.targetPercent", "given with target (use one of them)")
    if not has_t and not has_p:
        raise slo.error(f"{where}.target", "missing (add target: 0.99 or targetPercent: 99)")
    key = "target" if has_t else "targetPercent"
    value, scale = obj[key], (1.0 if has_t else 100.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise slo.error(f"{where}.{key}", f"{value!r} is not a number")
    if not 0 < value < scale:
        raise slo.error(f"{where}.{key}", f"{value!r} is outside (0, {scale:g}) (e.g. "
                        + ("0.99)" if has_t else "99)"))
    return float(value) / scale


def _op_value(slo: _Obj, obj: dict[str, object], where: str) -> NativeObjective:
    op = obj.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise slo.error(f"{where}.op", f"{op!r} is not an operator a thresholdMetric needs "
                        "(use lte, gte, lt or gt)")
    value = obj.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise slo.error(f"{where}.value", f"{value!r} is not a number (a thresholdMetric "
                        "compares its query with value)")
    return NativeObjective(kind="threshold", op=OPS[op], value=float(value))


def _query(owner: _Obj, field: str, metric: object, by_kind: dict[str, dict[str, _Obj]]) -> str:
    """The PromQL of one `{metricSource: ...}`, its DataSource resolved and checked."""
    source = metric.get("metricSource") if isinstance(metric, dict) else None
    if not isinstance(source, dict):
        raise owner.error(f"{field}.metricSource", "missing (add metricSource: {type: "
                          "Prometheus, spec: {query: ...}})")
    kind = source.get("type")
    ref = source.get("metricSourceRef")
    if ref is not None:
        ds = by_kind.get("DataSource", {}).get(str(ref))
        if ds is None:
            raise owner.error(f"{field}.metricSource.metricSourceRef", f"{ref!r} names no "
                              "DataSource document in the file, so it cannot be reached (add "
                              "the DataSource, or drop metricSourceRef and write type: "
                              "Prometheus)")
        ds_type = ds.spec.get("type")
        if str(ds_type).lower() != "prometheus":
            raise ds.error("spec.type", f"{ds_type!r}: the harness reads Prometheus only "
                           "(type: Prometheus)")
        kind = kind or ds_type
    if kind is not None and str(kind).lower() != "prometheus":
        raise owner.error(f"{field}.metricSource.type", f"{kind!r}: the harness reads "
                          "Prometheus queries only (type: Prometheus)")
    spec = source.get("spec")
    query = spec.get("query") if isinstance(spec, dict) else None
    if not isinstance(query, str) or not query.strip():
        keys = ", ".join(sorted(spec)) if isinstance(spec, dict) else "none"
        raise owner.error(f"{field}.metricSource.spec.query", f"missing (found: {keys}; "
                          "write spec: {query: PROMQL})")
    return _WINDOW.sub("$window", query.strip())


def _ratio(owner: _Obj, field: str, ratio: object, by_kind: dict[str, dict[str, _Obj]]
           ) -> NativeObjective:
    if not isinstance(ratio, dict):
        raise owner.error(field, "not a mapping (add good or bad with total, or raw)")
    counter = ratio.get("counter", False)
    if not isinstance(counter, bool):
        raise owner.error(f"{field}.counter", f"{counter!r} is not true or false")
    if "raw" in ratio:
        for key in ("good", "bad", "total"):
            if key in ratio:
                raise owner.error(f"{field}.{key}", "given with raw (use raw alone, or "
                                  "good/bad with total)")
        raw_type = ratio.get("rawType")
        if raw_type not in ("success", "failure"):
            raise owner.error(f"{field}.rawType", f"{raw_type!r}: raw needs rawType: "
                              "success or failure")
        return NativeObjective(kind="ratio",
                               raw=_query(owner, f"{field}.raw", ratio["raw"], by_kind),
                               raw_type=raw_type)
    if "good" in ratio and "bad" in ratio:
        raise owner.error(f"{field}.bad", "given with good (use one of them)")
    if "good" not in ratio and "bad" not in ratio:
        raise owner.error(f"{field}.good", "missing (add good or bad, with total; or raw "
                          "with rawType)")
    if "total" not in ratio:
        raise owner.error(f"{field}.total", "missing (add total: the query of all events)")
    which = "good" if "good" in ratio else "bad"
    queries = {key: _query(owner, f"{field}.{key}", ratio[key], by_kind)
               for key in (which, "total")}
    out = NativeObjective(kind="ratio", counter=counter)
    if which == "good":
        out["good"] = queries["good"]
    else:
        out["bad"] = queries["bad"]
    out["total"] = queries["total"]
    for key in (which, "total"):
        if "$window" in queries[key]:
            raise owner.error(f"{field}.{key}", "a good/bad/total query has no window "
                              "({{.window}}): write the counter or gauge itself (use raw "
                              "for a ratio computed over a window)")
    return out


def _threshold(owner: _Obj, field: str, metric: object, by_kind: dict[str, dict[str, _Obj]]
               ) -> NativeObjective:
    return NativeObjective(query=_query(owner, field, metric, by_kind))
